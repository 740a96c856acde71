"""One in-memory memo of the Monte Carlo engines, shared by verify, the figures and the experiments.

Several rows of a claim, and several figures, read different layers or statistics of one
simulation. :func:`mlp` and :func:`net` run
:func:`normtheory.montecarlo.simulate_mlp` / :func:`~normtheory.montecarlo.simulate_net`
once per distinct set of arguments (the seed among them) within a process and return the
same result object to every caller afterwards (callers read it, never change it). The
seed is the caller's, from the one seeding rule of :mod:`normtheory.runs.seeds`.
"""

from __future__ import annotations

from functools import lru_cache

from normtheory import montecarlo
from normtheory._args import freeze

#: simulations kept (least recently used dropped first)
MEMO_SIZE = 128
_ENGINES = {"mlp": montecarlo.simulate_mlp, "net": montecarlo.simulate_net}


@lru_cache(maxsize=MEMO_SIZE)
def _simulate(engine: str, frozen: tuple):
    return _ENGINES[engine](**dict(frozen))


def mlp(**arguments):
    """``simulate_mlp(**arguments)`` (``trials`` and ``seed`` among them), memoized."""
    return _simulate("mlp", freeze(arguments))


def net(**arguments):
    """``simulate_net(**arguments)`` (``arch``, ``norm``, ``trials``, ``seed`` among them), memoized."""
    return _simulate("net", freeze(arguments))


def clear() -> None:
    """Forget every memoized simulation."""
    _simulate.cache_clear()
