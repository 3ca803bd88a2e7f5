"""A pure function of the export computed in a forked child process while ingest goes on.

The hashing of the customer ids (keyed BLAKE2b, one call per distinct id) is Python holding
the GIL: a second thread cannot overlap it with the parsing and masking of the texts, which
hold the GIL too. A forked child can: it gets the export's columns by fork (copy-on-write,
nothing is sent on the way in), computes the function and sends its return value back through
a pipe (pickled; for 1,000,000 rows about 25 MB of Arrow buffers, a few milliseconds).

:func:`in_child` runs the function in this process instead, when its result is asked for, when
there is no ``fork`` (not POSIX), one usable core or ``RESEARCH_WORKERS=1`` (the rule of
:func:`research.ingestion.threads._second_thread`); and it computes it here too should the
child die without answering (killed, out of memory). The function must be pure (a result that
depends only on its arguments), so the outputs are the same bytes whichever way it ran.

Written here rather than with :class:`research.pipeline.workers._InChild`: that one sets up a
stage of the pipeline (one BLAS thread, importing scipy in the child) and reports a dead child
as an error, where ingest wants a light child and falls back to computing the value itself.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable

from research.ingestion.threads import one_worker


class _Here:
    """The function, computed in this process when its result is asked for."""

    def __init__(self, func: Callable[[], object]):
        self._func = func

    def result(self):
        return self._func()


class _Child:
    """The function computing in a forked child; :meth:`result` reads its answer (or, the child
    having died or failed, computes it here)."""

    def __init__(self, func: Callable[[], object]):
        self._func = func
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read)
            _child(func, write)
        os.close(write)
        self._pid, self._read = pid, read

    def result(self):
        chunks = []
        try:
            while chunk := os.read(self._read, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(self._read)
            _, status = os.waitpid(self._pid, 0)
        if status != 0 or not chunks:  # died (killed, out of memory) or failed: computed here
            return self._func()
        return pickle.loads(b"".join(chunks))


def _child(func: Callable[[], object], fd: int) -> None:
    """In the forked child: compute, write the pickled result to ``fd``, exit without running
    the parent's exit handlers or flushing its buffers (``os._exit``). Exit code 1 (nothing
    written) for any failure: the parent then computes the value itself."""
    code = 1
    try:
        from research.pipeline.workers import _worker_start

        _worker_start()  # the parent's build lock dropped; dies with the parent
        data = pickle.dumps(func(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(data)
        code = 0
    except BaseException:  # noqa: BLE001 - whatever went wrong, the parent computes the value
        pass
    finally:
        os._exit(code)


def in_child(func: Callable[[], object]) -> _Child | _Here:
    """Start ``func()`` (pure) in a forked child, or set it aside to run here (see the module
    docstring); ``.result()`` is its return value either way."""
    if not hasattr(os, "fork") or one_worker():
        return _Here(func)
    return _Child(func)
