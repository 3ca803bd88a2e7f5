"""Parse raw export strings into canonical values, one column at a time.

Each parser takes a Series of raw strings (blank = ``""``) and returns the
parsed Series plus a boolean Series marking values that are present but
invalid. Blank cells are never "invalid" here; whether blank is allowed is
decided by the caller from the field's ``required`` flag.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from research.instrument import LabelSet, Scale, normalize_key

# Date styles of real exports, tried in order (DESIGN.md: "2026-03-01 08:15:00",
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
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
EXCEL_SERIAL_RANGE = (2.0, 73415.0)
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


def _fold_unique(raw: pd.Series) -> pd.Series:
    """:func:`fold_value` of each value, computed once per distinct value."""
    uniques = pd.unique(raw.to_numpy())
    return raw.map({u: fold_value(u) for u in uniques})


def parse_text(raw: pd.Series) -> pd.Series:
    """Stripped text; blank becomes <NA>."""
    out = strip(raw)
    return out.mask(out == "").astype("string")


def parse_label(raw: pd.Series, labels: LabelSet) -> tuple[pd.Series, pd.Series]:
    """Map labels (code, zh, en or alias; case, space and width folded) to codes.

    Returns (codes with <NA> for blank or unknown, mask of unknown non-blank values).
    """
    folded = _fold_unique(strip(raw))
    codes = folded.map(labels.lookup).astype("string")
    blank = folded == ""
    return codes, (codes.isna() & ~blank)


def parse_answer(raw: pd.Series, scale: Scale) -> tuple[pd.Series, pd.Series]:
    """Map scale answers (code or label) to integer codes.

    Missing-value answers (e.g. 拒答, 不清楚) and blank cells become <NA> and are
    valid; anything else outside the scale is invalid.

    Returns (Int64 codes, mask of invalid answers).
    """
    folded = _fold_unique(strip(raw))
    known = folded.isin(list(scale.lookup)) | (folded == "")
    codes = {k: v for k, v in scale.lookup.items() if v is not None}
    values = folded.map(codes).astype("Int64")
    return values, ~known


def parse_count(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers >= 0 (``"3"``, ``"3.0"``); blank is <NA>.

    Returns (Int64 counts, mask of invalid values: negative, fractional or not a number).
    """
    text = _fold_unique(strip(raw))
    num = pd.to_numeric(text.mask(text == ""), errors="coerce")
    ok = num.notna() & (num >= 0) & (num == np.floor(num))
    invalid = (text != "") & ~ok
    return num.where(ok).astype("Int64"), invalid


def parse_datetime(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Datetimes in the export styles of DESIGN.md, or Excel serial day numbers.

    Returns (``datetime64[us]`` values, NaT for blank or invalid; mask of
    invalid non-blank values).
    """
    text = strip(raw)
    nonblank = (text != "").to_numpy(dtype=bool)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
    todo = nonblank.copy()
    for fmt in DATETIME_FORMATS:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        hit = parsed.notna().to_numpy(dtype=bool)
        if hit.any():
            idx = np.flatnonzero(todo)[hit]
            out.iloc[idx] = parsed[hit].astype("datetime64[us]").to_numpy()
            todo[idx] = False
    if todo.any():
        num = pd.to_numeric(text[todo], errors="coerce")
        lo, hi = EXCEL_SERIAL_RANGE
        hit = (num.notna() & (num >= lo) & (num <= hi)).to_numpy(dtype=bool)
        if hit.any():
            idx = np.flatnonzero(todo)[hit]
            stamps = EXCEL_EPOCH + pd.to_timedelta(num[hit].to_numpy() * 86400.0, unit="s").round("s")
            out.iloc[idx] = stamps.astype("datetime64[us]").to_numpy()
            todo[idx] = False
    return out, pd.Series(todo, index=raw.index)
