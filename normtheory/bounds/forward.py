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

Closed forms (``rsolve``): for an activation-based branch with ``v_f = m`` constant,
``v_l = var0 + alpha² m l`` (F1: linear growth, slope the output second moment
``m`` of :func:`normtheory.bounds.moments.norm_second_moment`); for a parametric or plain
branch preserving the second moment, ``v_l = var0 (1 + alpha²)^l`` (F2: geometric, rate
``1 + alpha²``); WN's corrected ReLU grows at the asymptotic rate ``1 + alpha² π/(π − 1)``.
SkipInit (``alpha = 0``) keeps ``var0``; NF-style scaling (``beta_l² = v_{l-1}``) makes every
branch's input unit-variance, so ``v_l = var0 + alpha² l`` (F3). Other cases (ReLU branches
with correlated samples, EvoNorm) iterate the derived moment maps numerically.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds._validate import branch_kind, check_name, depth_array, family, nonneg, positive
from normtheory.bounds.moments import branch_mean, branch_moments


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


def _iterate(norm, nonlinearity, depth, alpha, var0, input_corr, nf, group_size=None):
    """Mean-field moments ``(v_l, s_l)`` of ``X_l``, with the entries' mean ``m_l``: a branch
    whose output has mean ``μ`` (EvoNorm) adds ``α μ`` to ``m`` and the cross term
    ``2 α m μ`` to both ``v`` and ``s`` (``X_l`` and the branch output are independent at
    infinite width but not centred); ``v − s`` is unchanged by it, ``s/v`` is not."""
    v, s, m = var0, input_corr * var0, 0.0
    vs = np.empty(depth + 1)
    ss = np.empty(depth + 1)
    vs[0], ss[0] = v, s
    for layer in range(1, depth + 1):
        scale = v if nf else 1.0
        vf, sf = branch_moments(norm, nonlinearity, v / scale, s / scale, group_size=group_size)
        mu = branch_mean(norm, nonlinearity, v / scale, s / scale)
        cross = 2 * alpha * m * mu
        v, s, m = v + alpha ** 2 * vf + cross, s + alpha ** 2 * sf + cross, m + alpha * mu
        if not (math.isfinite(v) and math.isfinite(s)):
            vs[layer:], ss[layer:] = np.inf, np.inf
            break
        vs[layer], ss[layer] = v, s
    return vs, ss


def _substitute(expr, **values):
    by_name = {sym.name: sym for sym in expr.free_symbols}
    return expr.subs({by_name[k]: v for k, v in values.items() if k in by_name})


def _closed_form(norm, nonlinearity, alpha, var0, input_corr, nf):
    """A closed form when one applies (independent samples), else None."""
    if input_corr != 0:
        return None
    if family(norm) == "activation" and not norm.startswith("evonorm") and (nonlinearity == "linear" or nf and norm == "batchnorm"):
        l, expr = linear_growth_expr()
        return sp.lambdify(l, _substitute(expr, alpha=alpha, m=1, var0=var0), "numpy")
    if family(norm) != "activation" and nf and nonlinearity == "linear":
        l, expr = linear_growth_expr()
        return sp.lambdify(l, _substitute(expr, alpha=alpha, m=1, var0=var0), "numpy")
    if family(norm) != "activation" and not nf and (nonlinearity == "linear" or norm == "sws"):
        l, expr = geometric_growth_expr()
        return sp.lambdify(l, _substitute(expr, alpha=alpha, var0=var0), "numpy")
    return None


