"""Verification output: the terminal table, the JSON file and the Markdown report.

JSON schema (``normtheory verify --json PATH``), version ``normtheory.verify/3``; also in
docs/verify-json.md::

    {
      "schema": "normtheory.verify/3",
      "mode": "quick" | "full",
      "seed": int,                      # the run's --seed
      "verdict": "agree" | "disagree" | "undecided" | "error",   # the run's (see exit codes)
      "exit_status": int,               # what the command returned (EXIT_CODES)
      "level": float,                   # the level of every interval (simultaneous over the run)
      "looks": int,                     # looks of the adaptive schedule (cumulative n0, 2·n0, 4·n0)
      "claims": [                       # one per claim checked, registry order
        {"claim": "F1", "family": "forward", "title": str, "statement": str,
         "form": "exact" | "finite-width" | "finite-width (exact in law, computed)"
                 | "infinite-width limit" | "large-depth limit" | "calibrated"
                 | "ordering" | "asymptotic regime",
         "statistic": str, "interval": str, "rule": str, "precision": str | null,
         "source": str, "notes": str,
         "rivals": [{"rival": str, "provenance": str}],
         "verdict": "agree" | "disagree" | "undecided" | "error",
         "settings": int, "counts": {verdict: int}}
      ],
      "results": [                      # one per (claim, setting)
        {"claim": "F1",
         "setting": {...},              # the grid point's parameters
         "theory": float,               # the closed form at this setting (a computed
                                        # theory: its point estimate)
         "theory_low": float, "theory_high": float,  # a computed theory's interval at
                                        # `level` (== theory for a closed form)
         "theory_replicates": int,      # a computed theory's replicates (0: closed form)
         "estimate": float | null,      # the simulated statistic (null on error)
         "ci_low": float, "ci_high": float,  # its interval at `level`
         "level": float,
         "method": "t" | "delta" | "batch-means" | "log-t" | "log-normal",
         "delta": float | null,         # δ in the statistic's units (null for orderings, bounds)
         "gap": float | null,           # (estimate - theory)/δ
         "ratio": float | null,         # estimate / theory
         "verdict": "agree" | "disagree" | "undecided" | "error",
         "reason": str,                 # why it is not agree ("" on agree)
         "trials": int,                 # independent random networks requested (all looks)
         "trials_used": int,            # in the interval (== trials unless error)
         "diverged_trials": int,
         "diverged_layer": int | null,  # first layer with inf/NaN, if any trial overflowed
         "looks": int,                  # looks taken at this setting
         "seed": int,                   # the run's --seed
         "setting_seed": int,           # the seed of the first look at this setting
         "seconds": float,              # simulation time (0 when taken from the cache)
         "cached": bool,
         "rivals": [                    # each rival of the claim that applies here
           {"rival": str, "theory": float,   # the rival's value
            "gap": float,               # (estimate - rival)/δ
            "separation": float,        # (rival - theory)/δ
            "discriminating": bool,     # |separation| > 3
            "verdict": "agree" | "disagree" | "undecided"}]}  # the claim's rule on the rival
      ],
      "rivals": [                       # one per (claim, rival)
        {"claim": "B1", "rival": str, "provenance": str,
         "status": "rejected" | "not rejected",
         "discriminating": [{...}],     # the settings that discriminate it
         "rejected_at": [{...}],        # the settings where it disagrees
         "told_apart_at": [{...}],      # those of them where the claimed form agrees
         "claim_agrees_where_rejected": bool}
      ]
    }

``normtheory verify --list --json PATH`` writes ``{"schema": ..., "claims": [...]}`` with
the ``claims`` entries above less ``verdict``, ``settings`` and ``counts``; ``--csv PATH``
writes the results as CSV (:func:`write_csv`). The file is strict JSON: a number that is
not finite (the ``delta`` and ``gap`` of orderings and bounds, the estimate of an error row)
is written as ``null``.

Rivals (:func:`rival_table`): a rival is *rejected* when it disagrees at some setting, and
*not rejected* otherwise, a finding: the run's verdicts cannot tell the claimed form from
it. A setting that discriminates a rival (it lies more than 3δ from the claimed form there)
rejects it wherever the claimed form agrees (:mod:`normtheory.verify.judging`); a rival not
rejected had no such setting, or the claimed form did not agree on any. A rival may also
disagree where the claimed form itself does not agree (both miss a finite-width effect);
``told_apart_at`` lists the settings where the rival disagrees and the claimed form agrees,
the ones that tell the two forms apart.

Exit status (:func:`exit_status`, :data:`EXIT_CODES`): 0 every setting agrees and every
rival is rejected; 1 some setting disagrees (a finding) and none errs; 2 usage
or input error; 3 some setting is an error; 4 some setting is undecided (trial budget
spent), none disagrees or errs; 5 every setting agrees but some rival was not rejected (a
finding).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Sequence

from tabulate import tabulate

from normtheory.durable import atomic_write_json, atomic_write_text, dumps_strict, strict_json
from normtheory.verify.judging import ClaimResult, SettingResult
from normtheory.verify.schedule import LOOKS
from normtheory.verify.stats import AGREE, DISAGREE, ERROR, UNDECIDED, combine_verdicts

SCHEMA = "normtheory.verify/3"
TABLE_HEADERS = ("claim", "setting", "theory", "simulation (estimate ± CI)", "δ", "gap/δ", "trials",
                 "verdict")
RIVAL_KEPT = "rival not rejected"
EXIT_CODES = {AGREE: 0, DISAGREE: 1, "usage": 2, ERROR: 3, UNDECIDED: 4, RIVAL_KEPT: 5}
REJECTED, NOT_REJECTED = "rejected", "not rejected"
RIVAL_SUMMARY_HEADERS = ("claim", "rival", "provenance", "settings > 3δ apart", "settings rejecting it",
                         "of them, claimed form agrees", "status")
RIVAL_HEADERS = ("claim", "rival", "setting", "rival value", "rival − theory (δ)", "gap to rival (δ)",
                 "rival verdict", "claimed form there")


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
        sim = f"{_num(r.estimate)} [{_num(r.ci_low)}, {_num(r.ci_high)}]"
    verdict = r.verdict if not r.reason else f"{r.verdict} ({r.reason})"
    gap = "" if math.isnan(r.gap) else f"{r.gap:+.2f}"
    trials = f"{r.trials_used}/{r.trials}" + (f", {r.diverged_trials} diverged" if r.diverged_trials else "")
    delta = "" if math.isnan(r.delta) else _num(r.delta)
    theory = _num(r.theory)
    if r.theory_replicates:
        theory += f" [{_num(r.theory_low)}, {_num(r.theory_high)}], {r.theory_replicates} replicates"
    return [r.claim, format_setting(r.setting), theory, sim, delta, gap, trials, verdict]


def table(results: Sequence[ClaimResult], fmt: str = "simple") -> str:
    """The per-setting table (``fmt`` is a tabulate format: "simple", "github", ...)."""
    rows = [_row(r) for cr in results for r in cr.rows]
    return tabulate(rows, headers=TABLE_HEADERS, tablefmt=fmt, disable_numparse=True)


def counts(cr: ClaimResult) -> dict[str, int]:
    """Settings of a claim by verdict."""
    out: dict[str, int] = {}
    for r in cr.rows:
        out[r.verdict] = out.get(r.verdict, 0) + 1
    return out


def summary(results: Sequence[ClaimResult], fmt: str = "simple") -> str:
    """One line per claim: form, δ, verdict and counts of settings by verdict."""
    rows = [[cr.claim.id, cr.claim.title, cr.claim.form, precision_text(cr.claim), cr.verdict,
             ", ".join(f"{v} {n}" for v, n in sorted(counts(cr).items()))] for cr in results]
    return tabulate(rows, headers=("claim", "title", "closed form", "δ", "verdict", "settings"),
                    tablefmt=fmt)


def precision_text(claim) -> str:
    return claim.precision.text if claim.precision is not None else "(ordering/bound)"


def run_verdict(results: Sequence[ClaimResult]) -> str:
    """The run's verdict: error beats disagree beats undecided beats agree."""
    if not results:
        raise ValueError("no claim was checked")
    return combine_verdicts(cr.verdict for cr in results)


