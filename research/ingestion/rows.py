"""The accepted and the rejected rows of a checked export, with no personal data in clear.

Accepted rows (:func:`_accepted_frame`) are typed and derived, their free texts and names
masked and customer ids pseudonymised; rejected rows (:func:`_rejected_frame`) keep their
raw values, masked, with every reason and a detail of which column held which value. See
README.md, *Ingest: nothing lost, nothing personal*.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from research.config.instrument import Field, Instrument
from research.ingestion import schema
from research.ingestion.derive import derive_fields
from research.ingestion.faults import _TRACE_FIELD, REASONS, _Checked
from research.ingestion.parse import Coded
from research.ingestion.pseudonymise import (MASK_CUSTOMER, MASK_PHONE, mask_coded, mask_columns,
                                             mask_series, mask_text, pseudonymise,
                                             pseudonymise_coded)
from research.ingestion.threads import _second_thread

# How a row's own personal values are written when they appear in its texts.
_OWN_MASK = {"pseudonymise": MASK_CUSTOMER, "drop": MASK_PHONE}


def _select(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` where ``keep`` is True, with a new RangeIndex.

    As ``frame.loc[keep].reset_index(drop=True)``, but Arrow-backed columns are
    filtered by Arrow chunk by chunk (pandas takes them row by row, gathering
    every chunk into one first).
    """
    mask = pa.array(keep, pa.bool_())
    index = pd.RangeIndex(int(keep.sum()))
    columns = {}
    for name in frame.columns:
        values = frame[name].array
        if isinstance(values, pd.arrays.ArrowStringArray):
            values = pd.arrays.ArrowStringArray(pa.chunked_array(values.__arrow_array__()).filter(mask))
        else:
            values = values[keep]
        columns[name] = pd.Series(values, index=index, copy=False)
    # concat, not DataFrame(columns): numpy columns are not copied again into shared blocks
    return pd.concat(columns, axis=1) if columns else frame.iloc[keep].reset_index(drop=True)



def _personal_values(clear: pd.DataFrame, fields: tuple[Field, ...]) -> list[tuple[pd.Series, str]]:
    """The row's own personal values, to mask wherever they appear in its texts.

    Parameters
    ----------
    clear : clear raw values with (at least) the personal columns, rows in the
        order of the texts they will be searched in.
    fields : the export's fields.

    Returns
    -------
    (values, mask) pairs: customer ids with ``[CUSTOMER]``, phones with ``[PHONE]``.
    """
    return [(clear[f.name], _OWN_MASK[f.personal]) for f in fields if f.personal in _OWN_MASK]



def _is_free_text(f: Field) -> bool:
    """Fields whose accepted values are free text or free names (comment, station, region):
    masked in the accepted frames. Labels and answers are validated codes by then."""
    return f.kind == "text" and f.personal in (None, "mask") and f.name != _TRACE_FIELD



def _blank(values: pd.Series) -> np.ndarray:
    """True where a raw value is <NA> or only white space."""
    return (values.isna() | (values.str.strip() == "")).fillna(True).to_numpy(dtype=bool)



def _rejected_frame(checked: _Checked, role: str, instrument: Instrument, key: bytes,
                    fields: tuple[Field, ...]) -> pd.DataFrame:
    """Rejected rows: reasons, details and raw values, with no personal data in clear.

    Every raw column of a rejected row is masked (:func:`research.ingestion.pseudonymise.mask_series`,
    with the row's own customer id and phone) -- labels, answers and dates
    included, since a rejected row's label may be any text -- except
    ``ticket_id`` (kept for tracing), ``customer_id`` (pseudonymised) and
    ``phone`` (dropped). Values quoted in ``detail`` are the same masked or
    pseudonymised values (a phone is quoted as ``[PHONE]``), and headers quoted
    there are masked too; blank values are quoted as they are.

    In two steps: the rejected rows taken (:func:`_rejected_rows`, cheap) and their frame made
    (:func:`_rejected_table`, the masking); ingest makes the frame only when it is first used.
    """
    return _rejected_table(_rejected_rows(checked), role, key, fields)


