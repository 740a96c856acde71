"""``normtheory experiment``: experiments linking init properties to training."""

from __future__ import annotations

from normtheory.exitcodes import INPUT_ERRORS, epilog, usage_error

HELP = "Experiments linking properties at init to training; predict-speed checks claim R5."
EPILOG = epilog("is not used (the correlation is reported, not judged)")


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    ps = sub.add_parser("predict-speed", help="Spearman correlation of similarity at init vs loss after K steps (R5)",
                        epilog=EPILOG)
    ps.add_argument("--steps", type=int, default=100, help="SGD steps per run (default 100)")
    ps.add_argument("--seeds", type=int, default=2, help="seeds per setting (default 2)")
    ps.add_argument("--out", default="runs/predict_speed.csv", help="CSV of results, reused on rerun")
    ps.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from pathlib import Path

    from tabulate import tabulate

    from normtheory.durable import check_writable_dir
    from normtheory.experiments.predict_speed import run_experiment

    try:
        if args.steps < 10 or args.seeds < 1:
            raise ValueError(f"--steps must be >= 10 and --seeds >= 1, got {args.steps} and {args.seeds}")
        if Path(args.out).is_dir():
            raise ValueError(f"--out {args.out} is a folder; give the path of a CSV file")
        check_writable_dir(Path(args.out).parent)
        res = run_experiment(seeds=tuple(range(args.seeds)), steps=args.steps, out=args.out,
                             progress=not args.quiet)
    except INPUT_ERRORS as exc:
        return usage_error("experiment", exc)
    print(tabulate([{k: r[k] for k in ("norm", "group_size", "seed", "similarity_init", "loss_after_k")}
                    for r in res["rows"]], headers="keys", floatfmt=".4f"))
    print(f"\nSpearman rho(similarity at init, loss after {args.steps} steps) = {res['spearman_rho']:.3f} "
          f"(p = {res['p_value']:.2g}, n = {len(res['rows'])})")
    return 0
