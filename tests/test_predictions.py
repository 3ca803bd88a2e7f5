"""Average adjusted predictions, marginal effects and grids against R.

Reference: tests/fixtures/r/predictions/reference_predictions.csv, made by
tests/fixtures/r/predictions/make_reference.R (R 4.2.2; predict() on
counterfactual copies of the data, numerical Jacobian by numDeriv, V from
sandwich::vcovCL HC1 for lm/glm and vcov() for ordinal::clm) on
tests/fixtures/r/models_data.csv. The Python side uses analytic gradients, so
the two are independent.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from research.instrument import load_instrument
from research.models.fit import fit_model
from research.models.predict import marginal_effects, predictions
from research.plan import load_plan

REF = "tests/fixtures/r/predictions/reference_predictions.csv"
TOL_EST = 1e-6  # absolute: predictions are O(1); R and Python differ only by optimiser tolerance
TOL_SE = 1e-4   # relative: R's Jacobian is numerical (central differences)
MODELS = ["ols", "logit", "ordinal", "speed_by_cause"]


@pytest.fixture(scope="module")
def results():
    plan, ins = load_plan(), load_instrument()
    df = pd.read_csv("tests/fixtures/r/models_data.csv")
    df["repeat"] = df["repeat"].astype(bool)
    df["satisfied"] = df["satisfied"].astype(bool)
    grid = np.exp(np.linspace(np.log(0.5), np.log(720), 25))  # as the R script
    out = {}
    for name in MODELS:
        spec = plan.model(name)
        if spec.family == "ordinal":  # the reference used clm's vcov(); the clustered plan fit is in test_inference
            spec = dataclasses.replace(spec, se="model", cluster=None)
        fm = fit_model(spec, df, plan=plan, instrument=ins)
        p = predictions(fm, parent=ins.parent, grid_hours=grid, threshold=4)
        m = marginal_effects(fm, parent=ins.parent, multiplier=2, threshold=4)
        m = m.assign(quantity="ame_doubling", cause_l2=None, hours=np.nan)
        out[name] = pd.concat([p, m], ignore_index=True)
    return out


def _key(frame: pd.DataFrame) -> pd.Series:
    hours = frame["hours"].map(lambda h: "" if pd.isna(h) else f"{h:.6g}")
    return (frame["scale"] + "|" + frame["quantity"] + "|" + frame["cause_l1"].fillna("") + "|"
            + frame["cause_l2"].fillna("") + "|" + hours)


@pytest.mark.parametrize("model", MODELS)
def test_every_quantity_matches_r(results, model):
    ref = pd.read_csv(REF)
    ref = ref[ref["model"] == model]
    got = results[model]
    merged = ref.assign(key=_key(ref)).merge(got.assign(key=_key(got)), on="key", suffixes=("_r", ""))
    assert len(merged) == len(ref), f"{model}: {len(ref) - len(merged)} R quantities not produced"
    err = (merged["estimate"] - merged["estimate_r"]).abs()
    assert err.max() < TOL_EST, f"{model}: estimate off by {err.max():.2e} at {merged.loc[err.idxmax(), 'key']}"
    rel = (merged["std_error"] / merged["std_error_r"] - 1).abs()
    assert rel.max() < TOL_SE, f"{model}: std_error off by {rel.max():.2e} at {merged.loc[rel.idxmax(), 'key']}"


def test_intervals_and_shapes(results):
    for frame in results.values():
        assert (frame["conf_low"] <= frame["estimate"]).all() and (frame["estimate"] <= frame["conf_high"]).all()
        p = frame[frame["scale"] == "p_satisfied"]
        assert p.loc[p["quantity"] != "ame_doubling", "estimate"].between(0, 1).all()
        grid = frame[frame["quantity"] == "grid"].sort_values("hours")
        # negative slopes in the fixture data: every grid curve falls with handling time
        assert (grid.groupby(["scale", "cause_l1"])["estimate"].apply(lambda s: s.diff().dropna().lt(0).all())).all()
