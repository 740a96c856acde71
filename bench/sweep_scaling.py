"""Serial against ``--jobs N`` for ``normtheory verify`` on the quick and full grids, in one run.

Each run is a fresh subprocess with its own empty result store, so nothing is cached:

    python bench/sweep_scaling.py                         # quick and full, every claim, --jobs 2
    python bench/sweep_scaling.py --grids quick --claims F1,R4,B1b --jobs 2

For each grid it prints the wall time of the serial run and of the ``--jobs N`` run (the
local cluster's start included), the speed-up ratio serial/parallel, the number of tasks
(distinct simulations, counted by the workers), the simulation seconds (sum of the rows'
``seconds``), and the per-task overhead::

    overhead per task = (N × parallel wall − serial simulation seconds) / tasks

i.e. the worker-seconds a task costs beyond the simulation itself (cluster start,
scheduling, transfers, warming each worker, idle workers at the end). It also checks that
both runs wrote the same JSON apart from the per-row ``seconds`` and ``cached``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMING_FIELDS = ("seconds", "cached")


def _run(grid: str, claims: str | None, folder: Path, name: str, extra: list[str], env: dict) -> tuple:
    out = folder / f"{name}.json"
    cmd = [sys.executable, "-m", "normtheory.cli", "verify", f"--{grid}", "--no-progress",
           "--cache-dir", str(folder / f"{name}-cache"), "--json", str(out), *extra]
    if claims:
        cmd += ["--claims", claims]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1, 3, 4) or not out.exists():  # a verdict, not a crash
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    data = json.loads(out.read_text())
    seconds = sum(r["seconds"] for r in data["results"])
    for row in data["results"]:
        for f in TIMING_FIELDS:
            row.pop(f)
    return wall, seconds, json.dumps(data, sort_keys=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", default="quick,full", help="comma-separated: quick, full (default both)")
    parser.add_argument("--claims", default=None, help="claim ids (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes of the parallel run (default 2)")
    args = parser.parse_args(argv)
    from normtheory.runs.executors import TASK_LOG_ENV

    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, claims {args.claims or 'all'}")
    header = (f"{'grid':6} {'settings':>8} {'tasks':>6} {'serial s':>9} {'jobs s':>8} {'ratio':>6} "
              f"{'sim s':>7} {'overhead/task s':>15} {'identical':>9}")
    print(header)
    for grid in args.grids.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            serial_wall, serial_sim, serial_json = _run(grid, args.claims, folder, "serial", [], {})
            log = folder / "tasks.jsonl"
            jobs_wall, _, jobs_json = _run(grid, args.claims, folder, "jobs", ["--jobs", str(args.jobs)],
                                           {TASK_LOG_ENV: str(log)})
            tasks = len(log.read_text().splitlines()) if log.exists() else 0
            settings = len(json.loads(serial_json)["results"])
        overhead = (args.jobs * jobs_wall - serial_sim) / max(tasks, 1)
        print(f"{grid:6} {settings:8d} {tasks:6d} {serial_wall:9.1f} {jobs_wall:8.1f} "
              f"{serial_wall / jobs_wall:6.2f} {serial_sim:7.1f} {overhead:15.3f} "
              f"{'yes' if serial_json == jobs_json else 'NO':>9}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
