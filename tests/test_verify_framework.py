"""The verification framework on toy claims: intervals, rules, verdicts, cache, output."""

import dataclasses
import json
import math

import numpy as np
import pytest

from normtheory.verify import registry, report
from normtheory.verify.registry import Claim, Measurement, Point
from normtheory.verify.runner import CACHE_FILE, MeasurementCache, run_claims
from normtheory.verify.stats import (BoundHolds, InsideInterval, SideOfBoundary, batch_means_interval,
                                     combine_verdicts, log_mean_interval, mean_interval,
                                     ratio_interval, simultaneous_level)


# --- statistics --------------------------------------------------------------------------

def test_mean_interval_is_t_interval():
    v = np.array([1.0, 2.0, 3.0, 4.0])
    iv = mean_interval(v, 0.95)
    half = 3.182446305284263 * np.std(v, ddof=1) / 2.0  # t_{0.975, 3}
    assert iv.estimate == pytest.approx(2.5)
    assert iv.high - iv.estimate == pytest.approx(half)
    assert iv.n == 4 and iv.method == "t"


def test_mean_interval_covers_at_its_level():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(400):
        iv = mean_interval(rng.normal(3.0, 1.0, 15), 0.9)
        covered += iv.low <= 3.0 <= iv.high
    assert 0.85 <= covered / 400 <= 0.95


def test_ratio_interval_covers_ratio_of_expectations():
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(300):
        b = rng.exponential(1.0, 200) + 1.0           # E b = 2
        a = 3.0 * b + rng.normal(0.0, 1.0, 200)        # E a / E b = 3
        iv = ratio_interval(a, b, 0.95)
        covered += iv.low <= 3.0 <= iv.high
    assert 0.91 <= covered / 300 <= 0.99


def test_batch_means_and_log_mean():
    rng = np.random.default_rng(3)
    v = rng.lognormal(0.0, 0.5, 400)
    iv = batch_means_interval(v, np.mean, 20, 0.95)
    assert iv.n == 20 and iv.low < np.exp(0.125) < iv.high
    g = log_mean_interval(v, 0.95)
    assert g.low < 1.0 < g.high and g.method == "log-t"


@pytest.mark.parametrize("call, word", [
    (lambda: mean_interval([1.0]), "at least 2"),
    (lambda: mean_interval([1.0, np.nan]), "non-finite"),
    (lambda: mean_interval([1.0, 2.0], level=1.5), "level"),
    (lambda: ratio_interval([1.0, 2.0], [0.0, 0.0]), "mean 0"),
    (lambda: ratio_interval([1.0, 2.0], [1.0, 2.0, 3.0]), "pair"),
    (lambda: log_mean_interval([1.0, -2.0]), "positive"),
    (lambda: batch_means_interval(np.ones(3), np.mean, 1), "batches"),
    (lambda: simultaneous_level(0), "settings"),
    (lambda: combine_verdicts([]), "at least one"),
    (lambda: combine_verdicts(["ok"]), "unknown verdict"),
])
def test_bad_statistics_input_raises_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_simultaneous_level_is_bonferroni():
    assert simultaneous_level(1) == pytest.approx(0.95)
    assert simultaneous_level(10) == pytest.approx(0.995)


def test_combine_verdicts_order():
    assert combine_verdicts(["pass", "pass"]) == "pass"
    assert combine_verdicts(["pass", "diverged"]) == "diverged"
    assert combine_verdicts(["diverged", "fail", "pass"]) == "fail"


def test_bound_rule():
    iv = mean_interval(np.array([9.0, 10.0, 11.0, 10.0]))
    rule = BoundHolds(min_fraction=0.25)
    assert rule.verdict(5.0, iv) == ("pass", "")
    assert rule.verdict(9.9, iv)[0] == "fail" and "violated" in rule.verdict(9.9, iv)[1]
    assert "vacuous" in rule.verdict(1.0, iv)[1]
    assert "vacuous" in rule.verdict(2.0, iv)[1]
    with pytest.raises(ValueError, match="min_fraction"):
        BoundHolds(min_fraction=0.0)


# --- a toy claim: gradient growth through random linear layers ---------------------------

