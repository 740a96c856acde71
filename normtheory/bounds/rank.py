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

R3 (derived here): an unnormalized linear net's representation is ``X_0 · Π W_lᵀ`` and its
rank collapses toward 1 at the rate set by the top two Lyapunov exponents of the product
of ``n × n`` Gaussian matrices, ``λ_i = (ψ((n − i + 1)/2) + log(2σ²))/2`` (Newman 1986;
Forrester 2013), ``n = d``: ``stable rank − 1 ≈ Σ_{i≥2} (σ_i/σ_1)² ∝ exp(−2 (λ_1 − λ_2) l)``.
LayerNorm centres each sample and rescales it: its representation is
``D · X_1 · Π_{l≥2} (W_lᵀ P)`` with ``P = I − 11ᵀ/d`` and ``D`` diagonal, so the product acts
in the ``n = d − 1`` dimensions orthogonal to ``1`` (see :func:`collapse_dimension`); the
per-sample scales ``D`` leave the large-depth rate unchanged but slow its onset (see
:func:`rank_collapse_rate`). :func:`product_collapse_rate` is the rate at any ``n``: claim
R3's rivals take the other dimension count (``n = d`` with LayerNorm, ``n = d − 1`` without).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds.derived import derivation
from normtheory.bounds.validate import check_name, positive_int, refuse_group_size, resolve_group_size, vectorized

RANK_CONSTANT = sp.Rational(1, 2)


@vectorized("width", "group_size", "batch")
def rank_lower_bound(norm: str, *, width: int, group_size=None, batch=None) -> float:
    """``c · sqrt(width / g)`` (``c = 1/2``, calibrated; ``g = 1`` for batchnorm), vectorized
    over ``width``, ``group_size`` and ``batch``. Source: Daneshmand et al. 2020 (batchnorm),
    the paper's section 4 theorem (groupnorm); the constant calibrated here (module docstring).

    Applies to batchnorm and groupnorm (``group_size`` required), and to layernorm =
    groupnorm with ``g = width``, where the bound is ``c``, vacuous; ``group_size`` is refused
    for batchnorm and layernorm. ``batch``, if given, must exceed the bound, which a
    ``B``-row matrix's stable rank cannot.
    """
    norm = check_name(norm)
    width = positive_int(width, "width")
    if norm == "batchnorm":
        refuse_group_size(group_size, norm, "its statistics run over the batch, one unit at a time (g = 1)")
        g = 1
    elif norm == "groupnorm":
        if group_size is None:
            raise ValueError("group_size is required for groupnorm")
        g = resolve_group_size(width, group_size=group_size)
    elif norm == "layernorm":
        refuse_group_size(group_size, norm, "its one group is the whole width (g = width)")
        g = width
    else:
        raise ValueError(f"the rank bound is stated for batchnorm, groupnorm and layernorm, not {norm}")
    bound = float(RANK_CONSTANT * sp.sqrt(sp.Rational(width, g)))
    if batch is not None and positive_int(batch, "batch") < bound:
        raise ValueError(f"batch={batch} is below the bound {bound:.3g}: a {batch}-sample representation "
                         "cannot reach it; use a larger batch")
    return bound


@derivation
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
def lyapunov_gap_series_expr(*, order: int = SERIES_ORDER):
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


#: the normalizers whose deep linear nets collapse to rank 1 (claim R3)
COLLAPSING = ("plain", "layernorm")


