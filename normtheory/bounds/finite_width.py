"""The leading 1/width correction of the ReLU cosine map of a plain MLP (R4 at finite width).

Setting (docs/settings.md, "Theory MLPs"; R4's network): ``X_0`` with rows
``sqrt(1 − c_0)·z_i + sqrt(c_0)·s`` (``z_i``, ``s`` i.i.d. N(0, I_d)), then
``X_l = relu(X_{l−1} W_lᵀ)`` with fresh ``W_l`` of i.i.d. ``N(0, 2/d)`` entries (He init, no
normalizer), and the statistic ``E[cos(x_1, x_2)]`` at layer ``l`` (the mean pairwise cosine
similarity of R4 has this expectation, the samples being exchangeable given the weights).

**One layer** (derived here). Given ``X_{l−1}``, the pair's pre-activations ``(u_k, v_k)``,
``k = 1..d``, are i.i.d. bivariate Gaussians of correlation ``c = cos(x_1, x_2)`` (their
common scale cancels in a cosine), so ``cos_l = A/sqrt(P·Q)`` with ``A, P, Q`` the averages
over ``k`` of ``a = φ(u)φ(v)``, ``p = φ(u)²``, ``q = φ(v)²`` (``φ = relu``). The input layer's
cosine is the same ratio with ``φ`` the identity (the coordinates of a pair of rows of ``X_0``
are i.i.d. bivariate Gaussians of correlation ``c_0``). The delta method to second order in
the averages' fluctuations (``O(d^{−1/2})``) gives

    E[cos_l | c] = f(c) + b(c)/d + O(1/d²),     Var(cos_l | c) = s(c)/d + O(1/d²),

    f = G(μ),  b = ½ tr(∇²G(μ) Σ),  s = ∇G(μ)ᵀ Σ ∇G(μ),   G(A, P, Q) = A/sqrt(P·Q),

with ``μ`` the means and ``Σ`` the covariance of ``(a, p, q)`` for one coordinate. They need
the bivariate moments ``E[φ(u)^m φ(v)^n]``, ``m + n ≤ 4``
(:func:`pair_moment_expr`): for ReLU by sympy in polar coordinates, ``u = r cos t``,
``v = r cos(t − ϑ)`` (``cos ϑ = c``), both positive for ``t ∈ (ϑ − π/2, π/2)``, with the radial
integral ``∫ r^{m+n+1} e^{−r²/2} dr / (2π)``; for the identity over the whole circle. Checks
(tests/test_finite_width_corrections.py): ``f`` is R4's arc-cosine map ``κ``
(:func:`normtheory.bounds.relu_correlation_map_expr`); for the identity ``f = c`` and
``b = −c(1 − c²)/2``, ``s = (1 − c²)²``, the classical expansion of a sample correlation;
the moments against Monte Carlo; ``E[cos_1 | c]`` and its variance against a direct
simulation of the ratio at ``d = 32`` and ``64``.

**Over depth** (derived here). For the plain network the cosine is a Markov chain:
``cos_l`` depends on the past only through ``cos_{l−1}`` (the layer's law above). Write
``cos_l = ρ_l + m_l + ε_l`` with ``ρ_l = κ^l(c_0)`` the infinite-width iterate, ``m_l`` the
mean shift and ``v_l = Var(cos_l)``, both ``O(1/d)``. Expanding ``f`` to second order
around ``ρ_l``:

    m_{l+1} = f'(ρ_l)·m_l + ½ f''(ρ_l)·v_l + b(ρ_l)/d,     v_{l+1} = f'(ρ_l)²·v_l + s(ρ_l)/d,

from ``m_0 = b_id(c_0)/d`` and ``v_0 = s_id(c_0)/d`` (the input's ratio, identity ``φ``), so
``E[cos_l] = ρ_l + m_l + O(1/d²)`` (:func:`relu_cosine_finite_width`). The ``O(1/d²)``
remainder holds while ``sqrt(v_l)`` is small against ``1 − ρ_l`` (``f'' = 1/(π sqrt(1 − c²))``
is singular at ``c = 1``): the form is meant for depths where ``1 − ρ_l`` is well above
``1/sqrt(d)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds.derived import derivation
from normtheory.bounds.validate import depth_array, positive_int

#: the activations of :func:`pair_moment_expr`: the input layer's identity and the ReLU layers
ACTIVATIONS = ("identity", "relu")


@derivation
def pair_moment_expr(activation: str, *, m: int, n: int):
    """``(c, E[φ(u)^m φ(v)^n])`` for standard bivariate Gaussians ``(u, v)`` of correlation ``c``.

    Polar coordinates ``u = r cos t``, ``v = r cos(t − ϑ)``, ``ϑ = arccos c`` (module
    docstring): ``E = (1/2π) ∫ r^{m+n+1} e^{−r²/2} dr · ∫ cos^m t cos^n(t − ϑ) dt``, the angle
    over the whole circle (identity) or, for ReLU, over the arc where every factor raised to a
    positive power is active: ``(ϑ − π/2, π/2)`` for both, ``(−π/2, π/2)`` for ``u`` alone,
    ``(ϑ − π/2, ϑ + π/2)`` for ``v`` alone (``relu(·)⁰ = 1``).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    c = sp.symbols("c", real=True)
    t = sp.symbols("t", real=True)
    theta = sp.symbols("vartheta", positive=True)
    low, high = 0, 2 * sp.pi
    if activation == "relu" and m:  # the arc where every factor with a positive power is active
        low, high = -sp.pi / 2, sp.pi / 2
        if n:
            low = theta - sp.pi / 2
    elif activation == "relu" and n:
        low, high = theta - sp.pi / 2, theta + sp.pi / 2
    angular = sp.integrate(sp.expand(sp.expand_trig(sp.cos(t) ** m * sp.cos(t - theta) ** n)), (t, low, high))
    expr = sp.expand_trig(_radial_moment(m + n) * angular / (2 * sp.pi))
    expr = expr.subs(sp.sin(theta), sp.sqrt(1 - c ** 2)).subs(sp.cos(theta), c).subs(theta, sp.acos(c))
    return c, sp.expand(expr)


