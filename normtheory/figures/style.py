"""One style for every figure: sizes, fonts, colours, and how theory and simulation look.

Every figure is drawn at its printed size (inches), so that fonts are readable when the
figure is placed at a paper's column width (:data:`COLUMN_WIDTH`) or text width
(:data:`TEXT_WIDTH`) without rescaling. The conventions:

- **theory** is a line (:func:`theory_line`), solid, in the series' colour;
- **simulation** is points with a shaded confidence band (:func:`simulation_points`), in
  the same colour;
- each normalizer has one colour and one marker in every figure (:func:`norm_color`,
  :func:`norm_marker`), and group sizes run along one sequential colour map
  (:func:`group_color`: plasma, dark for small groups, clear of BatchNorm's blue);
- every artist a helper draws carries a ``gid`` ``"<kind>:<series>"`` (kind ``theory``,
  ``simulation``, ``band``, ``curve``, ``marker``), so that tests can count the series on
  an axis without looking at pixels (:func:`series_on`).

Matplotlib's non-interactive Agg backend is selected on import.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib.legend_handler import HandlerTuple  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from normtheory.durable import atomic_write  # noqa: E402
from normtheory.runs.table import select, xy  # noqa: E402

COLUMN_WIDTH = 3.4   # inches, one column of a two-column paper
TEXT_WIDTH = 6.9     # inches, the full text width
PNG_DPI = 110        # the committed PNGs: small files, still sharp on screen
BAND_ALPHA = 0.22

RC = {
    "font.size": 7.5,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.0,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "legend.borderaxespad": 0.3,
    "axes.linewidth": 0.6,
    "axes.grid": True,
    "grid.linewidth": 0.35,
    "grid.alpha": 0.5,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.2,
    "xtick.major.width": 0.5,
    "ytick.major.width": 0.5,
    "xtick.minor.width": 0.35,
    "ytick.minor.width": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,   # embed TrueType, editable text in the PDF
    "figure.dpi": PNG_DPI,
}

# One colour and marker per normalizer (the names of normtheory.normalizers.NAMES and
# VARIANT_NAMES).
NORM_STYLE = {
    "batchnorm": ("#1f77b4", "o", "BN"),
    "layernorm": ("#d62728", "s", "LN"),
    "instancenorm": ("#2ca02c", "^", "IN"),
    "groupnorm": ("#9467bd", "D", "GN"),
    "frn": ("#8c564b", "v", "FRN"),
    "variancenorm": ("#17becf", "<", "VN"),
    "evonorm_b0": ("#bcbd22", ">", "EvoNorm-B0"),
    "evonorm_s0": ("#e377c2", "p", "EvoNorm-S0"),
    "weightnorm": ("#ff7f0e", "X", "WN"),
    "sws": ("#7f7f7f", "P", "SWS"),
    "plain": ("#000000", "*", "Plain"),
    "variancenorm_uncentred": ("#9edae5", "h", "VN (uncentred)"),
}

THEORY_KIND = "theory"
SIMULATION_KIND = "simulation"
KINDS = (THEORY_KIND, SIMULATION_KIND, "band", "curve", "marker")


def _known_norm(name: str) -> str:
    if name not in NORM_STYLE:
        raise ValueError(f"norm: unknown normalizer {name!r}; expected one of {sorted(NORM_STYLE)}")
    return name


def norm_color(name: str) -> str:
    return NORM_STYLE[_known_norm(name)][0]


def norm_marker(name: str) -> str:
    return NORM_STYLE[_known_norm(name)][1]


def norm_label(name: str) -> str:
    """The short name used in the paper (BN, LN, GN, ...)."""
    return NORM_STYLE[_known_norm(name)][2]


def group_color(group_size: float, smallest: float, largest: float) -> tuple:
    """Colour of a group size on a log scale from ``smallest`` (IN end) to ``largest`` (LN end)."""
    if not (0 < smallest <= group_size <= largest):
        raise ValueError(f"group_size must lie in [{smallest}, {largest}], got {group_size}")
    frac = 0.0 if largest == smallest else math.log(group_size / smallest) / math.log(largest / smallest)
    return plt.get_cmap("plasma")(0.82 * frac)


@contextmanager
def style():
    """Matplotlib settings of every normtheory figure, for the duration of a block."""
    with plt.rc_context(RC):
        yield


def figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None,
           panel_height: float = 1.75, sharex=False, sharey=False):
    """A figure of ``nrows x ncols`` panels at printed size; returns ``(fig, axes 2-D array)``.

    ``width`` defaults to the column width for one panel across and the text width
    otherwise. Call inside :func:`style` (the figure keeps the fonts of that block).
    """
    if ncols < 1 or nrows < 1:
        raise ValueError(f"ncols and nrows must be >= 1, got {ncols}, {nrows}")
    if width is None:
        width = COLUMN_WIDTH if ncols == 1 else TEXT_WIDTH
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, panel_height * nrows + 0.35),
                             squeeze=False, sharex=sharex, sharey=sharey, layout="constrained")
    return fig, axes


def _finite(*arrays):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    keep = np.ones(arrays[0].shape, dtype=bool)
    for a in arrays:
        keep &= np.isfinite(a)
    return [a[keep] for a in arrays]


def theory_line(ax, x, y, *, series: str, color, label: str | None = None,
                linestyle="-", linewidth: float = 1.0):
    """Draw a closed form as a line (non-finite points are left out)."""
    x, y = _finite(x, y)
    (line,) = ax.plot(x, y, linestyle=linestyle, color=color, linewidth=linewidth,
                      label=label, gid=f"{THEORY_KIND}:{series}", zorder=2)
    return line


def simulation_points(ax, x, estimate, low, high, *, series: str, color, marker="o",
                      label: str | None = None, band: bool = True, markersize=None):
    """Draw Monte Carlo estimates as points with a shaded confidence band ``[low, high]``."""
    x, estimate, low, high = _finite(x, estimate, low, high)
    order = np.argsort(x, kind="stable")
    x, estimate, low, high = x[order], estimate[order], low[order], high[order]
    if band and x.size > 1:
        ax.fill_between(x, low, high, color=color, alpha=BAND_ALPHA, linewidth=0,
                        gid=f"band:{series}", zorder=1)
    elif band:
        ax.errorbar(x, estimate, yerr=[estimate - low, high - estimate], fmt="none",
                    ecolor=color, elinewidth=0.8, gid=f"band:{series}", zorder=1)
    (points,) = ax.plot(x, estimate, linestyle="none", marker=marker, color=color,
                        markersize=markersize, markeredgewidth=0.4, markeredgecolor="white",
                        label=label, gid=f"{SIMULATION_KIND}:{series}", zorder=3)
    return points


def draw_series(ax, rows, series: str, *, color, marker="o", label: str | None = None,
                markersize=None, linewidth: float = 0.9) -> None:
    """A series of a figure's table (:mod:`normtheory.runs.table`): its simulation rows as
    points with a band and its theory rows, if any, as a line."""
    sim = select(rows, series=series, kind="simulation")
    if sim:
        simulation_points(ax, *xy(sim, "x", "y", "y_low", "y_high"), series=series, color=color,
                          marker=marker, markersize=markersize, label=label)
    theory = select(rows, series=series, kind="theory")
    if theory:
        theory_line(ax, *xy(theory, "x", "y"), series=series, color=color, linewidth=linewidth)


def simulation_level(ax, x_range, estimate: float, low: float, high: float, *, series: str,
                     color, label: str | None = None):
    """A Monte Carlo estimate that does not depend on the x axis (e.g. BN on a group-size
    axis): a horizontal line over ``x_range`` with its confidence band."""
    x_range = [float(v) for v in x_range]
    ax.fill_between(x_range, [low] * 2, [high] * 2, color=color, alpha=BAND_ALPHA, linewidth=0,
                    gid=f"band:{series}", zorder=1)
    (line,) = ax.plot(x_range, [estimate] * 2, color=color, linewidth=0.9, label=label,
                      gid=f"{SIMULATION_KIND}:{series}", zorder=3)
    return line


def curve(ax, x, y, *, series: str, color, low=None, high=None, linestyle="-",
          label: str | None = None, linewidth: float = 1.0):
    """A measured curve (training logs): a line, with a band when ``low``/``high`` are given."""
    if low is not None and high is not None:
        xb, lb, hb = _finite(x, low, high)
        if xb.size > 1:
            ax.fill_between(xb, lb, hb, color=color, alpha=BAND_ALPHA, linewidth=0,
                            gid=f"band:{series}", zorder=1)
    x, y = _finite(x, y)
    (line,) = ax.plot(x, y, linestyle=linestyle, color=color, linewidth=linewidth,
                      label=label, gid=f"curve:{series}", zorder=2)
    return line


def mark_vertical(ax, x: float, *, series: str, label: str | None = None, color="0.25"):
    """A dashed vertical marker (a recommended value, a bound's crossing)."""
    return ax.axvline(x, color=color, linestyle="--", linewidth=0.8, label=label,
                      gid=f"marker:{series}", zorder=0)


def legend(ax, *, kinds: bool = False, target=None, theory: str = "closed form",
           simulation: str = "simulation, 95% CI", **kwargs):
    """A legend of the labelled artists on ``ax`` (on ``target``, an axis or figure, if given).

    With ``kinds``, two entries first explain the kinds: a grey line for the closed form
    and a grey point with a band for the simulation.
    """

    handles, labels = ax.get_legend_handles_labels()
    if kinds:
        handles = [Line2D([], [], color="0.35", linestyle="-"),
                   (Patch(color="0.35", alpha=BAND_ALPHA, linewidth=0),
                    Line2D([], [], color="0.35", linestyle="none", marker="o",
                           markeredgecolor="white", markeredgewidth=0.4))] + handles
        labels = [theory, simulation] + labels
    if not handles:
        return None
    return (target or ax).legend(handles, labels, handler_map={tuple: HandlerTuple(ndivide=1)},
                                 **kwargs)


def series_on(ax, kind: str) -> list[str]:
    """The series names drawn on ``ax`` as ``kind`` (see the module docstring), in order."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    prefix = kind + ":"
    names = []
    for artist in list(ax.lines) + list(ax.collections):
        gid = artist.get_gid() or ""
        if gid.startswith(prefix) and gid[len(prefix):] not in names:
            names.append(gid[len(prefix):])
    return names


def group_axis(ax) -> None:
    """A base-2 log axis for group sizes, labelled with plain integers (2, 4, 8, ...)."""

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=2, subs=(1.0,), numticks=20))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def panel_title(ax, letter: str, text: str) -> None:
    """``(a) text`` at the top left of a panel, as in the paper."""
    ax.set_title(f"({letter}) {text}", loc="left")


def save(fig, stem: Path | str, *, dpi: int = PNG_DPI) -> list[Path]:
    """Write ``<stem>.png`` (at ``dpi``) and ``<stem>.pdf``; returns both paths. Each file is
    written atomically (:func:`normtheory.durable.atomic_write`: a temporary file in the same
    folder, then ``os.replace``), so an interrupted save leaves the previous figure whole."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    with atomic_write(paths[0], "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi, metadata={"Software": None})
    with atomic_write(paths[1], "wb") as fh:
        fig.savefig(fh, format="pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None})
    return paths
