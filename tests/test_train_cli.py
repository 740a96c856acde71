"""``normtheory train`` options: overwrite and resume rules, number checks, exit statuses."""

import json

import pytest

from normtheory.cli import build_parser, main

TINY = ["train", "--arch", "mlp", "--width", "8", "--depth", "2", "--epochs", "1", "--batch-size", "128",
        "--probe-every", "0", "--quiet"]


def _train(tmp_path, *extra, capsys=None):
    status = main([*TINY, "--out", str(tmp_path / "run"), *extra])
    return status, (capsys.readouterr().err if capsys else "")


def test_mlp_trains_and_a_second_run_needs_resume_or_force(tmp_path, capsys):
    assert _train(tmp_path)[0] == 0
    log = (tmp_path / "run" / "log.jsonl").read_bytes()
    status, err = _train(tmp_path, capsys=capsys)
    assert status == 2 and "already holds a run" in err and "--resume" in err and "--force" in err
    assert (tmp_path / "run" / "log.jsonl").read_bytes() == log  # nothing deleted
    assert _train(tmp_path, "--resume")[0] == 0 and (tmp_path / "run" / "log.jsonl").read_bytes() == log
    assert _train(tmp_path, "--force")[0] == 0


@pytest.mark.parametrize("change, field", [(["--lr", "0.3"], "lr"), (["--batch-size", "64"], "batch_size"),
                                           (["--seed", "1"], "seed"), (["--epochs", "2"], "epochs")])
def test_resume_refuses_a_changed_configuration(tmp_path, capsys, change, field):
    assert _train(tmp_path)[0] == 0
    config = (tmp_path / "run" / "config.json").read_text()
    status, err = _train(tmp_path, "--resume", *change, capsys=capsys)
    assert status == 2 and f"({field}: " in err and err.count("\n") == 1
    assert (tmp_path / "run" / "config.json").read_text() == config


@pytest.mark.parametrize("option, value", [("--epochs", "0"), ("--batch-size", "0"), ("--lr", "-1"),
                                           ("--lr", "nan"), ("--warmup", "-0.5"), ("--seeds", "0"),
                                           ("--seed", "-1"), ("--probe-every", "-2"), ("--group-size", "0"),
                                           ("--width", "0")])
def test_every_number_is_checked_before_any_work(tmp_path, capsys, option, value):
    status, err = _train(tmp_path, option, value, capsys=capsys)
    assert status == 2 and err.startswith(f"normtheory train: error: {option} must be")
    assert not (tmp_path / "run").exists()  # a rejected run leaves no empty --out


def test_a_rejected_run_leaves_no_empty_out_but_keeps_a_folder_that_was_there(tmp_path, capsys):
    status, err = _train(tmp_path, "--dataset", "cifar100", "--data-dir", str(tmp_path / "missing"), capsys=capsys)
    assert status == 2 and not (tmp_path / "run").exists()
    (tmp_path / "run").mkdir()
    assert _train(tmp_path, "--epochs", "0")[0] == 2 and (tmp_path / "run").is_dir()


def test_damaged_files_are_one_line_errors(tmp_path, capsys):
    assert _train(tmp_path)[0] == 0
    ckpt = tmp_path / "run" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    status, err = _train(tmp_path, "--resume", capsys=capsys)
    assert status == 2 and "checkpoint.pt" in err and "--force" in err and err.count("\n") == 1
    (tmp_path / "run" / "config.json").write_text("{")
    status, err = _train(tmp_path, "--resume", capsys=capsys)
    assert status == 2 and "config.json: unreadable JSON" in err


def test_unknown_normalizer_and_unwritable_out(tmp_path, capsys):
    status, err = _train(tmp_path, "--norm", "bogus", capsys=capsys)
    assert status == 2 and "unknown normalizer" in err and not (tmp_path / "run" / "config.json").exists()
    (tmp_path / "file").write_text("x")
    assert main([*TINY, "--out", str(tmp_path / "file" / "run")]) == 2
    assert "cannot write to" in capsys.readouterr().err


def test_help_states_the_exit_statuses_and_every_arch_offered_exists():
    from normtheory.nets import ARCHS
    from normtheory.training.cli import ARCHS as CLI_ARCHS

    assert set(CLI_ARCHS) <= set(ARCHS)
    for name in ("train", "figures", "experiment"):
        help_text = build_parser()._subparsers._group_actions[0].choices[name].format_help()
        assert "exit status: 0 success; 1" in " ".join(help_text.split()), name


def test_summary_of_a_finished_run_resumed_again_is_its_last_epoch(tmp_path, capsys):
    assert _train(tmp_path)[0] == 0
    first = json.loads(capsys.readouterr().out)
    assert _train(tmp_path, "--resume")[0] == 0
    assert json.loads(capsys.readouterr().out) == first


def test_experiment_reuses_its_csv_and_a_damaged_one_is_a_clear_error(tmp_path, capsys):
    from normtheory.experiments.predict_speed import run_experiment
    from normtheory.training import TrainConfig, load_digits

    out = tmp_path / "ps.csv"
    kwargs = dict(settings=[("layernorm", None), ("plain", None)], seeds=(0,), steps=10, out=out, progress=False,
                  base_config=TrainConfig(arch="mlp", batch_size=32, lr=0.05, mlp=dict(width=8, depth=2)),
                  data=load_digits())
    first = run_experiment(**kwargs)
    assert run_experiment(**kwargs)["rows"] == first["rows"]
    out.write_text(out.read_text().replace("layernorm", "layernorm,extra", 1))
    status = main(["experiment", "predict-speed", "--steps", "10", "--seeds", "1", "--out", str(out), "--quiet"])
    assert status == 2 and "ps.csv, line 2" in capsys.readouterr().err
    assert main(["experiment", "predict-speed", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
