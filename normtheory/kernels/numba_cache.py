"""Drop numba's on-disk cache of normtheory's kernels when any jitted source has changed.

numba's ``cache=True`` keys each cached function on its own source file's timestamp only.
A kernel that calls a kernel of another module (``gram_steps`` calls ``mlp_norms``, the
engines call ``rng``) has its callee compiled in, and its cache survives an edit of the
callee's file: the old callee keeps running. This matters in an editable checkout, where
users add or change normalizers. :func:`drop_stale_cache` keeps one digest of every
jitted module's source next to the caches; when it differs, it deletes the cache files of
all those modules, so that everything recompiles from the current sources. Run on import
of :mod:`normtheory.kernels`, before any kernel loads. A no-op where the package
directory is read-only (an installed package, whose files change only by reinstalling).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
#: the modules with numba kernels (paths relative to the package)
JITTED = ("kernels/mlp_norms.py", "kernels/rng.py", "kernels/top_eigenvalue.py", "kernels/lapack.py",
          "kernels/gram_steps.py", "kernels/exact_in_law.py", "kernels/explicit.py")


def stamp_path(package: Path = PACKAGE) -> Path:
    """Where the digest of the sources the caches were built from is kept."""
    return package / "kernels" / "__pycache__" / "numba-sources.sha256"


STAMP = stamp_path()


def sources_digest(package: Path = PACKAGE) -> str:
    """SHA-256 over the jitted modules' paths and contents."""
    h = hashlib.sha256()
    for rel in JITTED:
        h.update(rel.encode())
        h.update((package / rel).read_bytes())
    return h.hexdigest()


def drop_stale_cache(package: Path = PACKAGE) -> bool:
    """Delete the jitted modules' numba cache files if their sources changed; True if it did."""
    stamp = stamp_path(package)
    try:
        digest = sources_digest(package)
        if stamp.is_file() and stamp.read_text() == digest:
            return False
        for rel in JITTED:
            src = package / rel
            for path in (src.parent / "__pycache__").glob(f"{src.stem}.*.nb[ic]"):
                path.unlink()
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        return False
    return True


def is_cached(dispatcher) -> bool:
    """Whether numba's on-disk cache holds a compiled version of ``dispatcher`` (a
    ``cache=True`` kernel) for its current source: its cache index exists and is not stale.
    Reads numba's cache index the way numba does (``FunctionCache._cache_file._load_index``,
    which returns nothing for a stale or foreign index); False if that API is missing."""
    try:
        return bool(dispatcher._cache._cache_file._load_index())
    except (AttributeError, OSError, EOFError, ValueError):
        return False
