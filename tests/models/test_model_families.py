"""The dispatch table from model family to estimator (research.models.families.FAMILIES).

docs/howto.md, "How to add a model family", follows this test: a family is its estimator
(a function returning the fit dict), its prediction kernel, plus one entry in FAMILIES; it then
reaches fitting, tidy tables, predictions, marginal effects and the plan run, and a step its
entry does not define (predictions, a survey-weighted fit) is refused with the family's name.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.config.instrument import load_instrument
from research.config.plan import load_plan
from research.errors import InputError, NotEstimable
from research.models import families as FAM
from research.models import fit as F
from research.models.predict import marginal_effects, predictions
from research.models.run import fit_plan
from research.models.scales import identity_scale
from research.models.weighted import fit_weighted_model, weighted_families


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


#: the toy family's entry: its estimator, and predictions on the probability scale (identity link)
TOY = F.Family(_linear_probability, scales=("p_satisfied",), predict=identity_scale("p_satisfied"))


def _toy_spec(plan):
    logit = next(m for m in plan.models if m.name == "logit")
    return dataclasses.replace(logit, name="toy_lpm", family="toy", se="model", cluster=None)


def test_every_plan_family_has_an_estimator():
    assert set(F.FAMILIES) == {"linear", "logit", "ordinal", "mixed"}
    assert F.FAMILIES is FAM.FAMILIES  # the old name is the same table
    assert [f for f, fam in F.FAMILIES.items() if not fam.intercept] == ["ordinal"]
    assert all(fam.predict is not None and fam.scales for fam in F.FAMILIES.values())
    assert weighted_families() == ("logit", "ordinal")
    assert [f for f, fam in F.FAMILIES.items() if fam.link == "logit"] == ["logit", "ordinal"]
    assert {f: [s.label for s in fam.steps] for f, fam in F.FAMILIES.items()} == {
        "linear": [], "logit": ["sub-cause ranks"], "ordinal": ["Brant test"], "mixed": ["station effects"]}


def test_no_module_branches_on_a_family_name():
    """The places that used to ask ``family == "..."`` look the entry up instead."""
    pattern = re.compile(r"""family\s*(==|!=|in|not in)\s*[("']""")
    hits = [f"{p}:{i}" for d in ("models", "stats", "representativeness")
            for p in sorted(Path("research", d).glob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert hits == []


def test_a_registered_toy_family_is_fitted_through_the_table(monkeypatch):
    plan, ins = load_plan(), load_instrument()
    monkeypatch.setitem(F.FAMILIES, "toy", F.Family(_linear_probability))
    spec = _toy_spec(plan)
    fm = F.fit_model(spec, _data(), plan=plan, instrument=ins)
    assert fm.se_method.startswith("toy: least squares") and fm.names[0] == "(Intercept)"
    # least squares of a 0/1 outcome: the fitted mean equals the observed rate
    X = fm.design.X
    assert np.isclose((X @ fm.params).mean(), fm.y.mean())
    est = F.tidy_estimates(fm)
    assert len(est) == X.shape[1] and np.isfinite(est["std_error"]).all()
    assert est["odds_ratio"].isna().all()  # identity link: no odds ratios
    # the logit family, fitted through the same table, differs (it is the logit)
    logit = next(m for m in plan.models if m.name == "logit")
    assert not np.allclose(F.fit_model(dataclasses.replace(logit, se="model", cluster=None), _data(), plan=plan,
                                       instrument=ins).params, fm.params)


def test_a_toy_family_reaches_predictions_and_marginal_effects(monkeypatch):
    plan, ins = load_plan(), load_instrument()
    monkeypatch.setitem(F.FAMILIES, "toy", TOY)
    fm = F.fit_model(_toy_spec(plan), _data(), plan=plan, instrument=ins)
    pred = predictions(fm, parent=ins.parent, grid_hours=np.array([1.0, 24.0]), threshold=ins.satisfied_threshold)
    assert set(pred["scale"]) == {"p_satisfied"} and set(pred["model"]) == {"toy_lpm"}
    # identity link: every ticket given sub-cause s, averaged = the mean of the counterfactual rows' x'b
    s = pred.loc[pred["quantity"] == "aap_subcause", "cause_l2"].iloc[0]
    assert "cause_l1" not in fm.frame.columns  # the logit's rhs: sub-cause only
    frame = fm.frame.assign(cause_l2=pd.Categorical([s] * len(fm.frame), categories=fm.frame["cause_l2"].cat.categories))
    Xs = np.asarray(fm.design.spec.get_model_matrix(frame, context=fm.design.context), dtype=float)
    row = pred[(pred["quantity"] == "aap_subcause") & (pred["cause_l2"] == s)].iloc[0]
    assert np.isclose(row["estimate"], (Xs @ fm.params).mean(), rtol=1e-12)
    assert np.isclose(row["std_error"], np.sqrt(Xs.mean(0) @ fm.vcov @ Xs.mean(0)), rtol=1e-10)
    assert row["df"] == fm.df_resid  # the model's own t reference
    me = marginal_effects(fm, parent=ins.parent, multiplier=2.0, threshold=ins.satisfied_threshold)
    assert len(me) == len(pred.loc[pred["quantity"] == "aap_cause"]) and np.isfinite(me["std_error"]).all()


def test_a_toy_family_runs_through_the_plan_with_its_own_step(monkeypatch):
    plan, ins = load_plan(), load_instrument()

    def residual_summary(fm, plan, instrument):
        resid = fm.y - fm.design.X @ fm.beta
        return {"toy_residuals": pd.DataFrame({"model": [fm.spec.name], "mean_square": [resid @ resid / len(resid)]})}, \
            [{"step": f"toy {fm.spec.name}", "note": "residuals summarised"}]

    toy = dataclasses.replace(TOY, steps=(FAM.Step("residual summary", residual_summary),))
    monkeypatch.setitem(F.FAMILIES, "toy", toy)
    said = []
    out = fit_plan(_data(), plan=dataclasses.replace(plan, models=(_toy_spec(plan),)), instrument=ins,
                   thresholds=False, progress=said.append)
    assert list(out["model_fit"]["family"]) == ["toy"] and set(out["predictions"]["model"]) == {"toy_lpm"}
    assert len(out["marginal_effects"]) and out["brant"].empty and out["subcause_ranks"].empty
    assert list(out["toy_residuals"]["model"]) == ["toy_lpm"]
    assert "residuals summarised" in set(out["notes"]["note"])
    assert any("residual summary in" in m for m in said)


def test_steps_a_family_does_not_define_are_refused_by_name(monkeypatch):
    plan, ins = load_plan(), load_instrument()
    monkeypatch.setitem(F.FAMILIES, "toy", F.Family(_linear_probability))  # no predictions, no weighted fit
    spec = _toy_spec(plan)
    fm = F.fit_model(spec, _data(), plan=plan, instrument=ins)
    with pytest.raises(NotEstimable, match="model toy_lpm: predictions are not defined for the toy family"):
        predictions(fm, parent=ins.parent, grid_hours=np.array([1.0]), threshold=ins.satisfied_threshold)
    with pytest.raises(InputError, match=r"survey-weighted fits exist for \['logit', 'ordinal'\], not toy"):
        fit_weighted_model(spec, _data(), np.ones(len(_data())), cluster="station", plan=plan, instrument=ins)
    # the plan run fits it, and says why it has no predictions
    out = fit_plan(_data(), plan=dataclasses.replace(plan, models=(spec,)), instrument=ins, thresholds=False)
    assert list(out["model_fit"]["model"]) == ["toy_lpm"] and out["predictions"].empty
    assert "not computed: the toy family defines no predictions" in set(out["notes"]["note"])


def test_a_family_without_an_entry_is_named():
    plan, ins = load_plan(), load_instrument()
    spec = dataclasses.replace(_toy_spec(plan), family="probit")
    with pytest.raises(NotEstimable, match="model toy_lpm: the model family 'probit' has no entry"):
        F.fit_model(spec, _data(), plan=plan, instrument=ins)


def test_a_model_added_to_a_copy_of_the_plan_appears_in_estimates_csv(sample_build, tmp_path):
    """docs/howto.md, "How to add a model": one more entry under ``models:`` of a plan file is fitted
    by ``research fit --plan`` and its coefficients are rows of ``estimates.csv``."""
    from research import paths
    from research.cli import main

    text = (paths.project_root() / "paper" / "analysis_plan.yaml").read_text(encoding="utf-8")
    added = ('models:\n  - name: logit_channel\n    family: logit\n    outcome: satisfied\n'
             '    rhs: channel + log2(1 + handling_hours)\n    se: cluster\n    cluster: station\n'
             '    zh: 渠道Logit模型\n    en: "Logit of satisfied on channel"\n')
    assert text.count("\nmodels:\n") == 1
    plan = tmp_path / "plan.yaml"
    plan.write_text(text.replace("\nmodels:\n", "\n" + added, 1), encoding="utf-8")
    out = tmp_path / "fit"
    code = main(["fit", "--plan", str(plan), "--data", str(sample_build[0] / "ingest" / "responses.parquet"),
                 "--out", str(out), "--no-thresholds"])
    assert code == 0
    est = pd.read_csv(out / "estimates.csv")
    mine = est[est["model"] == "logit_channel"]
    assert len(mine) >= 3 and mine["term"].astype(str).str.startswith("channel[").any()
    assert {"ols", "ordinal", "logit"} <= set(est["model"])  # the plan's own models are still there
    notes = pd.read_csv(out / "notes.csv")
    said = notes.loc[notes["step"] == "predictions logit_channel", "note"]
    assert len(said) == 1 and "no cause_l2 term" in said.iloc[0]  # skipped with a reason, not a traceback
