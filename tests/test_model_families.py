"""The dispatch table from model family to estimator (research.models.fit.FAMILIES).

docs/architecture.md, "How to add a model family", follows this test: a family is its estimator
(a function returning the fit dict) plus one entry in FAMILIES.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from research.config.instrument import load_instrument
from research.config.plan import load_plan
from research.models import fit as F


def _data() -> pd.DataFrame:
    df = pd.read_csv("tests/fixtures/r/models_data.csv")
    df["repeat"] = df["repeat"].astype(bool)
    df["satisfied"] = df["satisfied"].astype(bool)
    return df


def _linear_probability(spec, design, frame, instrument) -> dict:
    """A toy family: least squares of the 0/1 outcome with classical standard errors."""
    y = frame[spec.outcome].to_numpy(dtype=float)
    X = design.X
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    n, k = X.shape
    sigma2 = resid @ resid / (n - k)
    return dict(y=y, params=beta, vcov=sigma2 * np.linalg.inv(X.T @ X), n_beta=k, df_resid=float(n - k),
                stats={"nobs": n, "loglik": np.nan, "df": k}, se_method="toy: least squares", cut_names=[])


def test_every_plan_family_has_an_estimator():
    assert set(F.FAMILIES) == {"linear", "logit", "ordinal", "mixed"}
    assert [f for f, fam in F.FAMILIES.items() if not fam.intercept] == ["ordinal"]


def test_a_registered_toy_family_is_fitted_through_the_table(monkeypatch):
    plan, ins = load_plan(), load_instrument()
    logit = next(m for m in plan.models if m.name == "logit")
    monkeypatch.setitem(F.FAMILIES, "toy", F.Family(_linear_probability))
    spec = dataclasses.replace(logit, name="toy_lpm", family="toy", se="model", cluster=None)
    fm = F.fit_model(spec, _data(), plan=plan, instrument=ins)
    assert fm.se_method.startswith("toy: least squares") and fm.names[0] == "(Intercept)"
    # least squares of a 0/1 outcome: the fitted mean equals the observed rate
    X = fm.design.X
    assert np.isclose((X @ fm.params).mean(), fm.y.mean())
    est = F.tidy_estimates(fm)
    assert len(est) == X.shape[1] and np.isfinite(est["std_error"]).all()
    # the logit family, fitted through the same table, differs (it is the logit)
    assert not np.allclose(F.fit_model(dataclasses.replace(logit, se="model", cluster=None), _data(), plan=plan,
                                       instrument=ins).params, fm.params)
