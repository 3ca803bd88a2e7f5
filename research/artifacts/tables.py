"""The data of every registered table (T01..T08): one builder per table, bundle in, tidy frame out.

Each builder takes the bundle (:mod:`research.artifacts.bundle`) and returns the
table's data as a :class:`pandas.DataFrame`: machine column names, full precision,
codes rather than labels, one deterministic row order. Nothing here is rounded or
formatted for display (:mod:`research.artifacts.render_tables` does that), and no
model is fitted: model numbers are copied from the bundle's result frames. The
only computations are descriptive: counts, shares, medians, means, Wilson
intervals for rates and normal intervals for means.

Row orders: causes and sub-causes in instrument order (``surveys/taxonomy.yaml``),
models in plan order, then an ``overall`` row where a table has one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from research.stats.intervals import wilson_interval  # noqa: F401  (also as tables.wilson_interval)

#: confidence level of the descriptive intervals when the bundle carries no plan
DEFAULT_CONF_LEVEL = 0.95

#: fit statistics shown under the coefficients of T04, in this order
FIT_STATISTICS: tuple[str, ...] = ("nobs", "loglik", "aic", "bic")

#: order of the kinds of estimate rows in T04
TERM_KINDS: tuple[str, ...] = ("coefficient", "cutpoint", "variance")

#: order of the scales of T05
EFFECT_SCALES: tuple[str, ...] = ("p_satisfied", "mean_score")

OVERALL = "overall"


# --------------------------------------------------------------------------- helpers

def _conf_level(bundle: dict) -> float:
    plan = bundle.get("plan")
    return float(getattr(plan, "conf_level", DEFAULT_CONF_LEVEL))


def _z(conf_level: float) -> float:
    return float(stats.norm.ppf(0.5 + conf_level / 2))


def _mean_interval(values: pd.Series, conf_level: float) -> tuple[int, float, float, float, float]:
    """n, mean, standard error and the normal interval ``mean ± z sd / sqrt(n)`` of a numeric series."""
    v = pd.to_numeric(values, errors="coerce").astype("float64").dropna().to_numpy()
    n = len(v)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan
    mean = float(v.mean())
    se = float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    z = _z(conf_level)
    return n, mean, se, mean - z * se, mean + z * se


def _cause_codes(bundle: dict, kind: str, present) -> list[str]:
    """Codes of ``kind`` in instrument order, then any other present codes sorted (never silently dropped)."""
    ins = bundle.get("instrument")
    known: list[str] = []
    if ins is not None and kind in ins.label_sets:
        known = list(ins.label_sets[kind].codes)
    extra = sorted({str(v) for v in present if pd.notna(v)} - set(known))
    return known + extra


def _valid(responses: pd.DataFrame) -> pd.DataFrame:
    """Responses whose overall satisfaction was answered."""
    return responses[responses["sat_overall"].notna()]


def _satisfied_counts(valid: pd.DataFrame) -> tuple[int, int]:
    sat = valid["satisfied"].astype("boolean")
    return int(sat.notna().sum()), int(sat.fillna(False).sum())


def _order(frame: pd.DataFrame, column: str, codes: list[str]) -> pd.Series:
    return frame[column].map({c: i for i, c in enumerate(codes)})


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
    codes = _cause_codes(bundle, "cause_l1", present)

    def row(key: str, resp: pd.DataFrame, wo: pd.DataFrame | None) -> dict:
        valid = _valid(resp)
        n_valid, n_sat = _satisfied_counts(valid)
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
    conf = _conf_level(bundle)
    valid = _valid(bundle["responses"])
    ins = bundle.get("instrument")
    parent = dict(getattr(ins, "parent", {}) or {})
    l1_codes = _cause_codes(bundle, "cause_l1", valid["cause_l1"].unique())
    l2_codes = _cause_codes(bundle, "cause_l2", valid["cause_l2"].unique())

    def row(level: str, l1: str, l2, part: pd.DataFrame) -> dict:
        n_valid, n_sat = _satisfied_counts(part)
        _, mean, se, low, high = _mean_interval(part["sat_overall"], conf)
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
    causes = _cause_codes(bundle, "cause_l1", me["cause_l1"].unique())
    scales = list(EFFECT_SCALES) + sorted(set(me["scale"].astype(str)) - set(EFFECT_SCALES))
    me["_s"] = _order(me, "scale", scales)
    me["_m"] = _order(me, "model", models)
    me["_c"] = _order(me, "cause_l1", causes)
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
    causes = _cause_codes(bundle, "cause_l1", th["cause_l1"].unique())
    th = th.iloc[np.argsort(_order(th, "cause_l1", causes).to_numpy(), kind="stable")]
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


# --------------------------------------------------------------------------- T09..T12 (representativeness)
# Read the frames of research.representativeness.run (bundle keys response_rates,
# weight_summary, weight_margins, weighted_estimates, svy_marginal_effects).
# Without a work-order export those keys are absent: each builder then returns
# its columns with no rows, and the display says why.

#: order of the response-rate breakdowns in T09
RATE_VARIABLES: tuple[str, ...] = ("overall", "cause_l1", "cause_l2", "region", "handling_band", "station")
#: outcomes of T11, in order
T11_VARIABLES: tuple[str, ...] = ("satisfied", "sat_overall")
#: domains of T11, in order
T11_DOMAINS: tuple[str, ...] = ("overall", "cause_l1", "cause_l2", "region")


def _frame(bundle: dict, key: str, columns: list[str]) -> pd.DataFrame | None:
    """The bundle's frame ``key``, or None when absent or empty (no work-order export)."""
    frame = bundle.get(key)
    if frame is None or len(frame) == 0:
        return None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"bundle[{key!r}] lacks columns {missing}")
    return frame


