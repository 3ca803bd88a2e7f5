"""The ingestion modules split by job (issue 13): old names still the same objects, and the
named steps of the CSV reader and of the row checks doing what their docstrings say."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conftest import valid_survey, write_csv
from research.errors import InputError

MOVED_FROM_READERS = {
    "files": ["MAX_COLUMNS", "MAX_CELL_CHARS", "MAX_CELLS", "SIZE_ENV", "FileDigest",
              "sha256_bytes", "max_input_bytes", "read_regular_file", "detect_format"],
    "headers": ["quotable", "describe_headers", "_column", "_unique_headers"],
    "encodings": ["decode_csv_bytes", "is_utf8", "normalise_line_ends", "_first_mb"],
    "csv_reader": ["CSV_BLOCK_BYTES", "CSV_MAX_RECORD_BYTES", "MAX_FIELD_LINES", "MAX_HEADER_BYTES",
                   "record_lines", "read_csv_bytes", "read_csv", "_check_csv_cells"],
    "excel_reader": ["EXCEL_MAX_ROWS", "read_xlsx", "_check_zip", "_sheet_cells"],
    "parquet_reader": ["read_parquet", "_flat_type"],
    "typed_cells": ["cell_text", "_cell_strings", "_typed_to_strings"],
    "ingested": ["read_ingested", "check_ingested", "_compatible"],
}
MOVED_FROM_RUN = {
    "faults": ["REASONS", "_Checked", "_TRACE_FIELD"],
    "checks": ["map_headers", "_check", "_isna", "_cause_mismatch"],
    "duplicates": ["_flag_duplicates", "repeated", "_repeated_by_hash", "_orphans"],
    "rows": ["_select", "_rejected_frame", "_accepted_frame", "own_rows", "_OWN_MASK"],
    "report": ["_file_report", "_ignored_headers", "format_report"],
    "threads": ["_second_thread", "_InOrder", "arrow_pool", "_POOL_USERS"],
}


@pytest.mark.parametrize("old, moved", [("readers", MOVED_FROM_READERS), ("run", MOVED_FROM_RUN)])
def test_old_module_names_are_the_new_modules_objects(old, moved):
    """``from research.ingestion.readers import X`` (or ``run``) gives the very object the new
    module defines, so code, tests and monkeypatching through either name see one thing."""
    old_module = importlib.import_module(f"research.ingestion.{old}")
    for new, names in moved.items():
        module = importlib.import_module(f"research.ingestion.{new}")
        for name in names:
            assert getattr(old_module, name) is getattr(module, name), f"{old}.{name}"


def test_header_line_is_the_first_non_blank_line(tmp_path):
    from research.ingestion.csv_reader import _header_line

    data = b"\n  \n a ; b;c \n1;2;3\n"
    header = _header_line(tmp_path / "x.csv", data)
    assert header.number == 3 and header.delimiter == ";" and header.names == ["a", "b", "c"]
    assert data[header.start:header.end] == b" a ; b;c "
    last = _header_line(tmp_path / "x.csv", b"a,b")  # no line end: the line runs to the end
    assert last.end == 3 and last.names == ["a", "b"]


@pytest.mark.parametrize("data, says", [
    (b" \n\t\n", "the file is empty"),
    (b"\n" + b"a," * 60_000 + b"\n1\n", "line 2, the header, is 120,000 bytes long"),
    (b",".join(b"h%d" % i for i in range(201)) + b"\n", "has 201 columns, more than the 200"),
])
def test_header_line_faults_name_the_line(tmp_path, data, says):
    from research.ingestion.csv_reader import _header_line

    with pytest.raises(InputError, match=says):
        _header_line(tmp_path / "x.csv", data)


def test_bad_rows_keeps_the_first_row_only_and_never_its_text():
    from research.ingestion.csv_reader import _BadRows, _HeaderLine

    data = b"a,b,c\n1,2,3\n4,5\n6\n"
    header = _HeaderLine(start=0, end=5, number=1, delimiter=",", names=["a", "b", "c"])
    bad = _BadRows(data, header)
    # Arrow gives no line number when quoted fields may hold line breaks: found by the text
    assert bad(SimpleNamespace(number=None, text="4,5", actual_columns=2, expected_columns=3)) == "skip"
    assert bad(SimpleNamespace(number=4, text="6", actual_columns=1, expected_columns=3)) == "skip"
    assert bad.first == ("line 3 has 2 fields, the header has 3; is every line separated by "
                         "commas, as the header is?")


def test_parse_records_reads_a_record_longer_than_a_block_again(tmp_path, monkeypatch):
    """A record straddling more than two blocks makes Arrow refuse the parse; it is read again
    in blocks of CSV_MAX_RECORD_BYTES, with the first parse's bad rows forgotten."""
    from research.ingestion import csv_reader

    monkeypatch.setattr(csv_reader, "CSV_BLOCK_BYTES", 64)
    data = b"a,b\n1,2\n3\n" + b'"' + b"x" * 500 + b'",4\n5,6\n'
    header = csv_reader._header_line(tmp_path / "x.csv", data)
    table, bad = csv_reader._parse_records(tmp_path / "x.csv", data, header, quoted=True)
    assert table.num_rows == 3 and table.column(0).to_pylist()[1] == "x" * 500
    assert bad.startswith("line 3 has 1 fields")


