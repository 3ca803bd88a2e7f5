"""Named values of stage 4 (``strategy/*.csv``): monitoring (p-chart, station funnel,
associations), the lever ranking, the key-driver analysis and the typical cases.

In: the bundle (:func:`research.artifacts.bundle.make_bundle`). Out: a list of
:func:`research.artifacts.values_format.value_row` dicts, in the order ``values.csv`` lists them;
:func:`research.artifacts.values.named_values` puts every stage's values together.
"""

from __future__ import annotations

import math

from research.artifacts import labels
from research.artifacts.values_format import (NO_DATA, gain_text, missing_row, pct, points_text,
                                              value_row)


#: names :func:`monitoring_values` always gives (no data when the result is missing)
MONITORING_VALUES = ("pchart_expected_false_per_week", "pchart_observed_per_week", "pchart_weeks",
                     "funnel_n_flagged", "funnel_flagged", "funnel_n_stations", "assoc_unresolved_points",
                     "assoc_repeat_points")


def monitoring_values(bundle: dict) -> list[dict]:
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
            out.append(value_row(name, fs[key], "signals per week" if name != "pchart_weeks" else "weeks", text, text,
                                 "strategy/p_chart.csv", "", "expected_false_signals", "T18"))
    sf = bundle.get("station_funnel")
    if sf is not None and len(sf):
        flagged = sf[(sf["signal"].astype(object).fillna("") != "") | (sf["fdr_signal"].astype(object).fillna("") != "")]
        names = sorted(str(x) for x in flagged["station"])
        k = len(names)
        out.append(value_row("funnel_n_flagged", k, "stations", str(k), str(k), "strategy/station_funnel.csv",
                             "signal != '' or fdr_signal != ''", "station", "T22"))
        out.append(value_row("funnel_flagged", "|".join(names), "names", "、".join(names) if k else "无",
                             ", ".join(names) if k else "none", "strategy/station_funnel.csv",
                             "signal != '' or fdr_signal != ''", "station", "T22"))
        out.append(value_row("funnel_n_stations", len(sf), "stations", str(len(sf)), str(len(sf)),
                             "strategy/station_funnel.csv", "", "station", "T22"))
    asc = bundle.get("associations")
    if asc is not None and len(asc):
        for name, term in (("assoc_unresolved_points", "resolved[no]"), ("assoc_repeat_points", "repeat[true]")):
            r = asc[asc["term"] == term]
            if len(r):
                v, lo, hi = (float(r[c].iloc[0]) for c in ("estimate", "conf_low", "conf_high"))
                out.append(value_row(name, v, "probability", f"{points_text(v, 'zh')}（95%置信区间 {100 * lo:+.1f} 至 {100 * hi:+.1f}）",
                                     f"{points_text(v, 'en')} (95% CI {100 * lo:+.1f} to {100 * hi:+.1f})",
                                     "strategy/associations.csv", f"term={term}", "estimate", "T21"))
    present = {r["name"] for r in out}
    out += [missing_row(n) for n in MONITORING_VALUES
            if n not in present]
    return out


def lever_values(bundle: dict) -> list[dict]:
    """Named values of the lever ranking (``strategy/levers.csv``); none without levers."""
    lv = bundle.get("levers")
    if lv is None or len(lv) == 0:
        return []
    src, out = "strategy/levers.csv", []
    for tag, i in (("best", 0), ("second", 1)):
        if i >= len(lv):
            continue
        r = lv.iloc[i]
        out.append(value_row(f"lever_{tag}", str(r["lever"]), "code", str(r["zh"]), str(r["en"]), src,
                             f"rank={i + 1}", "lever", "T14"))
        v = float(r["effect"])
        out.append(value_row(f"lever_{tag}_points", v, "proportion", gain_text(v, "zh"), gain_text(v, "en"), src,
                             f"rank={i + 1}", "effect", "T14"))
    r = lv.iloc[0]
    for col, suffix in (("conf_low", "_low"), ("conf_high", "_high")):
        v = float(r[col])
        out.append(value_row(f"lever_best{suffix}", v, "proportion", gain_text(v, "zh"), gain_text(v, "en"), src,
                             "rank=1", col, "T14"))
    for col, suffix in (("evalue", ""), ("evalue_ci", "_ci")):  # VanderWeele & Ding 2017, dissatisfied-rate ratio
        v = float(r[col]) if col in lv.columns else math.nan
        txt = f"{v:.2f}" if math.isfinite(v) else NO_DATA[1]
        out.append(value_row(f"lever_best_evalue{suffix}", v, "risk ratio",
                             txt if math.isfinite(v) else NO_DATA[0], txt, src, "rank=1", col, "T14"))
    v = float(r["dissatisfied_per_10k"])
    out.append(value_row("lever_best_per_10k", v, "customers per 10,000 complaints", f"{-v:,.0f}", f"{-v:,.0f}", src,
                         "rank=1", "dissatisfied_per_10k", "T14"))
    return out


