"""Explicit-weight Monte Carlo engine for the theory MLPs of docs/settings.md (numba).

Each trial draws its input, its weights and the loss direction ``G`` from its own seeds
(inside the jitted code, :mod:`normtheory.kernels.rng`), propagates forward storing each layer's input and pre-norm
activation, and backpropagates ``G`` through the closed-form normalizer backward of
:mod:`normtheory.kernels`. Weights are not stored: layer ``l``'s weight is drawn from a
seed derived from ``(seed, trial, l)`` and drawn again for the backward pass, so memory is
``O(depth · batch · width)`` rather than ``O(depth · width²)``. Trials run in parallel
(``prange``); BLAS inside is limited to one thread by the caller.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from normtheory.kernels.mlp_norms import (column_moments, norm_backward, norm_forward, phi_backward,
                                          phi_forward)
from normtheory.kernels.rng import standard_normal
from normtheory.kernels.top_eigenvalue import top_eigenvalue

GAUSSIAN, WEIGHTNORM, SWS = 0, 1, 2


@njit(cache=True)
def mix_seed(seed, trial, layer):
    """A 32-bit seed from (seed, trial, layer): splitmix-style hashing."""
    z = (seed * 0x9E3779B1 + trial * 0x85EBCA77 + layer * 0xC2B2AE3D + 0x27D4EB2F) & 0xFFFFFFFF
    z = ((z ^ (z >> 16)) * 0x7FEB352D) & 0xFFFFFFFF
    z = ((z ^ (z >> 15)) * 0x846CA68B) & 0xFFFFFFFF
    return z ^ (z >> 16)


@njit(cache=True)
def draw_weight(mode, d, gain, seed):
    w = standard_normal(d, d, seed)
    if mode == GAUSSIAN:
        return w * (gain / np.sqrt(d))
    for i in range(d):
        mu = 0.0
        if mode == SWS:
            for j in range(d):
                mu += w[i, j]
            mu /= d
        nrm = 0.0
        for j in range(d):
            w[i, j] -= mu
            nrm += w[i, j] * w[i, j]
        w[i, :] /= np.sqrt(nrm)
    return w


@njit(cache=True)
def layer_probes(x):
    """(variance, mean cosine similarity, stable rank) of ``x`` (B, d), docs/settings.md."""
    return gram_probes(x, x @ x.T)


@njit(cache=True, nogil=True)
def gram_probes(x, k):
    """:func:`layer_probes` of ``x`` given its Gram matrix ``k = x xᵀ``."""
    b, d = x.shape
    var = np.mean(column_moments(x, True)[1])
    if not np.all(np.isfinite(k)):
        return np.nan, np.nan, np.nan  # the Gram matrix overflowed: the caller reports divergence
    inv_norm = 1.0 / np.sqrt(np.diag(k))
    cos = 0.0
    for i in range(b):
        row = 0.0
        for j in range(b):
            if i != j:
                row += k[i, j] * inv_norm[j]
        cos += row * inv_norm[i]
    cos /= b * (b - 1)
    srank = np.trace(k) / top_eigenvalue(k)  # Lanczos: a full eigvalsh costs 2-30x more
    return var, cos, srank


@njit(cache=True)
def simulate_trial(code, phi, g, eps, b, d, depth, residual, alpha, betas, mode, gain, input_corr,
                   seed, trial, backward, out_var, out_cos, out_srank, out_grad):
    """One trial; writes row ``trial`` of the outputs; returns the layer of divergence or -1."""
    x = standard_normal(b, d, mix_seed(seed, trial, depth + 1))
    if input_corr > 0.0:
        shared = standard_normal(1, d, mix_seed(seed, trial, depth + 3))[0]
        x = np.sqrt(1.0 - input_corr) * x
        for i in range(b):
            x[i, :] += np.sqrt(input_corr) * shared
    xs = np.empty((depth + 1, b, d))
    hs = np.empty((depth, b, d))
    xs[0] = x
    v, c, s = layer_probes(x)
    out_var[trial, 0], out_cos[trial, 0], out_srank[trial, 0] = v, c, s
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
        hs[layer - 1] = h
        xs[layer] = xn
        if not np.all(np.isfinite(xn)):
            return layer
        v, c, s = layer_probes(xn)
        if not (np.isfinite(v) and np.isfinite(c) and np.isfinite(s)):
            return layer
        out_var[trial, layer], out_cos[trial, layer], out_srank[trial, layer] = v, c, s
    if not backward:
        return -1
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
        out_grad[trial, layer - 1] = np.sum(gx * gx)
    return -1


@njit(parallel=True, cache=True)
def simulate_explicit(code, phi, g, eps, b, d, depth, trials, residual, alpha, betas, mode, gain,
                      input_corr, seed, backward):
    """All trials in parallel; probe arrays (trials, depth + 1) and divergence layers."""
    out_var = np.full((trials, depth + 1), np.nan)
    out_cos = np.full((trials, depth + 1), np.nan)
    out_srank = np.full((trials, depth + 1), np.nan)
    out_grad = np.full((trials, depth + 1), np.nan)
    div = np.full(trials, -1, dtype=np.int64)
    for t in prange(trials):
        div[t] = simulate_trial(code, phi, g, eps, b, d, depth, residual, alpha, betas, mode, gain,
                                input_corr, seed, t, backward, out_var, out_cos, out_srank, out_grad)
    return out_var, out_cos, out_srank, out_grad, div
