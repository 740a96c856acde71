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

``unbiased=True`` (default False) uses the unbiased variance (over ``n − 1``) for S0's
group statistic and for B0's instance statistic ``var_i``, as the paper's code
(EkdeepSLubana/BeyondBatchNorm) does; B0's batch statistic stays biased, as there. S0
with a group of one entry then raises ``ValueError``; B0's ``var_i`` of one entry
(H = W = 1) is 0, as the paper's code sets it (its NaN replaced by zero).
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory.normalizers._checks import check_flag
from normtheory.normalizers.base import channel_shape
from normtheory.normalizers.batch import BatchStatNorm, batch_dims
from normtheory.normalizers.group import GroupStatNorm


def group_var(x: torch.Tensor, channels: int, unbiased: bool = False) -> torch.Tensor:
    """Variance per sample over groups of ``channels`` channels and (H, W), broadcast back to
    the shape of ``x``: biased, or over ``n − 1`` when ``unbiased`` (0 when n = 1)."""
    b, c = x.shape[:2]
    xg = x.reshape(b, c // channels, -1)
    if unbiased and xg.shape[-1] > 1:
        var = xg.var(dim=-1, unbiased=True, keepdim=True)
    else:  # biased; for n = 1 both conventions give 0 here (the unbiased one as the paper's code)
        var = xg.var(dim=-1, unbiased=False, keepdim=True)
    return var.expand(-1, -1, x.numel() // (b * c // channels)).reshape(x.shape)


class EvoNormB0(BatchStatNorm):
    """EvoNorm-B0: batch std against instance std plus a learned linear term. Its batch
    statistic spans (B, H, W) per channel (``stat_axes``, n = B·H·W); the instance one
    ``instance_axes`` = (H, W) per sample and channel; ``unbiased``: ``var_i`` over H·W − 1."""

    instance_axes = ("H", "W")

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1, unbiased: bool = False,
                 device=None, dtype=None):
        super().__init__(num_channels, eps=eps, momentum=momentum, device=device, dtype=dtype)
        self.unbiased = check_flag(unbiased, "unbiased")
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
                              self.v.view(shape) * x + torch.sqrt(group_var(x, 1, self.unbiased) + self.eps))
        return self.affine(x / denom)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", unbiased=True" if self.unbiased else "")


class EvoNormS0(GroupStatNorm):
    """EvoNorm-S0: ``x · sigmoid(v·x)`` divided by the group standard deviation, grouped as
    GroupNorm (n = g·H·W); ``unbiased``: over n − 1 (n = 1 refused)."""

    def __init__(self, num_channels: int, *, group_size=None, num_groups=None, eps: float = 1e-5,
                 unbiased: bool = False, device=None, dtype=None):
        super().__init__(num_channels, group_size=group_size, num_groups=num_groups, eps=eps,
                         unbiased=unbiased, device=device, dtype=dtype)
        self.v = nn.Parameter(torch.ones(self.num_channels, device=device, dtype=dtype))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        sig = torch.sigmoid(self.v.view(channel_shape(x)) * x)
        return self.affine(x * sig * torch.rsqrt(group_var(x, self.group_size, self.unbiased) + self.eps))
