"""The result of a diagnosis: tidy records, per-point intervals, property verdicts, and their outputs.

Per-point summaries are means over the inits with 95% t-intervals
(:func:`normtheory.stats.mean_interval`; descriptive, one per point and quantity); the
properties' intervals and verdicts are :mod:`normtheory.diagnose.properties`'s.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tabulate import tabulate

from normtheory.diagnose.properties import properties
from normtheory.durable import atomic_write_json
from normtheory.runs.table import write_csv
from normtheory.stats import mean_interval

#: the probe quantities, as in :func:`normtheory.probes.probe`'s records
QUANTITIES = ("variance", "cosine", "stable_rank", "stable_rank_rownorm", "grad_input_sq", "grad_conv_out_norm",
              "grad_weight_sq")
POINT_LEVEL = 0.95
_PLOTTED = (("variance", True), ("cosine", False), ("stable_rank", False), ("stable_rank_rownorm", False),
            ("grad_input_sq", True), ("grad_conv_out_norm", True))


class Diagnosis:
    """A diagnosis of one model factory (:func:`normtheory.diagnose.diagnose`).

    ``setting``: model, input_shape, batch, inits, seed. ``records``: one per init and
    probe point, with the setting columns, ``init``, ``layer``, ``name``, ``module``,
    ``channels``, ``spatial`` (positions per channel), ``overflow`` and the probe
    quantities. ``points``: one row per probe point, each quantity's mean over inits and
    95% interval (``<q>``, ``<q>_low``, ``<q>_high``; NaN where a value is non-finite or
    missing). ``properties``: the verdict rows."""

    def __init__(self, setting: dict, records: list[dict], info: list):
        self.setting = dict(setting)
        self.records = records
        self.info = info
        self._by_key = {(r["init"], r["layer"]): r for r in records if not r["overflow"]}
        self.points = [self._point_row(idx) for idx in range(len(info))]
        self.properties = properties(self.values, info, setting["batch"])

    def values(self, point: int, key: str) -> np.ndarray:
        """Probe ``key`` at ``point`` over the inits (NaN where the init overflowed there)."""
        return np.array([self._by_key.get((init, point), {}).get(key, math.nan)
                         for init in range(self.setting["inits"])], dtype=float)

    def _point_row(self, idx: int) -> dict:
        name, module, shape, norms = self.info[idx]
        row = {"layer": idx, "name": name, "module": module, "channels": shape[1],
               "spatial": int(np.prod(shape[2:], dtype=np.int64)),
               "norm": ", ".join(sorted({_norm_text(n) for n in norms})) or "-"}
        for q in QUANTITIES:
            try:
                iv = mean_interval(self.values(idx, q), POINT_LEVEL)
                row.update({q: iv.estimate, f"{q}_low": iv.low, f"{q}_high": iv.high})
            except ValueError:
                row.update({q: math.nan, f"{q}_low": math.nan, f"{q}_high": math.nan})
        return row

    def property_row(self, name: str) -> dict:
        """The property row ``name`` (``KeyError`` naming the known ones)."""
        for row in self.properties:
            if row["property"] == name:
                return row
        raise KeyError(f"no property {name!r}; known: {', '.join(r['property'] for r in self.properties)}")

    @property
    def variance_growth(self) -> str:
        """``"flat"`` when variance_flat agrees, else variance_regime's finding (``"linear"``,
        ``"geometric"``, ``"undecided"``, ``"error"`` or ``"not applicable"``)."""
        flat = self.property_row("variance_flat")
        return "flat" if flat["finding"] == "flat" else self.property_row("variance_regime")["finding"]

    def summary(self) -> str:
        """The per-point table and the properties table, as text."""
        head = ", ".join(f"{k}={v}" for k, v in self.setting.items())
        pts = [[p["name"], p["module"], p["channels"], p["spatial"], p["norm"],
                *(_cell(p, q) for q in ("variance", "cosine", "stable_rank", "stable_rank_rownorm",
                                        "grad_input_sq", "grad_conv_out_norm"))] for p in self.points]
        props = [[r["property"], r["finding"], r["verdict"] or "-", _interval_text(r), _num(r["prediction"]),
                  _num(r["per_point"]), r["points"], r["hypothesis"]] for r in self.properties]
        level = next((r["level"] for r in self.properties if not math.isnan(r["level"])), math.nan)
        return "\n\n".join([
            f"diagnosis: {head}; variance growth: {self.variance_growth}",
            f"per point (mean over inits [{POINT_LEVEL:.0%} interval]):\n" + tabulate(
                pts, headers=["point", "module", "C", "HxW", "norm", "variance", "cosine", "stable rank",
                              "stable rank (rownorm)", "|dl/dX|^2", "|dl/dY| conv"]),
            f"properties (intervals at the simultaneous level {level:.4g}):\n" + tabulate(
                props, headers=["property", "finding", "verdict", "estimate [interval]", "prediction",
                                "per point", "points", "hypothesis (agree =)"])])

    def to_dataframe(self):
        """The records as a pandas DataFrame (pandas: ``pip install 'normtheory[pandas]'``)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError("to_dataframe needs pandas: pip install 'normtheory[pandas]'") from err
        return pd.DataFrame(self.records)

    def write_csv(self, path) -> Path:
        """The records as CSV (:func:`normtheory.runs.table.write_csv`)."""
        return write_csv(path, self.records)

    def to_json(self, path) -> Path:
        """Setting, points, properties and records as strict JSON (non-finite values as null)."""
        return atomic_write_json(path, {"setting": self.setting, "points": self.points,
                                        "properties": self.properties, "records": self.records})

    def plot(self, path) -> list[Path]:
        """Per-point curves of the probes with their 95% bands, written as ``path`` with the
        suffixes ``.png`` and ``.pdf``; returns both paths."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        x = np.arange(len(self.points))
        fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
        for ax, (q, log) in zip(axes.flat, _PLOTTED):
            y = np.array([p[q] for p in self.points])
            lo = np.array([p[f"{q}_low"] for p in self.points])
            hi = np.array([p[f"{q}_high"] for p in self.points])
            ax.plot(x, y, marker="o", ms=3)
            ax.fill_between(x, lo, hi, alpha=0.3)
            if log and np.any(y > 0):
                ax.set_yscale("log")
            ax.set_title(q)
            ax.set_xlabel("probe point")
        fig.suptitle(f"{self.setting['model']}: batch {self.setting['batch']}, {self.setting['inits']} inits, "
                     f"input {self.setting['input_shape']} (mean, {POINT_LEVEL:.0%} interval)")
        out = []
        for suffix in (".png", ".pdf"):
            target = path.with_suffix(suffix)
            fig.savefig(target, dpi=120)
            out.append(target)
        plt.close(fig)
        return out


def _norm_text(config) -> str:
    if config is None:
        return "other"
    name, group_size = config
    return name if group_size is None else f"{name}(g={group_size})"


def _num(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def _cell(row: dict, q: str) -> str:
    if math.isnan(row[q]):
        return "-"
    return f"{row[q]:.4g} [{row[f'{q}_low']:.3g}, {row[f'{q}_high']:.3g}]"


def _interval_text(row: dict) -> str:
    if math.isnan(row["estimate"]):
        return "-" if not row["reason"] else row["reason"][:60]
    return f"{row['estimate']:.4g} [{row['low']:.3g}, {row['high']:.3g}]"