def collapse_dimension(norm: str, *, width: int) -> int:
    """The dimension ``n`` of the Gaussian matrix product that sets the rank collapse of a
    deep linear net of width ``width`` with normalizer ``norm`` (one of :data:`COLLAPSING`).

    ``plain``: ``X_l = X_{l−1} W_lᵀ`` with ``W_l`` i.i.d. ``N(0, 1/d)``, a product of ``d × d``
    Gaussian matrices: ``n = d``.

    ``layernorm`` (derived here; the LN of docs/settings.md, affine parameters at their
    initial values): ``X_l = D_l X_{l−1} W_lᵀ P`` with ``P = I − 11ᵀ/d`` the centring and
    ``D_l`` the diagonal of the per-sample ``1/sqrt(var + eps)``. Diagonal factors on the
    left commute with the products on the right, so ``X_L = D X_1 Π_{l≥2} W_lᵀ P`` with
    ``D = Π D_l``. The rows of ``X_1`` lie in ``1^⊥``; with ``Q`` (``d × (d − 1)``) an
    orthonormal basis of ``1^⊥`` (``P = QQᵀ``), ``X_L Q = D (X_1 Q) Π_{l≥2} G_l`` with
    ``G_l = Qᵀ W_lᵀ Q``. ``vec G_l = (Q ⊗ Q)ᵀ vec W_lᵀ`` and ``Q ⊗ Q`` has orthonormal columns,
    so the ``G_l`` are independent ``(d − 1) × (d − 1)`` matrices with i.i.d. ``N(0, 1/d)``
    entries; ``X_L = X_L Q Qᵀ`` has the singular values of ``X_L Q``. Hence ``n = d − 1``.
    ``D`` has positive entries, bounded in each network, so it changes ``log(srank − 1)`` by
    a term that tends to a constant as the depth grows, not the rate."""
    norm = check_name(norm)
    if norm not in COLLAPSING:
        raise ValueError(f"norm must be one of {COLLAPSING} for the rank collapse rate, got {norm!r}")
    width = positive_int(width, "width")
    n = width - 1 if norm == "layernorm" else width
    if n < 2:
        raise ValueError(f"width={width}: it must be at least {2 + width - n} for {norm}, whose product acts in "
                         f"{n} dimension(s), with no second Lyapunov exponent")
    return n


def product_collapse_rate(n: int) -> float:
    """Per-layer decay rate ``2 (λ_1 − λ_2) = ψ(n/2) − ψ((n − 1)/2)`` of ``log(stable rank − 1)``
    under products of ``n × n`` Gaussian matrices, whatever the network: :func:`rank_collapse_rate`
    at ``n`` from :func:`collapse_dimension`, and claim R3's rivals at the other dimension count.

    Below ``SERIES_MIN_WIDTH = 64`` the exact digamma difference of :func:`lyapunov_gap_expr`
    (evaluated by sympy, which sums ``n/2`` harmonic terms: too slow at large ``n``, over a
    minute at ``10⁶``); from 64 on the series of :func:`lyapunov_gap_series_expr` through
    ``n⁻⁹``, whose truncation error is below ``14 n⁻¹⁰`` (the next coefficient is ``−27/2`` and
    the later ones stay small at ``n ≥ 64``): a relative error below ``1e-15`` at ``n = 64``
    and less above, i.e. at the level of float64 rounding (tests hold it to the exact value
    within ``1e-13``)."""
    n = positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be at least 2 (a product of {n} x {n} matrices has no second Lyapunov exponent)")
    if n >= SERIES_MIN_WIDTH:
        return float(_series_fn()(float(n)))
    d, gap = lyapunov_gap_expr()
    return float(2 * gap.subs(d, n))


@vectorized("width")
def rank_collapse_rate(norm: str, *, width: int) -> float:
    """Per-layer decay rate ``2 (λ_1 − λ_2)`` of ``log(stable rank − 1)`` (claim R3; derived here
    from the Lyapunov spectrum of Newman 1986) in a deep linear net of width ``width`` with
    ``norm`` ``"plain"`` (no normalizer) or ``"layernorm"``, vectorized over ``width``: the top
    Lyapunov gap of products of ``n × n`` Gaussian matrices,
    ``ψ(n/2) − ψ((n − 1)/2)`` (:func:`product_collapse_rate`), with ``n`` from
    :func:`collapse_dimension` (``d``, or ``d − 1`` for LayerNorm's centring). A large-depth
    limit at finite width: in a LayerNorm net ``log(srank − 1) = 2 log(σ_2/σ_1) + log var_a(t_a) + ...``
    where ``t_a`` is the ratio of a sample's components along the top two singular directions
    (``σ_2/σ_1`` times a ratio of two independent standard normals, a Cauchy variable); while
    some sample of the batch has ``|t_a| ≳ 1`` (probability about ``(2B/π) σ_2/σ_1``) the
    excess does not yet fall at this rate, so the rate is reached only once
    ``σ_2/σ_1 ≪ π/(2B)`` (claim R3 fits its slope past that layer)."""
    return product_collapse_rate(collapse_dimension(norm, width=width))


