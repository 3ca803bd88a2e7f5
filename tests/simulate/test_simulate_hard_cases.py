"""The simulator's hard cases (issue 11, point 7): each switch changes what it should and only that.

Every switch of :class:`research.simulate.SimParams` listed in
:data:`research.simulate.HARD_CASE_DEFAULTS` is off by default; on, it draws
from its own side stream, so the other columns stay as they were, and its truth
is recorded in ``truth["hard_cases"]`` (JSON). Small n throughout.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from research.simulate import (HARD_CASE_DEFAULTS, SimParams, hard_case_params, potential_satisfied,
                               simulate)

N, SEED = 3000, 7
#: two-sided z for "the same quantity up to sampling error" (P(false alarm) ~ 6e-5 per check)
Z = 4.0


def sim_with(**switches):
    return simulate(N, SEED, params=SimParams(**switches))


@pytest.fixture(scope="module")
def base():
    return simulate(N, SEED)


@pytest.fixture(scope="module")
def hard():
    return simulate(N, SEED, params=hard_case_params())


def _sat(pop):
    return pop["satisfied"].to_numpy(dtype=bool)


def _diff_by(pop, flag):
    """Satisfied rate where ``flag`` minus where not."""
    s = _sat(pop)
    return s[flag].mean() - s[~flag].mean()


def test_switches_off_give_the_default_output_and_no_hard_case_truth(base):
    zero = sim_with(resolution_from_satisfaction=0.0, resolution_from_difficulty=0.0,
                    repeat_from_dissatisfaction=0.0, station_handling_sd=0.0, threshold_step=None,
                    response_from_satisfaction=0.0, refusal_from_satisfaction=0.0,
                    difficulty_handling_corr=0.6, station_handling_sat=-0.5)
    assert zero.survey_export.equals(base.survey_export)
    assert zero.workorders_export.equals(base.workorders_export)
    assert zero.truth == base.truth
    assert "hard_cases" not in base.truth
    assert not any(k in base.truth["params"] for k in HARD_CASE_DEFAULTS)


def test_truth_is_json_and_names_every_switch(hard):
    h = json.loads(json.dumps(hard.truth))["hard_cases"]
    assert set(HARD_CASE_DEFAULTS) <= set(h["switches"])
    for key in ("levers", "resolution", "repeat", "station_handling", "thresholds", "response"):
        assert key in h, key
    assert set(h["thresholds"]) == set(HARD_CASE_DEFAULTS["threshold_step"])
    assert hard.truth["params"]["resolution_from_satisfaction"] == HARD_CASE_DEFAULTS["resolution_from_satisfaction"]


def test_resolution_from_satisfaction_strengthens_the_association_only_there(base):
    on = sim_with(resolution_from_satisfaction=1.0)
    pb, po = base.population, on.population
    # same tickets, handling, channel, station: only resolution (and what follows from it) moves
    for col in ("ticket_id", "handling_hours", "channel", "cause_l2", "station", "repeat_calls"):
        assert (pb[col] == po[col]).all(), col
    yes_b, yes_o = pb["resolved"].to_numpy() == "yes", po["resolved"].to_numpy() == "yes"
    assert (yes_b != yes_o).any()
    assert _diff_by(po, yes_o) > _diff_by(pb, yes_b) + 0.05
    # its mediated share of a handling lever is positive; without it resolution mediates nothing
    lev = on.truth["hard_cases"]["levers"]["halve_handling_outage"]
    assert lev["indirect_effect_through_resolution"] > 0
    res_only = sim_with(repeat_from_dissatisfaction=0.5)
    assert res_only.truth["hard_cases"]["levers"]["halve_handling_outage"][
        "indirect_effect_through_resolution"] == 0.0


def test_resolution_from_difficulty_ties_resolution_to_long_handling(base):
    on = sim_with(resolution_from_difficulty=1.5)
    pb, po = base.population, on.population  # handling times change, so the cut may move

    def gap(pop):  # log handling hours of unresolved minus resolved tickets, within sub-cause
        lh = np.log(pop["handling_hours"].to_numpy())
        resid = lh - pop.groupby("cause_l2", observed=True)["handling_hours"].transform(
            lambda h: np.log(h).mean()).to_numpy()
        yes = pop["resolved"].to_numpy() == "yes"
        return resid[~yes].mean() - resid[yes].mean()

    assert abs(gap(pb)) < 0.1
    assert gap(po) > 0.25
    # difficulty is a share of the handling-time normal: the marginal spread is unchanged
    sd = lambda pop: np.log(pop["handling_hours"]).groupby(pop["cause_l2"], observed=True).std().mean()
    assert abs(sd(po) - sd(pb)) < 0.05


def test_repeat_from_dissatisfaction_makes_dissatisfied_call_again(base):
    on = sim_with(repeat_from_dissatisfaction=0.8)
    pb, po = base.population, on.population
    for col in ("handling_hours", "channel", "resolved", "station"):
        assert (pb[col] == po[col]).all(), col
    rep_b, rep_o = pb["repeat_calls"].to_numpy() > 0, po["repeat_calls"].to_numpy() > 0
    gap = lambda pop, rep: rep[~_sat(pop)].mean() - rep[_sat(pop)].mean()
    assert gap(po, rep_o) > gap(pb, rep_b) + 0.10
    rep = on.truth["hard_cases"]["repeat"]
    assert rep["repeat_share_dissatisfied"] > rep["repeat_share_satisfied"]


def test_station_handling_sd_correlates_handling_within_station_and_confounds(base):
    on = sim_with(station_handling_sd=0.6)
    pb, po = base.population, on.population  # handling times change, so the cut moves
    k = min(len(pb), len(po))
    for col in ("cause_l2", "station", "created_at"):  # drawn before the cut: same tickets
        assert (pb[col].iloc[:k].to_numpy() == po[col].iloc[:k].to_numpy()).all(), col

    def station_share(pop):  # share of log-hour variance (within sub-cause) between stations
        lh = np.log(pop["handling_hours"])
        r = lh - lh.groupby(pop["cause_l2"], observed=True).transform("mean")
        return r.groupby(pop["station"], observed=True).mean().var() / r.var()

    assert station_share(po) > 5 * station_share(pb)
    st = on.truth["hard_cases"]["station_handling"]
    v = np.array(list(st["effects_log_hours"].values()))
    assert abs(v.std() - 0.6) < 0.25 and len(v) == len(on.truth["station_effects"])
    # station confounds: its handling effect enters the satisfaction latent with the recorded weight
    total = np.array(list(st["total_station_effect_on_latent"].values()))
    u = np.array(list(on.truth["station_effects"].values()))
    np.testing.assert_allclose(total, u + st["satisfaction_per_log_hour"] * v)


def test_threshold_step_plants_a_step_in_one_group_only(base):
    on = sim_with(threshold_step={"voltage": (72.0, 1.5)})
    pb, po = base.population, on.population
    assert (pb["handling_hours"] == po["handling_hours"]).all()
    th = on.truth["hard_cases"]["thresholds"]["voltage"]
    assert th["hours"] == 72.0 and th["latent_drop"] == 1.5
    assert 0.15 < th["satisfied_rate_drop"] < 0.45
    v = (po["cause_l1"] == "voltage").to_numpy()
    h = po["handling_hours"].to_numpy()
    s = _sat(po)
    near_below = v & (h > 36) & (h <= 72)
    near_above = v & (h > 72) & (h <= 144)
    gap = s[near_below].mean() - s[near_above].mean()
    se = np.sqrt(s[near_below].var() / near_below.sum() + s[near_above].var() / near_above.sum())
    assert gap > 2 * se  # the planted step shows in the data
    # other groups keep their smooth slope: identical satisfaction
    other = ~v
    assert (pb["sat_overall"].to_numpy()[other] == po["sat_overall"].to_numpy()[other]).all()
    assert on.truth["hard_cases"]["smooth_slopes"]["outage"] == SimParams().slope["outage"]


def test_response_from_satisfaction_biases_the_respondents_rate():
    mar = simulate(N, SEED)
    on = sim_with(response_from_satisfaction=0.5, refusal_from_satisfaction=-0.6)
    r = on.truth["hard_cases"]["response"]
    assert r["respondents_satisfied_rate"] - r["population_satisfied_rate"] > \
        mar.truth["respondents"]["satisfied_rate"] - mar.truth["population"]["satisfied_rate"] + 0.03
    assert r["completion_rate_satisfied"] > r["completion_rate_dissatisfied"]
    by = r["satisfied_rate_by_status"]
    assert by["refused"] < by["no_answer"] < by["completed"]  # refusals kept apart from no-answers
    assert on.truth["counts"]["completed"] == N == len(on.survey_export)
    s = _sat(on.population)
    np.testing.assert_allclose(r["population_satisfied_rate"], s.mean())


def test_mnar_refuses_the_monitoring_plants():
    with pytest.raises(ValueError, match="plant"):
        simulate(50, 1, params=SimParams(response_from_satisfaction=0.3,
                                         plant_recurrence=("广州天河供电所", "billing_dispute", "2025-03-03", 0.5)))
    with pytest.raises(ValueError, match="threshold_step"):
        simulate(50, 1, params=SimParams(threshold_step={"nowhere": (10.0, 1.0)}))


def test_potential_outcomes_match_the_realised_data(hard):
    """The truth's model: mean P(satisfied) at the factual hours is the realised rate up to noise."""
    pop = hard.population
    p = potential_satisfied(hard, pop["handling_hours"].to_numpy())
    s = _sat(pop)
    assert abs(p.mean() - s.mean()) < Z * np.sqrt(p.mean() * (1 - p.mean()) / len(p))
    for g, idx in pop.groupby("cause_l1", observed=True).indices.items():
        pg, sg = p[idx].mean(), s[idx].mean()
        assert abs(pg - sg) < Z * np.sqrt(pg * (1 - pg) / len(idx)), g
    lev = hard.truth["hard_cases"]["levers"]
    np.testing.assert_allclose(lev["satisfied_rate_factual"], p.mean(), rtol=1e-12)


