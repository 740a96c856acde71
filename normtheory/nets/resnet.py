"""ResNet-56 for CIFAR: 3 stages of 9 basic blocks, widths 32, 64, 128 (SCIENCE.md).

Post-activation block (He et al. 2016a): ``phi(shortcut(x) + g · N(conv(phi(N(conv(x))))))``,
the normalizer ends the branch and the nonlinearity follows the addition. Pre-activation
block (He et al. 2016b): ``shortcut(x) + g · conv(phi(N(conv(phi(N(x))))))``. ``g`` is 1, or
a learnable scalar initialised to 0 with SkipInit (De & Smith 2020). A shape change uses a
1x1 strided conv shortcut (with the normalizer in the post-activation form).
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory import normalizers as N
from normtheory.nets.blocks import BranchGain, ConvNormAct


class PostActBlock(nn.Module):
    def __init__(self, norm, cin, cout, stride, skipinit, **norm_opts):
        super().__init__()
        self.c1 = ConvNormAct(norm, cin, cout, stride=stride, **norm_opts)
        self.c2 = ConvNormAct(norm, cout, cout, act=False, **norm_opts)
        self.gain = BranchGain(1.0, skipinit)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else ConvNormAct(
            norm, cin, cout, kernel_size=1, stride=stride, act=False, **norm_opts)
        self.act = N.make_activation(norm, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + self.gain(self.c2(self.c1(x))))


class PreActBlock(nn.Module):
    def __init__(self, norm, cin, cout, stride, skipinit, **norm_opts):
        super().__init__()
        self.n1 = N.make(norm, cin, **norm_opts)
        self.a1 = N.make_activation(norm, cin)
        self.conv1 = N.make_conv(norm, cin, cout, 3, stride=stride)
        self.n2 = N.make(norm, cout, **norm_opts)
        self.a2 = N.make_activation(norm, cout)
        self.conv2 = N.make_conv(norm, cout, cout, 3)
        self.gain = BranchGain(1.0, skipinit)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else N.make_conv(
            norm, cin, cout, 1, stride=stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.a1(self.n1(x)))
        out = self.conv2(self.a2(self.n2(out)))
        return self.shortcut(x) + self.gain(out)


class ResNet(nn.Module):
    """ResNet-(6n+2) with ``blocks_per_stage = n`` (ResNet-56: n = 9)."""

    def __init__(self, norm: str, *, preact: bool = False, skipinit: bool = False, num_classes: int = 100,
                 in_channels: int = 3, widths=(32, 64, 128), blocks_per_stage: int = 9, **norm_opts):
        super().__init__()
        self.stem = ConvNormAct(norm, in_channels, widths[0], act=True, **norm_opts) if not preact else \
            N.make_conv(norm, in_channels, widths[0], 3)
        block = PreActBlock if preact else PostActBlock
        blocks = []
        cin = widths[0]
        for stage, width in enumerate(widths):
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(block(norm, cin, width, stride, skipinit, **norm_opts))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.final = nn.Sequential(N.make(norm, cin, **norm_opts), N.make_activation(norm, cin)) if preact \
            else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(cin, num_classes)

    def probe_points(self):
        return [("stem", self.stem)] + [(f"block{i + 1}", b) for i, b in enumerate(self.blocks)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.final(self.blocks(self.stem(x)))
        return self.head(self.pool(x).flatten(1))
