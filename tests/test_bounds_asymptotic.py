"""The large-size forms of normtheory.bounds against the exact computation where both are
feasible, with a generous time bound where only the large-size form is (speed goals
themselves are benchmarks, not tests)."""

import time

import mpmath
import numpy as np
import pytest
import sympy as sp

from normtheory import bounds
from normtheory.bounds import rank


def _digamma_gap(width: int) -> float:
    with mpmath.workdps(40):
        return float(mpmath.digamma(mpmath.mpf(width) / 2) - mpmath.digamma(mpmath.mpf(width - 1) / 2))


@pytest.mark.parametrize("width", [64, 65, 100, 257, 1000, 4096, 10 ** 5, 10 ** 9])
def test_rank_collapse_series_matches_the_digamma_difference(width):
    """Stated: relative truncation error below 1e-15 from width 64 on (held at 1e-13)."""
    assert bounds.rank_collapse_rate("plain", width=width) == pytest.approx(_digamma_gap(width), rel=1e-13)


def test_rank_collapse_exact_below_the_series_and_continuous_across():
    d, gap = bounds.lyapunov_gap_expr()
    for width in (2, 3, 17, rank.SERIES_MIN_WIDTH - 1):
        assert bounds.rank_collapse_rate("plain", width=width) == pytest.approx(float(2 * gap.subs(d, width)),
                                                                               rel=1e-15)
        assert bounds.rank_collapse_rate("plain", width=width) == pytest.approx(_digamma_gap(width), rel=1e-14)
    below, at = bounds.rank_collapse_rate("plain", width=[rank.SERIES_MIN_WIDTH - 1, rank.SERIES_MIN_WIDTH])
    assert below > at


def test_rank_collapse_series_is_the_expansion_of_the_gap():
    d, series = bounds.lyapunov_gap_series_expr()
    assert sp.expand(series - (1 / d + sp.Rational(3, 2) / d ** 2 + 2 / d ** 3)).as_poly(1 / d).degree() == 9
    assert series.coeff(d, -1) == 1


def test_rank_collapse_rate_at_a_million_units_is_quick():
    """It took over a minute (sympy summed the harmonic numbers of the digamma)."""
    bounds.rank_collapse_rate("plain", width=10 ** 3)  # the series' one-off derivation
    start = time.perf_counter()
    rate = bounds.rank_collapse_rate("plain", width=10 ** 6)
    assert time.perf_counter() - start < 5.0
    assert rate == pytest.approx(_digamma_gap(10 ** 6), rel=1e-13)


ODE_CASES = [("layernorm", "relu", {}), ("plain", "relu", dict(alpha=0.02)),
             ("batchnorm", "relu", dict(input_corr=0.5)), ("groupnorm", "relu", dict(group_size=4))]


@pytest.mark.parametrize("norm, nonlinearity, options", ODE_CASES, ids=[c[0] for c in ODE_CASES])
def test_residual_variance_depth_ode_matches_the_exact_recursion(monkeypatch, norm, nonlinearity, options):
    """Stated: relative error below 1e-7 (held at 1e-6); depths up to ODE_MIN_DEPTH exact."""
    from normtheory.bounds import forward

    depths = [0, 7, forward.ODE_MIN_DEPTH, forward.ODE_MIN_DEPTH + 1, 5000, 12000]
    fast = bounds.resnet_variance(norm, depth=depths, nonlinearity=nonlinearity, **options)
    monkeypatch.setattr(forward, "ODE_MIN_DEPTH", 10 ** 9)
    exact = bounds.resnet_variance(norm, depth=depths, nonlinearity=nonlinearity, **options)
    assert list(fast[:3]) == list(exact[:3])
    np.testing.assert_allclose(fast, exact, rtol=1e-6)


def test_nf_std_depth_ode_matches_the_exact_recursion(monkeypatch):
    from normtheory.bounds import forward

    fast = bounds.expected_std("layernorm", depth=[3, 9000], nonlinearity="relu")
    monkeypatch.setattr(forward, "ODE_MIN_DEPTH", 10 ** 9)
    np.testing.assert_allclose(fast, bounds.expected_std("layernorm", depth=[3, 9000], nonlinearity="relu"), rtol=1e-6)


def test_residual_variance_at_ten_million_blocks_is_quick():
    """``resnet_variance`` at depth 10⁷ took 15 s and more (10-80 µs per block)."""
    bounds.resnet_variance("layernorm", depth=[10], nonlinearity="relu")  # one-off derivations
    start = time.perf_counter()
    out = bounds.resnet_variance("layernorm", depth=[10 ** 6, 10 ** 7], nonlinearity="relu")
    assert time.perf_counter() - start < 5.0
    assert np.isfinite(out).all() and 0 < out[0] < out[1] < 10 ** 7  # below the linear growth of 1 per block
    assert bounds.resnet_variance("plain", depth=[10 ** 7], nonlinearity="relu", alpha=0.01)[0] == np.inf
