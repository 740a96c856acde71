"""Where the simulations run: in this process, or on Dask (``dask.distributed``).

Three executors, chosen by the same flags on ``verify``, ``figures`` and ``experiment``
(:func:`add_arguments`, :func:`from_args`) or by ``executor=`` in the API:

- :class:`SerialExecutor` -- in this process, in submission order (the default; dask is not
  imported);
- ``--jobs N`` -- :meth:`DaskExecutor.local`: a ``LocalCluster`` of N single-threaded worker
  processes started for the run and closed after it;
- ``--scheduler ADDR`` (or the environment variable ``DASK_SCHEDULER_ADDRESS``) --
  :meth:`DaskExecutor.connect`: an existing cluster (``dask scheduler`` / ``dask worker``
  on the command line, or dask-jobqueue on Slurm/PBS; docs/scaling.md).

A task is plain data: the dotted name of a function (imported by reference on the worker)
and its arguments (claim id, setting, trials, seed). Numba dispatchers and claim objects
are never sent: a dispatcher unpickled in a fresh process ignores numba's disk cache and
compiles again, and claims hold closures.

Executors yield results in completion order; the caller (the only writer of the
:mod:`normtheory.store`) stores each one as it arrives, then it is released on the
cluster, so a worker that dies later does not make the scheduler recompute it.

On a worker, before its first task, :func:`run_task` limits NUMBA/OMP/BLAS to one thread,
loads the BLAS and OpenMP libraries outside any thread limit, checks that normtheory,
numba, torch and numpy have the client's versions (a mismatch fails the task with a
one-line :class:`VersionMismatch`), and warms each simulation engine once per process.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
from collections import deque
from importlib import metadata
from typing import Iterator

import numba
from threadpoolctl import threadpool_limits

from normtheory import __version__
from normtheory.durable import JsonlLog
from normtheory.montecarlo import simulate_mlp
from normtheory.montecarlo.threads import load_thread_pools

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
#: worker environment: one thread per library; MALLOC_TRIM_THRESHOLD_ unset (dask's default of
#: 65536 makes the numba simulations about 1.7x slower)
WORKER_ENV = {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
#: test-only: ``DIR:N`` makes the worker that starts the N-th task (counted in DIR) kill itself once
KILL_HOOK_ENV = "NORMTHEORY_TEST_KILL_WORKER"
#: test-only: a file to which each worker appends one JSON line per task it starts (function, arguments)
TASK_LOG_ENV = "NORMTHEORY_TEST_TASK_LOG"
VERSIONED = ("normtheory", "numba", "torch", "numpy")


class ExecutorError(ValueError):
    """An executor could not be set up (bad flag, unreachable scheduler, missing dask)."""


class VersionMismatch(RuntimeError):
    """A worker runs other versions of normtheory/numba/torch/numpy than the client."""


def versions() -> dict:
    """Versions that a result depends on, read without importing the packages."""
    out = {"python": "%d.%d" % sys.version_info[:2]}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out["normtheory"] is None:
        out["normtheory"] = __version__
    return out


def _resolve(func: str):
    module, _, name = func.partition(":")
    return getattr(importlib.import_module(module), name)


class SerialExecutor:
    """Runs each task in this process when its result is asked for, in submission order."""

    name = "serial"
    workers = 1

    def __init__(self):
        self._queue: deque = deque()

    def submit(self, tag, func: str, *args, warm: str | None = None) -> None:
        self._queue.append((tag, func, args))

    def results(self) -> Iterator[tuple[object, object]]:
        """``(tag, result)`` of every task submitted, including tasks submitted meanwhile."""
        while self._queue:
            tag, func, args = self._queue.popleft()
            yield tag, _resolve(func)(*args)

    def close(self) -> None:
        self._queue.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- on the worker ---------------------------------------------------------------------------

_PREPARED = False
_WARMED: set = set()


def _prepare_process() -> None:
    """Once per worker process: one thread per library, BLAS/OpenMP loaded outside any limit."""
    global _PREPARED
    if _PREPARED:
        return
    for name, value in WORKER_ENV.items():
        if value is not None:
            os.environ.setdefault(name, value)
    load_thread_pools()
    numba.set_num_threads(1)
    threadpool_limits(1)
    _PREPARED = True


def warm(engine: str) -> None:
    """Run one tiny simulation of ``engine`` (``"numba"``: explicit and gram; ``"torch"``)
    once per process, so that loading the compiled kernels is not charged to a task."""
    if engine in _WARMED:
        return
    if engine == "numba":
        for e in ("explicit", "gram"):
            simulate_mlp("batchnorm", width=8, depth=2, batch=4, trials=2, seed=0, engine=e)
    elif engine == "torch":
        import torch  # lazy: a worker imports it when it runs a torch claim

        torch.set_num_threads(1)
        simulate_mlp("batchnorm", width=8, depth=2, batch=4, trials=2, seed=0, engine="torch")
    _WARMED.add(engine)


def _log_task(func: str, args: tuple) -> None:
    path = os.environ.get(TASK_LOG_ENV)
    if path:
        JsonlLog(path).append({"func": func, "args": list(args)})


def _kill_hook() -> None:
    spec = os.environ.get(KILL_HOOK_ENV)
    if not spec:
        return
    folder, _, n = spec.rpartition(":")
    fd = os.open(os.path.join(folder, "started"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b".")
    finally:
        os.close(fd)
    if os.path.getsize(os.path.join(folder, "started")) < int(n):
        return
    try:
        os.close(os.open(os.path.join(folder, "killed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def run_task(func: str, args: tuple, expect: dict | None, warm_engine: str | None):
    """What a Dask worker runs: check versions, prepare the process, warm, call ``func(*args)``."""
    if expect is not None:
        mine = versions()
        diff = [f"{k} {mine.get(k)} (client {v})" for k, v in expect.items() if mine.get(k) != v]
        if diff:
            raise VersionMismatch("worker runs " + ", ".join(diff) + "; install the client's versions on "
                                  "every worker")
    _prepare_process()
    if warm_engine:
        warm(warm_engine)
    _log_task(func, args)
    _kill_hook()
    return _resolve(func)(*args)


def _worker_report() -> dict:
    return {"versions": versions(), "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


# --- Dask -----------------------------------------------------------------------------------

def _import_distributed():
    try:
        import distributed  # lazy: needed only with --jobs or --scheduler
    except ImportError:
        raise ExecutorError("--jobs and --scheduler need dask.distributed: pip install 'dask[distributed]'") \
            from None
    return distributed


class DaskExecutor:
    """Tasks on a Dask cluster, results in completion order (see the module docstring)."""

    def __init__(self, client, cluster=None, *, check_versions: bool = True):
        distributed = _import_distributed()
        self.client, self.cluster = client, cluster
        self._expect = versions() if check_versions else None
        self._tags: dict = {}
        self._done = distributed.as_completed()
        if check_versions:
            self._check_workers()

    @property
    def name(self) -> str:
        return f"dask ({self.workers} workers)"

    @property
    def workers(self) -> int:
        return max(len(self.client.scheduler_info(n_workers=-1)["workers"]), 1)

    @classmethod
    def local(cls, jobs: int) -> "DaskExecutor":
        """A LocalCluster of ``jobs`` single-threaded worker processes (closed by :meth:`close`)."""
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ExecutorError(f"--jobs must be a whole number >= 1, got {jobs!r}")
        distributed = _import_distributed()
        import dask  # lazy: dask is needed only with --jobs or --scheduler

        with dask.config.set({"distributed.nanny.pre-spawn-environ": dict(WORKER_ENV),
                              "distributed.worker.daemon": True}):
            cluster = distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=logging.ERROR)
        try:
            client = distributed.Client(cluster)
            return cls(client, cluster)
        except BaseException:
            cluster.close()
            raise

    @classmethod
    def connect(cls, address: str, *, timeout: float = 10.0) -> "DaskExecutor":
        """A client of the scheduler at ``address`` (the cluster stays up after :meth:`close`)."""
        if not address or not str(address).strip():
            raise ExecutorError("--scheduler needs an address such as tcp://host:8786")
        distributed = _import_distributed()
        try:
            client = distributed.Client(address, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {address} ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None
        try:
            return cls(client)
        except BaseException:
            client.close()
            raise

    def _check_workers(self) -> None:
        reports = self.client.run(_worker_report) if self.client.scheduler_info(n_workers=-1)["workers"] else {}
        for worker, rep in reports.items():
            diff = [f"{k} {rep['versions'].get(k)} (client {v})" for k, v in self._expect.items()
                    if rep["versions"].get(k) != v]
            if diff:
                raise ExecutorError(f"worker {worker} runs " + ", ".join(diff) +
                                    "; install the client's versions on every worker")
        if any(rep["malloc_trim"] is not None for rep in reports.values()):
            print("note: some Dask workers have MALLOC_TRIM_THRESHOLD_ set (dask's default), which makes the "
                  "simulations about 1.7x slower; clear it in the workers' dask config "
                  "(docs/scaling.md)", file=sys.stderr)

    def submit(self, tag, func: str, *args, warm: str | None = None) -> None:
        future = self.client.submit(run_task, func, args, self._expect, warm, pure=False)
        self._tags[future.key] = tag
        self._done.add(future)

    def results(self) -> Iterator[tuple[object, object]]:
        """``(tag, result)`` in completion order, including tasks submitted meanwhile; each
        future is released once its result is here."""
        for future in self._done:
            tag = self._tags.pop(future.key)
            try:
                result = future.result()
            finally:
                future.release()
            yield tag, result

    def close(self) -> None:
        pending = list(self._done.futures) if hasattr(self._done, "futures") else []
        if pending:
            self.client.cancel(pending)
        self._tags.clear()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- command line -----------------------------------------------------------------------------

def add_arguments(parser) -> None:
    """``--jobs N`` and ``--scheduler ADDR`` (the same on verify, figures and experiment)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--jobs", metavar="N", type=int, default=None,
                       help="run the simulations on a local Dask cluster of N single-threaded worker "
                            "processes (default: serially in this process)")
    group.add_argument("--scheduler", metavar="ADDR", default=None,
                       help=f"run the simulations on the Dask cluster whose scheduler is at ADDR, e.g. "
                            f"tcp://host:8786 (default: ${SCHEDULER_ENV} if set)")


def make(jobs: int | None = None, scheduler: str | None = None):
    """The executor of the flags: serial, a local cluster of ``jobs`` workers, or ``scheduler``
    (``DASK_SCHEDULER_ADDRESS`` when neither is given); :class:`ExecutorError` if it cannot be had."""
    if jobs is not None and scheduler is not None:
        raise ExecutorError("give --jobs or --scheduler, not both")
    if jobs is not None:
        return DaskExecutor.local(jobs)
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    if scheduler is not None:
        return DaskExecutor.connect(scheduler)
    return SerialExecutor()


def check_args(args) -> None:
    """Check the flags before any work (a bad ``--jobs`` is an error without starting anything)."""
    jobs = getattr(args, "jobs", None)
    if jobs is not None and jobs < 1:
        raise ExecutorError(f"--jobs must be >= 1, got {jobs}")
    scheduler = getattr(args, "scheduler", None)
    if scheduler is not None and not scheduler.strip():
        raise ExecutorError("--scheduler needs an address such as tcp://host:8786")


def from_args(args):
    return make(getattr(args, "jobs", None), getattr(args, "scheduler", None))
