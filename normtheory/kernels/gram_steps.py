"""numba steps of the Gram engine (:mod:`normtheory.montecarlo.gram`) around its weight layers.

Everything a theory-MLP layer does besides multiplying by its weight, forward and backward,
on the MLP form ``(B, d)`` (docs/settings.md), built from the closed-form normalizer and
nonlinearity kernels of :mod:`normtheory.kernels.mlp_norms` and the probes of
:mod:`normtheory.montecarlo.explicit`. All functions release the GIL (``nogil=True``), so
that the engine's trials run in parallel threads; each trial draws from its own stream of
:mod:`normtheory.kernels.rng`, passed in as its state.

Non-residual layer: ``H = X_{l-1} Wᵀ`` (the weight, done by the engine), then
``X_l = phi(N(H))``. Residual layer: ``U = phi(X_{l-1} / beta)``, ``H = U Wᵀ``,
``X_l = X_{l-1} + alpha · N(H)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from normtheory.kernels.mlp_norms import norm_backward, norm_forward, phi_backward, phi_forward
from normtheory.montecarlo.explicit import gram_probes


@njit(cache=True, nogil=True)
def residual_input(phi, x, beta):
    """The weight's input ``U = phi(x / beta)`` of a residual branch."""
    return phi_forward(phi, x / beta)


@njit(cache=True, nogil=True)
def layer_output(code, phi, g, eps, h, xp, residual, alpha):
    """``X_l`` from the weight's output ``h`` (and ``X_{l-1}`` = ``xp`` when residual).

    Returns ``(x, probes, finite, k)``: ``probes`` = (variance, cosine, stable rank) of
    ``x``, ``k = x xᵀ`` its Gram matrix (the next layer's weight needs it). ``finite`` is
    False when ``x`` or its probes are not finite (an overflowing Gram ``x xᵀ`` makes the
    probes NaN), the explicit engine's rule: the caller records the divergence.
    """
    y, r, m = norm_forward(code, h, g, eps)
    if residual:
        x = xp + alpha * y
    else:
        x = phi_forward(phi, y)
    probes = np.full(3, np.nan)
    k = np.empty((0, 0))
    finite = np.all(np.isfinite(x))
    if finite:
        k = x @ x.T
        probes[0], probes[1], probes[2] = gram_probes(x, k)
        finite = np.all(np.isfinite(probes))
    return x, probes, finite, k


@njit(cache=True, nogil=True)
def output_backward(code, phi, g, eps, gx, h, residual, alpha):
    """Gradient with respect to the weight's output ``h`` given ``gx = dℓ/dX_l``. The
    normalizer's forward is recomputed from ``h``: cheaper than keeping it for every layer."""
    y, r, m = norm_forward(code, h, g, eps)
    if residual:
        return norm_backward(code, alpha * gx, h, y, r, m, g, eps)
    return norm_backward(code, phi_backward(phi, gx, y), h, y, r, m, g, eps)


@njit(cache=True, nogil=True)
def residual_input_backward(phi, gx, gu, xp, beta):
    """``dℓ/dX_{l-1}`` of a residual layer: the skip path ``gx`` plus the branch's ``gu``."""
    return gx + phi_backward(phi, gu, xp / beta) / beta
