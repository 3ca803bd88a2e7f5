"""Processes and threads of the pipeline: one BLAS thread, a stage in a forked child, forked
rendering workers.

- :func:`one_blas_thread` -- the BLAS thread limit every stage runs under (fixed sums' order);
- :func:`start_beside` -- run a function in a forked child (:class:`_InChild`) while this process
  works, or later in this process (:class:`_Later`) with one worker;
- :func:`render_workers`, :func:`render_all` -- tables and figures drawn in forked workers.

``RESEARCH_WORKERS=1`` keeps everything in one process; the files are the same for any number of
workers.
"""

from __future__ import annotations

from collections.abc import Callable

from research.errors import InputError
from research.pipeline import buildstate

Progress = Callable[[str], None]


def one_blas_thread():
    """Run the pipeline with one BLAS thread (a context manager).

    OpenBLAS splits sums across threads, so a multi-threaded matrix product can differ in its last
    bits with the thread count, and from run to run (measured: the station funnel's optimiser
    differed by 1.7e-16 between two runs on one machine). One thread makes the sums' order fixed;
    on the sample it is also faster (many small products, where threads only spin) and on
    1,000,000 rows the products are a small part of the time (benchmarks/bench_reproduce.py).
    Results still differ across BLAS kernels (processors) in the last bits: verify compares with
    tolerances (research.artifacts.compare)."""
    import scipy.linalg  # noqa: F401 - scipy's own OpenBLAS, loaded now so that the limit reaches it too
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")



class _Later:
    """A function run in this process when its result is asked for (one worker: nothing runs
    alongside, and the stages run in their written order)."""

    def __init__(self, func: Callable[[], object]):
        self.func = func

    def result(self):
        return self.func()

    def cancel(self) -> None:
        pass


class _InChild:
    """A function running in a forked child process; :meth:`result` waits for its return value.

    The child gets the parent's memory by fork (nothing is pickled on the way in; the frames it
    reads are shared copy-on-write) and sends back its return value, or the exception it raised,
    through a pipe. It drops the parent's build lock and dies with the parent
    (:func:`_worker_start`). A child that dies without answering (killed, out of memory) is
    reported as such, never waited for forever. Written by hand rather than with
    ``concurrent.futures``: a pool cannot be told to kill its running worker when the parent's
    own stage fails, and ``multiprocessing.Pool`` waits forever for a worker that died."""

    def __init__(self, func: Callable[[], object], what: str):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.what = what
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child_main, args=(func, send), daemon=True)
        self._proc.start()
        send.close()

    def result(self):
        try:
            status, value = self._recv.recv()
        except EOFError:
            self._proc.join()
            raise RuntimeError(f"the process computing {self.what} ended without a result "
                               f"(exit code {self._proc.exitcode}; out of memory?)") from None
        finally:
            self._recv.close()
        self._proc.join()
        if status == "error":
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child (the parent's stage failed: its result is not wanted)."""
        self._proc.kill()
        self._proc.join()
        self._recv.close()


def _child_main(func: Callable[[], object], send) -> None:
    _worker_start()
    try:
        with one_blas_thread():
            out = ("ok", func())
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        out = ("error", exc)
    try:
        send.send(out)
    except Exception as exc:  # an exception that does not pickle: its type and message go back
        send.send(("error", RuntimeError(f"{type(out[1]).__name__}: {out[1]}") if out[0] == "error"
                   else RuntimeError(f"the result could not be sent back ({exc})")))
    send.close()


def release_memory() -> None:
    """Hand freed memory back to the system: Python's garbage, Arrow's pools (jemalloc and
    mimalloc keep freed pages for reuse) and glibc's heap (``malloc_trim``).

    Called before forking the child and between the child's stages. Pages a process keeps but
    no longer uses are counted to it; after a fork, those the parent then reuses are copied, so
    the two processes hold them twice. Returning them first took the peak tree memory (PSS) at
    1,000,000 rows from 4,446 to 4,334 MB (benchmarks/bench_reproduce.py, same machine, same
    load). Changes no number. (A fixed glibc mmap threshold of 1 or 8 MB took the peak under
    4 GB but cost 5-12% CPU on the sample: not adopted.)"""
    import ctypes
    import gc

    gc.collect()
    try:
        import pyarrow as pa

        for pool in (pa.default_memory_pool(), pa.jemalloc_memory_pool(), pa.mimalloc_memory_pool()):
            try:
                pool.release_unused()
            except Exception:  # noqa: BLE001 - a pool this pyarrow lacks: nothing to release
                pass
    except (ImportError, NotImplementedError):
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def start_beside(func: Callable[[], object], what: str):
    """Start ``func`` alongside this process's next stage: in a forked child when there are two or
    more workers (:func:`render_workers`), else in this process when its result is asked for (so
    errors keep the order of a one-process run). Returns an object whose ``result()`` is ``func``'s
    return value (raising its own error) and whose ``cancel()`` stops it."""
    import multiprocessing

    if render_workers() == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return _Later(func)
    return _InChild(func, what)


#: the bundle the forked rendering workers read (set just before the pool forks; copy-on-write)
_RENDER_BUNDLE: dict | None = None


def render_workers() -> int:
    """Worker processes for tables and figures: ``RESEARCH_WORKERS`` if set (1: in this process),
    else the usable cores, at most 4. Every artifact is drawn independently and deterministically,
    so the files are the same for any number of workers."""
    import os

    text = os.environ.get("RESEARCH_WORKERS", "").strip()
    if text:
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64:
            raise InputError(f"RESEARCH_WORKERS={text[:20]!r}: a whole number from 1 to 64 is expected")
        return int(text)
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _worker_start() -> None:
    """A forked rendering worker: drop the parent's build lock and die with the parent (Linux
    PR_SET_PDEATHSIG), so a killed run leaves no worker holding or writing the folder."""
    buildstate.forget_locks_in_child()
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the lock is dropped, the worker ends with its job
        pass


def _render_one(job: tuple) -> str:
    from research.artifacts.render_figures import write_figure
    from research.artifacts.render_tables import write_table

    kind, spec, folder, stamp = job
    with one_blas_thread():
        (write_table if kind == "table" else write_figure)(spec, _RENDER_BUNDLE, folder, stamp)
    return spec.id


def render_all(jobs: list[tuple], bundle: dict, *, say: Progress) -> None:
    """Write every table and figure of ``jobs`` (``(kind, spec, folder, stamp)``), spread over
    :func:`render_workers` forked processes (matplotlib and python-docx are single-threaded;
    on the sample the two stages took about 13 and 25 s in one process). Slowest first, so the
    workers finish together. An error in any job is raised here, as in one process."""
    import multiprocessing

    global _RENDER_BUNDLE
    workers = render_workers()
    _RENDER_BUNDLE = bundle
    try:
        if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
            for job in jobs:
                _render_one(job)
            return
        # figures first: each is drawn in several languages and formats and takes longest
        ordered = sorted(jobs, key=lambda j: j[0] != "figure")
        with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_start) as pool:
            for done, _ in enumerate(pool.imap_unordered(_render_one, ordered), 1):
                if done % 10 == 0 or done == len(ordered):
                    say(f"rendered {done}/{len(ordered)} tables and figures ({workers} workers)")
    finally:
        _RENDER_BUNDLE = None


