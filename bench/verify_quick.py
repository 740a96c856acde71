"""Time ``normtheory verify --quick`` (and optionally ``--full``) against its budget.

Runs the command twice in fresh processes on at most 2 threads, without the results
cache:

- cold: numba's on-disk cache in an empty temporary directory, so every kernel compiles;
- warm: the same numba cache directory again, so compiled kernels are loaded.

Prints the seconds of each run and the ratio to the budget (60 s for --quick, 900 s for
--full; a ratio below 1 meets it), the exit status, and the per-claim verdicts. With
``--seeds K`` the warm run is repeated for seeds 0..K-1 and the settings left undecided or
in error are counted per seed (the quick grid must decide every setting), and the rivals
left unrejected are named per seed (the quick grid must reject every rival).

Usage: python bench/verify_quick.py [--full] [--claims IDS] [--seeds K]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BUDGET_S = {"quick": 60.0, "full": 900.0}


def timed_run(mode: str, numba_cache: str, claims: str | None, seed: int = 0,
              json_path: str | None = None) -> tuple[float, int, str]:
    env = dict(os.environ, NUMBA_CACHE_DIR=numba_cache, NUMBA_NUM_THREADS="2",
               OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2")
    cmd = [sys.executable, "-m", "normtheory.cli", "verify", f"--{mode}", "--no-cache",
           "--no-progress", "--seed", str(seed)]
    if claims:
        cmd += ["--claims", claims]
    if json_path:
        cmd += ["--json", json_path]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode == 2:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit("normtheory verify exited with 2 (usage error)")
    return seconds, proc.returncode, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="time --full instead of --quick")
    parser.add_argument("--claims", default=None, help="restrict to these claim ids")
    parser.add_argument("--seeds", type=int, default=1,
                        help="repeat the warm run for seeds 0..K-1 and count undecided settings")
    args = parser.parse_args()
    mode = "full" if args.full else "quick"
    budget = BUDGET_S[mode]
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as numba_cache:
        runs = [("cold (numba compiles)", *timed_run(mode, numba_cache, args.claims))]
        undecided, kept = [], []
        for seed in range(args.seeds):
            json_path = os.path.join(numba_cache, f"seed{seed}.json")
            runs.append((f"warm, seed {seed}", *timed_run(mode, numba_cache, args.claims, seed, json_path)))
            with open(json_path) as fh:
                doc = json.load(fh)
            undecided.append(sum(r["verdict"] in ("undecided", "error") for r in doc["results"]))
            kept.append([f"{r['claim']}:{r['rival']}" for r in doc["rivals"] if r["status"] != "rejected"])
    print(f"normtheory verify --{mode}, 2 threads, budget {budget:.0f} s")
    for label, seconds, rc, _ in runs:
        print(f"  {label:22s} {seconds:7.1f} s   ratio to budget {seconds / budget:.2f}   "
              f"exit {rc}")
    print("settings undecided or in error, per seed: "
          + ", ".join(f"seed {s}: {n}" for s, n in enumerate(undecided)))
    print("rivals not rejected, per seed: "
          + ", ".join(f"seed {s}: {' '.join(names) or 'none'}" for s, names in enumerate(kept)))
    print("\n\n".join(runs[-1][3].split("\n\n")[1:]))  # the summary and the rivals table


if __name__ == "__main__":
    main()
