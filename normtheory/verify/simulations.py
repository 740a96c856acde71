"""Shared access to the Monte Carlo engines for the claims, and common estimators.

Several settings of a claim often read different layers (or statistics) of one
simulation; :func:`mlp` and :func:`net` keep the last simulations in memory so that the
rows of one simulation run it once. Seeds are the runner's setting seeds, computed
without the claim's ``probe_keys`` (see :class:`~normtheory.verify.registry.Claim`), so
that such rows share their seed and hence their simulation.

:func:`measurement` turns probe arrays into a :class:`~normtheory.verify.registry.Measurement`
carrying the first layer where any trial diverged.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from normtheory.verify.registry import Measurement, derived_seed
from normtheory.verify.stats import mean_interval


def _freeze(options: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))


@lru_cache(maxsize=16)
def _mlp(frozen: tuple, trials: int, seed: int):
    from normtheory.montecarlo import simulate_mlp

    return simulate_mlp(trials=trials, seed=seed, **dict(frozen))


@lru_cache(maxsize=16)
def _net(arch: str, norm: str, frozen: tuple, trials: int, seed: int):
    from normtheory.montecarlo import simulate_net

    return simulate_net(arch, norm, trials=trials, seed=seed, **dict(frozen))


def mlp(*, trials: int, seed: int, **options):
    """``normtheory.montecarlo.simulate_mlp(trials=, seed=, **options)``, memoized."""
    return _mlp(_freeze(options), trials, seed)


def net(arch: str, norm: str, *, trials: int, seed: int, **options):
    """``normtheory.montecarlo.simulate_net(arch, norm, trials=, seed=, **options)``, memoized."""
    return _net(arch, norm, _freeze(options), trials, seed)


def mlp_at(s: dict, *, trials: int, seed: int, norm: str | None = None, group_size=None,
           backward: bool = False):
    """The theory MLP of a claim setting ``s`` (keys ``norm``, ``branch``, ``width``, ``depth``,
    ``batch``, optional ``group_size``, ``input_corr``), with ``norm``/``group_size``
    overridden where given."""
    norm = norm or s["norm"]
    g = group_size if group_size is not None else s.get("group_size")
    return mlp(trials=trials, seed=seed, norm=norm, width=s["width"], depth=s["depth"],
               batch=s["batch"], nonlinearity=s["branch"], input_corr=s.get("input_corr", 0.0),
               backward=backward, **group_options(norm, g))


def group_pairs(pairs, *, branch: str, batch: int, depth: int, trials: int) -> list:
    """Grid points comparing GN group sizes: ``(width, g_small, g_large)`` triples."""
    from normtheory.verify.registry import Point

    return [Point({"norm": "groupnorm", "branch": branch, "width": w, "batch": batch, "depth": depth,
                   "g_small": gs, "g_large": gl}, trials) for w, gs, gl in pairs]


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


def group_options(norm: str, group_size: int | None) -> dict:
    """``{"group_size": g}`` for the normalizers that take it, else ``{}``."""
    return {"group_size": group_size} if norm in ("groupnorm", "evonorm_s0") else {}


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
