"""Parse raw export strings into canonical values, one column at a time.

Each parser takes a Series of raw strings (blank cells ``""``) and returns the
parsed Series plus a boolean Series marking values that are present but
invalid. Blank cells are never "invalid" here; whether blank is allowed is
decided by the caller from the field's ``required`` flag.

Values out of range are invalid, never an exception: datetimes outside
:data:`DATETIME_RANGE`, counts above :data:`MAX_COUNT` or not finite.
:func:`has_control_chars` and :func:`replace_control_chars` find and remove
control characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.config.instrument import LabelSet, Scale, normalize_key

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
# Excel serial dates accepted: 1900-01-01 .. 2099-12-31 (day 0 = 1899-12-30,
# which absorbs Excel's 1900 leap-year bug for all dates after February 1900).
# The two styles of docs/input_contract.md and their near variants, parsed by Arrow first.
ARROW_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M")
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
EXCEL_SERIAL_RANGE = (2.0, 73415.0)
# Datetimes accepted: 1900-01-01 .. 2200-12-31. Anything else (year 1, year
# 9999) is a typing or export fault, and would overflow later arithmetic
# (pandas' nanosecond range ends in 2262).
DATETIME_RANGE = (np.datetime64("1900-01-01", "us"), np.datetime64("2201-01-01", "us"))
# The largest count accepted: a customer calling 10,000 times in 30 days is an
# export fault, and counts must fit any integer type downstream.
MAX_COUNT = 10_000
# Control characters: C0 except tab, LF and CR; DEL and C1; the Unicode line
# and paragraph separators. XML (DOCX, XLSX) refuses most of them and they
# corrupt terminal output and CSV readers. Lone surrogates cannot reach here:
# every reader hands Arrow strings, which are valid UTF-8.
CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x{9f}\x{2028}\x{2029}]"  # RE2 syntax (Arrow)
_INTEGRAL_FLOAT = re.compile(r"^([+-]?\d+)(?:\.0*)?$")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def strip(raw: pd.Series) -> pd.Series:
    """Raw strings with surrounding white space (incl. full-width) removed."""
    return raw.str.strip()


def fold_value(value: str) -> str:
    """Fold one answer for matching: numbers keep their sign ("5.0" -> "5",
    "-1" stays "-1"); words go through :func:`normalize_key`."""
    text = unicodedata.normalize("NFKC", value).strip()
    if _NUMBER.match(text):
        m = _INTEGRAL_FLOAT.match(text)
        return str(int(m.group(1))) if m else text
    return normalize_key(text)


def as_arrow(text: pd.Series) -> pa.ChunkedArray:
    """A text Series as an Arrow string array (no copy when it is Arrow-backed already)."""
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        return pa.chunked_array(text.array.__arrow_array__())
    return pa.chunked_array([pa.array(text.astype(object).where(text.notna(), None).tolist(),
                                      pa.string())])


def distinct(raw: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Dictionary-encode a text column: (index of each row's value, the distinct values).

    Label columns hold a handful of distinct values among millions of rows, so
    parsers work on the distinct values and broadcast back with the index.
    """
    enc = pc.dictionary_encode(pc.fill_null(as_arrow(raw), "")).combine_chunks()
    return enc.indices.to_numpy(zero_copy_only=False), enc.dictionary.to_pylist()


def strings_from_distinct(values: list[str | None], index: np.ndarray, like: pd.Series) -> pd.Series:
    """Broadcast per-distinct strings back to rows, as a ``string`` Series."""
    # large_string: the type pandas holds Arrow text in, so the Series takes it without a cast
    taken = pc.take(pa.array(values, pa.large_string()), pa.array(index))
    return pd.Series(pd.arrays.ArrowStringArray(taken), index=like.index)


def strings_series(arr: pa.Array | pa.ChunkedArray, like: pd.Series) -> pd.Series:
    """An Arrow text array as a ``string`` Series with the index of ``like``."""
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=like.index)


def _ints(values: list[int | None], index: np.ndarray, like: pd.Series) -> pd.Series:
    """Broadcast per-distinct integers (None = missing) back to rows, as Int64."""
    data = np.array([0 if v is None else v for v in values], dtype=np.int64)[index]
    mask = np.array([v is None for v in values], dtype=bool)[index]
    return pd.Series(pd.arrays.IntegerArray(data, mask), index=like.index, copy=False)


