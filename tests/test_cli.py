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


def test_reproduce_on_the_sample_leaks_no_personal_data(sample_build):
    import re

    import pandas as pd

    from research import paths

    tmp_path, _, printed = sample_build  # research reproduce --out <folder>, run once per session
    assert "rows read 20,030 = accepted 19,920 + rejected 110" in printed
    raw = pd.read_csv(paths.sample_survey(), dtype=str, encoding="utf-8-sig")
    wo = pd.read_csv(paths.sample_workorders(), dtype=str, encoding="gb18030")
    secrets = set(raw["客户编号"]) | set(raw["联系电话"]) | set(wo["客户编号"]) | set(wo["联系电话"])
    secrets |= set(re.findall(r"\d{17}[\dX]|1[3-9]\d{9}", " ".join(raw["客户意见"].dropna())))
    outputs = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in outputs} >= {"responses.parquet", "workorders.parquet", "rejected.csv",
                                         "ingest_report.json"}
    for path in outputs:
        if path.suffix == ".parquet":
            text = pd.read_parquet(path).astype(str).to_csv()
        elif path.suffix == ".docx":
            import zipfile

            with zipfile.ZipFile(path) as z:
                text = " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
        elif path.suffix == ".png":
            continue  # pixels; the same figures' data and SVG text are checked
        else:
            text = path.read_text(encoding="utf-8-sig")
        tokens = set(re.findall(r"[0-9X]{10,18}", text))
        leaked = tokens & secrets
        assert not leaked, f"{path.name} holds personal data: {sorted(leaked)[:3]}"


def test_weight_writes_the_representativeness_tables(tmp_path, capsys):
    from research.simulate import simulate, write_simulation

    files = write_simulation(simulate(2000, 3), tmp_path / "sim")
    assert main(["ingest", str(files["survey"]), "--workorders", str(files["workorders"]),
                 "--out", str(tmp_path / "ing")]) == 0
    code = main(["weight", "--data", str(tmp_path / "ing"), "--out", str(tmp_path / "w")])
    assert code == 0
    names = sorted(p.stem for p in (tmp_path / "w").iterdir())
    from research.representativeness.run import OUTPUTS

    assert names == sorted(OUTPUTS)
    out = capsys.readouterr().out
    assert "satisfied rate: weighted" in out and "design effect" in out


def test_weight_without_work_orders_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "research.cli", "weight", "--data", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "responses.parquet" in proc.stderr and "not found" in proc.stderr


def test_bulletin_command_writes_html_docx_and_csv(tmp_path, capsys):
    from research.simulate import simulate, write_simulation

    files = write_simulation(simulate(3000, 4), tmp_path / "sim")
    assert main(["ingest", str(files["survey"]), "--workorders", str(files["workorders"]),
                 "--out", str(tmp_path / "ing")]) == 0
    code = main(["bulletin", "--period", "week", "--at", "2025-06-04", "--data", str(tmp_path / "ing"),
                 "--out", str(tmp_path / "b")])
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert "bulletin_week_2025-06-02.zh.html" in names and "bulletin_week_2025-06-02.zh.docx" in names
    assert any(n.endswith("_overview.csv") for n in names)
    html = (tmp_path / "b" / "bulletin_week_2025-06-02.zh.html").read_text(encoding="utf-8")
    assert "周通报" in html


def test_bulletin_bad_period_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "research.cli", "bulletin", "--period", "year", "--at",
                           "2025-06-04", "--data", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
