"""Argument checks that need neither torch nor sympy, shared by every part of normtheory
(the normalizers, the closed forms, the Monte Carlo engines): ``ValueError`` naming the
parameter."""

from __future__ import annotations

import math
import operator

import numpy as np


def positive_int(value, name: str) -> int:
    """``value`` as a positive ``int`` (Python or numpy integer), or ``ValueError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    try:
        out = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
    if out <= 0:
        raise ValueError(f"{name} must be a positive integer, got {out}")
    return int(out)


def freeze(options) -> tuple:
    """Keyword arguments as a hashable, order-free tuple (lists become tuples): a memo key."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))


def positive_float(value, name: str) -> float:
    """``value`` as a positive finite ``float``, or ``ValueError`` naming ``name``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def check_eps(eps) -> float:
    """``eps`` must be positive: with ``eps = 0`` a statistic over equal entries (always the
    case for a statistic of one entry) would give 0 / 0."""
    return positive_float(eps, "eps")


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