def _flags(values: list[bool], index: np.ndarray, like: pd.Series) -> pd.Series:
    return pd.Series(np.array(values, dtype=bool)[index], index=like.index, copy=False)


def _blank_as_null(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """``arr`` with "" (and null) as null. The validity bitmap is the result of one comparison;
    the strings are not copied."""
    chunks = []
    for chunk in arr.chunks:
        valid = pc.fill_null(pc.not_equal(chunk, ""), False)
        if chunk.offset == 0 and valid.offset == 0 and pa.types.is_large_string(chunk.type):
            chunks.append(pa.Array.from_buffers(chunk.type, len(chunk),
                                                [valid.buffers()[1], *chunk.buffers()[1:]]))
        else:
            chunks.append(pc.if_else(valid, chunk, pa.scalar(None, chunk.type)))
    return pa.chunked_array(chunks, type=arr.type)


def parse_text(raw: pd.Series) -> pd.Series:
    """Text without surrounding white space; blank becomes <NA>."""
    out = pc.utf8_trim_whitespace(as_arrow(raw))  # the kernel of pandas' str.strip()
    return strings_series(_blank_as_null(out), raw)


@dataclass(frozen=True)
class Coded:
    """A text column held as its distinct values and, per row, the position of its value.

    Row ``i`` holds ``values[codes[i]]``, <NA> where ``codes[i]`` is -1 or that
    value is null. Ingest keeps text columns so until the accepted rows are
    known: selecting rows is then a numpy selection of ``codes``, and work per
    value (stripping, masking, hashing) is done once per distinct value; the
    strings of each row are written once, for the output.
    """

    codes: np.ndarray  # int64, -1 for <NA>
    values: pa.Array  # large_string

    @classmethod
    def encode(cls, raw: pd.Series | pa.ChunkedArray) -> Coded:
        """The distinct values of a text column (<NA> kept as <NA>)."""
        arr = raw if isinstance(raw, (pa.Array, pa.ChunkedArray)) else as_arrow(raw)
        enc = pc.dictionary_encode(arr)
        enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
        codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return cls(codes, enc.dictionary.cast(pa.large_string()))

    def __len__(self) -> int:
        return len(self.codes)

    def with_values(self, values: pa.Array) -> Coded:
        """The same rows with each distinct value replaced (``values`` aligned with ``self.values``)."""
        return Coded(self.codes, values.cast(pa.large_string()))

    def select(self, keep: np.ndarray) -> Coded:
        """The rows where ``keep`` is True."""
        return Coded(self.codes[keep], self.values)

    def isna(self) -> np.ndarray:
        """True for the rows holding <NA>."""
        missing = np.append(self.values.is_null().to_numpy(zero_copy_only=False), True)
        return missing[self.codes]  # code -1 -> the appended True

    def arrow(self) -> pa.Array:
        """Each row's value, as an Arrow large_string array."""
        return pc.take(self.values, pa.array(self.codes, mask=self.codes < 0))

    def series(self, index: pd.Index | None = None) -> pd.Series:
        """Each row's value, as a ``string`` Series."""
        return pd.Series(pd.arrays.ArrowStringArray(self.arrow()),
                         index=index if index is not None else pd.RangeIndex(len(self.codes)))


def text_codes(raw: pd.Series) -> Coded:
    """:func:`parse_text` of each row, as a :class:`Coded` column (stripped once per distinct value)."""
    coded = Coded.encode(raw)
    return coded.with_values(_blank_as_null(pa.chunked_array([pc.utf8_trim_whitespace(coded.values)]))
                             .combine_chunks())


def label_codes(raw: pd.Series, labels: LabelSet) -> tuple[Coded, np.ndarray]:
    """:func:`parse_label` as a :class:`Coded` column and a numpy mask of unknown labels."""
    index, values = distinct(raw)
    folded = [fold_value(v) for v in values]
    codes = [labels.lookup.get(f) for f in folded]
    bad = [c is None and f != "" for c, f in zip(codes, folded)]
    return (Coded(index.astype(np.int64, copy=False), pa.array(codes, pa.large_string())),
            np.array(bad, dtype=bool)[index])


def parse_label(raw: pd.Series, labels: LabelSet) -> tuple[pd.Series, pd.Series]:
    """Map labels (code, zh, en or alias; case, space and width folded) to codes.

    Returns (codes with <NA> for blank or unknown, mask of unknown non-blank values).
    """
    coded, bad = label_codes(raw, labels)
    return coded.series(raw.index), pd.Series(bad, index=raw.index)


def parse_answer(raw: pd.Series, scale: Scale) -> tuple[pd.Series, pd.Series]:
    """Map scale answers (code or label) to integer codes.

    Missing-value answers (e.g. 拒答, 不清楚) and blank cells become <NA> and are
    valid; anything else outside the scale is invalid.

    Returns (Int64 codes, mask of invalid answers).
    """
    index, values = distinct(raw)
    folded = [fold_value(v) for v in values]
    codes = [scale.lookup.get(f) for f in folded]
    bad = [f != "" and f not in scale.lookup for f in folded]
    return _ints(codes, index, raw), _flags(bad, index, raw)


def _count(text: str) -> tuple[int | None, bool]:
    """(value, invalid) of one count cell."""
    if text == "":
        return None, False
    try:
        number = float(text)
    except (ValueError, OverflowError):
        return None, True
    if not np.isfinite(number) or number < 0 or number > MAX_COUNT or number != int(number):
        return None, True
    return int(number), False


def parse_count(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers 0 .. :data:`MAX_COUNT` (``"3"``, ``"3.0"``); blank is <NA>.

    Returns (Int64 counts, mask of invalid values: negative, fractional, above
    :data:`MAX_COUNT` (``1e20``), ``inf``, ``nan`` or not a number).
    """
    index, values = distinct(raw)
    parsed = [_count(unicodedata.normalize("NFKC", v).strip()) for v in values]
    return (_ints([p[0] for p in parsed], index, raw),
            _flags([p[1] for p in parsed], index, raw))


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
        if "%S" not in fmt:
            no_seconds |= pc.is_valid(parsed).to_numpy(zero_copy_only=False)
            if out is not None:
                no_seconds &= pc.is_null(out).to_numpy(zero_copy_only=False)
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


def _may_hold_control_chars(arr: pa.ChunkedArray) -> bool:
    """Quick byte scan: False when no value of ``arr`` can hold a control character.

    Scans the UTF-8 data buffers (numpy, no per-value work) for the bytes
    the characters of :data:`CONTROL_CHARS` are encoded with: C0 and DEL
    (one byte), C1 (``C2 80``..``C2 9F``) and U+2028/2029 (``E2 80 A8/A9``).
    A hit only means "maybe" (a buffer may hold bytes outside the array's
    slice); the regex then decides. Written by hand because Arrow's regex
    kernel costs ~40 ms per million values and ids almost never hold one.
    """
    for chunk in arr.chunks:
        if len(chunk) == 0:
            continue
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return True
        data = chunk.buffers()[2]
        if data is None:
            continue
        b = np.frombuffer(data, dtype=np.uint8)
        if (((b < 0x20) & (b != 0x09) & (b != 0x0A) & (b != 0x0D)) | (b == 0x7F)).any():
            return True
        lead = np.flatnonzero(b[:-1] == 0xC2)
        if len(lead) and ((b[lead + 1] >= 0x80) & (b[lead + 1] <= 0x9F)).any():
            return True
        lead = np.flatnonzero(b[:-2] == 0xE2)
        if len(lead) and ((b[lead + 1] == 0x80) & ((b[lead + 2] == 0xA8) | (b[lead + 2] == 0xA9))).any():
            return True
    return False


def has_control_chars(raw: pd.Series) -> pd.Series:
    """True where a raw string holds a control character (:data:`CONTROL_CHARS`).

    Returns a bool Series aligned with ``raw`` (blank and <NA> are False).
    """
    arr = as_arrow(raw)
    if not _may_hold_control_chars(arr):
        return pd.Series(np.zeros(len(raw), dtype=bool), index=raw.index, copy=False)
    found = pc.fill_null(pc.match_substring_regex(arr, CONTROL_CHARS), False)
    return pd.Series(found.to_numpy(zero_copy_only=False).astype(bool), index=raw.index, copy=False)


def replace_control_chars(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Free text with each control character (:data:`CONTROL_CHARS`) replaced by a space.

    Tab, LF and CR are kept: a comment legitimately holds line breaks.

    Returns (the cleaned Series, Arrow-backed; mask of values that held one).
    """
    found = has_control_chars(raw)
    if not found.any():
        return raw, found
    cleaned = pc.replace_substring_regex(as_arrow(raw), CONTROL_CHARS, " ")
    return pd.Series(pd.arrays.ArrowStringArray(cleaned), index=raw.index), found
