"""Claim R3's rate of rank collapse: LayerNorm's form (``n = d − 1``) against its relation to
the unnormalized form and against an independent simulation, and R3's fit window.

The simulation here is written from docs/settings.md, not from
:func:`normtheory.montecarlo.simulate_mlp`: deep linear MLPs ``X_l = N(X_{l−1} W_lᵀ)``,
``W_l`` i.i.d. ``N(0, 1/d)``, ``X_0`` i.i.d. ``N(0, 1)``, LayerNorm
``(y − mean)/sqrt(var + eps)`` over each sample's ``d`` features (biased variance,
``eps = 1e-5``), all networks at once in numpy, ``srank − 1 = Σ_{i≥2} s_i²/s_1²`` from the
singular values. Its setting (width 8, batch 8 and 2/32) is not on the verify grid (widths
16-64, batch 16 and 32).
"""

import numpy as np
import pytest
import sympy as sp

from normtheory import bounds
from normtheory.bounds import COLLAPSE_DECAY, TRANSIENT_MARGIN, collapse_window, rank

EPS = 1e-5
WIDTH = 8
TRIALS = 1000


def log_excess(norm, *, width, batch, depth, trials, seed):
    """``log(srank(X_l) − 1)`` for ``l = 0..depth``, shape ``(trials, depth + 1)``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((trials, batch, width))
    out = np.empty((trials, depth + 1))
    for layer in range(depth + 1):
        if layer:
            x = x @ (rng.standard_normal((trials, width, width)) / np.sqrt(width)).transpose(0, 2, 1)
            if norm == "layernorm":
                x = x - x.mean(axis=2, keepdims=True)
                x = x / np.sqrt(x.var(axis=2, keepdims=True) + EPS)
            else:  # a global rescaling (stable rank is scale-free) keeps plain nets in range
                x = x / np.linalg.norm(x, axis=(1, 2), keepdims=True)
        s = np.linalg.svd(x, compute_uv=False)
        out[:, layer] = np.log(np.sum((s[:, 1:] / s[:, :1]) ** 2, axis=1))
    assert np.all(np.isfinite(out))
    return out


def slope(values, first, last):
    """Mean and standard error over trials of the least-squares slope over ``first..last``."""
    layers = np.arange(first, last + 1)
    xc = layers - layers.mean()
    y = values[:, layers]
    per_trial = (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    return per_trial.mean(), per_trial.std(ddof=1) / np.sqrt(len(per_trial))


# --- the form ------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [3, 8, 16, 63, 64, 65, 200])
def test_layernorm_rate_is_the_unnormalized_rate_one_dimension_down(width):
    assert bounds.rank_collapse_rate("layernorm", width=width) == bounds.rank_collapse_rate("plain", width=width - 1)
    assert rank.collapse_dimension("layernorm", width=width) == width - 1
    assert rank.collapse_dimension("plain", width=width) == width


@pytest.mark.parametrize("width", [3, 8, 16, 40])
def test_layernorm_rate_is_the_digamma_difference_at_d_minus_1(width):
    exact = sp.digamma(sp.Rational(width - 1, 2)) - sp.digamma(sp.Rational(width - 2, 2))
    assert bounds.rank_collapse_rate("layernorm", width=width) == pytest.approx(float(exact), rel=1e-13)
    assert float(exact) > bounds.rank_collapse_rate("plain", width=width)  # centring speeds the collapse


def test_layernorm_rate_tends_to_the_unnormalized_rate_as_one_over_d_squared():
    """Derived from the series: ``ρ(d − 1) − ρ(d) = u² + O(u³)`` in ``u = 1/d``, so the two
    forms share the infinite-width limit ``1/d`` and differ by a relative ``1/d``."""
    d, series = bounds.lyapunov_gap_series_expr()
    u = sp.symbols("u", positive=True)
    diff = sp.series((series.subs(d, d - 1) - series).subs(d, 1 / u), u, 0, 3).removeO()
    assert sp.simplify(diff - u ** 2) == 0
    for width in (10 ** 3, 10 ** 4, 10 ** 5):
        gap = bounds.rank_collapse_rate("layernorm", width=width) - bounds.rank_collapse_rate("plain", width=width)
        assert gap * width ** 2 == pytest.approx(1.0, rel=5.0 / width)
        assert bounds.rank_collapse_rate("layernorm", width=width) * width == pytest.approx(1.0, rel=3.0 / width)


@pytest.mark.parametrize("norm,width", [("batchnorm", 16), ("groupnorm", 16), ("layernorm", 2),
                                        ("plain", 1), ("nonsense", 16)])
def test_bad_input_is_refused_naming_the_parameter(norm, width):
    with pytest.raises(ValueError, match="norm|width"):
        bounds.rank_collapse_rate(norm, width=width)


# --- the fit window ------------------------------------------------------------------------

@pytest.mark.parametrize("norm,width,batch", [("layernorm", 16, 32), ("plain", 64, 32), ("layernorm", 8, 2)])
def test_window_starts_where_the_predicted_chance_of_a_sample_off_the_top_is_small(norm, width, batch):
    rate = bounds.rank_collapse_rate(norm, width=width)
    first, depth = collapse_window(norm, width=width, batch=batch)
    chance = lambda layer: 2 * batch / np.pi * np.exp(-rate * layer / 2)  # noqa: E731
    assert chance(first) <= np.exp(-TRANSIENT_MARGIN) < chance(first - 1)
    assert COLLAPSE_DECAY <= rate * (depth - first) < COLLAPSE_DECAY + rate
    assert collapse_window(norm, width=width, batch=4 * batch)[0] > first  # a larger batch waits longer


# --- against the independent simulation ------------------------------------------------------

def test_layernorm_collapse_rate_matches_simulation_and_the_old_form_does_not():
    """LN at width 8, batch 8, slope over R3's window: the form at ``n = d − 1`` (0.1804)
    within 3 standard errors, the ``n = d`` form (0.1530, 15% slower) beyond 3."""
    first, depth = collapse_window("layernorm", width=WIDTH, batch=8)
    mean, se = slope(log_excess("layernorm", width=WIDTH, batch=8, depth=depth, trials=TRIALS, seed=1),
                     first, depth)
    new, old = bounds.rank_collapse_rate("layernorm", width=WIDTH), bounds.rank_collapse_rate("plain", width=WIDTH)
    assert se < 0.03 * new
    assert abs(mean + new) < 3 * se
    assert -mean - old > 3 * se


def test_unnormalized_collapse_rate_matches_simulation_and_the_layernorm_form_does_not():
    first, depth = collapse_window("plain", width=WIDTH, batch=8)
    mean, se = slope(log_excess("plain", width=WIDTH, batch=8, depth=depth, trials=TRIALS, seed=2),
                     first, depth)
    assert abs(mean + bounds.rank_collapse_rate("plain", width=WIDTH)) < 3 * se
    assert bounds.rank_collapse_rate("layernorm", width=WIDTH) + mean > 3 * se


def test_layernorm_transient_grows_with_the_batch_and_the_window_passes_it():
    """The reason for R3's window: fitted over the second half of a net of predicted decay
    ``e^{−8}`` (R3 version 2), the LN slope at batch 32 falls well short of the rate (the
    per-sample scales' transient: a sample whose row still lies along the second singular
    direction), at batch 2 it does not; over R3's window batch 32 gives the rate."""
    rate = bounds.rank_collapse_rate("layernorm", width=WIDTH)
    depth = int(np.ceil(COLLAPSE_DECAY / rate))
    small, se_small = slope(log_excess("layernorm", width=WIDTH, batch=2, depth=depth, trials=TRIALS,
                                       seed=3), depth // 2, depth)
    large, se_large = slope(log_excess("layernorm", width=WIDTH, batch=32, depth=depth, trials=TRIALS,
                                       seed=4), depth // 2, depth)
    assert abs(small + rate) < 3 * se_small
    assert large + rate > 3 * se_large  # slower than the rate
    first, last = collapse_window("layernorm", width=WIDTH, batch=32)
    windowed, se = slope(log_excess("layernorm", width=WIDTH, batch=32, depth=last, trials=TRIALS, seed=5),
                         first, last)
    assert abs(windowed + rate) < 3 * se
