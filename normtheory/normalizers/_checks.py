"""Argument and input validation shared by every normalizer.

Every check raises ``ValueError`` naming the offending parameter. The non-finite input
check costs a device synchronisation (and a graph break under ``torch.compile``), so it
can be switched off for the training fast path with :func:`input_checks` /
:func:`set_input_checks`; it is on by default and skipped while ``torch.compile`` traces.
The shape checks are free and always on.
"""

from __future__ import annotations

import torch

from normtheory._args import (  # noqa: F401  (re-exported)
    check_eps,
    positive_float,
    positive_int,
    resolve_group_size,
)

_STATE = {"enabled": True}


def set_input_checks(enabled: bool) -> None:
    """Turn the non-finite input check on or off globally."""
    _STATE["enabled"] = bool(enabled)


def input_checks_enabled() -> bool:
    """Whether the non-finite input check is on."""
    return _STATE["enabled"]


class input_checks:  # noqa: N801  (used like a function, as torch.set_grad_enabled)
    """Switch the non-finite input check on or off, globally or for a ``with`` block.

    ``input_checks(False)`` switches it off at once; used as ``with input_checks(False):``
    the previous setting comes back when the block ends.
    """

    def __init__(self, enabled: bool):
        self.previous = input_checks_enabled()
        set_input_checks(enabled)

    def __enter__(self) -> input_checks:
        return self

    def __exit__(self, *exc) -> None:
        set_input_checks(self.previous)


def check_input(x: torch.Tensor, num_channels: int, layer: str) -> None:
    """Reject an input that is not a non-empty floating (B, C) or (B, C, H, W) tensor with
    ``num_channels`` channels and, while the check is on, finite entries."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{layer}: input x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (2, 4):
        raise ValueError(f"{layer}: input x must have shape (B, C) or (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[1] != num_channels:
        raise ValueError(
            f"{layer}: input x has {x.shape[1]} channels but the layer was built with num_channels={num_channels}"
        )
    if x.numel() == 0:
        raise ValueError(f"{layer}: input x is empty, shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{layer}: input x must be floating point, got dtype {x.dtype}")
    if _STATE["enabled"] and not torch.compiler.is_compiling() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{layer}: input x contains non-finite values (inf or NaN)")


def check_batch(x: torch.Tensor, layer: str) -> None:
    """Batch statistics in training mode need at least two samples."""
    if x.shape[0] < 2:
        raise ValueError(
            f"{layer}: batch statistics need a batch of at least 2 in training mode, got batch size "
            f"{x.shape[0]} (use eval mode, which uses the running statistics)"
        )


def check_flag(value, name: str) -> bool:
    """``value`` as a ``bool``; only ``True``/``False`` (or 0/1) are accepted."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def check_momentum(momentum) -> float:
    """The running-statistics momentum, in [0, 1]."""
    try:
        momentum = float(momentum)
    except (TypeError, ValueError):
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}") from None
    if not 0 <= momentum <= 1:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    return momentum
