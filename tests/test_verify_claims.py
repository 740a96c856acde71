"""The claims of SCIENCE.md through the verify pipeline, at the --quick sample size.

Every claim family runs its quick grid once (module fixture, simulations cached in a
temporary directory) and must give a verdict at every setting; then deliberately wrong
closed forms (10% off, or the wrong sign for orderings) are judged on the same
simulations and must fail: the checks can fail.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

from normtheory.verify import registry
from normtheory.verify.runner import run_claims
from normtheory.verify.stats import FAIL, PASS, VERDICTS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    cache = tmp_path_factory.mktemp("verify-cache")
    registry.load_claims()
    claims = registry.select("F1,F3,F4,R1,R2b,R3,R4,B1,B1t,B2,B3b")
    results = run_claims(claims, mode="quick", seed=0, cache_dir=cache, progress=False)
    return cache, {r.claim.id: r for r in results}


def test_every_family_has_its_claims_registered():
    registry.load_claims()
    ids = {c.id for c in registry.registered()}
    assert {"F1", "F2", "F3", "F4", "R1", "R2", "R3", "R4", "B1", "B2", "B3"} <= ids
    assert {c.family for c in registry.registered()} == set(registry.FAMILIES)


def test_quick_grid_gives_a_verdict_everywhere(quick):
    _, results = quick
    for result in results.values():
        assert result.rows, result.claim.id
        for row in result.rows:
            assert row.verdict in VERDICTS
            assert math.isfinite(row.theory)
            assert row.ci_low <= row.estimate <= row.ci_high
            assert row.trials >= 2


def _rejudge(cache, claim_id, theory):
    claim = registry.select(claim_id)[0]
    wrong = dataclasses.replace(claim, theory=theory)
    (result,) = run_claims([wrong], mode="quick", seed=0, cache_dir=cache, progress=False)
    assert all(row.cached for row in result.rows)  # same simulations as the correct theory
    return result


@pytest.mark.parametrize("claim_id, norms", [
    ("B1", None),
    ("F1", ("batchnorm", "layernorm", "groupnorm", "variancenorm")),
    ("F3", ("batchnorm", "plain")),
    ("R4", None),
])
@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_closed_form_ten_percent_off_fails(quick, claim_id, norms, factor):
    cache, results = quick
    claim = results[claim_id].claim
    correct = {registry.setting_key(r.setting): r.verdict for r in results[claim_id].rows}
    result = _rejudge(cache, claim_id, lambda s, f=claim.theory: factor * f(s))
    passed_before = caught = 0
    for row in result.rows:
        if norms is not None and row.setting["norm"] not in norms:
            continue
        if correct[registry.setting_key(row.setting)] != PASS:
            continue
        passed_before += 1
        caught += row.verdict == FAIL
    # the claim fails, and at most of the settings where the correct form passed
    assert passed_before >= 2
    assert caught >= passed_before / 2, (claim_id, factor, caught, passed_before)


def test_top_layer_residual_rejects_the_isotropic_form(quick):
    """B1t passes with the exact per-sample form; had the isotropic (n-2)/(n-3) been the truth
    the residual's expectation would be the gap between the two, and that is rejected."""
    from normtheory import bounds

    cache, results = quick
    assert results["B1t"].verdict == PASS

    def isotropic_gap(s):
        if s["norm"] != "layernorm":
            return 0.0
        n = bounds.stat_count("layernorm", width=s["width"])
        return bounds.gradient_growth_from_n(n) - bounds.gradient_growth_per_layer(
            "layernorm", width=s["width"], position="top")

    result = _rejudge(cache, "B1t", isotropic_gap)
    assert [r.verdict for r in result.rows if r.setting["norm"] == "layernorm"] == [FAIL]


@pytest.mark.parametrize("claim_id", ["R2b", "B2", "B3b", "F4"])
def test_ordering_with_the_wrong_side_fails(quick, claim_id):
    cache, results = quick
    assert results[claim_id].verdict == PASS
    claim = results[claim_id].claim
    boundary = claim.rule.boundary
    # mirror the prediction to the other side of the boundary (log scale for F4's ratios)
    if boundary > 0:
        flipped = lambda s, f=claim.theory: boundary ** 2 / f(s)  # noqa: E731
    else:
        flipped = lambda s, f=claim.theory: -f(s)  # noqa: E731
    assert _rejudge(cache, claim_id, flipped).verdict == FAIL


def test_bound_twice_as_large_is_violated(quick):
    cache, results = quick
    claim = results["R1"].claim
    result = _rejudge(cache, "R1", lambda s, f=claim.theory: 2 * f(s))
    assert all(row.verdict == FAIL and row.reason == "bound violated" for row in result.rows)


def test_collapse_rate_doubled_fails(quick):
    """R3's quick grid (8 networks) resolves the rate to within a factor 2: a doubled rate
    (the gap of the top exponent against the third, roughly) is caught."""
    cache, results = quick
    claim = results["R3"].claim
    assert _rejudge(cache, "R3", lambda s, f=claim.theory: 2 * f(s)).verdict == FAIL


@pytest.mark.parametrize("script", ["forward_variance.py", "rank.py", "gradients.py"])
def test_family_scripts_list_their_claims(script):
    out = subprocess.run([sys.executable, str(ROOT / "verify" / script), "--list"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    family = {"forward_variance.py": "F", "rank.py": "R", "gradients.py": "B"}[script]
    ids = [line.split()[0] for line in out.stdout.splitlines() if line and not line.startswith(" ")]
    assert ids and all(i.startswith(family) for i in ids)
