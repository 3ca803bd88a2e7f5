"""The plan's models fitted from an engine's sums (research.models.aggregate) against the row-level
fits (research.models.fit.fit_model, themselves checked against R: tests/models/test_inference.py,
tests/stats/test_ordinal.py, tests/stats/test_mixed.py).

Reference: the row-level fit on the same rows. Every coefficient, cutpoint, standard error and fit
statistic within 1e-9 relative (measured: about 1e-11), on the committed sample (all six plan
models; pandas and DuckDB engines; DuckDB on the ordinal model and Spark, local[2], on the logit,
both read from a dataset folder) and on small exports where groups hold one or two rows (the hard case for sums: every
group its own cell).
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from research.engines import DatasetSource, FrameSource, open_engine
from research.errors import NotEstimable
from research.models.aggregate import fit_model_on
from research.models.fit import fit_model
from research.models.tidy import tidy_estimates

#: fit statistics compared (gradient_max is a rounding floor, different by construction)
STATS = ("nobs", "n_dropped", "loglik", "aic", "bic", "df", "r_squared", "sigma", "pseudo_r2_mcfadden",
         "reml_criterion", "var_group", "var_residual", "icc", "n_clusters", "iterations")


@pytest.fixture(scope="module")
def responses(sample_build):
    return pd.read_parquet(sample_build[0] / "ingest" / "responses.parquet")


@pytest.fixture(scope="module")
def row_fits(responses, plan, instrument):
    return {spec.name: fit_model(spec, responses, plan=plan, instrument=instrument) for spec in plan.models}


@pytest.fixture(scope="module")
def sums_fit(responses, plan, instrument):
    """A plan model fitted from the sums of the pandas or DuckDB engine on the sample's responses,
    once for the module: a function of (engine name, model name). The engines stay open until the
    module ends (predictions and marginal effects from sums run passes through the fitting engine)."""
    engines = {name: open_engine(name) for name in ("pandas", "duckdb")}
    fits = {}

    def fit(engine_name: str, model: str):
        if (engine_name, model) not in fits:
            spec = next(m for m in plan.models if m.name == model)
            fits[engine_name, model] = fit_model_on(engines[engine_name], FrameSource(responses), spec, plan=plan,
                                                    instrument=instrument)
        return fits[engine_name, model]

    yield fit
    for engine in engines.values():
        engine.close()


def _same_fit(fm, ref):
    assert fm.names == ref.names and fm.kinds == ref.kinds
    np.testing.assert_allclose(fm.params, ref.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(fm.vcov)), np.sqrt(np.diag(ref.vcov)), rtol=1e-9, atol=0)
    np.testing.assert_allclose(fm.vcov, ref.vcov, rtol=1e-8, atol=1e-14)
    for key in STATS:
        if key in ref.stats:
            assert fm.stats[key] == pytest.approx(ref.stats[key], rel=1e-9, abs=1e-12), key
    assert fm.df_resid == ref.df_resid
    a, b = tidy_estimates(fm), tidy_estimates(ref)
    for col in ("estimate", "std_error", "p_value", "conf_low", "conf_high", "df", "p_holm", "odds_ratio"):
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-8, atol=1e-13,
                                   equal_nan=True, err_msg=col)


@pytest.mark.parametrize("engine_name", ["pandas", "duckdb"])
def test_every_plan_model_from_sums_equals_the_row_fit(engine_name, row_fits, sums_fit, plan):
    for spec in plan.models:
        fm = sums_fit(engine_name, spec.name)
        _same_fit(fm, row_fits[spec.name])
        # the row path's method text (the cluster or group variable named), then the engine
        assert fm.se_method == f"{row_fits[spec.name].se_method} [engine {engine_name}, from sums]"


def test_mixed_model_station_effects_from_sums(row_fits, sums_fit, plan):
    spec = next(m for m in plan.models if m.family == "mixed")
    fm = sums_fit("pandas", spec.name)
    a, b = fm.extra["blups"], row_fits[spec.name].extra["blups"]
    assert a["group"].tolist() == b["group"].tolist()
    np.testing.assert_allclose(a["blup"], b["blup"], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("n,seed", [(60, 5), (400, 11)])
def test_small_exports_with_one_row_groups(n, seed, plan, instrument):
    """Groups of one or two rows (most cells), rare levels: the sums must still be exact."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2025-03-01") + pd.to_timedelta(rng.integers(0, 90 * 24, n), unit="h")
    frame = pd.DataFrame({
        "cause_l2": pd.array(rng.choice(["slow_repair", "metering_billing_error", "expansion_delay", "fault_outage"],
                                        n, p=[0.5, 0.3, 0.15, 0.05]), dtype="string"),
        "channel": pd.array(rng.choice(["hotline", "app", "wechat"], n), dtype="string"),
        "repeat": pd.array(rng.random(n) < 0.25, dtype="boolean"),
        "station": pd.array(rng.choice(["甲所", "乙所", "丙所", "丁所"], n), dtype="string"),
        "created_at": t.values, "handling_hours": rng.exponential(40, n),
    })
    frame["cause_l1"] = pd.array(frame["cause_l2"].map(instrument.parent), dtype="string")
    eta = 1.2 - 0.3 * np.log2(1 + frame["handling_hours"].to_numpy()) + 0.4 * (frame["channel"] == "app").to_numpy(float)
    frame["satisfied"] = pd.array(rng.random(n) < 1 / (1 + np.exp(-eta)), dtype="boolean")
    frame["sat_overall"] = pd.array(np.clip(np.round(3 + eta + rng.normal(0, 1, n)), 1, 5).astype(int), dtype="Int64")
    fitted = 0
    for name in ("logit", "ols", "ordinal", "speed_by_cause"):
        spec = next(m for m in plan.models if m.name == name)
        try:
            ref = fit_model(spec, frame, plan=plan, instrument=instrument)
        except NotEstimable:
            continue
        fitted += 1
        _same_fit(fit_model_on(open_engine("pandas"), FrameSource(frame), spec, plan=plan, instrument=instrument),
                  ref)
    assert fitted >= 3


