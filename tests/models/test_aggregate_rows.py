"""The plan run's tables that used to need the rows, from an engine's sums (issue 15): the Brant test
(research.models.aggregate.brant) and the sub-cause ranks (research.models.aggregate.ranks) against
the row path's own (research.stats.brant.brant_test, research.models.ranks.subcause_ranks, through
research.models.families' steps) to 1e-9 relative, on the committed sample ingested as a dataset;
and a hard case each: a split that separates some rows (the Brant test not computable, with the
row path's note) and a sub-cause with very few tickets.
"""

import numpy as np
import pandas as pd
import pytest

from research.engines import DatasetSource, FrameSource, open_engine
from research.ingestion.dataset import read_dataset
from research.models.aggregate import fit_model_on
from research.models.aggregate.brant import brant_step
from research.models.aggregate.ranks import subcause_ranks_from_sums
from research.models.families import family_of
from research.models.fit import fit_model
from research.models.run_engine import ROW_TABLES, fit_plan_on


@pytest.fixture(scope="module")
def responses(sample_dataset):
    return read_dataset(sample_dataset, "responses")


def _row_step(spec, frame, plan, instrument):
    """The row path's family step tables and notes of one model."""
    fm = fit_model(spec, frame, plan=plan, instrument=instrument)
    tables, notes = {}, []
    for step in family_of(spec.family, spec.name).steps:
        t, n = step.run(fm, plan, instrument)
        tables.update(t)
        notes += n
    return tables, notes


def _same(a: pd.DataFrame, b: pd.DataFrame, exact: list[str], close: list[str]):
    assert a.shape == b.shape and list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a[exact].reset_index(drop=True), b[exact].reset_index(drop=True), check_dtype=False)
    for col in close:
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=col)
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=0, err_msg=col)


def test_brant_and_ranks_of_the_plan_run_through_duckdb(sample_dataset, responses, instrument, tmp_path):
    """fit_plan_on writes brant (an ordinal model) and subcause_ranks (a logit model) equal to the row
    path's, and the notes no longer call them missing (the plan cut to those two models)."""
    from research.config.plan import load_plan
    from conftest import plan_with_models

    plan = load_plan(plan_with_models(tmp_path, ("ordinal", "logit")))
    engine = open_engine("duckdb")
    try:
        out = fit_plan_on(engine, DatasetSource(sample_dataset), plan=plan, instrument=instrument)
    finally:
        engine.close()
    assert "brant" not in ROW_TABLES and "subcause_ranks" not in ROW_TABLES
    brant, ranks = [], []
    for spec in plan.models:
        tables, _ = _row_step(spec, responses, plan, instrument)
        brant += [tables["brant"]] if "brant" in tables else []
        ranks += [tables["subcause_ranks"]] if "subcause_ranks" in tables else []
    want_b, want_r = pd.concat(brant, ignore_index=True), pd.concat(ranks, ignore_index=True)
    assert want_b["model"].tolist()[0] == "ordinal" and want_r["model"].tolist()[0] == "logit"
    assert want_b["statistic"].notna().all()
    _same(out["brant"], want_b, ["model", "term", "df", "method"], ["statistic", "p_value"])
    _same(out["subcause_ranks"], want_r, ["model", "cause_l2", "rank", "rank_low", "rank_high", "draws", "seed",
                                          "method"], ["estimate", "std_error"])
    engine_note = out["notes"].loc[out["notes"]["step"] == "engine", "note"].iloc[0]
    assert "brant" not in engine_note and "from sums" in engine_note


def test_brant_not_computable_on_a_separating_split(responses, plan, instrument):
    """Every answer of one sub-cause at the top level: the splits below it separate those rows, so
    both paths say the test cannot be computed, naming the same splits."""
    spec = next(m for m in plan.models if m.name == "ordinal")
    part = responses.iloc[:6000]
    sub = part["cause_l2"].value_counts().index[3]
    frame = part.assign(sat_overall=part["sat_overall"].where(part["cause_l2"] != sub, 5))
    want, want_notes = _row_step(spec, frame, plan, instrument)
    fm = fit_model_on(open_engine("pandas"), FrameSource(frame), spec, plan=plan, instrument=instrument)
    got, got_notes = brant_step(fm)
    assert got["brant"]["statistic"].isna().all()
    _same(got["brant"], want["brant"], ["model", "term", "df", "method"], ["statistic", "p_value"])
    assert got_notes == want_notes and "Y > 0" in got_notes[0]["note"]


