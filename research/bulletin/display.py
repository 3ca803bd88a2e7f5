"""The bulletin as a reader sees it: the zh/en words, the table specs and their order, and the display
frames with formatted numbers (:func:`display`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from research.artifacts import labels
from research.artifacts.registry import BULLETIN
from research.artifacts.render_tables import fmt_count, fmt_num, fmt_pct, Display, Row
from research.errors import InputError


#: display words not in research.artifacts.labels / research.strategy.monitoring: name -> (zh, en)
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

#: the bulletin's tables (B01..B07), registered in research.artifacts.registry.BULLETIN; their
#: order and periods are research.bulletin.sections.SECTIONS
SPECS = BULLETIN


def word(name: str, lang: str) -> str:
    """Display word: research.artifacts.labels, else research.strategy.monitoring, else :data:`WORDS`."""
    from research.strategy import monitoring

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
        from research.config.instrument import load_instrument
        instrument = load_instrument()
    from research.bulletin.sections import section

    return section(name).show(data, lang, instrument, conf_level)
