"""The verification framework on toy claims: intervals, rules, verdicts, cache, output."""

import dataclasses
import json
import math

import numpy as np
import pytest

from normtheory.runs.seeds import setting_seed
from normtheory.runs.simulator import simulator_id
from normtheory.stats import (
    Interval,
    batch_means_interval,
    log_mean_interval,
    lognormal_mean_interval,
    mean_interval,
    ratio_interval,
    simultaneous_level,
)
from normtheory.store import STORE_FILE as CACHE_FILE
from normtheory.verify import registry, report
from normtheory.verify.cache import MeasurementCache
from normtheory.verify.registry import Claim, Measurement, Point
from normtheory.verify.runner import run_claims
from normtheory.verify.stats import (
    AGREE,
    DISAGREE,
    ERROR,
    UNDECIDED,
    BoundHolds,
    Equivalence,
    Precision,
    SideOfBoundary,
    combine_verdicts,
)

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
    (lambda: simultaneous_level(3, looks=0), "looks"),
    (lambda: lognormal_mean_interval([1.0, 0.0]), "positive"),
    (lambda: Precision(0.0), "delta"),
    (lambda: Precision(0.6), "relative"),
    (lambda: Precision(0.1).width(0.0), "non-zero"),
    (lambda: combine_verdicts([]), "at least one"),
    (lambda: combine_verdicts(["ok"]), "unknown verdict"),
])
def test_bad_statistics_input_raises_value_error(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_simultaneous_level_is_bonferroni_over_settings_and_looks():
    assert simultaneous_level(1) == pytest.approx(0.95)
    assert simultaneous_level(10) == pytest.approx(0.995)
    assert simultaneous_level(10, looks=3) == pytest.approx(1 - 0.05 / 30)


def test_lognormal_mean_interval_covers_the_mean():
    rng = np.random.default_rng(4)
    covered = 0
    for _ in range(300):
        v = rng.lognormal(2.0, 1.0, 40)
        iv = lognormal_mean_interval(v, 0.9)
        covered += iv.low <= np.exp(2.5) <= iv.high
    assert 0.85 <= covered / 300 <= 0.95


def test_combine_verdicts_order():
    assert combine_verdicts([AGREE, AGREE]) == AGREE
    assert combine_verdicts([AGREE, UNDECIDED]) == UNDECIDED
    assert combine_verdicts([UNDECIDED, DISAGREE, AGREE]) == DISAGREE
    assert combine_verdicts([DISAGREE, ERROR]) == ERROR


def _iv(low, high):
    return Interval(0.5 * (low + high), low, high, 10, 0.95, "t")


def test_equivalence_rule_all_three_outcomes_and_gap():
    rule = Equivalence(Precision(0.1))                # band 10 ± 1
    assert rule.verdict(10.0, _iv(9.5, 10.8)).verdict == AGREE
    wrong = rule.verdict(10.0, _iv(11.5, 12.5))
    assert wrong.verdict == DISAGREE and wrong.gap == pytest.approx(2.0)
    assert rule.verdict(10.0, _iv(9.5, 11.5)).verdict == UNDECIDED   # crosses the band's edge
    assert rule.verdict(10.0, _iv(8.0, 12.0)).verdict == UNDECIDED   # theory inside a wide interval
    absolute = Equivalence(Precision(0.01, relative=False))
    assert absolute.verdict(0.0, _iv(-0.005, 0.004)).verdict == AGREE


def test_a_form_moved_by_two_delta_disagrees_where_the_true_one_agrees():
    rule = Equivalence(Precision(0.02))
    iv = _iv(0.99, 1.01)
    assert rule.verdict(1.0, iv).verdict == AGREE
    for steps in (-2.0, 2.0):
        moved = Precision(0.02).moved(1.0, steps)
        assert rule.verdict(moved, iv).verdict == DISAGREE


def test_bound_rule():
    iv = mean_interval(np.array([9.0, 10.0, 11.0, 10.0]))
    rule = BoundHolds(min_fraction=0.25)
    assert rule.verdict(5.0, iv).verdict == AGREE
    violated = rule.verdict(20.0, iv)
    assert violated.verdict == DISAGREE and "violated" in violated.reason
    assert rule.verdict(9.9, iv).verdict == UNDECIDED          # inside the interval
    assert "vacuous" in rule.verdict(1.0, iv).reason
    assert rule.verdict(1.0, iv).verdict == DISAGREE
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
        rule=Equivalence(Precision(TOY_DELTA)), form="exact", grid={"quick": grid, "full": grid},
        theory=lambda s: theory_factor * s["gain"] ** 2, measure=measure,
        estimate=lambda m, level, setting: mean_interval(m.data["ratio"], level))


