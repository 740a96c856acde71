"""Claims R1-R3: the stable rank of the sample representation in deep linear MLPs.

R1/R2 (Daneshmand et al. 2020 for BN; the paper's section 4 theorem for GN): with
BatchNorm, or GroupNorm of group size ``g``, the stable rank of the ``B × d``
representation stays at least of order ``sqrt(d / g)`` at any depth (``g = 1`` for BN).
The theorems give the order, not the constant. Here the bound is
``c · sqrt(d / g)`` with ``c = RANK_CONSTANT = 1/2``, **calibrated**, not proved: it was
read off the explicit-weight engine (linear MLPs, depth 50, batch 32, widths 32-128, 20
trials), where the mean last-layer stable rank divided by ``sqrt(d/g)`` was 0.55-0.57 for
BN and 0.8-1.3 for GN with ``g`` in 2..16; ``c`` is set below the smallest of these. The
checks in ``normtheory verify`` use other widths and depths than the calibration.

R3 (derived here): LayerNorm only rescales each sample, and an unnormalized linear net
not even that, so the representation is ``D · X_0 · Π W_lᵀ`` and its rank collapses toward 1
at the rate set by the top two Lyapunov exponents of the product of ``d × d`` Gaussian
matrices, ``λ_i = (ψ((d − i + 1)/2) + log(2/d)) / 2`` (Newman 1986; Forrester 2013):
``stable rank − 1 ≈ Σ_{i≥2} (σ_i/σ_1)² ∝ exp(−2 (λ_1 − λ_2) l)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds._validate import check_name, positive_int, resolve_group_size

RANK_CONSTANT = sp.Rational(1, 2)


def rank_lower_bound(norm: str, *, width: int, group_size=None, batch=None) -> float:
    """``c · sqrt(width / g)`` (``c = 1/2``, calibrated; ``g = 1`` for batchnorm).

    Applies to batchnorm and groupnorm (and layernorm = groupnorm with ``g = width``, where
    the bound is ``c``, vacuous). ``batch``, if given, must exceed the bound, which a
    ``B``-row matrix's stable rank cannot.
    """
    norm = check_name(norm)
    width = positive_int(width, "width")
    if norm == "batchnorm":
        if group_size is not None:
            raise ValueError("group_size does not apply to batchnorm")
        g = 1
    elif norm == "groupnorm":
        if group_size is None:
            raise ValueError("group_size is required for groupnorm")
        g = resolve_group_size(width, group_size=group_size)
    elif norm == "layernorm":
        g = width
    else:
        raise ValueError(f"the rank bound is stated for batchnorm, groupnorm and layernorm, not {norm}")
    bound = float(RANK_CONSTANT * sp.sqrt(sp.Rational(width, g)))
    if batch is not None and positive_int(batch, "batch") < bound:
        raise ValueError(f"batch={batch} is below the bound {bound:.3g}: a {batch}-sample representation "
                         "cannot reach it; use a larger batch")
    return bound


@lru_cache(maxsize=None)
def lyapunov_gap_expr():
    """``(d, λ_1 − λ_2)`` for products of ``d × d`` Gaussian matrices."""
    d = sp.symbols("d", positive=True)
    lam = lambda i: (sp.digamma((d - i + 1) / 2) + sp.log(2 / d)) / 2  # noqa: E731
    return d, sp.simplify(lam(1) - lam(2))


#: widths from which :func:`rank_collapse_rate` uses :func:`lyapunov_gap_series_expr`
SERIES_MIN_WIDTH = 64
#: the series' order: terms through ``d^-SERIES_ORDER``
SERIES_ORDER = 9


@lru_cache(maxsize=None)
def lyapunov_gap_series_expr(order: int = SERIES_ORDER):
    """``(d, series)``: the large-width expansion of the decay rate ``2 (λ_1 − λ_2)
    = ψ(d/2) − ψ((d − 1)/2)`` in powers of ``u = 1/d``, through ``u^order``.

    Derived here: Stirling's series ``ψ(x) ~ log x − 1/(2x) − Σ_k B_{2k} / (2k x^{2k})``,
    truncated after enough terms that the difference is exact through ``u^order`` (a term
    ``x^{-2K-2}`` of either digamma first enters at ``u^{2K+2}``), at ``x = 1/(2u)`` and
    ``x = (1 − u)/(2u)``; the logarithms leave ``−log(1 − u)``. The result is
    ``u + 3u²/2 + 2u³ + 9u⁴/4 + 2u⁵ + 3u⁶/2 + 2u⁷ + 33u⁸/8 + 2u⁹ + O(u¹⁰)`` (the next
    coefficient is ``−27/2``)."""
    u = sp.symbols("u", positive=True)
    d = sp.symbols("d", positive=True)
    terms = order // 2 + 1

    def psi(x):
        return sp.log(x) - 1 / (2 * x) - sum(sp.bernoulli(2 * k) / (2 * k * x ** (2 * k)) for k in range(1, terms + 1))

    series = sp.series(psi(1 / (2 * u)) - psi((1 - u) / (2 * u)), u, 0, order + 1).removeO()
    return d, sp.expand(series.subs(u, 1 / d))


@lru_cache(maxsize=None)
def _series_fn():
    d, series = lyapunov_gap_series_expr()
    return sp.lambdify(d, series, "math")


def rank_collapse_rate(width: int) -> float:
    """Per-layer decay rate ``2 (λ_1 − λ_2)`` of ``log(stable rank − 1)`` (claim R3).

    Below ``SERIES_MIN_WIDTH = 64`` the exact digamma difference of
    :func:`lyapunov_gap_expr` (evaluated by sympy, which sums ``d/2`` harmonic terms: too
    slow at large widths, over a minute at ``10⁶``); from 64 on the series of
    :func:`lyapunov_gap_series_expr` through ``d⁻⁹``, whose truncation error is below
    ``14 d⁻¹⁰`` (the next coefficient is ``−27/2`` and the later ones stay small at
    ``d ≥ 64``): a relative error below ``1e-15`` at ``d = 64`` and less above, i.e. at
    the level of float64 rounding (tests hold it to the exact value within ``1e-13``)."""
    width = positive_int(width, "width")
    if width < 2:
        raise ValueError("width must be at least 2 for a second Lyapunov exponent")
    if width >= SERIES_MIN_WIDTH:
        return float(_series_fn()(float(width)))
    d, gap = lyapunov_gap_expr()
    return float(2 * gap.subs(d, width))
