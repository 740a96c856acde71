"""Speed of the theory-MLP Monte Carlo engines against their arithmetic floor and plain torch.

For GroupNorm (32 groups) and BatchNorm, linear and ReLU, widths 64 to 4096, depth 100,
batch 64, float64, forward + backward (``simulate_mlp(..., backward=True)``), with the probe
set a claim reads (variance, cosine and the squared gradient at every layer, the stable
rank at the last layer: ``rank_layers=(-1,)``), this times in one process, each over the
same number of trials:

- ``auto``: ``simulate_mlp(engine="auto")``, what users and ``normtheory verify`` get;
- ``explicit`` and ``gram``: the two numba engines by name;
- ``torch``: ``engine="torch"``, the straightforward autograd implementation;
- ``jax``: the compiled peer of ``bench/peers/jax_mc.py`` (``jax.jit`` + ``vmap`` over
  trials, ``lax.scan`` over layers, float64, the same probes; checked there against the
  explicit engine on shared weights and in distribution), best of its two modes (weights
  stored, or redrawn in the backward pass), compile time excluded and printed apart; up to
  ``--jax-max-width`` (its time grows as width² · depth per trial), skipped with a note
  when jax is not installed (``pip install 'normtheory[bench]'``);
- the floors, numpy alone: the same matrix products and random draws an engine does, and
  nothing else (no normalizer, no nonlinearity, no probe beyond the Gram it needs),
  trials in the same threads, BLAS on one thread each, numpy's SFC64 generator, outputs
  preallocated. Per layer and trial:
  - explicit floor: draw ``W`` (d × d) twice (forward and backward: keeping every weight
    would take depth · d² memory), ``X Wᵀ``, the probes' Gram ``X Xᵀ``, ``G W``;
  - gram floor: draw ``Z``, ``Z'`` (B × d each); ``U Uᵀ``, ``L Z``, ``G Gᵀ``, ``S Z'``,
    ``G Hᵀ``, ``M Uᵀ``, ``C U`` (B × B times B × d), see :mod:`normtheory.montecarlo.gram`.

It prints seconds and the ratios ``engine / its floor`` (targets: explicit at most 1.3 at
widths 64-1024, Gram at most 1.5 at widths 256-2048), ``torch / auto`` and ``jax / auto``
(target: at least 3 at every width) and ``gram / explicit floor`` (below 1: the Gram engine
beats the arithmetic of any explicit-weight engine), then the headline check: a GroupNorm
MLP of width 4096, depth 100, batch 64, 10 trials on the Gram engine (target: under 10 s on
2 cores), next to one trial of the explicit engine and, with jax, one trial of the peer
against one of the Gram engine.

Timings are wall-clock seconds, the best of up to ``--repeat`` runs after an untimed first
run (runs over a second are timed once). The machine may be shared: compare ratios within a run.
glibc's malloc thresholds are raised first (:mod:`normtheory.kernels.gram_memory`), for
every engine and floor alike.

Usage: python bench/mc_engine.py [--widths 64,128,...] [--norms groupnorm,batchnorm]
[--nonlinearities linear,relu] [--depth 100] [--batch 64] [--trials 2] [--repeat 5]
[--explicit-max-width 1024] [--jax-max-width 2048] [--no-jax] [--no-headline] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def best_time(fn, repeat: int) -> float:
    """Best wall-clock seconds of up to ``repeat`` calls after an untimed first one (at a new
    size the first runs grow the heap and fault its pages in: the Gram engine's first two runs
    at width 256 took 1.4x the later ones); a first call over 1 s is the result (one run);
    the repeats stop once one takes over 1 s."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    if first > 1.0:
        return first
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if best > 1.0:
            break
    return best


def _explicit_floor_trial(rng, b: int, d: int, depth: int) -> None:
    # every layer multiplies the same x (or g): the same work as chaining, without the
    # unscaled products overflowing (inf/NaN arithmetic would change the timing)
    x, h, g = (np.empty((b, d)) for _ in range(3))
    w, k = np.empty((d, d)), np.empty((b, b))
    rng.standard_normal(out=x)
    for _ in range(depth):
        rng.standard_normal(out=w)
        np.matmul(x, w.T, out=h)
        np.matmul(h, h.T, out=k)
    rng.standard_normal(out=g)
    for _ in range(depth):
        rng.standard_normal(out=w)
        np.matmul(g, w, out=h)


