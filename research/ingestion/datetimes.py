"""Datetimes of raw exports: the export styles of docs/input_contract.md and Excel serial days.

:func:`parse_datetime` (and :func:`parse_datetimes`, several columns parsed as one) reads the two
common styles with Arrow's ``strptime`` and the rest with pandas' strict formats; impossible dates,
seconds of 60 or 61 and values outside :data:`DATETIME_RANGE` are invalid, never an exception.
Split from :mod:`research.ingestion.parse`, which still gives every name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.ingestion.arrow_text import as_arrow

# Date styles of real exports, tried in order (docs/input_contract.md: "2026-03-01 08:15:00",
# "2026/3/1 8:15", and Excel serial dates). pandas' format parser accepts
# month, day and hour without zero padding.
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d",
    "%Y/%m/%d",
)
# The two styles of docs/input_contract.md and their near variants, parsed by Arrow first.
ARROW_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M")
# Excel serial dates accepted: 1900-01-01 .. 2100-12-31 (day 0 = 1899-12-30,
# which absorbs Excel's 1900 leap-year bug for all dates after February 1900).
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
EXCEL_SERIAL_RANGE = (2.0, 73415.0)
# Datetimes accepted: 1900-01-01 .. 2200-12-31. Anything else (year 1, year
# 9999) is a typing or export fault, and would overflow later arithmetic
# (pandas' nanosecond range ends in 2262).
DATETIME_RANGE = (np.datetime64("1900-01-01", "us"), np.datetime64("2201-01-01", "us"))


# The two styles of ARROW_FORMATS written strictly (zero-padded ISO; slashes with 1-2 digit
# fields), as Python's strptime reads them: a value of this shape whose fields are the fields
# of Arrow's result is a real date and time that the strict path would read the same.
_STRICT_STYLES = (
    r"^(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2}) (?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})$",
    r"^(?P<Y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2}) (?P<H>\d{1,2}):(?P<M>\d{2})$",
)
_FIELDS = (("Y", pc.year), ("m", pc.month), ("d", pc.day), ("H", pc.hour), ("M", pc.minute),
           ("S", pc.second))


def _rendered(parsed: pa.Array, slashes: bool) -> pa.Array:
    """``parsed`` written in one of the two export styles as they usually come: zero-padded ISO
    (``2025-01-02 08:05:09``) or, with ``slashes``, slashes without padding but the minutes'
    (``2025/1/2 8:05``)."""
    def text(field, pad: bool = False):
        out = pc.cast(pc.cast(field(parsed), pa.int64()), pa.large_string())
        return pc.utf8_lpad(out, 2, "0") if pad else out

    def join(*parts, sep: str):
        return pc.binary_join_element_wise(*parts, pa.scalar(sep, pa.large_string()))

    if slashes:
        return join(join(text(pc.year), text(pc.month), text(pc.day), sep="/"),
                    join(text(pc.hour), text(pc.minute, True), sep=":"), sep=" ")
    return join(join(text(pc.year), text(pc.month, True), text(pc.day, True), sep="-"),
                join(text(pc.hour, True), text(pc.minute, True), text(pc.second, True), sep=":"), sep=" ")


def _written_as_parsed(text: pa.Array, parsed: pa.Array) -> np.ndarray:
    """True where ``text`` has a strict style of :data:`_STRICT_STYLES` and its fields are those
    of ``parsed`` (so Arrow did not roll an impossible date or second over).

    Most texts are ``parsed`` as :func:`_rendered` writes it, a comparison of strings: a text
    holding a ``/`` with the slashed style's, any other with ISO's (the slashed style's string
    always holds a ``/``, ISO's never: a text cannot be the other style's string, so each row
    is rendered once); the others are taken apart by the patterns and compared field by field.
    """
    slashed = pc.fill_null(pc.match_substring(text, "/"), False).to_numpy(zero_copy_only=False)
    same = np.zeros(len(text), dtype=bool)
    for slashes in (False, True):
        rows = np.flatnonzero(slashed == slashes)
        if len(rows):
            taken = pa.array(rows)
            same[rows] = pc.fill_null(pc.equal(text.take(taken), _rendered(parsed.take(taken), slashes)),
                                      False).to_numpy(zero_copy_only=False)
    for pattern in _STRICT_STYLES:
        if same.all():
            break
        rest = np.flatnonzero(~same)
        parts = pc.extract_regex(text.take(pa.array(rest)), pattern)
        found = pc.is_valid(parts).to_numpy(zero_copy_only=False)
        if not found.any():
            continue
        at = rest[found]
        parts, value = parts.filter(pa.array(found)), parsed.take(pa.array(at))
        ok = np.ones(len(at), dtype=bool)
        written_fields = {parts.type.field(i).name for i in range(parts.type.num_fields)}
        for name, field in _FIELDS:
            if name not in written_fields:
                written = pa.array(np.zeros(len(at), dtype=np.int64))  # no seconds written: 0
            else:
                written = pc.cast(pc.struct_field(parts, name), pa.int64())
            ok &= pc.fill_null(pc.equal(written, pc.cast(field(value), pa.int64())),
                               False).to_numpy(zero_copy_only=False)
        same[at[ok]] = True
    return same


def _arrow_datetimes(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Fast path: parse the two common styles with Arrow's strptime (C++).

    Arrow rolls impossible dates over (2025-02-30 becomes 2025-03-02), which
    can only produce days 1 to 3 of a month; such a value is kept only when
    its text has a strict style and the same fields (:func:`_written_as_parsed`),
    and is left NaT otherwise so that the strict pandas path decides it.
    Values with surrounding spaces also fall through to that path.

    Returns the values (NaT where not taken) and, per row, whether a style without
    seconds took it (``2025/1/2 8:05``: it cannot hold a leap second, :func:`_leap_seconds`).
    """
    arr = as_arrow(raw)
    out = None
    no_seconds = np.zeros(len(raw), dtype=bool)
    for fmt in ARROW_FORMATS:
        parsed = pc.strptime(arr, format=fmt, unit="us", error_is_null=True)
        if "%S" not in fmt:  # the rows this style takes (not taken by an earlier one)
            taken = pc.is_valid(parsed) if out is None else pc.and_(pc.is_valid(parsed), pc.is_null(out))
            no_seconds |= taken.to_numpy(zero_copy_only=False)
        out = parsed if out is None else pc.coalesce(out, parsed)
    values = out.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    maybe_rolled = np.flatnonzero(pc.fill_null(pc.less_equal(pc.day(out), 3), False)
                                  .to_numpy(zero_copy_only=False))
    if len(maybe_rolled):
        taken = pa.array(maybe_rolled)
        text = arr.take(taken).combine_chunks()
        parsed = out.take(taken).combine_chunks()
        values[maybe_rolled[~_written_as_parsed(text, parsed)]] = np.datetime64("NaT")
    return values, no_seconds & ~np.isnat(values)


