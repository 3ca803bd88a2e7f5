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
from research.ingestion.arrow_text import as_arrow
# the datetime parsers moved to their own module; their names stay importable from here
from research.ingestion.datetimes import (ARROW_FORMATS, DATETIME_FORMATS,  # noqa: F401
                                          DATETIME_RANGE, EXCEL_EPOCH, EXCEL_SERIAL_RANGE,
                                          _arrow_datetimes, _leap_seconds, _written_as_parsed,
                                          parse_datetime, parse_datetimes)

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
