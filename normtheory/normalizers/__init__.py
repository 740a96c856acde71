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

``variancenorm`` is the paper's code's Variance Normalization (centred batch variance, no
mean subtraction; aliases ``variancenorm_centred``, ``variancenorm_centered``). Beyond the
eleven (:data:`NAMES`), :data:`VARIANT_NAMES` holds ``variancenorm_uncentred`` (the
uncentred second moment of Daneshmand et al. 2020), known to :func:`check_name`, the
theory, the kernels and the networks but iterated over by no grid of the eleven, and
:data:`EXTRA_NAMES` ``meancentering`` (the paper's code's Mean Centering), which
:func:`make` builds and the theory does not know. ``unbiased=True`` on groupnorm / layernorm / instancenorm / evonorm_s0 / evonorm_b0 and
``make_conv(..., weight_centred=True)`` give the paper's code's other variants.
"""

from normtheory.names import (
    ACTIVATION_NAMES,
    BATCH_NAMES,
    EXTRA_BATCH_NAMES,
    EXTRA_NAMES,
    GROUPED_NAMES,
    NAMES,
    PARAMETRIC_NAMES,
    VARIANT_BATCH_NAMES,
    VARIANT_NAMES,
    check_name,
    family,
)
from normtheory.normalizers._checks import input_checks, input_checks_enabled, set_input_checks
from normtheory.normalizers.base import ActivationNorm, Passthrough
from normtheory.normalizers.batch import (BatchNorm, BatchStatNorm, MeanCentering, UncentredVarianceNorm,
                                         VarianceNorm)
from normtheory.normalizers.evonorm import EvoNormB0, EvoNormS0
from normtheory.normalizers.factory import make, make_activation, make_conv, make_linear
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
    "CorrectedReLU", "EvoNormB0", "EvoNormS0", "FilterResponseNorm", "GroupNorm",
    "GroupStatNorm", "InstanceNorm", "LayerNorm", "MeanCentering", "Passthrough", "SWSConv2d",
    "SWSLinear", "ScaledReLU", "UncentredVarianceNorm", "VARIANT_BATCH_NAMES", "VARIANT_NAMES",
    "VarianceNorm", "WCConv2d", "WCLinear", "WNConv2d", "WNLinear",
    "check_name", "family", "input_checks", "input_checks_enabled", "make", "make_activation",
    "make_conv", "make_linear", "set_input_checks",
]
