"""Writing output files safely: atomically, and with spreadsheet-formula cells neutralised.

Every file the package writes goes through this module, for two reasons.

- **Atomic.** Each file is written to a temporary file in the same folder and
  renamed into place (``os.replace``, atomic on POSIX and Windows), so a run
  killed mid-write leaves either the old file or the new one, never half of
  one. No ``fsync``: the guarantee is against a killed process, not a power
  cut (which would cost a flush per file for little gain in a rebuildable
  build folder).
- **Safe cells.** A CSV cell whose text begins with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return is read as a formula by Excel and
  LibreOffice (CSV injection). Following OWASP's rule ("CSV Injection",
  owasp.org/www-community/attacks/CSV_Injection), such *text* cells are
  prefixed with a single quote ``'``, which spreadsheets show as text.
  Numeric columns are never touched, so ``-0.25`` stays a number.

Written by hand: pandas' ``to_csv`` has no injection guard, and the
atomic-rename idiom is four lines that no maintained library offers without
pulling in a dependency.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pandas as pd

#: first characters that make a spreadsheet read a cell as a formula (OWASP)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: the prefix that makes a spreadsheet show such a cell as text
TEXT_PREFIX = "'"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place; returns the path."""
    def write(fd: int, tmp: str) -> None:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)

    return _atomic(path, write)


def _atomic(path: str | Path, write) -> Path:
    """``write(fd, tmp)`` fills a temporary file beside ``path`` (and closes ``fd``), which is then
    renamed into place with mode 0644; on any failure the temporary file is removed and the error,
    naming ``path`` when it names no file, raised. The one rename idiom of every atomic writer."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        write(fd, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a full disk fails in write(), which names no file: name it
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_write_parquet(frame: pd.DataFrame, path: str | Path, **options) -> Path:
    """Write ``frame`` as Parquet (no index, pandas' defaults) atomically, as
    :func:`atomic_write_bytes` does; ``options`` go to ``pyarrow.parquet.write_table``
    (e.g. ``use_dictionary``: how the values are encoded, never what they are)."""
    def write(fd: int, tmp: str) -> None:
        os.close(fd)
        frame.to_parquet(tmp, index=False, **options)

    return _atomic(path, write)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def neutralise_cell(value):
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'``; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return TEXT_PREFIX + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are neutralised (:func:`neutralise_cell`).

    Only object and string columns are looked at; numbers, booleans and dates
    are left exactly as they are. Header names are neutralised too.
    Returns the frame itself when nothing needs a change (no copy).
    """
    changed: dict[str, pd.Series] = {}
    for name in frame.columns:
        col = frame[name]
        if not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            continue
        text = col.astype("string")
        hit = text.str.startswith(FORMULA_START).fillna(False).to_numpy(dtype=bool)
        if hit.any() and pd.api.types.is_object_dtype(col):
            # an object column may mix numbers with text (values.csv's `value`): -0.25 stays a number
            rows = hit.nonzero()[0]
            hit[rows] = [isinstance(col.iat[i], str) for i in rows]
        if hit.any():
            fixed = col.astype(object).copy()
            fixed[hit] = [TEXT_PREFIX + str(v) for v in col[hit]]
            changed[name] = fixed
    columns = [neutralise_cell(str(c)) if isinstance(c, str) else c for c in frame.columns]
    if not changed and list(columns) == list(frame.columns):
        return frame
    out = frame.assign(**changed) if changed else frame.copy()
    out.columns = columns
    return out


def csv_text(frame: pd.DataFrame, *, float_format: str | None = "%.17g") -> str:
    """CSV text of ``frame`` (no index, ``\\n`` line ends, full precision) with text cells neutralised."""
    return neutralise_frame(frame).to_csv(index=False, float_format=float_format, lineterminator="\n")


def write_csv(frame: pd.DataFrame, path: str | Path, *, bom: bool = False,
              float_format: str | None = "%.17g") -> Path:
    """Write ``frame`` as UTF-8 CSV (with a BOM when ``bom``, so Excel shows Chinese), atomically,
    text cells neutralised; returns the path."""
    data = csv_text(frame, float_format=float_format).encode("utf-8")
    return atomic_write_bytes(path, (b"\xef\xbb\xbf" + data) if bom else data)


def os_reason(exc: OSError) -> str:
    """The system's reason for an OSError (``strerror`` and the errno name), never its free text."""
    name = errno.errorcode.get(exc.errno or -1)
    if exc.strerror:
        return f"{exc.strerror} [{name}]" if name else exc.strerror
    return f"operating-system error {type(exc).__name__}" + (f" [{name}]" if name else "")


def writable_folder(folder: str | Path, option: str) -> Path:
    """Make sure ``folder`` (given with the command-line ``option``, e.g. ``--out``) is a folder this
    process can write, creating it when absent; returns it as a Path.

    Raises
    ------
    InputError
        An existing file (or other non-folder), a folder that cannot be created (a path through a
        file, a read-only file system, no permission) or that is not writable.
    """
    from research.errors import InputError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: {option} must be a folder, but this path is an existing file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the {option} folder ({os_reason(exc)})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{folder}: the {option} folder is not writable (permission denied)")
    return folder
