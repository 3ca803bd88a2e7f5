"""The data plotted in figures F01..F07 (complaints, satisfaction, handling time, speed curves,
forest, item correlations, monthly rate): one builder per figure, bundle in, tidy frame out.

Each builder returns machine column names, full precision and a deterministic row order; only
counting, proportions and their Wilson intervals (at the plan's ``conf_level``) are computed
here, never a model (estimates come from the bundle). The drawings are in
:mod:`research.artifacts.drawers_fit`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from research.artifacts.figure_parts import instrument_of, l1_order, plain_text, rank_in, sort_by_codes
from research.artifacts.levels import conf_level
from research.stats.intervals import wilson_interval

#: probabilities at which F03 evaluates each group's quantile function (its ECDF, inverted)
ECDF_PROBABILITIES = np.linspace(0.0, 1.0, 101)
#: model whose sub-cause coefficients F05 shows
FOREST_MODEL = "ordinal"

_L2_TERM = re.compile(r"cause_l2\[(.+)\]")


def _rate_frame(frame: pd.DataFrame, by: list[str], level: float) -> pd.DataFrame:
    """n, n_satisfied, satisfied_rate and its Wilson interval at ``level`` (0..1) per ``by`` (answers
    with ``satisfied``), with ``conf_level`` = ``level``."""
    valid = frame.loc[frame["satisfied"].notna(), by + ["satisfied"]]
    valid = valid.assign(satisfied=valid["satisfied"].astype("bool"))
    agg = (valid.groupby(by, observed=True, sort=True)["satisfied"]
           .agg(n="size", n_satisfied="sum").reset_index())
    agg["n"] = agg["n"].astype("int64")
    agg["n_satisfied"] = agg["n_satisfied"].astype("int64")
    agg["satisfied_rate"] = agg["n_satisfied"] / agg["n"]
    low, high = wilson_interval(agg["n_satisfied"], agg["n"], level)
    agg["conf_low"], agg["conf_high"] = low, high
    agg["conf_level"] = level
    return agg


def figure_pareto_data(bundle: dict) -> pd.DataFrame:
    """Work orders per sub-cause, largest first, with the cumulative share.

    Counts come from the work-order export when the bundle has one (every complaint of the
    period), else from the survey responses.

    Returns
    -------
    DataFrame, one row per sub-cause seen: ``rank`` (1 = most), ``cause_l2``, ``cause_l1``,
    ``count``, ``share`` (count / total), ``cumulative_share`` (running sum of count / total;
    the last row is 1), ``source`` ("workorders" or "responses"). Ties keep taxonomy order.
    """
    ins = instrument_of(bundle)
    wo = bundle.get("workorders")
    source = "workorders" if wo is not None and len(wo) else "responses"
    frame = wo if source == "workorders" else bundle["responses"]
    counts = (frame.groupby(["cause_l1", "cause_l2"], observed=True, sort=True).size()
              .rename("count").reset_index())
    counts = sort_by_codes(counts, ins)
    counts = counts.iloc[np.argsort(-counts["count"].to_numpy(), kind="stable")].reset_index(drop=True)
    total = int(counts["count"].sum())
    out = pd.DataFrame({
        "rank": np.arange(1, len(counts) + 1, dtype="int64"),
        "cause_l2": counts["cause_l2"].astype(object),
        "cause_l1": counts["cause_l1"].astype(object),
        "count": counts["count"].astype("int64"),
    })
    out["share"] = out["count"] / total
    out["cumulative_share"] = out["count"].cumsum() / total
    out["source"] = source
    return out


def figure_satisfaction_data(bundle: dict) -> pd.DataFrame:
    """Satisfied rate per sub-cause with its Wilson interval at the plan's ``conf_level``.

    Returns
    -------
    DataFrame, one row per sub-cause with at least one answer, in taxonomy order (cause group,
    then sub-cause): ``cause_l1``, ``cause_l2``, ``n`` (answers to the overall item),
    ``n_satisfied`` (answers 4 or 5), ``satisfied_rate`` (proportion), ``conf_low``,
    ``conf_high`` (Wilson score interval), ``conf_level``.
    """
    ins = instrument_of(bundle)
    out = _rate_frame(bundle["responses"], ["cause_l1", "cause_l2"], conf_level(bundle))
    return plain_text(sort_by_codes(out, ins), ["cause_l1", "cause_l2"])


def figure_handling_time_data(bundle: dict) -> pd.DataFrame:
    """Quantile function (the ECDF, inverted) of handling time per cause group.

    Returns
    -------
    DataFrame, per cause group (taxonomy order) and probability in :data:`ECDF_PROBABILITIES`
    (0, 0.01, ..., 1): ``cause_l1``, ``probability``, ``handling_hours`` (the quantile, numpy's
    default linear interpolation, R's type 7; hours), ``n`` (responses with a handling time).
    Probability 0 and 1 give the minimum and maximum.
    """
    ins = instrument_of(bundle)
    r = bundle["responses"]
    r = r.loc[r["handling_hours"].notna(), ["cause_l1", "handling_hours"]]
    groups = [g for g in l1_order(ins) if (r["cause_l1"] == g).any()]
    groups += sorted(set(r["cause_l1"].dropna()) - set(groups))
    parts = []
    for g in groups:
        hours = r.loc[r["cause_l1"] == g, "handling_hours"].to_numpy(dtype="float64")
        parts.append(pd.DataFrame({
            "cause_l1": g, "probability": ECDF_PROBABILITIES,
            "handling_hours": np.quantile(hours, ECDF_PROBABILITIES), "n": np.int64(len(hours))}))
    if not parts:
        return pd.DataFrame({"cause_l1": pd.Series(dtype=object), "probability": pd.Series(dtype="float64"),
                             "handling_hours": pd.Series(dtype="float64"), "n": pd.Series(dtype="int64")})
    return plain_text(pd.concat(parts, ignore_index=True), ["cause_l1"])


def figure_speed_curves_data(bundle: dict) -> pd.DataFrame:
    """The predicted satisfied-rate curves of the threshold analysis, with each group's threshold.

    Returns
    -------
    DataFrame: the rows of ``threshold_curves`` (``cause_l1``, ``hours``, ``estimate``,
    ``conf_low``, ``conf_high``, ``conf_level``), in taxonomy order of ``cause_l1`` then
    ``hours``, plus the group's ``threshold_hours`` (hours; NaN when not reached), ``reached``,
    ``reference_rate`` (curve at the reference, fast handling), ``drop_points`` and
    ``threshold_rate`` (= reference_rate - drop_points / 100, the level whose crossing defines
    the threshold), repeated on each row of the group.
    """
    ins = instrument_of(bundle)
    curves = bundle["threshold_curves"]
    thr = bundle["thresholds"][["cause_l1", "threshold_hours", "reached", "reference_rate", "drop_points"]]
    out = curves.merge(thr, on="cause_l1", how="left", validate="many_to_one")
    out["reached"] = out["reached"].fillna(False).astype("bool")
    out["threshold_hours"] = out["threshold_hours"].where(out["reached"])
    out["threshold_rate"] = out["reference_rate"] - out["drop_points"] / 100
    return plain_text(sort_by_codes(out, ins, "hours"), ["cause_l1"])


def figure_forest_data(bundle: dict) -> pd.DataFrame:
    """Sub-cause coefficients of the proportional-odds model against its reference sub-cause.

    Returns
    -------
    DataFrame, one row per non-reference sub-cause in the model, in taxonomy order:
    ``model``, ``term`` (e.g. ``cause_l2[staff_attitude]``), ``cause_l1``, ``cause_l2``,
    ``estimate``, ``conf_low``, ``conf_high`` (log-odds of a higher answer), ``conf_level``,
    ``reference_cause_l2`` (the model's reference sub-cause; empty when the bundle does not say).
    """
    ins = instrument_of(bundle)
    est = bundle["estimates"]
    rows = est[(est["model"] == FOREST_MODEL) & (est["kind"] == "coefficient")]
    sub = rows["term"].astype(str).str.extract(_L2_TERM, expand=False)
    rows = rows[sub.notna()]
    sub = sub[sub.notna()]
    ref = ""
    fit = bundle.get("model_fit")
    if fit is not None and "reference_cause_l2" in fit:
        hit = fit.loc[fit["model"] == FOREST_MODEL, "reference_cause_l2"]
        if len(hit) and isinstance(hit.iloc[0], str):
            ref = hit.iloc[0]
    out = pd.DataFrame({
        "model": rows["model"].astype(object).to_numpy(),
        "term": rows["term"].astype(object).to_numpy(),
        "cause_l1": [ins.parent.get(s, "") for s in sub],
        "cause_l2": sub.astype(object).to_numpy(),
        "estimate": rows["estimate"].to_numpy(dtype="float64"),
        "conf_low": rows["conf_low"].to_numpy(dtype="float64"),
        "conf_high": rows["conf_high"].to_numpy(dtype="float64"),
        "conf_level": rows["conf_level"].to_numpy(dtype="float64"),
    })
    out["reference_cause_l2"] = ref
    return sort_by_codes(out, ins)


def figure_item_correlation_data(bundle: dict) -> pd.DataFrame:
    """Pairwise Pearson correlations of the satisfaction items (the full square, both orders).

    Returns
    -------
    DataFrame: ``item_a``, ``item_b``, ``r``, ``n`` (pairs with both answers), rows in the
    instrument's item order of ``item_a`` then ``item_b``.
    """
    ins = instrument_of(bundle)
    corr = bundle["item_correlations"][["item_a", "item_b", "r", "n"]]
    order = [it.name for it in ins.items]
    out = corr.assign(_la=rank_in(corr["item_a"], order), _lb=rank_in(corr["item_b"], order),
                      _lac=corr["item_a"].astype(str), _lbc=corr["item_b"].astype(str))
    out = out.sort_values(["_la", "_lac", "_lb", "_lbc"], kind="mergesort")
    out = out[["item_a", "item_b", "r", "n"]].reset_index(drop=True)
    out["n"] = out["n"].astype("int64")
    return plain_text(out, ["item_a", "item_b"])


def monthly_min_n(bundle: dict) -> int:
    """The fewest valid answers a month needs to be drawn as a point in F07: the plan's
    ``bulletin.min_n`` (default 30), the same minimum below which the bulletin flags a station's
    rate instead of ranking it -- a rate of fewer answers is too uncertain to read as a level
    (n = 1 gives 0% or 100% with a Wilson interval of about 80 points)."""
    from research.config.plan_specs import BulletinSpec

    spec = getattr(bundle.get("plan"), "bulletin", None)
    return int(getattr(spec, "min_n", BulletinSpec.min_n))


def figure_monthly_data(bundle: dict) -> pd.DataFrame:
    """Satisfied rate per survey month with its Wilson interval at the plan's ``conf_level``.

    Returns
    -------
    DataFrame, one row per calendar month of ``surveyed_at`` with answers, in time order:
    ``month`` (``YYYY-MM``), ``n``, ``n_satisfied``, ``satisfied_rate``, ``conf_low``,
    ``conf_high``, ``conf_level``, ``min_n`` (:func:`monthly_min_n`) and ``too_few``
    (``n < min_n``: kept here with its numbers, drawn hollow and grey without an interval).
    """
    r = bundle["responses"]
    r = r.loc[r["surveyed_at"].notna(), ["surveyed_at", "satisfied"]]
    r = r.assign(month=r["surveyed_at"].dt.strftime("%Y-%m").astype(object))
    out = _rate_frame(r, ["month"], conf_level(bundle))
    out = out.sort_values("month", kind="mergesort").reset_index(drop=True)
    out["min_n"] = monthly_min_n(bundle)
    out["too_few"] = out["n"].to_numpy() < out["min_n"].to_numpy()
    return plain_text(out, ["month"])
