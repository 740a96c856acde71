"""EvoNorm-B0 and EvoNorm-S0 (Liu et al. 2020): normalizer and nonlinearity in one layer.

As in docs/settings.md, with ``v = 1`` at init and then the per-channel affine
(gamma = 1, beta = 0 at init):

- B0: ``x / max(sqrt(var_b + eps), v·x + sqrt(var_i + eps))`` with ``var_b`` the biased
  variance over (B, H, W) per channel (the running estimate in eval mode, as BatchNorm's)
  and ``var_i`` the biased variance over (H, W) per sample and channel (zero on an MLP
  input, H = W = 1).
- S0: ``x · sigmoid(v·x) / sqrt(var_g + eps)`` with ``var_g`` the biased variance over
  groups of ``g`` channels and (H, W) per sample, grouped exactly as GroupNorm
  (``group_size`` or ``num_groups``, default ``num_groups = 32``).
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory.normalizers.base import channel_shape
from normtheory.normalizers.batch import BatchStatNorm, batch_dims
from normtheory.normalizers.group import GroupStatNorm


def group_var(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Biased variance per sample over groups of ``channels`` channels and (H, W), broadcast
    back to the shape of ``x``."""
    b, c = x.shape[:2]
    var = x.reshape(b, c // channels, -1).var(dim=-1, unbiased=False, keepdim=True)
    return var.expand(-1, -1, x.numel() // (b * c // channels)).reshape(x.shape)


class EvoNormB0(BatchStatNorm):
    """EvoNorm-B0: batch std against instance std plus a learned linear term. Its batch
    statistic spans (B, H, W) per channel (``stat_axes``, n = B·H·W); the instance one
    ``instance_axes`` = (H, W) per sample and channel."""

    instance_axes = ("H", "W")

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1, device=None, dtype=None):
        super().__init__(num_channels, eps=eps, momentum=momentum, device=device, dtype=dtype)
        factory = {"device": device, "dtype": dtype}
        self.v = nn.Parameter(torch.ones(self.num_channels, **factory))
        self.register_buffer("running_var", torch.ones(self.num_channels, **factory))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            var_b = x.var(dim=batch_dims(x), unbiased=False)
            self.update_running("running_var", var_b, self.stat_count(x.shape))
        else:
            var_b = self.running_var.to(x.dtype)
        shape = channel_shape(x)
        denom = torch.maximum(torch.sqrt(var_b.view(shape) + self.eps),
                              self.v.view(shape) * x + torch.sqrt(group_var(x, 1) + self.eps))
        return self.affine(x / denom)


class EvoNormS0(GroupStatNorm):
    """EvoNorm-S0: ``x · sigmoid(v·x)`` divided by the group standard deviation, grouped as
    GroupNorm (n = g·H·W)."""

    def __init__(self, num_channels: int, *, group_size=None, num_groups=None, eps: float = 1e-5,
                 device=None, dtype=None):
        super().__init__(num_channels, group_size=group_size, num_groups=num_groups, eps=eps,
                         device=device, dtype=dtype)
        self.v = nn.Parameter(torch.ones(self.num_channels, device=device, dtype=dtype))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        sig = torch.sigmoid(self.v.view(channel_shape(x)) * x)
        return self.affine(x * sig * torch.rsqrt(group_var(x, self.group_size) + self.eps))