def test_what_sums_cannot_give_is_refused_with_a_reason(responses, plan, instrument):
    ols = next(m for m in plan.models if m.name == "ols")
    with pytest.raises(NotEstimable, match="CR2"):
        fit_model_on(open_engine("pandas"), FrameSource(responses), dataclasses.replace(ols, se="cr2"),
                     plan=plan, instrument=instrument)
    one = responses[responses["station"] == responses["station"].iloc[0]]
    with pytest.raises(NotEstimable, match="at least 2 levels of station"):
        fit_model_on(open_engine("pandas"), FrameSource(one), ols, plan=plan, instrument=instrument)


def test_duckdb_reads_a_dataset_folder_as_the_frame(sample_dataset, responses, row_fits, plan, instrument):
    spec = next(m for m in plan.models if m.name == "ordinal")
    engine = open_engine("duckdb")
    try:
        fm = fit_model_on(engine, DatasetSource(sample_dataset), spec, plan=plan, instrument=instrument)
    finally:
        engine.close()
    _same_fit(fm, row_fits["ordinal"])


def test_spark_fits_the_logit_from_a_dataset(spark_engine, sample_dataset, row_fits, plan, instrument):
    """Spark (local[2]) from a dataset folder: the logit's estimates and SEs, and, on the same
    prepared groups, sums at extreme arguments (the ordinal fit's +-1e300 outer cutpoints) equal to
    numpy's."""
    from research.engines.expr import col, fn

    spec = next(m for m in plan.models if m.name == "logit")
    fm = fit_model_on(spark_engine, DatasetSource(sample_dataset), spec, plan=plan, instrument=instrument)
    _same_fit(fm, row_fits["logit"])
    cells = fm.extra["cells"]
    params = pd.DataFrame({"gid": cells.gid, "a0": np.linspace(-3, 3, len(cells.gid)), "a1": 0.25})
    e = col("a0") + col("a1") * col("g1")
    measures = {"far": fn("log_expit", e - 1e300), "near": fn("log_expit", -e + 1e300), "w": fn("expit", e) * col("g1")}
    got = spark_engine.sums(cells.prepared, measures, params)
    pandas = open_engine("pandas")
    prepared = pandas.prepare(DatasetSource(sample_dataset), cells.prepared.keys,
                              {"g1": fn("log2", 1 + col("v_handling_hours"))})
    want = pandas.sums(prepared, measures, params)
    pd.testing.assert_frame_equal(prepared.groups, cells.prepared.groups)
    assert (got["far"] < -1e299).all() and (got["near"] == 0).all()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12)


