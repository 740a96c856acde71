"""The figure machinery on a toy figure: CSV tables, resumable runs, reuse, CLI, style."""

from __future__ import annotations

import math
import types

import matplotlib.pyplot as plt
import numpy as np
import pytest

from normtheory.figures import FIGURES, check_name, cli, simulated, style
from normtheory.figures.runner import compute_settings, run_figure
from normtheory.runs.table import interval_row, parse_cell, read_csv, select, theory_row, unique, write_csv, xy
from normtheory.stats import Interval

# --- tables ------------------------------------------------------------------------------

def test_csv_round_trip_keeps_types(tmp_path):
    rows = [{"panel": "a", "x": 1, "y": 0.1 + 0.2, "flag": True, "g": None},
            {"panel": "b", "x": 2.5, "y": math.nan, "flag": False, "extra": "text, with comma"}]
    back = read_csv(write_csv(tmp_path / "t.csv", rows))
    assert back[0] == {"panel": "a", "x": 1, "y": 0.1 + 0.2, "flag": True, "g": None, "extra": None}
    assert back[1]["x"] == 2.5 and math.isnan(back[1]["y"]) and back[1]["flag"] is False
    assert back[1]["extra"] == "text, with comma"
    assert parse_cell("inf") == math.inf and parse_cell("") is None and parse_cell("7") == 7


def test_corrupted_csv_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match="line 3.*corrupted"):
        read_csv(path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_csv(tmp_path / "empty.csv")


def test_row_builders_and_selection():
    iv = Interval(2.0, 1.5, 2.5, 10, 0.95, "t")
    rows = [interval_row({"series": "s"}, 3, iv), theory_row({"series": "s"}, 1, 4.0),
            theory_row({"series": "u"}, 0, 5.0)]
    assert rows[0]["y_low"] == 1.5 and rows[0]["kind"] == "simulation" and rows[0]["n"] == 10
    assert unique(rows, "series") == ["s", "u"]
    assert xy(select(rows, series="s"), "x", "y") == [[1.0, 3.0], [4.0, 2.0]]


def test_interval_rows_from_trials():
    values = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, np.nan], [5.0, 6.0, 1.0]])
    rows = simulated.layer_rows({"series": "s"}, values)
    assert [r["x"] for r in rows] == [0.0, 1.0]  # layer 2 has one finite trial: no point
    assert rows[0]["y"] == pytest.approx(3.0) and rows[0]["y_low"] < 3.0 < rows[0]["y_high"]
    grads = np.array([[8.0, 4.0, 2.0], [16.0, 8.0, 2.0], [4.0, 2.0, 2.0]])
    g = simulated.gradient_rows({"series": "s"}, grads, top_expectation=2.0)
    log_scaled = np.log(grads / 2.0)
    cox = np.exp(log_scaled.mean(axis=0) + 0.5 * log_scaled.var(axis=0, ddof=1))
    assert [r["y"] for r in g] == pytest.approx(cox.tolist())
    assert all(0 < r["y_low"] <= r["y"] <= r["y_high"] for r in g)   # positive: drawable on a log axis
    assert g[-1]["y_low"] == g[-1]["y_high"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="<= 0"):
        simulated.gradient_rows({}, -grads, top_expectation=2.0)
    assert simulated.fit_rate([0, 1, 2], [1.0, 3.0, 9.0]) == pytest.approx(3.0)
    assert simulated.fit_line([0, 1, 2], [1.0, 3.0, 5.0]) == pytest.approx((2.0, 1.0))
    with pytest.raises(ValueError, match="trials, layers"):
        simulated.layer_rows({}, np.ones(3))


# --- a toy figure ------------------------------------------------------------------------

