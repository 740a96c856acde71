"""The paper's figures, regenerated from theory (lines) and simulation (points with bands).

One module per figure, each with ``compute(size="tiny"|"default"|"full", seed=0) -> rows``
(a tidy table, :mod:`normtheory.runs.table`), ``plot(rows) -> matplotlib Figure``,
``CAPTION``, ``CLAIMS`` and ``summary(rows)``; :mod:`normtheory.figures.runner` writes a
figure's CSV, PNG, PDF and caption; :mod:`normtheory.figures.style` holds the one style;
``normtheory figures`` (:mod:`normtheory.figures.cli`) runs them all.

>>> from normtheory.figures import load
>>> fig6 = load("training_curves")
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

# Figure name -> what it shows, in the order of the paper's figures 1-6.
FIGURES: dict[str, str] = {
    "variance_depth": "activation variance vs depth in residual nets (F1-F4)",
    "rank_group_size": "stable rank and cosine similarity vs group size (R1, R2, R4)",
    "rank_collapse": "rank collapse with depth for LN and unnormalized nets (R3)",
    "gradient_layers": "gradient norm vs layer for several group sizes (B1, B3)",
    "speed_stability": "speed-stability trade-off over the group size (B2)",
    "training_curves": "training curves in the layout of the paper's Figure 1 (T1)",
}

# Figures drawn from training logs (``--runs DIR``) rather than simulated.
FROM_TRAINING_LOGS = ("training_curves",)


def check_name(name: str) -> str:
    """The figure name, or ValueError naming the closest figure names."""
    if name in FIGURES:
        return name
    close = difflib.get_close_matches(name, list(FIGURES), n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown figure {name!r}{hint} (figures: {', '.join(FIGURES)})")


def load(name: str) -> ModuleType:
    """The module of one figure."""
    return importlib.import_module(f"normtheory.figures.{check_name(name)}")
