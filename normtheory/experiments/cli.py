"""``normtheory experiment``: experiments linking init properties to training."""

from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from normtheory.runs import executors
from normtheory.cliflags import add_device_flag, add_progress_flag, add_store_flag
from normtheory.durable import check_writable_dir
from normtheory.exitcodes import INPUT_ERRORS, epilog, usage_error
from normtheory.experiments.figure1 import BATCHES, NORMS, PANELS, prepare_data, run_grid
from normtheory.experiments.predict_speed import run_experiment
from normtheory.experiments.speed_own_lr import run_own_lr
from normtheory.store import ResultStore

HELP = ("Experiments linking properties at init to training; predict-speed checks claim R5, figure1 trains "
        "the paper's Figure 1 grid (claim T1).")
EPILOG = epilog("is not used (the correlation is reported, not judged)")


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    ps = sub.add_parser("predict-speed", help="Spearman correlation of similarity at init vs loss after K steps (R5)",
                        epilog=EPILOG)
    ps.add_argument("--steps", type=int, default=100, help="SGD steps per run (default 100)")
    ps.add_argument("--seeds", type=int, default=2, help="seeds per setting (default 2)")
    ps.add_argument("--out", default="runs/predict_speed.csv", help="CSV of results, reused on rerun")
    ps.add_argument("--own-lr", action="store_true",
                    help="train each setting at its own largest stable LR (0.8, 0.4, ..., 0.00625; its seed 0 "
                         "finite and below log(classes) after --steps) and report rho with a bootstrap-over-seeds "
                         "and a Fisher-z 95%% interval; without it every setting uses LR 0.05")
    add_progress_flag(ps)
    add_store_flag(ps, item="training run", shared_with="verify and figures", otherwise="only --out")
    executors.add_arguments(ps)
    add_figure1(sub)


def _csv(kind):
    def parse(text: str):
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind.__name__}, got {text!r}")
    return parse


def add_figure1(sub) -> None:
    p = sub.add_parser(
        "figure1", help="train the paper's Figure 1 grid (T1) at each setting's largest stable LR, resumable",
        epilog=epilog("some run diverged (reported, not judged: the figure shows it)") + (
            ". Draw the result with: normtheory figures --only training_curves --runs OUT. Every run follows "
            "the authors' protocol (normtheory train --protocol paper): initial LR init_lr*0.1*256/B (inverse "
            "batch scaling, as their code does), one /10 drop at 75%% of the iterations, 60 epochs at batch "
            ">= 32 and 10 below, FRN with a linear warm-up, flips only, inputs normalized with mean and std "
            "0.5. A finished run (its summary.json) is never retrained; a run cut short continues from its "
            "checkpoint."))
    p.add_argument("--data-dir", default=None, help="directory holding cifar-100-python/ (needed for cifar100)")
    p.add_argument("--dataset", default="cifar100", choices=["cifar100", "digits"],
                   help="cifar100 from --data-dir (default) or the embedded digits (CPU checks)")
    p.add_argument("--synthetic", type=int, default=None, metavar="N",
                   help="first write N synthetic training images (N/2 test) in the CIFAR-100 pickle format to "
                        "--data-dir (for CPU checks; real data there is never overwritten)")
    p.add_argument("--out", default="runs/figure1", help="folder of the runs (default runs/figure1)")
    p.add_argument("--norms", type=_csv(str), default=NORMS, help=f"comma list (default {','.join(NORMS)})")
    p.add_argument("--archs", type=_csv(str), default=tuple(PANELS),
                   help=f"comma list of panels (default {','.join(PANELS)})")
    p.add_argument("--batches", type=_csv(int), default=BATCHES, help="comma list (default 256,16)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per setting (default 3)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default the paper's: 60, 10 at B < 32)")
    p.add_argument("--max-steps", type=int, default=None, help="stop each run after this many SGD steps")
    p.add_argument("--search-steps", type=int, default=60,
                   help="SGD steps of each LR-search run, after FRN's warm-up (default 60)")
    p.add_argument("--lr-grid", type=_csv(float), default=None,
                   help="init_lr values searched (default 1,0.5,0.2,0.1,0.05,0.02,0.01)")
    add_device_flag(p)
    add_progress_flag(p)


def run_figure1(args) -> int:
    try:
        for name in ("epochs", "max_steps", "search_steps", "synthetic"):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if args.lr_grid is not None and (not args.lr_grid or min(args.lr_grid) <= 0):
            raise ValueError(f"--lr-grid must hold numbers > 0, got {args.lr_grid}")
        check_writable_dir(args.out)
        data = prepare_data(args.dataset, args.data_dir, synthetic=args.synthetic)
        rows = run_grid(data, args.out, norms=args.norms, panels=args.archs, batches=args.batches, seeds=args.seeds,
                        epochs=args.epochs, max_steps=args.max_steps, search_steps=args.search_steps,
                        grid=args.lr_grid, device=args.device, progress=not args.quiet)
    except INPUT_ERRORS as exc:
        return usage_error("experiment", exc)
    print(tabulate(rows, headers="keys", floatfmt=".4g"))
    print(f"\ndraw it with: normtheory figures --only training_curves --runs {args.out}")
    return 0 if all(r["status"] == "finished" for r in rows) else 1


def run(args) -> int:
    if args.experiment == "figure1":
        return run_figure1(args)
    try:
        if args.steps < 10 or args.seeds < 1:
            raise ValueError(f"--steps must be >= 10 and --seeds >= 1, got {args.steps} and {args.seeds}")
        if Path(args.out).is_dir():
            raise ValueError(f"--out {args.out} is a folder; give the path of a CSV file")
        check_writable_dir(Path(args.out).parent)
        executors.check_args(args)
        store = ResultStore(args.cache_dir) if args.cache_dir else None
        executor = executors.from_args(args)
    except INPUT_ERRORS as exc:
        return usage_error("experiment", exc)
    try:
        with executor:
            kwargs = dict(seeds=tuple(range(args.seeds)), steps=args.steps, out=args.out, progress=not args.quiet,
                          executor=executor, store=store)
            if args.own_lr:
                res = run_own_lr(**kwargs)
            else:
                res = run_experiment(**kwargs)
    except INPUT_ERRORS as exc:
        return usage_error("experiment", exc)
    print(tabulate([{k: r.get(k) for k in ("norm", "group_size", "seed", "lr", "similarity_init", "loss_after_k")}
                    for r in res["rows"]], headers="keys", floatfmt=".4f"))
    print(f"\nSpearman rho(similarity at init, loss after {args.steps} steps) = {res['spearman_rho']:.3f} "
          f"(p = {res['p_value']:.2g}, n = {len(res['rows'])})")
    if args.own_lr:
        (b0, b1), (f0, f1) = res["bootstrap_95"], res["fisher_z_95"]
        print(f"95% interval: bootstrap over seeds [{b0:.3f}, {b1:.3f}], Fisher z [{f0:.3f}, {f1:.3f}]; "
              f"each setting at its own largest stable LR {res['lrs']}"
              + (f"; no stable LR: {', '.join(res['unstable'])}" if res["unstable"] else ""))
    return 0
