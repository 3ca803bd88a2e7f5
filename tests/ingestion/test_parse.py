"""Field parsers: dates, labels, answers, counts."""

from __future__ import annotations

import re

import pandas as pd

from research.ingestion.parse import parse_answer, parse_count, parse_datetime, parse_label


def s(*values):
    return pd.Series(list(values), dtype="string")


def test_datetime_styles_of_real_exports():
    values, bad = parse_datetime(s("2026-03-01 08:15:00", "2026/3/1 8:15", "2026/03/01 08:15:30",
                                   "2026-03-01 08:15", ""))
    assert values.iloc[0] == values.iloc[1] == values.iloc[3] == pd.Timestamp("2026-03-01 08:15")
    assert values.iloc[2] == pd.Timestamp("2026-03-01 08:15:30")
    assert pd.isna(values.iloc[4])
    assert not bad.any()
    assert str(values.dtype) == "datetime64[us]"


def test_excel_serial_dates():
    # Microsoft's documentation: "January 1, 2008 is serial number 39448"; 0.5 day = 12:00.
    values, bad = parse_datetime(s("39448", "39448.5", "45000.0"))
    assert values.iloc[0] == pd.Timestamp("2008-01-01")
    assert values.iloc[1] == pd.Timestamp("2008-01-01 12:00")
    assert values.iloc[2] == pd.Timestamp("2023-03-15")  # Excel: =DATE(2023,3,15) is 45000
    assert not bad.any()


def test_impossible_calendar_dates_are_invalid_not_rolled_over():
    values, bad = parse_datetime(s("2025/2/29 8:00", "2024/2/29 8:00", "2025-04-31 10:00:00",
                                   "2025-05-01 00:00:00", "2025/3/3 23:59"))
    assert bad.tolist() == [True, False, True, False, False]
    assert values.iloc[1] == pd.Timestamp("2024-02-29 08:00")  # leap year
    assert values.iloc[3] == pd.Timestamp("2025-05-01")
    assert values.iloc[4] == pd.Timestamp("2025-03-03 23:59")


def test_a_second_of_60_or_61_is_invalid_not_the_next_minute():
    """Python's strptime and Arrow's read ``23:59:60`` as midnight of the next day; no export
    clock shows a leap second, so the value is a fault (invalid_datetime), whatever its style."""
    values, bad = parse_datetime(s("2025-01-15 23:59:60", "2025-01-15 23:59:61", "2025-01-15T23:59:60",
                                   "2025/1/15 23:59:60", "2025-01-15 23:59:60.5", " 2025-01-01 23:59:60 ",
                                   "2025-01-15 23:59:59", "2025-01-16 00:00:00", "2025-01-16 00:00:01",
                                   "2025/1/16 0:00", "45000", "2025-01-15 10:6:00", "2025-01-15 10:6:1"))
    assert bad.tolist() == [True] * 6 + [False] * 7
    assert values.iloc[:6].isna().all()
    assert values.iloc[7] == values.iloc[9] == pd.Timestamp("2025-01-16")
    assert values.iloc[8] == pd.Timestamp("2025-01-16 00:00:01")
    # a minute written with one digit holds ":6" but no second of 60
    assert values.iloc[11] == pd.Timestamp("2025-01-15 10:06") and values.iloc[12] == pd.Timestamp("2025-01-15 10:06:01")


def test_surrounding_spaces_and_blank_datetimes():
    values, bad = parse_datetime(s(" 2026-03-01 08:15:00 ", "\u30002026/3/1 8:15", "   ", ""))
    assert values.iloc[0] == values.iloc[1] == pd.Timestamp("2026-03-01 08:15")
    assert values.iloc[2:].isna().all() and not bad.any()


def test_invalid_datetimes_are_flagged_not_dropped():
    values, bad = parse_datetime(s("2025-13-45 10:00:00", "2025-02-30 10:00:00", "昨天", "1", ""))
    assert bad.tolist() == [True, True, True, True, False]
    assert values.isna().all()


def test_labels_any_spelling(instrument):
    codes, bad = parse_label(s("95598热线", "微信", "WeChat", "ｗｅｃｈａｔ", "app", "柜台", "传真", ""),
                             instrument.label_sets["channel"])
    assert codes.tolist()[:6] == ["hotline", "wechat", "wechat", "wechat", "app", "counter"]
    assert bad.tolist() == [False] * 6 + [True, False]
    assert pd.isna(codes.iloc[6]) and pd.isna(codes.iloc[7])


def test_answers_codes_labels_missing_and_invalid(instrument):
    values, bad = parse_answer(s("5", "5.0", "非常满意", "满意", "Very Satisfied", "拒答", "不清楚", "",
                                 "6", "0", "-1", "很好", "4.5"), instrument.scales["sat5"])
    assert values.iloc[:5].tolist() == [5, 5, 5, 4, 5]
    assert values.iloc[5:].isna().all()
    assert bad.tolist() == [False] * 8 + [True] * 5


