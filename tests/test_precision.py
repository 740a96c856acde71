"""Normalizers on float16 / bfloat16 inputs: statistics in float32, output in the input's dtype.

Tolerance: two units in the last place of the output's dtype at the largest output
magnitude (``2 · finfo.eps · max|reference|``). Both sides normalize in float32 and round
once to the low-precision dtype; torch.nn itself differs from its float32 result, cast
back, by one unit in the last place (0.00195 for float16, 0.0156 for bfloat16 at outputs
between 2 and 4).
"""

import pytest
import torch
from torch import nn

from normtheory import normalizers as N

LOW = [(torch.float16, 1e3), (torch.float16, 1e-2), (torch.bfloat16, 1e3), (torch.bfloat16, 1e4),
       (torch.bfloat16, 1e-2)]
SHAPE = (6, 8, 3, 3)


def low_input(dtype, scale, shape=SHAPE, seed=0):
    """N(1, 1) · ``scale`` rounded to ``dtype`` (non-centred, so that centring is exercised)."""
    gen = torch.Generator().manual_seed(seed)
    return ((torch.randn(*shape, generator=gen) + 1) * scale).to(dtype)


def assert_within_two_ulps(out, ref, dtype):
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    tol = 2 * torch.finfo(dtype).eps * float(ref.float().abs().max())
    diff = float((out.float() - ref.float()).abs().max())
    assert diff <= tol, (diff, tol)


TORCH_PAIRS = [
    ("batchnorm", {}, lambda: nn.BatchNorm2d(8)),
    ("layernorm", {}, lambda: nn.LayerNorm(SHAPE[1:])),
    ("instancenorm", {}, lambda: nn.InstanceNorm2d(8)),
    ("groupnorm", {"num_groups": 4}, lambda: nn.GroupNorm(4, 8)),
]


@pytest.mark.parametrize("module_dtype", ["float32", "low"])
@pytest.mark.parametrize("dtype,scale", LOW)
@pytest.mark.parametrize("name,opts,reference", TORCH_PAIRS, ids=[p[0] for p in TORCH_PAIRS])
def test_low_precision_matches_torch_nn(name, opts, reference, dtype, scale, module_dtype):
    x = low_input(dtype, scale)
    ours, ref = N.make(name, 8, **opts), reference()
    if module_dtype == "low":
        ours, ref = ours.to(dtype), ref.to(dtype)
    out, expected = ours(x), ref(x)
    assert float(expected.detach().float().abs().max()) > 1  # torch.nn normalizes (not all zeros)
    assert_within_two_ulps(out.detach(), expected.detach(), dtype)


OTHERS = [("frn", {}), ("variancenorm", {}), ("evonorm_b0", {}), ("evonorm_s0", {"group_size": 2})]


@pytest.mark.parametrize("dtype,scale", LOW)
@pytest.mark.parametrize("name,opts", OTHERS, ids=[o[0] for o in OTHERS])
def test_other_activation_normalizers_match_their_float32_result(name, opts, dtype, scale):
    module = N.make(name, 8, **opts)
    x = low_input(dtype, scale)
    expected = module(x.float()).to(dtype)
    assert float(expected.float().abs().max()) > 0.5
    assert_within_two_ulps(module(x), expected, dtype)
    assert_within_two_ulps(module.to(dtype)(x), expected, dtype)  # parameters 1, 0: exact in any dtype


@pytest.mark.parametrize("name", N.BATCH_NAMES)
@pytest.mark.parametrize("dtype,scale", LOW)
def test_eval_mode_uses_float32_running_statistics(name, dtype, scale):
    module = N.make(name, 8)
    x = low_input(dtype, scale)
    module(x)
    module.eval()
    assert_within_two_ulps(module(x), module(x.float()).to(dtype), dtype)


@pytest.mark.parametrize("dtype,scale", LOW)
@pytest.mark.parametrize("name", N.PARAMETRIC_NAMES)
def test_parametric_layers_match_their_float32_result(name, dtype, scale):
    """The conv itself runs in the low dtype (its weight rounded to it): within 1 % of the
    largest output, which the weight's rounding (relative 2⁻¹¹ / 2⁻⁸ per entry) dominates."""
    torch.manual_seed(0)
    conv = N.make_conv(name, 8, 8, 3)
    x = low_input(dtype, scale, (2, 8, 5, 5))
    expected = conv(x.float())
    out = conv.to(dtype)(x)
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert float((out.float() - expected).abs().max()) <= 1e-2 * float(expected.abs().max())


@pytest.mark.parametrize("name", N.PARAMETRIC_NAMES)
def test_parametric_weight_statistics_do_not_overflow_in_float16(name):
    """A raw weight with entries beyond 256 (as weight norm's ``v`` can grow): ``v²``
    overflows float16, the float32 statistics do not."""
    layer = N.make_linear(name, 64, 4).half()
    with torch.no_grad():
        layer.weight.mul_(1e4)
    w = layer.effective_weight()
    assert w.dtype == torch.float16 and torch.isfinite(w).all()
    assert torch.allclose(w.float().norm(dim=1), torch.ones(4), atol=1e-2)


@pytest.mark.parametrize("eps", [-1, 0, float("nan"), float("inf"), "small"])
def test_eps_must_be_a_finite_positive_number(eps):
    """For every module constructor and for ``simulate_mlp``, refused before any work."""
    from normtheory.montecarlo import simulate_mlp

    for name in N.ACTIVATION_NAMES:
        with pytest.raises(ValueError, match="eps"):
            N.make(name, 8, **({"group_size": 2} if name in N.GROUPED_NAMES else {}), eps=eps)
    with pytest.raises(ValueError, match="eps"):
        simulate_mlp("layernorm", width=8, depth=2, batch=4, trials=1, eps=eps)
