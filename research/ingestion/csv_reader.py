"""A CSV export as an all-string frame, read by Arrow, with every fault named by its line.

Comma, tab, semicolon or pipe separated (told from the header line); LF,
CRLF, CR or mixed line ends. A quoted field that runs over many lines or
holds what look like whole records (an unterminated ``"`` swallowing the rows
after it) stops the read with the line where that record starts; so does a
row with the wrong number of fields or a cell longer than
:data:`~research.ingestion.files.MAX_CELL_CHARS`. Messages name lines and
columns and never quote a row (docs/input_contract.md, *Files: formats,
encodings, limits*).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from research.errors import InputError
from research.ingestion.encodings import _first_mb, decode_csv_bytes, normalise_line_ends
from research.ingestion.files import MAX_CELL_CHARS, MAX_COLUMNS
from research.ingestion.headers import _column, _unique_headers

_DELIMITERS = (",", "\t", ";", "|")
_DELIMITER_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons", "|": "pipes"}
_NON_SPACE = re.compile(rb"\S")

#: the most line breaks one quoted CSV field may hold before it is taken for an unterminated quote
MAX_FIELD_LINES = 100
#: the longest first line (header) of a CSV, in bytes
MAX_HEADER_BYTES = 100_000
#: bytes of CSV Arrow parses per block (16 MB blocks read a 1M-row export about 30% slower)
CSV_BLOCK_BYTES = 1 << 22
#: Arrow refuses a record spanning more than two blocks; a file with one is read again in
#: blocks of this size, so records of up to 16 MB are read as before
CSV_MAX_RECORD_BYTES = 1 << 24


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


@dataclass(frozen=True)
class _HeaderLine:
    """Where the header line of CSV bytes is and what it says."""

    start: int  # byte offset of its first byte
    end: int  # byte offset of its line end (the length of the data when it has none)
    number: int  # its line number, 1-based
    delimiter: str
    names: list[str]  # the headers, stripped, in order


def _header_line(path: Path, data: bytes) -> _HeaderLine:
    """The first non-blank line of ``data`` (UTF-8, LF or CRLF line ends), checked and split.

    Raises
    ------
    InputError
        Nothing but white space; a header line longer than
        :data:`MAX_HEADER_BYTES` bytes; more than :data:`MAX_COLUMNS` columns.
    """
    first = _NON_SPACE.search(data)
    if first is None:
        raise InputError(f"{path}: the file is empty")
    start = data.rfind(b"\n", 0, first.start()) + 1  # the header line starts here
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    number = data.count(b"\n", 0, start) + 1
    if end - start > MAX_HEADER_BYTES:
        raise InputError(f"{path}: line {number}, the header, is {end - start:,} bytes long, more "
                         f"than the {MAX_HEADER_BYTES:,} a header row may have (not a CSV export?)")
    first_line = data[start:end].decode("utf-8").rstrip("\r")
    delimiter = _sniff_delimiter(first_line)
    header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    header = [h.strip() for h in header]
    if len(header) > MAX_COLUMNS:
        raise InputError(f"{path}: line {number}, the header, has {len(header):,} columns, more "
                         f"than the {MAX_COLUMNS} an export may have")
    return _HeaderLine(start=start, end=end, number=number, delimiter=delimiter, names=header)


class _BadRows:
    """Arrow's invalid-row handler for one parse: skips every row with the wrong number of
    fields and keeps, in :attr:`first`, a sentence about the first one (its line, never its
    text: it holds customer ids and phone numbers), None while there is none.

    ``data`` is the whole UTF-8 file, ``header`` its header line.
    """

    def __init__(self, data: bytes, header: _HeaderLine) -> None:
        self.data, self.header = data, header
        self.first: str | None = None

    def __call__(self, row) -> str:
        if self.first is None:
            number = row.number
            if number is None:  # unknown when quoted fields may hold newlines: find the text
                at = self.data.find(row.text.encode("utf-8"), self.header.end)
                number = self.data.count(b"\n", 0, at) + 1 if at >= 0 else None
            where = f"line {number}" if number is not None else "a row"
            hint = ("; a quote opened on that line may never close" if "\n" in row.text else
                    f"; is every line separated by {_DELIMITER_NAMES[self.header.delimiter]}, as "
                    "the header is?")
            self.first = (f"{where} has {row.actual_columns} fields, the header has "
                          f"{row.expected_columns}{hint}")
        return "skip"


def _parse_records(path: Path, data: bytes, header: _HeaderLine, quoted: bool):
    """Arrow's parse of the records after the header line.

    Parameters
    ----------
    data : the whole UTF-8 file (LF or CRLF line ends).
    header : its header line (:func:`_header_line`).
    quoted : whether a ``"`` follows the header: without one, Arrow splits records at line
        ends without tracking quotes (30% less work, the same table).

    Returns
    -------
    (table, bad) : a ``pyarrow.Table`` of ``large_string`` columns ``c0, c1, ...`` (blank cells
    ``""``, rows with the wrong number of fields left out), and the sentence about the first
    such row (:class:`_BadRows`), or None.

    Raises
    ------
    InputError
        A record Arrow cannot split even in blocks of :data:`CSV_MAX_RECORD_BYTES`.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(len(header.names))]
    body = pa.py_buffer(data).slice(min(header.end + 1, len(data)))  # no copy

    def parse(block_size: int):
        bad = _BadRows(data, header)
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=block_size),
            parse_options=pacsv.ParseOptions(delimiter=header.delimiter, newlines_in_values=quoted,
                                             invalid_row_handler=bad),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.large_string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        return table, bad.first

    try:
        try:
            return parse(CSV_BLOCK_BYTES)  # blocks of the size Arrow reads fastest
        except pa.ArrowInvalid:
            # a record longer than a block (or a damaged file): read again in blocks as large as
            # a record may be, so that only a record Arrow cannot split at all is refused
            return parse(CSV_MAX_RECORD_BYTES)
    except pa.ArrowInvalid:
        # Arrow's message quotes the offending text, so it is not shown
        raise InputError(f"{path}: malformed CSV (a record Arrow cannot split, e.g. a field longer "
                         "than 16 MB or an unterminated quote); truncated or damaged file?") from None


