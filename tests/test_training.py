"""Training harness: CIFAR reader on files in the official format, runs, resume, divergence."""

import json
import pickle

import numpy as np
import pytest

from normtheory.training import DataError, TrainConfig, load_cifar, read_log, train
from normtheory.training.data import standardize


def _write_cifar100(root, n_train=20, n_test=10):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in (("train", n_train), ("test", n_test)):
        obj = {b"filenames": [f"{i}.png".encode() for i in range(n)], b"batch_label": name.encode(),
               b"fine_labels": rng.integers(0, 100, n).tolist(), b"coarse_labels": rng.integers(0, 20, n).tolist(),
               b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
        with open(folder / name, "wb") as fh:
            pickle.dump(obj, fh, protocol=2)
    with open(folder / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": [b"x"] * 100, b"coarse_label_names": [b"y"] * 20}, fh, protocol=2)
    return folder


def test_cifar100_reader_on_official_format(tmp_path):
    folder = _write_cifar100(tmp_path)
    data = load_cifar(tmp_path, "cifar100")
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (10, 3, 32, 32)
    assert data.num_classes == 100 and data.y_train.dtype == np.int64
    with open(folder / "train", "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    first = raw[b"data"][0].reshape(3, 32, 32).astype(np.float32)
    assert np.corrcoef(first.ravel(), data.x_train[0].ravel())[0, 1] > 0.99  # same pixels, row-major CHW


def test_cifar10_reader_reads_the_five_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                         b"labels": rng.integers(0, 10, 4).tolist()}, fh, protocol=2)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [b"c"] * 10}, fh, protocol=2)
    data = load_cifar(folder, "cifar10")
    assert data.x_train.shape[0] == 20 and data.num_classes == 10


def test_corrupted_and_missing_files_give_clear_errors(tmp_path):
    folder = _write_cifar100(tmp_path)
    (folder / "test").write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="test.*not a readable CIFAR pickle.*cifar-100-python"):
        load_cifar(tmp_path, "cifar100")
    (folder / "test").unlink()
    with pytest.raises(DataError, match="missing file"):
        load_cifar(tmp_path, "cifar100")
    with pytest.raises(DataError, match="does not exist"):
        load_cifar(tmp_path / "nowhere", "cifar100")
    with open(folder / "test", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"fine_labels": [0, 1]}, fh, protocol=2)
    with pytest.raises(DataError, match=r"\(N, 3072\)"):
        load_cifar(tmp_path, "cifar100")


def _tiny_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int64)
    return standardize("tiny", x[:64], y[:64], x[64:], y[64:], 2)


TINY = dict(arch="mlp", norm="layernorm", batch_size=16, lr=0.05, probe_every=2,
            mlp=dict(width=16, depth=3, nonlinearity="relu"))


def test_two_epoch_run_writes_logs_and_checkpoint_and_resume_matches(tmp_path):
    data = _tiny_data()
    full = train(TrainConfig(epochs=2, **TINY), data, tmp_path / "full", progress=False)
    log = read_log(tmp_path / "full" / "log.jsonl")
    assert [r["epoch"] for r in log] == [0, 1] and (tmp_path / "full" / "checkpoint.pt").exists()
    assert "probe_last_cosine" in log[-1] and json.loads((tmp_path / "full" / "config.json").read_text())
    # a run killed after its first epoch (simulated by training 1 epoch of a 2-epoch config)
    cfg = TrainConfig(epochs=2, max_steps=4, **TINY)
    train(cfg, data, tmp_path / "killed", progress=False)
    assert [r["epoch"] for r in read_log(tmp_path / "killed" / "log.jsonl")] == [0]
    resumed = train(TrainConfig(epochs=2, **TINY), data, tmp_path / "killed", resume=True, progress=False)
    assert [r["epoch"] for r in read_log(tmp_path / "killed" / "log.jsonl")] == [0, 1]
    assert resumed["train_loss"] == pytest.approx(full["train_loss"], rel=1e-9)
    assert resumed["test_acc"] == full["test_acc"]


def test_divergence_is_detected_and_recorded(tmp_path):
    cfg = TrainConfig(epochs=2, **{**TINY, "norm": "plain", "lr": 1e6})
    summary = train(cfg, _tiny_data(), tmp_path / "div", progress=False)
    assert summary["status"] == "diverged"
    assert read_log(tmp_path / "div" / "log.jsonl")[-1]["diverged"] is True


def test_schedule_steps_down_at_half_and_three_quarters():
    from normtheory.training import lr_at

    cfg = TrainConfig(epochs=8, batch_size=256)
    assert [round(lr_at(cfg, e), 6) for e in (0, 3.9, 4, 6)] == [0.1, 0.1, 0.01, 0.001]


