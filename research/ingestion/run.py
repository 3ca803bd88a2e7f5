"""Ingest: raw exports in, validated and pseudonymised canonical frames out, nothing lost.

Every data row read is either accepted (into ``responses`` / ``workorders``)
or rejected with a reason code and its raw values; ``rows read = accepted +
rejected`` always, and the report says so per file.

Row faults (reason codes, in the precedence used for the primary ``reason``):

================================  =====================================================
``conflicting_duplicate``         rows share a ticket_id but differ: all are rejected
``duplicate``                     identical copy of an earlier row (the first is kept)
``missing_required``              a required field is blank
``invalid_datetime``              a date not in a known style nor an Excel serial, an impossible date
                                  or a second of 60 or 61, or outside 1900-2200
``unknown_label``                 a label not in the instrument (channel, cause, ...)
``invalid_answer``                a satisfaction answer outside the scale, not a missing code
``invalid_count``                 repeat_calls not a whole number in 0..10,000
``invalid_text``                  a control character in an id, name or label (not the comment)
``cause_mismatch``                the sub-cause does not belong to the cause group
``time_order``                    resolved before created, or surveyed before resolved
``no_workorder``                  survey row without an accepted work order (when given)
================================  =====================================================

File faults (unreadable, empty, binary, truncated, a required column absent,
two columns naming the same field) raise :class:`research.errors.InputError`.

One module per job, every name importable from here as before (issue 13):
:mod:`research.ingestion.faults` (the reason codes), :mod:`research.ingestion.checks`
(row checks), :mod:`research.ingestion.duplicates` (repeated ticket ids, survey rows
without a work order), :mod:`research.ingestion.rows` (the accepted and rejected frames),
:mod:`research.ingestion.report` (the per-file and overall report) and
:mod:`research.ingestion.threads` (the second thread and Arrow's memory pool); this
module runs them (:func:`ingest`) and writes the outputs (:func:`write_ingest`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.config.instrument import Instrument, load_instrument
from research.ingestion import schema
# the names below were defined here before issue 13; they stay importable from this module
from research.ingestion.checks import (_canonical_raw, _cause_mismatch, _check,  # noqa: F401
                                       _column_warnings, _control_chars, _flag_faults, _isna,
                                       _parse_fields, _read_field, map_headers)
from research.ingestion.duplicates import (_flag_duplicates, _orphans,  # noqa: F401
                                           _repeated_by_hash, repeated)
from research.ingestion.faults import _TRACE_FIELD, REASONS, _Checked  # noqa: F401
from research.ingestion.pseudonymise import load_key
from research.ingestion.files import FileDigest
from research.ingestion.readers import RawTable, read_export
from research.ingestion.report import (_file_report, _ignored_headers,  # noqa: F401
                                       _overall_report, format_report)
from research.ingestion.rows import (_OWN_MASK, _accepted_frame, _blank,  # noqa: F401
                                     _is_free_text, _personal_values, _rejected_frame,
                                     _rejected_rows, _rejected_table, _select, own_rows)
from research.ingestion.threads import (_POOL_LOCK, _POOL_USERS, _InOrder,  # noqa: F401
                                        _second_thread, arrow_pool)

Progress = Callable[[str], None]


class _Later:
    """A value made by ``make()`` when first read (see :class:`_MadeWhenRead`)."""

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


_LATER_LOCK = threading.Lock()


class _MadeWhenRead:
    """A dataclass field that may be given as a :class:`_Later`: made on first read, then kept
    (so two threads reading it at once make it once). Reading it always gives the value.
    ``default``: a :class:`_Later` that makes the field's default, or None for no default."""

    def __init__(self, default: _Later | None = None) -> None:
        self._default = default

    def __set_name__(self, owner, name: str) -> None:
        self._slot = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:
            if self._default is None:
                raise AttributeError(self._slot)  # the field has no default
            return self._default
        value = obj.__dict__[self._slot]
        if isinstance(value, _Later):
            with _LATER_LOCK:
                value = obj.__dict__[self._slot]
                if isinstance(value, _Later):
                    value = obj.__dict__[self._slot] = value.make()
        return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self._slot] = value


@dataclass
class IngestResult:
    """What :func:`ingest` returns.

    responses : canonical survey responses (:data:`research.ingestion.schema.RESPONSES`).
    workorders : canonical work orders (:data:`research.ingestion.schema.WORKORDERS`), or None.
    rejected : one row per rejected row: ``file`` (survey / workorders),
        ``source_row`` (1-based data row), ``reason`` (primary code),
        ``reasons`` (all codes, ``;``-separated), ``detail`` (which column
        held which value), then the raw values under canonical column names
        (customer_id pseudonymised, phone dropped, comment masked). :func:`ingest` gives it
        as a :class:`_Later`: the rows are taken at once, their masking is done when
        ``rejected`` is first read -- by :func:`write_ingest`, while a second thread encodes
        the responses' Parquet (the report's counts do not need it).
    report : the ingest report (JSON-serialisable dict). :func:`ingest` gives it as a
        :class:`_Later` too: the files' sha256 (``report["files"][i]["sha256"]``) are computed
        when it is first read -- by :func:`write_ingest` in the same way -- and each file's
        bytes are kept until then.
    """

    responses: pd.DataFrame
    workorders: pd.DataFrame | None
    rejected: pd.DataFrame = _MadeWhenRead()
    report: dict = _MadeWhenRead(default=_Later(dict))


