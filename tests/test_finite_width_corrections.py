"""The 1/width correction of the ReLU cosine map (normtheory.bounds.finite_width) and claim R4d.

Every formula is checked before it is trusted: the bivariate moments against Monte Carlo, the
one-layer map against R4's closed form and the identity case against the classical expansion
of a sample correlation, the one-layer correction and variance against a direct simulation of
the ratio, the depth recursion against R4c's chain exact in law; then the claim through the
real verdict code on real simulations (the corrected form agrees, the infinite-width map and
a doubled correction are rejected).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from normtheory import bounds
from normtheory.bounds.finite_width import cosine_layer_correction, cosine_layer_expr, pair_moment_expr
from normtheory.montecarlo.exact_in_law import probe_chain
from normtheory.verify import registry
from normtheory.verify.runner import run_claims
from normtheory.verify.stats import AGREE, DISAGREE

RELU = lambda x: np.maximum(x, 0.0)  # noqa: E731
PHI = {"identity": lambda x: x, "relu": RELU}


def _pairs(c, shape, rng):
    u = rng.standard_normal(shape)
    return u, c * u + np.sqrt(1 - c * c) * rng.standard_normal(shape)


@pytest.mark.parametrize("activation", ["identity", "relu"])
@pytest.mark.parametrize("c", [-0.6, 0.0, 0.35, 0.9])
def test_pair_moments_match_monte_carlo(activation, c):
    rng = np.random.default_rng(1)
    u, v = _pairs(c, 2_000_000, rng)
    fu, fv = PHI[activation](u), PHI[activation](v)
    for m in range(5):
        for n in range(5 - m):
            sym, expr = pair_moment_expr(activation, m=m, n=n)
            exact = float(expr.subs(sym, c))
            draws = fu ** m * fv ** n
            se = draws.std() / np.sqrt(draws.size)
            assert abs(draws.mean() - exact) < 5 * se + 1e-12, (m, n, draws.mean(), exact)


def test_relu_layer_map_is_r4s_arccosine_map():
    c, f, _, _ = cosine_layer_expr("relu")
    ck, kappa = bounds.relu_correlation_map_expr()
    for x in (-0.9, -0.3, 0.0, 0.4, 0.95):
        assert float(f.subs(c, x)) == pytest.approx(float(kappa.subs(ck, x)), abs=1e-14)


def test_identity_layer_is_the_classical_expansion_of_a_sample_correlation():
    c, f, b, s = cosine_layer_expr("identity")
    assert sp.simplify(f - c) == 0
    assert sp.simplify(b + c * (1 - c ** 2) / 2) == 0
    assert sp.simplify(s - (1 - c ** 2) ** 2) == 0


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("c", [0.0, 0.5, 0.85])
def test_one_relu_layer_mean_and_variance_match_the_ratio_simulated(width, c):
    rng = np.random.default_rng(width + int(100 * c))
    trials = 200_000
    u, v = _pairs(c, (trials, width), rng)
    a, b_ = RELU(u), RELU(v)
    cos = (a * b_).sum(1) / np.sqrt((a * a).sum(1) * (b_ * b_).sum(1))
    f, b, s = cosine_layer_correction("relu", c=c)
    se = cos.std() / np.sqrt(trials)
    # the corrected mean within sampling error and an O(1/d²) remainder; the limit f is not
    assert abs(cos.mean() - (f + b / width)) < 4 * se + 1.0 / width ** 2
    if abs(b) / width > 8 * se + 2.0 / width ** 2:
        assert abs(cos.mean() - f) > 4 * se + 1.0 / width ** 2
    # the variance's next term is O(1/d) relative (at c = 0.85: +27% at d = 32, +12% at 64, +3% at 256)
    assert abs(cos.var() * width - s) < 10 * s / width


def test_depth_recursion_matches_the_chain_exact_in_law():
    width, depth, n = 32, 3, 65536
    chain = probe_chain("plain", width=width, depth=depth, batch=2, replicates=n, nonlinearity="relu",
                        residual=False, probe="cosine", seed=3).values
    mean, se = chain.mean(0), chain.std(0) / np.sqrt(n)
    form = bounds.relu_cosine_finite_width(0.0, depth=depth, width=width)
    limit = bounds.relu_correlation_iterate(0.0, depth=depth)
    for layer in range(1, depth + 1):
        assert abs(mean[layer] - form[layer]) < 4 * se[layer] + 1.0 / width ** 2
        assert abs(mean[layer] - limit[layer]) > 10 * se[layer]


def test_correction_shrinks_like_one_over_width():
    gaps = [bounds.relu_cosine_finite_width(0.0, depth=4, width=d) - bounds.relu_correlation_iterate(0.0, depth=4)
            for d in (32, 64)]
    np.testing.assert_allclose(gaps[0][1:], 2 * gaps[1][1:], rtol=1e-12)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    registry.load_claims(("rank",))
    claim = registry.select("R4d")[0]
    cache = tmp_path_factory.mktemp("r4d-cache")
    (result,) = run_claims([claim], mode="quick", seed=0, cache_dir=cache, progress=False)
    return cache, claim, result


def _rerun(cache, claim, theory):
    (result,) = run_claims([dataclasses.replace(claim, theory=theory, rivals=())], mode="quick", seed=0,
                           cache_dir=cache, progress=False)
    return result


def test_r4d_agrees_and_rejects_the_infinite_width_map_where_it_discriminates(quick):
    _, claim, result = quick
    (rival,) = claim.rivals
    assert result.rows
    for row in result.rows:
        assert row.verdict == AGREE, (row.setting, row.gap)
        judged = row.rival(rival.name)
        assert judged.discriminating and judged.verdict == DISAGREE, (row.setting, judged)


def test_r4d_infinite_width_map_as_the_claimed_form_disagrees(quick):
    cache, claim, _ = quick
    result = _rerun(cache, claim, claim.rivals[0].theory)
    assert all(row.verdict == DISAGREE for row in result.rows)


def test_r4d_doubled_correction_disagrees(quick):
    cache, claim, _ = quick
    doubled = lambda s: 2 * claim.theory(s) - claim.rivals[0].theory(s)  # noqa: E731
    result = _rerun(cache, claim, doubled)
    assert all(row.verdict == DISAGREE for row in result.rows)
