"""Claim B1/B2/B3: per-layer growth of the squared gradient norm going backward.

Setting (docs/settings.md): the non-residual theory MLP ``X_l = phi(N(X_{l-1} W_lᵀ))``,
loss ``<G, X_L>``. Derived here, in the spirit of Yang et al. 2019 (BN) and the paper's
section 5: the normalizer's Jacobian on one statistic's ``n`` entries is
``(1/s) · P`` with ``P`` the orthogonal projection removing the all-ones direction (if
centred) and the normalized output direction, so ``rank P = n − 2`` (centred) or
``n − 1`` (variance only). With Gaussian pre-activations of variance ``σ²``,
``n s² / σ² ~ χ²_k`` with ``k = n − 1`` (centred) or ``k = n``, independent of the
direction, and the incoming gradient is independent of both, so

    E‖dX_{l-1}‖² / E‖dX_l‖² = (rank P / n) · σ² · E[1/s²] = (rank P / n) · n · E[1/χ²_k],

where the weight's backward (variance ``gain²/d``) and the ReLU mask (half the entries,
``gain² = 2``) cancel. ``E[1/χ²_k]`` is integrated from the chi-square density and is
finite only for ``k > 2``; the result is ``(n − 2)/(n − 3)`` centred and
``(n − 1)/(n − 2)`` variance-only (printed by :func:`growth_from_n_expr`).

Assumptions: the ``n`` entries of one statistic are i.i.d. Gaussian. That holds exactly
for per-sample statistics in an MLP (the units of one sample are i.i.d. given the input).
For batch statistics (batchnorm, variancenorm) the ``n = B`` entries of a column are the
samples, correlated through their Gram matrix: in a linear net the form above is the
infinite-width limit; in a ReLU net the samples keep correlation ``1/π`` after the ReLU
(the arc-cosine map at 0) and the batch centring removes it, which multiplies the rate by
``1/(1 − 1/π) = π/(π − 1)`` at large batch (Yang et al. 2019's BN ReLU rate; derived
here from the correlation map), see :func:`batchnorm_relu_growth`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds._validate import check_name, family, positive_int, resolve_group_size

CENTRED = ("batchnorm", "layernorm", "instancenorm", "groupnorm")
VARIANCE_ONLY = ("variancenorm", "frn")


@lru_cache(maxsize=None)
def inverse_chi2_mean_expr():
    """``E[1/X]`` for ``X ~ χ²_k``, integrated from the density (valid for ``k > 2``)."""
    x, k = sp.symbols("x k", positive=True)
    density = x ** (k / 2 - 1) * sp.exp(-x / 2) / (2 ** (k / 2) * sp.gamma(k / 2))
    value = sp.integrate(density / x, (x, 0, sp.oo), conds="none")
    return k, sp.simplify(sp.gammasimp(value))


@lru_cache(maxsize=None)
def growth_from_n_expr(centered: bool = True):
    """``(n, factor)``: the per-layer growth as a sympy expression in ``n``."""
    n = sp.symbols("n", positive=True)
    k, inv = inverse_chi2_mean_expr()
    dof = n - 1 if centered else n
    rank = n - 2 if centered else n - 1
    return n, sp.simplify(rank / n * n * inv.subs(k, dof))


@lru_cache(maxsize=None)
def _growth_fn(centered: bool):
    n, expr = growth_from_n_expr(centered)
    return sp.lambdify(n, expr, "numpy")


def min_stat_count(centered: bool = True) -> int:
    """Smallest ``n`` with a finite expectation (``χ²`` degrees of freedom above 2)."""
    return 4 if centered else 3


def gradient_growth_from_n(n, *, centered: bool = True):
    """Per-layer growth factor for statistics over ``n`` entries (vectorized over ``n``)."""
    arr = np.asarray(n, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError(f"n must be an integer (entries per statistic), got {n!r}")
    lo = min_stat_count(centered)
    if np.any(arr < lo):
        raise ValueError(
            f"n={n!r}: the expected gradient growth is infinite for n < {lo} "
            f"({'mean and variance' if centered else 'variance'} removed: E[1/chi2_k] needs k > 2)")
    out = _growth_fn(bool(centered))(arr)
    return float(out) if np.ndim(out) == 0 else out


def stat_count(norm: str, *, width: int, group_size=None, batch=None, spatial: int = 1) -> int:
    """Entries per statistic of ``norm`` (``n`` of claim B1); ``spatial`` is ``H·W``."""
    norm = check_name(norm)
    width = positive_int(width, "width")
    spatial = positive_int(spatial, "spatial")
    if family(norm) != "activation":
        raise ValueError(f"{norm} computes no activation statistics")
    if norm in ("groupnorm", "evonorm_s0"):
        if group_size is None:
            raise ValueError(f"group_size is required for {norm}")
        g = resolve_group_size(width, group_size=group_size)
        return g * spatial
    if group_size is not None:
        raise ValueError(f"group_size applies to groupnorm and evonorm_s0, not to {norm}")
    if norm in ("batchnorm", "variancenorm", "evonorm_b0"):
        if batch is None:
            raise ValueError(f"batch is required for {norm} (its statistics run over the batch)")
        return positive_int(batch, "batch") * spatial
    return {"layernorm": width * spatial, "instancenorm": spatial, "frn": spatial}[norm]


@lru_cache(maxsize=None)
def batchnorm_relu_growth_expr():
    """``π/(π−1)``: large-batch BN ReLU rate, ``1/(1 − ρ*)`` with ``ρ*`` the ReLU map at 0."""
    from normtheory.bounds.correlation import relu_correlation_map_expr

    c, expr = relu_correlation_map_expr()
    rho = sp.simplify(expr.subs(c, 0))
    return sp.simplify(1 / (1 - rho))


def batchnorm_relu_growth() -> float:
    """Numeric value of :func:`batchnorm_relu_growth_expr` (Yang et al. 2019)."""
    return float(batchnorm_relu_growth_expr())


def gradient_growth_per_layer(norm: str, *, width: int, group_size=None, batch=None, spatial: int = 1,
                              nonlinearity: str = "linear") -> float:
    """Expected per-layer growth of ``‖∂ℓ/∂X‖²`` going backward (claims B1, B3).

    Plain, weightnorm and sws preserve the expected squared norm (factor 1: the
    Gaussian / unit-row weight has ``E[WᵀW] = I``). EvoNorm has no closed form here
    (``ValueError``). For batchnorm in a ReLU net the large-batch form
    ``π/(π−1) · (n−2)/(n−3)`` is returned (see the module docstring).
    """
    norm = check_name(norm)
    if nonlinearity not in ("linear", "relu"):
        raise ValueError(f"nonlinearity must be 'linear' or 'relu', got {nonlinearity!r}")
    if family(norm) != "activation":
        return 1.0
    if norm.startswith("evonorm"):
        raise ValueError(f"no closed-form gradient growth is derived for {norm}")
    n = stat_count(norm, width=width, group_size=group_size, batch=batch, spatial=spatial)
    factor = gradient_growth_from_n(n, centered=norm in CENTRED)
    if nonlinearity == "relu" and norm == "batchnorm":
        factor *= batchnorm_relu_growth()
    return factor


def gradient_growth_total(norm: str, *, depth, **kwargs):
    """Growth of ``‖∂ℓ/∂X_0‖² / ‖∂ℓ/∂X_L‖²`` over ``depth`` layers: the per-layer factor to the ``depth``."""
    from normtheory.bounds._validate import depth_array

    return gradient_growth_per_layer(norm, **kwargs) ** depth_array(depth)
