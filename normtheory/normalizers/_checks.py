"""Argument and input validation shared by every normalizer.

Every check raises ``ValueError`` naming the offending parameter. The non-finite input
check costs a device synchronisation (and a graph break under ``torch.compile``), so it
can be switched off for the training fast path with :func:`input_checks` /
:func:`set_input_checks`; it is on by default and skipped while ``torch.compile`` traces.
The shape checks are free and always on.
"""

from __future__ import annotations

import math

import torch

from normtheory._args import positive_int  # noqa: F401  (re-exported)

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


def positive_float(value, name: str) -> float:
    """``value`` as a positive finite ``float``, or ``ValueError`` naming ``name``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def check_flag(value, name: str) -> bool:
    """``value`` as a ``bool``; only ``True``/``False`` (or 0/1) are accepted."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def check_eps(eps) -> float:
    """``eps`` must be positive: with ``eps = 0`` a statistic over equal entries (always the
    case for a statistic of one entry) would give 0 / 0."""
    return positive_float(eps, "eps")


def check_momentum(momentum) -> float:
    """The running-statistics momentum, in [0, 1]."""
    try:
        momentum = float(momentum)
    except (TypeError, ValueError):
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}") from None
    if not 0 <= momentum <= 1:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    return momentum


def resolve_group_size(num_channels: int, group_size=None, num_groups=None, default_groups: int = 32) -> int:
    """Group size g from exactly one of ``group_size`` / ``num_groups``.

    With neither given, ``num_groups`` defaults to 32 when 32 divides the channels
    (GroupNorm's default, Wu & He 2018), else the call is rejected naming ``num_groups``.
    """
    num_channels = positive_int(num_channels, "num_channels")
    if group_size is not None and num_groups is not None:
        raise ValueError(
            f"give exactly one of group_size and num_groups, not both (got group_size={group_size}, "
            f"num_groups={num_groups})"
        )
    if group_size is not None:
        g = positive_int(group_size, "group_size")
        if num_channels % g:
            raise ValueError(f"group_size={g} does not divide num_channels={num_channels}")
        return g
    if num_groups is None:
        if num_channels % default_groups:
            raise ValueError(
                f"num_groups: the default num_groups={default_groups} does not divide "
                f"num_channels={num_channels}; pass group_size or num_groups"
            )
        num_groups = default_groups
    k = positive_int(num_groups, "num_groups")
    if num_channels % k:
        raise ValueError(f"num_groups={k} does not divide num_channels={num_channels}")
    return num_channels // k
