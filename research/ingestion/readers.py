"""Read a raw export (CSV, XLSX or Parquet) into a frame of strings, exactly as exported.

Every cell becomes a string (blank = ``""``) so that validation sees the raw
value and a rejected row can be written back unchanged. Format is detected
from the file's first bytes (then its extension); CSV encoding is detected:
UTF-8, UTF-8 with BOM, or GB18030 (a superset of GBK and GB2312).

Any file that cannot be read raises :class:`research.errors.InputError` naming
the file and the place (line, column or cell) and the problem. Messages never
quote the content of a row: it may hold customer ids and phone numbers.

Hostile input is refused before it can exhaust the machine or be misread:

- only regular files are read (a FIFO, a device such as ``/dev/zero``, a
  socket or a folder is refused before it is opened for reading), and at
  most :func:`max_input_bytes` of them (default 4 GiB; the environment
  variable ``RESEARCH_MAX_INPUT_BYTES`` sets another limit in bytes);
- at most :data:`MAX_COLUMNS` columns and :data:`MAX_CELL_CHARS` characters
  in one cell, in every format; an XLSX sheet or Parquet file at most
  :data:`MAX_CELLS` cells, checked against what the file *declares* before
  anything is loaded;
- a CSV quoted field that runs over many lines or holds what look like whole
  records (an unterminated ``"`` swallowing the rows after it) stops the read
  with the line where that record starts; old-Mac CR-only and mixed line ends
  are read as line ends;
- an XLSX formula cell without a saved result (a workbook written by a
  program that does not calculate) stops the read naming the cell, instead of
  becoming a silent blank;
- a Parquet column of nested (struct, list, map) or binary values is refused
  naming the column.

The work is done by one module per job, and every name is importable from
here as before: :mod:`research.ingestion.files` (the file itself: limits,
reading, hashing, format), :mod:`research.ingestion.headers` (what a message
may quote), :mod:`research.ingestion.encodings` (CSV encodings and line ends),
:mod:`research.ingestion.csv_reader`, :mod:`research.ingestion.excel_reader`,
:mod:`research.ingestion.parquet_reader` (with :mod:`research.ingestion.typed_cells`)
and :mod:`research.ingestion.ingested` (reading ingest's own outputs back).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from research.errors import InputError
# the names below were defined here before issue 13; they stay importable from this module
from research.ingestion.csv_reader import (  # noqa: F401
    _DELIMITER_NAMES, _DELIMITERS, _NON_SPACE, CSV_BLOCK_BYTES, CSV_MAX_RECORD_BYTES,
    MAX_FIELD_LINES, MAX_HEADER_BYTES, _check_csv_cells, _sniff_delimiter, _swallowed_field,
    read_csv, read_csv_bytes, record_lines)
from research.ingestion.encodings import (  # noqa: F401
    _first_mb, decode_csv_bytes, is_utf8, normalise_line_ends)
from research.ingestion.excel_reader import (  # noqa: F401
    EXCEL_MAX_ROWS, _check_declared, _check_zip, _coordinate, _OutOfBounds, _sheet_cells,
    _sheet_name, _sheet_parser_class, read_xlsx)
from research.ingestion.files import (  # noqa: F401
    DEFAULT_MAX_INPUT_BYTES, MAX_CELL_CHARS, MAX_CELLS, MAX_COLUMNS, SIZE_ENV, FileDigest,
    _not_regular, _refuse_kind, _refuse_size, detect_format, max_input_bytes, read_regular_file,
    sha256_bytes)
from research.ingestion.headers import (  # noqa: F401
    _CONTROL, _DIGIT_RUN, _column, _unique_headers, describe_headers, quotable)
from research.ingestion.ingested import (  # noqa: F401
    _compatible, _kind_of, check_ingested, read_ingested)
from research.ingestion.parquet_reader import _flat_type, _is_text_type, read_parquet  # noqa: F401
from research.ingestion.typed_cells import _cell_strings, _typed_to_strings, cell_text  # noqa: F401


@dataclass(frozen=True)
class RawTable:
    """A raw export: ``frame`` (all-string columns with the export's own headers),
    where it came from and how it was decoded; ``sha256`` the hex sha256 of the file's bytes."""

    frame: pd.DataFrame
    path: Path
    format: str  # csv | xlsx | parquet
    encoding: str | None  # csv only: utf-8, utf-8-sig or gb18030
    digest: FileDigest = field(repr=False, compare=False)
    size_bytes: int

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


def read_export(path: str | Path, *, hash_now: bool = True) -> RawTable:
    """Read one export file as raw strings.

    Parameters
    ----------
    path : CSV (UTF-8, UTF-8 with BOM, GB18030/GBK; comma, tab, semicolon or
        pipe separated; LF, CRLF or CR line ends), XLSX (first sheet) or
        Parquet; a regular file of at most :func:`max_input_bytes` bytes
        (``RESEARCH_MAX_INPUT_BYTES``, default 4 GiB).
    hash_now : compute the file's sha256 while it is parsed (in a second thread); False: on
        first use of ``sha256`` (:class:`FileDigest`, the bytes kept until then), so that the
        caller can have it computed where a core is idle (ingest: when its report is first
        read, by the write, beside the Parquet encoder). The same digest either way.

    Returns
    -------
    RawTable with an all-string ``frame`` (the export's headers, one row per
    data row, blank cells as ``""``), the detected format and encoding, and
    the sha256 of the file's bytes.

    Raises
    ------
    InputError
        Missing, not a regular file, too large, empty, binary, undecodable,
        truncated or malformed file, or one beyond the limits of the module
        docstring.
    """
    path = Path(path)
    data = read_regular_file(path)
    if _NON_SPACE.search(data) is None:
        raise InputError(f"{path}: the file is empty")
    fmt = detect_format(path, data[:8])
    digest = FileDigest(data)
    encoding = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        if hash_now:  # computed while the file is parsed (hashlib releases the GIL on large data)
            hashed = pool.submit(digest.hexdigest)
        if fmt == "csv":
            frame, encoding = read_csv(path, data)
        elif fmt == "xlsx":
            frame = read_xlsx(path, data)
        else:
            frame = read_parquet(path, data)
        if frame.shape[1] > MAX_COLUMNS:
            raise InputError(f"{path}: {frame.shape[1]:,} columns, more than the {MAX_COLUMNS} an "
                             "export may have")
        if hash_now:
            hashed.result()
    return RawTable(frame=frame, path=path, format=fmt, encoding=encoding, digest=digest,
                    size_bytes=len(data))
