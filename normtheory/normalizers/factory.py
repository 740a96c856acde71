"""Build any normalizer, conv, linear layer or paired nonlinearity by name.

The names and their families are those of docs/settings.md. Activation-based
normalizers are modules applied after a layer (:func:`make`); parametric ones live in the
weight (:func:`make_conv`, :func:`make_linear`); every name has a paired nonlinearity
(:func:`make_activation`).

The names, aliases and families are those of :mod:`normtheory.names` (re-exported by
:mod:`normtheory.normalizers`): :data:`~normtheory.names.NAMES` (the paper's eleven),
:data:`~normtheory.names.VARIANT_NAMES` (``variancenorm_uncentred``) and
:data:`~normtheory.names.EXTRA_NAMES` (``meancentering``, which the theory does not know):
:func:`make`, :func:`make_activation`, :func:`make_conv` and :func:`make_linear` accept all
three. The paper's code's weight-centred conv is the option ``weight_centred=True`` of
:func:`make_conv` / :func:`make_linear`.
"""

from __future__ import annotations

import math

from torch import nn

from normtheory.names import EVONORM_NAMES, GROUPED_NAMES, PARAMETRIC_NAMES, any_name, family
from normtheory.normalizers import parametric
from normtheory.normalizers._checks import check_eps, check_flag, positive_int
from normtheory.normalizers.base import Passthrough
from normtheory.normalizers.batch import BatchNorm, MeanCentering, UncentredVarianceNorm, VarianceNorm
from normtheory.normalizers.evonorm import EvoNormB0, EvoNormS0
from normtheory.normalizers.frn import FilterResponseNorm
from normtheory.normalizers.group import GroupNorm, InstanceNorm, LayerNorm

#: the module of each activation-based name (:data:`ACTIVATION_NAMES` and :data:`VARIANT_NAMES`)
_ACTIVATION = {
    "batchnorm": BatchNorm,
    "layernorm": LayerNorm,
    "instancenorm": InstanceNorm,
    "groupnorm": GroupNorm,
    "frn": FilterResponseNorm,
    "variancenorm": VarianceNorm,
    "evonorm_b0": EvoNormB0,
    "evonorm_s0": EvoNormS0,
    "variancenorm_uncentred": UncentredVarianceNorm,
}
#: the module of each name of :data:`EXTRA_NAMES`
_EXTRA_ACTIVATION = {"meancentering": MeanCentering}
_CONV = {"weightnorm": parametric.WNConv2d, "sws": parametric.SWSConv2d}
_LINEAR = {"weightnorm": parametric.WNLinear, "sws": parametric.SWSLinear}


def make(name: str, num_channels: int, *, group_size=None, num_groups=None, eps: float = 1e-5,
         **options) -> nn.Module:
    """The normalizer ``name`` for ``num_channels`` channels, on (B, C, H, W) and (B, C).

    ``group_size`` / ``num_groups`` apply to groupnorm and evonorm_s0 only (exactly one of
    them; neither: ``num_groups = 32`` when it divides ``num_channels``). ``options`` go to
    the module: ``momentum`` (the batch-statistics names), ``tlu`` (frn), ``unbiased``
    (groupnorm, layernorm, instancenorm, evonorm_s0, evonorm_b0: variance over n − 1 as in
    the paper's code; default False), ``device`` and ``dtype`` (all). ``name`` may also be
    one of :data:`VARIANT_NAMES` or :data:`EXTRA_NAMES` (``variancenorm_uncentred``,
    ``meancentering``). For the parametric names and plain the activations are not
    normalized: a :class:`Passthrough` (an ``nn.Identity``) carrying the family; ``eps``
    is still checked there, as a bad value is a mistake whatever the name.
    """
    name = any_name(name)
    num_channels = positive_int(num_channels, "num_channels")
    eps = check_eps(eps)
    if name not in GROUPED_NAMES and (group_size is not None or num_groups is not None):
        raise ValueError(f"group_size/num_groups apply to {' and '.join(GROUPED_NAMES)}, not to {name}")
    modules = {**_ACTIVATION, **_EXTRA_ACTIVATION}
    if name not in modules:
        unknown = set(options) - {"device", "dtype"}
        if unknown:
            raise ValueError(f"{name} normalizes no activations and takes no options, got {sorted(unknown)}")
        return Passthrough(family(name))
    if name in GROUPED_NAMES:
        options.update(group_size=group_size, num_groups=num_groups)
    try:
        return modules[name](num_channels, eps=eps, **options)
    except TypeError as err:  # an option the module does not take
        raise ValueError(f"options: {name} does not take {sorted(options)}: {err}") from None


