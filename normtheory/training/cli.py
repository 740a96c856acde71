"""``normtheory train``: train any network of normtheory.nets with any normalizer."""

from __future__ import annotations

import json

HELP = "Train a network (CIFAR-10/100 from --data-dir, or the embedded digits default) with logs and resume."


def add_arguments(p) -> None:
    p.add_argument("--arch", default="vgg10", help="vgg10, vgg20, vgg40, resnet56, resnet56_pre or mlp (default vgg10)")
    p.add_argument("--norm", default="batchnorm", help="normalizer name, e.g. groupnorm (default batchnorm)")
    p.add_argument("--group-size", type=int, default=None, help="group size for groupnorm / evonorm_s0")
    p.add_argument("--num-groups", type=int, default=None, help="number of groups (instead of --group-size)")
    p.add_argument("--skipinit", action="store_true", help="SkipInit: residual branch gain initialised to 0")
    p.add_argument("--dataset", default="digits", choices=["digits", "cifar10", "cifar100"],
                   help="digits (embedded, no download) or cifar10/cifar100 from --data-dir (default digits)")
    p.add_argument("--data-dir", default=None, help="directory holding cifar-100-python/ or cifar-10-batches-py/")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 2 for digits, 200 for CIFAR)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--lr", type=float, default=None, help="initial LR (default 0.1 * batch / 256)")
    p.add_argument("--warmup", type=float, default=0.0, help="linear warmup, in epochs (default 0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--seeds", type=int, default=1,
                   help="train seeds SEED..SEED+N-1 at once (vmap over stacked models; logs in OUT/seed_<s>/) "
                        "(default 1)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default auto)")
    p.add_argument("--crop", action="store_true", help="4-pixel-padded random crops (CIFAR augmentation)")
    p.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--probe-every", type=int, default=50, help="probe statistics every N steps (0: never)")
    p.add_argument("--out", default="runs/train", help="output directory (default runs/train)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--find-max-lr", action="store_true", help="search the largest stable initial LR with short runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from normtheory.training import TrainConfig, find_max_lr, load_dataset, train

    data = load_dataset(args.dataset, args.data_dir, seed=args.seed)
    epochs = args.epochs or (2 if args.dataset == "digits" else 200)
    config = TrainConfig(arch=args.arch, norm=args.norm, group_size=args.group_size, num_groups=args.num_groups,
                         skipinit=args.skipinit, epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                         warmup_epochs=args.warmup, seed=args.seed, seeds=args.seeds, device=args.device, amp=not args.no_amp,
                         compile=args.compile, crop=args.crop, probe_every=args.probe_every)
    if args.seeds < 1:
        raise SystemExit(f"--seeds must be at least 1, got {args.seeds}")
    if args.find_max_lr:
        if args.seeds != 1:
            raise SystemExit("--find-max-lr runs one seed per LR: drop --seeds")
        result = find_max_lr(config, data, args.out, progress=not args.quiet)
        print(json.dumps(result, indent=2))
        return 0 if result["max_stable_lr"] is not None else 1
    summary = train(config, data, args.out, resume=args.resume, progress=not args.quiet)
    print(json.dumps(summary, indent=2))
    return 0 if summary["status"] == "finished" else 1
