"""The networks of normtheory.nets against the layouts of the paper's code (docs/settings.md,
"the layouts of the paper's code"): conv signatures, parameter counts, groups.

The expected layouts are written here from the paper's cfg lists, independently of
normtheory.nets; the expected parameter counts are derived from them (conv weights, the
WN / SWS per-filter gain and bias, the normalizers' per-channel parameters, the head).
Networks are built on the meta device: full size, no memory, no time.
"""

import math

import pytest
import torch
from torch import nn

from normtheory import nets
from normtheory import normalizers as N
from normtheory.nets import authors_num_groups

from helpers import count, meta_build

CFG = {
    "vgg10": [64, (64, 2), 128, (128, 2), 256, (256, 2), 512, (512, 2), 512, 512],
    "vgg20": [64] * 3 + [(64, 2)] + [128] * 3 + [(128, 2)] + [256] * 3 + [(256, 2)] + [256] * 3
    + [(256, 2)] + [512] * 4,
    "vgg40": [64] * 7 + [(64, 2)] + [128] * 7 + [(128, 2)] + [256] * 7 + [(256, 2)] + [512] * 7
    + [(512, 2)] + [512] * 8,
}
ARCHS = ("vgg10", "vgg20", "vgg40", "resnet56", "resnet56_pre")
CLASSES = 100


def vgg_units(cfg, in_channels=3):
    units, cin = [], in_channels
    for c in cfg:
        cout, stride = c if isinstance(c, tuple) else (c, 1)
        units += [("conv", cin, cout, 3, stride), ("norm", cout), ("act", cout)]
        cin = cout
    return units


def resnet_units(preact, widths=(32, 64, 128), blocks=9):
    units = [("conv", 3, widths[0], 3, 1), ("norm", widths[0]), ("act", widths[0])]  # stem
    cin = widths[0]
    for stage, cout in enumerate(widths):
        for i in range(blocks):
            s = 2 if stage > 0 and i == 0 else 1
            down = s != 1 or cin != cout
            if preact:
                units += [("norm", cin), ("act", cin), ("conv", cin, cout, 3, s),
                          ("norm", cout), ("act", cout), ("conv", cout, cout, 3, 1)]
                units += [("norm", cin), ("conv", cin, cout, 3, s)] if down else []
            else:
                units += [("conv", cin, cout, 3, s), ("norm", cout), ("act", cout),
                          ("conv", cout, cout, 3, 1), ("norm", cout)]
                units += [("conv", cin, cout, 3, s), ("norm", cout)] if down else []
                units += [("act", cout)]
            units += [("gain",)]
            cin = cout
    return units


def layout(arch):
    if arch.startswith("vgg"):
        return vgg_units(CFG[arch]), 512
    return resnet_units(arch == "resnet56_pre"), 128


def authors_param_count(units, norm, head_in, skipinit=False):
    """Parameters of the paper's code's network with these units."""
    total = head_in * CLASSES + CLASSES
    for u in units:
        if u[0] == "conv":
            _, cin, cout, k, _s = u
            total += cin * cout * k * k
            if norm in ("weightnorm", "sws"):
                total += 2 * cout  # per-filter gain and the conv bias
        elif u[0] == "norm":  # the normalizer slot (EvoNorms, WN, SWS, plain: empty)
            total += {"batchnorm": 2, "layernorm": 2, "instancenorm": 2, "groupnorm": 2,
                      "variancenorm": 2, "frn": 2}.get(norm, 0) * u[1] + (norm == "frn")  # FRN: learnable eps
        elif u[0] == "act":  # the nonlinearity slot: FRN's TLU, the EvoNorms (gamma, beta, v)
            total += {"frn": 1, "evonorm_b0": 3, "evonorm_s0": 3}.get(norm, 0) * u[1]
        elif u[0] == "gain":
            total += int(skipinit)
    return total


def known_differences(units, norm):
    """Parameters the paper's code has and normtheory lacks: FRN's learnable eps (one per
    FRN; normtheory's FRN has a fixed eps)."""
    return sum(1 for u in units if u[0] == "norm") if norm == "frn" else 0


def conv_signatures(model):
    return [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0])
            for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_vgg10_batchnorm_has_the_papers_parameter_count():
    assert count(meta_build("vgg10", "batchnorm")) == 9_459_236
    units, head_in = layout("vgg10")
    assert authors_param_count(units, "batchnorm", head_in) == 9_459_236


@pytest.mark.parametrize("norm", N.NAMES)
@pytest.mark.parametrize("arch", ARCHS)
def test_conv_layout_and_parameter_count_match_the_papers(arch, norm):
    model = meta_build(arch, norm)
    units, head_in = layout(arch)
    assert conv_signatures(model) == [u[1:] for u in units if u[0] == "conv"]
    assert all(m.padding == (1, 1) and (m.bias is not None) == (norm in N.PARAMETRIC_NAMES)
               for m in model.modules() if isinstance(m, nn.Conv2d))
    assert count(model) == authors_param_count(units, norm, head_in) - known_differences(units, norm)


