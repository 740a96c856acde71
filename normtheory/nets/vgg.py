"""The paper's non-residual "VGG-like" CNN: 10, 20 or 40 conv layers.

Four stages of 3x3 convs with widths 64, 128, 256, 512; the first conv of stages 2-4 has
stride 2; every conv is followed by the normalizer and its paired nonlinearity; then global
average pooling and a linear head. Convs per stage: 10 -> (2, 2, 3, 3), 20 -> (5, 5, 5, 5),
40 -> (10, 10, 10, 10).
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory.nets.blocks import ConvNormAct

PLANS = {10: (2, 2, 3, 3), 20: (5, 5, 5, 5), 40: (10, 10, 10, 10)}
WIDTHS = (64, 128, 256, 512)


class VGG(nn.Module):
    def __init__(self, norm: str, depth: int, *, num_classes: int = 100, in_channels: int = 3,
                 widths=WIDTHS, **norm_opts):
        super().__init__()
        if depth not in PLANS:
            raise ValueError(f"depth must be one of {sorted(PLANS)} for the VGG-like CNN, got {depth}")
        layers = []
        cin = in_channels
        for stage, (count, width) in enumerate(zip(PLANS[depth], widths)):
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(ConvNormAct(norm, cin, width, stride=stride, **norm_opts))
                cin = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(cin, num_classes)

    def probe_points(self):
        return [(f"conv{i + 1}", m) for i, m in enumerate(self.features)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))
