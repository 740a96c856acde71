"""Judging a setting: the closed form (or computed theory), the interval, the verdict, the row.

Each of a claim's rivals (:class:`~normtheory.verify.registry.Rival`) is judged at every
setting where it applies by the claim's own rule on the claim's own interval
(:func:`judge_rivals`): the interval that decides the claimed form decides the rival, so the
rivals add no interval to the run's simultaneous level, and the event under which no
correct form is called disagree (probability at least 95%) also covers every rival's
rejection. A setting *discriminates* a rival that lies more than
:data:`~normtheory.verify.registry.DISCRIMINATING_GAP` δ from the claimed form: where the
claimed form agrees there (its interval inside theory ± δ), that interval lies entirely
outside rival ± δ, so the rival is rejected; a grid verifies a claimed form against a rival
only if it holds such a setting.

Every trial requested is accounted for: a trial whose values are not finite without a
recorded divergence, an overflow, a non-finite closed form or an estimator that cannot be
computed makes the setting an ``error`` verdict with the reason; nothing is dropped. Each
row (:class:`SettingResult`) reports the trials requested, used and diverged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from normtheory.stats import Interval
from normtheory.verify.registry import DISCRIMINATING_GAP, Claim, Measurement, Point
from normtheory.verify.stats import DISAGREE, ERROR, ComputedTheory, Judgement, combine_verdicts


@dataclass
class RivalResult:
    """A rival's verdict at one setting, on the claim's interval there."""

    rival: str
    theory: float       # the rival's value
    gap: float          # (estimate − rival)/δ, δ taken at the claimed form (as the claim's gap)
    separation: float   # (rival − claimed form)/δ
    discriminating: bool  # |separation| > DISCRIMINATING_GAP
    verdict: str        # the claim's rule applied to the rival

    @property
    def rejected(self) -> bool:
        return self.verdict == DISAGREE


@dataclass
class SettingResult:
    """One row of the verification table (see :mod:`normtheory.verify.report` for the schema)."""

    claim: str
    setting: dict
    theory: float         # the closed form, or a computed theory's point estimate
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    method: str
    delta: float          # δ in the statistic's units at this setting (NaN for orderings, bounds)
    gap: float            # (estimate − theory)/δ
    verdict: str
    reason: str
    trials: int           # requested, over all looks taken
    trials_used: int      # in the interval (all requested, or the verdict is error)
    diverged_trials: int
    diverged_layer: int | None
    looks: int
    seed: int
    setting_seed: int
    seconds: float
    cached: bool
    theory_low: float = math.nan   # a computed theory's interval (== theory for a closed form)
    theory_high: float = math.nan
    theory_replicates: int = 0     # a computed theory's replicates (0 for a closed form)
    rivals: list = field(default_factory=list)  # RivalResult per rival that applies here

    @property
    def ratio(self) -> float:
        """Simulation over theory (NaN where undefined)."""
        if self.theory == 0 or not math.isfinite(self.estimate):
            return math.nan
        return self.estimate / self.theory

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d

    def rival(self, name: str) -> RivalResult | None:
        return next((r for r in self.rivals if r.rival == name), None)


@dataclass
class ClaimResult:
    claim: Claim
    rows: list[SettingResult] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return combine_verdicts(r.verdict for r in self.rows)


def judge(claim: Claim, point: Point, measurement: Measurement, level: float) -> tuple:
    """``(theory, interval or None, Judgement)`` for the trials simulated so far at a setting;
    ``theory`` is a float, or an :class:`Interval` for a computed theory (resolved at ``level``)."""
    theory = claim.theory(point.setting)
    if isinstance(theory, ComputedTheory):
        if claim.theory_looks < 1:
            return math.nan, None, Judgement(ERROR, "a computed theory needs theory_looks >= 1 (its intervals "
                                                    "count in the simultaneous level)")
        try:
            theory = theory.interval(level)
        except ValueError as exc:
            return math.nan, None, Judgement(ERROR, f"computed theory: {exc}")
        ends = (theory.estimate, theory.low, theory.high)
        if not all(math.isfinite(v) for v in ends):
            return theory, None, Judgement(ERROR, f"the computed theory is {ends}")
    else:
        theory = float(theory)
        if not math.isfinite(theory):
            return theory, None, Judgement(ERROR, f"the closed form is {theory}")
    if measurement.diverged_trials:
        n, back = measurement.diverged_trials, measurement.backward_trials
        where = ("the backward pass (a non-finite gradient; the forward pass finite)" if back == n else
                 "the forward pass" if not back else f"the forward pass ({back} of them in the backward pass)")
        return theory, None, Judgement(ERROR, f"overflow at layer {measurement.diverged_layer} in {where}, in "
                                              f"{n} of {measurement.trials} trials")
    failed = measurement.failed_trials()
    if failed:
        return theory, None, Judgement(ERROR, f"{failed} of {measurement.trials} trials failed to compute "
                                              "(non-finite values, no divergence recorded)")
    try:
        interval = claim.estimate(measurement, level, point.setting)
    except ValueError as exc:
        return theory, None, Judgement(ERROR, f"estimator: {exc}")
    return theory, interval, claim.rule.verdict(theory, interval)


def judge_rivals(claim: Claim, point: Point, judged: tuple) -> list[RivalResult]:
    """Every rival of ``claim`` that applies at ``point``, judged by the claim's rule on the
    interval ``judged`` holds (what :func:`judge` returned); none where that has no interval."""
    theory, interval, _ = judged
    if not claim.rivals or interval is None:
        return []
    centre = theory.estimate if isinstance(theory, Interval) else theory
    width = claim.precision.width(centre)
    out = []
    for rival in claim.rivals:
        value = rival.theory(point.setting)
        if value is None:
            continue
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"claim {claim.id}: rival {rival.name!r} is {value} at {dict(point.setting)}")
        verdict = claim.rule.verdict(value, interval).verdict
        separation = (value - centre) / width
        out.append(RivalResult(rival.name, value, (interval.estimate - value) / width, separation,
                               abs(separation) > DISCRIMINATING_GAP, verdict))
    return out


def make_row(claim: Claim, point: Point, measurement: Measurement, judged: tuple, *, seed: int, level: float,
             s_seed: int, looks: int, seconds: float, cached: bool) -> SettingResult:
    """The row of a finished setting from its trials and ``judged`` (what :func:`judge` returned)."""
    theory, interval, judgement = judged
    nan = math.nan
    precision = claim.precision
    if isinstance(theory, Interval):
        theory, low, high, replicates = theory.estimate, theory.low, theory.high, theory.n
    else:
        low = high = theory
        replicates = 0
    delta = precision.width(theory) if precision is not None and math.isfinite(theory) else nan
    used = measurement.trials if interval is not None else 0
    return SettingResult(
        claim=claim.id, setting=dict(point.setting), theory=theory, theory_low=low, theory_high=high,
        theory_replicates=replicates,
        estimate=interval.estimate if interval else nan,
        ci_low=interval.low if interval else nan, ci_high=interval.high if interval else nan,
        level=level, method=interval.method if interval else "", delta=delta, gap=judgement.gap,
        verdict=judgement.verdict, reason=judgement.reason, trials=measurement.trials,
        trials_used=used, diverged_trials=measurement.diverged_trials,
        diverged_layer=measurement.diverged_layer, looks=looks, seed=seed, setting_seed=s_seed,
        seconds=seconds, cached=cached, rivals=judge_rivals(claim, point, judged))
