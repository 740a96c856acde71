"""The top layer's exact finite-width gradient growth (normtheory.bounds.top_layer) against
independent routes: the sympy closed form against the numeric integral, the infinite-width
limit against E[1/chi2], and Monte Carlo through the library's MLP and autograd."""

import numpy as np
import pytest
import sympy as sp

from normtheory import bounds
from normtheory.montecarlo.top_layer import top_layer_samples


def _isotropic_gram(batch, centered):
    if centered:
        return batch / (batch - 1) * (np.eye(batch) - 1.0 / batch)
    return np.eye(batch)


@pytest.mark.parametrize("norm,batch,width", [("batchnorm", 8, 64), ("batchnorm", 16, 20),
                                              ("variancenorm_uncentred", 6, 8),
                                              ("variancenorm_uncentred", 32, 512)])
def test_isotropic_closed_form_matches_the_integral(norm, batch, width):
    gram = _isotropic_gram(batch, norm == "batchnorm")
    assert bounds.top_growth_given_gram(norm, gram=gram, width=width) == pytest.approx(
        bounds.top_growth_isotropic(norm, batch=batch, width=width), rel=1e-8)


def test_isotropic_closed_form_and_its_infinite_width_limit():
    """The closed form is the gamma-free rational function, and as d -> oo it is
    (B-2)/B · E[‖h‖²/s²]-route: (B-2) · (B-1)/B · E[1/chi2_(B-1)] (the chi-square integral)."""
    B, d, expr = bounds.top_growth_isotropic_expr(centered=True)
    assert not expr.has(sp.gamma)
    assert sp.simplify(expr - (B - 2) * (B - 1) * (d - 2) / (B * d * (B - 3))) == 0
    k, inv = bounds.inverse_chi2_mean_expr()
    assert sp.simplify(sp.limit(expr, d, sp.oo) - (B - 2) * (B - 1) / B * inv.subs(k, B - 1)) == 0
    Bv, dv, expr_v = bounds.top_growth_isotropic_expr(centered=False)
    assert sp.simplify(sp.limit(expr_v, dv, sp.oo) - (Bv - 1) * inv.subs(k, Bv)) == 0


def test_per_sample_form_tends_to_the_isotropic_form():
    n, d, expr = bounds.top_growth_per_sample_expr(centered=True)
    n0, iso = bounds.growth_from_n_expr(centered=True)
    assert sp.simplify(sp.limit(expr, d, sp.oo) - iso.subs(n0, n)) == 0
    assert bounds.gradient_growth_per_layer("groupnorm", width=16, group_size=8, position="top") == \
        pytest.approx(15 / 16 * 6 / 5)


@pytest.mark.parametrize("norm,width,batch", [("batchnorm", 12, 8), ("variancenorm_uncentred", 10, 6)])
def test_given_gram_matches_monte_carlo_of_a_deep_net(norm, width, batch):
    """Paired per network: measured top ratio minus the formula given that network's Gram has
    mean 0 (4 standard errors); the Grams of a depth-4 net at this width are far from isotropic."""
    ratios, grams = top_layer_samples(norm, width=width, batch=batch, depth=4, trials=2000, seed=1)
    theory = bounds.top_growth_given_gram(norm, gram=np.array(grams), width=width)
    diff = ratios - theory
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert abs(diff.mean()) < 4 * se, (ratios.mean(), theory.mean(), se)
    # the spread of the formula over Grams is real (not a constant), so the pairing matters
    assert theory.std() > 0.01 * theory.mean()


def test_several_draws_per_network_keep_the_mean_and_shrink_the_spread():
    """Averaging over draws of the top layer and G on one input: same conditional mean (the
    residual against the Gram-conditional form stays centred), spread about sqrt(draws) smaller."""
    kw = dict(width=12, batch=8, depth=4, trials=300, seed=5)
    spreads = {}
    for draws in (1, 16):
        ratios, grams = top_layer_samples("batchnorm", draws=draws, **kw)
        diff = ratios - bounds.top_growth_given_gram("batchnorm", gram=np.array(grams), width=12)
        se = diff.std(ddof=1) / np.sqrt(diff.size)
        assert abs(diff.mean()) < 4 * se
        spreads[draws] = diff.std(ddof=1)
    assert 2.5 < spreads[1] / spreads[16] < 6.5, spreads
    with pytest.raises(ValueError, match="draws"):
        top_layer_samples("batchnorm", draws=0, **kw)


@pytest.mark.parametrize("norm,width,group_size", [("layernorm", 8, None), ("groupnorm", 16, 8)])
def test_per_sample_top_form_matches_monte_carlo(norm, width, group_size):
    """(d−1)/d · (n−2)/(n−3) for any input; the isotropic (n−2)/(n−3) lies outside the interval."""
    ratios, _ = top_layer_samples(norm, width=width, batch=4, depth=3, trials=2000, seed=2,
                                  group_size=group_size)
    mean, se = ratios.mean(), ratios.std(ddof=1) / np.sqrt(ratios.size)
    top = bounds.gradient_growth_per_layer(norm, width=width, group_size=group_size, position="top")
    assert abs(mean - top) < 4 * se
    n = bounds.stat_count(norm, width=width, group_size=group_size)
    assert abs(mean - bounds.gradient_growth_from_n(n)) > 4 * se


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="rank 2"):
        bounds.top_growth_given_gram("variancenorm_uncentred", gram=np.diag([1.0, 1.0, 0.0, 0.0]), width=8)
    with pytest.raises(ValueError, match="width=3"):
        bounds.top_growth_given_gram("variancenorm_uncentred", gram=np.eye(6), width=3)
    with pytest.raises(ValueError, match="symmetric"):
        bounds.top_growth_given_gram("batchnorm", gram=np.triu(np.ones((5, 5))), width=8)
    for paper_vn in ("variancenorm", "variancenorm_centred"):  # the paper's: no top-layer form
        with pytest.raises(ValueError, match="no top-layer form"):
            bounds.top_growth_given_gram(paper_vn, gram=np.eye(6), width=8)
        with pytest.raises(ValueError, match="no top-layer form"):
            bounds.top_growth_isotropic(paper_vn, batch=8, width=16)
    with pytest.raises(ValueError, match="positive semi-definite"):
        bounds.top_growth_given_gram("batchnorm", gram=-np.eye(5), width=8)
    with pytest.raises(ValueError, match="square"):
        bounds.top_growth_given_gram("batchnorm", gram=np.ones((4, 5)), width=8)
    with pytest.raises(ValueError, match="norm must be one of"):
        bounds.top_growth_given_gram("layernorm", gram=np.eye(5), width=8)
    with pytest.raises(ValueError, match="batch=3"):
        bounds.top_growth_isotropic("batchnorm", batch=3, width=8)
    with pytest.raises(ValueError, match="width"):
        bounds.top_growth_isotropic("batchnorm", batch=16, width=8)
    with pytest.raises(ValueError, match="n="):
        bounds.top_growth_per_sample(3, width=8)
