"""Input validation shared by every normalizer.

The non-finite check costs a device synchronisation, so it can be switched off for the
training fast path and ``torch.compile`` with :func:`input_checks`.
"""

from __future__ import annotations

import contextlib

import torch

_STATE = {"enabled": True}


@contextlib.contextmanager
def input_checks(enabled: bool):
    """Context manager that turns the non-finite input check on or off."""
    previous = _STATE["enabled"]
    _STATE["enabled"] = bool(enabled)
    try:
        yield
    finally:
        _STATE["enabled"] = previous


def set_input_checks(enabled: bool) -> None:
    """Turn the non-finite input check on or off globally."""
    _STATE["enabled"] = bool(enabled)


def check_input(x: torch.Tensor, num_channels: int, layer: str) -> None:
    """Shape and finiteness checks, raising ``ValueError`` naming what is wrong."""
    if x.dim() not in (2, 4):
        raise ValueError(f"{layer}: input must have shape (B, C) or (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[1] != num_channels:
        raise ValueError(
            f"{layer}: input has {x.shape[1]} channels but the layer was built with num_channels={num_channels}"
        )
    if _STATE["enabled"] and not torch.jit.is_scripting() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{layer}: input contains non-finite values (inf or NaN)")


def positive_int(value, name: str) -> int:
    """``value`` as a positive ``int``, or ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import operator

            value = operator.index(value)
        except TypeError:
            raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def resolve_group_size(num_channels: int, group_size=None, num_groups=None, default_groups: int = 32) -> int:
    """Group size g from exactly one of ``group_size`` / ``num_groups``.

    With neither given, ``num_groups`` defaults to 32 when 32 divides the channels
    (the GroupNorm paper's default), else the call is rejected.
    """
    num_channels = positive_int(num_channels, "num_channels")
    if group_size is not None and num_groups is not None:
        raise ValueError("give exactly one of group_size and num_groups, not both")
    if group_size is not None:
        g = positive_int(group_size, "group_size")
        if num_channels % g:
            raise ValueError(f"group_size={g} does not divide num_channels={num_channels}")
        return g
    if num_groups is None:
        if num_channels % default_groups:
            raise ValueError(
                f"num_channels={num_channels} is not divisible by the default num_groups={default_groups}; "
                "pass group_size or num_groups"
            )
        num_groups = default_groups
    k = positive_int(num_groups, "num_groups")
    if num_channels % k:
        raise ValueError(f"num_groups={k} does not divide num_channels={num_channels}")
    return num_channels // k
