"""Survey-weighted models and the response-propensity model from an engine's sums
(research.models.aggregate.svy, .propensity) against the row path (research.representativeness.run:
fit_weighted_model, itself checked against R survey in tests/stats/test_design_based.py;
nonresponse.propensity_model): every table equal to 1e-9 relative on the committed sample, with the
raking calibration, post-stratification and equal weights, and on a sample with a one-respondent
station and a one-respondent raking cell."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from research.engines import DatasetSource, FrameSource, open_engine
from research.errors import InputError
from research.ingestion.dataset import read_dataset
from research.models.aggregate.propensity import propensity_on
from research.models.aggregate.svy import svy_models_on
from research.models.aggregate.svy_design import weight_scheme
from research.representativeness.nonresponse import population_frame, propensity_model
from research.representativeness.run import (_survey_weighted_models, calibration_of, make_weights,
                                             respondent_frame)


@pytest.fixture(scope="module")
def data(sample_dataset):
    return read_dataset(sample_dataset, "responses"), read_dataset(sample_dataset, "workorders")


def _plan(plan, method: str, models: tuple[str, ...]):
    return dataclasses.replace(plan, weighting=dataclasses.replace(plan.weighting, method=method, models=models))


def _row_path(responses, workorders, plan, instrument):
    """The row path's tables and the weight cells built from its weights (checked constant per cell)."""
    spec = plan.weighting
    respondents = respondent_frame(responses, spec)
    population = population_frame(workorders, bands_hours=spec.bands_hours)
    weights, _, _ = make_weights(respondents, population, spec)
    tables = _survey_weighted_models(responses, weights, calibration_of(respondents, weights, spec), plan,
                                     instrument, lambda m: None)
    by = {"rake": list(spec.margins), "poststratify": list(spec.poststrata), "none": []}[spec.method]
    cells = respondents[by].astype(str).assign(weight=weights)
    if by:
        assert (cells.groupby(by)["weight"].nunique() == 1).all()  # the weights are functions of the cells
        cells = cells.drop_duplicates(by).reset_index(drop=True)
    else:
        cells = cells.iloc[:1].reset_index(drop=True)
    return tables, cells


def _same_tables(got: dict, ref: dict):
    for key, a in ref.items():
        b = got[key]
        assert list(b.columns) == list(a.columns) and len(b) == len(a), key
        for c in a.columns:
            if pd.api.types.is_numeric_dtype(a[c]) and not pd.api.types.is_bool_dtype(a[c]):
                np.testing.assert_allclose(b[c].to_numpy(float), a[c].to_numpy(float), rtol=1e-9, atol=1e-13,
                                           equal_nan=True, err_msg=f"{key}.{c}")
            else:
                assert b[c].astype(str).tolist() == a[c].astype(str).tolist(), f"{key}.{c}"


@pytest.mark.parametrize("engine_name, method, models", [
    # DuckDB's sums of the plan's rake and all three models: tests/representativeness/test_at_scale.py
    # (the command's files against the build's)
    ("pandas", "rake", ("ordinal", "logit")),
    ("pandas", "poststratify", ("logit",)),
    ("pandas", "none", ("ordinal",)),
])
def test_svy_tables_from_sums_equal_the_row_path(engine_name, method, models, data, sample_dataset, plan,
                                                   instrument):
    plan = _plan(plan, method, models)
    ref, cells = _row_path(*data, plan, instrument)
    engine = open_engine(engine_name)
    try:
        got = svy_models_on(engine, DatasetSource(sample_dataset), plan=plan, instrument=instrument,
                            weight_cells=cells)
    finally:
        engine.close()
    _same_tables(got, ref)
    assert (got["svy_fit"]["method"].str.contains("calibrated") == (method != "none")).all()


def test_one_respondent_station_and_raking_cell(data, plan, instrument):
    """A station with a single respondent and a raking cell (region x sub-cause x band) with one."""
    responses, workorders = data
    responses = responses.copy()
    respondents = respondent_frame(responses, plan.weighting)
    key = respondents[list(plan.weighting.margins)].astype(str).agg("|".join, axis=1)
    single_cell = key.map(key.value_counts()) == 1
    assert single_cell.any()  # the sample has raking cells of one respondent
    lone = int(np.flatnonzero(~single_cell.to_numpy())[0])
    responses["station"] = responses["station"].astype(object)
    responses.loc[responses.index[lone], "station"] = "lone-station"
    plan = _plan(plan, "rake", ("logit",))
    ref, cells = _row_path(responses, workorders, plan, instrument)
    engine = open_engine("pandas")
    got = svy_models_on(engine, FrameSource(responses), plan=plan, instrument=instrument, weight_cells=cells)
    _same_tables(got, ref)


@pytest.mark.parametrize("engine_name", ["pandas", "duckdb"])
def test_propensity_from_sums_equals_the_row_model(engine_name, data, sample_dataset, plan, instrument):
    engine = open_engine(engine_name)
    try:
        got = propensity_on(engine, DatasetSource(sample_dataset, "workorders"), plan=plan, instrument=instrument)
        _same_propensity(got, data, plan, instrument)
    finally:
        engine.close()


def test_spark_propensity_from_sums_equals_the_row_model(spark_ipw_sums, data, plan, instrument):
    """Spark's ticket-history window (each part's ledger entry from its file name) and Newton passes:
    the session's Spark fit of the dataset's work orders (conftest.spark_ipw_sums, fit_propensity on
    population_source's view, as propensity_on fits it; ipw as the method there, which the fit does
    not read: the formula and the cluster are the plan's)."""
    ipw, opened = spark_ipw_sums
    spec = plan.weighting
    assert (ipw.weighting.propensity_rhs, ipw.weighting.cluster) == (spec.propensity_rhs, spec.cluster)
    _same_propensity(opened.prop.tables(plan), data, plan, instrument)


def _same_propensity(got, data, plan, instrument):
    spec = plan.weighting
    population = population_frame(data[1], bands_hours=spec.bands_hours)
    est, fit, _ = propensity_model(population, spec.propensity_rhs, cluster=spec.cluster,
                                   reference_levels=plan.reference_levels, instrument=instrument,
                                   conf_level=plan.conf_level)
    _same_tables(dict(zip(("e", "f"), got)), {"e": est, "f": fit})
    assert population["repeat"].sum() > 0  # the ticket-history flag is exercised


def test_weights_that_are_not_functions_of_cells_are_refused(plan):
    with pytest.raises(InputError, match="ipw"):
        weight_scheme(dataclasses.replace(plan.weighting, method="ipw"), pd.DataFrame({"weight": [1.0]}))
    with pytest.raises(InputError, match="more than one weight"):
        weight_scheme(plan.weighting, pd.DataFrame({"region": ["a", "a"], "cause_l2": ["x", "x"],
                                                    "handling_band": ["0-4h", "0-4h"], "weight": [1.0, 2.0]}))