def _leap_seconds(raw: pd.Series, values: np.ndarray, no_seconds: np.ndarray) -> np.ndarray:
    """True where ``raw`` was written with a second of 60 or 61.

    Python's ``strptime`` (the strict path) and Arrow's both read such a value as
    the next minute (``23:59:60`` as ``00:00:00`` of the next day); an export never
    has a leap second (China's clocks do not show them), so it is a fault, not a
    time. Only values read with a whole second of 0 or 1, in a style with seconds
    (``no_seconds`` False), can be one; of those, the ones whose text holds ``:60``
    or ``:61`` are (minutes and seconds of real times stop at 59).
    """
    # the microseconds into the minute: under 2 s for a second of 0 or 1 (NaT's are left out)
    into_minute = values.view(np.int64) % 60_000_000
    rows = np.flatnonzero(~np.isnat(values) & (into_minute < 2_000_000) & ~no_seconds)
    out = np.zeros(len(values), dtype=bool)
    if len(rows):  # one substring pass over them, a second over the few holding ":6"
        text = as_arrow(raw).take(pa.array(rows))
        rows = rows[pc.fill_null(pc.match_substring(text, ":6"), False).to_numpy(zero_copy_only=False)]
    if len(rows):
        text = as_arrow(raw).take(pa.array(rows))
        found = pc.or_(pc.match_substring(text, ":60"), pc.match_substring(text, ":61"))
        out[rows] = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    return out


