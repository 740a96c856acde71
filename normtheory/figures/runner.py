"""Run a figure: compute its table (resumably), write CSV, PNG, PDF and caption.

A figure module (see :mod:`normtheory.figures`) exposes ``NAME``, ``TITLE``, ``CLAIMS``,
``CAPTION``, ``VERSION``, ``compute(size, seed, ...) -> rows``, ``plot(rows) -> Figure``
and ``summary(rows) -> str`` (the measured numbers, in one or two sentences). Simulation
figures build ``compute`` from ``settings(size) -> list[dict]`` and
``compute_setting(setting, seed) -> rows`` with :func:`compute_settings`, which saves each
finished setting as it goes: a killed run resumes where it stopped.

Files written for a figure ``NAME`` into the output folder:

- ``NAME.csv`` -- the tidy table behind the figure (:mod:`normtheory.figures.table`);
- ``NAME.png`` (small, for the README) and ``NAME.pdf``;
- ``NAME.caption.txt`` -- one paragraph: what the figure shows, which claims it checks,
  and the numbers read off the table;
- ``NAME.meta.json`` -- size, seed and version the CSV was computed with;
- ``NAME.partial.jsonl`` -- only while computing: the settings finished so far.

A finished CSV is reused (only the plot is redrawn) when its meta matches the requested
size, seed and version, unless ``force``. The partial file is an append-only log with a
CRC-32 per line and the CSV, meta and caption are replaced atomically
(:mod:`normtheory.durable`): a kill at any point loses at most the setting being computed,
and a damaged file is an error naming it, never a figure drawn from altered numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Mapping, Sequence

from normtheory.durable import JsonlLog, atomic_write_json, atomic_write_text, check_writable_dir, read_json
from normtheory.figures import style
from normtheory.figures.table import read_csv, write_csv
from normtheory.verify.registry import setting_key

SIZES = ("tiny", "default", "full")


def check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    return size


def check_seed(seed: int) -> int:
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _progress(iterable, total: int, desc: str, enabled: bool, position: int = 0):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, leave=position == 0, position=position,
                dynamic_ncols=True)


class Checkpoint:
    """Finished settings of one (figure, version, size, seed), appended to a JSONL file."""

    def __init__(self, path: str | Path | None, header: Mapping):
        self.log = None if path is None else JsonlLog(path, checksum=True, hint="delete it or pass --force")
        self.header = dict(header)
        self.done: dict[str, list[dict]] = {}
        for obj in self.log.records() if self.log else []:
            if {k: obj.get(k) for k in self.header} != self.header:
                continue  # another size/seed/version: recompute
            if not isinstance(obj.get("key"), str) or not isinstance(obj.get("rows"), list):
                raise ValueError(f"checkpoint {self.log.path}: a record without its setting's key and "
                                 f"rows; delete it or pass --force")
            self.done[obj["key"]] = obj["rows"]

    def put(self, key: str, rows: list[dict]) -> None:
        self.done[key] = rows
        if self.log is not None:
            self.log.append({**self.header, "key": key, "rows": rows})


def compute_settings(name: str, version: str, settings: Sequence[Mapping],
                     compute_setting: Callable[[Mapping, int], list[dict]], *, size: str,
                     seed: int, checkpoint: str | Path | None = None,
                     progress: bool = False) -> list[dict]:
    """Rows of every setting, in order.

    ``compute_setting`` gets the run ``seed``; the simulations it runs derive their own
    seeds from it and their settings (:func:`normtheory.figures.simulated.mlp`), so that
    a simulation shared by two figures is the same one. With ``checkpoint`` (a JSONL path) a finished setting is appended at once and reused
    by a later call with the same name, version, size and seed.
    """
    check_size(size)
    seed = check_seed(seed)
    saved = Checkpoint(checkpoint, {"figure": name, "version": version, "size": size,
                                    "seed": seed})
    store, executor = _RUN["store"], _RUN["executor"]
    if store is not None or executor is not None:
        _compute_on(name, version, settings, compute_setting, seed, saved, store, executor, progress)
    rows: list[dict] = []
    for setting in _progress(settings, len(settings), name, progress and not _RUN["executor"], position=1):
        key = setting_key(setting)
        if key not in saved.done:
            saved.put(key, compute_setting(setting, seed))
        rows.extend(saved.done[key])
    return rows


#: the result store and executor of the current :func:`run_figure` (None: the partial file only, serial)
_RUN: dict = {"store": None, "executor": None}
STORE_KIND = "figures.setting"


def _compute_on(name, version, settings, compute_setting, seed, saved, store, executor, progress) -> None:
    """Fill ``saved`` from the result store, then compute the missing settings on ``executor``
    (the worker imports ``compute_setting`` by name), storing each as it arrives."""
    from normtheory import __version__
    from normtheory.verify.runner import SIMULATOR_VERSION

    def spec(key):
        return {"figure": name, "version": version, "simulator": f"normtheory {__version__}|simulator "
                f"{SIMULATOR_VERSION}", "setting": key, "seed": seed}

    todo = []
    for setting in settings:
        key = setting_key(setting)
        if key in saved.done:
            continue
        stored = None if store is None else store.get(_key(spec(key)))
        if stored is not None:
            saved.put(key, stored)
        else:
            todo.append(setting)
    if executor is None or not todo:
        return
    func = f"{compute_setting.__module__}:{compute_setting.__qualname__}"
    for setting in todo:
        executor.submit(setting_key(setting), func, dict(setting), seed, warm="numba")
    for key, rows in _progress(executor.results(), len(todo), name, progress, position=1):
        saved.put(key, rows)
        if store is not None:
            store.put(STORE_KIND, spec(key), rows)


def _key(spec):
    from normtheory.store import result_key

    return result_key(STORE_KIND, spec)


@dataclass
class FigureResult:
    name: str
    status: str                 # "computed", "reused", "skipped" or "failed"
    seconds: float
    paths: list[Path] = field(default_factory=list)
    message: str = ""


def _meta(module: ModuleType, size: str, seed: int, extra: Mapping) -> dict:
    return {"figure": module.NAME, "version": module.VERSION, "size": size, "seed": seed,
            **extra}


def run_figure(module: ModuleType, out: str | Path, *, size: str = "default", seed: int = 0,
               force: bool = False, progress: bool = False, dpi: int = style.PNG_DPI,
               executor=None, store=None, **options) -> FigureResult:
    """Compute (or reuse) one figure's table and write its files; see the module docstring.

    ``options`` are passed on to the figure's ``compute`` (e.g. ``runs`` for the training
    curves) and recorded in its meta. ``executor`` (:mod:`normtheory.executors`; None:
    serial) computes the settings of simulation figures, ``store`` (a
    :class:`normtheory.store.ResultStore`) keeps each finished setting (kind
    ``figures.setting``) for every later run, whatever its ``--out``.
    """
    _RUN.update(store=store, executor=executor)
    try:
        return _run_figure(module, out, size=size, seed=seed, force=force, progress=progress, dpi=dpi,
                           **options)
    finally:
        _RUN.update(store=None, executor=None)


def _run_figure(module, out, *, size, seed, force, progress, dpi, **options) -> FigureResult:
    check_size(size)
    seed = check_seed(seed)
    out = check_writable_dir(out)
    name = module.NAME
    csv_path, meta_path = out / f"{name}.csv", out / f"{name}.meta.json"
    partial = out / f"{name}.partial.jsonl"
    meta = _meta(module, size, seed, {k: str(v) for k, v in options.items()})
    start = time.perf_counter()
    reuse = (not force and getattr(module, "REUSE_CSV", True) and csv_path.exists()
             and meta_path.exists() and read_json(meta_path, hint="delete it or pass --force") == meta)
    if reuse:
        rows = read_csv(csv_path)
        partial.unlink(missing_ok=True)  # left by a run killed after writing the meta
        status = "reused"
    else:
        if force and partial.exists():
            partial.unlink()
        rows = module.compute(size=size, seed=seed, checkpoint=partial, progress=progress,
                              **options)
        if not rows:
            raise ValueError(f"figure {name}: compute returned no rows")
        write_csv(csv_path, rows)
        atomic_write_json(meta_path, meta, indent=1)
        partial.unlink(missing_ok=True)
        status = "computed"
    fig = module.plot(rows)
    try:
        paths = style.save(fig, out / name, dpi=dpi)
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)
    caption_path = out / f"{name}.caption.txt"
    atomic_write_text(caption_path, caption(module, rows) + "\n")
    return FigureResult(name, status, time.perf_counter() - start,
                        [csv_path, *paths, caption_path])


def caption(module: ModuleType, rows: list[dict]) -> str:
    """One paragraph: the figure's caption, the claims it checks, the measured numbers."""
    claims = ", ".join(module.CLAIMS) if module.CLAIMS else "none"
    text = f"{module.TITLE}. {module.CAPTION.strip()} Claims checked: {claims}."
    measured = module.summary(rows).strip()
    return " ".join((text + " " + measured).split())
