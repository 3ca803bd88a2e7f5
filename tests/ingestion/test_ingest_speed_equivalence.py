"""The faster ingest paths give exactly what the plain ones give.

Ingest parses the datetime columns as one (``parse_datetimes``), runs the
masking prefilter once over several columns (``mask_columns``), hashes the
customer ids while the datetimes are parsed (``pseudonym_values``), computes
SLA deadlines on numpy arrays, finds repeated ticket ids during the check,
makes the rejected rows' frame and hashes the file when the result is first read, and does GIL-free work in a second thread.
Each is compared here with the path it replaces, on values chosen to hit
every branch; ``RESEARCH_WORKERS=1`` (one thread) and the default must write
the same bytes.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from conftest import TEST_KEY, valid_survey, workorders_for, write_csv
from research import paths
from research.ingestion import sla
from research.errors import InputError
from research.ingestion.run import ingest, write_ingest
from research.ingestion.parse import Coded, parse_datetime, parse_datetimes
from research.ingestion.pseudonymise import mask_columns, mask_series, pseudonym_values, pseudonymise_coded

DATES = ["2025-01-02 08:05:09", "2025/1/2 8:05", " 2025-03-04 10:00:00 ", "2025-02-30 10:00:00",
         "2025/2/30 9:00", "2025-02-03 00:00:00", "2025/02/01 00:00", "45000", "45000.5", "1",
         "", "   ", "\u3000", None, "yesterday", "9999-01-01 00:00:00", "1899-12-31 23:59:59",
         "2025-01-02T08:05:09", "2025-01-02 08:05", "2025-01-02", "2025/1/2",
         "2025-01-02 08:05:09.5",
         "2025-1-2 8:5:9", "2024-02-29 12:00:00", "2023-02-29 12:00:00", "2025/13/1 1:00",
         "２０２５-01-02 08:05:09", "2025-01-02 24:00:00", "2025-01-01 00:01:60"]


def _strings(values: list) -> pd.Series:
    return pd.Series(pd.array(values, dtype="string[pyarrow]"))


def _listed(values: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in values]


def test_datetime_columns_parsed_as_one_are_parsed_as_each():
    rng = np.random.default_rng(3)
    columns = [_strings([DATES[i] for i in rng.integers(0, len(DATES), n)]) for n in (300, 1, 57)]
    columns.append(_strings(DATES))
    together = parse_datetimes(columns)
    for column, (values, invalid) in zip(columns, together):
        alone_values, alone_invalid = parse_datetime(column)
        pd.testing.assert_series_equal(values, alone_values)
        pd.testing.assert_series_equal(invalid, alone_invalid)
    assert parse_datetimes([]) == []


def test_masking_columns_together_is_masking_each():
    texts = ["电话13912345678", "无", None, "", "户号 8635170445 有问题", "张三丰的电话", "0755-12345678",
             "４４０７０３１９７５０２１７２１０３", "a1b2", "95598", "客户8635170445的户号"]
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({name: _strings([texts[i] for i in rng.integers(0, len(texts), n)])
                          for name in ("comment", "station", "region", "cause")})
    own = [(_strings([["8635170445", " 8635170445 ", "张三丰的", None, "12"][i]
                      for i in rng.integers(0, 5, n)]), "[CUSTOMER]"),
           (_strings([["13912345678", "", None][i] for i in rng.integers(0, 3, n)]), "[PHONE]")]
    for also in ((), own):
        coded = {name: Coded.encode(frame[name]) for name in frame.columns}
        together = mask_columns(coded, also=also)
        for name in frame.columns:
            alone = mask_series(frame[name], also=also)
            assert together[name].to_pylist() == _listed(alone), name
    # rows of a selection, their own values found through `at`
    keep = rng.random(n) < 0.6
    at = np.flatnonzero(keep)
    coded = {name: Coded.encode(frame[name]).select(keep) for name in frame.columns}
    together = mask_columns(coded, also=own, at=at)
    shifted = [(values.iloc[at].reset_index(drop=True), mark) for values, mark in own]
    for name in frame.columns:
        alone = mask_series(frame[name][keep].reset_index(drop=True), also=shifted)
        assert together[name].to_pylist() == _listed(alone), name
    assert mask_columns({}) == {}


def test_pseudonyms_made_once_serve_any_selection():
    ids = Coded.encode(_strings(["C1", " C1", "C2\u3000", "", None, "   ", "C3", "C1"]))
    made = pseudonym_values(ids, TEST_KEY)
    keep = np.array([True, False, True, True, True, False, True, True])
    chosen = ids.select(keep)
    expected = pseudonymise_coded(chosen, TEST_KEY).to_pylist()
    assert chosen.with_values(made).arrow().to_pylist() == expected


def test_sla_deadlines_on_numpy_are_those_of_pandas(instrument):
    rng = np.random.default_rng(11)
    codes = [*instrument.label_sets["cause_l2"].codes, None, "not_a_code"]
    n = 5000
    for unit in ("us", "ns", "s"):
        minutes = rng.integers(0, 3 * 365 * 1440, n).astype("timedelta64[m]")
        values = (np.datetime64("2024-06-01") + minutes).astype(f"datetime64[{unit}]")
        values[rng.random(n) < 0.05] = np.datetime64("NaT")
        created = pd.Series(values, index=pd.RangeIndex(7, 7 + n))
        l2 = pd.Series(pd.array([codes[i] for i in rng.integers(0, len(codes), n)], dtype="string"),
                       index=created.index)
        fast, fast_warnings = sla.sla_deadlines(created, l2, instrument)
        slow, slow_warnings = sla._sla_deadlines_pandas(created, l2, instrument)
        pd.testing.assert_series_equal(fast, slow)
        assert fast_warnings == slow_warnings
        pd.testing.assert_series_equal(sla.add_working_days(created, 3)[0],
                                       sla._add_working_days_pandas(created, 3)[0])
    empty = pd.Series(np.array(["NaT"] * 3, dtype="datetime64[us]"))
    assert sla.add_working_days(empty, 2)[0].isna().all()


def _digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("exports", ["sample", "faulty"])
def test_one_thread_and_two_write_the_same_bytes(tmp_path, monkeypatch, exports):
    if exports == "sample":
        survey, workorders = paths.sample_survey(), paths.sample_workorders()
    else:  # planted faults of every kind the datetime, label and text paths see
        frame = valid_survey(60)
        frame.loc[3, "受理时间"] = "2025-02-30 10:00:00"
        frame.loc[4, "办结时间"] = "  "
        frame.loc[5, "回访时间"] = "45000"
        frame.loc[6, "受理渠道"] = "信鸽"
        frame.loc[7, "客户意见"] = "我的电话13912345678，户号" + frame.loc[7, "客户编号"]
        frame.loc[8, "客户编号"] = ""
        frame.loc[9, "受理时间"] = "9999-01-01 00:00:00"
        frame.loc[10] = frame.loc[11]
        write_csv(frame, tmp_path / "s.csv")
        write_csv(workorders_for(frame), tmp_path / "w.csv", "gb18030")
        survey, workorders = tmp_path / "s.csv", tmp_path / "w.csv"
    written = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("RESEARCH_WORKERS", workers)
        result = ingest(survey, workorders, key=TEST_KEY)
        write_ingest(result, tmp_path / f"out{workers}")
        written[workers] = (_digests(tmp_path / f"out{workers}"), result)
    assert written["1"][0] == written["2"][0]
    one, two = written["1"][1], written["2"][1]
    pd.testing.assert_frame_equal(one.responses, two.responses)
    pd.testing.assert_frame_equal(one.workorders, two.workorders)
    pd.testing.assert_frame_equal(one.rejected, two.rejected)
    assert one.report == two.report
    if exports == "faulty":
        assert len(one.rejected) >= 6


@pytest.mark.parametrize("value", ["0", "two", "65", "-1"])
def test_a_bad_worker_count_is_refused(tmp_path, monkeypatch, value):
    write_csv(valid_survey(5), tmp_path / "s.csv")
    monkeypatch.setenv("RESEARCH_WORKERS", value)
    with pytest.raises(InputError, match="RESEARCH_WORKERS"):
        ingest(tmp_path / "s.csv", key=TEST_KEY)


def test_parquet_failing_in_the_second_thread_leaves_the_folder_marked(tmp_path, monkeypatch):
    from research.pipeline import buildstate
    from research import safeio

    write_csv(valid_survey(8), tmp_path / "s.csv")
    result = ingest(tmp_path / "s.csv", key=TEST_KEY)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safeio, "atomic_write_parquet", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_ingest(result, tmp_path / "out")
    assert buildstate.is_incomplete(tmp_path / "out")
    assert not (tmp_path / "out" / "ingest_report.json").exists()


def _faulty_survey(tmp_path):
    frame = valid_survey(60)
    frame.loc[3, "受理时间"] = "2025-02-30 10:00:00"
    frame.loc[6, "受理渠道"] = "信鸽"
    frame.loc[7, "客户意见"] = "我的电话13912345678，户号" + frame.loc[7, "客户编号"]
    frame.loc[8, "客户编号"] = ""
    frame.loc[10] = frame.loc[11]  # an identical copy
    frame.loc[12, "工单编号"] = frame.loc[13, "工单编号"]  # a ticket id shared by differing rows
    write_csv(frame, tmp_path / "s.csv")
    return tmp_path / "s.csv"


def test_duplicates_found_during_the_check_are_those_flagged_after_it(tmp_path, instrument):
    from research.ingestion.checks import _check
    from research.ingestion.duplicates import _flag_duplicates
    from research.ingestion.readers import read_export

    raw = read_export(_faulty_survey(tmp_path))
    after = _check(raw, "survey", instrument, TEST_KEY)
    _flag_duplicates(after)
    during = _check(raw, "survey", instrument, TEST_KEY, duplicates=True)
    assert during.faults["duplicate"].sum() == 1 and during.faults["conflicting_duplicate"].sum() == 2
    assert {r: m.tolist() for r, m in during.faults.items()} == {r: m.tolist() for r, m in after.faults.items()}
    assert [(r, c, m.tolist()) for r, c, m in during.details] == [(r, c, m.tolist()) for r, c, m in after.details]


def test_rejected_rows_and_sha256_made_when_read_are_those_made_at_once(tmp_path, instrument):
    from research.ingestion.checks import _check
    from research.ingestion.readers import read_export
    from research.ingestion.rows import _rejected_frame
    from research.ingestion.run import IngestResult, _Later

    survey = _faulty_survey(tmp_path)
    result = ingest(survey, key=TEST_KEY)
    assert isinstance(result.__dict__["_rejected"], _Later)  # not made yet
    checked = _check(read_export(survey), "survey", instrument, TEST_KEY, duplicates=True)
    expected = _rejected_frame(checked, "survey", instrument, TEST_KEY, instrument.fields["survey"])
    pd.testing.assert_frame_equal(result.rejected, expected)
    assert result.rejected is result.rejected  # made once, then kept
    assert isinstance(result.__dict__["_report"], _Later)  # the file not hashed yet
    assert result.report["files"][0]["sha256"] == hashlib.sha256(survey.read_bytes()).hexdigest()
    counts = result.rejected["reason"].value_counts().to_dict()
    assert {r: c for r, c in result.report["files"][0]["rejected_by_reason"].items() if c} == counts
    made = []
    later = IngestResult(responses=None, workorders=None, rejected=_Later(lambda: made.append(1) or expected))
    assert later.rejected is expected and later.rejected is expected and made == [1]
    assert IngestResult(None, None, expected).rejected is expected