@pytest.mark.parametrize("arch", ["resnet56", "resnet56_pre"])
def test_skipinit_adds_one_gain_per_block(arch):
    units, head_in = layout(arch)
    assert count(meta_build(arch, "batchnorm", skipinit=True)) == authors_param_count(
        units, "batchnorm", head_in, skipinit=True)


def test_uniform_cnn_and_stage_options():
    assert conv_signatures(meta_build("uniform", "batchnorm", depth=5)) == [(3, 64, 3, 1)] + [(64, 64, 3, 1)] * 4
    assert conv_signatures(meta_build("uniform", "batchnorm", depth=2, width=16)) == [(3, 16, 3, 1), (16, 16, 3, 1)]
    # widths keeps the first stages of a cfg (a stage ends after its stride-2 conv)
    assert conv_signatures(meta_build("vgg20", "batchnorm", widths=(64,))) == \
        [(3, 64, 3, 1), (64, 64, 3, 1), (64, 64, 3, 1), (64, 64, 3, 2)]
    assert conv_signatures(meta_build("vgg10", "batchnorm", widths=(8, 16))) == \
        [(3, 8, 3, 1), (8, 8, 3, 2), (8, 16, 3, 1), (16, 16, 3, 2)]
    # widths=(32,), blocks_per_stage=9: the stem and ResNet-56's first stage alone
    model = meta_build("resnet56", "batchnorm", widths=(32,), blocks_per_stage=9)
    assert conv_signatures(model) == [(3, 32, 3, 1)] + [(32, 32, 3, 1)] * 18
    assert len(model.probe_points()) == 10
    with pytest.raises(ValueError, match="widths"):
        nets.build("vgg10", "batchnorm", widths=(8,) * 6)
    with pytest.raises(ValueError, match="depth"):
        nets.build("uniform", "batchnorm")
    with pytest.raises(ValueError, match="blocks_per_stage"):
        nets.build("vgg10", "batchnorm", blocks_per_stage=3)


def test_authors_group_conversion():
    assert authors_num_groups(64, 16) == 16  # > 1: a number of groups
    assert authors_num_groups(64, 0.5) == 32  # <= 1: ceil(C·p) groups
    assert authors_num_groups(64, 1) == 64
    assert authors_num_groups(48, 1 / 3) == 16
    assert authors_num_groups(10, 0.25) == math.ceil(2.5)
    for bad in (0, -1, 2.5, float("nan"), True, "4"):
        with pytest.raises(ValueError, match="grouping"):
            authors_num_groups(64, bad)


@pytest.mark.parametrize("norm,cls", [("groupnorm", N.GroupNorm), ("evonorm_s0", N.EvoNormS0)])
def test_grouping_gives_each_layer_the_authors_number_of_groups(norm, cls):
    def groups(**kw):
        return [(m.num_channels, m.num_groups) for m in meta_build("vgg10", norm, **kw).modules()
                if isinstance(m, cls)]
    assert groups(grouping=0.5) == [(c, c // 2) for c in (64, 64, 128, 128, 256, 256, 512, 512, 512, 512)]
    assert {g for _c, g in groups(grouping=16)} == {16}
    assert {g for _c, g in groups()} == {32}  # the default: 32 groups
    with pytest.raises(ValueError, match="at most one"):
        nets.build("vgg10", norm, grouping=8, group_size=4)
    with pytest.raises(ValueError, match="grouping"):
        nets.build("vgg10", "batchnorm", grouping=8)


def test_residual_blocks_place_evonorm_and_the_tlu_after_the_addition():
    # post-activation: the EvoNorm follows the addition, the branch and shortcut end unnormalized
    block = meta_build("resnet56", "evonorm_b0").blocks[9]
    assert isinstance(block.act, N.EvoNormB0) and isinstance(block.n2, nn.Identity)
    assert isinstance(block.shortcut[1], nn.Identity)
    # FRN: the normalizer without its TLU on the branch and shortcut, the TLU after the addition
    block = meta_build("resnet56", "frn").blocks[9]
    assert block.n2.tau is None and block.shortcut[1].tau is None and isinstance(block.act, nets.blocks.TLU)
    torch.manual_seed(0)
    block = nets.build("resnet56", "frn", widths=(4, 8), blocks_per_stage=1).blocks[1]
    assert bool((block.shortcut(torch.randn(2, 4, 6, 6)) < 0).any())  # no TLU on the shortcut
    assert bool((block(torch.randn(2, 4, 6, 6)) >= 0).all())  # TLU at tau = 0 after the addition
