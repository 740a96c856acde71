"""Claim B2: the speed-stability trade-off of GroupNorm's group size.

Smaller groups keep a larger stable rank (R2: ``c · sqrt(d/g)``, more informative
representations, faster training) but grow gradients faster going backward (B1:
``(n − 2)/(n − 3)`` per layer with ``n = g · spatial``). :func:`speed_stability` tabulates
both over ``g``; :func:`recommend_group_size` applies the rule: **the smallest group size
whose total gradient growth over the network's depth stays at most ``max_growth``**
(default 10, one order of magnitude), i.e. the most informative forward pass whose
backward pass is still stable.
"""

from __future__ import annotations

import numpy as np

from normtheory.bounds.validate import positive, positive_int
from normtheory.bounds.gradients import gradient_growth_per_layer, min_stat_count
from normtheory.bounds.rank import rank_lower_bound


def _power(base: float, exponent: int) -> float:
    """``base ** exponent``, ``inf`` past the float range (a Python float raises there)."""
    with np.errstate(over="ignore"):
        return float(np.float64(base) ** exponent)


def speed_stability(*, width: int, depth: int, group_sizes, spatial: int = 1) -> list[dict]:
    """One row per group size of groupnorm (claim B2): ``group_size``, ``rank_bound``
    (:func:`normtheory.bounds.rank_lower_bound`), ``growth_per_layer``
    (:func:`normtheory.bounds.gradient_growth_per_layer`, ``inf`` where its expectation is
    infinite) and ``total_growth`` (to the power ``depth``). A table (a list of dicts), not
    vectorized; ``group_sizes`` is the list of group sizes, each a divisor of ``width``."""
    width = positive_int(width, "width")
    depth = positive_int(depth, "depth")
    rows = []
    for g in group_sizes:
        g = positive_int(g, "group_sizes")
        if width % g:
            raise ValueError(f"group size {g} in group_sizes does not divide width={width}")
        finite = g * spatial >= min_stat_count(True)
        per_layer = gradient_growth_per_layer("groupnorm", width=width, group_size=g, spatial=spatial) \
            if finite else float("inf")
        rows.append({"group_size": g, "rank_bound": rank_lower_bound("groupnorm", width=width, group_size=g),
                     "growth_per_layer": per_layer, "total_growth": _power(per_layer, depth)})
    return rows


def recommend_group_size(*, width: int, depth: int, spatial: int = 1, max_growth: float = 10.0) -> int:
    """The smallest divisor ``g`` of ``width`` whose groupnorm has total gradient growth
    ``<= max_growth`` over ``depth`` layers (the rule of the module docstring), an ``int``.
    ``ValueError`` naming the best group size and its growth when none meets ``max_growth``."""
    max_growth = positive(max_growth, "max_growth")
    width = positive_int(width, "width")
    divisors = [g for g in range(1, width + 1) if width % g == 0]
    rows = speed_stability(width=width, depth=depth, group_sizes=divisors, spatial=spatial)
    for row in rows:
        if row["total_growth"] <= max_growth:
            return row["group_size"]
    best = min(rows, key=lambda row: row["total_growth"])
    raise ValueError(f"no group size of width={width} keeps the total gradient growth over depth={depth} within "
                     f"max_growth={max_growth:g}: the best, group_size={best['group_size']}, grows "
                     f"{best['total_growth']:.3g}; use a wider net, a shallower one or a larger max_growth")
