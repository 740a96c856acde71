"""Parametric normalizers: Weight Normalization and Scaled Weight Standardization.

They normalize the weight, not the activations, so they live inside the conv / linear
layer. Both make every output unit's weight a vector of norm ``s`` (``s = 1`` at init,
learnable per output unit: the parameter ``scale``), so at init a layer preserves the
second moment of an isotropic input (docs/settings.md):

- Weight Norm (Salimans & Kingma 2016): ``w = s · v / ‖v‖`` per output unit, paired with
  the ReLU corrected to zero mean and unit variance for N(0, 1) input,
  ``sqrt(2π/(π−1)) · (relu(y) − 1/sqrt(2π))`` (:class:`CorrectedReLU`; Arpit et al. 2016).
- Scaled Weight Standardization (Brock et al. 2021, NF-ResNets):
  ``ŵ = s · (w − mean(w)) / (std(w) · sqrt(fan_in))`` per output unit (biased std), paired
  with ``sqrt(2π/(π−1)) · relu(y)`` (:class:`ScaledReLU`), the ReLU with unit variance for
  N(0, 1) input; the gain ``sqrt(2π/(π−1))`` is :data:`RELU_GAIN`.

The paper's code also has a *weight-centred* conv (``WCConv2d`` there): each output
filter's weight minus its mean, ``w − mean(w)``, no rescaling and no learned scale
(:class:`WCConv2d`, :class:`WCLinear`; ``make_conv(name, ..., weight_centred=True)``). It
is a conv option, combined with an activation normalizer or ``plain``, not a normalizer
name.

The raw weight is Kaiming-normal (fan-in, ``gain``) and both effective weights are
invariant to rescaling it, so ``gain`` only sets the raw weight's scale. As for the
activation normalizers, the per-unit statistics of a float16 / bfloat16 weight are computed
in float32 and the effective weight cast back to the weight's dtype.

Moments used above (derived here): for ``z ~ N(0, 1)``, ``E relu(z) = 1/sqrt(2π)`` and
``E relu(z)² = 1/2``, so ``Var relu(z) = 1/2 − 1/(2π) = (π − 1)/(2π)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from normtheory.normalizers._checks import positive_float
from normtheory.normalizers.base import stat_dtype

#: sqrt(2π/(π−1)): the inverse standard deviation of relu(z) for z ~ N(0, 1).
RELU_GAIN = math.sqrt(2 * math.pi / (math.pi - 1))
#: E relu(z) = 1/sqrt(2π) for z ~ N(0, 1).
RELU_MEAN = 1.0 / math.sqrt(2 * math.pi)


class CorrectedReLU(nn.Module):
    """``sqrt(2π/(π−1)) · (relu(y) − 1/sqrt(2π))``: zero mean, unit variance for N(0, 1) input."""

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return RELU_GAIN * (F.relu(y) - RELU_MEAN)


class ScaledReLU(nn.Module):
    """``sqrt(2π/(π−1)) · relu(y)``: unit variance for N(0, 1) input."""

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return RELU_GAIN * F.relu(y)


def init_layer_(layer: nn.Module, gain: float) -> None:
    """Kaiming normal, fan-in, in place (docs/settings.md): weight ``W ~ N(0, gain² / fan_in)``
    with fan-in the number of entries per output unit; bias (if any) zero."""
    gain = positive_float(gain, "gain")
    with torch.no_grad():
        layer.weight.normal_(0.0, gain / math.sqrt(layer.weight[0].numel()))
        if layer.bias is not None:
            layer.bias.zero_()


def _per_unit_inverse(x: torch.Tensor) -> torch.Tensor:
    """``1 / x`` for a per-unit norm ``x >= 0``, with 0 in place of 1 / 0 so that an
    all-zero (WN) or constant (SWS) raw row gives a zero weight, not 0 / 0. Exactly
    invariant to rescaling the raw weight otherwise (no additive eps)."""
    return 1.0 / x.clamp_min(torch.finfo(x.dtype).tiny)


def weight_norm_rows(v: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``scale · v / ‖v‖`` per output unit (first axis)."""
    flat = v.flatten(1).to(stat_dtype(v.dtype))
    w = scale.view(-1, 1) * flat * _per_unit_inverse(flat.norm(dim=1, keepdim=True))
    return w.to(v.dtype).view_as(v)