def _stage(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def ingest(survey: str | Path, workorders: str | Path | None = None, *,
           instrument: Instrument | None = None, key: bytes | None = None,
           progress: Progress | None = None) -> IngestResult:
    """Validate, pseudonymise and derive: raw exports in, canonical frames out.

    Parameters
    ----------
    survey : path of the survey export (CSV, XLSX or Parquet).
    workorders : path of the work-order export, optional. When given, its rows
        are ingested too, and survey rows whose ticket_id is not among the
        accepted work orders are rejected as ``no_workorder``.
    instrument : default :func:`research.config.instrument.load_instrument`.
    key : pseudonymisation key; default :func:`research.ingestion.pseudonymise.load_key`.
    progress : called with a short message as each step starts.

    Returns
    -------
    IngestResult

    Raises
    ------
    InputError
        A file fault (see the module docstring) or a broken instrument.
    """
    with arrow_pool():
        return _ingest(survey, workorders, instrument=instrument, key=key, progress=progress)


def _ingest(survey: str | Path, workorders: str | Path | None, *, instrument: Instrument | None,
            key: bytes | None, progress: Progress | None) -> IngestResult:
    """:func:`ingest`, once Arrow's memory pool is set: the work orders first (when given), so
    that survey rows can be matched with them, then the survey."""
    instrument = instrument if instrument is not None else load_instrument()
    for kind in ("survey", "workorders"):  # a contract the code cannot work with: said before any read
        schema.canonical(instrument, kind)
    key = key if key is not None else load_key()
    files, rejected_parts, digests = [], [], []
    wo_frame = None
    wo_ids = None
    if workorders is not None:
        wo_frame, rej, report, digest = _workorders(workorders, instrument, key, progress)
        files.append(report)
        rejected_parts.append(rej)
        digests.append(digest)
        wo_ids = pc.unique(pa.chunked_array(pa.array(wo_frame["ticket_id"])))
    responses, rej, report, digest = _survey(survey, wo_ids, instrument, key, progress)
    files.insert(0, report)
    rejected_parts.insert(0, rej)
    digests.insert(0, digest)
    if wo_frame is not None:
        status = responses[["ticket_id"]].merge(wo_frame[["ticket_id", "survey_status"]],
                                                on="ticket_id", how="left")["survey_status"]
        odd = int((status != "completed").fillna(False).sum())
        if odd:
            files[0]["warnings"].append(f"{odd} accepted survey rows belong to work orders whose "
                                        "survey status is not 'completed'")
    return IngestResult(responses=responses, workorders=wo_frame, rejected=_Later(
                            partial(_all_rejected, rejected_parts)), report=_Later(
                            partial(_hashed, _overall_report(files, responses, key, instrument), digests)))


def _hashed(report: dict, digests: list) -> dict:
    """``report`` with each file's sha256 (``digests``: the files' :class:`research.ingestion.files.FileDigest`,
    survey first) computed and put in its place."""
    for file, digest in zip(report["files"], digests):
        file["sha256"] = digest.hexdigest()
    return report


def _all_rejected(parts: list[_Later]) -> pd.DataFrame:
    """The rejected rows of every file (survey first), made from each file's :class:`_Later`."""
    frames = [frame for frame in (part.make() for part in parts) if len(frame)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["file", "source_row", "reason", "reasons", "detail"])


def _workorders(path: str | Path, instrument: Instrument, key: bytes,
                progress: Progress | None) -> tuple[pd.DataFrame, _Later, dict, FileDigest]:
    """The work-order export read and checked: (accepted work orders, rejected rows, file report
    without its sha256, the file's digest)."""
    _stage(progress, f"reading work orders {Path(path).name}")
    raw = read_export(path, hash_now=False)  # hashed when the report is first read
    _stage(progress, f"validating {len(raw.frame):,} work orders")
    checked = _check(raw, "workorders", instrument, key, duplicates=True)
    return _accept_and_reject(raw, checked, "workorders", instrument, key)


def _survey(path: str | Path, wo_ids: pa.Array | None, instrument: Instrument, key: bytes,
            progress: Progress | None) -> tuple[pd.DataFrame, _Later, dict, FileDigest]:
    """The survey export read and checked: (accepted responses, rejected rows, file report
    without its sha256, the file's digest).
    With ``wo_ids`` (the accepted work orders' ticket ids), a row whose ticket id is not
    among them is rejected as ``no_workorder``."""
    _stage(progress, f"reading survey {Path(path).name}")
    raw = read_export(path, hash_now=False)  # hashed when the report is first read
    _stage(progress, f"validating {len(raw.frame):,} survey rows")
    checked = _check(raw, "survey", instrument, key, duplicates=True)
    if wo_ids is not None:
        ticket = checked.parsed["ticket_id"]
        orphan = _orphans(ticket, wo_ids)
        if orphan.any():
            checked.faults["no_workorder"] |= orphan
            checked.details.append(("no_workorder", "ticket_id", orphan))
    _stage(progress, "pseudonymising and deriving fields")
    return _accept_and_reject(raw, checked, "survey", instrument, key)


def _accept_and_reject(raw: RawTable, checked: _Checked, kind: str, instrument: Instrument,
                       key: bytes) -> tuple[pd.DataFrame, _Later, dict, FileDigest]:
    """(accepted frame, rejected frame to make, file report without its sha256, the file's
    digest) of one checked export. The rejected rows are taken by the other thread once it has
    typed the accepted ones, while this one masks their free text
    (:func:`research.ingestion.rows._accepted_frame`); their frame
    (:func:`research.ingestion.rows._rejected_table`) is made, and the file hashed, when first
    read (:class:`IngestResult`)."""
    fields = instrument.fields[kind]
    made = {}
    accepted, warnings = _accepted_frame(checked, kind, instrument, key, fields, alongside=lambda: (
        made.update(rej=_rejected_rows(checked))))
    rows = made["rej"]
    # the report counts the rejected rows by primary reason: their frame is not needed for it
    report = _file_report(raw, kind, checked, len(accepted), pd.DataFrame({"reason": rows.primary}),
                          warnings, hashed=False)
    return accepted, _Later(partial(_rejected_table, rows, kind, key, fields)), report, raw.digest


#: output columns whose values are (nearly) all different: written without a Parquet dictionary
_UNIQUE_COLUMNS = frozenset({"ticket_id", "customer_id", "created_at", "resolved_at", "surveyed_at",
                             "sla_deadline", "source_row"})

def write_ingest(result: IngestResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``responses.parquet``, ``workorders.parquet`` (if any), ``rejected.csv``
    (UTF-8 with BOM, so Excel shows Chinese) and ``ingest_report.json``.

    Returns the paths written, by name.

    Crash-safe: each file is written atomically (a temporary file renamed into place), the
    folder carries the incomplete marker (:mod:`research.pipeline.buildstate`) while its files are
    being replaced, and the report is written last; readers (:func:`research.ingestion.readers.read_ingested`)
    refuse a marked folder, so a killed ingest never pairs new responses with old work orders.
    ``rejected.csv`` has its formula-like text cells neutralised (:mod:`research.safeio`).
    """
    from research.pipeline.buildstate import marked_incomplete
    from research.safeio import atomic_write_parquet, atomic_write_text, write_csv

    def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
        # dictionary pages only for columns that repeat values: for ids, row numbers and
        # datetimes Arrow would fill a dictionary page, give it up and write plain values
        # (1M rows: a third less CPU, a slightly smaller file, the same values read back)
        dictionary = [c for c in frame.columns if c not in _UNIQUE_COLUMNS]
        # min/max statistics only for the numbers, datetimes and flags: for text columns they
        # cost a comparison of every string (1M rows: 0.1 s, a sixth of the write) and say
        # nothing a reader of these files uses (one row group; no reader filters on them)
        stats = [c for c in frame.columns if not isinstance(frame[c].dtype, pd.StringDtype)]
        return atomic_write_parquet(frame, path, use_dictionary=dictionary, write_statistics=stats)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    # Arrow encodes Parquet without the GIL: the responses are written by a second thread while
    # this one writes the work orders and makes the rejected rows' CSV text (Python). The report
    # is written last, once both are done; a failure in either leaves the folder marked.
    with marked_incomplete(out), arrow_pool(), _second_thread() as pool:
        # (should this thread fail, leaving the pool waits for the other before the folder's marker
        # is looked at)
        responses = pool.submit(write_parquet, result.responses, out / "responses.parquet")
        if result.workorders is not None:
            workorders = write_parquet(result.workorders, out / "workorders.parquet")
        elif (out / "workorders.parquet").exists():
            (out / "workorders.parquet").unlink()  # stale from an earlier run with work orders
        rejected = write_csv(result.rejected, out / "rejected.csv", bom=True)
        report = result.report  # (the files are hashed here, while the responses are encoded)
        written["responses"] = responses.result()
        if result.workorders is not None:
            written["workorders"] = workorders
        written["rejected"] = rejected
        text = json.dumps(report, ensure_ascii=False, indent=2, sort_keys=False)
        written["report"] = atomic_write_text(out / "ingest_report.json", text + "\n")
    return written


def timed(progress: Progress) -> Progress:
    """Wrap a progress printer so each message shows the seconds since the first."""
    start = time.perf_counter()

    def show(message: str) -> None:
        progress(f"[{time.perf_counter() - start:6.1f}s] {message}")

    return show
