"""The tolerance thresholds through an engine (research.models.aggregate.threshold_table, issue 15).

Reference: the row path, research.models.thresholds.tolerance_thresholds, itself checked against R
(segmented::davies.test, Hmisc::rcspline.eval, glm) in tests/models/test_thresholds*.py.

- Small data (at most EXACT_ROWS complete rows, as the committed sample): ``research fit --dataset
  --engine duckdb`` fetches the rows and gives the row path's tables, intervals included.
- The route from sums (``exact_rows=0``, what data above EXACT_ROWS take) differs from the row path
  in one documented place, the replicates' coefficients (one-step from per-station totals instead of
  iterated to each replicate's maximum), so: with the row path's replicates made one-step too
  (StationRefits.refit_all replaced by one_step_replicates), every column agrees to 1e-9 relative
  (the draws, the replicates' re-estimated hours, curves and percentile intervals are the same
  computation); against the exact row path everything but the intervals and bands agrees (point
  thresholds, reference hours and rates, knots, change points, slopes).
"""

import json

import numpy as np
import pandas as pd
import pytest

from research.cli import main
from research.ingestion.dataset import read_dataset
from research.models import threshold_bootstrap as TB
from research.models.aggregate.threshold_table import ONE_STEP
from research.models.thresholds import tolerance_thresholds

#: the columns that come from the bootstrap (the one change of the engine route)
BOOT = {"conf_low", "conf_high", "upper_reached", "boot_not_reached", "boot_failed"}


@pytest.fixture(scope="module")
def engine_fit(sample_dataset, tmp_path_factory):
    from conftest import plan_with_models

    folder = tmp_path_factory.mktemp("threshold_table")
    plan = plan_with_models(folder, ("logit",), thresholds=True)
    out = folder / "fit"
    assert main(["fit", "--dataset", str(sample_dataset), "--engine", "duckdb", "--out", str(out),
                 "--plan", str(plan)]) == 0
    return out, plan


@pytest.fixture(scope="module")
def row_paths(sample_dataset, engine_fit, instrument):
    """The row path's thresholds on the same rows: exact, and with one-step replicates."""
    from research.config.plan import load_plan
    from research.models.aggregate.thresholds import one_step_replicates

    plan = load_plan(engine_fit[1])
    responses = read_dataset(sample_dataset, "responses")
    exact = tolerance_thresholds(responses, plan=plan, instrument=instrument)

    def one_step(self, counts):
        betas = one_step_replicates(self.beta, self.score, self.info, counts)
        return betas, np.isnan(betas).any(axis=1)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TB.StationRefits, "refit_all", one_step)
        approx = tolerance_thresholds(responses, plan=plan, instrument=instrument)
    return exact, approx


def _csv(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as its CSV file reads back (the engine's tables are compared as written)."""
    import io

    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), keep_default_na=False, na_values=[""])


def _same(a: pd.DataFrame, b: pd.DataFrame, columns) -> None:
    a, b = _csv(a), _csv(b)
    for c in columns:
        x, y = a[c], b[c]
        if pd.api.types.is_float_dtype(x) or pd.api.types.is_float_dtype(y):
            x, y = x.to_numpy(float), y.to_numpy(float)
            np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=c)
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12, err_msg=c)
        else:
            assert x.astype(str).tolist() == y.astype(str).tolist(), c


@pytest.fixture(scope="module")
def from_sums(sample_dataset, engine_fit, instrument):
    """The route from sums on the sample dataset through DuckDB (exact_rows=0)."""
    from research.config.plan import load_plan
    from research.engines import DatasetSource, open_engine
    from research.models.aggregate.threshold_table import thresholds_on

    engine = open_engine("duckdb")
    try:
        return thresholds_on(engine, DatasetSource(sample_dataset), plan=load_plan(engine_fit[1]),
                             instrument=instrument, exact_rows=0)
    finally:
        engine.close()


