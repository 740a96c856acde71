"""Time ``normtheory verify --quick`` (and optionally ``--full``) against its budgets.

Runs the command in fresh processes on at most 2 threads, without the results cache:

- cold: numba's on-disk cache and the sympy derivations' cache
  (:mod:`normtheory.bounds.derived`) in an empty temporary directory, so every kernel
  compiles and every closed form is derived (as on a fresh clone; ``verify`` compiles the
  kernels in parallel processes, see :mod:`normtheory.montecarlo.warm`);
- warm: the same cache directories again, so compiled kernels and derivations are loaded.

Prints the seconds of each run and the ratio to its budget (quick: 60 s cold, 30 s warm;
full: 900 s; a ratio below 1 meets it) and the exit status. With ``--seeds K`` the warm run
is repeated for seeds 0..K-1 and the settings left undecided or in error are counted per
seed (the quick grid must decide every setting), and the rivals left unrejected are named
per seed (the quick grid must reject every rival). With ``--compare JSON`` (a
``normtheory verify --json`` file of the same mode and seed 0) every verdict of the cold
run is compared with it, and the settings whose verdict changed are listed. ``--cold``:
the cold run only.

Usage: python bench/verify_quick.py [--full] [--cold] [--claims IDS] [--seeds K] [--compare JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BUDGET_S = {("quick", "cold"): 60.0, ("quick", "warm"): 30.0, ("full", "cold"): 900.0, ("full", "warm"): 900.0}


def timed_run(mode: str, numba_cache: str, claims: str | None, seed: int = 0,
              json_path: str | None = None) -> tuple[float, int, str]:
    env = dict(os.environ, NUMBA_CACHE_DIR=numba_cache, NUMBA_NUM_THREADS="2",
               NORMTHEORY_DERIVATIONS_DIR=os.path.join(numba_cache, "derivations"),
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


def compare_verdicts(doc: dict, path: str) -> str:
    """The settings of ``doc`` whose verdict differs from the file ``path``'s (same claim and setting)."""
    with open(path) as fh:
        ref = json.load(fh)
    if ref.get("mode") != doc.get("mode") or ref.get("seed") != doc.get("seed"):
        raise SystemExit(f"--compare {path}: mode {ref.get('mode')}, seed {ref.get('seed')}; this run: "
                         f"mode {doc.get('mode')}, seed {doc.get('seed')}")
    key = (lambda r: (r["claim"], json.dumps(r["setting"], sort_keys=True)))
    before = {key(r): r["verdict"] for r in ref["results"]}
    after = {key(r): r["verdict"] for r in doc["results"]}
    changed = [f"  {k[0]} {k[1]}: {before.get(k, 'not in the file')} -> {after[k]}" for k in sorted(after)
               if before.get(k) != after[k]]
    return (f"verdicts against {path}: {len(after)} settings, {len(changed)} changed"
            + ("".join("\n" + line for line in changed)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="time --full instead of --quick")
    parser.add_argument("--claims", default=None, help="restrict to these claim ids")
    parser.add_argument("--seeds", type=int, default=1,
                        help="repeat the warm run for seeds 0..K-1 and count undecided settings")
    parser.add_argument("--cold", action="store_true", help="the cold run only")
    parser.add_argument("--compare", metavar="JSON", default=None,
                        help="compare the cold run's verdicts with this verify --json file (seed 0)")
    args = parser.parse_args()
    mode = "full" if args.full else "quick"
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as numba_cache:
        cold_json = os.path.join(numba_cache, "cold.json")
        runs = [("cold (numba compiles)", "cold", *timed_run(mode, numba_cache, args.claims, 0, cold_json))]
        with open(cold_json) as fh:
            cold_doc = json.load(fh)
        undecided, kept = [], []
        for seed in range(0 if args.cold else args.seeds):
            json_path = os.path.join(numba_cache, f"seed{seed}.json")
            runs.append((f"warm, seed {seed}", "warm", *timed_run(mode, numba_cache, args.claims, seed, json_path)))
            with open(json_path) as fh:
                doc = json.load(fh)
            undecided.append(sum(r["verdict"] in ("undecided", "error") for r in doc["results"]))
            kept.append([f"{r['claim']}:{r['rival']}" for r in doc["rivals"] if r["status"] != "rejected"])
    print(f"normtheory verify --{mode}, 2 threads")
    for label, kind, seconds, rc, _ in runs:
        budget = BUDGET_S[mode, kind]
        print(f"  {label:22s} {seconds:7.1f} s   budget {budget:.0f} s, ratio {seconds / budget:.2f}   exit {rc}")
    if undecided:
        print("settings undecided or in error, per seed: "
              + ", ".join(f"seed {s}: {n}" for s, n in enumerate(undecided)))
        print("rivals not rejected, per seed: "
              + ", ".join(f"seed {s}: {' '.join(names) or 'none'}" for s, names in enumerate(kept)))
    if args.compare:
        print(compare_verdicts(cold_doc, args.compare))
    print("\n\n".join(runs[-1][4].split("\n\n")[1:]))  # the summary and the rivals table


if __name__ == "__main__":
    main()
