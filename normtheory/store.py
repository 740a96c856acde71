"""One result store for ``verify``, ``figures`` and the experiments: content-addressed, append-only.

A result (a finished simulation, a figure's data point, a training run's numbers) is stored
under the SHA-256 of its *spec*: a JSON object naming everything the result depends on --
the kind of result, the simulator and its version, the engine, the device, the setting,
the trial count and the seed. Equal specs are the same result; a changed simulator version,
device or setting is another key, so nothing stale is ever read back.

The store is one file, ``<directory>/results-v1.jsonl`` (:data:`STORE_FILE`), a
:class:`normtheory.durable.JsonlLog` with a CRC-32 per line. Each line is::

    {"key": "<sha256 of kind+spec>", "kind": "verify.measurement", "spec": {...}, "value": {...}, "_crc": "..."}

- **Append-only, one writer.** Only the process that drives a run (the client) appends;
  workers of a Dask cluster return values and never touch the file. Each ``put`` is one
  ``write`` and an ``fsync``, done as soon as the result arrives.
- **Crash-safe.** A kill loses at most the results not yet appended (the tasks still
  running); a torn last line is cut off with a warning when the store is next opened; any
  other damaged or altered line, or a line whose key does not match its spec, is a
  :class:`~normtheory.durable.CorruptFile` naming the file and line.
- **Read once.** Opening the store reads the whole file into a dict ``key -> value``;
  a key stored twice (two runs that both computed it) keeps its first value.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator, Mapping

from normtheory.durable import CorruptFile, JsonlLog

STORE_FILE = "results-v1.jsonl"
DEFAULT_STORE_DIR = ".normtheory-cache"
HINT = "delete the file or pass another --cache-dir"


def canonical(obj) -> str:
    """The canonical JSON text of ``obj`` (sorted keys, no spaces) that keys are hashed from."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)


def result_key(kind: str, spec: Mapping) -> str:
    """The content address of a result: SHA-256 of its kind and spec."""
    if not kind:
        raise ValueError("a result kind is required")
    return hashlib.sha256(canonical({"kind": kind, "spec": dict(spec)}).encode()).hexdigest()


class ResultStore:
    """Results by content address in one JSONL file (see the module docstring)."""

    def __init__(self, directory: str | Path, *, hint: str = HINT):
        self.directory = Path(directory)
        self.log = JsonlLog(self.directory / STORE_FILE, checksum=True, hint=hint)
        self._values: dict[str, tuple[str, dict, object]] = {}
        for number, obj in enumerate(self.log.records(), start=1):
            try:
                key, kind, spec, value = obj["key"], obj["kind"], obj["spec"], obj["value"]
                ok = isinstance(spec, dict) and result_key(kind, spec) == key
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptFile(f"{self.log.path}, record {number}: unreadable entry ({exc}); {hint}") from None
            if not ok:
                raise CorruptFile(f"{self.log.path}, record {number}: the key does not match its spec; {hint}")
            self._values.setdefault(key, (kind, spec, value))

    @property
    def path(self) -> Path:
        return self.log.path

    def get(self, key: str):
        """The stored value under ``key``, or None."""
        entry = self._values.get(key)
        return None if entry is None else entry[2]

    def lookup(self, kind: str, spec: Mapping):
        """The stored value of the result ``(kind, spec)`` (as :meth:`put` stores it), or None."""
        return self.get(result_key(kind, json.loads(canonical(spec))))

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def put(self, kind: str, spec: Mapping, value) -> str:
        """Append a result (one line, fsync-ed) and return its key. A key already stored is
        kept as it is (the first value wins) and nothing is appended."""
        spec = json.loads(canonical(spec))  # what a later read will see
        key = result_key(kind, spec)
        if key in self._values:
            return key
        self.log.append({"key": key, "kind": kind, "spec": spec, "value": value})
        self._values[key] = (kind, spec, value)
        return key

    def entries(self, kind: str | None = None) -> Iterator[tuple[str, dict, object]]:
        """``(key, spec, value)`` of every result (of ``kind``), in the order first stored."""
        for key, (k, spec, value) in self._values.items():
            if kind is None or k == kind:
                yield key, spec, value

    def count(self, kind: str | None = None) -> int:
        return sum(1 for _ in self.entries(kind))

    def __len__(self) -> int:
        return len(self._values)
