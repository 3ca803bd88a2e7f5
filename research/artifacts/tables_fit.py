"""The data of tables T01..T08 (sample, ingest, satisfaction, models, effects, thresholds,
comparisons, reliability): one builder per table, bundle in, tidy frame out.

Each builder takes the bundle (:mod:`research.artifacts.bundle`) and returns the
table's data as a :class:`pandas.DataFrame`: machine column names, full precision,
codes rather than labels, one deterministic row order. Nothing here is rounded or
formatted for display (:mod:`research.artifacts.render_tables` does that), and no
model is fitted: model numbers are copied from the bundle's result frames. The
only computations are descriptive: counts, shares, medians, means, Wilson
intervals for rates and normal intervals for means, at the plan's ``conf_level``.

Row orders: causes and sub-causes in instrument order (``surveys/taxonomy.yaml``),
models in plan order, then an ``overall`` row where a table has one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.artifacts.levels import conf_level
from research.artifacts.tables_common import (OVERALL, cause_codes, mean_interval, order_of, satisfied_counts,
                                              valid_answers)
from research.stats.intervals import wilson_interval

#: fit statistics shown under the coefficients of T04, in this order
FIT_STATISTICS: tuple[str, ...] = ("nobs", "loglik", "aic", "bic")

#: order of the kinds of estimate rows in T04
TERM_KINDS: tuple[str, ...] = ("coefficient", "cutpoint", "variance")

#: order of the scales of T05
EFFECT_SCALES: tuple[str, ...] = ("p_satisfied", "mean_score")


# --------------------------------------------------------------------------- T01

def table_sample(bundle: dict) -> pd.DataFrame:
    """T01 sample description by cause group, plus an ``overall`` row.

    Returns
    -------
    DataFrame, one row per ``cause_l1`` (instrument order) then ``overall``:

    ``cause_l1``
        cause group code, or ``overall``.
    ``work_orders``
        complaint work orders of the period (work-order export; NA without one).
    ``completed_surveys``
        accepted survey rows (each is a completed survey).
    ``valid_responses``
        completed surveys that answered overall satisfaction (``sat_overall`` present).
    ``satisfied``
        valid responses answering 4 or 5 (top-2-box).
    ``satisfied_rate``
        ``satisfied / valid_responses`` (share, 0..1; NaN when no valid response).
    ``median_handling_hours``
        median handling time of the completed surveys, hours.
    ``mean_handling_hours``
        mean handling time of the completed surveys, hours.
    """
    responses = bundle["responses"]
    workorders = bundle.get("workorders")
    present = list(responses["cause_l1"].unique())
    if workorders is not None:
        present += list(workorders["cause_l1"].unique())
    codes = cause_codes(bundle, "cause_l1", present)

    def row(key: str, resp: pd.DataFrame, wo: pd.DataFrame | None) -> dict:
        valid = valid_answers(resp)
        n_valid, n_sat = satisfied_counts(valid)
        hours = resp["handling_hours"].astype("float64").dropna()
        return {
            "cause_l1": key,
            "work_orders": pd.NA if wo is None else len(wo),
            "completed_surveys": len(resp),
            "valid_responses": len(valid),
            "satisfied": n_sat,
            "satisfied_rate": n_sat / n_valid if n_valid else np.nan,
            "median_handling_hours": float(hours.median()) if len(hours) else np.nan,
            "mean_handling_hours": float(hours.mean()) if len(hours) else np.nan,
        }

    rows = [row(c, responses[responses["cause_l1"] == c],
                None if workorders is None else workorders[workorders["cause_l1"] == c]) for c in codes]
    rows.append(row(OVERALL, responses, workorders))
    out = pd.DataFrame(rows)
    for col in ("work_orders", "completed_surveys", "valid_responses", "satisfied"):
        out[col] = out[col].astype("Int64")
    return out


# --------------------------------------------------------------------------- T02

def table_reconciliation(bundle: dict) -> pd.DataFrame:
    """T02 ingest reconciliation, from the ingest report.

    Returns
    -------
    DataFrame: for each input file (report order) one ``file`` row, then one
    ``reason`` row per rejection reason with a non-zero count (report order of
    the reasons); last a ``total`` row over all files.

    ``row_type``
        ``file``, ``reason`` or ``total``.
    ``role``
        ``survey`` or ``workorders`` (``all`` on the total row).
    ``file``
        file name as read (NA on the total row).
    ``reason``
        rejection reason code on ``reason`` rows (labels: ``ingest_report["reasons"]``), else NA.
    ``rows_read``, ``accepted``
        rows read and accepted (file and total rows; NA on reason rows).
    ``rejected``
        rows rejected: in total on file and total rows, for this reason on reason rows.
    """
    report = bundle["ingest_report"]
    reason_order = list(report.get("reasons", {}))
    rows = []
    for f in report["files"]:
        rows.append({"row_type": "file", "role": f["role"], "file": f["file"], "reason": pd.NA,
                     "rows_read": f["rows_read"], "accepted": f["accepted"], "rejected": f["rejected"]})
        by_reason = f.get("rejected_by_reason", {})
        order = reason_order + sorted(set(by_reason) - set(reason_order))
        for reason in order:
            count = int(by_reason.get(reason, 0))
            if count:
                rows.append({"row_type": "reason", "role": f["role"], "file": f["file"], "reason": reason,
                             "rows_read": pd.NA, "accepted": pd.NA, "rejected": count})
    rows.append({"row_type": "total", "role": "all", "file": pd.NA, "reason": pd.NA,
                 "rows_read": report["rows_read"], "accepted": report["accepted"],
                 "rejected": report["rejected"]})
    out = pd.DataFrame(rows)
    for col in ("rows_read", "accepted", "rejected"):
        out[col] = out[col].astype("Int64")
    for col in ("row_type", "role", "file", "reason"):
        out[col] = out[col].astype("string")
    return out


# --------------------------------------------------------------------------- T03

def table_satisfaction_by_cause(bundle: dict) -> pd.DataFrame:
    """T03 satisfaction by cause group and sub-cause (unweighted).

    Returns
    -------
    DataFrame: per cause group (instrument order) one ``cause_l1`` row then its
    sub-causes' ``cause_l2`` rows (taxonomy order, sub-causes with no response
    left out); last an ``overall`` row.

    ``level``
        ``cause_l1``, ``cause_l2`` or ``overall``.
    ``cause_l1``, ``cause_l2``
        codes (``cause_l2`` NA on group and overall rows; ``cause_l1`` is ``overall`` on the last).
    ``n``
        valid responses (``sat_overall`` answered).
    ``satisfied``
        of which satisfied (4 or 5).
    ``satisfied_rate``, ``rate_conf_low``, ``rate_conf_high``
        satisfied share (0..1) and its Wilson interval.
    ``mean_score``, ``mean_std_error``, ``mean_conf_low``, ``mean_conf_high``
        mean of ``sat_overall`` (1..5), its standard error ``sd / sqrt(n)`` and the
        normal interval ``mean ± z se``.
    ``conf_level``
        level of both intervals (the plan's, 0.95 by default).
    """
    conf = conf_level(bundle)
    valid = valid_answers(bundle["responses"])
    ins = bundle.get("instrument")
    parent = dict(getattr(ins, "parent", {}) or {})
    l1_codes = cause_codes(bundle, "cause_l1", valid["cause_l1"].unique())
    l2_codes = cause_codes(bundle, "cause_l2", valid["cause_l2"].unique())

    def row(level: str, l1: str, l2, part: pd.DataFrame) -> dict:
        n_valid, n_sat = satisfied_counts(part)
        _, mean, se, low, high = mean_interval(part["sat_overall"], conf)
        return {"level": level, "cause_l1": l1, "cause_l2": l2, "n": n_valid, "satisfied": n_sat,
                "satisfied_rate": n_sat / n_valid if n_valid else np.nan,
                "mean_score": mean, "mean_std_error": se, "mean_conf_low": low, "mean_conf_high": high}

    rows = []
    for l1 in l1_codes:
        in_group = valid[valid["cause_l1"] == l1]
        rows.append(row("cause_l1", l1, pd.NA, in_group))
        subs = [c for c in l2_codes if parent.get(c, None) == l1 or
                (c not in parent and c in set(in_group["cause_l2"].astype(str)))]
        for l2 in subs:
            part = in_group[in_group["cause_l2"] == l2]
            if len(part):
                rows.append(row("cause_l2", l1, l2, part))
    rows.append(row("overall", OVERALL, pd.NA, valid))
    out = pd.DataFrame(rows)
    low, high = wilson_interval(out["satisfied"], out["n"], conf)
    out.insert(out.columns.get_loc("satisfied_rate") + 1, "rate_conf_low", low)
    out.insert(out.columns.get_loc("rate_conf_low") + 1, "rate_conf_high", high)
    out["conf_level"] = conf
    for col in ("n", "satisfied"):
        out[col] = out[col].astype("Int64")
    for col in ("level", "cause_l1", "cause_l2"):
        out[col] = out[col].astype("string")
    return out


# --------------------------------------------------------------------------- T04

#: T04: estimates columns carried beside estimate, std_error and p_value (NaN when absent)
T04_EXTRA = ("conf_low", "conf_high", "odds_ratio", "or_conf_low", "or_conf_high", "p_holm")


def table_models(bundle: dict) -> pd.DataFrame:
    """T04 models side by side (like R's ``modelsummary`` or Stata's ``esttab``).

    Returns
    -------
    DataFrame: one row per distinct ``term`` of ``bundle["estimates"]``:
    coefficients (order of first appearance over the models), then cutpoints, then
    variance components; then one row per fit statistic of :data:`FIT_STATISTICS`.

    ``kind``
        ``coefficient``, ``cutpoint``, ``variance`` or ``fit``.
    ``term``
        coefficient name as in the estimates frame (R style), or the fit statistic's name.
    ``<model>_estimate``, ``<model>_std_error``, ``<model>_p_value``
        for each model (plan order): the estimates frame's numbers; NaN where the
        model has no such term. On ``fit`` rows ``<model>_estimate`` holds the
        statistic from ``bundle["model_fit"]`` and the other two are NaN.
    ``<model>_conf_low``, ``<model>_conf_high``, ``<model>_odds_ratio``, ``<model>_or_conf_low``,
    ``<model>_or_conf_high``, ``<model>_p_holm``
        the estimates frame's interval, odds ratio with its interval (logit and ordinal
        coefficients) and Holm-adjusted p (sub-cause contrasts); NaN where absent.
    ``<model>_p_stars``
        the p-value the stars follow: ``p_holm`` for the sub-cause contrasts (Holm across
        the sub-cause contrasts of each model), ``p_value`` for every other term.
    """
    est = bundle["estimates"]
    fit = bundle["model_fit"]
    models = list(dict.fromkeys(list(fit["model"]) + list(est["model"])))
    dup = est.duplicated(["model", "term"])
    if dup.any():
        raise ValueError(f"estimates repeat (model, term): {est.loc[dup, ['model', 'term']].values.tolist()}")
    kinds = est["kind"].astype(str) if "kind" in est else pd.Series("coefficient", index=est.index)
    kind_rank = {k: i for i, k in enumerate(TERM_KINDS)}
    terms = (pd.DataFrame({"kind": kinds.to_numpy(), "term": est["term"].astype(str).to_numpy()})
             .drop_duplicates("term").reset_index(drop=True))
    terms["_rank"] = terms["kind"].map(lambda k: kind_rank.get(k, len(TERM_KINDS)))
    terms["_first"] = np.arange(len(terms))
    terms = terms.sort_values(["_rank", "_first"], kind="stable")[["kind", "term"]].reset_index(drop=True)

    out = terms.copy()
    for m in models:
        part = est[est["model"] == m].set_index(est.loc[est["model"] == m, "term"].astype(str))
        for col in ("estimate", "std_error", "p_value", *T04_EXTRA):
            src = part[col] if col in part.columns else pd.Series(np.nan, index=part.index)
            out[f"{m}_{col}"] = out["term"].map(src.astype("float64")).astype("float64")
        holm = out[f"{m}_p_holm"]
        out[f"{m}_p_stars"] = holm.where(holm.notna(), out[f"{m}_p_value"])

    fit_rows = pd.DataFrame({"kind": "fit", "term": list(FIT_STATISTICS)})
    fit_by_model = fit.set_index(fit["model"].astype(str))
    for m in models:
        values = [float(fit_by_model.at[m, s]) if m in fit_by_model.index and s in fit_by_model.columns
                  else np.nan for s in FIT_STATISTICS]
        fit_rows[f"{m}_estimate"] = values
        fit_rows[f"{m}_std_error"] = np.nan
        fit_rows[f"{m}_p_value"] = np.nan
        for col in (*T04_EXTRA, "p_stars"):
            fit_rows[f"{m}_{col}"] = np.nan
    out = pd.concat([out, fit_rows], ignore_index=True)
    for col in ("kind", "term"):
        out[col] = out[col].astype("string")
    return out


def model_names(table: pd.DataFrame) -> list[str]:
    """Models of a :func:`table_models` frame, in column order."""
    return [c[: -len("_estimate")] for c in table.columns if c.endswith("_estimate")]


# --------------------------------------------------------------------------- T05

def table_handling_time_effects(bundle: dict) -> pd.DataFrame:
    """T05 average marginal effect of doubling the handling time, per cause group.

    Returns
    -------
    DataFrame: rows of ``bundle["marginal_effects"]`` ordered by scale
    (``p_satisfied`` then ``mean_score``), model (plan order) and cause group
    (instrument order), with columns ``model, term, scale, cause_l1, estimate,
    std_error, statistic, p_value, conf_low, conf_high, conf_level, n``:
    ``estimate`` is the change in P(satisfied) (probability, 0..1 scale) or in the
    mean score (1..5 points) when every ticket's handling time doubles.
    """
    me = bundle["marginal_effects"].copy()
    models = list(dict.fromkeys(list(bundle["model_fit"]["model"]) + list(me["model"])))
    causes = cause_codes(bundle, "cause_l1", me["cause_l1"].unique())
    scales = list(EFFECT_SCALES) + sorted(set(me["scale"].astype(str)) - set(EFFECT_SCALES))
    me["_s"] = order_of(me, "scale", scales)
    me["_m"] = order_of(me, "model", models)
    me["_c"] = order_of(me, "cause_l1", causes)
    me = me.sort_values(["_s", "_m", "_c"], kind="stable")
    cols = [c for c in ("model", "term", "scale", "cause_l1", "estimate", "std_error", "statistic",
                        "p_value", "conf_low", "conf_high", "conf_level", "n") if c in me.columns]
    return me[cols].reset_index(drop=True)


# --------------------------------------------------------------------------- T06

def table_thresholds(bundle: dict) -> pd.DataFrame:
    """T06 tolerance thresholds of handling time by cause group.

    Returns
    -------
    DataFrame: ``bundle["thresholds"]`` in instrument order of ``cause_l1`` with
    ``cause_l1, threshold_hours, conf_low, conf_high, conf_level, reached,
    upper_reached, reference_hours, reference_rate, max_hours, drop_points,
    boot_reps, boot_not_reached, n, shape, change_point_p, breakpoint_hours,
    breakpoint_low, breakpoint_high, slope_per_doubling, slope_low, slope_high,
    n_dissatisfied, change_point_kind`` (``slope_change`` or ``step`` for a threshold, else
    empty). Hours are hours; ``reference_rate`` a share
    (0..1); ``drop_points`` and the slope percentage points (per doubling of
    1 + hours). ``threshold_hours`` (the conventional drop) is NaN when
    ``reached`` is false (no threshold below ``max_hours``) or the group has
    insufficient data; ``conf_high`` is NaN when the upper bound was not reached
    in the bootstrap. ``shape`` is threshold | gradual | insufficient_data
    (research.models.thresholds).
    """
    th = bundle["thresholds"].copy()
    causes = cause_codes(bundle, "cause_l1", th["cause_l1"].unique())
    th = th.iloc[np.argsort(order_of(th, "cause_l1", causes).to_numpy(), kind="stable")]
    cols = [c for c in ("cause_l1", "threshold_hours", "conf_low", "conf_high", "conf_level", "reached",
                        "upper_reached", "reference_hours", "reference_rate", "max_hours", "drop_points",
                        "boot_reps", "boot_not_reached", "n", "shape", "change_point_p", "breakpoint_hours",
                        "breakpoint_low", "breakpoint_high", "slope_per_doubling", "slope_low", "slope_high",
                        "n_dissatisfied", "change_point_kind") if c in th.columns]
    return th[cols].reset_index(drop=True)


# --------------------------------------------------------------------------- T07

def table_group_comparisons(bundle: dict) -> pd.DataFrame:
    """T07 group comparisons (``comparisons``) and the association test (``association``) in one frame.

    Returns
    -------
    DataFrame with ``analysis, dv, between, method, statistic, df1, df2, p_value,
    effect_size, effect_size_name, n, n_groups, n_missing``: the comparison rows
    as they are, then the association rows mapped as ``dv = row``, ``between =
    col``, ``df1 = df``, ``effect_size = cramers_v`` (``effect_size_name =
    "cramers_v"``), ``n_groups = n_cols``.
    """
    cols = ["analysis", "dv", "between", "method", "statistic", "df1", "df2", "p_value", "effect_size",
            "effect_size_name", "n", "n_groups", "n_missing"]
    comp = bundle["comparisons"].reindex(columns=cols)
    assoc = bundle.get("association")
    parts = [comp]
    if assoc is not None and len(assoc):
        parts.append(pd.DataFrame({
            "analysis": assoc["analysis"], "dv": assoc["row"], "between": assoc["col"],
            "method": assoc["method"], "statistic": assoc["statistic"], "df1": assoc["df"], "df2": np.nan,
            "p_value": assoc["p_value"], "effect_size": assoc["cramers_v"], "effect_size_name": "cramers_v",
            "n": assoc["n"], "n_groups": assoc["n_cols"], "n_missing": assoc["n_missing"]}))
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) \
        else comp.iloc[0:0]
    for col in ("analysis", "dv", "between", "method", "effect_size_name"):
        out[col] = out[col].astype("string")
    for col in ("statistic", "df1", "df2", "p_value", "effect_size"):
        out[col] = out[col].astype("float64")
    for col in ("n", "n_groups", "n_missing"):
        out[col] = out[col].astype("Int64")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- T08

def table_reliability(bundle: dict) -> pd.DataFrame:
    """T08 reliability of the satisfaction scale: alpha row(s), then one row per item.

    Returns
    -------
    DataFrame with
    ``row_type`` (``scale`` or ``item``), ``name`` (scale name or item column),
    ``alpha, conf_low, conf_high, conf_level`` (scale rows: Cronbach's alpha and its
    Feldt interval), ``mean, sd`` (item rows, 1..5 points), ``item_rest_r``
    (item-rest correlation), ``alpha_if_dropped``, ``n`` (complete cases),
    ``n_items`` and ``n_missing`` (scale rows), ``method`` (scale rows).
    """
    rel = bundle["reliability"]
    items = bundle["item_statistics"]
    scale_rows = pd.DataFrame({"row_type": "scale", "name": rel["scale"], "alpha": rel["alpha"],
                               "conf_low": rel["conf_low"], "conf_high": rel["conf_high"],
                               "conf_level": rel["conf_level"], "n": rel["n"], "n_items": rel["n_items"],
                               "n_missing": rel["n_missing"], "method": rel["method"]})
    item_rows = pd.DataFrame({"row_type": "item", "name": items["item"], "mean": items["mean"],
                              "sd": items["sd"], "item_rest_r": items["item_rest_r"],
                              "alpha_if_dropped": items["alpha_if_dropped"], "n": items["n"]})
    cols = ["row_type", "name", "alpha", "conf_low", "conf_high", "conf_level", "mean", "sd", "item_rest_r",
            "alpha_if_dropped", "n", "n_items", "n_missing", "method"]
    out = pd.concat([scale_rows.reindex(columns=cols), item_rows.reindex(columns=cols)], ignore_index=True)
    for col in ("row_type", "name", "method"):
        out[col] = out[col].astype("string")
    for col in ("alpha", "conf_low", "conf_high", "conf_level", "mean", "sd", "item_rest_r", "alpha_if_dropped"):
        out[col] = out[col].astype("float64")
    for col in ("n", "n_items", "n_missing"):
        out[col] = out[col].astype("Int64")
    return out
