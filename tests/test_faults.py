"""Fault injection: runs killed with SIGKILL at random points, files truncated and bytes flipped.

Every rerun must end with the results of an uninterrupted run, or stop with a one-line
message (exit 2) and lose no finished work. Kills hit real ``normtheory`` processes
(subprocesses); truncations and flips are applied to the files a finished run left, and
the rerun is in-process. The injection points come from a fixed seed, so a failure is
reproducible (the kill times still depend on the machine's speed). The number of kills
and damaged files tried is printed at the end of the module and asserted per test.
"""

import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from normtheory.cli import main

SEED = 20240601
KILLS = 3            # per command
DAMAGES = 3          # per file kind and damage (truncate, flip)
TRAIN = ["train", "--arch", "mlp", "--width", "8", "--depth", "2", "--epochs", "4", "--batch-size", "64",
         "--probe-every", "0", "--quiet"]
FIGURE = ["figures", "--tiny", "--only", "rank_collapse", "--no-progress"]
TIMING = ("time_s", "images_per_s")


@pytest.fixture(scope="module")
def tally(request):
    counts = Counter()
    yield counts
    line = "fault injection: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(f"\n{line}")


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "normtheory.cli", *args]


def _run(args) -> float:
    """Run ``normtheory ARGS`` to the end (exit 0 required); returns its wall time."""
    start = time.perf_counter()
    done = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - start


def _kill_at(args, delay: float) -> bool:
    """Start ``normtheory ARGS`` and SIGKILL it after ``delay`` s; True if it was still running."""
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return alive


def _epochs(path) -> list[dict]:
    from normtheory.training import read_log

    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_log(path)]


def _damage(path, rng: random.Random, how: str) -> None:
    data = bytearray(path.read_bytes())
    at = rng.randrange(len(data))
    if how == "truncate":
        del data[at:]
    else:
        data[at] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "reference"
    seconds = _run([*TRAIN, "--out", str(out)])
    return out, seconds


@pytest.fixture(scope="module")
def figure_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("figure") / "reference"
    seconds = _run([*FIGURE, "--out", str(out)])
    return out, seconds


def test_killed_training_resumes_to_the_uninterrupted_result(tmp_path, train_reference, tally):
    import torch

    reference, seconds = train_reference
    rng = random.Random(SEED)
    out = tmp_path / "run"
    for k in range(KILLS):
        tally["train kills"] += 1
        tally["train kills that hit a running process"] += _kill_at(
            [*TRAIN, "--out", str(out), *(["--resume"] if k else [])], rng.uniform(0.3, 1.0) * seconds)
    _run([*TRAIN, "--out", str(out), "--resume"])
    assert _epochs(out / "log.jsonl") == _epochs(reference / "log.jsonl")
    got, want = (torch.load(d / "checkpoint.pt", weights_only=False)["model"] for d in (out, reference))
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert tally["train kills"] == KILLS


def test_killed_figure_run_resumes_to_the_uninterrupted_csv(tmp_path, figure_reference, tally):
    reference, seconds = figure_reference
    rng = random.Random(SEED + 1)
    out = tmp_path / "figs"
    for _ in range(KILLS):
        tally["figure kills"] += 1
        tally["figure kills that hit a running process"] += _kill_at([*FIGURE, "--out", str(out)],
                                                                     rng.uniform(0.4, 1.0) * seconds)
    _run([*FIGURE, "--out", str(out)])
    assert (out / "rank_collapse.csv").read_bytes() == (reference / "rank_collapse.csv").read_bytes()
    assert not (out / "rank_collapse.partial.jsonl").exists()
    assert tally["figure kills"] == KILLS


@pytest.mark.parametrize("how", ["truncate", "flip"])
@pytest.mark.parametrize("name", ["log.jsonl", "checkpoint.pt"])
def test_damaged_training_files(tmp_path, train_reference, tally, capsys, name, how):
    reference, _ = train_reference
    rng = random.Random(f"{SEED}-{name}-{how}")
    for trial in range(DAMAGES):
        out = shutil.copytree(reference, tmp_path / f"run{trial}")
        _damage(out / name, rng, how)
        tally[f"{name} {how}s"] += 1
        status = main([*TRAIN, "--out", str(out), "--resume"])
        err = capsys.readouterr().err
        tally["damaged files that stopped the rerun with a message"] += status == 2
        if status == 2:  # only a damaged checkpoint may stop the run, and it must say so
            assert name == "checkpoint.pt" and "checkpoint.pt" in err and err.count("\n") == 1, err
            assert (out / "log.jsonl").read_bytes() == (reference / "log.jsonl").read_bytes()
        else:
            assert status == 0, err
            assert (out / "log.jsonl").read_bytes() == (reference / "log.jsonl").read_bytes()
    assert tally[f"{name} {how}s"] == DAMAGES


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_damaged_figure_partial(tmp_path, figure_reference, tally, capsys, recwarn, how):
    from normtheory.figures import rank_collapse
    from normtheory.figures.runner import compute

    reference, _ = figure_reference
    partial = tmp_path / "partial.jsonl"
    compute(rank_collapse, size="tiny", seed=0, checkpoint=partial)  # every setting, as a run killed at the end
    rng = random.Random(f"{SEED}-partial-{how}")
    for trial in range(DAMAGES):
        out = tmp_path / f"figs{trial}"
        out.mkdir()
        shutil.copy(partial, out / "rank_collapse.partial.jsonl")
        _damage(out / "rank_collapse.partial.jsonl", rng, how)
        tally[f"partial.jsonl {how}s"] += 1
        status = main([*FIGURE, "--out", str(out)])
        said = capsys.readouterr()
        tally["damaged files that stopped the rerun with a message"] += status == 2
        if status == 2:  # the FAILED line names the file; the file is kept for the user to see
            assert "rank_collapse.partial.jsonl, line" in said.out, said.out
            assert (out / "rank_collapse.partial.jsonl").exists() and not (out / "rank_collapse.csv").exists()
        else:
            assert status == 0, said.err
            assert (out / "rank_collapse.csv").read_bytes() == (reference / "rank_collapse.csv").read_bytes()
    assert tally[f"partial.jsonl {how}s"] == DAMAGES
