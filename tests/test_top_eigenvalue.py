"""The Lanczos top eigenvalue (the stable-rank probe's denominator) against numpy's eigvalsh."""

import numpy as np
import pytest

from normtheory.kernels.top_eigenvalue import top_eigenvalue, tridiagonal_top_eigenvalue


@pytest.mark.parametrize("batch", [2, 5, 16, 64])
@pytest.mark.parametrize("kind", ["wishart", "centred", "low_rank", "anisotropic", "isotropic", "rank_one"])
def test_matches_eigvalsh(batch, kind):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 3 * batch))
    if kind == "centred":
        x -= x.mean(axis=0)
    elif kind == "low_rank":
        x = rng.standard_normal((batch, 2)) @ rng.standard_normal((2, 3 * batch))
    elif kind == "anisotropic":
        x *= np.geomspace(1e-3, 10.0, 3 * batch)
    elif kind == "rank_one":
        x = np.outer(rng.standard_normal(batch), rng.standard_normal(3 * batch))
    k = np.eye(batch) - 1.0 / batch if kind == "isotropic" else x @ x.T
    expected = np.linalg.eigvalsh(k)[-1]
    assert top_eigenvalue(k) == pytest.approx(expected, rel=1e-12)


def test_tridiagonal_bisection_matches_eigvalsh():
    rng = np.random.default_rng(0)
    alpha, beta = rng.standard_normal(12), rng.standard_normal(12)
    t = np.diag(alpha) + np.diag(beta[:11], 1) + np.diag(beta[:11], -1)
    assert tridiagonal_top_eigenvalue(alpha, beta, 12) == pytest.approx(np.linalg.eigvalsh(t)[-1], rel=1e-13)
