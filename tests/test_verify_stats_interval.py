"""The verdict rule with a computed theory (an Interval), its level and its adaptive doubling."""

import math

import numpy as np
import pytest

from normtheory.stats import Interval, mean_interval, simultaneous_level
from normtheory.verify import report
from normtheory.verify.registry import Claim, Measurement, Point
from normtheory.verify.runner import run_claims
from normtheory.verify.stats import (
    AGREE,
    DISAGREE,
    ERROR,
    THEORY_RESOLUTION,
    UNDECIDED,
    ComputedTheory,
    Equivalence,
    Precision,
    computed_interval,
)


def _iv(low, high, n=10):
    return Interval(0.5 * (low + high), low, high, n, 0.95, "t")


RULE = Equivalence(Precision(0.1))   # δ = 1 at a theory of 10


def test_float_theory_rule_unchanged():
    # the cases and verdicts of the float rule (tests/test_verify_framework.py)
    assert RULE.verdict(10.0, _iv(9.5, 10.8)).verdict == AGREE
    assert RULE.verdict(10.0, _iv(11.5, 12.5)).verdict == DISAGREE
    assert RULE.verdict(10.0, _iv(9.5, 11.5)).verdict == UNDECIDED
    assert RULE.verdict(10.0, _iv(8.0, 12.0)).verdict == UNDECIDED


def test_a_zero_width_theory_interval_is_the_float_rule():
    for est in (_iv(9.5, 10.8), _iv(11.5, 12.5), _iv(9.5, 11.5), _iv(8.0, 12.0), _iv(8.9, 9.2)):
        assert RULE.verdict(_iv(10.0, 10.0), est).verdict == RULE.verdict(10.0, est).verdict


def test_interval_theory_agrees_only_with_every_value_in_it():
    theory = _iv(9.8, 10.2)                       # δ = 1 at 10: agree band [9.2, 10.8]
    assert RULE.verdict(theory, _iv(9.3, 10.7)).verdict == AGREE
    # inside 10 ± 1 but not inside [theory_high − δ, theory_low + δ]
    j = RULE.verdict(theory, _iv(9.1, 10.7))
    assert j.verdict == UNDECIDED and "theory_high" in j.reason


def test_interval_theory_disagrees_only_with_no_value_in_it():
    theory = _iv(9.8, 10.2)                       # disagree outside [8.8, 11.2]
    j = RULE.verdict(theory, _iv(11.3, 12.0))
    assert j.verdict == DISAGREE and j.gap == pytest.approx(1.65)
    assert RULE.verdict(theory, _iv(11.1, 12.0)).verdict == UNDECIDED   # outside 10 ± 1, not outside 11.2
    assert RULE.verdict(theory, _iv(8.0, 8.7)).verdict == DISAGREE


def test_an_unresolved_theory_never_agrees():
    half = THEORY_RESOLUTION * 1.0                 # δ/4 at 10
    wide = _iv(10.0 - half, 10.0 + half)
    j = RULE.verdict(wide, _iv(9.99, 10.01))
    assert j.verdict == UNDECIDED and "half-width" in j.reason
    assert RULE.verdict(_iv(10.0 - 0.9 * half, 10.0 + 0.9 * half), _iv(9.99, 10.01)).verdict == AGREE
    # a disagreement stays valid with a wide theory: no value in it is within δ
    assert RULE.verdict(wide, _iv(12.0, 13.0)).verdict == DISAGREE


def test_moved_theory_float_interval_and_computed():
    p = Precision(0.1)
    assert p.moved(10.0, 2.0) == pytest.approx(12.0)
    moved = p.moved(_iv(9.8, 10.2), -2.0)
    assert (moved.estimate, moved.low, moved.high) == pytest.approx((8.0, 7.8, 8.2))
    computed = p.moved(ComputedTheory(lambda level: _iv(9.8, 10.2)), 2.0)
    assert isinstance(computed, ComputedTheory)
    assert computed.interval(0.99).low == pytest.approx(11.8)


def test_simultaneous_level_counts_the_theory_intervals():
    assert simultaneous_level(10, looks=3, extra=0) == simultaneous_level(10, looks=3)
    assert simultaneous_level(10, looks=3, extra=20) == pytest.approx(1 - 0.05 / 50)
    with pytest.raises(ValueError, match="extra"):
        simultaneous_level(10, looks=3, extra=-1)


