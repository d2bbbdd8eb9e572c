"""Threads and BLAS state of the numpy kernels, and buffers kept across passes.

Every numba kernel is serial and releases the GIL. A pass over the data runs
its chunks on a few Python threads, each with a single-threaded BLAS, so the
GEMM and the scans never fight two thread pools for the same cores.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

#: Passes smaller than this (rows x units x features) run in the calling thread.
THREAD_WORK = 1 << 24
_POOL = None
_POOL_LOCK = threading.Lock()
_BLAS_LOCK = threading.Lock()
_BLAS_STATE = {"controller": None, "depth": 0, "limiter": None}
_BUFFERS = threading.local()
_CAP = threading.local()


def n_workers():
    """Threads a pass over the data uses (``NUMBA_NUM_THREADS``, CPU affinity).

    Inside :func:`thread_cap` (a task of a dask scheduler that already runs
    one task per core) at most the cap.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    n = max(1, min(int(numba.config.NUMBA_NUM_THREADS), cpus))
    cap = getattr(_CAP, "cap", None)
    return n if cap is None else max(1, min(n, cap))


@contextlib.contextmanager
def _thread_setting(store, name, value):
    """Set ``store.name`` for this thread; yields the outer value, restores it."""
    outer = getattr(store, name, None)
    setattr(store, name, value)
    try:
        yield outer
    finally:
        setattr(store, name, outer)


def thread_cap(cap):
    """Passes started from this thread use at most ``cap`` threads (None: no cap)."""
    return _thread_setting(_CAP, "cap", cap)


def _pool(workers):
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(workers, thread_name_prefix="somkit")
        return _POOL


@contextlib.contextmanager
def blas_single_thread():
    """BLAS limited to one thread while any pass runs threads (re-entrant)."""
    with _BLAS_LOCK:
        if _BLAS_STATE["depth"] == 0:
            ctl = _BLAS_STATE["controller"]
            if ctl is None:
                from threadpoolctl import ThreadpoolController

                ctl = _BLAS_STATE["controller"] = ThreadpoolController()
            _BLAS_STATE["limiter"] = ctl.limit(limits=1, user_api="blas")
        _BLAS_STATE["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["depth"] -= 1
            if _BLAS_STATE["depth"] == 0:
                _BLAS_STATE["limiter"].restore_original_limits()
                _BLAS_STATE["limiter"] = None


def run_workers(n_chunks, work, workers=None):
    """Call ``work(k, workers)`` on each of up to ``workers`` threads.

    ``workers`` defaults to :func:`n_workers`; never more than ``n_chunks``.
    Thread 0 is the calling thread. Returns the number of threads used.
    """
    workers = max(1, min(n_workers() if workers is None else workers, n_chunks))
    with blas_single_thread():
        if workers == 1:
            work(0, 1)
            return 1
        pool = _pool(workers - 1)
        futures = [pool.submit(work, k, workers) for k in range(1, workers)]
        try:
            work(0, workers)
        finally:
            for f in futures:
                f.result()
    return workers


def balanced_rows(n, rows, workers):
    """At most ``rows`` rows per chunk, a whole number of equal chunks per thread.

    Keeps every thread busy to the end of a pass (3 chunks on 2 threads
    would leave one thread idle for a third of it).

    Examples
    --------
    >>> balanced_rows(3000, 1000, 2)
    750
    """
    if workers <= 1 or n <= 0:
        return rows
    per_thread = -(-n // (workers * rows))
    return max(1, -(-n // (workers * per_thread)))


@contextlib.contextmanager
def reuse_buffers():
    """Keep the chunk buffers of passes from one thread alive for the next pass.

    Used around a training run: fresh multi-megabyte blocks every epoch cost
    page faults that can exceed the work on small data. Cleared on exit.
    """
    with _thread_setting(_BUFFERS, "enabled", True) as outer:
        try:
            yield
        finally:
            if not outer:
                _BUFFERS.cache = None


def cached_buffers(key, count, make):
    """``count`` buffer objects made by ``make()``, reused inside :func:`reuse_buffers`.

    Returns ``(objects, reused)``; reused objects must be reset by the caller.
    """
    if not getattr(_BUFFERS, "enabled", False):
        return [make() for _ in range(count)], False
    cache = getattr(_BUFFERS, "cache", None)
    if cache is None or cache[0] != key or len(cache[1]) < count:
        cache = (key, [make() for _ in range(count)])
        _BUFFERS.cache = cache
        return cache[1][:count], False
    return cache[1][:count], True
