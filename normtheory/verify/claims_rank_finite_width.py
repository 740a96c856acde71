"""Claim R4c: R4's cosine similarity at finite width, from the weight-free chain exact in law.

Network and statistic: those of R4 (:mod:`normtheory.verify.claims_rank`; the same measure,
simulating :func:`normtheory.montecarlo.simulate_mlp`): the non-residual ReLU MLP
``X_l = relu(N(X_{l−1} W_lᵀ))`` without normalizer (He init) or with LayerNorm, inputs with
i.i.d. N(0, 1) entries, and the expected mean pairwise cosine similarity of ``X_l`` at
``l = depth/2`` and ``l = depth``, mean over networks with a t-interval.

Theory: given ``X_{l−1}`` the pre-activation ``X_{l−1} W_lᵀ`` is exactly Gaussian in the
fresh weight, so the samples follow a weight-free chain that is exact in law
(:mod:`normtheory.montecarlo.exact_in_law`, ``residual=False``, derivation there). Neither
normalizer shares statistics across samples, so the samples are exchangeable given the
weights and every pair ``(i, j)`` of the mean has the law of a pair run alone: the
prediction is ``E[cos(x_1, x_2)]`` of the pair chain (``O(d)`` per layer), a Monte Carlo
computation with its own interval, computed as F6's
(:mod:`normtheory.verify.claims_finite_width`: the run's simultaneous level, a seed fixed by
the setting, replicates doubled until the half-width is below δ/4). Its infinite-width
limit is R4's ``κ^l(c_0)`` (:func:`normtheory.bounds.relu_correlation_iterate`; the gap
shrinks like 1/width, tested in tests/test_exact_in_law.py). δ = 0.01 absolute, as R4.

Grid: R4's width-64 rows (plain and LN, batch 16, depth 30, layers 15 and 30), where R4's
infinite-width form is off by up to half a δ, with more networks than R4 so that the
finite-width value is resolved; quick: LN at width 32 (depth 10), where the limit is off
by about one δ.
"""

from __future__ import annotations

from normtheory.stats import mean_interval
from normtheory.verify.claims_finite_width import (
    CHAIN_SOURCE,
    THEORY_LOOKS,
    THEORY_NOTES,
    computed_theory,
)
from normtheory.verify.claims_rank import measure_cosine, similarity_points
from normtheory.verify.registry import Claim, register
from normtheory.verify.simulations import trial_mean
from normtheory.verify.stats import Equivalence, Precision

#: R4's precision (absolute, on a similarity)
PRECISION = Precision(0.01, relative=False)


def plain_cosine_options(s) -> dict:
    """:func:`~normtheory.montecarlo.exact_in_law.probe_chain` keywords of an R4 setting: the
    non-residual network's mean pairwise cosine similarity."""
    return dict(residual=False, probe="cosine", input_corr=s.get("input_corr", 0.0), group_size=s.get("group_size"))


register(Claim(
    id="R4c", family="rank", title="finite width: ReLU similarity from the exact chain (plain and LN)",
    statement="At finite width, the mean pairwise cosine similarity of a deep non-residual ReLU MLP "
              "without normalizer (He init) or with LayerNorm equals the mean of the weight-free chain "
              "that is exact in law (a pair of samples; the pre-activation is Gaussian given the layer's "
              "input); R4's iterated ReLU correlation map is its infinite-width limit, approached like "
              "1/width.",
    statistic="E[mean pairwise cosine similarity of X_l] at l = depth/2 and l = depth (as R4); the theory "
              "is the mean of cos(x_1, x_2) over the weight-free pair chain, exact in law at this width",
    interval="mean over independent random networks ± t·s/sqrt(n); the theory: mean over independent "
             "chain replicates ± t·s/sqrt(n)",
    rule=Equivalence(PRECISION), form="finite-width (exact in law, computed)",
    grid={"quick": similarity_points(("layernorm",), (32,), batch=16, depth=10, input_corr=0.0, trials=2048),
          "full": similarity_points(("plain", "layernorm"), (64,), batch=16, depth=30, input_corr=0.0,
                                     trials=1024)},
    theory=computed_theory(mean_interval, PRECISION, plain_cosine_options), measure=measure_cosine,
    estimate=trial_mean("cosine"), source=CHAIN_SOURCE, probe_keys=("layer",), theory_looks=THEORY_LOOKS,
    notes=THEORY_NOTES))
