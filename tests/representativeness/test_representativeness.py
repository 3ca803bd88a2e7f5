"""Non-response, weights and design-based estimates on data with known truth.

References:
- parameter recovery: ``research.simulate`` draws every ticket's potential answer,
  then who completes the survey from cause, handling time and region
  (``SimParams.response_*``), so the population satisfied rate of the simulated
  work orders is known exactly and the unweighted respondent rate is biased;
- arithmetic identities: counts add up, raked weights reproduce the margins,
  post-stratified weights equal N_c / n_c, inverse-propensity weights sum to N;
- R ``survey`` 4.1-1 reference values on a committed fixture are in
  ``tests/representativeness/test_representativeness_r.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from research.errors import InputError
from research.representativeness.nonresponse import funnel, population_frame, response_rates
from research.representativeness.run import analyse_representativeness, make_weights, respondent_frame
from research.simulate import simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(20000, 11)


@pytest.fixture(scope="module")
def result(sim, plan, instrument):
    return analyse_representativeness(sim.responses, sim.workorders, plan=plan, instrument=instrument)


def _truth(sim) -> float:
    """The population satisfied rate: every simulated ticket's potential answer, answered or not."""
    sat = sim.population["satisfied"].dropna().astype(bool)
    return float(sat.mean())


# --------------------------------------------------------------------------- recovery

@pytest.mark.parametrize("seed", [11, 12, 13])
def test_weighted_rate_is_closer_to_the_population_truth(seed, plan, instrument, sim, result):
    s = sim if seed == 11 else simulate(20000, seed)
    res = result if seed == 11 else analyse_representativeness(s.responses, s.workorders, plan=plan,
                                                               instrument=instrument)
    truth = _truth(s)
    row = res["weighted_estimates"]
    o = row[(row["variable"] == "satisfied") & (row["domain"] == "overall")].iloc[0]
    # the simulated non-response biases the naive rate upward by more than a point
    assert o["estimate_unweighted"] - truth > 0.01
    assert abs(o["estimate"] - truth) < abs(o["estimate_unweighted"] - truth) / 3
    assert o["conf_low"] <= truth <= o["conf_high"]
    # and the unweighted interval misses it: the correction matters at this size
    assert not (o["conf_low_unweighted"] <= truth <= o["conf_high_unweighted"])


def test_weighted_rates_by_cause_group_are_closer_on_average(sim, result):
    pop = sim.population.dropna(subset=["satisfied"])
    truth = pop.groupby("cause_l1")["satisfied"].mean()
    we = result["weighted_estimates"]
    by = we[(we["variable"] == "satisfied") & (we["domain"] == "cause_l1")].set_index("level")
    err_w = (by["estimate"] - truth.reindex(by.index)).abs()
    err_u = (by["estimate_unweighted"] - truth.reindex(by.index)).abs()
    assert err_w.mean() < err_u.mean()
    covered = ((by["conf_low"] <= truth.reindex(by.index)) & (truth.reindex(by.index) <= by["conf_high"]))
    assert covered.sum() >= len(by) - 1  # 95% intervals: at most one of four may miss


def test_propensity_model_recovers_the_direction_of_the_response_mechanism(result, sim):
    est = result["propensity_estimates"].set_index("term")
    # SimParams: completion falls with handling time (response_log_hours < 0)
    from research.simulate import SimParams

    assert SimParams().response_log_hours < 0
    assert est.loc["log2(1 + handling_hours)", "estimate"] < 0
    assert est.loc["log2(1 + handling_hours)", "conf_high"] < 0
    assert result["propensity_fit"]["nobs"].iloc[0] == len(sim.workorders)


# --------------------------------------------------------------------------- identities

def test_response_rates_count_every_ticket(sim):
    pop = population_frame(sim.workorders)
    rr = response_rates(pop, ["cause_l1", "handling_band"])
    o = rr[rr["variable"] == "overall"].iloc[0]
    assert o["work_orders"] == len(pop)
    assert o["completed"] == (pop["survey_status"] == "completed").sum()
    assert o["completed_rate"] == pytest.approx(pop["responded"].mean(), abs=1e-15)
    for var in ("cause_l1", "handling_band"):
        part = rr[rr["variable"] == var]
        assert part["work_orders"].sum() == len(pop)
        assert part[["completed", "no_answer", "refused"]].sum().sum() == len(pop)
    # Wilson interval, R prop.test(x, n, correct = FALSE): hand value for the overall row
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(o["completed"], o["work_orders"], method="wilson")
    assert (o["completed_conf_low"], o["completed_conf_high"]) == pytest.approx((lo, hi), abs=1e-15)


