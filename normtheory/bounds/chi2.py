"""Chi-square and Gaussian identities shared by the gradient forms.

:mod:`normtheory.bounds.gradients` and :mod:`normtheory.bounds.top_layer` both build on
these (and on nothing else of each other): ``E[1/χ²_k]`` integrated from the density, the
*isotropic* per-layer growth ``(rank P / n) · n · E[1/χ²_k]`` of a normalizer whose incoming
gradient is isotropic over its ``n`` entries, and the Gaussian Laplace transforms used by
the top layer's one-dimensional integral.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds.derived import derivation


@lru_cache(maxsize=None)
def inverse_chi2_mean_expr():
    """``(k, E[1/X])`` for ``X ~ χ²_k``, integrated from the density (valid for ``k > 2``)."""
    x, k = sp.symbols("x k", positive=True)
    density = x ** (k / 2 - 1) * sp.exp(-x / 2) / (2 ** (k / 2) * sp.gamma(k / 2))
    value = sp.integrate(density / x, (x, 0, sp.oo), conds="none")
    return k, sp.simplify(sp.gammasimp(value))


def stat_dof(n, centered: bool):
    """Degrees of freedom of ``n s² / σ²`` for ``n`` i.i.d. Gaussian entries: ``n − 1`` when the
    mean is removed, ``n`` when it is not."""
    return n - 1 if centered else n


def projection_rank(n, centered: bool):
    """Rank of the normalizer's Jacobian projection on one statistic's ``n`` entries: the
    all-ones direction (if centred) and the output direction are removed."""
    return n - 2 if centered else n - 1


@lru_cache(maxsize=None)
def growth_from_n_expr(*, centered: bool = True):
    """``(n, factor)``: the isotropic per-layer growth ``(rank P / n) · n · E[1/χ²_k]``."""
    n = sp.symbols("n", positive=True)
    k, inv = inverse_chi2_mean_expr()
    return n, sp.simplify(projection_rank(n, centered) / n * n * inv.subs(k, stat_dof(n, centered)))


@lru_cache(maxsize=None)
def _growth_fn(centered: bool):
    n, expr = growth_from_n_expr(centered=centered)
    return sp.lambdify(n, expr, "numpy")


def min_stat_count(centered: bool = True) -> int:
    """Smallest ``n`` with a finite expectation (``χ²`` degrees of freedom above 2)."""
    return 4 if centered else 3


def gradient_growth_from_n(n, *, centered: bool = True):
    """Isotropic per-layer growth factor for statistics over ``n`` entries (vectorized over ``n``)."""
    try:
        arr = np.asarray(n, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"n must be an integer (entries per statistic), got {n!r}") from None
    if arr.size == 0 or np.any(~np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError(f"n must be an integer (entries per statistic), got {n!r}")
    lo = min_stat_count(centered)
    if np.any(arr < lo):
        raise ValueError(
            f"n={n!r}: the expected gradient growth is infinite for n < {lo} "
            f"({'mean and variance' if centered else 'variance'} removed: E[1/chi2_k] needs k > 2)")
    out = _growth_fn(bool(centered))(arr)
    return float(out) if np.ndim(out) == 0 else out


@derivation
def gaussian_laplace_exprs():
    """``(a, E[e^{−a z²}], E[z² e^{−a z²}])`` for ``z ~ N(0, 1)``, integrated by sympy."""
    a = sp.symbols("a", positive=True)
    z = sp.symbols("z", real=True)
    density = sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi)
    plain = sp.simplify(sp.integrate(density * sp.exp(-a * z ** 2), (z, -sp.oo, sp.oo)))
    squared = sp.simplify(sp.integrate(z ** 2 * density * sp.exp(-a * z ** 2), (z, -sp.oo, sp.oo)))
    return a, plain, squared
