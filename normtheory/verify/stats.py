"""Confidence intervals from independent Monte Carlo trials, and the pass rules.

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

A claim states in advance which of these it uses and what its closed form predicts (an
expectation of a ratio, a ratio of expectations, or a geometric mean are three different
numbers when the fluctuations are large).

**Simultaneous level.** A claim is checked on a grid of ``m`` settings. If each setting's
interval had level 95%, a correct closed form would fail somewhere on a grid of 40
settings with probability ``1 − 0.95**40 ≈ 87%``. :func:`simultaneous_level` therefore
gives each of the ``m`` intervals the level ``1 − 0.05/m`` (Bonferroni), so that all ``m``
intervals cover their true values together with probability at least 95%: a correct claim
fails with probability at most 5%, a wrong one is caught when its error exceeds the
interval width.

The pass rules (:class:`InsideInterval`, :class:`BoundHolds`, :class:`SideOfBoundary`) are objects with a
``text`` stating the rule and a ``verdict(theory, interval)`` method returning
``(verdict, reason)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

PASS = "pass"
FAIL = "fail"
DIVERGED = "diverged"
VERDICTS = (PASS, FAIL, DIVERGED)

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


def simultaneous_level(settings: int, familywise: float = FAMILYWISE_LEVEL) -> float:
    """Per-setting level ``1 − (1 − familywise)/settings`` (Bonferroni) for a grid."""
    if settings < 1:
        raise ValueError(f"settings must be >= 1, got {settings}")
    if not 0.0 < familywise < 1.0:
        raise ValueError(f"familywise level must lie in (0, 1), got {familywise}")
    return 1.0 - (1.0 - familywise) / settings


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
        raise ValueError(f"{name} contains non-finite values; remove diverged trials first")
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


@dataclass(frozen=True)
class InsideInterval:
    """Pass when the closed form lies inside the interval (the default rule)."""

    @property
    def text(self) -> str:
        return ("pass when the closed form lies inside the confidence interval at every "
                "setting (intervals at a simultaneous 95% level over the grid)")

    def verdict(self, theory: float, interval: Interval) -> tuple[str, str]:
        if interval.low <= theory <= interval.high:
            return PASS, ""
        side = "below" if theory < interval.low else "above"
        return FAIL, f"theory {side} the interval"


@dataclass(frozen=True)
class BoundHolds:
    """A lower bound: holds (CI low end ≥ bound) and is not vacuous.

    Not vacuous means the bound reaches at least ``min_fraction`` of the measured mean
    and exceeds ``floor`` (a bound of 1 on a stable rank says nothing).
    """

    min_fraction: float
    floor: float = 1.0

    def __post_init__(self):
        if not 0.0 < self.min_fraction <= 1.0:
            raise ValueError(f"min_fraction must lie in (0, 1], got {self.min_fraction}")

    @property
    def text(self) -> str:
        return (f"pass when the lower bound holds at every setting (lower end of the "
                f"interval >= bound) and is not vacuous (bound > {self.floor:g} and bound "
                f">= {self.min_fraction:g} x the measured mean)")

    def verdict(self, theory: float, interval: Interval) -> tuple[str, str]:
        if interval.low < theory:
            return FAIL, "bound violated"
        if theory <= self.floor:
            return FAIL, f"vacuous: bound <= {self.floor:g}"
        if theory < self.min_fraction * interval.estimate:
            return FAIL, f"vacuous: bound < {self.min_fraction:g} x measurement"
        return PASS, ""


@dataclass(frozen=True)
class SideOfBoundary:
    """For asymptotic claims that separate two regimes: a dichotomy, not a value.

    ``boundary`` lies between the two regimes' predictions (for linear against geometric
    growth, their geometric midpoint). Pass when the whole interval lies on the same side
    of ``boundary`` as the closed form: the simulation is told apart from the other
    regime, and not merely undecided.
    """

    boundary: float

    @property
    def text(self) -> str:
        return (f"pass when the whole interval lies on the same side of {self.boundary:g} as "
                f"the closed form (the regime is identified; the value is only asymptotic)")

    def verdict(self, theory: float, interval: Interval) -> tuple[str, str]:
        if theory == self.boundary:
            raise ValueError(f"the closed form {theory} lies on the boundary {self.boundary}")
        if theory < self.boundary and interval.high < self.boundary:
            return PASS, ""
        if theory > self.boundary and interval.low > self.boundary:
            return PASS, ""
        if interval.low <= self.boundary <= interval.high:
            return FAIL, f"undecided: interval contains {self.boundary:g}"
        return FAIL, f"other regime: interval on the far side of {self.boundary:g}"


def combine_verdicts(verdicts) -> str:
    """A claim's verdict from its settings': fail beats diverged beats pass."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("a claim needs at least one setting to have a verdict")
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"unknown verdict {v!r}; expected one of {VERDICTS}")
    if FAIL in verdicts:
        return FAIL
    if DIVERGED in verdicts:
        return DIVERGED
    return PASS
