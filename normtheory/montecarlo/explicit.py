"""Explicit-weight Monte Carlo engine for the theory MLPs of docs/settings.md (numba).

Its jitted code lives in :mod:`normtheory.kernels.explicit` (the module docstring there
describes the engine: seeds, memory, divergence); :func:`simulate_explicit` runs its chunks
of trials in parallel threads, and :func:`normtheory.montecarlo.simulate_mlp` runs it with
``engine="explicit"``.
"""

from __future__ import annotations

import numpy as np

from normtheory.kernels.explicit import run_trials
from normtheory.montecarlo.threads import run_in_threads


def simulate_explicit(code, phi, g, eps, b, d, depth, trials, residual, alpha, betas, mode, gain, input_corr,
                      seed, backward, fail_trial, rank_at):
    """All trials: probe arrays ``(trials, depth + 1)`` (variance, cosine, stable rank,
    stable rank − 1, squared gradient norm) and the forward and backward divergence layers
    ``(trials,)`` (``-1``: none); the arguments as :func:`normtheory.kernels.explicit.run_trials`'s."""
    outputs = [np.full((trials, depth + 1), np.nan) for _ in range(5)]
    div = np.full(trials, -1, dtype=np.int64)
    bdiv = np.full(trials, -1, dtype=np.int64)
    args = (int(code), int(phi), int(g), float(eps), int(b), int(d), int(depth), bool(residual), float(alpha),
            np.ascontiguousarray(betas, dtype=np.float64), int(mode), float(gain), float(input_corr), int(seed))
    rank_at = np.ascontiguousarray(rank_at, dtype=np.bool_)

    def chunk(start, stop):
        run_trials(*args, start, stop, bool(backward), int(fail_trial), rank_at, *outputs, div, bdiv)

    run_in_threads(chunk, trials)
    return (*outputs, div, bdiv)
