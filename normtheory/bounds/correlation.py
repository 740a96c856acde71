"""Claim R4: the correlation map of a ReLU layer and its iterate over depth.

Setting: an unnormalized (He-initialised) ReLU MLP at infinite width. If two inputs'
pre-activations have correlation ``c``, the cosine similarity of their ReLU outputs is
the normalized arc-cosine kernel (Cho & Saul 2009)

    κ(c) = (sqrt(1 − c²) + (π − arccos c) · c) / π,

derived here from the bivariate Gaussian integral ``E[relu(u) relu(v)] / E[relu(u)²]``
(sympy, in polar coordinates). The next layer's pre-activations have correlation
``κ(c)``, so the cosine of layer ``l`` is ``κ`` iterated ``l`` times. ``κ(1) = 1`` is the
only fixed point in (−1, 1]: similarity drifts to 1. The series
``κ(1 − ε) = 1 − ε + (2√2 / (3π)) ε^{3/2} + O(ε²)`` (sympy) gives the leading asymptotic
``1 − c_l ≈ 9π² / (2 l²)``. LayerNorm rescales each sample, which leaves cosines of
zero-mean pre-activations unchanged at infinite width, so LN ReLU nets follow the same map.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds.derived import derivation
from normtheory.bounds.validate import depth_array


@derivation
def relu_correlation_map_expr():
    """``(c, κ(c))`` from the Gaussian integral over the quadrant where both ReLUs are active."""
    c = sp.symbols("c", real=True)
    theta = sp.symbols("theta", real=True)
    phi = sp.acos(c)  # angle between the two input directions
    # E[relu(u) relu(v)] for unit-variance u, v with correlation c: in polar coordinates
    # u = r cos t, v = r cos(t − phi), both positive for t in (phi − π/2, π/2); E[r²] = 2 / (2π)
    inner = sp.integrate(sp.cos(theta) * sp.cos(theta - phi), (theta, phi - sp.pi / 2, sp.pi / 2))
    cross = inner / (2 * sp.pi) * 2  # ∫ r³ e^{-r²/2} dr = 2
    second = sp.Rational(1, 2)
    return c, sp.simplify(sp.expand_trig(cross / second))


@lru_cache(maxsize=None)
def _map_fn():
    c, expr = relu_correlation_map_expr()
    return sp.lambdify(c, expr, "numpy")


def relu_correlation_map(c):
    """``κ(c)`` (the arc-cosine kernel, Cho & Saul 2009; derived here), vectorized over ``c``
    in [−1, 1]."""
    arr = np.asarray(c, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(np.abs(arr) > 1):
        raise ValueError(f"c must lie in [-1, 1], got {c!r}")
    out = _map_fn()(np.clip(arr, -1.0, 1.0))
    return float(out) if np.ndim(out) == 0 else out


def relu_correlation_iterate(c0, *, depth):
    """Cosine similarity after each of ``0..depth`` ReLU layers of a plain He-initialised MLP
    at infinite width, starting from ``c0`` (claim R4): a profile, one ``np.ndarray`` of
    ``depth + 1`` entries, not vectorized."""
    depth = int(depth_array(depth, "depth"))
    out = np.empty(depth + 1)
    relu_correlation_map(c0)  # validates c0
    out[0] = float(c0)
    for i in range(depth):
        out[i + 1] = relu_correlation_map(out[i])
    return out


@derivation
def relu_map_series_expr():
    """``(ε, κ(1 − ε))`` expanded to order ``ε²``."""
    c, expr = relu_correlation_map_expr()
    eps = sp.symbols("epsilon", positive=True)
    return eps, sp.series(expr.subs(c, 1 - eps), eps, 0, 2).removeO()


@derivation
def relu_similarity_asymptotic_expr():
    """``(l, 1 − c_l)`` to leading order: ``4 / (a² l²)`` with ``a`` the ``ε^{3/2}`` coefficient."""
    eps, series = relu_map_series_expr()
    a = sp.simplify(series.coeff(eps ** sp.Rational(3, 2)))
    l = sp.symbols("l", positive=True)
    # δ = sqrt(ε): δ_{l+1}² = δ_l² − a δ_l³  =>  dδ/dl = −a δ² / 2  =>  δ ≈ 2 / (a l)
    return l, sp.simplify(4 / (a ** 2 * l ** 2))


def relu_similarity_gap_asymptotic(*, depth):
    """Leading asymptotic of ``1 − c_l`` (``9π²/(2 l²)``, derived here), vectorized over
    ``depth`` ≥ 1."""
    arr = depth_array(depth)
    if np.any(arr < 1):
        raise ValueError(f"depth={depth!r}: the asymptotic form needs depth >= 1")
    l, expr = relu_similarity_asymptotic_expr()
    out = sp.lambdify(l, expr, "numpy")(arr.astype(float))
    return float(out) if np.ndim(depth) == 0 else out
