"""The verdict rules of ``normtheory verify``, on the intervals of :mod:`normtheory.stats`.

A claim states in advance which estimator of :mod:`normtheory.stats` it uses and what its
closed form predicts (an expectation of a ratio, a ratio of expectations, or a geometric
mean are three different numbers when the fluctuations are large).

**Verdicts** (equivalence testing). Each claim states in advance its precision ``δ``
(:class:`Precision`: relative to the closed form, or absolute), which defines the band
``theory ± δ``. With the interval of the statistic:

- **agree**: the interval lies inside the band;
- **disagree**: the interval lies entirely outside the band (the gap, in units of ``δ``,
  is reported);
- **undecided**: neither (the interval is too wide to tell): more trials are run;
- **error**: a trial failed to compute (a non-finite value that no recorded divergence
  explains) or overflowed: the statistic is not defined.

"Theory inside a wide interval" is undecided, not agreement; a closed form moved by
``2δ`` comes out as disagree once the interval is narrower than ``δ``. Claims that
predict an ordering or a regime (:class:`SideOfBoundary`) and lower bounds
(:class:`BoundHolds`) use the same four verdicts with their own bands.

**Simultaneous level.** Intervals are computed at the level ``1 − α/(m·K)``
(:func:`normtheory.stats.simultaneous_level`): ``m`` is the number of settings of the whole run (every
claim of the mode together), ``K`` the number of looks at the data the adaptive schedule
may take (:mod:`normtheory.verify.runner`). By Bonferroni's inequality all ``m·K``
intervals cover their true values together with probability at least ``1 − α``
(``α = 0.05``), whatever the stopping rule: a correct closed form is called disagree
anywhere in the run with probability at most 5%.

**Computed theories.** Where no closed form exists, a claim's theory may be an exact
computation that is itself a Monte Carlo estimate (:class:`ComputedTheory`, resolved to an
:class:`Interval` at the run's level by :func:`computed_interval`, from its own seed). Its
intervals join the family: a run whose claims hold ``m_c`` such settings, each allowed
``K_t`` theory looks, computes every interval at ``1 − α/(m·K + m_c·K_t)``
(``extra = m_c·K_t`` in :func:`simultaneous_level`), so that all estimate and theory
intervals cover together with probability at least ``1 − α``. The rule
(:meth:`Equivalence.verdict`) then asks for agreement with every theory value in its
interval, and for disagreement with none:

- **agree**: the estimate's interval lies inside ``[theory_high − δ, theory_low + δ]``, and
  the theory's half-width is below :data:`THEORY_RESOLUTION`·δ (a theory that could not be
  computed that precisely never agrees: the setting is undecided, unless it disagrees);
- **disagree**: the estimate's interval lies entirely outside ``[theory_low − δ, theory_high + δ]``;
- **undecided**: otherwise.

``δ`` is taken at the theory's point estimate. With a float theory the rule is exactly the
one above (a float is an interval of width 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from normtheory.stats import Interval, check_level

AGREE = "agree"
DISAGREE = "disagree"
UNDECIDED = "undecided"
ERROR = "error"
VERDICTS = (AGREE, DISAGREE, UNDECIDED, ERROR)
#: a claim's verdict is the first of these that any of its settings has
PRECEDENCE = (ERROR, DISAGREE, UNDECIDED, AGREE)


@dataclass(frozen=True)
class Precision:
    """The precision ``δ`` a claim is checked to: ``theory ± δ·|theory|`` (``relative``) or
    ``theory ± δ`` (absolute)."""

    delta: float
    relative: bool = True

    def __post_init__(self):
        if not (math.isfinite(self.delta) and self.delta > 0):
            raise ValueError(f"precision delta must be a finite number > 0, got {self.delta}")
        if self.relative and self.delta >= 0.5:
            raise ValueError(f"a relative precision must be below 0.5, got {self.delta}")

    def width(self, theory: float) -> float:
        """``δ`` in the units of the statistic, at this value of the closed form."""
        if self.relative:
            if theory == 0.0:
                raise ValueError("a relative precision needs a non-zero closed form")
            return self.delta * abs(theory)
        return self.delta

    def moved(self, theory, steps: float):
        """The closed form moved by ``steps·δ`` (the power check moves it by ``±2δ``): a float,
        an :class:`Interval` (both ends and the estimate, by ``δ`` at the estimate) or a
        :class:`ComputedTheory` (its interval, once computed)."""
        if isinstance(theory, ComputedTheory):
            return ComputedTheory(lambda level: self.moved(theory.interval(level), steps))
        if isinstance(theory, Interval):
            shift = steps * self.width(theory.estimate)
            return Interval(theory.estimate + shift, theory.low + shift, theory.high + shift, theory.n,
                            theory.level, theory.method)
        return theory + steps * self.width(theory)

    @property
    def text(self) -> str:
        return f"{self.delta:g} relative" if self.relative else f"{self.delta:g} absolute"


@dataclass(frozen=True)
class Judgement:
    """A setting's verdict, why, and the gap ``(estimate − theory)/δ`` (NaN without a δ)."""

    verdict: str
    reason: str = ""
    gap: float = math.nan