TOY_DELTA = 0.05


def _run(claims, **kw):
    return run_claims(claims, cache_dir=kw.pop("cache_dir", None), progress=False,
                      tests=kw.pop("tests", 3), **kw)


def test_correct_toy_theory_agrees():
    [res] = _run([_toy_claim()])
    assert res.verdict == AGREE, report.table([res])
    assert all(r.ci_low <= r.theory <= r.ci_high for r in res.rows)
    assert res.rows[0].level == pytest.approx(1 - 0.05 / (3 * 3))
    assert all(r.trials_used == r.trials and abs(r.gap) < 1 for r in res.rows)


@pytest.mark.parametrize("steps", [-2.0, 2.0])
def test_toy_theory_moved_by_two_delta_disagrees(steps):
    [res] = _run([_toy_claim(1.0 + steps * TOY_DELTA)])
    assert res.verdict == DISAGREE
    assert all(r.verdict == DISAGREE and abs(r.gap) > 1 for r in res.rows)
    assert report.exit_status([res]) == 1


def test_undecided_settings_get_more_trials_from_independent_streams():
    [res] = _run([_toy_claim(trials=3)])
    assert all(r.looks > 1 for r in res.rows)
    assert {r.trials for r in res.rows} <= {6, 12}
    [again] = _run([_toy_claim(trials=3)])
    assert [r.estimate for r in res.rows] == [r.estimate for r in again.rows]


def test_undecided_after_every_look_is_reported_with_its_own_exit_status():
    [res] = _run([_toy_claim(trials=2)], looks=1)
    assert res.verdict == UNDECIDED
    assert report.exit_status([res]) == 4


def test_same_seed_same_numbers_other_seed_other_numbers():
    a = _run([_toy_claim()], seed=5)[0].rows
    b = _run([_toy_claim()], seed=5)[0].rows
    c = _run([_toy_claim()], seed=6)[0].rows
    assert [r.estimate for r in a] == [r.estimate for r in b]
    assert [r.estimate for r in a] != [r.estimate for r in c]
    assert len({r.setting_seed for r in a}) == 3


def test_diverged_simulation_is_an_error_with_its_layer():
    def measure(setting, trials, seed):
        data = np.ones(trials)
        data[0] = np.nan
        return Measurement({"ratio": data + np.arange(trials) * 1e-3}, trials,
                           diverged_layer=7, diverged_trials=1)

    [res] = _run([_toy_claim(measure=measure)])
    assert res.verdict == ERROR
    assert all(r.verdict == ERROR and "layer 7" in r.reason for r in res.rows)
    assert res.rows[0].diverged_layer == 7 and res.rows[0].diverged_trials == 1
    assert res.rows[0].trials_used == 0 and math.isnan(res.rows[0].estimate)
    assert report.exit_status([res]) == 3


