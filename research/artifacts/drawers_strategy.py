"""The drawings of figures F10 (importance-performance), F11 (station funnel) and F12 (typical
cases: distinguishing words), as :mod:`research.artifacts.drawers_fit`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator

from research.artifacts.figure_axes import figure_word, group_legend, hours_axis, new_figure, percent_axis
from research.artifacts.theme import NEUTRAL_COLOR, SERIES_COLOR, cause_color


def draw_ipa(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Scatter of importance against performance with the mean crosshairs, the four quadrant
    names in the corners and each driver's P(concentrate here)."""
    fig, body = new_figure(4.8)
    ax = body.add_subplot()
    if data.empty:
        ax.axis("off")
        return fig
    x, y = data["performance"].to_numpy(float), data["importance"].to_numpy(float)
    ax.scatter(x, y, color=SERIES_COLOR, s=28, zorder=3)
    # labels alternate above and below the points in order of importance, so neighbours do not collide
    order = np.argsort(-y, kind="stable")
    below = np.zeros(len(y), dtype=bool)
    below[order[1::2]] = True
    for xi, yi, d, p, lo in zip(x, y, data["driver"], data["p_concentrate_here"], below):
        ax.annotate(f"{figure_word(str(d), lang)} ({100 * p:.0f}%)", (xi, yi), xytext=(4, -11 if lo else 4),
                    textcoords="offset points", fontsize=7)
    ax.axvline(float(data["performance_crosshair"].iloc[0]), color=NEUTRAL_COLOR, linestyle="--", linewidth=1)
    ax.axhline(float(data["importance_crosshair"].iloc[0]), color=NEUTRAL_COLOR, linestyle="--", linewidth=1)
    pad_x = (x.max() - x.min()) * 0.25 + 0.01
    pad_y = (y.max() - y.min()) * 0.15 + 0.01
    ax.set_xlim(x.min() - pad_x, x.max() + pad_x)
    ax.set_ylim(min(0, y.min() - pad_y), y.max() + pad_y)
    for name, (hx, hy) in {"concentrate_here": (0.02, 0.97), "keep_up": (0.98, 0.97),
                           "low_priority": (0.02, 0.03), "possible_overkill": (0.98, 0.03)}.items():
        ax.text(hx, hy, figure_word(name, lang), transform=ax.transAxes, ha="left" if hx < 0.5 else "right",
                va="top" if hy > 0.5 else "bottom", color=NEUTRAL_COLOR, fontsize=8)
    ax.set_xlabel(figure_word("performance", lang))
    ax.set_ylabel(figure_word("importance_r2", lang))
    return fig


