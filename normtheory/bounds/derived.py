"""An on-disk cache of the closed forms' sympy derivations.

Every closed form of :mod:`normtheory.bounds` is derived by sympy in the code. Some
derivations take a second (a delta-method expansion, a series, a Gaussian integral), and a
process that evaluates several bounds repeats them all: about 4 s of a quick ``normtheory
verify``. A function decorated with :func:`derivation` (one returning sympy expressions)
runs once per process (``functools.lru_cache``) and, across processes, once per version of
its sources: its result is pickled under :func:`cache_dir`, keyed by the function's
qualified name, its arguments, a digest of every source file of ``normtheory.bounds`` and
sympy's version. An edit of any of those files, or another sympy, derives everything
again; a cache file that does not load (truncated, from another Python) is derived again
and replaced. The derivation itself is unchanged: the cache holds its output, as numba's
cache holds compiled kernels.

Where: ``$NORMTHEORY_DERIVATIONS_DIR`` if set, else ``__pycache__/derivations`` next to this
module (a fresh clone starts empty, like numba's cache); where that is not writable (an
installed package), nothing is written and every process derives.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import sympy

HERE = Path(__file__).resolve().parent
#: the environment variable that moves the cache (an empty directory: derive everything)
ENV = "NORMTHEORY_DERIVATIONS_DIR"


@functools.lru_cache(maxsize=1)
def sources_digest() -> str:
    """SHA-256 over the sources of ``normtheory.bounds`` and sympy's version."""
    h = hashlib.sha256(sympy.__version__.encode())
    for path in sorted(HERE.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_dir() -> Path:
    """The cache directory (see the module docstring)."""
    return Path(os.environ.get(ENV) or HERE / "__pycache__" / "derivations")


def _path(fn, args, kwargs) -> Path:
    key = repr((fn.__module__, fn.__qualname__, args, sorted(kwargs.items()), sources_digest()))
    return cache_dir() / f"{fn.__qualname__}-{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"


def _load(path: Path):
    try:
        with path.open("rb") as fh:
            return True, pickle.load(fh)
    except Exception:  # noqa: BLE001 (missing, truncated, foreign: derive again)
        return False, None


def _store(path: Path, value) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        return  # not writable: this process keeps its result in memory only


def derivation(fn):
    """Cache ``fn``'s result (sympy expressions; hashable arguments) in memory and on disk."""
    @functools.lru_cache(maxsize=None)
    @functools.wraps(fn)
    def cached(*args, **kwargs):
        path = _path(fn, args, kwargs)
        found, value = _load(path)
        if not found:
            value = fn(*args, **kwargs)
            _store(path, value)
        return value
    return cached