def _same_table(a: pd.DataFrame, b: pd.DataFrame, labels: list[str]):
    assert a.shape == b.shape
    pd.testing.assert_frame_equal(a[labels].reset_index(drop=True), b[labels].reset_index(drop=True),
                                  check_dtype=False)
    for col in ("estimate", "std_error", "conf_low", "conf_high"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-9, atol=1e-13, err_msg=col)


@pytest.mark.parametrize("engine_name,models", [("pandas", ("ols", "logit", "mixed", "speed_by_cause")),
                                                ("duckdb", ("ordinal", "levers"))])
def test_predictions_and_marginal_effects_from_sums(engine_name, models, row_fits, sums_fit, plan, instrument):
    """Every row of predictions.csv and marginal_effects.csv (sub-cause and cause-group averages, the
    handling-time grid, the effect of doubling the time), against the row-level tables: each plan
    model once, through one engine or the other (the module's fits from sums, checked above)."""
    from research.models.aggregate.predict import marginal_effects_from_sums, predictions_from_sums
    from research.models.predict import marginal_effects, predictions

    common = dict(parent=instrument.parent, threshold=instrument.satisfied_threshold)
    assert set(models) <= {spec.name for spec in plan.models}
    for spec in plan.models:
        if models and spec.name not in models:
            continue
        fm = sums_fit(engine_name, spec.name)
        ref = row_fits[spec.name]
        got = predictions_from_sums(fm, grid_hours=plan.grid_hours, conf_level=plan.conf_level,
                                    reference_levels=plan.reference_levels, instrument=instrument, **common)
        want = predictions(ref, grid_hours=plan.grid_hours, conf_level=plan.conf_level, **common)
        assert len(want) > 100
        _same_table(got, want, ["quantity", "scale", "cause_l1", "cause_l2", "hours", "n", "df"])
        got = marginal_effects_from_sums(fm, multiplier=plan.time_multiplier, conf_level=plan.conf_level, **common)
        want = marginal_effects(ref, multiplier=plan.time_multiplier, conf_level=plan.conf_level, **common)
        _same_table(got, want, ["term", "scale", "cause_l1", "n", "df"])


@pytest.mark.parametrize("engine_name", ["pandas", "duckdb"])
def test_repeat_callers_risk_model_from_sums(engine_name, responses):
    """The bulletin's default risk model (research.models.aggregate.risk) against its row-level fit
    (statsmodels Newton, itself R glm's: research.strategy.monitoring_repeat)."""
    from research.models.aggregate.risk import fit_dissatisfaction_from_sums
    from research.strategy.monitoring_repeat import fit_dissatisfaction_model

    ref = fit_dissatisfaction_model(responses)
    engine = open_engine(engine_name)
    try:
        got = fit_dissatisfaction_from_sums(engine, FrameSource(responses))
    finally:
        engine.close()
    assert got.levels == ref.levels and list(got.coef.index) == list(ref.coef.index) and got.nobs == ref.nobs
    np.testing.assert_allclose(got.coef.to_numpy(), ref.coef.to_numpy(), rtol=1e-9)


def test_spline_basis_as_engine_expressions_equals_the_design_basis():
    """``rcs(...)`` in a formula becomes engine expressions (research.models.aggregate.cells) equal
    to research.models.design.rcs_basis, the basis checked against R Hmisc::rcspline.eval, and
    the same numbers in DuckDB's SQL; the hours inside and beyond the outer knots included."""
    import duckdb

    from research.models.aggregate.cells import numeric_basis
    from research.models.design import rcs_basis

    knots = np.array([0.8, 2.5, 4.9, 8.1])
    hours = np.array([0.0, 0.3, 1.0, 4.0, 20.0, 90.0, 400.0, 3000.0])
    basis = numeric_basis("cause_l2 + cause_l1:rcs(log2(1 + handling_hours))",
                          variables=("cause_l1", "cause_l2", "handling_hours"), knots=knots)
    assert len(basis) == 3
    got = np.column_stack([e.numpy({"v_handling_hours": hours}) for e in basis])
    np.testing.assert_allclose(got, rcs_basis(np.log2(1 + hours), knots), rtol=1e-12, atol=1e-12)
    con = duckdb.connect()
    con.register("t", pd.DataFrame({"v_handling_hours": hours}))
    sql = con.sql("SELECT " + ", ".join(f"{e.sql()} AS b{i}" for i, e in enumerate(basis)) + " FROM t").df()
    np.testing.assert_allclose(sql.to_numpy(), got, rtol=1e-12, atol=1e-12)
