"""The bulletin of 日统计、周通报、月督导: daily statistics, weekly bulletin, monthly supervision.

Functions
---------
- :func:`bulletin_tables` (pure: frames in, frames out) -- the tables of one period;
- :func:`write_bulletin` -- one self-contained HTML page and one Word document per language
  holding every table, plus one CSV per table (UTF-8 with BOM, full precision);
- :func:`run_bulletin` -- the command-line entry: reads ``responses.parquet`` and
  ``workorders.parquet`` of an ingest folder, checks the arguments, builds and writes.

Periods
-------
``period="day"`` is the calendar day holding ``at``; ``"week"`` the ISO week (Monday 00:00 to
Sunday 24:00) holding it; ``"month"`` the calendar month. The *previous period* is the day,
week or month before; *the same period last year* is the same calendar day (29 February:
the 28th), the same ISO week number of the previous ISO year (week 53 of a year whose
previous year has 52 weeks: none), or the same month one year earlier. A comparison period
counts as reached only when the data start on or before its first day (work orders: first
``created_at``; surveys: first ``surveyed_at``); otherwise its values are NaN.

Indicators (each for a period ``[start, end)``)
-----------------------------------------------
- ``volume``: work orders with ``created_at`` in the period, by cause group ``cause_l1``
  (instrument order) and in total;
- ``satisfied_rate``: responses with ``surveyed_at`` in the period; satisfied (top-2 box,
  ``satisfied``) among valid answers (``satisfied`` not missing);
- ``sla_rate``: work orders with ``resolved_at`` in the period; share with ``sla_met`` true
  among those with ``sla_met`` known;
- ``repeat_share``: responses with ``surveyed_at`` in the period; share with ``repeat`` true
  among those with ``repeat`` known.

Changes: for volumes the difference in work orders; for rates the difference in
percentage points (``100 * (this - other)``).

Tables (keys of the dict :func:`bulletin_tables` returns)
---------------------------------------------------------
- ``overview`` (every period): ``indicator``, ``group`` (cause code or ``total``),
  ``current``, ``previous``, ``last_year`` (counts or shares 0..1), ``change_previous``,
  ``change_last_year`` (work orders or points), ``numerator``, ``denominator`` (of the current
  period; for volumes both equal the count).
- ``by_region``, ``by_station`` (every period): per region (station), for this period and the
  previous one: ``volume``, ``sat_valid``, ``sat_yes``, ``satisfied_rate``, ``sla_valid``,
  ``sla_yes``, ``sla_rate``, ``repeat_valid``, ``repeat_yes``, ``repeat_share``, each with a
  ``_previous`` column, and ``volume_change`` and ``<rate>_change`` (points). The counts of
  all rows add up to the overview totals.
- ``out_of_control`` (week): rows of :func:`research.monitoring.p_chart` (by station, ISO
  week, by ``surveyed_at``, default centre line and limits) for the bulletin week with
  ``out_of_control`` true, the chart run on the responses surveyed up to the end of the week.
- ``recurrence`` (week): rows of :func:`research.monitoring.recurrence` (default: station x
  sub-cause, exact conditional Poisson test, 8-week baseline, alpha 0.001) for the bulletin
  week with ``flagged`` true, run on the work orders created up to the end of the week.
- ``ranking`` (month): :func:`ranking` -- stations on the satisfied rate adjusted for
  ``cause_l2 + log2(1 + handling_hours) + channel`` by a logit random-intercept model (as
  ``lme4::glmer``; :mod:`research.stations`): ``adjusted_rate`` is the rate the station would
  have had with the month's whole case mix. Stations are ranked, with a ``conf_level`` interval
  on each rank (2,000 seeded draws), only when the between-station variance is distinguishable
  from zero (boundary likelihood-ratio test, p < 0.05); otherwise ``rank`` is empty and the
  bulletin says "no detectable difference between stations this month" (``attrs["ranked"]``,
  ``attrs["note"]``). Ties share a rank; names never break them. ``versus_mean`` is ``below`` /
  ``above`` when the station's risk-adjusted funnel z-score has a Benjamini-Hochberg q-value
  below 0.05 across the month's stations, else empty. Fewer than 2 stations or
  :data:`MIN_RANKING_ROWS` complete rows, or a failed fit: an empty frame with these columns and
  the reason in ``frame.attrs["note"]``.
- ``repeat_callers`` (every period): :func:`research.monitoring.repeat_callers` on the work
  orders created up to the end of the period (default risk model fitted on the responses
  surveyed up to the end), restricted to episodes whose latest work order was created in
  the period, the :data:`REPEAT_TOP` highest risks. Customers appear only as the keyed
  pseudonym of the canonical frames.

Every displayed word has a Chinese and an English form (``lang="zh"`` default, ``"en"``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from research.artifacts import labels
from research.artifacts.docx_util import FIXED_TIME, normalise_zip, xml_text
from research.artifacts.registry import BULLETIN
from research.artifacts.render_tables import (Display, Row, add_docx_table, fmt_count, fmt_num, fmt_pct,
                                              html_figure, html_page, html_text, new_docx, write_csv)
from research.errors import InputError
from research.safeio import atomic_write_bytes, atomic_write_text

PERIODS = ("day", "week", "month")
_MON_PERIOD = {"day": "D", "week": "W", "month": "M"}
#: fewest complete responses for the monthly ranking model
MIN_RANKING_ROWS = 30  # research.stations.MIN_ROWS
#: repeat-caller episodes listed
REPEAT_TOP = 50
#: fixed effects of the ranking model (R notation)
RANKING_RHS = "cause_l2 + log2(1 + handling_hours) + channel"
INDICATORS = ("volume", "satisfied_rate", "sla_rate", "repeat_share")
RATES = ("satisfied_rate", "sla_rate", "repeat_share")
_RATE_COUNTS = {"satisfied_rate": ("sat_yes", "sat_valid"), "sla_rate": ("sla_yes", "sla_valid"),
                "repeat_share": ("repeat_yes", "repeat_valid")}
_RESP_COLS = ("region", "station", "surveyed_at", "satisfied", "repeat")
_WO_COLS = ("region", "station", "cause_l1", "created_at", "resolved_at", "sla_met")

#: display words not in research.artifacts.labels / research.monitoring: name -> (zh, en)
WORDS: dict[str, tuple[str, str]] = {
    "indicator": ("指标", "Indicator"),
    "current": ("本期", "This period"),
    "previous": ("上期", "Previous period"),
    "last_year": ("去年同期", "Same period last year"),
    "change_previous": ("环比变化", "Change vs previous"),
    "change_last_year": ("同比变化", "Change vs last year"),
    "volume": ("工单量", "Work orders"),
    "volume_change": ("工单量环比", "Change in work orders"),
    "satisfied_rate": ("满意率", "Satisfied rate"),
    "sla_rate": ("工单及时率", "Resolved within target"),
    "repeat_share": ("重复来电占比", "Repeat-caller share"),
    "rate_change": ("环比（百分点）", "Change (points)"),
    "sat_valid": ("有效回访数", "Valid answers"),
    "adjusted_rate": ("调整后满意率", "Adjusted satisfied rate"),
    "raw_rate": ("原始满意率", "Raw satisfied rate"),
    "interval": ("区间", "Interval"),
    "versus_mean": ("与均值比较", "Against the mean"),
    "vs_below": ("低于均值（FDR校正后）", "Below the mean (after FDR)"),
    "vs_above": ("高于均值（FDR校正后）", "Above the mean (after FDR)"),
    "vs_none": ("无显著差异", "Not distinguishable"),
    "rank_interval": ("排名区间", "Rank interval"),
    "no_difference": ("本月各供电所之间无可检出的差异，不作排名；下表按地市、供电所名称列出。",
                      "No detectable difference between stations this month: stations are not ranked; "
                      "listed by region and name."),
    "ranking_note": ("调整后满意率为按本月全部工单的诉求子类、处理时长与渠道构成标准化的满意率（随机截距Logit模型）；"
                     "排名区间为{level:g}%模拟区间（2000次抽样），区间宽说明名次不可靠。",
                     "Adjusted rate: the satisfied rate standardised to this month's whole mix of sub-causes, "
                     "handling times and channels (random-intercept logit); rank intervals: {level:g}% from "
                     "2,000 simulated draws; a wide interval means the position is not reliable."),
    "flag_note": ("与均值比较：经病例组合调整的漏斗图z值，按Benjamini–Hochberg法控制错误发现率（q<0.05）。",
                  "Against the mean: risk-adjusted funnel z-score, Benjamini–Hochberg false discovery rate "
                  "q < 0.05 across stations."),
    "none_out_of_control": ("本期无失控供电所。", "No station out of control in this period."),
    "none_recurrence": ("本期无重复高发的诉求单元。", "No recurring complaint cell in this period."),
    "none_repeat": ("本期无重复来电客户。", "No repeat callers in this period."),
    "points_note": ("满意率、工单及时率、重复来电占比的变化以百分点计；工单量的变化以件计；"
                    "空白表示数据未覆盖该对比期。",
                    "Changes of rates in percentage points, of work orders in work orders; blank: "
                    "the data do not reach that comparison period."),
    "low_n_note": ("带*的供电所本周有效回访数少于10，控制限较宽。",
                   "Stations marked * had fewer than 10 valid answers this week: wide limits."),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
    "mean_note": ("全市（全部供电所）本月满意率 {mean}，有效回访 {n:,} 条。",
                  "Satisfied rate of all stations this month {mean}, {n:,} valid answers."),
    "missing": ("（未填写）", "(missing)"),
    "generated": ("统计口径：工单量按受理时间，满意率与重复来电占比按回访时间，工单及时率按办结时间。",
                  "Basis: work orders by creation time, satisfied rate and repeat-caller share by survey "
                  "time, resolution within target by resolution time."),
}

#: the bulletin's tables (B01..B07), registered in research.artifacts.registry.BULLETIN
SPECS = BULLETIN
_ORDER = tuple(SPECS)


# ---------------------------------------------------------------------------- words

def word(name: str, lang: str) -> str:
    """Display word: research.artifacts.labels, else research.monitoring, else :data:`WORDS`."""
    from research import monitoring

    if name in labels.LABELS:
        return labels.text(name, lang)
    if name in monitoring.LABELS:
        return monitoring.label(name, lang)
    pair = WORDS.get(name)
    return name if pair is None else pair[0 if lang == "zh" else 1]


def _sentence(text: str, lang: str) -> str:
    return text[:1].upper() + text[1:] if lang == "en" else text


def _cause(kind: str, value, lang: str, instrument) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = str(value)
    if value == "total":
        return word("total", lang)
    return _sentence(labels.code(kind, value, lang, instrument), lang)


# ---------------------------------------------------------------------------- periods

@dataclass(frozen=True)
class Period:
    """One bulletin period: ``[start, end)`` at midnight."""

    kind: str
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def last_day(self) -> dt.date:
        return (self.end - pd.Timedelta(days=1)).date()

    def title(self, lang: str) -> str:
        """``周通报（2025年第14周，2025-03-31至2025-04-06）`` / ``Weekly bulletin (2025-W14, ...)``."""
        a, b = self.start.date().isoformat(), self.last_day.isoformat()
        if self.kind == "day":
            return f"日统计（{a}）" if lang == "zh" else f"Daily statistics ({a})"
        if self.kind == "week":
            y, w, _ = self.start.date().isocalendar()
            return (f"周通报（{y}年第{w}周，{a}至{b}）" if lang == "zh"
                    else f"Weekly bulletin ({y}-W{w:02d}, {a} to {b})")
        y, m = self.start.year, self.start.month
        return (f"月督导（{y}年{m}月，{a}至{b}）" if lang == "zh"
                else f"Monthly supervision ({y}-{m:02d}, {a} to {b})")


def _parse_at(at) -> dt.date:
    if isinstance(at, pd.Timestamp):
        return at.date()
    if isinstance(at, dt.datetime):
        return at.date()
    if isinstance(at, dt.date):
        return at
    if isinstance(at, np.datetime64):
        return pd.Timestamp(at).date()
    try:
        return dt.date.fromisoformat(str(at).strip())
    except ValueError:
        raise InputError(f"--at {at!r}: not a date; give an ISO date such as 2025-04-02") from None


def _check_period(period) -> str:
    if period not in PERIODS:
        raise InputError(f"--period {period!r}: unknown period; use one of {', '.join(PERIODS)}")
    return period


def period_of(period: str, at) -> Period:
    """The period of kind ``period`` (day, week, month) holding the date ``at``."""
    _check_period(period)
    d = _parse_at(at)
    if period == "day":
        start = d
        end = d + dt.timedelta(days=1)
    elif period == "week":
        start = d - dt.timedelta(days=d.weekday())
        end = start + dt.timedelta(days=7)
    else:
        start = d.replace(day=1)
        end = (start.replace(year=start.year + 1, month=1) if start.month == 12
               else start.replace(month=start.month + 1))
    return Period(period, pd.Timestamp(start), pd.Timestamp(end))


def previous_period(p: Period) -> Period:
    """The day, ISO week or month before ``p``."""
    return period_of(p.kind, p.start.date() - dt.timedelta(days=1))


def last_year_period(p: Period) -> Period | None:
    """The same day / ISO week number / month one year earlier (None: no such ISO week)."""
    d = p.start.date()
    if p.kind == "day":
        try:
            return period_of("day", d.replace(year=d.year - 1))
        except ValueError:  # 29 February
            return period_of("day", d.replace(year=d.year - 1, day=28))
    if p.kind == "week":
        y, w, _ = d.isocalendar()
        try:
            monday = dt.date.fromisocalendar(y - 1, w, 1)
        except ValueError:  # week 53 in a 52-week year
            return None
        return period_of("week", monday)
    return period_of("month", d.replace(year=d.year - 1))


# ---------------------------------------------------------------------------- input

def _require(frame, columns, what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what}: expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what}: required column(s) absent: {', '.join(missing)}")


def _times(frame: pd.DataFrame, column: str) -> np.ndarray:
    col = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(col):
        raise InputError(f"column {column!r} must hold datetimes (got {col.dtype})")
    if getattr(col.dt, "tz", None) is not None:
        col = col.dt.tz_localize(None)
    return col.to_numpy(dtype="datetime64[us]")


def _in(t: np.ndarray, p: Period) -> np.ndarray:
    return (t >= np.datetime64(p.start, "us")) & (t < np.datetime64(p.end, "us"))


def _flags(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(known, true) boolean arrays of a nullable boolean column."""
    s = series.astype("boolean")
    known = s.notna().to_numpy(dtype=bool)
    return known, s.fillna(False).to_numpy(dtype=bool) & known