@dataclass
class _Rejects:
    """The rejected rows of a checked export, taken from it (:func:`_rejected_rows`): what
    :func:`_rejected_table` needs, and no row of the export besides (row ``k`` here is row
    ``idx[k]`` of the export)."""

    idx: np.ndarray  # rows of the export (0-based)
    primary: list[str]  # primary reason of each
    reasons: list[str]  # all reasons of each, ';'-separated
    raw: pd.DataFrame  # their raw values, as strings, under canonical names
    details: list[tuple[str, str, np.ndarray]]  # (reason, column, bool per rejected row)
    mapped: dict[str, str]  # export header -> canonical name

    def __len__(self) -> int:
        return len(self.idx)


def _rejected_rows(checked: _Checked) -> _Rejects:
    """The rejected rows of ``checked``: reasons and raw values (:class:`_Rejects`)."""
    any_fault = np.zeros(len(checked.raw), dtype=bool)
    for mask in checked.faults.values():
        any_fault |= mask
    idx = np.flatnonzero(any_fault)
    codes = list(REASONS)
    flags = np.column_stack([checked.faults[r][idx] for r in codes])
    # rows as Python lists: iterating numpy rows makes a numpy scalar of each flag
    reasons = [";".join(c for c, on in zip(codes, row) if on) for row in flags.tolist()]
    primary = [codes[i] for i in flags.argmax(axis=1).tolist()] if len(idx) else []
    raw = _select(checked.raw, any_fault).astype("string") if len(idx) else pd.DataFrame()
    details = [(reason, column, mask[idx]) for reason, column, mask in checked.details]
    return _Rejects(idx=idx, primary=primary, reasons=reasons, raw=raw, details=details,
                    mapped=checked.columns["mapped"])


def _rejected_table(rej: _Rejects, role: str, key: bytes, fields: tuple[Field, ...]) -> pd.DataFrame:
    """The frame of :func:`_rejected_frame` from the rejected rows taken (:func:`_rejected_rows`)."""
    if len(rej) == 0:
        return pd.DataFrame()
    raw = rej.raw
    own = _personal_values(raw, fields)
    blank = {f.name: _blank(raw[f.name]) for f in fields}
    shown: dict[str, pd.Series] = {}  # each column as it may appear in an output
    texts = {}  # the columns masked as free text (as mask_series would, all in one call)
    for f in fields:
        col = raw[f.name]
        if f.personal == "pseudonymise":
            shown[f.name] = pseudonymise(col.mask(blank[f.name]), key)
        elif f.personal in _OWN_MASK:
            shown[f.name] = col.mask(~blank[f.name], _OWN_MASK[f.personal])
        else:
            texts[f.name] = Coded.encode(col)
            shown[f.name] = col  # replaced below, in this order
    for name, masked in mask_columns(texts, also=own).items():
        shown[name] = pd.Series(pd.arrays.ArrowStringArray(masked), index=raw.index, name=name)

    header_of = {v: k for k, v in rej.mapped.items()}
    zh_of = {f.name: f.zh for f in fields}
    detail_parts: dict[int, list[str]] = {}
    as_listed: dict[tuple[str, str], list] = {}  # a column's values as Python objects, once

    def listed(kind: str, column: str) -> list:
        if (kind, column) not in as_listed:
            as_listed[kind, column] = (raw if kind == "raw" else shown)[column].tolist()
        return as_listed[kind, column]

    for reason, column, mask in rej.details:
        header = mask_text(str(header_of.get(column, zh_of.get(column, column))))
        for k in np.flatnonzero(mask).tolist():  # k: position among the rejected rows
            if column not in shown:  # not a field of the export: nothing to quote
                value = ""
            elif blank[column][k]:  # blank or white space: quoted as it is
                value = listed("raw", column)[k]
            else:
                value = listed("shown", column)[k]
            detail_parts.setdefault(k, []).append(f"{reason}: {header} ({column}) = {value!r}")

    columns = {f.name: (raw[f.name] if f.name == _TRACE_FIELD else shown[f.name])
               for f in fields if f.personal != "drop"}
    front = pd.DataFrame({
        "file": role,
        "source_row": rej.idx + 1,
        "reason": rej.primary,
        "reasons": rej.reasons,
        "detail": ["; ".join(detail_parts.get(k, [])) for k in range(len(rej))],
    })
    return pd.concat([front, pd.DataFrame(columns)], axis=1)



