"""Closed forms of normtheory.bounds against independent routes."""

import math

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, stats

from normtheory import bounds


def test_inverse_chi_square_mean_against_numeric_integral():
    k, expr = bounds.inverse_chi2_mean_expr()
    for dof in (3, 5, 12):
        numeric = integrate.quad(lambda x: stats.chi2.pdf(x, dof) / x, 0, np.inf)[0]
        assert float(expr.subs(k, dof)) == pytest.approx(numeric, rel=1e-7)


def test_growth_symbolic_and_numeric_forms_agree_and_vanish_at_large_n():
    n, expr = bounds.growth_from_n_expr(centered=True)
    for value in (4, 9, 100):
        assert bounds.gradient_growth_from_n(value) == pytest.approx(float(expr.subs(n, value)))
    assert sp.limit(expr, n, sp.oo) == 1
    assert bounds.gradient_growth_from_n(10 ** 6) == pytest.approx(1.0, abs=1e-5)


def test_special_cases_layernorm_and_instancenorm_are_groupnorm_ends():
    ln = bounds.gradient_growth_per_layer("layernorm", width=64)
    gn = bounds.gradient_growth_per_layer("groupnorm", width=64, group_size=64)
    assert ln == gn
    inn = bounds.gradient_growth_per_layer("instancenorm", width=64, spatial=16)
    gn1 = bounds.gradient_growth_per_layer("groupnorm", width=64, group_size=1, spatial=16)
    assert inn == gn1
    assert bounds.stat_count("batchnorm", width=8, batch=32, spatial=4) == 128


def test_gradient_growth_monte_carlo_of_one_layer():
    """Independent route: draw one GroupNorm layer's Jacobian in numpy and average."""
    rng = np.random.default_rng(0)
    g, reps = 8, 200_000
    h = rng.standard_normal((reps, g))
    gy = rng.standard_normal((reps, g))
    y = (h - h.mean(1, keepdims=True)) / h.std(1, keepdims=True)
    gx = (gy - gy.mean(1, keepdims=True) - y * (gy * y).mean(1, keepdims=True)) / h.std(1, keepdims=True)
    ratio = (gx ** 2).sum(1).mean() / (gy ** 2).sum(1).mean()
    assert ratio == pytest.approx(bounds.gradient_growth_from_n(g), rel=0.03)


def test_domain_errors_name_the_parameter():
    with pytest.raises(ValueError, match="n=3"):
        bounds.gradient_growth_from_n(3)
    with pytest.raises(ValueError, match="group_size"):
        bounds.gradient_growth_per_layer("groupnorm", width=10, group_size=4)
    with pytest.raises(ValueError, match="batch"):
        bounds.stat_count("batchnorm", width=8)
    with pytest.raises(ValueError, match="depth"):
        bounds.resnet_variance("batchnorm", depth=-1)
    with pytest.raises(ValueError, match="alpha"):
        bounds.resnet_variance("batchnorm", depth=3, alpha=-1)
    with pytest.raises(ValueError, match="c must"):
        bounds.relu_correlation_map(1.5)


def test_residual_variance_closed_forms():
    assert bounds.resnet_variance("layernorm", depth=10, alpha=0.5) == pytest.approx(1 + 0.25 * 10)
    np.testing.assert_allclose(bounds.resnet_variance("plain", depth=[0, 3], alpha=1.0), [1.0, 8.0])
    assert bounds.resnet_variance_skipinit("weightnorm", depth=50) == pytest.approx(1.0)
    assert bounds.resnet_variance_nf("plain", depth=20, alpha=1.0) == pytest.approx(21.0)
    assert bounds.growth_rate("weightnorm", alpha=1.0, nonlinearity="relu") == pytest.approx(
        1 + math.pi / (math.pi - 1))
    # iterating the moment map numerically reproduces the closed forms it generalizes
    assert bounds.resnet_variance("plain", depth=7, alpha=0.7, input_corr=1e-12) == pytest.approx(1.49 ** 7, rel=1e-6)


def test_second_moments_against_numeric_integrals():
    pdf = stats.norm.pdf
    b0 = integrate.quad(lambda z: (z / max(1.0, z)) ** 2 * pdf(z), -np.inf, np.inf)[0]
    assert bounds.norm_second_moment("evonorm_b0") == pytest.approx(b0, rel=1e-6)
    s0 = integrate.quad(lambda z: (z * 0.5 * (1 + np.tanh(z))) ** 2 * pdf(z), -np.inf, np.inf)[0]  # sigmoid(2z)
    assert bounds.norm_second_moment("evonorm_s0", input_var=4.0) == pytest.approx(s0, rel=1e-4)
    assert bounds.norm_second_moment("frn", tlu=True) == 0.5
    assert bounds.norm_second_moment("groupnorm") == 1.0


