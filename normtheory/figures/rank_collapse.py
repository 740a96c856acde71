"""Figure 3: rank collapse with depth for LayerNorm and unnormalized linear nets (claim R3).

Setting: the non-residual linear theory MLP of docs/settings.md (width ``d``, batch ``B``,
depth ``L``) with LayerNorm, without normalization (plain), and with BatchNorm for
contrast. Plotted against the layer ``l``: ``stable rank − 1`` of the ``B × d``
representation, as the geometric mean over independent networks (``exp E[log]``, 95%
interval from a t-interval on the logs) -- the statistic an almost-sure exponential rate
predicts.

Theory: :func:`normtheory.bounds.rank_collapse_rate` gives the per-layer decay rate
``2(λ_1 − λ_2)`` of ``log(stable rank − 1)`` from the top two Lyapunov exponents of
products of Gaussian matrices. It predicts a slope, not an intercept: each theory line has
that slope and passes through the simulated point at the anchor layer, where R3's fit
starts (:func:`normtheory.bounds.collapse_window`: past the transient that
LayerNorm's per-sample scales set; half the depth if the net is shallower than that).
"""

from __future__ import annotations

import math

import numpy as np

from normtheory import bounds
from normtheory.figures import simulated, style
from normtheory.figures.runner import check_size
from normtheory.runs.table import select, theory_row, unique, xy

NAME = "rank_collapse"
TITLE = "Rank collapse with depth for LayerNorm and unnormalized linear nets"
CLAIMS = ("R3",)
VERSION = "3"  # 2: srank - 1 from the probe's srank_excess (no cancellation); 3: R3's window
CAPTION = (
    "Stable rank minus one (log scale) of the sample representation against depth in deep "
    "linear MLPs at initialization, with LayerNorm, without normalization, and with "
    "BatchNorm for contrast. Points: geometric mean over independent random networks with "
    "95% intervals; lines: the predicted decay rate 2(lambda_1 - lambda_2) from the Lyapunov "
    "exponents of products of Gaussian matrices (in d - 1 dimensions for LayerNorm, whose "
    "centring removes one), drawn through the simulated point where claim R3's fit starts, "
    "past the transient of LayerNorm's per-sample scales (the theory gives the slope only). "
    "LayerNorm and unnormalized nets "
    "collapse toward rank one at that rate; BatchNorm does not collapse."
)
NET = {
    "tiny": dict(width=8, depth=30, batch=8, trials=4),
    "default": dict(width=32, depth=700, batch=32, trials=60),  # R3's window: layers 414-651
    "full": dict(width=64, depth=1500, batch=64, trials=200),  # layers 946-1437
}
NORMS = ("layernorm", "plain", "batchnorm")
COLLAPSING = ("layernorm", "plain")


def anchor_layer(norm: str, width: int, batch: int, depth: int) -> int:
    """Where the theory line is anchored and the rate fit starts: where claim R3's fit starts
    (past LayerNorm's transient, :func:`normtheory.bounds.collapse_window`), or
    half the depth for a net shallower than that (the tiny size)."""
    fit_from, _ = bounds.collapse_window(norm, width=width, batch=batch)
    return fit_from if fit_from < depth else max(1, depth // 2)


def settings(size: str) -> list[dict]:
    return [{"norm": n, **NET[check_size(size)]} for n in NORMS]


def compute_setting(setting: dict, seed: int) -> list[dict]:
    s = dict(setting)
    norm, width, depth = s["norm"], s["width"], s["depth"]
    sim = simulated.mlp(seed, norm=norm, width=width, depth=depth, batch=s["batch"],
                        trials=s["trials"], nonlinearity="linear", residual=False, backward=False,
                        rank_layers="all")
    base = {"panel": "collapse", "series": norm, "norm": norm, "width": width, "depth": depth,
            "batch": s["batch"], "diverged_layer": simulated.first_divergence(sim.diverged)}
    rows = simulated.log_layer_rows(base, sim.srank_excess)
    if norm in COLLAPSING:
        rate = bounds.rank_collapse_rate(norm, width=width)
        l0 = anchor_layer(norm, width, s["batch"], depth)
        at_anchor = [r for r in rows if r["x"] == l0]
        if at_anchor:
            y0 = at_anchor[0]["y"]
            rows += [theory_row({**base, "rate": rate, "anchor": l0}, layer,
                                y0 * math.exp(-rate * (layer - l0)))
                     for layer in range(l0, depth + 1)]
    return rows



def plot(rows: list[dict]):
    with style.style():
        fig, axes = style.figure(1, 1, panel_height=2.2)
        ax = axes[0, 0]
        for norm in unique(rows, "series"):
            style.draw_series(ax, rows, norm, color=style.norm_color(norm),
                              marker=style.norm_marker(norm), markersize=2.2,
                              label=style.norm_label(norm))
        ax.set_yscale("log")
        ax.set_xlabel("layer $l$")
        ax.set_ylabel("stable rank $-$ 1")
        first = rows[0]
        style.panel_title(ax, "a", f"linear MLP, d={first['width']}, B={first['batch']}")
        style.legend(ax, kinds=True, theory="predicted rate", loc="lower left")
    return fig


def fitted_rate(rows: list[dict], norm: str) -> float:
    """Decay rate of ``log(stable rank − 1)`` fitted from the anchor layer to ``L``."""
    sim = select(rows, series=norm, kind="simulation")
    if not sim:
        return math.nan
    first = sim[0]
    l0 = anchor_layer(norm, first["width"], first["batch"], first["depth"]) if norm in COLLAPSING \
        else max(1, first["depth"] // 2)
    x, y = xy([r for r in sim if r["x"] >= l0], "x", "y")
    slope, _ = simulated.fit_line(x, np.log(y)) if len(x) >= 2 else (math.nan, math.nan)
    return -slope


def summary(rows: list[dict]) -> str:
    parts = []
    for norm in unique(rows, "series"):
        th = select(rows, series=norm, kind="theory")
        sim = sorted(select(rows, series=norm, kind="simulation"), key=lambda r: r["x"])
        if not sim:
            continue
        text = (f"{style.norm_label(norm)}: stable rank - 1 from {sim[0]['y']:.3g} at l=0 to "
                f"{sim[-1]['y']:.3g} at l={sim[-1]['x']:g}, fitted decay rate "
                f"{fitted_rate(rows, norm):.3g}/layer")
        if th:
            text += f" (predicted {th[0]['rate']:.3g})"
        parts.append(text)
    return "; ".join(parts) + "."
