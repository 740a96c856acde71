"""ResNet-56 for CIFAR as in the paper's code (docs/settings.md): a 3x3 stem conv to 32
channels with the normalizer and nonlinearity, then 3 stages of 9 basic blocks, widths
32, 64, 128 (the first block of stages 2 and 3 at stride 2), global average pooling and a
linear head.

Post-activation block: ``act(g · norm(conv(act(norm(conv(x))))) + shortcut(x))``.
Pre-activation block: ``g · conv(act(norm(conv(act(norm(x)))))) + shortcut(x)``, with no
final normalizer after the last block. ``g`` is 1, or a learnable scalar initialised to 0
with SkipInit (De & Smith 2020). ``norm`` and ``act`` are the normalizer's two slots
(:mod:`normtheory.nets.blocks`: the EvoNorms sit in the ``act`` slot, FRN's TLU too). A
downsampling shortcut is a 3x3 stride-2 conv then the normalizer slot (post-activation),
or the normalizer slot then a 3x3 stride-2 conv (pre-activation).
"""

from __future__ import annotations

import torch
from torch import nn

from normtheory._args import positive_int
from normtheory.nets.blocks import BranchGain, ConvNormAct, act_slot, conv, norm_slot


class PostActBlock(nn.Module):
    def __init__(self, norm, cin, cout, stride, skipinit, opts, weight_centred=False):
        super().__init__()
        self.c1 = ConvNormAct(norm, cin, cout, opts, stride=stride, weight_centred=weight_centred)
        self.conv2 = conv(norm, cout, cout, weight_centred=weight_centred)
        self.n2 = norm_slot(norm, cout, opts)
        self.gain = BranchGain(1.0, skipinit)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            conv(norm, cin, cout, stride=stride, weight_centred=weight_centred), norm_slot(norm, cout, opts))
        self.act = act_slot(norm, cout, opts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.gain(self.n2(self.conv2(self.c1(x)))) + self.shortcut(x))


class PreActBlock(nn.Module):
    def __init__(self, norm, cin, cout, stride, skipinit, opts, weight_centred=False):
        super().__init__()
        self.n1 = norm_slot(norm, cin, opts)
        self.a1 = act_slot(norm, cin, opts)
        self.conv1 = conv(norm, cin, cout, stride=stride, weight_centred=weight_centred)
        self.n2 = norm_slot(norm, cout, opts)
        self.a2 = act_slot(norm, cout, opts)
        self.conv2 = conv(norm, cout, cout, weight_centred=weight_centred)
        self.gain = BranchGain(1.0, skipinit)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            norm_slot(norm, cin, opts), conv(norm, cin, cout, stride=stride, weight_centred=weight_centred))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.a1(self.n1(x)))
        out = self.conv2(self.a2(self.n2(out)))
        return self.gain(out) + self.shortcut(x)


class ResNet(nn.Module):
    """ResNet-(6n+2) with ``blocks_per_stage = n`` (ResNet-56: n = 9) and stage ``widths``
    (default 32, 64, 128; ``widths=(32,), blocks_per_stage=9``: the stem and the first
    stage alone). ``weight_centred``: every conv weight-centred (the paper's code's
    ``WCConv2d``). ``probe_points()``: the stem, then each block's output."""

    def __init__(self, norm: str, opts, *, preact: bool = False, skipinit: bool = False, num_classes: int = 100,
                 in_channels: int = 3, widths=(32, 64, 128), blocks_per_stage: int = 9,
                 weight_centred: bool = False):
        super().__init__()
        widths = [positive_int(w, "widths") for w in widths]
        if not widths:
            raise ValueError("widths must give at least one stage width")
        blocks_per_stage = positive_int(blocks_per_stage, "blocks_per_stage")
        self.stem = ConvNormAct(norm, in_channels, widths[0], opts, weight_centred=weight_centred)
        block = PreActBlock if preact else PostActBlock
        blocks = []
        cin = widths[0]
        for stage, width in enumerate(widths):
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(block(norm, cin, width, stride, skipinit, opts, weight_centred))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(cin, num_classes)

    def probe_points(self):
        return [("stem", self.stem)] + [(f"block{i + 1}", b) for i, b in enumerate(self.blocks)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.blocks(self.stem(x))).flatten(1))