def _toy_measure(setting, trials, seed):
    """Backward through `depth` Gaussian layers W ~ N(0, c²/d): growth c² per layer."""
    d, depth, c = setting["width"], setting["depth"], setting["gain"]
    ratios = np.empty(trials)
    for t in range(trials):
        rng = np.random.default_rng(seed + t)
        g = rng.standard_normal(d)
        per_layer = []
        for _ in range(depth):
            w = rng.standard_normal((d, d)) * c / math.sqrt(d)
            g_new = g @ w
            per_layer.append((g_new @ g_new) / (g @ g))
            g = g_new
        ratios[t] = np.mean(per_layer)
    return Measurement({"ratio": ratios}, trials)


def _toy_claim(theory_factor=1.0, trials=40, claim_id="TOY", measure=_toy_measure):
    grid = [Point({"width": 64, "depth": 4, "gain": g}, trials) for g in (0.8, 1.0, 1.3)]
    return Claim(
        id=claim_id, family="toy", title="toy growth", statement="growth c^2 per layer",
        statistic="E of the per-layer ratio", interval="t over trials",
        rule=InsideInterval(), grid={"quick": grid, "full": grid},
        theory=lambda s: theory_factor * s["gain"] ** 2, measure=measure,
        estimate=lambda m, level: mean_interval(m.data["ratio"], level))


def test_correct_toy_theory_passes():
    [res] = run_claims([_toy_claim()], cache_dir=None, progress=False)
    assert res.verdict == "pass", report.table([res])
    assert all(r.ci_low <= r.theory <= r.ci_high for r in res.rows)
    assert res.rows[0].level == pytest.approx(1 - 0.05 / 3)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_wrong_toy_theory_by_ten_percent_fails(factor):
    [res] = run_claims([_toy_claim(factor)], cache_dir=None, progress=False)
    assert res.verdict == "fail"
    assert all(r.verdict == "fail" for r in res.rows)
    assert report.all_passed([res]) is False


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = run_claims([_toy_claim()], seed=5, cache_dir=None, progress=False)[0].rows
    b = run_claims([_toy_claim()], seed=5, cache_dir=None, progress=False)[0].rows
    c = run_claims([_toy_claim()], seed=6, cache_dir=None, progress=False)[0].rows
    assert [r.estimate for r in a] == [r.estimate for r in b]
    assert [r.estimate for r in a] != [r.estimate for r in c]
    assert len({r.setting_seed for r in a}) == 3


def test_diverged_simulation_reports_layer():
    def measure(setting, trials, seed):
        data = np.ones(trials)
        data[0] = np.nan
        return Measurement({"ratio": data + np.arange(trials) * 1e-3}, trials,
                           diverged_layer=7, diverged_trials=1)

    [res] = run_claims([_toy_claim(measure=measure)], cache_dir=None, progress=False)
    assert res.verdict == "diverged"
    assert all(r.verdict == "diverged" and "layer 7" in r.reason for r in res.rows)
    assert res.rows[0].diverged_layer == 7
    assert math.isfinite(res.rows[0].estimate)  # estimated from the finite trials


def test_measurement_rejects_wrong_trial_count():
    with pytest.raises(ValueError, match="one entry per trial"):
        Measurement({"x": np.ones(3)}, 4)
    with pytest.raises(ValueError, match="trials"):
        Point({"a": 1}, 1)


# --- cache and resume --------------------------------------------------------------------

