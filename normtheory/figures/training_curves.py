"""Figure 6: training curves in the layout of the paper's Figure 1 (claim T1).

Four panels, as in Lubana et al. (2021), Figure 1: (a) non-residual CNN with 10 layers,
(b) with 20 layers, (c) ResNet-56 without and (d) with SkipInit. In each panel, one colour
per normalizer and one line style per batch size; the line is the mean training loss over
seeds at each epoch and the band spans the seeds (min to max). A run whose loss becomes
non-finite ends its curve there (the paper: "layers for which loss reaches infinity are not
plotted"); the mean is drawn only at epochs where every seed of the setting is finite.

The curves are read from the per-epoch JSONL logs that ``normtheory train`` writes
(:func:`read_runs`); nothing is simulated, so the figure needs ``runs`` (``--runs DIR``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from normtheory.figures import style
from normtheory.runs.table import LOG, select, unique, xy
from normtheory.training import read_log
from normtheory.training.loop import SEARCH

NAME = "training_curves"
TITLE = "Training curves at initialization-determined stability (the paper's Figure 1 layout)"
CLAIMS = ("T1",)
VERSION = "1"
REUSE_CSV = False  # logs grow while training runs: always read them again
CAPTION = (
    "Training loss against epoch for every normalizer (colour) and batch size (line style: "
    "solid for the larger, dashed for the smaller), in four panels: non-residual CNN with 10 "
    "and 20 layers, ResNet-56 without and with SkipInit. Lines are the mean over seeds, bands "
    "span the seeds (min to max); a curve ends where a seed's loss became non-finite. The "
    "paper reports that LN converges slowly, WN cannot train ResNets, and IN is unstable in "
    "deep non-residual nets, especially at small batch."
)

# (panel key, architecture, skipinit, title)
PANELS = (
    ("vgg10", "vgg10", False, "Non-residual CNN, 10 layers"),
    ("vgg20", "vgg20", False, "Non-residual CNN, 20 layers"),
    ("resnet56", "resnet56", False, "ResNet-56 (without SkipInit)"),
    ("resnet56_skipinit", "resnet56", True, "ResNet-56 (with SkipInit)"),
)
LINESTYLES = ("-", "--", ":", "-.")


def panel_key(arch: str, skipinit: bool) -> str:
    for key, a, s, _ in PANELS:
        if a == arch and s == bool(skipinit):
            return key
    return f"{arch}_skipinit" if skipinit else arch


def read_runs(runs: str | Path) -> list[dict]:
    """Every run under ``runs``: a folder with ``config.json`` and ``log.jsonl`` as written by
    :func:`normtheory.training.train`, found at any depth.

    Returns ``{"arch", "skipinit", "norm", "group_size", "batch", "seed", "epoch", "loss",
    "path"}`` per run; ``epoch`` counts finished epochs (the log's 0-based ``epoch`` + 1) and
    ``loss`` is the epoch's mean training loss, NaN at the epoch a run diverged. A folder
    with a config but no log yet (a run not started) is left out, and so are the short runs
    of an LR search (folders below one holding ``find_max_lr.json``).
    """
    root = Path(runs)
    if not root.is_dir():
        raise ValueError(f"runs: {root} is not a folder")
    found = []
    for config_path in sorted(root.rglob("config.json")):
        log_path = config_path.parent / "log.jsonl"
        if not log_path.exists() or _in_lr_search(config_path.parent, root):
            continue
        try:
            config = json.loads(config_path.read_text())
            records = read_log(log_path)
            run = {"arch": str(config["arch"]), "skipinit": bool(config["skipinit"]),
                   "norm": str(config["norm"]), "group_size": config.get("group_size"),
                   "batch": int(config["batch_size"]), "seed": int(config["seed"]),
                   "epoch": [int(r["epoch"]) + 1 for r in records],
                   "loss": [math.nan if r.get("diverged") else float(r["train_loss"])
                            for r in records],
                   "path": str(config_path.parent)}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"runs: unreadable training run in {config_path.parent} "
                             f"({type(exc).__name__}: {exc})") from exc
        found.append(run)
    return found


def _in_lr_search(folder: Path, root: Path) -> bool:
    return any((p / SEARCH).exists() for p in [folder, *folder.parents] if p == root or root in p.parents)


def series_label(norm: str, group_size, batch: int) -> str:
    g = f" g={group_size}" if group_size is not None else ""
    return f"{style.norm_label(norm)}{g} B={batch}"


def aggregate(runs: list[dict]) -> list[dict]:
    """Mean training loss over seeds per (panel, normalizer, group size, batch) and epoch,
    band from the smallest to the largest seed; the curve stops at the first epoch where a
    seed has no finite loss. A setting whose every seed diverged in its first epoch gets one
    row with ``x = y = NaN`` (kept, so that the table says it was run)."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        key = (panel_key(run["arch"], run["skipinit"]), run["norm"], run["group_size"],
               int(run["batch"]))
        groups.setdefault(key, []).append(run)
    rows = []
    for (panel, norm, g, batch), members in sorted(groups.items(), key=lambda kv: _order(kv[0])):
        epochs = sorted({e for run in members for e in run["epoch"]})
        index = {e: i for i, e in enumerate(epochs)}
        per_seed = np.full((len(members), len(epochs)), math.nan)
        for s, run in enumerate(members):
            for e, loss in zip(run["epoch"], run["loss"]):
                per_seed[s, index[e]] = loss
        base = {"panel": panel, "series": f"{norm}|{g}|{batch}", "norm": norm, "group_size": g,
                "batch": batch, "seeds": len(members),
                "diverged_seeds": sum(not np.all(np.isfinite(run["loss"])) for run in members)}
        before = len(rows)
        for i, epoch in enumerate(epochs):
            column = per_seed[:, i]
            if not np.all(np.isfinite(column)):
                break
            rows.append({**base, "kind": LOG, "x": float(epoch), "y": float(column.mean()),
                         "y_low": float(column.min()), "y_high": float(column.max()),
                         "n": len(members), "method": "min-max over seeds"})
        if len(rows) == before:
            rows.append({**base, "kind": LOG, "x": math.nan, "y": math.nan})
    return rows


