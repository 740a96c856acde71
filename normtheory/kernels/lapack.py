"""LAPACK routines callable from numba kernels, with the GIL released.

scipy's LAPACK (``scipy.linalg.cython_lapack``), the library behind ``scipy.linalg.lapack``,
called from ``nopython`` code: the same routines on the same inputs as the f2py wrappers
give the same numbers, but the f2py wrappers hold the GIL for the whole call, and with the
Gram engine's trials in two threads the factorisations of one thread's ``B × B`` Grams
stalled the other's Python.

Each routine's address is registered under a name with LLVM (``llvmlite.binding.add_symbol``)
and declared as an external function of that name: compiled code refers to the name, so
the kernels stay in numba's on-disk cache (a ctypes pointer would be a constant of the
process and makes a function uncachable).

The wrappers take and return Fortran-ordered matrices, as the f2py wrappers do, and follow
their defaults (``dpotrf``'s ``clean=1``: the other triangle zeroed; ``dpstrf``'s default
tolerance).
"""

from __future__ import annotations

import numpy as np
from llvmlite import binding
from numba import njit, types
from numba.extending import get_cython_function_address

_ROUTINES = {"dpotrf": 5, "dpocon": 9, "dpotrs": 8, "dpstrf": 9}  # LAPACK name: its argument count


def _external(name: str, nargs: int):
    symbol = f"normtheory_{name}"
    binding.add_symbol(symbol, get_cython_function_address("scipy.linalg.cython_lapack", name))
    return types.ExternalFunction(symbol, types.void(*([types.voidptr] * nargs)))


_dpotrf, _dpocon, _dpotrs, _dpstrf = (_external(name, n) for name, n in _ROUTINES.items())

_LOWER = ord("L")


@njit(cache=True, nogil=True)
def _char(c):
    return np.full(1, c, dtype=np.uint8)


@njit(cache=True, nogil=True)
def _int(i):
    return np.full(1, i, dtype=np.int32)


@njit(cache=True, nogil=True)
def _fortran_copy(a):
    """A Fortran-ordered copy of the square ``a``."""
    n = a.shape[0]
    c = np.empty((n, n)).T
    for j in range(n):
        for i in range(n):
            c[i, j] = a[i, j]
    return c


@njit(cache=True, nogil=True)
def cholesky_lower(a):
    """``(L, info)``: LAPACK ``dpotrf`` of the symmetric ``a`` (lower triangle read), ``L``
    Fortran-ordered with its upper triangle zeroed; ``info > 0``: not positive definite
    (``L`` is then partial)."""
    n = a.shape[0]
    c = _fortran_copy(a)
    size, info = _int(n), np.zeros(1, dtype=np.int32)
    _dpotrf(_char(_LOWER).ctypes, size.ctypes, c.ctypes, size.ctypes, info.ctypes)
    for j in range(n):
        for i in range(j):
            c[i, j] = 0.0
    return c, info[0]


@njit(cache=True, nogil=True)
def cholesky_rcond(chol, anorm):
    """``(rcond, info)``: LAPACK ``dpocon``'s reciprocal condition number (1-norm) of
    ``L Lᵀ`` from its lower Cholesky factor ``chol`` (Fortran-ordered) and ``anorm = ‖L Lᵀ‖₁``."""
    n = chol.shape[0]
    size, info = _int(n), np.zeros(1, dtype=np.int32)
    norm, rcond = np.full(1, anorm), np.zeros(1)
    work, iwork = np.empty(3 * n), np.empty(n, dtype=np.int32)
    _dpocon(_char(_LOWER).ctypes, size.ctypes, chol.ctypes, size.ctypes, norm.ctypes, rcond.ctypes, work.ctypes,
            iwork.ctypes, info.ctypes)
    return rcond[0], info[0]


@njit(cache=True, nogil=True)
def solve_rows(chol, c):
    """``c ← c (L Lᵀ)⁻¹`` in place (``c``: C-ordered, ``k`` columns; ``chol``: the lower
    Cholesky factor, Fortran-ordered, ``k × k``): LAPACK ``dpotrs`` on ``cᵀ``, which is
    ``c``'s memory read in Fortran order. Returns ``info``."""
    n, nrhs = _int(chol.shape[0]), _int(c.shape[0])
    info = np.zeros(1, dtype=np.int32)
    _dpotrs(_char(_LOWER).ctypes, n.ctypes, nrhs.ctypes, chol.ctypes, n.ctypes, c.ctypes, n.ctypes, info.ctypes)
    return info[0]


@njit(cache=True, nogil=True)
def pivoted_cholesky(a):
    """``(c, piv, rank, info)``: LAPACK ``dpstrf`` of the symmetric positive semidefinite
    ``a`` (lower triangle, default tolerance ``n · ε · max(diag(a))``), ``c`` Fortran-ordered
    with the lower factor of ``Pᵀ a P`` in its first ``rank`` columns, ``piv`` 1-based."""
    n = a.shape[0]
    c = _fortran_copy(a)
    size, rank, info = _int(n), np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int32)
    piv, work, tol = np.zeros(n, dtype=np.int32), np.empty(2 * n), np.full(1, -1.0)
    _dpstrf(_char(_LOWER).ctypes, size.ctypes, c.ctypes, size.ctypes, piv.ctypes, rank.ctypes, tol.ctypes,
            work.ctypes, info.ctypes)
    return c, piv, rank[0], info[0]
