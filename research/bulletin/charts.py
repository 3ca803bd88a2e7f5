"""The bulletin's charts, declared once like its sections: which periods carry each, where it goes,
the table it plots and how it is drawn (:data:`CHARTS`).

A :class:`Chart` names

- ``key``: the chart's key; its data is ``tables["chart_<key>"]`` of
  :func:`research.bulletin.tables.bulletin_tables` (written as ``bulletin_<period>_<start>_chart_<key>.csv``,
  the data plotted) and its files ``bulletin_<period>_<start>_chart_<key>.<lang>.png`` / ``.svg``;
  its title and caption are the words ``chart_<key>`` and ``chart_<key>_caption``;
- ``periods``: the bulletins that carry it. The station chart is left out of the day bulletin: a
  station has a handful of answers a day, so every interval would span most of 0-100%;
- ``after``: the section the chart follows in the HTML and DOCX;
- ``data``: a pure function of the period's :class:`research.bulletin.sections.Inputs` (the tables
  built so far are ``inputs.tables``) returning the frame plotted: machine names, full precision,
  rates as proportions;
- ``draw``: ``(frame, lang, conf_level, instrument) -> matplotlib Figure`` (every word through
  :func:`research.artifacts.words.word`).

Drawing reuses the report figures' theme, CJK font and deterministic writers
(:mod:`research.artifacts.theme`, :mod:`research.artifacts.render_figures`): PNG without text chunks,
SVG without date or creator and with a fixed id salt, so the same tables give the same bytes.
Intervals are Wilson's (:func:`research.stats.intervals.wilson_interval`) at the plan's ``conf_level``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from research.artifacts.figure_axes import new_figure, percent_axis
from research.artifacts.render_figures import SVG_METADATA, _engine_off, lay_out, png_bytes
from research.artifacts.theme import NEUTRAL_COLOR, OTHER_COLOR, SERIES_COLOR, apply_theme
from research.artifacts.words import level_text, word
from research.bulletin.data import _Data, _reached
from research.bulletin.periods import PERIODS, Period, previous_period
from research.stats.intervals import wilson_interval

#: periods shown by the trend chart, the bulletin's own the last
TREND_PERIODS = 12
#: colour of the comparison period's bars and of small-n stations
MUTED_COLOR = "#b8b8b8"


@dataclass(frozen=True)
class Chart:
    """One chart of the bulletin (see the module docstring)."""

    key: str
    periods: tuple[str, ...]
    after: str
    data: Callable[[object], pd.DataFrame]
    draw: Callable[[pd.DataFrame, str, float, object], Figure]

    def title(self, lang: str, conf_level: float = 0.95) -> str:
        return word(f"chart_{self.key}", lang, n=TREND_PERIODS, level=level_text(conf_level))

    def caption(self, lang: str, conf_level: float = 0.95, min_n: int = 30) -> str:
        return word(f"chart_{self.key}_caption", lang, level=level_text(conf_level), n=min_n)


# ---------------------------------------------------------------------------- data (pure)

def trend(data: _Data, p: Period, conf_level: float = 0.95, n: int = TREND_PERIODS) -> pd.DataFrame:
    """The ``n`` periods ending with ``p`` (oldest first): ``period_start`` (date), ``volume`` (work
    orders created), ``sat_valid``, ``sat_yes``, ``satisfied_rate`` (0..1) with its Wilson
    ``conf_low``/``conf_high`` at ``conf_level``, and ``current`` (true for ``p``). A period the data
    do not reach (it starts before their first day) has NaN counts and rates."""
    periods = [p]
    for _ in range(n - 1):
        periods.insert(0, previous_period(periods[0]))
    rows = []
    for q in periods:
        c = data.counts(q, None)
        reach_w = q is p or _reached(data.w_first, q)
        reach_r = q is p or _reached(data.r_first, q)
        rows.append(dict(period_start=q.start.date().isoformat(),
                         volume=float(c["volume"].iloc[0]) if reach_w else np.nan,
                         sat_valid=float(c["sat_valid"].iloc[0]) if reach_r else np.nan,
                         sat_yes=float(c["sat_yes"].iloc[0]) if reach_r else np.nan, current=q is p))
    out = pd.DataFrame(rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["satisfied_rate"] = np.where(out["sat_valid"] > 0, out["sat_yes"] / out["sat_valid"], np.nan)
    out["conf_low"], out["conf_high"] = wilson_interval(out["sat_yes"].fillna(0), out["sat_valid"].fillna(0),
                                                        conf_level)
    out.attrs["kind"] = p.kind
    return out[["period_start", "current", "volume", "sat_valid", "sat_yes", "satisfied_rate", "conf_low",
                "conf_high"]]


def stations(by_station: pd.DataFrame, overview: pd.DataFrame, conf_level: float = 0.95,
             min_n: int = 30) -> pd.DataFrame:
    """The stations with at least one valid answer this period, in the order of the station table
    (:func:`research.bulletin.tables.stations_sorted`): ``region``, ``station``, ``sat_valid``,
    ``sat_yes``, ``satisfied_rate`` (0..1) with Wilson ``conf_low``/``conf_high``, ``small_n``
    (fewer than ``min_n`` valid answers) and ``overall_rate``, the rate of all stations (the
    overview's total)."""
    d = by_station.loc[by_station["sat_valid"].fillna(0).to_numpy() > 0].reset_index(drop=True)
    small = (d["small_n"].astype(bool) if "small_n" in d.columns else d["sat_valid"] < min_n).to_numpy()
    low, high = wilson_interval(d["sat_yes"], d["sat_valid"], conf_level)
    total = overview.loc[overview["group"] == "total", "satisfied_rate"]
    out = pd.DataFrame({"region": d["region"].astype("string"), "station": d["station"].astype("string"),
                        "sat_valid": d["sat_valid"].astype("int64"), "sat_yes": d["sat_yes"].astype("int64"),
                        "satisfied_rate": d["satisfied_rate"].astype(float), "conf_low": low, "conf_high": high,
                        "small_n": small,
                        "overall_rate": float(total.iloc[0]) if len(total) else np.nan})
    out.attrs["min_n"] = int(min_n)
    return out


def causes(overview: pd.DataFrame) -> pd.DataFrame:
    """Work orders by cause group (``group``, instrument order): ``volume`` this period and
    ``volume_previous`` (NaN when the data do not reach the previous period)."""
    d = overview.loc[overview["group"] != "total", ["group", "volume", "volume_previous"]]
    return d.astype({"volume": float, "volume_previous": float}).reset_index(drop=True)


# ---------------------------------------------------------------------------- drawing

def _tick(start: str, kind: str, lang: str) -> str:
    d = pd.Timestamp(start)
    if kind == "week":
        return word("chart_week_tick", lang, w=d.isocalendar()[1])
    return d.strftime("%m-%d") if kind == "day" else d.strftime("%Y-%m")


def draw_trend(d: pd.DataFrame, lang: str, conf_level: float = 0.95, instrument=None) -> Figure:
    """Top: the satisfied rate (line) with its interval (band); bottom: work orders (bars); the
    bulletin's period in the dark colour and shaded."""
    fig, body = new_figure(3.4)
    top, bottom = body.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    x = np.arange(len(d))
    cur = d["current"].to_numpy(dtype=bool)
    top.fill_between(x, d["conf_low"], d["conf_high"], color=SERIES_COLOR, alpha=0.15, linewidth=0,
                     label=word("ci", lang, level=level_text(conf_level)))
    top.plot(x, d["satisfied_rate"], color=SERIES_COLOR, marker="o", markersize=3.5, linewidth=1.4,
             label=word("satisfied_rate", lang))
    top.plot(x[cur], d["satisfied_rate"][cur], linestyle="none", marker="o", markersize=7,
             markerfacecolor="white", markeredgecolor=SERIES_COLOR, markeredgewidth=1.6, label=word("current", lang))
    percent_axis(top.yaxis)
    top.set_ylabel(word("satisfied_rate", lang))
    top.legend(loc="lower left", ncols=3, frameon=False)
    colours = np.where(cur, SERIES_COLOR, MUTED_COLOR)
    bottom.bar(x, d["volume"].fillna(0), color=colours, width=0.7)
    bottom.set_ylabel(word("volume", lang))
    if cur.any():  # the bulletin's period shaded in both panels
        for ax in (top, bottom):
            ax.axvspan(x[cur][0] - 0.45, x[cur][0] + 0.45, color=SERIES_COLOR, alpha=0.06, linewidth=0)
    kind = d.attrs.get("kind", "week")
    bottom.set_xticks(x, [_tick(s, kind, lang) for s in d["period_start"]])
    bottom.tick_params(axis="x", labelsize=7)
    lo = np.nanmin(d["conf_low"].to_numpy(dtype=float)) if d["conf_low"].notna().any() else 0.0
    top.set_ylim(max(0.0, np.floor(lo * 10) / 10 - 0.05), 1.0)
    return fig


def draw_stations(d: pd.DataFrame, lang: str, conf_level: float = 0.95, instrument=None) -> Figure:
    """Dot plot: each station's satisfied rate (dot) and interval (line), in the station table's
    order; small-n stations hollow and grey with their name in grey; the overall rate dashed."""
    fig, body = new_figure(max(2.0, 0.19 * len(d) + 0.9))
    ax = body.add_subplot()
    y = np.arange(len(d))
    small = d["small_n"].to_numpy(dtype=bool)
    rate = d["satisfied_rate"].to_numpy(dtype=float)
    for mask, colour, face in ((~small, SERIES_COLOR, SERIES_COLOR), (small, OTHER_COLOR, "white")):
        if mask.any():
            ax.hlines(y[mask], d["conf_low"][mask], d["conf_high"][mask], color=colour, linewidth=1.1)
            ax.plot(rate[mask], y[mask], linestyle="none", marker="o", markersize=4.5, markerfacecolor=face,
                    markeredgecolor=colour, markeredgewidth=1.1)
    overall = float(d["overall_rate"].iloc[0]) if len(d) else np.nan
    if np.isfinite(overall):
        ax.axvline(overall, color=NEUTRAL_COLOR, linestyle="--", linewidth=0.9)
    ax.set_yticks(y, [str(s) for s in d["station"]])
    for label, is_small in zip(ax.get_yticklabels(), small, strict=True):
        label.set_color(OTHER_COLOR if is_small else "black")
    ax.set_ylim(len(d) - 0.4, -0.6)
    ax.set_xlim(0, 1.0)
    percent_axis(ax.xaxis)
    ax.xaxis.set_ticks_position("top")
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(word("satisfied_rate", lang))
    n = int(d.attrs.get("min_n", 30))
    handles = [Line2D([], [], color=SERIES_COLOR, marker="o", markersize=4.5,
                      label=word("chart_rate_ci", lang, level=level_text(conf_level))),
               Line2D([], [], color=OTHER_COLOR, marker="o", markersize=4.5, markerfacecolor="white",
                      label=word("chart_small_n", lang, n=n)),
               Line2D([], [], color=NEUTRAL_COLOR, linestyle="--",
                      label=word("chart_overall", lang, rate=f"{100 * overall:.1f}%" if np.isfinite(overall) else ""))]
    body.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    return fig


def draw_causes(d: pd.DataFrame, lang: str, conf_level: float = 0.95, instrument=None) -> Figure:
    """Grouped bars: work orders of each cause group, the previous period (grey) beside this one
    (dark, as the trend chart's current bar), each bar labelled with its count."""
    from research.artifacts import labels

    fig, body = new_figure(2.4)
    ax = body.add_subplot()
    x = np.arange(len(d))
    prev = ax.bar(x - 0.19, d["volume_previous"].fillna(0), width=0.36, color=MUTED_COLOR, label=word("previous", lang))
    cur = ax.bar(x + 0.19, d["volume"], width=0.36, color=SERIES_COLOR, label=word("current", lang))
    for bars, values in ((prev, d["volume_previous"]), (cur, d["volume"])):
        ax.bar_label(bars, labels=["" if pd.isna(v) else f"{v:,.0f}" for v in values], fontsize=7, padding=1.5)
    ax.set_xticks(x, [labels.code("cause_l1", g, lang, instrument) for g in d["group"]])
    ax.set_ylabel(word("volume", lang))
    ax.margins(y=0.15)
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper right", frameon=False)
    return fig


def _snap(fig: Figure) -> None:
    """Round every axes' position to 1e-6 of the figure: constrained layout's positions can differ in
    the last bits from one run to the next within a process, and the SVG writer names each clip
    rectangle by a hash of its exact coordinates, so unrounded positions would change the file's
    ids (found by the rerun test). The axes keep taking part in the layout."""
    for ax in fig.get_axes():
        ax._set_position(np.round(ax.get_position().bounds, 6), which="both")  # public setter leaves the layout


def render(chart: Chart, data: pd.DataFrame, lang: str, stamp=None, conf_level: float = 0.95,
           instrument=None) -> tuple[bytes, bytes]:
    """(PNG, SVG) bytes of ``chart`` drawn from ``data`` in ``lang``, in the report figures' theme,
    with ``stamp.text(lang)`` in the footer strip (none if None); same inputs, same bytes."""
    with mpl.rc_context():
        apply_theme()
        fig = chart.draw(data, lang, conf_level, instrument)
        if stamp is not None:
            footer = next(sf for sf in fig.subfigs if sf.get_gid() == "footer")
            footer.text(0.01, 0.5, stamp.text(lang), ha="left", va="center", fontsize=6, color=NEUTRAL_COLOR)
        with _engine_off(fig) as engine:
            lay_out(fig, engine, "png")
            _snap(fig)
            png = png_bytes(fig)
            lay_out(fig, engine, "svg")
            _snap(fig)
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", metadata=SVG_METADATA)
        fig.clear()
    return png, buf.getvalue()


def _stations_data(i) -> pd.DataFrame:
    return stations(i.tables["by_station"], i.tables["overview"], i.conf_level, i.spec.min_n)


#: the bulletin's charts, in display order (each after its ``after`` section)
CHARTS: tuple[Chart, ...] = (
    Chart("trend", PERIODS, "overview", lambda i: trend(i.data, i.period, i.conf_level), draw_trend),
    Chart("causes", PERIODS, "overview", lambda i: causes(i.tables["overview"]), draw_causes),
    Chart("stations", ("week", "month"), "overview", _stations_data, draw_stations),
)


def data_key(chart: Chart) -> str:
    """The key of a chart's data in the dict of :func:`research.bulletin.tables.bulletin_tables`."""
    return f"chart_{chart.key}"


def chart_tables(inputs, period: str) -> dict[str, pd.DataFrame]:
    """The data of every chart the ``period``'s bulletin carries, by :func:`data_key`."""
    return {data_key(c): c.data(inputs) for c in CHARTS if period in c.periods}


__all__ = ["CHARTS", "Chart", "causes", "chart_tables", "data_key", "render", "stations", "trend"]
