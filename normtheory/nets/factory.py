"""Build any network of normtheory by name: one builder for simulation, figures and training."""

from __future__ import annotations

import difflib

from torch import nn

from normtheory.nets.blocks import UserNorm, check_norm, norm_options
from normtheory.nets.mlp import MLP
from normtheory.nets.resnet import ResNet
from normtheory.nets.vgg import CFGS, VGG, layer_plan, uniform_plan, with_widths

ARCHS = ("vgg10", "vgg20", "vgg40", "uniform", "resnet56", "resnet56_pre", "mlp")


def check_arch(arch) -> str:
    if isinstance(arch, str) and arch.lower() in ARCHS:
        return arch.lower()
    close = difflib.get_close_matches(str(arch).lower(), ARCHS, n=3, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown arch {arch!r}.{hint} Known: {', '.join(ARCHS)}")


def _only(arch: str, options: dict, allowed: tuple) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = f"takes {', '.join(allowed)}" if allowed else "takes no further options"
        raise ValueError(f"options {unknown} do not apply to {arch}, which {takes}")


def build(arch: str, norm, *, group_size=None, num_groups=None, grouping=None, num_classes: int = 100,
          in_channels: int = 3, skipinit: bool = False, weight_centred: bool = False, **options) -> nn.Module:
    """Network ``arch`` with normalizer ``norm`` at init (Kaiming fan-in weights).

    ``vgg10/20/40``: the paper's non-residual CNNs (``widths`` keeps the first stages:
    :mod:`normtheory.nets.vgg`); ``uniform``: ``depth`` convs of ``width`` (default 64)
    channels at stride 1; ``resnet56`` (post-activation) and ``resnet56_pre``, with
    ``skipinit``, ``widths`` and ``blocks_per_stage``; ``mlp``:
    :class:`normtheory.nets.mlp.MLP`, whose ``width``, ``depth``, ``in_features``,
    ``nonlinearity``, ``residual``, ``alpha`` and ``betas`` come in ``options``.

    ``norm``: a name :func:`normtheory.normalizers.check_name` accepts, or one of
    :data:`normtheory.normalizers.EXTRA_NAMES` (the paper's code's extra normalizers, e.g.
    ``meancentering``); or, for the CNNs and ResNets, a callable ``num_channels -> nn.Module``
    (a user's normalizer, :class:`normtheory.nets.blocks.UserNorm`: it fills the normalizer
    slot, a ReLU the activation slot, with plain convs; activation-based only, its groups
    its own). ``weight_centred=True``: every conv (every hidden linear layer of
    the MLP) weight-centred, each filter minus its mean, as the paper's code's
    ``WCConv2d``; with an activation normalizer or plain, not with WN / SWS.

    Groups (groupnorm, evonorm_s0), at most one of: ``group_size`` channels per group,
    ``num_groups``, or the paper's ``grouping = p`` (``p`` groups when ``p > 1``, else
    ``ceil(C·p)`` groups for a layer of ``C`` channels).
    """
    arch = check_arch(arch)
    if callable(norm):
        if arch == "mlp":
            raise ValueError("a callable norm applies to the CNNs and ResNets, not to the theory MLP: give the MLP "
                             "a normalizer name")
        norm = UserNorm(norm)
    else:
        norm = check_norm(norm)
    opts = norm_options(norm, group_size, num_groups, grouping)
    if arch == "mlp":
        return MLP(norm, num_classes=num_classes, skipinit=skipinit, group_size=group_size,
                   num_groups=num_groups, grouping=grouping, weight_centred=weight_centred, **options)
    if skipinit and not arch.startswith("resnet"):
        raise ValueError(f"skipinit applies to residual networks, not to the non-residual CNN {arch}")
    if arch == "uniform":
        _only(arch, options, ("depth", "width"))
        if "depth" not in options:
            raise ValueError("the uniform CNN needs depth= (its number of conv layers)")
        plan = uniform_plan(**options)
    elif arch.startswith("vgg"):
        _only(arch, options, ("widths",))
        plan = layer_plan(CFGS[int(arch[3:])])
        if "widths" in options:
            plan = with_widths(plan, options["widths"])
    else:
        _only(arch, options, ("widths", "blocks_per_stage"))
        return ResNet(norm, opts, preact=arch == "resnet56_pre", skipinit=skipinit, num_classes=num_classes,
                      in_channels=in_channels, weight_centred=weight_centred, **options)
    return VGG(norm, plan, opts, num_classes=num_classes, in_channels=in_channels, weight_centred=weight_centred)


#: normalizers whose CNNs (``build``) changed function, same parameter names, since the first release
_LAYOUT_CHANGES = {"sws": 2}


def layout_version(arch: str, norm: str) -> int:
    """The version of the layout of ``arch`` with ``norm`` (``"mlp"``: the theory MLP), saved
    with every training run so that a checkpoint is never resumed into a network that computes
    another function from the same parameters. 1: as first released; sws CNNs 2: the ReLU gain
    ``sqrt(2π/(π−1))`` moved from the activation (which, after a post-activation block's
    addition, also scaled the shortcut) into every SWS conv's weight, as in the authors' code.
    The theory MLP is unchanged."""
    return 1 if arch == "mlp" else _LAYOUT_CHANGES.get(norm, 1)