def standardize_rows(w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``scale · (w − mean) / (std · sqrt(fan_in))`` per output unit (biased std)."""
    flat = w.flatten(1).to(stat_dtype(w.dtype))
    var, mean = torch.var_mean(flat, dim=1, unbiased=False, keepdim=True)
    ws = scale.view(-1, 1) * (flat - mean) * _per_unit_inverse(torch.sqrt(var * flat.shape[1]))
    return ws.to(w.dtype).view_as(w)


def centre_rows(w: torch.Tensor) -> torch.Tensor:
    """``w − mean(w)`` per output unit (first axis); no rescaling."""
    flat = w.flatten(1).to(stat_dtype(w.dtype))
    return (flat - flat.mean(dim=1, keepdim=True)).to(w.dtype).view_as(w)


class _Reparametrized:
    """Mixin: Kaiming-normal raw weight, zero bias, per-unit ``scale`` (s = 1) and the
    forward pass with :meth:`effective_weight` in place of the raw weight."""

    family = "parametric"
    stat_axes = ("fan_in",)

    def __init__(self, *args, gain: float = math.sqrt(2), **kwargs):
        super().__init__(*args, **kwargs)
        init_layer_(self, gain)
        self.scale = nn.Parameter(torch.ones(self.weight.shape[0], device=self.weight.device,
                                             dtype=self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.effective_weight()
        if isinstance(self, nn.Conv2d):
            return self._conv_forward(x, w, self.bias)
        return F.linear(x, w, self.bias)


class _WeightNormalized(_Reparametrized):
    def effective_weight(self) -> torch.Tensor:
        """``s · v / ‖v‖`` per output unit."""
        return weight_norm_rows(self.weight, self.scale)


class _WeightStandardized(_Reparametrized):
    def effective_weight(self) -> torch.Tensor:
        """``s · (w − mean(w)) / (std(w) · sqrt(fan_in))`` per output unit."""
        return standardize_rows(self.weight, self.scale)


class WNConv2d(_WeightNormalized, nn.Conv2d):
    """Conv2d with Weight Normalization of each output filter (unit norm at init);
    arguments as ``nn.Conv2d`` plus the raw weight's Kaiming ``gain``."""


class WNLinear(_WeightNormalized, nn.Linear):
    """Linear layer with Weight Normalization of each output unit (unit norm at init);
    arguments as ``nn.Linear`` plus the raw weight's Kaiming ``gain``."""


class SWSConv2d(_WeightStandardized, nn.Conv2d):
    """Conv2d with Scaled Weight Standardization of each output filter (unit norm at init);
    arguments as ``nn.Conv2d`` plus the raw weight's Kaiming ``gain``."""


class SWSLinear(_WeightStandardized, nn.Linear):
    """Linear layer with Scaled Weight Standardization of each output unit (unit norm at
    init); arguments as ``nn.Linear`` plus the raw weight's Kaiming ``gain``."""


class _WeightCentred:
    """Mixin: Kaiming-normal raw weight, zero bias, and the forward pass with the per-unit
    centred weight ``w − mean(w)`` (no scale parameter, no rescaling)."""

    def __init__(self, *args, gain: float = math.sqrt(2), **kwargs):
        super().__init__(*args, **kwargs)
        init_layer_(self, gain)

    def effective_weight(self) -> torch.Tensor:
        """``w − mean(w)`` per output unit."""
        return centre_rows(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.effective_weight()
        if isinstance(self, nn.Conv2d):
            return self._conv_forward(x, w, self.bias)
        return F.linear(x, w, self.bias)


class WCConv2d(_WeightCentred, nn.Conv2d):
    """Conv2d with each output filter's weight centred (minus its mean, no rescaling), as
    the paper's code's weight-centred conv; arguments as ``nn.Conv2d`` plus the raw
    weight's Kaiming ``gain``."""


class WCLinear(_WeightCentred, nn.Linear):
    """Linear layer with each output unit's weight centred (minus its mean, no rescaling);
    arguments as ``nn.Linear`` plus the raw weight's Kaiming ``gain``."""