def toy_module(calls: list, fail_at: int | None = None) -> types.ModuleType:
    """A figure module with three settings; ``calls`` records each computed setting."""
    m = types.ModuleType("toy")
    m.NAME, m.TITLE, m.CLAIMS, m.VERSION = "toy", "A toy figure", ("X1",), "1"
    m.CAPTION = "Toy points on a line."

    def compute_setting(setting, seed):
        if fail_at is not None and setting["k"] == fail_at:
            raise KeyboardInterrupt  # killed mid-run
        calls.append(setting["k"])
        iv = Interval(float(setting["k"] + seed), setting["k"] - 0.5, setting["k"] + 0.5, 4,
                      0.95, "t")
        return [interval_row({"panel": "p", "series": "s"}, setting["k"], iv),
                theory_row({"panel": "p", "series": "s"}, setting["k"], float(setting["k"]))]

    def compute(size="default", seed=0, *, checkpoint=None, progress=False):
        return compute_settings("toy", "1", [{"k": k} for k in range(3)], compute_setting,
                                size=size, seed=seed, checkpoint=checkpoint, progress=progress)

    def plot(rows):
        with style.style():
            fig, axes = style.figure()
            style.draw_series(axes[0, 0], rows, "s", color="k", label="s")
            axes[0, 0].set_xlabel("k")
        return fig

    m.compute, m.plot = compute, plot
    m.summary = lambda rows: f"{len(rows)} rows."
    return m


def test_run_figure_writes_reuses_and_forces(tmp_path):
    calls = []
    module = toy_module(calls)
    first = run_figure(module, tmp_path, size="tiny")
    assert first.status == "computed" and calls == [0, 1, 2]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["toy.caption.txt", "toy.csv", "toy.meta.json", "toy.pdf", "toy.png"]
    assert (tmp_path / "toy.caption.txt").read_text().strip() == (
        "A toy figure. Toy points on a line. Claims checked: X1. 6 rows.")
    again = run_figure(module, tmp_path, size="tiny")
    assert again.status == "reused" and calls == [0, 1, 2]
    other_seed = run_figure(module, tmp_path, size="tiny", seed=1)
    assert other_seed.status == "computed" and calls == [0, 1, 2] * 2
    assert read_csv(tmp_path / "toy.csv")[0]["y"] == 1.0  # k + seed
    forced = run_figure(module, tmp_path, size="tiny", seed=1, force=True)
    assert forced.status == "computed" and len(calls) == 9


def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    calls = []
    with pytest.raises(KeyboardInterrupt):
        run_figure(toy_module(calls, fail_at=2), tmp_path, size="tiny")
    partial = tmp_path / "toy.partial.jsonl"
    assert len(partial.read_text().splitlines()) == 2 and not (tmp_path / "toy.csv").exists()
    with partial.open("a") as fh:
        fh.write('{"figure": "toy", "trunc')  # killed while writing
    resumed = []
    result = run_figure(toy_module(resumed), tmp_path, size="tiny")
    assert result.status == "computed" and resumed == [2]
    assert not partial.exists() and len(read_csv(tmp_path / "toy.csv")) == 6


def test_checkpoint_of_another_size_is_not_reused(tmp_path):
    calls = []
    with pytest.raises(KeyboardInterrupt):
        run_figure(toy_module(calls, fail_at=1), tmp_path, size="tiny")
    again = []
    run_figure(toy_module(again), tmp_path, size="default")
    assert again == [0, 1, 2]


def test_unreadable_checkpoint_line_names_the_file(tmp_path):
    (tmp_path / "toy.partial.jsonl").write_text("not json\n{}\n")
    with pytest.raises(ValueError, match="toy.partial.jsonl, line 1"):
        run_figure(toy_module([]), tmp_path, size="tiny")


@pytest.mark.parametrize("kwargs, word", [({"size": "huge"}, "size"), ({"seed": -1}, "seed")])
def test_bad_run_options(tmp_path, kwargs, word):
    with pytest.raises(ValueError, match=word):
        run_figure(toy_module([]), tmp_path, **kwargs)


# --- command line ------------------------------------------------------------------------

def test_cli_options_and_errors(tmp_path, capsys):
    assert cli.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in FIGURES)
    assert cli.main(["--only", "rank_colapse", "--out", str(tmp_path)]) == 2
    assert "did you mean rank_collapse" in capsys.readouterr().err
    assert cli.main(["--seed", "-1", "--out", str(tmp_path)]) == 2
    assert cli.main(["--only", "training_curves", "--no-progress", "--out", str(tmp_path)]) == 0
    assert "skipped  training_curves: needs training logs" in capsys.readouterr().out
    empty = tmp_path / "empty_runs"
    empty.mkdir()
    assert cli.main(["--only", "training_curves", "--runs", str(empty), "--no-progress",
                     "--out", str(tmp_path)]) == 2
    assert "no training run" in capsys.readouterr().out


