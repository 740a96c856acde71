"""What every normalizer module shares: its family, its statistics' axes, the affine.

An activation-based normalizer (docs/settings.md) computes statistics of its input ``x``
of shape (B, C, H, W) or (B, C) (an MLP activation: H = W = 1) over the axes listed in
``stat_axes`` and then applies a per-channel affine ``gamma · y + beta`` with
``gamma = 1``, ``beta = 0`` at init. In ``stat_axes`` the letter ``"C"`` stands for the
``channels_per_statistic`` consecutive channels of one group (``group_size``; all C for
LayerNorm; 1, and ``"C"`` absent, for per-channel statistics); ``stat_count``
gives the number ``n`` of entries per statistic, the ``n`` of the gradient-growth claim B1.

Statistics are computed in at least float32: a float16 (or bfloat16) input is normalized
in float32 and the output cast back to the input's dtype, as ``torch.nn``'s normalization
layers do. In float16, ``x²`` overflows from ``|x| > 256`` (and a variance of 0 or inf
gives an all-zero output), and bfloat16 keeps 8 bits of a sum of squares.

Parametric normalizers and plain leave the activations alone; :class:`Passthrough` is the
identity module that stands in for them where an activation normalizer would go.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import nn

from normtheory.normalizers._checks import check_eps, check_input, positive_int


def stat_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype statistics are computed in: float32 for float16 / bfloat16, else ``dtype``."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def channel_shape(x: torch.Tensor) -> tuple[int, ...]:
    """The shape that broadcasts a per-channel vector against ``x`` (B, C, ...)."""
    return (1, -1) + (1,) * (x.dim() - 2)


class ActivationNorm(nn.Module, ABC):
    """Base of the eight activation-based normalizers.

    Class attributes of each subclass: ``stat_axes`` (tuple of ``"B"``, ``"C"``, ``"H"``,
    ``"W"``) and ``centered`` (whether the mean is removed as well as the scale). Each
    subclass implements :meth:`normalize`; :meth:`forward` checks the input, runs it in
    :func:`stat_dtype` and returns the input's dtype.
    """

    family = "activation"
    stat_axes: tuple[str, ...] = ()
    centered = False

    def __init__(self, num_channels: int, *, eps: float = 1e-5, device=None, dtype=None):
        super().__init__()
        self.num_channels = positive_int(num_channels, "num_channels")
        self.eps = check_eps(eps)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.ones(self.num_channels, **factory))
        self.bias = nn.Parameter(torch.zeros(self.num_channels, **factory))

    @property
    def channels_per_statistic(self) -> int:
        """How many consecutive channels one statistic spans (1: per channel)."""
        return 1

    def stat_count(self, shape) -> int:
        """Number of entries ``n`` per statistic for an input of ``shape`` (B, C[, H, W])."""
        shape = tuple(shape)
        if len(shape) not in (2, 4):
            raise ValueError(f"shape must be (B, C) or (B, C, H, W), got {shape}")
        sizes = dict(zip("BCHW", shape + (1, 1)))
        sizes["C"] = self.channels_per_statistic
        return math.prod(sizes[axis] for axis in self.stat_axes)

    def check(self, x: torch.Tensor) -> None:
        check_input(x, self.num_channels, type(self).__name__)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        return self.normalize(x.to(stat_dtype(x.dtype))).to(x.dtype)

    @abstractmethod
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output for a checked input ``x`` in :func:`stat_dtype`."""

    def affine(self, y: torch.Tensor) -> torch.Tensor:
        shape = channel_shape(y)
        return y * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}"


class Passthrough(nn.Identity):
    """The identity on activations, for ``plain`` (family ``"none"``) and for the parametric
    normalizers ``weightnorm`` and ``sws`` (family ``"parametric"``: their normalization
    lives in the weight, see :mod:`normtheory.normalizers.parametric`)."""

    stat_axes: tuple[str, ...] = ()
    centered = False

    def __init__(self, family: str = "none"):
        super().__init__()
        if family not in ("none", "parametric"):
            raise ValueError(f"family must be 'none' or 'parametric' for a passthrough, got {family!r}")
        self.family = family

    def extra_repr(self) -> str:
        return f"family={self.family!r}"
