"""Verification output: the terminal table, the JSON file and the Markdown report.

JSON schema (``normtheory verify --json PATH``), version ``normtheory.verify/1``; also in
docs/verify-json.md::

    {
      "schema": "normtheory.verify/1",
      "mode": "quick" | "full",
      "seed": int,                      # the run's --seed
      "passed": bool,                   # every claim passed (the exit status is 0)
      "claims": [                       # one per claim checked, registry order
        {"claim": "F1", "family": "forward", "title": str, "statement": str,
         "statistic": str, "interval": str, "rule": str, "source": str,
         "verdict": "pass" | "fail" | "diverged", "settings": int}
      ],
      "results": [                      # one per (claim, setting)
        {"claim": "F1",
         "setting": {...},              # the grid point's parameters
         "theory": float,               # the closed form at this setting
         "estimate": float,             # the simulated statistic (NaN if no finite trials)
         "ci_low": float, "ci_high": float,  # interval at level `level`
         "level": float,                # per-setting level (simultaneous 95% over the grid)
         "method": "t" | "delta" | "batch-means" | "log-t",
         "ratio": float,                # estimate / theory
         "verdict": "pass" | "fail" | "diverged",
         "reason": str,                 # why it failed/diverged ("" on pass)
         "trials": int,                 # independent random networks simulated
         "seed": int,                   # the run's --seed
         "setting_seed": int,           # the seed handed to the simulator for this setting
         "diverged_layer": int | null,  # first layer with inf/NaN, if any trial overflowed
         "diverged_trials": int,
         "seconds": float,              # simulation time (0 when taken from the cache)
         "cached": bool}
      ]
    }

Non-finite numbers are written as ``NaN``/``Infinity`` (Python's json default).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from normtheory.verify.runner import ClaimResult, SettingResult
from normtheory.verify.stats import PASS

SCHEMA = "normtheory.verify/1"
TABLE_HEADERS = ("claim", "setting", "theory", "simulation (mean ± CI)", "ratio", "verdict")


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.4g}"


def format_setting(setting: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in setting.items())


def _row(r: SettingResult) -> list[str]:
    if math.isnan(r.estimate):
        sim = "nan"
    else:
        sim = f"{_num(r.estimate)} ± {_num(0.5 * (r.ci_high - r.ci_low))}"
    verdict = r.verdict if not r.reason else f"{r.verdict} ({r.reason})"
    return [r.claim, format_setting(r.setting), _num(r.theory), sim, _num(r.ratio), verdict]


def table(results: Sequence[ClaimResult], fmt: str = "simple") -> str:
    """The per-setting table (``fmt`` is a tabulate format: "simple", "github", ...)."""
    from tabulate import tabulate

    rows = [_row(r) for cr in results for r in cr.rows]
    return tabulate(rows, headers=TABLE_HEADERS, tablefmt=fmt, disable_numparse=True)


def summary(results: Sequence[ClaimResult], fmt: str = "simple") -> str:
    """One line per claim: verdict and counts of settings by verdict."""
    from tabulate import tabulate

    rows = []
    for cr in results:
        counts = {}
        for r in cr.rows:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        rows.append([cr.claim.id, cr.claim.title, cr.verdict,
                     ", ".join(f"{v} {n}" for v, n in sorted(counts.items()))])
    return tabulate(rows, headers=("claim", "title", "verdict", "settings"), tablefmt=fmt)


def all_passed(results: Sequence[ClaimResult]) -> bool:
    return bool(results) and all(cr.verdict == PASS for cr in results)


def to_json(results: Sequence[ClaimResult], *, mode: str, seed: int) -> dict:
    return {
        "schema": SCHEMA,
        "mode": mode,
        "seed": seed,
        "passed": all_passed(results),
        "claims": [{"claim": cr.claim.id, "family": cr.claim.family, "title": cr.claim.title,
                    "statement": cr.claim.statement, "statistic": cr.claim.statistic,
                    "interval": cr.claim.interval, "rule": cr.claim.rule.text,
                    "source": cr.claim.source, "verdict": cr.verdict,
                    "settings": len(cr.rows)} for cr in results],
        "results": [r.to_dict() for cr in results for r in cr.rows],
    }


def write_json(path: str | Path, results: Sequence[ClaimResult], *, mode: str, seed: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(results, mode=mode, seed=seed), indent=1) + "\n")


def markdown(results: Sequence[ClaimResult], *, mode: str, seed: int) -> str:
    """A Markdown report: summary, then per claim its statement, statistic, rule, table."""
    lines = [f"# normtheory verify ({mode}, seed {seed})", "",
             "Overall: " + ("every claim passes" if all_passed(results) else "NOT every claim passes"),
             "", summary(results, fmt="github"), ""]
    for cr in results:
        c = cr.claim
        lines += [f"## {c.id}: {c.title} -- {cr.verdict}", "", c.statement, "",
                  f"- Statistic: {c.statistic}", f"- Interval: {c.interval}",
                  f"- Pass rule (stated in advance): {c.rule.text}"]
        if c.source:
            lines.append(f"- Source: {c.source}")
        if c.notes:
            lines.append(f"- Notes: {c.notes}")
        lines += ["", table([cr], fmt="github"), ""]
    return "\n".join(lines)


def write_markdown(path: str | Path, results: Sequence[ClaimResult], *, mode: str, seed: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(results, mode=mode, seed=seed))
