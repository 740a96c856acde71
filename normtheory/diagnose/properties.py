"""The paper's properties at initialization as verdicts, from the probes over independent inits.

Each property is a statistic with an interval from :mod:`normtheory.stats` over the inits
and a rule of :mod:`normtheory.verify.stats`, which gives agree / disagree / undecided
(error where a value is non-finite) with respect to a stated hypothesis, and a finding in
words. All intervals of one diagnosis are computed at the Bonferroni level
:func:`normtheory.stats.simultaneous_level` of their number, so that together they cover
with probability at least 95%. Definitions and sources:

- ``variance_flat``: ``E[v_last] / E[v_first]`` over the longest run of consecutive probe
  points with one output shape (a change of width or resolution in the paper's ResNets goes
  through a normalized shortcut, which resets the scale; F4/F5 likewise use one stage);
  ratio of expectations, delta method; :class:`Equivalence` to 1 at relative precision
  0.25: agree = flat.
- ``variance_regime``: over the last ``2h + 1`` points of that run, the increment ratio
  ``E[v_last − v_mid] / E[v_mid − v_first]`` (``h`` points per half), 1 for linear growth
  and ``r^h`` for geometric growth at rate ``r`` per point; :class:`SideOfBoundary` at
  ``2^(h/2)``, the geometric midpoint of 1 and ``2^h`` (rate ``1 + alpha² = 2``, the
  unnormalized ReLU ResNet's): agree = linear (the paper's section 3 for activation-based
  normalizers in residual networks), disagree = geometric. With ``h = 4`` this is claim
  F4/F5's statistic and boundary 4 (:mod:`normtheory.verify.claims_forward`).
- ``rank_bound``: at every probe point with one BatchNorm / GroupNorm-type normalizer of
  known group size ``g``, the mean stable rank (``"samples"``) against
  ``c·sqrt(C/g)``, ``c = 1/2`` (:func:`normtheory.bounds.rank_lower_bound`, claim R1), by
  claim R1's rule (:class:`BoundHolds`, ``min_fraction = 1/2``, ``floor = 1``); the
  verdicts of the points combined by :func:`combine_verdicts`.
- ``rank_collapse``: the mean stable rank (``"samples"``) at the last point,
  :class:`SideOfBoundary` at 2: agree = collapsed toward 1.
- ``similarity_drift``: ``E[cos_last − cos_first]``, t-interval; :class:`Equivalence` to 0
  at absolute precision 0.1: agree = stable, disagree = increases / decreases.
- ``gradient_growth`` (``‖∂ℓ/∂X‖²`` at the point outputs) and ``gradient_growth_conv``
  (the paper's placement, squared): ``E‖g_first‖² / E‖g_last‖²``, delta method;
  :class:`SideOfBoundary` at 1: agree = gradients grow from the top to the first points
  (the paper's section 5 for batch statistics). Where every point is one normalizer of one
  known kind, width and size (a chain conv → normalizer → ReLU between points is assumed,
  not checked), the closed form :func:`normtheory.bounds.gradient_growth_per_layer`
  (ReLU, interior) is shown beside the per-point estimate ``ratio^(1/(points − 1))``, with
  its kind (:func:`normtheory.bounds.gradient_growth_form`); it is shown, not judged.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from normtheory import bounds
from normtheory.stats import mean_interval, ratio_interval, simultaneous_level
from normtheory.verify.stats import (AGREE, DISAGREE, ERROR, UNDECIDED, BoundHolds, Equivalence, Precision,
                                     SideOfBoundary, combine_verdicts)

FLAT = Equivalence(Precision(0.25))
RANK_RULE = BoundHolds(min_fraction=0.5, floor=1.0)  # claim R1's rule
COLLAPSE = SideOfBoundary(2.0)
DRIFT = Equivalence(Precision(0.1, relative=False))
GROWS = SideOfBoundary(1.0)
_ABOVE = 2.0  # a value on the "grows" side of GROWS's boundary (SideOfBoundary needs one)
FAMILYWISE = 0.95


def _row(prop: str, hypothesis: str, statistic: str, points: str, **fields) -> dict:
    return {"property": prop, "hypothesis": hypothesis, "statistic": statistic, "points": points,
            "estimate": math.nan, "low": math.nan, "high": math.nan, "n": 0, "level": math.nan, "method": "",
            "rule": "", "verdict": "", "reason": "", "finding": "not applicable", "prediction": math.nan,
            "prediction_kind": "", "per_point": math.nan, "note": "", **fields}


def _judged(base: dict, rule, theory, estimator: Callable[[float], object], level: float,
            findings: dict[str, str]) -> dict:
    """``base`` with the interval ``estimator(level)``, the rule's verdict and its finding
    (``findings[verdict]``, or a callable of the interval for disagree)."""
    try:
        interval = estimator(level)
    except ValueError as err:
        return {**base, "level": level, "rule": rule.text, "verdict": ERROR, "reason": str(err), "finding": "error"}
    judgement = rule.verdict(theory, interval)
    finding = findings[judgement.verdict]
    return {**base, "estimate": interval.estimate, "low": interval.low, "high": interval.high, "n": interval.n,
            "level": level, "method": interval.method, "rule": rule.text, "verdict": judgement.verdict,
            "reason": judgement.reason, "finding": finding(interval) if callable(finding) else finding}


def longest_run(info: list) -> list[int]:
    """Indices of the longest run of consecutive points with one output shape (the first on ties)."""
    best, start = (0, 1), 0
    for i in range(1, len(info) + 1):
        if i == len(info) or info[i][2][1:] != info[start][2][1:]:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = i
    return list(range(*best))


def _rank_points(info: list, batch: int) -> list[tuple[int, float]]:
    """``(point, c·sqrt(C/g))`` for the points with one normalizer the rank bound covers."""
    out = []
    for idx, (_name, _module, shape, norms) in enumerate(info):
        if len(set(norms)) != 1 or norms[0] is None:
            continue
        norm, group_size = norms[0]
        try:
            out.append((idx, bounds.rank_lower_bound(norm, width=shape[1], group_size=group_size, batch=batch)))
        except ValueError:  # the batch cannot reach the bound
            continue
    return out


def gradient_prediction(info: list, batch: int) -> tuple[float, str, str]:
    """``(per-point growth, its kind, why not)`` of the closed form, when every point is one
    normalizer of one kind, width, group size and spatial size; else ``(nan, "", why)``."""
    configs = {(tuple(norms), shape[1:]) for _n, _m, shape, norms in info}
    if len(configs) != 1:
        return math.nan, "", "the points differ in normalizer or shape"
    norms, shape = configs.pop()
    if len(norms) != 1 or norms[0] is None:
        return math.nan, "", "a point is not one normalizer with a known closed form"
    norm, group_size = norms[0]
    spatial = int(np.prod(shape[1:], dtype=np.int64))
    kwargs = dict(width=shape[0], group_size=group_size, batch=batch if norm == "batchnorm" else None,
                  spatial=spatial, nonlinearity="relu", position="interior")
    try:
        value = bounds.gradient_growth_per_layer(norm, **kwargs)
    except ValueError as err:
        return math.nan, "", str(err)
    kind = bounds.gradient_growth_form(norm, **kwargs)
    return value, kind, ""


def properties(values: Callable[[int, str], np.ndarray], info: list, batch: int) -> list[dict]:
    """The property rows of a diagnosis; ``values(point, key)``: the probe ``key`` at
    ``point`` over the inits (NaN where it overflowed)."""
    planned: list[tuple[int, Callable[[float], dict]]] = []  # (intervals, level -> row)
    rows_na: list[dict] = []
    last = len(info) - 1

    run = longest_run(info)
    var_hyp = "variance grows linearly with depth (not geometrically)"
    if len(run) >= 3:
        h = (len(run) - 1) // 2
        i0, im, il = run[-1] - 2 * h, run[-1] - h, run[-1]
        v0, vm, vl = values(i0, "variance"), values(im, "variance"), values(il, "variance")
        span = f"{info[i0][0]}..{info[il][0]}"
        flat = _row("variance_flat", "variance stays flat with depth", "E[v_last]/E[v_first]", span)
        planned.append((1, lambda level: _judged(
            flat, FLAT, 1.0, lambda lv: ratio_interval(vl, v0, lv), level,
            {AGREE: "flat", UNDECIDED: "undecided", DISAGREE: lambda i: "grows" if i.low > 1 else "shrinks"})))
        regime = _row("variance_regime", var_hyp, "E[v_last - v_mid]/E[v_mid - v_first]",
                      f"{info[i0][0]}, {info[im][0]}, {info[il][0]}")
        rule = SideOfBoundary(2.0 ** (h / 2))
        planned.append((1, lambda level: _judged(
            regime, rule, 1.0, lambda lv: ratio_interval(vl - vm, vm - v0, lv), level,
            {AGREE: "linear", UNDECIDED: "undecided", DISAGREE: "geometric"})))
    else:
        rows_na.append(_row("variance_flat", "variance stays flat with depth", "E[v_last]/E[v_first]", "",
                            reason="fewer than 3 consecutive points of one output shape"))
        rows_na.append(_row("variance_regime", var_hyp, "", "",
                            reason="fewer than 3 consecutive points of one output shape"))

    rank_points = _rank_points(info, batch)
    rank_hyp = "stable rank >= c*sqrt(C/g), c = 1/2 (not vacuous)"
    if rank_points:
        def rank_row(level):
            judged = [_judged(_row("", "", "", ""), RANK_RULE, bound,
                              lambda lv, i=idx: mean_interval(values(i, "stable_rank"), lv), level, {
                                  AGREE: "", UNDECIDED: "", DISAGREE: ""})
                      for idx, bound in rank_points]
            verdicts = [j["verdict"] for j in judged]
            lastj, (lasti, lastb) = judged[-1], rank_points[-1]
            counts = ", ".join(f"{v} {verdicts.count(v)}" for v in (AGREE, DISAGREE, UNDECIDED, ERROR)
                               if v in verdicts)
            verdict = combine_verdicts(verdicts)
            return {**_row("rank_bound", rank_hyp, "mean stable rank (samples) vs c*sqrt(C/g)",
                           f"{len(rank_points)} points, shown: {info[lasti][0]}"),
                    **{k: lastj[k] for k in ("estimate", "low", "high", "n", "level", "method")},
                    "rule": RANK_RULE.text + "; combined over the points (error > disagree > undecided > agree)",
                    "verdict": verdict, "reason": counts, "prediction": lastb, "prediction_kind": "calibrated",
                    "finding": {AGREE: "bound holds", DISAGREE: "bound fails or is vacuous",
                                UNDECIDED: "undecided", ERROR: "error"}[verdict]}
        planned.append((len(rank_points), rank_row))
    else:
        rows_na.append(_row("rank_bound", rank_hyp, "", "", reason="no point holds one batchnorm / groupnorm-type "
                            "normalizer of known group size (or the batch is below the bound)"))

    sr_last = values(last, "stable_rank")
    collapse = _row("rank_collapse", "the representation's rank collapses toward 1 (stable rank < 2)",
                    "mean stable rank (samples) at the last point", info[last][0])
    planned.append((1, lambda level: _judged(collapse, COLLAPSE, 1.0, lambda lv: mean_interval(sr_last, lv), level,
                                             {AGREE: "collapsed", UNDECIDED: "undecided",
                                              DISAGREE: "not collapsed"})))

    if last >= 1:
        drift = values(last, "cosine") - values(0, "cosine")
        sim = _row("similarity_drift", "the mean cosine similarity stays within 0.1 from first to last point",
                   "E[cos_last - cos_first]", f"{info[0][0]}, {info[last][0]}")
        planned.append((1, lambda level: _judged(
            sim, DRIFT, 0.0, lambda lv: mean_interval(drift, lv), level,
            {AGREE: "stable", UNDECIDED: "undecided",
             DISAGREE: lambda i: "increases" if i.low > 0 else "decreases"})))
        per_point, kind, why = gradient_prediction(info, batch)
        for prop, key, square in (("gradient_growth", "grad_input_sq", False),
                                  ("gradient_growth_conv", "grad_conv_out_norm", True)):
            first, top = values(0, key), values(last, key)
            if square:
                first, top = first ** 2, top ** 2
            planned.append((1, _gradient_planner(prop, key, first, top, last, info, per_point, kind, why)))
    else:
        for prop in ("similarity_drift", "gradient_growth", "gradient_growth_conv"):
            rows_na.append(_row(prop, "", "", "", reason="a single probe point"))

    level = simultaneous_level(sum(count for count, _ in planned), familywise=FAMILYWISE)
    return [make(level) for _, make in planned] + rows_na


def _gradient_planner(prop, key, first, top, last, info, per_point, kind, why):
    where = "point outputs" if key == "grad_input_sq" else "conv outputs (normalizer inputs), squared"
    base = _row(prop, "gradients grow from the top to the first points (ratio > 1)",
                f"E|g_first|^2/E|g_last|^2, {where}", f"{info[0][0]}, {info[last][0]}",
                prediction=per_point, prediction_kind=kind, note=why)

    def make(level):
        row = _judged(base, GROWS, _ABOVE, lambda lv: ratio_interval(first, top, lv), level,
                      {AGREE: "grows", UNDECIDED: "undecided", DISAGREE: "shrinks"})
        ratio = row["estimate"]
        row["per_point"] = ratio ** (1.0 / last) if ratio > 0 else math.nan
        return row
    return make
