"""Datetimes of raw exports: the export styles of docs/input_contract.md and Excel serial days.

:func:`parse_datetime` (and :func:`parse_datetimes`, several columns parsed as one) reads the two
common styles written exactly (:data:`FIXED_LAYOUTS`) from their bytes with numpy, their near
variants with Arrow's ``strptime`` and the rest with pandas' strict formats; impossible dates,
seconds of 60 or 61 and values outside :data:`DATETIME_RANGE` are invalid, never an exception.
Split from :mod:`research.ingestion.parse`, which still gives every name.
"""

from __future__ import annotations

import functools

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


# The two styles of docs/input_contract.md as fixed layouts of ASCII bytes, one per width of
# each field (Y year, m month, d day, H hour, M minute, S second; any other character is a
# separator that must be there): the zero-padded ISO style, and the slashed style with one or
# two digits of month, day and hour (8 layouts, 13 to 16 bytes long).
FIXED_LAYOUTS = ("YYYY-mm-dd HH:MM:SS",) + tuple(
    f"YYYY/{m}/{d} {h}:MM" for m in ("m", "mm") for d in ("d", "dd") for h in ("H", "HH"))
_FIELD_LETTERS = "YmdHMS"


class _Layout:
    """One layout of :data:`FIXED_LAYOUTS`: where its digits and separators are, and for each
    field (in the order of :data:`_FIELD_LETTERS`) the positions of its digits among the
    layout's digits, most significant first."""

    def __init__(self, text: str) -> None:
        self.width = len(text)
        self.digits = np.array([j for j, ch in enumerate(text) if ch in _FIELD_LETTERS])
        self.seps = np.array([j for j, ch in enumerate(text) if ch not in _FIELD_LETTERS])
        self.sep_bytes = np.frombuffer("".join(text[j] for j in self.seps).encode("ascii"), np.uint8)
        self.fields = tuple(tuple(i for i, j in enumerate(self.digits) if text[j] == letter)
                            for letter in _FIELD_LETTERS)


_LAYOUTS = tuple(_Layout(text) for text in FIXED_LAYOUTS)
#: rows of one width parsed at a time: the temporaries (a few MB) are then reused from the heap
#: instead of being mapped and zeroed anew by the kernel for each operation (whole 1.5M-row
#: groups doubled the datetimes' page faults of the 1M-row benchmark)
_CHUNK_ROWS = 1 << 18


