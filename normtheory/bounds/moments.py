"""Moments of a residual branch's output at init, as maps of its input's moments.

Mean-field setting, derived here (infinite width, independent weights): the entries of a
layer's representation have second moment ``v`` and cross-sample covariance ``s`` (the
covariance of the same unit in two different samples; ``v − s`` is the activation variance
probe at infinite batch). A branch ``f(X) = N(phi(X) Wᵀ)`` (docs/settings.md) maps
``(v, s)`` of its input to ``(v_f, s_f)`` of its output:

- ``phi``: identity keeps ``(v, s)`` (in ReLU networks EvoNorm, its own nonlinearity, has no
  ReLU before the weight but the weight keeps the He gain 2: ``(2v, 2s)``); ReLU with He gain 2 gives ``(v, v·κ(s/v))`` with ``κ``
  the arc-cosine map (:mod:`normtheory.bounds.correlation`); the WN corrected ReLU and the
  SWS scaled ReLU follow from ``E relu(x) = sqrt(v/(2π))`` and ``E relu(x)² = v/2``.
- centred per-sample normalizers (layernorm, groupnorm, instancenorm): ``(1, ρ)`` with ``ρ = s/v`` the input correlation (the unit's common
  part survives, scaled by the per-sample std ``sqrt(v)``) in the infinite-group limit;
  groupnorm with a group of ``g`` entries: ``(1, E cos)`` in ``g − 1`` dimensions
  (:mod:`normtheory.bounds.groups`), below ``ρ``; batchnorm: ``(1, 0)`` (batch
  centring removes the common part; exactly ``−1/(B−1)`` at batch ``B``).
- variancenorm (the paper's: the centred batch std, no mean subtracted): the output
  ``(c + g)/sqrt(v − s)`` keeps the common part, so ``(v/(v − s), s/(v − s))``
  (:func:`variancenorm_moments_expr`, integrated by sympy): ``v_f − s_f = 1`` exactly, the
  output's centred batch variance (1 at every width and batch, up to ``eps``).
- frn (MLP form: one entry per statistic, the output is ``sign(h)``): ``(1, (2/π) arcsin ρ)``
  exactly (:func:`sign_correlation_expr`, the orthant probability of a bivariate Gaussian,
  integrated by sympy in polar coordinates). No quadrature: Gauss–Hermite nodes on a
  discontinuity are wrong (at ``ρ = 1/2`` they put nodes on ``c + g = 0`` and gave
  ``v_f = 0.901``).
- variancenorm_uncentred (the uncentred second moment) and EvoNorm: the output ``y(c, g)``
  of :func:`branch_output_expr` with
  ``c ~ N(0, s)`` the unit's part common to the samples and ``g ~ N(0, v − s)``;
  ``v_f = E y²``, ``s_f = E_c[(E_g y)²]``: two-dimensional Gaussian integrals of sympy
  integrands (continuous ones), evaluated by Gauss–Hermite quadrature.
- parametric and plain: a Gaussian or unit-row weight preserves ``(v, s)`` of ``phi(X)``.

:func:`norm_second_moment` is ``v_f`` for a N(0, 1) input (``s = 0``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds.validate import check_name, family, positive_int, refuse_group_size
from normtheory.bounds.correlation import relu_correlation_map
from normtheory.bounds.groups import group_cosine
from normtheory.names import EVONORM_NAMES, GROUPED_NAMES

_PER_SAMPLE = ("layernorm", "groupnorm", "instancenorm")


@lru_cache(maxsize=None)
def branch_output_expr(name: str):
    """``((c, g, v, s), y)``: the normalizer's output for a pre-activation ``h = c + g``.

    ``c ~ N(0, s)`` is the part common to the samples of one unit, ``g ~ N(0, v − s)`` the
    sample's own part (infinite batch). Variance Norm (the paper's) divides by the unit's
    centred batch std ``sqrt(v − s)``, the uncentred Variance Norm by the root of its batch
    second moment ``c² + v − s``; FRN in MLP form (one entry per statistic) by ``|h|``; EvoNorm-B0 by
    ``max(s_b, h)`` with the centred batch std ``s_b = sqrt(v − s)``; EvoNorm-S0 is
    ``h · sigmoid(h)`` over the per-sample group std ``sqrt(v)``.
    """
    c, g, v, s = sp.symbols("c g v s", real=True)
    h = c + g
    exprs = {
        "variancenorm": h / sp.sqrt(v - s),
        "variancenorm_uncentred": h / sp.sqrt(c ** 2 + v - s),
        "frn": sp.sign(h),
        "evonorm_b0": h / sp.Max(sp.sqrt(v - s), h),
        "evonorm_s0": h / (1 + sp.exp(-h)) / sp.sqrt(v),
    }
    return (c, g, v, s), exprs[name]


@lru_cache(maxsize=None)
def variancenorm_moments_expr():
    """``((v, s), v_f, s_f)`` of the paper's Variance Normalization, exactly: the output
    ``y`` of :func:`branch_output_expr` with ``c = sqrt(s)·a``, ``g = sqrt(v − s)·b``
    (``a, b`` independent N(0, 1)), ``v_f = E y²`` and ``s_f = E_a[(E_b y)²]`` integrated by
    sympy. Gives ``v/(v − s)`` and ``s/(v − s)``."""
    (c, g, v, s), y = branch_output_expr("variancenorm")
    a, b = sp.symbols("a b", real=True)
    common, own = sp.symbols("common own", positive=True)  # s and v − s
    y = y.subs({c: sp.sqrt(common) * a, g: sp.sqrt(own) * b, v: common + own, s: common})

    def mean(f, z):
        return sp.integrate(sp.expand(f) * sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi), (z, -sp.oo, sp.oo))

    back = {common: s, own: v - s}
    v_f = sp.simplify(mean(mean(y ** 2, b), a).subs(back))
    s_f = sp.simplify(mean(mean(y, b) ** 2, a).subs(back))
    return (v, s), v_f, s_f


@lru_cache(maxsize=None)
def _variancenorm_moments_fn():
    args, v_f, s_f = variancenorm_moments_expr()
    return sp.lambdify(args, (v_f, s_f), "numpy")


@lru_cache(maxsize=None)
def _output_fn(name: str):
    args, expr = branch_output_expr(name)
    return sp.lambdify(args, expr, "numpy")


@lru_cache(maxsize=None)
def _hermite(n: int = 80):
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / math.sqrt(2 * math.pi)


def _quadrature(name: str, v: float, s: float):
    """Gauss–Hermite weights ``w`` and the output ``y`` on the ``(c, g)`` grid."""
    x, w = _hermite()
    s = min(max(s, 0.0), v * (1 - 1e-12))
    c = math.sqrt(s) * x[:, None] * np.ones((1, x.size))
    g = math.sqrt(v - s) * x[None, :] * np.ones((x.size, 1))
    return w, np.broadcast_to(_output_fn(name)(c, g, v, s), c.shape)


@lru_cache(maxsize=None)
def sign_correlation_expr():
    """``(ρ, E[sign(u) sign(v)])`` for unit-variance jointly Gaussian ``u, v`` with correlation ``ρ``.

    Polar coordinates: ``u = r cos t``, ``v = r cos(t − φ)`` with ``φ = arccos ρ`` and ``t``
    uniform; the signs agree on two antipodal arcs of length ``π − φ`` each. Equal to
    ``(2/π) arcsin ρ``."""
    rho = sp.symbols("rho", real=True)
    t = sp.symbols("t", real=True)
    phi = sp.acos(rho)
    both_positive = sp.integrate(sp.Integer(1), (t, phi - sp.pi / 2, sp.pi / 2))
    agree = 2 * both_positive
    disagree = 2 * sp.pi - agree
    expr = (agree - disagree) / (2 * sp.pi)
    return rho, sp.simplify(sp.expand(expr.rewrite(sp.asin)))


@lru_cache(maxsize=None)
def _sign_correlation_fn():
    rho, expr = sign_correlation_expr()
    return sp.lambdify(rho, expr, "numpy")


def sign_correlation(rho: float) -> float:
    """``(2/π) arcsin ρ`` from :func:`sign_correlation_expr`; ``ρ`` is clipped to [−1, 1]."""
    return float(_sign_correlation_fn()(min(max(float(rho), -1.0), 1.0)))


def output_moments(name: str, v: float, s: float) -> tuple[float, float]:
    """``(v_f, s_f) = (E y², E_c[(E_g y)²])``: exact for frn (``sign``) and variancenorm
    (:func:`variancenorm_moments_expr`; ``ValueError`` if ``s >= v``: samples identical over
    the batch have no centred variance), Gauss–Hermite quadrature over ``(c, g)`` for the
    other continuous outputs."""
    if name == "frn":
        return 1.0, sign_correlation(s / v if v > 0 else 0.0)
    if name == "variancenorm":
        if not s < v:
            raise ValueError(f"variancenorm needs a batch variance v - s > 0, got v={v}, s={s}")
        v_f, s_f = _variancenorm_moments_fn()(v, s)
        return float(v_f), float(s_f)
    return quadrature_moments(name, v, s)


def quadrature_moments(name: str, v: float, s: float) -> tuple[float, float]:
    """``(E y², E_c[(E_g y)²])`` of the output ``y`` of :func:`branch_output_expr` by
    Gauss–Hermite quadrature over ``(c, g)`` (80 nodes per axis): accurate for continuous
    outputs; for frn's ``sign`` it is the form :func:`output_moments` replaced (nodes on the
    discontinuity ``c + g = 0``), kept as that form's rival (:data:`RIVAL_FORMS`)."""
    w, y = _quadrature(name, v, s)
    return float(w @ (y ** 2) @ w), float(w @ (y @ w) ** 2)