def _band_verdict(low: float, high: float, interval: Interval, what: str) -> tuple[str, str]:
    if low <= interval.low and interval.high <= high:
        return AGREE, ""
    if interval.high < low or interval.low > high:
        return DISAGREE, f"interval outside {what}"
    return UNDECIDED, f"interval overlaps the edge of {what}"


#: a computed theory decides only when its interval's half-width is below this fraction of δ
THEORY_RESOLUTION = 0.25


@dataclass(frozen=True)
class ComputedTheory:
    """A theory that is a Monte Carlo computation (no closed form): ``compute(level)`` returns
    its :class:`Interval` at ``level``, the run's simultaneous level (see the module
    docstring). The computation is the claim's, reproducible from its own seed."""

    compute: Callable[[float], Interval]

    def interval(self, level: float) -> Interval:
        check_level(level)
        out = self.compute(level)
        if not isinstance(out, Interval):
            raise TypeError(f"a computed theory must return an Interval, got {type(out).__name__}")
        return out


def computed_interval(draw, estimator, level: float, precision: Precision, first: int, looks: int) -> Interval:
    """The interval of a computed theory, by adaptive doubling.

    ``draw(n)`` returns the first ``n`` replicate values of the computation (a reproducible
    stream: the first ``n`` of ``2n`` are those of ``n``), ``estimator(values, level)`` their
    :class:`Interval`. Looks at ``first, 2·first, …`` replicates, at most ``looks`` of them,
    stopping at the first whose half-width is below :data:`THEORY_RESOLUTION` times ``δ``
    (at its estimate); past the cap the last interval is returned (the rule then keeps the
    setting undecided). Every look is an interval of the family (count ``looks``).
    """
    check_level(level)
    if first < 2:
        raise ValueError(f"first must be >= 2 replicates, got {first}")
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    n = first
    for _ in range(looks):
        out = estimator(draw(n), level)
        if out.half_width < THEORY_RESOLUTION * precision.width(out.estimate):
            break
        n *= 2
    return out