def _level_order(frame: pd.DataFrame, var_col: str, level_col: str, variables: tuple[str, ...],
                 bundle: dict) -> pd.DataFrame:
    """Rows ordered by variable (``variables`` order) then level (instrument order for codes,
    band order for bands, as given otherwise)."""
    frame = frame[frame[var_col].isin(variables)].copy()
    frame["_v"] = _order(frame, var_col, list(variables))
    ranks = []
    for var, level in zip(frame[var_col], frame[level_col].astype(str)):
        if var in ("cause_l1", "cause_l2"):
            codes = _cause_codes(bundle, var, [level])
            ranks.append(codes.index(level))
        else:
            ranks.append(-1)  # keep the given order (bands in band order, others sorted upstream)
    frame["_l"] = ranks
    frame["_i"] = np.arange(len(frame))
    return frame.sort_values(["_v", "_l", "_i"], kind="stable").drop(columns=["_v", "_l", "_i"])


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
    rr = _frame(bundle, "response_rates", cols)
    if rr is None:
        return pd.DataFrame(columns=cols)
    return _level_order(rr[cols], "variable", "level", RATE_VARIABLES, bundle).reset_index(drop=True)


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
    ws = _frame(bundle, "weight_summary", ["variable", "level", "n", "sum", "min", "max", "mean", "cv",
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
    out = _level_order(ws, "variable", "level", variables, bundle)
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
    we = _frame(bundle, "weighted_estimates", cols)
    if we is None:
        return pd.DataFrame(columns=cols)
    parts = [_level_order(we[we["variable"] == v], "domain", "level", T11_DOMAINS, bundle)
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
    sv = _frame(bundle, "svy_marginal_effects", ["model", "scale", "cause_l1", "estimate", "conf_low",
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
    causes = _cause_codes(bundle, "cause_l1", out["cause_l1"].unique())
    out["_m"] = _order(out, "model", models)
    out["_c"] = _order(out, "cause_l1", causes)
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
    pe = _frame(bundle, "propensity_estimates", cols)
    if pe is None:
        return pd.DataFrame(columns=cols)
    return pe[cols].reset_index(drop=True)


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
    lv = _frame(bundle, "levers", ["rank", "lever", "zh", "en", "effect_points", "conf_low", "conf_high"])
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
    imp = _frame(bundle, "drivers_importance", ["set", "driver", "importance", "share", "rank"])
    ipa = _frame(bundle, "drivers_ipa", ["set", "driver", "performance", "quadrant"])
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
    rc = _frame(bundle, "repeat_callers", ["customer_id", "n_tickets", "risk"])
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
    rec = _frame(bundle, "recurrence", ["station", "cause_l2", "period_start", "count", "expected", "p_value"])
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
    pc = _frame(bundle, "p_chart", ["station", "period_start", "out_of_control"])
    if pc is None:
        return pd.DataFrame(columns=cols)
    out = pc[pc["out_of_control"]].sort_values(["period_start", "station"], kind="stable")
    return out[cols].reset_index(drop=True)


#: order of the weighting methods in T19 (research.strategy.sensitivity)
T19_METHODS: tuple[str, ...] = ("none", "rake", "ipw", "poststratify", "outcome_model")
#: order of the delta scenarios in T20
T20_SCENARIOS: tuple[str, ...] = ("refused", "no_answer", "all")


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
    wm = _frame(bundle, "weighting_methods", cols)
    if wm is None:
        return pd.DataFrame(columns=cols)
    domains = ("overall", *[d for d in dict.fromkeys(wm["domain"]) if d != "overall"])
    out = _level_order(wm, "domain", "level", domains, bundle)
    out["_m"] = _order(out, "method", list(T19_METHODS))
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
    dr = _frame(bundle, "delta_range", ["scenario", "delta", "odds_ratio", "domain", "estimate", "conf_low",
                                        "conf_high", "conf_level"])
    tip = _frame(bundle, "tipping_deltas", ["scenario", "domain", "target", "tipping_delta",
                                            "rate_if_all_dissatisfied", "rate_if_all_satisfied", "n_shifted"])
    if dr is None or tip is None:
        return pd.DataFrame(columns=cols)
    dr = dr[dr["domain"] == "overall"]
    tip = tip[tip["domain"] == "overall"][["scenario", "target", "tipping_delta", "rate_if_all_dissatisfied",
                                           "rate_if_all_satisfied", "n_shifted"]]
    out = dr.merge(tip, on="scenario", how="left")
    out["_s"] = _order(out, "scenario", list(T20_SCENARIOS))
    return out.sort_values(["_s", "delta"], kind="stable")[cols].reset_index(drop=True)


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
    frame = _frame(bundle, "associations", cols[:13])
    if frame is None:
        return pd.DataFrame(columns=cols)
    out = frame.reindex(columns=cols)  # a frame from before the df columns: no df note
    out["_i"] = np.arange(len(out))
    out["_v"] = _order(out, "variable", ["resolved", "repeat"])
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
    frame = _frame(bundle, "station_funnel", cols)
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

    pc = _frame(bundle, "p_chart", ["station", "period_start", "n", "centre", "lcl", "ucl", "out_of_control"])
    if pc is None:
        return None
    ef = expected_false_signals(pc)
    weeks = len(ef)
    if weeks == 0:
        return None
    return {"weeks": int(weeks), "stations": int(ef["stations"].max()),
            "expected_per_week": float(ef["expected_false"].mean()), "observed_per_week": float(ef["signals"].mean()),
            "expected_total": float(ef["expected_false"].sum()), "observed_total": int(ef["signals"].sum())}
