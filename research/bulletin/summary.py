"""The bulletin's opening paragraph (摘要), generated from its own tables: what a manager reads first.

:func:`summary` takes the frames of :func:`research.bulletin.tables.bulletin_tables` and returns
one paragraph in ``zh`` or ``en``: the work orders received and their change, the satisfied rate
and its change (points), the share resolved within target, the mean handling time, and for a week
the stations out of control and the recurring station x sub-cause cells, for a month whether the
stations could be ranked. Every number is a cell of the tables (nothing is computed here but
formatting); every word comes from :mod:`research.artifacts.words`. A comparison the data do not
reach is left out of the sentence rather than shown as blank.
"""

from __future__ import annotations

import math

import pandas as pd

from research.artifacts.words import word
from research.bulletin.display import _signed


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x) else float(x)


def _total(tables: dict[str, pd.DataFrame]) -> pd.Series | None:
    """The ``total`` row of the overview (None without one)."""
    o = tables.get("overview")
    if o is None or "group" not in o.columns:
        return None
    hit = o[o["group"] == "total"]
    return hit.iloc[0] if len(hit) else None


def summary(tables: dict[str, pd.DataFrame], lang: str) -> str:
    """The opening paragraph of one bulletin (see the module docstring); empty when the tables
    hold no overview."""
    parts: list[str] = []
    t = _total(tables)
    if t is not None and _num(t["volume"]) is not None:
        text = word("summary_volume", lang, n=f"{_num(t['volume']):,.0f}")
        change = _num(t["volume_change"])
        if change is not None:  # "环比0件" reads oddly: a change that rounds to nothing is "持平"
            text += (word("summary_change_count", lang, change=_signed(change, 0)) if round(change) != 0
                     else word("summary_unchanged", lang))
        parts.append(text)
    if t is not None and _num(t["satisfied_rate"]) is not None:
        text = word("summary_satisfied", lang, rate=f"{100 * _num(t['satisfied_rate']):.1f}%")
        change = _num(t["satisfied_rate_change_points"])
        if change is not None:
            text += (word("summary_change_points", lang, change=_signed(change, 1)) if round(change, 1) != 0
                     else word("summary_unchanged", lang))
        parts.append(text)
    if t is not None and _num(t["sla_rate"]) is not None:
        parts.append(word("summary_sla", lang, rate=f"{100 * _num(t['sla_rate']):.1f}%"))
    if t is not None and _num(t["mean_handling_hours"]) is not None:
        parts.append(word("summary_hours", lang, hours=f"{_num(t['mean_handling_hours']):,.1f}"))
    if "out_of_control" in tables:
        parts.append(word("summary_out_of_control", lang, n=tables["out_of_control"]["station"].nunique()))
    if "recurrence" in tables:
        parts.append(word("summary_recurrence", lang, n=len(tables["recurrence"])))
    if "ranking" in tables:
        ranked = bool(tables["ranking"].attrs.get("ranked"))
        parts.append(word("summary_ranked" if ranked else "summary_not_ranked", lang))
    if not parts:
        return ""
    sep = word("sep_clause", lang)
    return word("summary_sentence", lang, text=sep.join(parts))