def _accepted_frame(checked: _Checked, kind: str, instrument: Instrument, key: bytes,
                    fields: tuple[Field, ...],
                    alongside: Callable[[], object] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Accepted rows, typed and derived; free text and names masked, customer ids pseudonymised.

    Comment, station and region (:func:`_is_free_text`) go through
    :func:`research.ingestion.pseudonymise.mask_series` with the row's own customer id
    and phone: a station named ``张三13912345678`` becomes ``张三[PHONE]``.

    The free texts are masked (Python, with the GIL) while a second thread
    takes the other columns' accepted rows and derives the fields from them
    (Arrow and numpy, mostly without it); ``alongside``, if given, is called in
    that thread once the typed columns are done (ingest takes the rejected rows
    there: the masking takes longer than the typing, so that thread would
    otherwise wait).
    """
    keep = np.ones(len(checked.raw), dtype=bool)
    for mask in checked.faults.values():
        keep &= ~mask
    at = np.flatnonzero(keep)  # row of the export of each accepted row
    index = pd.RangeIndex(len(at))
    own = _personal_values(checked.raw, fields)  # clear values of every row, found through `at`
    by_name = {f.name: f for f in fields}
    mask = pa.array(keep, pa.bool_())

    def column(name: str, values) -> pd.Series:
        """The accepted rows of one parsed column, masked or pseudonymised as its field says."""
        f = by_name[name]
        if isinstance(values, Coded):
            values = values.select(keep)
            if _is_free_text(f):
                values = mask_coded(values, also=own, at=at)
            elif f.personal == "pseudonymise" and name in checked.pseudonyms:
                values = values.with_values(checked.pseudonyms[name]).arrow()
            elif f.personal == "pseudonymise":
                values = pseudonymise_coded(values, key)
            else:
                values = values.arrow()
            values = pd.arrays.ArrowStringArray(values)
        elif isinstance(values.array, pd.arrays.ArrowStringArray):
            values = pd.arrays.ArrowStringArray(pa.chunked_array(values.array.__arrow_array__()).filter(mask))
            if _is_free_text(f):
                values = mask_series(pd.Series(values, index=index), also=own_rows(own, at)).array
            elif f.personal == "pseudonymise":
                values = pseudonymise(pd.Series(values, index=index), key).array
        else:
            values = values.array[keep]
        return pd.Series(values, index=index, copy=False)

    free = [name for name in checked.parsed if _is_free_text(by_name[name])]

    def typed() -> tuple[pd.DataFrame, list[str]]:
        """Every column but the free texts, and the fields derived from them."""
        frame = pd.concat({name: column(name, values) for name, values in checked.parsed.items()
                           if name not in free}, axis=1)  # no copy of the columns into blocks
        frame["source_row"] = at + 1
        return derive_fields(frame, instrument)

    with _second_thread() as pool:
        later = pool.submit(typed)
        extra = pool.submit(alongside) if alongside is not None else None
        if all(isinstance(checked.parsed[name], Coded) for name in free):
            selected = {name: checked.parsed[name].select(keep) for name in free}
            texts = {name: pd.Series(pd.arrays.ArrowStringArray(values), index=index, copy=False)
                     for name, values in mask_columns(selected, also=own, at=at).items()}
        else:
            texts = {name: column(name, checked.parsed[name]) for name in free}
        frame, warnings = later.result()
        if extra is not None:
            extra.result()
    for name, values in texts.items():
        frame[name] = values
    return schema.conform(frame, "survey" if kind == "survey" else "workorders", instrument), warnings



def own_rows(own: list[tuple[pd.Series, str]], at: np.ndarray) -> list[tuple[pd.Series, str]]:
    """The own values of the rows ``at`` names, aligned with them."""
    return [(values.iloc[at].reset_index(drop=True), mark) for values, mark in own]
