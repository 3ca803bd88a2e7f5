"""End-to-end recovery of the simulator's planted hard cases (issue 11, point 7).

Reference: recovery of a planted truth from :mod:`research.simulate` (module docstring, "Hard
cases"). The exports are simulated with hard-case switches of :class:`research.simulate.SimParams`
on, the package's own estimators are run on the canonical responses as ``research reproduce``
runs them, and their estimates are compared with ``truth["hard_cases"]``:

- levers: :func:`research.strategy.scenarios.run_levers`' path (raking weights to the work orders,
  :func:`research.models.weighted.fit_model_weighted_or_not` with the committed plan's lever
  model, then :func:`research.strategy.scenarios.lever_effects`; one lever per cause group of the kind of
  the plan's ``halve_outage``; delta-method standard errors, no bootstrap) against
  ``truth["hard_cases"]["levers"]["halve_handling_<group>"]["effect"]``, within 3 standard errors
  (the tracker's "levers within 3 standard errors");
- thresholds: :func:`research.models.thresholds.tolerance_thresholds` against
  ``truth["hard_cases"]["thresholds"]`` (planted step hours) and ``["smooth_slopes"]`` (groups
  without a step).

What does not hold is written as ``xfail(strict=True)`` with the measured figures, so a change
that makes it hold (or a test that stops failing for another reason) is noticed.

Which switches are on, and why the others are off:

- ``resolution_from_satisfaction`` and ``repeat_from_dissatisfaction`` (reverse causation) are on
  in the main export: this is what the causal frame of the levers (point 1) is built for.
- ``response_from_satisfaction`` / ``refusal_from_satisfaction`` are off everywhere: raking
  assumes response at random given the margins, and no lever estimator can undo response that
  depends on satisfaction itself (that is point 6's sensitivity analysis, not a recovery).
- ``resolution_from_difficulty`` (an unmeasured ticket difficulty that slows handling AND makes
  "not resolved" likelier) and ``station_handling_sd`` (slow stations less satisfied for other
  reasons) are confounders the committed lever model cannot adjust for; each has its own export
  and an xfail test with the measured bias.

One simulation per export (module-scoped fixtures); n = 20,000 completed surveys.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from research.models.thresholds import tolerance_thresholds
from research.models.weighted import fit_model_weighted_or_not
from research.representativeness.nonresponse import population_frame
from research.config.plan import Lever, load_plan
from research.representativeness.run import calibration_of, make_weights, respondent_frame
from research.strategy.scenarios import lever_effects
from research.simulate import HARD_CASE_DEFAULTS, SimParams, hard_case_params, simulate

N, SEED = 20_000, 11
#: a recovered lever effect must lie within this many standard errors of the planted truth
SE_TOL = 3.0
GROUPS = ("service", "outage", "capability", "voltage")
#: steps planted in the main export: at about the median handling time of the two large groups
#: (service, outage); capability and voltage keep their smooth log-linear truth. The default
#: steps of hard_case_params (capability 96 h, voltage 72 h, drop 0.8) are not used: at this n
#: Davies' test found them in 1 of 4 seeds (11-14: capability p = 0.44, 0.10, 0.014, 0.12;
#: voltage 0.80, 0.60, 0.005, 0.08), and where found (seed 13) the breakpoint intervals, 34 h
#: [24, 68] and 109 h [77, 177], missed 96 h and 72 h.
STEPS = {"service": (24.0, 0.8), "outage": (4.0, 0.8)}
#: switches off in every export here (see the module docstring)
NO_MNAR = {"response_from_satisfaction": 0.0, "refusal_from_satisfaction": 0.0}
#: station confounding planted at twice the default sd and twice the default strength (the
#: defaults, 0.4 and -0.5, bias the region-adjusted model by about 0.2 points on service:
#: about 1.5 SE at this n, 3.7 SE at n = 100,000 with seed 11)
STRONG_STATION = {"station_handling_sd": 0.8, "station_handling_sat": -1.0}


def _halve(group: str) -> Lever:
    """The lever whose truth the simulator records as ``halve_handling_<group>``."""
    return Lever(name=f"halve_{group}", kind="scale_hours", cause_l1=group, cause_l2=None,
                 factor=0.5, variable=None, value=None, zh="", en="")


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """One BLAS thread for the module's fits: on 2 shared cores a 2-thread OpenBLAS made the
    20,000-row design-based logit about ten times slower (8 s against 0.8 s) under load."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _raking(sim, plan):
    """Raking weights of the respondents to the work orders and their calibration (as reproduce)."""
    resp = respondent_frame(sim.responses, plan.weighting)
    pop = population_frame(sim.workorders, bands_hours=plan.weighting.bands_hours)
    weights, _, _ = make_weights(resp, pop, plan.weighting)
    return weights, calibration_of(resp, weights, plan.weighting)


