"""Network sizes of the figures at each run size (``tiny``, ``default``, ``full``).

``tiny`` is for tests (seconds, noisy); ``default`` runs every figure on 2 CPU cores in a
few minutes; ``full`` uses widths, depths and trial counts of the order of the paper's
(long; the runner resumes an interrupted run). The rank and gradient figures (2, 4, 5)
share one non-residual theory MLP per size, so that one simulation per group size serves
all three.
"""

from __future__ import annotations

from normtheory.figures.runner import check_size

# Non-residual theory MLP of the rank and gradient figures (claims R1, R2, R4, B1-B3).
THEORY_MLP = {
    "tiny": dict(width=16, depth=6, batch=8, trials=4),
    "default": dict(width=256, depth=50, batch=64, trials=10),
    "full": dict(width=512, depth=100, batch=128, trials=30),
}


def theory_mlp(size: str) -> dict:
    """Width, depth, batch and trials of the shared non-residual theory MLP."""
    return dict(THEORY_MLP[check_size(size)])


def group_sizes(width: int, smallest: int = 2) -> list[int]:
    """Powers of two from ``smallest`` up to ``width`` (the LN end), each dividing ``width``."""
    if width < smallest:
        raise ValueError(f"width must be >= {smallest}, got {width}")
    sizes, g = [], smallest
    while g <= width:
        if width % g == 0:
            sizes.append(g)
        g *= 2
    return sizes
