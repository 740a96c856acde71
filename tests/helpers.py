"""Helpers that several test modules share (imported as ``helpers``: pytest puts tests/ on
``sys.path``)."""

import torch

from normtheory import nets


def count(model) -> int:
    """The number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def meta_build(arch, norm, **kw):
    """``nets.build(arch, norm, **kw)`` on the meta device: full size, no memory, no time."""
    with torch.device("meta"):
        return nets.build(arch, norm, **kw)