def test_response_rates_keep_missing_levels_and_reject_unknown_status():
    wo = pd.DataFrame({"survey_status": ["completed", "refused", "no_answer", "completed"],
                       "region": ["A", None, "A", "B"]})
    rr = response_rates(wo, ["region"])
    reg = rr[rr["variable"] == "region"].set_index("level")
    assert reg.loc["(missing)", "work_orders"] == 1 and reg["work_orders"].sum() == 4
    with pytest.raises(InputError, match="unknown value"):
        response_rates(wo.assign(survey_status=["completed", "maybe", "refused", "completed"]), ["region"])


def test_population_repeat_flag_uses_the_30_day_ticket_history():
    t = pd.to_datetime(["2025-01-01", "2025-01-20", "2025-03-01", "2025-01-05", "2025-01-05"])
    wo = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "c"], "created_at": t,
                       "handling_hours": [1.0, 5.0, 30.0, 100.0, 200.0],
                       "survey_status": ["completed", "refused", "completed", "no_answer", "completed"]})
    pop = population_frame(wo)
    assert pop["repeat"].tolist() == [False, True, False, False, False]
    assert pop["handling_band"].astype(str).tolist() == ["0-4h", "4-24h", "1-3d", "3-7d", ">7d"]
    assert pop["responded"].tolist() == [True, False, True, False, True]


def test_funnel_counts(sim):
    f = funnel(sim.workorders, sim.responses).set_index("stage")
    assert f.loc["work_orders", "count"] == len(sim.workorders)
    assert f.loc["completed", "count"] == (sim.workorders["survey_status"] == "completed").sum()
    assert f.loc["valid", "count"] == sim.responses["sat_overall"].notna().sum()
    assert f.loc["valid", "share_of_work_orders"] == pytest.approx(
        sim.responses["sat_overall"].notna().sum() / len(sim.workorders))


def _spec(plan, **changes):
    return dataclasses.replace(plan.weighting, **changes)


def test_weighting_options(sim, plan, instrument):
    pop = population_frame(sim.workorders)
    resp = respondent_frame(sim.responses, plan.weighting)
    N = len(pop)
    # post-stratification: every respondent of a cell gets N_c / n_c
    w, res, _ = make_weights(resp, pop, _spec(plan, method="poststratify", poststrata=("region", "cause_l1")))
    cell = resp["region"].astype(str) + "|" + resp["cause_l1"].astype(str)
    pcell = pop["region"].astype(str) + "|" + pop["cause_l1"].astype(str)
    expected = cell.map(pcell.value_counts() / cell.value_counts()).to_numpy()
    assert w == pytest.approx(expected, rel=1e-10)
    # inverse propensity: proportional to 1/p, summing to N
    p = np.linspace(0.2, 0.9, len(resp))
    w, _, _ = make_weights(resp, pop, _spec(plan, method="ipw"), propensity=p)
    assert w.sum() == pytest.approx(N, rel=1e-12)
    assert (w * p) == pytest.approx(np.full(len(p), (w * p)[0]), rel=1e-10)
    # trimming: the cap holds and the margins still hold (re-raked)
    w, res, text = make_weights(resp, pop, _spec(plan, trim_cap=2.5, tol=1e-9))
    assert w.max() <= 2.5 * N / len(resp) * (1 + 1e-12)
    assert res.max_margin_error < 1e-9 and "trimmed" in text
    # equal weights
    w, res, _ = make_weights(resp, pop, _spec(plan, method="none"))
    assert res is None and w == pytest.approx(np.full(len(resp), N / len(resp)))


def test_weighting_errors_name_the_problem(sim, plan):
    pop = population_frame(sim.workorders)
    resp = respondent_frame(sim.responses, plan.weighting)
    lonely = resp[resp["cause_l2"] != "low_voltage"]
    with pytest.raises(InputError, match="low_voltage.*no respondents"):
        make_weights(lonely, pop, plan.weighting)
    with pytest.raises(InputError, match="cap=1.01 is infeasible"):
        make_weights(resp, pop, _spec(plan, trim_cap=1.01))
    with pytest.raises(InputError, match="no fitted response propensity"):
        make_weights(resp, pop, _spec(plan, method="ipw"), propensity=None)


def test_survey_weighted_models_use_the_weights(result, sim):
    fit = result["svy_fit"].set_index("model")
    assert fit.loc["logit", "sum_weights"] < len(sim.workorders)  # complete cases only
    assert (fit["n_clusters"] == sim.responses["station"].nunique()).all()
    est = result["svy_estimates"]
    assert set(est["model"]) == {"logit", "ordinal", "speed_by_cause"}
    assert (est["std_error"].dropna() > 0).all()
    me = result["svy_marginal_effects"]
    assert set(me["scale"]) == {"p_satisfied", "mean_score"}
    assert (me.loc[me["scale"] == "p_satisfied", "estimate"] < 0).all()  # slower handling never helps
