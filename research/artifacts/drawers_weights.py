"""The drawings of figures F08 (response funnel) and F09 (weighted against unweighted), as
:mod:`research.artifacts.drawers_fit`; without a work-order export each says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from research.artifacts.figure_axes import (figure_word, group_handles, group_legend, new_figure, no_data_figure,
                                            percent_axis, subcause_rows)
from research.artifacts.figure_parts import groups_in_order, instrument_of, unique
from research.artifacts.theme import NEUTRAL_COLOR, SERIES_COLOR, cause_color


def draw_funnel(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Left: bars of the funnel stages with their share of the work orders. Right: the
    response rate of each sub-cause with its interval (the plan's level), coloured by cause group."""
    if data.empty:
        return no_data_figure(lang)
    ins = instrument_of(bundle)
    fig, body = new_figure(5.6)
    left, right = body.subplots(1, 2, width_ratios=[1, 1.5])
    fun = data[data["part"] == "funnel"].reset_index(drop=True)
    y = np.arange(len(fun))
    left.barh(y, fun["count"], color=SERIES_COLOR, height=0.6)
    left.set_yticks(y, [figure_word(f"stage_{s}", lang) for s in fun["stage"]])
    left.set_ylim(len(fun) - 0.5, -0.5)
    left.grid(axis="y", visible=False)
    left.set_xlabel(figure_word("count", lang))
    for yi, (c, s) in enumerate(zip(fun["count"], fun["share"])):
        left.text(c, yi, f" {int(c):,}\n {100 * s:.1f}%", va="center", ha="left", fontsize=7)
    left.set_xlim(0, fun["count"].max() * 1.45)
    sub = data[data["part"] == "subcause"].reset_index(drop=True)
    ys = subcause_rows(right, sub, lang, ins)
    for g in unique(sub["cause_l1"]):
        m = (sub["cause_l1"] == g).to_numpy()
        d = sub[m]
        right.errorbar(d["share"], ys[m], xerr=[d["share"] - d["conf_low"], d["conf_high"] - d["share"]],
                       fmt="o", color=cause_color(g), markersize=4, capsize=2, linewidth=1.2)
    percent_axis(right.xaxis)
    right.set_xlabel(figure_word("completed_rate", lang))
    group_legend(body, group_handles(groups_in_order(sub["cause_l1"], ins), lang, ins, kind="point"), ncols=4)
    return fig


def draw_weighted(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Per sub-cause: the unweighted rate (hollow grey) and the weighted rate (filled, cause
    colour) with their intervals (the plan's level), side by side."""
    if data.empty:
        return no_data_figure(lang)
    ins = instrument_of(bundle)
    fig, body = new_figure(5.6)
    ax = body.add_subplot()
    y = subcause_rows(ax, data, lang, ins)
    off = 0.18
    ax.errorbar(data["estimate_unweighted"], y + off,
                xerr=[data["estimate_unweighted"] - data["conf_low_unweighted"],
                      data["conf_high_unweighted"] - data["estimate_unweighted"]],
                fmt="o", mfc="white", color=NEUTRAL_COLOR, markersize=4, capsize=2, linewidth=1.0)
    for g in unique(data["cause_l1"]):
        m = (data["cause_l1"] == g).to_numpy()
        d = data[m]
        ax.errorbar(d["estimate"], y[m] - off, xerr=[d["estimate"] - d["conf_low"], d["conf_high"] - d["estimate"]],
                    fmt="o", color=cause_color(g), markersize=4, capsize=2, linewidth=1.2)
    percent_axis(ax.xaxis)
    ax.set_xlabel(figure_word("satisfied_rate", lang))
    handles = group_handles(groups_in_order(data["cause_l1"], ins), lang, ins, kind="point")
    handles = [Line2D([], [], color=NEUTRAL_COLOR, marker="o", mfc="white", markersize=4,
                      label=figure_word("unweighted", lang))] + handles
    group_legend(body, handles, ncols=3)
    return fig