def _order(key: tuple) -> tuple:
    panel, norm, g, batch = key
    panels = [p[0] for p in PANELS]
    norms = list(style.NORM_STYLE)
    return (panels.index(panel) if panel in panels else len(panels), panel,
            norms.index(norm) if norm in norms else len(norms), g or 0, -batch)


def compute(size: str = "default", seed: int = 0, *, runs=None, checkpoint=None,
            progress: bool = False) -> list[dict]:
    """The table of the figure from the logs in ``runs`` (``size`` and ``seed`` do not apply:
    nothing is simulated)."""
    if runs is None:
        raise ValueError("runs: training_curves needs a folder of training logs (--runs DIR)")
    found = read_runs(runs)
    if not found:
        raise ValueError(f"runs: no training run (config.json with log.jsonl) under {runs}")
    return aggregate(found)


def _panels(rows: list[dict]) -> list[tuple[str, str]]:
    """(key, title) of the panels present: the paper's four in order, then any others."""
    present = unique(rows, "panel")
    out = [(key, title) for key, _a, _s, title in PANELS if key in present]
    return out + [(p, p) for p in present if p not in {k for k, _ in out}]


def plot(rows: list[dict]):
    batches = sorted(unique(rows, "batch"), reverse=True)
    panels = _panels(rows)
    with style.style():
        ncols = min(2, len(panels))
        nrows = (len(panels) + ncols - 1) // ncols
        fig, axes = style.figure(ncols, nrows, panel_height=1.7, width=style.TEXT_WIDTH)
        flat = list(axes.flat)
        for ax in flat[len(panels):]:
            ax.axis("off")
        for i, (key, title) in enumerate(panels):
            ax = flat[i]
            part = select(rows, panel=key)
            for series in unique(part, "series"):
                finite = [r for r in select(part, series=series) if math.isfinite(r["x"])]
                if not finite:
                    continue  # diverged in the first epoch: nothing to draw
                first = finite[0]
                x, y, low, high = xy(finite, "x", "y", "y_low", "y_high")
                style.curve(ax, x, y, low=low, high=high, series=series,
                            color=style.norm_color(first["norm"]),
                            linestyle=_linestyle(first["batch"], batches),
                            label=series_label(first["norm"], first["group_size"], first["batch"]))
            style.panel_title(ax, "abcdefgh"[i], title)
            ax.set_xlabel("epoch")
            ax.set_yscale("log")
        for row in range(nrows):
            axes[row, 0].set_ylabel("training loss")
        _legend(fig, rows, batches)
    return fig


def _linestyle(batch: int, batches: list[int]) -> str:
    return LINESTYLES[batches.index(batch) % len(LINESTYLES)]


def _legend(fig, rows, batches) -> None:

    norms = unique(rows, "norm")
    handles = [Line2D([], [], color=style.norm_color(n), label=style.norm_label(n))
               for n in style.NORM_STYLE if n in norms]
    handles += [Line2D([], [], color="0.3", linestyle=_linestyle(b, batches), label=f"batch {b}")
                for b in batches]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 9))


def summary(rows: list[dict]) -> str:
    """Final mean training loss per panel and setting, and which settings had diverged seeds."""
    parts = []
    for key, title in _panels(rows):
        items = []
        for series in unique(select(rows, panel=key), "series"):
            part = select(rows, panel=key, series=series)
            first = part[0]
            label = series_label(first["norm"], first["group_size"], first["batch"])
            finite = [r for r in part if math.isfinite(r["x"])]
            diverged = f", {first['diverged_seeds']} of {first['seeds']} seeds diverged" \
                if first["diverged_seeds"] else ""
            if finite:
                last = max(finite, key=lambda r: r["x"])
                items.append(f"{label} {last['y']:.3g} after {last['x']:g} epochs{diverged}")
            else:
                items.append(f"{label} diverged in the first epoch{diverged}")
        parts.append(f"{title}: " + "; ".join(items))
    return "Final training loss (mean over seeds). " + ". ".join(parts) + "."
