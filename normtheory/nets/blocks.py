"""The unit every network is made of: layer -> normalizer -> paired nonlinearity."""

from __future__ import annotations

import math

import torch
from torch import nn

from normtheory import normalizers as N


def norm_options(norm: str, group_size=None, num_groups=None) -> dict:
    """Grouping options for the normalizers that take them, rejected for the others."""
    if norm in ("groupnorm", "evonorm_s0"):
        return {"group_size": group_size, "num_groups": num_groups}
    if group_size is not None or num_groups is not None:
        raise ValueError(f"group_size/num_groups apply to groupnorm and evonorm_s0, not to {norm}")
    return {}


class ConvNormAct(nn.Module):
    """``phi(N(conv(x)))``: a 3x3 (or k x k) conv, the normalizer, its paired nonlinearity."""

    def __init__(self, norm: str, cin: int, cout: int, *, kernel_size: int = 3, stride: int = 1,
                 act: bool = True, **norm_opts):
        super().__init__()
        self.conv = N.make_conv(norm, cin, cout, kernel_size, stride=stride)
        self.norm = N.make(norm, cout, **norm_opts)
        self.act = N.make_activation(norm, cout) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class BranchGain(nn.Module):
    """Scalar gain on a residual branch: fixed ``alpha``, or learnable and 0 at init (SkipInit)."""

    def __init__(self, alpha: float = 1.0, skipinit: bool = False):
        super().__init__()
        if skipinit:
            self.alpha = nn.Parameter(torch.zeros(()))
        else:
            if not math.isfinite(alpha):
                raise ValueError(f"alpha must be finite, got {alpha}")
            self.register_buffer("alpha", torch.tensor(float(alpha)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha.to(x.dtype) * x
