"""The non-response sensitivity tables from an engine's sums
(research.representativeness.at_scale_sensitivity, at_scale_methods; ``research weight --dataset``)
against the row path (research.strategy.sensitivity.nonresponse_sensitivity, as
analyse_representativeness calls it) on the committed sample: ``weighting_methods`` (ipw
included), ``delta_range`` and ``tipping_deltas``, and the propensity tables of the same fit; the
same rows in the same order, numbers within 1e-9 relative, text and counts exactly (verify's rule).

Hard cases: a domain with no non-respondents (its tipping deltas are not reached, its delta rows
stay at the MAR rate), a station with a single work order (a one-row cluster), a target no delta
can reach (every tipping delta NaN, as the row path says), ipw not available (a respondent whose
ticket has no work order: the row path's message), and an answered ticket whose survey was not
completed (the row path's InputError). With ``weighting.method: ipw`` every table but
``respondent_weights`` (weight summary, margins, weighted estimates, the survey-weighted models)
against analyse_representativeness. The command itself (DuckDB over the dataset folder) is
compared with the session's build in tests/representativeness/test_at_scale.py.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from research.artifacts.compare import compare_csv
from research.config.instrument import load_instrument
from research.engines import DatasetSource, FrameSource, open_engine
from research.errors import InputError
from research.ingestion.dataset import read_dataset
from research.models.aggregate.propensity import propensity_on
from research.representativeness.at_scale import count_rows
from research.representativeness.at_scale_sensitivity import sensitivity_on
from research.representativeness.nonresponse import population_design, population_frame, propensity_model
from research.representativeness.run import _on_respondents, respondent_frame
from research.strategy.sensitivity import nonresponse_sensitivity

TABLES = ("weighting_methods", "delta_range", "tipping_deltas")


@pytest.fixture(scope="module")
def instrument():
    return load_instrument()


@pytest.fixture(scope="module")
def rows(sample_dataset):
    return read_dataset(sample_dataset, "responses"), read_dataset(sample_dataset, "workorders")


def _with_target(plan, target):
    return dataclasses.replace(plan, weighting=dataclasses.replace(plan.weighting, target_rate=target))


def _row_path(responses, workorders, plan, instrument):
    """The three tables and the propensity tables as analyse_representativeness makes them."""
    spec = plan.weighting
    population = population_frame(workorders, bands_hours=spec.bands_hours)
    respondents = respondent_frame(responses, spec)
    prepared = population_design(population, spec.propensity_rhs, cluster=spec.cluster,
                                 reference_levels=plan.reference_levels, instrument=instrument)
    est, fit, prop = propensity_model(population, spec.propensity_rhs, cluster=spec.cluster,
                                      reference_levels=plan.reference_levels, instrument=instrument,
                                      conf_level=plan.conf_level, prepared=prepared)
    out = nonresponse_sensitivity(respondents, population, spec, _on_respondents(prop, population, respondents),
                                  reference_levels=plan.reference_levels, instrument=instrument,
                                  conf_level=plan.conf_level, prepared=prepared)
    return {**out, "propensity_estimates": est, "propensity_fit": fit}


def _sums_path(engine_name, responses, workorders, plan, instrument):
    engine = open_engine(engine_name)
    try:
        counts = count_rows(engine, responses, workorders, plan.weighting)
        return sensitivity_on(engine, responses, workorders, plan=plan, instrument=instrument, counts=counts)
    finally:
        engine.close()


def _same(ref, got, names=TABLES + ("propensity_estimates", "propensity_fit")):
    for name in names:
        result = compare_csv(ref[name].to_csv(index=False).encode(), got[name].to_csv(index=False).encode(),
                             rel_tol=1e-9)
        assert result.ok, f"{name}: {result.problem or result.diffs[:3]}"


@pytest.fixture(scope="module")
def reference(rows, plan, instrument):
    return _row_path(*rows, plan, instrument)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_sensitivity_tables_from_sums_equal_the_row_path(engine, rows, sample_dataset, plan, instrument, reference):
    sources = ((FrameSource(rows[0]), FrameSource(rows[1])) if engine == "pandas"
               else (DatasetSource(sample_dataset), DatasetSource(sample_dataset, "workorders")))
    got = _sums_path(engine, *sources, plan, instrument)
    _same(reference, got)
    methods = got["weighting_methods"]
    assert list(dict.fromkeys(methods["method"])) == ["none", "rake", "ipw", "poststratify", "outcome_model"]
    ipw = methods[methods["method"] == "ipw"]
    assert ipw["estimate"].notna().all() and (ipw["n_eff"] < ipw["n"]).all()  # ipw weights vary: Kish n_eff < n
    tip = got["tipping_deltas"]
    assert tip["tipping_delta"].notna().sum() >= 10  # most searches find a root on the sample


@pytest.fixture(scope="module")
def hard_rows(rows):
    """The sample with the first cause group's non-respondents removed (a domain where every work
    order completed its survey) and one answered ticket moved to a station of its own (a one-row
    cluster)."""
    responses, workorders = rows[0].copy(), rows[1].copy()
    level = sorted(workorders["cause_l1"].dropna().unique())[0]
    workorders = workorders[(workorders["cause_l1"] != level) | (workorders["survey_status"] == "completed")]
    ticket = responses["ticket_id"].iloc[0]
    workorders.loc[workorders["ticket_id"] == ticket, "station"] = "S_tiny"
    responses.loc[responses["ticket_id"] == ticket, "station"] = "S_tiny"
    return responses.reset_index(drop=True), workorders.reset_index(drop=True), level


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_domain_without_non_respondents_and_a_one_row_cluster(engine, hard_rows, plan, instrument):
    responses, workorders, level = hard_rows
    # without the sub-cause (nested in the cause group) the propensity model is not separated
    no_cause = dataclasses.replace(plan, weighting=dataclasses.replace(
        plan.weighting, propensity_rhs="log2(1 + handling_hours) + channel + region + repeat"))
    ref = _row_path(responses, workorders, no_cause, instrument)
    got = _sums_path(engine, FrameSource(responses), FrameSource(workorders), no_cause, instrument)
    _same(ref, got)
    tip = got["tipping_deltas"]
    mine = tip[tip["level"] == level]
    assert len(mine) == 3 and (mine["n_shifted"] == 0).all() and mine["tipping_delta"].isna().all()
    dr = got["delta_range"]
    flat = dr[dr["level"] == level].groupby("scenario")["estimate"].agg(["min", "max"])
    np.testing.assert_allclose(flat["min"], flat["max"], rtol=1e-12)  # nobody to shift: the MAR rate
    assert got["propensity_fit"]["n_clusters"].iloc[0] == workorders["station"].nunique()


def test_a_target_no_delta_reaches_is_not_reached_as_the_row_path_says(rows, plan, instrument):
    low = _with_target(plan, 0.02)  # below every rate with all shifted non-respondents dissatisfied
    ref = _row_path(*rows, low, instrument)
    got = _sums_path("pandas", FrameSource(rows[0]), FrameSource(rows[1]), low, instrument)
    _same(ref, got, ("tipping_deltas",))
    tip = got["tipping_deltas"]
    assert tip["tipping_delta"].isna().all() and not tip["within_plausible"].any()
    assert (tip["side"] == "above").all()


def test_ipw_not_available_says_why_as_the_row_path(rows, plan, instrument):
    """A respondent whose ticket has no work order has no propensity: the ipw rows say so."""
    responses, workorders = rows
    workorders = workorders[workorders["ticket_id"] != responses["ticket_id"].iloc[5]].reset_index(drop=True)
    ref = _row_path(responses, workorders, plan, instrument)
    got = _sums_path("duckdb", FrameSource(responses), FrameSource(workorders), plan, instrument)
    _same(ref, got, ("weighting_methods",))
    ipw = got["weighting_methods"].query("method == 'ipw'")
    assert ipw["estimate"].isna().all() and ipw["description"].str.contains("1 respondent").all()


def test_an_answer_on_a_ticket_without_a_completed_survey_is_refused(rows, plan, instrument):
    responses, workorders = rows[0], rows[1].copy()
    answered = responses.loc[responses["satisfied"].notna(), "ticket_id"].iloc[:2]
    workorders.loc[workorders["ticket_id"].isin(answered), "survey_status"] = "refused"
    with pytest.raises(InputError) as row_error:
        _row_path(responses, workorders, plan, instrument)
    with pytest.raises(InputError) as sums_error:
        _sums_path("pandas", FrameSource(responses), FrameSource(workorders), plan, instrument)
    assert str(sums_error.value) == str(row_error.value) and "2 ticket(s)" in str(sums_error.value)


def test_propensity_tables_are_those_of_propensity_on(rows, plan, instrument, reference):
    """The sensitivity pass fits the propensity on its own source (with the answers): the same
    tables as the propensity model alone."""
    est, fit = propensity_on(open_engine("pandas"), FrameSource(rows[1]), plan=plan, instrument=instrument)
    _same(reference, {"propensity_estimates": est, "propensity_fit": fit}, ("propensity_estimates", "propensity_fit"))
    assert isinstance(fit, pd.DataFrame) and fit["nobs"].iloc[0] == len(rows[1])


def test_plans_the_sums_do_not_cover_are_named(plan, rows, instrument):
    from research.representativeness.at_scale import _notes
    from research.representativeness.at_scale_sensitivity import not_from_sums

    spec = plan.weighting
    assert not_from_sums(spec) == ""
    capped = dataclasses.replace(spec, trim_cap=2.2)
    assert "trim_cap" in not_from_sums(capped)
    assert "station" in not_from_sums(dataclasses.replace(spec, sensitivity_domains=("cause_l1", "station")))
    with pytest.raises(InputError, match="trim_cap"):
        sensitivity_on(open_engine("pandas"), FrameSource(rows[0]), FrameSource(rows[1]),
                       plan=dataclasses.replace(plan, weighting=capped), instrument=instrument, counts=None)
    from research.representativeness.at_scale import _check_method

    ipw = dataclasses.replace(spec, method="ipw")
    _check_method(ipw)  # ipw from sums (on every engine: the Spark test is in test_at_scale.py)
    for bad in (dataclasses.replace(ipw, trim_cap=2.0), dataclasses.replace(ipw, domains=("station",))):
        with pytest.raises(InputError, match="'ipw' is not available from sums here: .*rake, poststratify, none"):
            _check_method(bad)
    note = _notes("duckdb", [(list(TABLES), not_from_sums(capped))]).set_index("step")["note"]
    assert note["not computed"] == "weighting_methods, delta_range, tipping_deltas: " + not_from_sums(capped)


@pytest.fixture(scope="module")
def ipw_plan(plan):
    """The plan with ipw as the method and two survey-weighted models, one of each family (the
    plan's third, speed_by_cause, is a second proportional-odds fit: it doubled the test's time)."""
    assert {"ordinal", "logit"} <= set(plan.weighting.models)
    return dataclasses.replace(plan, weighting=dataclasses.replace(plan.weighting, method="ipw",
                                                                   models=("ordinal", "logit")))


@pytest.fixture(scope="module")
def ipw_reference(rows, ipw_plan, instrument):
    """analyse_representativeness with ipw weights, and each respondent's propensity."""
    from research.representativeness.run import analyse_representativeness

    responses, workorders = rows
    out = analyse_representativeness(responses, workorders, plan=ipw_plan, instrument=instrument)
    return out, out["respondent_weights"]["propensity"].to_numpy(), out["respondent_weights"]["weight"].to_numpy()


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_ipw_as_the_method_from_sums_equals_the_row_path(engine, rows, sample_dataset, ipw_plan, instrument,
                                                         ipw_reference):
    from research.representativeness.at_scale import analyse_at_scale

    ref, propensity, weights = ipw_reference
    ipw = ipw_plan
    sources = ((FrameSource(rows[0]), FrameSource(rows[1])) if engine == "pandas"
               else (DatasetSource(sample_dataset), DatasetSource(sample_dataset, "workorders")))
    e = open_engine(engine)
    try:
        got = analyse_at_scale(e, *sources, plan=ipw, instrument=instrument)
    finally:
        e.close()
    # every table of the row path but respondent_weights (the sensitivity tables do not depend on the method)
    _same(ref, got, [k for k in ref if k != "respondent_weights"])
    summary = got["weight_summary"].iloc[0]
    assert summary["max"] == pytest.approx(weights.max(), rel=1e-12) and summary["cv"] > 0.1
    assert "weight_cells" not in got and len(got["svy_estimates"]) > 10
    assert set(got["svy_fit"]["weighting"]) == {"ipw"}
    notes = got["notes"].set_index("step")["note"]
    assert "k = " in notes["weight_cells"] and "not computed" not in notes
    k = float(notes["weight_cells"].split("k = ")[1].split(" ")[0])
    np.testing.assert_allclose(weights, k / propensity, rtol=1e-12)  # the note's k gives every weight