@dataclass(frozen=True)
class Equivalence:
    """Agree when the interval lies inside ``theory ± δ``, disagree when entirely outside; for
    a theory :class:`Interval`, the rule of the module docstring."""

    precision: Precision

    @property
    def text(self) -> str:
        return (f"agree when the interval lies inside theory ± δ (δ = {self.precision.text}), "
                f"disagree when it lies entirely outside, else undecided; a computed theory (an "
                f"interval): agree with every value in it, its half-width below {THEORY_RESOLUTION:g}·δ; "
                f"disagree with every value in it")

    def verdict(self, theory, interval: Interval) -> Judgement:
        if not isinstance(theory, Interval):
            w = self.precision.width(theory)
            verdict, reason = _band_verdict(theory - w, theory + w, interval, "theory ± δ")
            return Judgement(verdict, reason, (interval.estimate - theory) / w)
        w = self.precision.width(theory.estimate)
        gap = (interval.estimate - theory.estimate) / w
        if interval.high < theory.low - w or interval.low > theory.high + w:
            return Judgement(DISAGREE, "interval outside [theory_low − δ, theory_high + δ]", gap)
        if theory.half_width >= THEORY_RESOLUTION * w:
            return Judgement(UNDECIDED, f"theory interval half-width {theory.half_width:.3g} is not below "
                                        f"δ·{THEORY_RESOLUTION:g} after {theory.n} replicates", gap)
        if theory.high - w <= interval.low and interval.high <= theory.low + w:
            return Judgement(AGREE, "", gap)
        return Judgement(UNDECIDED, "interval overlaps the edge of [theory_high − δ, theory_low + δ]", gap)


@dataclass(frozen=True)
class BoundHolds:
    """A lower bound: holds (interval above it) and is not vacuous.

    Not vacuous means the bound reaches at least ``min_fraction`` of the measured value and
    exceeds ``floor`` (a bound of 1 on a stable rank says nothing). Agree: the interval
    lies above the bound and ``bound ≥ min_fraction·high``; disagree: the interval lies
    below the bound, or the bound is at most ``floor``, or ``bound < min_fraction·low``;
    otherwise undecided.
    """

    min_fraction: float
    floor: float = 1.0

    def __post_init__(self):
        if not 0.0 < self.min_fraction <= 1.0:
            raise ValueError(f"min_fraction must lie in (0, 1], got {self.min_fraction}")

    @property
    def text(self) -> str:
        return (f"agree when the lower bound holds (the whole interval lies above it) and is not "
                f"vacuous (bound > {self.floor:g} and >= {self.min_fraction:g} x the interval's "
                f"upper end); disagree when the interval lies below the bound or the bound is "
                f"vacuous for the whole interval; else undecided")

    def verdict(self, theory: float, interval: Interval) -> Judgement:
        if interval.high < theory:
            return Judgement(DISAGREE, "bound violated")
        if theory <= self.floor:
            return Judgement(DISAGREE, f"vacuous: bound <= {self.floor:g}")
        if theory < self.min_fraction * interval.low:
            return Judgement(DISAGREE, f"vacuous: bound < {self.min_fraction:g} x measurement")
        if interval.low >= theory and theory >= self.min_fraction * interval.high:
            return Judgement(AGREE)
        return Judgement(UNDECIDED, "interval reaches the bound or the vacuity line")


@dataclass(frozen=True)
class SideOfBoundary:
    """For claims that predict an ordering or a regime, not a value.

    ``boundary`` separates the predicted side from the other (0 for an ordering; for
    linear against geometric growth, the geometric midpoint of the two regimes'
    predictions). Agree when the whole interval lies on the closed form's side, disagree
    when it lies entirely on the other side, undecided when it contains the boundary.
    """

    boundary: float

    @property
    def text(self) -> str:
        return (f"agree when the whole interval lies on the same side of {self.boundary:g} as the "
                f"closed form, disagree when it lies on the other side, else undecided")

    def verdict(self, theory: float, interval: Interval) -> Judgement:
        if theory == self.boundary:
            raise ValueError(f"the closed form {theory} lies on the boundary {self.boundary}")
        above = theory > self.boundary
        if interval.low <= self.boundary <= interval.high:
            return Judgement(UNDECIDED, f"interval contains {self.boundary:g}")
        if (interval.low > self.boundary) == above:
            return Judgement(AGREE)
        return Judgement(DISAGREE, f"other side of {self.boundary:g}")


def combine_verdicts(verdicts) -> str:
    """A claim's (or a run's) verdict: error beats disagree beats undecided beats agree."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("a claim needs at least one setting to have a verdict")
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"unknown verdict {v!r}; expected one of {VERDICTS}")
    return next(v for v in PRECEDENCE if v in verdicts)