def _keycol(frame: pd.DataFrame, key: str, lang_missing: str = "(missing)") -> pd.Series:
    return frame[key].astype("string").fillna(lang_missing)


class _Data:
    """Arrays computed once from the canonical frames."""

    def __init__(self, responses: pd.DataFrame, workorders: pd.DataFrame):
        _require(responses, _RESP_COLS, "responses")
        _require(workorders, _WO_COLS, "work orders")
        self.r = responses
        self.w = workorders
        self.r_surveyed = _times(responses, "surveyed_at")
        self.w_created = _times(workorders, "created_at")
        self.w_resolved = _times(workorders, "resolved_at")
        self.sat_known, self.sat_yes = _flags(responses["satisfied"])
        self.rep_known, self.rep_yes = _flags(responses["repeat"])
        self.sla_known, self.sla_yes = _flags(workorders["sla_met"])
        self.r_first = _first_day(self.r_surveyed)
        self.w_first = _first_day(self.w_created)

    def counts(self, p: Period | None, key: str | None) -> pd.DataFrame:
        """Numerators and denominators of the indicators per ``key`` (None: one row ``total``)."""
        cols = ["volume", "sat_valid", "sat_yes", "sla_valid", "sla_yes", "repeat_valid", "repeat_yes"]
        if p is None:
            return pd.DataFrame(columns=cols, dtype=float)
        wc = _in(self.w_created, p)
        wr = _in(self.w_resolved, p)
        rs = _in(self.r_surveyed, p)

        def group(frame, mask, values: dict[str, np.ndarray]) -> pd.DataFrame:
            sub = pd.DataFrame({k: v[mask] for k, v in values.items()})
            if key is None:
                return sub.sum().to_frame("total").T
            sub.index = _keycol(frame, key)[mask].to_numpy()
            return sub.groupby(level=0, sort=True).sum()

        one_w = np.ones(len(self.w), dtype=np.int64)
        parts = [
            group(self.w, wc, {"volume": one_w}),
            group(self.r, rs, {"sat_valid": self.sat_known.astype(np.int64),
                               "sat_yes": self.sat_yes.astype(np.int64),
                               "repeat_valid": self.rep_known.astype(np.int64),
                               "repeat_yes": self.rep_yes.astype(np.int64)}),
            group(self.w, wr, {"sla_valid": self.sla_known.astype(np.int64),
                               "sla_yes": self.sla_yes.astype(np.int64)}),
        ]
        out = pd.concat(parts, axis=1).fillna(0).astype(np.int64)
        if key is None and out.empty:
            out = pd.DataFrame(0, index=["total"], columns=cols)
        return out.reindex(columns=cols, fill_value=0)


