"""Per-sample normalizers: GroupNorm, and its two ends LayerNorm and InstanceNorm.

All three are one computation (docs/settings.md): for each sample, the channels are split
into groups of ``g`` consecutive channels and each group is normalized by the mean and
biased variance of its ``g·H·W`` entries, then a per-channel affine (gamma = 1, beta = 0
at init) is applied. LayerNorm is ``g = C``, InstanceNorm is ``g = 1`` (Wu & He 2018).
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory.normalizers._checks import check_input, positive_int, resolve_group_size


def group_standardize(x: torch.Tensor, group_size: int, eps: float, center: bool = True) -> torch.Tensor:
    """Normalize ``x`` (B, C, ...) over groups of ``group_size`` channels and all spatial axes."""
    b, c = x.shape[:2]
    xg = x.reshape(b, c // group_size, -1)
    if center:
        var, mean = torch.var_mean(xg, dim=-1, unbiased=False, keepdim=True)
        xg = (xg - mean) * torch.rsqrt(var + eps)
    else:
        xg = xg * torch.rsqrt(xg.pow(2).mean(dim=-1, keepdim=True) + eps)
    return xg.reshape(x.shape)


def channel_affine(y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    shape = (1, -1) + (1,) * (y.dim() - 2)
    return y * weight.view(shape) + bias.view(shape)


class GroupNorm(nn.Module):
    """GroupNorm with group size ``g`` (or ``num_groups = C / g``); statistics over (g, H, W)."""

    family = "activation"

    def __init__(self, num_channels: int, *, group_size=None, num_groups=None, eps: float = 1e-5):
        super().__init__()
        self.num_channels = positive_int(num_channels, "num_channels")
        self.group_size = resolve_group_size(self.num_channels, group_size, num_groups)
        if not eps >= 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(self.num_channels))
        self.bias = nn.Parameter(torch.zeros(self.num_channels))

    @property
    def num_groups(self) -> int:
        return self.num_channels // self.group_size

    @property
    def stat_axes(self) -> str:
        return f"(group of {self.group_size} channels, H, W) per sample"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, type(self).__name__)
        return channel_affine(group_standardize(x, self.group_size, self.eps), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, group_size={self.group_size}, eps={self.eps}"


class LayerNorm(GroupNorm):
    """LayerNorm: GroupNorm with one group (g = C); statistics over (C, H, W) per sample."""

    def __init__(self, num_channels: int, *, eps: float = 1e-5):
        super().__init__(num_channels, group_size=positive_int(num_channels, "num_channels"), eps=eps)

    @property
    def stat_axes(self) -> str:
        return "(C, H, W) per sample"


class InstanceNorm(GroupNorm):
    """InstanceNorm: GroupNorm with group size 1; statistics over (H, W) per sample and channel."""

    def __init__(self, num_channels: int, *, eps: float = 1e-5):
        super().__init__(num_channels, group_size=1, eps=eps)

    @property
    def stat_axes(self) -> str:
        return "(H, W) per sample and channel"
