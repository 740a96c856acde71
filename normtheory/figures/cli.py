"""``normtheory figures``: regenerate the paper's figures (PNG, PDF, CSV and caption each).

Also the entry point of the per-figure scripts ``figures/<name>.py`` (same options, one
figure). Exit status (:mod:`normtheory.exitcodes`): 0 when every requested figure was
written (or skipped because it needs training logs that were not given), 2 on bad
options, an unwritable ``--out``, or a figure that failed on its input (a damaged file in
``--out``, unreadable training logs, a missing optional package); figures have no findings.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from tqdm import tqdm

from normtheory.cliflags import add_progress_flag, add_seed_flag, add_size_flags
from normtheory.durable import check_writable_dir
from normtheory.exitcodes import INPUT_ERRORS, epilog, usage_error
from normtheory.figures import FIGURES, FROM_TRAINING_LOGS, check_name, load, style
from normtheory.figures.runner import run_figure
from normtheory.runs import executors
from normtheory.store import ResultStore

HELP = ("regenerate the paper's figures from theory and simulation: PNG, PDF, the data "
        "behind each (CSV) and a caption")
EPILOG = epilog("is not used (figures have no findings)") + (
    ". A killed run resumes from the finished settings in --out when run again.")
DEFAULT_OUT = "figures-out"


def add_arguments(parser: argparse.ArgumentParser, *, name: str | None = None) -> None:
    """Options of ``normtheory figures``, or of the script of the one figure ``name``."""
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                        help=f"output folder (default {DEFAULT_OUT}/)")
    if name is None:
        parser.add_argument("--only", metavar="NAMES", default=None,
                            help="comma-separated figure names (default: all; see --list)")
        parser.add_argument("--list", action="store_true",
                            help="list the figures and exit")
    add_size_flags(parser, dest="size", default="default",
                   sizes={"full": "the paper's sizes (long)",
                          "tiny": "tiny sizes, seconds per figure (smoke test; noisy)"})
    add_seed_flag(parser)
    if name is None or name in FROM_TRAINING_LOGS:
        parser.add_argument("--runs", metavar="DIR", default=None,
                            help="folder of training runs (normtheory train --out ...; searched "
                                 "recursively) for training_curves; without it that figure is "
                                 "skipped")
    parser.add_argument("--force", action="store_true",
                        help="recompute figures whose CSV is already in --out")
    parser.add_argument("--dpi", type=int, default=None, help="PNG resolution (default 110)")
    add_progress_flag(parser, "--no-progress")
    parser.add_argument("--cache-dir", metavar="DIR", default=None,
                        help="keep each finished setting in the result store in DIR (shared with "
                             "verify, e.g. .normtheory-cache) for every later run (default: only the "
                             "partial file in --out)")
    executors.add_arguments(parser)


def _selected(args) -> list[str]:
    only = getattr(args, "only", None)
    if only is None:
        return list(FIGURES)
    names = [check_name(s.strip()) for s in only.split(",") if s.strip()]
    if not names:
        raise ValueError("--only: no figure name given")
    return names


def run(args: argparse.Namespace, *, names: Sequence[str] | None = None) -> int:
    try:
        names = list(names) if names is not None else _selected(args)
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        if args.dpi is not None and not 20 <= args.dpi <= 600:
            raise ValueError(f"--dpi must lie in [20, 600], got {args.dpi}")
        if getattr(args, "list", False):
            for name in names:
                print(f"{name:17s} {FIGURES[name]}")
            return 0
        check_writable_dir(args.out)
        executors.check_args(args)
        store = ResultStore(args.cache_dir) if args.cache_dir else None
        executor = executors.from_args(args)
    except INPUT_ERRORS as exc:
        return usage_error("figures", exc)
    with executor:
        return _run_all(args, names, store, None if isinstance(executor, executors.SerialExecutor) else executor)


def _run_all(args, names, store, executor) -> int:
    progress = not args.no_progress
    failed = skipped = 0
    start = time.perf_counter()
    bar = None
    if progress:
        bar = tqdm(total=len(names), desc="figures", position=0, dynamic_ncols=True)
    try:
        for name in names:
            if bar is not None:
                bar.set_postfix_str(name)
            line = _one(name, args, progress, load, run_figure, style, store=store, executor=executor)
            failed += line.startswith("FAILED")
            skipped += line.startswith("skipped")
            (bar.write if bar is not None else print)(line)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    print(f"{summary_line(len(names), failed, skipped)} in {time.perf_counter() - start:.1f} s; "
          f"files in {args.out}/")
    if failed:
        return usage_error("figures", f"{failed} of {len(names)} figures failed (FAILED lines above)")
    return 0


def summary_line(total: int, failed: int, skipped: int) -> str:
    """``"4 of 6 figures done, 1 skipped, 1 failed"``: a skipped figure is not counted as done."""
    text = f"{total - failed - skipped} of {total} figures done"
    return text + (f", {skipped} skipped" if skipped else "") + (f", {failed} failed" if failed else "")


def _one(name, args, progress, load, run_figure, style, *, store=None, executor=None) -> str:
    module = load(name)
    options = {}
    if name in FROM_TRAINING_LOGS:
        if getattr(args, "runs", None) is None:
            return f"skipped  {name}: needs training logs, pass --runs DIR"
        options["runs"] = args.runs
    try:
        result = run_figure(module, args.out, size=args.size, seed=args.seed, force=args.force,
                            progress=progress, dpi=args.dpi or style.PNG_DPI, store=store, executor=executor,
                            **options)
    except (ImportError, *INPUT_ERRORS) as exc:
        return f"FAILED   {name}: {type(exc).__name__}: {' '.join(str(exc).split())}"
    return f"{result.status:8s} {name} ({result.seconds:.1f} s)"


def main(argv: Sequence[str] | None = None, *, name: str | None = None,
         prog: str | None = None) -> int:
    """Parse ``argv`` and run all figures, or the one ``name`` (the per-figure scripts)."""
    parser = argparse.ArgumentParser(prog=prog or "normtheory figures",
                                     description=FIGURES[name] if name else HELP, epilog=EPILOG)
    add_arguments(parser, name=name)
    return run(parser.parse_args(argv), names=[name] if name else None)


def script(module_name: str, figure: str) -> None:
    """The body of ``figures/<figure>.py``: when run as a program, :func:`main` for that one figure
    (same options and exit status as ``normtheory figures``)."""
    if module_name == "__main__":
        sys.exit(main(name=figure, prog=f"figures/{figure}.py"))
