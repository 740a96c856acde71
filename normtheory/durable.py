"""Durable files: append-only JSONL logs and atomic whole-file writes, for every writer.

A run may be killed at any instant (SIGKILL, out of memory, a power cut), and a file may
be damaged later (a truncated copy, a flipped byte). The two kinds of file here make that
either harmless or a clear error naming the file, never a silently wrong result:

- :class:`JsonlLog` -- one JSON object per line, appended with one ``write`` and an
  ``fsync`` each. A kill leaves at most a torn last line; reading the log drops it (the
  file is cut back to its last complete line, and a warning names the file once), so the
  next append starts on a fresh line. An unreadable line before the last one, or binary
  data, is :class:`CorruptFile` naming file and line. With ``checksum=True`` every line
  also carries the CRC-32 of its record under ``"_crc"``, so that a flipped byte which
  still parses (a digit changed into another) is caught too.
- :func:`atomic_write` and its forms for text, JSON, bytes and torch checkpoints -- the
  new content goes to a temporary file in the same folder, is ``fsync``-ed and replaces
  the old file with ``os.replace``: a reader sees the old file or the new one, never a
  mixture. :func:`read_json` and :func:`load_torch` turn a damaged file into
  :class:`CorruptFile` (a checkpoint's zip CRCs are checked, since ``torch.load`` does not).

Files get the mode the user's umask gives a new file (``0o666 & ~umask``), as ``open``
would, not ``mkstemp``'s private ``0o600``. JSON files are strict JSON
(:func:`strict_json`): a non-finite number is written as ``null``, never as ``NaN`` or
``Infinity``, which strict parsers reject.

A kill during an atomic write can leave a hidden ``.NAME.*.tmp`` file next to ``NAME``;
it is never read, and the next write of ``NAME`` does not depend on it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

CRC_KEY = "_crc"


class CorruptFile(ValueError):
    """A file that cannot be read back; the message names the file (and line) and what to do."""


class TornLineWarning(UserWarning):
    """A JSONL log ended in a line that an interrupted write left incomplete; it was dropped."""


def _umask() -> int:
    """The process's umask (read from /proc where it is, else set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def strict_json(obj):
    """``obj`` with every non-finite float (``nan``, ``±inf``, numpy's too) replaced by None,
    and numpy scalars by Python numbers, so that ``json.dumps(..., allow_nan=False)`` writes
    strict JSON."""
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "shape", None) == ():  # a numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps_strict(obj, **kwargs) -> str:
    """``json.dumps`` of :func:`strict_json` ``(obj)``, refusing anything that is not strict JSON."""
    return json.dumps(strict_json(obj), allow_nan=False, **kwargs)


def _crc(record: dict) -> str:
    return format(zlib.crc32(json.dumps(record, sort_keys=True).encode()), "08x")


