"""The paper's eleven normalizers as ``torch.nn.Module``s, and a factory by name.

>>> from normtheory import normalizers
>>> gn = normalizers.make("groupnorm", 64, group_size=8)
>>> gn.family, gn.stat_axes, gn.stat_count((16, 64, 8, 8))
('activation', ('C', 'H', 'W'), 512)

Definitions: docs/settings.md. Families: activation-based (batchnorm, layernorm,
instancenorm, groupnorm, frn, variancenorm, evonorm_b0, evonorm_s0), parametric
(weightnorm, sws: see :func:`make_conv`, :func:`make_linear`) and none (plain). Every
module works on (B, C, H, W) and (B, C) in any floating dtype, raises ``ValueError`` on
bad input, and checks its input for inf/NaN unless :func:`input_checks` is off.

Beyond the eleven (:data:`NAMES`), :data:`EXTRA_NAMES` holds two activation normalizers of
the paper's code that :func:`make` builds but no theory grid iterates over:
``meancentering`` and ``variancenorm_centred`` (the paper's code's Variance Normalization,
centred variance; ``variancenorm`` is the uncentred second moment of Daneshmand et al.).
``unbiased=True`` on groupnorm / layernorm / instancenorm / evonorm_s0 / evonorm_b0 and
``make_conv(..., weight_centred=True)`` give the paper's code's other variants.
"""

from normtheory.normalizers._checks import input_checks, input_checks_enabled, set_input_checks
from normtheory.normalizers.base import ActivationNorm, Passthrough
from normtheory.normalizers.batch import BatchNorm, BatchStatNorm, CentredVarianceNorm, MeanCentering, VarianceNorm
from normtheory.normalizers.evonorm import EvoNormB0, EvoNormS0
from normtheory.normalizers.factory import (
    ACTIVATION_NAMES,
    BATCH_NAMES,
    EXTRA_BATCH_NAMES,
    EXTRA_NAMES,
    GROUPED_NAMES,
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
from normtheory.normalizers.group import GroupNorm, GroupStatNorm, InstanceNorm, LayerNorm
from normtheory.normalizers.parametric import (
    RELU_GAIN,
    RELU_MEAN,
    CorrectedReLU,
    ScaledReLU,
    SWSConv2d,
    SWSLinear,
    WCConv2d,
    WCLinear,
    WNConv2d,
    WNLinear,
)

__all__ = [
    "ACTIVATION_NAMES", "BATCH_NAMES", "EXTRA_BATCH_NAMES", "EXTRA_NAMES", "GROUPED_NAMES", "NAMES",
    "PARAMETRIC_NAMES", "RELU_GAIN", "RELU_MEAN", "ActivationNorm", "BatchNorm", "BatchStatNorm",
    "CentredVarianceNorm", "CorrectedReLU", "EvoNormB0", "EvoNormS0", "FilterResponseNorm", "GroupNorm",
    "GroupStatNorm", "InstanceNorm", "LayerNorm", "MeanCentering", "Passthrough", "SWSConv2d",
    "SWSLinear", "ScaledReLU", "VarianceNorm", "WCConv2d", "WCLinear", "WNConv2d", "WNLinear",
    "check_name", "family", "input_checks", "input_checks_enabled", "make", "make_activation",
    "make_conv", "make_linear", "set_input_checks",
]