def rival_summary(results: Sequence[ClaimResult]) -> list[dict]:
    """One entry per (claim, rival): its status (rejected or not), the settings that
    discriminate it, those that reject it, those among them where the claimed form agrees
    (``told_apart_at``: the run tells the two forms apart there), and whether the claimed form
    agrees wherever the rival is rejected."""
    out = []
    for cr in results:
        for rival in cr.claim.rivals:
            judged = [(row, row.rival(rival.name)) for row in cr.rows]
            judged = [(row, rr) for row, rr in judged if rr is not None]
            disc = [row.setting for row, rr in judged if rr.discriminating]
            rejected = [row for row, rr in judged if rr.rejected]
            status = REJECTED if rejected else NOT_REJECTED
            out.append({"claim": cr.claim.id, "rival": rival.name, "provenance": rival.provenance,
                        "status": status, "discriminating": disc,
                        "rejected_at": [row.setting for row in rejected],
                        "told_apart_at": [row.setting for row in rejected if row.verdict == AGREE],
                        "claim_agrees_where_rejected": all(row.verdict == AGREE for row in rejected)})
    return out


def rival_table(results: Sequence[ClaimResult], fmt: str = "simple") -> str:
    """The rivals tables: one line per claim and rival (provenance, settings that discriminate
    it, settings that reject it, status), then one line per setting that discriminates or
    rejects a rival (its value, the gap of the estimate from it in δ, its verdict, the claimed
    form's verdict there)."""
    summary = rival_summary(results)
    head = [[s["claim"], s["rival"], s["provenance"], len(s["discriminating"]), len(s["rejected_at"]),
             len(s["told_apart_at"]), s["status"]] for s in summary]
    rows = []
    for cr in results:
        for rival in cr.claim.rivals:
            for row in cr.rows:
                rr = row.rival(rival.name)
                if rr is not None and (rr.discriminating or rr.rejected):
                    rows.append([cr.claim.id, rival.name, format_setting(row.setting), _num(rr.theory),
                                 f"{rr.separation:+.2f}", f"{rr.gap:+.2f}", rr.verdict, row.verdict])
    return (tabulate(head, headers=RIVAL_SUMMARY_HEADERS, tablefmt=fmt, disable_numparse=True) + "\n\n"
            + tabulate(rows, headers=RIVAL_HEADERS, tablefmt=fmt, disable_numparse=True))


