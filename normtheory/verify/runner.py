"""Run claims over their grids: simulate, estimate, judge, with adaptive trials; cache and resume.

For every claim and every setting of its grid (in the chosen mode) the runner

1. computes the setting's seed from the run seed (:func:`~normtheory.verify.registry.setting_seed`),
2. runs the first look: the grid's trial count, simulated with that seed (or taken from
   the cache if a finished simulation with the same key is there),
3. estimates the statistic with an interval at the run's simultaneous level
   (:func:`~normtheory.verify.stats.simultaneous_level` over every setting of the mode and
   every look), evaluates the closed form and applies the claim's verdict rule,
4. while the verdict is undecided and looks remain, runs the next look and judges the
   trials of all looks together.

**Adaptive schedule** (fixed in advance): up to :data:`LOOKS` looks at cumulative trial
counts ``n0, 2·n0, 4·n0`` (``n0`` the grid's count). Look ``k ≥ 1`` adds independent
trials from the seed :func:`~normtheory.verify.registry.derived_seed` ``(setting seed,
"look k")``, so the first ``n0`` trials are those of a single-look run and every look is
reproducible. The level of every interval is split over all looks (Bonferroni), so the
run's family-wise error rate stays at most 5% however many looks a setting takes.

**Accounting.** Every trial requested is accounted for: a trial whose values are not
finite without a recorded divergence, an overflow, a non-finite closed form or an
estimator that cannot be computed makes the setting an ``error`` verdict with the reason;
nothing is dropped. Each row reports the trials requested, used and diverged.

**Cache.** Only simulations are cached, never closed forms or verdicts, so a changed closed
form is always judged afresh. The key carries everything a simulation depends on: the
claim, its version, the simulator (normtheory's version, :data:`SIMULATOR_VERSION`, the
claim's backend and, for torch, the device), the setting, the seed and the trial count of
the look. Simulations are kept in the shared result store (:mod:`normtheory.store`,
``<cache dir>/results-v1.jsonl``, kind ``verify.measurement``), appended and fsync-ed as
each look arrives: a killed run resumes without redoing finished looks. A torn last line
(the run was killed while writing it) is cut off with a warning; any other unreadable or
altered line is an error naming the file and line. The cache of the previous version
(``verify-measurements-v2.jsonl``) is still read, never written; the older
``verify-measurements.jsonl`` is not read: a note says so and that the file can be deleted.

**Executors.** By default every look runs in this process, setting after setting. With a
Dask executor (``executor=``, ``--jobs``, ``--scheduler``; :mod:`normtheory.executors`) the
unit of work is one distinct simulation: a claim's settings that differ only in their
``probe_keys`` share a seed and hence a simulation, so one task measures them all at one
look. Every first look that the store lacks is submitted at once; as each result arrives
it is stored and judged, and the settings it leaves undecided have their next look
submitted. Each look's trials depend only on its seed, so the results are bit-identical to
the serial run (only the ``seconds`` column differs).
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from normtheory.store import DEFAULT_STORE_DIR as DEFAULT_CACHE_DIR
from normtheory.store import STORE_FILE as CACHE_FILE  # noqa: F401  (the store's file name, re-exported)
from normtheory.verify.registry import (Claim, Measurement, Point, check_mode, derived_seed, registered,
                                        setting_seed)
from normtheory.verify.stats import (ERROR, UNDECIDED, ComputedTheory, Interval, Judgement, combine_verdicts,
                                     simultaneous_level)

#: read, never written (the cache of the previous version)
LEGACY_CACHE_FILES = ("verify-measurements-v2.jsonl",)
#: not read (a note says the file can be deleted)
OBSOLETE_CACHE_FILES = ("verify-measurements.jsonl",)
#: looks of the adaptive schedule: cumulative trials n0, 2·n0, 4·n0
LOOKS = 3
#: bumped when the Monte Carlo engines change what they compute for the same arguments
SIMULATOR_VERSION = "3"  # 3: variancenorm is the paper's (centred batch std, no mean subtracted)


def look_plan(first: int, looks: int = LOOKS) -> list[int]:
    """New trials at each look: ``first`` then as many as all earlier looks together."""
    return [first] + [first * 2 ** (k - 1) for k in range(1, looks)]


def look_seed(s_seed: int, look: int) -> int:
    """Seed of a look: the setting seed for the first, a derived independent stream after."""
    return s_seed if look == 0 else derived_seed(s_seed, f"look {look}")


def simulator_id(claim: Claim) -> str:
    """What a claim's simulations depend on besides its setting and seed (part of the cache key)."""
    from normtheory import __version__

    parts = [f"normtheory {__version__}", f"simulator {SIMULATOR_VERSION}", claim.backend]
    if claim.backend == "torch":
        from normtheory.montecarlo.networks import resolve_device

        parts.append(str(resolve_device("auto")))
    return "|".join(parts)


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
    """Finished simulations, keyed by (claim, version, simulator, setting, seed, trials), in the
    result store (see the module docstring)."""

    KIND = "verify.measurement"

    def __init__(self, directory: str | Path | None):
        self.store = None
        self._legacy: dict[tuple, Measurement] = {}
        if directory is None:
            return
        from normtheory.store import ResultStore

        for name in OBSOLETE_CACHE_FILES:
            if (Path(directory) / name).exists():
                print(f"note: {Path(directory) / name} is a cache of an earlier normtheory version and is "
                      "not read; it can be deleted", file=sys.stderr)
        self.store = ResultStore(directory, hint="delete the file or pass another --cache-dir")
        for name in LEGACY_CACHE_FILES:
            if (Path(directory) / name).exists():
                self._read_legacy(Path(directory) / name)

    def _read_legacy(self, path: Path) -> None:
        """The cache of the previous version: read (never written, never repaired)."""
        from normtheory.durable import JsonlLog

        log = JsonlLog(path, checksum=True, hint="delete the file (it is the previous cache format)")
        for number, obj in enumerate(log.records(repair=False), start=1):
            try:
                spec = self._spec(obj["claim"], obj["version"], obj["simulator"], obj["setting_key"],
                                  obj["seed"], obj["trials"])
                self._legacy[self._tuple(spec)] = Measurement.from_json(obj["measurement"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"cache file {path}, record {number}: unreadable entry "
                                 f"({exc}); delete the file") from exc

    @property
    def path(self) -> Path | None:
        return None if self.store is None else self.store.path

    @staticmethod
    def _spec(claim_id: str, version: str, simulator: str, setting_key: str, seed: int, trials: int) -> dict:
        return {"claim": claim_id, "version": version, "simulator": simulator, "setting_key": setting_key,
                "seed": int(seed), "trials": int(trials)}

    @staticmethod
    def _tuple(spec: dict) -> tuple:
        return tuple(spec[k] for k in ("claim", "version", "simulator", "setting_key", "seed", "trials"))

    def _key(self, claim: Claim, point: Point, seed: int, trials: int) -> tuple[dict, str]:
        from normtheory.store import result_key

        spec = self._spec(claim.id, claim.version, simulator_id(claim), point.key, seed, trials)
        return spec, result_key(self.KIND, spec)

    def get(self, claim: Claim, point: Point, seed: int, trials: int) -> Measurement | None:
        if self.store is None:
            return None
        spec, key = self._key(claim, point, seed, trials)
        value = self.store.get(key)
        if value is not None:
            return Measurement.from_json(value)
        return self._legacy.get(self._tuple(spec))

    def put(self, claim: Claim, point: Point, seed: int, trials: int, measurement: Measurement) -> None:
        if self.store is not None:
            spec, _ = self._key(claim, point, seed, trials)
            self.store.put(self.KIND, spec, measurement.to_json())

    def __len__(self) -> int:
        if self.store is None:
            return 0
        return len({self._tuple(spec) for _, spec, _ in self.store.entries(self.KIND)} | set(self._legacy))


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


def _everything(claims: Sequence[Claim]) -> list[Claim]:
    everything = {c.id: c for c in registered()}
    everything.update({c.id: c for c in claims})
    return list(everything.values())


def count_tests(claims: Sequence[Claim], mode: str) -> int:
    """Settings of the whole run: every registered claim and every claim given, in ``mode``."""
    return sum(len(c.points(mode)) for c in _everything(claims))


def count_theory_intervals(claims: Sequence[Claim], mode: str) -> int:
    """Intervals of computed theories in the whole run (as :func:`count_tests`): each setting
    of a claim with ``theory_looks`` takes up to that many."""
    return sum(len(c.points(mode)) * c.theory_looks for c in _everything(claims))


def run_claims(claims: Sequence[Claim], *, mode: str = "quick", seed: int = 0,
               cache_dir: str | Path | None = DEFAULT_CACHE_DIR, progress: bool = True,
               on_row: Callable[[SettingResult], None] | None = None, tests: int | None = None,
               looks: int = LOOKS, executor=None) -> list[ClaimResult]:
    """Check every claim at every setting of its ``mode`` grid; see the module docstring.

    ``tests`` is the number of settings the simultaneous level covers (default
    :func:`count_tests`, and then the intervals of computed theories,
    :func:`count_theory_intervals`, are added; with ``tests`` given, those of the claims
    given), ``looks`` the number of looks of the adaptive schedule.
    ``executor`` is None (serial, in this process) or one of :mod:`normtheory.executors`
    (the caller closes it); with a Dask executor the claims must be registered, since the
    workers rebuild them by id, and ``on_row`` sees the rows in the order they finish.
    """
    check_mode(mode)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    if tests is None:
        level = simultaneous_level(count_tests(claims, mode), looks, extra=count_theory_intervals(claims, mode))
    else:  # the caller counts the settings: the theory intervals are those of the claims given
        level = simultaneous_level(tests, looks, extra=sum(len(c.points(mode)) * c.theory_looks for c in claims))
    if executor is not None:
        _check_rebuildable(claims)
    cache = MeasurementCache(cache_dir)
    total = sum(len(c.points(mode)) for c in claims)
    bar = _progress_bar(total, progress)
    results = []
    try:
        if executor is not None:
            rows = _run_on(executor, claims, mode, seed, level, looks, cache, bar, on_row)
            return [ClaimResult(c, [rows[ci, pi] for pi in range(len(c.points(mode)))])
                    for ci, c in enumerate(claims)]
        for claim in claims:
            result = ClaimResult(claim)
            for point in claim.points(mode):
                bar.set_postfix_str(f"{claim.id} {_short(point.setting)}", refresh=False)
                row = _run_point(claim, point, seed, level, looks, cache)
                result.rows.append(row)
                if on_row is not None:
                    on_row(row)
                bar.update(1)
            results.append(result)
    finally:
        bar.close()
    return results


def _run_point(claim: Claim, point: Point, seed: int, level: float, looks: int,
               cache: MeasurementCache) -> SettingResult:
    s_seed = setting_seed(seed, claim.id, claim.seed_key(point))
    parts, seconds, cached = [], 0.0, True
    for look, trials in enumerate(look_plan(point.trials, looks)):
        l_seed = look_seed(s_seed, look)
        part = cache.get(claim, point, l_seed, trials)
        if part is None:
            cached = False
            start = time.perf_counter()
            part = claim.measure(dict(point.setting), trials, l_seed)
            seconds += time.perf_counter() - start
            _check_trials(claim, part, trials)
            cache.put(claim, point, l_seed, trials, part)
        parts.append(part)
        measurement = Measurement.concat(parts)
        theory, interval, judgement = judge(claim, point, measurement, level)
        if judgement.verdict != UNDECIDED:
            break
    return _row(claim, point, seed, level, s_seed, measurement, theory, interval, judgement, len(parts),
                seconds, cached)


def _check_trials(claim: Claim, part: Measurement, trials: int) -> None:
    if part.trials != trials:
        raise ValueError(f"claim {claim.id}: simulator returned {part.trials} "
                         f"trials, {trials} were asked for")


def _row(claim, point, seed, level, s_seed, measurement, theory, interval, judgement, looks, seconds,
         cached) -> SettingResult:
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
        seconds=seconds, cached=cached)


