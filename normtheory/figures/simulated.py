"""Per-layer Monte Carlo arrays (trials x layers) to table rows with confidence intervals.

The simulations come from :mod:`normtheory.montecarlo` (``simulate_mlp``,
``simulate_net``): arrays of shape ``(trials, depth + 1)``, one independent random network
per trial, NaN after a trial overflowed. Every interval is pointwise (one layer or one
setting at a time) at level :data:`LEVEL`, built by :mod:`normtheory.stats` from the
finite trials only; a layer with fewer than two finite trials gets no point.
"""

from __future__ import annotations

import math

import numpy as np

from normtheory.runs import memo
from normtheory.runs.seeds import setting_key, setting_seed
from normtheory.runs.table import interval_row
from normtheory.stats import log_mean_interval, lognormal_mean_interval, mean_interval

LEVEL = 0.95


def mlp(run_seed: int, *, rank_layers=(), **settings):
    """``normtheory.montecarlo.simulate_mlp(**settings)``, seeded from the run seed and the settings.

    The simulation's seed is :func:`normtheory.runs.seeds.setting_seed` of ``run_seed``, the
    engine's name and ``settings`` only, so figures that need the same network family get
    the same simulation, and within one process it is run once (:mod:`normtheory.runs.memo`).
    ``rank_layers`` (the layers whose stable rank the figure reads; none by default) is not
    part of the seed: it chooses which probes are computed, not the networks.
    """
    return memo.mlp(**settings, rank_layers=rank_layers,
                    seed=setting_seed(run_seed, "simulate_mlp", setting_key(settings)))


def net(run_seed: int, **settings):
    """``normtheory.montecarlo.simulate_net(**settings)`` (CNNs, ResNets), seeded like :func:`mlp`."""
    return memo.net(**settings, seed=setting_seed(run_seed, "simulate_net", setting_key(settings)))


def _per_trial(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"values must have shape (trials, layers), got {v.shape}")
    return v


def layer_rows(base: dict, values, *, level: float = LEVEL) -> list[dict]:
    """One row per layer ``l``: the mean over trials of ``values[:, l]`` with a t-interval."""
    v = _per_trial(values)
    rows = []
    for layer in range(v.shape[1]):
        column = v[:, layer]
        column = column[np.isfinite(column)]
        if column.size >= 2:
            rows.append(interval_row(base, layer, mean_interval(column, level)))
    return rows


def _positive(name: str, v: np.ndarray) -> np.ndarray:
    """``v``, or ``ValueError`` if any entry is non-finite or ``<= 0`` (its log is undefined)."""
    bad = ~(np.isfinite(v) & (v > 0))
    if bad.any():
        where = np.argwhere(bad)[:5].tolist()
        raise ValueError(f"{name}: {int(bad.sum())} value(s) non-finite or <= 0 (first at {where}: "
                         f"{v[bad][:5].tolist()}); a log needs positive values, none is dropped "
                         "(for a stable rank minus one use MLPSimulation.srank_excess, not stable_rank - 1)")
    return v


def log_layer_rows(base: dict, values, *, level: float = LEVEL) -> list[dict]:
    """One row per layer: the geometric mean ``exp E[log v]`` of ``values[:, l]``.

    The statistic for almost-sure exponential rates (Lyapunov exponents): the log of a
    product of random matrices concentrates, its expectation is what the rate predicts.
    Every value must be finite and positive (``ValueError`` otherwise): a stable rank minus
    one is ``MLPSimulation.srank_excess``, positive down to about ``1e-28``.
    """
    v = _positive("log_layer_rows", _per_trial(values))
    if v.shape[0] < 2:
        return []
    return [interval_row(base, layer, log_mean_interval(v[:, layer], level)) for layer in range(v.shape[1])]


def gradient_rows(base: dict, grad_sq, *, top_expectation: float, level: float = LEVEL) -> list[dict]:
    """One row per layer ``l``: ``E‖∂ℓ/∂X_l‖² / E‖∂ℓ/∂X_L‖²``.

    The ratio of expectations is what the per-layer growth factors of
    :mod:`normtheory.bounds` multiply up to (docs/settings.md, "gradient growth factor").
    The top gradient is the loss direction ``G`` with i.i.d. N(0, 1) entries, so its
    expectation ``top_expectation`` (the number of entries of ``G``) is known exactly, and
    ``E‖∂ℓ/∂X_l‖²`` is a mean of positive values that grow multiplicatively over the layers:
    Cox's log-normal interval, which stays positive on a log axis (a t-interval on such
    values reaches below zero and leaves gaps in a log-scale band).
    """
    g = _per_trial(grad_sq)
    top_expectation = float(top_expectation)
    if not (math.isfinite(top_expectation) and top_expectation > 0):
        raise ValueError(f"top_expectation must be a finite number > 0, got {top_expectation}")
    rows = []
    for layer in range(g.shape[1]):
        column = g[:, layer]
        column = column[np.isfinite(column)]
        if column.size >= 2:
            rows.append(interval_row(base, layer,
                                     lognormal_mean_interval(_positive("grad_sq", column) / top_expectation,
                                                             level)))
    return rows


def last_layer_row(base: dict, x: float, values, *, level: float = LEVEL) -> list[dict]:
    """A single row at ``x``: the mean over trials of the last layer's value (none if < 2 finite)."""
    v = _per_trial(values)[:, -1]
    v = v[np.isfinite(v)]
    return [interval_row(base, x, mean_interval(v, level))] if v.size >= 2 else []


def total_growth_row(base: dict, x: float, grad_sq, *, top_expectation: float,
                     level: float = LEVEL) -> list[dict]:
    """A single row at ``x``: ``E‖∂ℓ/∂X_0‖² / E‖∂ℓ/∂X_L‖²`` over the whole depth (the
    bottom layer's row of :func:`gradient_rows`)."""
    return [dict(row, x=float(x)) for row in gradient_rows(base, _per_trial(grad_sq)[:, :1],
                                                           top_expectation=top_expectation, level=level)]


def first_divergence(diverged) -> int | None:
    """The first layer where any trial overflowed (``MLPSimulation.diverged``), or None."""
    layers = [int(layer) for _, layer in diverged]
    return min(layers) if layers else None


def fit_line(x, y) -> tuple[float, float]:
    """Least-squares ``(slope, intercept)`` of ``y`` on ``x`` over the finite points."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x[keep], y[keep], 1)
    return float(slope), float(intercept)


def fit_rate(x, y) -> float:
    """Geometric rate ``r`` of ``y ≈ a·r**x`` (least squares on ``log y``; ``ValueError`` if a
    ``y`` is non-finite or ``<= 0``)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    slope, _ = fit_line(x, np.log(_positive("fit_rate", y)))
    return math.exp(slope) if math.isfinite(slope) else math.nan
