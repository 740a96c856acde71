"""The stable rank only where it is read: ``simulate_mlp(rank_layers=...)``.

Where computed, the numbers are bit for bit those of a run that computes it everywhere,
on every engine; elsewhere they are NaN by design, and the trial bookkeeping still holds.
"""

from __future__ import annotations

import numpy as np
import pytest

from normtheory.montecarlo import simulate_mlp

BASE = dict(width=32, depth=8, batch=8, trials=3, nonlinearity="relu", seed=4)


@pytest.mark.parametrize("engine", ["explicit", "gram", "torch"])
@pytest.mark.parametrize("layers", [(0,), (3, -1), ()])
def test_rank_where_requested_is_bit_identical(engine, layers):
    full = simulate_mlp("groupnorm", group_size=4, engine=engine, **BASE)
    part = simulate_mlp("groupnorm", group_size=4, engine=engine, rank_layers=layers, **BASE)
    mask = part.rank_mask()
    expected = np.zeros(BASE["depth"] + 1, dtype=bool)
    expected[list(layers)] = True
    assert np.array_equal(mask, expected)
    for probe in ("stable_rank", "srank_excess"):
        assert np.array_equal(getattr(full, probe)[:, mask], getattr(part, probe)[:, mask])
        assert np.isnan(getattr(part, probe)[:, ~mask]).all()
        assert np.isfinite(getattr(full, probe)).all()
    for probe in ("variance", "cosine", "grad_sq"):
        assert np.array_equal(getattr(full, probe), getattr(part, probe))


def test_divergence_is_still_found_without_the_rank():
    """A trial that overflows is listed as diverged whether or not the rank is computed. The
    eigendecomposition of a Gram near the float64 limit can overflow one layer before the
    Gram itself does: without it the trial may diverge a layer later, never earlier."""
    opts = dict(width=8, depth=400, batch=4, trials=2, nonlinearity="linear", residual=True, alpha=3.0, seed=1)
    for engine in ("explicit", "gram"):
        full = simulate_mlp("plain", engine=engine, **opts)
        none = simulate_mlp("plain", engine=engine, rank_layers=None, **opts)
        assert len(full.diverged) == 2 and [t for t, _ in none.diverged] == [t for t, _ in full.diverged]
        assert all(0 <= b - a <= 1 for (_, a), (_, b) in zip(full.diverged, none.diverged))


@pytest.mark.parametrize("bad", ["last", (9,), (-10,), (1.5,), (True,), 3])
def test_bad_rank_layers_name_the_parameter(bad):
    with pytest.raises(ValueError, match="rank_layers"):
        simulate_mlp("batchnorm", engine="explicit", rank_layers=bad, **BASE)


def test_values_where_not_computed_are_an_error():
    sim = simulate_mlp("batchnorm", engine="explicit", rank_layers=(-1,), **BASE)
    sim.stable_rank[:, 0] = 2.0
    with pytest.raises(ValueError, match="rank_layers"):
        sim.check_trials()
