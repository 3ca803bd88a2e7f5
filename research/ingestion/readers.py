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
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import stat
import threading
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from research.errors import InputError

_DELIMITERS = (",", "\t", ";", "|")
_DELIMITER_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons", "|": "pipes"}
_NON_SPACE = re.compile(rb"\S")
_DIGIT_RUN = re.compile(r"\d{4}")
# control characters (as research.ingestion.parse.CONTROL_CHARS, in Python's syntax)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")

#: the most columns an export may have (the contract has 18; room for extra export columns)
MAX_COLUMNS = 200
#: the most characters one cell may hold (Excel's own limit is 32,767)
MAX_CELL_CHARS = 100_000
#: the most cells an XLSX sheet or a Parquet file may declare: a full Excel
#: sheet (1,048,576 rows) of 19 columns fits
MAX_CELLS = 20_000_000
#: the most line breaks one quoted CSV field may hold before it is taken for an unterminated quote
MAX_FIELD_LINES = 100
#: the longest first line (header) of a CSV, in bytes
MAX_HEADER_BYTES = 100_000
#: bytes of CSV Arrow parses per block (16 MB blocks read a 1M-row export about 30% slower)
CSV_BLOCK_BYTES = 1 << 22
#: Arrow refuses a record spanning more than two blocks; a file with one is read again in
#: blocks of this size, so records of up to 16 MB are read as before
CSV_MAX_RECORD_BYTES = 1 << 24
#: Excel's row limit; a cell below it is not from a real sheet
EXCEL_MAX_ROWS = 1_048_576
#: environment variable that sets the input size limit (bytes)
SIZE_ENV = "RESEARCH_MAX_INPUT_BYTES"
DEFAULT_MAX_INPUT_BYTES = 4 * 2**30


class FileDigest:
    """The hex sha256 of a file's bytes, computed once, on first use, by whichever thread asks
    first (the others wait); the bytes are let go once hashed. ``hashlib`` releases the GIL on
    large data, so ingest has it computed in a thread that would otherwise wait."""

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


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- messages

def quotable(text: str) -> bool:
    """True when ``text`` (a header, a sheet name) may be quoted in a message.

    Text with a run of four or more digits may be a customer id, a phone or
    an ID-card number (the first line of a file without a header row is
    data), so it is never quoted; nor is text with a control character
    (it could drive the terminal the message is printed on).
    """
    text = str(text)
    return _DIGIT_RUN.search(text) is None and _CONTROL.search(text) is None


def describe_headers(headers: list[str]) -> str:
    """One sentence about the headers found, safe to show.

    Parameters
    ----------
    headers : the export's headers, in order.

    Returns
    -------
    ``"3 headers found: ['a', 'b', 'c']"``; or, when any header holds a run
    of 4+ digits, a sentence saying the first line looks like data, quoting none.
    """
    n = len(headers)
    if all(quotable(h) for h in headers):
        return f"{n} header(s) found: {list(headers)}"
    return (f"{n} header(s) found, not quoted here: the first line looks like data (values with "
            "runs of digits), not a header row -- is the header row missing?")


def _column(j: int, header: str | None = None) -> str:
    """``column 3 ('站名')``, the header quoted only when :func:`quotable`."""
    shown = f" ({header!r})" if header and quotable(header) else ""
    return f"column {j + 1}{shown}"


# ----------------------------------------------------------------------------- the file itself

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
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
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


# ----------------------------------------------------------------------------- CSV

