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

**Interior layers** (derived here). The form above takes the incoming gradient ``dX_l`` to
be isotropic. That holds at the top layer (``dX_L = G``), but below it the next layer
``N(X_l W_{l+1}ᵀ)`` is invariant to rescaling ``X_l`` (per sample for per-sample statistics,
jointly over the batch for batch statistics), so by Euler's theorem ``dX_l`` is orthogonal
to ``X_l`` within the ``N`` entries over which that invariance holds (``N = d·H·W`` per
sample, ``B·d·H·W`` for batch statistics). In a linear net ``X_l`` is the normalized output
``y``; with ``G = N/n`` statistics, ``P`` removes per statistic the all-ones direction (already
orthogonal to ``y``, which is centred per statistic) and the direction of ``y`` on that
statistic; the ``G`` output directions span a space that contains ``X_l``, which ``dX_l`` has
no component along. Taking ``dX_l`` isotropic in the ``N − 1`` remaining dimensions, the
kept fraction is ``(N − rG)/(N − 1)`` (``r = 2`` centred, 1 variance-only) instead of
``(n − r)/n``, and the per-layer factor becomes ``N(n − 2)/((N − 1)(n − 3))`` centred
(:func:`interior_growth_expr`): LayerNorm (``N = n``) grows by ``n(n−2)/((n−1)(n−3))``, GN
with few groups more than ``(n−2)/(n−3)``, and batch statistics (``N = B·d``) by a negligible
``N/(N−1)`` more. This form is for linear nets (in a ReLU net ``X_l = relu(y)``). The
isotropy it assumes is approximate: given the layer's input batch, ``dX_l = W_{l+1}ᵀ dH`` is
isotropic only outside the span of the batch's ``B`` samples; inside it, it is fixed by the
other samples' outputs. The Monte Carlo checks (``normtheory verify --claims B1``) put the
truth between the two forms where there are many groups, and nearer this one for LN and GN
with few groups.

**Finite width.** The top layer is solved exactly at every width in
:mod:`normtheory.bounds.top_layer` (``position="top"`` uses it). For batch statistics the
interior rate drifts at finite width and is not even constant over depth: at ``B = 64``,
``d = 256`` the measured per-layer ratio is about 1.10 just below the top, 1.00 in the middle
and 0.90-0.92 near the input (against 1.0165), as the forward Gram loses rank; no
finite-width correction of the interior rate is derived (README, findings).

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
def interior_growth_expr(centered: bool = True):
    """``(n, N, factor)``: the per-layer growth below a scale-invariant layer, ``N`` the
    entries over which that layer is invariant (see the module docstring)."""
    n, N = sp.symbols("n N", positive=True)
    k, inv = inverse_chi2_mean_expr()
    dof, removed = (n - 1, 2) if centered else (n, 1)
    statistics = N / n
    kept = (N - removed * statistics) / (N - 1)
    return n, N, sp.factor(sp.simplify(kept * n * inv.subs(k, dof)))


@lru_cache(maxsize=None)
def _interior_fn(centered: bool):
    n, N, expr = interior_growth_expr(centered)
    return sp.lambdify((n, N), expr, "numpy")


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
                              nonlinearity: str = "linear", position: str = "interior") -> float:
    """Expected per-layer growth of ``‖∂ℓ/∂X‖²`` going backward (claims B1, B3).

    ``position="interior"`` (default): a layer below another normalized layer, the per-layer
    rate of a deep net; in linear nets this is :func:`interior_growth_expr` (it needs
    ``batch`` for batch statistics). ``position="top"``: the last layer, whose incoming
    gradient is isotropic; in linear MLPs (``spatial=1``) the exact finite-width forms of
    :mod:`normtheory.bounds.top_layer`: ``(d−1)/d · (n−2)/(n−3)`` for per-sample statistics,
    and for batch statistics the form whose input Gram is the isotropic one of the
    infinite-width limit, ``(B−2)(B−1)(d−2)/(B d (B−3))`` (batchnorm; for the exact value
    given the input's actual Gram use :func:`normtheory.bounds.top_growth_given_gram`).
    Elsewhere (CNNs, ReLU nets) both positions use the isotropic form ``(n−2)/(n−3)`` or
    ``(n−1)/(n−2)``. Plain, weightnorm and sws preserve the expected squared norm
    (factor 1: the Gaussian / unit-row weight has ``E[WᵀW] = I``). EvoNorm has no closed form
    here (``ValueError``). For batchnorm in a ReLU net the large-batch form
    ``π/(π−1) · (n−2)/(n−3)`` is returned (see the module docstring).
    """
    if position not in ("interior", "top"):
        raise ValueError(f"position must be 'interior' or 'top', got {position!r}")
    norm = check_name(norm)
    if nonlinearity not in ("linear", "relu"):
        raise ValueError(f"nonlinearity must be 'linear' or 'relu', got {nonlinearity!r}")
    if family(norm) != "activation":
        return 1.0
    if norm.startswith("evonorm"):
        raise ValueError(f"no closed-form gradient growth is derived for {norm}")
    n = stat_count(norm, width=width, group_size=group_size, batch=batch, spatial=spatial)
    centered = norm in CENTRED
    factor = gradient_growth_from_n(n, centered=centered)
    if position == "top" and nonlinearity == "linear" and spatial == 1:
        from normtheory.bounds.top_layer import top_growth_isotropic, top_growth_per_sample

        if norm in ("batchnorm", "variancenorm"):
            return top_growth_isotropic(batch=batch, width=width, norm=norm)
        return top_growth_per_sample(n, width=width, centered=centered)
    if position == "interior" and nonlinearity == "linear":
        entries = width * spatial * (batch if norm in ("batchnorm", "variancenorm") else 1)
        factor = float(_interior_fn(centered)(n, entries))
    if nonlinearity == "relu" and norm == "batchnorm":
        factor *= batchnorm_relu_growth()
    return factor


def gradient_growth_total(norm: str, *, depth, **kwargs):
    """Growth of ``‖∂ℓ/∂X_0‖² / ‖∂ℓ/∂X_L‖²`` over ``depth`` layers: the per-layer factor to the ``depth``."""
    from normtheory.bounds._validate import depth_array

    return gradient_growth_per_layer(norm, **kwargs) ** depth_array(depth)
