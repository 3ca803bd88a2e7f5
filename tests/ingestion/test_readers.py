"""Reading raw exports: formats, encodings, and file faults with one clear message."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import valid_survey, write_csv
from research.errors import InputError
from research.ingestion.readers import read_export


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings_are_detected(tmp_path, encoding):
    frame = valid_survey(12)
    path = tmp_path / "s.csv"
    write_csv(frame, path, encoding)
    raw = read_export(path)
    assert raw.encoding == encoding and raw.format == "csv"
    pd.testing.assert_frame_equal(raw.frame.astype(object), frame.astype(object), check_dtype=False)


def test_sha256_now_or_on_first_use_is_that_of_the_bytes(tmp_path):
    """The digest ingest defers (hash_now=False: computed where a core is idle) is the file's."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "s.csv"
    write_csv(valid_survey(12), path, "gb18030")
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_export(path).sha256 == expected
    later = read_export(path, hash_now=False)
    with ThreadPoolExecutor(4) as pool:  # asked from several threads at once: hashed once
        assert set(pool.map(lambda _: later.sha256, range(8))) == {expected}
    assert later.digest._data is None  # the bytes are let go once hashed


def test_tab_separated_and_quoted_newlines(tmp_path):
    frame = valid_survey(6)
    frame.loc[0, "客户意见"] = "第一行\n第二行, 有逗号"
    path = tmp_path / "s.txt"
    path.write_text(frame.to_csv(index=False, sep="\t"), encoding="utf-8")
    raw = read_export(path)
    assert raw.frame.shape == frame.shape
    assert raw.frame.loc[0, "客户意见"] == "第一行\n第二行, 有逗号"


def test_xlsx_and_parquet_give_the_same_strings(tmp_path):
    frame = valid_survey(8)
    frame.to_excel(tmp_path / "s.xlsx", index=False)
    frame.to_parquet(tmp_path / "s.parquet", index=False)
    for name in ("s.xlsx", "s.parquet"):
        raw = read_export(tmp_path / name)
        assert raw.format == name.split(".")[1]
        assert raw.frame.astype(object).equals(frame.astype(object)), name


def test_typed_cells_become_export_strings(tmp_path):
    frame = pd.DataFrame({"受理时间": pd.to_datetime(["2026-03-01 08:15", None]),
                          "重复来电次数": [2.0, None], "总体满意度": [5, 4]})
    frame.to_parquet(tmp_path / "t.parquet")
    raw = read_export(tmp_path / "t.parquet").frame
    assert raw["受理时间"].tolist() == ["2026-03-01 08:15:00", ""]
    assert raw["重复来电次数"].tolist() == ["2", ""]
    assert raw["总体满意度"].tolist() == ["5", "4"]


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