@lru_cache(maxsize=None)
def _radial_moment(k: int):
    """``∫_0^∞ r^{k+1} e^{−r²/2} dr`` (the radial factor of a moment of order ``k``)."""
    r = sp.symbols("r", positive=True)
    return sp.integrate(r ** (k + 1) * sp.exp(-r ** 2 / 2), (r, 0, sp.oo))


@derivation
def cosine_layer_expr(activation: str):
    """``(c, f, b, s)``: one layer's cosine map, its 1/d mean correction and its 1/d variance.

    ``E[cos | c] = f + b/d + O(1/d²)``, ``Var(cos | c) = s/d + O(1/d²)`` for the cosine of
    ``φ`` applied to ``d`` i.i.d. bivariate Gaussian pairs of correlation ``c`` (the delta
    method on ``G(A, P, Q) = A/sqrt(P Q)``; module docstring).
    """
    c, _ = pair_moment_expr(activation, m=0, n=0)

    def mom(i, j):
        return pair_moment_expr(activation, m=i, n=j)[1]

    # (a, p, q) = (φ(u)φ(v), φ(u)², φ(v)²); products of two of them are moments of order 4
    mu = sp.Matrix([mom(1, 1), mom(2, 0), mom(0, 2)])
    powers = [(1, 1), (2, 0), (0, 2)]
    second = sp.Matrix(3, 3, lambda i, j: mom(powers[i][0] + powers[j][0], powers[i][1] + powers[j][1]))
    cov = second - mu * mu.T
    A, P, Q = sp.symbols("A P Q", positive=True)
    g = A / sp.sqrt(P * Q)
    args = (A, P, Q)
    grad = sp.Matrix([sp.diff(g, x) for x in args])
    hess = sp.hessian(g, args)
    at = dict(zip(args, mu))
    f = g.subs(at)
    h = hess.subs(at)
    b = sp.Rational(1, 2) * sum(h[i, j] * cov[i, j] for i in range(3) for j in range(3))
    gv = grad.subs(at)
    s = (gv.T * cov * gv)[0, 0]
    return c, f, b, s


@lru_cache(maxsize=None)
def _layer_fns(activation: str):
    c, f, b, s = cosine_layer_expr(activation)
    fns = [sp.lambdify(c, e, "numpy") for e in (f, sp.diff(f, c), sp.diff(f, c, 2), b, s)]
    return tuple(fns)


def cosine_layer_correction(activation: str, *, c):
    """``(f(c), b(c), s(c))`` of :func:`cosine_layer_expr` (derived here), a triple of floats,
    not vectorized; ``activation`` one of :data:`ACTIVATIONS`, ``c`` in (−1, 1)."""
    c = float(c)
    if not -1.0 < c < 1.0:
        raise ValueError(f"c must lie in (-1, 1), got {c!r}")
    f, _, _, b, s = _layer_fns(activation)
    return float(f(c)), float(b(c)), float(s(c))


def relu_cosine_finite_width(c0, *, depth, width):
    """``E[cos_l]`` for ``l = 0..depth`` to order 1/width: ``ρ_l + m_l`` (derived here, module
    docstring). A profile: one ``np.ndarray`` of ``depth + 1`` entries, not vectorized.

    ``c0`` the input correlation (in [0, 1)), ``depth`` the number of ReLU layers, ``width``
    the layer width ``d``.
    """
    depth = int(depth_array(depth, "depth"))
    d = positive_int(width, "width")
    c0 = float(c0)
    if not 0.0 <= c0 < 1.0:
        raise ValueError(f"c0 must lie in [0, 1), got {c0!r}")
    f, f1, f2, b, s = _layer_fns("relu")
    _, b_in, s_in = cosine_layer_correction("identity", c=c0)
    rho, m, v = c0, b_in / d, s_in / d
    out = np.empty(depth + 1)
    out[0] = rho + m
    for i in range(depth):
        slope, curvature = float(f1(rho)), float(f2(rho))
        m, v = slope * m + 0.5 * curvature * v + float(b(rho)) / d, slope ** 2 * v + float(s(rho)) / d
        rho = float(f(rho))
        out[i + 1] = rho + m
    return out