def _weight_centred(name: str, weight_centred) -> bool:
    weight_centred = check_flag(weight_centred, "weight_centred")
    if weight_centred and name in PARAMETRIC_NAMES:
        raise ValueError(f"weight_centred applies to the plain conv, not to {name}'s own reparametrised weight")
    return weight_centred


def make_conv(name: str, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
              padding=None, bias: bool = False, gain: float = math.sqrt(2),
              weight_centred: bool = False) -> nn.Module:
    """A square-kernel conv with Kaiming-normal (fan-in, ``gain``) weight and zero bias; the
    WN / SWS convs (unit-norm filters at init) for the parametric names. ``padding``
    defaults to ``kernel_size // 2`` ("same" for odd kernels at stride 1).
    ``weight_centred=True`` (not for the parametric names): the paper's code's
    weight-centred conv, each filter minus its mean (:class:`parametric.WCConv2d`)."""
    name = any_name(name)
    weight_centred = _weight_centred(name, weight_centred)
    in_channels = positive_int(in_channels, "in_channels")
    out_channels = positive_int(out_channels, "out_channels")
    kernel_size = positive_int(kernel_size, "kernel_size")
    stride = positive_int(stride, "stride")
    padding = kernel_size // 2 if padding is None else padding
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    args = (in_channels, out_channels, kernel_size)
    kw = {"stride": stride, "padding": padding, "bias": bool(bias)}
    if name in _CONV:
        return _CONV[name](*args, gain=gain, **kw)
    if weight_centred:
        return parametric.WCConv2d(*args, gain=gain, **kw)
    conv = nn.Conv2d(*args, **kw)
    parametric.init_layer_(conv, gain)
    return conv


def make_linear(name: str, in_features: int, out_features: int, *, bias: bool = False,
                gain: float = math.sqrt(2), weight_centred: bool = False) -> nn.Module:
    """A linear layer with Kaiming-normal (fan-in, ``gain``) weight and zero bias; the WN /
    SWS ones (unit-norm rows at init) for the parametric names; ``weight_centred=True``:
    each row minus its mean (:class:`parametric.WCLinear`)."""
    name = any_name(name)
    weight_centred = _weight_centred(name, weight_centred)
    args = (positive_int(in_features, "in_features"), positive_int(out_features, "out_features"))
    if name in _LINEAR:
        return _LINEAR[name](*args, bias=bool(bias), gain=gain)
    if weight_centred:
        return parametric.WCLinear(*args, bias=bool(bias), gain=gain)
    lin = nn.Linear(*args, bias=bool(bias))
    parametric.init_layer_(lin, gain)
    return lin


def make_activation(name: str, num_channels=None) -> nn.Module:
    """The nonlinearity ``phi`` paired with ``name`` (docs/settings.md): ReLU; identity for
    frn (its TLU is inside the layer) and the EvoNorms (their own nonlinearity); the
    corrected ReLU for weightnorm; the scaled ReLU for sws. ``num_channels`` is accepted
    for a signature uniform with :func:`make` (validated when given); no phi has
    per-channel parameters. The variant and extra names pair with ReLU, as in the paper's code."""
    name = any_name(name)
    if num_channels is not None:
        positive_int(num_channels, "num_channels")
    if name == "frn" or name in EVONORM_NAMES:
        return nn.Identity()
    if name == "weightnorm":
        return parametric.CorrectedReLU()
    if name == "sws":
        return parametric.ScaledReLU()
    return nn.ReLU()