def test_small_data_through_the_cli_give_the_row_paths_tables(engine_fit, row_paths):
    """The sample (19,304 complete rows) is below EXACT_ROWS: the rows are fetched, the row path runs."""
    out, _ = engine_fit
    got = pd.read_csv(out / "thresholds.csv", keep_default_na=False, na_values=[""])
    want = row_paths[0]["thresholds"]
    assert list(got["cause_l1"]) == list(want["cause_l1"]) and len(got) == 4
    _same(got, want, list(want.columns))
    _same(pd.read_csv(out / "threshold_curves.csv"), row_paths[0]["curves"], list(row_paths[0]["curves"].columns))
    listed = json.loads((out / "engine.json").read_text())
    assert {"thresholds", "threshold_curves", "estimates"} <= set(listed["tables"])
    assert listed["thresholds_bootstrap"] == "exact"
    notes = pd.read_csv(out / "notes.csv")
    assert notes["note"].str.contains("fetched through the duckdb engine").any()
    assert not notes["note"].str.contains("one-step").any()  # small data: exact replicates, said so


def test_from_sums_equals_the_row_path_with_one_step_replicates(from_sums, row_paths):
    got, want = from_sums["thresholds"], row_paths[1]["thresholds"]
    _same(got, want, [c for c in want.columns if c != "method"])
    assert (got["method"] == want["method"] + ONE_STEP.format(engine="duckdb")).all()
    _same(from_sums["curves"], row_paths[1]["curves"], list(row_paths[1]["curves"].columns))
    _same(from_sums["spline_estimates"], row_paths[1]["spline_estimates"], ["term", "estimate"])


def test_from_sums_only_the_bootstrap_columns_differ_from_the_exact_row_path(from_sums, row_paths):
    """Point thresholds, reference hours and rates, knots, change points and slopes are the exact
    row path's; the intervals differ (on the sample by up to 15% of a width), and say so."""
    got, exact = from_sums["thresholds"], row_paths[0]["thresholds"]
    _same(got, exact, [c for c in exact.columns if c not in BOOT | {"method"}])
    assert not np.allclose(got["conf_high"], exact["conf_high"], rtol=1e-6)  # the one-step change is visible
    _same(from_sums["curves"], row_paths[0]["curves"], ["cause_l1", "hours", "estimate"])
    assert got["method"].str.contains("one-step").all()


def _one_step_row_path(responses, plan, instrument):
    from research.models.aggregate.thresholds import one_step_replicates

    def one_step(self, counts):
        betas = one_step_replicates(self.beta, self.score, self.info, counts)
        return betas, np.isnan(betas).any(axis=1)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TB.StationRefits, "refit_all", one_step)
        return tolerance_thresholds(responses, plan=plan, instrument=instrument)


def test_hard_cases_a_small_group_and_a_single_station(sample_dataset, plan, instrument):
    """A cause group cut to 150 tickets (insufficient data: no threshold, no interval) and one
    station for every ticket (no bootstrap: a note, empty intervals), through the pandas engine,
    equal to the row path's handling of the same rows."""
    from research.engines import FrameSource, open_engine
    from research.models.aggregate.threshold_table import thresholds_on

    responses = read_dataset(sample_dataset, "responses")
    voltage = np.flatnonzero((responses["cause_l1"] == "voltage").to_numpy())
    small = responses.drop(index=responses.index[voltage[150:]]).reset_index(drop=True)
    one_station = responses.assign(station=responses["station"].iloc[0])
    engine = open_engine("pandas")
    try:
        for frame, why in ((small, "small group"), (one_station, "one station")):
            got = thresholds_on(engine, FrameSource(frame), plan=plan, instrument=instrument, exact_rows=0)
            want = _one_step_row_path(frame, plan, instrument)
            _same(got["thresholds"], want["thresholds"], [c for c in want["thresholds"].columns if c != "method"])
            _same(got["curves"], want["curves"], list(want["curves"].columns))
            assert got["notes"] == want["notes"], why
    finally:
        engine.close()
    t = got["thresholds"]
    assert (t["boot_reps"] == 0).all() and t["conf_low"].isna().all() and "no bootstrap intervals" in got["notes"][0]


def test_a_single_answer_leaves_a_note_not_a_table(sample_dataset, plan, instrument):
    from research.engines import FrameSource, open_engine
    from research.models.run_engine import _thresholds

    responses = read_dataset(sample_dataset, "responses").assign(satisfied=True)
    engine = open_engine("pandas")
    try:
        tables, notes = _thresholds(engine, FrameSource(responses), plan, instrument, lambda m: None)
    finally:
        engine.close()
    assert tables == {} and "single value" in notes[0]["note"] and notes[0]["step"] == "thresholds"
