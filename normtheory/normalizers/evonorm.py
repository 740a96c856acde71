"""EvoNorm-B0 and EvoNorm-S0 (Liu et al. 2020): normalizer and nonlinearity in one layer.

B0: ``x / max(sqrt(var_b + eps), v·x + sqrt(var_i + eps))`` with ``var_b`` the biased
variance over (B, H, W) per channel (running average in eval mode) and ``var_i`` over
(H, W) per sample and channel; ``v = 1`` at init.
S0: ``x · sigmoid(v·x) / sqrt(var_g + eps)`` with ``var_g`` over groups of ``g`` channels
and (H, W) per sample, as GroupNorm; ``v = 1`` at init.
Both then apply the per-channel affine (gamma = 1, beta = 0 at init).
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory.normalizers._checks import check_input, positive_int, resolve_group_size
from normtheory.normalizers.batch import check_batch
from normtheory.normalizers.group import channel_affine


def _bshape(x: torch.Tensor) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.dim() - 2)


class EvoNormB0(nn.Module):
    """EvoNorm-B0: batch std against instance std plus a learned linear term."""

    family = "activation"
    stat_axes = "(B, H, W) per channel and (H, W) per sample and channel"

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_channels = positive_int(num_channels, "num_channels")
        if not eps > 0:
            raise ValueError(f"eps must be positive for EvoNorm-B0, got {eps}")
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = nn.Parameter(torch.ones(self.num_channels))
        self.bias = nn.Parameter(torch.zeros(self.num_channels))
        self.v = nn.Parameter(torch.ones(self.num_channels))
        self.register_buffer("running_var", torch.ones(self.num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, "EvoNormB0")
        shape = _bshape(x)
        if self.training:
            check_batch(x, "EvoNormB0")
            dims = (0,) + tuple(range(2, x.dim()))
            var_b = x.var(dim=dims, unbiased=False)
            n = x.numel() // self.num_channels
            with torch.no_grad():
                self.running_var.mul_(1 - self.momentum).add_(
                    var_b.detach().to(self.running_var.dtype) * n / max(n - 1, 1), alpha=self.momentum
                )
        else:
            var_b = self.running_var.to(x.dtype)
        if x.dim() > 2:
            var_i = x.flatten(2).var(dim=-1, unbiased=False).view(x.shape[0], -1, *([1] * (x.dim() - 2)))
        else:
            var_i = torch.zeros_like(x)
        denom = torch.maximum(torch.sqrt(var_b.view(shape) + self.eps), self.v.view(shape) * x + torch.sqrt(var_i + self.eps))
        return channel_affine(x / denom, self.weight, self.bias)


class EvoNormS0(nn.Module):
    """EvoNorm-S0: ``x · sigmoid(v·x)`` divided by the group standard deviation."""

    family = "activation"

    def __init__(self, num_channels: int, *, group_size=None, num_groups=None, eps: float = 1e-5):
        super().__init__()
        self.num_channels = positive_int(num_channels, "num_channels")
        self.group_size = resolve_group_size(self.num_channels, group_size, num_groups)
        if not eps > 0:
            raise ValueError(f"eps must be positive for EvoNorm-S0, got {eps}")
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(self.num_channels))
        self.bias = nn.Parameter(torch.zeros(self.num_channels))
        self.v = nn.Parameter(torch.ones(self.num_channels))

    @property
    def stat_axes(self) -> str:
        return f"(group of {self.group_size} channels, H, W) per sample"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, "EvoNormS0")
        b, c = x.shape[:2]
        var = x.reshape(b, c // self.group_size, -1).var(dim=-1, unbiased=False, keepdim=True)
        inv_std = torch.rsqrt(var + self.eps).expand(-1, -1, self.group_size * (x.numel() // (b * c)))
        y = x * torch.sigmoid(self.v.view(_bshape(x)) * x) * inv_std.reshape(x.shape)
        return channel_affine(y, self.weight, self.bias)
