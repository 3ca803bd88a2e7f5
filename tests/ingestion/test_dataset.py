"""The month-partitioned dataset of ingested exports (research.ingestion.dataset, issue 15 point 1).

One small simulation (2,000 surveys), its exports split in two by year of creation; the two halves
are ingested into a dataset once per module and compared with one ingest of the whole exports.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from research.cli import main
from research.errors import InputError
from research.ingestion import dataset as dset
from research.ingestion.dataset import ingest_into_dataset, read_dataset
from research.ingestion.ingested import read_ingested
from research.ingestion.run import ingest, write_ingest
from conftest import TEST_KEY

HALVES = ("2025", "2026")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{"all"|"2025"|"2026": (survey.csv, workorders.csv)} of one simulation, and the raw exports."""
    from research.simulate import simulate

    sim = simulate(2000, 11)
    folder = tmp_path_factory.mktemp("exports")
    files = {}
    for half in ("all",) + HALVES:
        pair = []
        for name, frame, encoding in (("survey", sim.survey_export, "utf-8-sig"),
                                      ("workorders", sim.workorders_export, "gb18030")):
            part = frame if half == "all" else frame[frame["受理时间"].str[:4] == half]
            path = folder / f"{name}_{half}.csv"
            path.write_bytes(part.to_csv(index=False, lineterminator="\n").encode(encoding))
            pair.append(path)
        files[half] = tuple(pair)
    return files, sim


@pytest.fixture(scope="module")
def built(exports, tmp_path_factory):
    """A dataset of the two halves, and one ingest of the whole exports."""
    files, _ = exports
    root = tmp_path_factory.mktemp("ds") / "dataset"
    for half in HALVES:
        ingest_into_dataset(root, *files[half], key=TEST_KEY)
    whole = ingest(*files["all"], key=TEST_KEY)
    return root, whole


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".research.lock"}


