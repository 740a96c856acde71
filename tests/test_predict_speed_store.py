"""predict-speed on executors and the result store: ``--jobs 2`` writes the serial run's CSV,
and a second run with the same ``--cache-dir`` trains nothing.

The Dask runs are subprocesses (as in test_executors.py), at a tiny size: 3 settings, 2
seeds, 10 steps of a width-8 depth-2 MLP on digits.
"""

import json
import os
import subprocess
import sys

import pytest

from normtheory.cli import main
from normtheory.runs import executors

SCRIPT = """
import sys
from normtheory.runs import executors
from normtheory.experiments.predict_speed import run_experiment
from normtheory.experiments.speed_own_lr import run_own_lr
from normtheory.store import ResultStore
from normtheory.training import TrainConfig
mode, out, cache, jobs = sys.argv[1:5]
base = TrainConfig(arch="mlp", batch_size=32, lr=0.05, mlp=dict(width=8, depth=2, nonlinearity="relu"))
settings = [("layernorm", None), ("plain", None), ("groupnorm", 2)]
kw = dict(settings=settings, seeds=(0, 1), steps=10, base_config=base, out=out, progress=False,
          store=ResultStore(cache) if cache != "-" else None)
with executors.make(jobs=int(jobs) if jobs != "0" else None) as ex:
    if mode == "own":
        run_own_lr(grid=(1e4, 0.1, 0.05), executor=ex, **kw)
    else:
        run_experiment(executor=ex, **kw)
assert jobs != "0" or not any(m == "dask" or m.startswith(("dask.", "distributed")) for m in sys.modules)
"""


def _run(mode, out, cache="-", jobs=0, env=None):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(out), str(cache), str(jobs)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]


def _tasks(log):
    return [json.loads(line) for line in open(log)] if os.path.exists(log) else []


@pytest.mark.parametrize("mode", ["fixed", "own"])
def test_jobs_2_writes_the_serial_csv_and_a_rerun_on_the_store_trains_nothing(tmp_path, mode):
    pytest.importorskip("distributed")
    _run(mode, tmp_path / "serial.csv")  # serial, no store; the script checks that dask is not imported
    log = tmp_path / "tasks.jsonl"
    _run(mode, tmp_path / "jobs.csv", tmp_path / "cache", 2, env={executors.TASK_LOG_ENV: str(log)})
    serial = (tmp_path / "serial.csv").read_text()
    assert (tmp_path / "jobs.csv").read_text() == serial
    assert serial.count("\n") == 7 if mode == "fixed" else serial.count("\n") >= 5
    first = _tasks(log)
    assert first and all(t["func"] == "normtheory.experiments.predict_speed:train_run" for t in first)
    assert len({json.dumps(t["args"], sort_keys=True) for t in first}) == len(first)  # nothing run twice
    os.remove(log)
    _run(mode, tmp_path / "again.csv", tmp_path / "cache", 2, env={executors.TASK_LOG_ENV: str(log)})
    assert _tasks(log) == [] and (tmp_path / "again.csv").read_text() == serial


def test_cli_cache_dir_serial_second_run_trains_nothing(tmp_path, monkeypatch, capsys):
    from normtheory.experiments import predict_speed

    calls = []
    real = predict_speed.train_run
    monkeypatch.setattr(predict_speed, "train_run", lambda task: calls.append(task) or real(task))
    monkeypatch.setattr(predict_speed, "DEFAULT_SETTINGS", [("layernorm", None), ("plain", None)])
    args = ["experiment", "predict-speed", "--steps", "10", "--seeds", "2", "--quiet",
            "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--out", str(tmp_path / "a.csv")]) == 0
    assert len(calls) == 4
    calls.clear()
    assert main([*args, "--out", str(tmp_path / "b.csv")]) == 0
    assert calls == [] and (tmp_path / "b.csv").read_text() == (tmp_path / "a.csv").read_text()
    capsys.readouterr()


@pytest.mark.parametrize("flags", [["--jobs", "0"], ["--jobs", "-1"], ["--scheduler", " "]])
def test_bad_executor_flags_are_one_line_usage_errors(tmp_path, flags, capsys):
    assert main(["experiment", "predict-speed", "--out", str(tmp_path / "x.csv"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("normtheory experiment: error:")
    assert not (tmp_path / "x.csv").exists()
