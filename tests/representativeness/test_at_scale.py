"""The weight stage from counts (research.representativeness.at_scale, ``research weight --dataset``)
against the row path (research.representativeness.run) on the committed sample ingested as a
dataset: the same tables, the same rows in the same order, every number within 1e-9 relative
(verify's rule: research.artifacts.compare.compare_csv, absolute near zero).

The engines' counts are compared with each other exactly (pandas in memory, DuckDB over the
dataset folder, Spark when Java is found); the tables from counts are compared with the row
path's for every method the dataset path offers (rake, trimmed rake, post-stratification, none),
and the command's files with those of the session's ``research reproduce`` build (the plan's
rake, as ``analyse_representativeness`` wrote them).
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from research.artifacts.compare import compare_csv
from research.cli import main
from research.engines import DatasetSource, FrameSource, open_engine
from research.ingestion.dataset import read_dataset
from research.representativeness.at_scale import band_measures, collapse, count_rows, tables_from_counts
from research.representativeness.nonresponse import funnel, population_frame, response_rates
from research.representativeness.run import (RATE_VARIABLES, make_weights, respondent_frame,
                                             rows_weighted_estimates, weight_tables)
from research.stats.bands import handling_band

TABLES = ("funnel", "response_rates", "weight_summary", "weight_margins", "weighted_estimates")
#: from the engine's sums (research.models.aggregate.propensity, .svy, representativeness.at_scale_sensitivity):
#: the command writes them too
MODEL_TABLES = ("propensity_estimates", "propensity_fit", "svy_estimates", "svy_fit", "svy_marginal_effects",
                "svy_predictions", "weighting_methods", "delta_range", "tipping_deltas")
#: (method, trim_cap): the cap 2.2 binds on the sample (the largest weight is 2.2 x the mean)
VARIANTS = [("rake", None), ("rake", 2.2), ("poststratify", None), ("none", None)]


def _variant(plan, method, cap):
    return dataclasses.replace(plan, weighting=dataclasses.replace(plan.weighting, method=method, trim_cap=cap))


def _row_tables(responses, workorders, plan):
    """The weight stage's tables as analyse_representativeness makes them (its steps, without the
    propensity model that rake, poststratify and none do not use)."""
    spec = plan.weighting
    population = population_frame(workorders, bands_hours=spec.bands_hours)
    respondents = respondent_frame(responses, spec)
    out = {"funnel": funnel(workorders, responses),
           "response_rates": response_rates(population, list(RATE_VARIABLES), conf_level=plan.conf_level)}
    weights, res, text = make_weights(respondents, population, spec)
    out.update(weight_tables(respondents, population, spec, weights, res, text))
    out["weighted_estimates"], _ = rows_weighted_estimates(respondents, weights, spec, plan.conf_level)
    return out, weights


def _same(expected: bytes, actual: bytes, name: str):
    result = compare_csv(expected, actual, rel_tol=1e-9)
    assert result.ok, f"{name}: {result.problem or result.diffs[:3]}"


@pytest.fixture(scope="module")
def rows(sample_dataset):
    return read_dataset(sample_dataset, "responses"), read_dataset(sample_dataset, "workorders")


@pytest.fixture(scope="module")
def counts(rows, plan):
    engine = open_engine("pandas")
    return count_rows(engine, FrameSource(rows[0]), FrameSource(rows[1]), plan.weighting)


def test_band_indicators_cut_as_handling_band():
    hours = np.array([0.0, 4.0, 4.000001, 23.99, 24.0, 72.0, 168.0, 168.01, 1e4, -0.5])
    got = np.column_stack([e.numpy({"h": hours}) for e in band_measures((4, 24, 72, 168)).values()])
    codes = np.asarray(handling_band(hours).codes)
    want = np.zeros_like(got)
    want[codes >= 0, codes[codes >= 0]] = 1.0
    np.testing.assert_array_equal(got, want)  # negative hours: no band


def test_duckdb_counts_the_dataset_as_pandas_counts_the_rows(sample_dataset, counts, plan):
    engine = open_engine("duckdb")
    try:
        got = count_rows(engine, DatasetSource(sample_dataset), DatasetSource(sample_dataset, "workorders"),
                         plan.weighting)
    finally:
        engine.close()
    _same_counts(got, counts)


def _same_counts(got, ref):
    assert (got.work_orders, got.responses) == (ref.work_orders, ref.responses)
    pd.testing.assert_frame_equal(got.population, ref.population)
    pd.testing.assert_frame_equal(got.respondents, ref.respondents)
    assert list(got.outcomes) == list(ref.outcomes)
    for y in ref.outcomes:
        pd.testing.assert_frame_equal(got.outcomes[y], ref.outcomes[y])


@pytest.mark.parametrize("method,cap", VARIANTS)
def test_tables_from_counts_equal_the_row_path(rows, counts, plan, method, cap):
    p = _variant(plan, method, cap)
    ref, weights = _row_tables(*rows, p)
    got = tables_from_counts(counts, p)
    for name in TABLES:
        _same(ref[name].to_csv(index=False).encode(), got[name].to_csv(index=False).encode(), name)
    cells = got["weight_cells"]
    assert cells["respondents"].sum() == len(rows[0])
    np.testing.assert_allclose(np.sort(np.repeat(cells["weight"].to_numpy(), cells["respondents"])),
                               np.sort(weights), rtol=1e-9)
    if cap is not None:
        assert got["weight_summary"]["max"].iloc[0] == pytest.approx(cap * got["weight_summary"]["mean"].iloc[0])


def test_weight_dataset_writes_what_the_build_wrote(sample_dataset, sample_build, tmp_path, capsys):
    assert main(["weight", "--dataset", str(sample_dataset), "--engine", "duckdb", "--out", str(tmp_path)]) == 0
    built = sample_build[0] / "weights"
    for name in TABLES + MODEL_TABLES:  # DuckDB's sums for every table (the plan's three svy models)
        _same((built / f"{name}.csv").read_bytes(), (tmp_path / f"{name}.csv").read_bytes(), name)
    notes = pd.read_csv(tmp_path / "notes.csv")
    assert "respondent_weights" in set(notes["step"]) and not (tmp_path / "respondent_weights.csv").exists()
    assert "not computed" not in set(notes["step"])  # every table of the row path but respondent_weights
    cells = pd.read_csv(tmp_path / "weight_cells.csv")
    w = pd.read_csv(built / "respondent_weights.csv")["weight"]
    assert cells["weighted"].sum() == pytest.approx(w.sum(), rel=1e-12)
    assert "weight cells instead of respondent weights" in capsys.readouterr().out


def test_spark_counts_the_work_orders_of_the_dataset_as_pandas(spark_engine, sample_dataset, counts, plan):
    """One collapse (Spark jobs cost seconds): the work orders by station, region (a partition
    folder of the dataset, URI-escaped UTF-8), causes and status, per band."""
    keys = tuple(counts.population.columns[:-2])
    got, rows = collapse(spark_engine, DatasetSource(sample_dataset, "workorders"), keys,
                         plan.weighting.bands_hours, "work orders")
    assert rows == counts.work_orders
    pd.testing.assert_frame_equal(got, counts.population)


def test_capped_ipw_is_refused_from_sums_with_one_message(sample_dataset, tmp_path, capsys):
    import yaml

    from research import paths

    raw = yaml.safe_load(paths.default_plan().read_text(encoding="utf-8"))
    raw["weighting"]["method"] = "ipw"
    raw["weighting"]["trim_cap"] = 3.0  # ipw from sums, but not capped row by row
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    code = main(["weight", "--dataset", str(sample_dataset), "--plan", str(tmp_path / "plan.yaml"),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "'ipw'" in err[0] and "trim_cap" in err[0] and "rake, poststratify, none" in err[0], err
    assert not list((tmp_path / "out").glob("*.csv"))  # refused before any engine pass


def test_weight_dataset_of_a_missing_folder_is_exit_2(tmp_path, capsys):
    assert main(["weight", "--dataset", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert "not a dataset" in err and "Traceback" not in err


def test_rows_without_a_handling_time_are_refused(rows, plan):
    from research.errors import InputError

    responses = rows[0].head(200).copy()
    responses.loc[responses.index[:3], "handling_hours"] = -1.0
    with pytest.raises(InputError, match="3 of 200 row"):
        collapse(open_engine("pandas"), FrameSource(responses), ("station",), plan.weighting.bands_hours,
                 "survey responses")


def test_spark_sensitivity_and_ipw_tables_equal_the_pandas_engine(spark_engine, spark_ipw_sums, sample_dataset,
                                                                   rows, counts, plan, instrument):
    """The Spark joins (the work orders with their ticket's answer and pattern, the respondents with
    their ticket's covariates) over the dataset folder: the propensity fit, the three sensitivity
    tables and, with ipw as the method, weight_summary, weight_margins and weighted_estimates equal
    the pandas engine's on the same rows to 1e-9 (pandas' equal the row path's:
    test_at_scale_sensitivity.py). The counts are pandas' (Spark's are compared above): one Spark
    run of the joins and the passes, about 30 s; the joins and the propensity fit are the session's
    (conftest.spark_ipw_sums, which test_aggregate_svy.py's Spark propensity test reads too)."""
    from research.representativeness.at_scale_ipw import ipw_tables
    from research.representativeness.at_scale_sensitivity import open_sums, sensitivity_on

    ipw, spark_opened = spark_ipw_sums
    assert ipw == _variant(plan, "ipw", None)

    def tables(engine, responses, workorders, opened):
        out = sensitivity_on(engine, responses, workorders, plan=ipw, instrument=instrument, counts=counts,
                             opened=opened)
        return {**out, **ipw_tables(engine, opened.respondents, opened.prop, counts, ipw, opened.covariates)}

    pandas = open_engine("pandas")
    responses, workorders = FrameSource(rows[0]), FrameSource(rows[1])
    ref = tables(pandas, responses, workorders, open_sums(pandas, responses, workorders, plan=ipw, instrument=instrument))
    got = tables(spark_engine, DatasetSource(sample_dataset), DatasetSource(sample_dataset, "workorders"), spark_opened)
    names = ("propensity_estimates", "propensity_fit", "weighting_methods", "delta_range", "tipping_deltas",
             "weight_summary", "weight_margins", "weighted_estimates", "ipw_scale")
    assert set(names) <= set(got)
    for name in names:
        _same(ref[name].to_csv(index=False).encode(), got[name].to_csv(index=False).encode(), name)
    assert got["tipping_deltas"]["tipping_delta"].notna().sum() >= 10 and len(got["weighted_estimates"]) > 10
