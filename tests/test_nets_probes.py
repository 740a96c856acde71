"""Networks of normtheory.nets and the probes over them."""

import numpy as np
import pytest
import torch

from normtheory import nets
from normtheory.probes import Overflow, activation_variance, mean_cosine_similarity, probe, stable_rank


@pytest.mark.parametrize("arch,layers", [("vgg10", 10), ("vgg20", 20), ("resnet56", 28), ("resnet56_pre", 28)])
def test_architectures_build_and_probe(arch, layers):
    torch.manual_seed(0)
    model = nets.build(arch, "groupnorm", group_size=8, num_classes=7, in_channels=1)
    x = torch.randn(3, 1, 8, 8)
    assert model(x).shape == (3, 7)
    recs = probe(model, x)
    assert len(recs) == layers == len(model.probe_points())
    assert all(np.isfinite(r["grad_input_sq"]) and r["variance"] > 0 for r in recs)


@pytest.mark.parametrize("norm", ["batchnorm", "weightnorm", "sws", "frn", "evonorm_b0", "evonorm_s0", "plain"])
def test_every_normalizer_builds_the_resnet(norm):
    opts = {"group_size": 8} if norm == "evonorm_s0" else {}
    model = nets.build("resnet56", norm, **opts)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 100)


def test_skipinit_residual_blocks_are_identity_at_init():
    torch.manual_seed(0)
    model = nets.build("resnet56_pre", "batchnorm", skipinit=True)
    recs = probe(model, torch.randn(4, 3, 8, 8))
    # inside a stage the blocks add nothing: the representation's variance is unchanged
    assert recs[2]["variance"] == pytest.approx(recs[1]["variance"], rel=1e-12)


def test_residual_mlp_variance_grows_linearly_with_batchnorm():
    torch.manual_seed(1)
    model = nets.build("mlp", "batchnorm", width=256, depth=30, residual=True, nonlinearity="linear",
                       num_classes=None).double()
    recs = probe(model, torch.randn(64, 256, dtype=torch.float64))
    v = np.array([r["variance"] for r in recs])
    assert v[-1] == pytest.approx(v[0] + 29, rel=0.1)


def test_probe_statistics_on_hand_computable_cases():
    same = torch.ones(4, 6)
    assert mean_cosine_similarity(same) == pytest.approx(1.0)
    assert stable_rank(same) == pytest.approx(1.0)
    eye = torch.eye(4)
    assert mean_cosine_similarity(eye) == pytest.approx(0.0)
    assert stable_rank(eye) == pytest.approx(4.0)
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    assert activation_variance(x) == pytest.approx((1.0 + 4.0) / 2)
    assert mean_cosine_similarity(np.eye(3)) == pytest.approx(0.0)  # numpy arrays too


def test_overflow_names_the_layer():
    model = nets.build("mlp", "plain", width=16, depth=60, residual=True, alpha=1e3, num_classes=None)
    x = torch.randn(4, 16)
    with pytest.raises(Overflow) as info:
        probe(model, x)
    assert 1 <= info.value.layer < 60 and info.value.name.startswith("layer")
    recs = probe(model, x, on_overflow="record")
    assert recs[-1]["overflow"] and len(recs) == info.value.layer + 1


def test_bad_arch_and_options():
    with pytest.raises(ValueError, match="resnet56"):
        nets.build("resnet55", "batchnorm")
    with pytest.raises(ValueError, match="skipinit"):
        nets.build("vgg10", "batchnorm", skipinit=True)
    with pytest.raises(ValueError, match="group_size"):
        nets.build("vgg10", "batchnorm", group_size=4)
    with pytest.raises(ValueError, match="depth"):
        nets.VGG("batchnorm", 12)
