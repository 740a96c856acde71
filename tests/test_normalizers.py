"""Conformance of the normalizers with torch.nn and with their definitions (docs/settings.md)."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from normtheory import normalizers as N

torch.set_default_dtype(torch.float64)
SHAPES = st.tuples(st.integers(2, 5), st.sampled_from([2, 4, 6, 8]), st.integers(1, 4), st.integers(1, 4))


def _x(shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 3 + 1


@settings(max_examples=25, deadline=None)
@given(SHAPES)
def test_batch_layer_instance_group_match_torch(shape):
    b, c, h, w = shape
    x = _x(shape)
    assert torch.allclose(N.make("batchnorm", c)(x), F.batch_norm(x, None, None, training=True, eps=1e-5), atol=1e-5)
    assert torch.allclose(N.make("layernorm", c)(x), F.layer_norm(x, x.shape[1:], eps=1e-5), atol=1e-5)
    if h * w > 1:
        assert torch.allclose(N.make("instancenorm", c)(x), F.instance_norm(x, eps=1e-5), atol=1e-5)
    for g in (1, 2):
        assert torch.allclose(N.make("groupnorm", c, group_size=g)(x), F.group_norm(x, c // g, eps=1e-5), atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(SHAPES)
def test_groupnorm_ends_are_layernorm_and_instancenorm(shape):
    b, c, h, w = shape
    x = _x(shape, 1)
    assert torch.allclose(N.make("groupnorm", c, num_groups=1)(x), N.make("layernorm", c)(x), atol=1e-12)
    assert torch.allclose(N.make("groupnorm", c, group_size=1)(x), N.make("instancenorm", c)(x), atol=1e-12)


@pytest.mark.parametrize("name,dims", [("batchnorm", (0, 2, 3)), ("layernorm", (1, 2, 3)),
                                       ("instancenorm", (2, 3))])
def test_centred_outputs_have_mean_zero_variance_one_per_statistic(name, dims):
    y = N.make(name, 6)(_x((5, 6, 4, 4)))
    assert torch.allclose(y.mean(dim=dims), torch.zeros(()), atol=1e-10)
    assert torch.allclose(y.var(dim=dims, unbiased=False), torch.ones(()), atol=1e-3)


def test_variancenorm_and_frn_have_unit_second_moment():
    x = _x((5, 6, 4, 4))
    assert torch.allclose(N.make("variancenorm", 6)(x).pow(2).mean(dim=(0, 2, 3)), torch.ones(6), atol=1e-4)
    frn = N.make("frn", 6)
    frn.tau = None
    assert torch.allclose(frn(x).pow(2).mean(dim=(2, 3)), torch.ones(5, 6), atol=1e-4)


# EvoNorm-S0's numerator x·sigmoid(v x) is not scale invariant by design
@pytest.mark.parametrize("name", [n for n in N.ACTIVATION_NAMES if n != "evonorm_s0"])
def test_activation_normalizers_are_scale_invariant(name):
    opts = {"group_size": 2} if name in ("groupnorm", "evonorm_s0") else {}
    layer = N.make(name, 4, eps=0.0 if name not in ("frn", "evonorm_b0", "evonorm_s0") else 1e-12, **opts)
    x = _x((6, 4, 3, 3), 2)
    assert torch.allclose(layer(x), layer(7.5 * x), atol=1e-8)


@pytest.mark.parametrize("name", ["weightnorm", "sws"])
def test_parametric_outputs_invariant_to_rescaling_raw_weight(name):
    conv = N.make_conv(name, 3, 5, 3)
    lin = N.make_linear(name, 7, 4)
    x, z = _x((2, 3, 6, 6)), _x((3, 7))
    before = conv(x), lin(z)
    with torch.no_grad():
        conv.weight.mul_(13.0)
        lin.weight.mul_(0.01)
    assert torch.allclose(conv(x), before[0], atol=1e-10)
    assert torch.allclose(lin(z), before[1], atol=1e-10)
    rows = lin.effective_weight()
    assert torch.allclose(rows.norm(dim=1), torch.ones(4), atol=1e-8)


def test_paired_relus_have_the_stated_moments():
    z = torch.randn(400_000, generator=torch.Generator().manual_seed(3))
    cr, sr = N.CorrectedReLU()(z), N.ScaledReLU()(z)
    assert abs(float(cr.mean())) < 0.01 and abs(float(cr.var()) - 1) < 0.01
    assert abs(float(sr.var()) - 1) < 0.01
    assert math.isclose(N.RELU_GAIN, math.sqrt(2 * math.pi / (math.pi - 1)))


def test_every_name_builds_and_runs_on_2d_and_4d():
    for name in N.NAMES:
        opts = {"group_size": 2} if name in ("groupnorm", "evonorm_s0") else {}
        layer = N.make(name, 4, **opts)
        assert layer(_x((3, 4))).shape == (3, 4)
        assert layer(_x((3, 4, 2, 2))).shape == (3, 4, 2, 2)
        assert N.family(name) in ("activation", "parametric", "none")


def test_bad_input_errors_name_the_parameter():
    with pytest.raises(ValueError, match="group_size"):
        N.make("groupnorm", 6, group_size=4)
    with pytest.raises(ValueError, match="num_groups"):
        N.make("groupnorm", 6, num_groups=4)
    with pytest.raises(ValueError, match="batch"):
        N.make("batchnorm", 4)(_x((1, 4, 3, 3)))
    with pytest.raises(ValueError, match="num_channels"):
        N.make("layernorm", 0)
    with pytest.raises(ValueError, match="groupnorm"):
        N.make("grupnorm", 4)
    with pytest.raises(ValueError, match="non-finite"):
        N.make("layernorm", 4)(torch.full((2, 4), float("nan")))
    with N.input_checks(False):
        N.make("layernorm", 4)(torch.full((2, 4), float("nan")))  # the check can be switched off
    with pytest.raises(ValueError, match="channels"):
        N.make("layernorm", 4)(_x((2, 5)))


def test_eval_mode_uses_running_statistics():
    bn = N.make("batchnorm", 3)
    x = _x((16, 3, 4, 4))
    for _ in range(200):
        bn(x)
    bn.eval()
    single = bn(x[:1])  # a batch of one is fine in eval mode
    assert torch.allclose(single, F.batch_norm(x, None, None, training=True)[:1], atol=0.02)
