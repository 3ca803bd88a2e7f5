"""Ingest: raw exports in, validated and pseudonymised canonical frames out, nothing lost.

Every data row read is either accepted (into ``responses`` / ``workorders``)
or rejected with a reason code and its raw values; ``rows read = accepted +
rejected`` always, and the report says so per file.

Row faults (reason codes, in the precedence used for the primary ``reason``):

================================  =====================================================
``conflicting_duplicate``         rows share a ticket_id but differ: all are rejected
``duplicate``                     identical copy of an earlier row (the first is kept)
``missing_required``              a required field is blank
``invalid_datetime``              a date not in a known style nor an Excel serial, or outside 1900-2200
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
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.ingestion import schema
from research.ingestion.derive import derive_fields
from research.errors import InputError
from research.config.instrument import Field, Instrument, load_instrument, normalize_key
from research.ingestion.parse import (Coded, as_arrow, has_control_chars, label_codes, parse_answer,
                            parse_count, parse_datetimes, parse_text, replace_control_chars, strip,
                            text_codes)
from research.ingestion.pseudonymise import (MASK_CUSTOMER, MASK_PHONE, key_id, load_key, mask_coded,
                                   mask_columns, mask_series, mask_text, pseudonym_values,
                                   pseudonymise, pseudonymise_coded)
from research.ingestion.readers import RawTable, describe_headers, quotable, read_export

REASONS: dict[str, tuple[str, str]] = {
    "conflicting_duplicate": ("工单编号重复且内容不一致", "ticket_id repeated with differing values"),
    "duplicate": ("重复行", "identical copy of an earlier row"),
    "missing_required": ("必填字段为空", "required field is blank"),
    "invalid_datetime": ("日期时间无法识别", "unrecognised date or time"),
    "unknown_label": ("未知标签", "label not in the instrument"),
    "invalid_answer": ("满意度答案超出量表", "satisfaction answer outside the scale"),
    "invalid_count": ("次数不是非负整数", "count is not a whole number >= 0"),
    "invalid_text": ("文本含控制字符", "text holds control characters"),
    "cause_mismatch": ("诉求子类不属于诉求大类", "sub-cause not in its cause group"),
    "time_order": ("时间顺序错误", "times out of order"),
    "no_workorder": ("无对应工单", "no matching work order"),
}

Progress = Callable[[str], None]


@dataclass
class IngestResult:
    """What :func:`ingest` returns.

    responses : canonical survey responses (:data:`research.ingestion.schema.RESPONSES`).
    workorders : canonical work orders (:data:`research.ingestion.schema.WORKORDERS`), or None.
    rejected : one row per rejected row: ``file`` (survey / workorders),
        ``source_row`` (1-based data row), ``reason`` (primary code),
        ``reasons`` (all codes, ``;``-separated), ``detail`` (which column
        held which value), then the raw values under canonical column names
        (customer_id pseudonymised, phone dropped, comment masked).
    report : the ingest report (JSON-serialisable dict).
    """

    responses: pd.DataFrame
    workorders: pd.DataFrame | None
    rejected: pd.DataFrame
    report: dict = field(default_factory=dict)


@dataclass
class _Checked:
    parsed: dict[str, pd.Series | Coded]  # canonical typed values, every row (text as Coded)
    raw: pd.DataFrame  # stripped raw strings under canonical names, every row
    faults: dict[str, np.ndarray]  # reason -> bool per row
    details: list[tuple[str, str, np.ndarray]]  # (reason, column, bool per row)
    columns: dict
    warnings: list[str]
    # field -> pseudonym of each distinct value of its Coded column (made with the key in _check)
    pseudonyms: dict[str, pa.Array] = field(default_factory=dict)


def map_headers(raw: RawTable, fields: tuple[Field, ...], role: str) -> tuple[dict[str, str], dict]:
    """Match the export's headers to canonical fields.

    Returns
    -------
    mapping : export header -> canonical name, for matched headers.
    info : ``{"mapped": {...}, "ignored": [...], "absent_optional": [...]}``.

    Raises
    ------
    InputError
        A required column is absent, or two headers name the same field.
    """
    lookup = {}
    for f in fields:
        for spelling in (f.name, f.zh, f.en, *f.aliases):
            lookup[normalize_key(spelling)] = f.name
    mapping: dict[str, str] = {}
    ignored = []
    for header in raw.frame.columns:
        name = lookup.get(normalize_key(header))
        if name is None:
            ignored.append(header)
            continue
        if name in mapping.values():
            other = next(h for h, n in mapping.items() if n == name)
            raise InputError(f"{raw.path}: columns {other!r} and {header!r} both name the field "
                             f"{name!r}; keep one")
        mapping[header] = name
    present = set(mapping.values())
    missing = [f for f in fields if f.required and f.name not in present]
    if missing:
        names = ", ".join(f"{f.zh} ({f.name})" for f in missing)
        # the headers are quoted only when none looks like data (see readers.describe_headers)
        raise InputError(f"{raw.path}: required column(s) absent from the {role} export: {names}. "
                         f"{describe_headers(list(raw.frame.columns))}. If your export names them "
                         "differently, add the header to 'aliases' in surveys/fields.yaml")
    absent = [f.name for f in fields if not f.required and f.name not in present]
    return mapping, {"mapped": mapping, "ignored": ignored, "absent_optional": absent}


def _check(raw: RawTable, kind: str, instrument: Instrument, key: bytes | None = None) -> _Checked:
    """Parse every column and mark every row fault except duplicates and work-order matches.

    With ``key``, the pseudonym of each distinct customer id is made here too
    (:attr:`_Checked.pseudonyms`).

    The datetime columns are parsed in a second thread while this one parses
    the others and hashes the customer ids: Arrow's ``strptime`` and most of
    the datetime path run without the GIL, the hashing and the label lookups
    with it, so on two cores the two overlap. Faults are flagged afterwards,
    field by field in the order of the instrument, as when parsed one by one.
    """
    fields = instrument.fields[kind]
    mapping, columns = map_headers(raw, fields, kind)
    n = len(raw.frame)
    by_name = {v: k for k, v in mapping.items()}

    def blank_col() -> pd.Series:
        return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.repeat(pa.scalar("", pa.large_string()), n)])))

    # raw values exactly as exported, under canonical names (absent optional columns blank)
    raw_canon = pd.DataFrame({f.name: (raw.frame[by_name[f.name]].reset_index(drop=True)
                                       if f.name in by_name else blank_col()) for f in fields})
    faults = {r: np.zeros(n, dtype=bool) for r in REASONS}
    details: list[tuple[str, str, np.ndarray]] = []
    parsed = {}
    warnings = []
    pseudonyms: dict[str, pa.Array] = {}

    def flag(reason: str, column: str, mask) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            faults[reason] |= mask
            details.append((reason, column, mask))

    def read(f: Field, col: pd.Series) -> tuple[pd.Series | Coded, object]:
        """The parsed values of one field and its mask of invalid values (None: none checked)."""
        if f.kind == "text":
            # the ticket id (every row its own) stripped row by row; names, ids and free text
            # once per distinct value, kept as such until the accepted rows are known
            return (parse_text(col) if f.name == _TRACE_FIELD else text_codes(col)), None
        if f.kind == "label":
            return label_codes(col, instrument.label_sets[f.domain])
        if f.kind == "answer":
            return parse_answer(col, instrument.scales[f.domain])
        if f.kind == "count":
            return parse_count(col)
        return None, None

    text_faults: dict[str, object] = {}
    for f in fields:  # control characters first: the comment's are replaced before it is parsed
        if f.personal == "mask":
            # free text (the comment) may hold any character but control characters: those
            # become spaces (line breaks and tabs stay), so no output (DOCX, CSV) is broken by them
            raw_canon[f.name], scrubbed = replace_control_chars(raw_canon[f.name])
            if scrubbed.any():
                warnings.append(f"{raw.path.name}: control characters replaced by spaces in "
                                f"{int(scrubbed.sum()):,} {f.name} value(s)")
        elif f.kind in ("text", "label") and f.personal != "drop":
            # ids, names and labels with a control character are a row fault (a dropped phone is not read)
            text_faults[f.name] = has_control_chars(raw_canon[f.name])
    # a dropped phone is never output nor checked (its raw value masks the row's texts)
    wanted = [f for f in fields
              if not (f.personal == "drop" and not (f.required and not f.missing_ok))]
    results: dict[str, tuple] = {}
    with _second_thread() as pool:
        # the other thread: the datetime columns, parsed as one (parse_datetimes), then labels,
        # answers and counts; this one: the texts, and the hashing of the customer ids. Each
        # column is taken from the frame here, so that the other thread never indexes the frame
        stamps = [f.name for f in wanted if f.kind == "datetime"]
        dated = pool.submit(parse_datetimes, [raw_canon[name] for name in stamps])
        later = {f.name: pool.submit(read, f, raw_canon[f.name])
                 for f in wanted if f.kind in ("label", "answer", "count")}
        for f in wanted:
            if f.kind == "text":
                results[f.name] = read(f, raw_canon[f.name])
                if (key is not None and f.personal == "pseudonymise"
                        and isinstance(results[f.name][0], Coded)):
                    pseudonyms[f.name] = pseudonym_values(results[f.name][0], key)
        # the labels, answers and counts the other thread has not started yet are read here
        # (last first), so that neither thread waits for the other at the end
        for f in reversed([f for f in wanted if f.name in later]):
            if later[f.name].cancel():
                results[f.name] = read(f, raw_canon[f.name])
        results.update(zip(stamps, dated.result()))
        results.update((name, future.result()) for name, future in later.items()
                       if name not in results)

    bad_reason = {"label": "unknown_label", "answer": "invalid_answer", "count": "invalid_count",
                  "datetime": "invalid_datetime"}
    for f in fields:
        if f.name in text_faults:
            flag("invalid_text", f.name, text_faults[f.name])
        if f.name not in results:
            continue
        parsed[f.name], bad = results[f.name]
        if f.kind in bad_reason:
            flag(bad_reason[f.kind], f.name, bad)
        if f.required and not f.missing_ok:
            # parsers return <NA> for blank cells and for invalid ones (flagged above)
            blank = _isna(parsed[f.name])
            if bad is not None:
                blank = blank & ~np.asarray(bad, dtype=bool)
            flag("missing_required", f.name, blank)

    flag("cause_mismatch", "cause_l2", _cause_mismatch(parsed["cause_l1"], parsed["cause_l2"], instrument))
    order = parsed["resolved_at"] < parsed["created_at"]
    flag("time_order", "resolved_at", order.fillna(False))
    if "surveyed_at" in parsed:
        flag("time_order", "surveyed_at", (parsed["surveyed_at"] < parsed["resolved_at"]).fillna(False))

    if columns["ignored"]:
        shown = [h for h in columns["ignored"] if quotable(h)]
        hidden = len(columns["ignored"]) - len(shown)
        warnings.append(f"{raw.path.name}: columns not in the contract were ignored (not carried "
                        f"into any output): {shown}" + (f" and {hidden} that look like data, not "
                                                        "quoted" if hidden else ""))
    if columns["absent_optional"]:
        warnings.append(f"{raw.path.name}: optional columns absent, left empty: {columns['absent_optional']}")
    return _Checked(parsed=parsed, raw=raw_canon, faults=faults, details=details,
                    columns=columns, warnings=warnings, pseudonyms=pseudonyms)


def _isna(values: pd.Series | Coded) -> np.ndarray:
    return values.isna() if isinstance(values, Coded) else values.isna().to_numpy(dtype=bool)


def _cause_mismatch(l1: pd.Series | Coded, l2: pd.Series | Coded, instrument: Instrument) -> np.ndarray:
    """True where both causes are known and the sub-cause's group is not the cause group.

    As ``l1.notna() & parent.notna() & (parent != l1)`` with ``parent = l2.map(instrument.parent)``,
    the parent looked up once per distinct sub-cause and codes compared as small integers.
    """
    l1 = l1 if isinstance(l1, Coded) else Coded.encode(l1)
    l2 = l2 if isinstance(l2, Coded) else Coded.encode(l2)
    ids: dict[str, int] = {}

    def ident(code: str | None) -> int:
        return -1 if code is None else ids.setdefault(code, len(ids))

    group = np.array([ident(c) for c in l1.values.to_pylist()] + [-1], dtype=np.int64)
    parent = np.array([ident(instrument.parent.get(c)) if c is not None else -1
                       for c in l2.values.to_pylist()] + [-1], dtype=np.int64)
    group, parent = group[l1.codes], parent[l2.codes]  # code -1 (<NA>) -> the appended -1
    return (group >= 0) & (parent >= 0) & (group != parent)


def _flag_duplicates(checked: _Checked) -> None:
    """Rows sharing a ticket_id: identical copies -> ``duplicate`` (first kept);
    differing copies -> all ``conflicting_duplicate``."""
    ticket = checked.parsed["ticket_id"]
    shared = repeated(as_arrow(ticket))
    if not shared.any():
        return
    # few rows: surrounding spaces do not make a copy differ. Taken by Arrow chunk by chunk
    # (:func:`_select`): ``raw.loc[shared]`` gathers each whole column into one first
    sub = _select(checked.raw, shared).apply(strip)
    signature = pd.util.hash_pandas_object(sub, index=False)
    tickets = as_arrow(ticket).filter(pa.array(shared)).to_numpy(zero_copy_only=False)
    groups = pd.DataFrame({"ticket": tickets, "sig": signature.to_numpy()}, index=np.flatnonzero(shared))
    differs = groups.groupby("ticket")["sig"].transform("nunique") > 1
    conflicting = np.zeros(len(ticket), dtype=bool)
    conflicting[groups.index[differs.to_numpy()]] = True
    later_copy = np.zeros(len(ticket), dtype=bool)
    same = groups.loc[~differs.to_numpy()]
    later_copy[same.index[same["ticket"].duplicated(keep="first").to_numpy()]] = True
    for reason, mask in (("conflicting_duplicate", conflicting), ("duplicate", later_copy)):
        if mask.any():
            checked.faults[reason] |= mask
            checked.details.append((reason, "ticket_id", mask))


def _repeated_by_hash(values: pa.Array) -> np.ndarray:
    enc = pc.dictionary_encode(values)
    codes = enc.indices.to_numpy(zero_copy_only=False)
    return np.bincount(codes, minlength=len(enc.dictionary))[codes] > 1


def repeated(values: pa.ChunkedArray) -> np.ndarray:
    """True where a value (not <NA>) occurs more than once: ``notna() & duplicated(keep=False)``.

    Exports are usually in ticket order, so most equal values sit side by side:
    the values out of order (and their neighbours) are set aside, the rest,
    if in order, compared with their neighbours, and the values set aside
    counted over the whole column. Without such order, values are hashed.
    """
    values = values.combine_chunks()
    out = np.zeros(len(values), dtype=bool)
    if values.null_count:
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        out[valid] = repeated(pa.chunked_array([values.filter(pa.array(valid))]))
        return out
    n = len(values)
    if n < 2:
        return out
    ordered = pc.less_equal(values.slice(0, n - 1), values.slice(1)).to_numpy(zero_copy_only=False)
    breaks = np.flatnonzero(~ordered)
    if len(breaks) > 16 + n // 100:  # not in order: hashing is cheaper
        return _repeated_by_hash(values)
    aside = np.zeros(n, dtype=bool)
    aside[breaks] = True
    aside[breaks + 1] = True
    rest = np.flatnonzero(~aside)
    kept = values.take(pa.array(rest))
    m = len(kept)
    if m > 1:
        if not pc.all(pc.less_equal(kept.slice(0, m - 1), kept.slice(1))).as_py():
            return _repeated_by_hash(values)
        same = pc.equal(kept.slice(0, m - 1), kept.slice(1)).to_numpy(zero_copy_only=False)
        out[rest[:-1][same]] = True
        out[rest[1:][same]] = True
    if len(breaks):
        suspects = values.filter(pa.array(aside))
        where = np.flatnonzero(pc.is_in(values, value_set=suspects).to_numpy(zero_copy_only=False))
        out[where[_repeated_by_hash(values.take(pa.array(where)))]] = True
    return out


# How a row's own personal values are written when they appear in its texts.
_OWN_MASK = {"pseudonymise": MASK_CUSTOMER, "drop": MASK_PHONE}
# ticket_id is never masked in the ticket_id columns of the outputs: rejected
# and accepted rows must stay traceable to the export, and ids of the contract
# (letters + 13 digits, e.g. GD2025010100002) hold no number the masker would
# change anyway (tests pin this). Values quoted in ``detail`` are masked all the same.
_TRACE_FIELD = "ticket_id"


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
    """
    any_fault = np.zeros(len(checked.raw), dtype=bool)
    for mask in checked.faults.values():
        any_fault |= mask
    idx = np.flatnonzero(any_fault)
    if len(idx) == 0:
        return pd.DataFrame()
    codes = list(REASONS)
    flags = np.column_stack([checked.faults[r][idx] for r in codes])
    # rows as Python lists: iterating numpy rows makes a numpy scalar of each flag
    reasons = [";".join(c for c, on in zip(codes, row) if on) for row in flags.tolist()]
    primary = [codes[i] for i in flags.argmax(axis=1).tolist()]

    raw = _select(checked.raw, any_fault).astype("string")
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

    header_of = {v: k for k, v in checked.columns["mapped"].items()}
    zh_of = {f.name: f.zh for f in fields}
    detail_parts: dict[int, list[str]] = {}
    as_listed: dict[tuple[str, str], list] = {}  # a column's values as Python objects, once

    def listed(kind: str, column: str) -> list:
        if (kind, column) not in as_listed:
            as_listed[kind, column] = (raw if kind == "raw" else shown)[column].tolist()
        return as_listed[kind, column]

    for reason, column, mask in checked.details:
        header = mask_text(str(header_of.get(column, zh_of.get(column, column))))
        for k in np.flatnonzero(mask[idx]).tolist():  # k: position among the rejected rows
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
        "source_row": idx + 1,
        "reason": primary,
        "reasons": reasons,
        "detail": ["; ".join(detail_parts.get(k, [])) for k in range(len(idx))],
    })
    return pd.concat([front, pd.DataFrame(columns)], axis=1)


