"""Prose whose numbers come from a run: a findings template rendered against a verify JSON.

The README's findings, docs/findings.md and docs/theory.md are written once as templates
(``docs/readme-findings.in.md``, ``docs/findings.in.md``, ``docs/theory.in.md``) and rendered
against the JSON of a ``normtheory verify --full --json`` run (``docs/verify-full.json``),
so that every number the prose quotes is read from the run it describes. A test renders the
templates again and compares them with the files, so prose and run cannot drift apart.

Template fields, each between double braces:

- ``{{summary}}``: one line per claim (closed form, δ, verdict, settings by verdict);
- ``{{rivals}}``: one line per claim and rival (provenance, status, settings that
  discriminate it, the largest gap of the estimate from it where it is rejected);
- ``{{not-agree}}``: every setting whose verdict is not agree (theory, estimate with its
  interval, gap in δ, verdict);
- ``{{run | FIELD}}``: a field of the run (``mode``, ``seed``, ``level``, ``claims``,
  ``settings``, ``exit_status``, ``verdict``);
- ``{{CLAIM key=value ... | FIELD}}`` or ``{{CLAIM key=value ... | FIELD | FORMAT}}``: a number
  of the one row of claim ``CLAIM`` whose setting holds every ``key=value`` given.
  ``FIELD`` is a column of the row (``theory``, ``theory_low``, ``theory_high``,
  ``estimate``, ``ci_low``, ``ci_high``, ``delta``, ``gap``, ``ratio``, ``trials``), ``ci``
  (``estimate [low, high]``), ``half`` (the interval's half-width), ``rival NAME`` (the value
  of the claim's rival ``NAME`` there) or ``rival-gap NAME`` (the estimate's gap from it in
  δ); ``FORMAT`` is a Python
  format spec (default ``.4g``). A reference that matches no row, or more than one, raises
  ``ValueError`` naming it.

Usage: ``python -m normtheory.verify.findings docs/verify-full.json docs/readme-findings.in.md
--into README.md`` replaces the text between the README's ``<!-- findings: begin -->`` and
``<!-- findings: end -->`` lines; ``--out PATH`` writes the rendering to a file instead
(``docs/findings.in.md --out docs/findings.md``, ``docs/theory.in.md --out docs/theory.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

from tabulate import tabulate

from normtheory.durable import atomic_write_text

BEGIN, END = "<!-- findings: begin -->", "<!-- findings: end -->"
ROW_FIELDS = ("theory", "theory_low", "theory_high", "estimate", "ci_low", "ci_high", "delta", "gap", "ratio",
              "trials")
RUN_FIELDS = ("mode", "seed", "level", "claims", "settings", "exit_status", "verdict")
_FIELD = re.compile(r"\{\{(.+?)\}\}", re.S)


def _setting_text(setting: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in setting.items())


def _fmt(x, spec: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "nan"
    return format(x, spec)


def summary_table(doc: dict) -> str:
    rows = [[c["claim"], c["form"], c["precision"] or "(ordering/bound)", c["verdict"],
             ", ".join(f"{v} {n}" for v, n in sorted(c["counts"].items()))] for c in doc["claims"]]
    return tabulate(rows, headers=("claim", "closed form", "δ", "verdict", "settings"), tablefmt="github")


def rivals_table(doc: dict) -> str:
    rows = []
    by_claim = {}
    for r in doc["results"]:
        by_claim.setdefault(r["claim"], []).append(r)
    for rv in doc.get("rivals", []):
        gaps = [x["gap"] for r in by_claim.get(rv["claim"], []) for x in r.get("rivals", [])
                if x["rival"] == rv["rival"] and x["verdict"] == "disagree"]
        largest = max(gaps, key=abs) if gaps else None
        rows.append([rv["claim"], rv["rival"], rv["provenance"], rv["status"], len(rv["discriminating"]),
                     len(rv["rejected_at"]), len(rv["told_apart_at"]), "" if largest is None else f"{largest:+.1f}"])
    return tabulate(rows, headers=("claim", "rival", "provenance", "status", "settings > 3δ apart",
                                   "settings rejecting it", "of them, claimed form agrees", "largest gap/δ there"),
                    tablefmt="github")


def not_agree_table(doc: dict) -> str:
    rows = [[r["claim"], _setting_text(r["setting"]), _fmt(r["theory"]),
             f"{_fmt(r['estimate'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
             "" if r["gap"] is None or not math.isfinite(r["gap"]) else f"{r['gap']:+.2f}", r["verdict"]]
            for r in doc["results"] if r["verdict"] != "agree"]
    return tabulate(rows, headers=("claim", "setting", "theory", "simulation", "gap/δ", "verdict"),
                    tablefmt="github")


def _row(doc: dict, claim: str, pairs: list[str], ref: str) -> dict:
    wanted = []
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"findings: {ref!r}: expected key=value, got {pair!r}")
        wanted.append(tuple(pair.split("=", 1)))
    hits = [r for r in doc["results"] if r["claim"] == claim
            and all(k in r["setting"] and str(r["setting"][k]) == v for k, v in wanted)]
    if len(hits) != 1:
        raise ValueError(f"findings: {ref!r} matches {len(hits)} rows of the run (expected one)")
    return hits[0]


def _value(doc: dict, ref: str) -> str:
    parts = [p.strip() for p in ref.split("|")]
    if len(parts) not in (2, 3):
        raise ValueError(f"findings: {ref!r}: expected 'WHAT | FIELD' or 'WHAT | FIELD | FORMAT'")
    what, field, spec = parts[0].split(), parts[1], parts[2] if len(parts) == 3 else ".4g"
    if what == ["run"]:
        if field not in RUN_FIELDS:
            raise ValueError(f"findings: {ref!r}: run field must be one of {RUN_FIELDS}")
        value = {"claims": len(doc["claims"]), "settings": len(doc["results"])}.get(field, doc.get(field))
        return format(value, spec) if isinstance(value, float) else str(value)
    row = _row(doc, what[0], what[1:], ref)
    if field.startswith(("rival ", "rival-gap ")):
        kind, name = field.split(" ", 1)
        hit = [r for r in row.get("rivals", []) if r["rival"] == name]
        if not hit:
            raise ValueError(f"findings: {ref!r}: the row has no rival {name!r}")
        return _fmt(hit[0]["theory"] if kind == "rival" else hit[0]["gap"], spec)
    if field == "ci":
        return f"{_fmt(row['estimate'], spec)} [{_fmt(row['ci_low'], spec)}, {_fmt(row['ci_high'], spec)}]"
    if field == "half":
        return _fmt((row["ci_high"] - row["ci_low"]) / 2, spec)
    if field not in ROW_FIELDS:
        raise ValueError(f"findings: {ref!r}: field must be one of {ROW_FIELDS + ('ci', 'half')}")
    return _fmt(row[field], spec)


def render(template: str, doc: dict) -> str:
    """The template with every field replaced by what the run ``doc`` (a verify JSON) says."""
    blocks = {"summary": summary_table, "rivals": rivals_table, "not-agree": not_agree_table}

    def sub(match: re.Match) -> str:
        ref = " ".join(match.group(1).split())
        return blocks[ref](doc) if ref in blocks else _value(doc, ref)

    return _FIELD.sub(sub, template)


def into(text: str, rendered: str) -> str:
    """``text`` with the lines between :data:`BEGIN` and :data:`END` replaced by ``rendered``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"findings: the target must hold one {BEGIN!r} line before one {END!r} line")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{rendered.strip()}\n{END}{tail}"


def load_run(path: str | Path) -> dict:
    doc = json.loads(Path(path).read_text())
    if not str(doc.get("schema", "")).startswith("normtheory.verify/"):
        raise ValueError(f"findings: {path} is not a normtheory verify JSON")
    return doc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m normtheory.verify.findings",
                                     description="render a findings template against a verify JSON")
    parser.add_argument("run", help="the JSON of a verify run (normtheory verify --json PATH)")
    parser.add_argument("template", help="the template (fields: see this module's docstring)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--into", metavar="PATH", help="replace the findings block of this file")
    target.add_argument("--out", metavar="PATH", help="write the rendering to this file")
    args = parser.parse_args(argv)
    try:
        rendered = render(Path(args.template).read_text(), load_run(args.run))
        if args.into:
            atomic_write_text(args.into, into(Path(args.into).read_text(), rendered))
        else:
            atomic_write_text(args.out, rendered)
    except (ValueError, OSError) as exc:
        print(f"normtheory findings: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
