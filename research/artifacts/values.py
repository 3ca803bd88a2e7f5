"""Named values: every number the report's prose quotes, with where it came from.

Each value is computed from one cell of a result file that reproduce writes
(``ingest/ingest_report.json`` or a ``fit/*.csv`` table), so a reader can
trace "the outage threshold is 3.1 hours" to the file, row and column that
hold it. The report templates use them as ``{{ name }}``; an unknown name
fails the build.

Output: :func:`named_values` returns a frame with columns ``name, value,
unit, zh, en, source, row, column, artifact`` (``zh``/``en`` the formatted
text used in the report; ``artifact`` the registered table or figure that
shows the same number).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from research.artifacts import labels


NO_DATA = ("无数据", "no data")
AME_MODEL = "speed_by_cause"
#: names the report may always use, whatever the data hold
ALWAYS = ("survey_rows_read", "survey_rows_rejected", "n_responses", "sat_rate_overall", "n_workorders",
          "threshold_shortest_cause", "ame_doubling_largest_cause", "subcause_lowest", "subcause_lowest_rate",
          "subcause_highest", "subcause_highest_rate", "repeat_odds_ratio", "cronbach_alpha", "welch_p_cause",
          "response_rate_overall", "response_rate_lowest_cause", "response_rate_lowest_cause_rate",
          "response_rate_highest_cause", "response_rate_highest_cause_rate", "sat_rate_weighted",
          "sat_rate_weighted_low", "sat_rate_weighted_high", "sat_rate_weighting_shift", "weight_deff",
          "weight_n_eff", "weight_max", "weighting_method", "svy_ame_doubling_largest_cause",
          "sat_rate_shift_largest_subcause", "sat_rate_shift_largest_subcause_points",
          "lever_best", "lever_best_points", "lever_best_low", "lever_best_high", "lever_best_per_10k",
          "lever_second", "lever_second_points", "lever_best_evalue", "lever_best_evalue_ci", "driver_top", "driver_top_share", "drivers_concentrate_here",
          "nonresponse_methods_low", "nonresponse_methods_high", "nonresponse_target", "tipping_delta_refused",
          "tipping_delta_no_answer", "tipping_delta_all", "data_source", "n_stations")


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def _hours(x: float, lang: str, missing: str = "not_reached") -> str:
    if x is None or not np.isfinite(x):
        return labels.text(missing, lang)
    return f"{x:.1f} 小时" if lang == "zh" else f"{x:.1f} hours"


def _end(x: float, lang: str) -> str:
    """An end of a breakpoint interval: NaN when the data do not bound it on that side."""
    return _hours(x, lang, "not_bounded")


def _row(name, value, unit, zh, en, source, row, column, artifact) -> dict:
    return {"name": name, "value": value, "unit": unit, "zh": zh, "en": en, "source": source,
            "row": row, "column": column, "artifact": artifact}


def _threshold_finding(g: str, r: pd.DataFrame) -> list[dict]:
    """``threshold_<g>_finding`` (the change-point test's answer in words: a change point with its
    interval, "falls gradually, no threshold" with the slope per doubling, or "insufficient data"),
    and the numbers it quotes: ``threshold_<g>_slope[_low|_high]`` (percentage points per doubling
    of handling time) and ``threshold_<g>_breakpoint[_low|_high]`` (hours)."""
    src, row = "fit/thresholds.csv", f"cause_l1={g}"
    if not len(r) or "shape" not in r.columns:
        return [_row(f"threshold_{g}_finding", math.nan, "code", NO_DATA[0], NO_DATA[1], src, row, "shape", "T06")]
    x = r.iloc[0]
    num = {k: (float(x[k]) if pd.notna(x[k]) else math.nan) for k in
           ("slope_per_doubling", "slope_low", "slope_high", "breakpoint_hours", "breakpoint_low", "breakpoint_high")}
    out = []
    for col, name in (("slope_per_doubling", "slope"), ("slope_low", "slope_low"), ("slope_high", "slope_high")):
        v = num[col]
        t = NO_DATA if not np.isfinite(v) else (f"{v:.1f}", f"{v:.1f}")
        out.append(_row(f"threshold_{g}_{name}", v, "percentage points per doubling", t[0], t[1], src, row, col,
                        "T06"))
    for col, name in (("breakpoint_hours", "breakpoint"), ("breakpoint_low", "breakpoint_low"),
                      ("breakpoint_high", "breakpoint_high")):
        v = num[col]
        if np.isfinite(v):
            t = (_hours(v, "zh"), _hours(v, "en"))
        elif col != "breakpoint_hours" and np.isfinite(num["breakpoint_hours"]):  # an open end
            t = (labels.text("not_bounded", "zh"), labels.text("not_bounded", "en"))
        else:
            t = (NO_DATA[0], NO_DATA[1])
        out.append(_row(f"threshold_{g}_{name}", v, "hours", t[0], t[1], src, row, col, "T06"))
    shape = str(x["shape"])
    s, lo, hi = num["slope_per_doubling"], num["slope_low"], num["slope_high"]
    if shape == "threshold":
        kind = str(x.get("change_point_kind", "") or "")
        if kind in ("step", "slope_change"):
            zh_kind, en_kind = labels.text(f"kind_{kind}", "zh"), labels.text(f"kind_{kind}", "en")
        else:
            zh_kind = en_kind = ""
        zh = (f"存在拐点{'（' + zh_kind + '）' if zh_kind else ''}，约在 "
              f"{_hours(num['breakpoint_hours'], 'zh')}（95%置信区间 "
              f"{_end(num['breakpoint_low'], 'zh')} 至 {_end(num['breakpoint_high'], 'zh')}）")
        en = (f"a change point{' (' + en_kind + ')' if en_kind else ''} at about "
              f"{_hours(num['breakpoint_hours'], 'en')} (95% interval "
              f"{_end(num['breakpoint_low'], 'en')} to {_end(num['breakpoint_high'], 'en')})")
    elif shape == "gradual":
        zh = f"逐步下降，无阈值（处理时长每翻倍，满意率变化 {s:.1f} 个百分点，95%置信区间 {lo:.1f} 至 {hi:.1f}）"
        en = (f"falls gradually, no threshold ({s:.1f} points per doubling of handling time, "
              f"95% interval {lo:.1f} to {hi:.1f})")
    else:
        zh = f"数据不足（{int(x['n']):,} 张工单，{int(x['n_dissatisfied']):,} 个不满意），不估计阈值"
        en = f"insufficient data ({int(x['n']):,} tickets, {int(x['n_dissatisfied']):,} dissatisfied): no threshold estimated"
    out.append(_row(f"threshold_{g}_finding", shape, "code", zh, en, src, row, "shape", "T06"))
    return out


def named_values(bundle: dict) -> pd.DataFrame:
    """All named values of the report from the bundle (see module docstring)."""
    ins = bundle["instrument"]
    rep = bundle["ingest_report"]
    out = []
    files = {f["role"]: f for f in rep["files"]}
    sv = files["survey"]
    out.append(_row("survey_rows_read", sv["rows_read"], "rows", f"{sv['rows_read']:,}", f"{sv['rows_read']:,}",
                    "ingest/ingest_report.json", "files[role=survey]", "rows_read", "T02"))
    out.append(_row("survey_rows_rejected", sv["rejected"], "rows", f"{sv['rejected']:,}", f"{sv['rejected']:,}",
                    "ingest/ingest_report.json", "files[role=survey]", "rejected", "T02"))
    out.append(_row("n_responses", rep["responses"]["rows"], "responses", f"{rep['responses']['rows']:,}",
                    f"{rep['responses']['rows']:,}", "ingest/ingest_report.json", "responses", "rows", "T01"))
    rate = rep["responses"]["satisfied_rate_unweighted"]
    out.append(_row("sat_rate_overall", rate, "proportion", _pct(rate), _pct(rate), "ingest/ingest_report.json",
                    "responses", "satisfied_rate_unweighted", "T01"))
    if "workorders" in files:
        wo = files["workorders"]
        out.append(_row("n_workorders", wo["accepted"], "work orders", f"{wo['accepted']:,}", f"{wo['accepted']:,}",
                        "ingest/ingest_report.json", "files[role=workorders]", "accepted", "T01"))

    groups = ins.label_sets["cause_l1"].codes  # every group gets its values, "no data" when absent
    th = bundle.get("thresholds")
    th = th if th is not None else pd.DataFrame(columns=["cause_l1", "threshold_hours"])
    for g in groups:
        r = th[th["cause_l1"] == g]
        for col, suffix in (("threshold_hours", ""), ("conf_low", "_low"), ("conf_high", "_high")):
            if len(r):
                v = float(r[col].iloc[0]) if pd.notna(r[col].iloc[0]) else math.nan
                zh, en = _hours(v, "zh"), _hours(v, "en")
            else:
                v, zh, en = math.nan, NO_DATA[0], NO_DATA[1]
            out.append(_row(f"threshold_{g}{suffix}", v, "hours", zh, en, "fit/thresholds.csv",
                            f"cause_l1={g}", col, "T06"))
        out += _threshold_finding(g, r)
    if len(th):
        fastest = th.loc[th["threshold_hours"].idxmin()] if th["threshold_hours"].notna().any() else None
        if fastest is not None:
            g = fastest["cause_l1"]
            out.append(_row("threshold_shortest_cause", g, "code", labels.code("cause_l1", g, "zh", ins),
                            labels.code("cause_l1", g, "en", ins), "fit/thresholds.csv",
                            "min(threshold_hours)", "cause_l1", "T06"))

    me = bundle["marginal_effects"]
    # the model with one handling-time slope per cause group: its doubling effects can rank groups
    # (the logit's common slope would rank them by their base rates only)
    sel = me[(me["model"] == AME_MODEL) & (me["scale"] == "p_satisfied")]
    for g in groups:
        r = sel[sel["cause_l1"] == g]
        if len(r):
            v = float(r["estimate"].iloc[0])
            zh, en = f"{100 * v:.1f} 个百分点", f"{100 * v:.1f} percentage points"
        else:
            v, zh, en = math.nan, NO_DATA[0], NO_DATA[1]
        out.append(_row(f"ame_doubling_{g}", v, "probability", zh, en, "fit/marginal_effects.csv",
                        f"model={AME_MODEL}, scale=p_satisfied, cause_l1={g}", "estimate", "T05"))
    if len(sel):
        worst = sel.loc[sel["estimate"].idxmin()]
        g = worst["cause_l1"]
        out.append(_row("ame_doubling_largest_cause", g, "code", labels.code("cause_l1", g, "zh", ins),
                        labels.code("cause_l1", g, "en", ins), "fit/marginal_effects.csv",
                        f"min(estimate) where model={AME_MODEL}, scale=p_satisfied", "cause_l1", "T05"))

    pr = bundle["predictions"]
    sub = pr[(pr["model"] == "logit") & (pr["quantity"] == "aap_subcause")]
    if len(sub):
        lo = sub.loc[sub["estimate"].idxmin()]
        hi = sub.loc[sub["estimate"].idxmax()]
        for tag, r in (("lowest", lo), ("highest", hi)):
            s = r["cause_l2"]
            out.append(_row(f"subcause_{tag}", s, "code", labels.code("cause_l2", s, "zh", ins),
                            labels.code("cause_l2", s, "en", ins), "fit/predictions.csv",
                            f"{'min' if tag == 'lowest' else 'max'}(estimate) where model=logit, "
                            "quantity=aap_subcause", "cause_l2", "F02"))
            out.append(_row(f"subcause_{tag}_rate", float(r["estimate"]), "proportion", _pct(r["estimate"]),
                            _pct(r["estimate"]), "fit/predictions.csv",
                            f"model=logit, quantity=aap_subcause, cause_l2={s}", "estimate", "F02"))
    out += _subcause_rank_values(bundle)
    est = bundle["estimates"]
    rep_row = est[(est["model"] == "logit") & (est["term"] == "repeat")]
    if len(rep_row):
        v = float(np.exp(rep_row["estimate"].iloc[0]))
        out.append(_row("repeat_odds_ratio", v, "odds ratio", f"{v:.2f}", f"{v:.2f}", "fit/estimates.csv",
                        "model=logit, term=repeat", "exp(estimate)", "T04"))
    rel = bundle.get("reliability")
    if rel is not None and len(rel):
        v = float(rel["alpha"].iloc[0])
        out.append(_row("cronbach_alpha", v, "alpha", f"{v:.3f}", f"{v:.3f}", "fit/reliability.csv",
                        "scale=satisfaction", "alpha", "T08"))
    comp = bundle.get("comparisons")
    if comp is not None and len(comp):
        w = comp[(comp["between"] == "cause_l1") & (comp["method"] == "welch_anova")]
        if len(w):
            v = float(w["p_value"].iloc[0])
            text = "<0.001" if v < 0.001 else f"{v:.3f}"
            out.append(_row("welch_p_cause", v, "p-value", text, text, "fit/comparisons.csv",
                            "between=cause_l1, method=welch_anova", "p_value", "T07"))
    out += _monitoring_values(bundle)
    out += _representativeness_values(bundle)
    out += _lever_values(bundle)
    out += _driver_values(bundle)
    out += _limitation_values(bundle)
    present = {r["name"] for r in out}
    for name in ALWAYS:  # a value the data cannot give still exists, saying so
        if name not in present:
            out.append(_row(name, math.nan, "", NO_DATA[0], NO_DATA[1], "", "", "", ""))
    return pd.DataFrame(out)


#: names :func:`_subcause_rank_values` always gives (no data when the ranks are missing)
SUBCAUSE_RANK_VALUES = ("subcause_lowest_rank", "subcause_lowest_rank_low", "subcause_lowest_rank_high",
                        "subcause_count", "subcause_lowest_verdict")


def _subcause_rank_values(bundle: dict) -> list[dict]:
    """The least satisfied sub-cause's rank with its 95% interval of ranks (``fit/subcause_ranks.csv``,
    :mod:`research.models.ranks`: 1 = least satisfied), the number of sub-causes ranked, and
    ``subcause_lowest_verdict``: whether the data single it out (its interval is 1-1) or how many other
    sub-causes could also rank first."""
    src, art = "fit/subcause_ranks.csv", "F02"
    rk = bundle.get("subcause_ranks")
    if rk is not None and len(rk):
        rk = rk[rk["model"] == "logit"]
    if rk is None or not len(rk):
        return [_row(n, math.nan, "", NO_DATA[0], NO_DATA[1], "", "", "", "") for n in SUBCAUSE_RANK_VALUES]
    rk = rk.sort_values(["rank", "estimate", "cause_l2"], kind="stable")
    low = rk.iloc[0]
    s = str(low["cause_l2"])
    row = f"model=logit, cause_l2={s}"
    out = [_row(f"subcause_lowest_{c}", int(low[c]), "rank", str(int(low[c])), str(int(low[c])), src, row, c, art)
           for c in ("rank", "rank_low", "rank_high")]
    k = len(rk)
    out.append(_row("subcause_count", k, "count", str(k), str(k), src, "model=logit", "count(cause_l2)", art))
    also = int((rk["rank_low"].iloc[1:] == 1).sum())
    if int(low["rank_high"]) == 1:
        zh, en = "在至少97.5%的模拟中均排名最低，可确定为满意率最低的子类", \
            "it ranks last in at least 97.5% of the simulations, so the data single it out"
    elif also == 0:  # other sub-causes take rank 1 now and then, none in 2.5% of the draws
        zh, en = "但它在不到97.5%的模拟中排名最低，数据不能完全确定它就是最低", \
            "but it ranks last in fewer than 97.5% of the simulations, so the data do not fully single it out"
    else:
        zh = f"但数据不能确定它就是最低：另有 {also} 个子类的排名区间也包含第1名"
        en = (f"but the data cannot single it out: the rank intervals of {also} other sub-cause"
              f"{'' if also == 1 else 's'} also reach rank 1")
    out.append(_row("subcause_lowest_verdict", also, "count", zh, en, src, "model=logit, rank_low=1",
                    "count(cause_l2) - 1", art))
    return out


#: names :func:`_monitoring_values` always gives (no data when the result is missing)
MONITORING_VALUES = ("pchart_expected_false_per_week", "pchart_observed_per_week", "pchart_weeks",
                     "funnel_n_flagged", "funnel_flagged", "funnel_n_stations", "assoc_unresolved_points",
                     "assoc_repeat_points")


def _monitoring_values(bundle: dict) -> list[dict]:
    """Named values of T18 (the p-chart's expected false signals a week from chance alone,
    research.strategy.monitoring.expected_false_signals), T22/F11 (stations flagged by the risk-adjusted
    funnel: outside 99.8% or BH q < 0.05) and T21 (the resolution and repeat-call associations,
    standardised differences in points)."""
    from research.artifacts.tables import p_chart_false_signals

    out: list[dict] = []
    fs = p_chart_false_signals(bundle)
    if fs is not None:
        for name, key, fmt in (("pchart_expected_false_per_week", "expected_per_week", "{:.2f}"),
                               ("pchart_observed_per_week", "observed_per_week", "{:.2f}"),
                               ("pchart_weeks", "weeks", "{:d}")):
            text = fmt.format(fs[key])
            out.append(_row(name, fs[key], "signals per week" if name != "pchart_weeks" else "weeks", text, text,
                            "strategy/p_chart.csv", "", "expected_false_signals", "T18"))
    sf = bundle.get("station_funnel")
    if sf is not None and len(sf):
        flagged = sf[(sf["signal"].astype(object).fillna("") != "") | (sf["fdr_signal"].astype(object).fillna("") != "")]
        names = sorted(str(x) for x in flagged["station"])
        k = len(names)
        out.append(_row("funnel_n_flagged", k, "stations", str(k), str(k), "strategy/station_funnel.csv",
                        "signal != '' or fdr_signal != ''", "station", "T22"))
        out.append(_row("funnel_flagged", "|".join(names), "names", "、".join(names) if k else "无",
                        ", ".join(names) if k else "none", "strategy/station_funnel.csv",
                        "signal != '' or fdr_signal != ''", "station", "T22"))
        out.append(_row("funnel_n_stations", len(sf), "stations", str(len(sf)), str(len(sf)),
                        "strategy/station_funnel.csv", "", "station", "T22"))
    asc = bundle.get("associations")
    if asc is not None and len(asc):
        for name, term in (("assoc_unresolved_points", "resolved[no]"), ("assoc_repeat_points", "repeat[true]")):
            r = asc[asc["term"] == term]
            if len(r):
                v, lo, hi = (float(r[c].iloc[0]) for c in ("estimate", "conf_low", "conf_high"))
                out.append(_row(name, v, "probability", f"{_points(v, 'zh')}（95%置信区间 {100 * lo:+.1f} 至 {100 * hi:+.1f}）",
                                f"{_points(v, 'en')} (95% CI {100 * lo:+.1f} to {100 * hi:+.1f})",
                                "strategy/associations.csv", f"term={term}", "estimate", "T21"))
    present = {r["name"] for r in out}
    out += [_row(n, math.nan, "", NO_DATA[0], NO_DATA[1], "", "", "", "") for n in MONITORING_VALUES
            if n not in present]
    return out


def _points(x: float, lang: str) -> str:
    return f"{100 * x:+.1f} 个百分点" if lang == "zh" else f"{100 * x:+.1f} percentage points"


def _representativeness_values(bundle: dict) -> list[dict]:
    """Named values of the non-response section (``weights/*.csv``); none without work orders."""
    ins = bundle["instrument"]
    out: list[dict] = []
    rr = bundle.get("response_rates")
    if rr is not None and len(rr):
        src = "weights/response_rates.csv"
        r = rr[rr["variable"] == "overall"].iloc[0]
        v = float(r["completed_rate"])
        out.append(_row("response_rate_overall", v, "proportion", _pct(v), _pct(v), src, "variable=overall",
                        "completed_rate", "T09"))
        by = rr[rr["variable"] == "cause_l1"]
        if len(by):
            for tag, r in (("lowest", by.loc[by["completed_rate"].idxmin()]),
                           ("highest", by.loc[by["completed_rate"].idxmax()])):
                g = str(r["level"])
                out.append(_row(f"response_rate_{tag}_cause", g, "code", labels.code("cause_l1", g, "zh", ins),
                                labels.code("cause_l1", g, "en", ins), src,
                                f"{'min' if tag == 'lowest' else 'max'}(completed_rate) where variable=cause_l1",
                                "level", "T09"))
                v = float(r["completed_rate"])
                out.append(_row(f"response_rate_{tag}_cause_rate", v, "proportion", _pct(v), _pct(v), src,
                                f"variable=cause_l1, level={g}", "completed_rate", "T09"))
    we = bundle.get("weighted_estimates")
    if we is not None and len(we):
        src = "weights/weighted_estimates.csv"
        r = we[(we["variable"] == "satisfied") & (we["domain"] == "overall")].iloc[0]
        for col, suffix in (("estimate", ""), ("conf_low", "_low"), ("conf_high", "_high")):
            v = float(r[col])
            out.append(_row(f"sat_rate_weighted{suffix}", v, "proportion", _pct(v), _pct(v), src,
                            "variable=satisfied, domain=overall", col, "T11"))
        v = float(r["difference"])
        out.append(_row("sat_rate_weighting_shift", v, "proportion", _points(v, "zh"), _points(v, "en"), src,
                        "variable=satisfied, domain=overall", "difference", "T11"))
        sub = we[(we["variable"] == "satisfied") & (we["domain"] == "cause_l2")]
        if len(sub):
            r = sub.loc[sub["difference"].abs().idxmax()]
            s = str(r["level"])
            out.append(_row("sat_rate_shift_largest_subcause", s, "code", labels.code("cause_l2", s, "zh", ins),
                            labels.code("cause_l2", s, "en", ins), src,
                            "max(abs(difference)) where variable=satisfied, domain=cause_l2", "level", "T11"))
            v = float(r["difference"])
            out.append(_row("sat_rate_shift_largest_subcause_points", v, "proportion", _points(v, "zh"),
                            _points(v, "en"), src, f"variable=satisfied, domain=cause_l2, level={s}",
                            "difference", "T11"))
    ws = bundle.get("weight_summary")
    if ws is not None and len(ws):
        src = "weights/weight_summary.csv"
        r = ws[ws["variable"] == "all"].iloc[0]
        for name, col, unit, fmt in (("weight_deff", "deff", "ratio", "{:.2f}"),
                                     ("weight_n_eff", "n_eff", "respondents", "{:,.0f}"),
                                     ("weight_max", "max", "work orders per respondent", "{:.2f}")):
            v = float(r[col])
            out.append(_row(name, v, unit, fmt.format(v), fmt.format(v), src, "variable=all", col, "T10"))
        m = str(r["method"])
        out.append(_row("weighting_method", m, "code", labels.text(m, "zh"), labels.text(m, "en"), src,
                        "variable=all", "method", "T10"))
    sv = bundle.get("svy_marginal_effects")
    if sv is not None and len(sv):
        sel = sv[(sv["model"] == AME_MODEL) & (sv["scale"] == "p_satisfied")]
        if len(sel):
            g = str(sel.loc[sel["estimate"].idxmin()]["cause_l1"])
            out.append(_row("svy_ame_doubling_largest_cause", g, "code", labels.code("cause_l1", g, "zh", ins),
                            labels.code("cause_l1", g, "en", ins), "weights/svy_marginal_effects.csv",
                            f"min(estimate) where model={AME_MODEL}, scale=p_satisfied", "cause_l1", "T12"))
    out.extend(_nonresponse_sensitivity(bundle))
    return out


def _nonresponse_sensitivity(bundle: dict) -> list[dict]:
    """The spread of the headline rate over the weighting methods (T19) and the tipping deltas
    of refusals, no-answers and all non-respondents against the plan's target (T20)."""
    out: list[dict] = []
    wm = bundle.get("weighting_methods")
    if wm is not None and len(wm):
        src = "weights/weighting_methods.csv"
        ov = wm[(wm["domain"] == "overall") & wm["estimate"].notna()]
        if len(ov):
            for name, fn in (("nonresponse_methods_low", "min"), ("nonresponse_methods_high", "max")):
                v = float(getattr(ov["estimate"], fn)())
                out.append(_row(name, v, "proportion", _pct(v), _pct(v), src, f"{fn}(estimate) where domain=overall",
                                "estimate", "T19"))
    tip = bundle.get("tipping_deltas")
    if tip is not None and len(tip):
        src = "weights/tipping_deltas.csv"
        ov = tip[tip["domain"] == "overall"].set_index("scenario")
        v = float(ov["target"].iloc[0])
        out.append(_row("nonresponse_target", v, "proportion", _pct(v), _pct(v), src, "domain=overall", "target",
                        "T20"))
        for scen in ("refused", "no_answer", "all"):
            if scen not in ov.index:
                continue
            v = float(ov.loc[scen, "tipping_delta"])
            if np.isfinite(v):
                zh, en = f"{v:+.2f}（优势比 {np.exp(v):.2f}）", f"{v:+.2f} (odds ratio {np.exp(v):.2f})"
            else:
                zh, en = "不存在（该组无论如何也无法改变结论）", "none (no shift of this group alone can overturn it)"
            out.append(_row(f"tipping_delta_{scen}", v, "log odds ratio", zh, en, src,
                            f"scenario={scen}, domain=overall", "tipping_delta", "T20"))
    return out


def _gain(x: float, lang: str) -> str:
    """A change the prose already calls a gain ("raising ... by"): unsigned unless negative."""
    return f"{100 * x:.1f} 个百分点" if lang == "zh" else f"{100 * x:.1f} percentage points"


def _lever_values(bundle: dict) -> list[dict]:
    """Named values of the lever ranking (``strategy/levers.csv``); none without levers."""
    lv = bundle.get("levers")
    if lv is None or len(lv) == 0:
        return []
    src, out = "strategy/levers.csv", []
    for tag, i in (("best", 0), ("second", 1)):
        if i >= len(lv):
            continue
        r = lv.iloc[i]
        out.append(_row(f"lever_{tag}", str(r["lever"]), "code", str(r["zh"]), str(r["en"]), src,
                        f"rank={i + 1}", "lever", "T14"))
        v = float(r["effect"])
        out.append(_row(f"lever_{tag}_points", v, "proportion", _gain(v, "zh"), _gain(v, "en"), src,
                        f"rank={i + 1}", "effect", "T14"))
    r = lv.iloc[0]
    for col, suffix in (("conf_low", "_low"), ("conf_high", "_high")):
        v = float(r[col])
        out.append(_row(f"lever_best{suffix}", v, "proportion", _gain(v, "zh"), _gain(v, "en"), src,
                        "rank=1", col, "T14"))
    for col, suffix in (("evalue", ""), ("evalue_ci", "_ci")):  # VanderWeele & Ding 2017, dissatisfied-rate ratio
        v = float(r[col]) if col in lv.columns else math.nan
        txt = f"{v:.2f}" if math.isfinite(v) else NO_DATA[1]
        out.append(_row(f"lever_best_evalue{suffix}", v, "risk ratio", txt if math.isfinite(v) else NO_DATA[0], txt,
                        src, "rank=1", col, "T14"))
    v = float(r["dissatisfied_per_10k"])
    out.append(_row("lever_best_per_10k", v, "customers per 10,000 complaints", f"{-v:,.0f}", f"{-v:,.0f}", src,
                    "rank=1", "dissatisfied_per_10k", "T14"))
    return out


def _driver_values(bundle: dict) -> list[dict]:
    """Named values of the key-driver analysis (``strategy/drivers_*.csv``), from the OPERATIONAL
    decomposition (the satisfaction items are decomposed apart): ``driver_top`` and
    ``driver_top_share`` (rank 1), ``drivers_concentrate_here`` (placed drivers with a bootstrap
    probability >= 0.5 of lying there), ``drivers_undetectable`` (share within its permutation
    null, Holm p >= 0.05), and ``items_r2`` / ``operational_r2`` (R² of each decomposition;
    these three are always present, NO_DATA without a driver analysis)."""
    imp, ipa = bundle.get("drivers_importance"), bundle.get("drivers_ipa")
    src_i, src_p = "strategy/drivers_importance.csv", "strategy/drivers_ipa.csv"
    if imp is None or len(imp) == 0:
        return [_row(n, math.nan, "code", NO_DATA[0], NO_DATA[1], src_i, "", "", "T15")
                for n in ("drivers_undetectable", "items_r2", "operational_r2")]
    op = imp[imp["set"] == "operational"] if "set" in imp.columns else imp
    items = imp[imp["set"] == "items"] if "set" in imp.columns else imp.iloc[:0]
    out = []
    if len(op):
        r = op.sort_values("rank").iloc[0]
        d = str(r["driver"])
        out.append(_row("driver_top", d, "code", labels.text(d, "zh"), labels.text(d, "en"), src_i,
                        "set=operational,rank=1", "driver", "T15"))
        v = float(r["share"])
        out.append(_row("driver_top_share", v, "proportion", _pct(v), _pct(v), src_i, "set=operational,rank=1",
                        "share", "T15"))
    und = (list(op.loc[op["detectable"].astype("boolean").eq(False).fillna(False), "driver"])
           if "detectable" in op.columns else [])
    out.append(_row("drivers_undetectable", "|".join(und), "codes",
                    "、".join(labels.text(n, "zh") for n in und) or "无",
                    ", ".join(labels.text(n, "en").lower() for n in und) or "none",
                    src_i, "set=operational,p_holm >= 0.05", "driver", "T15"))
    for name, part in (("operational_r2", op), ("items_r2", items)):
        if len(part):
            v = float(part["total_r2"].iloc[0])
            out.append(_row(name, v, "R²", f"{v:.3f}", f"{v:.3f}", src_i, f"set={name[:-3]}", "total_r2", "T15"))
        else:
            out.append(_row(name, math.nan, "R²", NO_DATA[0], NO_DATA[1], src_i, "", "", "T15"))
    if ipa is not None and len(ipa):
        op_ipa = ipa[ipa["set"] == "operational"] if "set" in ipa.columns else ipa
        sel = op_ipa[op_ipa["p_concentrate_here"].fillna(0) >= 0.5]
        names = list(sel["driver"])
        zh = "、".join(labels.text(n, "zh") for n in names) or "无"
        en = ", ".join(labels.text(n, "en").lower() for n in names) or "none"
        out.append(_row("drivers_concentrate_here", "|".join(names), "codes", zh, en,
                        src_p, "set=operational,p_concentrate_here >= 0.5", "driver", "T15"))
    return out


def _limitation_values(bundle: dict) -> list[dict]:
    """Named values of the limitations section: ``data_source`` (whether the survey export is the
    committed synthetic sample, by its sha256, so the report says plainly that its numbers come
    from simulated data) and ``n_stations`` (the number of stations, the clusters of every
    clustered interval, whose t reference has G - 1 degrees of freedom)."""
    import hashlib

    from research import paths

    out = []
    sv = next(f for f in bundle["ingest_report"]["files"] if f["role"] == "survey")
    sample = paths.sample_survey()
    is_sample = sample.is_file() and hashlib.sha256(sample.read_bytes()).hexdigest() == sv.get("sha256")
    zh, en = (("随仓库提交的合成样本：由模拟器生成的模拟数据，不是真实客户的回访，数字只用于演示方法",
               "the committed synthetic sample: simulated data written by the simulator, not real "
               "customers' answers, so its numbers only demonstrate the method")
              if is_sample else ("用户提供的导出数据", "the exports supplied to this build"))
    out.append(_row("data_source", "sample" if is_sample else "supplied", "code", zh, en,
                    "ingest/ingest_report.json", "files[role=survey]", "sha256", "T02"))
    resp = bundle.get("responses")
    if resp is not None and "station" in resp.columns:
        g = int(resp["station"].nunique())
        out.append(_row("n_stations", g, "stations", f"{g:,}", f"{g:,}", "ingest/responses.parquet",
                        "", "nunique(station)", "T09"))
    return out
