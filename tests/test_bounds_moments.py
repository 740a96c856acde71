"""Moment maps of normtheory.bounds.moments against independent routes."""

import math

import numpy as np
import pytest
import sympy as sp

from normtheory import bounds
from normtheory.bounds import moments


def test_sign_correlation_is_the_arcsine_law():
    rho, expr = moments.sign_correlation_expr()
    assert sp.simplify(expr - 2 * sp.asin(rho) / sp.pi) == 0
    rng = np.random.default_rng(7)
    u, w = rng.standard_normal((2, 400_000))
    for c in (0.0, 0.3, 0.5, 0.9):
        prod = np.sign(u) * np.sign(c * u + math.sqrt(1 - c * c) * w)
        se = prod.std() / math.sqrt(prod.size)
        assert abs(moments.sign_correlation(c) - prod.mean()) < 4.5 * se


@pytest.mark.parametrize("s", [0.0, 0.25, 0.5, 0.75, 0.99])
def test_frn_branch_moments_are_exact(s):
    """FRN's MLP output is sign(h): second moment 1 at every correlation (the quadrature on
    the discontinuity gave 0.901 at 0.5) and covariance (2/π) arcsin ρ."""
    vf, sf = bounds.branch_moments("frn", nonlinearity="linear", v=2.0, s=2.0 * s)
    assert vf == 1.0
    assert sf == pytest.approx(2 / math.pi * math.asin(s), abs=1e-12)
    assert moments.output_mean("frn", 2.0, 2.0 * s) == 0.0
