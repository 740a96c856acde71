"""Claims F6, F6b: the residual variance at finite width, from a weight-free chain exact in law.

Networks and statistic: those of F1-F3 (:mod:`normtheory.verify.claims_forward`; the same
measure function, simulating :func:`normtheory.montecarlo.simulate_mlp`): the expected
activation-variance probe ``E[probe(X_l)]`` of the residual theory MLP at ``l = depth/2``
and ``l = depth``.

Theory: no closed form exists at finite width. Given ``X_{l−1}``, the branch pre-activation
is exactly Gaussian (or, for WN and SWS rows, a Gaussian over an independent χ² norm) in
the fresh weight, so the residual stream follows a weight-free chain that is exact in law
(:mod:`normtheory.montecarlo.exact_in_law`, derivation there): a pair of samples (plain,
WN, SWS, per-sample normalizers; ``O(d)`` per layer) or the whole batch (batch statistics;
``O(B²·d)`` per layer). Its mean over replicates is the finite-width prediction, a Monte
Carlo computation with its own interval (:class:`~normtheory.verify.stats.ComputedTheory`):
computed at the run's simultaneous level from a seed fixed by the setting, by adaptive
doubling from :data:`FIRST_REPLICATES` replicates until its half-width is below δ/4 (at most
:data:`THEORY_LOOKS` looks, all counted in the level). Its infinite-width limit is the
mean-field closed form of F1-F3 (:func:`normtheory.bounds.resnet_variance`; tested in
tests/test_exact_in_law.py).

- F6 (linear growth: EvoNorm branches, the F1 rows where EvoNorm disagrees with its
  mean-field form; GN (g = 8) and FRN ReLU branches at width 64, F1's undecided rows;
  NF-style ReLU branches, the F3 rows): t-interval over independent
  networks, and over chain replicates; δ = 2% as F1 and F3.
- F6b (geometric growth: ReLU branches with WN, SWS or none, the F2 rows): Cox's
  log-normal interval for the mean, over networks and over chain replicates (the same
  estimator as F2, applied to both); δ = 3% as F2. The F2 rows at depth 50 and width 64
  are not decidable (a simulation interval a factor 2 wide at 256 networks, and a chain
  needing 10⁶ replicates): the grid uses shallower networks and the widths where both
  sides reach δ/4 to δ/2 within the trial budget.

δ (2%, 3%) is F1's and F2's, fixed before the rivals: the mean-field rival lies 3.5δ or more
from the chain at the discriminating settings, more than 3δ.

Rival: the mean-field closed form of F1/F3 (F6) or F2 (F6b) at the same setting, the chain's
infinite-width limit (judged on the claim's intervals). It lies more than 3δ from the chain
where the finite-width excess is large: EvoNorm branches (5-6δ in the quick grid), and for
F6b small widths (width 32, depth 4, alpha 1.5: 3.5δ at layer 4 in the quick grid; width 64
at depth 10-20 in the full grid). A setting where the excess exceeds 3δ has heavy tails: the
chain needs 262144 replicates to reach δ/4 there (about 3 s in the quick grid; width 32,
depth 6, alpha 1, 4.6δ away, took 6.5 s).

Engines: the network side is :func:`normtheory.montecarlo.simulate_mlp`'s automatic choice,
explicit weights below width 256, the Gram engine at width 256 and above; WN and SWS always
on explicit weights (:func:`measure_independent`: the Gram engine draws their forward layers
with the chain's own kernel);
the settings with ``engine="explicit"`` (one per normalizer at width 256) run on explicit
weights, so that the chain is checked against a simulation that does not share its
fresh-weight derivation (the Gram engine rests on the same argument). They share the chain
of the Gram setting that differs only in the engine.

The same machinery, with the non-residual chain's cosine probe (``options``), is R4c's theory
(:mod:`normtheory.verify.claims_rank_finite_width`).

The statement is a finite-width one: agreement says the chain (hence the network's own
finite-width law) predicts the measured variance, where the infinite-width form misses by
the gaps listed in docs/verify-full.md.
"""

from __future__ import annotations

import numpy as np

from normtheory.kernels.mlp_norms import GAUSSIAN, weight_code
from normtheory.montecarlo.exact_in_law import BATCH_STATISTICS, probe_chain
from normtheory.runs.seeds import derived_seed, setting_key
from normtheory.stats import lognormal_mean_interval, mean_interval
from normtheory.verify.claims_forward import (
    _theory_variance,
    log_normal_mean,
    measure_variance,
    mlp_points,
)
from normtheory.verify.registry import Claim, Rival, register
from normtheory.verify.simulations import trial_mean
from normtheory.verify.stats import (
    ComputedTheory,
    Equivalence,
    Precision,
    computed_interval,
)

