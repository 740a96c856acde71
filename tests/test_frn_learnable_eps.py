"""FRN's learnable eps (the paper's code's FRN_self): one scalar per layer, used as |eps|,
initialised to eps; off by default. Expected values from the formula
x / sqrt(mean_{H,W}(x²) + |eps|), computed here."""

import pytest
import torch

from normtheory import normalizers as N


def frn_formula(x, eps):
    return torch.maximum(x * torch.rsqrt(x.pow(2).mean(dim=(2, 3), keepdim=True) + abs(eps)), torch.zeros(()))


def test_default_has_a_fixed_eps_and_no_extra_parameter():
    fixed = N.make("frn", 4)
    assert fixed.eps_learned is None and sum(p.numel() for p in fixed.parameters()) == 3 * 4


def test_learnable_eps_is_one_parameter_initialised_to_eps_and_used_as_its_absolute_value():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 2, 2, dtype=torch.float64) * 0.01  # small: eps matters
    module = N.make("frn", 4, eps=1e-3, learnable_eps=True, dtype=torch.float64)
    assert sum(p.numel() for p in module.parameters()) == 3 * 4 + 1
    assert module.eps_learned.item() == pytest.approx(1e-3)
    torch.testing.assert_close(module(x), N.make("frn", 4, eps=1e-3, dtype=torch.float64)(x))
    with torch.no_grad():
        module.eps_learned.fill_(-4e-4)
    torch.testing.assert_close(module(x), frn_formula(x, 4e-4))
    with pytest.raises(AssertionError):
        torch.testing.assert_close(module(x), frn_formula(x, 1e-3))


def test_learnable_eps_receives_a_gradient():
    torch.manual_seed(1)
    module = N.make("frn", 4, learnable_eps=True, eps=1e-2)
    module(torch.randn(2, 4, 3, 3) * 0.1).sum().backward()
    assert module.eps_learned.grad is not None and module.eps_learned.grad.abs().item() > 0


def test_learnable_eps_must_be_a_flag():
    with pytest.raises(ValueError, match="learnable_eps"):
        N.make("frn", 4, learnable_eps="yes")
