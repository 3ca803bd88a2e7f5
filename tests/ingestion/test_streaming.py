"""Ingest in chunks gives what the in-memory ingest gives (research.ingestion.streaming, issue 15
point 1): on the committed sample cut in chunks of 3,000 rows, with repeated tickets planted so that
copies fall in different chunks and a quoted line break near a cut."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import TEST_KEY
from research import paths
from research.errors import InputError
from research.ingestion.csv_chunks import csv_chunks, plan_csv
from research.ingestion.dataset import ingest_into_dataset, read_dataset
from research.ingestion.readers import read_export
from research.ingestion.run import ingest
from research.ingestion.streaming import chunk_rows_in_force, ingest_chunks

CHUNK = 3000


def _planted(source: Path, target: Path, encoding: str, conflict_field: int) -> Path:
    """The export with copies of rows planted far from their originals (an identical copy in the
    next chunk, a third copy further on, a differing copy), and a quoted comment holding a line
    break in the last row of the first chunk."""
    text = source.read_bytes().decode(encoding)
    bom = text.startswith("\ufeff")
    lines = text.lstrip("\ufeff").split("\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    same, other = rows[99], rows[199].split(",")
    other[conflict_field] = other[conflict_field] + "x"
    multi = rows[CHUNK - 2].split(",")
    multi[-1] = '"第一行\n第二行, 还有逗号"'
    rows[CHUNK - 2] = ",".join(multi)
    rows.insert(4500, same)  # the copy of row 100 in the second chunk
    rows.insert(8000, ",".join(other))  # row 200 again, differing
    rows.insert(15000, same)  # a third copy of row 100
    out = ("\ufeff" if bom else "") + "\n".join([header, *rows]) + "\n"
    target.write_bytes(out.encode(encoding))
    return target


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    survey = _planted(paths.sample_survey(), folder / "survey.csv", "utf-8", conflict_field=-1)
    workorders = _planted(paths.sample_workorders(), folder / "workorders.csv", "gb18030",
                          conflict_field=3)
    return survey, workorders, ingest(survey, workorders, key=TEST_KEY)


def _by_row(parts: list[pd.DataFrame]) -> pd.DataFrame:
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values("source_row", kind="stable").reset_index(drop=True)


def test_chunks_give_the_in_memory_ingest(planted):
    survey, workorders, whole = planted
    assert plan_csv(survey).encoding == "utf-8-sig" and plan_csv(workorders).encoding == "gb18030"
    got = {"survey": [], "workorders": []}
    said = []
    report, rejected = ingest_chunks(survey, workorders, key=TEST_KEY, chunk_rows=CHUNK,
                                     sink=lambda role, frame: got[role].append(frame),
                                     progress=said.append)
    assert len(got["survey"]) > 6 and len(got["workorders"]) > 11  # many chunks (and the held rows)
    pd.testing.assert_frame_equal(_by_row(got["survey"]), whole.responses)
    pd.testing.assert_frame_equal(_by_row(got["workorders"]), whole.workorders)
    pd.testing.assert_frame_equal(rejected, whole.rejected)
    assert report == whole.report
    # the planted copies were found across chunks, as in one piece
    reasons = whole.rejected.groupby("file")["reason"].value_counts()
    assert reasons["survey", "duplicate"] >= 2 and reasons["survey", "conflicting_duplicate"] >= 2
    assert reasons["workorders", "duplicate"] >= 2
    assert any("rows 3,001-" in line for line in said)


def test_chunked_csv_reads_as_the_whole_file_and_faults_keep_their_lines(planted, tmp_path):
    survey, _, _ = planted
    whole = read_export(survey).frame
    parts = list(csv_chunks(plan_csv(survey), CHUNK))
    assert [before for _, before in parts] == list(range(0, len(whole), CHUNK))
    pd.testing.assert_frame_equal(pd.concat([p for p, _ in parts], ignore_index=True), whole)
    # a row with a field too many in the fourth chunk: the whole file's message, its line
    lines = survey.read_bytes().split(b"\n")
    lines[10_000] = lines[10_000] + b",extra"
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\n".join(lines))
    with pytest.raises(InputError) as whole_error:
        read_export(broken)
    with pytest.raises(InputError) as chunk_error:
        list(csv_chunks(plan_csv(broken), CHUNK))
    assert str(chunk_error.value) == str(whole_error.value)
    assert "line 10,001" in str(chunk_error.value) or "line 10001" in str(chunk_error.value)


def test_a_gb18030_byte_that_does_not_decode_is_refused_as_the_whole_file_refuses_it(planted, tmp_path):
    _, workorders, _ = planted
    lines = workorders.read_bytes().split(b"\n")
    lines[7000] = lines[7000] + b"\x81"  # a lead byte with no trail byte, in the third chunk
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\n".join(lines))
    with pytest.raises(InputError) as whole_error:
        read_export(broken)
    with pytest.raises(InputError) as chunk_error:
        list(csv_chunks(plan_csv(broken), CHUNK))
    assert str(chunk_error.value) == str(whole_error.value) and "undecodable byte at offset" in str(
        chunk_error.value)


def test_files_not_streamed_are_read_whole(tmp_path):
    lone_cr = tmp_path / "mac.csv"
    lone_cr.write_bytes(paths.sample_survey().read_bytes().replace(b"\n", b"\r"))
    assert plan_csv(lone_cr) is None
    assert plan_csv(tmp_path / "absent.csv") is None


def test_dataset_parts_by_month_and_region_read_back_as_ingested(planted, tmp_path):
    survey, workorders, whole = planted
    root = tmp_path / "ds"
    _, entry = ingest_into_dataset(root, survey, workorders, key=TEST_KEY, chunk_rows=CHUNK)
    for f in entry["files"]:
        for part in f["parts"]:
            table, month, region, name = part.split("/")
            assert month.startswith("month=") and region.startswith("region=") and name.startswith("part-")
            columns = pq.read_schema(root / part).names
            assert "month" not in columns and "region" not in columns  # in the folder names only
    got = read_dataset(root, "responses")
    pd.testing.assert_frame_equal(got, whole.responses.astype(got.dtypes.to_dict()))
    assert list(got.columns) == list(whole.responses.columns)
    assert len({p.split("/")[2] for p in entry["files"][0]["parts"]}) == whole.responses["region"].nunique()


def test_any_region_text_makes_a_folder_read_back_as_written(planted, tmp_path):
    from research.ingestion.dataset_parts import PartWriter, read_parts

    _, _, whole = planted
    frame = whole.responses.head(60).copy()
    frame.loc[0:9, "region"] = None
    frame.loc[10:19, "region"] = "东区/西区"
    frame.loc[20:29, "region"] = "50% = half"
    frame.loc[30:39, "region"] = ".."
    writer = PartWriter(tmp_path, {"survey": "responses"})
    writer("survey", frame.iloc[:35].reset_index(drop=True))
    writer("survey", frame.iloc[35:].reset_index(drop=True))
    parts = writer.finish("responses", "abcdef01")
    assert all(p.count("/") == 3 for p in parts) and any("__HIVE_DEFAULT_PARTITION__" in p for p in parts)
    read = read_parts([tmp_path / p for p in parts], tmp_path, "responses", list(frame.columns))
    got = read.to_pandas().sort_values("source_row").reset_index(drop=True)
    assert list(got.columns) == list(frame.columns)
    assert [None if pd.isna(v) else v for v in got["region"]] == [
        None if pd.isna(v) else v for v in frame["region"]]
    assert got["ticket_id"].tolist() == frame["ticket_id"].tolist()


@pytest.mark.parametrize("value", ["0", "99", "many", "-5"])
def test_a_bad_chunk_size_is_refused(monkeypatch, value):
    monkeypatch.setenv("RESEARCH_INGEST_CHUNK_ROWS", value)
    with pytest.raises(InputError, match="chunk rows"):
        chunk_rows_in_force()
    monkeypatch.delenv("RESEARCH_INGEST_CHUNK_ROWS")
    assert chunk_rows_in_force() == 200_000 and chunk_rows_in_force(3000) == 3000


def test_chunk_rows_on_the_command_line(tmp_path, capsys, monkeypatch):
    """`research ingest --dataset DIR --chunk-rows N` streams in chunks of N rows (the same dataset
    as the default chunks: the ledger's row counts); without --dataset it is refused (exit 2)."""
    import json

    from conftest import TEST_KEY

    from research import paths
    from research.cli import main

    monkeypatch.setenv("RESEARCH_PSEUDONYM_KEY", TEST_KEY.decode())
    survey, workorders = str(paths.sample_survey()), str(paths.sample_workorders())
    assert main(["ingest", survey, "--workorders", workorders, "--dataset", str(tmp_path / "a"),
                 "--chunk-rows", "7000"]) == 0
    assert main(["ingest", survey, "--workorders", workorders, "--dataset", str(tmp_path / "b")]) == 0
    counts = [[(f["table"], f["accepted"], f["rejected"]) for e in json.loads((tmp_path / d / "ledger.json").read_text())
               ["entries"] for f in e["files"]] for d in ("a", "b")]
    assert counts[0] == counts[1] and counts[0][0][1] > 19_000
    capsys.readouterr()
    assert main(["ingest", survey, "--chunk-rows", "7000", "--out", str(tmp_path / "c")]) == 2
    assert "--chunk-rows needs --dataset" in capsys.readouterr().err