def _lever_estimates(sim, spec, plan, instrument, raking) -> pd.DataFrame:
    """Halving each group's handling time: research.strategy.scenarios.run_levers' fit and g-computation.

    Survey-weighted (raked to the work orders), so ``effect`` is the change of the satisfied
    rate averaged over ALL work orders, as a proportion; ``std_error`` is its delta-method SE from
    the design-based (station-clustered) covariance, also a proportion.
    """
    weights, calibration = raking
    cluster = plan.scenarios.bootstrap_cluster
    fm = fit_model_weighted_or_not(spec, sim.responses, weights, cluster=cluster, plan=plan,
                                   instrument=instrument, calibration=calibration)
    out = lever_effects(fm, sim.responses, [_halve(g) for g in GROUPS],
                        threshold=instrument.satisfied_threshold, cluster=cluster, reps=0)
    return out.assign(group=out["lever"].str.removeprefix("halve_")).set_index("group")


def _truths(sim) -> dict[str, dict]:
    """``truth["hard_cases"]["levers"]["halve_handling_<g>"]`` of every group that has one.

    The matching truth is ``effect``: the simulator's mean P(satisfied) over ALL work orders
    (population, not respondents) had the group's handling time been halved, minus the factual
    mean, as a proportion. It matches the weighted g-computation (an average over the respondents
    raked to the work orders, proportion); not ``effect_in_group`` (within the group) and not the
    respondents' average (the unweighted fit's estimand: slow tickets answer less often). The
    truth halves to ``max(0.25 h, h / 2)`` while the lever takes ``h / 2``: a difference only for
    tickets under 0.5 h (1.1% of outage tickets, none in the other groups); recomputed with
    :func:`research.simulate.potential_satisfied` at ``h / 2`` the outage truth moves by less
    than 0.0001 points (seed 11), far below one SE.
    """
    levers = sim.truth["hard_cases"]["levers"]
    return {g: levers[f"halve_handling_{g}"] for g in GROUPS if f"halve_handling_{g}" in levers}


def _z(est: pd.DataFrame, truths: dict) -> dict[str, tuple[float, float, float, float]]:
    """Per group: (estimate, truth, SE, (estimate - truth) / SE), all in percentage points but z."""
    out = {}
    for g, t in truths.items():
        e, se = est.loc[g, "effect"], est.loc[g, "std_error"]
        out[g] = (100 * e, 100 * t["effect"], 100 * se, (e - t["effect"]) / se)
    return out


def _assert_recovered(est: pd.DataFrame, truths: dict) -> None:
    """Every group's estimate within SE_TOL standard errors of its planted truth."""
    for g, (e, true, se, zz) in _z(est, truths).items():
        assert abs(zz) < SE_TOL, (f"{g}: estimate {e:.3f} points, truth {true:.3f}, SE {se:.3f} "
                                  f"(z = {zz:.2f})")


# ----------------------------------------------------------------------------- main export


@pytest.fixture(scope="module")
def reverse(plan, instrument):
    """Resolution caused by satisfaction, repeat calls by dissatisfaction, two planted steps."""
    params = hard_case_params(resolution_from_difficulty=0.0, station_handling_sd=0.0,
                              threshold_step=STEPS, **NO_MNAR)
    sim = simulate(N, SEED, params=params)
    raking = _raking(sim, plan)
    causal = plan.model(plan.scenarios.model)
    # the old, post-treatment lever model: the committed one plus `resolved` (plan validation is
    # at load_plan, so a replaced spec is fitted as given)
    old = dataclasses.replace(causal, name="levers_with_resolved", rhs=causal.rhs + " + resolved")
    truths = _truths(sim)
    assert set(truths) == set(GROUPS), "test setup: a cause group without a lever truth"
    return {"sim": sim, "truths": truths,
            "causal": _lever_estimates(sim, causal, plan, instrument, raking),
            "old": _lever_estimates(sim, old, plan, instrument, raking)}