def _stream(scale, seed=0):
    values = np.random.default_rng(seed).normal(10.0, scale, 1 << 16)
    calls = []

    def draw(n):
        calls.append(n)
        return values[:n]
    return draw, calls


def test_computed_interval_doubles_until_a_quarter_of_delta():
    draw, calls = _stream(1.0)
    iv = computed_interval(draw, mean_interval, 0.999, Precision(0.02), 64, 10)
    assert calls == [64 * 2 ** k for k in range(len(calls))]
    assert iv.half_width < THEORY_RESOLUTION * 0.02 * iv.estimate
    assert len(calls) > 1 and iv.n == calls[-1]
    # the look before did not reach it
    before = mean_interval(draw(calls[-1] // 2), 0.999)
    assert before.half_width >= THEORY_RESOLUTION * 0.02 * before.estimate


def test_computed_interval_stops_at_its_cap():
    draw, calls = _stream(50.0)
    iv = computed_interval(draw, mean_interval, 0.999, Precision(0.02), 16, 3)
    assert calls == [16, 32, 64] and iv.n == 64
    assert iv.half_width >= THEORY_RESOLUTION * 0.02 * abs(iv.estimate)
    with pytest.raises(ValueError, match="first"):
        computed_interval(draw, mean_interval, 0.99, Precision(0.02), 1, 3)


# --- through the runner -------------------------------------------------------------------

def _measure(setting, trials, seed):
    rng = np.random.default_rng(seed)
    return Measurement({"x": rng.normal(setting["mu"], 1.0, trials)}, trials)


def _claim(theory, looks=4):
    grid = [Point({"mu": mu}, 400) for mu in (10.0, 20.0)]
    return Claim(id="TOYC", family="toy", title="toy", statement="toy", statistic="mean", interval="t",
                 rule=Equivalence(Precision(0.05)), form="finite-width (exact in law, computed)",
                 grid={"quick": grid, "full": grid}, theory=theory, measure=_measure,
                 estimate=lambda m, level, s: mean_interval(m.data["x"], level), theory_looks=looks)


def _computed(shift=0.0):
    def theory(s):
        rng = np.random.default_rng(int(s["mu"]))
        values = rng.normal(s["mu"] + shift, 1.0, 1 << 15)
        return ComputedTheory(lambda level: computed_interval(lambda n: values[:n], mean_interval, level,
                                                              Precision(0.05), 256, 4))
    return theory


def test_runner_judges_a_computed_theory_at_the_level_counting_its_looks():
    [res] = run_claims([_claim(_computed())], cache_dir=None, progress=False, tests=2)
    assert res.verdict == AGREE, report.table([res])
    row = res.rows[0]
    assert row.level == pytest.approx(1 - 0.05 / (2 * 3 + 2 * 4))
    assert row.theory_low < row.theory < row.theory_high and row.theory_replicates >= 256
    assert "replicates" in report.table([res])
    [wrong] = run_claims([_claim(_computed(shift=2.0))], cache_dir=None, progress=False, tests=2)
    assert wrong.verdict == DISAGREE


def test_a_float_theory_row_carries_its_value_as_both_ends():
    claim = _claim(lambda s: s["mu"], looks=0)
    [res] = run_claims([claim], cache_dir=None, progress=False, tests=2)
    row = res.rows[0]
    assert row.level == pytest.approx(1 - 0.05 / 6)
    assert row.theory == row.theory_low == row.theory_high and row.theory_replicates == 0


def test_a_failing_computed_theory_is_an_error():
    def broken(s):
        def compute(level):
            raise ValueError("3 of 256 chain replicates overflowed")
        return ComputedTheory(compute)
    [res] = run_claims([_claim(broken)], cache_dir=None, progress=False, tests=2)
    assert res.verdict == ERROR and "overflowed" in res.rows[0].reason
    nan = ComputedTheory(lambda level: Interval(math.nan, math.nan, math.nan, 2, level, "t"))
    [res] = run_claims([_claim(lambda s: nan)], cache_dir=None, progress=False, tests=2)
    assert res.verdict == ERROR


def test_a_computed_theory_not_counted_in_the_level_is_an_error():
    [res] = run_claims([_claim(_computed(), looks=0)], cache_dir=None, progress=False, tests=2)
    assert res.verdict == ERROR and "theory_looks" in res.rows[0].reason


def test_claim_refuses_negative_theory_looks():
    with pytest.raises(ValueError, match="theory_looks"):
        _claim(_computed(), looks=-1)
