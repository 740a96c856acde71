"""Run claims over their grids: simulate, estimate, judge, with adaptive trials; cache and resume.

For every claim and every setting of its grid (in the chosen mode) a run

1. computes the setting's seed from the run seed (:func:`normtheory.verify.schedule.point_seed`,
   the one seeding rule of :mod:`normtheory.runs.seeds`),
2. runs the first look: the grid's trial count, simulated with that seed, or taken from
   the cache (:mod:`normtheory.verify.cache`) if a finished simulation with the same key is
   there,
3. estimates the statistic with an interval at the run's simultaneous level, evaluates the
   closed form and applies the claim's verdict rule (:mod:`normtheory.verify.judging`),
4. while the verdict is undecided and looks remain, runs the next look and judges the
   trials of all looks together (:mod:`normtheory.verify.schedule`),
5. judges the claim's rivals on the final interval (:func:`normtheory.verify.judging.judge_rivals`).

The looks run in this process or on an executor (:mod:`normtheory.verify.execution`); the
rows are turned into tables, JSON and exit codes by :mod:`normtheory.verify.report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

from normtheory.runs import progress as bars
from normtheory.verify.cache import DEFAULT_CACHE_DIR, MeasurementCache
from normtheory.verify.execution import (
    SettingRun,
    check_rebuildable,
    run_on,
    run_serial,
    setting_runs,
)
from normtheory.verify.judging import ClaimResult, SettingResult
from normtheory.verify.registry import Claim, check_mode
from normtheory.verify.schedule import LOOKS, run_level


def run_claims(claims: Sequence[Claim], *, mode: str = "quick", seed: int = 0,
               cache_dir: str | Path | None = DEFAULT_CACHE_DIR, progress: bool = True,
               on_row: Callable[[SettingResult], None] | None = None, tests: int | None = None,
               looks: int = LOOKS, executor=None) -> list[ClaimResult]:
    """Check every claim at every setting of its ``mode`` grid; see the module docstring.

    ``tests`` is the number of settings the simultaneous level covers (default: the whole
    run, :func:`normtheory.verify.schedule.run_level`), ``looks`` the number of looks of the
    adaptive schedule. ``executor`` is None (serial, in this process) or one of
    :mod:`normtheory.runs.executors` (the caller closes it); with a Dask executor the claims
    must be registered, since the workers rebuild them by id, and ``on_row`` sees the rows in
    the order they finish.
    """
    check_mode(mode)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    level = run_level(claims, mode, looks, tests)
    if executor is not None:
        check_rebuildable(claims)
    cache = MeasurementCache(cache_dir)
    states = setting_runs(claims, mode, seed, looks)
    bar = bars.bar(len(states), "verify", "setting", progress)

    def finish(st: SettingRun) -> None:
        bar.set_postfix_str(f"{st.claim.id} {_short(st.point.setting)}", refresh=False)
        bar.update(1)
        if on_row is not None:
            on_row(st.row)

    try:
        if executor is None:
            run_serial(states, cache, seed, level, finish)
        else:
            run_on(executor, states, cache, seed, level, finish)
    finally:
        bar.close()
    return [ClaimResult(c, [st.row for st in states if st.index[0] == ci]) for ci, c in enumerate(claims)]


def _short(setting: Mapping) -> str:
    return " ".join(f"{k}={v}" for k, v in setting.items())