def _first_day(t: np.ndarray) -> np.datetime64 | None:
    ok = t[~np.isnat(t)]
    return ok.min().astype("datetime64[D]") if len(ok) else None


def _reached(first: np.datetime64 | None, p: Period | None) -> bool:
    return p is not None and first is not None and first <= np.datetime64(p.start.date(), "D")


def _rate(num, den):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


# ---------------------------------------------------------------------------- tables

def _overview(data: _Data, p: Period, prev: Period, ly: Period | None, causes: list[str]) -> pd.DataFrame:
    def cause_volumes(q: Period | None) -> pd.Series:
        if q is None:
            return pd.Series(dtype=float)
        m = _in(data.w_created, q)
        return _keycol(data.w, "cause_l1")[m].value_counts()

    periods = {"current": p, "previous": prev, "last_year": ly}
    reach_w = {k: k == "current" or _reached(data.w_first, q) for k, q in periods.items()}
    reach_r = {k: k == "current" or _reached(data.r_first, q) for k, q in periods.items()}
    totals = {k: data.counts(q, None) if q is not None else None for k, q in periods.items()}
    vols = {k: cause_volumes(q) for k, q in periods.items()}
    present = set(vols["current"].index) | set(vols["previous"].index) | set(vols["last_year"].index)
    groups = [c for c in causes if c in present] + sorted(present - set(causes))

    rows = []
    for g in groups + ["total"]:
        vals = {}
        for k in periods:
            if not reach_w[k] or totals[k] is None:
                vals[k] = np.nan
            elif g == "total":
                vals[k] = float(totals[k]["volume"].iloc[0])
            else:
                vals[k] = float(vols[k].get(g, 0))
        rows.append(dict(indicator="volume", group=g, **vals, numerator=vals["current"],
                         denominator=vals["current"]))
    for ind in RATES:
        num_col, den_col = _RATE_COUNTS[ind]
        reach = reach_r if ind != "sla_rate" else reach_w
        vals = {}
        for k in periods:
            t = totals[k]
            vals[k] = (float(_rate(t[num_col].iloc[0], t[den_col].iloc[0]))
                       if reach[k] and t is not None else np.nan)
        cur = totals["current"]
        rows.append(dict(indicator=ind, group="total", **vals, numerator=float(cur[num_col].iloc[0]),
                         denominator=float(cur[den_col].iloc[0])))
    out = pd.DataFrame(rows)
    scale = np.where(out["indicator"] == "volume", 1.0, 100.0)
    out["change_previous"] = (out["current"] - out["previous"]) * scale
    out["change_last_year"] = (out["current"] - out["last_year"]) * scale
    out = out[["indicator", "group", "current", "previous", "last_year", "change_previous",
               "change_last_year", "numerator", "denominator"]]
    out["indicator"] = out["indicator"].astype("string")
    out["group"] = out["group"].astype("string")
    return out


