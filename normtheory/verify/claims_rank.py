"""Claims R1-R4: informative forward propagation (paper section 4).

Network: the non-residual theory MLP ``X_l = phi(N(X_{l-1} W_lᵀ))`` (docs/settings.md),
simulated by :func:`normtheory.montecarlo.simulate_mlp` in float64, inputs ``X_0`` with
i.i.d. N(0, 1) entries (pairwise correlation ``input_corr``).

- R1 (linear MLPs, BN): the statistic is the stable-rank probe of ``X_l``
  (``‖X‖_F² / ‖X‖_2²`` of the ``B × d`` matrix) at ``l = depth/2`` and ``l = depth``,
  mean over independent networks with a t-interval. The bound
  :func:`normtheory.bounds.rank_lower_bound` (``c·sqrt(d)``, ``c = 1/2`` calibrated on BN)
  agrees when it holds (the interval lies above it) and is not vacuous (above 1 and at
  least half the measured value).
- R2 (linear MLPs, GN): the order of the paper's theorem. Per set of networks (trial
  ``t`` at every group size ``g = 2, 4, ..., d/2``), the smallest ratio
  ``srank/sqrt(d/g)`` over the group sizes; agree when its interval lies above R1's
  constant (the ratio stays bounded below over two decades of ``d/g``) and the constant
  is at least a fifth of it.
- R2b: the rank falls as the group size grows. Statistic: the mean over networks of
  ``srank(g_small) − srank(g_large)`` at the last layer (the two from independent
  networks, paired by trial index), t-interval. The sign is predicted by the bound
  (``rank_lower_bound(g_small) − rank_lower_bound(g_large) > 0``); agree when the interval
  lies above 0, disagree when below.
- R3 (LN and unnormalized linear MLPs): the per-trial least-squares slope of
  ``log(srank(X_l) − 1)`` against ``l`` over ``l = fit_from..depth``, mean over networks
  with a t-interval; predicted ``−ρ = −rank_collapse_rate(norm, width=d) = −2(λ_1 − λ_2)`` for
  products of ``n × n`` Gaussian matrices, ``n = d`` unnormalized and ``n = d − 1`` with
  LN (its centring), a large-depth limit at finite width. What it estimates is that
  large-depth rate, so the fit starts past the transient of LN's per-sample scales (see
  :func:`normtheory.bounds.collapse_window`): at ``fit_from`` the predicted chance that some sample of the
  batch is still dominated by the second singular direction, ``(2B/π) e^{−ρ l/2}``, is
  ``e^{−TRANSIENT_MARGIN}``; the window then spans a predicted decay ``e^{−R3_DECAY}``
  (``e^{−28}``: the per-trial slope is a random walk's, its variance falling like one over
  the window's length, about 0.41 of the rate per network), its end above the float64
  floor ``e^{−FLOAT_FLOOR}`` where ``srank − 1`` stops falling at the rate.
  (Fitted over the second half of a net of predicted decay ``e^{−8}``, as in version 2,
  the LN slope at B = 32 was 0.77-0.81 of the rate (verify --full, d = 16-64): most trials still hold a sample whose
  row lies along the second direction; at B = 2 the same window gives the rate.)
  ``srank − 1`` is the probe's ``srank_excess`` (summed off the top eigenvector, no
  cancellation); at or below 0 (an exactly rank-1 representation) it has no logarithm: that
  trial is an error of the setting, not dropped.
  Rivals: the other dimension count, ``−ψ(n/2) + ψ((n − 1)/2)`` at ``n = d`` for LN (the
  uncentred product, R3's LN form before version 3) and at ``n = d − 1`` unnormalized
  (:func:`normtheory.bounds.rank.product_collapse_rate`). They differ from the claimed forms
  by a relative ``1/d`` or so: 15.2% (LN) and 17.9% (plain) at ``d = 8``, 6.9% and 7.4% at
  ``d = 16``. Precision δ = 5% of the rate, chosen before the run: below a third of the
  distance at ``d = 8`` (5.07% and 5.97%), so width 8 discriminates both rivals (3.04 δ and
  3.58 δ), in the quick and the full grid; wide enough for the slope's finite-depth bias
  (over windows of predicted decay ``e^{−32}``, batch 8, off the grid: −0.0 ± 0.6% (LN)
  and −0.3 ± 0.6% (plain) of the rate at ``d = 8`` with 4000 networks, −1.3 ± 0.8% and
  −0.2 ± 0.9% at ``d = 16`` with 2000). Batch 8 throughout: the transient, hence
  ``fit_from``, grows with the batch, and a batch of 32 would leave no room for the window
  above the floor. Grid: quick ``d = 8``; full ``d = 8, 16, 32`` (``d = 64`` at this δ
  would need ~2400 layers for each of ~2000 networks).
- R4 (ReLU MLPs, unnormalized (He init) and LN): the mean pairwise cosine similarity of
  ``X_l`` at ``l = depth/2`` and ``depth``, mean over networks with a t-interval;
  predicted ``κ^l(c_0)``, the ReLU correlation map iterated (an infinite-width result);
  precision δ = 0.01 (absolute, on a similarity). Rival: the map's leading large-depth
  asymptote ``1 − 9π²/(2l²)`` (:func:`normtheory.bounds.relu_similarity_gap_asymptotic`),
  which the statement quotes; it is far below the iterate at the depths checked (−151 δ at
  ``l = 5``, −32 δ at 10, −12 δ at 15, −2.1 δ at 30, where its ``1 − c_l`` is still 1.8
  times the iterate's), so every grid discriminates it at its shallower layer.
- R4b (ReLU MLPs, GN): similarity rises with the group size. Statistic: mean over
  networks of ``cos(g_large) − cos(g_small)`` at the last layer; sign predicted from the
  rank bound as in R2b; rule: interval above 0.
"""

