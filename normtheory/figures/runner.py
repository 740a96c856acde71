"""Run a figure: compute its table (resumably), write CSV, PNG, PDF and caption.

A figure module (see :mod:`normtheory.figures`) exposes ``NAME``, ``TITLE``, ``CLAIMS``,
``CAPTION``, ``VERSION``, ``plot(rows) -> Figure`` and ``summary(rows) -> str`` (the
measured numbers, in one or two sentences), and its rows in one of two ways: a simulation
figure has ``settings(size) -> list[dict]`` and ``compute_setting(setting, seed) -> rows``
(and ``BACKENDS`` if not only numba), run by :func:`compute_settings`, which saves each
finished setting as it goes, so that a killed run resumes where it stopped; any other
figure has ``compute(size, seed, ...) -> rows``. :func:`compute` gives the rows of either.

Files written for a figure ``NAME`` into the output folder:

- ``NAME.csv`` -- the tidy table behind the figure (:mod:`normtheory.runs.table`);
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

from normtheory.durable import (
    JsonlLog,
    atomic_write_json,
    atomic_write_text,
    check_writable_dir,
    read_json,
)
from normtheory.figures import style
from normtheory.runs import progress as bars
from normtheory.runs.seeds import setting_key
from normtheory.runs.simulator import simulator_id
from normtheory.runs.table import read_csv, write_csv

SIZES = ("tiny", "default", "full")


def check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    return size


def check_seed(seed: int) -> int:
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


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
                     seed: int, checkpoint: str | Path | None = None, progress: bool = False,
                     store=None, executor=None, backends: Sequence[str] = ("numba",)) -> list[dict]:
    """Rows of every setting, in order.

    ``compute_setting`` gets the run ``seed``; the simulations it runs derive their own
    seeds from it and their settings (:func:`normtheory.figures.simulated.mlp`), so that
    a simulation shared by two figures is the same one. With ``checkpoint`` (a JSONL path) a
    finished setting is appended at once and reused by a later call with the same name,
    version, size and seed. ``store`` (a :class:`normtheory.store.ResultStore`) keeps each
    finished setting (kind :data:`STORE_KIND`, keyed with the simulator id of the figure's
    ``backends``) for every later run; ``executor`` (:mod:`normtheory.runs.executors`)
    computes the missing settings (the worker imports ``compute_setting`` by name).
    """
    check_size(size)
    seed = check_seed(seed)
    saved = Checkpoint(checkpoint, {"figure": name, "version": version, "size": size,
                                    "seed": seed})
    if store is not None or executor is not None:
        _compute_on(name, version, settings, compute_setting, seed, saved, store, executor, progress,
                    simulator_id(*backends))
    rows: list[dict] = []
    for setting in bars.iterate(settings, len(settings), name, progress and not executor, position=1):
        key = setting_key(setting)
        if key not in saved.done:
            saved.put(key, compute_setting(setting, seed))
        rows.extend(saved.done[key])
    return rows


STORE_KIND = "figures.setting"


def _compute_on(name, version, settings, compute_setting, seed, saved, store, executor, progress,
                simulator) -> None:
    """Fill ``saved`` from the result store, then compute the missing settings on ``executor``,
    storing each as it arrives."""
    def spec(key):
        return {"figure": name, "version": version, "simulator": simulator, "setting": key, "seed": seed}

    todo = []
    for setting in settings:
        key = setting_key(setting)
        if key in saved.done:
            continue
        stored = None if store is None else store.lookup(STORE_KIND, spec(key))
        if stored is not None:
            saved.put(key, stored)
        else:
            todo.append(setting)
    if executor is None or not todo:
        return
    func = f"{compute_setting.__module__}:{compute_setting.__qualname__}"
    for setting in todo:
        executor.submit(setting_key(setting), func, dict(setting), seed, warm="numba")
    for key, rows in bars.iterate(executor.results(), len(todo), name, progress, position=1):
        saved.put(key, rows)
        if store is not None:
            store.put(STORE_KIND, spec(key), rows)


def compute(module: ModuleType, *, size: str = "default", seed: int = 0, checkpoint: str | Path | None = None,
            progress: bool = False, executor=None, store=None, **options) -> list[dict]:
    """A figure's rows. A simulation figure (``settings(size)`` and ``compute_setting``) runs
    through :func:`compute_settings` with its ``BACKENDS`` (default numba); any other figure's
    own ``compute(size=, seed=, checkpoint=, progress=, **options)`` is called."""
    if hasattr(module, "compute_setting"):
        return compute_settings(module.NAME, module.VERSION, module.settings(check_size(size)),
                                module.compute_setting, size=size, seed=seed, checkpoint=checkpoint,
                                progress=progress, store=store, executor=executor,
                                backends=getattr(module, "BACKENDS", ("numba",)), **options)
    return module.compute(size=size, seed=seed, checkpoint=checkpoint, progress=progress, **options)


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
    curves) and recorded in its meta. ``executor`` (:mod:`normtheory.runs.executors`; None:
    serial) computes the settings of simulation figures, ``store`` (a
    :class:`normtheory.store.ResultStore`) keeps each finished setting (kind
    ``figures.setting``) for every later run, whatever its ``--out``.
    """
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
        rows = compute(module, size=size, seed=seed, checkpoint=partial, progress=progress, executor=executor,
                       store=store, **options)
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
        style.plt.close(fig)
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