def test_ranks_with_a_small_subcause(responses, plan, instrument):
    """A sub-cause with 12 tickets (a wide interval on its rank): the same ranks and intervals."""
    spec = next(m for m in plan.models if m.name == "logit")
    sub = responses["cause_l2"].value_counts().index[0]
    rows = np.flatnonzero(responses["cause_l2"].to_numpy() == sub)
    frame = responses.drop(index=responses.index[rows[12:]])
    want, _ = _row_step(spec, frame, plan, instrument)
    engine = open_engine("duckdb")
    try:
        fm = fit_model_on(engine, FrameSource(frame), spec, plan=plan, instrument=instrument)
        got = subcause_ranks_from_sums(fm, parent=instrument.parent, threshold=instrument.satisfied_threshold,
                                       reference_levels=plan.reference_levels, instrument=instrument,
                                       conf_level=plan.conf_level)
    finally:
        engine.close()
    small = got.loc[got["cause_l2"] == sub].iloc[0]
    assert small["rank_high"] - small["rank_low"] >= 3
    _same(got, want["subcause_ranks"], ["model", "cause_l2", "rank", "rank_low", "rank_high", "draws", "seed"],
          ["estimate", "std_error"])


def _row_spline(frame, plan, instrument):
    """The row path's thresholds design, knots, estimate and per-station pieces."""
    from research.models import thresholds as T
    from research.models.threshold_bootstrap import StationRefits

    rows, _, notes = T._threshold_frame(frame, plan, instrument)
    design, _, _, _, knots = T._spline_design(rows, plan.thresholds, notes)
    y = rows["satisfied"].to_numpy()
    beta, _ = T._logit_fit(design.X, y)
    cl = rows[plan.thresholds.bootstrap_cluster].cat.codes.to_numpy()
    labels = np.asarray(rows[plan.thresholds.bootstrap_cluster].cat.categories.astype(str))
    return design, knots, beta, StationRefits(design.X, y, beta, cl, len(labels)), labels


@pytest.mark.parametrize("few", [None, 40])
def test_threshold_logit_and_one_step_replicates_from_station_sums(few, responses, plan, instrument):
    """The spline logit (each cause group's own knots) from sums, each station's score and information,
    and the bootstrap's one-step replicates equal the row path's (StationRefits' first iterate) to
    1e-9; ``few``: one cause group cut to that many tickets of one station (a replicate that does
    not draw it has no information on the group's spline columns, which keep their full-sample
    value)."""
    from scipy import linalg

    from research.models.aggregate.families import fit_logit
    from research.models.aggregate.thresholds import one_step_replicates, spline_cells, station_pieces

    frame = responses
    if few:
        small = responses["cause_l1"].value_counts().index[-1]
        in_group = responses["cause_l1"].to_numpy() == small
        station = responses.loc[in_group, "station"].value_counts().index[0]
        keep = np.flatnonzero(in_group & (responses["station"].to_numpy() == station))[:few]
        frame = responses.drop(index=responses.index[np.setdiff1d(np.flatnonzero(in_group), keep)])
    design, knots, beta, refits, labels = _row_spline(frame, plan, instrument)
    cells, names, got_labels = spline_cells(open_engine("pandas"), FrameSource(frame), plan=plan,
                                            instrument=instrument, knots=knots)
    assert names == design.names
    np.testing.assert_allclose(fit_logit(cells, "model")["params"], beta, rtol=1e-9, atol=1e-10)
    order = [list(got_labels).index(s) for s in labels]
    score, info = (a[order] for a in station_pieces(cells, beta))
    np.testing.assert_allclose(score, refits.score, rtol=1e-9, atol=1e-9 * np.abs(refits.score).max())
    np.testing.assert_allclose(info, refits.info, rtol=1e-9, atol=1e-12)
    rng = np.random.default_rng(plan.thresholds.bootstrap_seed)
    counts = np.stack([np.bincount(rng.integers(0, len(labels), len(labels)), minlength=len(labels))
                       for _ in range(40)])
    got = one_step_replicates(beta, score, info, counts)
    kept = 0
    for r, c in enumerate(counts.astype(float)):  # StationRefits.refit_all's first iterate, on the rows
        act = refits.present[c > 0].any(axis=0)
        H = np.tensordot(c, refits.info, axes=1)[np.ix_(act, act)]
        want = beta.copy()
        want[act] = beta[act] + linalg.cho_solve(linalg.cho_factor(H), (c @ refits.score)[act])
        np.testing.assert_allclose(got[r], want, rtol=1e-9, atol=1e-9)
        kept += int((~act).sum())
    assert (kept > 0) == bool(few)
