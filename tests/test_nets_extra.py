"""nets.build with the normalizers' extra names (normalizers.EXTRA_NAMES, read from the
factory) and with the weight-centred conv of the paper's code (``weight_centred=True``)."""

import pytest
import torch
from torch import nn

from normtheory import nets
from normtheory import normalizers as N
from normtheory.normalizers.parametric import WCConv2d, WCLinear

from helpers import count, meta_build

SMALL = {"vgg10": {"widths": (8, 16)}, "vgg20": {"widths": (8,)},
         "resnet56": {"widths": (8, 16), "blocks_per_stage": 2},
         "resnet56_pre": {"widths": (8, 16), "blocks_per_stage": 2}}


def test_there_are_extra_names_to_test():
    assert N.EXTRA_NAMES and not set(N.EXTRA_NAMES) & set(N.NAMES)


@pytest.mark.parametrize("name", N.EXTRA_NAMES)
@pytest.mark.parametrize("arch", ["vgg10", "resnet56", "resnet56_pre"])
def test_extra_names_build_full_size_with_one_normalizer_per_slot(arch, name):
    """Each normalizer slot holds the extra normalizer (the class normalizers.make gives),
    with its per-channel parameters: the count is that of the BatchNorm net minus BN's
    affine plus the extra's, slot by slot."""
    model, reference = meta_build(arch, name), meta_build(arch, "batchnorm")
    cls = type(N.make(name, 4))
    slots = [m for m in model.modules() if isinstance(m, cls)]
    bn_slots = [m for m in reference.modules() if isinstance(m, type(N.make("batchnorm", 4)))]
    assert len(slots) == len(bn_slots) > 0
    assert count(model) == count(reference) - sum(count(m) for m in bn_slots) + sum(count(m) for m in slots)
    assert [(m.in_channels, m.out_channels, m.stride) for m in model.modules() if isinstance(m, nn.Conv2d)] == \
        [(m.in_channels, m.out_channels, m.stride) for m in reference.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("name", N.EXTRA_NAMES)
@pytest.mark.parametrize("arch", list(SMALL) + ["mlp"])
def test_extra_names_forward_is_finite(arch, name):
    torch.manual_seed(0)
    if arch == "mlp":
        model, x = nets.build("mlp", name, width=16, depth=4, num_classes=5), torch.randn(6, 16)
    else:
        model, x = nets.build(arch, name, num_classes=5, **SMALL[arch]), torch.randn(6, 3, 16, 16)
    y = model(x)
    assert y.shape == (6, 5) and torch.isfinite(y).all()


def test_extra_name_spellings():
    name = N.EXTRA_NAMES[0]
    assert nets.check_norm(name.upper()) == name
    assert nets.check_norm(" BatchNorm ") == "batchnorm"
    with pytest.raises(ValueError, match="unknown normalizer"):
        nets.build("vgg10", "no_such_norm")


@pytest.mark.parametrize("norm", ["batchnorm", "plain", N.EXTRA_NAMES[0]])
@pytest.mark.parametrize("arch", list(SMALL))
def test_weight_centred_nets_centre_every_conv_and_keep_the_parameters(arch, norm):
    torch.manual_seed(1)
    model = nets.build(arch, norm, weight_centred=True, num_classes=5, **SMALL[arch])
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(isinstance(m, WCConv2d) for m in convs)
    for m in convs:
        w = m.effective_weight().flatten(1)
        assert w.mean(dim=1).abs().max() < 1e-6 * w.abs().max()
        assert m.weight.flatten(1).mean(dim=1).abs().max() > 1e-4  # the raw weight is not centred
    torch.manual_seed(1)
    plain_convs = nets.build(arch, norm, num_classes=5, **SMALL[arch])
    assert count(model) == count(plain_convs)
    assert not any(isinstance(m, WCConv2d) for m in plain_convs.modules())
    x = torch.randn(4, 3, 16, 16)
    y, y_uncentred = model(x), plain_convs(x)
    assert torch.isfinite(y).all() and not torch.allclose(y, y_uncentred)


def test_weight_centred_full_size_parameter_count():
    assert count(meta_build("vgg10", "batchnorm", weight_centred=True)) == 9_459_236
    assert count(meta_build("resnet56", "batchnorm", weight_centred=True)) == \
        count(meta_build("resnet56", "batchnorm"))


def test_weight_centred_mlp_centres_its_hidden_layers():
    model = nets.build("mlp", "layernorm", width=16, depth=3, weight_centred=True)
    assert all(isinstance(layer.linear, WCLinear) for layer in model.layers)
    assert torch.isfinite(model(torch.randn(4, 16))).all()


@pytest.mark.parametrize("norm", N.PARAMETRIC_NAMES)
def test_weight_centred_refuses_the_parametric_normalizers(norm):
    with pytest.raises(ValueError, match="weight_centred"):
        nets.build("vgg10", norm, weight_centred=True, widths=(8,))


def test_weight_centred_must_be_a_flag():
    with pytest.raises(ValueError, match="weight_centred"):
        nets.build("vgg10", "batchnorm", weight_centred="yes", widths=(8,))
