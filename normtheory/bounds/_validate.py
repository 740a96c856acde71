"""Argument checks shared by the closed forms: ``ValueError`` naming the parameter."""

from __future__ import annotations

import numpy as np

from normtheory.normalizers import check_name, family  # noqa: F401  (re-exported for the bounds modules)
from normtheory.normalizers._checks import positive_int, resolve_group_size  # noqa: F401


def depth_array(depth, name: str = "depth") -> np.ndarray:
    arr = np.asarray(depth)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be a non-negative integer or an array of them, got {depth!r}")
    return arr.astype(np.int64)


def nonneg(value, name: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def positive(value, name: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def branch_kind(nonlinearity: str) -> str:
    if nonlinearity not in ("linear", "relu"):
        raise ValueError(f"nonlinearity must be 'linear' or 'relu', got {nonlinearity!r}")
    return nonlinearity
