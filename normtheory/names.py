"""Every normalizer name of normtheory in one place: names, aliases, families, groups.

Standard library only, so that every part of the package can read it (the torch-free
closed forms of :mod:`normtheory.bounds`, the numba kernels, the torch normalizers). The
names and their families are those of docs/settings.md.

:data:`NAMES` are the paper's eleven, with the paper's code's definitions (``variancenorm``:
centred batch variance, no mean subtraction; ``variancenorm_centred`` and
``variancenorm_centered`` are aliases of it). :data:`VARIANT_NAMES` are other definitions of
one of the eleven that the closed forms, the claims, the numba kernels and the networks know
as well, kept out of :data:`NAMES` so that no grid over the eleven picks them up:
``variancenorm_uncentred`` (Variance Norm with the uncentred second moment, Daneshmand et
al. 2020). :func:`check_name` accepts both. :data:`EXTRA_NAMES` holds the activation
normalizers of the paper's code that the theory does not know (``meancentering``, Mean
Centering): :func:`any_name` and :func:`family` accept them, :func:`check_name` refuses
them with a message saying so.
"""

from __future__ import annotations

import difflib

#: the activation-based normalizers of the paper's eleven (applied after a layer)
ACTIVATION_NAMES = ("batchnorm", "layernorm", "instancenorm", "groupnorm", "frn", "variancenorm",
                    "evonorm_b0", "evonorm_s0")
#: the parametric normalizers of the paper's eleven (in the weight)
PARAMETRIC_NAMES = ("weightnorm", "sws")
#: the paper's eleven: the activation-based, the parametric and no normalizer (``plain``)
NAMES = ACTIVATION_NAMES + PARAMETRIC_NAMES + ("plain",)
#: names that take ``group_size`` / ``num_groups``
GROUPED_NAMES = ("groupnorm", "evonorm_s0")
#: the EvoNorms: each is its own nonlinearity (paired with the identity)
EVONORM_NAMES = ("evonorm_b0", "evonorm_s0")
#: other definitions of one of the eleven that the theory knows (see the module docstring)
VARIANT_NAMES = ("variancenorm_uncentred",)
#: normalizers whose statistics use the batch (need a batch of at least 2 when training)
BATCH_NAMES = ("batchnorm", "variancenorm", "evonorm_b0")
#: the variant names whose statistics use the batch (all of them)
VARIANT_BATCH_NAMES = ("variancenorm_uncentred",)
#: activation normalizers of the paper's code outside :data:`NAMES` (see the module docstring)
EXTRA_NAMES = ("meancentering",)
#: the extra names whose statistics use the batch (all of them)
EXTRA_BATCH_NAMES = ("meancentering",)
#: the names :func:`check_name` accepts
KNOWN_NAMES = NAMES + VARIANT_NAMES
#: other spellings of a name of :data:`NAMES` or :data:`VARIANT_NAMES`: the usual short names of the
#: four standard normalizers and their names in two words (``"Batch-Norm"``, ``"group_norm"``), and
#: the British and American spellings of the Variance Norms
ALIASES = {"bn": "batchnorm", "ln": "layernorm", "in": "instancenorm", "gn": "groupnorm",
           "batch_norm": "batchnorm", "layer_norm": "layernorm", "instance_norm": "instancenorm",
           "group_norm": "groupnorm",
           "variancenorm_centred": "variancenorm", "variancenorm_centered": "variancenorm",
           "variancenorm_uncentered": "variancenorm_uncentred"}
#: other spellings of a name of :data:`EXTRA_NAMES`
EXTRA_ALIASES = {"mean_centering": "meancentering"}


def canonical(name: str, *, extras: bool = True) -> str:
    """``name`` lowercased, stripped, ``-`` as ``_``, an alias replaced by its name (those
    of :data:`EXTRA_ALIASES` too unless ``extras=False``); not checked."""
    key = name.strip().lower().replace("-", "_")
    if extras and key in EXTRA_ALIASES:
        return EXTRA_ALIASES[key]
    return ALIASES.get(key, key)


def check_name(name, *, extras: bool = True) -> str:
    """The canonical (lowercase) name among :data:`NAMES` and :data:`VARIANT_NAMES`, or
    ``ValueError`` suggesting the closest names.

    Case, surrounding blanks and ``-`` for ``_`` are forgiven (``"EvoNorm-B0"``), and the
    aliases of :data:`ALIASES` give their name (``"BN"`` gives ``batchnorm``,
    ``variancenorm_centred`` / ``variancenorm_centered`` give ``variancenorm``).
    ``extras=True`` (the normalizers' message): a name of :data:`EXTRA_NAMES` is refused
    with a message saying where it is built. ``extras=False`` (the closed forms' message,
    naming the parameter ``norm``): the extra names are unknown like any other."""
    if not isinstance(name, str):
        raise ValueError(f"norm must be a name (str), one of {', '.join(KNOWN_NAMES)}; got {name!r}")
    key = canonical(name, extras=extras)
    if key in KNOWN_NAMES:
        return key
    if extras and key in EXTRA_NAMES:
        raise ValueError(
            f"{name!r} is one of normalizers.EXTRA_NAMES ({', '.join(EXTRA_NAMES)}), outside the names "
            f"that the theory, the networks and the kernels know: build it with normalizers.make. "
            f"Known here: {', '.join(KNOWN_NAMES)}"
        )
    close = difflib.get_close_matches(key, KNOWN_NAMES, n=3, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = repr(name) if extras else f"norm={name!r}"
    raise ValueError(f"unknown normalizer {shown}.{hint} Known: {', '.join(KNOWN_NAMES)}")


def any_name(name) -> str:
    """The canonical name among :data:`NAMES`, :data:`VARIANT_NAMES` and :data:`EXTRA_NAMES`,
    else ``ValueError``."""
    if isinstance(name, str) and canonical(name) in EXTRA_NAMES:
        return canonical(name)
    try:
        return check_name(name)
    except ValueError as err:
        if isinstance(name, str):
            close = difflib.get_close_matches(canonical(name), EXTRA_NAMES, n=1, cutoff=0.6)
            if close:
                raise ValueError(f"unknown normalizer {name!r}. Did you mean {close[0]!r}?") from None
        raise err from None


def family(name: str, *, extras: bool = True) -> str:
    """'activation', 'parametric' or 'none' (the variant names: 'activation'). ``extras=True``:
    the extra names are accepted ('activation'); ``extras=False``: they are refused with
    :func:`check_name`'s closed-forms message."""
    name = any_name(name) if extras else check_name(name, extras=False)
    if name in ACTIVATION_NAMES + VARIANT_NAMES + EXTRA_NAMES:
        return "activation"
    return "parametric" if name in PARAMETRIC_NAMES else "none"


def takes_group(name: str) -> bool:
    """Whether the (canonical) name ``name`` takes ``group_size`` / ``num_groups``."""
    return name in GROUPED_NAMES


def group_options(name: str, group_size) -> dict:
    """``{"group_size": group_size}`` for the (canonical) names that take it, else ``{}``."""
    return {"group_size": group_size} if takes_group(name) else {}
