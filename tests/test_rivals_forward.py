"""The rivals of the forward-variance claims (F1, F6, F6b) and the explicit-weight rows of F6/F6b.

Through the real verdict code (:func:`normtheory.verify.runner.run_claims`) on real simulations:
each claim runs on its own settings that discriminate a rival (those of the quick grid), where
the claimed form must agree and the rival, more than 3δ away, must be rejected; and the
explicit-weight rows of F6 and F6b (the network simulated with its weights, not by the Gram
engine that shares the chain's derivation) must agree with the chain.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from normtheory.bounds import branch_moments, resnet_variance
from normtheory.bounds.groups import group_cosine
from normtheory.bounds.moments import quadrature_moments, sign_correlation
from normtheory.montecarlo.gram import prefer_gram
from normtheory.verify import registry
from normtheory.verify.report import REJECTED, rival_summary
from normtheory.verify.runner import run_claims
from normtheory.verify.stats import AGREE, DISAGREE


def _claim(cid):
    registry.load_claims(["forward"])
    return registry.select(cid)[0]


def _run(claim, points, cache):
    (result,) = run_claims([dataclasses.replace(claim, grid={"quick": points, "full": points})], mode="quick",
                           seed=0, cache_dir=cache, progress=False)
    return result


def _discriminating(claim, rival, mode="quick"):
    """The settings of ``claim``'s ``mode`` grid where ``rival`` lies more than 3δ from the claimed form."""
    out = []
    for point in claim.points(mode):
        value = rival.theory(point.setting)
        if value is None:
            continue
        theory = claim.theory(point.setting)
        if isinstance(theory, float) and abs(value - theory) > 3 * claim.precision.width(theory):
            out.append(point)
    return out


@pytest.fixture(scope="module")
def f1(tmp_path_factory):
    claim = _claim("F1")
    points = [p for r in claim.rivals for p in _discriminating(claim, r)]
    keys = {p.key for p in points}
    # the settings that discriminate a rival, with the other layer of their simulation
    sims = {claim.seed_key(p) for p in points}
    points = [p for p in claim.points("quick") if claim.seed_key(p) in sims or p.key in keys]
    return _run(claim, points, tmp_path_factory.mktemp("f1"))


def test_every_f1_rival_is_discriminated_in_both_grids():
    claim = _claim("F1")
    assert {r.name for r in claim.rivals} == {"GN in g dims", "GN infinite group", "FRN quadrature", "other VN"}
    for rival in claim.rivals:
        for mode in ("quick", "full"):
            assert _discriminating(claim, rival, mode), (rival.name, mode)
    # each VN is the other's rival: both directions are discriminated in the quick grid
    vns = {p.setting["norm"] for p in _discriminating(claim, claim.rivals[3])}
    assert vns == {"variancenorm", "variancenorm_uncentred"}


@pytest.mark.parametrize("rival", ["GN in g dims", "GN infinite group", "FRN quadrature", "other VN"])
def test_f1_claimed_form_agrees_and_rival_is_rejected_where_it_discriminates(f1, rival):
    judged = [(row, row.rival(rival)) for row in f1.rows if row.rival(rival) is not None]
    discriminating = [(row, rr) for row, rr in judged if rr.discriminating]
    assert discriminating
    for row, rr in discriminating:
        assert row.verdict == AGREE, (row.setting, row.gap)
        assert rr.verdict == DISAGREE and abs(rr.gap) > 2, (row.setting, rr)
    [summary] = [s for s in rival_summary([f1]) if s["rival"] == rival]
    assert summary["status"] == REJECTED and summary["claim_agrees_where_rejected"]


@pytest.mark.parametrize("cid", ["F6", "F6b"])
def test_finite_width_chain_agrees_where_the_mean_field_is_rejected(tmp_path, cid):
    claim = _claim(cid)
    result = _run(claim, list(claim.points("quick")), tmp_path)
    rejected = [row for row in result.rows if row.rival("mean field").rejected]
    assert rejected
    for row in rejected:
        rr = row.rival("mean field")
        assert row.verdict == AGREE and rr.discriminating and rr.separation < -3, (row.setting, rr)