def decode_csv_bytes(path: Path, data: bytes, not_utf8: bool = False) -> tuple[bytes, str]:
    """Check and normalise the encoding of CSV bytes; returns (UTF-8 bytes, encoding name).

    Tries UTF-8 (with or without BOM), then GB18030. UTF-16 and binary
    content are refused with a message naming the file. UTF-8 input is
    returned as is (minus the BOM), without a copy through ``str``.
    ``not_utf8``: the caller found a byte that is not UTF-8 (UTF-8 is not tried again).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path}: UTF-16 text is not supported; export as UTF-8 or GB18030 CSV")
    if b"\x00" in data[:65536]:
        raise InputError(f"{path}: binary content (NUL bytes), not a CSV export")
    if data.startswith(b"\xef\xbb\xbf"):
        body = memoryview(data)[3:]
        if not is_utf8(body):
            try:
                codecs.decode(body, "utf-8")  # only to name the first bad byte
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}: starts with a UTF-8 BOM but byte {exc.start + 3} is not "
                                 "UTF-8 (file damaged or mixed encodings)") from None
        return bytes(body), "utf-8-sig"
    if not not_utf8 and is_utf8(data):
        return data, "utf-8"
    try:
        return data.decode("gb18030").encode("utf-8"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: neither UTF-8 nor GB18030 text (undecodable byte at offset "
                         f"{exc.start}); binary or damaged file?") from None


def is_utf8(data) -> bool:
    """True when ``data`` (bytes or a memoryview) is valid UTF-8, as Python's strict codec decides.

    Checked by Arrow's UTF-8 validation over the bytes in place (one large
    string value over the buffer, no copy, no ``str``); where Arrow and
    Python's codec could ever disagree, Python's decides.
    """
    import pyarrow as pa

    buf = pa.py_buffer(data)
    offsets = pa.py_buffer(np.array([0, buf.size], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, buf])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        pass
    else:
        return True
    try:
        codecs.decode(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def normalise_line_ends(data: bytes) -> bytes:
    """UTF-8 bytes with every CR-only line end (old Mac) turned into LF.

    Files whose CRs all belong to CRLF pairs (or that have no CR) are
    returned as they are, without a copy. Otherwise CRLF and lone CR both
    become LF, so that line numbers in messages count the lines an editor shows.
    """
    if data.find(b"\r") < 0:  # the usual case, found without counting
        return data
    crs = data.count(b"\r")
    if crs == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def record_lines(body: bytes, delimiter: str, wanted: set[int]) -> dict[int, int]:
    """Line (1-based, within ``body``) where each wanted data record starts.

    Parameters
    ----------
    body : the UTF-8 bytes after the header line.
    delimiter : the field separator.
    wanted : 0-based record numbers, blank lines not counted (as the CSV parser skips them).

    Returns
    -------
    record number -> line number within ``body``.

    Written with the standard library's ``csv`` reader, which counts the
    physical lines it consumes (``line_num``) where Arrow's fast parser does
    not; it runs only to place a message, so its speed does not matter.
    """
    text = body.decode("utf-8")
    old = csv.field_size_limit()
    csv.field_size_limit(min(max(len(text) + 1, old), 2**31 - 1))
    found: dict[int, int] = {}
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        record, before = 0, 0
        last = max(wanted)
        for row in reader:
            if row:
                if record in wanted:
                    found[record] = before + 1
                record += 1
                if record > last:
                    break
            before = reader.line_num
    except csv.Error:
        pass  # the records before the damage are placed; the message says "a row" for the rest
    finally:
        csv.field_size_limit(old)
    return found


def _swallowed_field(text: str, delimiter: str, k: int) -> bool:
    """True when a quoted field's text looks like an unterminated quote that swallowed records.

    It does when it holds more than :data:`MAX_FIELD_LINES` line breaks, or
    when a line after its first holds as many delimiters as a whole record
    (``k - 1``; only for exports of 4+ columns, where a comment line with that
    many separators is not plausible). A comment with a few line breaks and
    some commas is left alone.
    """
    lines = text.split("\n")
    if len(lines) - 1 > MAX_FIELD_LINES:
        return True
    return k >= 4 and any(line.count(delimiter) >= k - 1 for line in lines[1:])


def _check_csv_cells(path: Path, table, header: list[str], delimiter: str, data: bytes,
                     body_start: int, header_line: int, quoted: bool | None = None) -> None:
    """Refuse swallowed records and over-long cells in a parsed CSV, naming line and column.

    ``data`` is the whole (UTF-8, LF or CRLF) file, its records starting at
    byte ``body_start``, the line after the header (line ``header_line``);
    ``quoted``, whether they hold a ``"`` (looked for when not given).
    """
    import pyarrow.compute as pc

    k = len(header)
    problems: list[tuple[int, int, str]] = []  # (record, column, problem)
    # a field holds a line break only when quoted; and each record takes at least one line: as many
    # lines as records means no field holds a line break
    quoted = data.find(b'"', body_start) >= 0 if quoted is None else quoted
    any_breaks = quoted and (
        data.count(b"\n", body_start) + (0 if data.endswith(b"\n") else 1) > table.num_rows)
    for j, col in enumerate(table.columns):
        breaks = pc.count_substring(col, "\n") if any_breaks else None
        if breaks is not None and (pc.max(breaks).as_py() or 0) > 0:
            rows = np.flatnonzero(breaks.to_numpy(zero_copy_only=False) > 0)
            for i, text in zip(rows, col.take(rows).to_pylist()):
                if _swallowed_field(text, delimiter, k):
                    problems.append((int(i), j, f"the quoted field in {_column(j, header[j])} runs over "
                                    f"{text.count(chr(10)) + 1:,} lines and holds what look like whole "
                                    "records: a '\"' that is never closed swallows the rows after it "
                                    "(close the quote, or double a quote inside the text, and export "
                                    "again)"))
                    break
        if (pc.max(pc.binary_length(col)).as_py() or 0) <= MAX_CELL_CHARS:
            continue  # no more bytes than the limit, so no more characters
        lengths = pc.utf8_length(col)
        if (pc.max(lengths).as_py() or 0) > MAX_CELL_CHARS:
            i = int(np.argmax(lengths.to_numpy(zero_copy_only=False) > MAX_CELL_CHARS))
            problems.append((i, j, f"{_column(j, header[j])} holds a cell of "
                            f"{pc.max(lengths).as_py():,} characters, more than the {MAX_CELL_CHARS:,} "
                            "a cell may have (damaged export, or not an export?)"))
    if not problems:
        return
    record, _, problem = min(problems)
    at = record_lines(data[body_start:], delimiter, {record}).get(record)
    where = f"line {header_line + at} (data row {record + 1})" if at is not None else f"data row {record + 1}"
    raise InputError(f"{path}: {where}: {problem}")


def read_csv_bytes(path: Path, data: bytes) -> pd.DataFrame:
    """Parse UTF-8 CSV bytes into an all-string frame (blank cells ``""``).

    Line ends may be LF, CRLF, CR or a mix. Raises InputError, naming the
    line and never quoting it, for a row with the wrong number of fields, a
    quoted field that swallows the rows after it, a cell longer than
    :data:`MAX_CELL_CHARS` or more than :data:`MAX_COLUMNS` columns.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = normalise_line_ends(data)
    first = _NON_SPACE.search(data)
    if first is None:
        raise InputError(f"{path}: the file is empty")
    start = data.rfind(b"\n", 0, first.start()) + 1  # the header line starts here
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    header_line = data.count(b"\n", 0, start) + 1
    if end - start > MAX_HEADER_BYTES:
        raise InputError(f"{path}: line {header_line}, the header, is {end - start:,} bytes long, more "
                         f"than the {MAX_HEADER_BYTES:,} a header row may have (not a CSV export?)")
    first_line = data[start:end].decode("utf-8").rstrip("\r")
    delimiter = _sniff_delimiter(first_line)
    header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    header = [h.strip() for h in header]
    k = len(header)
    if k > MAX_COLUMNS:
        raise InputError(f"{path}: line {header_line}, the header, has {k:,} columns, more than the "
                         f"{MAX_COLUMNS} an export may have")
    bad_rows: list[str] = []

    def on_invalid(row) -> str:
        if not bad_rows:
            number = row.number
            if number is None:  # unknown when quoted fields may hold newlines: find the text
                at = data.find(row.text.encode("utf-8"), end)
                number = data.count(b"\n", 0, at) + 1 if at >= 0 else None
            where = f"line {number}" if number is not None else "a row"
            hint = ("; a quote opened on that line may never close" if "\n" in row.text else
                    f"; is every line separated by {_DELIMITER_NAMES[delimiter]}, as the header is?")
            # row.text is never quoted: it holds customer ids and phone numbers
            bad_rows.append(f"{where} has {row.actual_columns} fields, the header has "
                            f"{row.expected_columns}{hint}")
        return "skip"

    names = [f"c{i}" for i in range(k)]
    body = pa.py_buffer(data).slice(min(end + 1, len(data)))  # no copy
    if _NON_SPACE.search(data, end) is None:
        raise InputError(f"{path}: has a header but no data rows")

    # a line break can be inside a value only when quoted: without any quote, Arrow splits
    # records at line ends without tracking quotes (30% less work, the same table)
    quoted = data.find(b'"', end) >= 0

    def parse(block_size: int):
        bad_rows.clear()
        return pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=block_size),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=quoted,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.large_string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )

    try:
        try:
            table = parse(CSV_BLOCK_BYTES)  # blocks of the size Arrow reads fastest
        except pa.ArrowInvalid:
            # a record longer than a block (or a damaged file): read again in blocks as large as
            # a record may be, so that only a record Arrow cannot split at all is refused
            table = parse(CSV_MAX_RECORD_BYTES)
    except pa.ArrowInvalid:
        # Arrow's message quotes the offending text, so it is not shown
        raise InputError(f"{path}: malformed CSV (a record Arrow cannot split, e.g. a field longer "
                         "than 16 MB or an unterminated quote); truncated or damaged file?") from None
    if bad_rows:
        raise InputError(f"{path}: {bad_rows[0]} (truncated or malformed file)")
    if table.num_rows == 0:
        raise InputError(f"{path}: has a header but no data rows")
    _check_csv_cells(path, table, header, delimiter, data, min(end + 1, len(data)), header_line, quoted)
    # large_string, as pandas holds Arrow text: no conversion of the 1M-row columns
    frame = table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow")}.get)
    frame.columns = _unique_headers(path, header)
    return frame


