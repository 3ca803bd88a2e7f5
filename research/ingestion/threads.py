"""The threads and the Arrow memory pool an ingest runs with.

Ingest overlaps the work that runs without the GIL (Arrow kernels, the
Parquet encoder, hashing) with the Python work, in one second thread
(:func:`_second_thread`); ``RESEARCH_WORKERS=1`` or a single usable core runs
everything in order in one thread, with the same results. :func:`arrow_pool`
has Arrow allocate from jemalloc while an ingest runs. See README.md,
*Speed and memory*.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Self

import pyarrow as pa

from research.errors import InputError

class _InOrder:
    """An executor that runs each job at once, in this thread, its error raised there and then
    (see :func:`_second_thread`)."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        return None



def _second_thread() -> ThreadPoolExecutor | _InOrder:
    """One worker thread for the work that runs without the GIL (Arrow kernels, the Parquet
    encoder) while this thread does the Python work; in this thread, in order, when only one
    core is usable or ``RESEARCH_WORKERS=1`` (as for ``reproduce``). The results are the same."""
    text = os.environ.get("RESEARCH_WORKERS", "").strip()
    if text and (not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64):
        raise InputError(f"RESEARCH_WORKERS={text[:20]!r}: a whole number from 1 to 64 is expected")
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count() or 1)
    if text == "1" or (not text and cores < 2):
        return _InOrder()
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")


class _Queue:
    """Jobs handed to the second thread (``pool``, :func:`_second_thread`) that this thread takes
    back, the last queued first, once it has done its own work (:meth:`finish`): a job the
    other thread has not started is run here, so that neither thread waits for the other at
    the end. :meth:`result` gives a job's result (or raises its error) wherever it ran."""

    def __init__(self, pool: ThreadPoolExecutor | _InOrder) -> None:
        self._pool = pool
        self._jobs: list[tuple[Future, Callable, tuple]] = []
        self._taken: dict[int, object] = {}

    def submit(self, fn: Callable, /, *args) -> int:
        """Queue ``fn(*args)``; returns the job's number, for :meth:`result`."""
        self._jobs.append((self._pool.submit(fn, *args), fn, args))
        return len(self._jobs) - 1

    def finish(self) -> None:
        """Run here, last queued first, every job the other thread has not started."""
        for job in reversed(range(len(self._jobs))):
            future, fn, args = self._jobs[job]
            if future.cancel():
                self._taken[job] = fn(*args)

    def result(self, job: int):
        """The result of job number ``job`` (waits for the other thread if it runs it)."""
        return self._taken[job] if job in self._taken else self._jobs[job][0].result()


_POOL_LOCK = threading.Lock()
_POOL_USERS = [0, None, None]  # ingests under way, the default pool and switch interval they replaced

#: seconds a thread holding the GIL runs before it hands it to a thread that asks (Python's
#: default is 0.005): ingest's second thread runs Arrow kernels without the GIL but needs it
#: between two kernels, while this thread runs Python loops (hashing ids, masking texts) that keep
#: it; with the default, each handover can cost the second thread up to 5 ms
SWITCH_INTERVAL = 0.0002

@contextmanager
def arrow_pool():
    """Arrow allocates from jemalloc (when this pyarrow has it), and the GIL changes hands after
    :data:`SWITCH_INTERVAL` seconds, while an ingest runs.

    pyarrow's default pool (mimalloc) takes its memory in transparent huge
    pages, which the kernel zeroes 2 MB at a time, again after each purge: on
    the 1M-row benchmark (2-core VM) ``clear_page`` was a quarter to a third
    of ingest's CPU (perf), and jemalloc halved its system time (1.9 -> 0.9 s)
    at a lower peak. The default pool is put back when the last ingest under
    way ends; every buffer is freed by the pool it came from.
    """
    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        pool = None
    with _POOL_LOCK:
        if _POOL_USERS[0] == 0:
            _POOL_USERS[1] = pa.default_memory_pool()
            _POOL_USERS[2] = sys.getswitchinterval()
            if pool is not None:
                pa.set_memory_pool(pool)
            sys.setswitchinterval(min(SWITCH_INTERVAL, _POOL_USERS[2]))
        _POOL_USERS[0] += 1
    try:
        yield
    finally:
        with _POOL_LOCK:
            _POOL_USERS[0] -= 1
            if _POOL_USERS[0] == 0:
                pa.set_memory_pool(_POOL_USERS[1])
                sys.setswitchinterval(_POOL_USERS[2])
                _POOL_USERS[1] = _POOL_USERS[2] = None
