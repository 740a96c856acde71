"""The weight-free chain (normtheory.montecarlo.exact_in_law) and claims F6, F6b, R4c.

- (a) the chain agrees with the network simulation (simulate_mlp, explicit or Gram engine)
  on settings the verify grids do not use (width 24-32, batch 8, depth 6-8), for every kind
  of branch it covers (Gaussian, WN and SWS rows; pair and batch chains; NF scaling), and a
  deliberately wrong chain (alpha · 1.05) is told apart at the same sample sizes;
- (b) as the width grows, the chain approaches the infinite-width closed form
  (bounds.resnet_variance) like 1/d, and at width 64 it does not reach it: the gap is the
  finite-width effect behind F2's and F3's disagreements;
- (c) power: F6/F6b's theory moved by ±2δ disagrees on every quick setting, the true one agrees;
- (d) bad input is a ValueError naming the parameter;
- (e) the non-residual chain and its cosine probe (R4's network and statistic): it agrees with
  simulate_mlp off the R4 grid (plain, LN with correlated inputs, WN rows, a BN batch chain),
  a chain at twice the width is told apart; it tends to R4's iterated ReLU correlation map
  like 1/width; R4c's theory moved by ±2δ disagrees on its quick grid, the true one agrees.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from normtheory import bounds
from normtheory.montecarlo import simulate_mlp
from normtheory.montecarlo.exact_in_law import chain_samples, probe_chain
from normtheory.verify import registry
from normtheory.verify.runner import run_claims
from normtheory.verify.stats import AGREE, DISAGREE

Z = 4.0  # |z| bound of a correct chain (each comparison), and the least |z| of a wrong one

# (norm, branch, width, depth, alpha, nf_scaling, group_size): none of these is a verify setting
CASES = [
    ("plain", "relu", 32, 8, 0.7, False, None),
    ("weightnorm", "relu", 32, 6, 0.7, False, None),
    ("sws", "relu", 24, 6, 0.7, False, None),
    ("layernorm", "relu", 32, 8, 1.0, False, None),
    ("evonorm_s0", "relu", 32, 8, 1.0, False, 4),
    ("evonorm_b0", "linear", 32, 8, 1.0, False, None),
    ("plain", "relu", 32, 8, 0.7, True, None),
]
BATCH = 8


def _mean_se(v):
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


def _assert_agrees_and_wrong_differs(network, right, wrong, layers):
    """The chain ``right`` agrees with the network's per-trial values at every layer of
    ``layers`` (|z| < Z), and the chain ``wrong`` is told apart at the last one (|z| > Z)."""
    for layer in layers:
        m, se = _mean_se(network[:, layer])
        c, cse = _mean_se(right[:, layer])
        assert abs(c - m) < Z * np.hypot(se, cse), (layer, c, m)
    w, wse = _mean_se(wrong[:, layers[-1]])
    assert abs(w - m) > Z * np.hypot(se, wse), (w, m)


def _chain(norm, branch, width, depth, alpha, nf, g, replicates=10000):
    c = probe_chain(norm, width=width, depth=depth, batch=BATCH, replicates=replicates, nonlinearity=branch,
                    alpha=alpha, nf_scaling=nf, group_size=g, seed=5)
    assert not c.diverged and np.all(np.isfinite(c.values))
    return c.values


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}{'-nf' if c[5] else ''}" for c in CASES])
def test_chain_agrees_with_the_network_and_a_wrong_chain_does_not(case):
    norm, branch, width, depth, alpha, nf, g = case
    sim = simulate_mlp(norm, width=width, depth=depth, batch=BATCH, trials=1000, nonlinearity=branch, residual=True,
                       alpha=alpha, nf_scaling=nf, group_size=g, backward=False, seed=11)
    right = _chain(norm, branch, width, depth, alpha, nf, g)
    wrong = _chain(norm, branch, width, depth, 1.05 * alpha, nf, g)
    _assert_agrees_and_wrong_differs(sim.variance, right, wrong, (depth // 2, depth))


def test_pairs_stand_for_per_sample_statistics_batches_for_batch_statistics():
    assert chain_samples("layernorm", 32) == 2 and chain_samples("plain", 32) == 2
    assert chain_samples("evonorm_b0", 32) == 32 and chain_samples("batchnorm", 8) == 8


def test_same_seed_same_replicates_and_a_continued_stream():
    kw = dict(width=16, depth=4, batch=8, nonlinearity="relu", alpha=0.5, seed=9)
    a = probe_chain("weightnorm", replicates=40, **kw).values
    b = probe_chain("weightnorm", replicates=30, first=10, **kw).values
    np.testing.assert_array_equal(a[10:], b)
    assert not np.array_equal(a, probe_chain("weightnorm", replicates=40, **{**kw, "seed": 10}).values)


@pytest.mark.parametrize("norm, widths, replicates", [("plain", (64, 256, 1024), 20000),
                                                      ("weightnorm", (64, 256), 8000)])
def test_the_chain_tends_to_the_infinite_width_form_like_one_over_width(norm, widths, replicates):
    depth, alpha = 10, 0.5
    limit = bounds.resnet_variance(norm, depth=depth, alpha=alpha, nonlinearity="relu", batch=32)
    gaps = []
    for width in widths:
        v = probe_chain(norm, width=width, depth=depth, batch=32, replicates=replicates, nonlinearity="relu",
                        alpha=alpha, seed=3).values[:, depth]
        m, se = _mean_se(v)
        gaps.append(((m - limit) / limit, se / limit))
    (g64, s64), (g256, s256) = gaps[:2]
    assert g64 > Z * s64 and g64 > 0.03          # width 64 misses the limit by more than 3%
    # the gap shrinks like 1/d: a quarter from 64 to 256
    assert abs(4 * g256 - g64) < Z * np.hypot(4 * s256, s64)
    if len(gaps) > 2:
        g1024, s1024 = gaps[2]
        assert abs(g1024) < g64 / 8 and abs(16 * g1024 - g64) < Z * np.hypot(16 * s1024, s64)


@pytest.mark.parametrize("kwargs, word", [
    (dict(norm="plain", width=1), "width"),
    (dict(norm="evonorm_b0", batch=1), "batch"),
    (dict(norm="batchnorm", batch=1), "batch"),
    (dict(norm="nonorm"), "nonorm"),
    (dict(norm="plain", replicates=0), "replicates"),
    (dict(norm="plain", alpha=-1.0), "alpha"),
    (dict(norm="plain", first=-1), "first"),
    (dict(norm="groupnorm", group_size=5), "group_size"),
    (dict(norm="plain", probe="rank"), "probe"),
    (dict(norm="plain", residual=False, nf_scaling=True), "nf_scaling"),
    (dict(norm="plain", residual=False, input_corr=1.0), "input_corr"),
])
def test_bad_input_names_the_parameter(kwargs, word):
    args = dict(width=16, depth=3, batch=4, replicates=4, nonlinearity="relu")
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        probe_chain(args.pop("norm"), **args)


# --- the non-residual chain and the cosine probe (R4's network) ------------------------------

# (norm, width, depth, input_corr, networks, replicates): none of these is an R4 setting
PLAIN_CASES = [
    ("plain", 24, 8, 0.0, 16000, 80000),
    ("layernorm", 12, 8, 0.3, 4000, 40000),
    ("weightnorm", 16, 8, 0.0, 4000, 40000),
    ("batchnorm", 32, 6, 0.0, 4000, 40000),
]


def _cosine_chain(norm, width, depth, input_corr, replicates, batch=BATCH):
    c = probe_chain(norm, width=width, depth=depth, batch=batch, replicates=replicates, nonlinearity="relu",
                    residual=False, probe="cosine", input_corr=input_corr, seed=5)
    assert not c.diverged and np.all(np.isfinite(c.values))
    return c.values


@pytest.mark.parametrize("case", PLAIN_CASES, ids=[c[0] for c in PLAIN_CASES])
def test_non_residual_cosine_chain_agrees_with_the_network_and_twice_the_width_does_not(case):
    norm, width, depth, input_corr, networks, replicates = case
    sim = simulate_mlp(norm, width=width, depth=depth, batch=BATCH, trials=networks, nonlinearity="relu",
                       residual=False, input_corr=input_corr, backward=False, seed=11)
    assert not sim.diverged
    right = _cosine_chain(norm, width, depth, input_corr, replicates)
    wider = _cosine_chain(norm, 2 * width, depth, input_corr, replicates)
    _assert_agrees_and_wrong_differs(sim.cosine, right, wider, (depth // 2, depth))


def test_non_residual_variance_probe_agrees_with_the_network_and_twice_the_width_does_not():
    sim = simulate_mlp("layernorm", width=16, depth=6, batch=BATCH, trials=4000, nonlinearity="relu",
                       residual=False, backward=False, seed=12)
    chain = probe_chain("layernorm", width=16, depth=6, batch=BATCH, replicates=40000, nonlinearity="relu",
                        residual=False, seed=6).values
    wider = probe_chain("layernorm", width=32, depth=6, batch=BATCH, replicates=40000, nonlinearity="relu",
                        residual=False, seed=6).values  # the chain at twice the width is told apart
    _assert_agrees_and_wrong_differs(sim.variance, chain, wider, (6,))


@pytest.mark.parametrize("norm, widths, replicates", [("layernorm", (64, 256, 1024), 40000),
                                                      ("plain", (64, 256), 80000)])
def test_the_cosine_chain_tends_to_the_iterated_relu_map_like_one_over_width(norm, widths, replicates):
    depth = 15  # R4's layer
    limit = bounds.relu_correlation_iterate(0.0, depth=depth)[-1]
    gaps = []
    for width in widths:
        m, se = _mean_se(_cosine_chain(norm, width, depth, 0.0, replicates, batch=16)[:, depth])
        gaps.append((m - limit, se))
    (g64, s64), (g256, s256) = gaps[:2]
    assert g64 > Z * s64                                        # width 64 lies above the limit
    assert abs(4 * g256 - g64) < Z * np.hypot(4 * s256, s64)    # a quarter of the gap at 256
    if len(gaps) > 2:
        g1024, s1024 = gaps[2]
        assert abs(16 * g1024 - g64) < Z * np.hypot(16 * s1024, s64)


# --- claims F6, F6b, R4c ----------------------------------------------------------------------------

IDS = ("F6", "F6b", "R4c")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    registry.load_claims(("forward", "rank"))
    cache = tmp_path_factory.mktemp("fw-cache")
    results = run_claims(registry.select(",".join(IDS)), mode="quick", seed=0, cache_dir=cache, progress=False)
    return cache, {r.claim.id: r for r in results}


@pytest.mark.parametrize("claim_id", IDS)
def test_finite_width_claims_agree_on_the_quick_grid(quick, claim_id):
    _, results = quick
    rows = results[claim_id].rows
    assert rows and all(r.verdict == AGREE for r in rows), [(r.setting, r.verdict, r.reason) for r in rows]
    assert all(r.theory_low < r.theory < r.theory_high and r.theory_replicates > 0 for r in rows)
    assert all(r.trials_used == r.trials for r in rows)


@pytest.mark.parametrize("steps", [-2.0, 2.0])
@pytest.mark.parametrize("claim_id", IDS)
def test_finite_width_theory_moved_by_two_delta_disagrees(quick, claim_id, steps):
    cache, results = quick
    claim = results[claim_id].claim
    moved = dataclasses.replace(claim, theory=lambda s, f=claim.theory, p=claim.precision: p.moved(f(s), steps))
    (result,) = run_claims([moved], mode="quick", seed=0, cache_dir=cache, progress=False)
    bad = [(r.setting, r.verdict) for r in result.rows if r.verdict != DISAGREE]
    assert not bad


def test_finite_width_claims_are_listed_with_their_form():
    from normtheory.verify import claims_finite_width

    registry.load_claims(("forward", "rank"))
    for claim in registry.select(",".join(IDS)):
        assert claim.form == "finite-width (exact in law, computed)" and claim.theory_looks > 0
        expected = registry.select("R4")[0].measure if claim.id == "R4c" else claims_finite_width.measure_independent
        assert claim.measure is expected


def test_f6_simulates_wn_and_sws_on_explicit_weights(monkeypatch):
    """F6/F6b measure with F1's measure, WN and SWS pinned to explicit weights (the Gram
    engine would draw their layers with the chain's own kernel); other norms and a setting
    that names its engine pass unchanged."""
    from normtheory.verify import claims_finite_width

    seen = []
    monkeypatch.setattr(claims_finite_width, "measure_variance", lambda s, trials, seed: seen.append(s))
    for s in ({"norm": "weightnorm"}, {"norm": "sws"}, {"norm": "plain"}, {"norm": "sws", "engine": "gram"}):
        claims_finite_width.measure_independent(s, 2, 0)
    assert [s.get("engine") for s in seen] == ["explicit", "explicit", None, "gram"]
    assert [c.id for c in registry.select(family="rank") if c.id.startswith("R4")] == ["R4", "R4b", "R4c", "R4d"]


@pytest.mark.parametrize("dof", [1, 3, 62])
def test_chi2_draws_have_the_chi2_mean_and_variance(dof):
    from normtheory.kernels.exact_in_law import chi2_draw
    from normtheory.kernels.rng import seeded_state, standard_normal

    n = 20000
    state, buf = seeded_state(7), np.empty(1)
    z = standard_normal(1, n, 8)[0]
    draws = np.array([chi2_draw(state, dof, z[i], buf) for i in range(n)])
    assert np.all(draws > 0)
    m, se = _mean_se(draws)
    assert abs(m - dof) < Z * se
    # the variance 2·dof, within 4 standard errors of a sample variance (χ² kurtosis 12/dof)
    var_se = 2 * dof * np.sqrt((2 + 12 / dof) / n)
    assert abs(draws.var(ddof=1) - 2 * dof) < Z * var_se
    # and the test can fail: one degree of freedom more is told apart
    assert abs(m - (dof + 1)) > Z * se