def _by(data: _Data, p: Period, prev: Period, key: str) -> pd.DataFrame:
    cur = data.counts(p, key)
    before = data.counts(prev, key)
    reach_w = _reached(data.w_first, prev)
    reach_r = _reached(data.r_first, prev)
    idx = cur.index.union(before.index)
    cur = cur.reindex(idx, fill_value=0)
    before = before.reindex(idx, fill_value=0).astype(float)
    if not reach_w:
        before[["volume", "sla_valid", "sla_yes"]] = np.nan
    if not reach_r:
        before[["sat_valid", "sat_yes", "repeat_valid", "repeat_yes"]] = np.nan
    out = pd.DataFrame({key: pd.array(idx.astype(str), dtype="string")})
    if key == "station":  # the region each station belongs to (most frequent in the data)
        st = pd.concat([_keycol(data.w, "station"), _keycol(data.r, "station")], ignore_index=True)
        rg = pd.concat([_keycol(data.w, "region"), _keycol(data.r, "region")], ignore_index=True)
        pair = pd.DataFrame({"station": st, "region": rg})
        region_of = (pair.groupby(["station", "region"]).size().reset_index(name="n")
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
        out[f"{ind}_change"] = 100 * (out[ind] - out[f"{ind}_previous"])
    sort = ["region", "station"] if key == "station" else [key]
    return out.sort_values(sort, kind="stable").reset_index(drop=True)


def _out_of_control(data: _Data, p: Period) -> pd.DataFrame:
    from research.monitoring import p_chart

    upto = data.r_surveyed < np.datetime64(p.end, "us")
    chart = p_chart(data.r.loc[upto], by="station", period="W", date_col="surveyed_at")
    keep = (chart["period_start"] == p.start) & chart["out_of_control"].astype(bool)
    return chart.loc[keep].sort_values(["rate", "station"], ascending=[False, True]).reset_index(drop=True)


def _recurrence(data: _Data, p: Period) -> pd.DataFrame:
    from research.monitoring import recurrence

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


def ranking(responses: pd.DataFrame, *, instrument=None, conf_level: float = 0.95) -> pd.DataFrame:
    """Stations of one month's ``responses`` on the case-mix-adjusted satisfied rate.

    :func:`research.stations.rank_stations` with :data:`RANKING_RHS`: a logit random-intercept
    model (as ``lme4::glmer``), ranks with simulated ``conf_level`` intervals *only when* the
    between-station variance is distinguishable from zero (``attrs["ranked"]``; otherwise
    ``rank`` is missing and ``attrs["note"]`` says there is no detectable difference), and
    ``versus_mean`` from the risk-adjusted funnel with Benjamini-Hochberg q < 0.05. Adds the
    station's ``region`` (most frequent) and ``overall_mean``. Too few stations or answers, or
    a model that cannot be fitted: an empty frame with these columns and the reason in
    ``attrs["note"]``.
    """
    from research.stations import rank_stations

    variables = ("satisfied", "cause_l2", "handling_hours", "channel", "station")
    _require(responses, variables, "responses")
    ranked = rank_stations(responses, instrument=instrument, rhs=RANKING_RHS, conf_level=conf_level)
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


def _repeat_callers(data: _Data, p: Period) -> pd.DataFrame:
    from research.monitoring import repeat_callers

    end = np.datetime64(p.end, "us")
    wo = data.w.loc[data.w_created < end]
    resp = data.r.loc[data.r_surveyed < end]
    try:
        rc = repeat_callers(wo, resp)
    except InputError:  # too few answers for the default risk model
        rc = repeat_callers(wo, None)
    last = rc["last_created"].to_numpy(dtype="datetime64[us]")
    rc = rc.loc[_in(last, p)].head(REPEAT_TOP).reset_index(drop=True)
    return rc


def bulletin_tables(responses: pd.DataFrame, workorders: pd.DataFrame, *, period: str, at,
                    instrument=None, conf_level: float = 0.95) -> dict[str, pd.DataFrame]:
    """The tables of the bulletin for the ``period`` (day, week, month) holding the date ``at``.

    Parameters
    ----------
    responses, workorders : canonical frames (research.schema); not modified.
    period : ``"day"``, ``"week"`` (ISO week, Monday to Sunday) or ``"month"``.
    at : any date in the period (ISO string, date, datetime or Timestamp).
    instrument : for the order of the cause groups and the model's category order; default
        :func:`research.instrument.load_instrument`.
    conf_level : level of the ranking intervals.

    Returns
    -------
    dict, in display order: ``overview``, ``by_region``, ``by_station``, then
    ``out_of_control`` and ``recurrence`` (week), ``ranking`` (month), ``repeat_callers``.
    Columns are described in the module docstring.

    Raises
    ------
    InputError
        Unknown period, unparsable date, a missing column.
    """
    _check_period(period)
    if not 0 < conf_level < 1:
        raise InputError(f"conf_level {conf_level!r}: must lie strictly between 0 and 1")
    p = period_of(period, at)
    if instrument is None:
        from research.instrument import load_instrument
        instrument = load_instrument()
    data = _Data(responses, workorders)
    prev = previous_period(p)
    ly = last_year_period(p)
    causes = list(instrument.label_sets["cause_l1"].codes)
    out: dict[str, pd.DataFrame] = {
        "overview": _overview(data, p, prev, ly, causes),
        "by_region": _by(data, p, prev, "region"),
        "by_station": _by(data, p, prev, "station"),
    }
    if period == "week":
        out["out_of_control"] = _out_of_control(data, p)
        out["recurrence"] = _recurrence(data, p)
    if period == "month":
        month = responses.loc[_in(data.r_surveyed, p)]
        out["ranking"] = ranking(month, instrument=instrument, conf_level=conf_level)
    out["repeat_callers"] = _repeat_callers(data, p)
    for frame in out.values():
        frame.attrs["period"] = period
        frame.attrs["start"] = p.start.date().isoformat()
        frame.attrs["end"] = p.last_day.isoformat()
    return out


# ---------------------------------------------------------------------------- display

def _signed(x, digits: int) -> str:
    """``+1.2`` / ``-3.0`` / ``0.0`` (no sign when it rounds to zero); blank when missing."""
    if pd.isna(x):
        return ""
    v = round(float(x), digits)
    return f"{0.0:.{digits}f}" if v == 0 else f"{v:+,.{digits}f}"


def _pts(x) -> str:
    return _signed(x, 1)


def _dcount(x) -> str:
    return _signed(x, 0)


def _display_overview(d: pd.DataFrame, lang: str, ins) -> Display:
    keys = ["indicator", "current", "previous", "change_previous", "last_year", "change_last_year"]
    rows: list[Row] = [Row([word("volume", lang)], span=True)]
    for r in d.itertuples(index=False):
        if r.indicator == "volume":
            total = r.group == "total"
            rows.append(Row([_cause("cause_l1", r.group, lang, ins), fmt_count(r.current),
                             fmt_count(r.previous), _dcount(r.change_previous), fmt_count(r.last_year),
                             _dcount(r.change_last_year)], bold=total, indent=not total, rule_before=total))
        else:
            name = f"{word(r.indicator, lang)}（n={fmt_count(r.denominator)}）" if lang == "zh" else \
                f"{word(r.indicator, lang)} (n = {fmt_count(r.denominator)})"
            rows.append(Row([name, fmt_pct(r.current), fmt_pct(r.previous), _pts(r.change_previous),
                             fmt_pct(r.last_year), _pts(r.change_last_year)],
                            rule_before=r.indicator == "satisfied_rate"))
    return Display([word(k, lang) for k in keys], ["l"] + ["r"] * 5, rows,
                   [word("points_note", lang), word("generated", lang)])


def _display_by(d: pd.DataFrame, lang: str, key: str) -> Display:
    chg = word("rate_change", lang)
    head = ([word("region", lang)] + ([word("station", lang)] if key == "station" else []) +
            [word("volume", lang), word("volume_change", lang), word("sat_valid", lang),
             word("satisfied_rate", lang), chg, word("sla_rate", lang), chg, word("repeat_share", lang), chg])
    rows = []
    for r in d.itertuples(index=False):
        cells = [str(r.region)] + ([str(r.station)] if key == "station" else [])
        cells += [fmt_count(r.volume), _dcount(r.volume_change), fmt_count(r.sat_valid),
                  fmt_pct(r.satisfied_rate), _pts(r.satisfied_rate_change), fmt_pct(r.sla_rate),
                  _pts(r.sla_rate_change), fmt_pct(r.repeat_share), _pts(r.repeat_share_change)]
        rows.append(Row(cells))
    n_left = 2 if key == "station" else 1
    return Display(head, ["l"] * n_left + ["r"] * (len(head) - n_left), rows, [word("points_note", lang)])


def _empty_row(name: str, lang: str) -> list[Row]:
    return [Row([word(name, lang)], span=True)]


def _display_ooc(d: pd.DataFrame, lang: str) -> Display:
    keys = ["station", "n", "dissatisfied", "rate", "centre", "lcl", "ucl", "signal"]
    rows = [Row([str(r.station) + ("*" if bool(r.low_n) else ""), fmt_count(r.n), fmt_count(r.dissatisfied),
                 fmt_pct(r.rate), fmt_pct(r.centre), fmt_pct(r.lcl), fmt_pct(r.ucl),
                 word(str(r.signal), lang) if r.signal else ""]) for r in d.itertuples(index=False)]
    notes = [word("low_n_note", lang)] if len(d) and d["low_n"].astype(bool).any() else []
    return Display([word(k, lang) for k in keys], ["l"] + ["r"] * 6 + ["l"],
                   rows or _empty_row("none_out_of_control", lang), notes)


def _display_recurrence(d: pd.DataFrame, lang: str, ins) -> Display:
    keys = ["station", "cause_l2", "count", "expected", "p_value"]
    from research.artifacts.render_tables import fmt_p

    rows = [Row([str(r.station), _cause("cause_l2", r.cause_l2, lang, ins), fmt_count(r.count),
                 fmt_num(r.expected, "mean"), fmt_p(getattr(r, "p_value", np.nan))])
            for r in d.itertuples(index=False)]
    return Display([word("station", lang), word("cause_l2", lang), word("count", lang),
                    word("expected", lang), word("p_value", lang)][: len(keys)],
                   ["l", "l", "r", "r", "r"], rows or _empty_row("none_recurrence", lang))


def _display_ranking(d: pd.DataFrame, lang: str, conf_level: float = 0.95) -> Display:
    keys = ["rank", "rank_interval", "region", "station", "sat_valid", "raw_rate", "adjusted_rate",
            "versus_mean"]
    head = [word(k, lang) for k in keys]
    head[1] = (f"{conf_level * 100:g}%排名区间" if lang == "zh" else f"{conf_level * 100:g}% rank interval")
    ranked = bool(d.attrs.get("ranked", False))
    if len(d) and not ranked:
        d = d.sort_values(["region", "station"], kind="stable", na_position="last")
    rows = [Row(["" if pd.isna(r.rank) else str(int(r.rank)),
                 "" if pd.isna(r.rank_low) else f"{int(r.rank_low)}–{int(r.rank_high)}",
                 "" if pd.isna(r.region) else str(r.region), str(r.station), fmt_count(r.n),
                 fmt_pct(r.raw_rate), fmt_pct(r.adjusted_rate),
                 word({"below": "vs_below", "above": "vs_above"}.get(str(r.versus_mean), "vs_none"), lang)],
                bold=str(r.versus_mean) == "below") for r in d.itertuples(index=False)]
    notes = []
    if len(d):
        if not ranked:
            notes.append(word("no_difference", lang))
        notes.append(word("mean_note", lang).format(mean=fmt_pct(d["overall_mean"].iloc[0]),
                                                    n=int(d["n"].sum()), level=conf_level * 100))
        notes.append(word("ranking_note", lang).format(level=conf_level * 100))
        notes.append(word("flag_note", lang))
    else:
        note = d.attrs.get("note") or ""
        rows = [Row([("未计算排名：站点或样本过少，或模型无法拟合。" if lang == "zh"
                      else "Ranking not computed: too few stations or answers, or the model failed.")
                     + (f" ({note})" if note and lang == "en" else "")], span=True)]
    return Display(head, ["r", "r", "l", "l", "r", "r", "r", "l"], rows, notes)


def _display_repeat(d: pd.DataFrame, lang: str, ins) -> Display:
    keys = ["customer_id", "n_tickets", "first_created", "last_created", "span_days", "causes",
            "stations", "n_surveyed", "last_satisfied", "risk"]
    sep = "、" if lang == "zh" else "; "
    rows = []
    for r in d.itertuples(index=False):
        causes = sep.join(_cause("cause_l2", c, lang, ins) for c in str(r.causes).split("|") if c)
        sat = "" if pd.isna(r.last_satisfied) else word("yes" if bool(r.last_satisfied) else "no", lang)
        rows.append(Row([str(r.customer_id), fmt_count(r.n_tickets), pd.Timestamp(r.first_created).strftime(
            "%Y-%m-%d %H:%M"), pd.Timestamp(r.last_created).strftime("%Y-%m-%d %H:%M"),
            fmt_num(r.span_days, "hours"), causes, str(r.stations).replace("|", sep),
            fmt_count(r.n_surveyed), sat, fmt_pct(r.risk)]))
    return Display([word(k, lang) for k in keys], ["l", "r", "l", "l", "r", "l", "l", "r", "l", "r"],
                   rows or _empty_row("none_repeat", lang))


def display(name: str, data: pd.DataFrame, lang: str, instrument=None, conf_level: float = 0.95) -> Display:
    """The display form of bulletin table ``name`` in ``lang``."""
    if lang not in labels.LANGS:
        raise InputError(f"--lang {lang!r}: use one of {', '.join(labels.LANGS)}")
    if instrument is None:
        from research.instrument import load_instrument
        instrument = load_instrument()
    if name == "overview":
        return _display_overview(data, lang, instrument)
    if name in ("by_region", "by_station"):
        return _display_by(data, lang, name[3:])
    if name == "out_of_control":
        return _display_ooc(data, lang)
    if name == "recurrence":
        return _display_recurrence(data, lang, instrument)
    if name == "ranking":
        return _display_ranking(data, lang, conf_level)
    if name == "repeat_callers":
        return _display_repeat(data, lang, instrument)
    raise KeyError(f"unknown bulletin table {name!r}; known: {list(SPECS)}")


# ---------------------------------------------------------------------------- writing

def _tables_hash(tables: dict[str, pd.DataFrame]) -> str:
    h = hashlib.sha256()
    for name in sorted(tables):
        h.update(name.encode())
        h.update(tables[name].to_csv(index=False, float_format="%.17g").encode("utf-8"))
    return h.hexdigest()


#: CSS the bulletin adds to the tables' own
_BULLETIN_CSS = "h1 { font-size: 1.4em; }\nsection.bulletin-table { margin: 1.5em 0; }\n"


def _html_document(title: str, tables: list[tuple], lang: str, stamp) -> str:
    """One page: a heading, then every table's figure rendered from its Display.

    ``tables``: ``(spec, Display)`` pairs in order. Every text is escaped by
    :func:`research.artifacts.render_tables.html_text`; nothing is cut out of another page.
    """
    body = [f"<h1>{html_text(title)}</h1>"]
    for spec, disp in tables:
        body += ['<section class="bulletin-table">', html_figure(spec, disp, lang, stamp, element_id=spec.id),
                 "</section>"]
    return html_page(title, lang, body, extra_css=_BULLETIN_CSS)


def _docx_document(title: str, tables: list[tuple], lang: str, stamp) -> bytes:
    """One Word document: a heading, then every table (:func:`add_docx_table`) from its Display."""
    from research.artifacts.render_tables import _paragraph  # the package's CJK-font paragraph

    doc = new_docx(lang)
    _paragraph(doc, title, size=14, bold=True)
    for spec, disp in tables:
        add_docx_table(doc, spec, disp, lang, stamp)
    props = doc.core_properties
    props.title = xml_text(title)
    props.subject = "bulletin"
    props.comments = ""
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    props.last_printed = FIXED_TIME
    props.revision = 1
    buf = io.BytesIO()
    doc.save(buf)
    return normalise_zip(buf.getvalue())


def write_bulletin(tables: dict[str, pd.DataFrame], out_dir, *, period: str, at, lang: str = "zh",
                   stamp=None, instrument=None, conf_level: float = 0.95) -> dict[str, Path]:
    """Write the bulletin: ``bulletin_<period>_<start>.<lang>.html`` and ``.docx``, one CSV per table.

    ``<start>`` is the first day of the period (YYYY-MM-DD). CSVs are
    ``bulletin_<period>_<start>_<table>.csv``: UTF-8 with BOM, machine names and codes, full
    precision. ``stamp``: anything with ``text(lang)`` (e.g. :class:`research.artifacts.stamp.Stamp`,
    :class:`research.artifacts.stamp.Stamp`); default a hash of the tables and the git commit.

    Returns
    -------
    dict: ``"html"``, ``"docx"`` and ``"csv:<table>"`` -> path written.
    """
    _check_period(period)
    if lang not in labels.LANGS:
        raise InputError(f"--lang {lang!r}: use one of {', '.join(labels.LANGS)}")
    p = period_of(period, at)
    if instrument is None:
        from research.instrument import load_instrument
        instrument = load_instrument()
    if stamp is None:
        from research.artifacts.stamp import Stamp, git_commit
        stamp = Stamp(_tables_hash(tables), git_commit())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"bulletin_{period}_{p.start.date().isoformat()}"
    names = [n for n in _ORDER if n in tables]
    shown = [(SPECS[name], display(name, tables[name], lang, instrument, conf_level)) for name in names]
    title = p.title(lang)
    written: dict[str, Path] = {}
    written["html"] = atomic_write_text(out / f"{stem}.{lang}.html", _html_document(title, shown, lang, stamp))
    written["docx"] = atomic_write_bytes(out / f"{stem}.{lang}.docx", _docx_document(title, shown, lang, stamp))
    for name in names:
        path = out / f"{stem}_{name}.csv"
        write_csv(tables[name], path)
        written[f"csv:{name}"] = path
    return written


# ---------------------------------------------------------------------------- command line

def _read(path: Path, what: str) -> pd.DataFrame:
    from research.readers import read_ingested

    return read_ingested(path, what)


def _file_sha(path: Path) -> str:
    from research.artifacts.manifest import sha256_file

    return sha256_file(path)


def data_range(responses: pd.DataFrame, workorders: pd.DataFrame) -> tuple[dt.date, dt.date] | None:
    """First and last day of the data: work orders created and responses surveyed."""
    days = []
    for frame, col in ((workorders, "created_at"), (responses, "surveyed_at")):
        t = _times(frame, col)
        t = t[~np.isnat(t)]
        if len(t):
            days += [t.min(), t.max()]
    if not days:
        return None
    return pd.Timestamp(min(days)).date(), pd.Timestamp(max(days)).date()


def run_bulletin(data_dir: Path, *, period: str, at: str, out: Path, lang: str = "zh") -> dict[str, Path]:
    """Read an ingest folder, check the arguments, build and write the bulletin.

    Parameters
    ----------
    data_dir : folder holding ``responses.parquet`` and ``workorders.parquet`` (ingest output).
    period : ``day``, ``week`` or ``month``.
    at : ISO date (YYYY-MM-DD) inside the data's date range.
    out : output folder.
    lang : ``zh`` or ``en``.

    Raises
    ------
    InputError
        A missing or unreadable file, an unknown period or language, a date that does not
        parse or lies outside the data.
    """
    _check_period(period)
    if lang not in labels.LANGS:
        raise InputError(f"--lang {lang!r}: use one of {', '.join(labels.LANGS)}")
    day = _parse_at(at)
    data_dir = Path(data_dir)
    r_path, w_path = data_dir / "responses.parquet", data_dir / "workorders.parquet"
    responses = _read(r_path, "responses")
    workorders = _read(w_path, "work orders")
    try:
        _require(responses, _RESP_COLS, str(r_path))
        _require(workorders, _WO_COLS, str(w_path))
        span = data_range(responses, workorders)
    except InputError as exc:
        raise InputError(str(exc)) from None
    if span is None:
        raise InputError(f"{data_dir}: the data hold no dated work orders or responses")
    if not span[0] <= day <= span[1]:
        raise InputError(f"--at {day.isoformat()}: outside the data's date range "
                         f"{span[0].isoformat()} to {span[1].isoformat()} ({data_dir})")
    tables = bulletin_tables(responses, workorders, period=period, at=day)
    from research.artifacts.stamp import Stamp, data_hash, git_commit
    stamp = Stamp(data_hash([_file_sha(r_path), _file_sha(w_path)]), git_commit())
    return write_bulletin(tables, out, period=period, at=day, lang=lang, stamp=stamp)