# --- on an executor ---------------------------------------------------------------------------

def _check_rebuildable(claims: Sequence[Claim]) -> None:
    """Workers rebuild claims by id from the registry: a claim passed in must be the registered one."""
    from normtheory.verify import registry

    registry.load_claims()
    known = {c.id: c for c in registered()}
    for claim in claims:
        reg = known.get(claim.id)
        if reg is None or reg.measure is not claim.measure or reg.version != claim.version \
                or reg.backend != claim.backend:
            raise ValueError(f"claim {claim.id} is not a registered claim: a Dask executor rebuilds claims "
                             "by id on its workers; run it serially (no --jobs/--scheduler)")


def measure_group(claim_id: str, settings: list, trials: int, seed: int) -> list:
    """On a worker: ``[(Measurement, seconds)]`` of ``claim.measure(setting, trials, seed)`` for
    each setting of one distinct simulation (settings differing only in ``probe_keys``; the
    simulation is computed once and read for each)."""
    from normtheory.verify import registry

    registry.load_claims()
    [claim] = registry.select(claim_id)
    out = []
    for setting in settings:
        start = time.perf_counter()
        part = claim.measure(dict(setting), trials, seed)
        out.append((part, time.perf_counter() - start))
    return out


@dataclass
class _Setting:
    """The state of one setting during a run on an executor."""
    index: tuple
    claim: Claim
    point: Point
    s_seed: int
    plan: list
    parts: list = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = True


