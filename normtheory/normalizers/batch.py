"""Batch-statistics normalizers: BatchNorm and Variance Norm.

BatchNorm (Ioffe & Szegedy 2015): ``(x − mean) / sqrt(var + eps)`` with mean and biased
variance over (B, H, W) per channel. Variance Norm (the BatchNorm ablation without
centring analysed by Daneshmand et al. 2020): ``x / sqrt(mean(x²) + eps)`` over the same
axes. Both keep running statistics (momentum 0.1, as ``torch.nn.BatchNorm2d``) used in eval
mode, so trained networks can be evaluated.
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory.normalizers._checks import check_input, positive_int
from normtheory.normalizers.group import channel_affine


def check_batch(x: torch.Tensor, layer: str) -> None:
    if x.shape[0] < 2:
        raise ValueError(
            f"{layer}: batch statistics need a batch of at least 2 in training mode, got batch size {x.shape[0]}"
        )


def _reduce_dims(x: torch.Tensor) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.dim()))


def _bshape(x: torch.Tensor) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.dim() - 2)


class _BatchStatNorm(nn.Module):
    family = "activation"
    stat_axes = "(B, H, W) per channel"

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_channels = positive_int(num_channels, "num_channels")
        if not eps >= 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = nn.Parameter(torch.ones(self.num_channels))
        self.bias = nn.Parameter(torch.zeros(self.num_channels))

    def _update(self, name: str, value: torch.Tensor) -> None:
        buf = getattr(self, name)
        with torch.no_grad():
            buf.mul_(1 - self.momentum).add_(value.detach().to(buf.dtype), alpha=self.momentum)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm(_BatchStatNorm):
    """BatchNorm; statistics over (B, H, W) per channel."""

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__(num_channels, eps=eps, momentum=momentum)
        self.register_buffer("running_mean", torch.zeros(self.num_channels))
        self.register_buffer("running_var", torch.ones(self.num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, "BatchNorm")
        shape = _bshape(x)
        if self.training:
            check_batch(x, "BatchNorm")
            var, mean = torch.var_mean(x, dim=_reduce_dims(x), unbiased=False)
            n = x.numel() // self.num_channels
            self._update("running_mean", mean)
            self._update("running_var", var * n / max(n - 1, 1))
        else:
            mean, var = self.running_mean.to(x.dtype), self.running_var.to(x.dtype)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return channel_affine(y, self.weight, self.bias)


class VarianceNorm(_BatchStatNorm):
    """Variance Norm: BatchNorm without centring, ``x / sqrt(mean(x²) + eps)`` over (B, H, W)."""

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__(num_channels, eps=eps, momentum=momentum)
        self.register_buffer("running_sq", torch.ones(self.num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, "VarianceNorm")
        shape = _bshape(x)
        if self.training:
            check_batch(x, "VarianceNorm")
            sq = x.pow(2).mean(dim=_reduce_dims(x))
            self._update("running_sq", sq)
        else:
            sq = self.running_sq.to(x.dtype)
        return channel_affine(x * torch.rsqrt(sq.view(shape) + self.eps), self.weight, self.bias)
