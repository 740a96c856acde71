"""``normtheory verify``: check every claim against Monte Carlo with confidence intervals.

Also the entry point of the per-family scripts ``verify/forward_variance.py``,
``verify/rank.py`` and ``verify/gradients.py`` (same options, one claim family each).
Exit status: see :data:`normtheory.verify.report.EXIT_CODES` (0 agree, 1 disagree, 2 usage
error, 3 error, 4 undecided, 5 a rival not rejected).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from normtheory.cliflags import add_progress_flag, add_seed_flag, add_size_flags
from normtheory.durable import atomic_write_text
from normtheory.montecarlo import warm
from normtheory.runs import executors
from normtheory.verify import registry, report
from normtheory.verify.cache import DEFAULT_CACHE_DIR
from normtheory.verify.runner import run_claims

HELP = ("check every claim (F, R, B) against Monte Carlo simulations: each setting agrees, "
        "disagrees, stays undecided or errs at the claim's stated precision δ")
EPILOG = ("verdicts: agree (the simultaneous interval lies inside theory ± δ), disagree (entirely "
          "outside), undecided (neither after every look of the adaptive schedule), error (a trial "
          "failed to compute or overflowed). Each claim's rivals are judged by the same rule on the "
          "same intervals. Exit status: 0 every setting agrees and every rival is "
          "rejected; 1 some setting disagrees (a finding); 2 usage or input error; 3 some setting is "
          "an error; 4 some setting stayed undecided and none disagrees or errs; 5 every setting "
          "agrees but a rival was not rejected (no setting put it more than 3δ from the claimed "
          "form; a finding).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_size_flags(parser, dest="mode", default="quick",
                   sizes={"quick": "small grid and trial counts, about a minute on 2 cores (default)",
                          "full": "the full grid and trial counts (minutes)"})
    parser.add_argument("--claims", metavar="IDS", default=None,
                        help="comma-separated claim ids to check, e.g. F1,B1 (default: all)")
    add_seed_flag(parser)
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="write the results as JSON (schema: docs/verify-json.md)")
    parser.add_argument("--report", metavar="PATH", default=None,
                        help="write a Markdown report")
    parser.add_argument("--csv", metavar="PATH", default=None,
                        help="write the results as CSV, one line per setting")
    parser.add_argument("--cache-dir", metavar="DIR", default=DEFAULT_CACHE_DIR,
                        help=f"finished simulations are kept here so that an interrupted run "
                             f"resumes (default {DEFAULT_CACHE_DIR}/)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the cache")
    add_progress_flag(parser, "--no-progress")
    executors.add_arguments(parser)
    parser.add_argument("--list", action="store_true",
                        help="list the claims with their statements, closed-form kind, precision, "
                             "verdict rules and rivals, then exit (with --json PATH: as JSON, - for "
                             "standard output; with --report PATH: as a Markdown catalogue)")


def _check_writable(path: str | None, option: str) -> None:
    """Fail before any work if an output file cannot be written."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{option} {path}: is a directory")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        existed = p.exists()
        with p.open("a"):
            pass
        if not existed:
            p.unlink()
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot write ({exc.strerror})") from exc


def run(args: argparse.Namespace, *, family: str | None = None) -> int:
    try:
        registry.load_claims([family] if family else registry.FAMILIES)
        claims = registry.select(args.claims, family=family)
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        if not args.list:
            executors.check_args(args)
            _check_writable(args.json, "--json")
            _check_writable(args.report, "--report")
            _check_writable(args.csv, "--csv")
        else:
            _check_writable(args.json if args.json != "-" else None, "--json")
            _check_writable(args.report, "--report")
    except ValueError as exc:
        print(f"normtheory verify: error: {exc}", file=sys.stderr)
        return report.EXIT_CODES["usage"]
    if args.list and (args.json or args.report):
        if args.json:
            report.write_list_json(args.json, claims)
        if args.report:
            atomic_write_text(args.report, report.catalogue(claims))
        return 0
    if args.list:
        for c in claims:
            print(f"{c.id} [{c.family}] {c.title}\n  {c.statement}\n  closed form: {c.form}"
                  f"\n  precision: {report.precision_text(c)}\n  statistic: {c.statistic}"
                  f"\n  interval: {c.interval}\n  rule: {c.rule.text}")
            for rival in c.rivals:
                print(f"  rival {rival.name}: {rival.provenance}")
            print()
        return 0
    try:
        executor = executors.from_args(args)
    except ValueError as exc:
        print(f"normtheory verify: error: {exc}", file=sys.stderr)
        return report.EXIT_CODES["usage"]
    serial = isinstance(executor, executors.SerialExecutor)
    if serial and any(c.backend == "numba" for c in claims):
        warm.start()  # compile the engines' kernels in parallel processes if numba's cache is cold
    with executor:
        try:
            results = run_claims(claims, mode=args.mode, seed=args.seed,
                                 cache_dir=None if args.no_cache else args.cache_dir,
                                 progress=not args.no_progress, executor=None if serial else executor)
        except executors.VersionMismatch as exc:
            print(f"normtheory verify: error: {exc}", file=sys.stderr)
            return report.EXIT_CODES["usage"]
    print(report.table(results))
    print()
    print(report.summary(results))
    if any(c.rivals for c in claims):
        print()
        print(report.rival_table(results))
    if args.json:
        report.write_json(args.json, results, mode=args.mode, seed=args.seed)
    if args.csv:
        report.write_csv(args.csv, results)
    if args.report:
        report.write_markdown(args.report, results, mode=args.mode, seed=args.seed)
    return report.exit_status(results)


def main(argv: Sequence[str] | None = None, *, family: str | None = None,
         prog: str | None = None) -> int:
    """Parse ``argv`` and run (the per-family scripts pass their ``family``)."""
    parser = argparse.ArgumentParser(prog=prog or "normtheory verify", description=HELP, epilog=EPILOG)
    add_arguments(parser)
    return run(parser.parse_args(argv), family=family)


def script(module_name: str, family: str, prog: str) -> None:
    """The body of the script ``prog`` (``verify/<name>.py``): when run as a program, :func:`main`
    for one claim ``family`` (same options and exit status as ``normtheory verify``)."""
    if module_name == "__main__":
        sys.exit(main(family=family, prog=prog))
