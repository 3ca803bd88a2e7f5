"""The data of the strategy and monitoring tables T14..T18 and T21..T23: one builder per table.

They read the frames of research.strategy (levers, drivers_importance, drivers_ipa,
repeat_callers, recurrence, p_chart, associations, station_funnel, typical_terms,
typical_cases); a frame that is absent
or empty gives the table's columns with no rows. Bundle in, tidy frame out, as
:mod:`research.artifacts.tables_fit`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.artifacts.tables_common import cause_codes, frame_or_none, order_of


def table_levers(bundle: dict) -> pd.DataFrame:
    """T14 improvement levers ranked by their expected gain in the satisfied rate.

    Returns
    -------
    DataFrame, one row per lever of the plan, largest gain first: ``rank, lever,
    zh, en`` (labels), ``effect_points`` (percentage points of satisfied rate),
    ``conf_low_points, conf_high_points`` (bootstrap interval, points),
    ``dissatisfied_per_10k`` (change in dissatisfied customers per 10,000
    complaints; negative = fewer) with ``dissatisfied_per_10k_low/_high``,
    ``baseline_rate`` (0..1), ``weighted`` (population-level averages),
    ``boot_reps``, ``conf_level``; then the causal frame's sensitivity figures
    (research.strategy.causal): ``n_affected`` (tickets the lever changes),
    ``rr_dissatisfied, rr_conf_low, rr_conf_high`` (their dissatisfied-rate
    ratio), ``evalue`` (E-value of the point estimate) and ``evalue_ci`` (of the
    confidence limit nearer 1; 1 when the interval includes 1; VanderWeele &
    Ding 2017), ``share_mediated, share_mediated_low, share_mediated_high``
    (share of the effect through resolution, 0..1, g-formula) and
    ``mediation_note`` (empty, or why the share is not computed: a code of
    research.strategy.causal.MEDIATION_NOT_COMPUTED). No rows when the plan has no levers.
    """
    causal = ["n_affected", "rr_dissatisfied", "rr_conf_low", "rr_conf_high", "evalue", "evalue_ci",
              "share_mediated", "share_mediated_low", "share_mediated_high", "mediation_note"]
    cols = ["rank", "lever", "zh", "en", "effect_points", "conf_low_points", "conf_high_points",
            "dissatisfied_per_10k", "dissatisfied_per_10k_low", "dissatisfied_per_10k_high", "baseline_rate",
            "weighted", "boot_reps", "conf_level", *causal]
    lv = frame_or_none(bundle, "levers", ["rank", "lever", "zh", "en", "effect_points", "conf_low", "conf_high"])
    if lv is None:
        return pd.DataFrame(columns=cols)
    out = lv.assign(conf_low_points=100 * lv["conf_low"], conf_high_points=100 * lv["conf_high"])
    out = out.reindex(columns=cols)  # a lever frame from before the causal columns: shown as not computed
    out["mediation_note"] = out["mediation_note"].fillna("").astype(str)
    return out.reset_index(drop=True)


def table_key_drivers(bundle: dict) -> pd.DataFrame:
    """T15 key drivers of satisfaction, their permutation null and importance-performance quadrant.

    Returns
    -------
    DataFrame, one row per driver group: the operational drivers first, then the
    satisfaction items (``set``: ``operational`` / ``items``; decomposed apart, shares
    within a set), most important first within a set: ``set, rank, driver,
    importance`` (R² units), ``share`` (of the set's explained variance, 0..1) with
    ``share_conf_low, share_conf_high`` (cluster-bootstrap percentile),
    ``null_share_q95`` (95th percentile of the share under permutation of the driver's
    rows), ``p_value`` (permutation), ``p_holm`` (Holm within the set), ``detectable``,
    ``performance`` (0..1, measure in ``performance_measure``; missing for a
    composition), ``quadrant`` and ``p_concentrate_here, p_keep_up, p_low_priority,
    p_possible_overkill`` (bootstrap probabilities; only for placed drivers),
    ``ipa_status``, ``total_r2, outcome, method, n, conf_level``.
    """
    cols = ["set", "rank", "driver", "importance", "share", "share_conf_low", "share_conf_high", "null_share_q95",
            "p_value", "p_holm", "detectable", "performance", "performance_measure", "quadrant", "p_concentrate_here",
            "p_keep_up", "p_low_priority", "p_possible_overkill", "ipa_status", "total_r2", "outcome", "method", "n",
            "conf_level"]
    imp = frame_or_none(bundle, "drivers_importance", ["set", "driver", "importance", "share", "rank"])
    ipa = frame_or_none(bundle, "drivers_ipa", ["set", "driver", "performance", "quadrant"])
    if imp is None or ipa is None:
        return pd.DataFrame(columns=cols)
    out = imp.merge(ipa[["set", "driver", "performance", "performance_measure", "quadrant", "p_concentrate_here",
                         "p_keep_up", "p_low_priority", "p_possible_overkill", "ipa_status"]],
                    on=["set", "driver"], how="left")
    order = {"operational": 0, "items": 1}
    out = out.assign(_o=out["set"].map(order).fillna(2)).sort_values(["_o", "rank"], kind="stable")
    return out[cols].reset_index(drop=True)


#: rows of the repeat-caller warning list shown in T16 (the CSV in strategy/ has them all)
T16_ROWS = 30


def table_repeat_callers(bundle: dict) -> pd.DataFrame:
    """T16 repeat-caller early warning: customers with two or more work orders within 30 days.

    Returns
    -------
    DataFrame, the :data:`T16_ROWS` episodes of highest risk (predicted probability
    of dissatisfaction, 0..1), highest first: ``customer_id`` (keyed pseudonym, never
    a clear id), ``n_tickets, first_created, last_created, causes`` (sub-cause
    codes in time order, ``|``-separated), ``stations, last_sat_overall, risk``,
    and ``n_episodes`` (all episodes of the period, on every row). No rows without
    a work-order export.
    """
    cols = ["customer_id", "n_tickets", "first_created", "last_created", "causes", "stations",
            "last_sat_overall", "risk", "n_episodes"]
    rc = frame_or_none(bundle, "repeat_callers", ["customer_id", "n_tickets", "risk"])
    if rc is None:
        return pd.DataFrame(columns=cols)
    top = rc.sort_values(["risk", "n_tickets"], ascending=False, kind="stable").head(T16_ROWS)
    return top.assign(n_episodes=len(rc))[cols].reset_index(drop=True)


def table_recurrence(bundle: dict) -> pd.DataFrame:
    """T17 recurring complaints: station x sub-cause cells whose weekly count rose beyond expectation.

    Returns
    -------
    DataFrame, flagged cells by week then station: ``station, cause_l2, period_start``
    (Monday of the ISO week), ``count`` (work orders), ``expected`` (mean of the 8
    weeks before), ``p_value`` (exact conditional Poisson test, one-sided), and
    ``cells_tested`` (cell-weeks tested, on every row). No rows without a
    work-order export or without a flag.
    """
    cols = ["station", "cause_l2", "period_start", "count", "expected", "p_value", "cells_tested"]
    rec = frame_or_none(bundle, "recurrence", ["station", "cause_l2", "period_start", "count", "expected", "p_value"])
    if rec is None:
        return pd.DataFrame(columns=cols)
    out = rec.sort_values(["period_start", "station", "cause_l2"], kind="stable")
    return out.assign(cells_tested=int(bundle.get("recurrence_tested", 0)))[cols].reset_index(drop=True)


def table_out_of_control(bundle: dict) -> pd.DataFrame:
    """T18 p-chart: station-weeks whose dissatisfied rate lies outside its 3-sigma limits.

    Returns
    -------
    DataFrame, by week then station: ``station, period_start, n`` (valid answers),
    ``rate`` (dissatisfied share, 0..1), ``centre, lcl, ucl`` (the station's
    pooled rate and its limits for this week's n), ``signal`` (above / below),
    ``low_n`` (fewer than 10 answers). No rows when nothing is out of control.
    """
    cols = ["station", "period_start", "n", "rate", "centre", "lcl", "ucl", "signal", "low_n"]
    pc = frame_or_none(bundle, "p_chart", ["station", "period_start", "out_of_control"])
    if pc is None:
        return pd.DataFrame(columns=cols)
    out = pc[pc["out_of_control"]].sort_values(["period_start", "station"], kind="stable")
    return out[cols].reset_index(drop=True)


def table_associations(bundle: dict) -> pd.DataFrame:
    """T21 resolution and repeat calls against the satisfied rate: standardised associations.

    From ``bundle["associations"]`` (:func:`research.strategy.causal.associations`): the g-formula
    standardised rate with every ticket set to a level and to its reference, adjusted for the
    lever model's pre-treatment variables. Associations, not effects: both variables are partly
    consequences of dissatisfaction (post-treatment), so no lever sets them.

    Returns
    -------
    DataFrame, resolution levels then repeat calls: ``variable, level, reference, rate,
    reference_rate`` (0..1), ``estimate`` (rate - reference_rate, probability), ``std_error,
    conf_low, conf_high, conf_level, p_value, n, method``, ``df`` (of the t reference of the
    p-values and intervals; NaN: normal), ``n_clusters`` (stations) and ``n_parameters``
    (of the logit). No rows when the export has no resolution or repeat answers.
    """
    cols = ["variable", "level", "reference", "rate", "reference_rate", "estimate", "std_error", "conf_low",
            "conf_high", "conf_level", "p_value", "n", "method", "df", "n_clusters", "n_parameters"]
    frame = frame_or_none(bundle, "associations", cols[:13])
    if frame is None:
        return pd.DataFrame(columns=cols)
    out = frame.reindex(columns=cols)  # a frame from before the df columns: no df note
    out["_i"] = np.arange(len(out))
    out["_v"] = order_of(out, "variable", ["resolved", "repeat"])
    return out.sort_values(["_v", "_i"], kind="stable")[cols].reset_index(drop=True)


def table_station_funnel(bundle: dict) -> pd.DataFrame:
    """T22 every station against the overall satisfied rate, risk-adjusted (funnel, Spiegelhalter 2005).

    From ``bundle["station_funnel"]`` (:func:`research.strategy.stations.funnel`).

    Returns
    -------
    DataFrame, stations by z (most below the overall rate first; ties by name): ``station, n``
    (complete answers), ``observed`` (satisfied), ``expected`` (case-mix expected satisfied),
    ``std_rate`` (indirectly standardised rate), ``target`` (overall rate), ``lcl_99.8, ucl_99.8``
    (limits at the station's n), ``z`` (divided by sqrt(phi) when over-dispersion is used),
    ``p_value``, ``q_value`` (BH), ``signal`` (outside the 99.8% limits: above / below / ""),
    ``fdr_signal`` (q < 0.05), ``phi, phi_used, limits``. No rows when the funnel was not computed.
    """
    cols = ["station", "n", "observed", "expected", "std_rate", "target", "lcl_99.8", "ucl_99.8", "z", "p_value",
            "q_value", "signal", "fdr_signal", "phi", "phi_used", "limits"]
    frame = frame_or_none(bundle, "station_funnel", cols)
    if frame is None:
        return pd.DataFrame(columns=cols)
    out = frame[cols].copy()
    out["station"] = out["station"].astype(object)
    for c in ("signal", "fdr_signal", "limits"):
        out[c] = out[c].astype(object).fillna("")
    return out.sort_values(["z", "station"], kind="stable").reset_index(drop=True)


def p_chart_false_signals(bundle: dict) -> dict | None:
    """What T18's reader should expect from chance alone: the p-chart's false signals per week.

    From ``bundle["p_chart"]`` by :func:`research.strategy.monitoring.expected_false_signals` (the exact
    binomial probability that a station in control at its centre line falls outside its limits,
    summed over the stations charted each week). Returns ``weeks``, ``stations`` (most charted in
    a week), ``expected_per_week``, ``observed_per_week``, ``expected_total``, ``observed_total``;
    None without a p-chart.
    """
    from research.strategy.monitoring import expected_false_signals

    pc = frame_or_none(bundle, "p_chart", ["station", "period_start", "n", "centre", "lcl", "ucl", "out_of_control"])
    if pc is None:
        return None
    ef = expected_false_signals(pc)
    weeks = len(ef)
    if weeks == 0:
        return None
    return {"weeks": int(weeks), "stations": int(ef["stations"].max()),
            "expected_per_week": float(ef["expected_false"].mean()), "observed_per_week": float(ef["signals"].mean()),
            "expected_total": float(ef["expected_false"].sum()), "observed_total": int(ef["signals"].sum())}


#: the columns of T23 (``tables/T23_typical_cases.csv``)
T23_COLUMNS = ["cause_l1", "part", "rank", "term", "n_dissatisfied", "n_satisfied", "delta", "se", "z",
               "comments_dissatisfied", "comments_satisfied", "ticket_id", "cause_l2", "comment", "score", "matched"]


def table_typical_cases(bundle: dict) -> pd.DataFrame:
    """T23 典型案例分析: per cause group, the words that distinguish dissatisfied from satisfied
    customers' comments and the typical (masked) comments of dissatisfied customers.

    From ``bundle["typical_terms"]`` and ``bundle["typical_cases"]``
    (:func:`research.strategy.typical_cases.distinguishing_terms` and ``typical_cases``, stage 4).

    Returns
    -------
    DataFrame, cause groups in taxonomy order, each with its ``part`` = ``term`` rows (by ``rank``:
    ``term``, ``n_dissatisfied`` and ``n_satisfied`` word counts, ``delta`` log-odds ratio, ``se``,
    ``z``) then its ``part`` = ``case`` rows (by ``rank``: ``ticket_id``, ``cause_l2``, ``comment``
    as masked at ingest, ``score`` cosine similarity 0..1 to the group's words, ``matched`` the
    group's words it holds); ``comments_dissatisfied`` and ``comments_satisfied`` (comments compared
    in the group) on every row of the group. No rows when no group has a distinguishing word.
    """
    terms = frame_or_none(bundle, "typical_terms", ["cause_l1", "rank", "term", "z", "comments_dissatisfied",
                                                    "comments_satisfied"])
    if terms is None:
        return pd.DataFrame(columns=T23_COLUMNS)
    parts = [terms.assign(part="term")]
    cases = frame_or_none(bundle, "typical_cases", ["cause_l1", "rank", "comment", "score"])
    if cases is not None:
        counts = terms.drop_duplicates("cause_l1").set_index("cause_l1")[["comments_dissatisfied",
                                                                         "comments_satisfied"]]
        parts.append(cases.join(counts, on="cause_l1").assign(part="case"))
    out = pd.concat(parts, ignore_index=True).reindex(columns=T23_COLUMNS)
    out["cause_l1"] = out["cause_l1"].astype(str)
    out["_g"] = order_of(out, "cause_l1", cause_codes(bundle, "cause_l1", out["cause_l1"]))
    out["_p"] = (out["part"] == "case").astype(int)
    out = out.sort_values(["_g", "_p", "rank"], kind="stable")[T23_COLUMNS].reset_index(drop=True)
    for c in ("rank", "n_dissatisfied", "n_satisfied", "comments_dissatisfied", "comments_satisfied"):
        out[c] = out[c].astype("Int64")
    for c in ("term", "ticket_id", "cause_l2", "comment", "matched"):
        out[c] = out[c].astype(object).where(out[c].notna(), "")
    return out