def test_figure_names():
    assert check_name("speed_stability") == "speed_stability"
    with pytest.raises(ValueError, match="did you mean variance_depth"):
        check_name("variance_dept")


def test_shared_simulations_are_seeded_by_their_settings(monkeypatch):
    seen = []

    def fake_simulate_mlp(**kwargs):
        seen.append(kwargs)
        return kwargs["seed"]

    from normtheory.runs import memo

    monkeypatch.setitem(memo._ENGINES, "mlp", fake_simulate_mlp)
    memo.clear()
    a = simulated.mlp(0, norm="batchnorm", width=8)
    b = simulated.mlp(0, width=8, norm="batchnorm")          # same settings: memoized
    c = simulated.mlp(1, norm="batchnorm", width=8)          # another run seed
    d = simulated.mlp(0, norm="layernorm", width=8)          # another setting
    memo.clear()
    assert a == b and len(seen) == 3 and len({a, c, d}) == 3


# --- style -------------------------------------------------------------------------------

def test_style_tags_series_and_checks_names(tmp_path):
    with style.style():
        fig, axes = style.figure(2, 1)
        ax = axes[0, 0]
        style.theory_line(ax, [1, 2, 3], [1.0, math.nan, 3.0], series="a", color="k")
        style.simulation_points(ax, [1, 2], [1.0, 2.0], [0.5, 1.5], [1.5, 2.5], series="a",
                                color="k")
        style.simulation_points(ax, [1], [1.0], [0.5], [1.5], series="b", color="r")
        style.simulation_level(ax, [1, 3], 2.0, 1.5, 2.5, series="c", color="b")
        style.mark_vertical(ax, 2.0, series="m")
        assert style.series_on(ax, "theory") == ["a"]
        assert style.series_on(ax, "simulation") == ["a", "b", "c"]
        assert style.series_on(ax, "band") == ["a", "b", "c"]
        assert style.series_on(ax, "marker") == ["m"]
        assert len(ax.lines[0].get_xdata()) == 2  # the NaN point is left out
        assert fig.get_size_inches()[0] == pytest.approx(style.TEXT_WIDTH)
        paths = style.save(fig, tmp_path / "f")
        plt.close(fig)
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    with pytest.raises(ValueError, match="unknown normalizer"):
        style.norm_color("batchnrom")
    with pytest.raises(ValueError, match="kind"):
        style.series_on(ax, "points")
    with pytest.raises(ValueError, match="group_size"):
        style.group_color(3, 4, 16)
    assert style.group_color(4, 4, 16) != style.group_color(16, 4, 16)


def test_every_normalizer_has_a_style():
    from normtheory.normalizers import NAMES, VARIANT_NAMES

    names = NAMES + VARIANT_NAMES
    assert set(style.NORM_STYLE) == set(names)
    assert len({style.norm_color(n) for n in names}) == len(names)
    assert len({style.norm_marker(n) for n in names}) == len(names)



def test_damaged_meta_and_altered_partial_are_clear_errors(tmp_path):
    run_figure(toy_module([]), tmp_path, size="tiny")
    (tmp_path / "toy.meta.json").write_bytes(b'{"figure": "to')
    with pytest.raises(ValueError, match=r"toy.meta.json: unreadable JSON .*pass --force"):
        run_figure(toy_module([]), tmp_path, size="tiny")
    with pytest.raises(KeyboardInterrupt):
        run_figure(toy_module([], fail_at=2), tmp_path, size="tiny", force=True)
    (tmp_path / "toy.meta.json").unlink()
    partial = tmp_path / "toy.partial.jsonl"
    partial.write_bytes(partial.read_bytes().replace(b'"y": 0.0', b'"y": 9.0', 1))
    with pytest.raises(ValueError, match="toy.partial.jsonl, line 1: checksum mismatch"):
        run_figure(toy_module([]), tmp_path, size="tiny")


def test_cli_refuses_an_unwritable_out_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["--only", "rank_collapse", "--tiny", "--out", str(tmp_path / "file" / "o")]) == 2
    assert capsys.readouterr().err.startswith("normtheory figures: error: cannot write to")