def test_stacked_seeds_match_single_runs_and_write_per_seed_logs(tmp_path):
    data = _tiny_data()
    stacked = train(TrainConfig(epochs=2, seed=3, seeds=2, **TINY), data, tmp_path / "st", progress=False)
    assert stacked["status"] == "finished" and sorted(stacked["seeds"]) == [3, 4]
    for s in (3, 4):
        one = train(TrainConfig(epochs=2, seed=s, **TINY), data, tmp_path / f"one{s}", progress=False)
        log = read_log(tmp_path / "st" / f"seed_{s}" / "log.jsonl")
        assert [r["epoch"] for r in log] == [0, 1] and log[-1]["stacked_seeds"] == 2
        assert json.loads((tmp_path / "st" / f"seed_{s}" / "config.json").read_text())["seed"] == s
        got = stacked["seeds"][s]
        for key in ("train_loss", "test_loss", "probe_last_cosine"):
            assert got[key] == pytest.approx(one[key], rel=1e-4), key
    assert stacked["seeds"][3]["train_loss"] != pytest.approx(stacked["seeds"][4]["train_loss"], rel=1e-3)


def test_stacked_resume_after_kill_matches_the_full_run(tmp_path):
    data = _tiny_data()
    full = train(TrainConfig(epochs=2, seeds=2, **TINY), data, tmp_path / "full", progress=False)
    train(TrainConfig(epochs=2, seeds=2, max_steps=4, **TINY), data, tmp_path / "killed", progress=False)
    assert [r["epoch"] for r in read_log(tmp_path / "killed" / "seed_1" / "log.jsonl")] == [0]
    resumed = train(TrainConfig(epochs=2, seeds=2, **TINY), data, tmp_path / "killed", resume=True, progress=False)
    for s in (0, 1):
        assert [r["epoch"] for r in read_log(tmp_path / "killed" / f"seed_{s}" / "log.jsonl")] == [0, 1]
        assert resumed["seeds"][s]["train_loss"] == pytest.approx(full["seeds"][s]["train_loss"], rel=1e-9)


def test_one_diverging_seed_is_frozen_and_the_others_go_on(tmp_path, monkeypatch):
    import torch

    from normtheory.training import loop, stacked

    def build_with_a_broken_seed(config, data):
        model = loop.build_model(config, data)
        if torch.initial_seed() == 1:  # seed 1's output layer overflows float32 at the first step
            with torch.no_grad():
                model.head.weight.mul_(1e38).mul_(1e38)
        return model

    monkeypatch.setattr(stacked, "build_model", build_with_a_broken_seed)
    data = _tiny_data()
    out = train(TrainConfig(epochs=2, seeds=2, **TINY), data, tmp_path / "st", progress=False)
    assert out["status"] == "finished"
    assert out["seeds"][1] == {"status": "diverged", "epoch": 0, "step": 0}
    assert read_log(tmp_path / "st" / "seed_1" / "log.jsonl") == [{"epoch": 0, "diverged": True, "step": 0,
                                                                   "lr": TINY["lr"]}]
    one = train(TrainConfig(epochs=2, seed=0, **TINY), data, tmp_path / "one", progress=False)
    assert out["seeds"][0]["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)


def test_seeds_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        train(TrainConfig(epochs=1, seeds=0, **TINY), _tiny_data(), tmp_path, progress=False)


@pytest.mark.parametrize("arch,norm,refused", [("resnet56", "sws", True), ("mlp", "sws", False),
                                               ("resnet56", "batchnorm", False)])
def test_resume_refuses_a_run_saved_before_its_network_changed_function(tmp_path, arch, norm, refused):
    """A run whose config.json predates the recorded layout was built with layout 1; SWS CNNs
    changed function since (the ReLU gain moved into the conv), so resuming one into today's
    network is refused, naming net_layout; unchanged networks resume."""
    from normtheory.nets import layout_version

    options = {**TINY, "arch": arch, "norm": norm}
    train(TrainConfig(epochs=2, max_steps=4, **options), _tiny_data(), tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["net_layout"] == layout_version(arch, norm) == (2 if refused else 1)
    del saved["net_layout"]  # as a run written before the field existed
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    again = TrainConfig(epochs=2, **options)
    if refused:
        with pytest.raises(ValueError, match=r"net_layout: 1 -> 2"):
            train(again, _tiny_data(), tmp_path / "run", resume=True, progress=False)
    else:
        train(again, _tiny_data(), tmp_path / "run", resume=True, progress=False)
        assert [r["epoch"] for r in read_log(tmp_path / "run" / "log.jsonl")] == [0, 1]
