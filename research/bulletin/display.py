"""The bulletin as a reader sees it: the table specs and their order, and the display frames with
formatted numbers (:func:`display`); every word from :func:`research.artifacts.words.word`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from research.artifacts import labels
from research.artifacts.registry import BULLETIN
from research.artifacts.table_cells import Display, Row, fmt_count, fmt_num, fmt_p, fmt_pct
from research.artifacts.words import LANGS, level_text, word
from research.errors import InputError


#: the bulletin's tables (B01..B07), registered in research.artifacts.registry.BULLETIN; their
#: order and periods are research.bulletin.sections.SECTIONS
SPECS = BULLETIN


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


def _hours(x) -> str:
    """Hours with one decimal; blank when missing."""
    return "" if pd.isna(x) else f"{float(x):,.1f}"


def _pts(x) -> str:
    return _signed(x, 1)


def _dcount(x) -> str:
    return _signed(x, 0)


def _display_overview(d: pd.DataFrame, lang: str, ins) -> Display:
    """B01 from the overview (one row per cause group and ``total``): work orders by cause group,
    then the rates (in %, changes in points) and the mean handling time (hours) of the total row."""
    keys = ["indicator", "current", "previous", "change_previous", "last_year", "change_last_year"]
    rows: list[Row] = [Row([word("volume", lang)], span=True)]
    for r in d.itertuples(index=False):
        total = r.group == "total"
        rows.append(Row([_cause("cause_l1", r.group, lang, ins), fmt_count(r.volume), fmt_count(r.volume_previous),
                         _dcount(r.volume_change), fmt_count(r.volume_last_year), _dcount(r.volume_change_last_year)],
                        bold=total, indent=not total, rule_before=total))
    t = d.loc[d["group"] == "total"]
    if len(t):
        t = t.iloc[0]
        for ind, den in (("satisfied_rate", "sat_valid"), ("sla_rate", "sla_valid"), ("repeat_share", "repeat_valid")):
            name = word("indicator_n", lang, name=word(ind, lang), n=fmt_count(t[den]))
            rows.append(Row([name, fmt_pct(t[ind]), fmt_pct(t[f"{ind}_previous"]), _pts(t[f"{ind}_change_points"]),
                             fmt_pct(t[f"{ind}_last_year"]), _pts(t[f"{ind}_change_last_year_points"])],
                            rule_before=ind == "satisfied_rate"))
        h = "mean_handling_hours"
        name = word("indicator_n", lang, name=word(h, lang), n=fmt_count(t["hours_valid"]))
        rows.append(Row([name, _hours(t[h]), _hours(t[f"{h}_previous"]), _signed(t[f"{h}_change"], 1),
                         _hours(t[f"{h}_last_year"]), _signed(t[f"{h}_change_last_year"], 1)]))
    # DOCX: the indicator column wide enough for "满意率（n=1,156）" and a cause group on one line
    return Display([word(k, lang) for k in keys], ["l"] + ["r"] * 5, rows,
                   [word("points_note", lang), word("generated", lang)], widths=[2.8, 1, 1, 1, 1, 1])


def _unit_below(text: str) -> str:
    """A header with its unit in brackets on a second line (``环比（百分点）`` -> ``环比`` / ``（百分点）``),
    so that a narrow column breaks it there rather than inside a word."""
    for bracket in ("（", " ("):
        at = text.rfind(bracket)
        if at > 0:
            return text[:at] + "\n" + text[at:].strip()
    return text


def _display_by(d: pd.DataFrame, lang: str, key: str) -> Display:
    chg = _unit_below(word("rate_change", lang))
    head = ([word("region", lang)] + ([word("station", lang)] if key == "station" else []) +
            [word("volume", lang), word("volume_change", lang), word("valid_responses", lang),
             word("satisfied_rate", lang), chg, word("sla_rate", lang), chg, word("repeat_share", lang), chg,
             _unit_below(word("mean_handling_hours", lang)), _unit_below(word("hours_change", lang))])
    rows = []
    flagged = key == "station" and "small_n" in d.columns and bool(d["small_n"].any())
    for r in d.itertuples(index=False):
        name = str(r.station) + ("*" if flagged and bool(r.small_n) else "") if key == "station" else ""
        cells = [str(r.region)] + ([name] if key == "station" else [])
        cells += [fmt_count(r.volume), _dcount(r.volume_change), fmt_count(r.sat_valid),
                  fmt_pct(r.satisfied_rate), _pts(r.satisfied_rate_change_points), fmt_pct(r.sla_rate),
                  _pts(r.sla_rate_change_points), fmt_pct(r.repeat_share), _pts(r.repeat_share_change_points),
                  # blank for a table made before the column existed
                  _hours(getattr(r, "mean_handling_hours", np.nan)),
                  _signed(getattr(r, "mean_handling_hours_change", np.nan), 1)]
        rows.append(Row(cells))
    n_left = 2 if key == "station" else 1
    notes = [word("points_note", lang)]
    if key == "station" and "small_n" in d.columns:
        notes.insert(0, word("sorted_note", lang))
        if flagged:
            notes.insert(1, word("small_n_note", lang, n=int(d.attrs.get("min_n", 0))))
    # DOCX (landscape, research.bulletin.write.is_wide): a station name (up to 7 characters and the
    # small-n *) on one line; the numbers share the rest, the mean handling time a little wider
    widths = [0.8] + ([1.8] if key == "station" else []) + [1.0] * (len(head) - n_left - 2) + [1.3, 1.0]
    return Display(head, ["l"] * n_left + ["r"] * (len(head) - n_left), rows, notes, widths=widths)


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
    rows = [Row([str(r.station), _cause("cause_l2", r.cause_l2, lang, ins), fmt_count(r.count),
                 fmt_num(r.expected, "mean"), fmt_p(getattr(r, "p_value", np.nan))])
            for r in d.itertuples(index=False)]
    return Display([word("station", lang), word("cause_l2", lang), word("count", lang),
                    word("expected", lang), word("p_value", lang)][: len(keys)],
                   ["l", "l", "r", "r", "r"], rows or _empty_row("none_recurrence", lang))


def _display_ranking(d: pd.DataFrame, lang: str, conf_level: float = 0.95) -> Display:
    keys = ["rank", "rank_interval_level", "region", "station", "valid_responses", "raw_rate", "adjusted_rate",
            "versus_mean"]
    head = [word(k, lang, level=level_text(conf_level)) for k in keys]
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
        notes.append(word("mean_note", lang, mean=fmt_pct(d["overall_mean"].iloc[0]), n=int(d["n"].sum())))
        notes.append(word("ranking_note", lang, level=conf_level * 100))
        notes.append(word("flag_note", lang))
    else:
        note = d.attrs.get("note") or ""
        rows = [Row([word("ranking_not_computed_because" if note else "ranking_not_computed", lang, note=note)],
                    span=True)]
    # DOCX (portrait): a station name on one line (the default equal widths broke it over two)
    return Display(head, ["r", "r", "l", "l", "r", "r", "r", "l"], rows, notes,
                   widths=[0.6, 1.0, 0.7, 1.9, 0.9, 1.0, 1.0, 1.4])


def _display_rising(d: pd.DataFrame, lang: str) -> Display:
    keys = ["rank", "rising_term", "rising_n_period", "rising_n_baseline", "z_score"]
    rows = [Row([str(int(r.rank)), str(r.term), fmt_count(r.n_period), fmt_count(r.n_baseline), f"{float(r.z):.1f}"])
            for r in d.itertuples(index=False)]
    if not rows:
        rows = _empty_row("none_rising", lang)
    return Display([word(k, lang) for k in keys], ["r", "l", "r", "r", "r"], rows,
                   [word("rising_note", lang)])


def _display_red_black(d: pd.DataFrame, lang: str) -> Display:
    keys = ["list", "region", "station", "valid_responses", "raw_rate", "adjusted_rate"]
    rows = [Row([word(f"list_{r.list}", lang), "" if pd.isna(r.region) else str(r.region), str(r.station),
                 fmt_count(r.n), fmt_pct(r.raw_rate), fmt_pct(r.adjusted_rate)], bold=r.list == "black")
            for r in d.itertuples(index=False)]
    if not rows:
        rows = _empty_row("no_red_black", lang)
    return Display([word(k, lang) for k in keys], ["l", "l", "l", "r", "r", "r"], rows, [word("red_black_note", lang)],
                   widths=[1.4, 0.8, 1.9, 1.0, 1.0, 1.0])


def _display_repeat(d: pd.DataFrame, lang: str, ins) -> Display:
    keys = ["customer_pseudonym", "n_tickets", "first_created", "last_created", "span_days", "causes",
            "stations", "n_surveyed", "last_satisfied", "risk"]
    sep = word("sep_list", lang)
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
    if lang not in LANGS:
        raise InputError(f"--lang {lang!r}: use one of {', '.join(LANGS)}")
    if instrument is None:
        from research.config.instrument import load_instrument
        instrument = load_instrument()
    from research.bulletin.sections import section

    return section(name).show(data, lang, instrument, conf_level)