def _gram_floor_trial(rng, b: int, d: int, depth: int) -> None:
    u, z, h, g, m, out = (np.empty((b, d)) for _ in range(6))
    small = [rng.standard_normal((b, b)) for _ in range(3)]  # the B × B factors L, S, C
    k = np.empty((b, b))
    rng.standard_normal(out=u)
    for _ in range(depth):
        np.matmul(u, u.T, out=k)
        rng.standard_normal(out=z)
        np.matmul(small[0], z, out=h)
    rng.standard_normal(out=g)
    for _ in range(depth):
        np.matmul(g, g.T, out=k)
        rng.standard_normal(out=z)
        np.matmul(small[1], z, out=m)
        np.matmul(g, h.T, out=k)
        np.matmul(m, u.T, out=k)
        np.matmul(small[2], u, out=out)


FLOORS = {"explicit": _explicit_floor_trial, "gram": _gram_floor_trial}


def floor_run(kind: str, b: int, d: int, depth: int, trials: int, threads: int) -> None:
    """The floor of engine ``kind`` over ``trials`` trials on ``threads`` threads, BLAS on one."""
    from threadpoolctl import threadpool_limits

    trial = FLOORS[kind]

    def one(t):
        trial(np.random.Generator(np.random.SFC64(t)), b, d, depth)

    with threadpool_limits(1), ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(trials)))


#: the layers whose stable rank the timed runs compute (a claim reads it at one or two layers)
RANK_LAYERS = (-1,)


def engine_run(engine: str, norm: str, nonlinearity: str, b: int, d: int, depth: int, trials: int):
    from normtheory.montecarlo import simulate_mlp

    groups = {"num_groups": 32} if norm == "groupnorm" else {}
    return simulate_mlp(norm, width=d, depth=depth, batch=b, trials=trials, nonlinearity=nonlinearity,
                        engine=engine, seed=0, rank_layers=RANK_LAYERS, **groups)


PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")
#: run in a fresh process: the peer's ``time_run`` (arguments as JSON), its result as JSON
_JAX_CHILD = ("import json, sys; sys.path.insert(0, sys.argv[1]); import jax_mc; "
              "args, modes = json.loads(sys.argv[2]), tuple(json.loads(sys.argv[3])); "
              "print(json.dumps(jax_mc.time_run(*args, modes=modes)))")


def jax_available() -> bool:
    """Whether jax is installed (without importing it here)."""
    return importlib.util.find_spec("jax") is not None


