"""The causal frame of the levers (issue 11, point 1).

References:
- E-value: VanderWeele & Ding (2017), Ann Intern Med 167:268-274, worked
  example of the paper (breastfeeding and infant death from respiratory
  infection: RR 3.9, 95% CI 1.8 to 8.7 -> E-value 7.26, for the limit 3.0) and
  the EValue R package's documented protective example
  (``evalues.RR(est = 0.80, lo = 0.71, hi = 0.91)`` -> 1.81, 1.43); the formula
  is closed-form, so the published values are the reference;
- recovery of a planted truth: a compact DGP written here (numpy) in which the
  callback's "resolved?" answer and repeat calls are *caused by satisfaction*.
  The true lever effect is the average change of the known P(satisfied) when
  outage handling time is halved. The old lever model (adjusting for
  ``resolved`` and ``repeat``) is biased by more than 3 standard errors; the
  plan's lever model (pre-treatment confounders only) recovers the truth within
  3 standard errors;
- mediation: a DGP in which handling time moves resolution and resolution moves
  satisfaction (no reverse causation); the true natural indirect effect is
  computed from the planted models with the g-formula of VanderWeele (2015,
  ch. 2) and recovered within 3 standard errors.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

from research.strategy.causal import (MEDIATION_NOT_COMPUTED, associations, evalue, evalue_ci, lever_mediation,
                             lever_sensitivity)
from research.errors import InputError
from research.models.design import model_frame
from research.models.fit import fit_model
from research.config.plan import Lever, ModelSpec, load_plan, plan_path
from research.strategy.scenarios import lever_effects

#: published E-values are printed to 2 decimals (VanderWeele & Ding 2017; EValue docs)
PUBLISHED_TOL = 0.006
#: a recovered effect must lie within this many standard errors of the planted truth (issue 11, point 7)
SE_TOL = 3.0


# ----------------------------------------------------------------------------- E-value


def test_evalue_reproduces_the_papers_worked_examples():
    # VanderWeele & Ding 2017: RR 3.9 (1.8, 8.7) -> E-value 7.26, CI limit 3.0
    assert float(evalue(3.9)) == pytest.approx(7.26, abs=PUBLISHED_TOL)
    assert float(evalue_ci(3.9, 1.8, 8.7)) == pytest.approx(3.0, abs=PUBLISHED_TOL)
    # EValue package, protective example: RR 0.80 (0.71, 0.91) -> 1.81, CI limit 1.43
    assert float(evalue(0.80)) == pytest.approx(1.81, abs=PUBLISHED_TOL)
    assert float(evalue_ci(0.80, 0.71, 0.91)) == pytest.approx(1.43, abs=PUBLISHED_TOL)
    # an interval that includes 1 needs no confounding at all; RR 1 likewise
    assert float(evalue_ci(1.3, 0.9, 1.8)) == 1.0 and float(evalue(1.0)) == 1.0
    # symmetric in RR and 1/RR; undefined for non-positive ratios
    assert float(evalue(2.5)) == pytest.approx(float(evalue(1 / 2.5)), rel=1e-12)
    assert np.isnan(evalue([0.0, -1.0, np.nan])).all()


# ----------------------------------------------------------------------------- plan validation


def _plan_text(old: str, new: str) -> str:
    text = plan_path().read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in the plan"
    return text.replace(old, new, 1)


LEVER_RHS = "rhs: cause_l2 + cause_l1:log2(1 + handling_hours) + channel + station + month"


@pytest.mark.parametrize("variable", ["resolved", "repeat"])
def test_lever_model_with_a_post_treatment_variable_is_refused(tmp_path, variable):
    path = tmp_path / "plan.yaml"
    path.write_text(_plan_text(LEVER_RHS, LEVER_RHS + f" + {variable}"), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_plan(path)
    msg = str(err.value)
    assert "plan.yaml" in msg and "scenarios.model" in msg and f"'{variable}'" in msg
    assert "post-treatment" in msg and "models[5].rhs" in msg


def test_set_lever_on_a_post_treatment_variable_is_refused(tmp_path):
    text = _plan_text("    - {name: halve_outage,",
                      "    - {name: resolve_all, kind: set, variable: resolved, value: \"yes\"}\n"
                      "    - {name: halve_outage,")
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"scenarios.levers\[5\].variable.*'resolved' is declared post-treatment"):
        load_plan(path)


def test_declaring_no_post_treatment_variable_is_an_explicit_choice(tmp_path):
    text = _plan_text(LEVER_RHS, LEVER_RHS + " + resolved").replace("post_treatment: [resolved, repeat]",
                                                                    "post_treatment: []")
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    plan = load_plan(path)
    assert plan.scenarios.post_treatment == () and plan.model("levers").rhs.endswith("+ resolved")
    bad = tmp_path / "bad.yaml"
    bad.write_text(_plan_text("post_treatment: [resolved, repeat]", "post_treatment: [income]"), encoding="utf-8")
    with pytest.raises(InputError, match="scenarios.post_treatment"):
        load_plan(bad)


def test_committed_levers_are_only_what_a_manager_can_change(plan):
    sc = plan.scenarios
    assert sc.post_treatment == ("resolved", "repeat")
    assert {lv.kind for lv in sc.levers} <= {"within_sla", "scale_hours", "target_hours"}
    assert not {"resolved", "repeat"} & set(plan.model(sc.model).variables())
    assert {"cause_l2", "channel", "station", "month"} <= set(plan.model(sc.model).variables())


def test_target_hours_lever_is_parsed_and_bounded(tmp_path):
    lever = "    - {name: outage_24h, kind: target_hours, cause_l1: outage, hours: 24}\n"
    path = tmp_path / "plan.yaml"
    path.write_text(_plan_text("    - {name: halve_outage,", lever + "    - {name: halve_outage,"), encoding="utf-8")
    lv = {x.name: x for x in load_plan(path).scenarios.levers}["outage_24h"]
    assert lv.kind == "target_hours" and lv.hours == 24.0
    path.write_text(_plan_text("    - {name: halve_outage,", lever.replace("24}", "-3}") +
                               "    - {name: halve_outage,"), encoding="utf-8")
    with pytest.raises(InputError, match=r"scenarios.levers\[5\].hours"):
        load_plan(path)


# ----------------------------------------------------------------------------- month


def test_month_is_derived_from_creation_time(instrument):
    data = pd.DataFrame({"satisfied": [True, False, True, True],
                         "created_at": pd.to_datetime(["2025-03-31 23:59", "2025-01-02 00:00", "2025-03-01 00:00",
                                                       None])})
    frame, rows = model_frame(data, ("satisfied", "month"), reference_levels={}, instrument=instrument)
    assert list(rows) == [0, 1, 2]  # no creation time, no month: not a complete case
    assert list(frame["month"].cat.categories) == ["2025-01", "2025-03"]  # earliest month is the reference
    assert list(frame["month"].astype(str)) == ["2025-03", "2025-01", "2025-03"]
    with pytest.raises(InputError, match="created_at"):
        model_frame(data.drop(columns="created_at"), ("month",), reference_levels={}, instrument=instrument)


# ----------------------------------------------------------------------------- recovery


def _dgp(n: int, seed: int, instrument, *, reverse: bool, mediated: bool = False) -> tuple[pd.DataFrame, dict]:
    """Compact export with known truth.

    Satisfaction: ``eta = a[l2] + slope[l1] * log2(1 + hours) + channel + region + month`` (no
    station effect). ``reverse``: resolution and repeat calls are caused by satisfaction (a
    dissatisfied customer says "not resolved" and calls again). ``mediated``: resolution is
    caused by handling time and raises satisfaction (``gamma`` on the logit); then ``eta`` also
    carries ``gamma * M``.
    """
    rng = np.random.default_rng(seed)
    l2_codes = np.array(instrument.label_sets["cause_l2"].codes)
    l1_of = np.array([instrument.parent[c] for c in l2_codes])
    l2 = rng.integers(0, len(l2_codes), n)
    l1 = l1_of[l2]
    slope = {"outage": -0.45, "service": -0.25, "capability": -0.15, "voltage": -0.2}
    # handling depends on the sub-cause and on the region (a confounder through region)
    region = rng.integers(0, 4, n)
    hours = np.exp(rng.normal(2.5 + 0.15 * (l2 % 5) + 0.25 * region, 1.0, n))
    month = rng.integers(0, 6, n)
    channel = rng.integers(0, 4, n)
    a = rng.normal(2.6, 0.4, len(l2_codes))
    L = np.log2(1 + hours)
    s = np.array([slope[g] for g in l1])
    base = a[l2] + 0.2 * (channel == 1) - 0.3 * region / 3 + 0.1 * (month - 2.5) / 2.5
    truth = {}
    if mediated:
        m = rng.random(n) < expit(2.5 - 0.35 * L)
        gamma = 1.2
        eta = base + s * L + gamma * m
        truth.update(gamma=gamma, base=base, s=s, L=L)
    else:
        eta = base + s * L
    sat = rng.random(n) < expit(eta)
    if reverse:
        resolved = np.where(rng.random(n) < expit(-1.0 + 3.5 * sat), "yes",
                            np.where(rng.random(n) < 0.5, "partly", "no"))
        repeat = rng.random(n) < expit(-0.5 - 2.0 * sat)
    elif mediated:
        resolved = np.where(m, "yes", np.where(rng.random(n) < 0.5, "partly", "no"))
        repeat = rng.random(n) < 0.2
    else:
        resolved = np.where(rng.random(n) < 0.85, "yes", "no")
        repeat = rng.random(n) < 0.2
    created = pd.Timestamp("2025-01-01") + pd.to_timedelta(month * 30 + rng.integers(0, 28, n), unit="D")
    sla = np.where(l1 == "outage", 24.0, 120.0)
    stations = np.array([f"S{r}-{k}" for r in range(4) for k in range(10)])
    station = stations[region * 10 + rng.integers(0, 10, n)]
    data = pd.DataFrame({
        "satisfied": sat, "cause_l1": l1, "cause_l2": l2_codes[l2], "handling_hours": hours,
        "channel": np.array(instrument.label_sets["channel"].codes)[channel],
        "region": np.array(["R0", "R1", "R2", "R3"])[region], "station": station, "created_at": created,
        "sla_deadline": created + pd.to_timedelta(sla, unit="h"), "resolved": resolved, "repeat": repeat})
    outage = l1 == "outage"
    L_half = np.log2(1 + np.where(outage, hours * 0.5, hours))
    truth["halve_outage"] = float(np.mean(expit(eta + s * (L_half - L)) - expit(eta)))
    truth["L_half"] = L_half
    return data, truth


HALVE = Lever(name="halve_outage", kind="scale_hours", cause_l1="outage", cause_l2=None, factor=0.5,
              variable=None, value=None, zh="h", en="h")


def test_old_lever_model_is_biased_and_the_causal_one_recovers_the_truth(plan, instrument):
    data, truth = _dgp(20000, 11, instrument, reverse=True)
    new = fit_model(plan.model("levers"), data, plan=plan, instrument=instrument)
    old_spec = ModelSpec(name="old", family="logit", outcome="satisfied",
                         rhs="cause_l2 + cause_l1:log2(1 + handling_hours) + channel + repeat + resolved",
                         se="cluster", cluster="station", group=None, zh="", en="")
    old = fit_model(old_spec, data, plan=plan, instrument=instrument)
    got_new = lever_effects(new, data, (HALVE,), threshold=4, reps=0).iloc[0]
    got_old = lever_effects(old, data, (HALVE,), threshold=4, reps=0).iloc[0]
    true = truth["halve_outage"]
    assert abs(got_new["effect"] - true) < SE_TOL * got_new["std_error"], (got_new["effect"], true)
    # conditioning on consequences of satisfaction shrinks the handling-time slope: far off the truth
    assert abs(got_old["effect"] - true) > SE_TOL * got_old["std_error"], (got_old["effect"], true)
    assert got_old["effect"] < got_new["effect"]


def test_lever_sensitivity_on_the_affected_tickets(plan, instrument):
    data, _ = _dgp(6000, 12, instrument, reverse=False)
    fm = fit_model(plan.model("levers"), data, plan=plan, instrument=instrument)
    nothing = Lever(name="nothing", kind="scale_hours", cause_l1=None, cause_l2=None, factor=1.0,
                    variable=None, value=None, zh="", en="")
    out = lever_sensitivity(fm, data, (HALVE, nothing), threshold=4).set_index("lever")
    h = out.loc["halve_outage"]
    assert h["n_affected"] == int((data["cause_l1"] == "outage").sum())
    # the ratio is the g-computed dissatisfied rates' over the affected tickets, recomputed here
    X = fm.design.X
    rows = np.flatnonzero(fm.frame["cause_l1"].astype(str).to_numpy() == "outage")
    Xh = X.copy()
    for j, name in enumerate(fm.names):
        if name == "cause_l1[outage]:log2(1 + handling_hours)":
            Xh[:, j] = np.log2(1 + fm.frame["handling_hours"].to_numpy() * 0.5) * (X[:, j] != 0)
    d0 = 1 - expit(X[rows] @ fm.params).mean()
    d1 = 1 - expit(Xh[rows] @ fm.params).mean()
    assert h["rr_dissatisfied"] == pytest.approx(d1 / d0, rel=1e-10)
    assert h["rr_dissatisfied"] < 1 and h["rr_conf_low"] < h["rr_dissatisfied"] < h["rr_conf_high"]
    assert h["evalue"] == pytest.approx(float(evalue(h["rr_dissatisfied"])), rel=1e-12)
    assert 1 <= h["evalue_ci"] <= h["evalue"]
    # the satisfied-rate ratio is nearer 1: its E-value is the more conservative one
    assert h["evalue_satisfied"] < h["evalue"]
    assert out.loc["nothing", "n_affected"] == 0 and np.isnan(out.loc["nothing", "evalue"])


def test_mediation_recovers_the_planted_indirect_effect(plan, instrument):
    data, truth = _dgp(20000, 13, instrument, reverse=False, mediated=True)
    out = lever_mediation(data, (HALVE,), plan=plan, instrument=instrument, threshold=4)
    got = out.set_index("effect")
    # the true g-formula quantities from the planted models
    base, s, L, Lh, gamma = truth["base"], truth["s"], truth["L"], truth["L_half"], truth["gamma"]

    def mu(La, Lb):
        m = expit(2.5 - 0.35 * Lb)
        return np.mean(expit(base + s * La + gamma) * m + expit(base + s * La) * (1 - m))

    nie = mu(Lh, Lh) - mu(Lh, L)
    te = mu(Lh, Lh) - mu(L, L)
    assert nie > 0.002  # the plant makes a visible indirect path
    for name, true in (("indirect", nie), ("total", te), ("direct", te - nie)):
        r = got.loc[name]
        assert abs(r["estimate"] - true) < SE_TOL * r["std_error"], (name, r["estimate"], true)
    assert got.loc["total", "estimate"] == pytest.approx(got.loc["direct", "estimate"]
                                                         + got.loc["indirect", "estimate"], abs=1e-15)
    share = got.loc["share_mediated"]
    assert share["conf_low"] < nie / te < share["conf_high"]
    assert "g-formula" in out["method"].iloc[0]


def test_no_indirect_path_when_resolution_ignores_handling(plan, instrument):
    data, _ = _dgp(8000, 14, instrument, reverse=False)
    got = lever_mediation(data, (HALVE,), plan=plan, instrument=instrument, threshold=4).set_index("effect")
    ind = got.loc["indirect"]
    assert ind["conf_low"] < 0 < ind["conf_high"]


def test_mediation_without_resolution_answers_is_empty(plan, instrument):
    data, _ = _dgp(2000, 15, instrument, reverse=False)
    out = lever_mediation(data.assign(resolved=None), (HALVE,), plan=plan, instrument=instrument, threshold=4)
    assert out.empty
    # the empty frame says why, so that T14 can print "not computed" with a reason
    assert out.attrs["not_computed"] == "mediation_no_resolution"
    assert out.attrs["not_computed"] in MEDIATION_NOT_COMPUTED
    same = lever_mediation(data.assign(resolved="yes"), (HALVE,), plan=plan, instrument=instrument, threshold=4)
    assert same.empty and same.attrs["not_computed"] == "mediation_no_resolution"
    few = lever_mediation(data.head(30), (HALVE,), plan=plan, instrument=instrument, threshold=4)
    assert few.empty and few.attrs["not_computed"] == "mediation_too_few"


def test_every_not_computed_reason_has_zh_and_en_labels():
    from research.artifacts import labels

    for code in MEDIATION_NOT_COMPUTED:
        zh, en = labels.text(code, "zh"), labels.text(code, "en")
        assert zh != code and en != code and zh != en, code


def test_associations_are_tidy_and_worded_as_associations(plan, instrument):
    data, _ = _dgp(8000, 16, instrument, reverse=True)
    out = associations(data, plan=plan, instrument=instrument)
    assert list(out["term"]) == ["resolved[partly]", "resolved[no]", "repeat[true]"]
    assert (out["reference"] == ["yes", "yes", "false"]).all()
    # reverse causation planted: unresolved and repeat callers are far less often satisfied
    assert (out["conf_high"] < 0).all()
    assert out["estimate"].to_numpy() == pytest.approx((out["rate"] - out["reference_rate"]).to_numpy(),
                                                       abs=1e-15)
    assert out["method"].str.contains("an association, not an effect").all()
    assert out["method"].str.contains("adjusted for cause_l1, cause_l2, channel, handling_hours, station, month").all()
    assert {"model", "term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high",
            "conf_level", "n", "method"} <= set(out.columns)
    assert associations(data.drop(columns=["resolved", "repeat"]), plan=plan, instrument=instrument).empty


@pytest.mark.parametrize("weighted", [True, False])
def test_associations_with_more_parameters_than_stations_use_t_with_g_minus_1(plan, instrument, weighted):
    """G <= p: 12 stations for the association logit's 30-odd parameters. The survey-weighted
    fit's residual design df (R svyglm: G - p) is negative; the label, the df and the p-values
    use t with G - 1 = 11 df instead (R survey's degf, as svymean; the clustered fit's own
    rule), and T21 says so in a note."""
    from research.artifacts.registry import get
    from research.artifacts.render_tables import display_table
    from research.artifacts.tables import table_associations

    data, _ = _dgp(6000, 17, instrument, reverse=True)
    keep = data["station"].str.endswith(("-0", "-1", "-2"))  # 3 stations per region
    few = data[keep].reset_index(drop=True)
    g = few["station"].nunique()
    assert g == 12
    out = associations(few, plan=plan, instrument=instrument, weights=np.ones(len(few)) if weighted else None)
    assert len(out) == 3
    k = int(out["n_parameters"].iloc[0])
    assert k > g, "the case must have more parameters than stations"
    assert (out["n_clusters"] == g).all() and (out["df"] == g - 1).all()
    method = out["method"].iloc[0]
    assert not re.search(r"-\d", method), method  # never a negative df in the label
    assert ("t with G - 1 = 11 df" if weighted else "t(G - 1 = 11)") in method
    np.testing.assert_allclose(out["p_value"], 2 * stats.t.sf(np.abs(out["statistic"]), g - 1), rtol=1e-12)
    q = stats.t.ppf(0.975, g - 1)
    np.testing.assert_allclose(out["conf_high"] - out["estimate"], q * out["std_error"], rtol=1e-12)
    t21 = table_associations({"associations": out})
    for lang, needle in (("en", f"Only {g} stations for {k} model parameters (G ≤ p)"),
                         ("zh", f"供电所仅 {g} 个而模型参数有 {k} 个（G ≤ p）")):
        notes = display_table(get("T21"), t21, lang, {}).notes
        assert any(needle in n for n in notes), notes
        assert any(("t with 11 df" if lang == "en" else "自由度 11") in n for n in notes), notes
        assert not any(re.search(r"-\d+ (design )?df", n) for n in notes)
