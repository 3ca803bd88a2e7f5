"""Lever mediation (natural direct / indirect effects through resolution) against R.

Reference: R 4.2.x base glm, hand-written g-formula (mediation/CMAverse not available in
Debian). ``tests/fixtures/r/mediation/make_reference.R`` (R 4.2.2, ``stats::glm`` with
``epsilon = 1e-14``, ``sandwich`` 3.0-2 for a cross-check, ``numDeriv`` 2016.8-1.1), on
``data.csv`` (3,000 SYNTHETIC tickets, 2,862 complete cases, 30 stations; written by
``make_data.py``) with the six levers of ``levers.csv`` (the plan's: four ``within_sla``,
two ``scale_hours``), unweighted and with the survey weight ``w``. See the README there.

R fits ``glm(M ~ RHS, binomial)`` and ``glm(Y ~ RHS + M, binomial)`` with
``M = resolved == "yes"`` and ``RHS`` the plan's lever model, and computes
``E[Y(a1, M(a2))] = sum_i wn_i [Q_i(a1, 1) m_i(a2) + Q_i(a1, 0) (1 - m_i(a2))]`` through
``predict()``, then total, natural direct, natural indirect effect and the share mediated
(NA when the total effect's interval includes 0).

Standard errors: lever_mediation uses the delta method (analytic gradient, stacked CR1
covariance of both logits by station), so R computes the same estimand independently: a
*numerical* gradient (``numDeriv::jacobian``, Richardson) times the stacked CR1 covariance
written out by hand, whose diagonal blocks R checks against ``sandwich::vcovCL(type =
"HC1")`` (to 1e-11 relative, after the stacked (n - 1) / (n - k) factor, k = 58 + 59).

Tolerances: point estimates and standard errors 1e-6 relative (measured: estimates 3e-12,
standard errors 5e-9); interval limits 1e-6 of R's standard error (absolute: a limit near 0
has no useful relative error).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from research.strategy.causal import lever_mediation
from research.config.instrument import load_instrument
from research.config.plan import Lever, load_plan

R_DIR = Path(__file__).parents[1] / "fixtures" / "r" / "mediation"
#: the lever model the R reference was computed with (make_reference.R, RHS)
R_RHS = "cause_l2 + cause_l1:log2(1 + handling_hours) + channel + station + month"
REL_TOL = 1e-6
EFFECTS = ["total", "direct", "indirect", "share_mediated"]


def _read(name: str) -> pd.DataFrame:
    # dtype str: pandas would otherwise turn the "true"/"false" cells into booleans itself
    return pd.read_csv(R_DIR / name, keep_default_na=False, na_values=[""],
                       dtype={"satisfied": str, "weighted": str, "cause_l1": str, "cause_l2": str,
                              "factor": str}, encoding="utf-8")


def _responses() -> pd.DataFrame:
    d = _read("data.csv")
    assert set(d["satisfied"]) == {"true", "false"}
    d["satisfied"] = d["satisfied"] == "true"
    d["created_at"] = pd.to_datetime(d["created_at"])
    d["sla_deadline"] = pd.to_datetime(d["sla_deadline"])  # empty -> NaT: within_sla leaves the ticket
    return d


def _levers() -> tuple[Lever, ...]:
    return tuple(Lever(name=r["name"], kind=r["kind"], cause_l1=r["cause_l1"] or None,
                       cause_l2=r["cause_l2"] or None, factor=float(r["factor"]) if r["factor"] else None,
                       variable=None, value=None, zh=r["name"], en=r["name"])
                 for r in _read("levers.csv").fillna("").to_dict("records"))


@pytest.fixture(scope="module")
def compared() -> dict[str, pd.DataFrame]:
    plan, instrument = load_plan(), load_instrument()
    assert plan.model(plan.scenarios.model).rhs == R_RHS, (
        "the plan's lever model changed: regenerate tests/fixtures/r/mediation (make_reference.R RHS)")
    data, levers = _responses(), _levers()
    ref = _read("reference.csv")
    out = {}
    # one BLAS thread: on a loaded 2-core machine OpenBLAS threads made one call take 3-6 s
    # instead of 0.4-0.7 s (numbers unchanged)
    with threadpool_limits(1):
        for flag, w in (("false", None), ("true", data["w"].to_numpy(dtype=float))):
            got = lever_mediation(data, levers, plan=plan, instrument=instrument, threshold=4, weights=w)
            r = ref[ref["weighted"] == flag].drop(columns="weighted")
            assert len(got) == len(r) == len(levers) * len(EFFECTS)
            out[flag] = got.merge(r, on=["lever", "effect"], how="outer", suffixes=("", "_r"),
                                  validate="one_to_one", indicator=True)
    return out


@pytest.mark.parametrize("weighted", ["false", "true"])
def test_same_rows_and_complete_cases(compared, weighted):
    m = compared[weighted]
    assert (m["_merge"] == "both").all()
    assert (m["n"] == m["n_r"]).all() and (m["n"] == 2862).all()
    assert np.allclose(m["conf_level"], m["conf_level_r"], rtol=0, atol=1e-15)


@pytest.mark.parametrize("weighted", ["false", "true"])
def test_point_estimates_equal_r(compared, weighted):
    m = compared[weighted]
    # the share is undefined exactly where R says so (capability_within_sla: total's interval has 0)
    assert (m["estimate"].isna() == m["estimate_r"].isna()).all()
    assert m["estimate"].isna().sum() == 1
    ok = m["estimate_r"].notna()
    np.testing.assert_allclose(m.loc[ok, "estimate"], m.loc[ok, "estimate_r"], rtol=REL_TOL, atol=0,
                               err_msg=str(m.loc[ok, ["lever", "effect"]].to_numpy().tolist()))


@pytest.mark.parametrize("weighted", ["false", "true"])
def test_delta_method_standard_errors_and_intervals_equal_r(compared, weighted):
    m = compared[weighted]
    for c in ("std_error", "conf_low", "conf_high"):
        assert (m[c].isna() == m[c + "_r"].isna()).all(), c
    ok = m["std_error_r"].notna()
    np.testing.assert_allclose(m.loc[ok, "std_error"], m.loc[ok, "std_error_r"], rtol=REL_TOL, atol=0)
    for c in ("conf_low", "conf_high"):
        diff = (m.loc[ok, c] - m.loc[ok, c + "_r"]).abs()
        assert (diff <= REL_TOL * m.loc[ok, "std_error_r"]).all(), (c, diff.max())


def test_weights_matter_in_the_fixture(compared):
    """The weighted comparison is not the unweighted one again."""
    a = compared["false"].set_index(["lever", "effect"])["estimate_r"]
    b = compared["true"].set_index(["lever", "effect"])["estimate_r"]
    assert (a - b).abs().max() > 1e-3
