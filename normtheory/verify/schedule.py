"""The adaptive schedule of looks, fixed in advance, and the run's simultaneous level.

Up to :data:`LOOKS` looks at a setting, at cumulative trial counts ``n0, 2·n0, 4·n0`` (``n0``
the grid's count). Look ``k ≥ 1`` adds independent trials from the seed
:func:`~normtheory.runs.seeds.derived_seed` ``(setting seed, "look k")``, so the first ``n0``
trials are those of a single-look run and every look is reproducible. The level of every
interval is split over all settings of the run and all their looks, and over the intervals
of computed theories (Bonferroni, :func:`normtheory.stats.simultaneous_level`), so the
run's family-wise error rate stays at most 5% however many looks a setting takes.
"""

from __future__ import annotations

from typing import Sequence

from normtheory.runs.seeds import derived_seed, setting_seed
from normtheory.stats import simultaneous_level
from normtheory.verify.registry import Claim, Point, registered

#: looks of the adaptive schedule: cumulative trials n0, 2·n0, 4·n0
LOOKS = 3


def look_plan(first: int, looks: int = LOOKS) -> list[int]:
    """New trials at each look: ``first`` then as many as all earlier looks together."""
    return [first] + [first * 2 ** (k - 1) for k in range(1, looks)]


def point_seed(seed: int, claim: Claim, point: Point) -> int:
    """The seed of a setting in the run with seed ``seed`` (settings that differ only in the
    claim's ``probe_keys`` share it, hence their simulation)."""
    return setting_seed(seed, claim.id, claim.seed_key(point))


def look_seed(s_seed: int, look: int) -> int:
    """Seed of a look: the setting seed for the first, a derived independent stream after."""
    return s_seed if look == 0 else derived_seed(s_seed, f"look {look}")


def _everything(claims: Sequence[Claim]) -> list[Claim]:
    everything = {c.id: c for c in registered()}
    everything.update({c.id: c for c in claims})
    return list(everything.values())


def count_tests(claims: Sequence[Claim], mode: str) -> int:
    """Settings of the whole run: every registered claim and every claim given, in ``mode``."""
    return sum(len(c.points(mode)) for c in _everything(claims))


def count_theory_intervals(claims: Sequence[Claim], mode: str) -> int:
    """Intervals of computed theories in the whole run (as :func:`count_tests`): each setting
    of a claim with ``theory_looks`` takes up to that many."""
    return sum(len(c.points(mode)) * c.theory_looks for c in _everything(claims))


def run_level(claims: Sequence[Claim], mode: str, looks: int, tests: int | None = None) -> float:
    """The level of every interval of the run. ``tests`` is the number of settings it covers
    (default :func:`count_tests`, with the intervals of computed theories,
    :func:`count_theory_intervals`, added; with ``tests`` given, those of the claims given)."""
    if tests is None:
        return simultaneous_level(count_tests(claims, mode), looks, extra=count_theory_intervals(claims, mode))
    return simultaneous_level(tests, looks, extra=sum(len(c.points(mode)) * c.theory_looks for c in claims))
