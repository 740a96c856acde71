"""Networks of normtheory.nets and the probes over them."""

import numpy as np
import pytest
import torch

from normtheory import nets
from normtheory.probes import (GRADIENT_PLACEMENTS, STABLE_RANKS, Overflow, activation_variance,
                               mean_cosine_similarity, probe, stable_rank)


@pytest.mark.parametrize("arch,layers,opts", [("vgg10", 10, {}), ("vgg20", 20, {}), ("uniform", 6, {"depth": 6}),
                                               ("resnet56", 28, {}), ("resnet56_pre", 28, {})])
def test_architectures_build_and_probe(arch, layers, opts):
    torch.manual_seed(0)
    model = nets.build(arch, "groupnorm", group_size=8, num_classes=7, in_channels=1, **opts)
    x = torch.randn(3, 1, 8, 8)
    assert model(x).shape == (3, 7)
    recs = probe(model, x)
    assert len(recs) == layers == len(model.probe_points())
    assert all(np.isfinite(r["grad_input_sq"]) and r["variance"] > 0 for r in recs)
    assert all(r["grad_conv_out_norm"] > 0 and 1 <= r["stable_rank_rownorm"] <= 3 + 1e-9 for r in recs)


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


def test_both_stable_rank_definitions_on_hand_computable_cases():
    assert STABLE_RANKS == ("samples", "rownorm") and GRADIENT_PLACEMENTS == ("layer_output", "conv_output")
    for definition in STABLE_RANKS:
        assert stable_rank(torch.eye(4), definition) == pytest.approx(4.0)  # orthogonal samples: B
        assert stable_rank(torch.ones(3, 5), definition) == pytest.approx(1.0)  # identical samples: 1
        assert stable_rank(torch.tensor([[1.0, 0.0], [-2.0, 0.0]]), definition) == pytest.approx(1.0)
    # orthogonal samples of norms 1, 10, 100: ours weighs them by their squared norms,
    # (1 + 100 + 10000) / 10000; the paper's scales each to unit norm first: B = 3
    x = torch.diag(torch.tensor([1.0, 10.0, 100.0]))
    assert stable_rank(x) == stable_rank(x, "samples") == pytest.approx(10101 / 10000)
    assert stable_rank(x, "rownorm") == pytest.approx(3.0)
    # two unit samples at angle θ: Gram [[1, c], [c, 1]], λ_max = 1 + |c|, rank 2 / (1 + |c|)
    y = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]]) * torch.tensor([[3.0], [0.5]])
    assert stable_rank(y, "rownorm") == pytest.approx(2 / 1.6)
    with pytest.raises(ValueError, match="definition"):
        stable_rank(x, "gram")
    with pytest.raises(ValueError, match="zero"):
        stable_rank(torch.tensor([[1.0, 2.0], [0.0, 0.0]]), "rownorm")


def test_paper_gradient_placement_is_the_conv_outputs_unsquared_norm():
    # linear MLP without a normalizer: each layer's output is its linear layer's output,
    # so the paper's norm squared is our squared norm at the layer output
    torch.manual_seed(0)
    mlp = nets.build("mlp", "plain", width=6, depth=3, nonlinearity="linear", num_classes=None).double()
    for r in probe(mlp, torch.randn(4, 6, dtype=torch.float64)):
        assert r["grad_conv_out_norm"] ** 2 == pytest.approx(r["grad_input_sq"], rel=1e-12)
    # CNN: the gradient at each conv's output (before the normalizer), by hand with autograd
    cnn = nets.build("uniform", "batchnorm", depth=3, width=4, num_classes=3).double()
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    recs = probe(cnn, x, loss=lambda out: out.pow(2).sum())
    ys, h = [], x
    for layer in cnn.features:
        ys.append(layer.conv(h))
        h = layer.act(layer.norm(ys[-1]))
    grads = torch.autograd.grad(cnn.head(cnn.pool(h).flatten(1)).pow(2).sum(), ys)
    assert [r["grad_conv_out_norm"] for r in recs] == pytest.approx([float(g.norm()) for g in grads], rel=1e-10)


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
    with pytest.raises(ValueError, match="vgg10"):
        nets.build("vgg12", "batchnorm")
    with pytest.raises(ValueError, match="width"):
        nets.build("vgg10", "batchnorm", width=8)