def driver_values(bundle: dict) -> list[dict]:
    """Named values of the key-driver analysis (``strategy/drivers_*.csv``), from the OPERATIONAL
    decomposition (the satisfaction items are decomposed apart): ``driver_top`` and
    ``driver_top_share`` (rank 1), ``drivers_concentrate_here`` (placed drivers with a bootstrap
    probability >= 0.5 of lying there), ``drivers_undetectable`` (share within its permutation
    null, Holm p >= 0.05), and ``items_r2`` / ``operational_r2`` (R² of each decomposition;
    these three are always present, NO_DATA without a driver analysis)."""
    imp, ipa = bundle.get("drivers_importance"), bundle.get("drivers_ipa")
    src_i, src_p = "strategy/drivers_importance.csv", "strategy/drivers_ipa.csv"
    if imp is None or len(imp) == 0:
        return [value_row(n, math.nan, "code", NO_DATA[0], NO_DATA[1], src_i, "", "", "T15")
                for n in ("drivers_undetectable", "items_r2", "operational_r2")]
    op = imp[imp["set"] == "operational"] if "set" in imp.columns else imp
    items = imp[imp["set"] == "items"] if "set" in imp.columns else imp.iloc[:0]
    out = []
    if len(op):
        r = op.sort_values("rank").iloc[0]
        d = str(r["driver"])
        out.append(value_row("driver_top", d, "code", labels.text(d, "zh"), labels.text(d, "en"), src_i,
                             "set=operational,rank=1", "driver", "T15"))
        v = float(r["share"])
        out.append(value_row("driver_top_share", v, "proportion", pct(v), pct(v), src_i, "set=operational,rank=1",
                             "share", "T15"))
    und = (list(op.loc[op["detectable"].astype("boolean").eq(False).fillna(False), "driver"])
           if "detectable" in op.columns else [])
    out.append(value_row("drivers_undetectable", "|".join(und), "codes",
                         "、".join(labels.text(n, "zh") for n in und) or "无",
                         ", ".join(labels.text(n, "en").lower() for n in und) or "none",
                         src_i, "set=operational,p_holm >= 0.05", "driver", "T15"))
    for name, part in (("operational_r2", op), ("items_r2", items)):
        if len(part):
            v = float(part["total_r2"].iloc[0])
            out.append(value_row(name, v, "R²", f"{v:.3f}", f"{v:.3f}", src_i, f"set={name[:-3]}", "total_r2", "T15"))
        else:
            out.append(value_row(name, math.nan, "R²", NO_DATA[0], NO_DATA[1], src_i, "", "", "T15"))
    if ipa is not None and len(ipa):
        op_ipa = ipa[ipa["set"] == "operational"] if "set" in ipa.columns else ipa
        sel = op_ipa[op_ipa["p_concentrate_here"].fillna(0) >= 0.5]
        names = list(sel["driver"])
        zh = "、".join(labels.text(n, "zh") for n in names) or "无"
        en = ", ".join(labels.text(n, "en").lower() for n in names) or "none"
        out.append(value_row("drivers_concentrate_here", "|".join(names), "codes", zh, en,
                             src_p, "set=operational,p_concentrate_here >= 0.5", "driver", "T15"))
    return out



#: names :func:`typical_values` always gives (no data without a distinguishing word)
TYPICAL_VALUES = ("typical_per_group", "typical_groups", "typical_top_group", "typical_top_comments", "typical_top_term",
                  "typical_top_z", "typical_top_case")


def typical_values(bundle: dict) -> list[dict]:
    """Named values of the typical cases (T23, F12; ``strategy/typical_terms.csv``,
    ``typical_cases.csv``): ``typical_per_group`` (the plan's typical cases per group), ``typical_groups`` (cause groups with a distinguishing word), and for the
    group with the most dissatisfied comments (``typical_top_group``, its ``typical_top_comments``) its
    most distinguishing word (``typical_top_term``), that word's z (``typical_top_z``) and its first
    typical case (``typical_top_case``, the masked comment). Each is "no data" when absent."""
    terms, cases = bundle.get("typical_terms"), bundle.get("typical_cases")
    src_t, src_c, out = "strategy/typical_terms.csv", "strategy/typical_cases.csv", []
    spec = getattr(bundle.get("plan"), "typical_cases", None)
    if spec is not None:
        k = int(spec.per_group)
        out.append(value_row("typical_per_group", k, "comments", str(k), str(k), "fit/analysis_plan_used.yaml",
                             "typical_cases", "per_group", "T23"))
    if terms is not None and len(terms):
        k = int(terms["cause_l1"].nunique())
        out.append(value_row("typical_groups", k, "cause groups", str(k), str(k), src_t, "", "cause_l1", "T23"))
        first = terms.sort_values(["comments_dissatisfied", "cause_l1", "rank"], ascending=[False, True, True],
                                  kind="stable").iloc[0]
        g = str(first["cause_l1"])
        ins = bundle.get("instrument")
        zh, en = ((labels.code("cause_l1", g, "zh", ins), labels.code("cause_l1", g, "en", ins))
                  if ins is not None else (g, g))
        where = f"cause_l1={g},rank=1"
        n = int(first["comments_dissatisfied"])
        out.append(value_row("typical_top_group", g, "code", zh, en, src_t, where, "cause_l1", "T23"))
        out.append(value_row("typical_top_comments", n, "comments", f"{n:,}", f"{n:,}", src_t, where,
                             "comments_dissatisfied", "T23"))
        out.append(value_row("typical_top_term", str(first["term"]), "word", str(first["term"]), str(first["term"]),
                             src_t, where, "term", "F12"))
        z = float(first["z"])
        out.append(value_row("typical_top_z", z, "z", f"{z:.1f}", f"{z:.1f}", src_t, where, "z", "F12"))
        if cases is not None and len(cases):
            mine = cases[(cases["cause_l1"].astype(str) == g) & (cases["rank"] == 1)]
            if len(mine):
                text = str(mine["comment"].iloc[0])
                out.append(value_row("typical_top_case", text, "text", text, text, src_c, where, "comment", "T23"))
    present = {r["name"] for r in out}
    return out + [missing_row(n) for n in TYPICAL_VALUES if n not in present]
