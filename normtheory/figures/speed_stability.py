"""Figure 5: the speed-stability trade-off of GroupNorm's group size (claim B2).

Setting: the non-residual linear theory MLP of docs/settings.md with GroupNorm (width
``d``, depth ``L``, batch ``B``; :data:`normtheory.figures.sizes.THEORY_MLP`, the same
networks as figures 2 and 4), at every power-of-two group size ``g`` from 2 to ``d``.

(a) Speed: the stable rank of the last layer (mean over independent networks, 95%
t-interval) and its lower bound ``c·sqrt(d/g)``; (b) stability: the gradient growth over
the whole depth, ``E‖∂ℓ/∂X_0‖² / E‖∂ℓ/∂X_L‖²`` (delta-method 95% interval), and the
closed form ``r(g)^L`` (infinite for ``g < 4``, where ``E[1/χ²]`` diverges, so no line
there). Both closed forms come from :func:`normtheory.bounds.speed_stability`; the dashed
vertical line is :func:`normtheory.bounds.recommend_group_size`, the smallest group whose
total growth stays at most the stated threshold (dotted horizontal line).
"""

from __future__ import annotations

import math

from normtheory import bounds
from normtheory.figures import simulated, sizes, style
from normtheory.figures.runner import check_size
from normtheory.runs.table import select, theory_row, xy

NAME = "speed_stability"
TITLE = "The speed-stability trade-off over GroupNorm's group size"
CLAIMS = ("B2", "R2", "B1")
VERSION = "2"  # 2: log-normal interval for the total growth
MAX_GROWTH = 10.0  # the recommendation's threshold on total gradient growth (bounds default)
CAPTION = (
    "Deep linear MLPs with GroupNorm at initialization, against the group size g. (a) "
    "Stable rank of the last layer with the lower bound c*sqrt(width/g): small groups keep "
    "representations informative (faster training). (b) Gradient growth from the last layer "
    "to the first with its closed form: small groups make early-layer gradients explode "
    "(unstable training). The dashed vertical line marks the recommended group size, the "
    f"smallest whose predicted total growth stays at most {MAX_GROWTH:g}. Points and bands: "
    "mean over independent random networks with 95% intervals; lines: closed forms."
)
PANELS = ("rank", "gradient")


def settings(size: str) -> list[dict]:
    net = sizes.theory_mlp(check_size(size))
    return [{"group_size": g, **net} for g in sizes.group_sizes(net["width"])] + \
        [{"group_size": None, **net}]  # the last setting: the recommendation


def compute_setting(setting: dict, seed: int) -> list[dict]:
    s = dict(setting)
    width, depth, g = s["width"], s["depth"], s["group_size"]
    common = {"width": width, "depth": depth, "batch": s["batch"]}
    if g is None:
        best = bounds.recommend_group_size(width=width, depth=depth, max_growth=MAX_GROWTH)
        return [theory_row({**common, "panel": p, "series": "recommended", "max_growth": MAX_GROWTH},
                           best, math.nan) for p in PANELS]
    sim = simulated.mlp(seed, norm="groupnorm", width=width, depth=depth, batch=s["batch"],
                        trials=s["trials"], nonlinearity="linear", residual=False, group_size=g,
                        rank_layers=(-1,))
    (theory,) = bounds.speed_stability(width=width, depth=depth, group_sizes=[g])
    rank_base = {**common, "panel": "rank", "group_size": g}
    grad_base = {**common, "panel": "gradient", "group_size": g}
    rows = simulated.last_layer_row({**rank_base, "series": "stable_rank"}, g, sim.stable_rank)
    rows += simulated.total_growth_row({**grad_base, "series": "total_growth"}, g, sim.grad_sq,
                                       top_expectation=s["batch"] * width)
    rows.append(theory_row({**rank_base, "series": "rank_bound"}, g, theory["rank_bound"]))
    if math.isfinite(theory["total_growth"]):
        rows.append(theory_row({**grad_base, "series": "total_growth",
                                "growth_per_layer": theory["growth_per_layer"]},
                               g, theory["total_growth"]))
    return rows



