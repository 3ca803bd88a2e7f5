"""One mapping from machine names to Chinese and English labels, used only when displaying.

Codes of causes, channels and answers come from the instrument (surveys/*.yaml);
model names from the analysis plan; the rest (column headers, quantities,
scales) from :data:`LABELS` below.
"""

from __future__ import annotations

import re

from research.instrument import Instrument
from research.plan import Plan

Lang = str  # "zh" | "en"
LANGS = ("zh", "en")

#: column headers and other fixed words: name -> (zh, en)
LABELS: dict[str, tuple[str, str]] = {
    "cause_l1": ("诉求大类", "Cause group"),
    "cause_l2": ("诉求子类", "Sub-cause"),
    "channel": ("受理渠道", "Channel"),
    "region": ("地市", "Region"),
    "station": ("供电所", "Station"),
    "model": ("模型", "Model"),
    "term": ("变量", "Term"),
    "estimate": ("估计值", "Estimate"),
    "std_error": ("标准误", "Std. error"),
    "statistic": ("统计量", "Statistic"),
    "p_value": ("P值", "p-value"),
    "conf_low": ("95%置信下限", "95% CI low"),
    "conf_high": ("95%置信上限", "95% CI high"),
    "n": ("样本量", "N"),
    "nobs": ("样本量", "Observations"),
    "loglik": ("对数似然", "Log-likelihood"),
    "aic": ("AIC", "AIC"),
    "bic": ("BIC", "BIC"),
    "count": ("数量", "Count"),
    "share": ("占比", "Share"),
    "satisfied_rate": ("满意率", "Satisfied rate"),
    "mean_score": ("平均得分", "Mean score"),
    "p_satisfied": ("满意概率", "P(satisfied)"),
    "hours": ("处理时长（小时）", "Handling time (hours)"),
    "handling_hours": ("处理时长（小时）", "Handling time (hours)"),
    "threshold_hours": ("容忍阈值（小时）", "Tolerance threshold (hours)"),
    "reference_rate": ("快速处理时满意率", "Satisfied rate at fast handling"),
    "rows_read": ("读取行数", "Rows read"),
    "accepted": ("接受", "Accepted"),
    "rejected": ("拒绝", "Rejected"),
    "reason": ("原因", "Reason"),
    "alpha": ("Cronbach α", "Cronbach's alpha"),
    "month": ("月份", "Month"),
    "not_reached": ("未达到", "not reached"),
    "repeat": ("重复来电", "Repeat caller"),
    "(Intercept)": ("截距", "Intercept"),
    "handling_time_log2": ("处理时长（log2(1+小时)）", "Handling time, log2(1 + hours)"),
    "overall": ("总体", "Overall"),
}


def text(name: str, lang: Lang) -> str:
    """Label of a fixed word or column; the name itself when unknown."""
    pair = LABELS.get(name)
    return name if pair is None else pair[0 if lang == "zh" else 1]


def code(kind: str, value: str, lang: Lang, instrument: Instrument) -> str:
    """Label of an instrument code: kind is a label set (cause_l1, cause_l2, channel, resolved, ...)."""
    ls = instrument.label_sets.get(kind)
    if ls is None:
        return value
    table = ls.zh() if lang == "zh" else ls.en()
    return table.get(value, value)


def model(name: str, lang: Lang, plan: Plan) -> str:
    """Label of a model of the plan."""
    try:
        spec = plan.model(name)
    except KeyError:
        return name
    return spec.zh if lang == "zh" else spec.en


def term(name: str, lang: Lang, instrument: Instrument) -> str:
    """Readable label of a coefficient name such as ``cause_l2[staff_attitude]`` or
    ``cause_l1[outage]:log2(1 + handling_hours)``."""
    parts = []
    for piece in name.split(":"):
        m = re.fullmatch(r"(\w+)\[(.+)\]", piece)
        if m:
            parts.append(code(m.group(1), m.group(2), lang, instrument))
        elif piece == "log2(1 + handling_hours)":
            parts.append(text("handling_time_log2", lang))
        elif re.fullmatch(r"\d+\|\d+", piece):
            parts.append(("切点 " if lang == "zh" else "cut ") + piece)
        else:
            parts.append(text(piece, lang))
    return " × ".join(parts)
