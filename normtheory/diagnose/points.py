"""Which modules of a model ``diagnose`` probes, and which normalizer each probe point holds.

The normalization module types (:func:`norm_types`): torch's BatchNorm1d/2d/3d, GroupNorm,
LayerNorm, InstanceNorm1d/2d/3d, normtheory's activation normalizers
(:class:`normtheory.normalizers.ActivationNorm`) and any type registered with
:func:`register_norm`. Default probe points: ``model.probe_points()`` when the model
marks its own (normtheory's networks: a CNN's layers, a ResNet's stem and blocks), else
every normalization module, in the order of ``model.named_modules()`` (taken as the order
of depth).
"""

from __future__ import annotations

import difflib

from torch import nn

from normtheory import normalizers as N

_BUILTIN_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm1d,
                  nn.InstanceNorm2d, nn.InstanceNorm3d, N.ActivationNorm)
_REGISTERED: list[type] = []
#: normalizers whose statistics run over the batch (a batch of one is refused)
BATCH_STAT_TYPES = (nn.modules.batchnorm._BatchNorm, N.BatchStatNorm)


def register_norm(cls: type) -> type:
    """Count ``cls`` (a ``torch.nn.Module`` subclass) as a normalization module: its
    instances become default probe points. Returns ``cls``, so it works as a decorator."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_norm takes a torch.nn.Module subclass, got {cls!r}")
    if cls not in _REGISTERED:
        _REGISTERED.append(cls)
    return cls


def norm_types() -> tuple[type, ...]:
    """The normalization module types: the built-in ones and those registered."""
    return _BUILTIN_NORMS + tuple(_REGISTERED)


def resolve(model: nn.Module, where=None) -> list[tuple[str, nn.Module]]:
    """The probe points ``[(name, module), ...]`` of ``model``.

    ``where=None``: ``model.probe_points()`` when present, else every normalization module.
    ``where``: module names (as in ``model.named_modules()``) and module types, mixed; the
    selected modules in the order of ``named_modules()``. ``ValueError`` for an unknown
    name (with close matches) and when nothing is selected."""
    named = [(name, mod) for name, mod in model.named_modules() if name]
    if where is None:
        if hasattr(model, "probe_points"):
            points = list(model.probe_points())
        else:
            types = norm_types()
            points = [(name, mod) for name, mod in named if isinstance(mod, types)]
        if not points:
            raise ValueError(f"{type(model).__name__} has no probe points: no normalization module "
                             f"({', '.join(t.__name__ for t in norm_types())}) and no probe_points(); "
                             f"give where= module names or types (or register_norm your normalizer)")
        return points
    items = [where] if isinstance(where, (str, type)) else list(where)
    names = {name for name, _ in named}
    types = tuple(w for w in items if isinstance(w, type))
    wanted = set()
    for w in items:
        if isinstance(w, str):
            if w not in names:
                close = difflib.get_close_matches(w, sorted(names), n=3)
                hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                raise ValueError(f"where: {type(model).__name__} has no module named {w!r}.{hint}")
            wanted.add(w)
        elif not isinstance(w, type):
            raise ValueError(f"where takes module names and module types, got {w!r}")
    points = [(name, mod) for name, mod in named if name in wanted or (types and isinstance(mod, types))]
    if not points:
        raise ValueError(f"where={[getattr(w, '__name__', w) for w in items]} selects no module of "
                         f"{type(model).__name__}")
    return points


def batch_stat_modules(model: nn.Module) -> list[str]:
    """Names of the modules of ``model`` whose statistics run over the batch."""
    return [name or "(model)" for name, mod in model.named_modules() if isinstance(mod, BATCH_STAT_TYPES)]


def norm_config(module: nn.Module, out_shape: tuple) -> tuple | None:
    """``(name, group_size)`` in normtheory's terms of a normalizer with a closed form at
    init, for an output of shape ``out_shape`` ``(B, C, ...)``: ``("batchnorm", None)`` for
    batch normalization, ``("groupnorm", g)`` for per-sample statistics over groups of ``g``
    channels and all positions (GroupNorm; LayerNorm over ``(C, ...)`` is ``g = C``,
    InstanceNorm ``g = 1``). ``None`` for any other module (its closed forms, if any, are
    not known here)."""
    channels = out_shape[1]
    if type(module) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, N.BatchNorm):
        return ("batchnorm", None)
    if type(module) is nn.GroupNorm:
        return ("groupnorm", module.num_channels // module.num_groups)
    if type(module) in (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d):
        return ("groupnorm", 1)
    if type(module) is nn.LayerNorm and tuple(module.normalized_shape) == tuple(out_shape[1:]):
        return ("groupnorm", channels)
    if type(module) in (N.GroupNorm, N.LayerNorm, N.InstanceNorm):
        return ("groupnorm", module.group_size)
    return None


def point_norms(module: nn.Module, out_shape: tuple) -> list:
    """The normalizers of a probe point as :func:`norm_config` values: ``[its own]`` when the
    point is a normalization module, else one per normalization module inside it (``None``
    for one without a known closed form)."""
    if isinstance(module, norm_types()):
        return [norm_config(module, out_shape)]
    return [norm_config(m, out_shape) for m in module.modules() if m is not module and isinstance(m, norm_types())]
