"""Claim B1 at finite width: the top layer's gradient growth, exactly.

Setting (derived here): the top layer ``X_L = N(W Y)`` of the linear theory MLP of width
``d`` (docs/settings.md), ``W`` with i.i.d. ``N(0, 1/d)`` entries, the loss ``<G, X_L>`` with
``G`` i.i.d. ``N(0, 1)``, and the layer input ``Y`` held fixed. The growth is
``E[‖∂ℓ/∂Y‖² / ‖G‖²]``; because ``G`` is isotropic and independent of ``W``, ``‖∂ℓ/∂Y‖²`` is a
quadratic form in ``G`` and the expected ratio is the ratio of expectations.

**Per-sample statistics** (layernorm, groupnorm; the ``n`` entries of a statistic are units
of one sample). For sample ``b`` the pre-activation ``h_b = W y_b`` has i.i.d. ``N(0, ‖y_b‖²/d)``
entries, and the backward signal ``δ_b = J_bᵀ g_b`` depends on ``W`` only through ``h_b``.
Split ``W = W Q_b + h_b y_bᵀ/‖y_b‖²`` with ``Q_b`` the projection orthogonal to ``y_b``: ``W Q_b``
is independent of ``h_b``, and ``h_bᵀ δ_b = 0`` (each statistic is scale-invariant, so its
Jacobian annihilates ``h_b``: Euler's theorem). Hence ``Wᵀ δ_b = Q_b Wᵀ δ_b`` and
``E‖Wᵀ δ_b‖² = tr(Q_b)/d · E‖δ_b‖² = (d − 1)/d · E‖δ_b‖²``, so the top-layer growth is
``(d − 1)/d`` times the isotropic form ``(n − 2)/(n − 3)`` of
:mod:`normtheory.bounds.chi2` (:func:`top_growth_per_sample_expr`), for any input.

**Batch statistics** (batchnorm, variancenorm_uncentred over a batch of ``B``). Let
``K = Ỹᵀ Ỹ / d`` be the Gram matrix of the input as the normalizer sees it (``Ỹ = Y C`` with
``C`` the batch centring for batchnorm, ``Ỹ = Y`` for variancenorm_uncentred), of rank ``r`` with
non-zero eigenvalues ``λ_1..λ_r``. Unit ``j``'s centred pre-activation is ``h_j = Ỹᵀ w_j`` and
the normalizer's Jacobian on it is ``P_j / s_j`` with ``s_j² = h_jᵀ h_j / B`` and ``P_j`` a
projection of rank ``B − c`` (``c = 2`` centred, ``1`` variance only). Averaging over ``G``
removes the cross terms between units, and splitting ``w_j`` into its part in the column
space of ``Ỹ`` (``z / sqrt(d)`` in the eigenbasis of ``K``, ``z ~ N(0, I_r)``) and the rest
(``χ²_{d−r} / d``, independent) gives

    E[‖∂ℓ/∂Y‖² / ‖G‖²] = (B − c)/d · E[(d − r + Σ z_i²) / Σ λ_i z_i²].

With ``1/X = ∫_0^∞ e^{−tX} dt`` and the Gaussian integrals ``E[e^{−a z²}] = (1 + 2a)^{−1/2}``
and ``E[z² e^{−a z²}] = (1 + 2a)^{−3/2}`` (integrated by sympy below), the expectation is
the one-dimensional integral

    ∫_0^∞ Π_i (1 + 2λ_i t)^{−1/2} · (d − r + Σ_k (1 + 2λ_k t)^{−1}) dt,

finite for ``r > 2`` (:func:`top_growth_given_gram`). For the isotropic Gram of the
infinite-width limit (batchnorm: ``K = B/(B−1)·(I − 11ᵀ/B)``, ``r = B − 1``) sympy
integrates it in closed form, ``(B − 2)(B − 1)(d − 2) / (B d (B − 3))`` for batchnorm and
``(B − 1)(d − 2) / (d (B − 2))`` for variancenorm_uncentred (:func:`top_growth_isotropic_expr`).
Their ``d → ∞`` limits are not ``(n − 2)/(n − 3)``: that form takes the ``n = B`` entries
independent, while a normalized input makes them exchangeable with correlation
``−1/(B − 1)``, which raises ``‖h‖²`` by ``B/(B − 1)``.

What this does not cover: at finite width the Gram matrix of a deep BN net is far from
isotropic (its stable rank falls well below ``B − 1``: about 9 of 63 at ``B = 64``,
``d = 256``), so the isotropic form is not the top layer's growth in a deep net there;
:func:`top_growth_given_gram` with the actual Gram is. Below the top the incoming gradient
is orthogonal to the layer's output (the next layer is scale-invariant), which gives the
exact interior rate ``(n − 2)/(n − 3)`` for per-sample statistics, see
:mod:`normtheory.bounds.gradients`. The paper's Variance Normalization (``variancenorm``:
the centred batch std, no mean subtracted) has the Jacobian ``(1/σ)(I − y (C y)ᵀ/B)``, which
is not a scaled projection (it passes the batch mean), so the integral above does not
apply to it and no top-layer form is derived (``ValueError``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from normtheory.bounds.validate import check_name, positive_int, vectorized
from normtheory.bounds.chi2 import gaussian_laplace_exprs, gradient_growth_from_n, growth_from_n_expr

BATCH_NORMS = {"batchnorm": 2, "variancenorm_uncentred": 1}  # rank P = B − c


@lru_cache(maxsize=None)
def top_growth_isotropic_expr(*, centered: bool = True):
    """``(B, d, factor)``: the exact top-layer growth at width ``d`` when the layer input's Gram
    is the isotropic one of the infinite-width limit (every non-zero eigenvalue equal)."""
    B, d, t = sp.symbols("B d t", positive=True)
    a, plain, squared = gaussian_laplace_exprs()
    c = 2 if centered else 1
    r = B - 1 if centered else B
    lam = B / r  # trace of K is B (rows of Y with squared norm B / d each, d of them)
    # all r eigenvalues equal: the product of r factors is a power, the sum r equal terms
    one = plain.subs(a, lam * t)
    integrand = one ** r * (d - r + r * squared.subs(a, lam * t) / one)
    expectation = sp.integrate(sp.simplify(integrand), (t, 0, sp.oo), conds="none")
    # the integral comes back as ratios of Gamma functions one apart: expand_func reduces them
    factor = sp.gammasimp(sp.simplify((B - c) / d * expectation))
    return B, d, sp.factor(sp.simplify(sp.gammasimp(sp.expand_func(factor))))


@lru_cache(maxsize=None)
def top_growth_per_sample_expr(*, centered: bool = True):
    """``(n, d, factor)``: the exact top-layer growth for per-sample statistics over ``n``
    entries at width ``d``: ``tr(Q)/d`` (``Q`` the rank ``d − 1`` projection orthogonal to the
    sample) times the isotropic form of :func:`normtheory.bounds.chi2.growth_from_n_expr`."""
    n, isotropic = growth_from_n_expr(centered=centered)
    d = sp.symbols("d", positive=True)
    weight_factor = (d - 1) / d  # E[wᵀ Q w] = tr(Q)/d for w ~ N(0, I/d); tr(I − uuᵀ) = d − ‖u‖² = d − 1
    return n, d, sp.factor(weight_factor * isotropic)


@lru_cache(maxsize=None)
def _lambdified(expr_fn, centered: bool):
    """``expr_fn(centered=centered)`` (a ``(x, y, expr)`` triple) as a numpy function of ``(x, y)``."""
    x, y, expr = expr_fn(centered=centered)
    return sp.lambdify((x, y), expr, "numpy")


@lru_cache(maxsize=None)
def _factor_fns():
    a, plain, squared = gaussian_laplace_exprs()
    return sp.lambdify(a, plain, "numpy"), sp.lambdify(a, squared / plain, "numpy")


def _check_norm(norm: str) -> str:
    norm = check_name(norm)
    if norm == "variancenorm":
        raise ValueError("no top-layer form is derived for norm='variancenorm' (the paper's: its Jacobian "
                         "passes the batch mean and is not a scaled projection); variancenorm_uncentred has one")
    if norm not in BATCH_NORMS:
        raise ValueError(f"norm must be one of {sorted(BATCH_NORMS)}, got {norm!r}")
    return norm


def _gram_stack(gram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``gram`` as a ``(count, B, B)`` stack of finite symmetric PSD non-zero matrices,
    each divided by a power of two ``2^e`` near its largest entry (exactly: no rounding),
    their eigenvalues (ascending, ``(count, B)``) and the scales ``2^e`` (``(count,)``).

    The scale is taken out because the checks and the integral are only well conditioned
    for entries of order one: at ``1e30`` times a Gram the integrand's scale ``1/λ`` is
    below the quadrature's resolution, at ``1e-200`` times it the eigenvalues underflow
    the squares ``eigvalsh`` forms."""
    k = np.asarray(gram, dtype=np.float64)
    if k.ndim < 2 or k.shape[-1] != k.shape[-2] or k.shape[-1] == 0 or not np.all(np.isfinite(k)):
        raise ValueError(f"gram must be a finite square matrix (or a stack of them), got shape {k.shape}")
    k = k.reshape(-1, *k.shape[-2:])
    biggest = np.abs(k).max(axis=(1, 2))
    if np.any(biggest == 0):
        raise ValueError("gram must be positive semi-definite and non-zero")
    _, exponent = np.frexp(biggest)  # biggest = m · 2^e, 1/2 <= m < 1
    k = np.ldexp(k, -exponent[:, None, None])  # entries now at most 1, the largest at least 1/2
    scales = np.ldexp(1.0, exponent)
    if np.any(np.abs(k - np.swapaxes(k, 1, 2)) > 1e-8):
        raise ValueError("gram must be symmetric")
    lam = np.linalg.eigvalsh(k)
    top = lam.max(axis=1)
    if np.any(top <= 0) or np.any(lam.min(axis=1) < -1e-8 * top):
        raise ValueError("gram must be positive semi-definite and non-zero")
    return k, lam, scales


