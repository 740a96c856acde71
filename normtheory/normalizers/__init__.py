"""The paper's eleven normalizers as ``torch.nn.Module``s, and a factory by name.

>>> from normtheory import normalizers
>>> gn = normalizers.make("groupnorm", 64, group_size=8)

Definitions: docs/settings.md. Families: activation-based (batchnorm, layernorm,
instancenorm, groupnorm, frn, variancenorm, evonorm_b0, evonorm_s0), parametric
(weightnorm, sws: see :func:`make_conv`, :func:`make_linear`) and none (plain).
"""

from normtheory.normalizers._checks import input_checks, set_input_checks
from normtheory.normalizers.batch import BatchNorm, VarianceNorm
from normtheory.normalizers.evonorm import EvoNormB0, EvoNormS0
from normtheory.normalizers.factory import (
    ACTIVATION_NAMES,
    BATCH_NAMES,
    NAMES,
    PARAMETRIC_NAMES,
    check_name,
    family,
    make,
    make_activation,
    make_conv,
    make_linear,
)
from normtheory.normalizers.frn import FilterResponseNorm
from normtheory.normalizers.group import GroupNorm, InstanceNorm, LayerNorm
from normtheory.normalizers.parametric import (
    RELU_GAIN,
    CorrectedReLU,
    ScaledReLU,
    SWSConv2d,
    SWSLinear,
    WNConv2d,
    WNLinear,
)

__all__ = [
    "ACTIVATION_NAMES", "BATCH_NAMES", "NAMES", "PARAMETRIC_NAMES", "RELU_GAIN",
    "BatchNorm", "CorrectedReLU", "EvoNormB0", "EvoNormS0", "FilterResponseNorm", "GroupNorm",
    "InstanceNorm", "LayerNorm", "SWSConv2d", "SWSLinear", "ScaledReLU", "VarianceNorm",
    "WNConv2d", "WNLinear", "check_name", "family", "input_checks", "make", "make_activation",
    "make_conv", "make_linear", "set_input_checks",
]