def _copy(root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    return copy


@pytest.mark.parametrize("table, attr", [("responses", "responses"), ("workorders", "workorders")])
def test_union_of_two_exports_equals_one_ingest_of_both(built, tmp_path, table, attr):
    root, whole = built
    got = read_dataset(root, table)
    expected = getattr(whole, attr)
    assert len(got) == len(expected) > 500
    # the same columns and dtypes as read_ingested gives for ingest's own file
    written = write_ingest(whole, tmp_path / "ingest")
    reread = read_ingested(written[attr], attr)
    assert list(got.columns) == list(reread.columns)
    assert got.dtypes.to_dict() == reread.dtypes.to_dict()
    # the same rows, but for source_row (the row of each half's own file)
    def key(f):
        return f.drop(columns="source_row").sort_values("ticket_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(key(got), key(reread))


def test_rows_by_ledger_entry_then_source_row(built):
    root, _ = built
    got = read_dataset(root, "responses")
    year = got["created_at"].dt.year
    first = (year == 2025).sum()
    assert (year.iloc[:first] == 2025).all() and (year.iloc[first:] == 2026).all()
    for block in (got.iloc[:first], got.iloc[first:]):
        assert block["source_row"].is_monotonic_increasing and block["source_row"].is_unique
    assert got.index.equals(pd.RangeIndex(len(got)))


def test_one_partition_per_month_holding_only_its_month(built):
    root, _ = built
    ledger = dset.read_ledger(root)
    for table in ("responses", "workorders"):
        rows = read_dataset(root, table)
        months = set(rows["created_at"].dt.strftime("%Y-%m"))
        assert {p.name.removeprefix("month=") for p in (root / table).iterdir()} == months
        assert len(months) == 18  # 2025-01 .. 2026-06
        parted = ds.dataset(root / table, format="parquet", partitioning="hive").to_table().to_pandas()
        assert (parted["created_at"].dt.strftime("%Y-%m") == parted["month"].astype(str)).all()
    assert [sorted(f["months"])[0][:4] for e in ledger["entries"] for f in e["files"]] == \
        ["2025", "2025", "2026", "2026"]
    march = read_dataset(root, "responses", months=["2026-03"])
    assert len(march) and (march["created_at"].dt.strftime("%Y-%m") == "2026-03").all()
    all_rows = read_dataset(root, "responses")
    assert len(march) == (all_rows["created_at"].dt.strftime("%Y-%m") == "2026-03").sum()


def test_ledger_records_each_export_and_no_time(built, exports):
    import hashlib

    root, _ = built
    files, _ = exports
    ledger = dset.read_ledger(root)
    first = ledger["entries"][0]
    survey = first["files"][0]
    assert survey["sha256"] == hashlib.sha256(files["2025"][0].read_bytes()).hexdigest()
    assert survey["rows_read"] == survey["accepted"] + survey["rejected"]
    assert first["id"] == survey["sha256"][:8] and (root / first["report"] / "ingest_report.json").is_file()
    assert (root / first["report"] / "rejected.csv").is_file()
    assert all(p.startswith(f"responses/month=") and f"part-{first['id']}-" in p for p in survey["parts"])
    from research.ingestion.pseudonymise import key_id

    assert ledger["pseudonym_key_id"] == key_id(TEST_KEY)
    def keys(node):
        if isinstance(node, dict):
            return set(node) | {k for v in node.values() for k in keys(v)}
        return {k for v in node for k in keys(v)} if isinstance(node, list) else set()

    assert keys(ledger) == {"format", "pseudonym_key_id", "entries", "id", "report", "files", "role",
                            "file", "sha256", "rows_read", "accepted", "rejected", "table", "months",
                            "parts", "instrument", "dir", "fingerprint", "package_version", "ticket_range"}
    # no time: the same exports give the same ledger; the instrument and the package's version
    from research import __version__
    from research.config.instrument import load_instrument

    instrument = load_instrument()
    assert first["package_version"] == __version__
    assert first["instrument"] == {"dir": instrument.source_dir.name,
                                   "fingerprint": dset.instrument_fingerprint(instrument.source_dir)}
    assert len(first["instrument"]["fingerprint"]) == 16


def test_instrument_fingerprint_changes_with_any_yaml(tmp_path):
    from research.config.instrument import load_instrument

    copy = tmp_path / "surveys"
    shutil.copytree(load_instrument().source_dir, copy)
    before = dset.instrument_fingerprint(copy)
    assert before == dset.instrument_fingerprint(copy)
    yaml = sorted(copy.glob("*.yaml"))[0]
    yaml.write_bytes(yaml.read_bytes() + b"\n# a comment\n")
    assert dset.instrument_fingerprint(copy) != before


def test_reingest_refused_with_exit_2_naming_file_and_entry(built, exports, tmp_path, capsys):
    root, _ = built
    files, _ = exports
    copy = _copy(root, tmp_path)
    before = _snapshot(copy)
    code = main(["ingest", str(files["2026"][0]), "--workorders", str(files["2026"][1]),
                 "--dataset", str(copy)])
    err = capsys.readouterr().err
    entry = dset.read_ledger(copy)["entries"][1]["id"]
    assert code == 2 and "already in the dataset" in err and f"ledger entry {entry}" in err
    assert str(files["2026"][0]) in err and "--replace" in err and "Traceback" not in err
    # a work-order export already in the dataset is refused too, with another survey
    with pytest.raises(InputError, match="workorders_2025.csv: already in the dataset"):
        ingest_into_dataset(copy, files["all"][0], files["2025"][1], key=TEST_KEY)
    assert _snapshot(copy) == before


def test_replace_gives_the_same_dataset_never_doubled(built, exports, tmp_path):
    root, _ = built
    files, _ = exports
    copy = _copy(root, tmp_path)
    before = _snapshot(copy)
    assert main(["ingest", str(files["2025"][0]), "--workorders", str(files["2025"][1]),
                 "--dataset", str(copy), "--replace"]) == 0
    assert _snapshot(copy) == before  # parts named by their bytes, the ledger in the same order
    pd.testing.assert_frame_equal(read_dataset(copy, "responses"), read_dataset(root, "responses"))


def test_replace_with_other_rows_removes_the_old_parts(built, exports, tmp_path):
    root, _ = built
    files, _ = exports
    copy = _copy(root, tmp_path)
    survey = files["2026"][0]
    changed = tmp_path / "survey_2026.csv"
    lines = survey.read_bytes().split(b"\n")
    changed.write_bytes(b"\n".join(lines[:200]) + b"\n")  # the same file, cut: another sha256
    with pytest.raises(InputError, match="workorders_2026.csv: already in the dataset"):
        ingest_into_dataset(copy, changed, files["2026"][1], key=TEST_KEY)
    ingest_into_dataset(copy, changed, files["2026"][1], key=TEST_KEY, replace=True)
    ledger = dset.read_ledger(copy)
    assert len(ledger["entries"]) == 2 and ledger["entries"][1]["files"][0]["accepted"] == 199
    listed = {p for e in ledger["entries"] for f in e["files"] for p in f["parts"]}
    on_disk = {p.relative_to(copy).as_posix() for p in copy.rglob("*.parquet")}
    assert on_disk == listed
    assert sorted(p.name for p in (copy / "reports").iterdir()) == sorted(e["id"] for e in ledger["entries"])
    got = read_dataset(copy, "responses")
    assert len(got) == len(read_dataset(root, "responses", months=[f"2025-{m:02d}" for m in range(1, 13)])) + 199


def test_another_key_is_refused(built, exports, tmp_path):
    root, _ = built
    files, _ = exports
    copy = _copy(root, tmp_path)
    before = _snapshot(copy)
    with pytest.raises(InputError, match="not the dataset's"):
        ingest_into_dataset(copy, *files["all"], key=b"another-key-0123456789abcdef")
    assert _snapshot(copy) == before


def test_a_failure_leaves_the_dataset_as_it_was(built, exports, tmp_path, monkeypatch):
    root, _ = built
    files, _ = exports
    copy = _copy(root, tmp_path)
    before = _snapshot(copy)

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dset, "_write_ledger", fail)
    with pytest.raises(OSError):
        ingest_into_dataset(copy, *files["2025"], key=TEST_KEY, replace=True)
    assert _snapshot(copy) == before
    assert not [p for p in copy.iterdir() if p.name.startswith(".staging-")]
    # a new entry failing at the ledger: into a dataset of the first half only
    monkeypatch.undo()
    half = tmp_path / "half"
    ingest_into_dataset(half, *files["2025"], key=TEST_KEY)
    before = _snapshot(half)
    monkeypatch.setattr(dset, "_write_ledger", fail)
    with pytest.raises(OSError):
        ingest_into_dataset(half, *files["2026"], key=TEST_KEY, chunk_rows=300)
    assert _snapshot(half) == before
    assert not [p for p in half.iterdir() if p.name.startswith(".staging-")]


def test_ticket_ids_of_another_entry_are_refused_with_exit_2_counted_never_quoted(built, exports,
                                                                                    tmp_path, capsys):
    root, _ = built
    files, sim = exports
    copy = _copy(root, tmp_path)
    before = _snapshot(copy)
    # the whole exports hold both halves' tickets: refused before anything is written
    assert main(["ingest", str(files["all"][0]), "--workorders", str(files["all"][1]),
                 "--dataset", str(copy)]) == 2
    err = capsys.readouterr().err
    ledger = dset.read_ledger(copy)
    wo_2025 = ledger["entries"][0]["files"][1]
    assert f"{wo_2025['accepted']:,} of its ticket ids are already in the dataset" in err
    assert f"ledger entry {ledger['entries'][0]['id']}" in err and "workorders_all.csv" in err
    tickets = set(sim.workorders_export["工单编号"])
    assert not [t for t in tickets if t in err]  # counted, never quoted
    assert _snapshot(copy) == before


def test_an_append_reads_only_the_entries_whose_ticket_range_meets_its_own(exports, tmp_path, monkeypatch):
    """The 2026 half's ticket ids (GD...2026...) lie after every id of the 2025 entry, whose ledger
    files record their range: appending it reads no earlier entry's ids. The whole exports meet
    that range, so they are read and refused; and a ledger without ranges (written before them)
    is read as before."""
    import json

    files, _ = exports
    root = tmp_path / "ds"
    ingest_into_dataset(root, *files["2025"], key=TEST_KEY)
    ranges = [f["ticket_range"] for f in dset.read_ledger(root)["entries"][0]["files"]]
    assert all(len(r) == 2 and r[0] <= r[1] and "2025" in r[1] for r in ranges)
    reads = []
    real = dset.read_parts
    monkeypatch.setattr(dset, "read_parts", lambda *a, **k: reads.append(a[2]) or real(*a, **k))
    legacy = tmp_path / "legacy"
    shutil.copytree(root, legacy)
    ingest_into_dataset(root, *files["2026"], key=TEST_KEY)
    assert reads == []
    with pytest.raises(InputError, match="of its ticket ids are already in the dataset"):
        ingest_into_dataset(root, *files["all"], key=TEST_KEY)
    assert reads  # the entries it meets were read
    ledger = json.loads((legacy / dset.LEDGER).read_text(encoding="utf-8"))
    for f in ledger["entries"][0]["files"]:
        del f["ticket_range"]
    (legacy / dset.LEDGER).write_text(json.dumps(ledger), encoding="utf-8")
    reads.clear()
    ingest_into_dataset(legacy, *files["2026"], key=TEST_KEY)
    assert sorted(reads) == ["responses", "workorders"]


def test_bad_dataset_folder_is_input_error_exit_2(exports, tmp_path, capsys):
    files, _ = exports
    survey = str(files["2025"][0])
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["ingest", survey, "--dataset", str(a_file)]) == 2
    assert "must be a folder" in capsys.readouterr().err
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "note.txt").write_text("mine")
    assert main(["ingest", survey, "--dataset", str(foreign)]) == 2
    assert "not a dataset" in capsys.readouterr().err
    assert main(["ingest", survey, "--replace"]) == 2
    assert "--replace needs --dataset" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert main(["ingest", survey, "--dataset", str(locked)]) == 2
            assert "not writable" in capsys.readouterr().err
        finally:
            locked.chmod(0o700)
    with pytest.raises(InputError, match="not a dataset"):
        read_dataset(tmp_path, "responses")
    with pytest.raises(InputError, match="YYYY-MM"):
        read_dataset(tmp_path, "responses", months=["2026-13"])


