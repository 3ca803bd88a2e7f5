"""Change point or gradual decline: Davies' test, the breakpoint's profile interval and the slope per
doubling (research.models.changepoint), checked against R and against planted truths per cause group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from research.models.changepoint import davies_test, profile_breakpoint, slope_per_doubling

FIX = "tests/fixtures/r/changepoint"
# Tolerances, named once. R's glm stops IRLS at a relative deviance change of 1e-8, so its
# coefficients (and the LR process built from them) agree with an exact optimum to about 1e-7
# relative; everything derived here inherits that.
RTOL_R = 1e-6
ATOL_R = 1e-8


def _design(d: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X0 = np.column_stack([np.ones(len(d)), d["sub"].eq("b"), d["sub"].eq("c"), d["z"]]).astype(float)
    return X0, d["z"].to_numpy(), d["y"].to_numpy().astype(float)


@pytest.mark.parametrize("kind", ["smooth", "hinge"])
def test_davies_test_and_slope_match_r(kind):
    # Reference: R 4.2.2, segmented 1.6.2 davies.test(glm, ~z, values, type = "lrt") and
    # sandwich 3.0.2 vcovCL(type = "HC1") (tests/fixtures/r/changepoint/make_reference.R).
    data = pd.read_csv(f"{FIX}/data.csv")
    d = data[data["dataset"] == kind]
    ref = pd.read_csv(f"{FIX}/davies_reference.csv").set_index("dataset").loc[kind]
    proc = pd.read_csv(f"{FIX}/davies_process.csv")
    proc = proc[proc["dataset"] == kind]
    X0, z, y = _design(d)
    got = davies_test(X0, z, y, np.linspace(*np.quantile(z, [0.05, 0.95]), 10))
    np.testing.assert_allclose(got["values"], proc["psi"], rtol=RTOL_R, atol=ATOL_R)
    np.testing.assert_allclose(got["process"], proc["stat"], rtol=RTOL_R, atol=ATOL_R)
    np.testing.assert_allclose(got["p_value"], ref["p_value"], rtol=RTOL_R, atol=ATOL_R)
    np.testing.assert_allclose(got["best"], ref["best"], rtol=RTOL_R, atol=ATOL_R)
    s = slope_per_doubling(X0, 3, y, d["station"].to_numpy(), 0.95)
    for col in ("estimate", "std_error", "conf_low", "conf_high"):
        np.testing.assert_allclose(s[col], ref[f"slope_{col}"], rtol=RTOL_R, atol=ATOL_R, err_msg=col)
    assert s["df"] == ref["df"]
    # the smooth truth is not flagged, the hinge is
    assert (got["p_value"] < 0.05) == (kind == "hinge")


def test_profile_interval_holds_the_planted_breakpoint():
    rng = np.random.default_rng(3)
    z = np.log2(1 + np.exp(np.log(24) + 1.1 * rng.normal(size=4000)))
    y = (rng.random(4000) < expit(2.2 - 0.9 * np.clip(z - 5, 0, None))).astype(float)
    X0 = np.column_stack([np.ones_like(z), z])
    fit = profile_breakpoint(X0, z, y, np.linspace(*np.quantile(z, [0.05, 0.95]), 60), 0.95)
    assert fit["conf_low"] <= 5 <= fit["conf_high"]
    assert fit["conf_high"] - fit["conf_low"] < 2.5
    assert fit["slope_change"] < 0