#: the most theory looks (replicates FIRST, 2·FIRST, ...) per setting, counted in the level
THEORY_LOOKS = 6
#: replicates of the first theory look: pair chains (cheap, noisier) and batch chains
FIRST_REPLICATES = {"pair": 8192, "batch": 512}
_THEORY_SEED = 15  # the theory's streams: derived_seed(_THEORY_SEED, setting without its layer)
_SIMULATION_KEYS = ("norm", "branch", "width", "batch", "depth", "alpha", "remedy", "group_size", "input_corr")

_chains: dict[tuple, dict] = {}
#: the claims' notes on how their theory is computed
THEORY_NOTES = (f"theory: {FIRST_REPLICATES['pair']} pair-chain (or {FIRST_REPLICATES['batch']} batch-chain) "
                f"replicates, doubled up to {THEORY_LOOKS} looks until the half-width is below δ/4; seed fixed "
                f"by the setting")


def _chain_key(s) -> str:
    return setting_key({k: s[k] for k in _SIMULATION_KEYS if k in s})


def residual_variance_options(s) -> dict:
    """:func:`~normtheory.montecarlo.exact_in_law.probe_chain` keywords of an F1-F3 setting:
    the residual network's activation-variance probe."""
    return dict(alpha=s["alpha"], nf_scaling=s["remedy"] == "nf", group_size=s.get("group_size"))


def chain_values(s, n: int, options=residual_variance_options):
    """The first ``n`` replicates of the chain of setting ``s`` at its layer (one stream per
    setting without its layer and ``options``, kept in memory and extended as more are asked
    for); ``options(s)``: the chain's keywords besides the network's size and branch."""
    key = _chain_key(s)
    state = _chains.setdefault((options, key), {"values": None, "diverged": []})
    have = 0 if state["values"] is None else state["values"].shape[0]
    if n > have:
        part = probe_chain(s["norm"], width=s["width"], depth=s["depth"], batch=s["batch"], replicates=n - have,
                           nonlinearity=s["branch"], seed=derived_seed(_THEORY_SEED, key), first=have, **options(s))
        state["values"] = part.values if have == 0 else np.concatenate([state["values"], part.values])
        state["diverged"] += part.diverged
    bad = [(t, layer) for t, layer in state["diverged"] if t < n and layer <= s["layer"]]
    if bad:
        raise ValueError(f"{len(bad)} of {n} chain replicates overflowed (first at layer {min(b[1] for b in bad)})")
    return state["values"][:n, s["layer"]]


def _first_replicates(s) -> int:
    return FIRST_REPLICATES["batch" if s["norm"] in BATCH_STATISTICS else "pair"]


def computed_theory(estimator, precision, options=residual_variance_options):
    def theory(s):
        return ComputedTheory(lambda level: computed_interval(lambda n: chain_values(s, n, options), estimator,
                                                              level, precision, _first_replicates(s), THEORY_LOOKS))
    return theory


_STAT = ("E[activation-variance probe of X_l] at l = depth/2 and l = depth (as F1-F3), simulated on explicit "
         "weights below width 256 and for WN and SWS, on the Gram engine at width 256 and above unless the setting "
         "says engine=explicit; the theory is the mean of the weight-free chain, exact in law at this width and batch")
#: the claims' statement on the engines of the network side
ENGINE_TEXT = ("The network side runs on explicit weights (every width below 256, WN and SWS, and the "
               "settings with engine=explicit at width 256), so the chain is checked against a simulation "
               "that does not share its fresh-weight derivation; the Gram engine (which does) runs the other "
               "settings at width 256.")
CHAIN_SOURCE = "normtheory.montecarlo.exact_in_law (derived there; an exact computation, not a closed form)"


def measure_independent(s, trials, seed):
    """F1-F3's :func:`measure_variance` with WN and SWS on explicit weights unless the setting
    names an engine: the Gram engine would draw their layers with the chain's own kernel."""
    if weight_code(s["norm"]) != GAUSSIAN and "engine" not in s:
        s = {**s, "engine": "explicit"}
    return measure_variance(s, trials, seed)


def _finite_width_claim(cid, title, statement, quick, full, *, delta, estimator, interval, rival):
    precision = Precision(delta)
    return register(Claim(
        id=cid, family="forward", title=title, statement=statement, statistic=_STAT, interval=interval,
        rule=Equivalence(precision), form="finite-width (exact in law, computed)",
        grid={"quick": quick, "full": full}, theory=computed_theory(estimator, precision),
        measure=measure_independent,
        estimate=trial_mean("variance") if estimator is mean_interval else log_normal_mean("variance"),
        source=CHAIN_SOURCE, probe_keys=("layer",), theory_looks=THEORY_LOOKS, notes=THEORY_NOTES,
        rivals=(Rival("mean field", f"the infinite-width (Gaussian mean-field) closed form of {rival} at the same "
                      "setting (bounds.resnet_variance)", _theory_variance),)))


