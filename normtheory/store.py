"""One result store for ``verify``, ``figures`` and the experiments: content-addressed, append-only.

A result (a finished simulation, a figure's data point, a training run's numbers) is stored
under the SHA-256 of its *spec*: a JSON object naming everything the result depends on --
the kind of result, the simulator and its version, the engine, the device, the setting,
the trial count and the seed. Equal specs are the same result; a changed simulator version,
device or setting is another key, so nothing stale is ever read back.

The store is one file, ``<directory>/results-v1.jsonl`` (:data:`STORE_FILE`), a
:class:`normtheory.durable.JsonlLog` with a CRC-32 per line. Each line is::

    {"key": "<sha256 of kind+spec>", "kind": "verify.measurement", "spec": {...}, "value": {...}, "_crc": "..."}

- **Append-only, writers take turns.** Only the processes that drive runs (the clients)
  append; workers of a Dask cluster return values and never touch the file. Each ``put``
  takes an exclusive lock (``results-v1.jsonl.lock``, :mod:`filelock`), reads what other
  clients appended since, and appends one line (one ``write`` and an ``fsync``) only if the
  key is still missing: two clients on one directory never append a key twice, and a
  lookup that misses reads the lines appended since, so a client reuses a result another
  client finished. A result still being computed by another client is computed again (the
  second ``put`` then appends nothing). The lock is an OS file lock (``flock``): it holds
  between processes of one machine and on local file systems; on a network file system it
  holds only where the file system supports such locks (NFSv4 does, and Lustre when mounted
  with ``flock``).
- **Crash-safe.** A kill loses at most the results not yet appended (the tasks still
  running); a torn last line is cut off with a warning when the store is next opened; any
  other damaged or altered line, or a line whose key does not match its spec, is a
  :class:`~normtheory.durable.CorruptFile` naming the file and line.
- **Read incrementally.** Opening the store reads the whole file into a dict
  ``key -> value``; later reads take only the lines appended since. A key stored twice (by
  an older version without the lock) keeps its first value.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator, Mapping

from filelock import FileLock

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
        self.hint = hint
        self.log = JsonlLog(self.directory / STORE_FILE, checksum=True, hint=hint)
        self._values: dict[str, tuple[str, dict, object]] = {}
        self._end, self._lines = 0, 0
        self._refresh(repair=True)

    def _refresh(self, *, repair: bool) -> None:
        """Read the lines appended since the last read (``repair`` only under the lock: a
        torn last line may be another client's write in progress)."""
        if self.log.path.exists() and self.log.path.stat().st_size == self._end:
            return
        records, self._end, lines = self.log.read_from(self._end, first_line=self._lines + 1, repair=repair)
        for number, obj in enumerate(records, start=self._lines + 1):
            try:
                key, kind, spec, value = obj["key"], obj["kind"], obj["spec"], obj["value"]
                ok = isinstance(spec, dict) and result_key(kind, spec) == key
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptFile(f"{self.log.path}, record {number}: unreadable entry ({exc}); "
                                  f"{self.hint}") from None
            if not ok:
                raise CorruptFile(f"{self.log.path}, record {number}: the key does not match its spec; {self.hint}")
            self._values.setdefault(key, (kind, spec, value))
        self._lines += lines

    @property
    def path(self) -> Path:
        return self.log.path

    def get(self, key: str):
        """The stored value under ``key`` (read again from the file on a miss: another client
        may have stored it since), or None."""
        if key not in self._values:
            self._refresh(repair=False)
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
        self.directory.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{self.log.path}.lock"):
            self._refresh(repair=True)
            if key not in self._values:
                self.log.append({"key": key, "kind": kind, "spec": spec, "value": value})
                self._values[key] = (kind, spec, value)
                self._refresh(repair=False)  # past our own line
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
