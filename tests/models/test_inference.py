"""Consistent inference across the plan's models (issue 11, point 5).

References: tests/fixtures/r/inference/estimates.csv, made by
tests/fixtures/r/inference/make_reference.R on tests/fixtures/r/models_data.csv
(R 4.2.2; sandwich 3.0-2 ``vcovCL(type = "HC1")`` with t(G - 1), cross-checked in
the script against clubSandwich 0.5.8 ``coef_test(vcov = "CR1S", test = "naive-t")``;
clubSandwich ``coef_test``/``conf_int`` with ``vcov = "CR2"``, ``test =
"Satterthwaite"``; ``p.adjust(, "holm")`` and ``p.adjust(, "BH")`` over the 16
sub-cause contrasts). Versions in session_info.txt.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from research.errors import InputError
from research.config.instrument import load_instrument
from research.models.fit import adjust_pvalues, fit_model, tidy_estimates, tidy_fit
from research.models.predict import marginal_effects, predictions
from research.config.plan import load_plan

REF = "tests/fixtures/r/inference/estimates.csv"
# Tolerances, named once: R and the package solve the same equations in double precision; the
# estimates differ only by optimiser tolerance (clm gradTol 1e-10, glm epsilon 1e-14).
TOL = {"estimate": 1e-8,      # absolute
       "std_error": 1e-8,     # relative
       "statistic": 1e-7,     # relative
       "df": 1e-9,            # relative (Satterthwaite df are O(10))
       "p_value": 1e-6,       # relative (p-values down to 1e-30 amplify the statistic's error)
       "conf_low": 1e-8,      # absolute
       "conf_high": 1e-8,     # absolute
       "p_holm": 1e-6,        # relative
       "p_fdr": 1e-6}         # relative
RELATIVE = {"std_error", "statistic", "df", "p_value", "p_holm", "p_fdr"}
CASES = [("ols", "CR1"), ("ols", "CR2"), ("logit", "CR1"), ("ordinal", "CR1"), ("speed_by_cause", "CR1")]


def r_term(name: str) -> str:
    name = re.sub(r"(^|:)lh$", r"\1log2(1 + handling_hours)", name)
    name = re.sub(r"^cause_l2(\w+)", r"cause_l2[\1]", name)
    name = re.sub(r"^cause_l1(\w+):", r"cause_l1[\1]:", name)
    name = re.sub(r"^channel(\w+)", r"channel[\1]", name)
    return "repeat" if name == "repeatTRUE" else name


@pytest.fixture(scope="module")
def data():
    df = pd.read_csv("tests/fixtures/r/models_data.csv")
    df["repeat"] = df["repeat"].astype(bool)
    df["satisfied"] = df["satisfied"].astype(bool)
    return df


@pytest.fixture(scope="module")
def fits(data):
    plan, ins = load_plan(), load_instrument()
    out = {}
    for model, se in CASES:
        spec = dataclasses.replace(plan.model(model), se="cr2" if se == "CR2" else "cluster", cluster="station")
        out[model, se] = fit_model(spec, data, plan=plan, instrument=ins)
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_clustered_inference_matches_r(fits, case):
    ref = pd.read_csv(REF)
    ref = ref[(ref["model"] == case[0]) & (ref["se_type"] == case[1])].assign(term=lambda f: f["term"].map(r_term))
    got = tidy_estimates(fits[case])
    merged = ref.merge(got, on="term", suffixes=("_r", ""), validate="one_to_one")
    assert len(merged) == len(ref) == len(got), f"{case}: terms differ from R"
    assert ref["p_holm"].notna().sum() == 16, "the family is the 16 sub-cause contrasts"
    for col, tol in TOL.items():
        a, b = merged[col].to_numpy(float), merged[f"{col}_r"].to_numpy(float)
        assert (np.isnan(a) == np.isnan(b)).all(), f"{case} {col}: blank in one and not the other"
        ok = ~np.isnan(b)
        err = np.abs(a[ok] / b[ok] - 1) if col in RELATIVE else np.abs(a[ok] - b[ok])
        assert err.max() < tol, f"{case} {col}: off by {err.max():.2e} at {merged.loc[ok, 'term'].iloc[err.argmax()]}"


def test_every_plan_model_but_the_mixed_one_clusters_by_station():
    plan = load_plan()
    for m in plan.models:
        if m.family == "mixed":
            assert m.group == "station"
        else:
            assert (m.se, m.cluster) == ("cluster", "station"), f"{m.name} is not clustered by station"


def test_cr2_is_refused_where_r_has_no_matching_reference(tmp_path):
    text = open("paper/analysis_plan.yaml", encoding="utf-8").read()
    bad = text.replace("    family: logit\n    outcome: satisfied\n    rhs: cause_l2 + log2(1 + handling_hours) "
                       "+ channel + repeat\n    se: cluster", "    family: logit\n    outcome: satisfied\n    rhs: "
                       "cause_l2 + log2(1 + handling_hours) + channel + repeat\n    se: cr2", 1)
    assert bad != text
    (tmp_path / "plan.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(InputError, match=r"models\[2\]\.se.*cr2.*linear"):
        load_plan(tmp_path / "plan.yaml")


def test_predictions_and_marginal_effects_use_the_coefficients_df(fits):
    ins = load_instrument()
    for case in (("ols", "CR1"), ("logit", "CR1"), ("ordinal", "CR1"), ("ols", "CR2")):
        fm = fits[case]
        pr = predictions(fm, parent=ins.parent, grid_hours=np.array([1.0, 24.0]), threshold=4)
        me = marginal_effects(fm, parent=ins.parent, multiplier=2, threshold=4)
        for frame in (pr, me):
            df = frame["df"].to_numpy()
            if case[1] == "CR1":
                assert (df == 29).all(), f"{case}: predictions must use t(G - 1 = 29)"
            else:  # CR2: each contrast's own Satterthwaite df, below G - 1 (few effective clusters)
                assert np.isfinite(df).all() and (df > 1).all() and (df < 29).all()
            q = stats.t.ppf(0.975, df)
            np.testing.assert_allclose(frame["conf_high"] - frame["estimate"], q * frame["std_error"], rtol=1e-12)
        p = 2 * stats.t.sf(np.abs(me["statistic"]), me["df"])
        np.testing.assert_allclose(me["p_value"], p, rtol=1e-12)
        assert tidy_fit(fm)["n_clusters"].iloc[0] == 30


def test_cr2_df_of_a_unit_contrast_equals_the_coefficient_df(fits):
    fm = fits["ols", "CR2"]
    est = tidy_estimates(fm)
    cr2 = fm.extra["cr2"]
    for j in (0, 5, len(fm.params) - 1):
        assert cr2.df(np.eye(len(fm.params))[j]) == pytest.approx(est["df"].iloc[j], rel=1e-12)


def test_odds_ratios_are_exp_of_the_estimate_and_interval(fits):
    for case in (("logit", "CR1"), ("ordinal", "CR1")):
        e = tidy_estimates(fits[case])
        coef = e["kind"] == "coefficient"
        np.testing.assert_allclose(e.loc[coef, "odds_ratio"], np.exp(e.loc[coef, "estimate"]), rtol=1e-15)
        np.testing.assert_allclose(e.loc[coef, "or_conf_low"], np.exp(e.loc[coef, "conf_low"]), rtol=1e-15)
        np.testing.assert_allclose(e.loc[coef, "or_conf_high"], np.exp(e.loc[coef, "conf_high"]), rtol=1e-15)
        assert e.loc[~coef, "odds_ratio"].isna().all(), "cutpoints are not odds ratios"
    assert tidy_estimates(fits["ols", "CR1"])["odds_ratio"].isna().all(), "a linear model has no odds ratios"


def test_adjusted_p_values_match_p_adjust_on_hard_cases():
    # R 4.2.2: p.adjust(c(0.01, 0.04, 0.03, 0.005, NA, 0.5), "holm") / "BH"
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan, 0.5])
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.04, 0.09, 0.09, 0.025, np.nan, 0.5], rtol=1e-12)
    np.testing.assert_allclose(adjust_pvalues(p, "fdr"), [0.025, 0.05, 0.05, 0.025, np.nan, 0.5], rtol=1e-12)
    assert np.isnan(adjust_pvalues(np.array([np.nan]), "holm")).all()
    np.testing.assert_allclose(adjust_pvalues(np.array([0.9, 0.8]), "holm"), [1.0, 1.0])
    with pytest.raises(ValueError):
        adjust_pvalues(p, "bonferroni")


def test_design_df_below_one_falls_back_to_t_with_g_minus_1_with_a_note(data):
    """G <= p (6 stations, 22 coefficients): R's residual design df G - p is -16 and
    summary.svyglm gives no p-values; the fit uses R survey's degf(design) = G - 1 = 5 (as
    svymean, Stata's svy and this package's CR1 fits when G <= p), labelled and noted, never a
    negative df, for coefficients and predictions alike."""
    from research.stats.design_based import svy_glm_logit
    from research.models.weighted import fit_weighted_model

    plan, ins = load_plan(), load_instrument()
    few = data[data["station"].isin(sorted(data["station"].unique())[:6])].reset_index(drop=True)
    fm = fit_weighted_model(plan.model("logit"), few, np.ones(len(few)), cluster="station", plan=plan,
                            instrument=ins)
    assert len(fm.params) == 22 and fm.stats["n_clusters"] == 6
    assert fm.df_resid == 5 and fm.stats["df"] == 5
    assert "t with G - 1 = 5 df" in fm.se_method
    assert not re.search(r"-\d", fm.se_method), fm.se_method  # no negative df in the label
    e = tidy_estimates(fm)
    assert (e["df"] == 5).all() and e["p_value"].notna().all()
    np.testing.assert_allclose(e["p_value"], 2 * stats.t.sf(np.abs(e["statistic"]), 5), rtol=1e-12)
    assert not e["method"].str.contains("normal").any()
    assert "only 6 PSUs for 22 parameters" in fm.stats["notes"]
    assert "t with G - 1 = 5 df" in fm.stats["notes"]
    assert "only 6 clusters for 22 parameters" in fm.stats["notes"]  # no joint Wald test (df_note)
    pr = predictions(fm, parent=ins.parent, grid_hours=np.array([24.0]), threshold=4)
    assert (pr["df"] == 5).all() and pr["conf_low"].notna().all()
    # the low-level R-mirroring function follows the same rule
    low = svy_glm_logit(fm.design.X, fm.y, np.ones(len(fm.y)), fm.frame["station"].astype(str).to_numpy(),
                        names=fm.names)
    assert (low["df"] == 5).all() and low["reference"].str.startswith("t with G - 1 = 5 df").all()
    np.testing.assert_allclose(low["p_value"], e["p_value"], rtol=1e-10)