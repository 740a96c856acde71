"""Parametric normalizers (Weight Norm, Scaled Weight Standardization), the paired
nonlinearities, Kaiming initialisation, and the factory's names and families."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from normtheory import normalizers as N

F64 = torch.float64
FAST = settings(max_examples=20, deadline=None, derandomize=True)


def sample(shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def layers(name, cin, cout, k, seed):
    torch.manual_seed(seed)
    return N.make_conv(name, cin, cout, k).double(), N.make_linear(name, cin, cout).double()


@FAST
@given(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 3]), st.floats(1e-3, 1e3), st.integers(0, 1000))
@pytest.mark.parametrize("name", N.PARAMETRIC_NAMES)
def test_outputs_are_invariant_to_rescaling_the_raw_weight(name, cin, cout, k, factor, seed):
    conv, lin = layers(name, cin, cout, k, seed)
    x, z = sample((2, cin, 5, 5), seed), sample((3, cin), seed)
    before = conv(x), lin(z)
    with torch.no_grad():
        conv.weight.mul_(factor)
        lin.weight.mul_(factor)
    assert torch.allclose(conv(x), before[0], atol=1e-10, rtol=1e-10)
    assert torch.allclose(lin(z), before[1], atol=1e-10, rtol=1e-10)


@FAST
@given(st.integers(2, 6), st.integers(1, 6), st.sampled_from([1, 3]), st.integers(0, 1000))
@pytest.mark.parametrize("name", N.PARAMETRIC_NAMES)
def test_effective_weights_have_unit_norm_per_output_unit_at_init(name, cin, cout, k, seed):
    for layer in layers(name, cin, cout, k, seed):
        rows = layer.effective_weight().flatten(1)
        assert rows.shape[0] == cout
        assert torch.allclose(rows.norm(dim=1), torch.ones(cout, dtype=F64), atol=1e-8, rtol=0)
        if name == "sws":
            assert torch.allclose(rows.mean(dim=1), torch.zeros(cout, dtype=F64), atol=1e-12)


@FAST
@given(st.integers(2, 6), st.integers(1, 6), st.floats(-5, 5), st.integers(0, 1000))
def test_sws_is_the_settings_formula_and_ignores_a_shift_of_the_raw_weight(cin, cout, shift, seed):
    conv, lin = layers("sws", cin, cout, 3, seed)
    for layer in (conv, lin):
        w = layer.weight.detach().flatten(1)
        fan_in = w.shape[1]
        expected = (w - w.mean(dim=1, keepdim=True)) / (w.std(dim=1, unbiased=False, keepdim=True) * math.sqrt(fan_in))
        assert torch.allclose(layer.effective_weight().flatten(1), expected, atol=1e-8, rtol=0)
        before = layer.effective_weight()
        with torch.no_grad():
            layer.weight.add_(shift)
        assert torch.allclose(layer.effective_weight(), before, atol=1e-8, rtol=0)


@pytest.mark.parametrize("name", N.PARAMETRIC_NAMES)
def test_scale_multiplies_each_unit_and_gradients_reach_raw_weight_and_scale(name):
    conv, lin = layers(name, 3, 4, 3, 0)
    for layer in (conv, lin):
        before = layer.effective_weight().detach()
        with torch.no_grad():
            layer.scale.copy_(torch.arange(1.0, 5.0, dtype=F64))
        ratio = layer.effective_weight().flatten(1) / before.flatten(1)
        assert torch.allclose(ratio, torch.arange(1.0, 5.0, dtype=F64)[:, None].expand_as(ratio), atol=1e-12)
        layer(sample((2, 3, 4, 4)) if layer is conv else sample((2, 3))).sum().backward()
        assert layer.weight.grad.abs().sum() > 0 and layer.scale.grad.abs().sum() > 0


def test_paired_relus_have_the_stated_moments_exactly():
    """Moments under N(0, 1) by quadrature (deterministic), not sampling."""
    def moments(phi):
        f = lambda z: float(phi(torch.tensor(z, dtype=F64)))  # noqa: E731
        m1 = integrate.quad(lambda z: f(z) * stats.norm.pdf(z), -40, 40, points=[0])[0]
        m2 = integrate.quad(lambda z: f(z) ** 2 * stats.norm.pdf(z), -40, 40, points=[0])[0]
        return m1, m2 - m1 ** 2

    mean, var = moments(N.CorrectedReLU())
    assert abs(mean) < 1e-10 and abs(var - 1) < 1e-10
    _, var = moments(N.ScaledReLU())
    assert abs(var - 1) < 1e-10
    assert math.isclose(N.RELU_GAIN, math.sqrt(2 * math.pi / (math.pi - 1)), rel_tol=1e-15)


@pytest.mark.parametrize("gain", [1.0, math.sqrt(2), 3.0])
def test_plain_layers_are_kaiming_normal_fan_in(gain):
    torch.manual_seed(0)
    conv = N.make_conv("plain", 64, 128, 3, gain=gain, bias=True)
    lin = N.make_linear("batchnorm", 512, 512, gain=gain, bias=True)
    for layer, fan_in in ((conv, 64 * 9), (lin, 512)):
        w = layer.weight.detach().double().flatten()
        # std within 7 standard errors (1 / sqrt(2 N) relative) of gain / sqrt(fan_in)
        assert abs(w.std().item() / (gain / math.sqrt(fan_in)) - 1) < 7 / math.sqrt(2 * w.numel())
        assert abs(w.mean().item()) < 7 * gain / math.sqrt(fan_in * w.numel())
        assert torch.all(layer.bias == 0)


def test_make_conv_pads_to_same_size_and_forwards_stride():
    x = sample((2, 3, 8, 8)).float()
    for name in N.NAMES:
        assert N.make_conv(name, 3, 5, 3)(x).shape == (2, 5, 8, 8)
        assert N.make_conv(name, 3, 5, 3, stride=2)(x).shape == (2, 5, 4, 4)
        assert N.make_conv(name, 3, 5, 1, padding=0, bias=True)(x).shape == (2, 5, 8, 8)
    assert isinstance(N.make_conv("weightnorm", 3, 5, 3), N.WNConv2d)
    assert isinstance(N.make_linear("sws", 3, 5), N.SWSLinear)
    assert type(N.make_linear("groupnorm", 3, 5)) is torch.nn.Linear


def test_names_families_and_pairings_follow_the_settings_tables():
    assert N.NAMES == ("batchnorm", "layernorm", "instancenorm", "groupnorm", "frn", "variancenorm",
                       "evonorm_b0", "evonorm_s0", "weightnorm", "sws", "plain")
    assert N.ACTIVATION_NAMES == N.NAMES[:8] and N.PARAMETRIC_NAMES == ("weightnorm", "sws")
    assert [N.family(n) for n in N.NAMES] == ["activation"] * 8 + ["parametric"] * 2 + ["none"]
    phi = {n: type(N.make_activation(n, 4)) for n in N.NAMES}
    assert {n for n, t in phi.items() if t is torch.nn.ReLU} == {
        "batchnorm", "layernorm", "instancenorm", "groupnorm", "variancenorm", "plain"}
    assert {n for n, t in phi.items() if t is torch.nn.Identity} == {"frn", "evonorm_b0", "evonorm_s0"}
    assert phi["weightnorm"] is N.CorrectedReLU and phi["sws"] is N.ScaledReLU


@pytest.mark.parametrize("name", N.NAMES)
def test_every_name_builds_a_module_that_knows_its_family_and_runs_on_2d_and_4d(name):
    module = N.make(name, 4, **({"group_size": 2} if name in N.GROUPED_NAMES else {}))
    assert module.family == N.family(name)
    assert isinstance(module.stat_axes, tuple) and set(module.stat_axes) <= set("BCHW")
    for shape in [(3, 4), (3, 4, 2, 2)]:
        x = sample(shape).float()
        y = module(x)
        assert y.shape == shape and torch.isfinite(y).all()
        if N.family(name) != "activation":
            assert isinstance(module, torch.nn.Identity) and module.stat_axes == () and y is x
