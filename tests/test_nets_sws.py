"""Scaled Weight Standardization in the networks, against the paper's code's layout.

The paper's code puts the ReLU gain ``sqrt(2π/(π−1))`` inside every SWS conv (its
``ScaledStdConv2d``) and pairs SWS with a plain ReLU. A post-activation residual block is
then ``relu(conv2(relu(conv1(x))) + shortcut(x))`` with gained convs: nothing multiplies
the shortcut. (The layout before this test file had the gain in a scaled ReLU after the
addition, which multiplied the shortcut by the gain in every block: a SkipInit block was
``1.71·x``, not ``x``, and the first stage's increment ratio was 279 instead of about 16.)
The expected values are computed here from the formulas, not from normtheory.nets.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from normtheory import nets
from normtheory.bounds import growth_rate
from normtheory.montecarlo import simulate_net
from normtheory.nets.blocks import GainedSWSConv2d

GAIN = math.sqrt(2 * math.pi / (math.pi - 1))  # 1 / std of relu(z), z ~ N(0, 1)


def authors_weight(conv):
    """The paper's code's ScaledStdConv2d weight (eps = 0): gain · gamma · (w − mean) /
    (std · sqrt(fan_in)), biased std, per output filter, in float64."""
    w = conv.weight.detach().double()
    flat = w.flatten(1)
    std, mean = torch.std_mean(flat, dim=1, unbiased=False, keepdim=True)
    ws = (flat - mean) / std / math.sqrt(flat.shape[1])
    return (GAIN * conv.scale.detach().double().view(-1, 1) * ws).view_as(w)


def authors_conv(conv, x):
    return F.conv2d(x, authors_weight(conv), conv.bias.detach().double(), conv.stride, conv.padding)


def randomize_(model, seed=0):
    """Non-trivial per-filter gains and biases, so that the test sees where they act."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, GainedSWSConv2d):
                m.scale.copy_(0.5 + torch.rand(m.scale.shape, generator=g, dtype=m.scale.dtype))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g, dtype=m.bias.dtype))


def test_every_sws_conv_carries_the_relu_gain_and_the_activation_is_a_plain_relu():
    model = nets.build("resnet56", "sws", widths=(8, 16), blocks_per_stage=2, num_classes=3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(isinstance(m, GainedSWSConv2d) for m in convs)
    acts = [b.act for b in model.blocks] + [model.stem.act]
    assert all(type(a) is torch.nn.ReLU for a in acts)


@pytest.mark.parametrize("preact", [False, True])
def test_sws_resnet_blocks_are_the_papers_formula(preact):
    torch.manual_seed(0)
    model = nets.build("resnet56_pre" if preact else "resnet56", "sws", widths=(8, 16), blocks_per_stage=2,
                       num_classes=3).double()
    randomize_(model)
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    h = torch.relu(authors_conv(model.stem.conv, x))
    torch.testing.assert_close(model.stem(x), h, rtol=1e-10, atol=1e-12)
    for block in model.blocks:
        if preact:
            out = authors_conv(block.conv2, torch.relu(authors_conv(block.conv1, torch.relu(h))))
            short = h if isinstance(block.shortcut, torch.nn.Identity) else authors_conv(block.shortcut[1], h)
            expected = out + short
        else:
            out = authors_conv(block.conv2, torch.relu(authors_conv(block.c1.conv, h)))
            short = h if isinstance(block.shortcut, torch.nn.Identity) else authors_conv(block.shortcut[0], h)
            expected = torch.relu(out + short)
        torch.testing.assert_close(block(h), expected, rtol=1e-10, atol=1e-12)
        h = expected


def test_sws_vgg_layer_is_the_papers_formula():
    torch.manual_seed(1)
    model = nets.build("vgg10", "sws", widths=(8, 16), num_classes=3).double()
    randomize_(model, seed=1)
    h = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    for layer in model.features:
        expected = torch.relu(authors_conv(layer.conv, h))
        torch.testing.assert_close(layer(h), expected, rtol=1e-10, atol=1e-12)
        h = expected


def test_skipinit_post_activation_sws_blocks_are_the_identity_at_init():
    """With the branch gain at 0 a post-activation block is relu(shortcut(x)) = x on the
    nonnegative output of the stem or a block: the shortcut is not rescaled."""
    torch.manual_seed(2)
    model = nets.build("resnet56", "sws", skipinit=True, widths=(16,), blocks_per_stage=4, num_classes=3)
    h = model.stem(torch.randn(4, 3, 8, 8))
    assert (h >= 0).all() and h.abs().sum() > 0
    for block in model.blocks:
        torch.testing.assert_close(block(h), h, rtol=0, atol=0)


def test_gained_sws_conv_preserves_the_variance_of_a_relu_input():
    """Conv of relu(z), z ~ N(0, v) i.i.d.: each filter is centred (Σw = 0, so the ReLU's
    mean cancels) with Σw² = gain², so the output variance is gain²·Var relu(z) = v."""
    torch.manual_seed(3)
    v = 4.0
    conv = GainedSWSConv2d(256, 64, 3, padding=1, bias=True)
    x = torch.relu(math.sqrt(v) * torch.randn(8, 256, 12, 12))
    with torch.no_grad():
        y = conv(x)[:, :, 1:-1, 1:-1]  # interior: no zero padding in the window
    assert y.var().item() / v == pytest.approx(1.0, rel=0.03)
    assert y.mean().abs().item() < 0.05 * math.sqrt(v)


def test_post_activation_sws_first_stage_grows_at_the_parametric_rate():
    """The increment ratio (v9 − v5)/(v5 − v1) over ResNet-56's first stage is near
    growth_rate('sws')⁴ = (1 + 1)⁴ = 16 (measured 18.3, 95% interval 17.3-19.3 at
    image 8, batch 8, 12 networks), not the 257 of a gain on the shortcut."""
    sim = simulate_net("resnet56", "sws", trials=6, seed=0, batch=8, image_size=8, widths=(32,),
                       blocks_per_stage=9, dtype=torch.float32)
    v1, v5, v9 = (sim.variance[:, i].mean() for i in (1, 5, 9))
    predicted = growth_rate("sws", alpha=1.0, nonlinearity="relu") ** 4
    assert predicted == pytest.approx(16.0)
    assert predicted / 2 < (v9 - v5) / (v5 - v1) < predicted * 2
