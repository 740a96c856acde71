"""Every figure script at tiny size: the files it writes and the figure object it draws.

Each script ``figures/<name>.py`` is run in-process (``--tiny``) into a temporary folder;
its CSV is read back and drawn with the module's ``plot``, and the matplotlib figure is
checked for what it shows (panels, axis labels, one series per table series, non-empty
data), not for pixels.
"""

from __future__ import annotations

import contextlib
import json
import math
import runpy
import sys
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from normtheory.figures import FIGURES, FROM_TRAINING_LOGS, load, style
from normtheory.runs.table import read_csv, select, unique

ROOT = Path(__file__).resolve().parents[1]
FILES = (".csv", ".png", ".pdf", ".caption.txt", ".meta.json")


def write_run(root: Path, *, arch, norm, batch, seed, losses, skipinit=False, diverge_at=None):
    """A training run in the harness's format (config.json + log.jsonl, normtheory.training)."""
    from normtheory.training import TrainConfig

    folder = root / f"{arch}{'_skip' if skipinit else ''}_{norm}_b{batch}_s{seed}"
    folder.mkdir(parents=True)
    config = TrainConfig(arch=arch, norm=norm, skipinit=skipinit, batch_size=batch, seed=seed,
                         epochs=len(losses))
    (folder / "config.json").write_text(json.dumps(asdict(config)))
    lines = []
    for epoch, loss in enumerate(losses):
        if diverge_at is not None and epoch == diverge_at:
            lines.append({"epoch": epoch, "diverged": True, "step": 10 * epoch, "lr": 0.1})
            break
        lines.append({"epoch": epoch, "step": 10 * (epoch + 1), "lr": 0.1, "train_loss": loss,
                      "train_acc": 0.5, "test_loss": loss, "test_acc": 0.5})
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return folder


@pytest.fixture(scope="module")
def fake_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for arch, skip in (("vgg10", False), ("vgg20", False), ("resnet56", False), ("resnet56", True)):
        for norm in ("batchnorm", "layernorm"):
            for batch in (256, 16):
                for seed in (0, 1):
                    write_run(root, arch=arch, norm=norm, batch=batch, seed=seed, skipinit=skip,
                              losses=[4.0 - seed, 3.0 - seed, 2.0 - seed])
    write_run(root, arch="vgg20", norm="instancenorm", batch=16, seed=0, losses=[4.0, 3.0, 2.0])
    write_run(root, arch="vgg20", norm="instancenorm", batch=16, seed=1, losses=[4.0, 3.5, 3.0],
              diverge_at=2)
    write_run(root, arch="resnet56", norm="weightnorm", batch=256, seed=0, losses=[5.0],
              diverge_at=0)
    return root


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, fake_runs) -> dict:
    """Run every figure script once at tiny size; name -> (output folder, exit status)."""
    out = tmp_path_factory.mktemp("figures")
    done = {}
    for name in FIGURES:
        argv = [f"figures/{name}.py", "--tiny", "--no-progress", "--out", str(out)]
        if name in FROM_TRAINING_LOGS:
            argv += ["--runs", str(fake_runs)]
        old = sys.argv
        sys.argv = argv
        try:
            with pytest.raises(SystemExit) as exit_info:
                runpy.run_path(str(ROOT / "figures" / f"{name}.py"), run_name="__main__")
        finally:
            sys.argv = old
        done[name] = (out, exit_info.value.code)
    return done


@contextlib.contextmanager
def drawn(name: str, outputs: dict):
    """``(rows, fig)``: the figure's table and the figure drawn from it, closed after the block."""
    out, status = outputs[name]
    assert status == 0
    rows = read_csv(out / f"{name}.csv")
    fig = load(name).plot(rows)
    try:
        yield rows, fig
    finally:
        plt.close(fig)


def data_axes(fig):
    return [ax for ax in fig.axes if ax.axison]


