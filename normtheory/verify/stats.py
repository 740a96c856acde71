"""Confidence intervals from independent Monte Carlo trials, and the verdict rules.

Every interval here is two-sided at a stated ``level`` and is computed from independent
observations only (one per random network, or one per batch of networks):

- :func:`mean_interval` -- the plain mean of i.i.d. values, ``mean ± t·s/sqrt(n)`` with
  ``n − 1`` degrees of freedom (Student t).
- :func:`ratio_interval` -- a ratio of expectations ``E[a] / E[b]`` from i.i.d. pairs
  ``(a_i, b_i)``, by the delta method: the ratio of means, with standard error
  ``sqrt(Var(a − R·b) / n) / mean(b)`` and ``n − 1`` degrees of freedom.
- :func:`batch_means_interval` -- any statistic of a block of trials (for example a ratio
  estimator that is biased for small samples), computed on ``k`` disjoint batches of
  trials; the ``k`` batch values are i.i.d., so a t-interval with ``k − 1`` degrees of
  freedom applies to their mean.
- :func:`log_mean_interval` -- the geometric mean ``exp E[log v]`` of positive values: a
  t-interval for the mean of ``log v``, mapped through ``exp``.
- :func:`lognormal_mean_interval` -- the mean ``E[v]`` of a positive quantity that grows
  multiplicatively (a product of many independent per-layer factors, so ``log v`` is close
  to Gaussian): Cox's interval ``exp(m + s²/2 ± t·sqrt(s²/n + s⁴/(2(n−1))))`` on the log
  scale. A raw t-interval on such values is dominated by a few huge trials and its
  coverage is far below its level.

A claim states in advance which of these it uses and what its closed form predicts (an
expectation of a ratio, a ratio of expectations, or a geometric mean are three different
numbers when the fluctuations are large).

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
(:func:`simultaneous_level`): ``m`` is the number of settings of the whole run (every
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

import numpy as np
from scipy import stats as _scipy_stats

AGREE = "agree"
DISAGREE = "disagree"
UNDECIDED = "undecided"
ERROR = "error"
VERDICTS = (AGREE, DISAGREE, UNDECIDED, ERROR)
#: a claim's verdict is the first of these that any of its settings has
PRECEDENCE = (ERROR, DISAGREE, UNDECIDED, AGREE)

FAMILYWISE_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval.

    ``n`` is the number of independent observations the interval rests on (trials, or
    batches of trials for batch means); ``level`` its coverage; ``method`` names the
    construction (``"t"``, ``"delta"``, ``"batch-means"``, ``"log-t"``).
    """

    estimate: float
    low: float
    high: float
    n: int
    level: float
    method: str

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)


def simultaneous_level(settings: int, looks: int = 1, familywise: float = FAMILYWISE_LEVEL,
                       extra: int = 0) -> float:
    """Per-interval level ``1 − (1 − familywise)/(settings·looks + extra)`` (Bonferroni) for a
    run of ``settings`` settings, each looked at up to ``looks`` times, and ``extra`` further
    intervals (those of computed theories: settings times their theory looks)."""
    if settings < 1:
        raise ValueError(f"settings must be >= 1, got {settings}")
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    if isinstance(extra, bool) or not isinstance(extra, (int, np.integer)) or extra < 0:
        raise ValueError(f"extra must be an integer >= 0, got {extra!r}")
    if not 0.0 < familywise < 1.0:
        raise ValueError(f"familywise level must lie in (0, 1), got {familywise}")
    return 1.0 - (1.0 - familywise) / (settings * looks + extra)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _finite_1d(values, name: str, minimum: int = 2) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {v.shape}")
    if v.size < minimum:
        raise ValueError(f"{name} needs at least {minimum} independent values, got {v.size}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains non-finite values: a trial failed to compute")
    return v


def _t_quantile(level: float, dof: int) -> float:
    return float(_scipy_stats.t.ppf(0.5 + 0.5 * level, dof))