def _run_on(executor, claims, mode, seed, level, looks, cache, bar, on_row) -> dict:
    """Every setting of ``claims`` through ``executor``; see "Executors" in the module docstring."""
    rows: dict[tuple, SettingResult] = {}
    pending: dict[int, tuple] = {}
    tags = itertools.count()

    def finish(st: _Setting, measurement, theory, interval, judgement) -> None:
        row = _row(st.claim, st.point, seed, level, st.s_seed, measurement, theory, interval, judgement,
                   len(st.parts), st.seconds, st.cached)
        rows[st.index] = row
        bar.set_postfix_str(f"{st.claim.id} {_short(st.point.setting)}", refresh=False)
        bar.update(1)
        if on_row is not None:
            on_row(row)

    def advance(st: _Setting) -> int | None:
        """Judge what is there and take stored looks; the look to simulate, or None when done."""
        while True:
            k = len(st.parts)
            if k:
                measurement = Measurement.concat(st.parts)
                theory, interval, judgement = judge(st.claim, st.point, measurement, level)
                if judgement.verdict != UNDECIDED or k == len(st.plan):
                    finish(st, measurement, theory, interval, judgement)
                    return None
            part = cache.get(st.claim, st.point, look_seed(st.s_seed, k), st.plan[k])
            if part is None:
                return k
            st.parts.append(part)

    def submit(states) -> None:
        groups: dict[tuple, list] = {}
        for st in states:
            look = advance(st)
            if look is not None:
                key = (st.index[0], st.claim.seed_key(st.point), look, st.plan[look])
                groups.setdefault(key, []).append(st)
        for (_, _, look, trials), members in groups.items():
            claim = members[0].claim
            tag = next(tags)
            pending[tag] = (members, look, trials)
            executor.submit(tag, "normtheory.verify.runner:measure_group", claim.id,
                            [dict(st.point.setting) for st in members], trials,
                            look_seed(members[0].s_seed, look), warm=claim.backend)

    states = []
    for ci, claim in enumerate(claims):
        for pi, point in enumerate(claim.points(mode)):
            s_seed = setting_seed(seed, claim.id, claim.seed_key(point))
            states.append(_Setting((ci, pi), claim, point, s_seed, look_plan(point.trials, looks)))
    submit(states)
    for tag, result in executor.results():
        members, look, trials = pending.pop(tag)
        for st, (part, seconds) in zip(members, result):
            _check_trials(st.claim, part, trials)
            cache.put(st.claim, st.point, look_seed(st.s_seed, look), trials, part)
            st.parts.append(part)
            st.seconds += seconds
            st.cached = False
        submit(members)
    missing = sum(len(c.points(mode)) for c in claims) - len(rows)
    if missing:
        raise RuntimeError(f"{missing} settings were left without a result")
    return rows


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
