"""Raking weights (research.stats.weights) against R's survey package and known properties.

References:
- R ``survey`` 4.1-1: ``rake(svydesign(ids = ~1, weights = ~w0, data = respondents),
  list(~region, ~cause, ~band), <population counts>, control = list(maxit = 1000,
  epsilon = 1e-10))`` with ``w0 = N/n`` on ``tests/fixtures/r/weights/population.csv``
  (2,000 units, 1,172 respondents); weights in ``rake_weights.csv``, made by
  ``tests/fixtures/r/weights/make_reference.R`` (see the README there).
  Tolerance: 1e-6 relative per weight (observed ~1e-14).
- Definitions: weighted margins equal population margins (tol 1e-10 relative to the
  margin total without a cap; 1e-9 with a cap); Kish n_eff = (sum w)^2 / sum w^2 and
  deff = n / n_eff = 1 + cv^2 (identity).
- Simulation truth: ``research.simulate.simulate(20000, 9)`` knows the population
  satisfied rate (``truth["population"]["satisfied_rate"]``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research.stats.weights import BAND_LABELS, handling_band, rake, weight_summary

R_DIR = Path(__file__).parents[1] / "fixtures" / "r" / "weights"
MARGINS = ["region", "cause", "band"]
TOL = 1e-10        # default raking tolerance (relative to the margin total)
CAP_TOL = 1e-9     # tolerance used (and asserted) with a cap


@pytest.fixture(scope="module")
def fixture_data():
    pop = pd.read_csv(R_DIR / "population.csv", dtype={"unit_id": str})
    resp = pop[pop["responded"] == 1].reset_index(drop=True)
    ref = pd.read_csv(R_DIR / "rake_weights.csv", dtype={"unit_id": str})
    return pop, resp, ref


def _margin_rel_error(weights, sample, population, margins):
    worst = 0.0
    for v in margins:
        got = pd.Series(weights, index=sample.index).groupby(sample[v].to_numpy()).sum()
        want = population[v].value_counts()
        diff = got.reindex(want.index, fill_value=0.0) - want
        worst = max(worst, float(diff.abs().max() / want.sum()))
    return worst


# ---- handling bands ---------------------------------------------------------------

def test_handling_band_edges_are_right_closed():
    hours = [0, 0.5, 4, 4.0001, 24, 24.5, 72, 72.1, 168, 168.01, 2000, np.nan, -1]
    got = handling_band(hours)
    assert list(got.categories) == list(BAND_LABELS) and got.ordered
    assert list(got.astype(object))[:11] == ["0-4h", "0-4h", "0-4h", "4-24h", "4-24h", "1-3d",
                                             "1-3d", "3-7d", "3-7d", ">7d", ">7d"]
    assert pd.isna(got[11]) and pd.isna(got[12])


# ---- R reference ------------------------------------------------------------------

def test_fixture_matches_r_survey_rake(fixture_data):
    pop, resp, ref = fixture_data
    assert len(pop) == 2000 and len(resp) == len(ref) == 1172
    res = rake(resp, pop, MARGINS, max_iter=1000, tol=1e-10)
    assert res.converged and res.max_margin_error < TOL
    got = pd.Series(res.weights, index=resp["unit_id"])
    r_w = ref.set_index("unit_id")["weight"]
    assert got.index.equals(r_w.index)
    rel = np.abs(got.to_numpy() / r_w.to_numpy() - 1)
    assert rel.max() < 1e-6, rel.max()
    # the raking really moved the weights away from the start value N/n
    assert np.ptp(r_w.to_numpy()) > 1.0
    np.testing.assert_allclose(ref["w0"], 2000 / 1172, rtol=1e-15)


def test_diagnostics_frame(fixture_data):
    pop, resp, _ = fixture_data
    d = rake(resp, pop, MARGINS).diagnostics()
    assert list(d.columns) == ["variable", "level", "n_sample", "population", "weighted",
                               "error", "rel_error"]
    assert len(d) == 4 + 4 + 5
    band = d[d["variable"] == "band"].set_index("level")
    assert band.loc["0-4h", "population"] == (pop["band"] == "0-4h").sum()
    assert band.loc["0-4h", "n_sample"] == (resp["band"] == "0-4h").sum()
    assert d["rel_error"].abs().max() < TOL
    np.testing.assert_allclose(d["weighted"], d["population"], rtol=1e-9)


# ---- properties -------------------------------------------------------------------

def _random_case(seed, n_pop=3000):
    rng = np.random.default_rng(seed)
    pop = pd.DataFrame({
        "a": rng.choice(["a1", "a2", "a3"], n_pop, p=[0.5, 0.3, 0.2]),
        "b": rng.choice(["b1", "b2", "b3", "b4"], n_pop),
        "c": rng.integers(0, 5, n_pop),
    })
    eta = (pop["a"].map({"a1": 0.0, "a2": 0.6, "a3": -0.7}) + 0.25 * pop["c"]
           + pop["b"].map({"b1": 0.0, "b2": -0.3, "b3": 0.3, "b4": 0.1}))
    resp = pop[rng.random(n_pop) < 1 / (1 + np.exp(-(eta - 0.5)))].reset_index(drop=True)
    return pop, resp


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_margins_met_weights_positive_and_row_order_invariant(seed):
    pop, resp = _random_case(seed)
    margins = ["a", "b", "c"]
    res = rake(resp, pop, margins)
    assert res.converged
    assert np.all(res.weights > 0)
    assert _margin_rel_error(res.weights, resp, pop, margins) < 1e-9
    assert res.weights.sum() == pytest.approx(len(pop), rel=1e-12)
    # shuffle both frames: weights follow their rows
    perm = np.random.default_rng(seed + 1).permutation(len(resp))
    res2 = rake(resp.iloc[perm], pop.sample(frac=1.0, random_state=seed), margins)
    np.testing.assert_allclose(res2.weights, res.weights[perm], rtol=1e-9)


def test_categorical_and_string_columns_give_same_weights():
    pop, resp = _random_case(3)
    res = rake(resp, pop, ["a", "b"])
    pop_c = pop.assign(a=pd.Categorical(pop["a"]), b=pop["b"].astype("string"))
    resp_c = resp.assign(a=pd.Categorical(resp["a"], categories=["a3", "a1", "a2", "zz"]),
                         b=resp["b"].astype("string[pyarrow]"))
    res_c = rake(resp_c, pop_c, ["a", "b"])
    np.testing.assert_allclose(res_c.weights, res.weights, rtol=1e-12)


@pytest.mark.parametrize("cap", [1.6, 1.7, 2.0])
def test_cap_respected_and_margins_still_matched(fixture_data, cap):
    pop, resp, _ = fixture_data
    free = rake(resp, pop, MARGINS)
    mean_w = len(pop) / len(resp)
    assert free.weights.max() > cap * mean_w          # the cap binds
    res = rake(resp, pop, MARGINS, cap=cap, tol=CAP_TOL)
    assert res.converged
    assert res.cap_weight == pytest.approx(cap * mean_w)
    assert res.weights.max() <= cap * res.weights.mean() * (1 + CAP_TOL)
    assert res.weights.max() <= cap * mean_w * (1 + 1e-12)
    assert _margin_rel_error(res.weights, resp, pop, MARGINS) < CAP_TOL
    assert np.all(res.weights > 0)
    assert res.weights.max() < free.weights.max()
    # (trimming need not lower deff: with margins enforced, cap 1.6 here gives a
    # slightly larger deff than no cap, so no such assertion)


def test_infeasible_cap_is_refused(fixture_data):
    pop, resp, _ = fixture_data
    with pytest.raises(ValueError, match=r"cap=1.5 is infeasible: variable 'band', level '>7d'"):
        rake(resp, pop, MARGINS, cap=1.5)
    with pytest.raises(ValueError, match="cap must be > 1"):
        rake(resp, pop, MARGINS, cap=0.9)


def test_empty_sample_cell_is_a_clear_error(fixture_data):
    pop, resp, _ = fixture_data
    no_r4 = resp[resp["region"] != "R4"]
    with pytest.raises(ValueError, match=r"variable 'region', level\(s\) \['R4'\] have population"):
        rake(no_r4, pop, MARGINS)


def test_sample_level_absent_from_population_and_missing_values(fixture_data):
    pop, resp, _ = fixture_data
    bad = resp.copy()
    bad.loc[0, "cause"] = "weather"
    with pytest.raises(ValueError, match=r"sample column 'cause' has level\(s\) \['weather'\]"):
        rake(bad, pop, MARGINS)
    na = resp.copy()
    na.loc[0, "band"] = None
    with pytest.raises(ValueError, match=r"sample column 'band' has 1 missing"):
        rake(na, pop, MARGINS)
    with pytest.raises(ValueError, match=r"has no column\(s\) \['station'\]"):
        rake(resp, pop, ["region", "station"])


def test_non_convergence_is_reported(fixture_data):
    pop, resp, _ = fixture_data
    with pytest.warns(RuntimeWarning, match="did not converge"):
        res = rake(resp, pop, MARGINS, max_iter=1)
    assert not res.converged and res.iterations == 1 and res.max_margin_error > TOL


# ---- weight summary ----------------------------------------------------------------

def test_weight_summary_definitions():
    w = np.array([1.0, 2.0, 3.0, 6.0])
    s = weight_summary(w)
    assert s["n"] == 4 and s["sum"] == 12.0 and s["min"] == 1.0 and s["max"] == 6.0
    assert s["mean"] == 3.0
    assert s["n_eff"] == pytest.approx(144 / 50)                 # (sum w)^2 / sum w^2
    assert s["deff"] == pytest.approx(4 / (144 / 50))
    assert s["cv"] == pytest.approx(np.sqrt(3.5) / 3)             # population sd / mean
    assert s["deff"] == pytest.approx(1 + s["cv"] ** 2)
    eq = weight_summary(np.full(10, 2.5))
    assert eq["deff"] == pytest.approx(1.0) and eq["n_eff"] == pytest.approx(10.0)


# ---- simulated non-response -----------------------------------------------------------

def test_raking_reduces_nonresponse_bias_on_simulated_data():
    from research.simulate import simulate

    sim = simulate(20000, 9)
    truth = sim.truth["population"]["satisfied_rate"]
    wo = sim.workorders.assign(band=handling_band(sim.workorders["handling_hours"]))
    resp = sim.responses.assign(band=handling_band(sim.responses["handling_hours"]))
    assert set(resp["ticket_id"]) <= set(wo["ticket_id"])
    res = rake(resp, wo, ["region", "cause_l2", "band"])
    assert res.converged
    ok = resp["satisfied"].notna().to_numpy()
    y = resp["satisfied"].to_numpy(dtype="float64", na_value=np.nan)[ok]
    w = res.weights[ok]
    unweighted = y.mean()
    raked = float(np.sum(w * y) / np.sum(w))
    assert abs(raked - truth) < abs(unweighted - truth)
    assert abs(raked - truth) < 0.5 * abs(unweighted - truth)
