"""Argument checks shared by the closed forms: ``ValueError`` naming the parameter.

Torch-free on purpose: ``import normtheory.bounds`` must not pull in torch (the
normalizers are torch modules). The names, variant names, aliases and families below are
those of docs/settings.md; ``tests/test_bounds_validation.py`` checks that they agree with
:data:`normtheory.normalizers.NAMES`, :data:`normtheory.normalizers.VARIANT_NAMES`,
:func:`normtheory.normalizers.check_name` and :func:`normtheory.normalizers.family`.
"""

from __future__ import annotations

import difflib

import numpy as np

from normtheory._args import positive_int  # noqa: F401  (re-exported)

ACTIVATION_NAMES = ("batchnorm", "layernorm", "instancenorm", "groupnorm", "frn", "variancenorm",
                    "evonorm_b0", "evonorm_s0")
PARAMETRIC_NAMES = ("weightnorm", "sws")
NAMES = ACTIVATION_NAMES + PARAMETRIC_NAMES + ("plain",)
GROUPED_NAMES = ("groupnorm", "evonorm_s0")
#: other definitions the closed forms know (Variance Norm with the uncentred second moment)
VARIANT_NAMES = ("variancenorm_uncentred",)
_ALIASES = {"variancenorm_centred": "variancenorm", "variancenorm_centered": "variancenorm",
            "variancenorm_uncentered": "variancenorm_uncentred"}
_KNOWN = NAMES + VARIANT_NAMES


def check_name(name) -> str:
    """The canonical (lowercase) name among :data:`NAMES` and :data:`VARIANT_NAMES`, or
    ``ValueError`` naming ``norm`` and the close names (case, surrounding blanks, ``-`` for
    ``_`` and the aliases of ``variancenorm`` are forgiven, as in the normalizers)."""
    if not isinstance(name, str):
        raise ValueError(f"norm must be a name (str), one of {', '.join(_KNOWN)}; got {name!r}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in _KNOWN:
        return key
    close = difflib.get_close_matches(key, _KNOWN, n=3, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown normalizer norm={name!r}.{hint} Known: {', '.join(_KNOWN)}")


def family(name: str) -> str:
    """'activation', 'parametric' or 'none'."""
    name = check_name(name)
    if name in ACTIVATION_NAMES + VARIANT_NAMES:
        return "activation"
    return "parametric" if name in PARAMETRIC_NAMES else "none"


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
