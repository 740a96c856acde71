"""Argument checks that need neither torch nor sympy, shared by every part of normtheory
(the normalizers, the closed forms, the Monte Carlo engines): ``ValueError`` naming the
parameter."""

from __future__ import annotations

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