def test_explicit_rows_cover_every_normalizer_at_width_256_and_the_others_run_explicit_below():
    for cid in ("F6", "F6b"):
        claim = _claim(cid)
        norms = {p.setting["norm"] for p in claim.points("full")}
        explicit_256 = {p.setting["norm"] for p in claim.points("full")
                        if p.setting["width"] >= 256 and (p.setting.get("engine") == "explicit"
                                                          or p.setting["norm"] in ("weightnorm", "sws"))}
        wide = {p.setting["norm"] for p in claim.points("full") if p.setting["width"] >= 256}
        assert wide <= explicit_256, (cid, wide - explicit_256)
        for p in claim.points("full"):
            s = p.setting
            if s["width"] < 256 and s["norm"] in norms:
                assert not prefer_gram({"norm": s["norm"], "width": s["width"], "batch": s["batch"]})


@pytest.mark.parametrize("cid,norm", [("F6", "groupnorm"), ("F6b", "plain")])
def test_explicit_weight_rows_agree_with_the_chain(tmp_path, cid, norm):
    claim = _claim(cid)
    points = [p for p in claim.points("full") if p.setting.get("engine") == "explicit" and p.setting["norm"] == norm]
    assert len(points) == 2  # both layers of one simulation
    result = _run(claim, points, tmp_path)
    for row in result.rows:
        assert row.verdict == AGREE, (row.setting, row.gap, row.reason)
    from normtheory.runs import memo
    from normtheory.verify.simulations import mlp
    s = points[0].setting
    sim = mlp(trials=2, seed=1, norm=norm, width=s["width"], depth=2, batch=s["batch"], nonlinearity="relu",
              residual=True, alpha=s["alpha"], engine=s["engine"], backward=False,
              **({"group_size": s["group_size"]} if "group_size" in s else {}))
    assert sim.settings["engine"] == "explicit"
    memo.clear()


# --- the rival forms in bounds ----------------------------------------------------------

def test_gn_with_groups_of_two_and_frn_share_the_arcsine_and_the_rivals_differ_from_it():
    for rho in (0.1, 0.5, 0.9):
        assert group_cosine(1, rho) == pytest.approx(sign_correlation(rho), rel=1e-10)
        # one more dimension (the rival k = g) moves the correlation towards the infinite-group ρ
        assert group_cosine(1, rho) < group_cosine(2, rho) < rho
    # the quadrature misses the arcsine where the correlation is high (its nodes on the discontinuity)
    v_f, s_f = quadrature_moments("frn", 1.0, 0.95)
    assert abs(s_f - sign_correlation(0.95)) > 1e-3
    assert branch_moments("frn", nonlinearity="linear", v=1.0, s=0.95, form="frn_quadrature") == (v_f, s_f)
    assert branch_moments("groupnorm", nonlinearity="linear", v=1.0, s=0.5, group_size=4,
                          form="groupnorm_g_dims")[1] == \
        pytest.approx(group_cosine(4, 0.5))


def test_rival_forms_apply_to_their_normalizer_only_and_match_the_claimed_form_for_independent_samples():
    with pytest.raises(ValueError, match="form"):
        branch_moments("layernorm", nonlinearity="relu", v=1.0, s=0.5, form="frn_quadrature")
    with pytest.raises(ValueError, match="group_size"):
        resnet_variance("groupnorm", depth=5, nonlinearity="relu", form="groupnorm_g_dims")
    for norm, kw in (("frn", {"form": "frn_quadrature"}), ("groupnorm", {"form": "groupnorm_g_dims", "group_size": 4})):
        linear = resnet_variance(norm, depth=20, nonlinearity="linear", batch=32, **kw)
        assert linear == resnet_variance(norm, depth=20, nonlinearity="linear", batch=32,
                                         group_size=kw.get("group_size"))
        relu = resnet_variance(norm, depth=20, nonlinearity="relu", batch=32, **kw)
        claimed = resnet_variance(norm, depth=20, nonlinearity="relu", batch=32, group_size=kw.get("group_size"))
        assert math.isfinite(relu) and relu != claimed
