"""The registered claims through the verify pipeline, at the --quick sample size.

Every claim runs its quick grid once (module fixture, simulations cached in a temporary
directory) and must decide every setting. Then the power of each check is tested on the
same simulations (more looks are simulated where a moved form leaves a setting undecided):

- every claim with a numeric closed form: the form moved by ``±2δ`` disagrees on every
  quick setting, and the true form agrees;
- orderings and regimes: the mirrored prediction disagrees;
- the calibrated lower bound: a bound twice as large is violated.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from normtheory.verify import registry
from normtheory.verify.runner import run_claims
from normtheory.verify.stats import AGREE, DISAGREE, BoundHolds, Equivalence, SideOfBoundary

ROOT = Path(__file__).resolve().parents[1]


def _claims():
    registry.load_claims()
    return registry.registered()


NUMERIC = [c.id for c in _claims() if isinstance(c.rule, Equivalence)]
ORDERINGS = [c.id for c in _claims() if isinstance(c.rule, SideOfBoundary)]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    cache = tmp_path_factory.mktemp("verify-cache")
    results = run_claims(_claims(), mode="quick", seed=0, cache_dir=cache, progress=False)
    return cache, {r.claim.id: r for r in results}


def _rerun(cache, claim_id, theory):
    claim = registry.select(claim_id)[0]
    (result,) = run_claims([dataclasses.replace(claim, theory=theory)], mode="quick", seed=0,
                           cache_dir=cache, progress=False)
    return result


def test_every_family_has_its_claims_registered():
    ids = {c.id for c in _claims()}
    assert {"F1", "F2", "F3", "F4", "F5", "R1", "R2", "R3", "R4", "B1", "B1b", "B1t", "B2", "B3"} <= ids
    assert {c.family for c in _claims()} == set(registry.FAMILIES)


def test_quick_grid_decides_every_setting_and_uses_every_trial(quick):
    _, results = quick
    for result in results.values():
        assert result.rows, result.claim.id
        for row in result.rows:
            assert row.verdict in (AGREE, DISAGREE), (row.claim, row.setting, row.verdict, row.reason)
            assert row.trials_used == row.trials and row.diverged_trials == 0
            assert row.ci_low <= row.estimate <= row.ci_high


@pytest.mark.parametrize("claim_id", NUMERIC)
def test_true_closed_form_agrees_on_every_quick_setting(quick, claim_id):
    _, results = quick
    bad = [(r.setting, r.verdict, round(r.gap, 2)) for r in results[claim_id].rows if r.verdict != AGREE]
    assert not bad


@pytest.mark.parametrize("steps", [-2.0, 2.0])
@pytest.mark.parametrize("claim_id", NUMERIC)
def test_closed_form_moved_by_two_delta_disagrees_on_every_quick_setting(quick, claim_id, steps):
    cache, results = quick
    claim = results[claim_id].claim
    moved = _rerun(cache, claim_id, lambda s, f=claim.theory, p=claim.precision: p.moved(f(s), steps))
    bad = [(r.setting, r.verdict) for r in moved.rows if r.verdict != DISAGREE]
    assert not bad


@pytest.mark.parametrize("claim_id", ORDERINGS)
def test_mirrored_ordering_disagrees(quick, claim_id):
    cache, results = quick
    assert results[claim_id].verdict == AGREE
    claim = results[claim_id].claim
    boundary = claim.rule.boundary
    # the prediction mirrored to the other side of the boundary (log scale for F4/F5's ratios)
    if boundary > 0:
        mirrored = lambda s, f=claim.theory: boundary ** 2 / f(s)  # noqa: E731
    else:
        mirrored = lambda s, f=claim.theory: -f(s)  # noqa: E731
    result = _rerun(cache, claim_id, mirrored)
    assert all(row.verdict == DISAGREE for row in result.rows)


def test_bound_twice_as_large_is_violated(quick):
    cache, results = quick
    claim = results["R1"].claim
    assert isinstance(claim.rule, BoundHolds) and results["R1"].verdict == AGREE
    result = _rerun(cache, "R1", lambda s, f=claim.theory: 2 * f(s))
    assert all(row.verdict == DISAGREE and row.reason == "bound violated" for row in result.rows)


@pytest.mark.parametrize("script", ["forward_variance.py", "rank.py", "gradients.py"])
def test_family_scripts_list_their_claims(script):
    out = subprocess.run([sys.executable, str(ROOT / "verify" / script), "--list"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    family = {"forward_variance.py": "F", "rank.py": "R", "gradients.py": "B"}[script]
    ids = [line.split()[0] for line in out.stdout.splitlines() if line and not line.startswith(" ")]
    assert ids and all(i.startswith(family) for i in ids)
    assert "closed form:" in out.stdout and "precision:" in out.stdout
