"""Ingest: every row accepted or rejected with its reason; derived fields; personal data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TEST_KEY, valid_survey, workorders_for, write_csv
from research.ingestion import schema
from research.errors import InputError
from research.ingestion.run import REASONS, ingest, write_ingest
from research.ingestion.pseudonymise import pseudonymise


def run(tmp_path, survey: pd.DataFrame, workorders: pd.DataFrame | None = None, **kw):
    write_csv(survey, tmp_path / "survey.csv")
    wo = None
    if workorders is not None:
        write_csv(workorders, tmp_path / "wo.csv", "gb18030")
        wo = tmp_path / "wo.csv"
    return ingest(tmp_path / "survey.csv", wo, key=TEST_KEY, **kw)


def test_valid_export_is_accepted_whole(tmp_path):
    survey = valid_survey(40)
    result = run(tmp_path, survey)
    assert len(result.responses) == 40 and len(result.rejected) == 0
    assert list(result.responses.columns) == list(schema.RESPONSES)
    assert result.responses.dtypes.astype(str).to_dict() == schema.RESPONSES
    f = result.report["files"][0]
    assert (f["rows_read"], f["accepted"], f["rejected"], f["reconciled"]) == (40, 40, 0, True)
    assert result.responses["source_row"].tolist() == list(range(1, 41))


def test_canonical_values(tmp_path, instrument):
    survey = valid_survey(40)
    r = run(tmp_path, survey).responses
    row = survey.iloc[0]
    assert r.loc[0, "cause_l2"] == "expansion_delay" and r.loc[0, "cause_l1"] == "service"
    assert r.loc[0, "channel"] == "hotline"
    assert r.loc[0, "created_at"] == pd.to_datetime(row["受理时间"], format="%Y/%m/%d %H:%M")
    hours = (r["resolved_at"] - r["created_at"]).dt.total_seconds() / 3600
    np.testing.assert_allclose(r["handling_hours"], hours)
    assert r["satisfied"].equals((r["sat_overall"] >= 4).astype("boolean"))
    assert r["repeat"].equals((r["repeat_calls"] > 0).astype("boolean"))
    assert r["sla_met"].equals((r["resolved_at"] <= r["sla_deadline"]).astype("boolean"))
    # the 拒答 answer in row 4 is missing, not rejected, and leaves satisfied missing
    assert pd.isna(r.loc[3, "sat_overall"]) and pd.isna(r.loc[3, "satisfied"])


def test_surrounding_spaces_are_ignored(tmp_path):
    survey = valid_survey(6)
    padded = survey.copy()
    for col in ("供电所", "受理渠道", "受理时间", "总体满意度", "重复来电次数", "客户编号"):
        padded[col] = " " + padded[col] + "\u3000"  # ideographic space too
    a = run(tmp_path, survey).responses
    b = run(tmp_path, padded).responses
    pd.testing.assert_frame_equal(a, b)


# (column, bad value, expected reason)
ROW_FAULTS = [
    ("供电所", "", "missing_required"),
    ("工单编号", " ", "missing_required"),
    ("受理渠道", "传真", "unknown_label"),
    ("诉求子类", "低电压", "cause_mismatch"),  # row 0 is a service cause
    ("诉求大类", "其他问题", "unknown_label"),
    ("受理时间", "2025-13-45 10:00:00", "invalid_datetime"),
    ("办结时间", "2024-01-01 00:00:00", "time_order"),
    ("回访时间", "2024-01-01 00:00:00", "time_order"),
    ("总体满意度", "6", "invalid_answer"),
    ("服务态度满意度", "很好", "invalid_answer"),
    ("重复来电次数", "-1", "invalid_count"),
    ("是否解决", "也许", "unknown_label"),
]


@pytest.mark.parametrize("column, value, reason", ROW_FAULTS)
def test_each_row_fault_rejects_with_its_reason(tmp_path, column, value, reason):
    survey = valid_survey(10)
    survey.loc[0, column] = value
    result = run(tmp_path, survey)
    assert len(result.responses) == 9
    rej = result.rejected
    assert rej["reason"].tolist() == [reason]
    assert rej.loc[0, "source_row"] == 1
    assert column in rej.loc[0, "detail"]
    assert result.report["files"][0]["rejected_by_reason"][reason] == 1


def test_several_faults_in_one_row_are_all_listed(tmp_path):
    survey = valid_survey(5)
    survey.loc[2, ["供电所", "受理渠道", "总体满意度"]] = ["", "传真", "7"]
    rej = run(tmp_path, survey).rejected
    assert rej.loc[0, "reasons"] == "missing_required;unknown_label;invalid_answer"
    assert rej.loc[0, "reason"] == "missing_required"


def test_duplicates_identical_and_conflicting(tmp_path):
    survey = valid_survey(10)
    same = survey.iloc[[2]]
    differ = survey.iloc[[5]].copy()
    differ["总体满意度"] = "非常不满意" if survey.loc[5, "总体满意度"] != "非常不满意" else "满意"
    survey = pd.concat([survey, same, differ], ignore_index=True)
    result = run(tmp_path, survey)
    rej = result.rejected.sort_values("source_row")
    assert rej[["source_row", "reason"]].values.tolist() == [
        [6, "conflicting_duplicate"], [11, "duplicate"], [12, "conflicting_duplicate"]]
    assert 3 in result.responses["source_row"].tolist()  # first identical copy kept
    assert result.responses["ticket_id"].is_unique


def test_blank_ticket_ids_are_missing_not_duplicates(tmp_path):
    survey = valid_survey(6)
    survey.loc[[1, 4], "工单编号"] = ["", "  "]
    survey = pd.concat([survey, survey.iloc[[2, 2]]], ignore_index=True)
    rej = run(tmp_path, survey).rejected.sort_values("source_row")
    assert rej[["source_row", "reasons"]].values.tolist() == [
        [2, "missing_required"], [5, "missing_required"], [7, "duplicate"], [8, "duplicate"]]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.sampled_from(["T01", "T02", "T03", "T04", "T05", "T06", "T07", "T08"]),
                       max_size=40),
       order=st.sampled_from(["sorted", "sorted with insertions", "descending", "as drawn"]),
       inserted=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=4),
       missing=st.lists(st.integers(0, 45), max_size=5))
def test_repeated_values_as_pandas_finds_them(values, order, inserted, missing):
    """ingest.repeated (adjacent comparison for values in order, hashing otherwise) marks
    exactly the values pandas' duplicated(keep=False) marks, <NA> never."""
    import pyarrow as pa

    from research.ingestion.run import repeated

    if order != "as drawn":
        values = sorted(values, reverse=order == "descending")
    if order == "sorted with insertions" and values:
        for at, which in inserted:
            values.insert(at % (len(values) + 1), values[which % len(values)])
    values = [None if i in missing else v for i, v in enumerate(values)]
    want = pd.Series(values, dtype="string")
    want = (want.notna() & want.duplicated(keep=False)).to_numpy(dtype=bool)
    got = repeated(pa.chunked_array([pa.array(values, pa.large_string())]))
    assert got.tolist() == want.tolist()


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from([None, "service", "outage", "capability", "nonsense"]),
                                st.sampled_from([None, "billing_dispute", "fault_outage", "staff_attitude",
                                                 "unknown"])),
                      max_size=30))