def test_lever_truth_is_recomputable_and_quadrature_converged(hard):
    pop = hard.population
    h = pop["handling_hours"].to_numpy()
    out = (pop["cause_l1"] == "outage").to_numpy()
    new = np.where(out, np.maximum(SimParams().handling_min_hours, h / 2), h)
    lev = hard.truth["hard_cases"]["levers"]["halve_handling_outage"]
    te = potential_satisfied(hard, new).mean() - potential_satisfied(hard, h).mean()
    np.testing.assert_allclose(te, lev["effect"], rtol=1e-9, atol=1e-12)
    de = potential_satisfied(hard, new, resolution_hours=h).mean() - potential_satisfied(hard, h).mean()
    np.testing.assert_allclose(de, lev["direct_effect"], rtol=1e-9, atol=1e-12)
    assert 0 < lev["direct_effect"] < lev["effect"]  # faster handling helps, partly through resolution
    from research.simulate import _p_satisfied, _params_from_truth
    p = _params_from_truth(hard.truth)
    fine = _p_satisfied(p, hard.model, new, nodes=96).mean() - _p_satisfied(p, hard.model, h, nodes=96).mean()
    assert abs(fine - te) < 1e-5


def test_lever_truth_on_the_default_dgp_is_the_closed_form():
    """Without latent hard cases repeat and resolution do not depend on the noise: exact expit sums."""
    sim = simulate(400, 3)
    pop = sim.population
    h = pop["handling_hours"].to_numpy()
    p = SimParams()
    L = np.log2(1 + h)
    slope = pop["cause_l1"].map(p.slope).to_numpy(dtype=float)
    a = (pop["cause_l2"].map(p.beta_sub).to_numpy(dtype=float) + slope * L
         + pop["channel"].map(p.beta_channel).to_numpy(dtype=float) + pop["station_effect"].to_numpy())
    rate = np.exp(p.repeat_intercept + pop["cause_l1"].map(p.repeat_cause).to_numpy(dtype=float)
                  + p.repeat_log_hours * L)
    pr = 1 - np.exp(-rate)
    probs = np.array([p.resolved_probs.get(c, p.resolved_probs_default) for c in pop["cause_l2"]])
    expect = np.zeros(len(h))
    for k, code in enumerate(("yes", "partly", "no")):
        for r, w in ((0, 1 - pr), (1, pr)):
            expect += probs[:, k] * w / (1 + np.exp(-(a + p.beta_repeat * r + p.beta_resolved[code]
                                                      - p.cutpoints[2])))
    np.testing.assert_allclose(potential_satisfied(sim, h), expect, rtol=1e-9)


def test_hard_case_run_is_deterministic_and_keeps_n(hard):
    again = simulate(N, SEED, params=hard_case_params())
    assert again.truth == hard.truth
    assert again.survey_export.equals(hard.survey_export)
    assert hard.truth["counts"]["completed"] == N


def test_cli_hard_cases_switch(tmp_path):
    from research.cli import main

    assert main(["simulate", "--n", "300", "--seed", "5", "--out", str(tmp_path / "h"), "--hard-cases"]) == 0
    assert main(["simulate", "--n", "300", "--seed", "5", "--out", str(tmp_path / "d")]) == 0
    h = json.loads((tmp_path / "h" / "truth.json").read_text(encoding="utf-8"))
    d = json.loads((tmp_path / "d" / "truth.json").read_text(encoding="utf-8"))
    assert h["hard_cases"]["switches"]["station_handling_sd"] == HARD_CASE_DEFAULTS["station_handling_sd"]
    assert "hard_cases" not in d
    assert d == simulate(300, 5).truth
