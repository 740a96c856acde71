"""Every trial of the numba engines is accounted for: finite, or listed as diverged (forward
or backward) at its first non-finite layer; a failed trial is reported, never dropped."""

import numpy as np
import pytest

from normtheory.montecarlo import MLPSimulation, simulate_mlp

ENGINES = ("explicit", "gram")


def _assert_accounted(sim):
    listed = dict(sim.diverged)
    for t in range(sim.trials):
        values = [sim.variance[t], sim.cosine[t], sim.stable_rank[t], sim.srank_excess[t]]
        values = np.stack(values + ([sim.grad_sq[t]] if sim.settings["backward"] else []))
        if t not in listed:
            assert np.isfinite(values).all(), t


@pytest.mark.parametrize("engine", ENGINES)
def test_collapsed_layernorm_net_through_the_rank_probe(engine):
    """The reported reproducer: the Lanczos probe raised inside prange on these Grams."""
    sim = simulate_mlp(norm="layernorm", width=32, depth=300, batch=32, trials=4, nonlinearity="linear",
                       residual=False, backward=False, seed=0, engine=engine)
    assert sim.diverged == []
    for probe in ("variance", "cosine", "stable_rank", "srank_excess"):
        assert np.isfinite(getattr(sim, probe)).all(), probe
    assert (sim.srank_excess > 0).all()
    np.testing.assert_allclose(sim.srank_excess, sim.stable_rank - 1.0, atol=1e-13)


@pytest.mark.parametrize("engine", ENGINES)
def test_deep_relu_residual_net_is_finite_or_diverged(engine):
    """The reported case: NaN from layer ~526 with diverged == [] (a probe's exception had
    stopped the trial without recording it)."""
    sim = simulate_mlp(norm="plain", width=64, depth=1000, batch=8, trials=2, nonlinearity="relu",
                       residual=True, engine=engine)
    _assert_accounted(sim)


@pytest.mark.parametrize("engine", ENGINES)
def test_forward_overflow_is_recorded(engine):
    sim = simulate_mlp("plain", width=8, depth=400, batch=4, trials=2, residual=True, alpha=3.0, engine=engine)
    assert [t for t, _ in sim.diverged] == [0, 1] and sim.backward_diverged == []
    for t, layer in sim.diverged:
        assert np.isfinite(sim.variance[t, :layer]).all() and np.isnan(sim.variance[t, layer:]).all()
        assert np.isnan(sim.srank_excess[t, layer:]).all() and np.isnan(sim.grad_sq[t]).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_backward_overflow_is_recorded(engine):
    """BatchNorm keeps the forward pass bounded while its gradient grows geometrically
    (about 10^0.2 per layer at batch 4): the gradient overflows, the forward pass does not."""
    sim = simulate_mlp("batchnorm", width=32, depth=2000, batch=4, trials=2, nonlinearity="relu",
                       engine=engine, seed=0)
    assert [t for t, _ in sim.backward_diverged] == [0, 1] and sim.diverged == sim.backward_diverged
    for t, layer in sim.backward_diverged:
        assert 0 <= layer < 2000
        assert np.isfinite(sim.variance[t]).all() and np.isfinite(sim.srank_excess[t]).all()
        assert np.isnan(sim.grad_sq[t, :layer + 1]).all() and np.isfinite(sim.grad_sq[t, layer + 1:]).all()
        assert sim.grad_sq[t, layer + 1] > 1e290
    assert len(sim.finite_trials()) == 0


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("backward", [True, False])
def test_failed_trial_is_reported(engine, backward):
    sim = simulate_mlp("groupnorm", width=16, depth=5, batch=4, trials=3, group_size=4, engine=engine,
                       backward=backward, fail_trial=1)
    assert sim.diverged == [(1, 1)] and sim.settings["fail_trial"] == 1
    assert np.isnan(sim.variance[1, 1:]).all() and np.isfinite(sim.variance[1, 0])
    assert list(sim.finite_trials()) == [0, 2]
    _assert_accounted(sim)


@pytest.mark.parametrize("kwargs", [dict(fail_trial=3), dict(fail_trial=-2), dict(fail_trial=1, engine="torch")])
def test_fail_trial_is_checked(kwargs):
    with pytest.raises(ValueError, match="fail_trial"):
        simulate_mlp("layernorm", width=8, depth=2, batch=4, trials=3, **kwargs)