@pytest.mark.parametrize("name", list(FIGURES))
def test_script_writes_every_file(name, outputs):
    out, status = outputs[name]
    assert status == 0
    for suffix in FILES:
        path = out / f"{name}{suffix}"
        assert path.exists() and path.stat().st_size > 0, path
    assert not (out / f"{name}.partial.jsonl").exists()
    caption = (out / f"{name}.caption.txt").read_text()
    module = load(name)
    assert "\n" not in caption.strip()  # one paragraph
    assert all(claim in caption for claim in module.CLAIMS)
    meta = json.loads((out / f"{name}.meta.json").read_text())
    assert meta["size"] == "tiny" and meta["figure"] == name


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_object_shows_the_table(name, outputs):
    with drawn(name, outputs) as (rows, fig):
        assert rows and all({"panel", "series", "kind", "x", "y"} <= set(r) for r in rows)
        width, _height = fig.get_size_inches()
        assert width <= style.TEXT_WIDTH + 1e-9
        axes = data_axes(fig)
        assert axes
        for ax in axes:
            title = ax.get_title(loc="left") or ax.get_title()
            # an axis shared with a labelled panel below it carries its label there
            assert any(a.get_xlabel() for a in ax.get_shared_x_axes().get_siblings(ax)), title
            assert title
            drawn_series = style.series_on(ax, "simulation") + style.series_on(ax, "theory") \
                + style.series_on(ax, "curve")
            assert drawn_series, title
            for line in ax.lines:
                if (line.get_gid() or "").split(":")[0] in ("simulation", "theory", "curve"):
                    assert len(line.get_xdata()) >= 1
                    assert all(math.isfinite(v) for v in line.get_ydata())
        assert any(ax.get_ylabel() for ax in axes)


def _panel_axes(fig, rows):
    """Data axes in the order of the figure's panels (the order of the table's panels)."""
    axes = data_axes(fig)
    assert len(axes) == len(unique(rows, "panel"))
    return dict(zip(unique(rows, "panel"), axes))


def _count_matches(rows, ax, kind):
    expected = set(unique(select(rows, kind=kind), "series"))
    assert set(style.series_on(ax, kind)) == expected


def test_variance_depth_has_every_normalizer_per_panel(outputs):
    from normtheory.normalizers import NAMES

    with drawn("variance_depth", outputs) as (rows, fig):
        panels = _panel_axes(fig, rows)
        assert list(panels) == ["mlp", "mlp_skipinit", "mlp_nf", "resnet56", "resnet56_skipinit"]
        mlp_norms = set(NAMES) - {"instancenorm"}
        for key, ax in panels.items():
            part = select(rows, panel=key)
            norms = set(NAMES) if key.startswith("resnet") else (
                {"weightnorm", "sws", "plain"} if key == "mlp_nf" else mlp_norms)
            assert set(style.series_on(ax, "simulation")) == norms
            # closed forms exist for the MLPs; the ResNet-56 panels are simulation only
            assert set(style.series_on(ax, "theory")) == (set() if key.startswith("resnet")
                                                          else norms)
            assert ax.get_yscale() == "log"
            depth = max(r["x"] for r in part)
            first = unique(part, "series")[0]  # every block of the net is a point
            assert {r["x"] for r in select(part, kind="simulation", series=first)} == \
                set(range(int(depth) + 1))
        # SkipInit at alpha = 0: the MLP's representation is its input at every block
        skip = select(rows, panel="mlp_skipinit", kind="simulation", series="batchnorm")
        assert max(r["y"] for r in skip) == pytest.approx(min(r["y"] for r in skip), rel=1e-12)


def test_rank_group_size_panels_and_bound(outputs):
    with drawn("rank_group_size", outputs) as (rows, fig):
        panels = _panel_axes(fig, rows)
        assert list(panels) == ["stable_rank", "cosine"]
        gn = select(rows, panel="stable_rank", series="groupnorm", kind="simulation")
        width = gn[0]["width"]
        assert sorted(r["x"] for r in gn) == [g for g in (2, 4, 8, 16, 32, 64) if g <= width]
        bound = sorted(select(rows, series="groupnorm_bound"), key=lambda r: r["x"])
        assert [r["y"] for r in bound] == sorted((r["y"] for r in bound), reverse=True)
        assert bound[0]["y"] / bound[-1]["y"] == pytest.approx(math.sqrt(bound[-1]["x"] / bound[0]["x"]))
        assert set(style.series_on(panels["stable_rank"], "simulation")) == {"groupnorm", "batchnorm"}
        assert set(style.series_on(panels["stable_rank"], "theory")) == {"groupnorm_bound",
                                                                         "batchnorm_bound"}
        assert set(style.series_on(panels["cosine"], "theory")) == {"relu_map"}
        assert panels["stable_rank"].get_xscale() == "log"


