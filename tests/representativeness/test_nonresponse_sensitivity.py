"""Non-response sensitivity (research.strategy.sensitivity): weighting methods side by side, delta adjustment.

References:
- Closed form: the delta-adjusted rate ``[sum_obs y + sum_mis expit(eta + delta)] / N``
  (Rubin 1977; Little 1994; Carpenter & Kenward 2013, ch. 10), computed by hand on a
  seven-ticket population.
- Planted truth: a compact pattern-mixture data-generating process in this file. The survey
  status depends on the covariates; given the covariates and the status, the log-odds of being
  satisfied is ``eta(x) + delta_status`` with ``delta_refused`` planted (no-answers MAR). So
  refusals are less often satisfied than comparable respondents by exactly the planted shift,
  and the delta-adjusted rate at that shift is unbiased for the population rate, while every
  MAR weighting (raking included) is biased upwards.
- Coverage: 40 replicates of the compact DGP; the interval at the planted shift is checked
  against the realised rate and its expectation given covariates and status.

Tolerances are named once below with their reason.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from research.errors import InputError
from research.representativeness.nonresponse import population_frame
from research.config.plan import load_plan
from research.representativeness.run import respondent_frame
from research.strategy.sensitivity import (delta_adjusted_rate, delta_range, missing_pattern, nonresponse_sensitivity,
                                  outcome_model, tipping_deltas)

ROOT = Path(__file__).resolve().parents[2]
R_DIR = Path(__file__).parents[1] / "fixtures" / "r" / "sensitivity"
#: closed-form arithmetic (sums of a few doubles)
CLOSED_TOL = 1e-12
#: against R: both fit the same logit by Newton to ~1e-10; estimates and SEs agree to far better than this
R_TOL = 1e-6
#: a tipping delta is found by Brent's method to xtol 1e-10; the rate at it equals the target to this
TIP_TOL = 1e-8

CAUSES = {"outage": ["fault_outage", "slow_repair"], "service": ["staff_attitude", "billing_dispute"],
          "voltage": ["low_voltage"]}
REGIONS = ["north", "south", "east"]


def compact_population(n: int, seed: int, delta_refused: float = -1.5, delta_no_answer: float = 0.0,
                       n_stations: int = 40):
    """Work orders and survey responses from a pattern-mixture DGP with known deltas.

    Returns (workorders, responses, truth): ``truth`` holds the population's realised satisfied
    rate overall and by cause group, and its expectation given covariates and status.
    """
    rng = np.random.default_rng(seed)
    l2 = np.array([c for cs in CAUSES.values() for c in cs])
    parent = {c: p for p, cs in CAUSES.items() for c in cs}
    cause_l2 = rng.choice(l2, n, p=[0.3, 0.15, 0.2, 0.15, 0.2])
    cause_l1 = np.array([parent[c] for c in cause_l2])
    region = rng.choice(REGIONS, n)
    station = np.array([f"{r}-{k}" for r, k in zip(region, rng.integers(0, n_stations // 3 + 1, n))])
    channel = rng.choice(["hotline", "app", "wechat"], n, p=[0.6, 0.25, 0.15])
    hours = np.exp(rng.normal(3.0, 1.0, n))
    lh = np.log2(1 + hours)
    c_eff = {"fault_outage": 0.6, "slow_repair": 0.2, "staff_attitude": 0.0, "billing_dispute": -0.3,
             "low_voltage": -0.5}
    eta = 2.6 + np.array([c_eff[c] for c in cause_l2]) - 0.25 * lh + 0.3 * (region == "south")
    # response depends on covariates (MAR part) ...
    resp_lin = 0.8 - 0.15 * lh + 0.4 * (channel == "app") - 0.3 * (region == "east") + 0.3 * (cause_l1 == "outage")
    u = rng.random(n)
    completed = u < expit(resp_lin)
    refused = ~completed & (rng.random(n) < 0.4)
    status = np.where(completed, "completed", np.where(refused, "refused", "no_answer"))
    # ... and, given covariates and status, satisfaction shifts by the planted delta
    shift = np.where(status == "refused", delta_refused, np.where(status == "no_answer", delta_no_answer, 0.0))
    p_true = expit(eta + shift)
    y = rng.random(n) < p_true
    created = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 90 * 24, n), unit="h")
    wo = pd.DataFrame({
        "ticket_id": [f"T{i:06d}" for i in range(n)], "customer_id": [f"C{i:06d}" for i in rng.integers(0, int(0.8 * n), n)],
        "region": region, "station": station, "channel": channel, "cause_l1": cause_l1, "cause_l2": cause_l2,
        "created_at": created, "resolved_at": created + pd.to_timedelta(hours, unit="h"),
        "survey_status": status, "handling_hours": hours})
    for c in ("ticket_id", "customer_id", "region", "station", "channel", "cause_l1", "cause_l2", "survey_status"):
        wo[c] = wo[c].astype("string")
    resp = wo[completed].drop(columns=["survey_status"]).copy()
    yc = y[completed].astype(object)
    yc[rng.random(completed.sum()) < 0.03] = pd.NA  # item non-response, kept MAR
    resp["satisfied"] = pd.array(yc, dtype="boolean")
    truth = {"overall": float(y.mean()), "overall_expected": float(p_true.mean()),
             **{k: float(y[cause_l1 == k].mean()) for k in CAUSES}}
    return wo, resp.reset_index(drop=True), truth


@pytest.fixture(scope="module")
def plan():
    return load_plan(ROOT / "paper" / "analysis_plan.yaml")


def _frames(wo, resp, spec):
    pop = population_frame(wo, bands_hours=spec.bands_hours)
    return pop, respondent_frame(resp, spec)


def _y(pop, resp):
    s = pd.Series(resp["satisfied"].astype("Float64").to_numpy(dtype=float, na_value=np.nan),
                  index=resp["ticket_id"].astype(str).to_numpy())
    return s.reindex(pop["ticket_id"].astype(str).to_numpy()).to_numpy()


# ---------------------------------------------------------------------------
# closed form
# ---------------------------------------------------------------------------

def test_delta_adjusted_rate_by_hand():
    # four answered tickets (3 satisfied), two refusals at eta 0, one no-answer at eta log 3,
    # one completed survey without an answer at eta log 3 (stays MAR)
    y = np.array([1, 1, 0, 1, np.nan, np.nan, np.nan, np.nan])
    pattern = np.array(["observed"] * 4 + ["refused", "refused", "no_answer", "item_missing"], dtype=object)
    eta = np.array([9, 9, 9, 9, 0.0, 0.0, np.log(3), np.log(3)])
    # MAR: (3 + 0.5 + 0.5 + 0.75 + 0.75) / 8
    assert delta_adjusted_rate(y, pattern, eta, {}) == pytest.approx(5.5 / 8, abs=CLOSED_TOL)
    # refusals at odds ratio 1/3: expit(log(1/3)) = 1/4 each; no-answer at OR 3: expit(log 9) = 0.9
    got = delta_adjusted_rate(y, pattern, eta, {"refused": np.log(1 / 3), "no_answer": np.log(3)})
    assert got == pytest.approx((3 + 0.25 + 0.25 + 0.9 + 0.75) / 8, abs=CLOSED_TOL)
    # item-missing completed surveys are never shifted
    with pytest.raises(ValueError, match="completed surveys stay MAR"):
        delta_adjusted_rate(y, pattern, eta, {"item_missing": -5.0})


def test_missing_pattern_keeps_refusals_and_no_answers_apart():
    pop = pd.DataFrame({"survey_status": pd.array(["completed", "completed", "refused", "no_answer", None],
                                                  dtype="string")})
    pat = missing_pattern(pop, np.array([1.0, np.nan, np.nan, np.nan, np.nan]))
    assert pat.tolist() == ["observed", "item_missing", "refused", "no_answer", "unknown"]
    with pytest.raises(InputError, match="survey answer but a survey_status"):
        missing_pattern(pop, np.array([1.0, np.nan, 0.0, np.nan, np.nan]))


# ---------------------------------------------------------------------------
# internal consistency on the compact population
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small(plan, instrument):
    wo, resp, truth = compact_population(3000, 11)
    pop, rf = _frames(wo, resp, plan.weighting)
    y = _y(pop, rf)
    model = outcome_model(pop, y, plan.weighting.propensity_rhs, instrument=instrument,
                          reference_levels=plan.reference_levels)
    return pop, rf, y, model, truth


def test_delta_range_matches_closed_form_and_is_monotone(small):
    pop, _, y, model, _ = small
    dr = delta_range(pop, y, model, [-1.0, 0.0, 1.0], domains=("cause_l1",))
    yr, eta = y[model.rows], model.eta
    pattern = missing_pattern(pop.iloc[model.rows], yr)
    for scen, shifted in {"refused": ["refused"], "no_answer": ["no_answer"],
                          "all": ["refused", "no_answer", "unknown"]}.items():
        for d in (-1.0, 1.0):
            row = dr[(dr.scenario == scen) & (dr.delta == d) & (dr.domain == "overall")].iloc[0]
            want = delta_adjusted_rate(yr, pattern, eta, {s: d for s in shifted})
            assert row.estimate == pytest.approx(want, abs=CLOSED_TOL)
        cause = dr[(dr.scenario == scen) & (dr.domain == "cause_l1") & (dr.level == "voltage")]
        mask = (pop.iloc[model.rows]["cause_l1"] == "voltage").to_numpy()
        want = delta_adjusted_rate(yr[mask], pattern[mask], eta[mask], {s: 1.0 for s in shifted})
        assert cause[cause.delta == 1.0].estimate.iloc[0] == pytest.approx(want, abs=CLOSED_TOL)
        assert np.all(np.diff(cause.sort_values("delta").estimate) > 0)
    # at delta = 0 every scenario is the same MAR estimate
    zero = dr[(dr.delta == 0.0) & (dr.domain == "overall")]
    assert np.ptp(zero.estimate) == pytest.approx(0, abs=CLOSED_TOL)
    assert (dr.std_error > 0).all() and (dr.conf_low < dr.estimate).all() and (dr.estimate < dr.conf_high).all()
    row = dr.iloc[0]
    assert row.n_refused + row.n_no_answer + row.n_observed + row.n_item_missing + row.n_unknown == row.n


def test_tipping_delta_solves_the_comparison(small):
    pop, _, y, model, _ = small
    mar = delta_range(pop, y, model, [0.0]).query("domain == 'overall'").estimate.iloc[0]
    target = mar - 0.02
    tip = tipping_deltas(pop, y, model, target=target, domains=("cause_l1",))
    yr, eta = y[model.rows], model.eta
    pattern = missing_pattern(pop.iloc[model.rows], yr)
    for scen, shifted in {"refused": ["refused"], "no_answer": ["no_answer"]}.items():
        row = tip[(tip.scenario == scen) & (tip.domain == "overall")].iloc[0]
        assert row.side == "above" and row.tipping_delta < 0
        assert delta_adjusted_rate(yr, pattern, eta, {s: row.tipping_delta for s in shifted}) == \
            pytest.approx(target, abs=TIP_TOL)
        assert row.rate_if_all_dissatisfied < target < row.rate_if_all_satisfied
    # no-answers outnumber refusals, so a smaller shift of theirs tips the comparison
    r = tip.set_index(["scenario", "domain", "level"]).tipping_delta
    assert r[("no_answer", "overall", "overall")] > r[("refused", "overall", "overall")]
    # a target beyond what all refusals being dissatisfied could reach: no tipping delta
    far = tipping_deltas(pop, y, model, target=0.05)
    row = far[(far.scenario == "refused") & (far.domain == "overall")].iloc[0]
    assert np.isnan(row.tipping_delta) and not row.within_plausible and row.rate_if_all_dissatisfied > 0.05
    with pytest.raises(InputError, match="target rate"):
        tipping_deltas(pop, y, model, target=1.2)


# ---------------------------------------------------------------------------
# planted truth
# ---------------------------------------------------------------------------

def test_recovers_planted_delta_and_mar_weightings_are_biased(plan, instrument):
    wo, resp, truth = compact_population(20000, 5, delta_refused=-1.5)
    spec = replace(plan.weighting, deltas=(-2.0, -1.5, -1.0, 0.0, 1.0), target_rate=0.75)
    pop, rf = _frames(wo, resp, spec)
    out = nonresponse_sensitivity(rf, pop, spec, None, reference_levels=plan.reference_levels,
                                  instrument=instrument)
    dr, wm = out["delta_range"], out["weighting_methods"]
    # at the planted shift of the refusals the interval holds the realised population rate,
    # overall and for every cause group (small ones included)
    at = dr[(dr.scenario == "refused") & (dr.delta == -1.5)].set_index("level")
    for level in ("overall", *CAUSES):
        assert at.loc[level, "conf_low"] <= truth[level] <= at.loc[level, "conf_high"], level
    # every MAR estimate (equal weights, raking, post-stratification, the outcome model at delta 0)
    # overstates the rate: refusals are less satisfied than the respondents they are weighted to
    ov = wm[wm.domain == "overall"].set_index("method")
    for m in ("none", "rake", "poststratify", "outcome_model"):
        assert ov.loc[m, "estimate"] - truth["overall"] > 2 * ov.loc[m, "std_error"], m
    # raking on the MAR covariates moves the rate toward the truth, not past it
    assert truth["overall"] < ov.loc["rake", "estimate"] < ov.loc["none", "estimate"]
    # ipw needs propensities: without them it is reported as not available, not dropped
    assert ov.loc["ipw", "description"].startswith("not available") and np.isnan(ov.loc["ipw", "estimate"])


def test_interval_coverage_at_the_planted_delta(plan, instrument):
    """Coverage of the 95% interval of the overall rate at the planted shift of every non-respondent.

    The interval treats the work orders as a draw from a super-population; against the
    realised rate of the finite population it is conservative.
    """
    hits_real = hits_exp = 0
    reps = 40
    for seed in range(reps):
        wo, resp, truth = compact_population(2500, 1000 + seed, delta_refused=-0.5, delta_no_answer=-0.5)
        pop = population_frame(wo, bands_hours=plan.weighting.bands_hours)
        y = _y(pop, resp)
        model = outcome_model(pop, y, plan.weighting.propensity_rhs, instrument=instrument,
                              reference_levels=plan.reference_levels)
        row = delta_range(pop, y, model, [-0.5], domains=()).query("scenario == 'all'").iloc[0]
        hits_real += row.conf_low <= truth["overall"] <= row.conf_high
        hits_exp += row.conf_low <= truth["overall_expected"] <= row.conf_high
    # a 95% interval: P(Binomial(40, 0.95) <= 34) = 0.014; an interval half as wide covers ~67%
    assert hits_exp >= 35 and hits_real >= 35, (hits_exp, hits_real)


# ---------------------------------------------------------------------------
# the committed sample (one reproduce per session)
# ---------------------------------------------------------------------------

def test_sample_build_writes_sensitivity_tables(sample_build):
    weights = Path(sample_build[0]) / "weights"  # (folder, manifest, printed)
    wm = pd.read_csv(weights / "weighting_methods.csv")
    dr = pd.read_csv(weights / "delta_range.csv")
    tip = pd.read_csv(weights / "tipping_deltas.csv")
    ov = wm[wm.domain == "overall"].set_index("method")
    assert set(ov.index) == {"none", "rake", "ipw", "poststratify", "outcome_model"}
    # the rake row is the headline weighted rate of weighted_estimates
    we = pd.read_csv(weights / "weighted_estimates.csv")
    head = we[(we.variable == "satisfied") & (we.domain == "overall")].iloc[0]
    assert ov.loc["rake", "estimate"] == pytest.approx(head.estimate, rel=1e-12)
    assert ov.loc["rake", "std_error"] == pytest.approx(head.std_error, rel=1e-12)
    assert ov.loc["none", "estimate"] == pytest.approx(head.estimate_unweighted, rel=1e-12)
    assert set(dr.scenario) == {"refused", "no_answer", "all"} and 0.0 in set(dr.delta)
    assert set(tip.scenario) == {"refused", "no_answer", "all"}


# ---------------------------------------------------------------------------
# the plan's keys
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("  deltas: [1, -1]", "increasing log-odds shifts"),
    ("  deltas: [-20, 0]", "within ±10"),
    ("  deltas: [-1, .nan]", "increasing log-odds shifts"),
    ("  target_rate: 1.5", "proportion between 0 and 1"),
    ("  target_rate: true", "target_rate"),
    ("  sensitivity_domains: [customer_id]", "unknown variable"),
])
def test_plan_refuses_bad_sensitivity_settings(tmp_path, line, message):
    text = (ROOT / "paper" / "analysis_plan.yaml").read_text(encoding="utf-8")
    key = line.split(":")[0]
    lines = [ln for ln in text.splitlines() if not ln.startswith(key + ":")]
    at = lines.index("weighting:") + 1
    lines.insert(at, line)
    path = tmp_path / "plan.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_plan(path)


def test_plan_defaults(plan):
    w = plan.weighting
    assert w.target_rate == 0.80 and w.sensitivity_domains == ("cause_l1",)
    assert w.deltas[0] == -1.0 and w.deltas[-1] == 1.0 and 0.0 in w.deltas


# ---------------------------------------------------------------------------
# tables T19 / T20 and the named values
# ---------------------------------------------------------------------------

def test_tables_and_values_render(plan, instrument, tmp_path):
    from research.artifacts import tables
    from research.artifacts.registry import TABLES
    from research.artifacts.render_tables import display_table, write_table
    from research.artifacts.stamp import Stamp
    from research.artifacts.values import _nonresponse_sensitivity

    wo, resp, _ = compact_population(4000, 3)
    spec = plan.weighting
    pop, rf = _frames(wo, resp, spec)
    out = nonresponse_sensitivity(rf, pop, spec, None, reference_levels=plan.reference_levels,
                                  instrument=instrument)
    bundle = {**out, "plan": plan, "instrument": instrument}
    t19, t20 = (next(t for t in TABLES if t.id == i) for i in ("T19", "T20"))
    d19 = tables.table_weighting_methods(bundle)
    assert d19["method"].iloc[:5].tolist() == ["none", "rake", "ipw", "poststratify", "outcome_model"]
    assert d19["level"].iloc[0] == "overall" and d19["level"].iloc[5] == "service"  # instrument order (service first)
    d20 = tables.table_nonresponse_delta(bundle)
    assert d20["scenario"].drop_duplicates().tolist() == ["refused", "no_answer", "all"]
    assert (d20.groupby("scenario")["estimate"].apply(lambda s: s.is_monotonic_increasing)).all()
    for lang in ("zh", "en"):
        disp = display_table(t20, d20, lang, bundle)
        assert len(disp.rows) == len(spec.deltas) + 2
        disp = display_table(t19, d19, lang, bundle)
        assert "–" in disp.rows[0].cells  # ipw not available without propensities, shown as a dash
    for spec_ in (t19, t20):
        assert len(spec_.caption("en")) < 255 and len(spec_.caption("zh")) < 255  # DOCX core-property limit
        write_table(spec_, bundle, tmp_path, Stamp("0" * 64, "test"))  # csv, html, md, docx, tex, both languages
        assert (tmp_path / f"{spec_.name}.csv").exists() and (tmp_path / f"{spec_.name}.en.docx").exists()
        assert getattr(tables, spec_.builder)({}).empty  # no work-order export: no rows
    values = pd.DataFrame(_nonresponse_sensitivity(bundle)).set_index("name")
    for name in ("nonresponse_methods_low", "nonresponse_methods_high", "nonresponse_target",
                 "tipping_delta_refused", "tipping_delta_no_answer", "tipping_delta_all"):
        assert name in values.index
    assert values.loc["nonresponse_methods_low", "value"] <= values.loc["nonresponse_methods_high", "value"]