def test_the_hard_cases_are_on_and_every_group_has_a_lever_truth(reverse):
    sw = reverse["sim"].truth["hard_cases"]["switches"]
    for key in ("resolution_from_satisfaction", "repeat_from_dissatisfaction"):
        assert sw[key] == HARD_CASE_DEFAULTS[key] > 0, key
    assert sw["resolution_from_difficulty"] == 0 and sw["station_handling_sd"] == 0
    assert set(reverse["truths"]) == set(GROUPS)  # the recovery loop below is over all four
    assert all(t["effect"] > 0 for t in reverse["truths"].values())


def test_causal_lever_model_recovers_each_groups_halving_effect(reverse):
    # Reference: truth["hard_cases"]["levers"]["halve_handling_<g>"]["effect"] (research.simulate).
    # Measured (seed 11, points): service 1.38 (SE 0.17) vs 1.51, outage 1.15 (0.10) vs 1.31,
    # capability 0.24 (0.08) vs 0.31, voltage 0.32 (0.08) vs 0.42: |z| <= 1.6.
    _assert_recovered(reverse["causal"], reverse["truths"])


def test_old_lever_model_with_resolved_is_biased_for_the_biggest_group(reverse):
    # Adjusting for `resolved`, partly a consequence of satisfaction here, shrinks the handling-time
    # slope. Measured (seed 11, points): outage 0.72 (SE 0.08) vs truth 1.31 (z = -7.0); service
    # 0.89 (0.10) vs 1.51 (z = -6.3).
    truths = reverse["truths"]
    biggest = max(truths, key=lambda g: truths[g]["tickets_in_group"])
    est, true, se, zz = _z(reverse["old"], truths)[biggest]
    assert zz < -SE_TOL, (f"{biggest}: old model {est:.3f} points, truth {true:.3f}, "
                          f"SE {se:.3f} (z = {zz:.2f})")
    # and the causal model is closer to the truth for that group
    assert abs(_z(reverse["causal"], truths)[biggest][3]) < abs(zz)


# ----------------------------------------------------------------------------- thresholds


@pytest.fixture(scope="module")
def thresholds(reverse, plan, instrument):
    # the shape (Davies' test) and the breakpoint's profile interval use no cluster bootstrap (0
    # replicates); the interval's critical value is chi-square(1) (0 calibration draws: the
    # calibrated path is tested in tests/models/test_thresholds_changepoint.py; the planted groups here have
    # more tickets than change_point.calibration_max_n, so the pipeline does not calibrate them either)
    fast = dataclasses.replace(plan, thresholds=dataclasses.replace(
        plan.thresholds, bootstrap_reps=0, change_point_calibration_reps=0))
    out = tolerance_thresholds(reverse["sim"].responses, plan=fast, instrument=instrument)
    return out["thresholds"].set_index("cause_l1")


def test_planted_steps_are_detected_and_smooth_groups_are_gradual(reverse, thresholds, plan):
    # Reference: truth["hard_cases"]["thresholds"] (groups with a planted step) and
    # truth["hard_cases"]["smooth_slopes"] (groups whose truth is log-linear).
    # Measured (seed 11): service p = 0.0001, outage p < 1e-6 (threshold); capability p = 0.43,
    # voltage p = 0.54 (gradual).
    hc = reverse["sim"].truth["hard_cases"]
    assert set(hc["thresholds"]) == set(STEPS)
    assert set(hc["smooth_slopes"]) == set(GROUPS) - set(STEPS)
    alpha = plan.thresholds.change_point_alpha
    for g in hc["thresholds"]:
        row = thresholds.loc[g]
        assert row["shape"] == "threshold", (g, row["change_point_p"])
        assert row["change_point_p"] < alpha, (g, row["change_point_p"])
    for g in hc["smooth_slopes"]:
        row = thresholds.loc[g]
        assert row["shape"] == "gradual", (g, row["change_point_p"])
        assert row["change_point_p"] >= alpha, (g, row["change_point_p"])


def test_breakpoint_interval_holds_the_planted_step_hours(reverse, thresholds):
    # Reference: truth["hard_cases"]["thresholds"][g]["hours"]; a NaN end of the profile interval
    # means the data do not bound it on that side (taken as open). The breakpoint interval is the
    # hull of the slope-change and the step intervals (research.stats.changepoint.
    # find_change_point). Measured, seed 11, n = 20,000: service found as a step at 25.1 h
    # [23.6, 128] (planted 24 h); outage taken as a slope change at 6.6 h [3.9, 8.1] (planted 4 h).
    # Before the step alternative and the hull (a hinge only): service 71 h [47, 128], outage 7 h
    # [6, 8], both missing the planted hours.
    for g, t in reverse["sim"].truth["hard_cases"]["thresholds"].items():
        row = thresholds.loc[g]
        low = row["breakpoint_low"] if np.isfinite(row["breakpoint_low"]) else -np.inf
        high = row["breakpoint_high"] if np.isfinite(row["breakpoint_high"]) else np.inf
        assert low <= t["hours"] <= high, (g, t["hours"], row["breakpoint_hours"], low, high)


