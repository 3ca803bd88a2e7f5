"""Row checks: every column of one export parsed, and every row fault flagged but duplicates
and work-order matches (:mod:`research.ingestion.duplicates`).

:func:`_check` takes a raw export (:class:`research.ingestion.readers.RawTable`) to a
:class:`research.ingestion.faults._Checked`, in named steps: the export's headers matched to
the contract's fields (:func:`map_headers`), the raw values under canonical names
(:func:`_canonical_raw`), control characters (:func:`_control_chars`), the columns parsed
(:func:`_parse_fields`, two threads), the faults flagged field by field
(:func:`_flag_faults`) and the warnings about columns (:func:`_column_warnings`). The reason
codes are :data:`research.ingestion.faults.REASONS`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from research.config.instrument import Field, Instrument, normalize_key
from research.errors import InputError
from research.ingestion.duplicates import _add_duplicates, duplicate_masks
from research.ingestion.faults import _TRACE_FIELD, REASONS, _Checked
from research.ingestion.parse import (Coded, has_control_chars, label_codes, parse_answer,
                                      parse_count, parse_datetimes, parse_text,
                                      replace_control_chars, text_codes)
from research.ingestion.pseudonymise import pseudonym_values
from research.ingestion.readers import RawTable, describe_headers, quotable
from research.ingestion.threads import _Queue, _second_thread

#: the fault of a value its parser found invalid, by kind of field
_BAD_REASON = {"label": "unknown_label", "answer": "invalid_answer", "count": "invalid_count",
               "datetime": "invalid_datetime"}


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


def _check(raw: RawTable, kind: str, instrument: Instrument, key: bytes | None = None, *,
           duplicates: bool = False) -> _Checked:
    """Parse every column and mark every row fault except duplicates and work-order matches.

    Parameters
    ----------
    raw : the export as read.
    kind : ``"survey"`` or ``"workorders"`` (which fields of ``instrument`` it has).
    instrument : the contract (fields, label sets, scales, cause groups).
    key : with it, the pseudonym of each distinct customer id is made here too
        (:attr:`_Checked.pseudonyms`).
    duplicates : rows sharing a ticket id are flagged too, as
        :func:`research.ingestion.duplicates._flag_duplicates` after this would: found by this
        thread while the other still parses, their faults added after the others.

    Returns
    -------
    :class:`_Checked`: parsed values and raw values of every row, the faults found
    (reason -> bool per row) with their (reason, column, rows), the header mapping
    and the warnings (control characters replaced, columns ignored or absent).

    The datetime columns are parsed in a second thread while this one parses
    the others and hashes the customer ids: Arrow's ``strptime`` and most of
    the datetime path run without the GIL, the hashing and the label lookups
    with it, so on two cores the two overlap. Faults are flagged afterwards,
    field by field in the order of the instrument, as when parsed one by one.
    """
    fields = instrument.fields[kind]
    mapping, columns = map_headers(raw, fields, kind)
    raw_canon = _canonical_raw(raw, fields, mapping)
    warnings = []
    with _second_thread() as pool:
        queue = _Queue(pool)
        # the datetimes are parsed from the start; control characters are replaced only in free
        # text (``personal: mask``), never a datetime field's
        stamps = [f.name for f in _wanted(fields) if f.kind == "datetime"]
        early = all(f.personal != "mask" for f in fields if f.name in stamps)
        dated = pool.submit(parse_datetimes, [raw_canon[name] for name in stamps]) if early else None
        flags = _control_chars(raw_canon, fields, raw.path.name, warnings, queue=queue)
        repeats = []

        def queue_repeats(name: str, values) -> None:
            if duplicates and name == _TRACE_FIELD:  # rows sharing a ticket id, in the queue too
                repeats.append(queue.submit(duplicate_masks, values, raw_canon))

        results, pseudonyms = _parse_fields(raw_canon, fields, instrument, key, pool=pool, dated=dated,
                                            queue=queue, on_text=queue_repeats)
        text_faults = {name: queue.result(job) for name, job in flags.items()}
        repeats = [mask for job in repeats for mask in queue.result(job)]
    parsed, faults, details = _flag_faults(len(raw.frame), fields, results, text_faults, instrument)
    _add_duplicates(faults, details, repeats)
    warnings.extend(_column_warnings(raw.path.name, columns))
    return _Checked(parsed=parsed, raw=raw_canon, faults=faults, details=details,
                    columns=columns, warnings=warnings, pseudonyms=pseudonyms)


def _canonical_raw(raw: RawTable, fields: tuple[Field, ...], mapping: dict[str, str]) -> pd.DataFrame:
    """The raw values exactly as exported, one column per field under its canonical name
    (``mapping``: export header -> field name); an absent optional field is a blank column."""
    n = len(raw.frame)
    by_name = {v: k for k, v in mapping.items()}

    def blank_col() -> pd.Series:
        blank = pa.repeat(pa.scalar("", pa.large_string()), n)
        return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([blank])))

    return pd.DataFrame({f.name: (raw.frame[by_name[f.name]].reset_index(drop=True)
                                  if f.name in by_name else blank_col()) for f in fields})


def _control_chars(raw_canon: pd.DataFrame, fields: tuple[Field, ...], file_name: str,
                   warnings: list[str], queue: _Queue | None = None) -> dict[str, np.ndarray]:
    """Control characters, before anything is parsed.

    Free text (the comment, ``personal: mask``) may hold any character but control
    characters: those become spaces in ``raw_canon`` itself (line breaks and tabs stay),
    so no output (DOCX, CSV) is broken by them, and a warning naming ``file_name`` and
    the count is appended to ``warnings``. In ids, names and labels a control
    character is a row fault: returns field name -> bool per row for those (a dropped
    phone is not read); with ``queue`` (:class:`research.ingestion.threads._Queue`), field
    name -> the number of the queued job that finds them.
    """
    text_faults: dict[str, np.ndarray] = {}
    for f in fields:
        if f.personal == "mask":
            raw_canon[f.name], scrubbed = replace_control_chars(raw_canon[f.name])
            if scrubbed.any():
                warnings.append(f"{file_name}: control characters replaced by spaces in "
                                f"{int(scrubbed.sum()):,} {f.name} value(s)")
        elif f.kind in ("text", "label") and f.personal != "drop":
            col = raw_canon[f.name]
            text_faults[f.name] = queue.submit(has_control_chars, col) if queue else has_control_chars(col)
    return text_faults


def _read_field(f: Field, col: pd.Series, instrument: Instrument) -> tuple[pd.Series | Coded, object]:
    """The parsed values of one text, label, answer or count field and its mask of invalid
    values (None: none checked); (None, None) for another kind."""
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


def _wanted(fields: tuple[Field, ...]) -> list[Field]:
    """The fields read: all but a dropped phone that is not required (a dropped phone is never
    output nor checked; its raw value masks the row's texts)."""
    return [f for f in fields if not (f.personal == "drop" and not (f.required and not f.missing_ok))]


def _parse_fields(raw_canon: pd.DataFrame, fields: tuple[Field, ...], instrument: Instrument,
                  key: bytes | None, *, pool=None, dated=None, queue: _Queue | None = None,
                  on_text=None) -> tuple[dict[str, tuple], dict[str, pa.Array]]:
    """Every field read (:func:`_wanted`), in two threads.

    ``pool`` (:func:`research.ingestion.threads._second_thread`) and ``dated`` (the future of
    :func:`research.ingestion.parse.parse_datetimes` of the datetime fields, in their order),
    when the caller started the datetimes already; else both are made here. ``queue``: the
    caller's jobs for the other thread (:class:`research.ingestion.threads._Queue`), which this
    thread takes back with the labels' at the end; ``on_text(name, values)``, if given, is
    called in this thread as each text field is read.

    Returns
    -------
    results : field name -> (parsed values, mask of invalid values or None).
    pseudonyms : field name -> pseudonym of each distinct value of its Coded column, for
        the fields to pseudonymise (only with ``key``).
    """
    if pool is None:
        with _second_thread() as pool:
            return _parse_fields(raw_canon, fields, instrument, key, pool=pool, dated=dated,
                                 queue=queue, on_text=on_text)
    queue = queue if queue is not None else _Queue(pool)
    wanted = _wanted(fields)
    results: dict[str, tuple] = {}
    pseudonyms: dict[str, pa.Array] = {}
    # the other thread: the datetime columns, parsed as one (parse_datetimes), then the queue
    # (the caller's jobs, the labels, answers and counts, ...); this one: the texts, and the
    # hashing of the customer ids. Each column is taken from the frame here, so that the other
    # thread never indexes the frame
    stamps = [f.name for f in wanted if f.kind == "datetime"]
    if dated is None:
        dated = pool.submit(parse_datetimes, [raw_canon[name] for name in stamps])
    later = {f.name: queue.submit(_read_field, f, raw_canon[f.name], instrument)
             for f in wanted if f.kind in ("label", "answer", "count")}
    for f in wanted:
        if f.kind == "text":
            results[f.name] = _read_field(f, raw_canon[f.name], instrument)
            if on_text is not None:
                on_text(f.name, results[f.name][0])
            if (key is not None and f.personal == "pseudonymise"
                    and isinstance(results[f.name][0], Coded)):
                pseudonyms[f.name] = pseudonym_values(results[f.name][0], key)
    # the jobs the other thread has not started yet are done here (last queued first), so that
    # neither thread waits for the other at the end
    queue.finish()
    results.update(zip(stamps, dated.result()))
    results.update((name, queue.result(job)) for name, job in later.items())
    return results, pseudonyms


def _flag_faults(n: int, fields: tuple[Field, ...], results: dict[str, tuple],
                 text_faults: dict[str, np.ndarray], instrument: Instrument
                 ) -> tuple[dict, dict[str, np.ndarray], list[tuple[str, str, np.ndarray]]]:
    """The row faults of ``n`` rows, flagged field by field in the order of the instrument.

    Parameters
    ----------
    results : field name -> (parsed values, mask of invalid values), from :func:`_parse_fields`.
    text_faults : field name -> rows with a control character, from :func:`_control_chars`.

    Returns
    -------
    parsed : field name -> parsed values.
    faults : every reason of :data:`REASONS` -> bool per row.
    details : (reason, column, bool per row), in the order flagged (the order of ``detail``).
    """
    faults = {r: np.zeros(n, dtype=bool) for r in REASONS}
    details: list[tuple[str, str, np.ndarray]] = []
    parsed = {}

    def flag(reason: str, column: str, mask) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            faults[reason] |= mask
            details.append((reason, column, mask))

    for f in fields:
        if f.name in text_faults:
            flag("invalid_text", f.name, text_faults[f.name])
        if f.name not in results:
            continue
        parsed[f.name], bad = results[f.name]
        if f.kind in _BAD_REASON:
            flag(_BAD_REASON[f.kind], f.name, bad)
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
    return parsed, faults, details


def _column_warnings(file_name: str, columns: dict) -> list[str]:
    """Warnings about the export's columns (``columns``: the ``info`` of :func:`map_headers`):
    those ignored (headers that look like data counted, not quoted) and the optional ones absent."""
    warnings = []
    if columns["ignored"]:
        shown = [h for h in columns["ignored"] if quotable(h)]
        hidden = len(columns["ignored"]) - len(shown)
        warnings.append(f"{file_name}: columns not in the contract were ignored (not carried "
                        f"into any output): {shown}" + (f" and {hidden} that look like data, not "
                                                        "quoted" if hidden else ""))
    if columns["absent_optional"]:
        warnings.append(f"{file_name}: optional columns absent, left empty: {columns['absent_optional']}")
    return warnings


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