def _variance(norm, depth, alpha, var0, nonlinearity, batch, input_corr, nf, group_size=None):
    norm = check_name(norm)
    if group_size is not None:
        branch_moments(norm, "linear", 1.0, 0.0, group_size=group_size)  # validates group_size
    depths = depth_array(depth)
    alpha = nonneg(alpha, "alpha")
    var0 = positive(var0, "var0")
    branch_kind(nonlinearity)
    if not 0 <= input_corr < 1:
        raise ValueError(f"input_corr must lie in [0, 1), got {input_corr}")
    factor = 1.0
    if batch is not None:
        from normtheory.bounds._validate import positive_int

        b = positive_int(batch, "batch")
        if b < 2:
            raise ValueError("batch must be at least 2 for a variance over the batch")
        factor = 1 - 1 / b
    fn = _closed_form(norm, nonlinearity, alpha, var0, input_corr, nf)
    if fn is not None:
        with np.errstate(over="ignore"):  # geometric growth past the float range: +inf
            out = np.asarray(fn(depths.astype(float)), dtype=float) * np.ones_like(depths, dtype=float)
    else:
        vs, ss = _iterate(norm, nonlinearity, int(depths.max()), alpha, var0, input_corr, nf, group_size)
        with np.errstate(invalid="ignore"):  # an overflowed second moment: the variance is +inf, not inf − inf
            out = np.where(np.isinf(vs), np.inf, vs - ss)[depths]
    if batch is not None and norm == "batchnorm":
        # BN's branch output has batch variance exactly 1: only the input's part is scaled
        out = factor * var0 * (1 - input_corr) + (out - var0 * (1 - input_corr))
    else:
        out = factor * out
    return float(out) if np.ndim(depth) == 0 else out


def resnet_variance(norm, depth, *, alpha=1.0, var0=1.0, nonlinearity="linear", batch=None, input_corr=0.0,
                    group_size=None):
    """Expected activation variance after ``depth`` residual blocks (claims F1, F2).

    ``nonlinearity`` selects the linear or ReLU branch of docs/settings.md; ``batch`` gives
    the expectation of the finite-batch probe; ``group_size`` (groupnorm) the finite-group
    output covariance of :mod:`normtheory.bounds.groups` (``None``: the infinite-group
    limit); vectorized over ``depth``.
    """
    return _variance(norm, depth, alpha, var0, nonlinearity, batch, input_corr, nf=False, group_size=group_size)


def resnet_variance_skipinit(norm, depth, *, var0=1.0, batch=None, nonlinearity="linear", group_size=None):
    """SkipInit (claim F3): ``alpha = 0`` at init, so the variance stays ``var0``."""
    return _variance(norm, depth, 0.0, var0, nonlinearity, batch, 0.0, nf=False, group_size=group_size)


def resnet_variance_nf(norm, depth, *, alpha=1.0, var0=1.0, nonlinearity="linear", batch=None, group_size=None):
    """NF-style blocks ``x + alpha f(x / beta_l)``, ``beta_l = sqrt(E x_{l-1}²)`` (claim F3)."""
    return _variance(norm, depth, alpha, var0, nonlinearity, batch, 0.0, nf=True, group_size=group_size)


def expected_std(norm, layers, *, alpha=1.0, var0=1.0, nonlinearity="linear", group_size=None):
    """``beta`` of the NF-style block after ``layers`` blocks: ``sqrt(v_layers)``, the
    root second moment of the block's input under NF scaling (what the simulator divides by)."""
    norm = check_name(norm)
    layers = depth_array(layers, "layers")
    vs, _ = _iterate(norm, branch_kind(nonlinearity), int(np.max(layers)), nonneg(alpha, "alpha"),
                     positive(var0, "var0"), 0.0, True, group_size)
    return np.sqrt(vs[layers])


def growth_rate(norm, *, alpha=1.0, nonlinearity="linear"):
    """Per-block asymptotic ratio ``v_{l+1}/v_l`` at large ``l``: 1 for linear growth (F1)."""
    norm = check_name(norm)
    alpha = nonneg(alpha, "alpha")
    if family(norm) == "activation":
        return 1.0
    if norm == "weightnorm" and nonlinearity == "relu":
        a, expr = weightnorm_relu_rate_expr()
        return float(expr.subs(a, alpha))
    return 1.0 + alpha ** 2
