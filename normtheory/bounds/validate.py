"""Argument checks shared by the closed forms: ``ValueError`` naming the parameter.

Torch-free on purpose: ``import normtheory.bounds`` must not pull in torch (the
normalizers are torch modules). The names, variant names, aliases and families are those
of :mod:`normtheory.names`, which the normalizers read as well; :func:`check_name` and
:func:`family` give its closed-forms message (naming ``norm``, knowing nothing of the
extra names).
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from normtheory import names
from normtheory._args import positive_int  # noqa: F401  (re-exported)
from normtheory.names import (  # noqa: F401  (re-exported)
    ACTIVATION_NAMES,
    GROUPED_NAMES,
    NAMES,
    PARAMETRIC_NAMES,
    VARIANT_NAMES,
)


def check_name(name) -> str:
    """The canonical (lowercase) name among :data:`NAMES` and :data:`VARIANT_NAMES`, or
    ``ValueError`` naming ``norm`` and the close names (case, surrounding blanks, ``-`` for
    ``_`` and the aliases of :data:`normtheory.names.ALIASES`, ``bn``, ``ln``, ``in``, ``gn``
    among them, are forgiven, as in the normalizers)."""
    return names.check_name(name, extras=False)


def family(name: str) -> str:
    """'activation', 'parametric' or 'none'."""
    return names.family(name, extras=False)


def resolve_group_size(width, group_size=None, num_groups=None, *, name: str = "width") -> int:
    """Group size ``g`` from exactly one of ``group_size`` / ``num_groups`` (``ValueError``
    naming the parameter); ``g`` must divide ``width``."""
    width = positive_int(width, name)
    if group_size is not None and num_groups is not None:
        raise ValueError("give exactly one of group_size and num_groups, not both")
    if group_size is None and num_groups is None:
        raise ValueError("group_size is required (or num_groups)")
    if group_size is not None:
        g = positive_int(group_size, "group_size")
        if width % g:
            raise ValueError(f"group_size={g} does not divide {name}={width}")
        return g
    k = positive_int(num_groups, "num_groups")
    if width % k:
        raise ValueError(f"num_groups={k} does not divide {name}={width}")
    return width // k


def refuse_group_size(group_size, norm: str, why: str = ""):
    """``ValueError`` naming ``group_size`` as given, unless it is ``None``: ``norm`` has no groups
    (or, with ``why``, the bound takes none for it)."""
    if group_size is not None:
        raise ValueError(f"group_size={group_size!r} does not apply to {norm}: "
                         + (why or f"only {' and '.join(GROUPED_NAMES)} have groups"))


def vectorized(*looped: str, native: str | None = None):
    """Make a bound take arrays in the parameters ``looped`` (and ``native``, which the bound
    takes as an array itself, such as ``depth``): array-likes broadcast against each other
    (numpy rules) and the result is an ``np.ndarray`` of the broadcast shape, one entry per
    setting; with every one of them scalar the bound is called as it is and returns a
    ``float``. The bound runs once per distinct combination of the looped values (with the
    matching entries of ``native`` as one 1-D array), so each entry is exactly the scalar
    call's value and a refusal names the entry, as the scalar call would."""
    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def bound(*args, **kwargs):
            arguments = signature.bind(*args, **kwargs)
            arguments.apply_defaults()
            values = arguments.arguments
            arrays = [p for p in looped if np.ndim(values[p]) > 0]
            if not arrays:
                return fn(**values)
            every = arrays + ([native] if native else [])
            try:
                spread = dict(zip(every, np.broadcast_arrays(*(np.asarray(values[p]) for p in every))))
            except ValueError:
                shapes = ", ".join(f"{p} of shape {np.shape(values[p])}" for p in every)
                raise ValueError(f"{shapes} do not broadcast together") from None
            shape = spread[arrays[0]].shape
            out = np.empty(shape)
            groups = {}
            for flat, index in enumerate(np.ndindex(shape)):
                groups.setdefault(tuple(spread[p][index].item() for p in arrays), []).append(flat)
            for key, flats in groups.items():
                call = {**values, **dict(zip(arrays, key))}
                if native:
                    call[native] = spread[native].ravel()[flats]
                out.flat[flats] = fn(**call)
            return out

        return bound

    return decorate


def depth_array(depth, name: str = "depth") -> np.ndarray:
    try:
        arr = np.asarray(depth, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-negative integer or an array of them, got {depth!r}") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be a non-negative integer or an array of them, got {depth!r}")
    return arr.astype(np.int64)


def _real(value, name: str, what: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None


def nonneg(value, name: str) -> float:
    value = _real(value, name, "a finite number >= 0")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def positive(value, name: str) -> float:
    value = _real(value, name, "a finite number > 0")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def branch_kind(nonlinearity: str) -> str:
    if nonlinearity not in ("linear", "relu"):
        raise ValueError(f"nonlinearity must be 'linear' or 'relu', got {nonlinearity!r}")
    return nonlinearity
