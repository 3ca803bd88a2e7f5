"""The ingest report of an export checked in chunks: counts summed, warnings merged.

A :class:`FileTally` takes each checked chunk of one export (:mod:`research.ingestion.streaming`)
and keeps what the report needs: rows read, accepted and rejected, rows with each fault, the
rejected rows themselves (few), the warnings, and for the survey the responses' summary.
:func:`file_report` and :func:`overall_report` then give the dicts
:func:`research.ingestion.report._file_report` and :func:`research.ingestion.report._overall_report`
give for the whole export at once. Warnings that count or list something are merged: the
control characters replaced (counts summed per field) and the calendar years without holiday
data (listed once); the others are the same in every chunk and said once.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.config.instrument import Instrument
from research.ingestion.faults import REASONS
from research.ingestion.report import _ignored_headers, report_of

_CONTROL = re.compile(r"^(?P<file>.*): control characters replaced by spaces in (?P<n>[\d,]+) "
                      r"(?P<field>\S+) value\(s\)$")
_YEARS = re.compile(r"^(?P<head>.*no holiday data for )\[(?P<years>[^\]]*)\](?P<tail>.*)$", re.S)


class FileTally:
    """What the report of one export needs, summed over its checked chunks."""

    def __init__(self, export, instrument: Instrument, odd_status: pa.Array | None = None):
        self.export, self.instrument = export, instrument
        self.rows = self.accepted = 0
        self.faults = {r: 0 for r in REASONS}
        self.rejected: list[pd.DataFrame] = []
        self.columns: dict | None = None
        self.ignored: list[str] | None = None
        self.controls: dict[str, int] = {}
        self.years: dict[str, str] = {}  # year as written -> the warning's head and tail
        self.other: list[str] = []
        self.sat_missing = self.satisfied = self.answered = self.odd = 0
        self.odd_status = odd_status  # accepted work orders whose survey status is not completed

    def add(self, raw, accepted: pd.DataFrame, rejected: pd.DataFrame, checked, warnings: list[str],
            *, sink) -> None:
        """Count one checked chunk (``raw`` as read, the results of its check) and hand its
        accepted rows to ``sink``."""
        self.rows += len(raw.frame)
        self.accepted += len(accepted)
        for reason, mask in checked.faults.items():
            self.faults[reason] += int(mask.sum())
        if len(rejected):
            self.rejected.append(rejected)
        if self.columns is None:
            self.columns = checked.columns
            self.ignored = _ignored_headers(raw, checked)
        for message in checked.warnings + warnings:
            self._warning(message)
        if self.export.role == "survey":
            missing = accepted["sat_overall"].isna().to_numpy()
            self.sat_missing += int(missing.sum())
            sat = accepted["satisfied"]
            self.satisfied += int(sat.sum())
            self.answered += int(sat.notna().sum())
            if self.odd_status is not None and len(self.odd_status):
                found = pc.is_in(pa.array(accepted["ticket_id"]), value_set=self.odd_status)
                self.odd += int(pc.sum(pc.fill_null(found, False)).as_py() or 0)
        sink(self.export.role, accepted)

    def _warning(self, message: str) -> None:
        control = _CONTROL.match(message)
        years = _YEARS.match(message)
        if control:
            name = control["field"]
            self.controls[name] = self.controls.get(name, 0) + int(control["n"].replace(",", ""))
        elif years:
            for year in years["years"].split(", "):
                self.years.setdefault(year, (years["head"], years["tail"]))
        elif message not in self.other:
            self.other.append(message)

    def warnings(self) -> list[str]:
        """The warnings in the order the whole export's check gives them: control characters
        (fields in the contract's order), the columns', then the calendar's."""
        name = self.export.path.name
        order = [f.name for f in self.instrument.fields[self.export.role]]
        out = [f"{name}: control characters replaced by spaces in {self.controls[f]:,} {f} value(s)"
               for f in order if f in self.controls]
        out += self.other
        if self.years:
            listed = sorted(self.years, key=lambda y: int(re.sub(r"\D", "", y) or 0))
            head, tail = next(iter(self.years.values()))
            out.append(f"{head}[{', '.join(listed)}]{tail}")
        return out

    def rejected_frame(self) -> pd.DataFrame:
        """The rejected rows in the order of the export."""
        if not self.rejected:
            return pd.DataFrame()
        frame = pd.concat(self.rejected, ignore_index=True)
        order = np.argsort(frame["source_row"].to_numpy(), kind="stable")
        return frame.iloc[order].reset_index(drop=True)


def file_report(tally: FileTally, status: bool = False) -> dict:
    """:func:`research.ingestion.report._file_report` of the whole export; ``status``: with the
    survey's warning about accepted rows whose work order's survey status is not completed."""
    rejected = tally.rejected_frame()
    by_reason = {r: 0 for r in REASONS}
    if len(rejected):
        for r, c in rejected["reason"].value_counts().items():
            by_reason[r] = int(c)
    export = tally.export
    warnings = tally.warnings()
    if status and tally.odd:
        warnings.append(f"{tally.odd} accepted survey rows belong to work orders whose "
                        "survey status is not 'completed'")
    report = {
        "role": export.role, "file": export.path.name, "format": export.format,
        "encoding": export.encoding, "size_bytes": export.size_bytes, "sha256": export.sha256,
        "rows_read": tally.rows, "accepted": tally.accepted, "rejected": len(rejected),
        "reconciled": tally.rows == tally.accepted + len(rejected),
        "rejected_by_reason": by_reason, "rows_with_fault": dict(tally.faults),
        "columns": {"mapped": tally.columns["mapped"], "ignored": tally.ignored,
                    "absent_optional": tally.columns["absent_optional"]},
        "warnings": warnings,
    }
    if not report["reconciled"]:  # cannot happen: every row is one or the other
        raise RuntimeError(f"{export.path}: ingest lost rows ({tally.rows} read, {tally.accepted} "
                           f"accepted, {len(rejected)} rejected)")
    return report


def odd_status(workorders: pd.DataFrame | None) -> pa.Array | None:
    """The accepted work orders' ticket ids whose survey status is given and not 'completed'."""
    if workorders is None:
        return None
    odd = (workorders["survey_status"] != "completed").fillna(False).to_numpy(dtype=bool)
    return pa.array(workorders["ticket_id"][odd].astype(object).tolist(), pa.large_string())


def overall_report(files: list[dict], survey: FileTally, key: bytes, instrument: Instrument) -> dict:
    """:func:`research.ingestion.report._overall_report` from the survey's tally."""
    rows = survey.accepted
    rate = (float(np.float64(survey.satisfied) / survey.answered)
            if rows and survey.sat_missing < rows and survey.answered else None)
    return report_of(files, rows, survey.sat_missing, rate, key, instrument)
