"""Crash-safe build folders: a lock, a staging folder, an incomplete marker.

``research reproduce`` never writes into the published entries of its output
folder while it works. The protocol, for an output root ``ROOT``:

1. **Lock.** :func:`build_lock` takes an exclusive ``fcntl.flock`` on
   ``ROOT/.research.lock`` (and writes the holder's pid into it). A second
   run into the same folder stops at once with one message naming the folder
   and the holder's pid. The kernel releases a flock when its process dies,
   even by SIGKILL, so a dead holder never blocks the next run; the lock file
   itself stays (deleting it would let two runs lock two different files).
   On Windows ``msvcrt.locking`` on the file's first byte plays the same role
   (also released by the system when the process dies; not tested here).
2. **Staging.** Under the lock, staging folders left by killed runs are
   removed (:func:`remove_leftovers`) and the run builds into a fresh
   ``ROOT/.staging-XXXX/`` (:func:`new_staging`): same file system, so the
   final moves are renames.
3. **Swap.** Only when every stage succeeded, :func:`publish` writes
   ``ROOT/.incomplete`` (the marker), moves each owned entry
   (:data:`OWNED`) into place — the previous one, or one this run did not
   produce (``weights/`` of an earlier run with work orders), is moved into
   the staging folder first — moves ``manifest.json`` last, removes the
   marker, then deletes the staging folder with the old entries.

So after a kill the folder is either the previous complete build (plus a
leftover staging folder, which is not part of the build and which the next
run removes) or carries the marker, which :func:`refuse_incomplete` (used by
``research verify --built`` and :func:`research.ingestion.readers.read_ingested`)
refuses. Anything in ``ROOT`` that is not an owned entry (``bulletin/``, a
user's note) is never touched and never enters the manifest.

``research ingest --out DIR`` uses the same marker inside ``DIR`` while it
writes its four files (:func:`marked_incomplete`).

Written by hand: the protocol is a few renames and one ``flock`` call; no
maintained library offers it, and a file-lock package would add a dependency
for one call the standard library already has.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from research.errors import InputError
from research.safeio import atomic_write_text

#: the entries of an output root that ``research reproduce`` owns (everything else is left alone)
OWNED = ("ingest", "fit", "weights", "strategy", "tables", "figures", "report", "values.csv", "manifest.json")
#: owned entries that the single commands (ingest, fit, weight) also write into the default build
#: folder before any reproduce ran there: replacing them cannot destroy a user's own files
COMMAND_OUTPUTS = ("ingest", "fit", "weights")
MANIFEST = "manifest.json"
#: present while a build's outputs are moved into place (or an ingest folder is written)
MARKER = ".incomplete"
LOCK = ".research.lock"
STAGING_PREFIX = ".staging-"


def is_incomplete(folder: Path) -> bool:
    """Whether ``folder`` carries the incomplete marker."""
    return (Path(folder) / MARKER).exists()


def refuse_incomplete(folder: Path, what: str = "build folder") -> None:
    """Raise :class:`InputError` when ``folder`` is marked incomplete.

    Parameters
    ----------
    folder : a build root or an ingest folder.
    what : how the message names the folder ("build folder", "ingest folder").
    """
    if is_incomplete(folder):
        raise InputError(f"{folder}: this {what} is marked incomplete ({MARKER}): a run was interrupted "
                         "while writing it; run the command again to rebuild it")


def staging_folders(root: Path) -> list[Path]:
    """The staging folders present in ``root`` (of a running or a killed run), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.name.startswith(STAGING_PREFIX) and p.is_dir() and not p.is_symlink())


# --- the lock --------------------------------------------------------------------------------------

