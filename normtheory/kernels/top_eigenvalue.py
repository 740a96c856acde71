"""The stable rank ``‖X‖_F² / ‖X‖_2²`` of a ``B x d`` matrix ``X`` and its excess over 1,
from the spectrum of the Gram ``K = X Xᵀ`` (LAPACK ``dsyevd`` through numba's
``np.linalg.eigvalsh``); and the rows' mean pairwise cosine similarity from the same Gram
(:func:`mean_pairwise_cosine`).

With ``λ_1 >= ... >= λ_B`` the eigenvalues of ``K``, ``srank = 1 + Σ_{i>1} λ_i / λ_1``.
``srank − 1`` is what a collapsing net drives to zero (``log(srank − 1)`` falls linearly in
depth). Every computed eigenvalue carries an absolute error of order ``ε · λ_1``, so both
``tr K / λ_1 − 1`` and ``Σ_{i>1} λ_i / λ_1`` lose it below about ``B · ε ≈ 1e-14`` (and
can come out negative). Where the eigenvalue sum is below :data:`REFINE_BELOW` the excess
is recomputed as a sum of squares,

    srank − 1 = ‖X − u uᵀ X‖_F² / λ_1,

with ``u`` the top unit eigenvector of ``K``, found by :data:`POWER_STEPS` steps of the
power method (each reduces the error by ``λ_2 / λ_1 <= srank − 1 < REFINE_BELOW``, so ``u``
is exact to rounding). The residual is then accurate to ``ε · ‖X‖`` in absolute terms and
the excess to relative ``ε / sqrt(srank − 1)``: down to about ``1e-28`` instead of
``1e-14``, and never negative.

Nothing here raises (the engines call it in chunks of trials that must not stop): a non-finite ``K``, an
all-zero ``X`` (no top direction) or a failure of LAPACK gives NaN, which the engines
record as a divergence of the trial.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: the excess is recomputed from the residual off the top eigenvector below this
REFINE_BELOW = 1e-3
#: power steps for the top eigenvector there: error ``REFINE_BELOW ** POWER_STEPS = 1e-24``
POWER_STEPS = 8


@njit(cache=True, nogil=True)
def _eigvalsh(k):
    """``(eigenvalues ascending, ok)``; ``ok`` False (and a NaN placeholder) if LAPACK raised."""
    try:
        return np.linalg.eigvalsh(k), True
    except Exception:  # noqa: BLE001 (numba catches no narrower class); reported as NaN
        return np.full(1, np.nan), False


@njit(cache=True, nogil=True)
def _top_direction(k, lam):
    """The top unit eigenvector of the PSD ``k`` (top eigenvalue ``lam``) by the power method
    from its largest column (which has a component ``>= 1/sqrt(B)`` along it when the top
    eigenvalue dominates). Iterates are scaled by ``1 / lam`` so that nothing overflows."""
    i = np.argmax(np.diag(k))
    u = k[:, i] / k[i, i]
    u /= np.sqrt(np.dot(u, u))
    for _ in range(POWER_STEPS):
        u = np.dot(k, u) / lam
        u /= np.sqrt(np.dot(u, u))
    return u


@njit(cache=True, nogil=True)
def _off_top_squares(x, u, lam):
    """``‖x − u uᵀ x‖_F² / lam`` (``u`` a unit vector of length ``B``), scaled before squaring."""
    b, d = x.shape
    p = np.zeros(d)  # uᵀ x
    for r in range(b):
        p += u[r] * x[r]
    scale = 1.0 / np.sqrt(lam)
    total = 0.0
    for r in range(b):
        for c in range(d):
            e = (x[r, c] - u[r] * p[c]) * scale
            total += e * e
    return total


@njit(cache=True, nogil=True)
def stable_rank_excess(x, k):
    """``(srank, srank − 1)`` of ``x`` (``B x d``) given its Gram ``k = x xᵀ``; see the module docstring.

    Both NaN when ``k`` is not finite, when ``x`` is zero (``λ_1 = 0``) or when the
    eigendecomposition fails.
    """
    if not np.all(np.isfinite(k)):
        return np.nan, np.nan
    w, ok = _eigvalsh(k)
    if not ok:
        return np.nan, np.nan
    lam = w[-1]
    if not lam > 0.0:
        return np.nan, np.nan
    excess = np.sum(w[:-1] / lam)
    if excess < REFINE_BELOW:
        excess = _off_top_squares(x, _top_direction(k, lam), lam)
    return 1.0 + excess, excess


@njit(cache=True, nogil=True)
def mean_pairwise_cosine(k):
    """Mean over pairs ``i != j`` of ``k_ij / sqrt(k_ii k_jj)``, the rows' cosine similarity
    given their Gram ``k`` (docs/settings.md); NaN for a zero row, never an exception."""
    b = k.shape[0]
    inv_norm = 1.0 / np.sqrt(np.diag(k))
    cos = 0.0
    for i in range(b):
        row = 0.0
        for j in range(b):
            if i != j:
                row += k[i, j] * inv_norm[j]
        cos += row * inv_norm[i]
    return cos / (b * (b - 1))
