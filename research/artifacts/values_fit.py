"""Named values of stage 2, the fit (``fit/*.csv``): the tolerance thresholds and the change-point
findings by cause group, the doubling effects, the least and most satisfied sub-causes with the
rank interval of the least, the repeat-call odds ratio, Cronbach's alpha and Welch's test.

In: the bundle (:func:`research.artifacts.bundle.make_bundle`; ``instrument`` gives the cause
groups, every one of which gets its values, "no data" when absent). Out: a list of
:func:`research.artifacts.values_format.value_row` dicts in the order ``values.csv`` lists them;
:func:`research.artifacts.values.named_values` puts every stage's values together.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from research.artifacts import labels
from research.artifacts.values_format import (AME_MODEL, NO_DATA, hours_text, interval_end, missing_row, pct,
                                              value_row)


def fit_values(bundle: dict) -> list[dict]:
    """Every named value of the fit, in ``values.csv`` order: thresholds, doubling effects,
    sub-causes and their ranks, then the single-number results of the models."""
    return (threshold_values(bundle) + ame_values(bundle) + subcause_values(bundle)
            + subcause_rank_values(bundle) + model_values(bundle))


def threshold_values(bundle: dict) -> list[dict]:
    """``threshold_<g>[_low|_high]`` (hours, ``fit/thresholds.csv``) and the change-point finding
    (:func:`threshold_finding`) of every cause group ``g``, and ``threshold_shortest_cause``."""
    ins = bundle["instrument"]
    out = []
    th = bundle.get("thresholds")
    th = th if th is not None else pd.DataFrame(columns=["cause_l1", "threshold_hours"])
    for g in ins.label_sets["cause_l1"].codes:
        r = th[th["cause_l1"] == g]
        for col, suffix in (("threshold_hours", ""), ("conf_low", "_low"), ("conf_high", "_high")):
            if len(r):
                v = float(r[col].iloc[0]) if pd.notna(r[col].iloc[0]) else math.nan
                zh, en = hours_text(v, "zh"), hours_text(v, "en")
            else:
                v, zh, en = math.nan, NO_DATA[0], NO_DATA[1]
            out.append(value_row(f"threshold_{g}{suffix}", v, "hours", zh, en, "fit/thresholds.csv",
                                 f"cause_l1={g}", col, "T06"))
        out += threshold_finding(g, r)
    if len(th):
        fastest = th.loc[th["threshold_hours"].idxmin()] if th["threshold_hours"].notna().any() else None
        if fastest is not None:
            g = fastest["cause_l1"]
            out.append(value_row("threshold_shortest_cause", g, "code", labels.code("cause_l1", g, "zh", ins),
                                 labels.code("cause_l1", g, "en", ins), "fit/thresholds.csv",
                                 "min(threshold_hours)", "cause_l1", "T06"))
    return out


def ame_values(bundle: dict) -> list[dict]:
    """``ame_doubling_<g>``: the change in P(satisfied) when handling time doubles, by cause group
    (``fit/marginal_effects.csv``, model :data:`AME_MODEL`), and ``ame_doubling_largest_cause``."""
    ins = bundle["instrument"]
    out = []
    me = bundle["marginal_effects"]
    sel = me[(me["model"] == AME_MODEL) & (me["scale"] == "p_satisfied")]
    for g in ins.label_sets["cause_l1"].codes:
        r = sel[sel["cause_l1"] == g]
        if len(r):
            v = float(r["estimate"].iloc[0])
            zh, en = f"{100 * v:.1f} 个百分点", f"{100 * v:.1f} percentage points"
        else:
            v, zh, en = math.nan, NO_DATA[0], NO_DATA[1]
        out.append(value_row(f"ame_doubling_{g}", v, "probability", zh, en, "fit/marginal_effects.csv",
                             f"model={AME_MODEL}, scale=p_satisfied, cause_l1={g}", "estimate", "T05"))
    if len(sel):
        worst = sel.loc[sel["estimate"].idxmin()]
        g = worst["cause_l1"]
        out.append(value_row("ame_doubling_largest_cause", g, "code", labels.code("cause_l1", g, "zh", ins),
                             labels.code("cause_l1", g, "en", ins), "fit/marginal_effects.csv",
                             f"min(estimate) where model={AME_MODEL}, scale=p_satisfied", "cause_l1", "T05"))
    return out


def subcause_values(bundle: dict) -> list[dict]:
    """``subcause_lowest`` / ``subcause_highest`` and their ``_rate``: the sub-causes with the lowest
    and highest average adjusted prediction of the logit (``fit/predictions.csv``)."""
    ins = bundle["instrument"]
    out = []
    pr = bundle["predictions"]
    sub = pr[(pr["model"] == "logit") & (pr["quantity"] == "aap_subcause")]
    if len(sub):
        lo = sub.loc[sub["estimate"].idxmin()]
        hi = sub.loc[sub["estimate"].idxmax()]
        for tag, r in (("lowest", lo), ("highest", hi)):
            s = r["cause_l2"]
            out.append(value_row(f"subcause_{tag}", s, "code", labels.code("cause_l2", s, "zh", ins),
                                 labels.code("cause_l2", s, "en", ins), "fit/predictions.csv",
                                 f"{'min' if tag == 'lowest' else 'max'}(estimate) where model=logit, "
                                 "quantity=aap_subcause", "cause_l2", "F02"))
            out.append(value_row(f"subcause_{tag}_rate", float(r["estimate"]), "proportion", pct(r["estimate"]),
                                 pct(r["estimate"]), "fit/predictions.csv",
                                 f"model=logit, quantity=aap_subcause, cause_l2={s}", "estimate", "F02"))
    return out


def model_values(bundle: dict) -> list[dict]:
    """``repeat_odds_ratio`` (the logit's, ``fit/estimates.csv``), ``cronbach_alpha``
    (``fit/reliability.csv``) and ``welch_p_cause`` (Welch's ANOVA by cause group,
    ``fit/comparisons.csv``); each only when its result exists."""
    out = []
    est = bundle["estimates"]
    rep_row = est[(est["model"] == "logit") & (est["term"] == "repeat")]
    if len(rep_row):
        v = float(np.exp(rep_row["estimate"].iloc[0]))
        out.append(value_row("repeat_odds_ratio", v, "odds ratio", f"{v:.2f}", f"{v:.2f}", "fit/estimates.csv",
                             "model=logit, term=repeat", "exp(estimate)", "T04"))
    rel = bundle.get("reliability")
    if rel is not None and len(rel):
        v = float(rel["alpha"].iloc[0])
        out.append(value_row("cronbach_alpha", v, "alpha", f"{v:.3f}", f"{v:.3f}", "fit/reliability.csv",
                             "scale=satisfaction", "alpha", "T08"))
    comp = bundle.get("comparisons")
    if comp is not None and len(comp):
        w = comp[(comp["between"] == "cause_l1") & (comp["method"] == "welch_anova")]
        if len(w):
            v = float(w["p_value"].iloc[0])
            text = "<0.001" if v < 0.001 else f"{v:.3f}"
            out.append(value_row("welch_p_cause", v, "p-value", text, text, "fit/comparisons.csv",
                                 "between=cause_l1, method=welch_anova", "p_value", "T07"))
    return out


def threshold_finding(g: str, r: pd.DataFrame) -> list[dict]:
    """``threshold_<g>_finding`` (the change-point test's answer in words: a change point with its
    interval, "falls gradually, no threshold" with the slope per doubling, or "insufficient data"),
    and the numbers it quotes: ``threshold_<g>_slope[_low|_high]`` (percentage points per doubling
    of handling time) and ``threshold_<g>_breakpoint[_low|_high]`` (hours)."""
    src, row = "fit/thresholds.csv", f"cause_l1={g}"
    if not len(r) or "shape" not in r.columns:
        return [value_row(f"threshold_{g}_finding", math.nan, "code", NO_DATA[0], NO_DATA[1], src, row, "shape", "T06")]
    x = r.iloc[0]
    num = {k: (float(x[k]) if pd.notna(x[k]) else math.nan) for k in
           ("slope_per_doubling", "slope_low", "slope_high", "breakpoint_hours", "breakpoint_low", "breakpoint_high")}
    out = []
    for col, name in (("slope_per_doubling", "slope"), ("slope_low", "slope_low"), ("slope_high", "slope_high")):
        v = num[col]
        t = NO_DATA if not np.isfinite(v) else (f"{v:.1f}", f"{v:.1f}")
        out.append(value_row(f"threshold_{g}_{name}", v, "percentage points per doubling", t[0], t[1], src, row, col,
                             "T06"))
    for col, name in (("breakpoint_hours", "breakpoint"), ("breakpoint_low", "breakpoint_low"),
                      ("breakpoint_high", "breakpoint_high")):
        v = num[col]
        if np.isfinite(v):
            t = (hours_text(v, "zh"), hours_text(v, "en"))
        elif col != "breakpoint_hours" and np.isfinite(num["breakpoint_hours"]):  # an open end
            t = (labels.text("not_bounded", "zh"), labels.text("not_bounded", "en"))
        else:
            t = (NO_DATA[0], NO_DATA[1])
        out.append(value_row(f"threshold_{g}_{name}", v, "hours", t[0], t[1], src, row, col, "T06"))
    shape = str(x["shape"])
    s, lo, hi = num["slope_per_doubling"], num["slope_low"], num["slope_high"]
    if shape == "threshold":
        kind = str(x.get("change_point_kind", "") or "")
        if kind in ("step", "slope_change"):
            zh_kind, en_kind = labels.text(f"kind_{kind}", "zh"), labels.text(f"kind_{kind}", "en")
        else:
            zh_kind = en_kind = ""
        zh = (f"存在拐点{'（' + zh_kind + '）' if zh_kind else ''}，约在 "
              f"{hours_text(num['breakpoint_hours'], 'zh')}（95%置信区间 "
              f"{interval_end(num['breakpoint_low'], 'zh')} 至 {interval_end(num['breakpoint_high'], 'zh')}）")
        en = (f"a change point{' (' + en_kind + ')' if en_kind else ''} at about "
              f"{hours_text(num['breakpoint_hours'], 'en')} (95% interval "
              f"{interval_end(num['breakpoint_low'], 'en')} to {interval_end(num['breakpoint_high'], 'en')})")
    elif shape == "gradual":
        zh = f"逐步下降，无阈值（处理时长每翻倍，满意率变化 {s:.1f} 个百分点，95%置信区间 {lo:.1f} 至 {hi:.1f}）"
        en = (f"falls gradually, no threshold ({s:.1f} points per doubling of handling time, "
              f"95% interval {lo:.1f} to {hi:.1f})")
    else:
        zh = f"数据不足（{int(x['n']):,} 张工单，{int(x['n_dissatisfied']):,} 个不满意），不估计阈值"
        en = f"insufficient data ({int(x['n']):,} tickets, {int(x['n_dissatisfied']):,} dissatisfied): no threshold estimated"
    out.append(value_row(f"threshold_{g}_finding", shape, "code", zh, en, src, row, "shape", "T06"))
    return out


#: names :func:`subcause_rank_values` always gives (no data when the ranks are missing)
SUBCAUSE_RANK_VALUES = ("subcause_lowest_rank", "subcause_lowest_rank_low", "subcause_lowest_rank_high",
                        "subcause_count", "subcause_lowest_verdict")


def subcause_rank_values(bundle: dict) -> list[dict]:
    """The least satisfied sub-cause's rank with its 95% interval of ranks (``fit/subcause_ranks.csv``,
    :mod:`research.models.ranks`: 1 = least satisfied), the number of sub-causes ranked, and
    ``subcause_lowest_verdict``: whether the data single it out (its interval is 1-1) or how many other
    sub-causes could also rank first."""
    src, art = "fit/subcause_ranks.csv", "F02"
    rk = bundle.get("subcause_ranks")
    if rk is not None and len(rk):
        rk = rk[rk["model"] == "logit"]
    if rk is None or not len(rk):
        return [missing_row(n) for n in SUBCAUSE_RANK_VALUES]
    rk = rk.sort_values(["rank", "estimate", "cause_l2"], kind="stable")
    low = rk.iloc[0]
    s = str(low["cause_l2"])
    row = f"model=logit, cause_l2={s}"
    out = [value_row(f"subcause_lowest_{c}", int(low[c]), "rank", str(int(low[c])), str(int(low[c])), src, row, c, art)
           for c in ("rank", "rank_low", "rank_high")]
    k = len(rk)
    out.append(value_row("subcause_count", k, "count", str(k), str(k), src, "model=logit", "count(cause_l2)", art))
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
    out.append(value_row("subcause_lowest_verdict", also, "count", zh, en, src, "model=logit, rank_low=1",
                         "count(cause_l2) - 1", art))
    return out

