"""The input contract is declared once (surveys/fields.yaml) and the code derives from it.

Each test edits a copy of the instrument (surveys/ copied to tmp_path, loaded with
``load_instrument(folder)``), never the committed one: a column declared there reaches
responses.parquet; an export column the contract does not know is listed as ignored in
ingest_report.json and is absent from every output (issue 13, point 2).
The committed sample's outputs are pinned in tests/ingestion/test_ingest.py
(test_sample_ingest_is_unchanged).
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from conftest import TEST_KEY, valid_survey, write_csv
from research import paths
from research.config.instrument import load_instrument
from research.errors import InputError
from research.ingestion import schema
from research.ingestion.pseudonymise import pseudonymise
from research.ingestion.run import ingest, write_ingest


def instrument_with(tmp_path, *survey_lines: str, drop: str | None = None):
    """A copy of the committed instrument whose fields.yaml declares ``survey_lines`` (YAML flow
    mappings, as the file writes them) at the end of the survey export's fields, and lacks
    the survey field ``drop``."""
    folder = tmp_path / "surveys"
    shutil.copytree(paths.surveys_dir(), folder)
    text = (folder / "fields.yaml").read_text(encoding="utf-8")
    head, tail = text.split("\nworkorders:\n")
    lines = [line for line in head.rstrip("\n").split("\n")
             if drop is None or not line.startswith(f"  - {{name: {drop},")]
    head = "\n".join(lines + [f"  - {line}" for line in survey_lines]) + "\n"
    (folder / "fields.yaml").write_text(head + "\nworkorders:\n" + tail, encoding="utf-8")
    return load_instrument(folder)


HANDLER = "{name: handler, type: text, required: false, zh: 经办人, en: handler, aliases: [处理人员, handled_by]}"


def test_a_declared_column_reaches_responses_parquet(tmp_path):
    """How to add an input column (docs/input_contract.md): one line in fields.yaml."""
    instrument = instrument_with(tmp_path, HANDLER)
    survey = valid_survey(8)
    survey["处理人员"] = [f"王工{i % 3}号" for i in range(8)]  # by its alias
    write_csv(survey, tmp_path / "survey.csv")
    result = ingest(tmp_path / "survey.csv", instrument=instrument, key=TEST_KEY)
    written = write_ingest(result, tmp_path / "out")
    back = pd.read_parquet(written["responses"])
    assert back["handler"].tolist() == survey["处理人员"].tolist()
    assert str(back["handler"].dtype) == "string"
    # after the declared fields, before the derived ones, as fields.yaml orders them
    assert list(back.columns) == list(schema.canonical(instrument, "survey"))
    assert list(back.columns).index("handler") == list(back.columns).index("comment") + 1
    report = json.loads(written["report"].read_text(encoding="utf-8"))
    columns = report["files"][0]["columns"]
    assert columns["mapped"]["处理人员"] == "handler" and columns["ignored"] == []


def test_a_declared_optional_column_may_be_absent(tmp_path):
    instrument = instrument_with(tmp_path, HANDLER)
    write_csv(valid_survey(5), tmp_path / "survey.csv")
    result = ingest(tmp_path / "survey.csv", instrument=instrument, key=TEST_KEY)
    assert result.responses["handler"].isna().all()
    assert "handler" in result.report["files"][0]["columns"]["absent_optional"]


def test_an_undeclared_column_is_listed_as_ignored_and_never_output(tmp_path):
    survey = valid_survey(6)
    survey["备用字段"] = "值班记录甲乙丙"
    survey["13912345678"] = "x"  # a header that looks like data: named by position, not quoted
    write_csv(survey, tmp_path / "survey.csv")
    result = ingest(tmp_path / "survey.csv", instrument=instrument_with(tmp_path), key=TEST_KEY)
    written = write_ingest(result, tmp_path / "out")
    report = json.loads(written["report"].read_text(encoding="utf-8"))
    columns = report["files"][0]["columns"]
    position = list(survey.columns).index("13912345678") + 1
    assert columns["ignored"] == ["备用字段", f"(column {position}: its header looks like data, not quoted)"]
    assert "备用字段" not in columns["mapped"] and "备用字段" not in columns["mapped"].values()
    for path in written.values():
        assert "值班记录甲乙丙".encode() not in path.read_bytes()
        assert b"13912345678" not in path.read_bytes()
    for frame in (result.responses, result.rejected):
        assert "备用字段" not in frame.columns


def test_declared_personal_columns_follow_their_rule(tmp_path):
    """A new field declared personal is pseudonymised, dropped or masked as the others are."""
    instrument = instrument_with(
        tmp_path,
        "{name: account_no, type: text, required: false, personal: pseudonymise, zh: 账户号, en: account no}",
        "{name: agent_phone, type: text, required: false, personal: drop, zh: 坐席电话, en: agent phone}",
        "{name: note, type: text, required: false, personal: mask, zh: 坐席备注, en: agent note}")
    survey = valid_survey(4)
    survey["账户号"] = ["AC1001", "AC1002", "AC1001", ""]
    survey["坐席电话"] = "13800138000"
    survey["坐席备注"] = "客户电话13912345678已回拨"
    write_csv(survey, tmp_path / "survey.csv")
    result = ingest(tmp_path / "survey.csv", instrument=instrument, key=TEST_KEY)
    responses = result.responses
    expected = pseudonymise(pd.Series(["AC1001", "AC1002", "AC1001", ""], dtype="string"), TEST_KEY)
    assert responses["account_no"].tolist() == expected.tolist()
    assert responses["account_no"].iloc[3] is pd.NA
    assert "agent_phone" not in responses.columns
    assert set(responses["note"]) == {"客户电话[PHONE]已回拨"}
    written = write_ingest(result, tmp_path / "out")
    for path in written.values():
        data = path.read_bytes()
        assert b"13800138000" not in data and b"13912345678" not in data and b"AC1001" not in data


def test_a_field_the_code_needs_cannot_be_left_out(tmp_path):
    instrument = instrument_with(tmp_path, drop="cause_l2")
    write_csv(valid_survey(3), tmp_path / "survey.csv")
    with pytest.raises(InputError, match=r"fields.yaml: key 'survey': the field 'cause_l2'"):
        ingest(tmp_path / "survey.csv", instrument=instrument, key=TEST_KEY)


def test_the_committed_contract_gives_the_canonical_columns(instrument):
    """The columns every later stage reads, in their order and dtypes (declared fields but the
    phone, then the derived columns, then source_row)."""
    assert schema.canonical(instrument, "survey") == schema.RESPONSES == {
        "ticket_id": "string", "customer_id": "string", "region": "string", "station": "string",
        "channel": "string", "cause_l1": "string", "cause_l2": "string",
        "created_at": "datetime64[us]", "resolved_at": "datetime64[us]", "surveyed_at": "datetime64[us]",
        "repeat_calls": "Int64", "resolved": "string", "sat_overall": "Int64", "sat_speed": "Int64",
        "sat_attitude": "Int64", "sat_outcome": "Int64", "comment": "string",
        "handling_hours": "float64", "sla_deadline": "datetime64[us]", "sla_met": "boolean",
        "satisfied": "boolean", "repeat": "boolean", "source_row": "int64"}
    assert schema.canonical(instrument, "workorders") == schema.WORKORDERS == {
        "ticket_id": "string", "customer_id": "string", "region": "string", "station": "string",
        "channel": "string", "cause_l1": "string", "cause_l2": "string",
        "created_at": "datetime64[us]", "resolved_at": "datetime64[us]", "survey_status": "string",
        "handling_hours": "float64", "sla_deadline": "datetime64[us]", "sla_met": "boolean",
        "source_row": "int64"}
