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

Rival: R4's infinite-width iterated map ``κ^l(c_0)`` at the same setting. With LayerNorm the
chain lies above it by roughly 0.3/width to 0.5/width from the first layer on (widths 8-64,
layers 1-30; plain nets by about two thirds of that, and below width 32 a plain net's
sample can lose every unit, leaving its cosine undefined), so LN at small width tells the
two apart: at width 10 the chain is 4-5 δ above the map (depth 4 in the quick grid, 10 in
the full one); at width 64 (R4's rows) it is within half a δ.

Independent check: the chain rests on the fresh-weight argument, and so does the Gram
engine that ``simulate_mlp(engine="auto")`` takes from width 256 on. The rows at width 256
(plain and LN, depth 10, full grid) therefore set ``engine="explicit"``: the network side is
then simulated with explicit weights at every width class (widths 10 and 64 run on explicit
weights under ``"auto"``), and the chain is checked against a simulation that does not share
its derivation.

Grid: quick, LN at width 10 (depth 4); full, R4's width-64 rows (plain and LN, batch 16,
depth 30, layers 15 and 30), where R4's infinite-width form is off by up to half a δ, with
more networks than R4 so that the finite-width value is resolved, LN at width 10 (depth
10), and the explicit-weight rows at width 256.
"""

from __future__ import annotations

from normtheory.stats import mean_interval
from normtheory.verify.claims_finite_width import (
    CHAIN_SOURCE,
    THEORY_LOOKS,
    THEORY_NOTES,
    computed_theory,
)
from normtheory.verify.claims_rank import measure_cosine, similarity_points, theory_cosine
from normtheory.verify.registry import Claim, Rival, register
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
    grid={"quick": similarity_points(("layernorm",), (10,), batch=16, depth=4, input_corr=0.0, trials=4096),
          "full": similarity_points(("plain", "layernorm"), (64,), batch=16, depth=30, input_corr=0.0, trials=1024)
          + similarity_points(("layernorm",), (10,), batch=16, depth=10, input_corr=0.0, trials=4096)
          + similarity_points(("plain", "layernorm"), (256,), batch=16, depth=10, input_corr=0.0, trials=512,
                              engine="explicit")},
    theory=computed_theory(mean_interval, PRECISION, plain_cosine_options), measure=measure_cosine,
    estimate=trial_mean("cosine"), source=CHAIN_SOURCE, probe_keys=("layer",), theory_looks=THEORY_LOOKS,
    notes=THEORY_NOTES,
    rivals=(Rival("R4's iterated map", "the infinite-width limit: R4's closed form κ^l(c_0) at the same setting",
                  theory_cosine),)))
