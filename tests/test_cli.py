"""The research command: exit codes, messages without tracebacks, outputs written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import valid_survey, workorders_for, write_csv
from research.cli import main


def test_ingest_writes_the_four_outputs(tmp_path, capsys):
    survey = valid_survey(15)
    write_csv(survey, tmp_path / "s.csv", "utf-8-sig")
    write_csv(workorders_for(survey), tmp_path / "w.csv", "gb18030")
    code = main(["ingest", str(tmp_path / "s.csv"), "--workorders", str(tmp_path / "w.csv"),
                 "--out", str(tmp_path / "out")])
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["ingest_report.json", "rejected.csv", "responses.parquet", "workorders.parquet"]
    report = json.loads((tmp_path / "out" / "ingest_report.json").read_text(encoding="utf-8"))
    assert report["reconciled"] and report["accepted"] == 15 + 20
    assert "rows read 15 = accepted 15 + rejected 0" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    ("工单编号,客户编号\n1,2\n".encode(), "required column(s) absent"),
    (b"\x00\x01\x02binary", "binary content"),
])
def test_bad_input_exits_2_with_one_message_and_no_traceback(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "research.cli", "ingest", str(path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr and str(path) in proc.stderr


def test_usage_errors_exit_non_zero(capsys):
    with pytest.raises(SystemExit) as err:
        main(["simulate", "--n", "0", "--seed", "1", "--out", "x"])
    assert err.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
