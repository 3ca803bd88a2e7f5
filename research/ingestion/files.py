"""The export file itself: read as bytes within the limits, hashed, its format told.

Hostile input is refused before it can exhaust the machine: only regular
files are read (a FIFO, a device such as ``/dev/zero``, a socket or a folder
is refused before it is opened for reading), and at most
:func:`max_input_bytes` of them (default 4 GiB; the environment variable
``RESEARCH_MAX_INPUT_BYTES`` sets another limit in bytes). The limits every
reader applies to what a file holds (columns, characters in a cell, cells)
are here too (docs/input_contract.md, *Files: formats, encodings, limits*).
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

from research.errors import InputError

#: the most columns an export may have (the contract has 18; room for extra export columns)
MAX_COLUMNS = 200
#: the most characters one cell may hold (Excel's own limit is 32,767)
MAX_CELL_CHARS = 100_000
#: the most cells an XLSX sheet or a Parquet file may declare: a full Excel
#: sheet (1,048,576 rows) of 19 columns fits
MAX_CELLS = 20_000_000
#: environment variable that sets the input size limit (bytes)
SIZE_ENV = "RESEARCH_MAX_INPUT_BYTES"
DEFAULT_MAX_INPUT_BYTES = 4 * 2**30


class FileDigest:
    """The hex sha256 of a file's bytes, computed once, on first use, by whichever thread asks
    first (the others wait); the bytes are let go once hashed. ``hashlib`` releases the GIL on
    large data, so ingest has it computed where a core would otherwise wait."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data
        self._hex: str | None = None
        self._lock = threading.Lock()

    def hexdigest(self) -> str:
        with self._lock:
            if self._hex is None:
                self._hex = sha256_bytes(self._data)
                self._data = None
            return self._hex


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def max_input_bytes() -> int:
    """The largest input file read, in bytes: ``RESEARCH_MAX_INPUT_BYTES`` or 4 GiB."""
    text = os.environ.get(SIZE_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_INPUT_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"environment variable {SIZE_ENV}: expected a whole number of bytes >= 1, "
                         f"got {text[:40]!r}")
    return value


def _not_regular(mode: int) -> str | None:
    """What a non-regular file is (``"a FIFO (named pipe)"``...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse_kind(path: Path, kind: str) -> InputError:
    if kind == "a folder":
        return InputError(f"{path}: is a folder, not an export file")
    return InputError(f"{path}: is {kind}, not a regular file; save the export as a file and read that")


def _refuse_size(path: Path, size: int, limit: int) -> InputError:
    return InputError(f"{path}: {size:,} bytes, more than the {limit:,} an input may have; split the "
                      f"export, or raise the limit with the environment variable {SIZE_ENV}")


def read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most :func:`max_input_bytes`.

    The kind of file is checked twice: with ``stat`` before it is opened (so
    a socket is named, not failed on), and with ``fstat`` on the opened
    descriptor (so a file swapped in between is caught). It is opened
    non-blocking, so a FIFO without a writer cannot hang the open; at most
    the limit plus one byte is read, so a file that grows cannot exhaust memory.

    Raises
    ------
    InputError
        Not found, not readable, not a regular file, or too large.
    """
    try:
        kind = _not_regular(os.stat(path).st_mode)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if kind is not None:
        raise _refuse_kind(path, kind)
    limit = max_input_bytes()
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        kind = _not_regular(info.st_mode)
        if kind is not None:
            raise _refuse_kind(path, kind)
        if info.st_size > limit:
            raise _refuse_size(path, info.st_size, limit)
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _refuse_size(path, len(data), limit)
    return data


def detect_format(path: Path, head: bytes) -> str:
    """``csv``, ``xlsx`` or ``parquet`` from the magic bytes, else the extension."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(f"{path}: old binary Excel (.xls) is not supported; save it as .xlsx or CSV")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        raise InputError(f"{path}: named {suffix} but is not an Excel workbook (damaged or not XLSX)")
    if suffix in (".parquet", ".pq"):
        raise InputError(f"{path}: named {suffix} but is not a Parquet file (damaged or truncated)")
    return "csv"