def test_cause_mismatch_as_the_row_by_row_rule(pairs, instrument):
    """A sub-cause whose group is not the row's cause group, both known; by codes per distinct value."""
    from research.ingestion.run import _cause_mismatch
    from research.ingestion.parse import Coded

    l1 = pd.Series([a for a, _ in pairs], dtype="string")
    l2 = pd.Series([b for _, b in pairs], dtype="string")
    parent = l2.map(instrument.parent).astype("string")
    want = (l1.notna() & parent.notna() & (parent != l1)).fillna(False).to_numpy(dtype=bool)
    assert _cause_mismatch(l1, l2, instrument).tolist() == want.tolist()
    assert _cause_mismatch(Coded.encode(l1), Coded.encode(l2), instrument).tolist() == want.tolist()


def test_arrow_pool_is_put_back_after_an_ingest_and_after_a_fault(tmp_path, monkeypatch):
    import sys

    import pyarrow as pa

    import research.ingestion.checks as checks
    import research.ingestion.threads as threads

    before = pa.default_memory_pool().backend_name
    switch = sys.getswitchinterval()
    seen = []
    monkeypatch.setattr(checks, "_second_thread", lambda real=checks._second_thread: (
        seen.append(sys.getswitchinterval()), real())[1])
    run(tmp_path, valid_survey(5))
    assert pa.default_memory_pool().backend_name == before and sys.getswitchinterval() == switch
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError):
        ingest(tmp_path / "empty.csv", key=TEST_KEY)
    assert pa.default_memory_pool().backend_name == before and sys.getswitchinterval() == switch
    # while the ingest ran, the GIL changed hands sooner (threads.SWITCH_INTERVAL)
    # (Python keeps it in whole microseconds)
    assert seen and all(abs(s - threads.SWITCH_INTERVAL) < 1e-6 for s in seen) and switch > 1e-3


