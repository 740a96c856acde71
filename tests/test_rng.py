"""The numba normal generator (xoshiro256** + ziggurat) of the explicit-weight engine."""

import numpy as np
import pytest
from scipy import stats

from normtheory.kernels.rng import MASK32, from_bits, signed32, next_u64, standard_normal


def test_same_seed_same_numbers_other_seed_other_numbers():
    assert np.array_equal(standard_normal(7, 9, 123), standard_normal(7, 9, 123))
    assert not np.array_equal(standard_normal(7, 9, 123), standard_normal(7, 9, 124))
    assert standard_normal(3, 5, 0).shape == (3, 5)


@pytest.mark.parametrize("seed", [0, 1, 2**31 + 5])
def test_draws_are_standard_normal(seed):
    """KS against N(0, 1) at the 0.1% level (fixed seeds: deterministic), and the first four
    moments within 5 standard errors."""
    n = 400_000
    a = standard_normal(1, n, seed).ravel()
    assert stats.kstest(a, "norm").pvalue > 1e-3
    assert abs(a.mean()) < 5 / np.sqrt(n)
    assert abs(a.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.skew(a)) < 5 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(a)) < 5 * np.sqrt(24 / n)


def test_tail_beyond_the_base_layer():
    """The ziggurat's tail (|x| > 3.4426) has the normal's mass, within 5 binomial SEs."""
    n = 2_000_000
    a = standard_normal(1, n, 99).ravel()
    p = 2 * stats.norm.sf(3.442619855899)
    count = np.sum(np.abs(a) > 3.442619855899)
    assert abs(count - n * p) < 5 * np.sqrt(n * p)
    assert np.all(np.isfinite(a))


def test_streams_of_neighbouring_seeds_are_uncorrelated():
    a = standard_normal(1, 200_000, 10).ravel()
    b = standard_normal(1, 200_000, 11).ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(a.size)
    # and consecutive draws within a stream
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 5 / np.sqrt(a.size)


def _reference_fill(out, s):
    """One normal per 32-bit half of each xoshiro256** output, through the module's own
    ``next_u64`` and ``from_bits``: the stream ``fill_from_state`` must reproduce."""
    i = 0
    while i < out.size:
        bits = next_u64(s)
        out[i] = from_bits(s, signed32(bits & MASK32))
        i += 1
        if i < out.size:
            out[i] = from_bits(s, signed32(bits >> np.uint64(32)))
            i += 1


@pytest.mark.parametrize("sizes", [(1,), (7,), (3, 5, 1000), (20001, 2)])
def test_inlined_fill_reproduces_the_reference_stream(sizes):
    """Bit for bit, including the rare ziggurat edge draws (20 000 normals hold about 240) and
    a stream drawn from in pieces of odd length."""
    from numba import njit

    from normtheory.kernels.rng import fill_from_state, seeded_state

    reference = njit(_reference_fill)
    s_fast, s_ref = seeded_state(42), seeded_state(42)
    for n in sizes:
        fast, ref = np.empty(n), np.empty(n)
        fill_from_state(fast, s_fast)
        reference(ref, s_ref)
        assert np.array_equal(fast, ref)
        assert np.array_equal(s_fast, s_ref)