_finite_width_claim(
    "F6", "finite width: linear growth (EvoNorm, GN, FRN, NF-style ReLU branches)",
    "At finite width and batch, the activation variance of a residual MLP with an EvoNorm, "
    "GroupNorm (g = 8) or FRN ReLU branch, or with NF-style scaling and a ReLU branch, equals the mean of the "
    "weight-free chain that is exact in law (the branch pre-activation is Gaussian given the layer's "
    "input); the mean-field forms of F1 and F3 are its infinite-width limit, and miss it by more "
    "than 3δ for EvoNorm. " + ENGINE_TEXT,
    mlp_points(("evonorm_s0",), ("relu",), widths=(64,), batch=32, depth=20, alphas=(1.0,),
                remedy="none", trials=128),
    mlp_points(("evonorm_s0",), ("relu",), widths=(64, 256), batch=32, depth=50, alphas=(1.0,),
                remedy="none", trials=256)
    + mlp_points(("evonorm_b0",), ("relu",), widths=(64,), batch=32, depth=20, alphas=(1.0,),
                  remedy="none", trials=256)
    + mlp_points(("evonorm_b0",), ("relu",), widths=(64, 256), batch=32, depth=50, alphas=(1.0,),
                  remedy="none", trials=256)  # F1's rows, where the mean field misses by +2.6 to +31 δ
    + mlp_points(("groupnorm",), ("relu",), widths=(64,), batch=32, depth=50, alphas=(1.0,),
                  remedy="none", trials=512)  # 1024 networks left layer 50 undecided at +0.36 δ
    + mlp_points(("frn",), ("relu",), widths=(64,), batch=32, depth=50, alphas=(1.0,),
                  remedy="none", trials=256)
    + mlp_points(("plain",), ("relu",), widths=(64,), batch=32, depth=20, alphas=(0.5, 1.0),
                  remedy="nf", trials=2048)
    + mlp_points(("weightnorm",), ("relu",), widths=(64,), batch=32, depth=20, alphas=(1.0,),
                  remedy="nf", trials=1024)
    # explicit weights at width 256, one setting per normalizer (the chain checked against a
    # simulation that does not share its derivation)
    + mlp_points(("evonorm_s0", "evonorm_b0", "groupnorm", "frn"), ("relu",), widths=(256,), batch=32, depth=20,
                  alphas=(1.0,), remedy="none", trials=128, engine="explicit")
    + mlp_points(("plain", "weightnorm"), ("relu",), widths=(256,), batch=32, depth=20, alphas=(1.0,),
                  remedy="nf", trials=256, engine="explicit"),
    delta=0.02, estimator=mean_interval,
    interval="mean over independent random networks ± t·s/sqrt(n); the theory: mean over "
             "independent chain replicates ± t·s/sqrt(n)",
    rival="F1/F3")

_finite_width_claim(
    "F6b", "finite width: geometric growth (ReLU branches with WN, SWS or none)",
    "At finite width, the activation variance of a residual MLP whose ReLU branch ends in "
    "WN, SWS or no normalizer equals the mean of the weight-free chain that is exact in law "
    "(the branch pre-activation is Gaussian, or Gaussian over an independent χ² norm, given "
    "the layer's input); with WN or none it grows faster than F2's mean-field rate, the "
    "excess shrinking like 1/width (more than 3δ at width 32 or 64 and depth 4 to 20). " + ENGINE_TEXT,
    mlp_points(("plain",), ("relu",), widths=(32,), batch=32, depth=4, alphas=(1.5,),
                remedy="none", trials=4096),
    mlp_points(("plain",), ("relu",), widths=(64,), batch=32, depth=20, alphas=(0.5,),
                remedy="none", trials=2048)
    + mlp_points(("plain",), ("relu",), widths=(256,), batch=32, depth=20, alphas=(1.0,),
                  remedy="none", trials=2048)
    + mlp_points(("plain", "weightnorm", "sws"), ("relu",), widths=(64,), batch=32, depth=10,
                  alphas=(1.0,), remedy="none", trials=4096)
    + mlp_points(("weightnorm", "sws"), ("relu",), widths=(256,), batch=32, depth=10,
                  alphas=(1.0,), remedy="none", trials=256)
    + mlp_points(("plain",), ("relu",), widths=(256,), batch=32, depth=10, alphas=(1.0,), remedy="none",
                  trials=512, engine="explicit"),
    delta=0.03, estimator=lognormal_mean_interval,
    interval="Cox's log-normal interval for the mean over independent random networks; the "
             "theory: the same over independent chain replicates",
    rival="F2")
