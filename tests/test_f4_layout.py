"""Why F4's grid leaves out EvoNorm: in the authors' post-activation ResNet the EvoNorm sits in
the activation's place, after the addition too, so the stream is renormalized every block and
its variance does not accumulate (the claim's premise, a branch ending in the normalizer added
to an unnormalized stream, does not hold)."""

import pytest
import torch

from normtheory.names import group_options
from normtheory.verify import simulations
from normtheory.verify.claims_forward import STAGE_BLOCKS
from normtheory.verify.registry import registered


def _increment(norm):
    sim = simulations.net("resnet56", norm, trials=4, seed=0, batch=8, image_size=8, widths=(32,),
                          blocks_per_stage=9, dtype=torch.float32, **group_options(norm, 8))
    v1, _, v9 = (sim.variance[:, i].mean() for i in STAGE_BLOCKS)
    return v9 - v1, v1


@pytest.mark.parametrize("norm", ["evonorm_b0", "evonorm_s0"])
def test_evonorm_renormalizes_the_stream_where_batchnorm_accumulates(norm):
    bn_growth, bn_start = _increment("batchnorm")
    growth, start = _increment(norm)
    assert bn_growth > 2 * bn_start  # BN's stream accumulates the branches: linear growth
    assert abs(growth) < 0.1 * bn_growth and abs(growth) < 0.5 * start


def test_f4_full_grid_leaves_out_evonorm_and_f5_keeps_it():
    claims = {c.id: c for c in registered()}
    f4 = {p.setting["norm"] for p in claims["F4"].grid["full"]}
    f5 = {p.setting["norm"] for p in claims["F5"].grid["full"]}
    assert not any(n.startswith("evonorm") for n in f4)
    assert {"evonorm_b0", "evonorm_s0"} <= f5
