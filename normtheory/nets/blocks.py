"""The units every network is made of: conv -> normalizer slot -> activation slot.

Each normalizer fills two slots, as in the paper's code: a *normalizer slot* (applied where
a network normalizes: after a conv, on a residual branch's end, on a shortcut) and an
*activation slot* (where a network applies its nonlinearity: after a layer, after a
residual addition). For most names the first holds the normalizer and the second its
paired nonlinearity (docs/settings.md); FRN puts its TLU in the activation slot; the
EvoNorms are their own nonlinearity and fill the activation slot, leaving the normalizer
slot empty.

SWS is laid out as in the paper's code (its ``ScaledStdConv2d``): every SWS conv carries
the ReLU gain ``sqrt(2π/(π−1))`` in its weight (:class:`GainedSWSConv2d`) and the
activation slot holds a plain ReLU. In a conv -> ReLU chain this is the same function as
the scaled ReLU ``sqrt(2π/(π−1))·relu`` followed by a gain-free SWS conv (the ReLU is
positively homogeneous), but in a post-activation residual block it is not: the scaled
ReLU after the addition multiplies the shortcut by the gain in every block, where the
paper's layout scales only what enters a conv (the branch and a downsampling shortcut).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from normtheory import normalizers as N
from normtheory.names import EVONORM_NAMES, EXTRA_NAMES, GROUPED_NAMES, PARAMETRIC_NAMES, check_name, family
from normtheory.normalizers.base import channel_shape
from normtheory.normalizers.parametric import RELU_GAIN, SWSConv2d


def authors_num_groups(channels: int, grouping) -> int:
    """The number of groups the paper's code gives ``channels`` channels for its
    ``p_grouping``: ``int(p)`` groups when ``p > 1``, else ``ceil(channels · p)`` groups
    (``p`` a fraction of the channels, ``0 < p <= 1``; ``p = 1``: one channel per group)."""
    if isinstance(grouping, bool) or not isinstance(grouping, (int, float)) or not math.isfinite(grouping) \
            or grouping <= 0:
        raise ValueError(f"grouping must be a positive number, got {grouping!r}")
    if grouping > 1:
        if grouping != int(grouping):
            raise ValueError(f"grouping > 1 is a number of groups and must be an integer, got {grouping}")
        return int(grouping)
    return math.ceil(channels * grouping)


def check_norm(norm) -> str:
    """The canonical name of a normalizer the networks take: one that
    :func:`normtheory.normalizers.check_name` accepts (the paper's eleven and the variant
    definitions the theory knows), or one of :data:`normtheory.normalizers.EXTRA_NAMES`
    (normalizers of the paper's code outside the theory, e.g. Mean Centering); else
    ``ValueError`` naming ``norm``."""
    key = norm.strip().lower().replace("-", "_") if isinstance(norm, str) else None
    if key in EXTRA_NAMES:
        return key
    try:
        return check_name(norm)
    except ValueError as err:
        try:
            family(norm)  # the factory takes it: another spelling of an extra name
        except ValueError:
            raise err from None
        raise ValueError(f"norm {norm!r}: give the extra normalizer by its name, one of "
                         f"{', '.join(EXTRA_NAMES)}") from None


class UserNorm:
    """A user's normalizer for the CNNs and ResNets: ``make(num_channels) -> nn.Module``.

    It fills the normalizer slot (``make(C)`` after a conv, at a branch's end, on a
    shortcut); the activation slot holds a ReLU and the convs are plain (no bias), as for
    the named activation-based normalizers (docs/settings.md). Its family is ``make.family``
    when it has that attribute, else ``"activation"``; only activation-based normalizers
    are taken (a parametric one reparametrises the conv and is given by name). Its grouping
    is its own: the ``group_size`` / ``num_groups`` / ``grouping`` options are refused."""

    def __init__(self, make: Callable[[int], nn.Module]):
        self.family = getattr(make, "family", "activation")
        if self.family != "activation":
            raise ValueError(f"a callable norm must be activation-based (family 'activation'), got family "
                             f"{self.family!r}: give parametric normalizers (weightnorm, sws) by name")
        self.make = make
        self.name = getattr(make, "__qualname__", type(make).__qualname__)

    def __call__(self, channels: int) -> nn.Module:
        module = self.make(channels)
        if not isinstance(module, nn.Module):
            raise TypeError(f"norm {self.name}({channels}) must return a torch.nn.Module, got "
                            f"{type(module).__name__}")
        return module

    def __repr__(self) -> str:
        return f"UserNorm({self.name})"


def norm_options(norm, group_size=None, num_groups=None, grouping=None) -> Callable[[int], dict]:
    """The grouping options of ``norm`` as a function of a layer's channel count.

    At most one of ``group_size`` (channels per group), ``num_groups`` and ``grouping``
    (the paper's ``p_grouping``: see :func:`authors_num_groups`); they apply to groupnorm
    and evonorm_s0 only (not to a :class:`UserNorm`). Neither: the normalizer's default (``num_groups = 32``)."""
    given = [k for k, v in (("group_size", group_size), ("num_groups", num_groups), ("grouping", grouping))
             if v is not None]
    if given and isinstance(norm, UserNorm):
        raise ValueError(f"{'/'.join(given)} apply to {' and '.join(GROUPED_NAMES)}, not to the callable norm "
                         f"{norm.name}: it sets its own groups (build it with them)")
    if given and norm not in GROUPED_NAMES:
        raise ValueError(f"{'/'.join(given)} apply to {' and '.join(GROUPED_NAMES)}, not to {norm}")
    if len(given) > 1:
        raise ValueError(f"give at most one of group_size, num_groups and grouping, got {' and '.join(given)}")
    if grouping is not None:
        authors_num_groups(1, grouping)  # validated before any layer is built
        return lambda channels: {"num_groups": authors_num_groups(channels, grouping)}
    fixed = {"group_size": group_size, "num_groups": num_groups} if norm in GROUPED_NAMES else {}
    return lambda channels: fixed


class TLU(nn.Module):
    """FRN's thresholded linear unit ``max(y, tau)`` per channel, ``tau = 0`` at init."""

    def __init__(self, num_channels: int):
        super().__init__()
        self.tau = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, self.tau.to(x.dtype).view(channel_shape(x)))


class GainedSWSConv2d(SWSConv2d):
    """The paper's code's SWS conv: the effective weight of :class:`SWSConv2d`
    (``s · (w − mean) / (std · sqrt(fan_in))`` per output filter) times the ReLU gain
    ``sqrt(2π/(π−1))`` (:data:`normtheory.normalizers.parametric.RELU_GAIN`), so a conv of
    ``relu(z)``, ``z ~ N(0, v)``, has output variance ``v`` at init (the centred filter
    removes the ReLU's mean; Brock et al. 2021, NF-ResNets)."""

    def effective_weight(self) -> torch.Tensor:
        return RELU_GAIN * super().effective_weight()


def norm_slot(norm: str, channels: int, opts: Callable[[int], dict]) -> nn.Module:
    """What ``norm`` puts where a network normalizes (see the module docstring)."""
    if isinstance(norm, UserNorm):
        return norm(channels)
    if norm in EVONORM_NAMES:
        return nn.Identity()
    if norm == "frn":
        return N.make(norm, channels, tlu=False)
    return N.make(norm, channels, **opts(channels))


def act_slot(norm: str, channels: int, opts: Callable[[int], dict]) -> nn.Module:
    """What ``norm`` puts where a network applies its nonlinearity."""
    if isinstance(norm, UserNorm):
        return nn.ReLU()
    if norm in EVONORM_NAMES:
        return N.make(norm, channels, **opts(channels))
    if norm == "frn":
        return TLU(channels)
    if norm == "sws":
        return nn.ReLU()  # the gain is in the conv (GainedSWSConv2d)
    return N.make_activation(norm, channels)


def conv(norm: str, cin: int, cout: int, *, kernel_size: int = 3, stride: int = 1,
         weight_centred: bool = False) -> nn.Module:
    """A k x k conv, padding k // 2, Kaiming fan-in; WN / SWS convs for those names, which
    alone carry a bias (zero at init), as in the paper's code; the SWS conv carries the
    ReLU gain (:class:`GainedSWSConv2d`). ``weight_centred``: the paper's code's
    weight-centred conv (each filter minus its mean; not for WN / SWS, ``ValueError``). A
    :class:`UserNorm`'s convs are the plain ones."""
    if isinstance(norm, UserNorm):
        norm = "plain"
    if norm == "sws" and not weight_centred:
        return GainedSWSConv2d(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, bias=True)
    return N.make_conv(norm, cin, cout, kernel_size, stride=stride, bias=norm in PARAMETRIC_NAMES,
                       weight_centred=weight_centred)


class ConvNormAct(nn.Module):
    """``act(norm(conv(x)))``: a 3x3 conv, the normalizer slot and (unless ``act=False``)
    the activation slot."""

    def __init__(self, norm: str, cin: int, cout: int, opts: Callable[[int], dict], *, stride: int = 1,
                 act: bool = True, weight_centred: bool = False):
        super().__init__()
        self.conv = conv(norm, cin, cout, stride=stride, weight_centred=weight_centred)
        self.norm = norm_slot(norm, cout, opts)
        self.act = act_slot(norm, cout, opts) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class BranchGain(nn.Module):
    """Scalar gain on a residual branch: fixed ``alpha``, or learnable and 0 at init (SkipInit)."""

    def __init__(self, alpha: float = 1.0, skipinit: bool = False):
        super().__init__()
        if skipinit:
            self.alpha = nn.Parameter(torch.zeros(()))
        else:
            if not math.isfinite(alpha):
                raise ValueError(f"alpha must be finite, got {alpha}")
            self.register_buffer("alpha", torch.tensor(float(alpha)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha.to(x.dtype) * x
