"""The paper's training protocol beside the linear-scaling one, and the CUDA-path rules
(no host read-back in a step, checkpoints loaded on the CPU), checked without a GPU."""

import math

import numpy as np
import pytest
import torch

from normtheory.training import TrainConfig, lr_at, schedule
from normtheory.training.data import load_cifar, standardize, write_synthetic_cifar100


def test_paper_lr_scales_inversely_with_batch_and_drops_once_after_the_warmup():
    assert schedule.base_lr("paper", 256) == pytest.approx(0.1)
    assert schedule.base_lr("paper", 16) == pytest.approx(1.6)  # the authors' code, not linear scaling
    assert schedule.base_lr("linear", 16) == pytest.approx(0.00625)
    assert [schedule.default_epochs("paper", b) for b in (256, 32, 16)] == [60, 60, 10]
    assert schedule.default_epochs("linear", 256) == 200
    cfg = TrainConfig(protocol="paper", batch_size=256, epochs=60, init_lr=0.5)
    assert [round(lr_at(cfg, e), 6) for e in (0, 44.99, 45, 59)] == [0.05, 0.05, 0.005, 0.005]
    warm = TrainConfig(protocol="paper", batch_size=256, epochs=60, warmup_epochs=5)
    assert lr_at(warm, 0) < 1e-9 and lr_at(warm, 2.5) == pytest.approx(0.05)
    drop = 5 + 0.75 * 55  # 75% of the iterations after the warm-up, as in their LR_Scheduler
    assert lr_at(warm, drop - 1e-6) == pytest.approx(0.1) and lr_at(warm, drop) == pytest.approx(0.01)
    linear = TrainConfig(batch_size=256, epochs=8)
    assert [round(lr_at(linear, e), 6) for e in (0, 4, 6)] == [0.1, 0.01, 0.001]


def test_help_says_the_scaling_is_inverse():
    from normtheory.cli import build_parser

    text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    assert "INVERSELY" in text and "--protocol {linear,paper}" in text and "--init-lr" in text


def test_paper_inputs_are_normalized_with_mean_and_std_half(tmp_path):
    write_synthetic_cifar100(tmp_path, n_train=16, n_test=8)
    data = load_cifar(tmp_path, "cifar100", normalize="half")
    assert data.x_train.min() >= -1 and data.x_train.max() <= 1 and data.x_train.dtype == np.float32
    with pytest.raises(ValueError, match="normalize must be"):
        load_cifar(tmp_path, "cifar100", normalize="bogus")


def _tiny():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int64)
    return standardize("tiny", x[:48], y[:48], x[48:], y[48:], 2)


MLP = dict(arch="mlp", norm="layernorm", batch_size=16, mlp=dict(width=8, depth=2, nonlinearity="relu"))


def test_training_steps_run_on_the_meta_device_so_nothing_is_read_back():
    """A ``float()``, ``.item()`` or ``.cpu()`` of a meta tensor raises, so a step that runs on
    ``meta`` makes no host-device synchronisation (what a CUDA step must not do either)."""
    from normtheory.normalizers import input_checks
    from normtheory.training.common import build_model
    from normtheory.training.loop import sgd_step
    from normtheory.training.stacked import StackedModels, stacked_step

    data = _tiny()
    cfg = TrainConfig(**MLP)
    no_amp = lambda: torch.autocast("cpu", enabled=False)  # noqa: E731
    with input_checks(False):
        model = build_model(cfg, data).to("meta")
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        x, y = torch.empty(16, 1, 8, 8, device="meta"), torch.zeros(16, dtype=torch.long, device="meta")
        loss, correct = sgd_step(model, opt, x, y, no_amp)
        assert loss.device.type == "meta" and correct.device.type == "meta"
        models = StackedModels(cfg, data, [0, 1], "meta")
        params = list(models.params.values())
        opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)
        alive = torch.ones(2, dtype=torch.bool, device="meta")
        losses, correct, alive = stacked_step(models.forward, opt, params, x.expand(2, *x.shape),
                                              y.expand(2, 16), alive, no_amp)
        assert losses.shape == (2,) and alive.device.type == "meta"
    with pytest.raises(Exception):
        float(loss)  # the probe itself: reading a meta tensor back fails