def _first_mb(data: bytes) -> str:
    """What the first MB of ``data`` says of its encoding: ``"marked"`` (a BOM, a UTF-16 mark
    or a NUL byte: :func:`decode_csv_bytes` decides), ``"not utf-8"`` (a byte that is not
    UTF-8), else ``"utf-8"`` (worth reading as UTF-8 at once; a character cut at the end of
    the MB does not count)."""
    head = data[:1 << 20]
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        return "marked"
    try:
        codecs.utf_8_decode(head, "strict", False)
    except UnicodeDecodeError:
        return "not utf-8"
    return "utf-8"


def read_csv(path: Path, data: bytes) -> tuple[pd.DataFrame, str]:
    """A CSV export's bytes as an all-string frame, and the encoding they were in.

    As :func:`decode_csv_bytes` then :func:`read_csv_bytes`, with one pass
    fewer over a UTF-8 file: such a file is parsed at once, Arrow checking
    that every value is UTF-8 as it converts it (the header is decoded
    strictly, and the bytes outside values -- delimiters, quotes, line ends,
    blank lines -- are ASCII), so a file read whole is UTF-8 throughout. Any
    fault sends the file through the two steps, so that encoding faults are
    found first and every message is as those steps give it.
    """
    head = _first_mb(data)
    if head == "utf-8":
        try:
            return read_csv_bytes(path, data), "utf-8"
        except (InputError, UnicodeDecodeError):
            pass
    utf8, encoding = decode_csv_bytes(path, data, not_utf8=head == "not utf-8")
    return read_csv_bytes(path, utf8), encoding


