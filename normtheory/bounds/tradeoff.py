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

from normtheory.bounds.validate import check_name, positive, positive_int
from normtheory.bounds.gradients import gradient_growth_per_layer, min_stat_count
from normtheory.bounds.rank import rank_lower_bound


def speed_stability(norm: str = "groupnorm", *, width: int, depth: int, group_sizes, spatial: int = 1) -> list[dict]:
    """One row per group size: rank bound, per-layer and total gradient growth."""
    if check_name(norm) != "groupnorm":
        raise ValueError("speed_stability is stated for groupnorm")
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
                     "growth_per_layer": per_layer, "total_growth": per_layer ** depth})
    return rows


def recommend_group_size(*, width: int, depth: int, spatial: int = 1, max_growth: float = 10.0) -> int:
    """The smallest divisor ``g`` of ``width`` with total gradient growth ``<= max_growth``."""
    positive(max_growth, "max_growth")
    width = positive_int(width, "width")
    divisors = [g for g in range(1, width + 1) if width % g == 0]
    for row in speed_stability(width=width, depth=depth, group_sizes=divisors, spatial=spatial):
        if row["total_growth"] <= max_growth:
            return row["group_size"]
    return width
