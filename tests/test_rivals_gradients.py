"""The gradient claims (B1, B1b, B3, B3p) against their rivals, on real quick-grid simulations.

Each rival of a gradient claim lies more than 3δ from the claimed form at some setting of
the quick grid and of the full grid. The four claims' quick grids run once (module
fixture, seed 0, the level of the whole quick run): at every setting that discriminates a
rival the claimed form agrees and the rival, judged by the claim's rule on the same
interval, disagrees. B1's variance-only rival is rejected at run seeds 1-4 too, its
discriminating setting rerun alone at a level no lower than the whole quick run's (so that
its intervals contain the run's).
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from normtheory import bounds
from normtheory.verify import registry
from normtheory.verify.runner import run_claims
from normtheory.verify.schedule import LOOKS, count_tests, count_theory_intervals
from normtheory.verify.stats import AGREE, DISAGREE

CLAIMS = ("B1", "B1b", "B3", "B3p")


def _claims():
    registry.load_claims()
    return registry.select(",".join(CLAIMS))


def _discriminating(claim, point):
    """The names of the rivals more than 3δ from the claimed form at ``point``."""
    theory = float(claim.theory(point.setting))
    width = claim.precision.width(theory)
    return [r.name for r in claim.rivals if (value := r.theory(point.setting)) is not None
            and abs(value - theory) > registry.DISCRIMINATING_GAP * width]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    cache = tmp_path_factory.mktemp("verify-cache")
    return cache, {r.claim.id: r for r in run_claims(_claims(), mode="quick", seed=0, cache_dir=cache,
                                                     progress=False)}


def test_the_rival_forms_are_variants_of_the_derivations():
    n, d, exact = bounds.interior_growth_expr()
    _, _, variance_only = bounds.interior_growth_expr(centered=False)
    _, _, earlier = bounds.interior_growth_expr(weight_step=False)
    assert sp.simplify(exact - (n - 2) / (n - 3)) == 0
    assert sp.simplify(variance_only - (n - 1) / (n - 2)) == 0
    assert sp.simplify(earlier - d * (n - 2) / ((d - 1) * (n - 3))) == 0
    assert bounds.parametric_relu_growth_expr("plain") == 1
    assert sp.simplify(bounds.parametric_relu_growth_expr("sws") - sp.pi / (sp.pi - 1)) == 0


@pytest.mark.parametrize("mode", registry.MODES)
@pytest.mark.parametrize("claim_id", CLAIMS)
def test_every_rival_has_a_discriminating_setting_in_each_mode(claim_id, mode):
    claim = {c.id: c for c in _claims()}[claim_id]
    assert claim.rivals
    found = {name for p in claim.points(mode) for name in _discriminating(claim, p)}
    assert found == {r.name for r in claim.rivals}


@pytest.mark.parametrize("claim_id", CLAIMS)
def test_where_a_rival_is_discriminated_the_claim_agrees_and_the_rival_disagrees(quick, claim_id):
    _, results = quick
    result = results[claim_id]
    rejected = set()
    for row in result.rows:
        for rival in row.rivals:
            if rival.discriminating:
                assert row.verdict == AGREE, (row.setting, row.verdict, row.gap)
                assert rival.verdict == DISAGREE and abs(rival.gap) > 1, (row.setting, rival)
                rejected.add(rival.rival)
    assert rejected == {r.name for r in result.claim.rivals}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_b1_variance_only_rival_is_rejected_at_other_run_seeds(tmp_path, seed):
    claim = _claims()[0]
    points = [p for p in claim.points("quick") if "variance-only (n-1)/(n-2)" in _discriminating(claim, p)]
    assert points
    alone = dataclasses.replace(claim, grid={"quick": points, "full": points})
    # the whole quick run's settings, each computed theory's intervals counted as a setting's looks
    tests = count_tests(registry.registered(), "quick") + count_theory_intervals(registry.registered(), "quick")
    (result,) = run_claims([alone], mode="quick", seed=seed, cache_dir=tmp_path, progress=False, tests=tests,
                           looks=LOOKS)
    for row in result.rows:
        assert row.verdict == AGREE, (row.setting, row.gap)
        assert row.rival("variance-only (n-1)/(n-2)").verdict == DISAGREE
