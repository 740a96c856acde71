"""One test per reproducer of the two bug reports that no other test covers.

Covered elsewhere, not repeated here:
- layernorm linear depth 300 through the rank probe, every trial finite or diverged:
  tests/test_divergence.py::test_collapsed_layernorm_net_through_the_rank_probe;
- plain ReLU residual depth 1000, every non-finite value in a listed divergence:
  tests/test_divergence.py::test_deep_relu_residual_net_is_finite_or_diverged;
- ``resnet_variance("plain", depth=[5000], nonlinearity="relu")`` is inf, not NaN:
  tests/test_bounds_hypothesis.py (the overflowed residual variance);
- ``gradient_growth_per_layer("plain", width=-3)`` names width:
  tests/test_bounds_validation.py::test_gradient_growth_rejects_bad_arguments_for_every_family;
- eps of -1 or NaN refused by the normalizers and simulate_mlp:
  tests/test_precision.py::test_eps_must_be_a_finite_positive_number,
  tests/test_normalizers_errors.py::test_eps_must_be_positive_and_finite;
- float16 input of std 1000 into each activation normalizer, finite, non-zero, float16:
  tests/test_precision.py (``LOW`` holds ``(float16, 1e3)``; every name of
  ``ACTIVATION_NAMES`` is in ``TORCH_PAIRS`` or ``OTHERS``).
"""

import math

import numpy as np
import pytest
import torch

from normtheory import bounds, nets
from normtheory.probes import Overflow, probe

SCALES = [10.0 ** e for e in (-250, -200, -120, -30, -1, 0, 3, 30, 60, 120, 200, 250)] + [2.0 ** -800, 3.7]


@pytest.mark.parametrize("norm", ["batchnorm", "variancenorm_uncentred"])
def test_top_growth_given_gram_scales_as_one_over_s(norm):
    """``E(s·G) = E(G)/s`` (substitute ``t = u/s`` in the integral): it was 0 at ``s = 1e-200``
    and ``1e30 · 5.5e14`` times too large at ``s = 1e30``."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal((16, 8))
    gram = y @ y.T / 16
    reference = bounds.top_growth_given_gram(norm, gram=gram, width=16)
    for s in SCALES:
        assert bounds.top_growth_given_gram(norm, gram=s * gram, width=16) * s == pytest.approx(reference, rel=1e-9), s
    stack = np.stack([1e-250 * gram, gram, 1e250 * gram])
    got = bounds.top_growth_given_gram(norm, gram=stack, width=16) * np.array([1e-250, 1.0, 1e250])
    np.testing.assert_allclose(got, reference, rtol=1e-9)


def _float32_exploding_mlp():
    """float32 entries grow 1e3 per layer: the variance overflows (entries near 1e19) several
    layers before the entries themselves do (near 3e38)."""
    torch.manual_seed(0)
    model = nets.build("mlp", "plain", width=16, depth=60, residual=True, alpha=1e3, num_classes=None)
    return model, torch.randn(4, 16)


def test_probe_record_flags_every_nonfinite_value():
    """The report: records with ``variance=inf`` came back unflagged (the check looked at the
    entries only); the first such layer is now the flagged last record."""
    model, x = _float32_exploding_mlp()
    outs = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: outs.append(o.detach())) for _, m in model.probe_points()]
    model(x)
    for h in hooks:
        h.remove()
    first_inf_variance = next(i for i, o in enumerate(outs) if not math.isfinite(
        float(o.var(dim=0, unbiased=False).mean())))
    assert bool(torch.isfinite(outs[first_inf_variance]).all())  # entries finite: what the old check saw

    recs = probe(model, x, on_overflow="record")
    assert recs[-1]["overflow"] is True and recs[-1]["layer"] == first_inf_variance
    assert recs[-1]["stage"] == "forward" and "variance" in recs[-1]["nonfinite"]
    assert len(recs) == first_inf_variance + 1
    for rec in recs[:-1]:
        assert "overflow" not in rec
        for key in ("variance", "cosine", "stable_rank", "stable_rank_rownorm"):
            assert math.isfinite(rec[key]), (rec["layer"], key)
        for key in ("grad_input_sq", "grad_conv_out_norm", "grad_weight_sq"):
            assert math.isnan(rec[key])  # no backward pass on a non-finite output: not computed
    with pytest.raises(Overflow) as info:
        probe(model, x)
    assert info.value.layer == first_inf_variance and "variance" in str(info.value)


def test_probe_record_flags_a_backward_overflow():
    """A finite forward pass whose gradient overflows float32 on the way down."""
    torch.manual_seed(0)
    model = nets.build("mlp", "plain", width=16, depth=6, num_classes=None)
    x = torch.randn(4, 16)
    loss = lambda out: (out * 3e38).sum()  # noqa: E731
    recs = probe(model, x, loss=loss, on_overflow="record")
    assert recs[-1]["overflow"] is True and recs[-1]["stage"] == "backward"
    assert recs[-1]["nonfinite"] and set(recs[-1]["nonfinite"]) <= {"grad_input_sq", "grad_conv_out_norm",
                                                                     "grad_weight_sq"}
    for rec in recs[:-1]:
        assert all(math.isfinite(v) for k, v in rec.items() if k not in ("layer", "name")), rec
    with pytest.raises(Overflow) as info:
        probe(model, x, loss=loss)
    assert info.value.stage == "backward" and info.value.layer == recs[-1]["layer"]


def test_simulate_net_lists_the_flagged_layer_as_diverged():
    """The contract ``simulate_net`` reads: the flagged last record is dropped and listed."""
    from normtheory.montecarlo.networks import simulate_net

    sim = simulate_net("mlp", "plain", trials=2, batch=4, dtype=torch.float32, device="cpu", image_size=4,
                       in_channels=1, width=16, depth=60, residual=True, alpha=1e3, num_classes=None)
    assert [t for t, _ in sim.diverged] == [0, 1]
    for t, layer in sim.diverged:
        assert np.isfinite(sim.variance[t, :layer]).all() and np.isnan(sim.variance[t, layer:]).all()
