"""Cross-sample correlation of a normalizer's output over a group of ``g`` entries.

Setting (docs/settings.md, GroupNorm in the residual MLP of claim F1): the pre-activations
of two samples on one group, ``h_a, h_b`` in ``R^g``, have i.i.d. coordinate pairs with
correlation ``ρ`` (given the layer input, exactly so for Gaussian weights). GroupNorm maps
``h`` to ``sqrt(g) · P h / ‖P h‖`` (``P`` the centring; biased variance), so the output
covariance per entry is ``E cos(P h_a, P h_b)``: ``P h_a, P h_b`` are Gaussian in
``k = g − 1`` dimensions with coordinate correlation ``ρ`` (``P`` is an orthogonal
projection). Derived here (:func:`group_cosine_expr`):

    E cos(u, v) = (2/k) (Γ((k+1)/2) / Γ(k/2))² · ρ · ₂F₁(½, ½; k/2 + 1; ρ²),

by writing ``1/‖u‖ = π^{-1/2} ∫ a^{-1/2} e^{-a‖u‖²} da`` (and the same for ``v``), which
leaves Gaussian integrals per coordinate (``E[e^{−au²−bv²}] = D^{−1/2}``,
``E[uv e^{−au²−bv²}] = ρ D^{−3/2}``, ``D = (1 + 2a)(1 + 2b) − 4ρ²ab``, computed by sympy
from the tilted covariance), a Beta integral over ``b`` (sympy) and, after ``a = t/(2(1−t))``,
Euler's integral ``∫_0^1 t^{−1/2} (1 − t)^{(k−1)/2} (1 − ρ² t)^{−1/2} dt =
B(½, (k+1)/2) ₂F₁(½, ½; k/2 + 1; ρ²)``; sympy checks that the transformed integrand is a
constant times Euler's kernel. ``k = 1`` gives ``(2/π) arcsin ρ`` (the sign of FRN's MLP
form); ``k → ∞`` gives ``ρ``, the infinite-group form. The ``ρ²`` expansion shows the
finite-group form below ``ρ`` for ``0 < ρ < 1``.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from normtheory.bounds.derived import derivation


@derivation
def group_cosine_expr():
    """``(k, ρ, E cos(u, v))`` for ``u, v`` in ``R^k`` with i.i.d. coordinate pairs of correlation ``ρ``."""
    k, rho, a, b, t = sp.symbols("k rho a b t", positive=True)
    cov = sp.Matrix([[1, rho], [rho, 1]])
    tilt = sp.diag(a, b)
    D = sp.expand((sp.eye(2) + 2 * cov * tilt).det())
    tilted = (cov.inv() + 2 * tilt).inv()  # covariance under the weight e^{−au²−bv²}
    plain = D ** sp.Rational(-1, 2)  # E[e^{−au²−bv²}]
    cross = sp.simplify(tilted[0, 1] * plain)  # E[uv e^{−au²−bv²}]
    power = sp.simplify(cross / (rho * plain ** 3))
    if power != 1:
        raise AssertionError(f"unexpected Gaussian moment {cross}")
    # E[u·v/(‖u‖‖v‖)] = (1/π) ∫∫ (ab)^{−1/2} k · cross · plain^{k−1} da db = (kρ/π) ∫∫ (ab)^{−1/2} D^{−(k+2)/2}
    A, B = sp.symbols("A B", positive=True)  # D = A + B b with A = 1 + 2a, B = 2 + 4a(1 − ρ²)
    if sp.expand(D - (1 + 2 * a) - b * (2 + 4 * a * (1 - rho ** 2))) != 0:
        raise AssertionError("D is not linear in b as assumed")
    beta = sp.integrate(b ** sp.Rational(-1, 2) * (A + B * b) ** (-(k + 2) / 2), (b, 0, sp.oo), conds="none")
    inner = beta.subs({A: 1 + 2 * a, B: 2 + 4 * a * (1 - rho ** 2)})
    outer_integrand = k * rho / sp.pi * a ** sp.Rational(-1, 2) * inner
    # Euler's kernel in t = 2a/(1 + 2a) (i.e. a = t/(2(1 − t))), pulled back to a > 0, with
    # r = 1 − ρ² > 0 so that every base is positive
    r = sp.symbols("r", positive=True)
    t_of_a = 2 * a / (1 + 2 * a)
    kernel = t ** sp.Rational(-1, 2) * (1 - t) ** ((k - 1) / 2) * (1 - rho ** 2 * t) ** sp.Rational(-1, 2)
    pulled = kernel.subs(t, t_of_a) * sp.diff(t_of_a, a)
    ratio = (outer_integrand / pulled).subs(rho ** 2, 1 - r)
    const = sp.simplify(sp.powsimp(sp.powdenest(sp.expand_power_base(sp.factor(ratio), force=True),
                                                force=True), force=True))
    if a in const.free_symbols:
        raise AssertionError(f"the integrand is not a multiple of Euler's kernel: {const}")
    const = sp.simplify(const.subs(r, 1 - rho ** 2))
    half = sp.Rational(1, 2)
    euler = sp.gamma(half) * sp.gamma((k + 1) / 2) / sp.gamma(k / 2 + 1) * sp.hyper([half, half], [k / 2 + 1], rho ** 2)
    return k, rho, sp.gammasimp(sp.simplify(const * euler))


@lru_cache(maxsize=None)
def _cosine_fn():
    k, rho, expr = group_cosine_expr()
    from scipy.special import hyp2f1  # lazy: scipy.special doubles the time of `import normtheory.bounds`

    # Gamma in mpmath (no overflow at large k); ₂F₁ in scipy (mpmath's series is slow or
    # gives up for a large third parameter, k ~ 10⁶)
    def hyper(a, b, z):
        a1, a2, c, z = float(a[0]), float(a[1]), float(b[0]), float(z)
        if c < 50:
            return hyp2f1(a1, a2, c, z)
        # large c (scipy and mpmath both fail near z = 1): the series, whose terms fall
        # faster than (n/(n + c))·z per step
        term, total, j = 1.0, 1.0, 0
        while abs(term) > 1e-17 * abs(total) and j < 100_000:
            term *= (a1 + j) * (a2 + j) / ((c + j) * (j + 1)) * z
            total += term
            j += 1
        return total

    funcs = {"hyper": hyper}
    return sp.lambdify((k, rho), expr, [funcs, "mpmath"])


def group_cosine(k: int, rho: float) -> float:
    """``E cos`` of :func:`group_cosine_expr` in ``k`` dimensions at correlation ``ρ`` (odd in
    ``ρ``; ``ρ`` clipped to [−1, 1])."""
    if k < 1:
        raise ValueError(f"k must be a positive integer (dimensions), got {k}")
    rho = min(max(float(rho), -1.0), 1.0)
    if rho == 0.0:
        return 0.0
    sign = 1.0 if rho > 0 else -1.0
    if abs(rho) == 1.0:
        return sign  # v = ±u (the series converges too slowly at ρ² = 1)
    return sign * float(_cosine_fn()(int(k), abs(rho)))
