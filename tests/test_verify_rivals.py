"""Rivals on a toy claim: judged by the claim's rule on its intervals, reported, with an exit status."""

import dataclasses
import json

import pytest

from normtheory.verify import report
from normtheory.verify.registry import Claim, Rival
from normtheory.verify.stats import AGREE, DISAGREE, BoundHolds
from tests.test_verify_framework import TOY_DELTA, _run, _toy_claim


def _with_rivals(claim, *factors, **kw):
    rivals = tuple(Rival(f"x{f:g}", f"the toy form times {f:g}", lambda s, f=f: f * s["gain"] ** 2)
                   for f in factors)
    return dataclasses.replace(claim, rivals=rivals, **kw)


def test_a_rival_four_delta_away_is_discriminated_and_rejected_where_the_claim_agrees(tmp_path):
    claim = _with_rivals(_toy_claim(trials=400), 1 + 4 * TOY_DELTA, 1 + 0.5 * TOY_DELTA)
    [res] = _run([claim])
    assert res.verdict == AGREE
    for row in res.rows:
        far, near = row.rivals
        assert far.discriminating and far.verdict == DISAGREE and far.separation == pytest.approx(4.0)
        assert not near.discriminating and near.verdict != DISAGREE
    summary = {s["rival"]: s for s in report.rival_summary([res])}
    assert summary["x1.2"]["status"] == report.REJECTED and summary["x1.2"]["claim_agrees_where_rejected"]
    assert summary["x1.2"]["told_apart_at"] == summary["x1.2"]["rejected_at"] == [r.setting for r in res.rows]
    assert summary["x1.025"]["status"] == report.NOT_REJECTED and not summary["x1.025"]["discriminating"]
    assert report.exit_status([res]) == 5
    path = tmp_path / "v.json"
    report.write_json(path, [res], mode="quick", seed=0)
    doc = json.loads(path.read_text())
    assert [r["status"] for r in doc["rivals"]] == [report.REJECTED, report.NOT_REJECTED]
    assert doc["exit_status"] == 5
    assert doc["results"][0]["rivals"][0]["verdict"] == DISAGREE
    text = report.rival_table([res])
    assert "the toy form times 1.2" in text and "not rejected" in text
    assert "width=64 depth=4 gain=0.8" in text.split("\n\n")[1]
    assert "## Rivals" in report.markdown([res], mode="quick", seed=0)


def test_where_the_claim_agrees_a_discriminated_rival_is_rejected_so_3_delta_is_enough():
    # agree puts the interval inside theory ± δ; a rival 3.2 δ away is then outside rival ± δ
    claim = _with_rivals(_toy_claim(trials=8), 1 + 3.2 * TOY_DELTA)
    [res] = _run([claim], looks=3)
    for row in res.rows:
        assert row.rivals[0].discriminating
        assert row.verdict != AGREE or row.rivals[0].verdict == DISAGREE


def test_a_rival_not_rejected_is_a_finding_with_exit_status_5():
    # 0.25 δ away: no setting discriminates it, and an interval that agrees cannot reject it
    # unless it lies within 0.75 δ below the claimed form's lower edge
    claim = _with_rivals(_toy_claim(trials=30), 1 + 0.25 * TOY_DELTA)
    [res] = _run([claim], looks=1)
    assert res.verdict == AGREE
    assert not any(r.rivals[0].discriminating or r.rivals[0].rejected for r in res.rows)
    [summary] = report.rival_summary([res])
    assert summary["status"] == report.NOT_REJECTED and summary["discriminating"] == []
    assert report.rivals_kept([res]) == [summary]
    assert report.exit_status([res]) == report.EXIT_CODES[report.RIVAL_KEPT] == 5
    last = report.rival_table([res]).split("\n\n")[0].splitlines()[-1]
    assert last.split()[-4:] == ["0", "0", "not", "rejected"]  # no setting discriminates it, none rejects it
    # a claim that disagrees keeps exit status 1 whatever its rivals; a rival that disagrees
    # only where the claimed form disagrees too is rejected there, but not told apart from it
    bad = _with_rivals(_toy_claim(1 + 2 * TOY_DELTA, trials=30), 1 + 2.5 * TOY_DELTA)
    results = _run([bad], looks=1)
    assert report.exit_status(results) == 1
    [summary] = report.rival_summary(results)
    assert summary["rejected_at"] and summary["told_apart_at"] == [] and not summary["claim_agrees_where_rejected"]


def test_a_rival_that_does_not_apply_is_not_judged():
    rival = Rival("low-gain", "only below gain 1", lambda s: 1.3 * s["gain"] ** 2 if s["gain"] < 1 else None)
    [res] = _run([dataclasses.replace(_toy_claim(), rivals=(rival,))])
    assert [len(r.rivals) for r in res.rows] == [1, 0, 0]


def test_rivals_need_an_equivalence_rule_and_distinct_names():
    claim = _toy_claim()
    rival = Rival("r", "a rival", lambda s: 1.0)
    with pytest.raises(ValueError, match="Equivalence"):
        dataclasses.replace(claim, rule=BoundHolds(0.5), rivals=(rival,))
    with pytest.raises(ValueError, match="distinct"):
        dataclasses.replace(claim, rivals=(rival, rival))
    with pytest.raises(ValueError, match="provenance"):
        Rival("r", "", lambda s: 1.0)
    assert isinstance(claim, Claim)
