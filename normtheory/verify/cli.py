"""``normtheory verify``: check every claim against Monte Carlo with confidence intervals.

Also the entry point of the per-family scripts ``verify/forward_variance.py``,
``verify/rank.py`` and ``verify/gradients.py`` (same options, one claim family each).
Exit status: 0 when every checked claim passes, 1 when any fails or diverges, 2 on bad
options.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from normtheory.verify.runner import DEFAULT_CACHE_DIR

HELP = ("check every claim (F, R, B) against Monte Carlo simulations with confidence "
        "intervals; exit 0 only if all pass")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="small grid and trial counts, about a minute on 2 cores (default)")
    size.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the full grid and trial counts (minutes)")
    parser.set_defaults(mode="quick")
    parser.add_argument("--claims", metavar="IDS", default=None,
                        help="comma-separated claim ids to check, e.g. F1,B1 (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="write the results as JSON (schema: docs/verify-json.md)")
    parser.add_argument("--report", metavar="PATH", default=None,
                        help="write a Markdown report")
    parser.add_argument("--cache-dir", metavar="DIR", default=DEFAULT_CACHE_DIR,
                        help=f"finished simulations are kept here so that an interrupted run "
                             f"resumes (default {DEFAULT_CACHE_DIR}/)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the cache")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list", action="store_true",
                        help="list the claims with their statements and pass rules, then exit")


def run(args: argparse.Namespace, *, family: str | None = None) -> int:
    from normtheory.verify import registry, report
    from normtheory.verify.runner import run_claims

    try:
        registry.load_claims([family] if family else registry.FAMILIES)
        claims = registry.select(args.claims, family=family)
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
    except ValueError as exc:
        print(f"normtheory verify: error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for c in claims:
            print(f"{c.id} [{c.family}] {c.title}\n  {c.statement}\n  statistic: {c.statistic}"
                  f"\n  interval: {c.interval}\n  rule: {c.rule.text}\n")
        return 0
    results = run_claims(claims, mode=args.mode, seed=args.seed,
                         cache_dir=None if args.no_cache else args.cache_dir,
                         progress=not args.no_progress)
    print(report.table(results))
    print()
    print(report.summary(results))
    if args.json:
        report.write_json(args.json, results, mode=args.mode, seed=args.seed)
    if args.report:
        report.write_markdown(args.report, results, mode=args.mode, seed=args.seed)
    return 0 if report.all_passed(results) else 1


def main(argv: Sequence[str] | None = None, *, family: str | None = None,
         prog: str | None = None) -> int:
    """Parse ``argv`` and run (the per-family scripts pass their ``family``)."""
    parser = argparse.ArgumentParser(prog=prog or "normtheory verify", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv), family=family)
