"""Run claims over their grids: simulate, estimate, judge; cache and resume.

For every claim and every setting of its grid (in the chosen mode) the runner

1. computes the setting's seed from the run seed (:func:`~normtheory.verify.registry.setting_seed`),
2. takes the simulation from the cache if a finished one with the same claim, claim
   version, setting, seed and trial count is there, otherwise runs ``claim.measure`` and
   appends the result to the cache at once,
3. estimates the statistic with an interval at the claim's simultaneous level
   (:func:`~normtheory.verify.stats.simultaneous_level` over its grid),
4. evaluates the closed form and applies the claim's pass rule.

Only simulations are cached, never theory values or verdicts, so a changed closed form is
always judged afresh. The cache is a JSONL file (one finished setting per line), appended
and flushed after each setting: a killed run resumes without redoing finished settings. A
truncated last line (the run was killed while writing it) is ignored; any other unreadable
line is an error naming the file and line.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from normtheory.verify.registry import Claim, Measurement, Point, check_mode, setting_seed
from normtheory.verify.stats import (DIVERGED, FAIL, PASS, Interval, combine_verdicts,
                                     simultaneous_level)

CACHE_FILE = "verify-measurements.jsonl"
DEFAULT_CACHE_DIR = ".normtheory-cache"


@dataclass
class SettingResult:
    """One row of the verification table (see :mod:`normtheory.verify.report` for the schema)."""

    claim: str
    setting: dict
    theory: float
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    method: str
    verdict: str
    reason: str
    trials: int
    seed: int
    setting_seed: int
    diverged_layer: int | None
    diverged_trials: int
    seconds: float
    cached: bool

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


@dataclass
class ClaimResult:
    claim: Claim
    rows: list[SettingResult] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return combine_verdicts(r.verdict for r in self.rows)


class MeasurementCache:
    """Finished simulations, keyed by (claim, version, setting, seed, trials), in JSONL."""

    def __init__(self, directory: str | Path | None):
        self.path = None if directory is None else Path(directory) / CACHE_FILE
        self._entries: dict[tuple, Measurement] = {}
        if self.path is not None and self.path.exists():
            self._load()

    @staticmethod
    def _key(claim_id: str, version: str, setting_key: str, seed: int, trials: int) -> tuple:
        return (claim_id, version, setting_key, int(seed), int(trials))

    def _load(self) -> None:
        lines = self.path.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                key = self._key(obj["claim"], obj["version"], obj["setting_key"],
                                obj["seed"], obj["trials"])
                measurement = Measurement.from_json(obj["measurement"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                if number == len(lines):  # written when the run was killed
                    continue
                raise ValueError(f"cache file {self.path}, line {number}: unreadable entry "
                                 f"({exc}); delete the file or pass another --cache-dir") from exc
            self._entries[key] = measurement

    def get(self, claim: Claim, point: Point, seed: int) -> Measurement | None:
        return self._entries.get(self._key(claim.id, claim.version, point.key, seed, point.trials))

    def put(self, claim: Claim, point: Point, seed: int, measurement: Measurement) -> None:
        self._entries[self._key(claim.id, claim.version, point.key, seed, point.trials)] = measurement
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"claim": claim.id, "version": claim.version, "setting_key": point.key,
                  "seed": int(seed), "trials": point.trials, "measurement": measurement.to_json()}
        with self.path.open("a") as fh:
            fh.write(json.dumps(record, allow_nan=True) + "\n")
            fh.flush()

    def __len__(self) -> int:
        return len(self._entries)


def judge(claim: Claim, point: Point, measurement: Measurement, level: float) -> tuple:
    """(theory, interval or None, verdict, reason) for one simulated setting."""
    theory = float(claim.theory(point.setting))
    interval = None
    survivors = measurement.finite()
    n_survivors = next(iter(survivors.values())).shape[0] if survivors else 0
    if n_survivors >= 2:
        interval = claim.estimate(Measurement(survivors, n_survivors), level)
    if measurement.diverged_layer is not None:
        return theory, interval, DIVERGED, (f"overflow at layer {measurement.diverged_layer} "
                                            f"in {measurement.diverged_trials} of "
                                            f"{measurement.trials} trials")
    if interval is None:
        raise ValueError(f"claim {claim.id}: fewer than 2 finite trials at {point.setting} "
                         "and no divergence reported")
    verdict, reason = claim.rule.verdict(theory, interval)
    return theory, interval, verdict, reason


def run_claims(claims: Sequence[Claim], *, mode: str = "quick", seed: int = 0,
               cache_dir: str | Path | None = DEFAULT_CACHE_DIR, progress: bool = True,
               on_row: Callable[[SettingResult], None] | None = None) -> list[ClaimResult]:
    """Check every claim at every setting of its ``mode`` grid; see the module docstring."""
    check_mode(mode)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    cache = MeasurementCache(cache_dir)
    total = sum(len(c.points(mode)) for c in claims)
    bar = _progress_bar(total, progress)
    results = []
    try:
        for claim in claims:
            points = claim.points(mode)
            level = simultaneous_level(len(points))
            result = ClaimResult(claim)
            for point in points:
                bar.set_postfix_str(f"{claim.id} {_short(point.setting)}", refresh=False)
                row = _run_point(claim, point, seed, level, cache)
                result.rows.append(row)
                if on_row is not None:
                    on_row(row)
                bar.update(1)
            results.append(result)
    finally:
        bar.close()
    return results


def _run_point(claim: Claim, point: Point, seed: int, level: float,
               cache: MeasurementCache) -> SettingResult:
    s_seed = setting_seed(seed, claim.id, claim.seed_key(point))
    measurement = cache.get(claim, point, s_seed)
    cached = measurement is not None
    start = time.perf_counter()
    if measurement is None:
        measurement = claim.measure(dict(point.setting), point.trials, s_seed)
        if measurement.trials != point.trials:
            raise ValueError(f"claim {claim.id}: simulator returned {measurement.trials} "
                             f"trials, {point.trials} were asked for")
        cache.put(claim, point, s_seed, measurement)
    seconds = time.perf_counter() - start
    theory, interval, verdict, reason = judge(claim, point, measurement, level)
    nan = math.nan
    return SettingResult(
        claim=claim.id, setting=dict(point.setting), theory=theory,
        estimate=interval.estimate if interval else nan,
        ci_low=interval.low if interval else nan, ci_high=interval.high if interval else nan,
        level=level, method=interval.method if interval else "", verdict=verdict,
        reason=reason, trials=point.trials, seed=seed, setting_seed=s_seed,
        diverged_layer=measurement.diverged_layer, diverged_trials=measurement.diverged_trials,
        seconds=0.0 if cached else seconds, cached=cached)


def _short(setting: Mapping) -> str:
    return " ".join(f"{k}={v}" for k, v in setting.items())


class _NoBar:
    def set_postfix_str(self, *args, **kwargs):
        pass

    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="verify", unit="setting", dynamic_ncols=True)