def _sim(trials=3, depth=4):
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(1.0, 2.0, (trials, depth + 1)) for _ in range(5)]
    return MLPSimulation(*arrays[:4], settings={"backward": True}, srank_excess=arrays[4])


def test_check_trials_refuses_an_unlisted_non_finite_value():
    sim = _sim()
    sim.check_trials()
    sim.cosine[2, 3] = np.nan
    with pytest.raises(ValueError, match="trial 2 .not listed"):
        sim.check_trials()
    sim.cosine[2, 3:] = sim.variance[2, 3:] = sim.stable_rank[2, 3:] = sim.srank_excess[2, 3:] = np.nan
    sim.grad_sq[2] = np.nan
    sim.diverged = [(2, 3)]
    sim.check_trials()
    sim.diverged = [(2, 2)]  # not where its values stop
    with pytest.raises(ValueError, match="listed as diverged at layer 2"):
        sim.check_trials()


def test_check_trials_backward_convention():
    sim = _sim()
    sim.grad_sq[0, :3] = np.nan
    with pytest.raises(ValueError, match="trial 0"):
        sim.check_trials()
    sim.diverged = sim.backward_diverged = [(0, 2)]
    sim.check_trials()
    sim.backward_diverged = [(0, 1)]
    with pytest.raises(ValueError, match="not part of diverged"):
        sim.check_trials()
    sim.settings["backward"] = False  # then no gradient may be finite
    sim.diverged = sim.backward_diverged = []
    with pytest.raises(ValueError):
        sim.check_trials()


def test_an_exception_inside_the_kernel_is_a_recorded_divergence():
    """A kernel that raises in a chunk of trials (here groupnorm with group size 0: d // 0) ends
    its trial as a divergence at the layer in progress; the call returns and the next is clean."""
    from normtheory.kernels.explicit import GAUSSIAN
    from normtheory.kernels.mlp_norms import norm_code, phi_code
    from normtheory.montecarlo.explicit import simulate_explicit

    def run(g):
        return simulate_explicit(norm_code("groupnorm"), phi_code("groupnorm", "linear"), g, 1e-5, 4, 8, 3, 3,
                                 False, 1.0, np.ones(3), GAUSSIAN, 1.0, 0.0, 0, True, -1, np.ones(4, dtype=np.bool_))

    *probes, div, bdiv = run(0)
    assert div.tolist() == [1, 1, 1] and bdiv.tolist() == [-1, -1, -1]
    assert np.isfinite(probes[0][:, 0]).all() and np.isnan(probes[0][:, 1:]).all()
    *probes, div, bdiv = run(4)
    assert div.tolist() == [-1, -1, -1] and bdiv.tolist() == [-1, -1, -1] and np.isfinite(probes).all()


def test_verify_names_the_pass_that_overflowed():
    """The error verdict says whether the overflow was in the forward or the backward pass."""
    import math

    from normtheory.verify import simulations
    from normtheory.verify.judging import judge
    from normtheory.verify.registry import Claim, Point
    from normtheory.verify.stats import ERROR, Equivalence, Precision

    claim = Claim(id="X", family="gradients", title="t", statement="s", statistic="s", interval="i",
                  rule=Equivalence(Precision(0.01)), form="exact",
                  grid={"quick": [Point({}, 2)], "full": [Point({}, 2)]},
                  theory=lambda s: 1.0, measure=None, estimate=None, source="test")
    back = simulate_mlp("batchnorm", width=32, depth=2000, batch=4, trials=2, nonlinearity="relu", seed=0)
    fwd = simulate_mlp("plain", width=8, depth=400, batch=4, trials=2, residual=True, alpha=3.0)
    for sim, where in ((back, "in the backward pass"), (fwd, "in the forward pass,")):
        m = simulations.measurement(sim, grad=sim.grad_sq[:, 0])
        theory, interval, verdict = judge(claim, Point({}, 2), m, 0.95)
        assert verdict.verdict == ERROR and where in verdict.reason, verdict.reason
        assert interval is None and math.isfinite(theory)
    both = simulations.combined([back, fwd], grad=back.grad_sq[:, 0])
    assert both.diverged_trials == 2 and both.backward_trials == 0
