"""Confidence intervals from independent Monte Carlo trials (public API).

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

Which one fits depends on what a closed form predicts: an expectation of a ratio, a ratio
of expectations and a geometric mean are three different numbers when the fluctuations
are large. :func:`simultaneous_level` gives the per-interval level at which ``m`` intervals
cover together (Bonferroni). The estimators raise ``ValueError`` on a non-finite value
(a trial that failed to compute is never dropped) and on too few values.

Used by ``normtheory verify`` (:mod:`normtheory.verify.stats` adds the verdict rules) and by
the figures, and by anyone estimating from their own simulations::

    >>> from normtheory import stats
    >>> stats.mean_interval([1.0, 2.0, 3.0], 0.95).method
    't'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

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


def check_level(level: float) -> None:
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
    check_level(level)
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
    check_level(level)
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
    check_level(level)
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
    check_level(level)
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
