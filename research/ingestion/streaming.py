"""Ingest in chunks of rows with bounded memory: the in-memory ingest's results, chunk by chunk.

:func:`ingest_chunks` gives what :func:`research.ingestion.run.ingest` gives -- the same
accepted rows (every value, ``source_row`` included), the same rejected rows with the same
reasons and details, the same report -- but hands the accepted rows to ``sink`` a chunk at a
time instead of holding them (``research ingest --dataset`` writes them as parts). Every check
of a row depends on that row alone, except three, which are carried across chunks:

- **repeated ticket ids within a file**: a first pass reads the ticket ids of every row (a
  compact Arrow array, ~25 bytes a row); rows whose ticket id occurs more than once are held
  back from their chunk and checked together at the end
  (:func:`research.ingestion.duplicates._flag_duplicates` over all copies of each id), so
  ``duplicate`` and ``conflicting_duplicate`` are decided as in one piece;
- **survey rows without a work order**: the work orders are ingested first and the ticket ids
  of the accepted ones kept; a survey row whose id is not among them is ``no_workorder``;
- **counts of the report** (rows with each fault, warnings' counts, the responses' summary):
  summed over the chunks (:mod:`research.ingestion.stream_report`).

CSV exports are read in chunks (:mod:`research.ingestion.csv_chunks`); XLSX, Parquet and the
CSV files that module leaves out are read whole (:func:`research.ingestion.readers.read_export`),
then checked in chunks. The rejected rows (few) are kept in memory and returned.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.config.instrument import Instrument, load_instrument
from research.errors import InputError
from research.ingestion import schema
from research.ingestion.checks import _canonical_raw, _check, map_headers
from research.ingestion.csv_chunks import csv_chunks, plan_csv
from research.ingestion.duplicates import _flag_duplicates, _orphans, repeated
from research.ingestion.parse import parse_text
from research.ingestion.pseudonymise import load_key
from research.ingestion.readers import RawTable, read_export
from research.ingestion.rows import _accepted_frame, _rejected_frame
from research.ingestion.stream_report import FileTally, file_report, odd_status, overall_report
from research.ingestion.threads import arrow_pool

#: rows per chunk by default (``RESEARCH_INGEST_CHUNK_ROWS`` or the caller may say otherwise)
DEFAULT_CHUNK_ROWS = 200_000
CHUNK_ENV = "RESEARCH_INGEST_CHUNK_ROWS"
#: chunks of at least this many rows hand their memory back to the system once done (Arrow's
#: jemalloc and glibc keep freed pages: 1M rows in chunks of 500,000 peaked at 1.27 GB without,
#: 1.05 GB with); for smaller ones the garbage collection it takes costs more than it saves
_RELEASE_ROWS = 50_000
Progress = Callable[[str], None]
Sink = Callable[[str, pd.DataFrame], None]


def chunk_rows_in_force(rows: int | None = None) -> int:
    """``rows`` if given, else ``RESEARCH_INGEST_CHUNK_ROWS``, else :data:`DEFAULT_CHUNK_ROWS`.

    Raises
    ------
    InputError
        Not a whole number from 100 to 100,000,000.
    """
    text = str(rows) if rows is not None else os.environ.get(CHUNK_ENV, "").strip()
    if not text:
        return DEFAULT_CHUNK_ROWS
    if not (text.isascii() and text.isdigit()) or not 100 <= int(text) <= 100_000_000:
        raise InputError(f"chunk rows {text[:20]!r} ({CHUNK_ENV} or --chunk-rows): a whole number "
                         "from 100 to 100,000,000 is expected")
    return int(text)


@dataclass
class _Export:
    """One export as chunks of raw rows, readable twice (two passes)."""

    path: Path
    role: str
    chunk_rows: int
    format: str = "csv"
    encoding: str | None = None
    sha256: str = ""
    size_bytes: int = 0
    _plan: object = None
    _whole: RawTable | None = None
    header: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path, role: str, chunk_rows: int) -> _Export:
        path = Path(path)
        plan = plan_csv(path)
        if plan is not None:
            return cls(path, role, chunk_rows, "csv", plan.encoding, plan.sha256, plan.size_bytes, plan)
        raw = read_export(path)  # read whole: refused here with its own message, or read
        return cls(path, role, chunk_rows, raw.format, raw.encoding, raw.sha256, raw.size_bytes,
                   None, raw)

    def chunks(self) -> Iterator[tuple[RawTable, int]]:
        """(the chunk as a raw export, data rows before it)."""
        if self._whole is not None:
            frame = self._whole.frame
            pieces = ((frame.iloc[i:i + self.chunk_rows].reset_index(drop=True), i)
                      for i in range(0, len(frame), self.chunk_rows))
        else:
            pieces = csv_chunks(self._plan, self.chunk_rows)
        for piece, before in pieces:
            if not self.header:
                self.header = list(piece.columns)
            yield self.raw(piece), before
            if len(piece) >= _RELEASE_ROWS:  # the chunk's memory back to the system before the next
                del piece
                _release()

    def raw(self, frame: pd.DataFrame) -> RawTable:
        return RawTable(frame=frame, path=self.path, format=self.format, encoding=self.encoding,
                        digest=_Known(self.sha256), size_bytes=self.size_bytes)


def _release() -> None:
    """Freed memory back to the system: Arrow's pool and glibc's heap keep freed pages (as
    :func:`research.pipeline.workers.release_memory`, without its garbage collection, which
    took 70 ms a chunk and finds nothing here: the frames hold no reference cycles)."""
    import ctypes

    try:
        pa.default_memory_pool().release_unused()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError, NotImplementedError):  # not glibc, or a pool without it
        pass


class _Known:
    """A digest already computed (stands for :class:`research.ingestion.files.FileDigest`)."""

    def __init__(self, hexdigest: str):
        self._hex = hexdigest

    def hexdigest(self) -> str:
        return self._hex


def file_tickets(export: _Export, instrument: Instrument, progress: Progress | None) -> pa.Array:
    """The ticket id of every data row of ``export`` (stripped, <NA> when blank), as ingest
    reads it (:func:`research.ingestion.parse.parse_text`); the first pass."""
    fields = instrument.fields[export.role]
    parts = []
    for raw, before in export.chunks():
        mapping, _ = map_headers(raw, fields, export.role)
        ticket = _canonical_raw(raw, [f for f in fields if f.name == "ticket_id"], mapping)["ticket_id"]
        parts.extend(pa.chunked_array(pa.array(parse_text(ticket))).cast(pa.large_string()).chunks)
        _say(progress, f"{export.path.name}: ticket ids of rows {before + 1:,}-{before + len(raw.frame):,}")
    if not parts:
        raise InputError(f"{export.path}: has a header but no data rows")
    return pa.chunked_array(parts, pa.large_string()).combine_chunks()


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _checked_part(raw: RawTable, rows: np.ndarray, export: _Export, instrument: Instrument,
                  key: bytes, wo_ids: pa.Array | None, tickets: pa.Array, duplicates: bool):
    """One piece of an export checked, as ingest checks a whole file; ``rows``: the 0-based data
    row of the file of each of its rows; ``tickets``: the file's ticket ids (first pass). Returns (accepted frame, rejected frame, checked,
    warnings), ``source_row`` numbered as in the file."""
    checked = _check(raw, export.role, instrument, key)
    if duplicates:
        _flag_duplicates(checked)
    if wo_ids is not None:
        # the work orders' ids narrowed to this piece's (the ticket ids of the first pass, the same
        # values): Arrow builds its hash set of the smaller side, not of every work order again
        mine = pc.drop_null(tickets.take(pa.array(rows)))
        orphan = _orphans(checked.parsed["ticket_id"], wo_ids.filter(pc.is_in(wo_ids, value_set=mine)))
        if orphan.any():
            checked.faults["no_workorder"] |= orphan
            checked.details.append(("no_workorder", "ticket_id", orphan))
    fields = instrument.fields[export.role]
    accepted, warnings = _accepted_frame(checked, export.role, instrument, key, fields)
    rejected = _rejected_frame(checked, export.role, instrument, key, fields)
    accepted["source_row"] = rows[accepted["source_row"].to_numpy() - 1] + 1
    if len(rejected):
        rejected["source_row"] = rows[rejected["source_row"].to_numpy() - 1] + 1
    return accepted, rejected, checked, warnings


def _stream_file(export: _Export, tickets: pa.Array, wo_ids: pa.Array | None, tally: FileTally,
                 key: bytes, sink: Sink, progress: Progress | None) -> FileTally:
    """The second pass over one export: each chunk checked without the rows whose ticket id
    repeats, those held back and checked together at the end. Accepted rows go to ``sink``."""
    held_back = repeated(pa.chunked_array([tickets]))
    instrument = tally.instrument
    held, held_rows = [], []
    for raw, before in export.chunks():
        rows = before + np.arange(len(raw.frame))
        back = held_back[rows]
        if back.any():
            held.append(raw.frame[back])
            held_rows.append(rows[back])
        if not back.all():
            keep = ~back
            piece = export.raw(raw.frame[keep].reset_index(drop=True)) if back.any() else raw
            tally.add(piece, *_checked_part(piece, rows[keep], export, instrument, key, wo_ids,
                                            tickets, duplicates=False), sink=sink)
        _say(progress, f"{export.path.name}: rows {before + 1:,}-{before + len(raw.frame):,} checked")
    if held:
        piece = export.raw(pd.concat(held, ignore_index=True))
        tally.add(piece, *_checked_part(piece, np.concatenate(held_rows), export, instrument, key,
                                        wo_ids, tickets, duplicates=True), sink=sink)
    return tally


def ingest_chunks(survey: str | Path, workorders: str | Path | None = None, *, sink: Sink,
                  instrument: Instrument | None = None, key: bytes | None = None,
                  chunk_rows: int | None = None, progress: Progress | None = None,
                  before_writing: Callable[[dict[str, pa.Array]], None] | None = None,
                  ) -> tuple[dict, pd.DataFrame]:
    """Ingest the exports chunk by chunk (see the module docstring).

    Parameters
    ----------
    survey, workorders : as for :func:`research.ingestion.run.ingest`.
    sink : called with (``"survey"`` or ``"workorders"``, accepted rows of one chunk) as each
        chunk is done, work orders first; the frames are canonical, as ingest's.
    chunk_rows : rows per chunk (:func:`chunk_rows_in_force`).
    before_writing : called, before the first row reaches ``sink``, with role -> the ticket id
        of every row of that export (the first pass): it may refuse the ingest.

    Returns
    -------
    (report, rejected rows): :func:`research.ingestion.run.ingest`'s ``report`` and ``rejected``.
    """
    instrument = instrument if instrument is not None else load_instrument()
    for kind in ("survey", "workorders"):
        schema.canonical(instrument, kind)
    key = key if key is not None else load_key()
    rows = chunk_rows_in_force(chunk_rows)
    with arrow_pool():
        exports = [_Export.open(path, role, rows) for role, path in
                   (("workorders", workorders), ("survey", survey)) if path is not None]
        tickets = {e.role: file_tickets(e, instrument, progress) for e in exports}
        if before_writing is not None:
            before_writing(tickets)
        tallies, wo_ids, odd = {}, None, None
        for export in exports:
            accepted = []  # the accepted work orders' ids and survey status

            def keep(role: str, frame: pd.DataFrame) -> None:
                if role == "workorders":
                    accepted.append(frame[["ticket_id", "survey_status"]])
                sink(role, frame)

            tally = FileTally(export, instrument, odd_status=odd)
            tallies[export.role] = _stream_file(export, tickets[export.role], wo_ids, tally, key,
                                                keep, progress)
            if export.role == "workorders":
                wo = (pd.concat(accepted, ignore_index=True) if accepted else
                      pd.DataFrame({"ticket_id": pd.array([], "string"), "survey_status": pd.array([], "string")}))
                wo_ids = pc.unique(pa.array(wo["ticket_id"]).cast(pa.large_string()))
                odd = odd_status(wo)
    return _reports(tallies, key, instrument)


def _reports(tallies: dict, key: bytes, instrument: Instrument) -> tuple[dict, pd.DataFrame]:
    """The report and the rejected rows of the tallies, survey first."""
    survey = tallies["survey"]
    files = [file_report(survey, status="workorders" in tallies)]
    rejected = [survey.rejected_frame()]
    if "workorders" in tallies:
        files.append(file_report(tallies["workorders"]))
        rejected.append(tallies["workorders"].rejected_frame())
    parts = [p for p in rejected if len(p)]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["file", "source_row", "reason", "reasons", "detail"])
    return overall_report(files, survey, key, instrument), frame
