"""Probe freshly initialized models of any ``factory`` over independent inits.

Setting (docs/diagnose.md): ``inits`` independent draws of the model (``factory()`` under
a seeded torch RNG), each in training mode (batch statistics, as at init in
docs/settings.md), fed its own batch of ``batch`` inputs with i.i.d. ``N(0, 1)`` entries of
shape ``input_shape``, and probed by :func:`normtheory.probes.probe` with the random loss
``<G, output>``, ``G`` i.i.d. ``N(0, 1)``. Weights, inputs and ``G`` of init ``i`` come from
seeds derived from ``seed`` and ``i`` (:func:`normtheory.runs.seeds.derived_seed`), so a
diagnosis is reproducible from ``seed`` and two models built in the same order from the
same seeds see the same weights, inputs and losses. The caller's global torch RNG is left
as it was.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from normtheory import probes
from normtheory._args import positive_int
from normtheory.diagnose import points as P
from normtheory.diagnose.result import Diagnosis
from normtheory.runs import progress as progress_bars
from normtheory.runs.seeds import derived_seed


def check_input_shape(input_shape) -> tuple[int, ...]:
    """``input_shape`` (one sample, without the batch axis) as a tuple of positive ints."""
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    try:
        shape = tuple(positive_int(d, "input_shape") for d in input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be a sequence of positive ints, got {input_shape!r}") from None
    if not shape:
        raise ValueError("input_shape must give at least one dimension (e.g. 3,32,32)")
    return shape


def _fresh(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = factory()
    if not isinstance(model, nn.Module):
        raise TypeError(f"the factory must return a torch.nn.Module, got {type(model).__name__}")
    for mod in model.modules():  # an in-place activation would overwrite a probed output
        if getattr(mod, "inplace", None) is True:
            mod.inplace = False
    return model.train()


def _probe_init(factory, init: int, *, input_shape, batch, seed, where, dtype) -> tuple[list[dict], list]:
    """The probe records of init ``init`` and its probe points' ``(name, module type, shape, norms)``."""
    model = _fresh(factory, derived_seed(seed, f"diagnose|init{init}|weights")).to(dtype)
    if init == 0 and batch < 2:
        stats = P.batch_stat_modules(model)
        why = (f"its batch-statistic normalizers ({', '.join(stats[:3])}{', ...' if len(stats) > 3 else ''}) "
               f"need at least 2 samples" if stats else "the probes compare samples (cosine, stable rank)")
        raise ValueError(f"batch must be >= 2, got {batch}: {why}")
    points = P.resolve(model, where)
    gen = torch.Generator().manual_seed(derived_seed(seed, f"diagnose|init{init}|input"))
    x = torch.randn((batch, *input_shape), generator=gen, dtype=dtype)
    shapes: dict[int, tuple] = {}

    def keep_shape(idx):
        def hook(_mod, _inp, out):
            shapes[idx] = tuple(out.shape)
        return hook

    hooks = [mod.register_forward_hook(keep_shape(idx)) for idx, (_name, mod) in enumerate(points)]
    try:
        records = probes.probe(model, x, points=points, seed=derived_seed(seed, f"diagnose|init{init}|loss"),
                               on_overflow="record")
    finally:
        for h in hooks:
            h.remove()
    info = [(name, type(mod).__name__, shapes[idx], P.point_norms(mod, shapes[idx]))
            for idx, (name, mod) in enumerate(points)]
    return records, info


def diagnose(factory: Callable[[], nn.Module], *, input_shape, batch: int, inits: int, where=None, seed: int = 0,
             progress: bool = True, name: str | None = None, dtype: torch.dtype = torch.float32) -> Diagnosis:
    """The paper's properties at initialization of the models ``factory()`` makes.

    ``factory()`` returns a freshly initialized ``torch.nn.Module`` taking a batch of shape
    ``(batch, *input_shape)``; its probe points are :func:`normtheory.diagnose.points.resolve`'s
    (``where``: module names and types; default ``model.probe_points()`` or every
    normalization module). ``inits >= 2`` independent inits (the setting: the module
    docstring), each probed at every point (activation variance, mean cosine similarity,
    both stable ranks, the gradient norms at both placements: :mod:`normtheory.probes`).
    Returns a :class:`normtheory.diagnose.result.Diagnosis`: tidy records (one per init and
    point), per-point intervals over inits and the properties' verdicts. ``name`` labels
    the model in the records (default: the factory's name). ``ValueError`` for bad
    arguments, a model without probe points, a batch below 2, a point not called or called
    twice."""
    if not callable(factory):
        raise TypeError(f"factory must be callable (returning a fresh torch.nn.Module), got {factory!r}")
    input_shape = check_input_shape(input_shape)
    batch = positive_int(batch, "batch")
    inits = positive_int(inits, "inits")
    if inits < 2:
        raise ValueError(f"inits must be >= 2 (the intervals are over independent inits), got {inits}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    label = name or getattr(factory, "__qualname__", type(factory).__qualname__)
    setting = {"model": label, "input_shape": "x".join(map(str, input_shape)), "batch": batch, "inits": inits,
               "seed": seed}
    records, info = [], None
    for init in progress_bars.iterate(range(inits), total=inits, desc="diagnose", enabled=progress):
        rows, info_i = _probe_init(factory, init, input_shape=input_shape, batch=batch, seed=seed, where=where,
                                   dtype=dtype)
        if info is None:
            info = info_i
        elif [i[:3] for i in info_i] != [i[:3] for i in info]:
            raise ValueError(f"init {init} has other probe points than init 0: the factory must build the same "
                             f"architecture every time")
        for row in rows:
            _name, module, shape, _norms = info[row["layer"]]
            records.append({**setting, "init": init, "layer": row["layer"], "name": row["name"], "module": module,
                            "channels": shape[1], "spatial": _spatial(shape),
                            "overflow": bool(row.get("overflow", False)),
                            **{k: v for k, v in row.items() if k not in ("layer", "name", "overflow", "nonfinite")},
                            **({"nonfinite": ";".join(row["nonfinite"])} if "nonfinite" in row else {})})
    return Diagnosis(setting, records, info)


def _spatial(shape: tuple) -> int:
    out = 1
    for d in shape[2:]:
        out *= d
    return out
