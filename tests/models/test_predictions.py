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

from research.config.instrument import load_instrument
from research.models.fit import fit_model
from research.models.predict import marginal_effects, predictions
from research.config.plan import load_plan

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


@pytest.mark.parametrize("stack_rows", [1_000_000, 50])
def test_batched_counterfactual_columns_equal_one_formulaic_call_each(monkeypatch, stack_rows):
    """predictions builds every counterfactual design of a set in a few stacked formulaic calls
    (research.models.counterfactual._new_columns_many); the columns must be the very numbers that one
    call per counterfactual on its own frame gives (bit for bit), for terms that are the same on
    every row (one-row template), terms that vary by row, requests sharing columns, and when the
    stacked frames are cut into chunks (stack_rows 50)."""
    from research.models import counterfactual
    from research.models import predict as P

    monkeypatch.setattr(counterfactual, "_STACK_ROWS", stack_rows)  # where _new_columns_many reads it
    plan, ins = load_plan(), load_instrument()
    df = pd.read_csv("tests/fixtures/r/models_data.csv")
    df["repeat"] = df["repeat"].astype(bool)
    fm = fit_model(plan.model("speed_by_cause"), df, plan=plan, instrument=ins)  # cause_l1:log2(1 + hours)
    design = fm.design
    everyone = P._rows(fm, np.arange(len(fm.frame)))
    groups = {g: P._rows(fm, rows) for g, rows in P._group_rows(fm, ins.parent).items()}
    hours = fm.frame["handling_hours"].to_numpy()
    subs = list(fm.frame["cause_l2"].cat.categories)
    requests = ([(everyone, {"cause_l2": s, "cause_l1": ins.parent[s]}) for s in subs]
                + [(base, {"handling_hours": h}) for base in groups.values() for h in (0.5, 7.25, 720.0)]
                + [(base, {"handling_hours": hours[base.rows] * 2}) for base in groups.values()]
                + [(everyone, {"handling_hours": 3.0}), (everyone, {}),
                   (everyone, {"channel": fm.frame["channel"].cat.categories[-1]})])
    batched = P._new_columns_many(fm, requests)
    assert len(batched) == len(requests)
    kinds = set()
    for (base, changes), got in zip(requests, batched):
        # the one-call-per-request construction predictions used before the batching
        terms = design.columns_using(set(changes))
        fixed = {v for v, value in changes.items() if np.ndim(value) == 0} | (base.constant - set(changes))
        same = [t for t in terms if design.variables_of_term[t] <= fixed]
        varying = [t for t in terms if t not in same]
        want = [np.array([], dtype=int), np.empty(0), np.array([], dtype=int), np.empty((len(base.rows), 0))]
        if same:
            frame = P._changed_frame(fm, base.rows[:1], changes)
            want[0] = np.concatenate([design.columns_of_term[t] for t in same]).astype(np.intp)
            want[1] = np.asarray(design.spec.subset(same).get_model_matrix(frame, context=design.context),
                                 dtype=float)[0]
            kinds.add("same")
        if varying:
            frame = P._changed_frame(fm, base.rows, changes)
            want[2] = np.concatenate([design.columns_of_term[t] for t in varying]).astype(np.intp)
            want[3] = np.asarray(design.spec.subset(varying).get_model_matrix(frame, context=design.context),
                                 dtype=float)
            kinds.add("varying")
        for a, b in zip(got, want):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        # and the average predictions from them are the same numbers too
        one = P._evaluate(fm, base, changes, 4, columns=tuple(want))
        two = P._evaluate(fm, base, changes, 4, columns=got)
        for scale in one:
            assert one[scale][0] == two[scale][0]
            np.testing.assert_array_equal(one[scale][1], two[scale][1])
    assert kinds == {"same", "varying"}
