"""Claims B1/B2/B3: per-layer growth of the squared gradient norm going backward.

Setting (docs/settings.md): the non-residual theory MLP ``X_l = phi(N(X_{l-1} W_lᵀ))``,
loss ``<G, X_L>``. The normalizer's Jacobian on one statistic's ``n`` entries is
``(1/s) · P`` with ``P`` the orthogonal projection removing the all-ones direction (if
centred) and the normalized output direction, so ``rank P = n − 2`` (centred) or ``n − 1``
(variance only: variancenorm_uncentred, frn); ``n s² / σ² ~ χ²_k`` with ``k = n − 1`` (centred) or ``k = n``,
independent of the direction. With an *isotropic* incoming gradient this gives the form
``(rank P / n) · n · E[1/χ²_k]`` = ``(n − 2)/(n − 3)`` centred, ``(n − 1)/(n − 2)`` variance
only (:func:`normtheory.bounds.chi2.growth_from_n_expr`).

**Per-sample statistics, linear MLP: exact at every width** (:func:`interior_growth_expr`;
layernorm ``n = d``, groupnorm ``n = g``, ``d/n`` groups per sample). Let ``y = N(h)``,
``h = W x``, ``W`` i.i.d. ``N(0, 1/d)``, and ``g_y`` the gradient arriving at ``y``.

1. The next layer is scale-invariant in its input (Euler), so ``g_y ⊥ y``; given
   ``h' = W' y`` the rest of ``W'`` is independent of everything above, so ``g_y`` is
   isotropic in the ``d − 1`` dimensions orthogonal to ``y``: ``E‖g_y‖² = (d − 1) s``.
2. ``P`` removes per group the direction ``1_k`` (orthogonal to ``y``: ``s`` each) and the
   direction ``y_k`` (which overlaps ``y`` by ``n/d``: ``(1 − n/d) s`` each), leaving
   ``(d − 2d/n) s`` centred, ``(d − d/n) s`` variance only.
3. Each group's ``1/s_k²`` is independent of the directions: ``E[1/s_k²] = n E[1/χ²_k]``.
4. Back through ``W``: ``h·g_h = 0`` (Euler again), so with ``W = W Q + h xᵀ/‖x‖²`` (``Q``
   the projection off ``x``; ``W Q`` independent of ``h``) only ``W Q`` acts:
   ``E‖g_x‖² = (d − 1)/d · E‖g_h‖²``, and ``g_x`` is again isotropic off ``x``.

Together ``E‖g_x‖² / E‖g_y‖² = (n − 2)/(n − 3)`` centred and ``(n − 1)/(n − 2)``
variance only, exactly: sympy cancels ``d``. Each sample of a batch follows the single
sample's network (per-sample statistics, a loss linear in ``X_L``), so the rate holds for
any batch. It holds at every layer whose incoming gradient comes from a normalized layer
above and whose input has a fixed norm (the bottom layer's raw input does not); the top
layer's incoming gradient ``G`` is isotropic in all ``d`` directions, which gives
``(d − 1)/d · (n − 2)/(n − 3)`` (:mod:`normtheory.bounds.top_layer`). An earlier form
``N(n − 2)/((N − 1)(n − 3))`` kept step 1 and dropped step 4; it is off by ``d/(d − 1)``
(LN, ``d = 16``: ``16·14/(15·13) = 1.1487`` against the exact ``14/13 = 1.0769``; Monte Carlo
1.0747 ± 0.0038).

**Batch statistics (batchnorm, variancenorm_uncentred): infinite-width limits**
(:func:`interior_batch_limit_expr`). The ``n = B`` entries of a unit are the samples; at
infinite width (independent input samples) the batch Gram is isotropic, ``K = B/(B−1)·C``
after batchnorm (``C`` the batch centring) and ``K = I`` after variancenorm_uncentred. The next
batchnorm is invariant to a shift of each unit over the batch, so the incoming gradient of
each unit is orthogonal to the all-ones direction and isotropic in the other ``B − 1``;
``P`` removes the output direction; ``‖h_j‖² = B/(B − 1) χ²_{B−1}``. The rate is
``(B − 2)/(B − 3)`` (batchnorm) and ``(B − 1)/(B − 2)`` (variancenorm_uncentred). At finite width the
Gram loses rank with depth and the measured rate drifts and is not constant over depth (at
``B = 64``, ``d = 256`` about 1.10 just below the top, 1.00 in the middle, 0.90-0.92 near
the input, against 1.0164); no finite-width interior form is derived. (Earlier versions
multiplied by ``Bd/(Bd − 1)``, from the same incomplete step 1; below ``1e-4`` relative at
the verify settings.)

**The paper's Variance Normalization (variancenorm): no per-layer rate; an infinite-width
profile over depth** (:func:`variancenorm_layer_maps_expr`). ``y = h/σ`` with
``σ² = ‖C h‖²/B`` and no mean subtracted; its Jacobian is ``(1/σ)(I − y (C y)ᵀ/B)``, not a
scaled projection: it passes the all-ones direction (``C 1 = 0``) with ``1/σ`` and
annihilates ``h`` (Euler). At infinite width a unit's pre-activations are ``N(0, K)`` with
the input's Gram ``K = κ C + ν 11ᵀ/B`` (exchangeable samples), so ``C h`` (norm
``σ² = κ χ²_{B−1}/B``, uniform direction) and the batch mean ``h̄ ~ N(0, ν/B)`` are
independent. Forward: ``C y`` has norm ``sqrt(B)`` and a uniform direction, so the output
Gram is ``B/(B−1)·C + ν E[1/σ²]·11ᵀ/B``: the common part ``ν`` of the samples grows by
``E[1/σ²] = (B − 1)/(B − 3)`` per layer (after the first). Backward: the gradient at ``y``
of each unit has covariance ``S = a C + b 11ᵀ/B`` (exchangeable), independent of the
unit's forward quantities (the infinite-width gradient independence of the other batch
limits); averaging ``(1/σ²)(I − u yᵀ) S (I − y uᵀ)`` (``u = C y/B``, ``y = m 1 + C y``,
``m = h̄/σ``) over the uniform direction gives

    a' = a E[1/σ²] (B − 2)/(B − 1) + b (ν/B) E[1/σ⁴]/(B − 1),      b' = b E[1/σ²],

and the weight below keeps ``S`` (``W`` with ``N(0, 1/d)`` entries, ``d → ∞``); the squared
gradient norm per unit is ``a (B − 1) + b``. The top's ``G`` has ``a = b = 1``, the raw
input ``κ = ν = 1``. The common mode ``b`` grows by ``(B − 1)/(B − 3)`` per layer going down
and meets the forward ``ν`` that grew the other way, so the per-layer ratio changes with
the position and the depth (``B = 16``, ``L = 10``: 1.095 below the top to 1.167 at the
bottom); :func:`variancenorm_gradient_profile` iterates the maps,
:func:`variancenorm_interior_growth` gives claim B1b's statistic from it. Finite for
``B > 5`` (``E[1/χ⁴_{B−1}]``). No top-layer form is derived for it (its Jacobian is not a
projection, so :mod:`normtheory.bounds.top_layer`'s integral does not apply):
:func:`gradient_growth_per_layer` raises ``ValueError`` for variancenorm.

**ReLU nets.** Per-sample statistics: the mask keeps half of the isotropic incoming gradient,
and ``P`` removes per group ``1/2`` of the all-ones and ``1/2`` of the output direction
(symmetry ``h → −h``), so the He gain 2 restores ``(n − 2)/(n − 3)`` when the incoming
gradient is isotropic and independent of the mask and the pre-activation variance is
constant: the infinite-width limit at a fixed group size ``n`` (groupnorm); for layernorm
(``n = d``) the neglected terms are of the same order as the ``1/(n − 3)`` it keeps, so
there it is an approximation. Batchnorm: the samples keep correlation ``1/π`` after the ReLU
(the arc-cosine map at 0) and batch centring removes it, which multiplies the rate by
``1/(1 − 1/π) = π/(π − 1)`` at large batch (Yang et al. 2019's BN ReLU rate; derived from
the correlation map, :func:`batchnorm_relu_growth`): an approximation at finite batch.
Parametric normalizers and plain: the weight (unit-norm rows, or He ``N(0, 2/d)``) keeps
``E‖Wᵀ g‖² = ‖g‖²·gain_w²`` and the nonlinearity multiplies by ``E[phi'(z)²]``: 1 for the
He ReLU, but ``gain² · 1/2 = π/(π − 1)`` for the zero-mean ReLU of weightnorm and the scaled
ReLU of sws (their gain ``sqrt(2π/(π−1))`` preserves the forward second moment, not the
backward one): :func:`parametric_relu_growth_expr`, an infinite-width limit, checked against
the rival 1 by claim B3p (``normtheory verify --claims B3p``). In linear nets the weight
alone acts: exactly 1.

CNNs (``spatial > 1``): the ``n = g·H·W`` entries of a statistic are spatially correlated and
the convolution is not a dense Gaussian matrix; the isotropic form is an approximation.
:func:`gradient_growth_form` names the kind of every form.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds.derived import derivation
from normtheory.bounds.validate import (branch_kind, check_name, depth_array, family, positive_int,
                                        refuse_group_size, resolve_group_size, vectorized)
from normtheory.bounds.chi2 import (  # noqa: F401  (re-exported: the public names of this module)
    gradient_growth_from_n,
    growth_from_n_expr,
    inverse_chi2_mean_expr,
    min_stat_count,
    projection_rank,
    stat_dof,
)
from normtheory.bounds.correlation import relu_correlation_map_expr
from normtheory.bounds.top_layer import top_growth_isotropic, top_growth_per_sample
from normtheory.names import BATCH_NAMES, EVONORM_NAMES, GROUPED_NAMES, NAMES, VARIANT_BATCH_NAMES, VARIANT_NAMES

CENTRED = ("batchnorm", "layernorm", "instancenorm", "groupnorm")
VARIANCE_ONLY = ("variancenorm_uncentred", "frn")
#: batch statistics whose Jacobian is a scaled projection (the forms of this module)
BATCH_STATS = ("batchnorm", "variancenorm_uncentred")
#: names with no per-layer form here (see the module docstring)
NO_FORM = ("evonorm_b0", "evonorm_s0", "variancenorm")
PER_SAMPLE = ("layernorm", "instancenorm", "groupnorm", "frn")
#: the kinds of closed form (see :func:`gradient_growth_form`)
FORM_KINDS = ("exact", "finite-width", "infinite-width limit", "approximation")
POSITIONS = ("interior", "top")


@lru_cache(maxsize=None)
def interior_growth_expr(*, centered: bool = True, weight_step: bool = True):
    """``(n, d, factor)``: the per-layer growth below a normalized layer for per-sample
    statistics over ``n`` entries in a linear MLP of width ``d``, from the four steps of the
    module docstring; ``factor`` does not depend on ``d``. ``weight_step=False`` drops step 4
    (``g_x`` taken isotropic in all ``d`` directions): the earlier form
    ``d(n − 2)/((d − 1)(n − 3))``, which claim B1 keeps as a rival."""
    n, d, s = sp.symbols("n d s", positive=True)
    groups = d / n
    k, inv = inverse_chi2_mean_expr()
    incoming = (d - 1) * s  # step 1: isotropic off y
    removed_ones = groups * s if centered else 0  # step 2: 1_k, orthogonal to y
    removed_out = groups * (1 - n / d) * s  # y_k, overlapping y by n/d
    kept = incoming - removed_ones - removed_out
    inv_var = n * inv.subs(k, stat_dof(n, centered))  # step 3: E[1/s_k²]
    weight = (d - 1) / d if weight_step else 1  # step 4: only W Q acts, tr(Q)/d
    return n, d, sp.factor(sp.simplify(kept * inv_var * weight / incoming))


@lru_cache(maxsize=None)
def interior_batch_limit_expr(*, centered: bool = True):
    """``(B, factor)``: the per-layer growth below a batch-normalized layer at infinite width
    (batchnorm ``centered=True``, variancenorm ``False``), see the module docstring."""
    B, s = sp.symbols("B s", positive=True)
    k, inv = inverse_chi2_mean_expr()
    dims = B - 1 if centered else B  # incoming per unit: orthogonal to 1 below a batchnorm
    incoming = dims * s
    kept = (dims - 1) * s  # P removes the output direction (orthogonal to 1)
    rank = B - 1 if centered else B  # of the isotropic Gram K
    eig = B / rank  # its non-zero eigenvalue (trace B)
    inv_var = B / eig * inv.subs(k, rank)  # s_j² = ‖h_j‖²/B, ‖h_j‖² = eig χ²_rank
    return B, sp.factor(sp.simplify(kept * inv_var / incoming))


@derivation
def variancenorm_layer_maps_expr():
    """``((B, kappa, nu, a, b), forward, backward)``: one layer of the paper's Variance
    Normalization at infinite width (module docstring). ``forward`` maps the input Gram's
    ``(kappa, nu)`` to the output's; ``backward`` maps the gradient covariance ``(a, b)`` at the
    layer's output to the one at its input, given the input's ``(kappa, nu)``. ``E[1/X]`` and
    ``E[1/X²]`` for ``X ~ χ²_{B−1}`` are integrated from the density."""
    B, kappa, nu, a, b = sp.symbols("B kappa nu a b", positive=True)
    x, k = sp.symbols("x k", positive=True)
    density = x ** (k / 2 - 1) * sp.exp(-x / 2) / (2 ** (k / 2) * sp.gamma(k / 2))

    def inverse_moment(p):
        value = sp.integrate(density / x ** p, (x, 0, sp.oo), conds="none")
        return sp.simplify(sp.gammasimp(value)).subs(k, B - 1)

    inv_var = B / kappa * inverse_moment(1)  # E[1/σ²], σ² = κ χ²_{B−1}/B
    inv_var2 = (B / kappa) ** 2 * inverse_moment(2)  # E[1/σ⁴]
    forward = (B / (B - 1), sp.simplify(nu * inv_var))
    backward = (sp.simplify(a * inv_var * (B - 2) / (B - 1) + b * nu / B * inv_var2 / (B - 1)),
                sp.simplify(b * inv_var))
    return (B, kappa, nu, a, b), forward, backward


@lru_cache(maxsize=None)
def _variancenorm_maps_fn():
    args, forward, backward = variancenorm_layer_maps_expr()
    return sp.lambdify(args[:3], forward, "numpy"), sp.lambdify(args, backward, "numpy")


def _variancenorm_depth(batch, depth) -> tuple[int, int]:
    b = positive_int(batch, "batch")
    if b <= 5:
        raise ValueError(f"batch={b}: the paper variancenorm's infinite-width gradient profile is infinite "
                         f"for batch <= 5 (E[1/chi2_(B-1)^2] needs B - 1 > 4)")
    return b, positive_int(depth, "depth")


def variancenorm_gradient_profile(*, batch: int, depth: int) -> np.ndarray:
    """``E‖∂ℓ/∂X_j‖² / (d · batch)`` for ``j = 0..depth`` in the linear theory MLP of depth
    ``depth`` with the paper's Variance Normalization, at infinite width: the maps of
    :func:`variancenorm_layer_maps_expr` iterated from the raw input (forward) and from the
    top's ``G`` (backward); derived here (module docstring). A profile: one ``np.ndarray`` of
    ``depth + 1`` entries, not vectorized. ``ValueError`` for ``batch <= 5`` (infinite)."""
    b, depth = _variancenorm_depth(batch, depth)
    forward, backward = _variancenorm_maps_fn()
    grams = [(1.0, 1.0)]  # (kappa, nu) of the raw input X_0: independent samples
    for _ in range(depth - 1):
        grams.append(tuple(float(v) for v in forward(b, *grams[-1])))
    a = c = 1.0  # G i.i.d.: S = I = C + 11ᵀ/B
    out = [a * (b - 1) + c]
    for kappa, nu in reversed(grams):  # layer l's input Gram, l = depth..1
        a, c = (float(v) for v in backward(b, kappa, nu, a, c))
        out.append(a * (b - 1) + c)
    return np.array(out[::-1]) / b


@vectorized("batch", "depth")
def variancenorm_interior_growth(*, batch: int, depth: int) -> float:
    """Claim B1b's statistic for the paper's variancenorm at infinite width (derived here):
    ``Σ_{j=1}^{L−2} E‖∂ℓ/∂X_j‖² / Σ_{j=2}^{L−1} E‖∂ℓ/∂X_j‖²`` over the interior layers of a
    linear MLP of depth ``L`` (:func:`variancenorm_gradient_profile`; ``depth >= 4``),
    vectorized over ``batch`` and ``depth``."""
    b, depth = _variancenorm_depth(batch, depth)
    if depth < 4:
        raise ValueError(f"depth={depth}: the interior layers need depth >= 4")
    g = variancenorm_gradient_profile(batch=b, depth=depth)
    return float(g[1:-2].sum() / g[2:-1].sum())


@lru_cache(maxsize=None)
def parametric_relu_growth_expr(norm: str):
    """``gain² · E[1{z > 0}]``: the per-layer growth of a ReLU net whose weights keep
    ``E‖Wᵀ g‖² = ‖g‖²·gain_w²`` (``gain_w² = 2`` for plain He init, folded into the gain)."""
    z = sp.symbols("z", real=True)
    pdf = sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi)
    active = sp.integrate(pdf, (z, 0, sp.oo))  # E[relu'(z)²]
    gain2 = {"plain": 2, "weightnorm": 2 * sp.pi / (sp.pi - 1), "sws": 2 * sp.pi / (sp.pi - 1)}[norm]
    return sp.simplify(gain2 * active)


@lru_cache(maxsize=None)
def _interior_fn(centered: bool):
    n, d, expr = interior_growth_expr(centered=centered)
    return sp.lambdify((n, d), expr, "numpy")


@lru_cache(maxsize=None)
def _batch_limit_fn(centered: bool):
    B, expr = interior_batch_limit_expr(centered=centered)
    return sp.lambdify(B, expr, "numpy")


def stat_count(norm: str, *, width: int, group_size=None, batch=None, spatial: int = 1) -> int:
    """Entries per statistic of ``norm`` (``n`` of claim B1; docs/settings.md), an ``int``, not
    vectorized; ``spatial`` is ``H·W``. ``group_size`` is required for groupnorm and
    evonorm_s0 and refused for the others, ``batch`` required for the batch statistics."""
    norm = check_name(norm)
    width = positive_int(width, "width")
    spatial = positive_int(spatial, "spatial")
    if family(norm) != "activation":
        raise ValueError(f"{norm} computes no activation statistics")
    if norm in GROUPED_NAMES:
        if group_size is None:
            raise ValueError(f"group_size is required for {norm}")
        g = resolve_group_size(width, group_size=group_size)
        return g * spatial
    refuse_group_size(group_size, norm)
    if norm in BATCH_NAMES + VARIANT_BATCH_NAMES:
        if batch is None:
            raise ValueError(f"batch is required for {norm} (its statistics run over the batch)")
        return positive_int(batch, "batch") * spatial
    return {"layernorm": width * spatial, "instancenorm": spatial, "frn": spatial}[norm]


def _count_arguments(norm: str, width, group_size, batch, spatial) -> str:
    """The user's arguments that set ``n = stat_count(...)``, as given (``"group_size=2"``):
    the normalizer's own count (none for instancenorm and frn, whose ``n`` is ``spatial``)
    and ``spatial`` where it is not 1 or is the whole count."""
    if norm in GROUPED_NAMES:
        named = [f"group_size={group_size}"]
    elif norm in BATCH_NAMES + VARIANT_BATCH_NAMES:
        named = [f"batch={batch}"]
    elif norm == "layernorm":
        named = [f"width={width}"]
    else:
        named = []
    if spatial != 1 or not named:
        named.append(f"spatial={spatial}")
    return " and ".join(named)


@lru_cache(maxsize=None)
def batchnorm_relu_growth_expr():
    """``π/(π−1)``: large-batch BN ReLU rate, ``1/(1 − ρ*)`` with ``ρ*`` the ReLU map at 0."""
    c, expr = relu_correlation_map_expr()
    rho = sp.simplify(expr.subs(c, 0))
    return sp.simplify(1 / (1 - rho))


def batchnorm_relu_growth() -> float:
    """Numeric value of :func:`batchnorm_relu_growth_expr`, ``π/(π−1)``: the per-layer gradient
    growth of batchnorm ReLU nets at large batch and infinite width (Yang et al. 2019; derived
    here from the ReLU correlation map)."""
    return float(batchnorm_relu_growth_expr())


def _check_setting(norm, width, group_size, batch, spatial, nonlinearity, position):
    """The checks :func:`gradient_growth_form` and :func:`gradient_growth_per_layer` share: the
    canonical name and the arguments given (``width``, ``batch`` positive integers, ``group_size``
    only for groupnorm and evonorm_s0)."""
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    norm = check_name(norm)
    branch_kind(nonlinearity)
    spatial = positive_int(spatial, "spatial")
    if width is not None:
        width = positive_int(width, "width")
    if batch is not None:
        batch = positive_int(batch, "batch")
    if norm not in GROUPED_NAMES:
        refuse_group_size(group_size, norm)
    if norm in EVONORM_NAMES:
        raise ValueError(f"no closed-form gradient growth is derived for {norm}")
    if norm == "variancenorm":
        raise ValueError(
            "no per-layer gradient growth is derived for variancenorm (the paper's: centred batch std, no mean "
            "subtracted): its Jacobian passes the batch mean, whose gradient grows by (B-1)/(B-3) per layer, so "
            "the rate depends on the position and the depth; see bounds.variancenorm_gradient_profile and "
            "variancenorm_interior_growth (linear MLPs, infinite width), or use variancenorm_uncentred")
    return norm, width, batch, spatial


def gradient_growth_form(norm: str, *, width=None, group_size=None, batch=None, spatial: int = 1,
                         nonlinearity: str = "linear", position: str = "interior") -> str:
    """The kind of form :func:`gradient_growth_per_layer` returns for these arguments (the same
    keywords; the kind does not depend on ``width``, ``group_size`` or ``batch``, which are
    optional here and checked when given):

    - ``"exact"``: the expectation itself, at every width and batch, for the network of
      docs/settings.md (linear MLPs: per-sample statistics at every position; plain,
      weightnorm and sws, whose factor is 1);
    - ``"finite-width"``: depends on the width, exact under a stated assumption that a
      deep net meets only approximately (the batch-statistics top layer with an isotropic
      input Gram; :func:`normtheory.bounds.top_growth_given_gram` is exact given the Gram);
    - ``"infinite-width limit"``: the ``width → ∞`` limit at fixed ``n`` (batch statistics
      in linear nets; groupnorm and parametric normalizers in ReLU nets);
    - ``"approximation"``: a derivation with an assumption that is not a limit of the
      setting (batchnorm ReLU at large batch, layernorm ReLU, variancenorm_uncentred ReLU,
      CNNs).

    EvoNorm and the paper's variancenorm have no form (``ValueError``; for the latter see
    :func:`variancenorm_gradient_profile`)."""
    norm, _, _, spatial = _check_setting(norm, width, group_size, batch, spatial, nonlinearity, position)
    if spatial > 1:
        return "approximation"
    if nonlinearity == "linear":
        if norm in BATCH_STATS:
            return "finite-width" if position == "top" else "infinite-width limit"
        return "exact"
    if family(norm) != "activation" or norm in ("groupnorm", "instancenorm", "frn"):
        return "infinite-width limit"
    return "approximation"


def gradient_growth_forms(*, spatial: int = 1) -> list[dict]:
    """One row per (normalizer, nonlinearity, position) with a form: its kind
    (:func:`gradient_growth_form`), for listings such as ``normtheory verify --list``."""
    rows = []
    for norm in NAMES + VARIANT_NAMES:
        if norm in NO_FORM:
            continue
        for nonlinearity in ("linear", "relu"):
            for position in POSITIONS:
                rows.append({"norm": norm, "nonlinearity": nonlinearity, "position": position,
                             "kind": gradient_growth_form(norm, nonlinearity=nonlinearity,
                                                          position=position, spatial=spatial)})
    return rows


@vectorized("width", "group_size", "batch")
def gradient_growth_per_layer(norm: str, *, width: int, group_size=None, batch=None, spatial: int = 1,
                              nonlinearity: str = "linear", position: str = "interior") -> float:
    """Expected per-layer growth of ``‖∂ℓ/∂X‖²`` going backward (claims B1, B3): the ratio
    ``E‖∂ℓ/∂X_{l-1}‖² / E‖∂ℓ/∂X_l‖²`` of the layer ``l`` (derived here, see the module
    docstring), vectorized over ``width``, ``group_size`` and ``batch``.

    ``position="interior"`` (default): a layer below another normalized layer, the per-layer
    rate of a deep net. Linear MLPs: per-sample statistics (layernorm, groupnorm,
    instancenorm, frn) ``(n − 2)/(n − 3)`` centred and ``(n − 1)/(n − 2)`` variance only,
    exact at every width (:func:`interior_growth_expr`); batch statistics the same forms in
    ``n = B``, infinite-width limits (:func:`interior_batch_limit_expr`; ``batch`` required).
    ``position="top"``: the last layer, whose incoming gradient ``G`` is isotropic; in linear
    MLPs (``spatial=1``) the forms of :mod:`normtheory.bounds.top_layer`:
    ``(d−1)/d · (n−2)/(n−3)`` for per-sample statistics (exact), and for batch statistics the
    form whose input Gram is the isotropic one of the infinite-width limit,
    ``(B−2)(B−1)(d−2)/(B d (B−3))`` (batchnorm; for the exact value given the input's Gram
    use :func:`normtheory.bounds.top_growth_given_gram`). ReLU nets and CNNs use the
    isotropic form, times ``π/(π−1)`` for batchnorm in ReLU nets. ``variancenorm_uncentred``
    is the variance-only batch statistic of these forms. Plain, weightnorm and sws:
    1 in linear nets (``E[WᵀW] = I``); in ReLU nets ``gain²/2`` of the paired nonlinearity,
    1 for plain and ``π/(π−1)`` for weightnorm and sws (:func:`parametric_relu_growth_expr`).
    EvoNorm and the paper's variancenorm have no per-layer form here (``ValueError``; for
    variancenorm see :func:`variancenorm_gradient_profile`). :func:`gradient_growth_form` names
    the kind of the form returned. ``ValueError`` naming the argument for bad arguments, for
    ``group_size`` given to a normalizer without groups, and for an infinite expectation
    (too few entries per statistic: it names the arguments that set their count).
    """
    norm, width, batch, spatial = _check_setting(norm, width, group_size, batch, spatial, nonlinearity, position)
    if width is None:
        raise ValueError("width is required")
    if family(norm) != "activation":
        if nonlinearity == "linear":
            return 1.0
        return float(parametric_relu_growth_expr(norm))
    n = stat_count(norm, width=width, group_size=group_size, batch=batch, spatial=spatial)
    centered = norm in CENTRED
    if n < min_stat_count(centered):
        raise ValueError(
            f"{_count_arguments(norm, width, group_size, batch, spatial)}: {norm}'s statistics run over {n} "
            f"entries, and the expected gradient growth is infinite below {min_stat_count(centered)} "
            f"({'mean and variance' if centered else 'variance'} removed: E[1/chi2_k] needs k > 2)")
    factor = gradient_growth_from_n(n, centered=centered)
    if nonlinearity == "linear" and spatial == 1:
        if position == "top":
            if norm in BATCH_STATS:
                return top_growth_isotropic(norm, batch=batch, width=width)
            return top_growth_per_sample(n, width=width, centered=centered)
        if norm in BATCH_STATS:
            return float(_batch_limit_fn(centered)(n))
        return float(_interior_fn(centered)(n, width))
    if nonlinearity == "relu" and norm == "batchnorm":
        factor *= batchnorm_relu_growth()
    return float(factor)


@vectorized("width", "group_size", "batch", native="depth")
def gradient_growth_total(norm: str, *, depth, width: int, group_size=None, batch=None, spatial: int = 1,
                          nonlinearity: str = "linear", position: str = "interior"):
    """Growth of ``‖∂ℓ/∂X_0‖² / ‖∂ℓ/∂X_L‖²`` over ``depth`` layers: the per-layer factor of
    :func:`gradient_growth_per_layer` (same arguments) to the power ``depth`` (claim B2's
    total); vectorized over ``depth``, ``width``, ``group_size`` and ``batch``."""
    rate = gradient_growth_per_layer(norm, width=width, group_size=group_size, batch=batch, spatial=spatial,
                                     nonlinearity=nonlinearity, position=position)
    with np.errstate(over="ignore"):  # past the float range: +inf
        out = rate ** depth_array(depth).astype(float)
    return float(out) if np.ndim(depth) == 0 else out
