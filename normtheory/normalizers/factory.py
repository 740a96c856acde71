"""Build any normalizer, conv, linear layer or paired nonlinearity by name.

The names and their families are those of docs/settings.md. Activation-based
normalizers are modules applied after a layer (:func:`make`); parametric ones live in the
weight (:func:`make_conv`, :func:`make_linear`); every name has a paired nonlinearity
(:func:`make_activation`).
"""

from __future__ import annotations

import difflib
import math

from torch import nn

from normtheory.normalizers._checks import positive_int
from normtheory.normalizers.batch import BatchNorm, VarianceNorm
from normtheory.normalizers.evonorm import EvoNormB0, EvoNormS0
from normtheory.normalizers.frn import FilterResponseNorm
from normtheory.normalizers.group import GroupNorm, InstanceNorm, LayerNorm
from normtheory.normalizers.parametric import (
    CorrectedReLU,
    ScaledReLU,
    SWSConv2d,
    SWSLinear,
    WNConv2d,
    WNLinear,
)

_ACTIVATION = {
    "batchnorm": BatchNorm,
    "layernorm": LayerNorm,
    "instancenorm": InstanceNorm,
    "groupnorm": GroupNorm,
    "frn": FilterResponseNorm,
    "variancenorm": VarianceNorm,
    "evonorm_b0": EvoNormB0,
    "evonorm_s0": EvoNormS0,
}
_GROUPED = {"groupnorm", "evonorm_s0"}
ACTIVATION_NAMES = tuple(_ACTIVATION)
PARAMETRIC_NAMES = ("weightnorm", "sws")
NAMES = ACTIVATION_NAMES + PARAMETRIC_NAMES + ("plain",)
#: normalizers whose statistics use the batch (need a batch of at least 2 when training)
BATCH_NAMES = ("batchnorm", "variancenorm", "evonorm_b0")


def check_name(name) -> str:
    """The canonical (lowercase) name, or ``ValueError`` listing the closest names."""
    if not isinstance(name, str):
        raise ValueError(f"norm must be a name (str), one of {', '.join(NAMES)}; got {name!r}")
    key = name.strip().lower().replace("-", "_")
    if key in NAMES:
        return key
    close = difflib.get_close_matches(key, NAMES, n=3, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown normalizer {name!r}.{hint} Known: {', '.join(NAMES)}")


def family(name: str) -> str:
    """'activation', 'parametric' or 'none'."""
    name = check_name(name)
    if name in _ACTIVATION:
        return "activation"
    return "parametric" if name in PARAMETRIC_NAMES else "none"


def make(name: str, num_channels: int, *, group_size=None, num_groups=None, eps: float = 1e-5, **options) -> nn.Module:
    """The normalizer ``name`` for ``num_channels`` channels.

    ``group_size`` / ``num_groups`` apply to groupnorm and evonorm_s0 only. For the
    parametric names and plain the activations are not normalized: ``nn.Identity``.
    """
    name = check_name(name)
    num_channels = positive_int(num_channels, "num_channels")
    if name not in _GROUPED and (group_size is not None or num_groups is not None):
        raise ValueError(f"group_size/num_groups apply to groupnorm and evonorm_s0, not to {name}")
    if name not in _ACTIVATION:
        if options:
            raise ValueError(f"{name} takes no options, got {sorted(options)}")
        return nn.Identity()
    if name in _GROUPED:
        options.update(group_size=group_size, num_groups=num_groups)
    return _ACTIVATION[name](num_channels, eps=eps, **options)


def make_conv(name: str, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
              padding=None, bias: bool = False, gain: float = math.sqrt(2)) -> nn.Module:
    """A Kaiming-normal (fan-in, ``gain``) conv; WN / SWS convs for the parametric names."""
    name = check_name(name)
    positive_int(in_channels, "in_channels")
    positive_int(out_channels, "out_channels")
    kernel_size = positive_int(kernel_size, "kernel_size")
    stride = positive_int(stride, "stride")
    padding = kernel_size // 2 if padding is None else padding
    args = (in_channels, out_channels, kernel_size)
    kw = dict(stride=stride, padding=padding, bias=bias)
    if name == "weightnorm":
        return WNConv2d(*args, gain=gain, **kw)
    if name == "sws":
        return SWSConv2d(*args, gain=gain, **kw)
    conv = nn.Conv2d(*args, **kw)
    _kaiming(conv, gain)
    return conv


def make_linear(name: str, in_features: int, out_features: int, *, bias: bool = False,
                gain: float = math.sqrt(2)) -> nn.Module:
    """A Kaiming-normal (fan-in, ``gain``) linear layer; WN / SWS ones for the parametric names."""
    name = check_name(name)
    positive_int(in_features, "in_features")
    positive_int(out_features, "out_features")
    if name == "weightnorm":
        return WNLinear(in_features, out_features, bias=bias, gain=gain)
    if name == "sws":
        return SWSLinear(in_features, out_features, bias=bias, gain=gain)
    lin = nn.Linear(in_features, out_features, bias=bias)
    _kaiming(lin, gain)
    return lin


def make_activation(name: str, num_channels=None) -> nn.Module:
    """The nonlinearity paired with ``name`` (docs/settings.md)."""
    name = check_name(name)
    if name in ("frn", "evonorm_b0", "evonorm_s0"):
        return nn.Identity()
    if name == "weightnorm":
        return CorrectedReLU()
    if name == "sws":
        return ScaledReLU()
    return nn.ReLU()


def _kaiming(layer: nn.Module, gain: float) -> None:
    nn.init.kaiming_normal_(layer.weight, a=0, mode="fan_in", nonlinearity="linear")
    with __import__("torch").no_grad():
        layer.weight.mul_(gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