def jax_time(norm, nl, b, d, depth, trials, repeat, modes=("store", "remat")) -> dict:
    """The peer's ``time_run`` (compile apart, best of ``repeat`` runs per mode) in a fresh
    process: run in this one, XLA kept gigabytes of buffers (the torch engine's memory check
    then refused width 4096) and its threads beside the timings of the numba engines."""
    out = subprocess.run([sys.executable, "-c", _JAX_CHILD, PEERS,
                          json.dumps([norm, nl, b, d, depth, trials, 0, repeat]), json.dumps(list(modes))],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm_up(norms, nonlinearities, b: int) -> None:
    """Compile (or load) every numba kernel before timing."""
    for norm in norms:
        for nl in nonlinearities:
            for engine in ("explicit", "gram"):
                engine_run(engine, norm, nl, b, 64, 2, 2)


def fmt(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else (f"{x:.3g}" if x < 100 else f"{x:.0f}")


def ratio(a, b):
    return None if a is None or b is None else a / b


def bench_row(norm, nl, b, d, args, threads, peer):
    from normtheory.montecarlo.gram import prefer_gram

    depth, trials, rep = args.depth, args.trials, args.repeat
    auto = "gram" if prefer_gram(dict(norm=norm, width=d, batch=b)) else "explicit"
    jax = None
    if peer and d <= args.jax_max_width:
        jax = jax_time(norm, nl, b, d, depth, trials, rep)
    t = {"gram": best_time(lambda: engine_run("gram", norm, nl, b, d, depth, trials), rep),
         "gram floor": best_time(lambda: floor_run("gram", b, d, depth, trials, threads), rep),
         "explicit floor": best_time(lambda: floor_run("explicit", b, d, depth, trials, threads), rep),
         "torch": best_time(lambda: engine_run("torch", norm, nl, b, d, depth, trials), rep)}
    t["explicit"] = (best_time(lambda: engine_run("explicit", norm, nl, b, d, depth, trials), rep)
                     if d <= args.explicit_max_width else None)
    auto_time = t[auto]
    return [norm, nl, d, auto, fmt(auto_time), fmt(t[f"{auto} floor"]), fmt(ratio(auto_time, t[f"{auto} floor"])),
            fmt(t["torch"]), fmt(ratio(t["torch"], auto_time)),
            fmt(t["explicit"]), fmt(t["explicit floor"]), fmt(ratio(t["explicit"], t["explicit floor"])),
            fmt(t["gram"]), fmt(t["gram floor"]), fmt(ratio(t["gram"], t["gram floor"])),
            fmt(ratio(t["gram"], t["explicit floor"])),
            fmt(jax and jax["best_s"]), fmt(ratio(jax and jax["best_s"], auto_time)),
            (f"{jax['best_mode']}, {jax['compile_s']:.1f}" if jax else "—")]


HEADERS = ["norm", "phi", "width", "auto", "auto s", "its floor s", "auto/floor", "torch s", "torch/auto",
           "explicit s", "expl. floor s", "expl./floor", "gram s", "gram floor s", "gram/floor",
           "gram/expl. floor", "jax s", "jax/auto", "jax mode, compile s"]


def headline(args, peer) -> list[list]:
    """GroupNorm, width 4096, depth 100, batch 64: 10 trials on gram, 1 on explicit; with the
    JAX peer, 1 trial of it beside 1 on gram."""
    rows = []
    for nl in args.nonlinearities:
        start = time.perf_counter()
        sim = engine_run("gram", "groupnorm", nl, 64, 4096, 100, 10)
        seconds = time.perf_counter() - start
        rows.append(["gram", nl, 10, fmt(seconds), "yes" if seconds < 10 else "NO",
                     len(sim.diverged)])
    start = time.perf_counter()
    engine_run("explicit", "groupnorm", args.nonlinearities[0], 64, 4096, 100, 1)
    rows.append(["explicit", args.nonlinearities[0], 1, fmt(time.perf_counter() - start), "—", 0])
    if peer:
        nl = args.nonlinearities[-1]
        start = time.perf_counter()
        engine_run("gram", "groupnorm", nl, 64, 4096, 100, 1)
        rows.append(["gram", nl, 1, fmt(time.perf_counter() - start), "—", 0])
        jax = jax_time("groupnorm", nl, 64, 4096, 100, 1, 1, modes=("remat",))
        rows.append([f"jax ({jax['best_mode']}; compile {jax['compile_s']:.1f} s)", nl, 1, fmt(jax["best_s"]),
                     "—", "—"])
    return rows


def main() -> None:
    import numba
    import torch
    from tabulate import tabulate

    from normtheory.kernels.gram_memory import keep_freed_memory

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="64,128,256,512,1024,2048,4096")
    parser.add_argument("--norms", default="groupnorm,batchnorm")
    parser.add_argument("--nonlinearities", default="linear,relu")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5,
                        help="best of this many runs after an untimed first one (a run over 1 s: timed once)")
    parser.add_argument("--explicit-max-width", type=int, default=1024,
                        help="time the explicit engine up to this width (it needs minutes beyond)")
    parser.add_argument("--jax-max-width", type=int, default=2048,
                        help="time the JAX peer up to this width (one trial at 4096 in the headline)")
    parser.add_argument("--no-jax", action="store_true", help="do not time the JAX peer")
    parser.add_argument("--no-headline", action="store_true", help="skip the width-4096, 10-trial check")
    parser.add_argument("--quick", action="store_true", help="widths 64,128,512, depth 20, no headline")
    args = parser.parse_args()
    if args.quick:
        args.widths, args.depth, args.no_headline = "64,128,512", 20, True
    widths = [int(w) for w in args.widths.split(",")]
    args.norms = args.norms.split(",")
    args.nonlinearities = args.nonlinearities.split(",")
    threads = numba.get_num_threads()
    keep_freed_memory()
    warm_up(args.norms, args.nonlinearities, args.batch)
    peer = not args.no_jax and jax_available()
    if not peer and not args.no_jax:
        print("note: the JAX column is skipped: jax is not installed (pip install 'normtheory[bench]')")
    print(f"theory-MLP forward+backward, depth {args.depth}, batch {args.batch}, {args.trials} trials, "
          f"float64; numba threads {threads}, torch threads {torch.get_num_threads()}, "
          f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    rows = []
    for norm in args.norms:
        for nl in args.nonlinearities:
            for d in widths:
                rows.append(bench_row(norm, nl, args.batch, d, args, threads, peer))
                print(tabulate([rows[-1]], headers=HEADERS, tablefmt="plain"), flush=True)
    print()
    print(tabulate(rows, headers=HEADERS, tablefmt="github"))
    if not args.no_headline:
        print()
        print("GroupNorm (32 groups), width 4096, depth 100, batch 64, forward + backward:")
        print(tabulate(headline(args, peer), headers=["engine", "phi", "trials", "seconds", "under 10 s", "diverged"],
                       tablefmt="github"))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
