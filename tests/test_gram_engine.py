"""The Gram engine (normtheory.montecarlo.gram): exact in distribution, and checks that can fail.

Equality in distribution with the explicit-weight engine is tested with two-sample
Kolmogorov-Smirnov tests (scipy.stats.ks_2samp) of every probe at several layers, over
independent trials of both engines (width 32, depth 10, batch 8, 200 trials unless said).
Significance: family-wise level ALPHA = 1% over all the comparisons of this file's
equality tests, Bonferroni-corrected (each comparison at ALPHA / N_COMPARISONS). The same
test run on a deliberately wrong Gram engine (weight scale 10% too large; or a backward pass
that draws a weight independent of the forward pass) must reject.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from normtheory.montecarlo import PROBES, simulate_mlp
from normtheory.montecarlo import gram as gram_module
from normtheory.montecarlo.gram import GaussianWeight, prefer_gram, psd_factor

ALPHA = 0.01
SIZE = dict(width=32, depth=10, batch=8, trials=200)
LAYERS = {"variance": (1, 5, 10), "cosine": (1, 5, 10), "stable_rank": (1, 5, 10), "grad_sq": (0, 5, 9)}
# (norm, options): non-residual linear (BatchNorm: the centred route) and ReLU, residual linear and
# ReLU, NF-scaled, width < batch,
# and a deep linear net at width = batch whose collapsing Gram sends most layers to the QR route
CASES = [
    ("groupnorm", dict(group_size=4, nonlinearity="relu")),
    ("batchnorm", dict(nonlinearity="linear")),
    ("layernorm", dict(nonlinearity="linear", residual=True, alpha=0.5)),
    ("plain", dict(nonlinearity="relu", residual=True)),
    ("evonorm_s0", dict(nonlinearity="relu", residual=True, nf_scaling=True, group_size=4)),
    ("variancenorm", dict(nonlinearity="linear", width=8, batch=16)),
    ("variancenorm_uncentred", dict(nonlinearity="relu", residual=True)),
    ("plain", dict(nonlinearity="linear", width=8, batch=8, depth=12)),  # rank collapse: QR route
]
N_COMPARISONS = len(CASES) * sum(len(v) for v in LAYERS.values())
LEVEL = ALPHA / N_COMPARISONS


def _options(options: dict) -> dict:
    out = dict(SIZE)
    out.update(options)
    return out


def ks_pvalues(a, b) -> dict:
    """Two-sample KS p-value of each probe at each layer of LAYERS, finite trials only."""
    out = {}
    for probe, layers in LAYERS.items():
        for layer in layers:
            x, y = getattr(a, probe)[:, layer], getattr(b, probe)[:, layer]
            out[(probe, layer)] = ks_2samp(x[np.isfinite(x)], y[np.isfinite(y)]).pvalue
    return out


def _pair(norm, options, seed=0):
    opts = _options(options)
    return (simulate_mlp(norm, engine="gram", seed=seed, **opts),
            simulate_mlp(norm, engine="explicit", seed=seed, **opts))


@pytest.mark.parametrize("norm,options", CASES, ids=[c[0] for c in CASES])
def test_same_distribution_as_explicit_engine(norm, options):
    gram, explicit = _pair(norm, options)
    assert gram.diverged == [] and explicit.diverged == []
    pvalues = ks_pvalues(gram, explicit)
    rejected = {k: p for k, p in pvalues.items() if p < LEVEL}
    assert not rejected, f"gram and explicit differ (level {LEVEL:.1e}): {rejected}"


def test_wrong_weight_scale_is_rejected(monkeypatch):
    """A Gram engine whose weights have a 10% too large standard deviation fails the test."""
    original = GaussianWeight.__init__

    def too_large(self, u, gram, scale):
        original(self, u, gram, 1.1 * scale)

    monkeypatch.setattr(GaussianWeight, "__init__", too_large)
    gram, explicit = _pair("plain", dict(nonlinearity="linear"))
    assert min(ks_pvalues(gram, explicit).values()) < LEVEL


def test_backward_independent_of_forward_is_rejected(monkeypatch):
    """A backward pass through a fresh weight (forgetting what the forward pass saw) fails.

    The marginal law of each weight is right; only the coupling of the forward and backward
    passes through the same ``W`` is lost, which a BatchNorm net's gradients reveal (the
    backward of BatchNorm is orthogonal, per channel, to its input ``U Wᵀ``).
    """

    def fresh_weight(self, g, rng):
        from normtheory.kernels.rng import normal_from_state

        s = psd_factor(g @ g.T)
        return (self.scale * s) @ normal_from_state(rng, s.shape[1], self.u.shape[1])

    monkeypatch.setattr(GaussianWeight, "backward", fresh_weight)
    gram, explicit = _pair("batchnorm", dict(nonlinearity="linear"))
    pvalues = ks_pvalues(gram, explicit)
    assert min(p for (probe, _), p in pvalues.items() if probe == "grad_sq") < LEVEL


def test_collapsing_linear_net_takes_the_qr_route(monkeypatch):
    routes = []
    original = gram_module._cholesky

    def counted(gram):
        chol = original(gram)
        routes.append(chol is None)
        return chol

    monkeypatch.setattr(gram_module, "_cholesky", counted)
    simulate_mlp("plain", engine="gram", **_options(CASES[-1][1]))
    assert 0.5 < np.mean(routes) < 1.0  # both routes, mostly QR


@pytest.mark.parametrize("rank", [8, 3])
def test_backward_is_the_transpose_of_forward_on_the_row_space(rank):
    """For the one W the engine implies, (G W) Uᵀ = G (U Wᵀ)ᵀ = G Hᵀ, for any G.

    rank 8 (= batch) takes the Cholesky route, rank 3 the Householder QR route.
    """
    rng = np.random.default_rng(0)
    b, d = 8, 40
    u = rng.standard_normal((b, rank)) @ rng.standard_normal((rank, d))
    weight = GaussianWeight(u, u @ u.T, 0.3)
    assert (weight.chol is not None) == (rank == b)
    from normtheory.kernels.rng import seeded_state

    gen = seeded_state(1)
    h = weight.forward(gen)
    g = rng.standard_normal((b, d))
    gu = weight.backward(g, gen)
    np.testing.assert_allclose(gu @ u.T, g @ h.T, rtol=1e-8, atol=1e-8 * np.abs(g @ h.T).max())


def test_batchnorm_linear_net_takes_the_centred_route(monkeypatch):
    """After the first layer a linear BatchNorm net's weight inputs have rows summing to 0:
    their Gram is singular, and the engine factors it on the centred subspace, not by QR."""
    routes = []
    original = GaussianWeight.__init__

    def recorded(self, u, gram, scale):
        original(self, u, gram, scale)
        routes.append(self.route)

    import numba

    monkeypatch.setattr(GaussianWeight, "__init__", recorded)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 1)  # trials one after the other
    simulate_mlp("batchnorm", engine="gram", **{**SIZE, "trials": 2, "width": 64})
    per_trial = np.array(routes).reshape(2, SIZE["depth"])
    assert np.all(per_trial[:, 0] == "cholesky")
    assert np.all(per_trial[:, 1:] == "centred")


def test_centred_route_is_the_transpose_of_forward_and_keeps_rows_centred():
    """For a ``U`` whose rows sum to 0 (rank B - 1): (G W) Uᵀ = G Hᵀ, and H = U Wᵀ has rows
    summing to 0; a U off-centre by 1e-6 of its norm is not taken for centred (QR route)."""
    from normtheory.kernels.rng import seeded_state

    rng = np.random.default_rng(3)
    b, d = 8, 40
    u = rng.standard_normal((b, d))
    u -= u.mean(axis=0)
    weight = GaussianWeight(u, u @ u.T, 0.3)
    assert weight.route == "centred"
    gen = seeded_state(2)
    h = weight.forward(gen)
    np.testing.assert_allclose(h.sum(axis=0), 0.0, atol=1e-12 * np.abs(h).max())
    g = rng.standard_normal((b, d))
    gu = weight.backward(g, gen)
    np.testing.assert_allclose(gu @ u.T, g @ h.T, rtol=1e-8, atol=1e-8 * np.abs(g @ h.T).max())
    shifted = u + 1e-6 * np.linalg.norm(u) * rng.standard_normal(d) / np.sqrt(d)
    assert GaussianWeight(shifted, shifted @ shifted.T, 0.3).route == "qr"


def test_psd_factor_of_a_rank_deficient_matrix():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 2))
    gram = a @ a.T
    s = psd_factor(gram)
    assert s.shape == (6, 2)
    np.testing.assert_allclose(s @ s.T, gram, atol=1e-12)


def test_same_seed_same_numbers_whatever_the_thread_count(monkeypatch):
    import numba

    opts = dict(width=64, depth=4, batch=8, trials=3, nonlinearity="relu")
    a = simulate_mlp("batchnorm", engine="gram", seed=5, **opts)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 1)
    b = simulate_mlp("batchnorm", engine="gram", seed=5, **opts)
    c = simulate_mlp("batchnorm", engine="gram", seed=6, **opts)
    for probe in PROBES:
        np.testing.assert_array_equal(getattr(a, probe), getattr(b, probe))
    assert not np.array_equal(a.grad_sq, c.grad_sq)


def test_divergence_is_recorded():
    """A residual plain ReLU net with alpha = 1000 overflows near layer 52 (variance ~1e6 per layer)."""
    sim = simulate_mlp("plain", width=32, depth=60, batch=8, trials=2, residual=True, alpha=1e3,
                       nonlinearity="relu", engine="gram")
    assert len(sim.diverged) == 2
    for trial, layer in sim.diverged:
        assert 40 < layer < 60
        assert np.all(np.isfinite(sim.variance[trial, :layer]))
        assert np.all(np.isnan(sim.variance[trial, layer:])) and np.all(np.isnan(sim.grad_sq[trial]))


@pytest.mark.parametrize("norm", ["weightnorm", "sws"])
def test_parametric_weights_with_a_backward_pass_are_refused(norm):
    with pytest.raises(ValueError, match="forward only"):
        simulate_mlp(norm, width=32, depth=2, batch=4, trials=2, engine="gram")


def test_auto_picks_gram_only_where_exact_and_faster():
    def settings(norm, width, batch):
        return dict(norm=norm, width=width, batch=batch)

    assert prefer_gram(settings("groupnorm", 4096, 64))
    assert prefer_gram(settings("plain", 256, 64))
    assert not prefer_gram(settings("groupnorm", 64, 64))  # narrow: explicit is faster
    assert not prefer_gram(settings("batchnorm", 128, 128))
    assert not prefer_gram(settings("weightnorm", 4096, 64))  # not exact with a backward pass
    assert prefer_gram({**settings("weightnorm", 4096, 64), "backward": False})  # forward only: exact
    sim = simulate_mlp("layernorm", width=256, depth=2, batch=8, trials=2, engine="auto")
    assert sim.settings["engine"] == "gram"
    sim = simulate_mlp("sws", width=256, depth=2, batch=8, trials=2, engine="auto")
    assert sim.settings["engine"] == "explicit"
    sim = simulate_mlp("sws", width=256, depth=2, batch=8, trials=2, engine="auto", backward=False)
    assert sim.settings["engine"] == "gram"


def _z(a, b):
    """Two-sample z of the means of ``a`` and ``b`` (independent samples)."""
    return (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)


@pytest.mark.parametrize("residual", [True, False])
def test_row_normalised_forward_agrees_with_explicit_weights(residual):
    """WN and SWS forward on the Gram engine (each layer's H drawn from its law given the
    input) against explicit row-normalised weights, 400 networks each, independent seeds:
    variance, cosine and stable rank at the last layer within 4 standard errors (12 z's,
    each |z| > 4 with chance 6e-5). Power: the other normalizer's explicit networks are
    told apart by the cosine (|z| 35-70 here: SWS's centring of each weight row)."""
    kw = dict(width=64, depth=6, batch=8, trials=400, nonlinearity="relu", residual=residual, backward=False,
              input_corr=0.3, rank_layers=(-1,))
    gram = {n: simulate_mlp(n, engine="gram", seed=1, **kw) for n in ("weightnorm", "sws")}
    explicit = {n: simulate_mlp(n, engine="explicit", seed=2, **kw) for n in ("weightnorm", "sws")}
    for norm, other in (("weightnorm", "sws"), ("sws", "weightnorm")):
        for probe in ("variance", "cosine", "stable_rank"):
            z = _z(getattr(gram[norm], probe)[:, -1], getattr(explicit[norm], probe)[:, -1])
            assert abs(z) < 4, (norm, probe, z)
        assert abs(_z(gram[norm].cosine[:, -1], explicit[other].cosine[:, -1])) > 10


def test_exact_norms_are_the_iid_gaussian_ones():
    from normtheory.normalizers import NAMES, VARIANT_NAMES

    assert set(gram_module.EXACT_NORMS) == set(NAMES + VARIANT_NAMES) - {"weightnorm", "sws"}