def output_mean(name: str, v: float, s: float) -> float:
    """``E y``, the output's mean (nonzero for EvoNorm, whose outputs are skewed)."""
    if name == "frn":
        return 0.0  # odd in h
    w, y = _quadrature(name, v, s)
    return float(w @ y @ w)


def branch_mean(norm: str, nonlinearity: str, v: float, s: float) -> float:
    """``E f(X)`` per entry for input moments ``(v, s)``: 0 for centred normalizers, for
    parametric ones and plain (a zero-mean weight ends the branch) and for the odd outputs of
    both Variance Norms and frn; the quadrature of :func:`output_mean` for EvoNorm."""
    norm = check_name(norm)
    if norm not in EVONORM_NAMES:
        return 0.0
    vh, sh = phi_moments(norm, nonlinearity, v, s)
    return output_mean(norm, vh, sh)


def phi_moments(norm: str, nonlinearity: str, v: float, s: float) -> tuple[float, float]:
    """``(v, s)`` after the nonlinearity paired with ``norm`` (and the weight's gain)."""
    if nonlinearity == "linear":
        return v, s
    if norm in EVONORM_NAMES:  # no ReLU (the layer is its own nonlinearity), He gain 2
        return 2 * v, 2 * s
    rho = float(np.clip(s / v, -1.0, 1.0)) if v > 0 else 0.0
    half_cross = v / 2 * relu_correlation_map(rho)
    mean_relu = math.sqrt(v / (2 * math.pi))
    gain2 = 2 * math.pi / (math.pi - 1)
    if norm == "weightnorm":
        shift = 1 / math.sqrt(2 * math.pi)
        return (gain2 * (v / 2 - 2 * shift * mean_relu + shift ** 2),
                gain2 * (half_cross - 2 * shift * mean_relu + shift ** 2))
    if norm == "sws":  # the weight's zero row mean removes the units' common mean of relu(x)
        return gain2 * (v / 2 - mean_relu ** 2), gain2 * (half_cross - mean_relu ** 2)
    return 2 * (v / 2), 2 * half_cross  # He gain 2 with a plain ReLU


