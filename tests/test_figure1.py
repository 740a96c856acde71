"""``normtheory experiment figure1`` at tiny size on synthetic CIFAR-100-format data: it
trains the grid, resumes after a kill without retraining finished runs, and draws."""

import csv
import dataclasses

import pytest

from normtheory.cli import main

GRID = ["--norms", "batchnorm", "--archs", "vgg10", "--batches", "4", "--seeds", "2", "--epochs", "2",
        "--search-steps", "1", "--lr-grid", "0.1", "--device", "cpu", "--quiet"]


def test_figure1_trains_resumes_after_a_kill_and_draws(tmp_path, monkeypatch, capsys):
    import normtheory.training as training

    real_train = training.train
    calls = []

    def killed_in_the_second_run(config, data, out, **kwargs):
        calls.append(str(out))
        if len(calls) == 2:  # the second run is killed after its first epoch
            real_train(dataclasses.replace(config, max_steps=1), data, out, **kwargs)
            raise KeyboardInterrupt
        return real_train(config, data, out, **kwargs)

    args = ["experiment", "figure1", "--data-dir", str(tmp_path / "data"), "--synthetic", "4",
            "--out", str(tmp_path / "runs"), *GRID]
    monkeypatch.setattr(training, "train", killed_in_the_second_run)
    with pytest.raises(KeyboardInterrupt):
        main(args)
    runs = tmp_path / "runs" / "vgg10" / "batchnorm" / "b4"
    assert (runs / "seed_0" / "summary.json").exists() and not (runs / "seed_1" / "summary.json").exists()
    finished_log = (runs / "seed_0" / "log.jsonl").read_bytes()
    assert len(training.read_log(runs / "seed_1" / "log.jsonl")) == 1  # one epoch done before the kill

    calls.clear()
    monkeypatch.setattr(training, "train", lambda *a, **k: (calls.append(str(a[2])), real_train(*a, **k))[1])
    assert main(args) == 0
    assert calls == [str(runs / "seed_1")]  # the finished run is not trained again
    assert (runs / "seed_0" / "log.jsonl").read_bytes() == finished_log
    assert [r["epoch"] for r in training.read_log(runs / "seed_1" / "log.jsonl")] == [0, 1]
    out = capsys.readouterr().out
    assert "normtheory figures --only training_curves" in out and out.count("finished") == 2

    calls.clear()
    assert main(args) == 0 and calls == []  # all finished: nothing trained

    assert main(["figures", "--only", "training_curves", "--runs", str(tmp_path / "runs"), "--out",
                 str(tmp_path / "fig"), "--no-progress"]) == 0
    with open(tmp_path / "fig" / "training_curves.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["panel"], r["norm"], r["batch"], r["seeds"]) for r in rows} == {
        ("vgg10", "batchnorm", "4", "2")}  # the LR-search runs are not drawn
    assert (tmp_path / "fig" / "training_curves.png").exists()


def test_figure1_options_are_checked(tmp_path, capsys):
    base = ["experiment", "figure1", "--out", str(tmp_path / "runs"), "--dataset", "digits", "--quiet"]
    assert main([*base, "--archs", "vgg99"]) == 2 and "--archs: unknown vgg99" in capsys.readouterr().err
    assert main([*base, "--norms", "bogus"]) == 2 and "bogus" in capsys.readouterr().err
    assert main([*base, "--epochs", "0"]) == 2 and "--epochs must be >= 1" in capsys.readouterr().err
    real = tmp_path / "real" / "cifar-100-python"
    real.mkdir(parents=True)
    assert main(["experiment", "figure1", "--data-dir", str(tmp_path / "real"), "--synthetic", "8", "--quiet",
                 "--out", str(tmp_path / "runs")]) == 2
    assert "not written by --synthetic" in capsys.readouterr().err  # real data is never overwritten