def _unique_headers(path: Path, header: list[str]) -> list[str]:
    """Headers with blank ones named by position; InputError for a header that appears twice.

    The repeated header is quoted only when no header of the row looks like
    data (:func:`quotable`); otherwise the message says the first line looks like data.
    """
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        name = h or f"(blank header, column {i + 1})"
        if name in seen:
            columns = f"(columns {seen[name] + 1} and {i + 1})"
            if not all(quotable(x) for x in header):
                raise InputError(f"{path}: two columns have the same header {columns}, and the first "
                                 "line looks like data (values with runs of digits), not a header row "
                                 "-- is the header row missing?")
            raise InputError(f"{path}: the header {name!r} appears twice {columns}")
        seen[name] = i
        out.append(name)
    return out


# ----------------------------------------------------------------------------- typed cells

def _cell_strings(col: pd.Series) -> pd.Series:
    """Turn a typed column (from XLSX or Parquet) into raw strings, blank for missing."""
    if pd.api.types.is_datetime64_any_dtype(col):
        out = col.dt.strftime("%Y-%m-%d %H:%M:%S")
    elif pd.api.types.is_bool_dtype(col):
        out = col.map({True: "true", False: "false"})
    elif pd.api.types.is_integer_dtype(col):
        out = col.astype("Int64").astype("string")
    elif pd.api.types.is_float_dtype(col):
        vals = col.to_numpy(dtype="float64", na_value=np.nan)
        integral = np.isfinite(vals) & (vals == np.round(vals))
        out = pd.Series([(f"{v:.0f}" if i else repr(float(v))) if not np.isnan(v) else None
                         for v, i in zip(vals, integral)], index=col.index, dtype="string")
    else:
        out = pd.Series([cell_text(v) for v in col], index=col.index, dtype="string")
    return out.astype(pd.StringDtype("pyarrow")).fillna("")


