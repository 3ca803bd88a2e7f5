"""The drawings of figures F01..F07: ``draw_<name>(data, lang, bundle) -> Figure``.

Each drawer reads only ``data`` (its builder's frame, :mod:`research.artifacts.figure_data_fit`),
plus the instrument in ``bundle`` for the zh/en labels of codes and the plan for the confidence
level shown; every word shown is in ``lang`` ("zh" or "en"). Drawers do not set the theme:
call :func:`research.artifacts.theme.apply_theme` first
(:func:`research.artifacts.render_figures.write_figure` does, and adds the title and the footer
stamp).
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from research.artifacts import labels
from research.artifacts.words import word
from research.artifacts.figure_axes import (figure_word, group_handles, group_legend, hours_axis, new_figure,
                                            percent_axis, subcause_rows)
from research.artifacts.figure_parts import groups_in_order, instrument_of, unique
from research.artifacts.levels import plan_level_text
from research.artifacts.theme import NEUTRAL_COLOR, SERIES_COLOR, cause_color


def draw_pareto(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Horizontal Pareto chart: bars per sub-cause (largest on top) coloured by cause group,
    cumulative share on a secondary (top) axis."""
    ins = instrument_of(bundle)
    fig, body = new_figure(5.6)
    ax = body.add_subplot()
    y = np.arange(len(data))
    ax.barh(y, data["count"], color=[cause_color(c) for c in data["cause_l1"]], height=0.75)
    ax.set_yticks(y, [labels.code("cause_l2", c, lang, ins) for c in data["cause_l2"]])
    ax.set_ylim(len(data) - 0.4, -0.6)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(figure_word("work_orders", lang))
    top = ax.twiny()
    top.plot(data["cumulative_share"], y, color=NEUTRAL_COLOR, marker="o", markersize=3, linewidth=1.2)
    top.set_xlim(0, 1.02)
    percent_axis(top.xaxis)
    top.grid(False)
    top.set_xlabel(figure_word("cumulative_share", lang))
    handles = group_handles(groups_in_order(data["cause_l1"], ins), lang, ins)
    handles.append(Line2D([], [], color=NEUTRAL_COLOR, marker="o", markersize=3,
                          label=figure_word("cumulative_share", lang)))
    group_legend(body, handles)
    return fig


