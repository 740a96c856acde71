"""Finished simulations of ``normtheory verify``, kept in the result store so a run resumes.

Only simulations are cached, never closed forms or verdicts, so a changed closed form is
always judged afresh. The key carries everything a simulation depends on: the claim, its
version, the simulator (:func:`normtheory.runs.simulator.simulator_id` of the claim's
backend: normtheory's version, the simulator version, the backend and, for torch, the
device), the setting, the seed and the trial count of the look. Simulations are kept in
the shared result store (:mod:`normtheory.store`, ``<cache dir>/results-v1.jsonl``, kind
``verify.measurement``), appended and fsync-ed as each look arrives: a killed run resumes
without redoing finished looks. A torn last line (the run was killed while writing it) is
cut off with a warning; any other unreadable or altered line is an error naming the file
and line. The cache of the previous version (``verify-measurements-v2.jsonl``) is still
read, never written; the older ``verify-measurements.jsonl`` is not read: a note says so
and that the file can be deleted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from normtheory.durable import JsonlLog
from normtheory.runs.simulator import simulator_id
from normtheory.store import DEFAULT_STORE_DIR as DEFAULT_CACHE_DIR  # noqa: F401  (verify's default)
from normtheory.store import ResultStore
from normtheory.verify.registry import Claim, Measurement, Point

#: read, never written (the cache of the previous version)
LEGACY_CACHE_FILES = ("verify-measurements-v2.jsonl",)
#: not read (a note says the file can be deleted)
OBSOLETE_CACHE_FILES = ("verify-measurements.jsonl",)
_FIELDS = ("claim", "version", "simulator", "setting_key", "seed", "trials")


def _spec(claim_id: str, version: str, simulator: str, setting_key: str, seed: int, trials: int) -> dict:
    return {"claim": claim_id, "version": version, "simulator": simulator, "setting_key": setting_key,
            "seed": int(seed), "trials": int(trials)}


def _tuple(spec: dict) -> tuple:
    return tuple(spec[k] for k in _FIELDS)


class MeasurementCache:
    """Finished simulations, keyed by (claim, version, simulator, setting, seed, trials), in the
    result store (see the module docstring); ``directory=None``: nothing is read or kept."""

    KIND = "verify.measurement"

    def __init__(self, directory: str | Path | None):
        self.store = None
        self._legacy: dict[tuple, Measurement] = {}
        if directory is None:
            return
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
        log = JsonlLog(path, checksum=True, hint="delete the file (it is the previous cache format)")
        for number, obj in enumerate(log.records(repair=False), start=1):
            try:
                spec = _spec(*(obj[k] for k in _FIELDS))
                self._legacy[_tuple(spec)] = Measurement.from_json(obj["measurement"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"cache file {path}, record {number}: unreadable entry "
                                 f"({exc}); delete the file") from exc

    @property
    def path(self) -> Path | None:
        return None if self.store is None else self.store.path

    @staticmethod
    def spec(claim: Claim, point: Point, seed: int, trials: int) -> dict:
        """The result-store spec of one look of a setting."""
        return _spec(claim.id, claim.version, simulator_id(claim.backend), point.key, seed, trials)

    def get(self, claim: Claim, point: Point, seed: int, trials: int) -> Measurement | None:
        if self.store is None:
            return None
        spec = self.spec(claim, point, seed, trials)
        value = self.store.lookup(self.KIND, spec)
        if value is not None:
            return Measurement.from_json(value)
        return self._legacy.get(_tuple(spec))

    def put(self, claim: Claim, point: Point, seed: int, trials: int, measurement: Measurement) -> None:
        if self.store is not None:
            self.store.put(self.KIND, self.spec(claim, point, seed, trials), measurement.to_json())

    def __len__(self) -> int:
        if self.store is None:
            return 0
        return len({_tuple(spec) for _, spec, _ in self.store.entries(self.KIND)} | set(self._legacy))
