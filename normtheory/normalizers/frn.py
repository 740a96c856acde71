"""Filter Response Normalization with its Thresholded Linear Unit (Singh & Krishnan 2020).

``y = gamma · x / sqrt(mean(x²) + eps) + beta`` with the mean of squares over (H, W) per
sample and channel (no centring), followed by the TLU ``max(y, tau)``; ``tau = 0`` at
init, so at init the TLU is a ReLU (docs/settings.md). On an MLP input (H = W = 1) each
statistic has a single entry and FRN reduces to ``x / sqrt(x² + eps)``, close to
``sign(x)``. ``tlu=False`` (or setting ``tau`` to ``None``) leaves the TLU out, as a
linear theory network does.

``learnable_eps=True``: eps becomes a learned scalar per layer, used as ``|eps|`` and
initialised to ``eps``, as in the paper's code (``FRN_self`` with ``is_eps_learnable``;
Singh & Krishnan 2020 learn eps for layers with small H·W). Default False: a fixed eps.
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory.normalizers._checks import check_flag
from normtheory.normalizers.base import ActivationNorm, channel_shape
from normtheory.normalizers.group import group_standardize


class FilterResponseNorm(ActivationNorm):
    """FRN over (H, W) per sample and channel, n = H·W, with a TLU unless ``tlu=False``;
    ``learnable_eps``: the parameter ``eps_learned`` (a scalar, ``|eps_learned|`` is used)."""

    stat_axes = ("H", "W")

    def __init__(self, num_channels: int, *, eps: float = 1e-5, tlu: bool = True, learnable_eps: bool = False,
                 device=None, dtype=None):
        super().__init__(num_channels, eps=eps, device=device, dtype=dtype)
        self.tau = nn.Parameter(torch.zeros(self.num_channels, device=device, dtype=dtype)) if tlu else None
        learned = check_flag(learnable_eps, "learnable_eps")
        self.eps_learned = nn.Parameter(torch.tensor(self.eps, device=device, dtype=dtype)) if learned else None

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        eps = self.eps if self.eps_learned is None else self.eps_learned.abs().to(x.dtype)
        y = self.affine(group_standardize(x, 1, eps, center=False))
        if self.tau is not None:
            y = torch.maximum(y, self.tau.view(channel_shape(x)))
        return y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, tlu={self.tau is not None}, learnable_eps={self.eps_learned is not None}"
