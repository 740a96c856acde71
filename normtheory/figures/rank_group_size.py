"""Figure 2: stable rank and cosine similarity of the last layer against group size (R1, R2, R4).

Setting: the non-residual theory MLP of docs/settings.md (width ``d``, depth ``L``, batch
``B``; :data:`normtheory.figures.sizes.THEORY_MLP`) with GroupNorm at every power-of-two
group size ``g`` from 2 to ``d`` (``g = d`` is LayerNorm; in an MLP, ``g = 1``, the
InstanceNorm end, outputs 0) and with BatchNorm (batch ``B``) for comparison.

(a) Linear networks: stable rank of the ``B × d`` representation ``X_L`` (mean over
independent networks, 95% t-interval) and the lower bound ``c·sqrt(d/g)`` of
:func:`normtheory.bounds.rank_lower_bound` (``c·sqrt(d)`` for BN; R1, R2).
(b) ReLU networks: mean cosine similarity between samples at ``X_L``, with the ReLU
correlation map iterated ``L`` times from the inputs' similarity 0
(:func:`normtheory.bounds.relu_correlation_iterate`), the prediction for LayerNorm and
unnormalized ReLU nets (R4). BN is drawn as a horizontal line with its band.
"""

from __future__ import annotations

import math

from normtheory import bounds
from normtheory.figures import simulated, sizes, style
from normtheory.figures.runner import check_size
from normtheory.runs.table import select, theory_row, xy

NAME = "rank_group_size"
TITLE = "Stable rank and cosine similarity of the last layer against group size"
CLAIMS = ("R1", "R2", "R4")
VERSION = "1"
CAPTION = (
    "Deep non-residual MLPs at initialization with GroupNorm of group size g (from g = 2 to "
    "g = width, LayerNorm) and with BatchNorm (horizontal line and band). (a) Linear nets: "
    "stable rank of the last layer's sample representation, with the lower bound "
    "c*sqrt(width/g) (dashed line; c*sqrt(width) for BN, dotted). (b) ReLU nets: mean cosine "
    "similarity between samples at the last layer, with the iterated ReLU correlation map "
    "that LayerNorm and unnormalized nets follow. Points and bands: mean over independent "
    "random networks with 95% intervals. Smaller groups keep the representation "
    "higher-rank and the samples less similar."
)
PANELS = (("linear", "stable_rank"), ("relu", "cosine"))


def settings(size: str) -> list[dict]:
    net = sizes.theory_mlp(check_size(size))
    out = []
    for nonlinearity, _probe in PANELS:
        out += [{"nonlinearity": nonlinearity, "norm": "groupnorm", "group_size": g, **net}
                for g in sizes.group_sizes(net["width"])]
        out.append({"nonlinearity": nonlinearity, "norm": "batchnorm", "group_size": None, **net})
    out.append({"nonlinearity": "relu", "norm": "theory", "group_size": None, **net})
    return out


def compute_setting(setting: dict, seed: int) -> list[dict]:
    s = dict(setting)
    norm, g, nonlinearity = s["norm"], s["group_size"], s["nonlinearity"]
    width, depth, batch = s["width"], s["depth"], s["batch"]
    panel = dict(PANELS)[nonlinearity]
    common = {"panel": panel, "width": width, "depth": depth, "batch": batch}
    if norm == "theory":  # the ReLU correlation map, drawn across all group sizes
        c_last = float(bounds.relu_correlation_iterate(0.0, depth=depth)[-1])
        base = {**common, "series": "relu_map", "norm": "layernorm"}
        return [theory_row(base, x, c_last) for x in (min(sizes.group_sizes(width)), width)]
    sim = simulated.mlp(seed, norm=norm, width=width, depth=depth, batch=batch,
                        trials=s["trials"], nonlinearity=nonlinearity, residual=False,
                        rank_layers=(-1,) if panel == "stable_rank" else (),
                        **({"group_size": g} if g is not None else {}))
    series = "batchnorm" if norm == "batchnorm" else "groupnorm"
    base = {**common, "series": series, "norm": norm, "group_size": g}
    x = math.nan if g is None else g
    rows = simulated.last_layer_row(base, x, getattr(sim, panel))
    if panel == "stable_rank":
        bound = bounds.rank_lower_bound(norm, width=width, group_size=g)
        rows.append(theory_row({**base, "series": f"{series}_bound"}, x, bound))
    return rows