#: forms of a branch's output moments that the claimed ones are told from (the rivals of claim F1):
#: ``"groupnorm_g_dims"``, GroupNorm's output covariance as ``E cos`` in ``g`` dimensions (the
#: earlier form, which ignored the dimension the group's centring removes); ``"frn_quadrature"``,
#: FRN's ``sign(h)`` moments by the Gauss–Hermite quadrature of :func:`quadrature_moments` (the
#: earlier form, replaced by the exact orthant integral of :func:`sign_correlation_expr`)
RIVAL_FORMS = {"groupnorm_g_dims": "groupnorm", "frn_quadrature": "frn"}


def branch_moments(norm: str, *, nonlinearity: str, v: float, s: float, group_size=None,
                   form=None) -> tuple[float, float]:
    """``(v_f, s_f)`` of the branch ``N(phi(X) Wᵀ)`` for input moments ``(v, s)`` (mean-field,
    infinite width; derived here, module docstring). A pair of floats, not vectorized.

    ``group_size`` (groupnorm): the output covariance over a group of ``g`` entries,
    ``E cos`` in ``g − 1`` dimensions (:func:`normtheory.bounds.groups.group_cosine`);
    ``None`` gives the infinite-group limit ``ρ``. For evonorm_s0 the group std is taken at
    its infinite-group value whatever ``group_size`` (an approximation for small groups).
    ``form``: ``None`` for the claimed moments, or a rival form of :data:`RIVAL_FORMS` (for
    the normalizer it names; ``"groupnorm_g_dims"`` needs a ``group_size``)."""
    norm = check_name(norm)
    if form is not None:
        if RIVAL_FORMS.get(form) != norm:
            raise ValueError(f"form must be None or one of {sorted(RIVAL_FORMS)} for its normalizer "
                             f"({RIVAL_FORMS}), got {form!r} for {norm}")
        if form == "groupnorm_g_dims" and group_size is None:
            raise ValueError("form='groupnorm_g_dims' needs a group_size")
    g = None
    if group_size is not None:
        if norm not in GROUPED_NAMES:
            refuse_group_size(group_size, norm)
        g = positive_int(group_size, "group_size")
        if norm == "groupnorm" and g < 2:
            raise ValueError(f"group_size={g}: a centred group of one entry outputs 0")
    vh, sh = phi_moments(norm, nonlinearity, v, s)
    if family(norm) != "activation":
        return vh, sh
    if norm == "batchnorm":
        return 1.0, 0.0
    if norm == "groupnorm" and g is not None:
        return 1.0, group_cosine(g if form == "groupnorm_g_dims" else g - 1, sh / vh)
    if form == "frn_quadrature":
        return quadrature_moments(norm, vh, sh)
    if norm in _PER_SAMPLE:
        return 1.0, sh / vh
    return output_moments(norm, vh, sh)