def rivals_kept(results: Sequence[ClaimResult]) -> list[dict]:
    """The rivals the run does not reject (each a finding)."""
    return [s for s in rival_summary(results) if s["status"] == NOT_REJECTED]


def exit_status(results: Sequence[ClaimResult]) -> int:
    verdict = run_verdict(results)
    if verdict == AGREE and rivals_kept(results):
        return EXIT_CODES[RIVAL_KEPT]
    return EXIT_CODES[verdict]


def to_json(results: Sequence[ClaimResult], *, mode: str, seed: int) -> dict:
    rows = [r for cr in results for r in cr.rows]
    return {
        "schema": SCHEMA,
        "mode": mode,
        "seed": seed,
        "verdict": run_verdict(results),
        "exit_status": exit_status(results),
        "level": rows[0].level if rows else None,
        "looks": LOOKS,
        "claims": [{**claim_json(cr.claim), "verdict": cr.verdict, "settings": len(cr.rows), "counts": counts(cr)}
                   for cr in results],
        "results": [r.to_dict() for r in rows],
        "rivals": rival_summary(results),
    }


def claim_json(claim) -> dict:
    """What a claim states, as JSON (the ``claims`` entries of the report, and ``--list --json``)."""
    return {"claim": claim.id, "family": claim.family, "title": claim.title, "statement": claim.statement,
            "form": claim.form, "statistic": claim.statistic, "interval": claim.interval,
            "rule": claim.rule.text, "precision": claim.precision.text if claim.precision else None,
            "source": claim.source, "notes": claim.notes,
            "rivals": [{"rival": r.name, "provenance": r.provenance} for r in claim.rivals]}


def write_list_json(path: str | Path, claims) -> None:
    """The claims (``normtheory verify --list --json PATH``; ``-`` for standard output)."""
    doc = {"schema": SCHEMA, "claims": [claim_json(c) for c in claims]}
    if str(path) == "-":
        print(dumps_strict(doc, indent=1))
    else:
        atomic_write_json(path, doc, indent=1)


