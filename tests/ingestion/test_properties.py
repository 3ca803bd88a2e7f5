"""Property-based tests (hypothesis): invariants of ingest over many generated exports."""

from __future__ import annotations

import unicodedata

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SURVEY_HEADERS, TEST_KEY, valid_survey, write_csv
from research.ingestion.run import ingest
from research.config.instrument import load_instrument
from research.ingestion.pseudonymise import pseudonymise

INS = load_instrument()
FIELDS = INS.field_map("survey")
BASE = valid_survey(30, seed=7)
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


_BASELINE: list[pd.DataFrame] = []


def _ingest(path, **kwargs):
    """ingest with the instrument loaded once (INS): loading it parses the instrument YAML, which
    took about 0.1 s of every ingest of these 30-row files, so over a third of these tests' time
    went to re-reading the same instrument. The instrument is not what is under test here."""
    return ingest(path, key=TEST_KEY, instrument=INS, **kwargs)


def _baseline(tmp_path_factory):
    """The records of BASE, ingested once and shared by every example (BASE never changes;
    comparisons read it without changing it)."""
    if not _BASELINE:
        d = tmp_path_factory.mktemp("base")
        write_csv(BASE, d / "s.csv")
        _BASELINE.append(_ingest(d / "s.csv").responses)
    return _BASELINE[0]


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _spell(header_name: str, choice: int, style: int) -> str:
    f = FIELDS[header_name]
    spellings = [f.zh, f.en, f.name, *f.aliases]
    word = spellings[choice % len(spellings)]
    return [word, word.upper(), f" {word} ", _fullwidth(word), word.replace("_", " ")][style % 5]


@SETTINGS
@given(order=st.permutations(list(SURVEY_HEADERS)),
       choices=st.lists(st.integers(0, 20), min_size=len(SURVEY_HEADERS), max_size=len(SURVEY_HEADERS)),
       styles=st.lists(st.integers(0, 4), min_size=len(SURVEY_HEADERS), max_size=len(SURVEY_HEADERS)),
       fmt=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "xlsx", "parquet"]),
       label_style=st.sampled_from(["zh", "code", "en"]))
def test_any_order_alias_encoding_format_gives_the_same_frame(tmp_path_factory, order, choices, styles,
                                                                fmt, label_style):
    expected = _baseline(tmp_path_factory)
    export = BASE.rename(columns={v: k for k, v in SURVEY_HEADERS.items()})
    if label_style != "zh":  # answers and labels as codes or English labels
        for col in ("channel", "cause_l1", "cause_l2", "resolved"):
            ls = INS.label_sets[col if col != "resolved" else "resolved"]
            to = {lab.zh: (lab.code if label_style == "code" else lab.en) for lab in ls.labels}
            export[col] = export[col].map(to)
        sat = {lab.zh: (lab.code if label_style == "code" else lab.en) for lab in INS.scales["sat5"].levels}
        for col in ("sat_overall", "sat_speed", "sat_attitude", "sat_outcome"):
            export[col] = export[col].map(lambda v: sat.get(v, v))
    export = export[order]
    export.columns = [_spell(c, choices[i], styles[i]) for i, c in enumerate(order)]
    d = tmp_path_factory.mktemp("case")
    if fmt == "xlsx":
        path = d / "s.xlsx"
        export.to_excel(path, index=False)
    elif fmt == "parquet":
        path = d / "s.parquet"
        export.to_parquet(path, index=False)
    else:
        path = d / "s.csv"
        write_csv(export, path, fmt)
    got = _ingest(path).responses
    pd.testing.assert_frame_equal(got, expected)


BAD_VALUES = {
    "供电所": "", "受理渠道": "传真", "诉求子类": "不存在的子类", "受理时间": "2025-02-30 10:00:00",
    "总体满意度": "11", "重复来电次数": "-3", "办结时间": "1999-01-01 00:00:00", "工单编号": "",
}


@SETTINGS
@given(cells=st.lists(st.tuples(st.integers(0, 29), st.sampled_from(sorted(BAD_VALUES))),
                      max_size=25),
       copies=st.lists(st.integers(0, 29), max_size=5))
def test_rows_read_equal_accepted_plus_rejected(tmp_path_factory, cells, copies):
    export = BASE.copy()
    for row, col in cells:
        export.loc[row, col] = BAD_VALUES[col]
    export = pd.concat([export, export.iloc[copies]], ignore_index=True)
    d = tmp_path_factory.mktemp("rec")
    write_csv(export, d / "s.csv")
    result = _ingest(d / "s.csv")
    f = result.report["files"][0]
    assert f["rows_read"] == len(export) == f["accepted"] + f["rejected"]
    assert len(result.responses) + len(result.rejected) == len(export)
    bad_rows = {r + 1 for r, _ in cells}
    accepted = set(result.responses["source_row"])
    assert not bad_rows & accepted, "a corrupted row was accepted"
    assert result.responses["ticket_id"].is_unique
    untouched = set(range(1, 31)) - bad_rows - {c + 1 for c in copies}
    assert untouched <= accepted, "a clean, unduplicated row was rejected"


@SETTINGS
@given(st.lists(st.text(min_size=1, max_size=20).map(str.strip).filter(bool), min_size=1,
                max_size=40, unique=True))
def test_pseudonyms_stable_distinct_and_keyed(ids):
    s = pd.Series(ids, dtype="string")
    a, b = pseudonymise(s, TEST_KEY), pseudonymise(s, TEST_KEY)
    assert a.equals(b)
    assert a.is_unique
    other = pseudonymise(s, b"a-different-key-0000")
    assert not (a == other).any()
    assert all(i not in p for i, p in zip(ids, a) if len(i) >= 3)


@SETTINGS
@given(st.permutations(range(30)))
def test_row_order_does_not_change_the_records(tmp_path_factory, perm):
    expected = _baseline(tmp_path_factory)
    d = tmp_path_factory.mktemp("perm")
    write_csv(BASE.iloc[list(perm)].reset_index(drop=True), d / "s.csv")
    got = _ingest(d / "s.csv").responses
    key = ["ticket_id"]
    a = got.drop(columns="source_row").sort_values(key).reset_index(drop=True)
    b = expected.drop(columns="source_row").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_fullwidth_helper():
    assert unicodedata.normalize("NFKC", _fullwidth("ticket_id")) == "ticket_id"
