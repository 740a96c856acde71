"""Independent trials in parallel threads, for the numba engines.

The engines' kernels release the GIL (``nogil=True``) and run a contiguous range of trials
each (``kernel(start, stop)``, writing rows ``start..stop − 1`` of preallocated outputs);
:func:`run_in_threads` splits the trials into chunks and runs them on numba's thread count
(``numba.get_num_threads()``, so ``NUMBA_NUM_THREADS`` and ``numba.set_num_threads`` apply),
with BLAS limited to one thread meanwhile (the kernels' matrix products would otherwise
oversubscribe the cores). Each trial seeds its own stream from ``(seed, trial)``, so the
numbers do not depend on the chunks or the thread count.

Threads rather than numba's ``parallel=True``/``prange``: a ``prange`` kernel is compiled
by numba's parallel passes on top of its body, and its loop index is typed twice (int64,
then uint64 when lowered), compiling every callee twice: on a cold cache that cost more
than the simulations of a quick verify.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
from threadpoolctl import ThreadpoolController

#: chunks per thread: small enough to balance trials of unequal length (a diverged trial stops early)
CHUNKS_PER_THREAD = 4


def load_thread_pools() -> ThreadpoolController:
    """Load scipy's BLAS/LAPACK (the numba kernels call into them) and numba's threading
    layer now, once per process, and return the controller of the thread pools then loaded
    (numpy's and scipy's BLAS among them).

    A limit covers only the libraries loaded when its controller was made: loaded later,
    they start with their default thread count (the first call in a fresh process took
    14-53 s at width 256 that way). The controller is made once: making one scans the
    process's shared libraries, 4-5 ms, which ``threadpool_limits`` did on every call.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        # lazy: loading these (not at import, once an engine runs) is this function's job
        import scipy.linalg.cython_blas  # noqa: F401
        import scipy.linalg.cython_lapack  # noqa: F401

        numba.get_num_threads()  # launches numba's threading layer
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


_CONTROLLER: ThreadpoolController | None = None


def chunks(n: int, threads: int) -> list[tuple[int, int]]:
    """``range(n)`` as contiguous ``(start, stop)`` chunks, at most ``CHUNKS_PER_THREAD`` per thread."""
    count = max(1, min(n, threads * CHUNKS_PER_THREAD))
    bounds = [n * i // count for i in range(count + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def run_in_threads(kernel, n: int) -> None:
    """``kernel(start, stop)`` over the chunks of ``range(n)``, in numba's thread count
    threads, BLAS on one thread each; an exception in any chunk is raised here."""
    controller = load_thread_pools()
    threads = max(1, min(numba.get_num_threads(), n))
    parts = chunks(n, threads)
    with controller.limit(limits=1):
        if threads == 1:
            for start, stop in parts:
                kernel(start, stop)
            return
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(kernel, start, stop) for start, stop in parts]:
                future.result()