def _try_lock(fd: int, shared: bool = False) -> bool:
    """Non-blocking lock of an open file; True when taken. POSIX flock, else Windows msvcrt."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


def _holder_pid(fd: int) -> str:
    """The pid the lock holder wrote into the lock file ("unknown" when unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


def lock_holder(root: Path) -> str | None:
    """The pid (as text) of a live process holding ``root``'s build lock, else None.

    A lock file left by a dead process is not held: the kernel released it.
    """
    path = Path(root) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if _try_lock(fd, shared=True):
            _unlock(fd)
            return None
        return _holder_pid(fd)
    finally:
        os.close(fd)


#: file descriptors of the build locks this process holds (a forked worker closes its copies:
#: see :func:`forget_locks_in_child`)
_HELD: set[int] = set()


def forget_locks_in_child() -> None:
    """In a forked child: close the inherited descriptors of the parent's build locks.

    ``flock`` belongs to the open file, which a fork shares: a worker that outlived a killed parent
    would otherwise keep the folder locked. Closing (not unlocking, which would release the
    parent's lock too) drops only the child's reference."""
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


@contextlib.contextmanager
def build_lock(root: Path, command: str = "research reproduce",
               hint: str = "choose another --out") -> Iterator[None]:
    """Hold the exclusive build lock of ``root`` for the ``with`` block.

    ``command`` and ``hint`` word the refusal (``research ingest --dataset`` locks a dataset
    folder with the same lock).

    Raises
    ------
    InputError
        Another live process holds it: the message names the folder and the holder's pid.
    """
    root = Path(root)
    try:  # O_NOFOLLOW: a lock "file" planted as a symbolic link must not make us truncate its target
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise InputError(f"{root}: cannot open the build lock {LOCK} ({exc.strerror}); is it a symbolic "
                         "link or not a file?") from None
    try:
        if not _try_lock(fd):
            raise InputError(f"{root}: another '{command}' (pid {_holder_pid(fd)}) is building into "
                             f"this folder; wait for it to finish or {hint}")
        _HELD.add(fd)
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            yield
        finally:
            _unlock(fd)
    finally:
        _HELD.discard(fd)
        os.close(fd)


# --- staging and publishing ------------------------------------------------------------------------

def check_root(root: Path) -> None:
    """Refuse an output root that is not a folder, or a folder that is not a build folder but holds
    entries reproduce would replace.

    A folder is a build folder when it holds ``manifest.json`` or the marker. Elsewhere, only
    :data:`COMMAND_OUTPUTS` may already exist: replacing a user's own ``report/`` or ``tables/``
    (``--out`` pointed at a documents folder) would destroy files reproduce never wrote.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise InputError(f"{root}: the output root must be a folder, but this path is an existing file")
    if not root.exists() or (root / MANIFEST).exists() or is_incomplete(root):
        return
    foreign = [n for n in OWNED if n not in COMMAND_OUTPUTS and (root / n).exists()]
    if foreign:
        raise InputError(f"{root}: not a build folder (no {MANIFEST}) but holds {', '.join(foreign)}, which "
                         "reproduce would replace; choose an empty or new folder with --out")


def remove_leftovers(root: Path) -> list[Path]:
    """Remove staging folders of killed runs from ``root``; returns those removed. Call under the lock."""
    gone = staging_folders(root)
    for folder in gone:
        shutil.rmtree(folder, ignore_errors=True)
    return gone


def new_staging(root: Path) -> Path:
    """A fresh staging folder inside ``root`` (same file system: publishing is renames)."""
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))


def produced_files(staging: Path) -> list[str]:
    """Relative paths (POSIX) of every file under the owned entries of ``staging``, except the manifest.

    This is what the manifest lists: only files this run produced, never a stale or foreign one.
    """
    staging = Path(staging)
    files = []
    for name in OWNED:
        entry = staging / name
        if name == MANIFEST or not entry.exists():
            continue
        found = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        files += [p.relative_to(staging).as_posix() for p in found]
    return sorted(files)


def publish(staging: Path, root: Path) -> None:
    """Move the owned entries of ``staging`` into ``root``; then delete ``staging``.

    Owned entries of ``root`` that ``staging`` lacks are removed. The marker is written
    before the first move and removed after ``manifest.json``, which moves last, is in place.
    Call under the lock.
    """
    staging, root = Path(staging), Path(root)
    old = staging / ".replaced"
    old.mkdir()
    atomic_write_text(root / MARKER, f"pid {os.getpid()} moving a build into place\n")
    for name in OWNED:  # manifest.json is last in OWNED
        new, target = staging / name, root / name
        if target.exists() or target.is_symlink():
            os.replace(target, old / name)
        if new.exists():
            os.replace(new, target)
    (root / MARKER).unlink()
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def marked_incomplete(folder: Path) -> Iterator[None]:
    """Carry the marker in ``folder`` for the ``with`` block (removed only when it ends without error).

    Used by ``write_ingest``: readers refuse the folder while its files are half replaced.
    """
    folder = Path(folder)
    atomic_write_text(folder / MARKER, f"pid {os.getpid()} writing this folder\n")
    yield
    (folder / MARKER).unlink()


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as Parquet (no index, pandas' defaults) atomically: the one atomic Parquet
    writer, :func:`research.safeio.atomic_write_parquet`, kept under this name for its callers."""
    from research.safeio import atomic_write_parquet

    return atomic_write_parquet(frame, path)
