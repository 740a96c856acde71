"""Figure 1: activation variance against depth in residual networks at init (claims F1-F4).

Top row, residual MLPs of docs/settings.md (ReLU branch ``f(X) = N(phi(X) Wᵀ)``, width
``d``, batch ``B``): (a) ``alpha = 1``, every normalizer; (b) SkipInit (``alpha = 0``);
(c) NF-style blocks ``X + f(X / beta_l)`` for the branches F3 is about (WN, SWS, plain).
Bottom row, the post-activation ResNet-56 of :mod:`normtheory.nets` (the experiments'
network): (d) without and (e) with SkipInit, every normalizer.

Simulation: the activation variance probe (per-channel variance over the batch, averaged
over channels) of each layer, mean over independent random networks with a pointwise 95%
t-interval (:mod:`normtheory.figures.simulated`). Theory: the closed forms of
:mod:`normtheory.bounds` (``resnet_variance``, ``resnet_variance_skipinit``,
``resnet_variance_nf``) with the probe's finite-batch factor. InstanceNorm is absent from
the MLP panels: in an MLP it normalizes single entries and outputs 0.
"""

from __future__ import annotations

from matplotlib.lines import Line2D

from normtheory import bounds
from normtheory.figures import simulated, style
from normtheory.figures.runner import check_size
from normtheory.names import NAMES, family
from normtheory.runs.table import select, theory_row, unique, xy

NAME = "variance_depth"
TITLE = "Activation variance against depth in residual networks at initialization"
BACKENDS = ("numba", "torch")  # the theory MLPs on numba, ResNet-56 on torch
CLAIMS = ("F1", "F2", "F3", "F4")
VERSION = "1"
CAPTION = (
    "Activation variance (log scale) against the residual block index at initialization. "
    "Top: residual ReLU MLPs, (a) alpha = 1, (b) SkipInit (alpha = 0), (c) NF-style scaling "
    "for the parametric and unnormalized branches; bottom: the post-activation ResNet-56, (d) "
    "without and (e) with SkipInit. Points: mean over independent random networks with 95% "
    "intervals; lines: closed forms. A branch ending in an activation-based normalizer "
    "grows the variance linearly; a parametric or absent normalizer grows it geometrically, "
    "unless SkipInit or NF-style scaling is used."
)

MLP = {
    "tiny": dict(width=16, depth=6, batch=4, trials=3, group_size=4),
    "default": dict(width=256, depth=50, batch=32, trials=16, group_size=16),
    "full": dict(width=512, depth=100, batch=64, trials=50, group_size=16),
}
RESNET = {
    "tiny": dict(image_size=8, batch=4, trials=2, group_size=8),
    "default": dict(image_size=16, batch=8, trials=4, group_size=8),
    "full": dict(image_size=32, batch=32, trials=20, group_size=8),
}
NF_NORMS = ("weightnorm", "sws", "plain")
# (panel key, title)
PANELS = (
    ("mlp", "residual MLP"),
    ("mlp_skipinit", "residual MLP + SkipInit"),
    ("mlp_nf", "residual MLP, NF-style"),
    ("resnet56", "ResNet-56"),
    ("resnet56_skipinit", "ResNet-56 + SkipInit"),
)
SKIPINIT_OF = {"mlp_skipinit": "mlp", "resnet56_skipinit": "resnet56"}


def mlp_norms() -> list[str]:
    """Every normalizer but InstanceNorm (no MLP form: its statistic has one entry)."""
    return [n for n in NAMES if n != "instancenorm"]


def settings(size: str) -> list[dict]:
    net = MLP[check_size(size)]
    out = [{"panel": "mlp", "norm": n, **net} for n in mlp_norms()]
    out += [{"panel": "mlp_skipinit", "norm": n, **net} for n in mlp_norms()]
    out += [{"panel": "mlp_nf", "norm": n, **net} for n in NF_NORMS]
    cnn = RESNET[size]
    for panel in ("resnet56", "resnet56_skipinit"):
        out += [{"panel": panel, "norm": n, **cnn} for n in NAMES]
    return out


def _group_option(norm: str, group_size: int) -> dict:
    return {"group_size": group_size} if norm in ("groupnorm", "evonorm_s0") else {}


def resnet_setting(setting: dict, seed: int) -> list[dict]:
    """ResNet-56 (post-activation): simulation only, no closed form covers this network."""
    s = dict(setting)
    panel, norm = s["panel"], s["norm"]
    g = _group_option(norm, s["group_size"])
    sim = simulated.net(seed, arch="resnet56", norm=norm, trials=s["trials"], batch=s["batch"],
                        image_size=s["image_size"], skipinit=panel == "resnet56_skipinit", **g)
    base = {"panel": panel, "series": norm, "norm": norm, "alpha": 0.0 if "skipinit" in panel
            else 1.0, "batch": s["batch"], "image_size": s["image_size"],
            "group_size": g.get("group_size"),
            "diverged_layer": simulated.first_divergence(sim.diverged)}
    return simulated.layer_rows(base, sim.variance)


