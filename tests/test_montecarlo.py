"""The Monte Carlo engines: reproducibility, agreement in distribution, divergence, bad input."""

import numpy as np
import pytest
from scipy.stats import ks_2samp

from normtheory.montecarlo import simulate_mlp, simulate_net


def test_same_seed_same_numbers_and_different_seed_differs():
    kw = dict(width=16, depth=4, batch=6, trials=5, group_size=4)
    a = simulate_mlp("groupnorm", seed=3, **kw)
    b = simulate_mlp("groupnorm", seed=3, **kw)
    c = simulate_mlp("groupnorm", seed=4, **kw)
    np.testing.assert_array_equal(a.grad_sq, b.grad_sq)
    np.testing.assert_array_equal(a.cosine, b.cosine)
    assert not np.allclose(a.grad_sq, c.grad_sq)


@pytest.mark.parametrize("name,kw,nl,res", [
    ("batchnorm", {}, "relu", False), ("groupnorm", {"group_size": 4}, "linear", False),
    ("layernorm", {}, "linear", True), ("weightnorm", {}, "relu", True), ("evonorm_b0", {}, "relu", False)])
def test_numba_engine_agrees_in_distribution_with_torch_reference(name, kw, nl, res):
    """Two-sample KS per probe at the last layer; level 0.001 per test (5 probes x 5 cases)."""
    common = dict(width=16, depth=5, batch=6, trials=150, nonlinearity=nl, residual=res, **kw)
    a = simulate_mlp(name, engine="explicit", seed=0, **common)
    b = simulate_mlp(name, engine="torch", seed=1, **common)
    for probe in ("variance", "cosine", "stable_rank"):
        assert ks_2samp(getattr(a, probe)[:, -1], getattr(b, probe)[:, -1]).pvalue > 1e-3, probe
    ratio_a = a.grad_sq[:, 0] / a.grad_sq[:, -1]
    ratio_b = b.grad_sq[:, 0] / b.grad_sq[:, -1]
    assert ks_2samp(ratio_a, ratio_b).pvalue > 1e-3


def test_two_sample_check_detects_a_different_network():
    """The KS comparison above can fail: a wider network is told apart."""
    a = simulate_mlp("groupnorm", width=16, depth=5, batch=6, trials=150, group_size=4, seed=0)
    b = simulate_mlp("groupnorm", width=16, depth=5, batch=6, trials=150, group_size=8, seed=1)
    assert ks_2samp(a.grad_sq[:, 0] / a.grad_sq[:, -1], b.grad_sq[:, 0] / b.grad_sq[:, -1]).pvalue < 1e-3


def test_divergence_is_reported_with_its_layer():
    r = simulate_mlp("plain", width=8, depth=400, batch=4, trials=2, residual=True, alpha=3.0, backward=False)
    assert len(r.diverged) == 2
    for trial, layer in r.diverged:
        assert 1 <= layer <= 400
        assert np.all(np.isfinite(r.variance[trial, :layer]))
        assert np.all(np.isnan(r.variance[trial, layer:]))


@pytest.mark.parametrize("kwargs,match", [
    (dict(norm="groupnorm", group_size=3), "group_size"), (dict(norm="batchnorm", batch=1), "batch"),
    (dict(norm="nope"), "unknown normalizer"), (dict(norm="instancenorm"), "n=1"),
    (dict(norm="layernorm", width=0), "width"), (dict(norm="layernorm", engine="fast"), "engine"),
    (dict(norm="layernorm", alpha=float("nan")), "alpha")])
def test_bad_settings_raise_naming_the_parameter(kwargs, match):
    base = dict(width=8, depth=2, batch=4, trials=1)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        simulate_mlp(base.pop("norm"), **base)


def test_simulate_net_probes_every_layer():
    r = simulate_net("vgg10", "groupnorm", trials=2, batch=3, image_size=8, group_size=8)
    assert len(r.names) == 10 and r.variance.shape == (2, 10)
    assert np.all(np.isfinite(r.grad_input_sq)) and not r.diverged