def test_no_workorder_and_workorders_ingested(tmp_path):
    survey = valid_survey(10)
    wo = workorders_for(survey, extra=4)
    wo = wo[wo["工单编号"] != survey.loc[7, "工单编号"]]
    result = run(tmp_path, survey, wo)
    assert result.rejected["reason"].tolist() == ["no_workorder"]
    assert len(result.workorders) == 13
    assert list(result.workorders.columns) == list(schema.WORKORDERS)
    assert set(result.workorders["survey_status"]) == {"completed", "no_answer"}
    files = {f["role"]: f for f in result.report["files"]}
    assert files["workorders"]["encoding"] == "gb18030"
    assert files["workorders"]["rows_read"] == 13 and files["workorders"]["reconciled"]
    assert result.report["rows_read"] == 23


def test_optional_columns_may_be_absent(tmp_path):
    survey = valid_survey(6).drop(columns=["联系电话", "重复来电次数", "客户意见", "处理速度满意度"])
    result = run(tmp_path, survey)
    assert len(result.responses) == 6
    assert result.responses["repeat_calls"].isna().all() and result.responses["repeat"].isna().all()
    assert any("optional columns absent" in w for w in result.report["files"][0]["warnings"])


def test_missing_required_column_is_a_file_fault(tmp_path):
    survey = valid_survey(6).drop(columns=["诉求子类"])
    with pytest.raises(InputError, match=r"required column\(s\) absent.*诉求子类 \(cause_l2\)"):
        run(tmp_path, survey)


def test_two_headers_for_one_field_is_a_file_fault(tmp_path):
    survey = valid_survey(4)
    survey["工单号"] = survey["工单编号"]
    with pytest.raises(InputError, match="both name the field 'ticket_id'"):
        run(tmp_path, survey)


def test_unknown_columns_are_ignored_and_never_output(tmp_path):
    survey = valid_survey(6)
    survey["身份证号"] = "11010519491231002X"
    result = run(tmp_path, survey)
    assert "身份证号" in result.report["files"][0]["columns"]["ignored"]
    written = write_ingest(result, tmp_path / "out")
    for path in written.values():
        assert b"11010519491231002X" not in path.read_bytes()


def test_no_personal_data_in_any_output(tmp_path):
    survey = valid_survey(30)
    survey.loc[4, "客户意见"] = "身份证11010519491231002X 手机 139 1234 5678 户号" + survey.loc[4, "客户编号"]
    survey.loc[5, "供电所"] = ""  # a rejected row keeps its raw values: still no personal data
    survey.loc[5, "客户意见"] = "请回电 021-12345678"
    wo = workorders_for(survey)
    result = run(tmp_path, survey, wo)
    written = write_ingest(result, tmp_path / "out")
    secrets = set(survey["客户编号"]) | set(survey["联系电话"]) | {
        "11010519491231002X", "13912345678", "021-12345678"}
    secrets |= {f"{13800000000 + i}" for i in range(30)}
    for path in written.values():
        if path.suffix == ".parquet":  # compressed: check the decoded values and the raw bytes
            text = pd.read_parquet(path).astype(str).to_csv()
            assert not [s for s in secrets if s.encode() in path.read_bytes()]
        else:
            text = path.read_bytes().decode("utf-8-sig")
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path.name} leaks {leaked[:3]}"
    assert "[IDCARD]" in result.responses.loc[4, "comment"]
    assert "[CUSTOMER]" in result.responses.loc[4, "comment"]
    assert "phone" not in result.responses.columns