def top_growth_given_gram(norm: str, *, gram, width: int):
    """Exact ``E[‖∂ℓ/∂Y‖² / ‖G‖²]`` at the top batch-normalized layer of width ``width``
    given its input's batch Gram matrix ``gram = Yᵀ Y / d`` (``B x B``, centred here for
    batchnorm; or a stack ``(..., B, B)``, one value per matrix), see the module docstring.
    ``ValueError`` if a (centred) Gram has rank ``r ≤ 2`` (infinite expectation) or
    ``r > width``. ``norm``: batchnorm or variancenorm_uncentred. Vectorized over the stack of
    Gram matrices (a float for one matrix, an ``np.ndarray`` of the stack's shape), not over
    ``width``. Derived here (module docstring).

    Scale: for ``K' = c K`` the eigenvalues are ``c λ_i`` and the substitution ``t = u / c``
    in the integral of the module docstring gives ``E(c K) = E(K) / c`` exactly (the
    integrand depends on ``t`` only through ``λ_i t``). Each Gram is therefore divided by
    the power of two ``c = 2^e`` nearest above its largest entry (exact in floating point)
    before its eigenvalues and the integral are computed, and the result divided by ``c``:
    ``top_growth_given_gram(s·G) = top_growth_given_gram(G) / s`` to the quadrature's
    relative accuracy (``1e-10``) for any ``s`` at which ``s·G`` is finite and normal
    (tested over ``1e-250..1e250``)."""
    from scipy.integrate import quad_vec  # lazy: scipy.integrate doubles the time of `import normtheory.bounds`

    norm = _check_norm(norm)
    d = positive_int(width, "width")
    shape = np.shape(gram)[:-2]
    k, lam, scales = _gram_stack(gram)
    B = k.shape[-1]
    if norm == "batchnorm":  # the Gram as batchnorm sees it: the input centred over the batch
        centring = np.eye(B) - 1.0 / B
        k = centring @ k @ centring
        lam = np.linalg.eigvalsh((k + np.swapaxes(k, 1, 2)) / 2)
    keep = lam > 1e-9 * lam.max(axis=1, keepdims=True)
    r = keep.sum(axis=1)
    if np.any(r <= 2):
        raise ValueError(f"gram has rank {r.min()} as {norm} sees it: the expected growth is "
                         f"infinite for rank <= 2")
    if np.any(r > d):
        raise ValueError(f"gram has rank {r.max()} > width={d}: it cannot be the Gram of {d} units")
    lam = np.where(keep, lam, 0.0)  # dropped eigenvalues: factor 1 in the product, 0 in the sum
    plain, ratio = _factor_fns()

    def integrand(t):
        a = lam * t
        return np.exp(np.sum(np.log(plain(a)), axis=1)) * (d - r + np.sum(np.where(keep, ratio(a), 0.0), axis=1))

    value, _ = quad_vec(integrand, 0.0, np.inf, epsabs=0.0, epsrel=1e-10, limit=400)
    out = (B - BATCH_NORMS[norm]) / d * value / scales
    return float(out[0]) if shape == () else out.reshape(shape)


