"""The ingest report: per file (rows read = accepted + rejected, by reason; columns mapped,
ignored and absent; warnings), over all files, and as a short text for the terminal.

The report is the JSON-serialisable dict written as ``ingest_report.json``
(README.md, *Ingest: nothing lost, nothing personal*).
"""

from __future__ import annotations

import pandas as pd

from research.config.instrument import Instrument
from research.ingestion.faults import REASONS, _Checked
from research.ingestion.pseudonymise import key_id
from research.ingestion.readers import RawTable, quotable

def _file_report(raw: RawTable, role: str, checked: _Checked, accepted: int,
                 rejected: pd.DataFrame, warnings: list[str], hashed: bool = True) -> dict:
    """The report of one export file.

    Parameters
    ----------
    raw, checked : the export as read and as checked.
    role : ``"survey"`` or ``"workorders"``.
    accepted : how many of its rows were accepted.
    rejected : its rejected rows (:func:`research.ingestion.rows._rejected_frame`).
    warnings : warnings beyond the checks' (from deriving the fields).
    hashed : False: ``sha256`` is None, for the caller to fill in later (the file is not
        hashed here).

    Returns
    -------
    Name, format, encoding, size and sha256 of the file; rows read, accepted and rejected
    (``reconciled``: read = accepted + rejected), rejected rows by primary reason, rows with
    each fault, the columns mapped, ignored and absent, and the warnings.

    Raises
    ------
    RuntimeError
        Rows lost (cannot happen: every row is accepted or rejected).
    """
    by_reason = {r: 0 for r in REASONS}
    any_reason = {r: int(m.sum()) for r, m in checked.faults.items()}
    if len(rejected):
        for r, c in rejected["reason"].value_counts().items():
            by_reason[r] = int(c)
    rows = len(raw.frame)
    report = {
        "role": role,
        "file": raw.path.name,
        "format": raw.format,
        "encoding": raw.encoding,
        "size_bytes": raw.size_bytes,
        "sha256": raw.sha256 if hashed else None,
        "rows_read": rows,
        "accepted": accepted,
        "rejected": len(rejected),
        "reconciled": rows == accepted + len(rejected),
        "rejected_by_reason": by_reason,
        "rows_with_fault": any_reason,
        "columns": {"mapped": checked.columns["mapped"], "ignored": _ignored_headers(raw, checked),
                    "absent_optional": checked.columns["absent_optional"]},
        "warnings": checked.warnings + warnings,
    }
    if report["rows_read"] != accepted + len(rejected):  # cannot happen: every row is one or the other
        raise RuntimeError(f"{raw.path}: ingest lost rows ({rows} read, {accepted} accepted, "
                           f"{len(rejected)} rejected)")
    return report



def _ignored_headers(raw: RawTable, checked: _Checked) -> list[str]:
    """The headers of the export's columns that no field of the contract names, for the report:
    by header text, never a cell's value; a header that looks like data (a first row of data
    read as the header: :func:`research.ingestion.readers.quotable`) is named by its position."""
    position = {h: i + 1 for i, h in enumerate(raw.frame.columns)}
    return [h if quotable(h) else f"(column {position[h]}: its header looks like data, not quoted)"
            for h in checked.columns["ignored"]]


def _overall_report(files: list[dict], responses: pd.DataFrame, key: bytes,
                    instrument: Instrument) -> dict:
    """The ingest report: the per-file reports ``files`` (survey first), their totals, the
    accepted responses' count, missing overall answers and unweighted satisfied rate, the
    reason codes in zh and en, the pseudonym key's id and the instrument folder's name."""
    missing_overall = int(responses["sat_overall"].isna().sum())
    rate = (float(responses["satisfied"].mean())
            if len(responses) and missing_overall < len(responses) else None)
    return report_of(files, len(responses), missing_overall, rate, key, instrument)


def report_of(files: list[dict], rows: int, sat_overall_missing: int, satisfied_rate: float | None,
              key: bytes, instrument: Instrument) -> dict:
    """The ingest report from its parts (:func:`_overall_report` of the frames, or of the
    streaming ingest's tallies, :func:`research.ingestion.stream_report.overall_report`): the
    same keys in the same order either way."""
    return {
        "files": files,
        "rows_read": sum(f["rows_read"] for f in files),
        "accepted": sum(f["accepted"] for f in files),
        "rejected": sum(f["rejected"] for f in files),
        "reconciled": all(f["reconciled"] for f in files),
        "responses": {
            "rows": rows,
            "sat_overall_missing": sat_overall_missing,
            "satisfied_rate_unweighted": satisfied_rate,
        },
        "reasons": {code: {"zh": zh, "en": en} for code, (zh, en) in REASONS.items()},
        "pseudonym_key_id": key_id(key),
        "instrument_dir": instrument.source_dir.name,
    }


def format_report(report: dict) -> str:
    """A short human-readable summary of an ingest report (for the terminal)."""
    lines = []
    for f in report["files"]:
        enc = f" {f['encoding']}" if f["encoding"] else ""
        lines.append(f"{f['role']}: {f['file']} ({f['format']}{enc}, sha256 {f['sha256'][:12]})")
        lines.append(f"  rows read {f['rows_read']:,} = accepted {f['accepted']:,} + rejected "
                     f"{f['rejected']:,}" + ("" if f["reconciled"] else "  <- DOES NOT RECONCILE"))
        for reason, count in f["rejected_by_reason"].items():
            if count:
                zh, en = report["reasons"][reason]["zh"], report["reasons"][reason]["en"]
                lines.append(f"    {reason:<22} {count:>8,}  {zh} / {en}")
        for w in f["warnings"]:
            lines.append(f"  warning: {w}")
    r = report["responses"]
    rate = r["satisfied_rate_unweighted"]
    lines.append(f"responses: {r['rows']:,} accepted, overall satisfaction missing in "
                 f"{r['sat_overall_missing']:,}" + (f"; satisfied rate (unweighted) {rate:.1%}"
                                                    if rate is not None else ""))
    return "\n".join(lines)
