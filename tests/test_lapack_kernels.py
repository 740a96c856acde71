"""normtheory.kernels.lapack against scipy.linalg.lapack's f2py wrappers of the same LAPACK:
equal to the last bit on positive definite, indefinite, ill-conditioned and rank-deficient inputs."""

import numpy as np
import pytest
from scipy.linalg import lapack

from normtheory.kernels import lapack as nogil
from normtheory.kernels.gram_steps import conditioned_cholesky, one_norm, psd_factor, upper_triangle


def _matrices(n, seed):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, 3 * n))
    full = u @ u.T
    low = rng.standard_normal((n, max(1, n // 3)))
    ill = full + 1e12 * np.outer(u[:, 0], u[:, 0])
    indefinite = full - 2 * np.eye(n) * np.abs(np.linalg.eigvalsh(full)).max()
    return {"full": full, "rank-deficient": low @ low.T, "ill-conditioned": ill, "indefinite": indefinite}


@pytest.mark.parametrize("n", [1, 5, 64])
def test_cholesky_and_rcond_equal_dpotrf_and_dpocon(n):
    for kind, a in _matrices(n, n).items():
        expected, info = lapack.dpotrf(a, lower=1, clean=1)
        chol, got_info = nogil.cholesky_lower(a)
        assert got_info == info, kind
        assert chol.flags.f_contiguous
        if info == 0:
            assert np.array_equal(chol, expected), kind
            rcond, _ = lapack.dpocon(expected, one_norm(a), uplo="L")
            assert nogil.cholesky_rcond(chol, one_norm(a))[0] == rcond, kind
            assert conditioned_cholesky(a, 1e-8)[1] == (rcond >= 1e-8), kind
        else:
            assert not conditioned_cholesky(a, 1e-8)[1], kind
    assert not conditioned_cholesky(_matrices(n, n)["ill-conditioned"], 1e-8)[1] or n == 1


@pytest.mark.parametrize("n", [2, 33])
def test_solve_rows_equals_dpotrs(n):
    a = _matrices(n, 1)["full"]
    chol = lapack.dpotrf(a, lower=1, clean=1)[0]
    c = np.random.default_rng(2).standard_normal((n + 3, n))
    expected = lapack.dpotrs(chol, c.copy().T, lower=1)[0].T
    got = c.copy()
    nogil.solve_rows(nogil.cholesky_lower(a)[0], got)
    assert np.array_equal(got, expected)
    assert np.allclose(got @ a, c)


@pytest.mark.parametrize("n", [3, 40])
def test_pivoted_cholesky_equals_dpstrf(n):
    for kind, a in _matrices(n, 3).items():
        if kind == "indefinite":
            continue
        expected = lapack.dpstrf(a, lower=1)
        got = nogil.pivoted_cholesky(a)
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]), kind
        assert got[2] == expected[2] and got[3] == expected[3], kind
        s = psd_factor(a)
        assert s.shape == (n, expected[2])
        assert np.allclose(s @ s.T, a, atol=1e-8 * np.abs(a).max()), kind


def test_upper_triangle_is_numpys_triu():
    a = np.asfortranarray(np.random.default_rng(4).standard_normal((9, 4)))
    r = upper_triangle(a, 4)
    assert np.array_equal(r, np.triu(a[:4, :]))
    assert r.flags.f_contiguous
