"""Multiplicities (``count``) in the weight stage's row-level functions: a frame of groups with
their counts gives what the expanded rows (``np.repeat``) give, to rounding. The groups are what an
engine's ``GROUP BY`` returns at scale (research.representativeness.at_scale).

The frame has a cluster of one respondent, a domain whose outcome is never observed (an empty
domain: NaN estimate, n = 0) and missing outcomes elsewhere.
"""

import numpy as np
import pandas as pd
import pytest

from research.representativeness.nonresponse import response_rates
from research.stats.design_based import Calibration, svy_by
from research.stats.weights import margin_diagnostics, poststratify, rake, weight_summary


def _groups(seed=11):
    rng = np.random.default_rng(seed)
    n = 60
    g = pd.DataFrame({
        "cluster": rng.choice([f"c{i}" for i in range(5)], n),
        "a": rng.choice(["x", "y", "z"], n),
        "b": rng.choice(["p", "q"], n),
        "d": rng.choice(["D1", "D2", "D3"], n),
        "y": rng.integers(1, 6, n).astype(float),
        "n": rng.integers(1, 7, n),
    })
    g.loc[g["d"] == "D3", "y"] = np.nan  # an empty domain
    g.loc[::7, "y"] = np.nan
    g.loc[0, ["cluster", "n"]] = ["small", 1]  # a cluster of one respondent
    return g


def _population(seed=12):
    rng = np.random.default_rng(seed)
    p = pd.DataFrame({"a": np.repeat(["x", "y", "z"], 4), "b": np.tile(["p", "q"], 6),
                      "survey_status": np.tile(["completed", "completed", "no_answer", "refused"], 3),
                      "n": rng.integers(20, 90, 12)})
    return p


def _expand(frame):
    return frame.loc[frame.index.repeat(frame["n"])].reset_index(drop=True)


@pytest.mark.parametrize("cap", [None, 1.05])
def test_rake_with_counts_equals_the_expanded_rows(cap):
    g, p = _groups(), _population()
    got = rake(g, p, ["a", "b"], cap=cap, tol=1e-12, count=g["n"], population_count=p["n"])
    ref = rake(_expand(g), _expand(p), ["a", "b"], cap=cap, tol=1e-12)
    assert got.iterations == ref.iterations and got.converged and ref.converged
    np.testing.assert_allclose(np.repeat(got.weights, g["n"]), ref.weights, rtol=1e-12)
    if cap is not None:
        assert ref.weights.max() == pytest.approx(got.cap_weight)  # the cap binds
    pd.testing.assert_frame_equal(got.diagnostics(), ref.diagnostics(), rtol=1e-12, atol=1e-9)


def test_poststratify_and_the_summaries_with_counts_equal_the_expanded_rows():
    g, p = _groups(), _population()
    got = poststratify(g, p, ["a", "b"], count=g["n"], population_count=p["n"])
    ref = poststratify(_expand(g), _expand(p), ["a", "b"])
    w = np.repeat(got.weights, g["n"])
    np.testing.assert_allclose(w, ref.weights, rtol=1e-12)
    s, r = weight_summary(got.weights, g["n"]), weight_summary(ref.weights)
    assert s["n"] == r["n"] == int(g["n"].sum())
    assert s == pytest.approx(r, rel=1e-12)
    pd.testing.assert_frame_equal(margin_diagnostics(g, got.weights, ["a", "d"], count=g["n"]),
                                  margin_diagnostics(_expand(g), ref.weights, ["a", "d"]), rtol=1e-12)


@pytest.mark.parametrize("calibrated", [None, "rake", "poststratify"])
def test_svy_by_with_counts_equals_the_expanded_rows(calibrated):
    g, p = _groups(), _population()
    res = rake(g, p, ["a", "b"], tol=1e-12, count=g["n"], population_count=p["n"])
    g = g.assign(w=res.weights)
    e = _expand(g)
    cal_g = cal_e = None
    if calibrated:
        raking = calibrated == "rake"
        cal_g = Calibration.from_frame(g, ["a", "b"], g["w"], "cluster", raking=raking, count=g["n"])
        cal_e = Calibration.from_frame(e, ["a", "b"], e["w"], "cluster", raking=raking)
    got = svy_by(g, y="y", by="d", weights="w", cluster="cluster", calibration=cal_g, count="n")
    ref = svy_by(e, y="y", by="d", weights="w", cluster="cluster", calibration=cal_e)
    pd.testing.assert_frame_equal(got, ref, rtol=1e-10, atol=1e-14)
    assert got["n"].iloc[2] == 0 and np.isnan(got["estimate"].iloc[2])  # D3: an empty domain
    assert (got["n"] + got["n_missing"]).sum() == g["n"].sum()


def test_calibration_residuals_of_group_totals_are_the_rows_summed():
    g, p = _groups(), _population()
    res = rake(g, p, ["a", "b"], tol=1e-12, count=g["n"], population_count=p["n"])
    g = g.assign(w=res.weights, z=np.random.default_rng(2).normal(size=len(g)))
    e = _expand(g)
    got = Calibration.from_frame(g, ["a", "b"], g["w"], "cluster", count=g["n"]).residuals(g["z"] * g["n"])
    ref = Calibration.from_frame(e, ["a", "b"], e["w"], "cluster").residuals(e["z"].to_numpy())
    totals = np.bincount(np.repeat(np.arange(len(g)), g["n"]), weights=ref[:, 0])
    np.testing.assert_allclose(got[:, 0], totals, rtol=1e-10, atol=1e-12)


def test_response_rates_with_counts_equal_the_expanded_rows():
    p = _population()
    got = response_rates(p, ["a", "b"], count=p["n"].to_numpy())
    ref = response_rates(_expand(p), ["a", "b"])
    pd.testing.assert_frame_equal(got, ref, rtol=1e-13)
    assert got["work_orders"].iloc[0] == p["n"].sum()


def test_counts_must_be_positive_whole_numbers():
    g, p = _groups(), _population()
    with pytest.raises(ValueError, match="positive whole numbers"):
        rake(g, p, ["a"], count=g["n"] - 0.5, population_count=p["n"])
