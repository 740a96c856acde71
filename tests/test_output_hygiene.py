"""Files we write: strict JSON (null, never NaN) and the mode the user's umask gives."""

import json
import math
import os
import stat

import numpy as np
import pytest

from normtheory.durable import atomic_write_json, atomic_write_text, dumps_strict, strict_json
from normtheory.verify import report
from tests.test_verify_framework import _run, _toy_claim


def _strict_load(text: str):
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_strict_json_writes_null_for_every_non_finite_number(tmp_path):
    obj = {"a": math.nan, "b": [1.0, math.inf, -math.inf], "c": np.float64("nan"), "d": np.float32(2.5),
           "e": {"f": (np.int64(3), None)}}
    assert strict_json(obj) == {"a": None, "b": [1.0, None, None], "c": None, "d": 2.5, "e": {"f": [3, None]}}
    path = atomic_write_json(tmp_path / "x.json", obj)
    assert _strict_load(path.read_text())["b"] == [1.0, None, None]
    with pytest.raises(ValueError, match="not strict"):
        _strict_load(json.dumps({"a": math.nan}))
    assert "NaN" not in dumps_strict([math.nan])


def test_the_verify_json_is_strict_json(tmp_path):
    # an ordering-free toy run has finite gaps; an error row has NaN estimates: both must parse
    from tests.test_verify_framework import _toy_measure
    from normtheory.verify.registry import Measurement

    def failing(setting, trials, seed):
        m = _toy_measure(setting, trials, seed)
        m.data["ratio"][0] = math.nan
        return Measurement(m.data, trials)

    results = _run([_toy_claim(), _toy_claim(claim_id="TOYNAN", measure=failing)], tests=6)
    path = tmp_path / "v.json"
    report.write_json(path, results, mode="quick", seed=0)
    doc = _strict_load(path.read_text())
    bad = [r for r in doc["results"] if r["claim"] == "TOYNAN"]
    assert bad and all(r["verdict"] == "error" and r["estimate"] is None and r["gap"] is None for r in bad)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_the_umask_gives(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / f"f{mask:o}.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_verify_list_json_names_every_claim_with_its_rivals(tmp_path, capsys):
    from normtheory.cli import main
    from normtheory.verify import registry

    path = tmp_path / "claims.json"
    assert main(["verify", "--list", "--json", str(path)]) == 0
    doc = _strict_load(path.read_text())
    registry.load_claims()
    assert [c["claim"] for c in doc["claims"]] == [c.id for c in registry.registered()]
    assert all({"statement", "form", "precision", "rivals"} <= set(c) for c in doc["claims"])
    assert main(["verify", "--list", "--json", "-", "--claims", "B1"]) == 0
    assert [c["claim"] for c in _strict_load(capsys.readouterr().out)["claims"]] == ["B1"]


def test_verify_csv_has_one_line_per_setting_and_a_column_per_parameter(tmp_path):
    import csv

    results = _run([_toy_claim()])
    path = tmp_path / "v.csv"
    report.write_csv(path, results)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 3 and [r["setting.gain"] for r in rows] == ["0.8", "1.0", "1.3"]
    assert all(r["verdict"] == "agree" and float(r["ci_low"]) <= float(r["estimate"]) <= float(r["ci_high"])
               for r in rows)
    assert rows[0]["setting"] == "width=64 depth=4 gain=0.8"


def test_the_figures_summary_counts_a_skipped_figure_as_skipped(monkeypatch, capsys, tmp_path):
    from types import SimpleNamespace

    from normtheory.figures import cli

    lines = {"a": "computed a (1.0 s)", "b": "skipped  b: needs training logs, pass --runs DIR",
             "c": "reused   c (0.0 s)"}
    monkeypatch.setattr(cli, "_one", lambda name, *a, **k: lines[name])
    args = SimpleNamespace(no_progress=True, out=str(tmp_path))
    assert cli._run_all(args, ["a", "b", "c"], None, None) == 0
    assert "2 of 3 figures done, 1 skipped in" in capsys.readouterr().out
    assert cli.summary_line(6, 1, 1) == "4 of 6 figures done, 1 skipped, 1 failed"


def test_the_readme_tour_runs_as_written():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    tour = text.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", tour, re.S)
    assert len(blocks) == 2
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


def test_public_names():
    import normtheory
    from normtheory import probes

    assert {"bounds", "stats", "probes", "montecarlo", "nets"} <= set(normtheory.__all__)
    assert not {"np", "math", "torch"} & set(probes.__all__)
    for name in probes.__all__:
        assert hasattr(probes, name)


def test_simulation_records_carry_their_setting_and_concatenate():
    from normtheory.montecarlo import simulate_mlp

    sims = [simulate_mlp("groupnorm", width=w, batch=4, depth=2, trials=2, seed=1, group_size=4) for w in (8, 16)]
    records = [r for s in sims for r in s.to_records()]
    assert len(records) == 2 * 2 * 3
    assert {(r["width"], r["norm"], r["group_size"], r["seed"]) for r in records} == {
        (8, "groupnorm", 4, 1), (16, "groupnorm", 4, 1)}
    assert all(r["diverged"] is False and "trials" not in r for r in records)
    pd = pytest.importorskip("pandas")
    frame = pd.concat([s.to_dataframe() for s in sims])
    assert frame.groupby("width")["variance"].count().to_dict() == {8: 6, 16: 6}