class JsonlLog:
    """An append-only file of JSON objects, one per line (see the module docstring).

    ``hint`` ends the message of :class:`CorruptFile` (what the user can do, e.g.
    "delete it or pass --force").
    """

    def __init__(self, path: str | Path, *, checksum: bool = False, hint: str = ""):
        self.path = Path(path)
        self.checksum = checksum
        self.hint = hint
        self._checked = False

    def _error(self, line: int, what: str) -> CorruptFile:
        hint = f"; {self.hint}" if self.hint else ""
        return CorruptFile(f"{self.path}, line {line}: {what}{hint}")

    def _parse(self, raw: bytes, number: int) -> dict:
        """The record of one line; ``CorruptFile`` if it is not one."""
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise self._error(number, "binary data, not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise self._error(number, f"unreadable JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise self._error(number, f"a JSON {type(obj).__name__}, not an object")
        if self.checksum:
            crc = obj.pop(CRC_KEY, None)
            if crc != _crc(obj):
                raise self._error(number, "checksum mismatch (the line was altered)")
        return obj

    def records(self, *, repair: bool = True) -> list[dict]:
        """Every complete record, in order. A torn last line is cut off the file (with a
        :class:`TornLineWarning`), or with ``repair=False`` (a reader of a log that another
        process may be appending to) skipped without touching the file; any other
        unreadable line is :class:`CorruptFile`."""
        return self.read_from(0, repair=repair)[0]

    def read_from(self, start: int, *, first_line: int = 1,
                  repair: bool = True) -> tuple[list[dict], int, int]:
        """``(records, end, lines)``: the complete records from byte ``start`` (the start of
        line ``first_line``, e.g. the ``end`` of an earlier read), the offset just past the
        last of them and the number of lines read; torn and unreadable lines as in
        :meth:`records` (an error names the line counted from ``first_line``)."""
        if not self.path.exists():
            self._checked = True
            return [], 0, 0
        with self.path.open("rb") as fh:
            fh.seek(start)
            data = fh.read()
        lines = data.split(b"\n")  # the last item is b"" when the file ends in a newline
        records, offset, done = [], 0, 0
        for number, raw in enumerate(lines, start=1):
            last = number >= len(lines) - (lines[-1] == b"")
            if raw.strip():
                try:
                    records.append(self._parse(raw, first_line + number - 1))
                except CorruptFile:
                    if not last:
                        raise
                    if repair:
                        self._cut(start + offset, len(data) - offset)
                    break
            if number < len(lines):
                offset += len(raw) + 1
                done += 1
            elif raw and repair:  # a complete record without its newline: end the line
                self._write(b"\n")
                offset += len(raw) + 1
                done += 1
        self._checked = self._checked or repair
        return records, start + offset, done

    def _cut(self, offset: int, dropped: int) -> None:
        os.truncate(self.path, offset)
        _fsync_file(self.path)
        warnings.warn(f"{self.path}: dropped an incomplete last line ({dropped} bytes) left by an "
                      f"interrupted write", TornLineWarning, stacklevel=3)

    def append(self, record: dict) -> None:
        """Append ``record`` as one line: a single ``write``, then ``fsync``."""
        if not self._checked:
            self.records()
        if self.checksum:
            record = {**record, CRC_KEY: _crc(record)}
        self._write((json.dumps(record, allow_nan=True) + "\n").encode())

    def _write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def rewrite(self, records: list[dict]) -> None:
        """Replace the whole log by ``records`` (atomically)."""
        if self.checksum:
            records = [{**r, CRC_KEY: _crc(r)} for r in records]
        atomic_write_text(self.path, "".join(json.dumps(r, allow_nan=True) + "\n" for r in records))
        self._checked = True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not possible on every platform: then skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs) -> Iterator:
    """A file object whose content replaces ``path`` when the block ends without error
    (temporary file in the same folder, ``fsync``, ``os.replace``); on error ``path`` is
    left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0o600
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def atomic_write_json(path: str | Path, obj, *, indent: int | None = 2) -> Path:
    """``obj`` as strict JSON (non-finite numbers as ``null``, :func:`strict_json`), atomically."""
    return atomic_write_text(path, dumps_strict(obj, indent=indent) + "\n")


def atomic_save_torch(path: str | Path, obj) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (an ordinary torch file; see :func:`load_torch`)."""
    import torch  # lazy: the foundation floor imports without torch (only checkpoints need it)

    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)
    return Path(path)


def read_json(path: str | Path, *, hint: str = ""):
    """The JSON value in ``path``; :class:`CorruptFile` (one line) if it is not JSON text."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = "binary data, not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else \
            f"unreadable JSON ({exc.msg}, line {exc.lineno})"
        raise CorruptFile(f"{path}: {reason}" + (f"; {hint}" if hint else "")) from None


def load_torch(path: str | Path, *, hint: str = "", **load_kwargs):
    """``torch.load(path)`` after checking every CRC-32 of the zip archive that ``torch.save``
    writes (``torch.load`` itself reads altered tensor bytes without complaint); a damaged or
    foreign file is :class:`CorruptFile`."""

    import torch  # lazy: the foundation floor imports without torch (only checkpoints need it)

    path = Path(path)
    suffix = f"; {hint}" if hint else ""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise CorruptFile(f"{path}: damaged (CRC mismatch in {bad}){suffix}")
        return torch.load(path, **load_kwargs)
    except CorruptFile:
        raise
    except Exception as exc:  # zipfile, pickle and torch raise many kinds for a damaged file
        raise CorruptFile(f"{path}: not a readable checkpoint ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}){suffix}") from None


def check_writable_dir(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check that files can be written in it, so that a
    command fails before its work rather than after; ``ValueError`` saying why not."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    return folder
