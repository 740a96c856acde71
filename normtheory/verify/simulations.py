"""Shared access to the Monte Carlo engines for the claims, and common estimators.

Several settings of a claim often read different layers (or statistics) of one
simulation; :func:`mlp` and :func:`net` run the engines through the one memo of
:mod:`normtheory.runs.memo`, so that the rows of one simulation run it once. Seeds are the runner's setting seeds, computed
without the claim's ``probe_keys`` (see :class:`~normtheory.verify.registry.Claim`), so
that such rows share their seed and hence their simulation.

:func:`measurement` turns probe arrays into a :class:`~normtheory.verify.registry.Measurement`
carrying the first layer where any trial diverged.
"""

from __future__ import annotations

import numpy as np

from normtheory.names import group_options
from normtheory.runs import memo
from normtheory.runs.seeds import derived_seed
from normtheory.stats import mean_interval
from normtheory.verify.registry import Claim, Measurement, Point
from normtheory.verify.stats import SideOfBoundary


def mlp(*, trials: int, seed: int, rank_layers=(), **options):
    """``normtheory.montecarlo.simulate_mlp(trials=, seed=, **options)``, memoized (:mod:`normtheory.runs.memo`).

    The stable rank is computed at ``rank_layers`` only (none unless a claim reads it)."""
    return memo.mlp(trials=trials, seed=seed, rank_layers=rank_layers, **options)


def net(arch: str, norm: str, *, trials: int, seed: int, **options):
    """``normtheory.montecarlo.simulate_net(arch, norm, trials=, seed=, **options)``, memoized."""
    return memo.net(arch=arch, norm=norm, trials=trials, seed=seed, **options)


def mlp_at(s: dict, *, trials: int, seed: int, norm: str | None = None, group_size=None,
           backward: bool = False, rank_layers=()):
    """The theory MLP of a claim setting ``s`` (keys ``norm``, ``branch``, ``width``, ``depth``,
    ``batch``, optional ``group_size``, ``input_corr``), with ``norm``/``group_size``
    overridden where given; the stable rank at ``rank_layers`` only."""
    norm = norm or s["norm"]
    g = group_size if group_size is not None else s.get("group_size")
    return mlp(trials=trials, seed=seed, norm=norm, width=s["width"], depth=s["depth"],
               batch=s["batch"], nonlinearity=s["branch"], input_corr=s.get("input_corr", 0.0),
               backward=backward, rank_layers=rank_layers, **group_options(norm, g))


def group_pairs(pairs, *, branch: str, batch: int, depth: int, trials: int) -> list:
    """Grid points comparing GN group sizes: ``(width, g_small, g_large)`` triples."""
    return [Point({"norm": "groupnorm", "branch": branch, "width": w, "batch": batch, "depth": depth,
                   "g_small": gs, "g_large": gl}, trials) for w, gs, gl in pairs]


#: the interval of a plain mean over networks, in the words of the claims
T_INTERVAL = "mean over independent random networks ± t·s/sqrt(n), n networks"


def group_size_gap(statistic, *, name: str = "difference", backward: bool = False, rank_layers=()):
    """``measure(setting, trials, seed)`` of an ordering over GN group sizes: trial ``t`` of the
    net with ``g_small`` (the setting seed) and of the net with ``g_large`` (the partner seed)
    form a pair, and ``data[name]`` is ``statistic(small) − statistic(large)`` (the
    simulations compute the stable rank at ``rank_layers``)."""
    def measure(s, trials, seed):
        small = mlp_at(s, trials=trials, seed=seed, group_size=s["g_small"], backward=backward,
                       rank_layers=rank_layers)
        large = mlp_at(s, trials=trials, seed=partner_seed(seed), group_size=s["g_large"], backward=backward,
                       rank_layers=rank_layers)
        return paired(small, large, **{name: statistic(small) - statistic(large)})
    return measure


def ordering_claim(*, data: str, pairs_of: str = "group size", **fields) -> Claim:
    """A claim that predicts the sign of a paired difference ``data`` (mean over networks,
    :data:`T_INTERVAL`, judged by :class:`~normtheory.verify.stats.SideOfBoundary` at 0)."""
    return Claim(interval=T_INTERVAL + f" (pairs: trial t of each {pairs_of})", rule=SideOfBoundary(0.0),
                 form="ordering", estimate=trial_mean(data), **fields)


def partner_seed(seed: int) -> int:
    """Seed of the second network of a pair (another group size or normalizer): an
    independent stream, not ``seed + 1`` (whose per-trial seeds overlap the first's)."""
    return derived_seed(seed, "partner")


def paired(a, b, **data) -> Measurement:
    """A Measurement of ``data`` computed from two simulations ``a`` and ``b`` (trial ``t`` of
    each forms a pair), with the first diverged layer and the diverged trials of both."""
    return combined([a, b], **data)


def combined(sims, **data) -> Measurement:
    """A Measurement of ``data`` computed from several simulations (trial ``t`` of each
    together), with the first diverged layer of any and the trials diverged in any."""
    parts = [measurement(sim, **data) for sim in sims]
    layers = [p.diverged_layer for p in parts if p.diverged_layer is not None]
    bad, forward = set(), set()
    for sim in sims:
        bad |= {t for t, _ in sim.diverged}
        forward |= {t for t, _ in sim.diverged} - {t for t, _ in _backward(sim)}
    return Measurement(dict(data), parts[0].trials, min(layers) if layers else None, len(bad),
                       len(bad - forward))


def _backward(sim) -> list:
    """The ``(trial, layer)`` divergences of ``sim`` in the backward pass (engines that
    record them: :class:`normtheory.montecarlo.result.MLPSimulation`)."""
    return list(getattr(sim, "backward_diverged", ()))


def measurement(sim, **data) -> Measurement:
    """Per-trial arrays of ``sim`` as a Measurement, with the first diverged layer (if any)
    and how many trials diverged, in all and in the backward pass only."""
    trials = sim.variance.shape[0]
    layers = [layer for _, layer in sim.diverged]  # every non-finite trial is listed (MLPSimulation)
    return Measurement(dict(data), trials, diverged_layer=min(layers) if layers else None,
                       diverged_trials=len({t for t, _ in sim.diverged}),
                       backward_trials=len({t for t, _ in _backward(sim)}))


def trial_mean(name: str):
    """Estimator: the mean over trials of ``data[name]``, with a t-interval."""
    def estimate(m: Measurement, level: float, setting=None):
        return mean_interval(m.data[name], level)
    return estimate


def layer_fit_slope(values: np.ndarray, layers) -> np.ndarray:
    """Per-trial least-squares slope of ``values[:, layers]`` against the layer index."""
    x = np.asarray(layers, dtype=np.float64)
    y = values[:, layers]
    xc = x - x.mean()
    return (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