from __future__ import annotations

import numpy as np

from normtheory import bounds
from normtheory.bounds.rank import R3_DECAY, product_collapse_rate
from normtheory.runs.seeds import derived_seed
from normtheory.verify import simulations
from normtheory.verify.registry import Claim, Point, Rival, register
from normtheory.verify.stats import BoundHolds, Equivalence, Precision

BOUND_RULE = BoundHolds(min_fraction=0.5, floor=1.0)


# --- R1, R2: the sqrt(d/g) lower bound ------------------------------------------------------

def _bound_layers(depth: int) -> tuple[int, int]:
    """The layers where R1 reads the stable rank (and so where it is computed)."""
    return depth // 2, depth


def _bound_points(cases, *, batch, depth, trials):
    out = []
    for norm, width, g in cases:
        for layer in _bound_layers(depth):
            s = {"norm": norm, "branch": "linear", "width": width, "batch": batch, "depth": depth,
                 "layer": layer}
            if g is not None:
                s["group_size"] = g
            out.append(Point(s, trials))
    return out


def _measure_rank(s, trials, seed):
    sim = simulations.mlp_at(s, trials=trials, seed=seed, rank_layers=_bound_layers(s["depth"]))
    return simulations.measurement(sim, stable_rank=sim.stable_rank[:, s["layer"]])


def _theory_bound(s):
    return bounds.rank_lower_bound(s["norm"], width=s["width"], group_size=s.get("group_size"),
                                   batch=s["batch"])


_RANK_STAT = ("E[stable rank ‖X_l‖_F²/‖X_l‖_2² of the B x d representation] at l = depth/2 "
              "and l = depth")
_T = simulations.T_INTERVAL
_RANK_SOURCE = ("normtheory.bounds.rank_lower_bound: order from Daneshmand et al. 2020 (BN) and "
                "the paper's section 4 theorem (GN); constant c = 1/2 calibrated")

register(Claim(
    id="R1", family="rank", title="BatchNorm keeps stable rank >= c·sqrt(d)",
    statement="In a deep linear MLP with BatchNorm the stable rank of the B x d representation "
              "stays at least c·sqrt(d) at any depth (c = 1/2, calibrated).",
    statistic=_RANK_STAT, interval=_T, rule=BOUND_RULE, form="calibrated",
    grid={"quick": _bound_points([("batchnorm", 64, None)], batch=32, depth=30, trials=8),
          "full": _bound_points([("batchnorm", w, None) for w in (64, 128, 256)], batch=64,
                                depth=100, trials=16)},
    theory=_theory_bound, measure=_measure_rank, estimate=simulations.trial_mean("stable_rank"),
    source=_RANK_SOURCE, probe_keys=("layer",)))

