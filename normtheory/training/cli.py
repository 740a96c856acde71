"""``normtheory train``: train any network of normtheory.nets with any normalizer."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from normtheory.cliflags import add_device_flag, add_progress_flag, add_seed_flag
from normtheory.durable import check_writable_dir
from normtheory.exitcodes import INPUT_ERRORS, epilog, usage_error
from normtheory.training import TrainConfig, find_max_lr, load_dataset, train
from normtheory.training.common import check_numbers
from normtheory.training.schedule import default_epochs

HELP = "Train a network (CIFAR-10/100 from --data-dir, or the embedded digits default) with logs and resume."
EPILOG = epilog("the run diverged (or --find-max-lr found no stable LR)") + (
    ". An --out folder that holds a run is continued only with --resume (same configuration) and "
    "started over only with --force.")
ARCHS = ("vgg10", "vgg20", "vgg40", "resnet56", "resnet56_pre", "mlp")  # of normtheory.nets.ARCHS; no torch import


def add_arguments(p) -> None:
    p.add_argument("--arch", default="vgg10", choices=ARCHS, help="network (default vgg10)")
    p.add_argument("--width", type=int, default=64, help="--arch mlp: hidden width (default 64)")
    p.add_argument("--depth", type=int, default=10, help="--arch mlp: hidden layers (default 10)")
    p.add_argument("--norm", default="batchnorm", help="normalizer name, e.g. groupnorm (default batchnorm)")
    p.add_argument("--group-size", type=int, default=None, help="group size for groupnorm / evonorm_s0")
    p.add_argument("--num-groups", type=int, default=None, help="number of groups (instead of --group-size)")
    p.add_argument("--skipinit", action="store_true", help="SkipInit: residual branch gain initialised to 0")
    p.add_argument("--dataset", default="digits", choices=["digits", "cifar10", "cifar100"],
                   help="digits (embedded, no download) or cifar10/cifar100 from --data-dir (default digits)")
    p.add_argument("--data-dir", default=None, help="directory holding cifar-100-python/ or cifar-10-batches-py/")
    p.add_argument("--protocol", default="linear", choices=["linear", "paper"],
                   help="linear (default): initial LR init_lr*0.1*B/256, /10 at 50%% and 75%% of the epochs, "
                        "200 epochs on CIFAR, inputs standardized per channel. paper: the authors' code "
                        "(BeyondBatchNorm): initial LR init_lr*0.1*256/B -- their code scales INVERSELY with "
                        "the batch (batch 16 starts at 1.6*init_lr) although its comment says linearly, and we "
                        "follow the code --, one /10 drop at 75%% of the iterations after the warm-up, 60 "
                        "epochs (10 at batch < 32), inputs normalized with mean and std 0.5, augmentation by "
                        "horizontal flips only (do not add --crop)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: linear 2 for digits, 200 for CIFAR; paper 60, 10 at batch < 32)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--init-lr", type=float, default=1.0,
                   help="multiplier of the protocol's initial LR, as the authors' --init_lr (default 1)")
    p.add_argument("--lr", type=float, default=None,
                   help="initial LR, overriding the protocol's init_lr-scaled one")
    p.add_argument("--warmup", type=float, default=0.0,
                   help="linear warm-up from 0, in epochs counted in --epochs (default 0; the paper uses it "
                        "for FRN only: 5 epochs, 1 at batch < 32)")
    add_seed_flag(p, what="random")
    p.add_argument("--seeds", type=int, default=1,
                   help="train seeds SEED..SEED+N-1 at once (vmap over stacked models; logs in OUT/seed_<s>/) "
                        "(default 1)")
    add_device_flag(p)
    p.add_argument("--crop", action="store_true", help="4-pixel-padded random crops (CIFAR augmentation)")
    p.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--probe-every", type=int, default=50, help="probe statistics every N steps (0: never)")
    p.add_argument("--out", default="runs/train", help="output directory (default runs/train)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its checkpoint (its configuration must be the same)")
    again.add_argument("--force", action="store_true", help="start over, deleting the run already in --out")
    p.add_argument("--find-max-lr", action="store_true",
                   help="search the largest stable initial LR with short runs (60 steps under the run's schedule) "
                        "in OUT/<value>/: init_lr in 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01 with --protocol paper, "
                        "the LR in 1.6, 0.8, ..., 0.0125 otherwise; continues a search cut short")
    add_progress_flag(p)


def config_from(args):
    """The :class:`TrainConfig` of the options, every number checked (``ValueError``)."""
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    epochs = args.epochs if args.epochs is not None else default_epochs(args.protocol, args.batch_size, args.dataset)
    mlp = {"width": args.width, "depth": args.depth, "nonlinearity": "relu"} if args.arch == "mlp" else {}
    for option, value in mlp and (("--width", args.width), ("--depth", args.depth)):
        if value < 1:
            raise ValueError(f"{option} must be >= 1, got {value}")
    config = TrainConfig(arch=args.arch, norm=args.norm, group_size=args.group_size, num_groups=args.num_groups,
                         skipinit=args.skipinit, epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                         warmup_epochs=args.warmup, seed=args.seed, seeds=args.seeds, device=args.device,
                         amp=not args.no_amp, compile=args.compile, crop=args.crop, probe_every=args.probe_every,
                         mlp=mlp, protocol=args.protocol, init_lr=args.init_lr)
    try:
        check_numbers(config)
    except ValueError as exc:  # name the option, not the field
        field = str(exc).split()[0]
        raise ValueError(f"--{ {'warmup_epochs': 'warmup'}.get(field, field).replace('_', '-')}"
                         f"{str(exc)[len(field):]}") from None
    if args.find_max_lr and args.seeds != 1:
        raise ValueError("--find-max-lr runs one seed per LR: drop --seeds")
    return config


def run(args) -> int:
    fresh = not Path(args.out).exists()
    try:
        config = config_from(args)
        check_writable_dir(args.out)
        data = load_dataset(args.dataset, args.data_dir, seed=args.seed,
                            normalize="half" if args.protocol == "paper" else "standard")
        if args.find_max_lr:
            result = find_max_lr(config, data, args.out, force=args.force, progress=not args.quiet)
            print(json.dumps(result, indent=2))
            return 0 if result["max_stable_lr"] is not None else 1
        summary = train(config, data, args.out, resume=args.resume, force=args.force, progress=not args.quiet)
    except INPUT_ERRORS as exc:
        if fresh:  # a refused run leaves no empty --out behind
            with contextlib.suppress(OSError):
                Path(args.out).rmdir()
        return usage_error("train", exc)
    print(json.dumps(summary, indent=2))
    return 0 if summary["status"] == "finished" else 1
