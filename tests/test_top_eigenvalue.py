"""The stable-rank probe (normtheory.kernels.top_eigenvalue): against numpy, accurate excess
srank - 1 for collapsed matrices, and NaN (never an exception) where it is undefined."""

import numpy as np
import pytest
from numba import njit, prange

from normtheory.kernels.top_eigenvalue import stable_rank_excess


def _reference(x):
    """(srank, srank - 1) from the singular values of x (relative accuracy of each sigma_i^2 / sigma_1^2)."""
    s = np.linalg.svd(x, compute_uv=False)
    excess = float(np.sum((s[1:] / s[0]) ** 2))
    return 1.0 + excess, excess


def _with_singular_values(sv, b, d, seed=0):
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.standard_normal((b, b)))[0][:, :len(sv)]
    v = np.linalg.qr(rng.standard_normal((d, d)))[0][:, :len(sv)]
    return (u * np.asarray(sv)) @ v.T


@pytest.mark.parametrize("batch", [2, 5, 16, 64])
@pytest.mark.parametrize("kind", ["wishart", "centred", "low_rank", "anisotropic", "rank_two"])
def test_matches_numpy(batch, kind):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 3 * batch))
    if kind == "centred":
        x -= x.mean(axis=0)
    elif kind == "low_rank":
        x = rng.standard_normal((batch, 2)) @ rng.standard_normal((2, 3 * batch))
    elif kind == "anisotropic":
        x *= np.geomspace(1e-3, 10.0, 3 * batch)
    elif kind == "rank_two":
        x = _with_singular_values([3.0, 0.5], batch, 3 * batch, seed=batch)
    srank, excess = stable_rank_excess(x, x @ x.T)
    expected, expected_excess = _reference(x)
    assert srank == pytest.approx(np.trace(x @ x.T) / np.linalg.eigvalsh(x @ x.T)[-1], rel=1e-12)
    assert srank == pytest.approx(expected, rel=1e-12)
    assert excess == pytest.approx(expected_excess, rel=1e-10, abs=1e-14)
    if kind == "rank_two":
        assert excess == pytest.approx((0.5 / 3.0) ** 2, rel=1e-12)


@pytest.mark.parametrize("sv", [[1.0, 1e-4], [1.0, 1e-7], [2.0, 1e-6, 1e-8], [1.0, 1e-10, 1e-11, 1e-12]])
def test_excess_of_collapsed_matrices_is_accurate(sv):
    """srank - 1 down to 1e-20 to relative 1e-6: tr K / lambda_max - 1 (or the sum of the other
    eigenvalues) is wrong by about 1e-15 in absolute terms there, and can be negative."""
    x = _with_singular_values(sv, 32, 48)
    expected = float(np.sum((np.asarray(sv[1:]) / sv[0]) ** 2))
    srank, excess = stable_rank_excess(x, x @ x.T)
    assert excess == pytest.approx(expected, rel=1e-6)
    assert srank == pytest.approx(1.0 + expected, rel=1e-15)


def test_rank_one_and_duplicated_samples():
    rng = np.random.default_rng(0)
    x = np.outer(rng.standard_normal(16), rng.standard_normal(40))
    srank, excess = stable_rank_excess(x, x @ x.T)
    assert srank == pytest.approx(1.0, abs=1e-15) and 0.0 <= excess < 1e-28
    y = rng.standard_normal((8, 40))
    y[5] = y[2]  # a duplicated sample: a singular Gram of rank 7
    srank, excess = stable_rank_excess(y, y @ y.T)
    assert (srank, excess) == pytest.approx(_reference(y), rel=1e-12)


def test_zero_and_non_finite_give_nan():
    x = np.zeros((6, 10))
    assert np.isnan(stable_rank_excess(x, x @ x.T)).all()
    x = np.ones((6, 10))
    k = x @ x.T
    k[1, 2] = np.inf
    assert np.isnan(stable_rank_excess(x, k)).all()


def test_no_overflow_near_the_largest_float():
    """Entries near 1e150: the Gram stays finite (1e302), and so must the probe's intermediates."""
    x = 1e150 * _with_singular_values([1.0, 1e-6], 8, 16)
    srank, excess = stable_rank_excess(x, x @ x.T)
    assert excess == pytest.approx(1e-12, rel=1e-6)


@njit(parallel=True)
def _in_prange(xs):
    out = np.empty((xs.shape[0], 2))
    for t in prange(xs.shape[0]):
        out[t, 0], out[t, 1] = stable_rank_excess(xs[t], xs[t] @ xs[t].T)
    return out


def test_undefined_cases_inside_prange_do_not_raise():
    xs = np.random.default_rng(1).standard_normal((4, 5, 7))
    xs[1] = 0.0
    xs[2, 0, 0] = np.nan
    out = _in_prange(xs)
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all() and np.isfinite(out[[0, 3]]).all()
    assert np.isfinite(_in_prange(xs[[0]])).all()  # the next numba call is clean