# ------------------------------------------------------------------------ unadjusted confounders


@pytest.fixture(scope="module")
def station(plan, instrument):
    """Only station-handling confounding, at STRONG_STATION: the committed lever model (adjusted for
    station) and the same model with region in place of station (the plan's model before issue 11's
    simulator check)."""
    sim = simulate(N, SEED, params=SimParams(**STRONG_STATION))
    raking = _raking(sim, plan)
    causal = plan.model(plan.scenarios.model)
    by_region = dataclasses.replace(causal, name="levers_by_region",
                                    rhs=causal.rhs.replace("+ station", "+ region"))
    assert by_region.rhs != causal.rhs, "test setup: the lever model no longer adjusts for station"
    truths = _truths(sim)
    assert set(truths) == set(GROUPS), "test setup: a cause group without a lever truth"
    return {"sim": sim, "truths": truths,
            "causal": _lever_estimates(sim, causal, plan, instrument, raking),
            "by_region": _lever_estimates(sim, by_region, plan, instrument, raking)}


def test_region_adjusted_lever_model_is_biased_under_station_confounding(station):
    # Reference: truth["hard_cases"]["levers"]["halve_handling_<g>"]["effect"] with only
    # station_handling_sd on. Region does not block station confounding. Measured, seed 11,
    # points: service 2.47 (SE 0.22) vs truth 1.32 (z = 5.3), outage 2.61 (0.19) vs 1.67 (z = 5.1).
    # At the default strength (0.4, -0.5) the bias is about +0.2 points on service (z = 3.7 at
    # n = 100,000, seed 11): the reason the committed lever model adjusts for station.
    truths = station["truths"]
    z = _z(station["by_region"], truths)
    biggest = max(truths, key=lambda g: truths[g]["tickets_in_group"])
    assert z[biggest][3] > 3, z[biggest]


def test_station_adjusted_lever_model_recovers_under_station_confounding(station):
    # The same export and truth; the committed lever model adjusts for station (pre-treatment, nests
    # region), blocks the confounding path and recovers the truth.
    _assert_recovered(station["causal"], station["truths"])
    z = _z(station["causal"], station["truths"])
    # and it is closer to the truth than the region-adjusted model for the biggest group
    truths = station["truths"]
    biggest = max(truths, key=lambda g: truths[g]["tickets_in_group"])
    assert abs(z[biggest][3]) < abs(_z(station["by_region"], truths)[biggest][3])


@pytest.fixture(scope="module")
def difficulty(plan, instrument):
    """The main export's reverse causation plus an unmeasured difficulty (default strength)."""
    params = hard_case_params(station_handling_sd=0.0, threshold_step=None, **NO_MNAR)
    sim = simulate(N, SEED, params=params)
    causal = plan.model(plan.scenarios.model)
    truths = _truths(sim)
    assert set(truths) == set(GROUPS), "test setup: a cause group without a lever truth"
    return {"sim": sim, "truths": truths,
            "causal": _lever_estimates(sim, causal, plan, instrument, _raking(sim, plan))}


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "resolution_from_difficulty 0.8 with difficulty_handling_corr 0.6: an unmeasured difficulty "
    "slows handling and makes 'not resolved' likelier, so no pre-treatment model of the export "
    "can block it and halving looks better than it is. Measured, seed 11, n = 20,000, points: "
    "service 2.15 (SE 0.13) vs truth 1.59 (z = 4.4); at n = 100,000 the bias is +0.59 service, "
    "+0.40 outage, +0.20 capability, +0.22 voltage (z = 7.9, 5.1, 5.9, 4.8): an unmeasured "
    "confounder is what the E-value (research.strategy.causal.lever_sensitivity) is for"))
def test_lever_model_under_unmeasured_difficulty(difficulty):
    # Reference: truth["hard_cases"]["levers"]["halve_handling_<g>"]["effect"] with
    # resolution_from_difficulty on (difficulty held as drawn in the truth).
    _assert_recovered(difficulty["causal"], difficulty["truths"])