def plot(rows: list[dict]):
    color = style.norm_color("groupnorm")
    with style.style():
        fig, axes = style.figure(1, 2, panel_height=1.6, sharex=True)
        rank_ax, grad_ax = axes[0, 0], axes[1, 0]
        sim = select(rows, panel="rank", series="stable_rank", kind="simulation")
        style.simulation_points(rank_ax, *xy(sim, "x", "y", "y_low", "y_high"),
                                series="stable_rank", color=color, label="stable rank")
        style.theory_line(rank_ax, *xy(select(rows, series="rank_bound"), "x", "y"),
                          series="rank_bound", color=color, linestyle="--",
                          label=r"bound $c\sqrt{d/g}$")
        sim = select(rows, panel="gradient", series="total_growth", kind="simulation")
        style.simulation_points(grad_ax, *xy(sim, "x", "y", "y_low", "y_high"),
                                series="total_growth", color=color, label="simulation")
        th = select(rows, panel="gradient", series="total_growth", kind="theory")
        style.theory_line(grad_ax, *xy(th, "x", "y"), series="total_growth", color=color,
                          label=r"closed form $r(g)^L$")
        for ax in (rank_ax, grad_ax):
            ax.set_yscale("log")
            style.group_axis(ax)
            for row in select(rows, panel="rank" if ax is rank_ax else "gradient",
                              series="recommended"):
                style.mark_vertical(ax, row["x"], series="recommended",
                                    label=f"recommended g={row['x']:g}")
        _clip_infinite(grad_ax, sim, th)
        recommended = select(rows, series="recommended")
        if recommended:
            grad_ax.axhline(recommended[0]["max_growth"], color="0.5", linestyle=":",
                            linewidth=0.8, gid="marker:max_growth")
        first = rows[0]
        style.panel_title(rank_ax, "a", f"speed: linear MLP, d={first['width']}, "
                                        f"L={first['depth']}, B={first['batch']}")
        style.panel_title(grad_ax, "b", "stability: gradient growth over the depth")
        rank_ax.set_ylabel("stable rank of $X_L$")
        grad_ax.set_ylabel(r"$E\|\partial\ell/\partial X_0\|^2/E\|\partial\ell/\partial X_L\|^2$")
        grad_ax.set_xlabel("group size $g$ (GN; $g = d$ is LN)")
        style.legend(rank_ax, loc="upper right")
        style.legend(grad_ax, loc="upper right")
    return fig


def _clip_infinite(ax, sim: list[dict], theory: list[dict]) -> None:
    """Keep the axis on the finite closed form: simulated points where the expectation is
    infinite (no theory row) are left above the axis and named in a note."""
    finite_x = {r["x"] for r in theory}
    ys = [r["y"] for r in theory] + [r["y"] for r in sim if r["x"] in finite_x]
    off = [r for r in sim if r["x"] not in finite_x]
    if not ys or not off:
        return
    top = max(ys) * 1e3
    if all(r["y"] <= top for r in off):
        return
    ax.set_ylim(top=top)
    note = ", ".join(f"g={r['x']:g}: {r['y']:.2g}" for r in off)
    ax.text(0.02, 0.97, f"off scale, expectation infinite: {note}", transform=ax.transAxes,
            va="top", ha="left", fontsize=5.5, color="0.3")


def summary(rows: list[dict]) -> str:
    parts = []
    recommended = select(rows, series="recommended")
    if recommended:
        parts.append(f"Recommended group size {recommended[0]['x']:g} (smallest with predicted "
                     f"total gradient growth <= {recommended[0]['max_growth']:g})")
    sim = {r["x"]: r for r in select(rows, panel="gradient", series="total_growth",
                                     kind="simulation")}
    th = {r["x"]: r for r in select(rows, panel="gradient", series="total_growth", kind="theory")}
    items = [f"g={g:g}: {sim[g]['y']:.3g} (theory {th[g]['y']:.3g})" for g in sorted(sim) if g in th]
    if items:
        parts.append("total gradient growth simulated vs closed form: " + ", ".join(items))
    ranks = sorted(select(rows, panel="rank", series="stable_rank", kind="simulation"),
                   key=lambda r: r["x"])
    if ranks:
        parts.append(f"stable rank from {ranks[0]['y']:.3g} (g={ranks[0]['x']:g}) to "
                     f"{ranks[-1]['y']:.3g} (g={ranks[-1]['x']:g})")
    return "; ".join(parts) + "."