def draw_satisfaction(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Point and interval (the plan's level) per sub-cause, grouped and coloured by cause group."""
    ins = instrument_of(bundle)
    fig, body = new_figure(5.6)
    ax = body.add_subplot()
    y = subcause_rows(ax, data, lang, ins)
    for g in unique(data["cause_l1"]):
        m = (data["cause_l1"] == g).to_numpy()
        d = data[m]
        ax.errorbar(d["satisfied_rate"], y[m],
                    xerr=[d["satisfied_rate"] - d["conf_low"], d["conf_high"] - d["satisfied_rate"]],
                    fmt="o", color=cause_color(g), markersize=4, capsize=2, linewidth=1.2)
    percent_axis(ax.xaxis)
    ax.set_xlabel(figure_word("satisfied_rate", lang))
    group_legend(body, group_handles(groups_in_order(data["cause_l1"], ins), lang, ins, kind="point"))
    return fig


def draw_handling_time(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """ECDF of handling time per cause group on a log axis of hours."""
    ins = instrument_of(bundle)
    fig, body = new_figure(4.2)
    ax = body.add_subplot()
    for g in unique(data["cause_l1"]):
        d = data[data["cause_l1"] == g]
        ax.plot(d["handling_hours"], d["probability"], color=cause_color(g), linewidth=1.5)
    ax.set_xscale("log", nonpositive="mask")
    hours_axis(ax.xaxis)
    percent_axis(ax.yaxis)
    ax.set_ylim(0, 1.01)
    ax.axhline(0.5, color=NEUTRAL_COLOR, linewidth=0.6, linestyle=":")
    ax.set_xlabel(figure_word("handling_hours", lang))
    ax.set_ylabel(figure_word("cumulative_proportion", lang))
    group_legend(body, group_handles(groups_in_order(data["cause_l1"], ins), lang, ins, kind="line"))
    return fig


def draw_speed_curves(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """One panel per cause group: predicted satisfied rate and its band (the plan's level) against handling time
    (log axis); dashed line at the tolerance threshold (none when not reached), dotted line at
    the level that defines it."""
    ins = instrument_of(bundle)
    groups = unique(data["cause_l1"])
    ncols = 2 if len(groups) > 1 else 1
    nrows = max(1, -(-len(groups) // ncols))
    fig, body = new_figure(2.3 * nrows + 0.8)
    axes = np.atleast_1d(body.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    for ax, g in zip(axes, groups, strict=False):
        d = data[data["cause_l1"] == g]
        col = cause_color(g)
        ax.fill_between(d["hours"], d["conf_low"], d["conf_high"], color=col, alpha=0.22, linewidth=0)
        ax.plot(d["hours"], d["estimate"], color=col, linewidth=1.6)
        level = d["threshold_rate"].iloc[0]
        if np.isfinite(level):
            ax.axhline(level, color=NEUTRAL_COLOR, linewidth=0.7, linestyle=":")
        t = d["threshold_hours"].iloc[0]
        if bool(d["reached"].iloc[0]) and np.isfinite(t):
            ax.axvline(t, color=col, linewidth=1.2, linestyle="--")
        ax.set_title(labels.code("cause_l1", g, lang, ins), fontsize=9)
        ax.set_xscale("log")
        hours_axis(ax.xaxis)
        percent_axis(ax.yaxis)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    for i, ax in enumerate(axes[:len(groups)]):  # the lowest panel of each column carries the axis
        if i + ncols >= len(groups):
            ax.set_xlabel(figure_word("hours", lang))
            ax.xaxis.set_tick_params(labelbottom=True)
    body.supylabel(figure_word("predicted_rate", lang), fontsize=mpl.rcParams["axes.labelsize"])
    points = data["drop_points"].dropna()
    handles = [Patch(facecolor=NEUTRAL_COLOR, alpha=0.22, label=figure_word("conf_band", lang, level=plan_level_text(bundle))),
               Line2D([], [], color=NEUTRAL_COLOR, linestyle="--", label=figure_word("threshold", lang))]
    if len(points):
        handles.append(Line2D([], [], color=NEUTRAL_COLOR, linestyle=":", linewidth=0.7,
                              label=figure_word("threshold_level", lang, points=float(points.iloc[0]))))
    group_legend(body, handles, ncols=3)
    return fig


def draw_forest(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Forest plot: coefficient and interval (the plan's level) per sub-cause, coloured by cause group, line at 0."""
    ins = instrument_of(bundle)
    fig, body = new_figure(5.6)
    ax = body.add_subplot()
    y = subcause_rows(ax, data, lang, ins)
    ax.axvline(0, color=NEUTRAL_COLOR, linewidth=0.9)
    for g in unique(data["cause_l1"]):
        m = (data["cause_l1"] == g).to_numpy()
        d = data[m]
        ax.errorbar(d["estimate"], y[m], xerr=[d["estimate"] - d["conf_low"], d["conf_high"] - d["estimate"]],
                    fmt="s", color=cause_color(g), markersize=4, capsize=2, linewidth=1.2)
    ref = data["reference_cause_l2"].iloc[0] if len(data) else ""
    ref_label = labels.code("cause_l2", ref, lang, ins) if ref else "?"
    ax.set_xlabel(figure_word("coefficient_vs", lang, ref=ref_label))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    group_legend(body, group_handles(groups_in_order(data["cause_l1"], ins), lang, ins, kind="point"))
    return fig


def draw_item_correlations(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Heat map of the correlations (diverging colours from -1 to 1), each cell annotated to 2 decimals."""
    import seaborn as sns

    ins = instrument_of(bundle)
    names = {it.name: word(f"item:{it.name}", lang, instrument=ins) for it in ins.items}
    items = unique(list(data["item_a"]) + list(data["item_b"]))
    grid = data.pivot(index="item_a", columns="item_b", values="r").reindex(index=items, columns=items)
    grid.index = [names.get(i, i) for i in items]
    grid.columns = [names.get(i, i) for i in items]
    fig, body = new_figure(4.8, width=5.6)
    ax = body.add_subplot()
    sns.heatmap(grid, ax=ax, annot=True, fmt=".2f", vmin=-1.0, vmax=1.0, cmap="vlag",
                square=True, linewidths=0.5, cbar_kws={"label": figure_word("pearson_r", lang), "shrink": 0.8},
                annot_kws={"fontsize": 9})
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="x", labelrotation=30)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
    ax.tick_params(axis="y", labelrotation=0)
    return fig


def draw_monthly(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Monthly satisfied rate (line and points) with its interval band (the plan's level).

    A month with ``too_few`` answers (fewer than the data's ``min_n``) is not a point of the line
    and has no band: a hatched grey strip over the month, with its n at the foot, says it is there,
    and the legend states the minimum; a month of one answer no longer reads as 100% nor
    stretches the rate axis.
    """
    fig, body = new_figure(4.0)
    ax = body.add_subplot()
    x = pd.to_datetime(data["month"], format="%Y-%m").to_numpy(dtype="datetime64[D]")
    few = data["too_few"].astype(bool).to_numpy() if "too_few" in data.columns else np.zeros(len(data), bool)
    rate = data["satisfied_rate"].to_numpy(float)
    kept = np.where(few, np.nan, rate)  # NaN breaks the line and the band at a month with too few answers
    ax.fill_between(x, np.where(few, np.nan, data["conf_low"]), np.where(few, np.nan, data["conf_high"]),
                    color=NEUTRAL_COLOR, alpha=0.18, linewidth=0)
    ax.plot(x, kept, color=SERIES_COLOR, marker="o", markersize=3.5, linewidth=1.4, gid="monthly-rate")
    handles = [Line2D([], [], color=SERIES_COLOR, marker="o", markersize=3.5,
                      label=figure_word("satisfied_rate", lang)),
               Patch(facecolor=NEUTRAL_COLOR, alpha=0.18, label=figure_word("conf_band", lang, level=plan_level_text(bundle)))]
    if few.any():  # a hatched strip over the month and its n at the foot: no rate, no point, no scale stretched
        half = np.timedelta64(14, "D")
        for xi, n in zip(x[few], data["n"][few]):
            ax.axvspan(xi - half, xi + half, facecolor="none", edgecolor=NEUTRAL_COLOR, hatch="///", linewidth=0,
                       alpha=0.5, gid="monthly-too-few")
            ax.text(xi, 0.03, f"n = {int(n)}", transform=mpl.transforms.blended_transform_factory(ax.transData,
                    ax.transAxes), ha="center", va="bottom", fontsize=7, color=NEUTRAL_COLOR,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
        handles.append(Patch(facecolor="none", edgecolor=NEUTRAL_COLOR, hatch="///", linewidth=0, alpha=0.5,
                             label=figure_word("too_few_month", lang, n=int(data["min_n"].iloc[0]))))
    step = max(1, int(np.ceil(len(data) / 10)))
    ax.xaxis.set_major_locator(mdates.MonthLocator(interval=step))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.tick_params(axis="x", labelrotation=45)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
    percent_axis(ax.yaxis)
    ax.set_xlabel(figure_word("month", lang))
    ax.set_ylabel(figure_word("satisfied_rate", lang))
    group_legend(body, handles)
    return fig
