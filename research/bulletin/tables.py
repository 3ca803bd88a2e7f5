"""The bulletin's tables of one period (pure: frames in, frames out): overview, by region and station,
out-of-control stations, recurrence, the monthly station ranking, repeat callers
(:func:`bulletin_tables`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.bulletin.data import (RANKING_RHS, RATES, REPEAT_TOP, _RATE_COUNTS, _in, _keycol, _rate,
                                    _reached, _require, _Data)
from research.bulletin.periods import _check_period, last_year_period, period_of, previous_period, Period
from research.errors import InputError


def _overview(data: _Data, p: Period, prev: Period, ly: Period | None, causes: list[str]) -> pd.DataFrame:
    """One row per cause group (instrument order, then any other code) and a last row ``total``;
    every column in one unit (:func:`column_unit`). Rates and the mean handling time are of the
    total row only (NaN on the cause rows); a comparison period the data do not reach is NaN."""
    def cause_volumes(q: Period | None) -> pd.Series:
        if q is None:
            return pd.Series(dtype=float)
        m = _in(data.w_created, q)
        return _keycol(data.w, "cause_l1")[m].value_counts()

    periods = {"": p, "_previous": prev, "_last_year": ly}
    reach_w = {k: k == "" or _reached(data.w_first, q) for k, q in periods.items()}
    reach_r = {k: k == "" or _reached(data.r_first, q) for k, q in periods.items()}
    totals = {k: data.counts(q, None) if q is not None else None for k, q in periods.items()}
    vols = {k: cause_volumes(q) for k, q in periods.items()}
    present = set().union(*(set(v.index) for v in vols.values()))
    groups = [c for c in causes if c in present] + sorted(present - set(causes)) + ["total"]
    total = np.array([g == "total" for g in groups])
    out = pd.DataFrame({"group": pd.array(groups, dtype="string")})

    def total_only(value) -> np.ndarray:
        return np.where(total, float(value), np.nan)

    for k in periods:  # work orders created in each period, by cause group and in total
        ok = reach_w[k] and totals[k] is not None
        out[f"volume{k}"] = [np.nan if not ok else float(totals[k]["volume"].iloc[0]) if g == "total"
                             else float(vols[k].get(g, 0)) for g in groups]
    out["volume_change"] = out["volume"] - out["volume_previous"]
    out["volume_change_last_year"] = out["volume"] - out["volume_last_year"]
    cur = totals[""]
    for ind in RATES:
        num_col, den_col = _RATE_COUNTS[ind]
        reach = reach_w if ind == "sla_rate" else reach_r
        out[den_col] = total_only(cur[den_col].iloc[0])
        out[num_col] = total_only(cur[num_col].iloc[0])
        for k, t in totals.items():
            ok = reach[k] and t is not None
            out[f"{ind}{k}"] = total_only(_rate(t[num_col].iloc[0], t[den_col].iloc[0]) if ok else np.nan)
        out[f"{ind}_change_points"] = 100 * (out[ind] - out[f"{ind}_previous"])
        out[f"{ind}_change_last_year_points"] = 100 * (out[ind] - out[f"{ind}_last_year"])
    # mean handling time of the work orders resolved in the period (hours), as the SLA rate counts them
    out["hours_valid"] = total_only(cur["hours_n"].iloc[0])
    for k, t in totals.items():
        ok = reach_w[k] and t is not None
        out[f"mean_handling_hours{k}"] = total_only(_rate(t["hours_sum"].iloc[0], t["hours_n"].iloc[0])
                                                    if ok else np.nan)
    out["mean_handling_hours_change"] = out["mean_handling_hours"] - out["mean_handling_hours_previous"]
    out["mean_handling_hours_change_last_year"] = out["mean_handling_hours"] - out["mean_handling_hours_last_year"]
    counts = [c for c in out.columns if column_unit(c) == "count"]  # whole numbers, blank when NaN
    return out.astype({c: "Int64" for c in counts})


def column_unit(name: str) -> str | None:
    """The unit of a numeric column of the overview, by-region and by-station tables, read from its
    name (the CSV contract, docs/result_contract.md "Bulletin"): ``points`` (percentage points, a
    name ending ``_points``), ``hours`` (a name holding ``_hours``), ``proportion`` (0..1: a rate or
    share, ``<rate>``, ``<rate>_previous``, ``<rate>_last_year``), ``count`` (work orders or answers:
    ``volume...``, ``..._valid``, ``..._yes``); None for any other column (text, flags)."""
    if name.endswith("_points"):
        return "points"
    if "_hours" in name:
        return "hours"
    if any(name in (r, f"{r}_previous", f"{r}_last_year") for r in RATES):
        return "proportion"
    if name.startswith("volume") or name.endswith(("_valid", "_yes")):
        return "count"
    return None


def _by(data: _Data, p: Period, prev: Period, key: str) -> pd.DataFrame:
    cur = data.counts(p, key)
    before = data.counts(prev, key)
    reach_w = _reached(data.w_first, prev)
    reach_r = _reached(data.r_first, prev)
    idx = cur.index.union(before.index)
    cur = cur.reindex(idx, fill_value=0)
    before = before.reindex(idx, fill_value=0).astype(float)
    if not reach_w:
        before[["volume", "sla_valid", "sla_yes", "hours_n", "hours_sum"]] = np.nan
    if not reach_r:
        before[["sat_valid", "sat_yes", "repeat_valid", "repeat_yes"]] = np.nan
    out = pd.DataFrame({key: pd.array(idx.astype(str), dtype="string")})
    if key == "station":  # the region each station belongs to (most frequent in the data)
        region_of = (data.station_regions()
                     .sort_values(["station", "n"], ascending=[True, False])
                     .drop_duplicates("station").set_index("station")["region"])
        out.insert(0, "region", pd.array(region_of.reindex(idx).to_numpy(), dtype="string"))
    out["volume"] = cur["volume"].to_numpy()
    out["volume_previous"] = before["volume"].to_numpy()
    out["volume_change"] = out["volume"] - out["volume_previous"]
    for ind in RATES:
        num_col, den_col = _RATE_COUNTS[ind]
        out[den_col] = cur[den_col].to_numpy()
        out[num_col] = cur[num_col].to_numpy()
        out[ind] = _rate(cur[num_col], cur[den_col])
        out[f"{ind}_previous"] = _rate(before[num_col], before[den_col])
        out[f"{ind}_change_points"] = 100 * (out[ind] - out[f"{ind}_previous"])
    out["mean_handling_hours"] = _rate(cur["hours_sum"], cur["hours_n"])
    out["mean_handling_hours_previous"] = _rate(before["hours_sum"], before["hours_n"])
    out["mean_handling_hours_change"] = out["mean_handling_hours"] - out["mean_handling_hours_previous"]
    sort = ["region", "station"] if key == "station" else [key]
    return out.sort_values(sort, kind="stable").reset_index(drop=True)


def stations_sorted(by_station: pd.DataFrame, min_n: int) -> pd.DataFrame:
    """The stations of the period, those with at least ``min_n`` valid answers first, by satisfied
    rate (highest first; ties by name), then the others (``small_n`` true) by name: a rate from a
    handful of answers is shown, flagged, but not placed in the order."""
    out = by_station.copy()
    out["small_n"] = out["sat_valid"].to_numpy() < min_n
    out["_rate"] = out["satisfied_rate"].where(~out["small_n"]).fillna(-1.0)  # small n: by name only
    out = out.sort_values(["small_n", "_rate", "station"], ascending=[True, False, True], kind="mergesort")
    out = out.drop(columns="_rate").reset_index(drop=True)
    out.attrs["min_n"] = int(min_n)
    return out


def _out_of_control(data: _Data, p: Period) -> pd.DataFrame:
    from research.strategy.monitoring import p_chart

    upto = data.r_surveyed < np.datetime64(p.end, "us")
    chart = p_chart(data.r.loc[upto], by="station", period="W", date_col="surveyed_at",
                    centre=data.pchart_centre())
    keep = (chart["period_start"] == p.start) & chart["out_of_control"].astype(bool)
    return chart.loc[keep].sort_values(["rate", "station"], ascending=[False, True]).reset_index(drop=True)


def _recurrence(data: _Data, p: Period) -> pd.DataFrame:
    from research.strategy.monitoring import recurrence

    upto = data.w_created < np.datetime64(p.end, "us")
    rec = recurrence(data.w.loc[upto], since=p.start)
    keep = (rec["period_start"] == p.start) & rec["flagged"].astype(bool)
    rec = rec.loc[keep]
    sort = "p_value" if "p_value" in rec.columns else "cusum"
    return rec.sort_values([sort, "station"], ascending=[sort == "p_value", True]).reset_index(drop=True)

_RANKING_COLUMNS = {"rank": "Int64", "rank_low": "Int64", "rank_high": "Int64", "region": "string",
                    "station": "string", "n": "int64", "raw_rate": "float64", "adjusted_rate": "float64",
                    "ranef": "float64", "ranef_se": "float64", "std_rate": "float64", "q_value": "float64",
                    "overall_mean": "float64", "versus_mean": "string"}


def _empty_ranking(note: str) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _RANKING_COLUMNS.items()})
    out.attrs.update(note=note, ranked=False)
    return out


def ranking(responses: pd.DataFrame, *, instrument=None, conf_level: float = 0.95,
            rhs: str = RANKING_RHS) -> pd.DataFrame:
    """Stations of one month's ``responses`` on the case-mix-adjusted satisfied rate.

    :func:`research.strategy.stations.rank_stations` with the fixed effects ``rhs`` (the plan's
    ``bulletin.ranking_rhs``; default :data:`RANKING_RHS`): a logit random-intercept
    model (as ``lme4::glmer``), ranks with simulated ``conf_level`` intervals *only when* the
    between-station variance is distinguishable from zero (``attrs["ranked"]``; otherwise
    ``rank`` is missing and ``attrs["note"]`` says there is no detectable difference), and
    ``versus_mean`` from the risk-adjusted funnel with Benjamini-Hochberg q < 0.05. Adds the
    station's ``region`` (most frequent) and ``overall_mean``. Too few stations or answers, or
    a model that cannot be fitted: an empty frame with these columns and the reason in
    ``attrs["note"]``.
    """
    from research.config.formula import parse_rhs
    from research.config.plan import VARIABLES
    from research.strategy.stations import rank_stations

    used = parse_rhs(rhs, source="bulletin.ranking_rhs", variables=VARIABLES).variables()
    variables = ("satisfied", *used, "station")
    _require(responses, tuple(dict.fromkeys(variables)), "responses")
    ranked = rank_stations(responses, instrument=instrument, rhs=rhs, conf_level=conf_level)
    if ranked.empty:
        return _empty_ranking(ranked.attrs.get("note", ""))
    st = responses["station"].astype("string")
    region_of = (pd.DataFrame({"station": st, "region": responses["region"].astype("string")
                               if "region" in responses.columns else pd.NA})
                 .dropna(subset=["station"]).groupby("station")["region"]
                 .agg(lambda s: s.mode().iloc[0] if s.notna().any() else pd.NA))
    out = ranked.rename(columns={"overall_rate": "overall_mean"})
    out["region"] = pd.array(region_of.reindex(out["station"].astype(str)).to_numpy(dtype=object),
                             dtype="string")
    attrs = dict(ranked.attrs)
    out = out[list(_RANKING_COLUMNS)].astype(_RANKING_COLUMNS)
    out.attrs.update(attrs)
    return out


def _repeat_callers(data: _Data, p: Period, top: int = REPEAT_TOP) -> pd.DataFrame:
    from research.strategy.monitoring import repeat_callers

    wo, resp, risk = data.repeat_inputs(p)
    try:
        rc = repeat_callers(wo, resp, risk=risk)
    except InputError:  # too few answers for the default risk model
        rc = repeat_callers(wo, None)
    last = rc["last_created"].to_numpy(dtype="datetime64[us]")
    rc = rc.loc[_in(last, p)].head(top).reset_index(drop=True)
    return rc


def bulletin_tables(responses: pd.DataFrame, workorders: pd.DataFrame, *, period: str, at,
                    instrument=None, conf_level: float = 0.95, spec=None,
                    history=None) -> dict[str, pd.DataFrame]:
    """The tables of the bulletin for the ``period`` (day, week, month) holding the date ``at``.

    Parameters
    ----------
    responses, workorders : canonical frames (research.ingestion.schema); not modified.
    period : ``"day"``, ``"week"`` (ISO week, Monday to Sunday) or ``"month"``.
    at : any date in the period (ISO string, date, datetime or Timestamp).
    instrument : for the order of the cause groups and the model's category order; default
        :func:`research.config.instrument.load_instrument`.
    conf_level : level of the ranking intervals (the plan's ``conf_level``).
    spec : the plan's :class:`research.config.plan.BulletinSpec` (ranking fixed effects, repeat-caller
        table length); default its defaults.
    history : None when the frames hold every row; a :class:`research.bulletin.data.History` when
        they hold only the rows of the period's time windows
        (:func:`research.bulletin.window.window_inputs`).

    Returns
    -------
    dict, in display order: ``overview``, ``by_region``, ``by_station``, then
    ``out_of_control`` and ``recurrence`` (week), ``ranking`` (month), ``repeat_callers``; then the
    data of the charts (``chart_trend``, ``chart_causes``, ``chart_stations``; research.bulletin.charts).
    Columns are described in the package docstring.

    Raises
    ------
    InputError
        Unknown period, unparsable date, a missing column.
    """
    _check_period(period)
    if not 0 < conf_level < 1:
        raise InputError(f"conf_level {conf_level!r}: must lie strictly between 0 and 1")
    if spec is None:
        from research.config.plan import BulletinSpec

        spec = BulletinSpec()
    p = period_of(period, at)
    if instrument is None:
        from research.config.instrument import load_instrument
        instrument = load_instrument()
    from research.bulletin.sections import SECTIONS, Inputs

    inputs = Inputs(data=_Data(responses, workorders, history), period=p, previous=previous_period(p),
                    last_year=last_year_period(p), causes=list(instrument.label_sets["cause_l1"].codes),
                    instrument=instrument, conf_level=conf_level, spec=spec)
    out: dict[str, pd.DataFrame] = {}
    for s in SECTIONS:
        if period in s.periods:
            out[s.key] = inputs.tables[s.key] = s.build(inputs)
    from research.bulletin.charts import chart_tables

    out.update(chart_tables(inputs, period))  # the data of the charts, after the tables
    for frame in out.values():
        frame.attrs["period"] = period
        frame.attrs["start"] = p.start.date().isoformat()
        frame.attrs["end"] = p.last_day.isoformat()
    return out


def red_black(ranking_table: pd.DataFrame) -> pd.DataFrame:
    """红黑榜 of the month: the stations whose case-mix-adjusted satisfied rate lies above (``red``) or
    below (``black``) the overall rate beyond chance -- the ranking's ``versus_mean`` (risk-adjusted
    funnel z, Benjamini-Hochberg q < 0.05) -- and no other: a station inside the funnel is on
    neither list however it ranks. Columns ``list`` (red / black), ``region``, ``station``, ``n``,
    ``raw_rate``, ``adjusted_rate``, ``q_value``; red first, each by adjusted rate (red highest
    first, black lowest first). Empty when no station separates (``attrs["note"]`` says why)."""
    columns = ["list", "region", "station", "n", "raw_rate", "adjusted_rate", "q_value"]
    if ranking_table is None or not len(ranking_table):
        out = pd.DataFrame(columns=columns)
        out.attrs["note"] = "no_ranking"
        return out
    vs = ranking_table["versus_mean"].astype("string").fillna("")
    parts = []
    for kind, flag, ascending in (("red", "above", False), ("black", "below", True)):
        part = ranking_table.loc[(vs == flag).to_numpy()].sort_values(["adjusted_rate", "station"],
                                                                    ascending=[ascending, True], kind="mergesort")
        parts.append(part.assign(list=kind))
    out = pd.concat(parts, ignore_index=True)
    out = out[[c for c in columns if c in out.columns]].reset_index(drop=True)
    if not len(out):
        out.attrs["note"] = "no_separation"
    return out


#: periods before the bulletin's own that make the baseline of the rising complaint words
RISING_BASELINE = 8


def rising_words(responses: pd.DataFrame, p: Period, baseline: int = RISING_BASELINE) -> pd.DataFrame:
    """Words of dissatisfied customers' comments more frequent this period than in the ``baseline``
    periods before (:func:`research.strategy.typical_cases.rising_terms`): the "一类问题" signal from
    the customers' own words, beside the count-based recurrence. Without a ``comment`` column, an
    empty frame whose ``attrs["note"]`` says so."""
    from research.strategy.typical_cases import rising_terms

    first = p
    for _ in range(baseline):
        first = previous_period(first)
    start = first.start
    if "comment" not in responses.columns:
        out = pd.DataFrame(columns=["rank", "term", "n_period", "n_baseline", "delta", "se", "z"])
        out.attrs["note"] = "no_comment_column"
        return out
    out = rising_terms(responses, start=p.start, end=p.end, baseline_start=start)
    out.attrs["baseline_start"] = start.date().isoformat()
    return out