@functools.cache
def _month_table() -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970-01-01 of its first day, days it has) of month ``12 * year + month - 1``,
    years 0-9999 (made once)."""
    months = np.arange(10_000 * 12 + 1) - 1970 * 12
    starts = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return starts[:-1], np.diff(starts).astype(np.int32)


def _layout_values(block: np.ndarray, layout: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """(rows, microseconds since 1970) of the rows of ``block`` (texts as rows of ASCII bytes,
    all ``layout.width`` long) that have ``layout`` and are a real date and time: year 1-9999,
    month 1-12, a day the month has, hour 0-23, minute and second 0-59."""
    rows = np.flatnonzero((block[:, layout.seps] == layout.sep_bytes).all(axis=1))
    if not len(rows):
        return rows, np.zeros(0, dtype=np.int64)
    taken = block if len(rows) == len(block) else block[rows]
    # one row per digit position (contiguous); a byte that is no digit wraps above 9
    digits = np.ascontiguousarray(taken[:, layout.digits].T)
    digits -= np.uint8(48)
    ok = digits.max(axis=0) <= 9

    def field(at: tuple[int, ...]) -> np.ndarray:  # a field the layout lacks (seconds) is 0
        value = digits[at[0]].astype(np.int32) if at else np.zeros(len(rows), dtype=np.int32)
        for i in at[1:]:
            value *= 10
            value += digits[i]
        return value

    year, month, day, hour, minute, second = (field(at) for at in layout.fields)
    # year 0 exists for numpy, not for Python's strptime: left to the slower paths, as is
    # anything else they would not read (it is outside DATETIME_RANGE in any case)
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (hour <= 23) & (minute <= 59)
    ok &= second <= 59
    starts, lengths = _month_table()
    index = np.where(ok, year * 12 + month - 1, 0)
    ok &= day <= lengths[index]
    minutes = ((starts[index] + (day - 1)) * 24 + hour) * 60 + minute
    return rows[ok], (minutes[ok] * 60 + second[ok]) * 1_000_000


def _fixed_datetimes(arr: pa.ChunkedArray) -> np.ndarray:
    """Values of the texts written exactly in a layout of :data:`FIXED_LAYOUTS` and holding a
    real date and time; NaT for every other text (blank, null, another style, an impossible
    date or second, surrounding spaces), which the slower paths then decide.

    Each such text is read as Arrow's ``strptime`` and Python's strict one read it, to the same
    value; but here an impossible date or a second of 60 is left for those paths rather than
    rolled over, so neither the check of :func:`_written_as_parsed` nor that of
    :func:`_leap_seconds` is needed for these rows. Written by hand (numpy over the texts'
    bytes, grouped by length so that each group is a matrix of bytes) because no library
    parses a fixed layout without rolling impossible dates over: on the 3 million datetimes of
    the 1M-row benchmark, alone, 0.24-0.27 s against 0.52 s for Arrow's two ``strptime``
    passes and those two checks (tests/ingestion/test_parse.py holds it to Python's
    ``datetime.strptime``).
    """
    values = np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[us]")
    lengths = pc.fill_null(pc.binary_length(arr), 0).to_numpy(zero_copy_only=False)
    as_int = values.view(np.int64)
    for width in sorted({layout.width for layout in _LAYOUTS}):
        rows = np.flatnonzero(lengths == width)
        if not len(rows):
            continue
        texts = arr.take(pa.array(rows)).combine_chunks().cast(pa.large_string())
        offsets = np.frombuffer(texts.buffers()[1], np.int64)[texts.offset:texts.offset + len(texts) + 1]
        data = np.frombuffer(texts.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]
        block = data.reshape(len(texts), width)  # every text is ``width`` bytes: a matrix
        for first in range(0, len(block), _CHUNK_ROWS):
            part = block[first:first + _CHUNK_ROWS]
            for layout in _LAYOUTS:
                if layout.width == width:
                    at, micros = _layout_values(part, layout)
                    as_int[rows[first + at]] = micros
    return values


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
    the rows the fast paths do not take).

    The texts written exactly in one of the two usual styles are read first
    (:func:`_fixed_datetimes`); the others go through Arrow's ``strptime``
    (:func:`_arrow_datetimes`), then pandas' strict formats and Excel serial days
    (:func:`_other_datetimes`). Values outside :data:`DATETIME_RANGE` are invalid.

    Returns (``datetime64[us]`` values, NaT for blank or invalid; mask of
    invalid non-blank values).
    """
    arr = as_arrow(raw)
    values = _fixed_datetimes(arr)
    invalid = np.zeros(len(values), dtype=bool)
    rest = np.flatnonzero(np.isnat(values))
    if len(rest) == len(values):
        values, invalid = _other_datetimes(raw)
    elif len(rest):
        texts = arr.take(pa.array(rest)).combine_chunks().cast(pa.large_string())
        values[rest], invalid[rest] = _other_datetimes(pd.Series(pd.arrays.ArrowStringArray(texts)))
    lo, hi = DATETIME_RANGE
    outside = ~np.isnat(values) & ((values < lo) | (values >= hi))
    if outside.any():
        values[outside] = np.datetime64("NaT")
        invalid |= outside
    return pd.Series(values, index=raw.index, copy=False), pd.Series(invalid, index=raw.index, copy=False)


def _other_datetimes(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, invalid) of texts :func:`_fixed_datetimes` did not take, as numpy arrays, the
    range of :data:`DATETIME_RANGE` not yet applied: Arrow's ``strptime`` for the two usual
    styles (:func:`_arrow_datetimes`), pandas' strict formats of :data:`DATETIME_FORMATS` and
    Excel serial days for the rest; a second of 60 or 61 is invalid (:func:`_leap_seconds`)."""
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
    return values, invalid


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