def test_counts():
    values, bad = parse_count(s("0", "3", "3.0", "", "-1", "1.5", "两次", "x"))
    assert values.iloc[:3].tolist() == [0, 3, 3]
    assert values.iloc[3:].isna().all()
    assert bad.tolist() == [False] * 4 + [True] * 4


def test_datetimes_outside_1900_2200_are_invalid_not_errors():
    from research.ingestion.parse import parse_datetime

    values, bad = parse_datetime(s("9999-12-31 23:59:59", "0001-01-01 00:00:00", "1899-12-31",
                                   "2200-12-31 23:59:59", "1900-01-01 00:00:00", "2201/1/1 0:00"))
    assert bad.tolist() == [True, True, True, False, False, True]
    assert values.iloc[[0, 1, 2, 5]].isna().all() and values.iloc[3:5].notna().all()


def test_counts_beyond_10000_or_not_finite_are_invalid():
    counts, bad = parse_count(s("1e20", "10000", "10001", "inf", "-inf", "nan", "9" * 400, "1e3"))
    assert bad.tolist() == [True, False, True, True, True, True, True, False]
    assert counts.iloc[1] == 10000 and counts.iloc[7] == 1000


def test_control_characters_found_and_replaced():
    from research.ingestion.parse import has_control_chars, replace_control_chars

    raw = s("站\x071", "plain", "a\u2028b", "x\x85", "tab\tand\nnewline\r", "—“…”°", "", "del\x7f")
    assert has_control_chars(raw).tolist() == [True, False, True, True, False, False, False, True]
    cleaned, found = replace_control_chars(raw)
    assert cleaned.tolist() == ["站 1", "plain", "a b", "x ", "tab\tand\nnewline\r", "—“…”°", "", "del "]
    assert found.sum() == 4


# ---------------------------------------------------------------------------
# The fast paths against the slow ones they replaced (issue 12, point 3): the
# references below are the earlier implementations, kept here to pin that the
# fast ones give the same values and flags.
# ---------------------------------------------------------------------------

