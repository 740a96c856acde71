"""Compile time of every numba kernel on a cold cache.

Runs a workload in a fresh process whose numba on-disk cache (``NUMBA_CACHE_DIR``) is an
empty temporary directory, with a listener on numba's ``numba:compile`` events, and prints
per kernel: the signatures compiled, the compile seconds of the kernel itself (its own
event, less the compiles nested in it: its callees, each counted where it is listed) and
the share of the whole. A kernel listed with more than one signature was compiled twice or
more (int32/int64, layouts, literal arguments, ...): the table flags it. numba's own
helpers (``numba.*``: array constructors, string formatting of error messages) are
summed on one line.

Workloads (``--workload``):

- ``engines`` (default): one small call of each Monte Carlo engine on every code path
  ``normtheory verify`` takes (explicit and Gram weights, residual and not, linear and
  ReLU, with and without the backward pass, the weight-free chain by pairs and by
  batch): what a first simulation compiles;
- ``quick``: ``normtheory verify --quick`` itself (two minutes or so on 2 cores).

Usage: python bench/compile_times.py [--workload engines|quick] [--top N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

#: run in the child process: a listener on numba's compile events, then the workload
CHILD = r"""
import json, sys, time
from numba.core import event

stack, rows = [], []

class Listener(event.Listener):
    def on_start(self, ev):
        stack.append([ev.data["dispatcher"], str(ev.data["args"]), time.perf_counter(), 0.0])

    def on_end(self, ev):
        dispatcher, args, start, nested = stack.pop()
        seconds = time.perf_counter() - start
        if stack:
            stack[-1][3] += seconds
        fn = dispatcher.py_func
        rows.append({"kernel": f"{fn.__module__}.{fn.__qualname__}", "signature": args,
                     "seconds": seconds, "self_seconds": seconds - nested})

event.register("numba:compile", Listener())
start = time.perf_counter()
workload = sys.argv[1]
if workload == "quick":
    from normtheory.cli import main
    try:
        main(["verify", "--quick", "--no-cache", "--no-progress"])
    except SystemExit:
        pass
else:
    from normtheory.montecarlo import simulate_mlp
    from normtheory.montecarlo.exact_in_law import probe_chain
    small = dict(width=8, depth=3, batch=4, trials=2)
    for engine in ("explicit", "gram"):
        for nonlinearity in ("linear", "relu"):
            for residual in (False, True):
                for backward in (False, True):
                    simulate_mlp("groupnorm", group_size=4, engine=engine, nonlinearity=nonlinearity,
                                 residual=residual, backward=backward, rank_layers=(0, -1), **small)
    simulate_mlp("weightnorm", engine="explicit", **small)
    for norm in ("groupnorm", "batchnorm", "weightnorm"):
        for probe in ("variance", "cosine"):
            probe_chain(norm, width=8, depth=3, batch=4, replicates=2, probe=probe,
                        **({"group_size": 4} if norm == "groupnorm" else {}))
total = time.perf_counter() - start
json.dump({"total": total, "rows": rows}, open(sys.argv[2], "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("engines", "quick"), default="engines")
    parser.add_argument("--top", type=int, default=40, help="kernels listed (the slowest first)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as tmp:
        out = os.path.join(tmp, "events.json")
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "cache"), NUMBA_NUM_THREADS="2",
                   OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", CHILD, args.workload, out], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        with open(out) as fh:
            doc = json.load(fh)
    kernels, helpers = {}, {"signatures": 0, "seconds": 0.0}
    for row in doc["rows"]:
        if row["kernel"].startswith("numba."):
            helpers["signatures"] += 1
            helpers["seconds"] += row["self_seconds"]
            continue
        k = kernels.setdefault(row["kernel"], {"signatures": [], "seconds": 0.0})
        k["signatures"].append(row["signature"])
        k["seconds"] += row["self_seconds"]
    compile_s = sum(r["self_seconds"] for r in doc["rows"])
    print(f"workload {args.workload}: {wall:.1f} s in a fresh process ({doc['total']:.1f} s in the workload), "
          f"{compile_s:.1f} s compiling, {len(doc['rows'])} compiles")
    print(f"{'seconds':>8} {'share':>6} {'sigs':>4}  kernel")
    ordered = sorted(kernels.items(), key=lambda kv: -kv[1]["seconds"])
    for name, k in ordered[:args.top]:
        flag = "  <- compiled more than once" if len(k["signatures"]) > 1 else ""
        print(f"{k['seconds']:8.2f} {k['seconds'] / compile_s:6.1%} {len(k['signatures']):4d}  {name}{flag}")
    print(f"{helpers['seconds']:8.2f} {helpers['seconds'] / compile_s:6.1%} {helpers['signatures']:4d}  "
          "numba's own helpers (array constructors, error messages, ...)")
    repeated = [name for name, k in kernels.items() if len(k["signatures"]) > 1]
    print(f"normtheory kernels: {len(kernels)}, compiled more than once: {len(repeated)}")
    for name in repeated:
        print(f"  {name}:")
        for signature in kernels[name]["signatures"]:
            print(f"    {signature}")


if __name__ == "__main__":
    main()
