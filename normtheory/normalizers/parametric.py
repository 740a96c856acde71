"""Parametric normalizers: Weight Normalization and Scaled Weight Standardization.

They normalize the weight, not the activations, so they live inside the conv / linear
layer. Both make every output unit's weight a unit vector at init (gain ``s = 1``), so a
layer preserves the second moment of its input (docs/settings.md):

- Weight Norm (Salimans & Kingma 2016): ``w = s · v / ‖v‖`` per output unit, paired with
  the ReLU corrected to zero mean and unit variance for N(0, 1) input,
  ``sqrt(2π/(π−1)) · (relu(y) − 1/sqrt(2π))`` (Arpit et al. 2016's correction).
- Scaled Weight Standardization (Brock et al. 2021, NF-ResNets):
  ``ŵ = s · (w − mean(w)) / (std(w) · sqrt(fan_in))`` per output unit (biased std), paired
  with ``sqrt(2π/(π−1)) · relu(y)``, the ReLU with unit variance for N(0, 1) input.

The raw weight is Kaiming-normal (fan-in); both outputs are invariant to rescaling it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from normtheory.normalizers._checks import positive_int

#: sqrt(2π/(π−1)): the inverse standard deviation of relu(z) for z ~ N(0, 1).
RELU_GAIN = math.sqrt(2 * math.pi / (math.pi - 1))


class CorrectedReLU(nn.Module):
    """``sqrt(2π/(π−1)) · (relu(y) − 1/sqrt(2π))``: zero mean, unit variance for N(0, 1) input."""

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return RELU_GAIN * (F.relu(y) - 1.0 / math.sqrt(2 * math.pi))


class ScaledReLU(nn.Module):
    """``sqrt(2π/(π−1)) · relu(y)``: unit variance for N(0, 1) input."""

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return RELU_GAIN * F.relu(y)


def _unit_rows_wn(v: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    flat = v.flatten(1)
    return (gain.view(-1, 1) * flat / flat.norm(dim=1, keepdim=True)).view_as(v)


def _unit_rows_sws(w: torch.Tensor, gain: torch.Tensor, eps: float) -> torch.Tensor:
    flat = w.flatten(1)
    var, mean = torch.var_mean(flat, dim=1, unbiased=False, keepdim=True)
    scale = torch.rsqrt(var * flat.shape[1] + eps)
    return (gain.view(-1, 1) * (flat - mean) * scale).view_as(w)


class _ReparamMixin:
    family = "parametric"
    stat_axes = "weight of each output unit"

    def _init_raw(self, gain: float) -> None:
        nn.init.kaiming_normal_(self.weight, a=0, mode="fan_in", nonlinearity="linear")
        with torch.no_grad():
            self.weight.mul_(gain)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self.gain = nn.Parameter(torch.ones(self.weight.shape[0]))


class WNConv2d(_ReparamMixin, nn.Conv2d):
    """Conv2d with Weight Normalization of each output filter."""

    def __init__(self, *args, gain: float = math.sqrt(2), **kwargs):
        super().__init__(*args, **kwargs)
        self._init_raw(gain)

    def effective_weight(self) -> torch.Tensor:
        return _unit_rows_wn(self.weight, self.gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)


class WNLinear(_ReparamMixin, nn.Linear):
    """Linear layer with Weight Normalization of each output unit."""

    def __init__(self, *args, gain: float = math.sqrt(2), **kwargs):
        super().__init__(*args, **kwargs)
        self._init_raw(gain)

    def effective_weight(self) -> torch.Tensor:
        return _unit_rows_wn(self.weight, self.gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)


class SWSConv2d(_ReparamMixin, nn.Conv2d):
    """Conv2d with Scaled Weight Standardization of each output filter."""

    def __init__(self, *args, gain: float = math.sqrt(2), eps: float = 1e-10, **kwargs):
        super().__init__(*args, **kwargs)
        self.eps = eps
        self._init_raw(gain)

    def effective_weight(self) -> torch.Tensor:
        return _unit_rows_sws(self.weight, self.gain, self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)


class SWSLinear(_ReparamMixin, nn.Linear):
    """Linear layer with Scaled Weight Standardization of each output unit."""

    def __init__(self, *args, gain: float = math.sqrt(2), eps: float = 1e-10, **kwargs):
        super().__init__(*args, **kwargs)
        self.eps = eps
        self._init_raw(gain)

    def effective_weight(self) -> torch.Tensor:
        return _unit_rows_sws(self.weight, self.gain, self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)


def check_features(in_features, out_features) -> tuple[int, int]:
    return positive_int(in_features, "in_features"), positive_int(out_features, "out_features")
