"""The thresholds' change-point analysis per cause group through an engine
(research.models.aggregate.changepoint.group_shapes_on) against the row path's
research.models.thresholds.group_shape, on the committed sample: every float column to 1e-9
relative, strings and integers exactly.

On the sample no group finds a change point at the plan's level (p = 0.233, 0.232, 0.827, 1.0 for
service, outage, capability, voltage), so the tests move the level to exercise the profile: 0.233
finds outage only, 0.9 finds three groups. Capability and voltage (1,542 and 1,329 tickets) are
under the plan's calibration bound (5,000): their rows are fetched and the row functions run on
them (with the calibration when found); with ``calibration_max_n: 0`` every group is fitted from
sums.
"""

import dataclasses

import numpy as np
import pytest

from research.engines import DatasetSource, FrameSource, open_engine
from research.ingestion.dataset import read_dataset
from research.models.aggregate.changepoint import group_shapes_on

TEXT = ("shape", "change_point_kind")
WHOLE = ("n_dissatisfied", "breakpoint_calibration_reps")


@pytest.fixture(scope="module")
def responses(sample_dataset):
    return read_dataset(sample_dataset, "responses")


def _plan(plan, **changes):
    return dataclasses.replace(plan, thresholds=dataclasses.replace(plan.thresholds, **changes))


def _row_shapes(responses, plan, instrument) -> dict:
    """The row path: group_shape of every cause group, as tolerance_thresholds calls it."""
    from research.models import thresholds as T

    frame, _, notes = T._threshold_frame(responses, plan, instrument)
    design, lh, groups, _, _ = T._spline_design(frame, plan.thresholds, notes)
    y = frame["satisfied"].to_numpy()
    return {g: T.group_shape(design, frame, rows, y, lh, plan.thresholds, plan.conf_level) for g, rows in groups.items()}


def _same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for g in want:
        assert list(got[g]) == list(want[g]), g
        for k, w in want[g].items():
            v = got[g][k]
            if k in TEXT or k in WHOLE:
                assert v == w and type(v) is type(w), (g, k, v, w)
            elif np.isnan(w):
                assert np.isnan(v), (g, k, v)
            else:
                assert v == pytest.approx(w, rel=1e-9, abs=0), (g, k, v, w)


def test_duckdb_fits_every_group_from_sums_with_a_profile(sample_dataset, responses, plan, instrument):
    """calibration_max_n 0: all four groups from sums through DuckDB on the dataset; at level 0.233
    outage (p = 0.232) has a change point, so its two 60-point profiles run too, and service
    (p = 0.2335) has none."""
    p = _plan(plan, change_point_calibration_max_n=0, change_point_alpha=0.233)
    want = _row_shapes(responses, p, instrument)
    assert [w["shape"] for w in want.values()] == ["gradual", "threshold", "gradual", "gradual"]
    engine = open_engine("duckdb")
    try:
        got = group_shapes_on(engine, DatasetSource(sample_dataset), plan=p, instrument=instrument)
    finally:
        engine.close()
    _same(got, want)


def test_small_groups_through_their_rows_with_the_calibration(responses, plan, instrument):
    """The plan's bound: capability and voltage through their fetched rows; at level 0.9 capability
    has a change point, calibrated by 5 parametric-bootstrap replicates drawn per row in the row
    path's order and seed, and service and outage have theirs from sums (pandas, a frame)."""
    p = _plan(plan, change_point_alpha=0.9, change_point_calibration_reps=5)
    want = _row_shapes(responses, p, instrument)
    assert [w["shape"] for w in want.values()] == ["threshold", "threshold", "threshold", "gradual"]
    assert want["capability"]["breakpoint_calibration_reps"] == 5 and want["service"]["breakpoint_calibration_reps"] == 0
    got = group_shapes_on(open_engine("pandas"), FrameSource(responses), plan=p, instrument=instrument)
    _same(got, want)


def test_spark_gives_the_row_path_shapes(spark_engine, sample_dataset, responses, plan, instrument):
    """Spark on the dataset, kept cheap (about 15 jobs): a small group's rows in the dataset's order
    with the position of its first (Spark's own ledger-entry order), and one group from sums (outage
    alone has 7,000 tickets; 3 breakpoints; its breakpoints' range given, the quantile passes being
    the SQL engines' shared code that the DuckDB test runs)."""
    from research.models.aggregate.thresholds import _variables

    variables = _variables(plan.thresholds)
    rows, first = spark_engine.level_rows(DatasetSource(sample_dataset), variables, "cause_l1", "capability")
    want_rows, want_first = open_engine("pandas").level_rows(DatasetSource(sample_dataset), variables, "cause_l1",
                                                             "capability")
    assert first == want_first > 0 and len(rows) == 1542
    for v in variables:
        np.testing.assert_array_equal(rows[v].to_numpy(), want_rows[v].to_numpy())
    p = _plan(plan, change_point_points=3, change_point_calibration_max_n=0, min_tickets=7000)
    from research.models.thresholds import _threshold_frame

    frame = _threshold_frame(responses, p, instrument)[0]
    z = np.log2(1 + frame.loc[frame["cause_l1"] == "outage", "handling_hours"].to_numpy())
    want = _row_shapes(responses, p, instrument)
    assert [w["shape"] for w in want.values()] == ["insufficient_data", "gradual", "insufficient_data",
                                                   "insufficient_data"]
    bounds = {"outage": tuple(np.quantile(z, [p.thresholds.reference_quantile, p.thresholds.upper_quantile]))}
    got = group_shapes_on(spark_engine, DatasetSource(sample_dataset), plan=p, instrument=instrument, bounds=bounds)
    _same(got, want)


def test_full_rank_columns_of_cells_are_those_of_the_rows(responses, plan, instrument):
    """full_rank_columns of the distinct cell rows scaled by sqrt(n) keeps the columns the rows keep."""
    from research.models import thresholds as T
    from research.models.aggregate.changepoint import _cells
    from research.stats.changepoint import full_rank_columns

    frame, _, notes = T._threshold_frame(responses, plan, instrument)
    design, _, groups, _, _ = T._spline_design(frame, plan.thresholds, notes)
    time = {i for t in design.columns_using({"handling_hours"}) for i in design.columns_of_term[t]}
    other = [j for j in range(design.X.shape[1]) if j not in time]
    _, cells = _cells(open_engine("pandas"), FrameSource(responses), plan, instrument)
    for g in cells:
        Xo = design.X[np.ix_(groups[g.level], other)]
        kept = full_rank_columns(Xo)
        assert 0 < len(kept) < len(other)
        np.testing.assert_array_equal(g.Xo, g.X_other[:, kept])


def test_a_group_above_the_calibration_bound_is_not_fetched(plan):
    """The rows of a group above calibration_max_n are never fetched: NotEstimable, saying why."""
    from research.errors import NotEstimable
    from research.models.aggregate.changepoint import _Group, _small_group

    g = _Group("outage", np.arange(2), None, np.ones((2, 1)), np.ones((2, 1)), np.array([0.0, 1.0]),
               np.array([4000.0, 3000.0]), np.zeros(2, dtype=int), 1)
    with pytest.raises(NotEstimable, match="7,000 tickets, more than the 5,000"):
        _small_group(None, None, g, plan.thresholds, 0.95)