def catalogue(claims) -> str:
    """The claims catalogue in Markdown (docs/claims.md; ``normtheory verify --list --report PATH``):
    per claim its statement, kind of closed form, precision, statistic, interval, verdict rule,
    rivals, source and the size of its grids."""
    families = list(dict.fromkeys(c.family for c in claims))
    lines = ["# The claims", "",
             "Every claim `normtheory verify` checks, as the registry states it (this page is written by "
             "`normtheory verify --list --report docs/claims.md`; a test keeps it equal to the registry). "
             "The verdicts, intervals and rivals are explained in docs/verify.md; "
             "the closed forms in docs/theory.md; the networks and probes in docs/settings.md.", ""]
    for family in families:
        lines += [f"## {family}", ""]
        for c in (c for c in claims if c.family == family):
            lines += [f"### {c.id}: {c.title}", "", c.statement, "",
                      f"- Closed form: {c.form}; precision: {precision_text(c)}",
                      f"- Statistic: {c.statistic}", f"- Interval: {c.interval}", f"- Verdict rule: {c.rule.text}",
                      f"- Settings: {len(c.points('quick'))} quick, {len(c.points('full'))} full"]
            if c.source:
                lines.append(f"- Source: {c.source}")
            if c.notes:
                lines.append(f"- Notes: {c.notes}")
            for r in c.rivals:
                lines.append(f"- Rival `{r.name}`: {r.provenance}")
            lines.append("")
    return "\n".join(lines)


CSV_COLUMNS = ("claim", "setting", "theory", "theory_low", "theory_high", "estimate", "ci_low", "ci_high",
               "level", "delta", "gap", "ratio", "verdict", "reason", "trials", "trials_used", "diverged_trials",
               "looks", "seed", "setting_seed")


def write_csv(path: str | Path, results: Sequence[ClaimResult]) -> None:
    """One line per setting: the columns of :data:`CSV_COLUMNS`, then one column per setting
    parameter (``setting.width``, ...; empty where a claim has no such parameter). Non-finite
    numbers are empty cells."""
    rows = [r for cr in results for r in cr.rows]
    keys = list(dict.fromkeys(k for r in rows for k in r.setting))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(CSV_COLUMNS) + [f"setting.{k}" for k in keys])
    for r in rows:
        d = strict_json(r.to_dict())
        d["setting"] = format_setting(r.setting)
        writer.writerow([("" if d[c] is None else d[c]) for c in CSV_COLUMNS]
                        + [r.setting.get(k, "") for k in keys])
    atomic_write_text(path, out.getvalue())


def write_json(path: str | Path, results: Sequence[ClaimResult], *, mode: str, seed: int) -> None:
    atomic_write_json(path, to_json(results, mode=mode, seed=seed), indent=1)


def markdown(results: Sequence[ClaimResult], *, mode: str, seed: int) -> str:
    """A Markdown report: summary, then per claim its statement, statistic, rule, table."""
    verdict = run_verdict(results)
    lines = [f"# normtheory verify ({mode}, seed {seed})", "",
             f"Overall: **{verdict}** (exit status {exit_status(results)}). Verdicts: agree (the "
             "interval lies inside theory ± δ), disagree (entirely outside; gap in units of δ), "
             "undecided (neither, after every look), error (a trial failed or overflowed). "
             f"Intervals at the simultaneous level {results[0].rows[0].level:.6f} over every "
             f"setting and look of the run.",
             "", summary(results, fmt="github"), ""]
    if any(cr.claim.rivals for cr in results):
        lines += ["## Rivals", "",
                  "Each rival is judged by its claim's rule on the claim's own intervals. Shown: the "
                  "settings where it lies more than 3δ from the claimed form (where the claimed form "
                  "agrees, such a setting rejects it), and those where it disagrees (rejected); a "
                  "rival not rejected is a finding: the run cannot tell the claimed form from it.", "",
                  rival_table(results, fmt="github"), ""]
    for cr in results:
        c = cr.claim
        lines += [f"## {c.id}: {c.title} -- {cr.verdict}", "", c.statement, "",
                  f"- Closed form: {c.form}",
                  f"- Statistic: {c.statistic}", f"- Interval: {c.interval}",
                  f"- Verdict rule (stated in advance): {c.rule.text}"]
        if c.source:
            lines.append(f"- Source: {c.source}")
        if c.notes:
            lines.append(f"- Notes: {c.notes}")
        lines += ["", table([cr], fmt="github"), ""]
    return "\n".join(lines)


def write_markdown(path: str | Path, results: Sequence[ClaimResult], *, mode: str, seed: int) -> None:
    atomic_write_text(path, markdown(results, mode=mode, seed=seed))