def draw_station_funnel(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Each station's risk-adjusted rate against its answers, the overall rate, the 95% (dashed) and
    99.8% (dotted) limits; flagged stations in red with their names."""
    fig, body = new_figure(4.6)
    ax = body.add_subplot()
    if data.empty:
        ax.axis("off")
        ax.text(0.5, 0.5, figure_word("funnel_not_computed", lang), ha="center", va="center")
        return fig
    pts = data[data["part"] == "station"]
    cur = data[data["part"] == "limits"]
    target = float(data["target"].iloc[0])
    ax.axhline(target, color=SERIES_COLOR, linewidth=1.2, label=figure_word("overall_rate", lang))
    # the funnel's limits are fixed by the method (Spiegelhalter 2005: 95% and 99.8%), not the plan's conf_level
    for level, style in (("95", "--"), ("99.8", ":")):
        ax.plot(cur["n"], cur[f"lcl_{level}"], color=NEUTRAL_COLOR, linestyle=style, linewidth=1,
                label=figure_word(f"limits_{level}", lang))
        ax.plot(cur["n"], cur[f"ucl_{level}"], color=NEUTRAL_COLOR, linestyle=style, linewidth=1)
    flag = pts["flagged"].astype(bool).to_numpy()
    ax.scatter(pts["n"][~flag], pts["rate"][~flag], s=16, color=SERIES_COLOR, alpha=0.8, zorder=3,
               label=figure_word("station", lang))
    ax.set_xscale("log")
    lo_n, hi_n = float(cur["n"].min()), float(cur["n"].max())
    if flag.any():
        fl = pts[flag].sort_values("rate", kind="stable")
        ax.scatter(fl["n"], fl["rate"], s=24, color="#c0392b", zorder=4, label=figure_word("flagged_station", lang))
        # a label points towards the middle of the (log) x range, so it stays inside the axes; a label
        # whose neighbour in rate is close on both axes is nudged up or down, so the two do not collide
        mid = np.sqrt(lo_n * hi_n)
        prev = None
        for x, y, name in zip(fl["n"], fl["rate"], fl["station"]):
            right = x <= mid
            dy = 0
            if prev is not None and abs(y - prev[1]) < 0.015 and abs(np.log(x / prev[0])) < 1.0:
                dy = 7 if prev[2] <= 0 else -7
            ax.annotate(str(name), (x, y), xytext=(5 if right else -5, dy), textcoords="offset points",
                        ha="left" if right else "right", va="center", fontsize=7, color="#c0392b",
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})
            prev = (x, y, dy)
    ax.set_xlim(lo_n / 1.05, hi_n * 1.05)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    hours_axis(ax.xaxis)
    percent_axis(ax.yaxis)
    rates = pd.concat([pts["rate"], cur["lcl_99.8"], cur["ucl_99.8"]])
    ax.set_ylim(max(0.0, rates.min() - 0.03), min(1.0, rates.max() + 0.03))
    ax.set_xlabel(figure_word("answers_n", lang))
    ax.set_ylabel(figure_word("adjusted_satisfied_rate", lang))
    group_legend(body, ax.get_legend_handles_labels()[0], ncols=5)
    phi = float(data["phi"].iloc[0])
    if phi > 1:
        ax.text(0.01, 0.02, figure_word("overdispersion_phi", lang, phi=phi), transform=ax.transAxes, fontsize=7,
                color=NEUTRAL_COLOR, va="bottom")
    return fig


def draw_typical_terms(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """One panel per cause group (two columns, a common z axis): horizontal bars of its distinguishing
    words' z, the most distinguishing on top, in the group's colour, the value at each bar's end; a
    dashed line at z = 1.96, the least z shown."""
    from research.artifacts import labels
    from research.artifacts.figure_parts import instrument_of, unique

    groups = unique(data["cause_l1"])
    if not groups:
        fig, body = new_figure(1.2)
        ax = body.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, figure_word("no_typical_cases", lang), ha="center", va="center", wrap=True)
        return fig
    ins = instrument_of(bundle)
    ncols = 1 if len(groups) == 1 else 2
    nrows = -(-len(groups) // ncols)
    per_row = int(data.groupby("cause_l1")["rank"].size().max())
    fig, body = new_figure(nrows * (0.24 * per_row + 0.75))
    axes = np.atleast_1d(body.subplots(nrows, ncols, sharex=True, squeeze=False).ravel())
    top = float(data["z"].max())
    for ax, g in zip(axes, groups):
        d = data[data["cause_l1"] == g]
        y = np.arange(len(d))
        ax.barh(y, d["z"], color=cause_color(g), height=0.7)
        ax.set_yticks(y, list(d["term"].astype(str)))
        ax.set_ylim(per_row - 0.4, -0.6)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", visible=False)
        ax.axvline(1.96, color=NEUTRAL_COLOR, linestyle="--", linewidth=0.8)
        for yi, z in zip(y, d["z"].astype(float)):
            ax.text(z + 0.01 * top, yi, f"{z:.1f}", va="center", fontsize=7, color=NEUTRAL_COLOR)
        ax.set_title(labels.code("cause_l1", str(g), lang, ins), fontsize=9)
    for ax in axes[len(groups):]:
        ax.axis("off")
    axes[0].set_xlim(0, top * 1.15)
    for ax in axes[max(0, len(groups) - ncols):len(groups)]:
        ax.set_xlabel(figure_word("z_distinguishing", lang), fontsize=8)
        ax.tick_params(axis="x", labelbottom=True)
    return fig