def test_killed_run_resumes_from_cache(tmp_path):
    calls = []

    def flaky(setting, trials, seed):
        calls.append(setting["gain"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return _toy_measure(setting, trials, seed)

    with pytest.raises(KeyboardInterrupt):
        run_claims([_toy_claim(measure=flaky)], cache_dir=tmp_path, progress=False)
    assert len(MeasurementCache(tmp_path)) == 1
    [res] = run_claims([_toy_claim(measure=flaky)], cache_dir=tmp_path, progress=False)
    assert calls == [0.8, 1.0, 1.0, 1.3]  # the finished setting was not redone
    assert [r.cached for r in res.rows] == [True, False, False]
    fresh = run_claims([_toy_claim()], cache_dir=None, progress=False)[0]
    assert [r.estimate for r in res.rows] == [r.estimate for r in fresh.rows]


def test_cache_judges_a_changed_theory_afresh(tmp_path):
    run_claims([_toy_claim()], cache_dir=tmp_path, progress=False)
    [res] = run_claims([_toy_claim(1.1)], cache_dir=tmp_path, progress=False)
    assert all(r.cached for r in res.rows) and res.verdict == "fail"


def test_cache_truncated_last_line_ignored_corrupt_line_raises(tmp_path):
    run_claims([_toy_claim()], cache_dir=tmp_path, progress=False)
    path = tmp_path / CACHE_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines) + "\n" + lines[0][: len(lines[0]) // 2])
    assert len(MeasurementCache(tmp_path)) == 3
    path.write_text("{not json\n" + "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 1"):
        MeasurementCache(tmp_path)


# --- registry ----------------------------------------------------------------------------

def test_registry_select_and_unknown_ids():
    claim = registry.register(_toy_claim(claim_id="TOYSEL"))
    try:
        assert registry.select("toysel") == [claim]
        assert registry.select(["TOYSEL"], family="toy") == [claim]
        with pytest.raises(ValueError, match="TOYSEL"):
            registry.select("TOYSELL")
        with pytest.raises(ValueError, match="already registered"):
            registry.register(claim)
    finally:
        registry.unregister("TOYSEL")


def test_claim_validation():
    good = _toy_claim()
    with pytest.raises(ValueError, match="mode"):
        dataclasses.replace(good, grid={"quick": good.grid["quick"]})
    with pytest.raises(ValueError, match="repeats"):
        dataclasses.replace(good, grid={"quick": [good.grid["quick"][0]] * 2,
                                        "full": good.grid["full"]})
    with pytest.raises(ValueError, match="mode"):
        run_claims([good], mode="medium", cache_dir=None, progress=False)
    with pytest.raises(ValueError, match="seed"):
        registry.setting_seed(-1, "F1", "{}")


# --- output ------------------------------------------------------------------------------

def test_json_and_markdown_outputs(tmp_path):
    results = run_claims([_toy_claim(), _toy_claim(1.1, claim_id="TOYBAD")],
                         cache_dir=None, progress=False)
    path = tmp_path / "out" / "v.json"
    report.write_json(path, results, mode="quick", seed=0)
    doc = json.loads(path.read_text())
    assert doc["schema"] == report.SCHEMA and doc["passed"] is False
    assert [c["verdict"] for c in doc["claims"]] == ["pass", "fail"]
    row = doc["results"][0]
    for key in ("claim", "setting", "theory", "estimate", "ci_low", "ci_high", "verdict",
                "trials", "seed", "level", "ratio", "setting_seed", "diverged_layer"):
        assert key in row
    assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
    md_path = tmp_path / "r.md"
    report.write_markdown(md_path, results, mode="quick", seed=0)
    md = md_path.read_text()
    assert "## TOYBAD: toy growth -- fail" in md and "| claim" in md
    text = report.table(results)
    assert "width=64 depth=4 gain=0.8" in text and "±" in text


def test_side_of_boundary_rule():
    low = mean_interval(np.array([0.9, 1.0, 1.1, 1.0]))
    high = mean_interval(np.array([15.0, 16.0, 17.0, 16.0]))
    wide = mean_interval(np.array([0.5, 9.0, 2.0, 8.0]))
    rule = SideOfBoundary(4.0)
    assert rule.verdict(1.0, low) == ("pass", "")
    assert rule.verdict(16.0, high) == ("pass", "")
    assert "other regime" in rule.verdict(16.0, low)[1]
    assert "undecided" in rule.verdict(1.0, wide)[1]
    with pytest.raises(ValueError, match="boundary"):
        rule.verdict(4.0, low)


def test_probe_keys_share_the_seed():
    claim = dataclasses.replace(_toy_claim(), probe_keys=("gain",))
    rows = run_claims([claim], cache_dir=None, progress=False)[0].rows
    assert len({r.setting_seed for r in rows}) == 1
