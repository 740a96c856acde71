"""Claims F1-F3: activation variance of residual networks at init, over depth.

Setting (docs/settings.md): ``X_l = X_{l-1} + alpha · f_l(X_{l-1} / beta_l)`` with the
branch ``f = N(phi(X) Wᵀ)`` (``beta_l = 1`` unless NF-style). Mean-field state
``(v_l, s_l)`` (second moment, cross-sample covariance; :mod:`normtheory.bounds.moments`),
with ``v_0 = var0``, ``s_0 = input_corr · var0``. Since ``f`` is an odd function of the
fresh weight ``W`` for every normalizer but EvoNorm, the cross term ``E[X f]`` vanishes and

    v_l = v_{l-1} + alpha² v_f,      s_l = s_{l-1} + alpha² s_f;

for EvoNorm the cross term is ``O(1/width)`` and is dropped (an assumption the
simulation checks). The activation variance probe (per-channel variance over a batch of
``B``) has expectation ``(1 − 1/B)(v_l − s_l)``, or ``v_l − s_l`` at infinite batch.

Batchnorm and Variance Normalization (the paper's: the centred batch std, no mean
subtracted) are exact at every width and batch (:data:`UNIT_BATCH_VARIANCE`): the branch
output's per-channel centred batch variance is ``var/(var + eps)``, 1 up to ``eps``, for any
input, and the output is odd in the fresh weight ``W`` (``W → −W`` flips it and keeps the
batch std), so the cross term of ``X_{l-1}`` and the branch in the probe has expectation 0
and the probe grows by exactly ``alpha²`` per block: ``(1 − 1/B)·var0·(1 − input_corr) +
alpha² l`` (only the input's part carries the batch factor), with NF scaling or without, in
linear and ReLU branches. In the mean-field moments the paper's Variance Norm has
``v_f − s_f = 1`` (:func:`normtheory.bounds.moments.variancenorm_moments_expr`; its ``v_f``
exceeds 1 with ReLU, as it keeps the ReLU's common mean), the same statement at infinite batch.

Closed forms (``rsolve``): for an activation-based branch with ``v_f = m`` constant,
``v_l = var0 + alpha² m l`` (F1: linear growth, slope the output second moment
``m`` of :func:`normtheory.bounds.moments.norm_second_moment`); for a parametric or plain
branch preserving the second moment, ``v_l = var0 (1 + alpha²)^l`` (F2: geometric, rate
``1 + alpha²``); WN's corrected ReLU grows at the asymptotic rate ``1 + alpha² π/(π − 1)``.
SkipInit (``alpha = 0``) keeps ``var0``; NF-style scaling (``beta_l² = v_{l-1}``) makes every
branch's input unit-variance, so ``v_l = var0 + alpha² l`` (F3). Other cases (ReLU branches
with correlated samples, EvoNorm) iterate the derived moment maps numerically, exactly up
to depth 2000 and, past it, by a depth ODE whose field matches the recursion's step
through second order (relative error below 1e-6, tested; EvoNorm always exactly), so that
depths of 10⁷ take under a second instead of minutes (:func:`_moments_at`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds.validate import (branch_kind, check_name, depth_array, family, nonneg, positive,
                                        positive_int, vectorized)
from normtheory.bounds.moments import branch_mean, branch_moments
from normtheory.names import EVONORM_NAMES


@lru_cache(maxsize=None)
def linear_growth_expr():
    """``(l, v_l)`` solving ``v_{l+1} = v_l + alpha² m``, ``v_0 = var0``."""
    l = sp.symbols("l", integer=True, nonnegative=True)
    alpha, m, var0 = sp.symbols("alpha m var0", positive=True)
    v = sp.Function("v")
    sol = sp.rsolve(v(l + 1) - v(l) - alpha ** 2 * m, v(l), {v(0): var0})
    return l, sp.simplify(sol)


@lru_cache(maxsize=None)
def geometric_growth_expr():
    """``(l, v_l)`` solving ``v_{l+1} = (1 + alpha²) v_l``, ``v_0 = var0``."""
    l = sp.symbols("l", integer=True, nonnegative=True)
    alpha, var0 = sp.symbols("alpha var0", positive=True)
    v = sp.Function("v")
    sol = sp.rsolve(v(l + 1) - (1 + alpha ** 2) * v(l), v(l), {v(0): var0})
    return l, sp.simplify(sol)


@lru_cache(maxsize=None)
def weightnorm_relu_rate_expr():
    """Asymptotic per-block rate of WN with the corrected ReLU: ``lim v_{l+1}/v_l``."""
    v, alpha = sp.symbols("v alpha", positive=True)
    gain2 = 2 * sp.pi / (sp.pi - 1)
    shift = 1 / sp.sqrt(2 * sp.pi)
    branch = gain2 * (v / 2 - 2 * shift * sp.sqrt(v / (2 * sp.pi)) + shift ** 2)
    return alpha, sp.simplify(sp.limit((v + alpha ** 2 * branch) / v, v, sp.oo))


#: exact layers always iterated before :func:`_moments_at` may switch to the depth ODE
ODE_MIN_DEPTH = 2000
#: the largest per-layer relative change of the state (``log v``, ``log(v − s)``, ``m``) at
#: which the depth ODE replaces the exact iteration
ODE_MAX_STEP = 1e-3
_LOG_MAX = math.log(np.finfo(float).max)


def _step(norm, nonlinearity, alpha, nf, group_size, form, v, s, m):
    """One block of the mean-field recursion: the increments ``(Δv, Δ(v − s), Δm)``."""
    scale = v if nf else 1.0
    vf, sf = branch_moments(norm, nonlinearity=nonlinearity, v=v / scale, s=s / scale, group_size=group_size, form=form)
    mu = branch_mean(norm, nonlinearity, v / scale, s / scale)
    return alpha ** 2 * vf + 2 * alpha * m * mu, alpha ** 2 * (vf - sf), alpha * mu


def _moments_at(norm, nonlinearity, depths, alpha, var0, input_corr, nf, group_size=None, form=None):
    """Mean-field ``(v_l, v_l − s_l)`` of ``X_l`` at the integer ``depths`` (``+inf`` once
    ``v`` overflows), with the entries' mean ``m_l``: a branch whose output has mean ``μ``
    (EvoNorm) adds ``α μ`` to ``m`` and the cross term ``2 α m μ`` to both ``v`` and ``s``
    (``X_l`` and the branch output are independent at infinite width but not centred);
    ``v − s`` is unchanged by it, ``s/v`` is not.

    Exact iteration of the recursion ``x_{l+1} = x_l + F(x_l)`` up to ``ODE_MIN_DEPTH``
    blocks and for as long as any component of the state ``y = (log v, log(v − s), m)``
    changes by more than ``ODE_MAX_STEP`` (relative, for ``m``) per block; past that (only
    for depths beyond it, so every depth up to 2000 is exact) the **depth ODE**
    ``y' = G(y)`` with the modified field ``G = (3 F(y) − F(y + F(y)))/2``, integrated by
    DOP853 (rtol 1e-11) in log coordinates. Derived: the flow of ``y' = G`` over one unit of
    depth is ``y + G + G'G/2 + O(3)``, and ``F(y + F) − F = F'F + O(2)``, so ``G`` matches
    the recursion's step through second order; the per-block defect is third order in the
    per-block change ``ε`` of the state and of ``F`` itself. For linear growth
    (activation normalizers, NF) ``ε ~ 1/l``: the defects sum to ``O(1/ODE_MIN_DEPTH²)``;
    for geometric growth (``v`` times ``1 + α²`` per block, entered only for
    ``α² < ODE_MAX_STEP``) ``log v`` grows at a constant rate, which the ODE follows exactly,
    and the correlation's drift of order ``α²`` leaves ``O(α⁴)``. Measured against the
    exact iteration at depths to 20000 (tests/test_bounds_asymptotic.py): relative error
    below ``1e-7`` in ``v − s``, the test's bound being ``1e-6``. Why: the recursion costs
    10-80 µs per block in Python (the normalizer's moments by quadrature), minutes at
    ``10⁷`` blocks; the ODE takes a few hundred steps in any depth.

    EvoNorm is always iterated exactly: its cross term makes ``v`` and ``s`` grow as ``l²``
    while ``v − s`` grows as ``l`` (``v − s ≈ 1e3`` against ``v ≈ 4e17`` at depth 2000 with
    ReLU), and its moments, which take ``(v, s)``, then see ``v − s`` only to a few digits:
    the ODE's field is noise there."""
    depths = np.asarray(depths, dtype=np.int64)
    top = int(depths.max()) if depths.size else 0
    step = lambda v_, s_, m_: _step(norm, nonlinearity, alpha, nf, group_size, form, v_, s_, m_)  # noqa: E731
    vs, ds = np.full(depths.shape, np.inf), np.full(depths.shape, np.inf)
    v, s, m = var0, input_corr * var0, 0.0
    d = v - s
    wanted = {}
    for i, l in enumerate(depths.tolist()):
        wanted.setdefault(l, []).append(i)

    def record(layer):
        for i in wanted.get(layer, ()):
            vs[i], ds[i] = v, d

    record(0)
    layer = 0
    while layer < top:
        dv, dd, dm = step(v, s, m)
        if layer >= ODE_MIN_DEPTH and d > 0 and v > 0 and norm not in EVONORM_NAMES:
            rel = max(abs(math.log1p(dv / v)), abs(math.log1p(dd / d)), abs(dm) / max(abs(m), 1e-300) if dm else 0.0)
            if rel <= ODE_MAX_STEP:
                _depth_ode(step, layer, (v, d, m), depths, wanted, vs, ds)
                return vs, ds
        layer += 1
        v, s, m = v + dv, s + (dv - dd), m + dm
        d = d + dd
        if not (math.isfinite(v) and math.isfinite(s)):
            return vs, ds  # +inf from here on
        record(layer)
    return vs, ds


def _depth_ode(step, layer, state, depths, wanted, vs, ds):
    """The depth ODE of :func:`_moments_at` from ``layer`` on, filling ``vs, ds`` beyond it."""
    from scipy.integrate import solve_ivp  # lazy: scipy.integrate doubles the time of `import normtheory.bounds`

    def field(y):
        # a trial stage may step past the overflow event: there the state is taken at a
        # scale e^-shift (the maps are homogeneous in (v, s) up to terms below e^-600 v)
        shift = max(0.0, y[0] - 600.0)
        v, d, m = math.exp(y[0] - shift), math.exp(y[1] - shift), y[2]
        dv, dd, dm = step(v, v - d, m)
        return np.array([math.log1p(dv / v), math.log1p(dd / d), dm])

    def modified(_l, y):
        f = field(y)
        return 1.5 * f - 0.5 * field(y + f)

    def overflow(_l, y):
        return _LOG_MAX - y[0]

    overflow.terminal = True
    later = sorted(l for l in wanted if l > layer)
    v, d, m = state
    sol = solve_ivp(modified, (layer, later[-1]), [math.log(v), math.log(d), m], method="DOP853",
                    t_eval=later, rtol=1e-11, atol=1e-12, events=overflow)
    for k, l in enumerate(sol.t):  # depths past an overflow event are not in sol.t: they stay +inf
        with np.errstate(over="ignore"):
            for i in wanted[int(round(l))]:
                vs[i], ds[i] = np.exp(sol.y[0, k]), np.exp(sol.y[1, k])


def _substitute(expr, **values):
    by_name = {sym.name: sym for sym in expr.free_symbols}
    return expr.subs({by_name[k]: v for k, v in values.items() if k in by_name})


#: normalizers whose branch output has per-channel centred batch variance 1 (up to eps) for
#: any input: the probe grows by exactly alpha² per block (module docstring)
UNIT_BATCH_VARIANCE = ("batchnorm", "variancenorm")


def _closed_form(norm, nonlinearity, alpha, var0, input_corr, nf):
    """``v_l − s_l`` as a function of ``l`` when a closed form applies, else None: for the
    paper's variancenorm at any input (its branch adds exactly ``alpha²``), otherwise for
    independent samples (where ``s_l = 0`` in the cases below)."""
    if norm == "variancenorm":
        l, expr = linear_growth_expr()
        return sp.lambdify(l, _substitute(expr, alpha=alpha, m=1, var0=var0 * (1 - input_corr)), "numpy")
    if input_corr != 0:
        return None
    if family(norm) == "activation" and norm not in EVONORM_NAMES and (nonlinearity == "linear" or nf and norm == "batchnorm"):
        l, expr = linear_growth_expr()
        return sp.lambdify(l, _substitute(expr, alpha=alpha, m=1, var0=var0), "numpy")
    if family(norm) != "activation" and nf and nonlinearity == "linear":
        l, expr = linear_growth_expr()
        return sp.lambdify(l, _substitute(expr, alpha=alpha, m=1, var0=var0), "numpy")
    if family(norm) != "activation" and not nf and (nonlinearity == "linear" or norm == "sws"):
        l, expr = geometric_growth_expr()
        return sp.lambdify(l, _substitute(expr, alpha=alpha, var0=var0), "numpy")
    return None


MAX_ALPHA = 1e150  # alpha² (and its products with the moments) must stay finite in float64


def _alpha(alpha) -> float:
    """The branch scale ``alpha``: a finite number in ``[0, MAX_ALPHA]``, or ``ValueError``."""
    alpha = nonneg(alpha, "alpha")
    if alpha > MAX_ALPHA:
        raise ValueError(f"alpha must be at most {MAX_ALPHA:g} (alpha² must stay finite in float64), got {alpha}")
    return alpha


def _variance(norm, depth, alpha, var0, nonlinearity, batch, input_corr, nf, group_size=None, form=None):
    norm = check_name(norm)
    if group_size is not None or form is not None:
        branch_moments(norm, nonlinearity="linear", v=1.0, s=0.0, group_size=group_size, form=form)  # validates both
    depths = depth_array(depth)
    alpha = _alpha(alpha)
    var0 = positive(var0, "var0")
    branch_kind(nonlinearity)
    if not 0 <= input_corr < 1:
        raise ValueError(f"input_corr must lie in [0, 1), got {input_corr}")
    factor = 1.0
    if batch is not None:
        b = positive_int(batch, "batch")
        if b < 2:
            raise ValueError("batch must be at least 2 for a variance over the batch")
        factor = 1 - 1 / b
    fn = _closed_form(norm, nonlinearity, alpha, var0, input_corr, nf)
    if fn is not None:
        with np.errstate(over="ignore"):  # geometric growth past the float range: +inf
            out = np.asarray(fn(depths.astype(float)), dtype=float) * np.ones_like(depths, dtype=float)
    else:
        vs, ds = _moments_at(norm, nonlinearity, depths.ravel(), alpha, var0, input_corr, nf, group_size, form)
        # an overflowed second moment: the variance is +inf (not inf − inf = NaN)
        out = np.where(np.isinf(vs), np.inf, ds).reshape(depths.shape)
    if batch is not None and norm in UNIT_BATCH_VARIANCE:
        # the branch output has batch variance exactly 1: only the input's part is scaled
        out = factor * var0 * (1 - input_corr) + (out - var0 * (1 - input_corr))
    else:
        out = factor * out
    return float(out) if np.ndim(depth) == 0 else out


@vectorized("batch", "group_size", native="depth")
def resnet_variance(norm, *, depth, alpha=1.0, var0=1.0, nonlinearity="linear", batch=None, input_corr=0.0,
                    group_size=None, form=None):
    """Expected activation variance after ``depth`` residual blocks (claims F1, F2).

    ``nonlinearity`` selects the linear or ReLU branch of docs/settings.md; ``batch`` gives
    the expectation of the finite-batch probe (exact at every width and batch for batchnorm
    and the paper's variancenorm, see the module docstring; ``None``: infinite batch);
    ``group_size`` (groupnorm) the finite-group output covariance of
    :mod:`normtheory.bounds.groups` (``None``: the infinite-group limit); vectorized over
    ``depth``, ``batch`` and ``group_size``. Depths beyond 2000 without a closed form come from the
    depth ODE of :func:`_moments_at` (relative error below 1e-6 against the exact recursion).
    ``form``: a rival form of the branch moments (:data:`normtheory.bounds.moments.RIVAL_FORMS`;
    the rivals of claim F1), iterated by the same recursion; it changes only the cross-sample
    covariance of a correlated input, so where the closed forms apply (independent samples,
    ``s_l = 0``) it gives the claimed value. Source: derived here (module docstring).
    """
    return _variance(norm, depth, alpha, var0, nonlinearity, batch, input_corr, nf=False, group_size=group_size,
                     form=form)


@vectorized("batch", "group_size", native="depth")
def resnet_variance_skipinit(norm, *, depth, var0=1.0, nonlinearity="linear", batch=None, group_size=None):
    """SkipInit (claim F3; De & Smith 2020): ``alpha = 0`` at init, so the variance stays
    ``var0`` (times ``1 − 1/batch`` for a finite batch); vectorized like :func:`resnet_variance`."""
    return _variance(norm, depth, 0.0, var0, nonlinearity, batch, 0.0, nf=False, group_size=group_size)


@vectorized("batch", "group_size", native="depth")
def resnet_variance_nf(norm, *, depth, alpha=1.0, var0=1.0, nonlinearity="linear", batch=None, group_size=None):
    """NF-style blocks ``x + alpha f(x / beta_l)``, ``beta_l = sqrt(E x_{l-1}²)`` (claim F3;
    Brock et al. 2021): every branch sees a unit-variance input, so the variance grows
    linearly; derived here (module docstring); vectorized like :func:`resnet_variance`."""
    return _variance(norm, depth, alpha, var0, nonlinearity, batch, 0.0, nf=True, group_size=group_size)


@vectorized("group_size", native="depth")
def expected_std(norm, *, depth, alpha=1.0, var0=1.0, nonlinearity="linear", group_size=None):
    """``beta`` of the NF-style block after ``depth`` blocks: ``sqrt(v_depth)``, the root second
    moment of the block's input under NF scaling (what the simulator divides by), from the
    mean-field recursion of :func:`_moments_at` (derived here); vectorized over ``depth`` and
    ``group_size``."""
    norm = check_name(norm)
    if group_size is not None:
        branch_moments(norm, nonlinearity="linear", v=1.0, s=0.0, group_size=group_size)  # validates it
    depths = depth_array(depth)
    vs, _ = _moments_at(norm, branch_kind(nonlinearity), np.ravel(depths), _alpha(alpha),
                        positive(var0, "var0"), 0.0, True, group_size)
    out = np.sqrt(vs).reshape(np.shape(depths))
    return float(out) if np.ndim(depth) == 0 else out


def growth_rate(norm, *, alpha=1.0, nonlinearity="linear"):
    """Per-block asymptotic ratio ``v_{l+1}/v_l`` at large ``l`` (claims F1, F2; derived here):
    1 for linear growth (activation normalizers), ``1 + alpha²`` for geometric growth (plain,
    parametric), the limit of :func:`weightnorm_relu_rate_expr` for weightnorm with ReLU."""
    norm = check_name(norm)
    alpha = _alpha(alpha)
    branch_kind(nonlinearity)
    if family(norm) == "activation":
        return 1.0
    if norm == "weightnorm" and nonlinearity == "relu":
        a, expr = weightnorm_relu_rate_expr()
        return float(expr.subs(a, alpha))
    return 1.0 + alpha ** 2
