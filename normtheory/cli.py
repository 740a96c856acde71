"""The ``normtheory`` command line.

Each subcommand lives in its own module, which exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int`` (the exit status). This file only
dispatches. ``normtheory COMMAND ...`` imports that command's module alone (the others
import torch or matplotlib, which ``verify`` does not need before its first simulation);
``normtheory --help`` and an unknown command build the parser of every command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from normtheory import __version__

COMMANDS: dict[str, str] = {
    "verify": "normtheory.verify.cli",
    "figures": "normtheory.figures.cli",
    "train": "normtheory.training.cli",
    "experiment": "normtheory.experiments.cli",
    "diagnose": "normtheory.diagnose.cli",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of the command ``only`` alone."""
    parser = argparse.ArgumentParser(
        prog="normtheory",
        description=(
            "Check the theory of normalization layers at initialization: closed forms, "
            "Monte Carlo simulations, the paper's figures and a CIFAR-100 training harness."
        ),
    )
    parser.add_argument("--version", action="version", version=f"normtheory {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP,
                           epilog=getattr(module, "EPILOG", None))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