def _reference_parse_datetime(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """parse_datetime as it was: Arrow for the two common styles except days 1-3 of a
    month, which (with everything Arrow did not take) go through pandas' strict formats."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from research.ingestion import parse

    arr = parse.as_arrow(raw)
    out = None
    for fmt in parse.ARROW_FORMATS:
        parsed = pc.strptime(arr, format=fmt, unit="us", error_is_null=True)
        out = parsed if out is None else pc.coalesce(out, parsed)
    maybe_rolled = pc.fill_null(pc.less_equal(pc.day(out), 3), False)
    out = pc.if_else(maybe_rolled, pa.scalar(None, out.type), out)
    values = out.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    todo = np.isnat(values) & (raw != "").to_numpy(dtype=bool)
    rows = np.flatnonzero(todo)
    text = raw.iloc[rows].str.strip().to_numpy(dtype=object)
    todo[rows[text == ""]] = False
    keep = text != ""
    rows, text = rows[keep], pd.Series(text[keep], dtype="string")
    left = np.ones(len(rows), dtype=bool)
    for fmt in parse.DATETIME_FORMATS:
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
        lo, hi = parse.EXCEL_SERIAL_RANGE
        hit = (num.notna() & (num >= lo) & (num <= hi)).to_numpy(dtype=bool)
        if hit.any():
            at = np.flatnonzero(left)[hit]
            stamps = parse.EXCEL_EPOCH + pd.to_timedelta(num[hit].to_numpy() * 86400.0, unit="s").round("s")
            values[rows[at]] = stamps.to_numpy().astype("datetime64[us]")
            left[at] = False
    invalid = np.zeros(len(values), dtype=bool)
    invalid[rows[left]] = True
    # a second of 60 or 61, told from the text alone, one value at a time (Python's re)
    leap = np.array([isinstance(t, str) and re.search(r":6[01](?:[.,]\d*)?\s*$", t) is not None
                     for t in raw.tolist()], dtype=bool)
    values[leap] = np.datetime64("NaT")
    invalid |= leap
    lo, hi = parse.DATETIME_RANGE
    outside = ~np.isnat(values) & ((values < lo) | (values >= hi))
    values[outside] = np.datetime64("NaT")
    invalid |= outside
    return pd.Series(values, index=raw.index), pd.Series(invalid, index=raw.index)


def _datetime_texts(n: int, seed: int) -> list[str]:
    """Date-like texts of every shape: both export styles with and without zero padding,
    impossible days (2025-02-30), hours 24, seconds 60, signed and short years, spaces."""
    import random

    rng = random.Random(seed)
    years = ["2025", "2024", "2023", "1900", "1899", "2200", "2201", "0000", "25", "+2025", "02025"]

    def field(lo: int, hi: int) -> str:
        v = rng.randint(lo, hi)
        return rng.choice([str(v), f"{v:02d}", f"{v:02d}", f" {v}", f"{v:03d}"])

    out = []
    for _ in range(n):
        y, sep = rng.choice(years), rng.choice("-/-/.")
        m, d, h, mi, s = field(0, 13), field(0, 32), field(0, 25), field(0, 61), field(0, 62)
        out.append(rng.choice([
            f"{y}{sep}{m}{sep}{d} {h}:{mi}:{s}", f"{y}{sep}{m}{sep}{d} {h}:{mi}",
            f"{y}{sep}{m}{sep}{d} {h}:{mi}:{s}", f"{y}{sep}{m}{sep}{d} {h}:{mi}",
            f"{y}{sep}{m}{sep}{d}", f"{y}{sep}{m}{sep}{d}T{h}:{mi}:{s}", f" {y}{sep}{m}{sep}{d} {h}:{mi} ",
            f"{y}{sep}{m}{sep}{d}{h}:{mi}:{s}", f"{y}{sep}{m}{sep}{d} {h}:{mi}:{s}.{rng.randint(0, 999)}",
            rng.choice(["", " ", "\u3000", "39448", "39448.5", "1", "昨天", "2025-01-02 08:15:00\u3000"]),
        ]))
    return out


def test_datetime_fast_path_agrees_with_the_strict_reference():
    edge = ["2025-02-30 10:00:00", "2025/2/29 8:00", "2024/2/29 8:00", "2025-04-31 10:00:00",
            "2025-01-02 24:00:00", "2025-01-03 23:59:60", "2025-01-31 23:59:60", "+2025-01-02 08:00:00",
            "2025-1-2 08:00:00", "2025/1/2 8:00", "2025/01/02 08:00", "2025/1/2 8:0", "2025-01-0208:15:00",
            "2025/1/2  8:15", "2025-12-31 23:59:59", "2026-01-01 00:00:00", "2025-03-01 00:00:00"]
    raw = pd.Series(edge + _datetime_texts(20_000, seed=3), dtype="string")
    values, bad = parse_datetime(raw)
    want_values, want_bad = _reference_parse_datetime(raw)
    pd.testing.assert_series_equal(values, want_values)
    pd.testing.assert_series_equal(bad, want_bad)
    assert int((values.dt.day <= 3).sum()) > 500  # days 1-3 of a month: the values checked for roll-over


def test_parse_text_strips_as_pandas_did():
    from research.ingestion.parse import parse_text

    raw = s(" a ", "\u3000站\u3000", "", "   ", "\t\n", "b", "\u00a0c\u2003", "x y")
    want = raw.str.strip()
    want = want.mask(want == "").astype("string")
    pd.testing.assert_series_equal(parse_text(raw), want)


def test_coded_text_and_labels_hold_what_the_row_parsers_give(instrument):
    """Ingest keeps text as distinct values and codes (parse.Coded): per row, the same values."""
    from research.ingestion.parse import label_codes, parse_label, parse_text, text_codes

    raw = s(" a ", "a", "", "   ", "\u3000站\u3000", "站", "b", "a ", "")
    coded = text_codes(raw)
    pd.testing.assert_series_equal(coded.series(raw.index), parse_text(raw))
    assert coded.isna().tolist() == parse_text(raw).isna().tolist()
    keep = [True, False, True, True, False, True, True, True, False]
    pd.testing.assert_series_equal(coded.select(keep).series(), parse_text(raw)[keep].reset_index(drop=True))
    labels = s("95598热线", "微信", "", "传真", "微信", " wechat ")
    codes, bad = label_codes(labels, instrument.label_sets["channel"])
    want, want_bad = parse_label(labels, instrument.label_sets["channel"])
    pd.testing.assert_series_equal(codes.series(labels.index), want)
    assert bad.tolist() == want_bad.tolist()


def test_rows_read_in_a_style_without_seconds_are_told_apart(monkeypatch):
    """_arrow_datetimes says which rows a style without seconds took (they cannot hold a leap
    second), each style counted for the rows it took, also with two such styles in a row."""
    from research.ingestion import datetimes

    monkeypatch.setattr(datetimes, "ARROW_FORMATS", ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"))
    values, no_seconds = datetimes._arrow_datetimes(s("2025/1/15 8:05", "2025-01-15 08:05",
                                                      "2025-01-15 08:05:00", "", "昨天"))
    assert no_seconds.tolist() == [True, True, False, False, False]
    assert values[0] == values[1] == values[2]


def _layout_texts(n: int, seed: int) -> list[str]:
    """Texts of exactly the widths of the fixed layouts (13-16 and 19 bytes) that are, or nearly
    are, one of them: every width of month, day and hour, impossible days and times, a wrong
    separator, a letter or a full-width digit for a digit, years 0000-9999."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        y = rng.choice([rng.randint(1900, 2200), rng.randint(0, 9999), 2024, 2025, 2100])
        m, d = rng.randint(0, 13), rng.randint(0, 32)
        h, mi, sec = rng.randint(0, 25), rng.randint(0, 61), rng.randint(0, 61)
        if rng.random() < 0.5:
            text = f"{y:04d}-{m:02d}-{d:02d} {h:02d}:{mi:02d}:{sec:02d}"
        else:
            text = f"{y:04d}/{rng.choice([str(m), f'{m:02d}'])}/{rng.choice([str(d), f'{d:02d}'])} " \
                   f"{rng.choice([str(h), f'{h:02d}'])}:{mi:02d}"
        roll = rng.random()
        if roll < 0.1:  # one character replaced: a separator, a letter, a full-width digit
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice("-/: T.x0９") + text[at + 1:]
        out.append(text)
    return out


def test_fixed_layouts_read_exactly_the_real_dates_python_reads():
    """The fixed-layout path (datetimes._fixed_datetimes) against Python's datetime.strptime,
    one text at a time: a text is taken exactly when it has one of the layouts (ASCII digits,
    the separators where they belong) and strptime reads it as a real date and time with a
    second under 60, and then to strptime's value; every other text is left NaT."""
    import datetime as dt

    import numpy as np
    import pyarrow as pa

    from research.ingestion import datetimes

    shapes = [(re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", re.ASCII), "%Y-%m-%d %H:%M:%S"),
              (re.compile(r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}", re.ASCII), "%Y/%m/%d %H:%M")]

    def expected(text: str):
        for shape, fmt in shapes:
            if shape.fullmatch(text):
                if text[-2:] in ("60", "61") and fmt.endswith("%S"):
                    return None  # strptime reads a leap second; the fixed path leaves it
                try:
                    return np.datetime64(dt.datetime.strptime(text, fmt), "us")
                except ValueError:
                    return None
        return None

    texts = ["2025-02-29 10:00:00", "2024-02-29 10:00:00", "2025/2/29 8:00", "2024/2/29 8:00",
             "2025/12/31 23:59", "2025/1/1 0:00", "0000-01-01 00:00:00", "9999-12-31 23:59:59",
             "2025-01-15 23:59:60", "2025-01-15 24:00:00", "2025/1/15 8:60", "2025-01-15T08:00:00",
             "２025-01-15 08:00", "2025/1/15  8:05", "2025/01/15 08:05"] + _layout_texts(30_000, seed=11)
    # two chunks, the second a slice (its offsets do not start at 0)
    values = datetimes._fixed_datetimes(pa.chunked_array([
        pa.array(texts[:9], pa.large_string()), pa.array(["x", *texts[9:]], pa.large_string()).slice(1)]))
    small = datetimes._fixed_datetimes(pa.chunked_array([pa.array(texts[:9], pa.string())]))
    assert np.array_equal(small, values[:9], equal_nan=True)  # 32-bit offsets too
    want = np.array([expected(t) or np.datetime64("NaT") for t in texts], dtype="datetime64[us]")
    assert np.array_equal(values, want, equal_nan=True)
    assert (~np.isnat(want)).sum() > 15_000 and np.isnat(want).sum() > 5_000  # both kinds are tried
    # every layout takes some text
    taken = [t for t, v in zip(texts, values) if not np.isnat(v)]
    for layout in datetimes.FIXED_LAYOUTS:
        shape = "".join(r"\d" if ch in "YmdHMS" else re.escape(ch) for ch in layout)
        assert any(re.fullmatch(shape, t, re.ASCII) for t in taken), layout


def test_datetimes_of_any_text_agree_with_the_strict_reference():
    """Any text, not only date-like ones (hypothesis: digits, separators, spaces, full-width and
    other characters, in the layouts' widths and beside them): the same values and flags as the
    reference of the earlier path, and never an exception."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list("0123456789-/: T.\u3000９\x00é")) | st.characters()
    layout_like = st.builds(lambda y, m, d, h, mi, s, sep: f"{y:04d}{sep}{m}{sep}{d} {h}:{mi:02d}:{s:02d}",
                            st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32),
                            st.integers(0, 25), st.integers(0, 61), st.integers(0, 61), st.sampled_from("-/"))

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.text(alphabet, max_size=20) | layout_like | layout_like.map(lambda t: t[:-3]),
                    min_size=1, max_size=40))
    def check(texts):
        raw = pd.Series(texts, dtype="string")
        values, bad = parse_datetime(raw)
        want_values, want_bad = _reference_parse_datetime(raw)
        pd.testing.assert_series_equal(values, want_values)
        pd.testing.assert_series_equal(bad, want_bad)

    check()