def test_control_chars_scrub_the_comment_and_flag_the_names(instrument):
    from research.ingestion.checks import _control_chars

    fields = instrument.fields["survey"]
    frame = pd.DataFrame({f.name: pd.array(["ok", "ok"], dtype=pd.StringDtype("pyarrow"))
                          for f in fields})
    frame["comment"] = pd.array(["a\x07b", "c\nd"], dtype=pd.StringDtype("pyarrow"))
    frame["station"] = pd.array(["站\x1b", "站"], dtype=pd.StringDtype("pyarrow"))
    frame["phone"] = pd.array(["\x07", ""], dtype=pd.StringDtype("pyarrow"))
    warnings: list[str] = []
    faults = _control_chars(frame, fields, "s.csv", warnings)
    assert frame["comment"].tolist() == ["a b", "c\nd"]  # line breaks stay
    assert warnings == ["s.csv: control characters replaced by spaces in 1 comment value(s)"]
    assert np.asarray(faults["station"]).tolist() == [True, False]
    assert "phone" not in faults and "comment" not in faults  # a dropped phone is not read


def test_column_warnings_never_quote_a_header_that_looks_like_data():
    from research.ingestion.checks import _column_warnings

    columns = {"ignored": ["备用", "13912345678"], "absent_optional": ["comment"]}
    assert _column_warnings("s.csv", columns) == [
        "s.csv: columns not in the contract were ignored (not carried into any output): ['备用'] "
        "and 1 that look like data, not quoted",
        "s.csv: optional columns absent, left empty: ['comment']"]
    assert _column_warnings("s.csv", {"ignored": [], "absent_optional": []}) == []


def test_flag_faults_in_the_order_of_the_fields(tmp_path, instrument):
    """An invalid label is not also a missing one; details follow the instrument's fields,
    and within a field the parser's fault comes before ``missing_required``."""
    from research.ingestion.checks import _check
    from research.ingestion.readers import read_export

    survey = valid_survey(6)
    survey.loc[1, "受理渠道"] = "信鸽"
    survey.loc[2, "受理渠道"] = " "
    survey.loc[2, "回访时间"] = "not a date"
    write_csv(survey, tmp_path / "s.csv")
    checked = _check(read_export(tmp_path / "s.csv"), "survey", instrument)
    assert checked.faults["unknown_label"].tolist() == [False, True, False, False, False, False]
    assert checked.faults["missing_required"].tolist() == [False, False, True, False, False, False]
    assert checked.faults["invalid_datetime"].tolist() == [False, False, True, False, False, False]
    assert [(reason, column) for reason, column, _ in checked.details] == [
        ("unknown_label", "channel"), ("missing_required", "channel"),
        ("invalid_datetime", "surveyed_at")]


def test_overall_report_sums_the_files(instrument):
    from research.ingestion.report import _overall_report

    files = [{"rows_read": 5, "accepted": 4, "rejected": 1, "reconciled": True},
             {"rows_read": 3, "accepted": 3, "rejected": 0, "reconciled": True}]
    responses = pd.DataFrame({"sat_overall": [5.0, np.nan, 2.0], "satisfied": [1.0, np.nan, 0.0]})
    report = _overall_report(files, responses, b"unit-test-key-0123456789abcdef", instrument)
    assert (report["rows_read"], report["accepted"], report["rejected"]) == (8, 7, 1)
    assert report["responses"] == {"rows": 3, "sat_overall_missing": 1,
                                   "satisfied_rate_unweighted": 0.5}
    none = _overall_report(files, responses.iloc[:0], b"unit-test-key-0123456789abcdef", instrument)
    assert none["responses"]["satisfied_rate_unweighted"] is None
