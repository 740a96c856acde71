"""Flags that several ``normtheory`` commands share, defined once so that they read the same
everywhere (argparse only: importing this module imports neither torch nor any other part
of normtheory).

The executor flags ``--jobs``/``--scheduler`` are :func:`normtheory.executors.add_arguments`.
"""

from __future__ import annotations

import argparse


def add_progress_flag(parser: argparse.ArgumentParser, flag: str = "--quiet") -> None:
    """``flag`` (``--quiet``; ``--no-progress`` on verify and figures): no progress bar."""
    parser.add_argument(flag, action="store_true", help="no progress bar")


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """``--device`` (default ``auto``): where torch trains."""
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default auto)")


def add_seed_flag(parser: argparse.ArgumentParser, *, what: str = "run") -> None:
    """``--seed`` (an int, default 0), said to be the ``what`` seed in the help."""
    parser.add_argument("--seed", type=int, default=0, help=f"{what} seed (default 0)")


def add_size_flags(parser: argparse.ArgumentParser, *, dest: str, default: str, sizes: dict[str, str]) -> None:
    """Mutually exclusive flags ``--<name>`` for each ``name: help`` of ``sizes``, in that
    order, each storing its name in ``dest``; ``dest`` is ``default`` without any of them."""
    group = parser.add_mutually_exclusive_group()
    for name, text in sizes.items():
        group.add_argument(f"--{name}", dest=dest, action="store_const", const=name, help=text)
    parser.set_defaults(**{dest: default})


def add_store_flag(parser: argparse.ArgumentParser, *, item: str, shared_with: str, otherwise: str) -> None:
    """``--cache-dir DIR`` (default none): keep each finished ``item`` in the result store in
    DIR (:mod:`normtheory.store`), which ``shared_with`` also use; ``otherwise`` says what is
    kept without it."""
    parser.add_argument("--cache-dir", metavar="DIR", default=None,
                        help=f"keep each finished {item} in the result store in DIR (shared with {shared_with}, "
                             f"e.g. .normtheory-cache) for every later run (default: {otherwise})")
