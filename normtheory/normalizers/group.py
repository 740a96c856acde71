"""Per-sample normalizers: GroupNorm, and its two ends LayerNorm and InstanceNorm.

All three are one computation (docs/settings.md; Wu & He 2018): for each sample, the
channels are split into groups of ``g`` consecutive channels and each group is normalized
as ``(x − mean) / sqrt(var + eps)`` by the mean and biased variance of its ``n = g·H·W``
entries, then the per-channel affine (gamma = 1, beta = 0 at init) is applied.
LayerNorm is ``g = C``, InstanceNorm is ``g = 1``.

GroupNorm takes exactly one of ``group_size = g`` and ``num_groups = C / g``; with neither,
``num_groups = 32`` (the GroupNorm paper's default) when 32 divides C, else ``ValueError``.

``unbiased=True`` (default False) divides the variance by ``n − 1`` instead of ``n``, as the
paper's code (EkdeepSLubana/BeyondBatchNorm) does for GroupNorm and EvoNorm-S0 (its LN and
IN use the biased variance); a statistic of one entry (``n = 1``) then has no variance and
the layer raises ``ValueError``. The default, biased, is the definition the closed forms and
the numba kernels use.
"""

from __future__ import annotations

import torch

from normtheory.normalizers._checks import check_flag, positive_int, resolve_group_size
from normtheory.normalizers.base import ActivationNorm


def group_standardize(x: torch.Tensor, group_size: int, eps: float, center: bool = True,
                      unbiased: bool = False) -> torch.Tensor:
    """Normalize ``x`` (B, C, ...) per sample over groups of ``group_size`` channels and all
    spatial axes: ``(x − mean) / sqrt(var + eps)``, or ``x / sqrt(mean(x²) + eps)`` when not
    ``center`` (biased statistics; ``unbiased`` divides the centred variance by n − 1)."""
    b, c = x.shape[:2]
    xg = x.reshape(b, c // group_size, -1)
    if center:
        var, mean = torch.var_mean(xg, dim=-1, unbiased=bool(unbiased), keepdim=True)
        xg = (xg - mean) * torch.rsqrt(var + eps)
    else:
        xg = xg * torch.rsqrt(xg.pow(2).mean(dim=-1, keepdim=True) + eps)
    return xg.reshape(x.shape)


class GroupStatNorm(ActivationNorm):
    """Base of the normalizers with per-sample statistics over groups of ``group_size``
    consecutive channels and (H, W): GroupNorm (and LayerNorm, InstanceNorm), EvoNorm-S0.
    Exactly one of ``group_size`` / ``num_groups`` (default ``num_groups = 32``);
    ``unbiased`` (default False): variance over ``n − 1``, the paper's code's choice."""

    def __init__(self, num_channels: int, *, group_size=None, num_groups=None, eps: float = 1e-5,
                 unbiased: bool = False, device=None, dtype=None):
        super().__init__(num_channels, eps=eps, device=device, dtype=dtype)
        self.group_size = resolve_group_size(self.num_channels, group_size, num_groups)
        self.unbiased = check_flag(unbiased, "unbiased")

    def check(self, x: torch.Tensor) -> None:
        super().check(x)
        if self.unbiased and self.stat_count(x.shape) < 2:
            raise ValueError(
                f"{type(self).__name__}: unbiased=True needs at least 2 entries per statistic, got "
                f"n = {self.stat_count(x.shape)} for input shape {tuple(x.shape)} (use unbiased=False)"
            )

    @property
    def num_groups(self) -> int:
        return self.num_channels // self.group_size

    @property
    def channels_per_statistic(self) -> int:
        return self.group_size

    @property
    def stat_axes(self) -> tuple[str, ...]:
        return ("C", "H", "W") if self.group_size > 1 else ("H", "W")

    def extra_repr(self) -> str:
        extra = ", unbiased=True" if self.unbiased else ""
        return f"{self.num_channels}, group_size={self.group_size}, eps={self.eps}{extra}"


class GroupNorm(GroupStatNorm):
    """GroupNorm with group size ``g`` (or ``num_groups = C / g``); statistics over
    (g channels, H, W) per sample, ``n = g·H·W``. Default: ``num_groups = 32`` if it divides
    ``num_channels``, else give ``group_size`` or ``num_groups``."""

    centered = True

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return self.affine(group_standardize(x, self.group_size, self.eps, unbiased=self.unbiased))


class LayerNorm(GroupNorm):
    """LayerNorm: GroupNorm with one group (g = C); statistics over (C, H, W) per sample."""

    def __init__(self, num_channels: int, *, eps: float = 1e-5, unbiased: bool = False, device=None, dtype=None):
        super().__init__(num_channels, group_size=positive_int(num_channels, "num_channels"), eps=eps,
                         unbiased=unbiased, device=device, dtype=dtype)


class InstanceNorm(GroupNorm):
    """InstanceNorm: GroupNorm with group size 1; statistics over (H, W) per sample and
    channel. On an MLP input (H = W = 1) each statistic has one entry and the output is
    ``beta`` (0 at init) whatever the input."""

    def __init__(self, num_channels: int, *, eps: float = 1e-5, unbiased: bool = False, device=None, dtype=None):
        super().__init__(num_channels, group_size=1, eps=eps, unbiased=unbiased, device=device, dtype=dtype)