def compute_setting(setting: dict, seed: int) -> list[dict]:
    if setting["panel"].startswith("resnet56"):
        return resnet_setting(setting, seed)
    s = dict(setting)
    panel, norm = s["panel"], s["norm"]
    alpha = 0.0 if panel == "mlp_skipinit" else 1.0
    g = _group_option(norm, s["group_size"])
    sim = simulated.mlp(seed, norm=norm, width=s["width"], depth=s["depth"], batch=s["batch"],
                        trials=s["trials"], nonlinearity="relu", residual=True, alpha=alpha,
                        nf_scaling=panel == "mlp_nf", backward=False, **g)
    base = {"panel": panel, "series": norm, "norm": norm, "alpha": alpha, "width": s["width"],
            "batch": s["batch"], "group_size": g.get("group_size"),
            "diverged_layer": simulated.first_divergence(sim.diverged)}
    rows = simulated.layer_rows(base, sim.variance)
    layers = list(range(s["depth"] + 1))
    common = dict(nonlinearity="relu", batch=s["batch"])
    if panel == "mlp_skipinit":
        theory = bounds.resnet_variance_skipinit(norm, depth=layers, **common)
    elif panel == "mlp_nf":
        theory = bounds.resnet_variance_nf(norm, depth=layers, alpha=alpha, **common)
    else:
        theory = bounds.resnet_variance(norm, depth=layers, alpha=alpha, **common)
    rows += [theory_row(base, layer, v) for layer, v in zip(layers, theory)]
    return rows



def plot(rows: list[dict]):
    panels = [p for p in PANELS if select(rows, panel=p[0])]
    ncols = 3
    nrows = (len(panels) + 1 + ncols - 1) // ncols   # one more slot for the legend
    with style.style():
        fig, axes = style.figure(ncols, nrows, panel_height=1.65, width=style.TEXT_WIDTH)
        flat = list(axes.flat)
        for i, (key, title) in enumerate(panels):
            ax = flat[i]
            part = select(rows, panel=key)
            for norm in unique(part, "series"):
                style.draw_series(ax, part, norm, color=style.norm_color(norm),
                                  marker=style.norm_marker(norm), markersize=2.2,
                                  label=style.norm_label(norm), linewidth=0.8)
            ax.set_yscale("log")
            ax.set_xlabel("block $l$")
            ax.set_ylabel("activation variance")
            style.panel_title(ax, "abcdefgh"[i], title)
        for i, (key, _title) in enumerate(panels):
            if SKIPINIT_OF.get(key) in [p[0] for p in panels]:
                # same axes as the panel without SkipInit: flat against growth
                flat[i].set_ylim(flat[[p[0] for p in panels].index(SKIPINIT_OF[key])].get_ylim())
        legend_ax = flat[len(panels)]
        legend_ax.axis("off")
        handles = _norm_handles(unique(rows, "norm"))
        legend_ax.legend(handles, [h.get_label() for h in handles], loc="center", ncols=2,
                         title="normalizer (line: closed form,\npoints: simulation, 95% CI)")
        for ax in flat[len(panels) + 1:]:
            ax.axis("off")
    return fig


def _norm_handles(norms: list[str]) -> list:

    return [Line2D([], [], color=style.norm_color(n), marker=style.norm_marker(n), markersize=3,
                   markeredgecolor="white", markeredgewidth=0.4, label=style.norm_label(n))
            for n in style.NORM_STYLE if n in norms]


def summary(rows: list[dict]) -> str:
    """Fitted slope (linear growth) or per-block rate (geometric growth), simulation vs theory;
    with SkipInit, the largest relative change of the variance over depth."""
    parts = []
    for key, title in PANELS:
        items = []
        for norm in unique(select(rows, panel=key), "series"):
            sim = select(rows, panel=key, series=norm, kind="simulation")
            th = select(rows, panel=key, series=norm, kind="theory")
            if len(sim) < 2:
                items.append(f"{style.norm_label(norm)} diverged")
                continue
            x, y = xy(sim, "x", "y")
            label = style.norm_label(norm)
            if key in SKIPINIT_OF:
                change = max(abs(v / y[0] - 1.0) for v in y)
                items.append(f"{label} largest relative change {change:.2g}")
                continue
            geometric = family(norm) != "activation" and key in ("mlp", "resnet56")
            if geometric:
                text = f"{label} rate {simulated.fit_rate(x, y):.3g}/block"
                if th:
                    text += f" (theory {simulated.fit_rate(*xy(th, 'x', 'y')):.3g})"
            else:
                text = f"{label} slope {simulated.fit_line(x, y)[0]:.3g}"
                if th:
                    text += f" (theory {simulated.fit_line(*xy(th, 'x', 'y'))[0]:.3g})"
            items.append(text)
        if items:
            parts.append(f"{title}: " + ", ".join(items))
    return "Fitted to the simulated points: " + "; ".join(parts) + "."
