"""Spline basis, threshold search, the bootstrap's weighted logit, and recovery of a known threshold."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from research.config.instrument import load_instrument
from research.models.design import rcs_basis
from research.models.thresholds import threshold_from_curve, tolerance_thresholds, weighted_logit_newton
from research.config.plan import load_plan
from research.simulate import simulate


def test_rcs_basis_matches_hmisc():
    # Reference: Hmisc 4.8-0 rcspline.eval(x, knots, inclx = TRUE, norm = 2), R 4.2.2
    # (tests/fixtures/r/splines/make_reference.R).
    ref = pd.read_csv("tests/fixtures/r/splines/rcs_reference.csv")
    got = rcs_basis(ref["x"].to_numpy(), np.array([1, 2.5, 4.5, 8]))
    np.testing.assert_allclose(got, ref[["b1", "b2", "b3"]].to_numpy(), rtol=1e-12, atol=1e-12)


def test_rcs_is_linear_beyond_the_outer_knots():
    x = np.linspace(9, 20, 12)
    b = rcs_basis(x, np.array([1.0, 2.5, 4.5, 8.0]))
    assert np.allclose(np.diff(b, n=2, axis=0), 0, atol=1e-9)


def test_threshold_from_curve():
    hours = np.array([0.5, 1, 2, 4, 8, 16])
    curve = np.array([0.90, 0.89, 0.87, 0.84, 0.80, 0.75])
    # first at or below 0.85 lies between 2 h (0.87) and 4 h (0.84): 2/3 of the way in log hours
    assert threshold_from_curve(hours, curve, 0.05) == pytest.approx(np.exp(np.log(2) + 2 / 3 * np.log(2)))
    assert np.isnan(threshold_from_curve(hours, curve, 0.20))


def test_weighted_newton_equals_statsmodels_freq_weights():
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(3000), rng.normal(size=(3000, 3))])
    y = (rng.random(3000) < expit(X @ [0.3, -1, 0.5, 0.2])).astype(float)
    w = rng.integers(0, 4, 3000).astype(float)
    ref = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-12).params
    got = weighted_logit_newton(X, y, w, np.zeros(4))
    np.testing.assert_allclose(got, ref, atol=1e-8)


@pytest.fixture(scope="module")
def recovered():
    sim = simulate(20000, 8)
    plan = load_plan()
    plan = replace(plan, thresholds=replace(plan.thresholds, bootstrap_reps=100))
    out = tolerance_thresholds(sim.responses, plan=plan, instrument=load_instrument())
    return sim, out


def _true_curve(sim, group: str, hours: np.ndarray) -> np.ndarray:
    """The simulator's own satisfied rate of a group's surveyed tickets had each taken h hours.

    DGP (research.simulate): latent = eta + logistic noise, eta linear in
    L = log2(1 + hours) with slope[group]; satisfied <=> latent > cutpoints[2].
    """
    pop = sim.population
    resp = pop[(pop["survey_status"] == "completed") & (pop["cause_l1"] == group)]
    slope = sim.truth["params"]["slope"][group]
    cut = sim.truth["params"]["cutpoints"][2]
    base = resp["eta"].to_numpy() - slope * np.log2(1 + resp["handling_hours"].to_numpy())
    return np.array([expit(base + slope * np.log2(1 + h) - cut).mean() for h in hours])


def test_known_thresholds_lie_in_their_intervals(recovered):
    sim, out = recovered
    th = out["thresholds"].set_index("cause_l1")
    for group in ("service", "outage"):  # the large groups; small ones have wide intervals anyway
        row = th.loc[group]
        hours = np.exp(np.linspace(np.log(row["reference_hours"]), np.log(row["max_hours"]), 400))
        truth = threshold_from_curve(hours, _true_curve(sim, group, hours), 0.05)
        row = th.loc[group]
        assert row["reached"] and np.isfinite(truth)
        assert row["conf_low"] <= truth <= (row["conf_high"] if row["upper_reached"] else np.inf), group
    # outage is the steepest slope in the DGP, so its threshold is the shortest
    assert th.loc["outage", "threshold_hours"] < th.loc["service", "threshold_hours"]


def test_curves_have_bands_and_fall(recovered):
    _, out = recovered
    c = out["curves"]
    assert ((c["conf_low"] <= c["estimate"]) & (c["estimate"] <= c["conf_high"])).all()
    for _, g in c.groupby("cause_l1"):
        assert g.sort_values("hours")["estimate"].iloc[-1] < g["estimate"].iloc[0]


def test_bootstrap_is_seeded(recovered):
    sim, out = recovered
    plan = load_plan()
    plan = replace(plan, thresholds=replace(plan.thresholds, bootstrap_reps=100))
    again = tolerance_thresholds(sim.responses, plan=plan, instrument=load_instrument())
    pd.testing.assert_frame_equal(out["thresholds"], again["thresholds"])
