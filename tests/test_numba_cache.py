"""normtheory.kernels.numba_cache: numba caches of the kernels go when any kernel source changes."""

from pathlib import Path

import pytest

from normtheory.kernels.numba_cache import JITTED, drop_stale_cache, sources_digest


def _package(tmp_path: Path) -> Path:
    for rel in JITTED:
        src = tmp_path / rel
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(f"# {rel}\n")
        cache = src.parent / "__pycache__"
        cache.mkdir(exist_ok=True)
        (cache / f"{src.stem}.kernel-10.py311.nbi").write_bytes(b"index")
        (cache / f"{src.stem}.kernel-10.py311.1.nbc").write_bytes(b"data")
    (tmp_path / "kernels" / "__pycache__" / "other.cpython-311.pyc").write_bytes(b"pyc")
    return tmp_path


def _cache_files(package: Path) -> list[Path]:
    return sorted(package.rglob("*.nb[ic]"))


def test_caches_dropped_once_then_kept_until_a_source_changes(tmp_path):
    package = _package(tmp_path)
    assert len(_cache_files(package)) == 2 * len(JITTED)
    assert drop_stale_cache(package)  # no digest yet: stale
    assert _cache_files(package) == []
    assert (package / "kernels" / "__pycache__" / "other.cpython-311.pyc").exists()  # not numba's
    (package / "kernels" / "__pycache__" / "rng.k-1.py311.nbi").write_bytes(b"recompiled")
    assert not drop_stale_cache(package)  # unchanged sources: caches stay
    assert len(_cache_files(package)) == 1
    before = sources_digest(package)
    (package / "kernels" / "mlp_norms.py").write_text("# edited\n")
    assert sources_digest(package) != before
    assert drop_stale_cache(package)  # a callee edited: every kernel's cache goes
    assert _cache_files(package) == []


def test_the_installed_package_has_an_up_to_date_digest():
    """Importing normtheory.kernels ran the check: the digest on disk matches the sources."""
    import normtheory.kernels  # noqa: F401
    from normtheory.kernels.numba_cache import PACKAGE, STAMP

    if STAMP.exists():  # absent only where the package directory is read-only
        assert STAMP.read_text() == sources_digest(PACKAGE)


def test_every_module_with_kernels_is_listed():
    from normtheory.kernels.numba_cache import PACKAGE

    jitted = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if "@njit" in p.read_text()}
    assert jitted == set(JITTED)


def test_is_cached_reads_numba_index():
    """A kernel that ran is in numba's cache; a dispatcher without a cache never is."""
    from numba import njit

    from normtheory.kernels.explicit import run_trials
    from normtheory.kernels.numba_cache import is_cached
    from normtheory.montecarlo import simulate_mlp

    simulate_mlp("batchnorm", width=8, depth=2, batch=4, trials=2, engine="explicit")
    assert is_cached(run_trials)
    assert not is_cached(njit(lambda x: x))


def test_warm_up_starts_nothing_on_a_warm_cache_and_refuses_unknown_groups():
    from normtheory.montecarlo import warm

    for group in warm.GROUPS:
        warm.compile_group(group)  # compiled (or loaded) here: the cache is warm
    assert not warm.cold()
    assert warm.start() is False
    warm.wait()  # nothing started: returns at once
    with pytest.raises(ValueError, match="kernel group"):
        warm.compile_group("lanczos")


def test_each_kernel_has_one_signature():
    """Every engine run compiles one signature per kernel (no int/uint, literal or layout
    duplicates: each would be a compilation of its own on a cold cache). Checked in a
    fresh process, on the warm-up workloads that cover every code path of the engines."""
    import subprocess
    import sys

    script = (
        "import importlib, numba\n"
        "from normtheory.montecarlo import warm\n"
        "for group in warm.GROUPS: warm.compile_group(group)\n"
        "from normtheory.kernels.numba_cache import JITTED\n"
        "for rel in JITTED:\n"
        "    module = importlib.import_module('normtheory.' + rel[:-3].replace('/', '.'))\n"
        "    for name, obj in vars(module).items():\n"
        "        if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == module.__name__:\n"
        "            print(name, len(obj.signatures))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    counts = dict(line.split() for line in out.splitlines())
    assert counts and "run_trials" in counts
    assert {name: n for name, n in counts.items() if int(n) > 1} == {}