def _accepted_frame(checked: _Checked, kind: str, instrument: Instrument, key: bytes,
                    fields: tuple[Field, ...], meanwhile: Callable[[], object] | None = None,
                    alongside: Callable[[], object] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Accepted rows, typed and derived; free text and names masked, customer ids pseudonymised.

    Comment, station and region (:func:`_is_free_text`) go through
    :func:`research.ingestion.pseudonymise.mask_series` with the row's own customer id
    and phone: a station named ``张三13912345678`` becomes ``张三[PHONE]``.

    The free texts are masked (Python, with the GIL) while a second thread
    takes the other columns' accepted rows and derives the fields from them
    (Arrow and numpy, mostly without it); ``meanwhile``, if given, is called
    in this thread after the masking, while that thread may still be at work
    (ingest makes the rejected frame there); ``alongside``, if given, is called in
    that thread once the typed columns are done (ingest hashes the export there:
    the masking takes longer than the typing, so that thread would otherwise wait).
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
        if meanwhile is not None:
            meanwhile()
        frame, warnings = later.result()
        if extra is not None:
            extra.result()
    for name, values in texts.items():
        frame[name] = values
    return schema.conform(frame, "survey" if kind == "survey" else "workorders", instrument), warnings


def own_rows(own: list[tuple[pd.Series, str]], at: np.ndarray) -> list[tuple[pd.Series, str]]:
    """The own values of the rows ``at`` names, aligned with them."""
    return [(values.iloc[at].reset_index(drop=True), mark) for values, mark in own]


def _file_report(raw: RawTable, role: str, checked: _Checked, accepted: int,
                 rejected: pd.DataFrame, warnings: list[str]) -> dict:
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
        "sha256": raw.sha256,
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


def _stage(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


class _InOrder:
    """An executor that runs each job at once, in this thread, its error raised there and then
    (see :func:`_second_thread`)."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        return None


def _orphans(ticket: pd.Series, known: pa.Array) -> np.ndarray:
    """Rows whose ticket id is present but not among ``known`` (the work orders' ids), as a bool
    array. Arrow's hash lookup: pandas' ``isin`` on an Arrow string column walks every value in
    Python (13.9 s of a 22 s ingest of 1M responses against 1.75M work orders)."""
    values = pa.chunked_array(pa.array(ticket))
    found = pc.is_in(values, value_set=known.cast(values.type))
    return pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(found, False))).to_numpy(zero_copy_only=False)


def _second_thread() -> ThreadPoolExecutor | _InOrder:
    """One worker thread for the work that runs without the GIL (Arrow kernels, the Parquet
    encoder) while this thread does the Python work; in this thread, in order, when only one
    core is usable or ``RESEARCH_WORKERS=1`` (as for ``reproduce``). The results are the same."""
    text = os.environ.get("RESEARCH_WORKERS", "").strip()
    if text and (not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64):
        raise InputError(f"RESEARCH_WORKERS={text[:20]!r}: a whole number from 1 to 64 is expected")
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count() or 1)
    if text == "1" or (not text and cores < 2):
        return _InOrder()
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")


_POOL_LOCK = threading.Lock()
_POOL_USERS = [0, None]  # ingests under way, the default pool they replaced


@contextmanager
def arrow_pool():
    """Arrow allocates from jemalloc while an ingest runs (when this pyarrow has it).

    pyarrow's default pool (mimalloc) takes its memory in transparent huge
    pages, which the kernel zeroes 2 MB at a time, again after each purge: on
    the 1M-row benchmark (2-core VM) ``clear_page`` was a quarter to a third
    of ingest's CPU (perf), and jemalloc halved its system time (1.9 -> 0.9 s)
    at a lower peak. The default pool is put back when the last ingest under
    way ends; every buffer is freed by the pool it came from.
    """
    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        yield
        return
    with _POOL_LOCK:
        if _POOL_USERS[0] == 0:
            _POOL_USERS[1] = pa.default_memory_pool()
            pa.set_memory_pool(pool)
        _POOL_USERS[0] += 1
    try:
        yield
    finally:
        with _POOL_LOCK:
            _POOL_USERS[0] -= 1
            if _POOL_USERS[0] == 0:
                pa.set_memory_pool(_POOL_USERS[1])
                _POOL_USERS[1] = None


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
    instrument = instrument if instrument is not None else load_instrument()
    for kind in ("survey", "workorders"):  # a contract the code cannot work with: said before any read
        schema.canonical(instrument, kind)
    key = key if key is not None else load_key()
    files, rejected_parts, warnings = [], [], []
    wo_frame = None
    wo_ids = None
    if workorders is not None:
        _stage(progress, f"reading work orders {Path(workorders).name}")
        raw_wo = read_export(workorders, hash_now=False)  # hashed while the rows are typed
        _stage(progress, f"validating {len(raw_wo.frame):,} work orders")
        checked = _check(raw_wo, "workorders", instrument, key)
        _flag_duplicates(checked)
        fields = instrument.fields["workorders"]
        made = {}  # the rejected rows, made while the accepted ones are typed in the other thread
        wo_frame, w = _accepted_frame(checked, "workorders", instrument, key, fields, meanwhile=lambda: (
            made.update(rej=_rejected_frame(checked, "workorders", instrument, key, fields))),
            alongside=raw_wo.digest.hexdigest)
        rej = made["rej"]
        files.append(_file_report(raw_wo, "workorders", checked, len(wo_frame), rej, w))
        rejected_parts.append(rej)
        wo_ids = pc.unique(pa.chunked_array(pa.array(wo_frame["ticket_id"])))
        warnings.extend(w)

    _stage(progress, f"reading survey {Path(survey).name}")
    raw_sv = read_export(survey, hash_now=False)  # hashed while the rows are typed
    _stage(progress, f"validating {len(raw_sv.frame):,} survey rows")
    checked = _check(raw_sv, "survey", instrument, key)
    _flag_duplicates(checked)
    if wo_ids is not None:
        ticket = checked.parsed["ticket_id"]
        orphan = _orphans(ticket, wo_ids)
        if orphan.any():
            checked.faults["no_workorder"] |= orphan
            checked.details.append(("no_workorder", "ticket_id", orphan))
    fields = instrument.fields["survey"]
    _stage(progress, "pseudonymising and deriving fields")
    made = {}  # the rejected rows, made while the accepted ones are typed in the other thread
    responses, w = _accepted_frame(checked, "survey", instrument, key, fields, meanwhile=lambda: (
        made.update(rej=_rejected_frame(checked, "survey", instrument, key, fields))),
        alongside=raw_sv.digest.hexdigest)
    rej = made["rej"]
    files.insert(0, _file_report(raw_sv, "survey", checked, len(responses), rej, w))
    rejected_parts.insert(0, rej)

    if wo_frame is not None:
        status = responses[["ticket_id"]].merge(wo_frame[["ticket_id", "survey_status"]],
                                                on="ticket_id", how="left")["survey_status"]
        odd = int((status != "completed").fillna(False).sum())
        if odd:
            files[0]["warnings"].append(f"{odd} accepted survey rows belong to work orders whose "
                                        "survey status is not 'completed'")
    parts = [p for p in rejected_parts if len(p)]
    rejected = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["file", "source_row", "reason", "reasons", "detail"])
    missing_overall = int(responses["sat_overall"].isna().sum())
    report = {
        "files": files,
        "rows_read": sum(f["rows_read"] for f in files),
        "accepted": sum(f["accepted"] for f in files),
        "rejected": sum(f["rejected"] for f in files),
        "reconciled": all(f["reconciled"] for f in files),
        "responses": {
            "rows": len(responses),
            "sat_overall_missing": missing_overall,
            "satisfied_rate_unweighted": (float(responses["satisfied"].mean())
                                          if len(responses) and missing_overall < len(responses) else None),
        },
        "reasons": {code: {"zh": zh, "en": en} for code, (zh, en) in REASONS.items()},
        "pseudonym_key_id": key_id(key),
        "instrument_dir": instrument.source_dir.name,
    }
    return IngestResult(responses=responses, workorders=wo_frame, rejected=rejected, report=report)


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
        written["responses"] = responses.result()
        if result.workorders is not None:
            written["workorders"] = workorders
        written["rejected"] = rejected
        text = json.dumps(result.report, ensure_ascii=False, indent=2, sort_keys=False)
        written["report"] = atomic_write_text(out / "ingest_report.json", text + "\n")
    return written


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


def timed(progress: Progress) -> Progress:
    """Wrap a progress printer so each message shows the seconds since the first."""
    start = time.perf_counter()

    def show(message: str) -> None:
        progress(f"[{time.perf_counter() - start:6.1f}s] {message}")

    return show