FAULTS = [
    ("empty.csv", b"", "the file is empty"),
    ("blank.csv", b"\n\n  \n", "the file is empty"),
    ("header.csv", "工单编号,客户编号\n".encode(), "no data rows"),
    ("binary.csv", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00", "binary content"),
    ("utf16.csv", "工单编号\n1\n".encode("utf-16"), "UTF-16"),
    ("bad.csv", b"a,b\n\xff\xfe\xfd\x80,1\n\x81\x30\x81\x30\xff,2\n", "neither UTF-8 nor GB18030"),
    ("ragged.csv", "a,b,c\n1,2,3\n4,5\n".encode(), "line 3 has 2 fields, the header has 3"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old binary Excel"),
    ("fake.xlsx", b"just text", "not an Excel workbook"),
    ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 50, "cannot read the Excel workbook"),
    ("broken.parquet", b"PAR1" + b"\x00" * 50, "cannot read the Parquet file"),
    ("dup.csv", "工单编号,工单编号\n1,2\n".encode(), "appears twice"),
]


@pytest.mark.parametrize("name, data, message", FAULTS)
def test_file_faults_name_the_file_and_problem(tmp_path, name, data, message):
    path = _write(tmp_path / name, data)
    with pytest.raises(InputError) as err:
        read_export(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_truncated_export(tmp_path):
    path = tmp_path / "s.csv"
    write_csv(valid_survey(20), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # cut inside the last row
    with pytest.raises(InputError, match="truncated or malformed"):
        read_export(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_export(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a folder"):
        read_export(tmp_path)


def test_sha256_of_the_bytes(tmp_path):
    import hashlib

    path = tmp_path / "s.csv"
    write_csv(valid_survey(3), path)
    assert read_export(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------
# The fast paths of the CSV reader (issue 12, point 3)
# ---------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=40),
                      st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
                      st.tuples(st.text(max_size=10), st.binary(max_size=3), st.text(max_size=10)).map(
                          lambda t: t[0].encode() + t[1] + t[2].encode())))
def test_utf8_check_agrees_with_pythons_codec(data):
    from research.ingestion.readers import is_utf8

    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert is_utf8(data) == valid
    assert is_utf8(memoryview(b"ab" + data)[2:]) == valid


def test_a_record_longer_than_a_read_block_is_read_whole(tmp_path):
    from research.ingestion.readers import CSV_BLOCK_BYTES, MAX_CELL_CHARS

    frame = valid_survey(3)
    cell = "长" * (MAX_CELL_CHARS - 1)  # ~300 KB of UTF-8 per cell
    wide = pd.DataFrame({f"备注{i}": [cell, "x", ""]
                         for i in range(2 * CSV_BLOCK_BYTES // len(cell.encode()) + 2)})
    frame = pd.concat([frame, wide], axis=1)
    # one record spans three blocks: Arrow refuses it in blocks of CSV_BLOCK_BYTES, so it is read again
    assert len(frame.iloc[0].str.cat().encode()) > 2 * CSV_BLOCK_BYTES
    write_csv(frame, tmp_path / "s.csv")
    raw = read_export(tmp_path / "s.csv").frame
    assert raw.shape == frame.shape and raw.iloc[0, -1] == cell and raw.iloc[1, -1] == "x"


def _two_steps(path):
    """The reading of a CSV export as it was: encoding decided over the whole file, then parsed."""
    from research.ingestion.readers import decode_csv_bytes, read_csv_bytes

    data = path.read_bytes()
    try:
        utf8, encoding = decode_csv_bytes(path, data)
        return read_csv_bytes(path, utf8), encoding
    except InputError as exc:
        return str(exc), None


@pytest.mark.parametrize("case", ["utf-8", "gb18030 after 1 MB", "gb18030 header", "bad byte after 1 MB",
                                  "bad byte and a short row", "utf-8 and a short row", "bom"])
def test_utf8_read_at_once_decides_as_the_two_steps(tmp_path, case):
    """A file that looks UTF-8 is parsed at once; whatever it holds further on, the frame,
    the encoding and every message are those of deciding the encoding first."""
    frame = valid_survey(8)
    text = frame.to_csv(index=False)
    # > 1 MB of plain rows before the oddity, so the first MB looks UTF-8
    wide = pd.DataFrame({"a": [f"{i:07d}" for i in range(150_000)], "b": "x"}).to_csv(index=False)
    data = {
        "utf-8": text.encode(),
        "gb18030 after 1 MB": wide.encode() + "0000001,客户\n".encode("gb18030"),
        "gb18030 header": text.encode("gb18030"),
        "bad byte after 1 MB": wide.encode() + b"0000001,\xff\xff\n",
        "bad byte and a short row": wide.encode() + b"0000001\n0000002,\xff\n",
        "utf-8 and a short row": wide.encode() + b"0000001\n",
        "bom": b"\xef\xbb\xbf" + text.encode(),
    }[case]
    path = _write(tmp_path / "s.csv", data)
    want, encoding = _two_steps(path)
    if encoding is None:
        with pytest.raises(InputError) as exc:
            read_export(path)
        assert str(exc.value) == want
    else:
        raw = read_export(path)
        assert raw.encoding == encoding
        pd.testing.assert_frame_equal(raw.frame, want)