def test_no_personal_data_in_the_dataset(built, exports):
    import re

    root, _ = built
    _, sim = exports
    secrets = set()
    for frame in (sim.survey_export, sim.workorders_export):
        secrets |= set(frame["客户编号"].dropna()) | set(frame["联系电话"].dropna())
    secrets |= set(re.findall(r"\d{17}[\dX]|1[3-9]\d{9}", " ".join(sim.survey_export["客户意见"].dropna())))
    assert len(secrets) > 1000
    for path in root.rglob("*"):
        if not path.is_file() or path.name == ".research.lock":
            continue
        if path.suffix == ".parquet":
            text = pd.read_parquet(path).astype(str).to_csv()
        else:
            text = path.read_text(encoding="utf-8-sig")
        leaked = set(re.findall(r"[0-9X]{10,18}", text)) & secrets
        assert not leaked, f"{path} leaks {sorted(leaked)[:3]}"


def test_the_bulletin_reads_a_dataset_as_it_reads_one_ingest_of_both_files(built):
    """`research bulletin --dataset DIR` (issue 15 point 5): the two halves' dataset, read through
    DuckDB's period windows (two ledger entries: rows in ledger order), gives the same tables, as
    CSV text, as the whole exports ingested at once. A week: this small simulation's month ranking
    (a random-intercept logit on a few answers per station) takes 25 s to fit and is not what is
    tested here. (Every file of a rendered bulletin through the dataset path, months included, is
    compared in tests/bulletin/test_bulletin_window.py.)"""
    from research.bulletin import bulletin_tables, period_of
    from research.bulletin.window import open_reader, window_inputs
    from research.config.plan import BulletinSpec

    root, whole = built
    at = "2025-11-12"
    expected = bulletin_tables(whole.responses, whole.workorders, period="week", at=at)
    with open_reader(root) as reader:  # open while the tables are built: the history reads lazily
        r, w, history = window_inputs(reader, period_of("week", at), BulletinSpec().ranking_rhs)
        got = bulletin_tables(r, w, period="week", at=at, history=history)
    assert list(got) == list(expected) and len(expected) > 3
    for key, frame in expected.items():
        assert got[key].to_csv(index=False, float_format="%.17g") == frame.to_csv(index=False, float_format="%.17g"), key


