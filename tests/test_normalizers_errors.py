"""Bad input to the normalizers raises a clear ValueError naming what is wrong."""

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from normtheory import normalizers as N

F64 = torch.float64


def sample(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=F64)


def build(name, c=4, **kw):
    opts = {"group_size": 2} if name in N.GROUPED_NAMES else {}
    return N.make(name, c, dtype=F64, **{**opts, **kw})


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(1, 64), st.integers(1, 64))
@pytest.mark.parametrize("name", N.GROUPED_NAMES)
def test_group_size_or_count_not_dividing_the_channels_is_rejected(name, c, k):
    assume(c % k)
    with pytest.raises(ValueError, match=rf"group_size={k} does not divide num_channels={c}"):
        N.make(name, c, group_size=k)
    with pytest.raises(ValueError, match=rf"num_groups={k} does not divide num_channels={c}"):
        N.make(name, c, num_groups=k)


@pytest.mark.parametrize("name", N.GROUPED_NAMES)
def test_group_options_exactly_one_and_default_32(name):
    with pytest.raises(ValueError, match="exactly one of group_size and num_groups"):
        N.make(name, 8, group_size=2, num_groups=4)
    with pytest.raises(ValueError, match="num_groups.*32.*num_channels=48"):
        N.make(name, 48)
    assert N.make(name, 96).group_size == 3


@pytest.mark.parametrize("name", ["batchnorm", "layernorm", "frn", "plain", "weightnorm"])
def test_group_options_are_refused_where_they_do_not_apply(name):
    with pytest.raises(ValueError, match="group_size/num_groups"):
        N.make(name, 8, group_size=2)


@pytest.mark.parametrize("name", N.BATCH_NAMES)
@pytest.mark.parametrize("shape", [(1, 4), (1, 4, 3, 3)])
def test_batch_of_one_in_training_mode_is_rejected(name, shape):
    module = build(name)
    with pytest.raises(ValueError, match="batch of at least 2 in training mode, got batch size 1"):
        module(sample(*shape))
    module.eval()
    assert torch.isfinite(module(sample(*shape))).all()


@pytest.mark.parametrize("name", sorted(set(N.ACTIVATION_NAMES) - set(N.BATCH_NAMES)))
def test_per_sample_normalizers_accept_a_batch_of_one(name):
    assert build(name)(sample(1, 4, 3, 3)).shape == (1, 4, 3, 3)


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "8", None])
def test_non_positive_or_non_integer_sizes_are_rejected(value):
    checks = [
        ("num_channels", lambda: N.make("layernorm", value)),
        ("group_size", lambda: N.make("groupnorm", 8, group_size=value)),
        ("num_groups", lambda: N.make("evonorm_s0", 8, num_groups=value)),
        ("in_channels", lambda: N.make_conv("plain", value, 4, 3)),
        ("out_channels", lambda: N.make_conv("sws", 4, value, 3)),
        ("kernel_size", lambda: N.make_conv("weightnorm", 4, 4, value)),
        ("stride", lambda: N.make_conv("plain", 4, 4, 3, stride=value)),
        ("in_features", lambda: N.make_linear("sws", value, 4)),
        ("out_features", lambda: N.make_linear("plain", 4, value)),
    ]
    for param, call in checks:
        if value is None and param in ("group_size", "num_groups"):
            continue  # None means "not given" for the group options
        with pytest.raises(ValueError, match=param):
            call()


@pytest.mark.parametrize("eps", [0, -1e-5, math.nan, math.inf, "small"])
@pytest.mark.parametrize("name", N.ACTIVATION_NAMES)
def test_eps_must_be_positive_and_finite(name, eps):
    with pytest.raises(ValueError, match="eps"):
        build(name, eps=eps)


@pytest.mark.parametrize("name", N.BATCH_NAMES)
def test_momentum_must_lie_in_0_1(name):
    for momentum in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="momentum"):
            build(name, momentum=momentum)


