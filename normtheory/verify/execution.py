"""Running the looks of every setting: in this process, or on an executor (Dask).

Both paths follow each setting through :class:`SettingRun`: take the looks the cache holds,
judge, and ask for the next look while the verdict is undecided and looks remain.

**Serial** (the default): setting after setting, each look simulated in this process.

**On an executor** (``--jobs``, ``--scheduler``; :mod:`normtheory.runs.executors`): the unit of
work is one distinct simulation: a claim's settings that differ only in their
``probe_keys`` share a seed and hence a simulation, so one task (:func:`measure_group`)
measures them all at one look. Every first look that the cache lacks is submitted at once;
as each result arrives it is stored and judged, and the settings it leaves undecided have
their next look submitted. Each look's trials depend only on its seed, so the results are
bit-identical to the serial run (only the ``seconds`` column differs).
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from normtheory.verify import registry
from normtheory.verify.cache import MeasurementCache
from normtheory.verify.judging import SettingResult, judge, make_row
from normtheory.verify.registry import Claim, Measurement, Point
from normtheory.verify.schedule import look_plan, look_seed, point_seed
from normtheory.verify.stats import UNDECIDED


@dataclass
class SettingRun:
    """The state of one setting during a run: its looks so far and, once done, its row."""

    index: tuple
    claim: Claim
    point: Point
    s_seed: int
    plan: list
    parts: list = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = True
    row: SettingResult | None = None

    def advance(self, cache: MeasurementCache, seed: int, level: float) -> int | None:
        """Judge what is there and take stored looks; the look to simulate next, or None when
        the setting is done (its :attr:`row` set)."""
        while True:
            k = len(self.parts)
            if k:
                measurement = Measurement.concat(self.parts)
                judged = judge(self.claim, self.point, measurement, level)
                if judged[2].verdict != UNDECIDED or k == len(self.plan):
                    self.row = make_row(self.claim, self.point, measurement, judged, seed=seed, level=level,
                                        s_seed=self.s_seed, looks=k, seconds=self.seconds, cached=self.cached)
                    return None
            part = cache.get(self.claim, self.point, look_seed(self.s_seed, k), self.plan[k])
            if part is None:
                return k
            self.parts.append(part)

    def add(self, look: int, part: Measurement, seconds: float, cache: MeasurementCache) -> None:
        """A simulated look: checked, stored, counted."""
        trials = self.plan[look]
        if part.trials != trials:
            raise ValueError(f"claim {self.claim.id}: simulator returned {part.trials} "
                             f"trials, {trials} were asked for")
        cache.put(self.claim, self.point, look_seed(self.s_seed, look), trials, part)
        self.parts.append(part)
        self.seconds += seconds
        self.cached = False


def setting_runs(claims: Sequence[Claim], mode: str, seed: int, looks: int) -> list[SettingRun]:
    return [SettingRun((ci, pi), claim, point, point_seed(seed, claim, point), look_plan(point.trials, looks))
            for ci, claim in enumerate(claims) for pi, point in enumerate(claim.points(mode))]


def _timed_measure(claim: Claim, setting: Mapping, trials: int, seed: int) -> tuple[Measurement, float]:
    start = time.perf_counter()
    part = claim.measure(dict(setting), trials, seed)
    return part, time.perf_counter() - start


def run_serial(states: Sequence[SettingRun], cache: MeasurementCache, seed: int, level: float,
               finish: Callable[[SettingRun], None]) -> None:
    """Every setting in turn, each look simulated in this process.

    The settings of the torch claims (``backend="torch"``) run in turn in a second thread,
    beside the others, with torch on one thread: the numba engines release the GIL, and
    the small torch networks of the claims are mostly Python overhead, so each lane fills
    the other's idle core (quick grid on 2 cores, warm: 38.5 s in one thread, about 30 s in
    two; with torch's default two threads in its lane, 52 s: their spin-waiting starved the
    numba threads; handing the numba claims to whichever lane is free was no faster, the
    Gram engine's Python holding the GIL in both). The results do not depend on it: each look's numbers depend only on
    its seed, the torch claims (which draw from torch's global generator) all run in the one
    thread, and their networks give the same numbers on one thread as on two to rounding
    (identical in the quick grid; 2e-14 relative for one B1t row of the full grid). An error in
    either lane stops both after the setting in progress."""
    lanes = [lane for lane in ([st for st in states if st.claim.backend != "torch"],
                               [st for st in states if st.claim.backend == "torch"]) if lane]
    lock, stop = threading.Lock(), threading.Event()

    def run_lane(lane: Sequence[SettingRun]) -> None:
        try:
            for st in lane:
                if stop.is_set():
                    return
                while (look := st.advance(cache, seed, level)) is not None:
                    st.add(look, *_timed_measure(st.claim, st.point.setting, st.plan[look],
                                                 look_seed(st.s_seed, look)), cache)
                with lock:
                    finish(st)
        except BaseException:
            stop.set()
            raise

    def run_torch_lane(lane: Sequence[SettingRun]) -> None:
        import torch  # lazy: imported in this lane's thread, beside the other lane's work

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            run_lane(lane)
        finally:
            torch.set_num_threads(threads)

    if len(lanes) == 1:
        run_lane(lanes[0])
        return
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(run_torch_lane, lanes[1])
        try:
            run_lane(lanes[0])
        finally:
            error = second.exception()  # waits: after its setting in progress if this lane failed
    if error is not None:
        raise error


def check_rebuildable(claims: Sequence[Claim]) -> None:
    """Workers rebuild claims by id from the registry: a claim passed in must be the registered one."""
    registry.load_claims()
    known = {c.id: c for c in registry.registered()}
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
    registry.load_claims()
    [claim] = registry.select(claim_id)
    return [_timed_measure(claim, setting, trials, seed) for setting in settings]


def run_on(executor, states: Sequence[SettingRun], cache: MeasurementCache, seed: int, level: float,
           finish: Callable[[SettingRun], None]) -> None:
    """Every setting through ``executor``; see the module docstring."""
    pending: dict[int, tuple] = {}
    tags = itertools.count()

    def submit(group: Sequence[SettingRun]) -> None:
        groups: dict[tuple, list] = {}
        for st in group:
            look = st.advance(cache, seed, level)
            if look is None:
                finish(st)
            else:
                key = (st.index[0], st.claim.seed_key(st.point), look, st.plan[look])
                groups.setdefault(key, []).append(st)
        for (_, _, look, trials), members in groups.items():
            claim = members[0].claim
            tag = next(tags)
            pending[tag] = (members, look)
            executor.submit(tag, f"{__name__}:measure_group", claim.id,
                            [dict(st.point.setting) for st in members], trials,
                            look_seed(members[0].s_seed, look), warm=claim.backend)

    submit(states)
    for tag, result in executor.results():
        members, look = pending.pop(tag)
        for st, (part, seconds) in zip(members, result):
            st.add(look, part, seconds, cache)
        submit(members)
    missing = sum(st.row is None for st in states)
    if missing:
        raise RuntimeError(f"{missing} settings were left without a result")