def parse_datetime(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Datetimes in the export styles of docs/input_contract.md, or Excel serial day numbers.

    ``raw`` may carry surrounding white space (it is stripped here, only for
    the rows the fast path does not take).

    Returns (``datetime64[us]`` values, NaT for blank or invalid; mask of
    invalid non-blank values).
    """
    values, no_seconds = _arrow_datetimes(raw)
    todo = np.isnat(values)
    todo[todo] = pc.fill_null(pc.not_equal(as_arrow(raw).filter(pa.array(todo)), ""),
                              False).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(todo)
    text = np.asarray(pc.utf8_trim_whitespace(as_arrow(raw).take(pa.array(rows))).to_pylist(),
                      dtype=object)
    todo[rows[text == ""]] = False  # blank once stripped: missing, not invalid
    keep = text != ""
    rows, text = rows[keep], pd.Series(text[keep], dtype="string")
    left = np.ones(len(rows), dtype=bool)
    for fmt in DATETIME_FORMATS:  # strict, for the rows Arrow did not take
        if not left.any():
            break
        parsed = pd.to_datetime(text[left], format=fmt, errors="coerce")
        hit = parsed.notna().to_numpy(dtype=bool)
        if hit.any():
            at = np.flatnonzero(left)[hit]
            values[rows[at]] = parsed[hit].astype("datetime64[us]").to_numpy()
            left[at] = False
    if left.any():
        num = pd.to_numeric(text[left], errors="coerce")
        lo, hi = EXCEL_SERIAL_RANGE
        hit = (num.notna() & (num >= lo) & (num <= hi)).to_numpy(dtype=bool)
        if hit.any():
            at = np.flatnonzero(left)[hit]
            stamps = EXCEL_EPOCH + pd.to_timedelta(num[hit].to_numpy() * 86400.0, unit="s").round("s")
            values[rows[at]] = stamps.to_numpy().astype("datetime64[us]")
            left[at] = False
    invalid = np.zeros(len(values), dtype=bool)
    invalid[rows[left]] = True
    leap = _leap_seconds(raw, values, no_seconds)
    if leap.any():
        values[leap] = np.datetime64("NaT")
        invalid |= leap
    lo, hi = DATETIME_RANGE
    outside = ~np.isnat(values) & ((values < lo) | (values >= hi))
    if outside.any():
        values[outside] = np.datetime64("NaT")
        invalid |= outside
    return pd.Series(values, index=raw.index, copy=False), pd.Series(invalid, index=raw.index, copy=False)


def parse_datetimes(columns: list[pd.Series]) -> list[tuple[pd.Series, pd.Series]]:
    """:func:`parse_datetime` of several columns, parsed as one.

    Every step of the parse is row by row, so the columns' rows are put end
    to end (Arrow chunks, no copy), parsed once and cut apart again: a third
    of the kernel calls for three columns, each over three times the rows.
    """
    if len(columns) < 2:
        return [parse_datetime(c) for c in columns]
    chunks = [chunk for c in columns for chunk in as_arrow(c).cast(pa.large_string()).chunks]
    joined = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks, pa.large_string())))
    values, invalid = parse_datetime(joined)
    values, invalid = values.to_numpy(), invalid.to_numpy()
    out, start = [], 0
    for c in columns:
        stop = start + len(c)
        out.append((pd.Series(values[start:stop], index=c.index, copy=False),
                    pd.Series(invalid[start:stop], index=c.index, copy=False)))
        start = stop
    return out