def test_pseudonyms_are_keyed_and_stable(tmp_path):
    survey = valid_survey(12)
    a = run(tmp_path, survey).responses["customer_id"]
    b = run(tmp_path, survey).responses["customer_id"]
    other = ingest(tmp_path / "survey.csv", key=b"another-key-0123456789").responses["customer_id"]
    assert a.equals(b)
    assert not (a == other).any()
    # same clear id -> same pseudonym (customer 3000000000 appears at rows 0 and 29 of 58)
    clear = survey["客户编号"]
    assert (a.groupby(clear.to_numpy()).nunique() == 1).all()
    assert a.equals(pseudonymise(clear.astype("string"), TEST_KEY).rename("customer_id"))


def test_pseudonyms_are_not_plain_hashes():
    import hashlib

    ids = pd.Series(["3000000001"], dtype="string")
    p = pseudonymise(ids, TEST_KEY).iloc[0][1:]
    raw = b"3000000001"
    for unkeyed in (hashlib.sha256(raw), hashlib.md5(raw), hashlib.sha1(raw),
                    hashlib.blake2b(raw, digest_size=10)):
        assert p not in unkeyed.hexdigest()


def test_report_written_and_reconciles(tmp_path):
    survey = valid_survey(20)
    survey.loc[[1, 2], "受理渠道"] = "传真"
    result = run(tmp_path, survey)
    written = write_ingest(result, tmp_path / "out")
    report = json.loads(written["report"].read_text(encoding="utf-8"))
    f = report["files"][0]
    assert f["rows_read"] == f["accepted"] + f["rejected"] == 20
    assert sum(f["rejected_by_reason"].values()) == f["rejected"] == 2
    assert set(f["rejected_by_reason"]) == set(REASONS)
    rejected = pd.read_csv(written["rejected"], encoding="utf-8-sig", dtype=str)
    assert rejected["channel"].tolist() == ["传真", "传真"]  # raw value kept
    back = pd.read_parquet(written["responses"])
    pd.testing.assert_frame_equal(back, result.responses)


# ---------------------------------------------------------------------------
# The committed sample's ingest, pinned: a change that makes ingest faster must
# not change a single value. Digests of each column (dtype + values as CSV text)
# and of the report, as ingest wrote them before it was made fast (issue 12,
# point 3); with conftest's TEST_KEY.
# ---------------------------------------------------------------------------

