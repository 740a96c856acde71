"""The paper's non-residual CNNs: ``cfg_10/20/40`` and the uniform width-64 CNN.

A *cfg* lists the layers: ``c`` is a 3x3 conv to ``c`` channels at stride 1, ``(c, 2)`` one
at stride 2. Every conv is followed by the normalizer and its nonlinearity; then global
average pooling and a linear head. The layouts are those of the paper's code
(docs/settings.md, "the layouts of the paper's code"):

- 10: 64, (64,2), 128, (128,2), 256, (256,2), 512, (512,2), 512, 512
- 20: 64×3, (64,2), 128×3, (128,2), 256×3, (256,2), 256×3, (256,2), 512×4
- 40: 64×7, (64,2), 128×7, (128,2), 256×7, (256,2), 512×7, (512,2), 512×8
- uniform: ``depth`` convs of ``width`` (64) channels at stride 1 (the group-size experiments).

A cfg's *stages* end after each stride-2 conv (5 stages in each of the three cfgs).
``widths=(w_1, ..., w_k)`` keeps the first ``k`` stages with every conv of stage ``i`` at
``w_i`` channels (``widths=(64,)`` on vgg20: 64, 64, 64, (64,2)).
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory._args import positive_int
from normtheory.nets.blocks import ConvNormAct

CFGS = {
    10: [64, (64, 2), 128, (128, 2), 256, (256, 2), 512, (512, 2), 512, 512],
    20: [64] * 3 + [(64, 2)] + [128] * 3 + [(128, 2)] + [256] * 3 + [(256, 2)] + [256] * 3 + [(256, 2)]
        + [512] * 4,
    40: [64] * 7 + [(64, 2)] + [128] * 7 + [(128, 2)] + [256] * 7 + [(256, 2)] + [512] * 7 + [(512, 2)]
        + [512] * 8,
}


def layer_plan(cfg) -> list[tuple[int, int]]:
    """``[(channels, stride), ...]`` of a cfg."""
    return [(int(c[0]), int(c[1])) if isinstance(c, tuple) else (int(c), 1) for c in cfg]


def stages(plan) -> list[list[tuple[int, int]]]:
    """The plan cut after each stride-2 conv."""
    out, cur = [], []
    for layer in plan:
        cur.append(layer)
        if layer[1] != 1:
            out.append(cur)
            cur = []
    return out + [cur] if cur else out


def with_widths(plan, widths) -> list[tuple[int, int]]:
    """The first ``len(widths)`` stages of ``plan``, stage ``i`` at ``widths[i]`` channels."""
    widths = [positive_int(w, "widths") for w in widths]
    parts = stages(plan)
    if not 1 <= len(widths) <= len(parts):
        raise ValueError(f"widths must give 1 to {len(parts)} stage widths for this CNN, got {len(widths)}")
    return [(w, s) for part, w in zip(parts, widths) for _c, s in part]


def uniform_plan(depth: int, width: int = 64) -> list[tuple[int, int]]:
    return [(positive_int(width, "width"), 1)] * positive_int(depth, "depth")


class VGG(nn.Module):
    """The non-residual CNN of a plan ``[(channels, stride), ...]``; ``probe_points()`` are
    its layers (each conv -> normalizer -> nonlinearity); ``weight_centred``: every conv
    weight-centred (the paper's code's ``WCConv2d``)."""

    def __init__(self, norm: str, plan, opts, *, num_classes: int = 100, in_channels: int = 3,
                 weight_centred: bool = False):
        super().__init__()
        layers = []
        cin = in_channels
        for width, stride in plan:
            layers.append(ConvNormAct(norm, cin, width, opts, stride=stride, weight_centred=weight_centred))
            cin = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(cin, num_classes)

    def probe_points(self):
        return [(f"conv{i + 1}", m) for i, m in enumerate(self.features)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))
