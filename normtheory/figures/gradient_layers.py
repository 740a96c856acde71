"""Figure 4: gradient norm against layer index for several group sizes and BN (claims B1, B3).

Setting: the non-residual theory MLP of docs/settings.md (width ``d``, depth ``L``,
batch ``B``, :data:`normtheory.figures.sizes.THEORY_MLP`), linear (B1) and ReLU (B3), with
GroupNorm at group sizes ``g`` from 4 up to ``d`` (``g = d`` is LayerNorm) and with
BatchNorm. Loss ``<G, X_L>`` with a random ``G``. Plotted: ``E‖∂ℓ/∂X_l‖² / E‖∂ℓ/∂X_L‖²``
against ``l`` (simulation: ratio of means over independent networks, delta-method 95%
interval per layer), and the closed form ``r^(L−l)`` with ``r`` the per-layer growth of
:func:`normtheory.bounds.gradient_growth_per_layer`. In an MLP, InstanceNorm computes each
statistic from ``n = 1`` entry (its output is identically 0), so the IN end of the GN
family is the smallest group with a finite expected growth (``n >= 4``, centred).
"""

from __future__ import annotations

from normtheory.bounds import gradient_growth_per_layer
from normtheory.figures import simulated, sizes, style
from normtheory.runs.table import select, theory_row, unique, xy

NAME = "gradient_layers"
TITLE = "Gradient norm against layer for several group sizes and BN"
CLAIMS = ("B1", "B3")
VERSION = "2"  # 2: log-normal intervals for the gradient norms
CAPTION = (
    "Squared gradient norm with respect to each layer's output, relative to the last layer, "
    "in deep non-residual MLPs at initialization: linear (left) and ReLU (right), GroupNorm "
    "with group size g (g = width is LayerNorm) and BatchNorm. Points: mean over independent "
    "random networks with 95% intervals; lines: the closed-form per-layer growth factor "
    "raised to the number of layers above. Smaller groups grow the gradient faster going "
    "backward."
)
NONLINEARITIES = ("linear", "relu")
MIN_GROUP = 4  # smallest centred statistic with a finite expected growth (bounds.min_stat_count)


def gradient_group_sizes(width: int) -> list[int]:
    """Every other power of two from 4 up to the width (always including the width)."""
    all_sizes = sizes.group_sizes(width, MIN_GROUP)
    chosen = all_sizes[::2]
    if all_sizes[-1] not in chosen:
        chosen.append(all_sizes[-1])
    return chosen


def settings(size: str) -> list[dict]:
    net = sizes.theory_mlp(size)
    out = []
    for nonlinearity in NONLINEARITIES:
        for g in gradient_group_sizes(net["width"]):
            out.append({"nonlinearity": nonlinearity, "norm": "groupnorm", "group_size": g, **net})
        out.append({"nonlinearity": nonlinearity, "norm": "batchnorm", "group_size": None, **net})
    return out


def series_name(norm: str, group_size) -> str:
    return "batchnorm" if norm == "batchnorm" else f"g={group_size}"


def compute_setting(setting: dict, seed: int) -> list[dict]:
    s = dict(setting)
    norm, g, nonlinearity = s["norm"], s["group_size"], s["nonlinearity"]
    sim = simulated.mlp(seed, norm=norm, width=s["width"], depth=s["depth"], batch=s["batch"],
                        trials=s["trials"], nonlinearity=nonlinearity, residual=False,
                        **({"group_size": g} if g is not None else {}))
    base = {"panel": nonlinearity, "series": series_name(norm, g), "norm": norm,
            "group_size": g, "width": s["width"], "depth": s["depth"], "batch": s["batch"]}
    rows = simulated.gradient_rows(base, sim.grad_sq, top_expectation=s["batch"] * s["width"])
    factor = gradient_growth_per_layer(norm, width=s["width"], group_size=g,
                                       batch=s["batch"] if g is None else None,
                                       nonlinearity=nonlinearity)
    depth = s["depth"]
    rows += [theory_row({**base, "growth_per_layer": factor}, layer, factor ** (depth - layer))
             for layer in range(depth + 1)]
    return rows



def _color(rows: list[dict], series: str):
    first = select(rows, series=series)[0]
    if first["norm"] == "batchnorm":
        return style.norm_color("batchnorm")
    groups = [g for g in unique(rows, "group_size")]
    return style.group_color(first["group_size"], min(groups), max(groups))


def _label(rows, series: str) -> str:
    first = select(rows, series=series)[0]
    if first["norm"] == "batchnorm":
        return f"BN (B={first['batch']})"
    g = first["group_size"]
    return f"GN g={g}" + (" (LN)" if g == first["width"] else "")


def plot(rows: list[dict]):
    panels = [p for p in NONLINEARITIES if select(rows, panel=p)]
    with style.style():
        fig, axes = style.figure(len(panels), 1, panel_height=2.0, width=style.TEXT_WIDTH
                                 if len(panels) > 1 else style.COLUMN_WIDTH)
        for i, panel in enumerate(panels):
            ax = axes[0, i]
            part = select(rows, panel=panel)
            for series in unique(part, "series"):
                style.draw_series(ax, part, series, color=_color(rows, series),
                                  label=_label(rows, series), markersize=2.4)
            ax.set_yscale("log")
            ax.set_xlabel("layer $l$")
            first = part[0]
            style.panel_title(ax, "ab"[i], f"{panel} MLP, width {first['width']}, "
                                           f"depth {first['depth']}, batch {first['batch']}")
        axes[0, 0].set_ylabel(r"$E\|\partial\ell/\partial X_l\|^2 \,/\, E\|\partial\ell/\partial X_L\|^2$")
        style.legend(axes[0, -1], kinds=True, loc="upper right", ncols=2)
    return fig


def summary(rows: list[dict]) -> str:
    """Fitted per-layer growth (geometric fit of the simulated ratios) against the closed form."""
    parts = []
    for panel in NONLINEARITIES:
        items = []
        for series in unique(select(rows, panel=panel), "series"):
            sim = select(rows, panel=panel, series=series, kind="simulation")
            th = select(rows, panel=panel, series=series, kind="theory")
            if not sim or not th:
                continue
            x, y = xy(sim, "x", "y")
            measured = 1.0 / simulated.fit_rate(x, y)
            items.append(f"{_label(rows, series)} {measured:.3g} (theory "
                         f"{th[0]['growth_per_layer']:.3g})")
        if items:
            parts.append(f"{panel}: " + ", ".join(items))
    return ("Per-layer growth going backward, fitted to the simulated points vs closed form: "
            + "; ".join(parts) + ".")

