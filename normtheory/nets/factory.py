"""Build any network of normtheory by name: one builder for simulation, figures and training."""

from __future__ import annotations

import difflib

from torch import nn

from normtheory import normalizers as N
from normtheory.nets.blocks import norm_options
from normtheory.nets.mlp import MLP
from normtheory.nets.resnet import ResNet
from normtheory.nets.vgg import VGG

ARCHS = ("vgg10", "vgg20", "vgg40", "resnet56", "resnet56_pre", "mlp")


def check_arch(arch) -> str:
    if isinstance(arch, str) and arch.lower() in ARCHS:
        return arch.lower()
    close = difflib.get_close_matches(str(arch).lower(), ARCHS, n=3, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown arch {arch!r}.{hint} Known: {', '.join(ARCHS)}")


def build(arch: str, norm: str, *, group_size=None, num_groups=None, num_classes: int = 100,
          in_channels: int = 3, skipinit: bool = False, **options) -> nn.Module:
    """Network ``arch`` with normalizer ``norm`` at init (Kaiming fan-in weights).

    ``vgg10/20/40``: the non-residual CNN; ``resnet56`` (post-activation) and
    ``resnet56_pre``, with ``skipinit``; ``mlp``: :class:`normtheory.nets.mlp.MLP`, whose
    ``width``, ``depth``, ``in_features``, ``nonlinearity``, ``residual``, ``alpha`` and
    ``betas`` come in ``options``.
    """
    arch = check_arch(arch)
    norm = N.check_name(norm)
    opts = norm_options(norm, group_size, num_groups)
    if arch == "mlp":
        return MLP(norm, num_classes=num_classes, skipinit=skipinit, group_size=group_size,
                   num_groups=num_groups, **options)
    if skipinit and arch.startswith("vgg"):
        raise ValueError("skipinit applies to residual networks, not to the non-residual vgg CNNs")
    if arch.startswith("vgg"):
        return VGG(norm, int(arch[3:]), num_classes=num_classes, in_channels=in_channels, **opts, **options)
    return ResNet(norm, preact=arch == "resnet56_pre", skipinit=skipinit, num_classes=num_classes,
                  in_channels=in_channels, **opts, **options)
