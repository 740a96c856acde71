"""Tidy tables behind the figures: rows (dicts) to and from CSV, and the row builders.

A figure's data is a list of dicts, one row per plotted point. Every figure uses the
columns

- ``panel`` -- which panel the row belongs to;
- ``series`` -- the curve it belongs to (a normalizer, a group size, ...);
- ``kind`` -- ``"theory"`` (a closed form), ``"simulation"`` (a Monte Carlo estimate with
  a confidence interval) or ``"log"`` (a measured training curve);
- ``x``, ``y`` -- the point; ``y_low``, ``y_high`` -- its confidence interval (simulation
  and logs); ``n``, ``level``, ``method`` -- what the interval rests on
  (:class:`normtheory.verify.stats.Interval`);

plus columns naming the setting (``norm``, ``group_size``, ``width`` ...). CSV values are
read back as int, float, bool or str (an empty cell is ``None``).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Iterable, Mapping

from normtheory.durable import atomic_write
from normtheory.stats import Interval

THEORY = "theory"
SIMULATION = "simulation"
LOG = "log"


def theory_row(base: Mapping, x: float, y: float) -> dict:
    """A closed-form point."""
    return {**base, "kind": THEORY, "x": float(x), "y": float(y)}


def interval_row(base: Mapping, x: float, interval: Interval) -> dict:
    """A Monte Carlo point with its confidence interval."""
    return {**base, "kind": SIMULATION, "x": float(x), "y": interval.estimate,
            "y_low": interval.low, "y_high": interval.high, "n": interval.n,
            "level": interval.level, "method": interval.method}


def columns(rows: Iterable[Mapping]) -> list[str]:
    """The union of the rows' keys, in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        for k in row:
            seen.setdefault(k, None)
    return list(seen)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def write_csv(path: str | Path, rows: list[Mapping]) -> Path:
    """Write the rows (missing cells empty; the file replaced atomically) and return the path."""
    path = Path(path)
    cols = columns(rows)
    with atomic_write(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in cols])
    return path


def parse_cell(text: str):
    """A CSV cell back to ``None``, bool, int, float or str."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_csv(path: str | Path) -> list[dict]:
    """Rows written by :func:`write_csv` (cells parsed by :func:`parse_cell`)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
            rows = []
            for number, cells in enumerate(reader, start=2):
                if len(cells) != len(header):
                    raise ValueError(f"{path}, line {number}: {len(cells)} cells, header has "
                                     f"{len(header)}; the file is corrupted, delete it or pass --force")
                rows.append({k: parse_cell(v) for k, v in zip(header, cells)})
        except StopIteration:
            raise ValueError(f"{path}: empty CSV file (no header)") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValueError(f"{path}: not a readable CSV file ({type(exc).__name__}); delete it or "
                             f"pass --force") from None
    return rows


def select(rows: Iterable[Mapping], **where) -> list[Mapping]:
    """The rows whose columns equal every ``where`` value."""
    return [r for r in rows if all(r.get(k) == v for k, v in where.items())]


def unique(rows: Iterable[Mapping], column: str) -> list:
    """The distinct values of a column, in order of first appearance (``None`` left out)."""
    out = []
    for r in rows:
        v = r.get(column)
        if v is not None and v not in out:
            out.append(v)
    return out


def xy(rows: Iterable[Mapping], *columns_: str) -> list[list[float]]:
    """Columns of the rows as float lists sorted by ``x`` (missing cells are NaN)."""
    rows = sorted(rows, key=lambda r: r["x"])
    return [[math.nan if r.get(c) is None else float(r[c]) for r in rows] for c in columns_]