def test_a_silently_failed_trial_is_an_error_never_dropped():
    def measure(setting, trials, seed):
        m = _toy_measure(setting, trials, seed)
        m.data["ratio"][trials // 2] = np.nan   # no divergence recorded
        return m

    [res] = _run([_toy_claim(measure=measure)])
    assert all(r.verdict == ERROR and "failed to compute" in r.reason for r in res.rows)
    assert all(r.trials == 40 and r.trials_used == 0 for r in res.rows)


def test_a_non_finite_closed_form_is_an_error():
    claim = dataclasses.replace(_toy_claim(), theory=lambda s: math.nan)
    [res] = _run([claim])
    assert all(r.verdict == ERROR and "closed form" in r.reason for r in res.rows)


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
        _run([_toy_claim(measure=flaky)], cache_dir=tmp_path)
    assert len(MeasurementCache(tmp_path)) == 1
    [res] = _run([_toy_claim(measure=flaky)], cache_dir=tmp_path)
    assert calls == [0.8, 1.0, 1.0, 1.3]  # the finished setting was not redone
    assert [r.cached for r in res.rows] == [True, False, False]
    fresh = _run([_toy_claim()])[0]
    assert [r.estimate for r in res.rows] == [r.estimate for r in fresh.rows]


def test_cache_judges_a_changed_theory_afresh(tmp_path):
    _run([_toy_claim()], cache_dir=tmp_path)
    [res] = _run([_toy_claim(1.5)], cache_dir=tmp_path)
    assert all(r.cached for r in res.rows) and res.verdict == DISAGREE


def test_cache_key_carries_the_simulator(tmp_path, monkeypatch):
    from normtheory.runs import simulator

    _run([_toy_claim()], cache_dir=tmp_path)
    monkeypatch.setattr(simulator, "SIMULATOR_VERSION", "other")
    [res] = _run([_toy_claim()], cache_dir=tmp_path)
    assert not any(r.cached for r in res.rows)
    torch_claim = dataclasses.replace(_toy_claim(), backend="torch")
    assert "cpu" in simulator_id(torch_claim.backend) or "cuda" in simulator_id(torch_claim.backend)


def test_cache_torn_last_line_dropped_altered_or_corrupt_line_raises(tmp_path):
    from normtheory.durable import TornLineWarning

    _run([_toy_claim()], cache_dir=tmp_path)
    path = tmp_path / CACHE_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines) + "\n" + lines[0][: len(lines[0]) // 2])
    with pytest.warns(TornLineWarning):
        assert len(MeasurementCache(tmp_path)) == 3
    assert len(MeasurementCache(tmp_path)) == 3          # the torn line is gone for good
    [res] = _run([_toy_claim()], cache_dir=tmp_path)
    assert all(r.cached for r in res.rows)
    path.write_text("{not json\n" + "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 1"):
        MeasurementCache(tmp_path)
    path.write_text("\n".join([lines[0].replace('"trials": 40', '"trials": 41')] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match="checksum"):
        MeasurementCache(tmp_path)
    path.write_bytes(b"\x00\xff\xfe binary junk\n" + path.read_bytes())
    with pytest.raises(ValueError, match="binary"):
        MeasurementCache(tmp_path)


def test_obsolete_cache_is_named_not_read(tmp_path, capsys):
    (tmp_path / "verify-measurements.jsonl").write_text('{"claim": "TOY"}\n')
    assert len(MeasurementCache(tmp_path)) == 0
    assert "earlier normtheory version" in capsys.readouterr().err


def test_a_trial_failing_inside_a_kernel_makes_its_setting_an_error():
    from normtheory.montecarlo import simulate_mlp
    from normtheory.verify import simulations

    def measure(setting, trials, seed):
        sim = simulate_mlp("layernorm", width=16, depth=5, batch=4, trials=trials, seed=seed,
                           backward=False, fail_trial=1)
        return simulations.measurement(sim, ratio=sim.variance[:, -1])

    [res] = _run([_toy_claim(measure=measure, trials=4)])
    assert all(r.verdict == ERROR and r.diverged_trials == 1 and r.trials_used == 0 for r in res.rows)


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
    with pytest.raises(ValueError, match="form"):
        dataclasses.replace(good, form="guess")
    with pytest.raises(ValueError, match="backend"):
        dataclasses.replace(good, backend="jax")
    with pytest.raises(ValueError, match="mode"):
        dataclasses.replace(good, grid={"quick": good.grid["quick"]})
    with pytest.raises(ValueError, match="repeats"):
        dataclasses.replace(good, grid={"quick": [good.grid["quick"][0]] * 2,
                                        "full": good.grid["full"]})
    with pytest.raises(ValueError, match="mode"):
        run_claims([good], mode="medium", cache_dir=None, progress=False)
    with pytest.raises(ValueError, match="seed"):
        setting_seed(-1, "F1", "{}")


# --- output ------------------------------------------------------------------------------

def test_json_and_markdown_outputs(tmp_path):
    results = _run([_toy_claim(), _toy_claim(1.1, claim_id="TOYBAD")], tests=6)
    path = tmp_path / "out" / "v.json"
    report.write_json(path, results, mode="quick", seed=0)
    doc = json.loads(path.read_text())
    assert doc["schema"] == report.SCHEMA and doc["verdict"] == DISAGREE and doc["exit_status"] == 1
    assert [c["verdict"] for c in doc["claims"]] == [AGREE, DISAGREE]
    assert doc["claims"][0]["precision"] == "0.05 relative" and doc["claims"][0]["form"] == "exact"
    row = doc["results"][0]
    for key in ("claim", "setting", "theory", "estimate", "ci_low", "ci_high", "verdict", "delta", "gap",
                "trials", "trials_used", "diverged_trials", "looks", "seed", "level", "ratio",
                "setting_seed", "diverged_layer"):
        assert key in row
    assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
    md_path = tmp_path / "r.md"
    report.write_markdown(md_path, results, mode="quick", seed=0)
    md = md_path.read_text()
    assert "## TOYBAD: toy growth -- disagree" in md and "| claim" in md and "theory ± δ" in md
    text = report.table(results)
    assert "width=64 depth=4 gain=0.8" in text and "40/40" in text


def test_side_of_boundary_rule():
    low = mean_interval(np.array([0.9, 1.0, 1.1, 1.0]))
    high = mean_interval(np.array([15.0, 16.0, 17.0, 16.0]))
    wide = mean_interval(np.array([0.5, 9.0, 2.0, 8.0]))
    rule = SideOfBoundary(4.0)
    assert rule.verdict(1.0, low).verdict == AGREE
    assert rule.verdict(16.0, high).verdict == AGREE
    assert rule.verdict(16.0, low).verdict == DISAGREE
    assert rule.verdict(1.0, wide).verdict == UNDECIDED
    with pytest.raises(ValueError, match="boundary"):
        rule.verdict(4.0, low)


def test_probe_keys_share_the_seed():
    claim = dataclasses.replace(_toy_claim(), probe_keys=("gain",))
    rows = _run([claim])[0].rows
    assert len({r.setting_seed for r in rows}) == 1


def test_claim_order_does_not_depend_on_which_family_was_imported_first(monkeypatch):
    """Reports and JSON list claims by family (FAMILIES order); a program that imported the
    gradient claims first (as a test module may) must get the same order as `normtheory verify`."""
    registry.load_claims()
    canonical = [c.id for c in registry.registered()]
    by_family = {f: [c for c in registry.registered() if c.family == f] for f in registry.FAMILIES}
    shuffled = {}
    for family in reversed(registry.FAMILIES):
        shuffled.update({c.id: c for c in by_family[family]})
    monkeypatch.setattr(registry, "_CLAIMS", shuffled)
    assert [c.id for c in registry.registered()] == canonical
    assert canonical.index("F1") < canonical.index("R1") < canonical.index("B1")


# --- two lanes: the torch claims in a second thread ----------------------------------------

def test_torch_claims_run_beside_the_others_with_the_same_numbers():
    """A run with a torch claim (its own thread) gives each claim the numbers it gets alone."""
    numba_claim = _toy_claim(claim_id="TOYN")
    torch_claim = dataclasses.replace(_toy_claim(claim_id="TOYT"), backend="torch")
    together = _run([numba_claim, torch_claim])
    alone = [_run([numba_claim])[0], _run([torch_claim])[0]]
    for both, single in zip(together, alone):
        assert [r.estimate for r in both.rows] == [r.estimate for r in single.rows]
        assert both.verdict == AGREE


def test_an_error_in_the_torch_lane_is_raised():
    def broken(setting, trials, seed):
        raise RuntimeError("torch lane failed")

    torch_claim = dataclasses.replace(_toy_claim(claim_id="TOYT", measure=broken), backend="torch")
    with pytest.raises(RuntimeError, match="torch lane failed"):
        _run([_toy_claim(claim_id="TOYN"), torch_claim])
