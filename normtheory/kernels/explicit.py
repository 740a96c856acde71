"""numba kernels of the explicit-weight Monte Carlo engine for the theory MLPs of docs/settings.md
(:mod:`normtheory.montecarlo.explicit`).

Each trial draws its input, its weights and the loss direction ``G`` from its own seeds
(inside the jitted code, :mod:`normtheory.kernels.rng`), propagates forward storing each layer's input and pre-norm
activation, and backpropagates ``G`` through the closed-form normalizer backward of
:mod:`normtheory.kernels`. Weights are not stored: layer ``l``'s weight is drawn from a
seed derived from ``(seed, trial, l)`` and drawn again for the backward pass, so memory is
``O(depth · batch · width)`` rather than ``O(depth · width²)``. Chunks of trials run in
parallel threads (:func:`run_trials` releases the GIL; :mod:`normtheory.montecarlo.threads`),
BLAS inside limited to one thread by the caller.

Nothing raises out of :func:`run_trials` (an exception would abort the rest of its chunk of
trials, leaving them NaN): the probes return NaN where undefined, and any exception of a
trial is turned into a recorded divergence. Each trial returns its forward and backward divergence layers
(:class:`normtheory.montecarlo.MLPSimulation` documents the convention).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from normtheory.kernels.mlp_norms import (GAUSSIAN, SWS, column_moments, norm_backward, norm_forward,
                                          phi_backward, phi_forward)
from normtheory.kernels.rng import standard_normal
from normtheory.kernels.top_eigenvalue import mean_pairwise_cosine, stable_rank_excess



@njit(cache=True, nogil=True)
def mix_seed(seed, trial, layer):
    """A 32-bit seed from (seed, trial, layer): splitmix-style hashing."""
    z = (seed * 0x9E3779B1 + trial * 0x85EBCA77 + layer * 0xC2B2AE3D + 0x27D4EB2F) & 0xFFFFFFFF
    z = ((z ^ (z >> 16)) * 0x7FEB352D) & 0xFFFFFFFF
    z = ((z ^ (z >> 15)) * 0x846CA68B) & 0xFFFFFFFF
    return z ^ (z >> 16)


@njit(cache=True, nogil=True)
def draw_weight(mode, d, gain, seed):
    """Layer weight ``(d, d)`` from ``seed``: i.i.d. ``N(0, gain²/d)`` (GAUSSIAN), or rows of
    unit norm (WEIGHTNORM), centred first (SWS); scaled and normalized in place."""
    w = standard_normal(d, d, seed)
    if mode == GAUSSIAN:
        scale = gain / np.sqrt(d)
        for i in range(d):
            for j in range(d):
                w[i, j] *= scale
        return w
    for i in range(d):
        nrm = 0.0
        if mode == SWS:
            mu = 0.0
            for j in range(d):
                mu += w[i, j]
            mu /= d
            for j in range(d):
                w[i, j] -= mu
        for j in range(d):
            nrm += w[i, j] * w[i, j]
        s = np.sqrt(nrm)
        for j in range(d):  # element loops, not slice assignments: see store_rows
            w[i, j] /= s
    return w


@njit(cache=True, nogil=True)
def gram_probes(x, k, rank):
    """(variance, mean cosine similarity, stable rank, stable rank − 1) of ``x`` (B, d)
    (docs/settings.md) given its Gram matrix ``k = x xᵀ``; the stable rank (an
    eigendecomposition of ``k``, the costly probe) only if ``rank``, else NaN. NaN (never
    an exception) where they are undefined: an overflowed Gram, a zero row (no direction)."""
    var = np.mean(column_moments(x, np.bool_(True))[1])
    if not np.all(np.isfinite(k)):
        return np.nan, np.nan, np.nan, np.nan  # the Gram matrix overflowed: the caller reports divergence
    srank, excess = np.nan, np.nan
    if rank:
        srank, excess = stable_rank_excess(x, k)
    return var, mean_pairwise_cosine(k), srank, excess


@njit(cache=True, nogil=True)
def probes_finite(probes, rank):
    """Whether the probes of :func:`gram_probes` are finite (the stable rank's only if computed)."""
    v, c, s, e = probes
    return np.isfinite(v) and np.isfinite(c) and (not rank or (np.isfinite(s) and np.isfinite(e)))


#: the layer whose output a trial chosen by ``fail_trial`` has set to NaN (test-only hook)
FAIL_LAYER = 1


@njit(cache=True, nogil=True)
def store_rows(stack, k, x):
    """``stack[k] = x`` for a ``(B, d)`` array ``x``, by element. A slice assignment would
    compile numba's shape-mismatch error path (its message formatting: several seconds of
    compilation on a cold cache) into every kernel that has one."""
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            stack[k, i, j] = x[i, j]


@njit(cache=True, nogil=True)
def fail_here(fail_trial, trial, layer, x):
    """Test-only hook: set ``x`` to NaN when ``(trial, layer) == (fail_trial, FAIL_LAYER)``."""
    if trial == fail_trial and layer == FAIL_LAYER:
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                x[i, j] = np.nan


@njit(cache=True, nogil=True)
def simulate_trial(code, phi, g, eps, b, d, depth, residual, alpha, betas, mode, gain, input_corr,
                   seed, trial, backward, fail_trial, rank_at, out_var, out_cos, out_srank, out_excess, out_grad):
    """One trial; writes row ``trial`` of the outputs (a probe only where it and the layer's
    output are finite; the stable rank only at the layers ``l`` where ``rank_at[l]``);
    returns ``(forward, backward)`` divergence layers, ``-1`` for none.

    Forward: the first layer ``l >= 1`` whose output or computed probes are not finite (nothing from
    ``l`` on is written, nor any gradient). Backward: the first layer ``l`` (counting down
    from ``depth − 1``) whose ``‖∂ℓ/∂X_l‖²`` is not finite (nothing from ``l`` down is written).
    """
    x = standard_normal(b, d, mix_seed(seed, trial, depth + 1))
    if input_corr > 0.0:
        shared = standard_normal(np.int64(1), d, mix_seed(seed, trial, depth + 3))[0]  # np.int64: see _statistics
        x = np.sqrt(1.0 - input_corr) * x
        for i in range(b):
            for j in range(d):
                x[i, j] += np.sqrt(input_corr) * shared[j]
    xs = np.empty((depth + 1, b, d))
    hs = np.empty((depth, b, d))
    store_rows(xs, np.int64(0), x)
    v, c, s, e = gram_probes(x, x @ x.T, rank_at[0])
    out_var[trial, 0], out_cos[trial, 0], out_srank[trial, 0], out_excess[trial, 0] = v, c, s, e
    for layer in range(1, depth + 1):
        xp = xs[layer - 1]
        w = draw_weight(mode, d, gain, mix_seed(seed, trial, layer))
        if residual:
            a = phi_forward(phi, xp / betas[layer - 1])
        else:
            a = xp
        h = a @ w.T
        y, r, m = norm_forward(code, h, g, eps)
        if residual:
            xn = xp + alpha * y
        else:
            xn = phi_forward(phi, y)
        fail_here(fail_trial, trial, layer, xn)
        store_rows(hs, layer - 1, h)
        store_rows(xs, layer, xn)
        if not np.all(np.isfinite(xn)):
            return layer, -1
        probes = gram_probes(xn, xn @ xn.T, rank_at[layer])
        if not probes_finite(probes, rank_at[layer]):
            return layer, -1
        v, c, s, e = probes
        out_var[trial, layer], out_cos[trial, layer], out_srank[trial, layer], out_excess[trial, layer] = v, c, s, e
    if not backward:
        return -1, -1
    gx = standard_normal(b, d, mix_seed(seed, trial, depth + 2))
    out_grad[trial, depth] = np.sum(gx * gx)
    for layer in range(depth, 0, -1):
        xp = xs[layer - 1]
        h = hs[layer - 1]
        y, r, m = norm_forward(code, h, g, eps)
        w = draw_weight(mode, d, gain, mix_seed(seed, trial, layer))
        if residual:
            gh = norm_backward(code, alpha * gx, h, y, r, m, g, eps)
            ga = gh @ w
            gx = gx + phi_backward(phi, ga, xp / betas[layer - 1]) / betas[layer - 1]
        else:
            gy = phi_backward(phi, gx, y)
            gh = norm_backward(code, gy, h, y, r, m, g, eps)
            gx = gh @ w
        sq = np.sum(gx * gx)
        if not np.isfinite(sq):
            return -1, layer - 1
        out_grad[trial, layer - 1] = sq
    return -1, -1


@njit(cache=True, nogil=True)
def run_trials(code, phi, g, eps, b, d, depth, residual, alpha, betas, mode, gain, input_corr, seed, start, stop,
               backward, fail_trial, rank_at, out_var, out_cos, out_srank, out_excess, out_grad, div, bdiv):
    """Trials ``start .. stop − 1`` (:func:`simulate_trial`), never raising: writes their rows of
    the probe arrays ``(trials, depth + 1)`` and their forward and backward divergence layers
    ``div``, ``bdiv`` (``-1``: none). The caller runs chunks of trials in parallel threads
    (:mod:`normtheory.montecarlo.threads`); an exception here would abort the rest of the chunk.

    A kernel that raises (numba raises ``ZeroDivisionError`` on a scalar ``x / 0``, as
    overflowed statistics can produce) ends the trial as a divergence at the layer in
    progress: the first forward layer without probes, else the highest layer without a
    gradient. ``fail_trial`` (test-only, ``-1`` for none): that trial's output at layer
    :data:`FAIL_LAYER` is set to NaN. ``rank_at`` (bool, ``(depth + 1,)``): the layers where
    the stable rank is computed (NaN elsewhere).
    """
    for trial in range(start, stop):
        forward, back = -1, -1
        try:
            forward, back = simulate_trial(code, phi, g, eps, b, d, depth, residual, alpha, betas, mode, gain,
                                           input_corr, seed, trial, backward, fail_trial, rank_at, out_var,
                                           out_cos, out_srank, out_excess, out_grad)
        except Exception:  # noqa: BLE001 (numba catches no narrower class)
            forward, back = _failed_at(trial, depth, out_var, out_grad)
        div[trial], bdiv[trial] = forward, back


@njit(cache=True, nogil=True)
def _failed_at(trial, depth, out_var, out_grad):
    """``(forward, backward)`` divergence layers of a trial whose kernel raised: the first
    layer without probes (a layer's probes are written together, last), else the highest
    layer without a gradient."""
    for layer in range(1, depth + 1):
        if np.isnan(out_var[trial, layer]):
            return layer, -1
    for layer in range(depth, -1, -1):
        if np.isnan(out_grad[trial, layer]):
            return -1, layer
    return -1, -1