def read_csv_bytes(path: Path, data: bytes) -> pd.DataFrame:
    """Parse UTF-8 CSV bytes into an all-string frame (blank cells ``""``).

    Line ends may be LF, CRLF, CR or a mix. Raises InputError, naming the
    line and never quoting it, for a row with the wrong number of fields, a
    quoted field that swallows the rows after it, a cell longer than
    :data:`MAX_CELL_CHARS` or more than :data:`MAX_COLUMNS` columns.

    Steps: line ends (:func:`normalise_line_ends`), the header line
    (:func:`_header_line`), Arrow's parse (:func:`_parse_records`), the cells
    (:func:`_check_csv_cells`), the frame under the export's headers.
    """
    import pyarrow as pa

    data = normalise_line_ends(data)
    header = _header_line(path, data)
    if _NON_SPACE.search(data, header.end) is None:
        raise InputError(f"{path}: has a header but no data rows")
    quoted = data.find(b'"', header.end) >= 0
    table, bad_row = _parse_records(path, data, header, quoted)
    if bad_row is not None:
        raise InputError(f"{path}: {bad_row} (truncated or malformed file)")
    if table.num_rows == 0:
        raise InputError(f"{path}: has a header but no data rows")
    _check_csv_cells(path, table, header.names, header.delimiter, data,
                     min(header.end + 1, len(data)), header.number, quoted)
    # large_string, as pandas holds Arrow text: no conversion of the 1M-row columns
    frame = table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow")}.get)
    frame.columns = _unique_headers(path, header.names)
    return frame


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
