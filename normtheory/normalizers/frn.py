"""Filter Response Normalization with its Thresholded Linear Unit (Singh & Krishnan 2020).

``y = gamma · x / sqrt(mean(x²) + eps) + beta`` with the mean of squares over (H, W) per
sample and channel (no centring), followed by the TLU ``max(y, tau)``; ``tau = 0`` at
init, so at init the TLU is a ReLU. On an MLP input (H = W = 1) each statistic has a
single entry and FRN reduces to ``x / sqrt(x² + eps)``, close to ``sign(x)``.
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory.normalizers._checks import check_input, positive_int
from normtheory.normalizers.group import channel_affine, group_standardize


class FilterResponseNorm(nn.Module):
    """FRN over (H, W) per sample and channel, with a TLU unless ``tlu=False``."""

    family = "activation"
    stat_axes = "(H, W) per sample and channel"

    def __init__(self, num_channels: int, *, eps: float = 1e-5, tlu: bool = True):
        super().__init__()
        self.num_channels = positive_int(num_channels, "num_channels")
        if not eps > 0:
            raise ValueError(f"eps must be positive for FRN (its statistic can be 0), got {eps}")
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(self.num_channels))
        self.bias = nn.Parameter(torch.zeros(self.num_channels))
        self.tau = nn.Parameter(torch.zeros(self.num_channels)) if tlu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.num_channels, "FilterResponseNorm")
        y = channel_affine(group_standardize(x, 1, self.eps, center=False), self.weight, self.bias)
        if self.tau is not None:
            y = torch.maximum(y, self.tau.view((1, -1) + (1,) * (x.dim() - 2)))
        return y

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, tlu={self.tau is not None}"
