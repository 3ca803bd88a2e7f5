"""The bulletin of a dataset through DuckDB (``--engine duckdb``, research.bulletin.window): only the
rows of the period's windows are read, and every table and file equals the pandas path's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from research.bulletin import bulletin_tables, period_of
from research.bulletin.run import _extents, run_bulletin
from research.bulletin.window import extents, open_reader, window_inputs, windows
from research.config.plan import BulletinSpec

RHS = BulletinSpec().ranking_rhs

#: (period, --at): the sample runs 2025-01-01 to 2026-06-30
CASES = [
    ("week", "2025-03-26"),  # an out-of-control station and a recurrence flag, 12 weeks into the data
    ("week", "2025-01-05"),  # the first (partial) ISO week: nothing before it
    ("month", "2026-03-15"),  # the station ranking
    ("month", "2025-01-20"),  # the first month
    ("day", "2025-01-01"),  # the first day
    ("day", "2025-06-10"),  # repeat callers whose episode began before the 12-day window
]


@pytest.fixture(scope="module")
def frames(sample_dataset):
    from research.ingestion.dataset import read_dataset

    return read_dataset(sample_dataset, "responses"), read_dataset(sample_dataset, "workorders")


@pytest.fixture(scope="module")
def reader(sample_dataset):
    with open_reader(sample_dataset) as r:
        yield r


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.17g")


@pytest.mark.parametrize(("period", "at"), CASES)
def test_windowed_tables_equal_the_whole_datas(frames, reader, period, at):
    r, w = frames
    whole = bulletin_tables(r, w, period=period, at=at)
    p = period_of(period, at)
    rw, ww, history = window_inputs(reader, p, RHS)
    assert len(rw) < len(r) and len(ww) < len(w)  # fewer rows ...
    assert "sat_speed" not in rw.columns and "survey_status" not in ww.columns  # ... and columns
    assert rw.dtypes.equals(r.dtypes[rw.columns]) and ww.dtypes.equals(w.dtypes[ww.columns])
    windowed = bulletin_tables(rw, ww, period=period, at=at, history=history)
    assert list(windowed) == list(whole)
    for key, frame in whole.items():
        assert _csv(windowed[key]) == _csv(frame), key
        assert windowed[key].dtypes.equals(frame.dtypes), key
        assert windowed[key].attrs == frame.attrs, key
    if (period, at) == ("week", "2025-03-26"):  # the whole-history parts are exercised
        assert len(whole["out_of_control"]) and len(whole["recurrence"])
    if (period, at) == ("day", "2025-06-10"):
        assert (whole["repeat_callers"]["first_created"] < windows(p)[0]).any()
    if period == "month" and at == "2026-03-15":
        assert len(whole["ranking"])


def test_the_range_comes_from_min_and_max(frames, reader):
    r, w = frames
    assert extents(reader) == [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in _extents(r, w)]


def test_windows_hold_the_trend_the_baselines_and_last_year():
    start, end, ly = windows(period_of("week", "2026-03-04"))
    assert (start, end) == (pd.Timestamp("2025-12-15"), pd.Timestamp("2026-03-09"))  # 12 ISO weeks
    assert ly.start == pd.Timestamp("2025-03-03")
    start, end, ly = windows(period_of("day", "2025-06-10"))
    assert (start, end, ly.start) == (pd.Timestamp("2025-05-30"), pd.Timestamp("2025-06-11"),
                                      pd.Timestamp("2024-06-10"))


@pytest.mark.parametrize(("period", "at"), [("week", "2025-03-26"), ("day", None)])
def test_every_file_equals_the_pandas_paths(sample_dataset, tmp_path, period, at):
    a = run_bulletin(sample_dataset, period=period, at=at, out=tmp_path / "p", lang="en", dataset=True,
                     engine="pandas")
    b = run_bulletin(sample_dataset, period=period, at=at, out=tmp_path / "d", lang="en", dataset=True,
                     engine="duckdb")
    assert sorted(a) == sorted(b)
    suffixes = {Path(p).suffix for p in a.values()}
    assert {".csv", ".html", ".docx"} <= suffixes
    for key in a:
        assert Path(a[key]).read_bytes() == Path(b[key]).read_bytes(), key


def test_engine_on_the_command_line(sample_dataset, tmp_path, capsys):
    from research.cli import main

    out = tmp_path / "o"
    assert main(["bulletin", "--period", "day", "--at", "2025-01-01", "--dataset", str(sample_dataset),
                 "--engine", "duckdb", "--lang", "en", "--out", str(out)]) == 0
    assert any(p.suffix == ".csv" for p in out.iterdir())
    capsys.readouterr()
    assert main(["bulletin", "--period", "day", "--data", str(tmp_path), "--engine", "duckdb",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--dataset" in err and "Traceback" not in err
    assert main(["bulletin", "--period", "day", "--dataset", str(tmp_path), "--engine", "duckdb",
                 "--out", str(tmp_path / "y")]) == 2
    assert "not a dataset" in capsys.readouterr().err


def test_risk_model_from_sums_above_its_size(frames, reader, monkeypatch):
    """A national dataset's repeat-caller risk model is fitted by DuckDB from sums
    (research.models.aggregate.risk): forced here on the sample, the risks equal the row fit's to 1e-9."""
    import research.bulletin.window as window

    r, w = frames
    p = period_of("day", "2025-06-10")
    whole = bulletin_tables(r, w, period="day", at="2025-06-10")
    monkeypatch.setattr(window, "RISK_FROM_SUMS_ABOVE", 0)
    rw, ww, history = window_inputs(reader, p, RHS)
    windowed = bulletin_tables(rw, ww, period="day", at="2025-06-10", history=history)
    _same_risks(windowed, whole)


