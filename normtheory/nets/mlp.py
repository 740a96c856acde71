"""The theory MLP of docs/settings.md as a torch module (width ``d``, depth ``L``).

Non-residual: ``X_l = phi(N(X_{l-1} W_lᵀ))``; residual:
``X_l = X_{l-1} + alpha · N(phi(X_{l-1} / beta_l) W_lᵀ)`` (the branch ends in the
normalizer; parametric names and plain have no activation normalizer). Kaiming fan-in
weights with gain 1 (linear) or sqrt(2) (ReLU). An optional input layer maps
``in_features`` to the width and an optional linear head maps to ``num_classes``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from normtheory._args import positive_int
from normtheory import normalizers as N
from normtheory.nets.blocks import BranchGain, check_norm, norm_options


class MLPLayer(nn.Module):
    def __init__(self, norm, width, *, nonlinearity, residual, alpha, beta, skipinit, gain, norm_opts,
                 weight_centred=False):
        super().__init__()
        self.residual = residual
        self.linear = N.make_linear(norm, width, width, gain=gain, weight_centred=weight_centred)
        self.norm = N.make(norm, width, **norm_opts)
        relu = nonlinearity == "relu"
        self.act = N.make_activation(norm, width) if relu else nn.Identity()
        if relu and norm == "frn":
            self.act = nn.Identity()  # FRN carries its TLU
        if not relu and norm == "frn":
            self.norm.tau = None  # linear network: FRN without its TLU
        self.beta = float(beta)
        self.gain = BranchGain(alpha, skipinit) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual:
            branch = self.linear(self.act(x / self.beta))
            return x + self.gain(self.norm(branch))
        return self.act(self.norm(self.linear(x)))


class MLP(nn.Module):
    """The theory MLP; ``probe_points()`` are the ``depth`` layers (outputs ``X_1..X_L``).
    ``weight_centred``: each layer's rows minus their mean (not the input layer's)."""

    def __init__(self, norm: str, *, width: int, depth: int, in_features=None, nonlinearity: str = "relu",
                 residual: bool = False, alpha: float = 1.0, betas=None, skipinit: bool = False,
                 num_classes=None, group_size=None, num_groups=None, grouping=None, weight_centred: bool = False):
        super().__init__()
        norm = check_norm(norm)
        width = positive_int(width, "width")
        depth = positive_int(depth, "depth")
        if nonlinearity not in ("linear", "relu"):
            raise ValueError(f"nonlinearity must be 'linear' or 'relu', got {nonlinearity!r}")
        if betas is None:
            betas = [1.0] * depth
        if len(betas) != depth or any(not (b > 0) for b in betas):
            raise ValueError(f"betas must hold {depth} positive numbers")
        opts = norm_options(norm, group_size, num_groups, grouping)(width)
        gain = 1.0 if nonlinearity == "linear" else math.sqrt(2.0)
        self.stem = nn.Flatten() if in_features is None else nn.Sequential(
            nn.Flatten(), N.make_linear("plain", positive_int(in_features, "in_features"), width, gain=1.0))
        self.layers = nn.ModuleList(
            MLPLayer(norm, width, nonlinearity=nonlinearity, residual=residual, alpha=alpha, beta=b,
                     skipinit=skipinit, gain=gain, norm_opts=opts, weight_centred=weight_centred) for b in betas)
        self.head = nn.Identity() if num_classes is None else nn.Linear(width, positive_int(num_classes, "num_classes"))

    def probe_points(self):
        return [(f"layer{i + 1}", m) for i, m in enumerate(self.layers)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)
