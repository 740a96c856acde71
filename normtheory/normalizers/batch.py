"""Batch-statistics normalizers: BatchNorm and Variance Normalization (and the base of
EvoNorm-B0), plus Mean Centering and the uncentred Variance Norm.

BatchNorm (Ioffe & Szegedy 2015): ``(x − mean) / sqrt(var + eps)`` with mean and biased
variance over (B, H, W) per channel. Variance Normalization as in the paper's code
(EkdeepSLubana/BeyondBatchNorm, ``VN_self``; docs/settings.md), name ``variancenorm``
(aliases ``variancenorm_centred``, ``variancenorm_centered``): ``x / sqrt(var + eps)``
with the *centred*, biased batch variance over the same axes and no mean subtraction
(:class:`VarianceNorm`): each channel's output has batch variance exactly
``var / (var + eps)`` and keeps the input's mean, scaled.

The BatchNorm ablation without centring analysed by Daneshmand et al. 2020 divides instead
by the uncentred second moment, ``x / sqrt(mean(x²) + eps)`` (:class:`UncentredVarianceNorm`,
name ``variancenorm_uncentred``, one of ``normalizers.VARIANT_NAMES``: known to the theory,
the numba kernels and the networks, iterated over by no grid of the paper's eleven). The two
agree on a batch of zero mean per channel. Mean Centering, the paper's code's other
ablation, subtracts the batch mean only, ``x − mean_{B,H,W}(x)`` (:class:`MeanCentering`,
name ``meancentering``, in ``normalizers.EXTRA_NAMES``).

In training mode the statistics are those of the batch, which needs at least two samples
(``ValueError`` otherwise, whatever H·W). Running estimates, updated as
``running ← (1 − momentum)·running + momentum·batch_stat`` with momentum 0.1 and a variance
made unbiased (multiplied by n / (n − 1)) as in ``torch.nn.BatchNorm2d``, replace
them in eval mode, so that a trained network can be evaluated on any batch size.
"""

from __future__ import annotations

import torch

from normtheory.normalizers._checks import check_batch, check_momentum
from normtheory.normalizers.base import ActivationNorm, channel_shape


def batch_dims(x: torch.Tensor) -> tuple[int, ...]:
    """The axes (B, H, W) of ``x`` (B, C[, H, W]) that batch statistics reduce."""
    return (0,) + tuple(range(2, x.dim()))


class BatchStatNorm(ActivationNorm):
    """Base of the normalizers with batch statistics over (B, H, W) per channel and running
    estimates of them for eval mode."""

    stat_axes = ("B", "H", "W")

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1, device=None, dtype=None):
        super().__init__(num_channels, eps=eps, device=device, dtype=dtype)
        self.momentum = check_momentum(momentum)

    def check(self, x: torch.Tensor) -> None:
        super().check(x)
        if self.training:
            check_batch(x, type(self).__name__)

    def update_running(self, name: str, batch_stat: torch.Tensor, unbiased_from: int | None = None) -> None:
        """Exponential moving average of ``batch_stat`` into buffer ``name``; with
        ``unbiased_from = n`` a biased variance over n entries is first made unbiased."""
        buf = getattr(self, name)
        value = batch_stat.detach().to(buf.dtype)
        if unbiased_from is not None:
            value = value * (unbiased_from / max(unbiased_from - 1, 1))
        with torch.no_grad():
            buf.mul_(1 - self.momentum).add_(value, alpha=self.momentum)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, momentum={self.momentum}"


class BatchNorm(BatchStatNorm):
    """BatchNorm; mean and biased variance over (B, H, W) per channel, n = B·H·W."""

    centered = True

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1, device=None, dtype=None):
        super().__init__(num_channels, eps=eps, momentum=momentum, device=device, dtype=dtype)
        factory = {"device": device, "dtype": dtype}
        self.register_buffer("running_mean", torch.zeros(self.num_channels, **factory))
        self.register_buffer("running_var", torch.ones(self.num_channels, **factory))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            var, mean = torch.var_mean(x, dim=batch_dims(x), unbiased=False)
            self.update_running("running_mean", mean)
            self.update_running("running_var", var, self.stat_count(x.shape))
        else:
            mean, var = self.running_mean.to(x.dtype), self.running_var.to(x.dtype)
        shape = channel_shape(x)
        return self.affine((x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps))


class VarianceNorm(BatchStatNorm):
    """Variance Normalization as in the paper's code: ``x / sqrt(var + eps)`` with the
    centred, biased variance over (B, H, W) per channel and no mean subtraction (the mean
    is removed inside the variance only). Running variance (made unbiased, as BatchNorm's)
    in eval mode. :class:`UncentredVarianceNorm` divides by ``sqrt(mean(x²) + eps)``."""

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1, device=None, dtype=None):
        super().__init__(num_channels, eps=eps, momentum=momentum, device=device, dtype=dtype)
        self.register_buffer("running_var", torch.ones(self.num_channels, device=device, dtype=dtype))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            var = torch.var(x, dim=batch_dims(x), unbiased=False)
            self.update_running("running_var", var, self.stat_count(x.shape))
        else:
            var = self.running_var.to(x.dtype)
        return self.affine(x * torch.rsqrt(var.view(channel_shape(x)) + self.eps))


class UncentredVarianceNorm(BatchStatNorm):
    """Variance Norm of Daneshmand et al. 2020 (BatchNorm without centring):
    ``x / sqrt(mean(x²) + eps)`` with the mean of squares over (B, H, W) per channel
    (running mean of squares in eval mode). Name ``variancenorm_uncentred``."""

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1, device=None, dtype=None):
        super().__init__(num_channels, eps=eps, momentum=momentum, device=device, dtype=dtype)
        self.register_buffer("running_sq", torch.ones(self.num_channels, device=device, dtype=dtype))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            sq = x.pow(2).mean(dim=batch_dims(x))
            self.update_running("running_sq", sq)
        else:
            sq = self.running_sq.to(x.dtype)
        return self.affine(x * torch.rsqrt(sq.view(channel_shape(x)) + self.eps))


class MeanCentering(BatchStatNorm):
    """Mean Centering (the paper's code's ablation of BatchNorm): ``x − mean`` with the mean
    over (B, H, W) per channel, no scaling, then the per-channel affine (identity at init).
    Running mean in eval mode. ``eps`` is accepted (and checked) for a signature uniform
    with the other normalizers but not used."""

    centered = True

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1, device=None, dtype=None):
        super().__init__(num_channels, eps=eps, momentum=momentum, device=device, dtype=dtype)
        self.register_buffer("running_mean", torch.zeros(self.num_channels, device=device, dtype=dtype))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean = x.mean(dim=batch_dims(x))
            self.update_running("running_mean", mean)
        else:
            mean = self.running_mean.to(x.dtype)
        return self.affine(x - mean.view(channel_shape(x)))
