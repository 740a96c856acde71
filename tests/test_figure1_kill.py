"""``normtheory experiment figure1`` survives a real kill: the command runs in a subprocess,
is SIGKILLed once its first run has finished (its summary.json exists) while later runs are
still to do, and is started again. The finished runs must not be retrained (their files are
byte- and mtime-identical), the grid must end complete, and its output must draw."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from normtheory.cli import main

SEEDS = 3
REPO = Path(__file__).resolve().parents[1]
CLI = "import sys; from normtheory.cli import main; raise SystemExit(main(sys.argv[1:]))"

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or not hasattr(os, "kill"),
                                reason="needs SIGKILL to kill the command")


def command(tmp_path):
    return [sys.executable, "-c", CLI, "experiment", "figure1", "--data-dir", str(tmp_path / "data"),
            "--synthetic", "4", "--out", str(tmp_path / "runs"), "--norms", "batchnorm", "--archs", "vgg10",
            "--batches", "4", "--seeds", str(SEEDS), "--epochs", "2", "--search-steps", "1", "--lr-grid", "0.1",
            "--device", "cpu", "--quiet"]


def start(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(command(tmp_path), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def snapshot(folder: Path) -> dict:
    """Every file of a run: its bytes and its modification time (ns)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


def test_figure1_resumes_after_sigkill_without_retraining_finished_runs(tmp_path):
    runs = tmp_path / "runs" / "vgg10" / "batchnorm" / "b4"
    summaries = [runs / f"seed_{s}" / "summary.json" for s in range(SEEDS)]
    proc = start(tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not summaries[0].exists():
            assert proc.poll() is None, f"figure1 ended before its first run finished: {proc.communicate()}"
            assert time.monotonic() < deadline, "figure1's first run did not finish in 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()  # no-op once it is dead; never leave the child behind
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    finished = [s for s in range(SEEDS) if summaries[s].exists()]
    assert finished and len(finished) < SEEDS, "the kill must fall between the first and the last run"
    before = {s: snapshot(runs / f"seed_{s}") for s in finished}

    proc = start(tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert all(p.exists() for p in summaries)
    assert {s: snapshot(runs / f"seed_{s}") for s in finished} == before  # not trained again
    assert out.count("finished") == SEEDS

    from normtheory.training import read_log

    for s in range(SEEDS):  # the killed run continued or restarted: each epoch logged once
        assert [r["epoch"] for r in read_log(runs / f"seed_{s}" / "log.jsonl")] == [0, 1]

    assert main(["figures", "--only", "training_curves", "--runs", str(tmp_path / "runs"), "--out",
                 str(tmp_path / "fig"), "--no-progress"]) == 0
    assert (tmp_path / "fig" / "training_curves.png").exists()