@vectorized("batch", "width")
def top_growth_isotropic(norm: str, *, batch: int, width: int) -> float:
    """Numeric value of :func:`top_growth_isotropic_expr` for ``norm`` batchnorm or
    variancenorm_uncentred (``batch > 3`` centred, ``> 2`` not; derived here), vectorized over
    ``batch`` and ``width``."""
    centered = _check_norm(norm) == "batchnorm"
    b = positive_int(batch, "batch")
    d = positive_int(width, "width")
    if b <= (3 if centered else 2):
        raise ValueError(f"batch={b}: the expected growth is infinite for batch <= {3 if centered else 2}")
    if d < b - (1 if centered else 0):
        raise ValueError(f"width={d} is below the Gram's rank {b - (1 if centered else 0)} (batch={b})")
    return float(_lambdified(top_growth_isotropic_expr, centered)(b, d))


@vectorized("n", "width")
def top_growth_per_sample(n: int, *, width: int, centered: bool = True) -> float:
    """Numeric value of :func:`top_growth_per_sample_expr` for ``n`` entries per statistic
    (derived here; ``ValueError`` for ``n`` too small), vectorized over ``n`` and ``width``."""
    d = positive_int(width, "width")
    gradient_growth_from_n(n, centered=centered)  # validates n (finite expectation)
    return float(_lambdified(top_growth_per_sample_expr, bool(centered))(n, d))