def _horizontal(ax, row: dict, *, series: str, color, label: str, kind: str, xlim) -> None:
    """A setting without a group size (BN) across the whole group-size axis."""
    if kind == "theory":
        style.theory_line(ax, xlim, [row["y"]] * 2, series=series, color=color,
                          linestyle=":", label=label)
    else:
        style.simulation_level(ax, xlim, row["y"], row["y_low"], row["y_high"], series=series,
                               color=color, label=label)


def plot(rows: list[dict]):
    bn_color, gn_color = style.norm_color("batchnorm"), style.norm_color("groupnorm")
    with style.style():
        fig, axes = style.figure(2, 1, panel_height=2.0, width=style.TEXT_WIDTH)
        for i, (nonlinearity, probe) in enumerate(PANELS):
            ax = axes[0, i]
            part = select(rows, panel=probe)
            groups = xy(select(part, series="groupnorm"), "x")[0]
            xlim = [min(groups), max(groups)]
            x, y, low, high = xy(select(part, series="groupnorm"), "x", "y", "y_low", "y_high")
            style.simulation_points(ax, x, y, low, high, series="groupnorm", color=gn_color,
                                    marker=style.norm_marker("groupnorm"), label="GN")
            bound = select(part, series="groupnorm_bound")
            if bound:
                style.theory_line(ax, *xy(bound, "x", "y"), series="groupnorm_bound",
                                  color=gn_color, linestyle="--", label=r"GN bound $c\sqrt{d/g}$")
            for row in select(part, series="batchnorm"):
                _horizontal(ax, row, series="batchnorm", color=bn_color, kind="simulation",
                            label=f"BN (B={row['batch']})", xlim=xlim)
            for row in select(part, series="batchnorm_bound"):
                _horizontal(ax, row, series="batchnorm_bound", color=bn_color, kind="theory",
                            label=r"BN bound $c\sqrt{d}$", xlim=xlim)
            relu_map = select(part, series="relu_map")
            if relu_map:
                style.theory_line(ax, *xy(relu_map, "x", "y"), series="relu_map",
                                  color=style.norm_color("layernorm"), linestyle="--",
                                  label=f"ReLU map, {relu_map[0]['depth']} layers (LN, no norm.)")
            style.group_axis(ax)
            ax.set_xlabel("group size $g$ (GN; $g = d$ is LN)")
            first = part[0]
            what = "stable rank" if probe == "stable_rank" else "mean cosine similarity"
            ax.set_ylabel(f"{what} of $X_L$")
            if probe == "stable_rank":
                ax.set_yscale("log")
            style.panel_title(ax, "ab"[i], f"{nonlinearity} MLP, d={first['width']}, "
                                           f"L={first['depth']}, B={first['batch']}")
            style.legend(ax, loc="best")
    return fig


def summary(rows: list[dict]) -> str:
    """The rank at the smallest and largest group, the bound's margin, the cosine range."""
    sim = sorted(select(rows, panel="stable_rank", series="groupnorm"), key=lambda r: r["x"])
    bound = {r["x"]: r["y"] for r in select(rows, panel="stable_rank", series="groupnorm_bound")}
    parts = []
    if sim:
        held = [r for r in sim if r["y_low"] >= bound.get(r["x"], math.inf)]
        ratios = [r["y"] / bound[r["x"]] for r in sim if r["x"] in bound]
        parts.append(
            f"Stable rank of the last layer falls from {sim[0]['y']:.3g} at g={sim[0]['x']:g} "
            f"to {sim[-1]['y']:.3g} at g={sim[-1]['x']:g}; the bound c*sqrt(d/g) holds (interval "
            f"above it) at {len(held)} of {len(sim)} group sizes, measured/bound from "
            f"{min(ratios):.2g} to {max(ratios):.2g}")
    bn = select(rows, panel="stable_rank", series="batchnorm")
    bn_bound = select(rows, panel="stable_rank", series="batchnorm_bound")
    if bn and bn_bound:
        parts.append(f"BN: stable rank {bn[0]['y']:.3g} against the bound {bn_bound[0]['y']:.3g}")
    cos = sorted(select(rows, panel="cosine", series="groupnorm"), key=lambda r: r["x"])
    if cos:
        text = (f"Cosine similarity rises from {cos[0]['y']:.3g} at g={cos[0]['x']:g} to "
                f"{cos[-1]['y']:.3g} at g={cos[-1]['x']:g}")
        relu_map = select(rows, panel="cosine", series="relu_map")
        if relu_map:
            text += f" (ReLU map for LN: {relu_map[0]['y']:.3g})"
        bn_cos = select(rows, panel="cosine", series="batchnorm")
        if bn_cos:
            text += f"; BN {bn_cos[0]['y']:.3g}"
        parts.append(text)
    return ". ".join(parts) + "."