def test_rank_collapse_lines_have_the_predicted_slope(outputs):
    from normtheory import bounds

    with drawn("rank_collapse", outputs) as (rows, fig):
        (ax,) = data_axes(fig)
        assert set(style.series_on(ax, "simulation")) == {"layernorm", "plain", "batchnorm"}
        assert set(style.series_on(ax, "theory")) == {"layernorm", "plain"}
        for norm in ("plain", "layernorm"):  # LN collapses in the d − 1 dimensions its centring leaves
            th = sorted(select(rows, series=norm, kind="theory"), key=lambda r: r["x"])
            slope = (math.log(th[-1]["y"]) - math.log(th[0]["y"])) / (th[-1]["x"] - th[0]["x"])
            assert -slope == pytest.approx(bounds.rank_collapse_rate(norm, width=th[0]["width"]))


def test_gradient_layers_theory_is_the_growth_factor_per_layer(outputs):
    with drawn("gradient_layers", outputs) as (rows, fig):
        panels = _panel_axes(fig, rows)
        assert list(panels) == ["linear", "relu"]
        for key, ax in panels.items():
            part = select(rows, panel=key)
            _count_matches(part, ax, "simulation")
            _count_matches(part, ax, "theory")
            for series in unique(part, "series"):
                th = sorted(select(part, series=series, kind="theory"), key=lambda r: r["x"])
                depth = th[-1]["x"]
                assert th[-1]["y"] == 1.0
                assert th[0]["y"] == pytest.approx(th[0]["growth_per_layer"] ** depth)
                sim = select(part, series=series, kind="simulation")
                top = [r for r in sim if r["x"] == depth][0]   # ‖G‖²/E‖G‖²: chi-square over its mean
                assert abs(top["y"] - 1.0) < 6 * math.sqrt(2.0 / (top["batch"] * top["width"] * top["n"]))
                assert all(r["y_low"] > 0 for r in sim)       # log-scale intervals: no gaps on a log axis


def test_speed_stability_marks_the_recommended_group(outputs):
    from normtheory import bounds

    with drawn("speed_stability", outputs) as (rows, fig):
        rank_ax, grad_ax = data_axes(fig)
        (rec,) = {r["x"] for r in select(rows, series="recommended")}
        first = rows[0]
        assert rec == bounds.recommend_group_size(width=first["width"], depth=first["depth"])
        for ax in (rank_ax, grad_ax):
            assert "recommended" in {(a.get_gid() or "").split(":", 1)[-1] for a in ax.lines}
        assert style.series_on(rank_ax, "theory") == ["rank_bound"]
        assert style.series_on(grad_ax, "simulation") == ["total_growth"]
        # no closed-form point where the expected growth is infinite (g < 4)
        assert all(r["x"] >= 4 for r in select(rows, series="total_growth", kind="theory"))


def test_training_curves_in_the_papers_layout(outputs):
    with drawn("training_curves", outputs) as (rows, fig):
        panels = _panel_axes(fig, rows)
        assert list(panels) == ["vgg10", "vgg20", "resnet56", "resnet56_skipinit"]
        bn = select(rows, panel="vgg10", norm="batchnorm", batch=256)
        assert [r["y"] for r in bn] == [3.5, 2.5, 1.5]          # mean over seeds 0 and 1
        assert [(r["y_low"], r["y_high"]) for r in bn] == [(3.0, 4.0), (2.0, 3.0), (1.0, 2.0)]
        assert [r["x"] for r in bn] == [1.0, 2.0, 3.0]
        # a seed diverged at the third epoch: the curve stops after two
        inst = select(rows, panel="vgg20", norm="instancenorm")
        assert [r["x"] for r in inst] == [1.0, 2.0] and inst[0]["diverged_seeds"] == 1
        # diverged in its first epoch: kept in the table, nothing drawn
        wn = select(rows, panel="resnet56", norm="weightnorm")
        assert len(wn) == 1 and math.isnan(wn[0]["x"])
        assert "weightnorm|None|256" not in style.series_on(panels["resnet56"], "curve")
        assert len(style.series_on(panels["vgg10"], "curve")) == 4   # 2 normalizers x 2 batches
        assert len(style.series_on(panels["vgg20"], "curve")) == 5
        styles = {line.get_linestyle() for line in panels["vgg10"].lines}
        assert len(styles) == 2  # one line style per batch size
        assert panels["vgg10"].get_ylabel() == "training loss"
        assert fig.legends  # normalizers and batch sizes