# --- where the collapse rate shows (claim R3's fit window) -----------------------------------

COLLAPSE_DECAY = 8.0  # fit window (rank-collapse figure): predicted log-decay of (srank - 1) over it
TRANSIENT_MARGIN = 4.0  # fit start: log of 1 / (predicted chance of a sample off the top direction)
#: claim R3's fit window: a predicted log-decay of (srank - 1) this deep over it (a slope's variance
#: falls like 1 / window length), its end kept above :data:`FLOAT_FLOOR`
R3_DECAY = 28.0
#: the deepest predicted log-decay of (srank - 1) a window may reach: the float64 simulation's srank - 1
#: stops falling at the rate near e^-42 (LN, width 8, batch 8, 1000 networks of
#: normtheory.montecarlo.simulate_mlp: slope/rate 0.999, 1.000, 0.992 ± 0.025 over layers where the
#: mean log(srank - 1) runs from -20 to -42, then 0.92 from -42 to -49 and 0.53 from -60 to -65)
FLOAT_FLOOR = 40.0


def collapse_window(norm: str, *, width: int, batch: int, decay: float = COLLAPSE_DECAY) -> tuple[int, int]:
    """``(fit_from, depth)`` of the window where ``log(srank − 1)`` of a deep linear net falls at
    the rate of :func:`rank_collapse_rate` (claim R3's slope fit, the rank-collapse figure), from
    the predicted rate ``ρ`` of :func:`rank_collapse_rate` (nothing read from simulations).

    Past the first layers the representation's rows are ``x_a ∝ a_1 σ_1 v_1 + a_2 σ_2 v_2 +
    ...`` with ``(a_1, a_2)`` independent standard normals (a row of ``X_0`` on the top
    two left singular vectors of the weight product) and ``σ_2/σ_1 ≈ e^{−ρ l/2}``. LN scales
    each row to a fixed norm, so a row's share off ``v_1`` is ``t_a² /(1 + t_a²)`` with
    ``t_a = (a_2/a_1) σ_2/σ_1``: Cauchy-distributed ratios, and ``srank − 1`` falls at the
    rate ``ρ`` only once every ``|t_a| ≪ 1``. ``P(|a_1/a_2| < ε) = (2/π) arctan ε ≤ 2ε/π``,
    so some sample of the ``B`` has ``|t_a| > 1`` with probability about (at most, up to
    the O(1) factor in ``σ_2/σ_1``) ``(2B/π) e^{−ρ l/2}``; ``fit_from`` is where that is
    ``e^{−TRANSIENT_MARGIN}``, and the window then spans a predicted decay ``e^{−decay}``
    (:data:`COLLAPSE_DECAY` by default, :data:`R3_DECAY` for claim R3). The unnormalized net
    has no per-sample scales; the same window keeps one rule for both. A window whose end
    reaches a predicted decay beyond ``e^{−FLOAT_FLOOR}`` (``ρ · depth > FLOAT_FLOOR``:
    float64 rounding, not the rate, sets ``srank − 1`` there) is refused (``ValueError``)."""
    if not decay > 0:
        raise ValueError(f"decay must be > 0, got {decay!r}")
    batch = positive_int(batch, "batch")
    rate = rank_collapse_rate(norm, width=width)
    fit_from = int(np.ceil(2.0 * (np.log(2.0 * batch / np.pi) + TRANSIENT_MARGIN) / rate))
    depth = fit_from + int(np.ceil(decay / rate))
    if rate * depth > FLOAT_FLOOR:
        raise ValueError(f"the window of {norm} at width {width}, batch {batch} and decay {decay:g} ends at a "
                         f"predicted log-decay {rate * depth:.1f} of srank - 1, beyond FLOAT_FLOOR = {FLOAT_FLOOR:g} "
                         "(float64 rounding sets srank - 1 there); use a smaller batch or decay")
    return fit_from, depth
