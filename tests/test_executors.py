"""Executors: ``--jobs 2`` gives the serial run's results, a killed worker or client changes nothing.

The runs on a local Dask cluster are subprocesses (``python -m normtheory.cli verify
--jobs 2``), so that the cluster's worker environment stays out of the test process. The
claims are a cheap subset (F1, R4, B1b: 18 settings, 28 looks). The JSON of two runs is
compared without the per-row ``seconds`` (wall-clock time of the simulations) and
``cached`` (whether the store already had every look) fields: everything else, every
estimate and interval, must be byte-identical.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("distributed")

from normtheory.cli import main  # noqa: E402
from normtheory.runs import executors  # noqa: E402
from normtheory.store import STORE_FILE  # noqa: E402

CLAIMS = "F1,R4,B1b"
TIMING_FIELDS = ("seconds", "cached")


def _canonical(path) -> str:
    data = json.loads(open(path).read())
    for row in data["results"]:
        for name in TIMING_FIELDS:
            row.pop(name)
    return json.dumps(data, sort_keys=True, indent=1)


def _verify_cmd(cache, out, *extra):
    return [sys.executable, "-m", "normtheory.cli", "verify", "--quick", "--claims", CLAIMS, "--no-progress",
            "--cache-dir", str(cache), "--json", str(out), *extra]


def _run(cmd, env=None, timeout=300):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def serial_json(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serial")
    assert main(["verify", "--quick", "--claims", CLAIMS, "--no-progress", "--cache-dir", str(folder / "cache"),
                 "--json", str(folder / "serial.json")]) == 0
    return _canonical(folder / "serial.json")


def _tasks(log):
    return [json.loads(line) for line in open(log)] if os.path.exists(log) else []


def test_jobs_2_gives_the_serial_json_and_a_killed_worker_changes_nothing(tmp_path, serial_json):
    _run(_verify_cmd(tmp_path / "a", tmp_path / "a.json", "--jobs", "2"))
    assert _canonical(tmp_path / "a.json") == serial_json
    # the worker that starts the 4th task SIGKILLs itself; the nanny restarts it, the task reruns
    hook = tmp_path / "hook"
    hook.mkdir()
    _run(_verify_cmd(tmp_path / "b", tmp_path / "b.json", "--jobs", "2"),
         env={executors.KILL_HOOK_ENV: f"{hook}:4"})
    assert (hook / "killed").exists(), "the test hook did not kill a worker"
    assert _canonical(tmp_path / "b.json") == serial_json


def test_killed_client_resumes_from_the_store_without_resubmitting_stored_results(tmp_path, serial_json):
    from normtheory.verify import registry
    from normtheory.verify.cache import MeasurementCache
    from normtheory.verify.registry import Point

    cache, store = tmp_path / "cache", tmp_path / "cache" / STORE_FILE
    proc = subprocess.Popen(_verify_cmd(cache, tmp_path / "x.json", "--jobs", "2"), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if store.exists() and len(store.read_bytes().splitlines()) >= 4:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its local cluster
    finally:
        proc.wait(timeout=60)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(cache, snapshot)
    before = store.read_bytes()
    stored = MeasurementCache(snapshot)
    assert len(stored) >= 4

    log = tmp_path / "tasks.jsonl"
    _run(_verify_cmd(cache, tmp_path / "y.json", "--jobs", "2"), env={executors.TASK_LOG_ENV: str(log)})
    assert _canonical(tmp_path / "y.json") == serial_json
    assert store.read_bytes().startswith(before.rstrip(b"\n").rsplit(b"\n", 1)[0])  # appended to, never rewritten
    registry.load_claims()
    tasks = _tasks(log)
    assert tasks, "the resumed run had nothing left to compute"
    for task in tasks:
        claim_id, settings, trials, seed = task["args"]
        claim = registry.select(claim_id)[0]
        for setting in settings:
            assert stored.get(claim, Point(setting, 2), seed, trials) is None, (claim_id, setting, seed)
    rows = json.loads((tmp_path / "y.json").read_text())["results"]
    assert len(MeasurementCache(cache)) == sum(r["looks"] for r in rows)  # each look stored once


def test_bad_executor_flags_are_one_line_usage_errors(capsys):
    for flags in (["--jobs", "0"], ["--jobs", "-3"], ["--scheduler", " "]):
        assert main(["verify", "--quick", "--claims", "B1b", "--no-cache", "--no-progress", *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("normtheory verify: error: --"), err


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(executors.ExecutorError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        executors.DaskExecutor.connect("tcp://127.0.0.1:9", timeout=1)


def test_a_worker_with_other_versions_refuses_the_task():
    with pytest.raises(executors.VersionMismatch, match=r"normtheory .* \(client 0\.0\.0\)"):
        executors.run_task("os:getpid", (), {**executors.versions(), "normtheory": "0.0.0"}, None)


def test_serial_executor_runs_tasks_submitted_while_iterating_in_order():
    ex = executors.SerialExecutor()
    ex.submit("a", "operator:add", 1, 2)
    seen = []
    for tag, result in ex.results():
        seen.append((tag, result))
        if tag == "a":
            ex.submit("b", "operator:mul", 3, 4)
    assert seen == [("a", 3), ("b", 12)]