@lru_cache(maxsize=None)
def standardized_second_moment_expr():
    """``E[z²]`` for ``z ~ N(0, 1)``: the output second moment of an odd, scale-invariant normalizer."""
    z = sp.symbols("z", real=True)
    return sp.integrate(z ** 2 * sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi), (z, -sp.oo, sp.oo))


@lru_cache(maxsize=None)
def tlu_second_moment_expr():
    """``E[max(z, 0)²]`` for ``z ~ N(0, 1)``: FRN followed by its TLU at init (``tau = 0``)."""
    z = sp.symbols("z", real=True)
    return sp.integrate(z ** 2 * sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi), (z, 0, sp.oo))


@lru_cache(maxsize=None)
def evonorm_b0_second_moment_expr():
    """``E[(z / max(1, z))²]`` for ``z ~ N(0, 1)``, integrated piecewise."""
    z = sp.symbols("z", real=True)
    pdf = sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi)
    return sp.simplify(sp.integrate(z ** 2 * pdf, (z, -sp.oo, 1)) + sp.integrate(pdf, (z, 1, sp.oo)))


def norm_second_moment(norm: str, *, tlu: bool = False, input_var: float = 1.0) -> float:
    """Second moment of the normalizer's output at init for N(0, ``input_var``) input.

    1 for the odd scale-invariant normalizers (batchnorm, layernorm, instancenorm,
    groupnorm, variancenorm, variancenorm_uncentred, frn; independent samples); ``1/2`` for frn with its TLU (``tlu=True``); an
    integral for EvoNorm-B0 (``Φ(1) − φ(1) + 1 − Φ(1)``, scale-free) and EvoNorm-S0
    (``E[z² sigmoid(σz)²]``, depends on ``input_var = σ²``). Parametric and plain preserve
    the input's second moment: ``input_var``.
    """
    norm = check_name(norm)
    if not (input_var > 0 and math.isfinite(input_var)):
        raise ValueError(f"input_var must be a finite number > 0, got {input_var}")
    if tlu and norm != "frn":
        raise ValueError(f"tlu={tlu!r} does not apply to {norm}: only frn has a TLU")
    if family(norm) != "activation":
        return float(input_var)
    if norm == "frn" and tlu:
        return float(tlu_second_moment_expr())
    if norm == "evonorm_b0":
        return float(evonorm_b0_second_moment_expr())
    if norm == "evonorm_s0":
        return output_moments(norm, input_var, 0.0)[0]
    return float(standardized_second_moment_expr())
