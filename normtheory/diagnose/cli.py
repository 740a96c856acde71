"""``normtheory diagnose``: the paper's properties at initialization of any model.

``normtheory diagnose pkg.module:factory --input 3,32,32 --batch 32 --inits 16 --out DIR``
diagnoses the models ``factory()`` makes; ``normtheory diagnose --arch resnet56 --norm
pkg.module:MyNorm`` (or a normtheory normalizer name) the paper's network with that
normalizer (:func:`normtheory.nets.build`). Prints the summary; with ``--out`` writes
``diagnosis.txt``, ``diagnosis.csv`` (records), ``diagnosis.json`` and
``diagnosis.png`` / ``.pdf``. Exit status 0, or 2 with one line for bad input.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from pathlib import Path

from normtheory.cliflags import add_progress_flag, add_seed_flag
from normtheory.durable import atomic_write_text
from normtheory.exitcodes import INPUT_ERRORS, epilog, usage_error

HELP = "the paper's properties at initialization (variance, rank, similarity, gradients) of any torch model"
EPILOG = epilog("is not used: a diagnosis reports its findings and exits 0")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("factory", nargs="?", help="pkg.module:factory, a callable returning a fresh torch.nn.Module")
    parser.add_argument("--arch", help="instead of a factory: a network of normtheory.nets (e.g. resnet56)")
    parser.add_argument("--norm", help="with --arch: a normtheory normalizer name or pkg.module:MyNorm "
                                       "(a callable num_channels -> nn.Module)")
    parser.add_argument("--widths", help="with --arch: stage widths, e.g. 16,32 (default the paper's)")
    parser.add_argument("--blocks-per-stage", type=int, help="with --arch resnet56/_pre: blocks per stage")
    parser.add_argument("--input", default="3,32,32", help="one input's shape, e.g. 3,32,32 (default)")
    parser.add_argument("--batch", type=int, default=32, help="samples per batch (default 32)")
    parser.add_argument("--inits", type=int, default=16, help="independent inits (default 16)")
    parser.add_argument("--where", help="probe points: comma-separated module names and/or pkg.module:Type "
                                        "(default: the model's probe_points(), else every normalizer)")
    parser.add_argument("--out", help="folder for diagnosis.txt/.csv/.json/.png/.pdf")
    add_seed_flag(parser, what="diagnosis")
    add_progress_flag(parser)


def load(spec: str, what: str):
    """The object ``pkg.module:name`` (dots after the colon reach attributes); the current
    folder is importable, as for ``python -m``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{what} {spec!r} must be pkg.module:name")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{what} {spec!r}: cannot import {module_name}: {err}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{what} {spec!r}: {obj.__name__ if hasattr(obj, '__name__') else obj} has no {part!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{what} {spec!r} is not callable")
    return obj


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise ValueError(f"{what} must be comma-separated positive ints (e.g. 3,32,32), got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise ValueError(f"{what} must be comma-separated positive ints (e.g. 3,32,32), got {text!r}")
    return values


def _factory(args):
    from normtheory import nets

    if args.arch is None:
        if args.factory is None:
            raise ValueError("give a factory (pkg.module:factory) or --arch with --norm")
        if args.norm or args.widths or args.blocks_per_stage:
            raise ValueError("--norm, --widths and --blocks-per-stage go with --arch, not with a factory")
        return load(args.factory, "factory"), args.factory
    if args.factory is not None:
        raise ValueError("give either a factory or --arch, not both")
    if args.norm is None:
        raise ValueError("--arch needs --norm (a normtheory normalizer name or pkg.module:MyNorm)")
    norm = load(args.norm, "--norm") if ":" in args.norm else args.norm
    options = {}
    if args.widths:
        options["widths"] = _ints(args.widths, "--widths")
    if args.blocks_per_stage is not None:
        options["blocks_per_stage"] = args.blocks_per_stage
    factory = functools.partial(nets.build, args.arch, norm, **options)
    factory()  # fails here, with the builder's message, on a bad arch / norm / option
    return factory, f"{args.arch}:{args.norm}"


def _where(text):
    if not text:
        return None
    return [load(w, "--where") if ":" in w else w for w in text.split(",")]


def run(args) -> int:
    from normtheory.diagnose.run import diagnose

    try:
        input_shape = _ints(args.input, "--input")
        factory, name = _factory(args)
        where = _where(args.where)
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
        result = diagnose(factory, input_shape=input_shape, batch=args.batch, inits=args.inits, where=where,
                          seed=args.seed, progress=not args.quiet, name=name)
    except (*INPUT_ERRORS, TypeError) as err:
        return usage_error("diagnose", err)
    except RuntimeError as err:  # torch: the model cannot take the input
        return usage_error("diagnose", f"the model fails on a batch of shape ({args.batch}, {args.input}): {err}")
    text = result.summary()
    print(text)
    if args.out:
        atomic_write_text(out / "diagnosis.txt", text + "\n")
        result.write_csv(out / "diagnosis.csv")
        result.to_json(out / "diagnosis.json")
        result.plot(out / "diagnosis.png")
        print(f"wrote {out}/diagnosis.txt, .csv, .json, .png, .pdf")
    return 0
