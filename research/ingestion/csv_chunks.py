"""A CSV export read in chunks of rows, each chunk parsed exactly as the whole file would be.

:func:`plan_csv` reads the file once in blocks (bounded memory): its sha256, its size, and the
encoding :func:`research.ingestion.csv_reader.read_csv` would find for the whole file (UTF-8 with
or without BOM, else GB18030, whose bytes are decoded chunk by chunk). :func:`csv_chunks` then yields the rows in chunks of about
``rows`` records: the body is cut at line ends outside quoted fields (a ``"`` count even since
the chunk began), each chunk is decoded to UTF-8 and parsed by
:func:`research.ingestion.csv_reader.read_csv_bytes` with the header line put in front, so
every value, every check of a cell and every refusal is that of the whole file; a message
naming a line or a data row is shifted to the file's own numbering.

GB18030 is cut at the same bytes: its multi-byte characters never hold the bytes of ``\\n`` or
``"``. A file this path does not take -- not a CSV, not a regular file or too large, UTF-16,
binary, lone CR line ends, no data row, a BOM before bytes that are not UTF-8 -- gets ``None`` from :func:`plan_csv`,
and the caller reads it whole (:func:`research.ingestion.readers.read_export`), which
refuses it or reads it with its own messages.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from research.errors import InputError
from research.ingestion.csv_reader import read_csv_bytes
from research.ingestion.files import MAX_COLUMNS, max_input_bytes

#: bytes read from the file at once
BLOCK_BYTES = 1 << 23
_BOM = b"\xef\xbb\xbf"
_NON_SPACE = re.compile(rb"\S")


@dataclass(frozen=True)
class CsvPlan:
    """What a first pass over a CSV export found (see :func:`plan_csv`)."""

    path: Path
    sha256: str
    size_bytes: int
    encoding: str  # utf-8 | utf-8-sig | gb18030
    header_end: int  # byte offset of the header line's LF in the file
    header_lines: int  # line ends up to and including the header's


def plan_csv(path: str | Path) -> CsvPlan | None:
    """One pass over the file: its sha256, size, encoding and header line; None when it is not
    a CSV this module reads in chunks (the module docstring says which)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_input_bytes() or info.st_size == 0:
        return None
    sha = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8, head, lone_cr, last = True, b"", False, b""
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK_BYTES):
            sha.update(block)
            if len(head) < 65536:
                head += block[:65536 - len(head)]
            lone_cr = lone_cr or _lone_cr(last + block)
            last = block[-1:]
            is_utf8 = is_utf8 and _decodes(utf8, block)
    is_utf8 = is_utf8 and _decodes(utf8, b"", final=True)
    if (head[:8].startswith((b"PK\x03\x04", b"PAR1", b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head
            or lone_cr or last == b"\r"):
        return None
    # as decode_csv_bytes decides for the whole file; GB18030 is decoded chunk by chunk (a byte
    # that does not decode is refused there, with its offset in the file)
    encoding = "utf-8-sig" if head.startswith(_BOM) and is_utf8 else "utf-8" if is_utf8 else (
        "gb18030" if not head.startswith(_BOM) else None)
    first = re.search(rb"\S", head[3:] if encoding == "utf-8-sig" else head)
    if encoding is None or first is None:
        return None
    start = first.start() + (3 if encoding == "utf-8-sig" else 0)
    end = head.find(b"\n", start)
    if end < 0 or head[:start].count(b'"') or head[start:end].count(b'"'):
        return None  # header beyond 64 KB, or quoted: read whole
    return CsvPlan(path, sha.hexdigest(), info.st_size, encoding, end, head.count(b"\n", 0, end + 1))


def _decodes(decoder, block: bytes, final: bool = False) -> bool:
    try:
        decoder.decode(block, final)
    except UnicodeDecodeError:
        return False
    return True


def _lone_cr(data: bytes) -> bool:
    """A CR not followed by LF (the old Mac line end, which the whole-file reader rewrites)."""
    return data.find(b"\r") >= 0 and data.count(b"\r") != data.count(b"\r\n") + data.endswith(b"\r")


def csv_chunks(plan: CsvPlan, rows: int) -> Iterator[tuple[pd.DataFrame, int]]:
    """The export's data rows in chunks of about ``rows`` lines: (all-string frame under the
    export's headers, as :func:`research.ingestion.readers.read_export` gives, and the number
    of data rows before the chunk).

    Raises
    ------
    InputError
        What reading the whole file would raise (lines and data rows numbered as in the file).
    """
    header_utf8 = b""
    done_rows, offset = 0, 0  # data rows and bytes of the file before the chunk
    for body in _bodies(plan, rows):
        first = offset == 0
        if first:  # the first chunk: from the file's start, as the whole file
            header_utf8 = _utf8(plan, body[:plan.header_end + 1], 0)
            data = _utf8(plan, body, 0)
        else:
            data = header_utf8 + _utf8(plan, body, offset)
        if _NON_SPACE.search(data, len(header_utf8)) is None:
            offset += len(body)
            continue  # blank lines only
        try:
            frame = read_csv_bytes(plan.path, data)
        except InputError as exc:  # lines counted only now: 0.7 s of 2.75M rows otherwise
            raise _shifted(exc, 0 if first else _lines_before(plan.path, offset) - 1, done_rows) from None
        if frame.shape[1] > MAX_COLUMNS:  # as read_export refuses it
            raise InputError(f"{plan.path}: {frame.shape[1]:,} columns, more than the {MAX_COLUMNS} "
                             "an export may have")
        yield frame, done_rows
        done_rows += len(frame)
        offset += len(body)


def _lines_before(path: Path, offset: int) -> int:
    """The line ends in the first ``offset`` bytes of the file."""
    count = 0
    with open(path, "rb") as fh:
        while offset > 0 and (block := fh.read(min(BLOCK_BYTES, offset))):
            count += block.count(b"\n")
            offset -= len(block)
    return count


def _utf8(plan: CsvPlan, data: bytes, offset: int) -> bytes:
    """The bytes of a piece starting at byte ``offset`` of the file, as UTF-8 without BOM.

    Raises
    ------
    InputError
        A GB18030 file's byte that does not decode, as the whole file's decoding says it
        (:func:`research.ingestion.encodings.decode_csv_bytes`; its offset in the file).
    """
    if plan.encoding == "gb18030":
        try:
            return data.decode("gb18030").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{plan.path}: neither UTF-8 nor GB18030 text (undecodable byte at "
                             f"offset {exc.start + offset}); binary or damaged file?") from None
    return data[3:] if plan.encoding == "utf-8-sig" and offset == 0 else data


def _shifted(exc: InputError, lines: int, rows: int) -> InputError:
    """``exc``'s message with the lines and data rows of a chunk numbered as in the file."""
    text = re.sub(r"\bline (\d+)", lambda m: f"line {int(m.group(1)) + lines}", str(exc))
    text = re.sub(r"\bdata row (\d+)", lambda m: f"data row {int(m.group(1)) + rows}", text)
    return InputError(text)


def _bodies(plan: CsvPlan, rows: int) -> Iterator[bytes]:
    """The file's bytes cut after every ``rows``-th line end outside quotes (the first piece
    also holds everything up to the header's line end)."""
    pending = bytearray()
    quotes, scanned, ends = 0, 0, 0  # quotes and record ends in pending[:scanned]
    skip = plan.header_end + 1  # the first piece: the lines up to the header's are no records
    with open(plan.path, "rb") as fh:
        while block := fh.read(BLOCK_BYTES):
            pending += block
            while True:
                view = np.frombuffer(pending, dtype=np.uint8)[scanned:]
                cut, found, in_view = _cut(view, quotes, rows - ends, max(0, skip - scanned))
                del view  # the buffer is resized below: no view of it may remain
                if cut is None:
                    quotes, ends, scanned = quotes + in_view, ends + found, len(pending)
                    break
                with memoryview(pending) as whole:
                    piece = bytes(whole[:scanned + cut])  # one copy
                del pending[:scanned + cut]
                quotes, scanned, ends, skip = 0, 0, 0, 0
                yield piece
    if pending:
        yield bytes(pending)


def _cut(view: np.ndarray, quotes_before: int, wanted: int, skip: int) -> tuple[int | None, int, int]:
    """In ``view`` (``quotes_before`` quotes since the chunk began): the offset just after the
    ``wanted``-th LF outside quotes from ``skip`` on (None when there are fewer), the LFs
    outside quotes found, and the quotes it holds."""
    quotes = np.flatnonzero(view == 34)
    lf = np.flatnonzero(view == 10)
    lf = lf[lf >= skip]
    if len(quotes) or quotes_before % 2:  # the quotes before each LF: even outside a quoted field
        lf = lf[(np.searchsorted(quotes, lf) + quotes_before) % 2 == 0]
    if len(lf) >= wanted:
        return int(lf[wanted - 1]) + 1, wanted, 0
    return None, len(lf), len(quotes)