def cell_text(v) -> str | None:
    """One typed cell (XLSX / Parquet object column) as export text; None for missing.

    Datetimes (and dates) become ``YYYY-mm-dd HH:MM:SS``; integral floats lose
    their ``.0``; non-finite floats become ``inf`` / ``nan`` text (which the
    parsers flag as invalid); booleans ``True`` / ``False``.
    """
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, float):
        if np.isnan(v):
            return None
        return f"{v:.0f}" if np.isfinite(v) and v == int(v) else repr(v)
    if isinstance(v, pd.Timestamp) or hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def _typed_to_strings(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.shape[0] == 0:
        raise InputError(f"{path}: has a header but no data rows")
    header = [str(c).strip() if not (isinstance(c, str) and c.startswith("Unnamed:")) else ""
              for c in frame.columns]
    out = pd.DataFrame({f"c{i}": _cell_strings(frame.iloc[:, i]) for i in range(frame.shape[1])})
    out.columns = _unique_headers(path, header)
    return out


# ----------------------------------------------------------------------------- XLSX

class _OutOfBounds(Exception):
    """A cell beyond the column or row limit (raised inside the sheet parser)."""

    def __init__(self, coordinate: str):
        super().__init__(coordinate)
        self.coordinate = coordinate


def _sheet_parser_class():
    """openpyxl's worksheet parser, extended to note formula cells without a saved result
    and to stop at the first cell beyond :data:`MAX_COLUMNS` or Excel's last row.

    Written against openpyxl's (private) ``WorkSheetParser`` because its
    public readers pad every row to the sheet's declared dimension (one cell
    at ``XFD1048576`` makes 17 billion) and, with ``data_only=True``, return a
    formula without a saved result as a blank, indistinguishable from an
    empty cell.
    """
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet._reader import FORMULA_TAG, VALUE_TAG, WorkSheetParser

    class SheetParser(WorkSheetParser):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.uncached: list[str] = []  # first few cells
            self.n_uncached = 0

        def parse_cell(self, element):
            cell = super().parse_cell(element)
            row, column = cell["row"], cell["column"]
            if column > MAX_COLUMNS or row > EXCEL_MAX_ROWS:
                raise _OutOfBounds(f"{get_column_letter(min(column, 18278))}{row}")
            if element.find(FORMULA_TAG) is not None:
                saved = element.find(VALUE_TAG)
                textual = element.get("t", "n") in ("str", "s", "inlineStr")
                if saved is None or (not saved.text and not textual):
                    self.n_uncached += 1
                    if len(self.uncached) < 3:
                        self.uncached.append(f"{get_column_letter(column)}{row}")
            return cell

    return SheetParser


def _check_zip(path: Path, data: bytes) -> None:
    """Refuse a workbook whose members unpack to more than :func:`max_input_bytes` (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: cannot read the Excel workbook ({type(exc).__name__}); damaged "
                         "or not XLSX") from None
    limit = max_input_bytes()
    if unpacked > limit:
        raise InputError(f"{path}: the workbook unpacks to {unpacked:,} bytes, more than the "
                         f"{limit:,} an input may have (set {SIZE_ENV} to raise the limit)")


def _sheet_name(ws) -> str:
    return f"sheet {ws.title!r}" if quotable(ws.title) else "the first sheet"


def _check_declared(path: Path, ws) -> None:
    """Refuse a sheet whose declared dimension (``<dimension ref=...>``) is beyond the limits."""
    rows, cols = ws.max_row, ws.max_column
    if not rows or not cols:
        return
    if cols > MAX_COLUMNS or rows > EXCEL_MAX_ROWS or rows * cols > MAX_CELLS:
        raise InputError(f"{path}: {_sheet_name(ws)} declares {rows:,} rows x {cols:,} columns; an "
                         f"export may have at most {MAX_COLUMNS} columns and {MAX_CELLS:,} cells "
                         "(refused before loading; re-save the sheet with only its data)")


def _sheet_cells(path: Path, wb, ws) -> dict[int, list[tuple[int, object]]]:
    """Non-empty cells of a read-only sheet: row -> [(column, value)], checked against the limits."""
    parser_class = _sheet_parser_class()
    cells: dict[int, list[tuple[int, object]]] = {}
    n_cells = 0
    src = ws._get_source()  # openpyxl's own access to the sheet XML in the archive
    parser = parser_class(src, ws._shared_strings, data_only=True, epoch=wb.epoch,
                          date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
    try:
        with warnings.catch_warnings():
            # openpyxl warns (on stderr) for a date cell out of range and stores '#VALUE!',
            # which the date parser then flags as a row fault
            warnings.simplefilter("ignore")
            for _, row in parser.parse():
                for cell in row:
                    value = cell["value"]
                    if value is None or (isinstance(value, str) and value == ""):
                        continue
                    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                        raise InputError(f"{path}: {_sheet_name(ws)} cell "
                                         f"{_coordinate(cell)} holds {len(value):,} characters, more "
                                         f"than the {MAX_CELL_CHARS:,} a cell may have")
                    n_cells += 1
                    if n_cells > MAX_CELLS:
                        raise InputError(f"{path}: {_sheet_name(ws)} holds more than {MAX_CELLS:,} "
                                         "cells, more than an export may have")
                    cells.setdefault(cell["row"], []).append((cell["column"], value))
    except _OutOfBounds as exc:
        raise InputError(f"{path}: {_sheet_name(ws)} has a cell at {exc.coordinate}, beyond the "
                         f"{MAX_COLUMNS} columns an export may have (or Excel's last row); re-save "
                         "the sheet with only its data") from None
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- XML, number and date errors of a damaged sheet
        raise InputError(f"{path}: cannot read {_sheet_name(ws)} near row {parser.row_counter:,} "
                         f"({type(exc).__name__}); damaged workbook?") from None
    finally:
        src.close()
    if parser.n_uncached:
        more = f" and {parser.n_uncached - 1:,} more" if parser.n_uncached > 1 else ""
        raise InputError(f"{path}: {_sheet_name(ws)} cell {parser.uncached[0]}{more} holds a formula "
                         "whose result was never saved (the workbook was written by a program that "
                         "does not calculate); open and save it in Excel or LibreOffice, or export CSV")
    return cells


def _coordinate(cell: dict) -> str:
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(cell['column'])}{cell['row']}"


def read_xlsx(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """First sheet of a workbook as raw strings; dates become ``YYYY-mm-dd HH:MM:SS``.

    The first row with any value is the header; rows without any value are
    skipped (as blank CSV lines are); error cells keep their text
    (``#N/A``), so a date or answer holding one is a row fault, not a blank.

    Parameters
    ----------
    path : the workbook (named in messages).
    data : its bytes, when already read (default: read ``path``).
    """
    import openpyxl

    data = read_regular_file(path) if data is None else data
    _check_zip(path, data)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 -- openpyxl/zipfile raise many types for a damaged workbook
        raise InputError(f"{path}: cannot read the Excel workbook ({type(exc).__name__}); damaged or "
                         "not XLSX") from None
    try:
        if not wb.worksheets:
            raise InputError(f"{path}: the workbook has no worksheet")
        ws = wb.worksheets[0]
        _check_declared(path, ws)
        cells = _sheet_cells(path, wb, ws)
    finally:
        wb.close()
    if not cells:
        raise InputError(f"{path}: the first sheet is empty")
    rows = sorted(cells)
    width = max(c for r in rows for c, _ in cells[r])
    if len(rows) * width > MAX_CELLS:
        raise InputError(f"{path}: the first sheet spans {len(rows):,} rows x {width:,} columns, more "
                         f"than the {MAX_CELLS:,} cells an export may have")
    if len(rows) == 1:
        raise InputError(f"{path}: has a header but no data rows")
    header = [""] * width
    for c, v in cells[rows[0]]:
        header[c - 1] = (cell_text(v) or "").strip()
    columns: list[list[str]] = [[""] * (len(rows) - 1) for _ in range(width)]
    for i, r in enumerate(rows[1:]):
        for c, v in cells[r]:
            columns[c - 1][i] = cell_text(v) or ""
    frame = pd.DataFrame({f"c{j}": pd.array(col, dtype=pd.StringDtype("pyarrow"))
                          for j, col in enumerate(columns)})
    frame.columns = _unique_headers(path, header)
    return frame


# ----------------------------------------------------------------------------- Parquet

def _flat_type(t) -> bool:
    """True for Arrow types an export column may hold: text, numbers, booleans, dates, nulls."""
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(t):
        return _flat_type(t.value_type)
    return (pt.is_string(t) or pt.is_large_string(t) or getattr(pt, "is_string_view", lambda _: False)(t)
            or pt.is_integer(t) or pt.is_floating(t) or pt.is_boolean(t) or pt.is_timestamp(t)
            or pt.is_date(t) or pt.is_decimal(t) or t == pa.null())


def _is_text_type(t) -> bool:
    import pyarrow.types as pt

    if pt.is_dictionary(t):
        return _is_text_type(t.value_type)
    return pt.is_string(t) or pt.is_large_string(t) or getattr(pt, "is_string_view", lambda _: False)(t)


def read_parquet(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """A Parquet file as raw strings.

    The declared row and column counts (file metadata) are checked against
    :data:`MAX_CELLS` and :data:`MAX_COLUMNS` before any data is decoded; a
    nested (struct, list, map) or binary column is refused naming it; text
    must be valid UTF-8 and no cell longer than :data:`MAX_CELL_CHARS`.
    The pandas metadata a file may carry is ignored (it could name columns
    or types that are not there); pandas' stored index columns are dropped.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    data = read_regular_file(path) if data is None else data
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        fields = list(pf.schema_arrow)
        n_rows = pf.metadata.num_rows
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read the Parquet file ({type(exc).__name__}); damaged or "
                         "truncated?") from None
    fields = [f for f in fields if not re.fullmatch(r"__index_level_\d+__", f.name)]
    for j, f in enumerate(fields):
        if not _flat_type(f.type):
            kind = str(f.type)
            kind = kind if len(kind) <= 60 else kind[:57] + "..."
            raise InputError(f"{path}: {_column(j, f.name)} holds {kind} values, not text, numbers or "
                             "dates; an export column must be flat (one value per cell)")
    if len(fields) > MAX_COLUMNS or n_rows * max(len(fields), 1) > MAX_CELLS:
        raise InputError(f"{path}: declares {n_rows:,} rows x {len(fields):,} columns; an export may "
                         f"have at most {MAX_COLUMNS} columns and {MAX_CELLS:,} cells (refused before "
                         "loading)")
    try:
        table = pf.read(columns=[f.name for f in fields])
    except Exception as exc:  # noqa: BLE001 -- damaged pages
        raise InputError(f"{path}: cannot read the Parquet file ({type(exc).__name__}); damaged or "
                         "truncated?") from None
    for j, f in enumerate(fields):
        if not _is_text_type(f.type):
            continue
        col = table.column(j)
        try:
            col.validate(full=True)
        except pa.ArrowInvalid:
            raise InputError(f"{path}: {_column(j, f.name)} holds text that is not valid UTF-8") from None
        text = col.cast(pa.string()) if pa.types.is_dictionary(f.type) else col
        longest = pc.max(pc.utf8_length(text)).as_py() or 0
        if longest > MAX_CELL_CHARS:
            raise InputError(f"{path}: {_column(j, f.name)} holds a cell of {longest:,} characters, "
                             f"more than the {MAX_CELL_CHARS:,} a cell may have")
    try:
        frame = table.to_pandas(ignore_metadata=True)
    except Exception as exc:  # noqa: BLE001 -- values pandas cannot hold
        raise InputError(f"{path}: cannot read the Parquet file ({type(exc).__name__})") from None
    return _typed_to_strings(path, frame)


# ----------------------------------------------------------------------------- entry points

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
        caller can have it computed where a core is idle (ingest: while the accepted rows are
        typed). The same digest either way.

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


# ----------------------------------------------------------------------------- ingest outputs

def _kind_of(path: Path, what: str) -> str:
    """``survey`` or ``workorders``: which canonical schema an ingest output follows."""
    return "workorders" if "work" in path.name.lower() or "work" in what.lower() else "survey"


def _compatible(col: pd.Series, dtype: str) -> bool:
    """True when ``col`` can stand for a canonical column of ``dtype`` (research.ingestion.schema)."""
    api = pd.api.types
    if dtype == "string":
        if isinstance(col.dtype, pd.StringDtype):
            return True
        return col.dtype == object and api.infer_dtype(col, skipna=True) in ("string", "empty")
    if dtype.startswith("datetime64"):
        return api.is_datetime64_dtype(col.dtype)  # naive only: tz-aware is not the contract
    if dtype == "boolean":
        return api.is_bool_dtype(col.dtype) or (col.dtype == object and api.infer_dtype(
            col, skipna=True) in ("boolean", "empty"))
    if dtype in ("Int64", "int64"):
        if api.is_bool_dtype(col.dtype):
            return False
        if api.is_integer_dtype(col.dtype):
            return dtype == "Int64" or not col.isna().any()
        if api.is_float_dtype(col.dtype):
            vals = col.to_numpy(dtype="float64", na_value=np.nan)
            finite = vals[~np.isnan(vals)]
            return (dtype == "Int64" or len(finite) == len(vals)) and bool(
                np.all(np.isfinite(finite) & (finite == np.round(finite)) & (np.abs(finite) < 2**53)))
        return False
    if dtype == "float64":
        return (api.is_float_dtype(col.dtype) or api.is_integer_dtype(col.dtype)) and not api.is_bool_dtype(col.dtype)
    return False


def check_ingested(frame: pd.DataFrame, kind: str, path: Path, what: str) -> pd.DataFrame:
    """``frame`` with its canonical columns checked and typed as :mod:`research.ingestion.schema` says.

    Parameters
    ----------
    frame : a frame read from an ingest output.
    kind : ``"survey"`` (responses) or ``"workorders"``.
    path, what : named in messages.

    Returns
    -------
    The same frame (extra columns untouched), every canonical column cast to its dtype.

    Raises
    ------
    InputError
        A canonical column absent, or holding values of another type; the
        message names the file and the column.
    """
    from research.ingestion import schema

    columns = schema.SCHEMAS[kind]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: required column(s) absent: {', '.join(missing)} (the {what} file "
                         "'research ingest' writes has them; run 'research ingest' again)")
    out = frame
    for name, dtype in columns.items():
        col = frame[name]
        if isinstance(col, pd.DataFrame):
            raise InputError(f"{path}: column {name!r} appears twice in the {what} file")
        if str(col.dtype) == dtype:
            continue  # as ingest wrote it: nothing to check or copy
        bad = InputError(f"{path}: column {name!r} of the {what} file holds {col.dtype} values, "
                         f"expected {dtype} (as 'research ingest' writes it)")
        if not _compatible(col, dtype):
            raise bad
        if out is frame:
            out = frame.copy(deep=False)  # the caller's frame is left as it was
        try:
            out[name] = col.astype(dtype)
        except (TypeError, ValueError, OverflowError):
            raise bad from None
    return out


def read_ingested(path: Path, what: str, kind: str | None = None) -> pd.DataFrame:
    """Read one ingest output (``responses.parquet`` / ``workorders.parquet``) and check its schema.

    Parameters
    ----------
    path : the Parquet file.
    what : names it in messages ("responses", "work orders").
    kind : ``"survey"`` or ``"workorders"``; default from the file name or ``what``.

    Returns
    -------
    The frame, canonical columns typed as :mod:`research.ingestion.schema` says (see :func:`check_ingested`).

    Raises
    ------
    InputError
        Naming the file: absent ("run 'research ingest' first"), unreadable,
        not a regular file, or a canonical column absent or of the wrong type;
        or its folder, or that folder's parent (a build root), is marked incomplete
        by an interrupted run (:mod:`research.pipeline.buildstate`).
    """
    from research.pipeline.buildstate import refuse_incomplete

    path = Path(path)
    refuse_incomplete(path.parent, "ingest folder")
    refuse_incomplete(path.parent.parent, "build folder")
    if not path.exists():
        raise InputError(f"{path}: {what} file not found; run 'research ingest' first")
    data = read_regular_file(path)
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises several types for a damaged file
        raise InputError(f"{path}: cannot read the {what} ({type(exc).__name__}); damaged file?") from None
    return check_ingested(frame, kind or _kind_of(path, what), path, what)

