"""Property: every public closed form of normtheory.bounds, on any arguments, either raises
ValueError or returns a finite number (or +inf where the value genuinely overflows), never
NaN and never another exception. Scope: gradient_growth_per_layer / _total / _form,
stat_count, gradient_growth_from_n, resnet_variance / _nf / _skipinit, expected_std,
growth_rate, norm_second_moment, rank_lower_bound, rank_collapse_rate,
relu_correlation_map / _iterate, top_growth_isotropic, top_growth_per_sample,
variancenorm_gradient_profile, variancenorm_interior_growth."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normtheory import bounds
from normtheory.names import NAMES, VARIANT_NAMES

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
ints = st.one_of(st.integers(-3, 12), st.integers(13, 600), st.sampled_from([0, 1, 2, 3, 4, 10 ** 6]))
maybe_ints = st.one_of(st.none(), ints)
reals = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 3), st.just(0.0))
names = st.one_of(st.sampled_from(NAMES + VARIANT_NAMES), st.just("LayerNorm"), st.just("nope"), st.just(3))
branches = st.sampled_from(["linear", "relu", "tanh"])


def assert_refused_or_finite(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            out = fn(*args, **kwargs)
        except ValueError:
            return
    arr = np.asarray(out, dtype=float)
    assert not np.any(np.isnan(arr)), (fn.__name__, args, kwargs, out)
    assert np.all(np.isfinite(arr) | (arr == np.inf)), (fn.__name__, args, kwargs, out)


@SETTINGS
@given(names, ints, maybe_ints, maybe_ints, ints, branches, st.sampled_from(["interior", "top", "x"]))
def test_gradient_forms(norm, width, group_size, batch, spatial, nonlinearity, position):
    kw = dict(width=width, group_size=group_size, batch=batch, spatial=spatial, nonlinearity=nonlinearity,
              position=position)
    assert_refused_or_finite(bounds.gradient_growth_per_layer, norm, **kw)
    assert_refused_or_finite(bounds.gradient_growth_total, norm, depth=3, **kw)
    assert_refused_or_finite(bounds.stat_count, norm, width=width, group_size=group_size, batch=batch, spatial=spatial)
    try:
        assert bounds.gradient_growth_form(norm, **kw) in bounds.FORM_KINDS
    except ValueError:
        pass


@SETTINGS
@given(names, st.one_of(ints, st.lists(st.integers(0, 2000), min_size=1, max_size=3)), reals, reals,
       branches, maybe_ints, st.one_of(reals, st.just(0.3)), maybe_ints)
def test_forward_forms(norm, depth, alpha, var0, nonlinearity, batch, input_corr, group_size):
    assert_refused_or_finite(bounds.resnet_variance, norm, depth=depth, alpha=alpha, var0=var0,
                             nonlinearity=nonlinearity, batch=batch, input_corr=input_corr, group_size=group_size)
    assert_refused_or_finite(bounds.resnet_variance_nf, norm, depth=depth, alpha=alpha, nonlinearity=nonlinearity,
                             batch=batch)
    assert_refused_or_finite(bounds.resnet_variance_skipinit, norm, depth=depth, batch=batch, nonlinearity=nonlinearity)
    assert_refused_or_finite(bounds.expected_std, norm, depth=depth, alpha=alpha, nonlinearity=nonlinearity)
    assert_refused_or_finite(bounds.growth_rate, norm, alpha=alpha, nonlinearity=nonlinearity)
    assert_refused_or_finite(bounds.norm_second_moment, norm, input_var=var0)


@SETTINGS
@given(names, ints, maybe_ints, maybe_ints, reals, ints)
def test_other_forms(norm, width, group_size, batch, c, n):
    assert_refused_or_finite(bounds.rank_lower_bound, norm, width=width, group_size=group_size, batch=batch)
    assert_refused_or_finite(bounds.rank_collapse_rate, norm, width=width)
    assert_refused_or_finite(bounds.relu_correlation_map, c)
    assert_refused_or_finite(bounds.relu_correlation_iterate, c, depth=n % 50 if isinstance(n, int) and n >= 0 else n)
    assert_refused_or_finite(bounds.gradient_growth_from_n, n)
    assert_refused_or_finite(bounds.gradient_growth_from_n, n, centered=False)
    assert_refused_or_finite(bounds.top_growth_isotropic, norm, batch=n, width=width)
    assert_refused_or_finite(bounds.top_growth_per_sample, n, width=width)
    depth = n % 40 if isinstance(n, int) and n >= 0 else n
    assert_refused_or_finite(bounds.variancenorm_gradient_profile, batch=batch, depth=depth)
    assert_refused_or_finite(bounds.variancenorm_interior_growth, batch=batch, depth=depth)


@pytest.mark.parametrize("fn", [bounds.resnet_variance, bounds.resnet_variance_nf, bounds.expected_std])
def test_an_alpha_whose_square_overflows_is_refused(fn):
    """Found by this module's fuzzing: alpha = 1.34e154 gave NaN (NF) or an OverflowError."""
    with pytest.raises(ValueError, match="alpha"):
        fn("batchnorm", depth=1, alpha=1.3407807929942597e154)
    with pytest.raises(ValueError, match="alpha"):
        bounds.growth_rate("plain", alpha=1e160)


def test_overflow_is_inf_not_nan():
    assert bounds.resnet_variance("plain", depth=[5000], nonlinearity="relu")[0] == math.inf
    assert bounds.resnet_variance("plain", depth=5000) == math.inf
