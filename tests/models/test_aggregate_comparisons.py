"""Group comparisons, association and reliability from an engine's counts
(research.models.aggregate.comparisons, issue 15) against the row path's own tables
(research.models.run._comparisons and _scale_checks: pingouin on the rows): every cell to 1e-9
relative, text and whole numbers exactly, and the same notes; on the committed sample ingested as a
dataset, through the pandas engine and DuckDB; hard cases (a sub-cause with one answer, one whose
answers are all the same, missing item answers, a single cause group left, a constant scale, one
complete row); and ``research fit --dataset --engine duckdb`` writing the six files. The Spark
engine's tables: tests/pipeline/test_reproduce_engine.py (its fit stage through Spark).
"""

import numpy as np
import pandas as pd
import pytest

from research.engines import DatasetSource, FrameSource, open_engine
from research.ingestion.dataset import read_dataset
from research.models import run
from research.models.aggregate.comparisons import DV, count_on, tables_from_counts
from research.models.run_engine import COUNT_TABLES
from research.stats.reliability import SAT_ITEMS

#: the Games-Howell p of both paths is scipy's studentized_range.sf, an adaptive integral accurate to
#: about 1e-10 absolute: inputs equal to 2e-15 (the T and df columns) give p-values equal to 4e-12
#: absolute on the sample (1.1e-10 on a million rows), so small p-values agree only to that
P_ABSOLUTE = 1e-10


def _row_path(frame: pd.DataFrame, conf_level: float):
    """The row path's six tables and their notes."""
    out: dict[str, pd.DataFrame] = {}
    notes = run._comparisons(frame, out) + run._scale_checks(frame, out, conf_level)
    return {k: out[k] for k in COUNT_TABLES}, notes


def _from_counts(engine_name: str, source, conf_level: float):
    engine = open_engine(engine_name)
    try:
        return tables_from_counts(count_on(engine, source), conf_level)
    finally:
        engine.close()


def _same(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]):
    """Every table: the same columns and rows; floats to 1e-9 relative (NaN where NaN), the rest
    exactly (as text, the way the CSV writes them)."""
    for key in COUNT_TABLES:
        a, b = got[key], want[key]
        assert list(a.columns) == list(b.columns) and a.shape == b.shape, key
        for col in b.columns:
            if pd.api.types.is_float_dtype(b[col]):
                atol = P_ABSOLUTE if (key, col) == ("pairwise", "p_value") else 0.0
                np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-9, atol=atol,
                                           err_msg=f"{key}.{col}")
            else:
                assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), f"{key}.{col}"


@pytest.fixture(scope="module")
def responses(sample_dataset):
    return read_dataset(sample_dataset, "responses")


@pytest.fixture(scope="module")
def row_tables(responses, plan):
    return _row_path(responses, plan.conf_level)


@pytest.mark.parametrize("engine_name", ["pandas", "duckdb"])
def test_six_tables_of_the_sample_equal_the_row_path(engine_name, sample_dataset, row_tables, plan):
    want, want_notes = row_tables
    got, notes = _from_counts(engine_name, DatasetSource(sample_dataset), plan.conf_level)
    assert len(want["pairwise"]) == 6 + 136 and want["comparisons"]["n_missing"].gt(0).all()
    assert want["item_correlations"]["n"].nunique() > 4  # pairwise-complete: the pairs' counts differ
    _same(got, want)
    assert notes == want_notes


def _holes(responses: pd.DataFrame) -> pd.DataFrame:
    """4,000 of the sample's rows with: a sub-cause answered once, one answered always alike, a few
    rows without a sub-cause, and more missing item answers (a different pattern per item)."""
    frame = responses.iloc[:4000].copy()
    subs = frame["cause_l2"].value_counts().index
    once, alike = subs[-1], subs[-2]
    rows = np.flatnonzero((frame["cause_l2"] == once).to_numpy())
    frame.iloc[rows[1:], frame.columns.get_loc(DV)] = pd.NA
    frame.loc[frame["cause_l2"] == alike, DV] = 4
    frame.iloc[::97, frame.columns.get_loc("cause_l2")] = pd.NA
    for step, item in zip((7, 11, 13), SAT_ITEMS[1:]):
        frame.iloc[::step, frame.columns.get_loc(item)] = pd.NA
    return frame


def test_groups_left_out_and_missing_answers(responses, plan):
    """Through DuckDB (the engines' counts of such a frame are compared below)."""
    frame = _holes(responses)
    want, want_notes = _row_path(frame, plan.conf_level)
    got, notes = _from_counts("duckdb", FrameSource(frame), plan.conf_level)
    assert [n["step"] for n in want_notes] == ["comparisons by cause_l2"] * 2
    assert "fewer than 2 answers" in want_notes[0]["note"] and "all the same" in want_notes[1]["note"]
    _same(got, want)
    assert notes == want_notes