def test_bulletin_dataset_and_data_are_one_or_the_other_and_a_bad_folder_is_exit_2(built, tmp_path):
    import subprocess
    import sys

    root, _ = built
    cli = [sys.executable, "-m", "research.cli", "bulletin", "--period", "week"]
    both = subprocess.run([*cli, "--dataset", str(root), "--data", str(tmp_path)], capture_output=True, text=True)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    empty = tmp_path / "nothing"
    empty.mkdir()
    bad = subprocess.run([*cli, "--dataset", str(empty), "--out", str(tmp_path / "o")], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len([line for line in bad.stderr.splitlines() if "error" in line]) == 1, bad.stderr


# ----------------------------------------------------------------------------- a ledger changed by hand

def _edit_ledger(copy: Path, edit) -> None:
    import json

    ledger = json.loads((copy / dset.LEDGER).read_text(encoding="utf-8"))
    edit(ledger)
    (copy / dset.LEDGER).write_text(json.dumps(ledger), encoding="utf-8")


def _first_parts(ledger: dict) -> list:
    return ledger["entries"][0]["files"][0]["parts"]


@pytest.mark.parametrize("edit, message", [
    (lambda d: _first_parts(d).__setitem__(0, "../../../etc/passwd"), r"parts\[0\]: goes up"),
    (lambda d: _first_parts(d).__setitem__(0, "/etc/passwd"), r"parts\[0\]: is an absolute path"),
    (lambda d: _first_parts(d).append(_first_parts(d)[0]), "the same part is listed twice"),
    (lambda d: d["entries"].append(dict(d["entries"][0])), r"entries\[2\].id: the same entry"),
    (lambda d: d["entries"][0].__setitem__("pseudonym_key_id", "ffffffff"), "not the dataset's pseudonym key"),
    (lambda d: d["entries"][0]["files"][0].__setitem__("accepted", -5), "accepted: must be a whole number"),
    (lambda d: d["entries"][0]["files"][0].__setitem__("role", "other"), "role: must be one of"),
])
def test_a_ledger_changed_by_hand_is_refused_naming_the_key(built, tmp_path, edit, message):
    """A ledger must not make a command read outside the folder, count rows twice or mix pseudonym
    keys (research.ingestion.ledger_check): each such edit is an InputError naming the key."""
    root, _ = built
    copy = _copy(root, tmp_path)
    _edit_ledger(copy, edit)
    with pytest.raises(InputError, match=message):
        dset.read_ledger(copy)


def test_the_engines_refuse_a_missing_damaged_or_escaping_part(built, tmp_path, capsys):
    """What DuckDB and Spark read (engines.base.DatasetSource.files) is checked as the pandas path
    checks it: a missing part, a part that is not a whole Parquet file, or a symbolic link out of
    the folder is an InputError naming the part; `research fit --dataset` exits 2 without a traceback."""
    import json

    from research.engines.base import DatasetSource

    root, _ = built
    copy = _copy(root, tmp_path)
    part = copy / json.loads((copy / dset.LEDGER).read_text(encoding="utf-8"))["entries"][0]["files"][0]["parts"][0]
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(InputError, match="not a whole Parquet file"):
        DatasetSource(copy).files()
    code = main(["fit", "--dataset", str(copy), "--out", str(tmp_path / "fit"), "--no-thresholds"])
    err = capsys.readouterr().err
    assert code == 2 and "not a whole Parquet file" in err and "internal error" not in err
    outside = tmp_path / "outside.parquet"
    outside.write_bytes(data)
    part.unlink()
    part.symlink_to(outside)
    with pytest.raises(InputError, match="leads outside the dataset folder"):
        DatasetSource(copy).files()
    part.unlink()
    with pytest.raises(InputError, match="is missing"):
        DatasetSource(copy).files()
