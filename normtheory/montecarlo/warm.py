"""Compile the numba engines' kernels in parallel processes when numba's cache is cold.

numba compiles one function at a time, on one core: on a fresh clone the first run of
``normtheory verify`` spent about half its time compiling while the other core idled.
:func:`start` launches, when numba's on-disk cache lacks them, one process per group of
kernels (:data:`SPLIT`: the explicit-weight engine; the Gram engine and the weight-free
chain), each compiling its group by running the engines on tiny settings (which compiles
exactly the signatures a real run uses, one per kernel) and writing numba's cache. The
engines call :func:`wait` before their first run: it returns at once when no process was
started, else waits for them, so that this process loads the kernels from the cache
instead of compiling them a second time. A process that fails changes nothing but the
time: the engines then compile what they need themselves.

numba writes its cache files atomically (a temporary file renamed into place); the
groups share callees (the normalizers, the random numbers) with one signature each, so
two processes that compile one of them write the same entry.

Command line (what :func:`start` runs): ``python -m normtheory.montecarlo.warm GROUP ...``.
"""

from __future__ import annotations

import os
import subprocess
import sys

#: the kernel groups, by engine
GROUPS = ("explicit", "gram", "chain")
#: how :func:`start` splits the groups over processes (about equal compile times on 2 cores)
SPLIT = (("explicit",), ("gram", "chain"))

_started: list[subprocess.Popen] = []


def compile_group(name: str) -> None:
    """Compile (or load) every kernel of group ``name`` by running its engine on tiny settings."""
    from normtheory.montecarlo.api import simulate_mlp
    from normtheory.montecarlo.exact_in_law import probe_chain

    small = dict(width=8, depth=2, batch=4, trials=1)
    if name in ("explicit", "gram"):
        for nonlinearity in ("linear", "relu"):
            for residual in (False, True):
                simulate_mlp("groupnorm", group_size=4, engine=name, nonlinearity=nonlinearity, residual=residual,
                             rank_layers=(-1,), **small)
        if name == "gram":  # its other two routes: centred rows (batchnorm), nearly equal rows (QR)
            simulate_mlp("batchnorm", engine=name, rank_layers=(-1,), **small)
            simulate_mlp("plain", engine=name, input_corr=1 - 1e-12, rank_layers=(-1,), **small)
    elif name == "chain":
        for norm in ("groupnorm", "batchnorm", "weightnorm"):
            for probe in ("variance", "cosine"):
                probe_chain(norm, width=8, depth=2, batch=4, replicates=1, probe=probe,
                            **({"group_size": 4} if norm == "groupnorm" else {}))
    else:
        raise ValueError(f"kernel group must be one of {GROUPS}, got {name!r}")


def cold() -> bool:
    """Whether numba's cache lacks a compiled kernel of the current sources for an engine."""
    from normtheory.kernels.exact_in_law import run_replicates
    from normtheory.kernels.explicit import run_trials
    from normtheory.kernels.gram_steps import output_backward
    from normtheory.kernels.numba_cache import is_cached

    return not all(is_cached(k) for k in (run_trials, output_backward, run_replicates))


def start() -> bool:
    """Start compiling every group in :data:`SPLIT`'s processes if the cache is cold; True if started."""
    if _started or not cold():
        return False
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    for groups in SPLIT:
        _started.append(subprocess.Popen([sys.executable, "-m", __name__, *groups], env=env,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL))
    return True


def wait() -> None:
    """Wait for the processes :func:`start` launched (none: return at once)."""
    while _started:
        _started.pop().wait()


def main(argv: list[str]) -> int:
    for name in argv:
        compile_group(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
