"""numba kernels against the torch modules: forward and backward to 1e-10 in float64."""

import numpy as np
import pytest
import torch

from normtheory import normalizers as N
from normtheory.kernels.mlp_norms import norm_backward, norm_code, norm_forward

CASES = [("batchnorm", 1), ("layernorm", 1), ("groupnorm", 4), ("variancenorm", 1), ("variancenorm_uncentred", 1),
         ("frn", 1), ("evonorm_b0", 1), ("evonorm_s0", 4)]


@pytest.mark.parametrize("name,g", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_matches_torch_module(name, g, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 16)) * 2 + 0.3
    gy = rng.standard_normal((6, 16))
    opts = {"group_size": g} if name in ("groupnorm", "evonorm_s0") else {}
    module = N.make(name, 16, **opts).double()
    if name == "frn":
        module.tau = None
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    yt.backward(torch.tensor(gy))
    y, r, m = norm_forward(norm_code(name), x, g, 1e-5)
    gx = norm_backward(norm_code(name), gy, x, y, r, m, g, 1e-5)
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-10, rtol=0)
    np.testing.assert_allclose(gx, xt.grad.numpy(), atol=1e-10, rtol=0)


def test_instancenorm_kernel_is_identically_zero_in_mlp_form():
    y, _, _ = norm_forward(norm_code("instancenorm"), np.random.default_rng(0).standard_normal((4, 8)), 1, 1e-5)
    assert np.all(y == 0)