def test_checkpoints_load_on_the_cpu(tmp_path, monkeypatch):
    from normtheory.training import rundir, train

    data = _tiny()
    train(TrainConfig(epochs=1, seeds=2, lr=0.05, **MLP), data, tmp_path / "st", progress=False)
    seen = {}
    real = rundir.load_torch

    def spy(path, **kwargs):
        seen["map_location"] = kwargs.get("map_location")
        return real(path, **kwargs)

    monkeypatch.setattr(rundir, "load_torch", spy)
    from normtheory.training.common import saved_config

    state = rundir.prepare(tmp_path / "st", saved_config(TrainConfig(epochs=1, seeds=2, lr=0.05, **MLP)),
                           resume=True, force=False)
    assert seen["map_location"] == "cpu"
    assert state["active"].device.type == "cpu" and state["torch_rng"].device.type == "cpu"
    assert all(g.device.type == "cpu" for g in state["generators"])


def test_a_run_saved_before_the_protocol_fields_resumes(tmp_path):
    from normtheory.training.common import defaults
    from normtheory.training.rundir import config_changes

    new = {**defaults(), "lr": 0.05}
    old = {k: v for k, v in new.items() if k not in ("protocol", "init_lr", "check_every")}
    assert config_changes(old, new, defaults()) == []
    assert config_changes(old, {**new, "protocol": "paper"}, defaults()) == ["protocol: 'linear' -> 'paper'"]


def test_divergence_is_found_at_its_step_between_checks(tmp_path):
    from normtheory.training import read_log, train

    cfg = TrainConfig(epochs=2, norm="plain", lr=1e6, check_every=50, **{k: v for k, v in MLP.items() if k != "norm"})
    summary = train(cfg, _tiny(), tmp_path / "div", progress=False)
    last = read_log(tmp_path / "div" / "log.jsonl")[-1]
    assert summary["status"] == "diverged" and last["diverged"] and last["step"] == summary["step"] < 3


def test_find_max_lr_searches_init_lr_under_the_paper_protocol_and_continues(tmp_path, monkeypatch):
    from normtheory.training import find_max_lr, loop

    cfg = TrainConfig(protocol="paper", epochs=4, **MLP)
    first = find_max_lr(cfg, _tiny(), tmp_path / "s", lrs=[1e4, 0.1], steps=12)
    assert [t["init_lr"] for t in first["tried"]] == [1e4, 0.1] and first["init_lr"] == 0.1
    assert first["max_stable_lr"] == pytest.approx(0.1 * 0.1 * 256 / 16)
    assert not (tmp_path / "s" / "init_lr_0.1" / "checkpoint.pt").exists()
    monkeypatch.setattr(loop, "train", lambda *a, **k: pytest.fail("a judged LR was trained again"))
    assert find_max_lr(cfg, _tiny(), tmp_path / "s", lrs=[1e4, 0.1], steps=12) == first
    with pytest.raises(ValueError, match="another configuration"):
        find_max_lr(TrainConfig(protocol="paper", epochs=3, **MLP), _tiny(), tmp_path / "s", steps=12)
    assert math.isfinite(first["tried"][-1]["train_loss"])


def test_predict_speed_at_each_settings_own_lr_reports_rho_with_intervals(tmp_path):
    from normtheory.experiments.speed_own_lr import run_own_lr
    from normtheory.training import load_digits

    base = TrainConfig(arch="mlp", batch_size=32, lr=0.05, mlp=dict(width=8, depth=2, nonlinearity="relu"))
    res = run_own_lr(settings=[("layernorm", None), ("plain", None)], seeds=(0, 1, 2), steps=10, base_config=base,
                     data=load_digits(), out=tmp_path / "ps.csv", grid=(1e4, 0.1), progress=False)
    assert set(res["lrs"].values()) <= {0.1, None} and len(res["rows"]) == 3 * (2 - len(res["unstable"]))
    assert all(r["lr"] == 0.1 for r in res["rows"])
    lo, hi = res["bootstrap_95"]
    assert -1 <= lo <= hi <= 1 and res["fisher_z_95"][0] < res["spearman_rho"] < res["fisher_z_95"][1]