def _same_risks(windowed: dict, whole: dict) -> None:
    """The repeat-caller table of ``windowed`` equals ``whole``'s: risks to 1e-9, the rest as text."""
    import numpy as np

    key = next(k for k, f in whole.items() if "risk" in f.columns)
    a, b = windowed[key], whole[key]
    assert len(b) > 0 and list(a.columns) == list(b.columns)
    np.testing.assert_allclose(a["risk"].to_numpy(float), b["risk"].to_numpy(float), rtol=1e-9)
    other = [c for c in b.columns if c != "risk"]
    assert _csv(a[other]) == _csv(b[other])


def test_spark_gives_the_duckdb_paths_tables_and_risks_from_sums(spark_engine, sample_dataset, frames, plan,
                                                                  monkeypatch):
    """``--engine spark`` (research.engines.spark_window): a week's bulletin tables, read through
    Spark, equal those read through DuckDB as CSV text (the files are written from these tables by
    the same code: test_every_file_equals_the_pandas_paths shows DuckDB's files byte-identical to the
    pandas path's); the repeat callers' risk model forced through the Spark engine's sums equals the
    row fit's to 1e-9 (as test_risk_model_from_sums_above_its_size for DuckDB, which shows the same
    window code carrying it into the bulletin's tables). For the risks only the repeat callers'
    section is computed through Spark (its rows and the model's passes), not a second whole bulletin:
    the other sections' Spark reads are the week's. Skipped, with the reason, without a Java runtime
    (the spark_engine fixture)."""
    import research.bulletin.window as window
    from research.bulletin.data import History, _Data
    from research.bulletin.run import _window_tables
    from research.bulletin.tables import _repeat_callers
    from research.engines.spark_window import SparkDatasetReader

    at = pd.Timestamp("2025-03-26").date()
    a, day_a, shas_a = _window_tables(sample_dataset, "week", at, plan, lambda m: None, "duckdb")
    b, day_b, shas_b = _window_tables(sample_dataset, "week", at, plan, lambda m: None, "spark")
    assert (day_a, shas_a) == (day_b, shas_b) and sorted(a) == sorted(b) and len(a) > 5
    for key in a:
        assert _csv(a[key]) == _csv(b[key]), key
    r, w = frames
    whole = bulletin_tables(r, w, period="day", at="2025-06-10")
    monkeypatch.setattr(window, "RISK_FROM_SUMS_ABOVE", 0)
    fits = []
    from_sums = window._risk_from_sums
    monkeypatch.setattr(window, "_risk_from_sums", lambda *a: fits.append(from_sums(*a)) or fits[-1])
    p = period_of("day", "2025-06-10")
    with SparkDatasetReader(sample_dataset, engine=spark_engine) as reader:
        # what bulletin_tables' repeat-caller section reads from window_inputs' History
        history = History(None, None, None, None, repeat=lambda q: window.repeat_inputs(reader, q))
        repeat = _repeat_callers(_Data(r.iloc[:0], w.iloc[:0], history), p, BulletinSpec().repeat_top)
    assert len(fits) == 1  # the risks are the model from Spark's sums, not a row fit
    _same_risks({k: repeat for k, f in whole.items() if "risk" in f.columns}, whole)