SAMPLE_SHAPES = {"responses": (19920, 23), "workorders": (35014, 14), "rejected": (110, 22)}
SAMPLE_COLUMNS = {
    "responses": {
        "ticket_id": "string:e6ab321b45241283", "customer_id": "string:6ea74165f49370d0",
        "region": "string:6373371e97021d08", "station": "string:16bd6c2840e8f405",
        "channel": "string:2fec59792e15a1de", "cause_l1": "string:3e78df988b902bdc",
        "cause_l2": "string:36bef1984fd17850", "created_at": "datetime64[us]:6b40c587afb88cb7",
        "resolved_at": "datetime64[us]:906736cfe0cf6c53", "surveyed_at": "datetime64[us]:c7469b42162d073a",
        "repeat_calls": "Int64:af315ce08779e553", "resolved": "string:827031989169c1c0",
        "sat_overall": "Int64:aeb9a084e772a1d3", "sat_speed": "Int64:a307db542d7a6f32",
        "sat_attitude": "Int64:6c7af2730ce588a2", "sat_outcome": "Int64:c99c6af6925bf730",
        "comment": "string:128f8e07b5dc482d", "handling_hours": "float64:aefa571497dbb235",
        "sla_deadline": "datetime64[us]:f0b5fa63dbd8f34b", "sla_met": "boolean:04e4068558eb60be",
        "satisfied": "boolean:a974e13ce5c2e47c", "repeat": "boolean:c029bb9e6bbf418b",
        "source_row": "int64:4efb4752c6de7a83",
    },
    "workorders": {
        "ticket_id": "string:c5b46d9c46d697e4", "customer_id": "string:e89fef5ca884ce0d",
        "region": "string:5babef838d048dc2", "station": "string:f8f69c8fc97ca514",
        "channel": "string:9d502b7cdb3354ca", "cause_l1": "string:c6b1c801b0e47c13",
        "cause_l2": "string:5494db228a137f5c", "created_at": "datetime64[us]:ce827dc16c35238a",
        "resolved_at": "datetime64[us]:1ff5a8a21f443ce5", "survey_status": "string:ba91a49a13f9ffca",
        "handling_hours": "float64:491badaf8641858f", "sla_deadline": "datetime64[us]:f7e85882587b6ab6",
        "sla_met": "boolean:cf480e7b9d452d28", "source_row": "int64:e2640e2d441a294e",
    },
    "rejected": {
        "file": "str:a5bc5296a176c87f", "source_row": "int64:be2716085a03eb15",
        "reason": "str:59839e52f88cb426", "reasons": "str:59839e52f88cb426",
        "detail": "str:54f61b7d92883b2d", "ticket_id": "string:2abcd5d0d051eb5d",
        "customer_id": "string:9998f98fdbc76e47", "region": "string:746e8054593bcaa5",
        "station": "string:f55b01f117ff0a4e", "channel": "string:f29d6d3f50c31d89",
        "cause_l1": "string:d1715f20d8f7e2fc", "cause_l2": "string:2dd12b5ebff12c4b",
        "created_at": "string:77c05e17fd5a4a63", "resolved_at": "string:5da3d804c5a7b104",
        "surveyed_at": "string:3b21de94a2227086", "repeat_calls": "string:1b2d68b226242908",
        "resolved": "string:c5ab376cde2de138", "sat_overall": "string:aad0d8eba7e81c1a",
        "sat_speed": "string:f12489752cc52ef5", "sat_attitude": "string:de5b80ae5cc445d0",
        "sat_outcome": "string:99422ed6e26ba494", "comment": "string:cdf28ff77bb680b2",
    },
}
SAMPLE_REPORT = "e92f1c0bb36aef4e"


def _column_digests(frame: pd.DataFrame) -> dict[str, str]:
    import hashlib

    out = {}
    for name in frame.columns:
        text = frame[name].to_csv(index=False, header=False, float_format="%.17g")
        out[name] = f"{frame[name].dtype}:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return out


def test_sample_ingest_is_unchanged(tmp_path):
    """Ingest of the committed sample gives exactly the frames and report it gave before
    ingest was made fast (if the sample or the instrument is changed on purpose, recompute
    the digests with _column_digests on the new result and say why in the commit)."""
    import hashlib

    from research import paths

    result = ingest(paths.sample_survey(), paths.sample_workorders(), key=TEST_KEY)
    frames = {"responses": result.responses, "workorders": result.workorders, "rejected": result.rejected}
    for name, frame in frames.items():
        assert frame.shape == SAMPLE_SHAPES[name], name
        assert _column_digests(frame) == SAMPLE_COLUMNS[name], name
    report = json.dumps(result.report, sort_keys=True, ensure_ascii=False)
    assert hashlib.sha256(report.encode()).hexdigest()[:16] == SAMPLE_REPORT
    # and as written: the Parquet files read back to the same frames
    written = write_ingest(result, tmp_path / "out")
    for name in ("responses", "workorders"):
        pd.testing.assert_frame_equal(pd.read_parquet(written[name]), frames[name])
        # min/max statistics for every column but the texts (left out to write faster)
        import pyarrow.parquet as pq

        chunks = pq.ParquetFile(written[name]).metadata.row_group(0)
        with_stats = {chunks.column(j).path_in_schema for j in range(chunks.num_columns)
                      if chunks.column(j).is_stats_set}
        texts = {c for c in frames[name].columns if isinstance(frames[name][c].dtype, pd.StringDtype)}
        assert with_stats == set(frames[name].columns) - texts, name