def _degenerate(responses: pd.DataFrame, complete_rows: int | None) -> pd.DataFrame:
    """Answers only in the largest cause group (its sub-causes still compared), every satisfied
    flag true, and a sum score of the items the same on every row (items that vary, and constant
    ones), or with ``complete_rows``: only that many rows answering every item."""
    frame = responses.iloc[:3000].copy()
    top = frame["cause_l1"].value_counts().index[0]
    frame.loc[frame["cause_l1"] != top, DV] = pd.NA
    frame.loc[frame["satisfied"].notna(), "satisfied"] = True
    if complete_rows is None:  # speed mirrors the overall score, the two others constant: a sum of 12
        frame["sat_speed"] = 6 - frame[DV]
        for item in SAT_ITEMS[2:]:
            frame.loc[frame[item].notna(), item] = 3
    else:
        rows = np.flatnonzero(frame[list(SAT_ITEMS)].notna().all(axis=1).to_numpy())
        frame.iloc[rows[complete_rows:], frame.columns.get_loc("sat_speed")] = pd.NA
    return frame


@pytest.mark.parametrize("complete_rows", [None, 1])
def test_nothing_to_compare_gives_the_row_paths_notes(complete_rows, responses, plan):
    """One cause group left: its comparison not computed; satisfied a single value: no association;
    a constant sum score or a single complete row: no reliability nor item statistics (the item
    correlations are still computed: -1, and NaN where an item is constant)."""
    frame = _degenerate(responses, complete_rows)
    want, want_notes = _row_path(frame, plan.conf_level)
    got, notes = _from_counts("duckdb", FrameSource(frame), plan.conf_level)
    steps = [n["step"] for n in want_notes]
    assert steps == ["comparisons by cause_l1", "association of satisfied and cause_l1", "reliability",
                     "item statistics"]
    assert "1 group(s)" in want_notes[0]["note"] and "'satisfied' has 1 distinct" in want_notes[1]["note"]
    assert ("no variance" if complete_rows is None else "1 complete row(s)") in want_notes[2]["note"]
    assert len(want["comparisons"]) == 2 and want["reliability"].empty and want["association"].empty
    if complete_rows is None:
        r = want["item_correlations"].set_index(["item_a", "item_b"])["r"]
        assert r[(DV, "sat_speed")] == pytest.approx(-1) and np.isnan(r[("sat_attitude", "sat_outcome")])
    _same(got, want)
    assert notes == want_notes


def test_count_keeps_missing_values_as_groups(responses):
    """Engine.count: a missing cause, flag or answer is a group of its own; every row counted once;
    DuckDB's counts, keys and dtypes are pandas'."""
    frame = _holes(responses)
    frame.iloc[::101, frame.columns.get_loc("satisfied")] = pd.NA
    keys = ("cause_l2", "satisfied", DV, "sat_speed")
    want = open_engine("pandas").count(FrameSource(frame), keys)
    engine = open_engine("duckdb")
    try:
        got = engine.count(FrameSource(frame), keys)
    finally:
        engine.close()
    pd.testing.assert_frame_equal(got, want)
    assert want["n"].sum() == len(frame) and all(want[k].isna().any() for k in keys)
    assert pd.isna(want["cause_l2"].iloc[-1]) and not pd.isna(want["cause_l2"].iloc[0])  # missing sorts last
    direct = frame.groupby(list(keys), dropna=False).size()
    assert len(direct) == len(want)


def test_fit_dataset_with_duckdb_writes_the_six_tables(sample_dataset, row_tables, tmp_path, capsys):
    """``research fit --dataset DIR --engine duckdb`` (one model): the six CSVs, equal to the row
    path's, and the engine note no longer says the comparisons were not computed."""
    import yaml

    from research import paths
    from research.cli import main

    data = yaml.safe_load(paths.default_plan().read_text(encoding="utf-8"))
    data["models"] = [m for m in data["models"] if m["name"] == "ols"]  # one pass: the cheapest model
    for section in ("levers", "scenarios", "drivers", "weighting", "thresholds"):  # sections naming other
        data.pop(section, None)  # models; the thresholds through an engine: test_aggregate_threshold_table.py
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "fit"
    assert main(["fit", "--dataset", str(sample_dataset), "--engine", "duckdb", "--out", str(out),
                 "--plan", str(tmp_path / "plan.yaml")]) == 0
    capsys.readouterr()
    want, _ = row_tables
    got = {key: pd.read_csv(out / f"{key}.csv") for key in COUNT_TABLES}
    _same(got, {key: pd.read_csv(pd.io.common.StringIO(table.to_csv(index=False))) for key, table in want.items()})
    note = pd.read_csv(out / "notes.csv").set_index("step").loc["engine", "note"]
    assert "group comparisons and reliability from counts" in note and "thresholds" not in note
