"""numba steps of the Gram engine (:mod:`normtheory.montecarlo.gram`) around its weight layers.

Everything a theory-MLP layer does besides multiplying by its weight, forward and backward,
on the MLP form ``(B, d)`` (docs/settings.md), built from the closed-form normalizer and
nonlinearity kernels of :mod:`normtheory.kernels.mlp_norms`, and the small factor
bookkeeping of its weights (LAPACK through :mod:`normtheory.kernels.lapack`). All functions
release the GIL (``nogil=True``), so that the engine's trials run in parallel threads.

Non-residual layer: ``H = X_{l-1} Wᵀ`` (the weight, done by the engine), then
``X_l = phi(N(H))``. Residual layer: ``U = phi(X_{l-1} / beta)``, ``H = U Wᵀ``,
``X_l = X_{l-1} + alpha · N(H)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from normtheory.kernels.lapack import cholesky_lower, cholesky_rcond, pivoted_cholesky
from normtheory.kernels.mlp_norms import norm_backward, norm_forward, phi_backward, phi_forward


@njit(cache=True, nogil=True)
def residual_input(phi, x, beta):
    """The weight's input ``U = phi(x / beta)`` of a residual branch."""
    return phi_forward(phi, x / beta)


@njit(cache=True, nogil=True)
def layer_output(code, phi, g, eps, h, xp, residual, alpha):
    """``X_l`` from the weight's output ``h`` (and ``X_{l-1}`` = ``xp`` when residual)."""
    y, r, m = norm_forward(code, h, g, eps)
    if residual:
        return xp + alpha * y
    return phi_forward(phi, y)


@njit(cache=True, nogil=True)
def output_backward(code, phi, g, eps, gx, h, residual, alpha):
    """Gradient with respect to the weight's output ``h`` given ``gx = dℓ/dX_l``. The
    normalizer's forward is recomputed from ``h``: cheaper than keeping it for every layer."""
    y, r, m = norm_forward(code, h, g, eps)
    if residual:
        return norm_backward(code, alpha * gx, h, y, r, m, g, eps)
    return norm_backward(code, phi_backward(phi, gx, y), h, y, r, m, g, eps)


@njit(cache=True, nogil=True)
def residual_input_backward(phi, gx, gu, xp, beta):
    """``dℓ/dX_{l-1}`` of a residual layer: the skip path ``gx`` plus the branch's ``gu``."""
    return gx + phi_backward(phi, gu, xp / beta) / beta


@njit(cache=True, nogil=True)
def unpivot_factor(c, piv, rank):
    """``S`` (``n × rank``) with ``S Sᵀ = A`` from LAPACK ``dpstrf``'s lower factor ``c`` of
    ``Pᵀ A P`` (``piv``: 1-based pivots): row ``piv[i] − 1`` of ``S`` is row ``i`` of ``c``'s
    first ``rank`` columns, above-diagonal entries (which ``dpstrf`` leaves untouched) zeroed."""
    n = c.shape[0]
    s = np.zeros((n, rank))
    for i in range(n):
        for j in range(min(i + 1, rank)):
            s[piv[i] - 1, j] = c[i, j]
    return s


@njit(cache=True, nogil=True)
def one_norm(a):
    """``‖a‖₁``, the largest column sum of ``|a|`` (LAPACK ``dpocon``'s ``anorm``): the
    column sums accumulated row by row, as ``np.abs(a).sum(axis=0).max()`` does."""
    n, m = a.shape
    sums = np.zeros(m)
    for i in range(n):
        for j in range(m):
            sums[j] += abs(a[i, j])
    best = 0.0
    for j in range(m):
        if np.isnan(sums[j]):
            return sums[j]  # as numpy's max: NaN if any
        best = max(best, sums[j])
    return best


@njit(cache=True, nogil=True)
def conditioned_cholesky(gram, rcond_min):
    """``(L, ok)``: the lower Cholesky factor of ``gram`` (Fortran-ordered, LAPACK
    ``dpotrf``), ``ok`` when ``gram`` is positive definite with reciprocal condition number
    (``dpocon``, 1-norm) at least ``rcond_min``."""
    chol, info = cholesky_lower(gram)
    if info != 0:
        return chol, False
    rcond, info = cholesky_rcond(chol, one_norm(gram))
    return chol, info == 0 and rcond >= rcond_min


@njit(cache=True, nogil=True)
def psd_factor(a):
    """``S`` of shape ``(n, rank)`` with ``S Sᵀ = a`` for a symmetric positive semidefinite ``a``.

    LAPACK ``dpstrf`` (Cholesky with complete pivoting, stopping at the numerical rank with
    its default tolerance ``n · ε · max(diag(a))``).
    """
    c, piv, rank, info = pivoted_cholesky(a)
    if info < 0:
        raise ValueError("psd_factor: invalid argument to dpstrf")
    return unpivot_factor(c, piv, rank)


@njit(cache=True, nogil=True)
def rows_sum_to_zero(u, gram, tol):
    """Whether ``‖1ᵀ u‖² ≤ tol · B · tr(gram)`` (``gram = u uᵀ``)."""
    b, d = u.shape
    total = np.zeros(d)
    for i in range(b):
        for j in range(d):
            total[j] += u[i, j]
    trace = 0.0
    for i in range(b):
        trace += gram[i, i]
    return np.dot(total, total) <= tol * b * trace


@njit(cache=True, nogil=True)
def upper_triangle(a, n):
    """The upper triangle of ``a``'s first ``n`` rows (``n × n``, Fortran-ordered, zeros below)."""
    r = np.zeros((n, n)).T
    for j in range(n):
        for i in range(j + 1):
            r[i, j] = a[i, j]
    return r