def mean_interval(values, level: float = 0.95) -> Interval:
    """Student-t interval for the mean of i.i.d. values: ``mean ± t·s/sqrt(n)``."""
    _check_level(level)
    v = _finite_1d(values, "values")
    n = v.size
    mean = float(v.mean())
    half = _t_quantile(level, n - 1) * float(v.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, level, "t")


def ratio_interval(numerators, denominators, level: float = 0.95) -> Interval:
    """Delta-method interval for ``E[a] / E[b]`` from i.i.d. pairs ``(a_i, b_i)``.

    Estimate ``R = mean(a)/mean(b)``; standard error ``sd(a − R·b)/(sqrt(n)·|mean(b)|)``
    (first-order expansion of the ratio about the means); t with ``n − 1`` degrees of
    freedom.
    """
    _check_level(level)
    a = _finite_1d(numerators, "numerators")
    b = _finite_1d(denominators, "denominators")
    if a.shape != b.shape:
        raise ValueError(f"numerators {a.shape} and denominators {b.shape} must pair up")
    n = a.size
    mean_b = float(b.mean())
    if mean_b == 0.0:
        raise ValueError("denominators have mean 0: the ratio of expectations is undefined")
    ratio = float(a.mean()) / mean_b
    se = float(np.std(a - ratio * b, ddof=1)) / (math.sqrt(n) * abs(mean_b))
    half = _t_quantile(level, n - 1) * se
    return Interval(ratio, ratio - half, ratio + half, n, level, "delta")


def batch_means_interval(values, statistic, batches: int, level: float = 0.95) -> Interval:
    """t-interval over ``batches`` disjoint, equal batches of trials.

    ``values`` has one leading entry per trial (any trailing shape); ``statistic`` maps a
    batch (a slice of ``values``) to a number. Trials beyond ``batches * (n // batches)``
    are not used, so that every batch has the same size.
    """
    _check_level(level)
    v = np.asarray(values, dtype=np.float64)
    if batches < 2:
        raise ValueError(f"batches must be >= 2, got {batches}")
    size = v.shape[0] // batches
    if size < 1:
        raise ValueError(f"{v.shape[0]} trials cannot fill {batches} batches")
    per_batch = np.array([statistic(v[k * size:(k + 1) * size]) for k in range(batches)])
    inner = mean_interval(per_batch, level)
    return Interval(inner.estimate, inner.low, inner.high, batches, level, "batch-means")


def log_mean_interval(values, level: float = 0.95) -> Interval:
    """Interval for the geometric mean ``exp E[log v]`` of positive i.i.d. values."""
    v = _finite_1d(values, "values")
    if np.any(v <= 0.0):
        raise ValueError("values must be positive for a geometric mean")
    inner = mean_interval(np.log(v), level)
    return Interval(math.exp(inner.estimate), math.exp(inner.low), math.exp(inner.high),
                    inner.n, level, "log-t")




def lognormal_mean_interval(values, level: float = 0.95) -> Interval:
    """Cox's interval for the mean ``E[v]`` of positive values whose logarithm is close to
    Gaussian (multiplicative growth): ``exp(m + s²/2 ± t·sqrt(s²/n + s⁴/(2(n−1))))`` with
    ``m``, ``s²`` the mean and variance of ``log v`` (Land 1972; Zhou and Gao 1997)."""
    _check_level(level)
    v = _finite_1d(values, "values")
    if np.any(v <= 0.0):
        raise ValueError("values must be positive for a log-normal mean")
    y = np.log(v)
    n = y.size
    m, s2 = float(y.mean()), float(y.var(ddof=1))
    centre = m + 0.5 * s2
    half = _t_quantile(level, n - 1) * math.sqrt(s2 / n + s2 * s2 / (2.0 * (n - 1)))
    return Interval(math.exp(centre), math.exp(centre - half), math.exp(centre + half), n, level,
                    "log-normal")


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
        _check_level(level)
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
    _check_level(level)
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