def _group_sizes(s) -> list[int]:
    """Powers of two from ``g_min`` to ``g_max``: the grid of d/g an R2 setting spans."""
    out, g = [], s["g_min"]
    while g <= s["g_max"]:
        out.append(g)
        g *= 2
    return out


def _measure_min_ratio(s, trials, seed):
    groups = _group_sizes(s)
    sims = [simulations.mlp_at(s, trials=trials, seed=derived_seed(seed, f"group size {g}"), group_size=g,
                               rank_layers=(-1,))
            for g in groups]
    ratios = np.stack([sim.stable_rank[:, -1] / np.sqrt(s["width"] / g) for sim, g in zip(sims, groups)],
                      axis=1)
    return simulations.combined(sims, min_ratio=ratios.min(axis=1))


def _theory_rank_constant(s):
    return bounds.RANK_CONSTANT


register(Claim(
    id="R2", family="rank", title="GroupNorm keeps stable rank of order sqrt(d/g)",
    statement="In a deep linear MLP with GroupNorm of group size g the stable rank is at least of "
              "order sqrt(d/g) (the paper's theorem): the ratio srank/sqrt(d/g) stays bounded below, "
              "by the constant c = 1/2 calibrated on BatchNorm in R1, as d/g grows over two decades "
              "(g from 2 to d/2 at fixed d). The constant is R1's, not fitted to GN; the check is of "
              "the order.",
    statistic="E[min over the group sizes of srank(X_L)/sqrt(d/g)] per set of networks (trial t of "
              "every group size), at the last layer",
    interval=_T, rule=BoundHolds(min_fraction=0.2, floor=0.0), form="calibrated",
    grid={"quick": [Point({"norm": "groupnorm", "branch": "linear", "width": 256, "batch": 128, "depth": 30,
                           "g_min": 2, "g_max": 128}, 8)],
          "full": [Point({"norm": "groupnorm", "branch": "linear", "width": w, "batch": b, "depth": 100,
                          "g_min": 2, "g_max": w // 2}, 16) for w, b in ((256, 128), (1024, 256))]},
    theory=_theory_rank_constant, measure=_measure_min_ratio, estimate=simulations.trial_mean("min_ratio"),
    source="the paper's section 4 theorem (order sqrt(d/g)); constant from R1", version="2"))


# --- R2b, R4b: orderings in the group size ---------------------------------------------------

def _theory_bound_gap(s):
    return (bounds.rank_lower_bound("groupnorm", width=s["width"], group_size=s["g_small"])
            - bounds.rank_lower_bound("groupnorm", width=s["width"], group_size=s["g_large"]))


_ORDER_SOURCE = "sign of rank_lower_bound(g_small) - rank_lower_bound(g_large) (paper section 4)"

def _group_size_ordering(cid, title, statement, statistic, probe, *, branch, quick, full, rank_layers=()):
    """R2b, R4b: the sign of a last-layer probe's difference between two GN group sizes; ``quick``
    and ``full`` are ``(pairs, batch)`` of :func:`simulations.group_pairs` (depth 30 with 8
    networks, depth 100 with 16); ``rank_layers``: where the probe needs the stable rank."""
    return register(simulations.ordering_claim(
        id=cid, family="rank", title=title, statement=statement, statistic=statistic,
        grid={"quick": simulations.group_pairs(quick[0], branch=branch, batch=quick[1], depth=30, trials=8),
              "full": simulations.group_pairs(full[0], branch=branch, batch=full[1], depth=100, trials=16)},
        theory=_theory_bound_gap, measure=simulations.group_size_gap(probe, rank_layers=rank_layers), data="difference",
        source=_ORDER_SOURCE))


_group_size_ordering(
    "R2b", "stable rank falls as the group size grows",
    "In deep linear GN MLPs the last-layer stable rank is larger for smaller groups "
    "(the sqrt(d/g) bound orders group sizes the same way).",
    "E[srank(g_small) - srank(g_large)] at the last layer; theory column: the bound's "
    "difference (only its sign is the prediction)",
    lambda sim: sim.stable_rank[:, -1], rank_layers=(-1,), branch="linear",
    quick=([(64, 2, 16)], 32), full=([(64, 2, 8), (64, 8, 32), (256, 4, 64)], 64))

# --- R3: rank collapse rate -----------------------------------------------------------------

#: R3's precision: a third of the distance to the nearer rival at width 8 is 5.07% (LN) and 5.97% (plain)
R3_PRECISION = Precision(0.05)


def _collapse_points(norms, widths, *, batch, trials):
    points = []
    for w in widths:
        for norm in norms:
            fit_from, depth = bounds.collapse_window(norm, width=w, batch=batch, decay=R3_DECAY)
            points.append(Point({"norm": norm, "branch": "linear", "width": w, "batch": batch,
                                 "depth": depth, "fit_from": fit_from}, trials))
    return points


def _measure_collapse(s, trials, seed):
    layers = np.arange(s["fit_from"], s["depth"] + 1)
    sim = simulations.mlp_at(s, trials=trials, seed=seed, rank_layers=tuple(range(s["fit_from"], s["depth"] + 1)))
    excess = sim.srank_excess  # srank - 1 without cancellation
    excess = np.log(np.where(excess > 0.0, excess, np.nan))  # NaN: a failed trial, reported as error
    slope = simulations.layer_fit_slope(excess, layers)
    return simulations.measurement(sim, slope=slope)


def _theory_collapse(s):
    return -bounds.rank_collapse_rate(s["norm"], width=s["width"])


def _other_dimension(norm, n_of):
    """A rival of R3 at the settings of ``norm``: the rate of products of ``n_of(width)`` square
    matrices (:func:`normtheory.bounds.rank.product_collapse_rate`) instead of the claimed count."""
    def theory(s):
        return -product_collapse_rate(n_of(s["width"])) if s["norm"] == norm else None
    return theory


register(Claim(
    id="R3", family="rank", title="LN and unnormalized linear nets collapse to rank 1",
    statement="In deep linear MLPs with LayerNorm or no normalizer the stable rank tends to 1; "
              "log(srank - 1) falls linearly in depth at the rate 2(λ_1 - λ_2) of the top two "
              "Lyapunov exponents of products of n x n Gaussian matrices, n = d unnormalized and "
              "n = d - 1 with LayerNorm (its centring removes a dimension); exact at finite width "
              "in the limit of large depth. The statistic estimates that large-depth rate: its "
              "window starts past LN's per-sample-scale transient.",
    statistic="E[least-squares slope of log(srank(X_l) - 1) over l = fit_from..depth] per network; "
              "fit_from: the layer where the predicted chance (2B/π)·exp(-ρ l/2) that a sample "
              "still lies along the second singular direction is e^-4; the window spans a "
              f"predicted decay e^-{R3_DECAY:g}",
    interval=_T, rule=Equivalence(R3_PRECISION), form="large-depth limit",
    grid={"quick": _collapse_points(("layernorm", "plain"), (8,), batch=8, trials=2048),
          "full": _collapse_points(("layernorm", "plain"), (8, 16, 32), batch=8, trials=2048)},
    theory=_theory_collapse, measure=_measure_collapse, estimate=simulations.trial_mean("slope"),
    source="normtheory.bounds.rank_collapse_rate (derived here; Newman 1986 Lyapunov spectrum)",
    rivals=(Rival("LN uncentred (n = d)",
                  "R3's LayerNorm form before version 3: the product of d x d matrices, LN's centring ignored",
                  _other_dimension("layernorm", lambda d: d)),
            Rival("plain at n = d - 1", "the other dimension count for the unnormalized net (LN's n = d - 1)",
                  _other_dimension("plain", lambda d: d - 1))),
    notes=f"δ = {R3_PRECISION.delta:g} relative, chosen before the run: below a third of the distance to "
          "the other dimension count at width 8 (15.2% LN, 17.9% plain; 3.04 δ and 3.58 δ), wide enough for "
          "the slope's finite-depth bias (within 1.3% of the rate at widths 8 and 16, off the grid); see "
          "normtheory.verify.claims_rank",
    version="3"))  # 2: srank - 1 <= 0 is a failed trial, not dropped; 3: LN at n = d - 1, window past the transient


# --- R4: ReLU correlation map --------------------------------------------------------------

def similarity_points(norms, widths, *, batch, depth, input_corr, trials, engine=None):
    """R4's rows: both layers ``depth/2`` and ``depth`` of each network; ``engine``, if given,
    forces the simulation engine (``"explicit"``: explicit weights where ``engine="auto"`` would
    take the Gram engine, width >= 256)."""
    extra = {} if engine is None else {"engine": engine}
    return [Point({"norm": norm, "branch": "relu", "width": w, "batch": batch, "depth": depth,
                   "input_corr": input_corr, "layer": layer, **extra}, trials)
            for w in widths for norm in norms for layer in (depth // 2, depth)]


def _similarity_sim(s, trials, seed):
    """The ReLU MLP of an R4 setting: ``simulate_mlp`` with ``engine="auto"``, or the setting's ``engine``."""
    if "engine" not in s:
        return simulations.mlp_at(s, trials=trials, seed=seed)
    return simulations.mlp(trials=trials, seed=seed, engine=s["engine"], norm=s["norm"], width=s["width"],
                           depth=s["depth"], batch=s["batch"], nonlinearity=s["branch"],
                           input_corr=s.get("input_corr", 0.0), backward=False)


def measure_cosine(s, trials, seed):
    sim = _similarity_sim(s, trials, seed)
    return simulations.measurement(sim, cosine=sim.cosine[:, s["layer"]])


def theory_cosine(s):
    """R4's closed form: ``κ^l(c_0)``, the ReLU correlation map iterated ``layer`` times."""
    return float(bounds.relu_correlation_iterate(s["input_corr"], depth=s["layer"])[-1])


def _asymptote_cosine(s):
    return 1.0 - float(bounds.relu_similarity_gap_asymptotic(depth=s["layer"]))


register(Claim(
    id="R4", family="rank", title="ReLU nets: similarity follows the iterated correlation map",
    statement="In deep ReLU MLPs without normalizer (He init) or with LayerNorm the mean cosine "
              "similarity between samples follows the ReLU correlation map iterated over depth, "
              "drifting to 1 as 1 - c_l ~ 9π²/(2 l²) (an infinite-width result).",
    statistic="E[mean pairwise cosine similarity of X_l] at l = depth/2 and l = depth",
    interval=_T, rule=Equivalence(Precision(0.01, relative=False)), form="infinite-width limit",
    grid={"quick": similarity_points(("plain", "layernorm"), (512,), batch=16, depth=10,
                                      input_corr=0.0, trials=64),
          "full": similarity_points(("plain", "layernorm"), (64, 256, 1024), batch=16, depth=30,
                                     input_corr=0.0, trials=128)},
    theory=theory_cosine, measure=measure_cosine, estimate=simulations.trial_mean("cosine"),
    source="normtheory.bounds.correlation (derived here; arc-cosine kernel of Cho & Saul 2009)",
    probe_keys=("layer",),
    rivals=(Rival("large-depth asymptote 1 - 9π²/(2l²)",
                  "the leading large-depth asymptote of the iterated map, stated with R4 "
                  "(normtheory.bounds.relu_similarity_gap_asymptotic)", _asymptote_cosine),)))

_group_size_ordering(
    "R4b", "similarity rises with the group size (ReLU GN)",
    "In deep ReLU GN MLPs the mean cosine similarity between samples is lower for "
    "smaller groups: small groups keep samples apart, large groups (toward LN) let "
    "them drift together.",
    "E[cos(g_large) - cos(g_small)] at the last layer; theory column: the rank bound's "
    "difference for (g_small, g_large) (only its sign is the prediction)",
    lambda sim: -sim.cosine[:, -1], branch="relu",
    quick=([(64, 2, 64)], 16), full=([(64, 2, 8), (64, 8, 64), (256, 4, 256)], 32))