def test_other_bad_layer_options():
    with pytest.raises(ValueError, match="padding"):
        N.make_conv("plain", 3, 4, 3, padding=-1)
    for gain in (0, -1.0, math.inf):
        with pytest.raises(ValueError, match="gain"):
            N.make_linear("weightnorm", 3, 4, gain=gain)
        with pytest.raises(ValueError, match="gain"):
            N.make_conv("plain", 3, 4, 3, gain=gain)
    with pytest.raises(ValueError, match="options.*batchnorm"):
        N.make("batchnorm", 4, tlu=False)
    with pytest.raises(ValueError, match="no options"):
        N.make("plain", 4, momentum=0.1)
    with pytest.raises(ValueError, match="num_channels"):
        N.make_activation("plain", num_channels=0)


@pytest.mark.parametrize("typo,suggestion", [
    ("grupnorm", "groupnorm"), ("bacthnorm", "batchnorm"), ("evonorm_s1", "evonorm_s0"),
    ("weight_norm", "weightnorm"), ("LayerNormm", "layernorm"), ("swss", "sws"),
])
def test_unknown_names_suggest_the_closest(typo, suggestion):
    for factory in (lambda n: N.make(n, 4), N.family, N.check_name, N.make_activation,
                    lambda n: N.make_conv(n, 3, 4, 3), lambda n: N.make_linear(n, 3, 4)):
        with pytest.raises(ValueError, match=rf"unknown normalizer .*Did you mean .*'{suggestion}'"):
            factory(typo)


def test_names_are_forgiving_about_case_blanks_and_dashes_only():
    assert N.check_name(" EvoNorm-B0 ") == "evonorm_b0"
    assert N.check_name("BatchNorm") == "batchnorm"
    with pytest.raises(ValueError, match="Known: batchnorm"):
        N.check_name("zzzzzz")
    with pytest.raises(ValueError, match="norm must be a name"):
        N.check_name(3)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", N.ACTIVATION_NAMES)
def test_non_finite_input_is_rejected_in_both_modes(name, bad):
    module = build(name)
    for mode in (True, False):
        module.train(mode)
        for shape in [(3, 4), (3, 4, 2, 2)]:
            x = sample(*shape)
            x.view(-1)[5] = bad
            with pytest.raises(ValueError, match="input x contains non-finite values"):
                module(x)


def test_the_non_finite_check_can_be_switched_off_and_restored():
    ln, x = build("layernorm"), torch.full((2, 4), math.nan, dtype=F64)
    assert N.input_checks_enabled()
    with N.input_checks(False):
        assert not N.input_checks_enabled()
        assert torch.isnan(ln(x)).all()  # off: no check, and NaN in gives NaN out
    assert N.input_checks_enabled()
    try:
        N.input_checks(False)  # also a plain global switch
        assert not N.input_checks_enabled()
        N.set_input_checks(True)
        with pytest.raises(ValueError, match="non-finite"):
            ln(x)
    finally:
        N.set_input_checks(True)


def test_the_non_finite_check_is_skipped_while_compiling():
    gn = build("groupnorm")
    compiled = torch.compile(gn, backend="eager", fullgraph=True)  # fullgraph: no graph break allowed
    x = sample(3, 4, 2, 2)
    assert torch.allclose(compiled(x), gn(x), atol=1e-12)


@pytest.mark.parametrize("name", N.ACTIVATION_NAMES)
def test_malformed_inputs_are_rejected(name):
    module = build(name)
    with pytest.raises(ValueError, match="input x has 5 channels.*num_channels=4"):
        module(sample(3, 5))
    with pytest.raises(ValueError, match=r"shape \(B, C\) or \(B, C, H, W\)"):
        module(sample(3, 4, 2))
    with pytest.raises(ValueError, match="empty"):
        module(torch.zeros(3, 4, 0, 2, dtype=F64))
    with pytest.raises(ValueError, match="floating point"):
        module(torch.ones(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="torch.Tensor"):
        module([[1.0] * 4] * 3)
    with pytest.raises(ValueError, match="shape"):
        module.stat_count((3, 4, 2))


@pytest.mark.parametrize("alias, name", [("bn", "batchnorm"), ("batch_norm", "batchnorm"), ("gn", "groupnorm"),
                                         ("ln", "layernorm"), ("in", "instancenorm")])
def test_aliases_name_the_same_normalizer(alias, name):
    assert N.check_name(alias) == name
    assert type(N.make(alias, 4, group_size=2) if name == "groupnorm" else N.make(alias, 4)) is \
        type(N.make(name, 4, group_size=2) if name == "groupnorm" else N.make(name, 4))
