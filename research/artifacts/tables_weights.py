"""The data of the representativeness tables T09..T13, T19 and T20: one builder per table.

They read the frames of research.representativeness.run and research.strategy.sensitivity
(bundle keys response_rates, weight_summary, weight_margins, weighted_estimates,
svy_marginal_effects, propensity_estimates, weighting_methods, delta_range, tipping_deltas).
Without a work-order export those keys are absent: each builder then returns its columns
with no rows, and the display says why. Bundle in, tidy frame out, as
:mod:`research.artifacts.tables_fit`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.artifacts.tables_common import cause_codes, frame_or_none, level_order, order_of

#: order of the response-rate breakdowns in T09
RATE_VARIABLES: tuple[str, ...] = ("overall", "cause_l1", "cause_l2", "region", "handling_band", "station")
#: outcomes of T11, in order
T11_VARIABLES: tuple[str, ...] = ("satisfied", "sat_overall")
#: domains of T11, in order
T11_DOMAINS: tuple[str, ...] = ("overall", "cause_l1", "cause_l2", "region")
#: order of the weighting methods in T19 (research.strategy.sensitivity)
T19_METHODS: tuple[str, ...] = ("none", "rake", "ipw", "poststratify", "outcome_model")
#: order of the delta scenarios in T20
T20_SCENARIOS: tuple[str, ...] = ("refused", "no_answer", "all")


def table_response_rates(bundle: dict) -> pd.DataFrame:
    """T09 response rates: completed / no answer / refused shares of the work orders.

    Returns
    -------
    DataFrame, one row per breakdown and level (order :data:`RATE_VARIABLES`;
    causes in instrument order, bands in band order, regions and stations sorted):
    ``variable, level, work_orders, completed, no_answer, refused`` (counts),
    ``completed_rate, completed_conf_low, completed_conf_high``,
    ``no_answer_rate``, ``refused_rate`` (shares of the level's work orders,
    0..1; Wilson intervals), ``conf_level``. No rows without a work-order export.
    """
    cols = ["variable", "level", "work_orders", "completed", "no_answer", "refused", "completed_rate",
            "completed_conf_low", "completed_conf_high", "no_answer_rate", "refused_rate", "conf_level"]
    rr = frame_or_none(bundle, "response_rates", cols)
    if rr is None:
        return pd.DataFrame(columns=cols)
    return level_order(rr[cols], "variable", "level", RATE_VARIABLES, bundle).reset_index(drop=True)


def table_weight_diagnostics(bundle: dict) -> pd.DataFrame:
    """T10 weight diagnostics: the distribution of the non-response weights.

    Returns
    -------
    DataFrame, first the whole sample (``variable = level = "all"``), then one row
    per level of region, cause group, sub-cause and handling band:
    ``variable, level, n`` (respondents), ``population`` (work orders of the level
    in the margin, NaN for a variable that is not a margin), ``sum`` (sum of
    weights, work orders), ``min, max, mean`` (work orders per respondent),
    ``cv`` (coefficient of variation), ``n_eff`` (Kish effective sample size),
    ``deff`` (design effect of unequal weighting, 1 + cv²), and on every row the
    run's ``method, description, iterations, max_margin_error, converged,
    trim_cap``. No rows without a work-order export.
    """
    cols = ["variable", "level", "n", "population", "sum", "min", "max", "mean", "cv", "n_eff", "deff",
            "method", "description", "iterations", "max_margin_error", "converged", "trim_cap"]
    ws = frame_or_none(bundle, "weight_summary", ["variable", "level", "n", "sum", "min", "max", "mean", "cv",
                                           "n_eff", "deff"])
    if ws is None:
        return pd.DataFrame(columns=cols)
    ws = ws.copy()
    margins = bundle.get("weight_margins")
    pop = {}
    if margins is not None and len(margins):
        pop = {(str(v), str(lv)): float(p) for v, lv, p in
               zip(margins["variable"], margins["level"], margins["population"])}
    ws["population"] = [float(ws["population"].iloc[0]) if v == "all" and "population" in ws
                        else pop.get((str(v), str(lv)), np.nan) for v, lv in zip(ws["variable"], ws["level"])]
    variables = ("all", "region", "cause_l1", "cause_l2", "handling_band")
    out = level_order(ws, "variable", "level", variables, bundle)
    return out[[c for c in cols if c in out.columns]].reset_index(drop=True)


def table_weighted_vs_unweighted(bundle: dict) -> pd.DataFrame:
    """T11 how much non-response moves each figure: weighted against unweighted estimates.

    Returns
    -------
    DataFrame, rows by outcome (:data:`T11_VARIABLES`: the satisfied rate, the
    mean overall score), then domain (:data:`T11_DOMAINS`) and level:
    ``variable, domain, level, n`` (valid answers), ``estimate, std_error,
    conf_low, conf_high`` (weighted; Taylor-linearization SE with stations as
    clusters and the calibration margins), ``estimate_unweighted,
    std_error_unweighted`` (all weights 1, same clusters), ``difference``
    (weighted - unweighted; proportion or score points), ``conf_level``.
    No rows without a work-order export.
    """
    cols = ["variable", "domain", "level", "n", "estimate", "std_error", "conf_low", "conf_high",
            "estimate_unweighted", "std_error_unweighted", "difference", "conf_level"]
    we = frame_or_none(bundle, "weighted_estimates", cols)
    if we is None:
        return pd.DataFrame(columns=cols)
    parts = [level_order(we[we["variable"] == v], "domain", "level", T11_DOMAINS, bundle)
             for v in T11_VARIABLES]
    return pd.concat(parts, ignore_index=True)[cols]


def table_weighted_effects(bundle: dict) -> pd.DataFrame:
    """T12 the effect of doubling the handling time, survey-weighted against unweighted.

    Returns
    -------
    DataFrame, one row per model (plan order; those refitted with weights) and
    cause group (instrument order), scale ``p_satisfied``: ``model, cause_l1,
    estimate, conf_low, conf_high, p_value, n`` (survey-weighted: population
    average, design-based SE) and ``estimate_unweighted, conf_low_unweighted,
    conf_high_unweighted`` (the same model on the respondents, T05), ``conf_level``.
    Estimates are changes in P(satisfied) (probability). No rows without a
    work-order export.
    """
    cols = ["model", "cause_l1", "estimate", "conf_low", "conf_high", "p_value", "n",
            "estimate_unweighted", "conf_low_unweighted", "conf_high_unweighted", "conf_level"]
    sv = frame_or_none(bundle, "svy_marginal_effects", ["model", "scale", "cause_l1", "estimate", "conf_low",
                                                 "conf_high", "p_value", "n", "conf_level"])
    if sv is None:
        return pd.DataFrame(columns=cols)
    sv = sv[sv["scale"] == "p_satisfied"]
    me = bundle.get("marginal_effects")
    un = (me[me["scale"] == "p_satisfied"][["model", "cause_l1", "estimate", "conf_low", "conf_high"]]
          .rename(columns={"estimate": "estimate_unweighted", "conf_low": "conf_low_unweighted",
                           "conf_high": "conf_high_unweighted"}) if me is not None and len(me)
          else pd.DataFrame(columns=["model", "cause_l1", "estimate_unweighted", "conf_low_unweighted",
                                     "conf_high_unweighted"]))
    out = sv.merge(un, on=["model", "cause_l1"], how="left")
    plan = bundle.get("plan")
    models = [m.name for m in plan.models] if plan is not None else []
    models += sorted(set(out["model"]) - set(models))
    causes = cause_codes(bundle, "cause_l1", out["cause_l1"].unique())
    out["_m"] = order_of(out, "model", models)
    out["_c"] = order_of(out, "cause_l1", causes)
    return out.sort_values(["_m", "_c"], kind="stable")[cols].reset_index(drop=True)


def table_response_propensity(bundle: dict) -> pd.DataFrame:
    """T13 the response-propensity logit: who completes the survey.

    Returns
    -------
    DataFrame, one row per coefficient in model order (intercept first):
    ``term, estimate`` (log-odds), ``std_error`` (CR1 cluster-robust by station),
    ``odds_ratio, odds_ratio_low, odds_ratio_high`` (exp of the estimate and of its
    normal interval), ``p_value, n, conf_level``. No rows without a work-order export.
    """
    cols = ["term", "estimate", "std_error", "odds_ratio", "odds_ratio_low", "odds_ratio_high", "p_value",
            "n", "conf_level"]
    pe = frame_or_none(bundle, "propensity_estimates", cols)
    if pe is None:
        return pd.DataFrame(columns=cols)
    return pe[cols].reset_index(drop=True)


def table_weighting_methods(bundle: dict) -> pd.DataFrame:
    """T19 the satisfied rate under every non-response adjustment, side by side.

    Returns
    -------
    DataFrame, by domain (overall, then each cause group in instrument order) and method
    (:data:`T19_METHODS`): ``domain, level, method, estimate`` (proportion satisfied, 0..1),
    ``std_error, conf_low, conf_high`` (design-based, stations as clusters), ``n`` (valid
    answers), ``n_eff`` (Kish; NaN for the outcome model), ``conf_level``, ``description``.
    No rows without a work-order export.
    """
    cols = ["domain", "level", "method", "estimate", "std_error", "conf_low", "conf_high", "n", "n_eff",
            "conf_level", "description"]
    wm = frame_or_none(bundle, "weighting_methods", cols)
    if wm is None:
        return pd.DataFrame(columns=cols)
    domains = ("overall", *[d for d in dict.fromkeys(wm["domain"]) if d != "overall"])
    out = level_order(wm, "domain", "level", domains, bundle)
    out["_m"] = order_of(out, "method", list(T19_METHODS))
    out["_k"] = out.groupby(["domain", "level"], sort=False).ngroup()
    return out.sort_values(["_k", "_m"], kind="stable")[cols].reset_index(drop=True)


def table_nonresponse_delta(bundle: dict) -> pd.DataFrame:
    """T20 the overall satisfied rate if non-respondents differed from comparable respondents.

    Returns
    -------
    DataFrame, by scenario (:data:`T20_SCENARIOS`: only refusals shifted, only no-answers,
    all non-respondents) and delta: ``scenario, delta`` (log odds ratio of being satisfied,
    non-respondent against a comparable respondent), ``odds_ratio, estimate`` (population
    rate, 0..1), ``conf_low, conf_high, conf_level``, and on every row of a scenario its
    ``target``, ``tipping_delta`` (the delta at which the rate crosses the target; NaN when
    no delta of that group can), ``rate_if_all_dissatisfied, rate_if_all_satisfied`` (the
    bounds), ``n_shifted`` (work orders shifted). No rows without a work-order export.
    """
    cols = ["scenario", "delta", "odds_ratio", "estimate", "conf_low", "conf_high", "conf_level", "target",
            "tipping_delta", "rate_if_all_dissatisfied", "rate_if_all_satisfied", "n_shifted"]
    dr = frame_or_none(bundle, "delta_range", ["scenario", "delta", "odds_ratio", "domain", "estimate", "conf_low",
                                        "conf_high", "conf_level"])
    tip = frame_or_none(bundle, "tipping_deltas", ["scenario", "domain", "target", "tipping_delta",
                                            "rate_if_all_dissatisfied", "rate_if_all_satisfied", "n_shifted"])
    if dr is None or tip is None:
        return pd.DataFrame(columns=cols)
    dr = dr[dr["domain"] == "overall"]
    tip = tip[tip["domain"] == "overall"][["scenario", "target", "tipping_delta", "rate_if_all_dissatisfied",
                                           "rate_if_all_satisfied", "n_shifted"]]
    out = dr.merge(tip, on="scenario", how="left")
    out["_s"] = order_of(out, "scenario", list(T20_SCENARIOS))
    return out.sort_values(["_s", "delta"], kind="stable")[cols].reset_index(drop=True)