def test_relu_correlation_map_against_monte_carlo_and_asymptotic():
    rng = np.random.default_rng(1)
    u, w = rng.standard_normal((2, 400_000))
    for c in (0.0, 0.5, 0.9):
        v = c * u + math.sqrt(1 - c * c) * w
        prod = np.maximum(u, 0) * np.maximum(v, 0) / 0.5
        se = prod.std() / math.sqrt(prod.size)
        assert abs(bounds.relu_correlation_map(c) - prod.mean()) < 4 * se
    c = bounds.relu_correlation_iterate(0.0, depth=3000)
    assert (1 - c[3000]) / bounds.relu_similarity_gap_asymptotic(depth=3000) == pytest.approx(1.0, abs=0.1)
    assert bounds.batchnorm_relu_growth() == pytest.approx(math.pi / (math.pi - 1))


def test_rank_bound_and_tradeoff():
    assert bounds.rank_lower_bound("groupnorm", width=64, group_size=4) == pytest.approx(0.5 * 4)
    assert bounds.rank_lower_bound("batchnorm", width=64) == pytest.approx(4.0)
    rows = bounds.speed_stability(width=64, depth=20, group_sizes=[4, 8, 16, 64])
    assert [r["rank_bound"] for r in rows] == sorted([r["rank_bound"] for r in rows], reverse=True)
    assert [r["growth_per_layer"] for r in rows] == sorted([r["growth_per_layer"] for r in rows], reverse=True)
    g = bounds.recommend_group_size(width=64, depth=20, max_growth=10.0)
    row = [r for r in bounds.speed_stability(width=64, depth=20, group_sizes=[g])][0]
    assert row["total_growth"] <= 10.0
    assert bounds.rank_collapse_rate("plain", width=64) > bounds.rank_collapse_rate("plain", width=256) > 0


def test_interior_growth_derivation():
    """Per-sample statistics below a scale-invariant layer: the four steps give
    (n-2)/(n-3) centred and (n-1)/(n-2) variance only, independent of the width d (the
    earlier form n(n-2)/((n-1)(n-3)) for LN was off by d/(d-1)); batch statistics at
    infinite width give the same forms in B; the numeric function follows the expressions."""
    n, d, expr = bounds.interior_growth_expr(centered=True)
    assert d not in expr.free_symbols
    assert sp.simplify(expr - (n - 2) / (n - 3)) == 0
    n0, iso = bounds.growth_from_n_expr(centered=True)
    assert sp.simplify(expr - iso.subs(n0, n)) == 0
    n2, d2, expr2 = bounds.interior_growth_expr(centered=False)
    assert sp.simplify(expr2 - (n2 - 1) / (n2 - 2)) == 0
    B, bn = bounds.interior_batch_limit_expr(centered=True)
    assert sp.simplify(bn - (B - 2) / (B - 3)) == 0
    B2, vn = bounds.interior_batch_limit_expr(centered=False)
    assert sp.simplify(vn - (B2 - 1) / (B2 - 2)) == 0
    assert bounds.gradient_growth_per_layer("layernorm", width=16) == pytest.approx(14 / 13)
    assert bounds.gradient_growth_per_layer("groupnorm", width=4096, group_size=8) == pytest.approx(6 / 5)
    assert bounds.gradient_growth_per_layer("batchnorm", width=64, batch=16) == pytest.approx(14 / 13)
    assert bounds.gradient_growth_per_layer("variancenorm_uncentred", width=64, batch=16) == pytest.approx(15 / 14)
    # the top layer: the weight's projection off the sample keeps (d-1)/d (bounds.top_layer)
    assert bounds.gradient_growth_per_layer("layernorm", width=16, position="top") == \
        pytest.approx(15 / 16 * 14 / 13)
    # ReLU nets keep the isotropic form; a bad position is named
    assert bounds.gradient_growth_per_layer("groupnorm", width=64, group_size=8,
                                            nonlinearity="relu") == pytest.approx(1.2)
    with pytest.raises(ValueError, match="position"):
        bounds.gradient_growth_per_layer("layernorm", width=16, position="middle")


def test_parametric_relu_growth_is_the_backward_gain():
    """The zero-mean ReLU of WN and the scaled ReLU of SWS keep the forward second moment
    with gain² = 2π/(π−1), so the backward grows by gain²/2 = π/(π−1); He ReLU by 1."""
    assert bounds.parametric_relu_growth_expr("weightnorm") == sp.pi / (sp.pi - 1)
    assert bounds.gradient_growth_per_layer("sws", width=64, nonlinearity="relu") == \
        pytest.approx(math.pi / (math.pi - 1))
    assert bounds.gradient_growth_per_layer("plain", width=64, nonlinearity="relu") == 1.0
    assert bounds.gradient_growth_per_layer("weightnorm", width=64) == 1.0


def test_form_kinds():
    kind = bounds.gradient_growth_form
    assert kind("layernorm") == kind("groupnorm", position="top") == "exact"
    assert kind("batchnorm") == "infinite-width limit"
    assert kind("variancenorm_uncentred", position="top") == "finite-width"
    assert kind("batchnorm", nonlinearity="relu") == "approximation"
    assert kind("groupnorm", nonlinearity="relu") == "infinite-width limit"
    assert kind("groupnorm", spatial=16) == "approximation"
    assert kind("plain") == "exact"
    with pytest.raises(ValueError, match="evonorm"):
        kind("evonorm_s0")
    rows = bounds.gradient_growth_forms()
    assert {r["kind"] for r in rows} <= set(bounds.FORM_KINDS)
    assert len(rows) == 9 * 2 * 2
