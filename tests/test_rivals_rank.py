"""The rivals of claims R3, R4 and R4c: each is told from the claimed form on real simulations.

- R3's rivals (the other dimension count: LN's uncentred product of ``d × d`` matrices, the
  unnormalized net at ``n = d − 1``), R4's (the large-depth asymptote ``1 − 9π²/(2l²)``) and
  R4c's (R4's infinite-width iterated map) lie more than 3δ from the claimed form at some
  setting of both the quick and the full grid;
- on the quick grids, run through ``run_claims`` (the real simulations and verdict code), the
  claimed form agrees and every rival disagrees at its discriminating settings, and the run
  exits 0 (no rival kept);
- R4c's explicit-weight rows at width 256 (the rows of the full grid, where ``engine="auto"``
  would take the Gram engine, which rests on the chain's own fresh-weight argument) agree
  with the chain, and every normalizer and width class of R4c has a row on explicit weights;
- R3's window stays above the float64 floor.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from normtheory import bounds
from normtheory.bounds import rank
from normtheory.montecarlo.exact_in_law import probe_chain
from normtheory.verify import registry, report
from normtheory.verify.claims_rank import _similarity_sim
from normtheory.verify.registry import DISCRIMINATING_GAP, MODES
from normtheory.verify.runner import run_claims
from normtheory.verify.stats import AGREE, DISAGREE

IDS = ("R3", "R4", "R4c")


def _claim(cid):
    registry.load_claims(("rank",))
    return registry.select(cid)[0]


def _chain_mean(s, replicates=8192):
    """R4c's theory at setting ``s``, roughly: the chain's mean and standard error at its layer."""
    values = probe_chain(s["norm"], width=s["width"], depth=s["depth"], batch=s["batch"], replicates=replicates,
                         nonlinearity="relu", residual=False, probe="cosine", input_corr=s["input_corr"],
                         seed=3).values[:, s["layer"]]
    return values.mean(), values.std(ddof=1) / np.sqrt(replicates)


def _separations(claim, mode):
    """``{rival: [separation in δ at each setting where it applies]}`` over a grid, without simulating
    the network (R4c's chain at 8192 replicates, its standard error taken off toward the form)."""
    out = {r.name: [] for r in claim.rivals}
    for point in claim.points(mode):
        s = point.setting
        if claim.id == "R4c":
            centre, se = _chain_mean(s)
        else:
            centre, se = claim.theory(s), 0.0
        width = claim.precision.width(centre)
        for rival in claim.rivals:
            value = rival.theory(s)
            if value is not None:
                out[rival.name].append(max(abs(value - centre) - 4 * se, 0.0) / width)
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cid", IDS)
def test_every_rival_has_a_discriminating_setting_in_both_grids(cid, mode):
    for name, seps in _separations(_claim(cid), mode).items():
        assert seps and max(seps) > DISCRIMINATING_GAP, (cid, mode, name, seps)


def test_r3_rivals_are_the_other_dimension_count_and_delta_is_below_a_third_of_their_distance():
    claim = _claim("R3")
    uncentred, plain_down = claim.rivals
    s = {"norm": "layernorm", "width": 8}
    assert uncentred.theory(s) == -bounds.rank_collapse_rate("plain", width=8) and plain_down.theory(s) is None
    s = {"norm": "plain", "width": 8}
    assert plain_down.theory(s) == -bounds.rank_collapse_rate("layernorm", width=8) and uncentred.theory(s) is None
    for norm, rival in (("layernorm", uncentred), ("plain", plain_down)):
        s = {"norm": norm, "width": 8}
        distance = abs(rival.theory(s) - claim.theory(s)) / abs(claim.theory(s))
        assert claim.precision.delta < distance / 3


def test_product_rate_is_the_digamma_difference_and_the_claimed_rate_at_its_dimension():
    for n in (2, 7, 8, 63, 64, 200):
        assert rank.product_collapse_rate(n) == bounds.rank_collapse_rate("plain", width=n)
        assert rank.product_collapse_rate(n) == bounds.rank_collapse_rate("layernorm", width=n + 1)
    with pytest.raises(ValueError, match="n must be"):
        rank.product_collapse_rate(1)


def test_r3_window_ends_above_the_float_floor_and_a_deeper_one_is_refused():
    claim = _claim("R3")
    for mode in MODES:
        for point in claim.points(mode):
            s = point.setting
            rate = bounds.rank_collapse_rate(s["norm"], width=s["width"])
            assert (s["fit_from"], s["depth"]) == bounds.collapse_window(s["norm"], width=s["width"], batch=s["batch"],
                                                                         decay=rank.R3_DECAY)
            assert rate * (s["depth"] - s["fit_from"]) >= rank.R3_DECAY
            assert rate * s["depth"] <= rank.FLOAT_FLOOR
    assert bounds.collapse_window("layernorm", width=16, batch=32) == bounds.collapse_window(
        "layernorm", width=16, batch=32, decay=rank.COLLAPSE_DECAY)
    with pytest.raises(ValueError, match="FLOAT_FLOOR"):
        bounds.collapse_window("layernorm", width=8, batch=32, decay=rank.R3_DECAY)  # a batch of 32 starts later
    with pytest.raises(ValueError, match="decay"):
        bounds.collapse_window("plain", width=8, batch=8, decay=0.0)


# --- through the verdict code, on the quick grids ---------------------------------------------

@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    registry.load_claims(("rank",))
    cache = tmp_path_factory.mktemp("rivals-rank")
    return run_claims(registry.select(",".join(IDS)), mode="quick", seed=0, cache_dir=cache, progress=False)


def test_on_the_quick_grid_the_claims_agree_and_every_rival_is_rejected_where_it_is_discriminated(quick):
    for result in quick:
        claim = result.claim
        assert result.verdict == AGREE, [(r.setting, r.verdict, r.reason) for r in result.rows]
        for rival in claim.rivals:
            judged = [row.rival(rival.name) for row in result.rows if row.rival(rival.name) is not None]
            discriminating = [r for r in judged if r.discriminating]
            assert discriminating, (claim.id, rival.name)
            assert all(r.verdict == DISAGREE and abs(r.gap) > 1 for r in discriminating), (claim.id, rival.name)
    summary = report.rival_summary(quick)
    assert summary and all(s["status"] == report.REJECTED and s["claim_agrees_where_rejected"] for s in summary)
    assert report.exit_status(quick) == 0


def test_the_uncentred_layernorm_rate_is_rejected_and_the_centred_one_agrees(quick):
    [r3] = [r for r in quick if r.claim.id == "R3"]
    [ln] = [row for row in r3.rows if row.setting["norm"] == "layernorm"]
    assert ln.verdict == AGREE and abs(ln.gap) < 1
    uncentred = ln.rival("LN uncentred (n = d)")
    assert uncentred.verdict == DISAGREE and uncentred.separation > DISCRIMINATING_GAP
    # the uncentred product collapses more slowly: the slope's whole interval lies below it
    assert uncentred.theory > ln.theory and ln.ci_high < uncentred.theory


# --- R4c on explicit weights at width >= 256 ----------------------------------------------------

def _width_class(width):
    return "<= 128" if width <= 128 else ">= 256"


def test_r4c_has_an_explicit_weight_row_per_normalizer_and_width_class():
    claim = _claim("R4c")
    engines = {}
    for point in claim.points("full"):
        s = point.setting
        engine = _similarity_sim(s, trials=2, seed=0).settings["engine"]
        engines.setdefault((s["norm"], _width_class(s["width"])), set()).add(engine)
    assert set(engines) == {(n, c) for n in ("plain", "layernorm") for c in ("<= 128", ">= 256")}
    assert all("explicit" in found for found in engines.values()), engines
    # the rows at width 256 force the engine: engine="auto" would take the Gram engine there
    wide = {k: v for k, v in engines.items() if k[1] == ">= 256"}
    assert all(v == {"explicit"} for v in wide.values())
    s = dict(next(p.setting for p in claim.points("full") if p.setting["width"] >= 256))
    del s["engine"]
    assert _similarity_sim(s, trials=2, seed=0).settings["engine"] == "gram"


def test_r4c_explicit_weight_rows_agree_with_the_chain(tmp_path):
    claim = _claim("R4c")
    rows = [p for p in claim.points("full") if p.setting.get("engine") == "explicit"]
    assert {p.setting["norm"] for p in rows} == {"plain", "layernorm"}
    explicit = dataclasses.replace(claim, grid={"quick": rows, "full": rows})
    [result] = run_claims([explicit], mode="quick", seed=1, cache_dir=tmp_path, progress=False)
    assert all(r.verdict == AGREE for r in result.rows), [(r.setting, r.verdict, r.gap) for r in result.rows]
    # and the check can fail: the chain moved by 2δ disagrees on the same networks
    moved = dataclasses.replace(explicit, theory=lambda s, f=claim.theory, p=claim.precision: p.moved(f(s), 2.0))
    [result] = run_claims([moved], mode="quick", seed=1, cache_dir=tmp_path, progress=False)
    assert all(r.verdict == DISAGREE for r in result.rows), [(r.setting, r.verdict, r.gap) for r in result.rows]
