"""Explicit-weight Monte Carlo engine for the theory MLPs of docs/settings.md (numba).

Its jitted code lives in :mod:`normtheory.kernels.explicit` (the module docstring there
describes the engine: seeds, memory, divergence); :func:`normtheory.montecarlo.simulate_mlp`
runs it with ``engine="explicit"``. The kernels and their constants are re-exported here.
"""

from normtheory.kernels.explicit import (  # noqa: F401  (re-exported)
    FAIL_LAYER,
    GAUSSIAN,
    SWS,
    WEIGHTNORM,
    draw_weight,
    fail_here,
    gram_probes,
    guarded_trial,
    layer_probes,
    mix_seed,
    simulate_explicit,
    simulate_trial,
)
