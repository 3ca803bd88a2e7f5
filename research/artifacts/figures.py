"""Figures F01-F07: for each, the data plotted and the drawing.

Every registered figure (:data:`research.artifacts.registry.FIGURES`) has

- a data builder ``<builder>(bundle) -> DataFrame``: tidy, machine column names, full
  precision, a deterministic row order; only counting, proportions and their Wilson
  intervals are computed here, never a model (estimates come from the bundle);
- a drawer ``<drawer>(data, lang, bundle) -> matplotlib.figure.Figure``: reads only
  ``data``, plus the instrument in ``bundle`` for the zh/en labels of codes; every word
  shown is in ``lang`` ("zh" or "en").

Drawers do not set the theme: call :func:`research.artifacts.theme.apply_theme` first
(:func:`research.artifacts.render_figures.write_figure` does, and adds the title and the
footer stamp). Figures are made with ``matplotlib.figure.Figure`` directly, not pyplot, so
nothing is left open in pyplot's figure registry.
"""

from __future__ import annotations

import re

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter

from research.artifacts import labels
from research.artifacts.theme import (
    FIGURE_WIDTH,
    FOOTER_INCHES,
    NEUTRAL_COLOR,
    SERIES_COLOR,
    cause_color,
)
from research.config.instrument import Instrument, load_instrument
from research.stats.intervals import wilson_interval

#: confidence level of every interval computed here
CONF_LEVEL = 0.95
#: probabilities at which F03 evaluates each group's quantile function (its ECDF, inverted)
ECDF_PROBABILITIES = np.linspace(0.0, 1.0, 101)
#: model whose sub-cause coefficients F05 shows
FOREST_MODEL = "ordinal"

#: figure words that labels.LABELS does not have (yet): name -> (zh, en)

_L2_TERM = re.compile(r"cause_l2\[(.+)\]")


# ---------------------------------------------------------------------------- helpers


def _word(name: str, lang: str, **fmt) -> str:
    """A display word from :data:`research.artifacts.labels.LABELS` (``{...}`` fields filled from ``fmt``)."""
    out = labels.text(name, lang)
    return out.format(**fmt) if fmt else out


def _instrument(bundle: dict | None) -> Instrument:
    ins = None if bundle is None else bundle.get("instrument")
    return ins if ins is not None else load_instrument()


def _l1_order(ins: Instrument) -> list[str]:
    return list(ins.label_sets["cause_l1"].codes)


def _l2_order(ins: Instrument) -> list[str]:
    return [sub for l1 in _l1_order(ins) for sub in ins.subcauses_of(l1)]


def _rank(values: pd.Series, order: list[str]) -> pd.Series:
    """Position of each value in ``order``; unknown values after all known ones."""
    pos = {v: i for i, v in enumerate(order)}
    return values.map(lambda v: pos.get(v, len(order))).astype("int64")


def _sort_by_codes(frame: pd.DataFrame, ins: Instrument, *extra: str) -> pd.DataFrame:
    """Sort by cause group, then sub-cause (taxonomy order; unknown codes last, by code), then ``extra``."""
    keys = frame.assign(
        _l1=_rank(frame["cause_l1"], _l1_order(ins)), _l1c=frame["cause_l1"].astype(str))
    cols = ["_l1", "_l1c"]
    if "cause_l2" in frame:
        keys = keys.assign(_l2=_rank(frame["cause_l2"], _l2_order(ins)), _l2c=frame["cause_l2"].astype(str))
        cols += ["_l2", "_l2c"]
    out = keys.sort_values(cols + list(extra), kind="mergesort")
    return out.drop(columns=[c for c in out.columns if c.startswith("_l")]).reset_index(drop=True)


def _rate_frame(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """n, n_satisfied, satisfied_rate and its Wilson interval per ``by`` (answers with ``satisfied``)."""
    valid = frame.loc[frame["satisfied"].notna(), by + ["satisfied"]]
    valid = valid.assign(satisfied=valid["satisfied"].astype("bool"))
    agg = (valid.groupby(by, observed=True, sort=True)["satisfied"]
           .agg(n="size", n_satisfied="sum").reset_index())
    agg["n"] = agg["n"].astype("int64")
    agg["n_satisfied"] = agg["n_satisfied"].astype("int64")
    agg["satisfied_rate"] = agg["n_satisfied"] / agg["n"]
    low, high = wilson_interval(agg["n_satisfied"], agg["n"])
    agg["conf_low"], agg["conf_high"] = low, high
    agg["conf_level"] = CONF_LEVEL
    return agg


def _plain(frame: pd.DataFrame, text_cols: list[str]) -> pd.DataFrame:
    """Text columns as plain Python strings (object dtype) so every frame writes the same CSV."""
    out = frame.copy()
    for c in text_cols:
        out[c] = out[c].astype(object)
    return out


def _new_figure(height: float, width: float = FIGURE_WIDTH) -> tuple[Figure, SubFigure]:
    """A figure of ``width`` x ``height`` inches with two sub-figures: the body, returned for
    drawing, and an empty strip of :data:`FOOTER_INCHES` at the bottom (gid ``"footer"``) where
    the renderer writes the stamp. Both are laid out by constrained layout, so nothing drawn in
    the body can overlap the footer."""
    fig = Figure(figsize=(width, height + FOOTER_INCHES), layout="constrained")
    body, footer = fig.subfigures(2, 1, height_ratios=[height, FOOTER_INCHES])
    body.set_gid("body")
    footer.set_gid("footer")
    return fig, body


def _percent_axis(axis) -> None:
    axis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))


def _hours_axis(axis) -> None:
    """A log axis of hours with plain numbers (1, 10, 100) rather than powers of ten."""
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def _group_handles(codes, lang: str, ins: Instrument, kind: str = "patch") -> list:
    """Legend entries of cause groups: ``kind`` "patch" (bars), "point" (point and interval) or
    "line"."""
    handles = []
    for c in codes:
        lab = labels.code("cause_l1", c, lang, ins)
        if kind == "patch":
            handles.append(Patch(facecolor=cause_color(c), label=lab))
        elif kind == "point":
            handles.append(Line2D([], [], color=cause_color(c), marker="o", markersize=4, linestyle="-", label=lab))
        else:
            handles.append(Line2D([], [], color=cause_color(c), linewidth=1.5, label=lab))
    return handles


def _group_legend(target: SubFigure, handles: list, ncols: int = 2) -> None:
    target.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False)


def _unique(values) -> list:
    return list(dict.fromkeys(values))


def _groups_in_order(values, ins: Instrument) -> list[str]:
    """The distinct cause groups among ``values``, in taxonomy order (unknown codes last, sorted)."""
    seen = set(values)
    known = [g for g in _l1_order(ins) if g in seen]
    return known + sorted(str(g) for g in seen - set(known))


def _subcause_rows(ax, data: pd.DataFrame, lang: str, ins: Instrument, gap: float = 0.6) -> np.ndarray:
    """y positions of sub-cause rows, top to bottom in data order, with a gap between cause groups;
    sets the tick labels and returns the positions."""
    pos, y, prev = [], 0.0, None
    for g in data["cause_l1"]:
        if prev is not None:
            y += 1.0 + (gap if g != prev else 0.0)
        pos.append(y)
        prev = g
    pos = np.asarray(pos)
    ax.set_yticks(pos, [labels.code("cause_l2", c, lang, ins) for c in data["cause_l2"]])
    ax.set_ylim(pos.max() + 0.7 if len(pos) else 1, -0.7)
    ax.grid(axis="y", visible=False)
    return pos


# ---------------------------------------------------------------------------- F01 Pareto


def figure_pareto_data(bundle: dict) -> pd.DataFrame:
    """Work orders per sub-cause, largest first, with the cumulative share.

    Counts come from the work-order export when the bundle has one (every complaint of the
    period), else from the survey responses.

    Returns
    -------
    DataFrame, one row per sub-cause seen: ``rank`` (1 = most), ``cause_l2``, ``cause_l1``,
    ``count``, ``share`` (count / total), ``cumulative_share`` (running sum of count / total;
    the last row is 1), ``source`` ("workorders" or "responses"). Ties keep taxonomy order.
    """
    ins = _instrument(bundle)
    wo = bundle.get("workorders")
    source = "workorders" if wo is not None and len(wo) else "responses"
    frame = wo if source == "workorders" else bundle["responses"]
    counts = (frame.groupby(["cause_l1", "cause_l2"], observed=True, sort=True).size()
              .rename("count").reset_index())
    counts = _sort_by_codes(counts, ins)
    counts = counts.iloc[np.argsort(-counts["count"].to_numpy(), kind="stable")].reset_index(drop=True)
    total = int(counts["count"].sum())
    out = pd.DataFrame({
        "rank": np.arange(1, len(counts) + 1, dtype="int64"),
        "cause_l2": counts["cause_l2"].astype(object),
        "cause_l1": counts["cause_l1"].astype(object),
        "count": counts["count"].astype("int64"),
    })
    out["share"] = out["count"] / total
    out["cumulative_share"] = out["count"].cumsum() / total
    out["source"] = source
    return out


def draw_pareto(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Horizontal Pareto chart: bars per sub-cause (largest on top) coloured by cause group,
    cumulative share on a secondary (top) axis."""
    ins = _instrument(bundle)
    fig, body = _new_figure(5.6)
    ax = body.add_subplot()
    y = np.arange(len(data))
    ax.barh(y, data["count"], color=[cause_color(c) for c in data["cause_l1"]], height=0.75)
    ax.set_yticks(y, [labels.code("cause_l2", c, lang, ins) for c in data["cause_l2"]])
    ax.set_ylim(len(data) - 0.4, -0.6)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(_word("work_orders", lang))
    top = ax.twiny()
    top.plot(data["cumulative_share"], y, color=NEUTRAL_COLOR, marker="o", markersize=3, linewidth=1.2)
    top.set_xlim(0, 1.02)
    _percent_axis(top.xaxis)
    top.grid(False)
    top.set_xlabel(_word("cumulative_share", lang))
    handles = _group_handles(_groups_in_order(data["cause_l1"], ins), lang, ins)
    handles.append(Line2D([], [], color=NEUTRAL_COLOR, marker="o", markersize=3,
                          label=_word("cumulative_share", lang)))
    _group_legend(body, handles)
    return fig


# ---------------------------------------------------------------------------- F02 satisfied rate


def figure_satisfaction_data(bundle: dict) -> pd.DataFrame:
    """Satisfied rate per sub-cause with its 95% Wilson interval.

    Returns
    -------
    DataFrame, one row per sub-cause with at least one answer, in taxonomy order (cause group,
    then sub-cause): ``cause_l1``, ``cause_l2``, ``n`` (answers to the overall item),
    ``n_satisfied`` (answers 4 or 5), ``satisfied_rate`` (proportion), ``conf_low``,
    ``conf_high`` (Wilson score interval), ``conf_level``.
    """
    ins = _instrument(bundle)
    out = _rate_frame(bundle["responses"], ["cause_l1", "cause_l2"])
    return _plain(_sort_by_codes(out, ins), ["cause_l1", "cause_l2"])


def draw_satisfaction(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Point and 95% interval per sub-cause, grouped and coloured by cause group."""
    ins = _instrument(bundle)
    fig, body = _new_figure(5.6)
    ax = body.add_subplot()
    y = _subcause_rows(ax, data, lang, ins)
    for g in _unique(data["cause_l1"]):
        m = (data["cause_l1"] == g).to_numpy()
        d = data[m]
        ax.errorbar(d["satisfied_rate"], y[m],
                    xerr=[d["satisfied_rate"] - d["conf_low"], d["conf_high"] - d["satisfied_rate"]],
                    fmt="o", color=cause_color(g), markersize=4, capsize=2, linewidth=1.2)
    _percent_axis(ax.xaxis)
    ax.set_xlabel(_word("satisfied_rate", lang))
    _group_legend(body, _group_handles(_groups_in_order(data["cause_l1"], ins), lang, ins, kind="point"))
    return fig


# ---------------------------------------------------------------------------- F03 handling time


def figure_handling_time_data(bundle: dict) -> pd.DataFrame:
    """Quantile function (the ECDF, inverted) of handling time per cause group.

    Returns
    -------
    DataFrame, per cause group (taxonomy order) and probability in :data:`ECDF_PROBABILITIES`
    (0, 0.01, ..., 1): ``cause_l1``, ``probability``, ``handling_hours`` (the quantile, numpy's
    default linear interpolation, R's type 7; hours), ``n`` (responses with a handling time).
    Probability 0 and 1 give the minimum and maximum.
    """
    ins = _instrument(bundle)
    r = bundle["responses"]
    r = r.loc[r["handling_hours"].notna(), ["cause_l1", "handling_hours"]]
    groups = [g for g in _l1_order(ins) if (r["cause_l1"] == g).any()]
    groups += sorted(set(r["cause_l1"].dropna()) - set(groups))
    parts = []
    for g in groups:
        hours = r.loc[r["cause_l1"] == g, "handling_hours"].to_numpy(dtype="float64")
        parts.append(pd.DataFrame({
            "cause_l1": g, "probability": ECDF_PROBABILITIES,
            "handling_hours": np.quantile(hours, ECDF_PROBABILITIES), "n": np.int64(len(hours))}))
    if not parts:
        return pd.DataFrame({"cause_l1": pd.Series(dtype=object), "probability": pd.Series(dtype="float64"),
                             "handling_hours": pd.Series(dtype="float64"), "n": pd.Series(dtype="int64")})
    return _plain(pd.concat(parts, ignore_index=True), ["cause_l1"])


def draw_handling_time(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """ECDF of handling time per cause group on a log axis of hours."""
    ins = _instrument(bundle)
    fig, body = _new_figure(4.2)
    ax = body.add_subplot()
    for g in _unique(data["cause_l1"]):
        d = data[data["cause_l1"] == g]
        ax.plot(d["handling_hours"], d["probability"], color=cause_color(g), linewidth=1.5)
    ax.set_xscale("log", nonpositive="mask")
    _hours_axis(ax.xaxis)
    _percent_axis(ax.yaxis)
    ax.set_ylim(0, 1.01)
    ax.axhline(0.5, color=NEUTRAL_COLOR, linewidth=0.6, linestyle=":")
    ax.set_xlabel(_word("handling_hours", lang))
    ax.set_ylabel(_word("cumulative_proportion", lang))
    _group_legend(body, _group_handles(_groups_in_order(data["cause_l1"], ins), lang, ins, kind="line"))
    return fig


# ---------------------------------------------------------------------------- F04 speed curves


def figure_speed_curves_data(bundle: dict) -> pd.DataFrame:
    """The predicted satisfied-rate curves of the threshold analysis, with each group's threshold.

    Returns
    -------
    DataFrame: the rows of ``threshold_curves`` (``cause_l1``, ``hours``, ``estimate``,
    ``conf_low``, ``conf_high``, ``conf_level``), in taxonomy order of ``cause_l1`` then
    ``hours``, plus the group's ``threshold_hours`` (hours; NaN when not reached), ``reached``,
    ``reference_rate`` (curve at the reference, fast handling), ``drop_points`` and
    ``threshold_rate`` (= reference_rate - drop_points / 100, the level whose crossing defines
    the threshold), repeated on each row of the group.
    """
    ins = _instrument(bundle)
    curves = bundle["threshold_curves"]
    thr = bundle["thresholds"][["cause_l1", "threshold_hours", "reached", "reference_rate", "drop_points"]]
    out = curves.merge(thr, on="cause_l1", how="left", validate="many_to_one")
    out["reached"] = out["reached"].fillna(False).astype("bool")
    out["threshold_hours"] = out["threshold_hours"].where(out["reached"])
    out["threshold_rate"] = out["reference_rate"] - out["drop_points"] / 100
    return _plain(_sort_by_codes(out, ins, "hours"), ["cause_l1"])


def draw_speed_curves(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """One panel per cause group: predicted satisfied rate and its 95% band against handling time
    (log axis); dashed line at the tolerance threshold (none when not reached), dotted line at
    the level that defines it."""
    ins = _instrument(bundle)
    groups = _unique(data["cause_l1"])
    ncols = 2 if len(groups) > 1 else 1
    nrows = max(1, -(-len(groups) // ncols))
    fig, body = _new_figure(2.3 * nrows + 0.8)
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
        _hours_axis(ax.xaxis)
        _percent_axis(ax.yaxis)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    for i, ax in enumerate(axes[:len(groups)]):  # the lowest panel of each column carries the axis
        if i + ncols >= len(groups):
            ax.set_xlabel(_word("hours", lang))
            ax.xaxis.set_tick_params(labelbottom=True)
    body.supylabel(_word("predicted_rate", lang), fontsize=mpl.rcParams["axes.labelsize"])
    points = data["drop_points"].dropna()
    handles = [Patch(facecolor=NEUTRAL_COLOR, alpha=0.22, label=_word("conf_band", lang)),
               Line2D([], [], color=NEUTRAL_COLOR, linestyle="--", label=_word("threshold", lang))]
    if len(points):
        handles.append(Line2D([], [], color=NEUTRAL_COLOR, linestyle=":", linewidth=0.7,
                              label=_word("threshold_level", lang, points=float(points.iloc[0]))))
    _group_legend(body, handles, ncols=3)
    return fig


# ---------------------------------------------------------------------------- F05 forest


def figure_forest_data(bundle: dict) -> pd.DataFrame:
    """Sub-cause coefficients of the proportional-odds model against its reference sub-cause.

    Returns
    -------
    DataFrame, one row per non-reference sub-cause in the model, in taxonomy order:
    ``model``, ``term`` (e.g. ``cause_l2[staff_attitude]``), ``cause_l1``, ``cause_l2``,
    ``estimate``, ``conf_low``, ``conf_high`` (log-odds of a higher answer), ``conf_level``,
    ``reference_cause_l2`` (the model's reference sub-cause; empty when the bundle does not say).
    """
    ins = _instrument(bundle)
    est = bundle["estimates"]
    rows = est[(est["model"] == FOREST_MODEL) & (est["kind"] == "coefficient")]
    sub = rows["term"].astype(str).str.extract(_L2_TERM, expand=False)
    rows = rows[sub.notna()]
    sub = sub[sub.notna()]
    ref = ""
    fit = bundle.get("model_fit")
    if fit is not None and "reference_cause_l2" in fit:
        hit = fit.loc[fit["model"] == FOREST_MODEL, "reference_cause_l2"]
        if len(hit) and isinstance(hit.iloc[0], str):
            ref = hit.iloc[0]
    out = pd.DataFrame({
        "model": rows["model"].astype(object).to_numpy(),
        "term": rows["term"].astype(object).to_numpy(),
        "cause_l1": [ins.parent.get(s, "") for s in sub],
        "cause_l2": sub.astype(object).to_numpy(),
        "estimate": rows["estimate"].to_numpy(dtype="float64"),
        "conf_low": rows["conf_low"].to_numpy(dtype="float64"),
        "conf_high": rows["conf_high"].to_numpy(dtype="float64"),
        "conf_level": rows["conf_level"].to_numpy(dtype="float64"),
    })
    out["reference_cause_l2"] = ref
    return _sort_by_codes(out, ins)


def draw_forest(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Forest plot: coefficient and 95% interval per sub-cause, coloured by cause group, line at 0."""
    ins = _instrument(bundle)
    fig, body = _new_figure(5.6)
    ax = body.add_subplot()
    y = _subcause_rows(ax, data, lang, ins)
    ax.axvline(0, color=NEUTRAL_COLOR, linewidth=0.9)
    for g in _unique(data["cause_l1"]):
        m = (data["cause_l1"] == g).to_numpy()
        d = data[m]
        ax.errorbar(d["estimate"], y[m], xerr=[d["estimate"] - d["conf_low"], d["conf_high"] - d["estimate"]],
                    fmt="s", color=cause_color(g), markersize=4, capsize=2, linewidth=1.2)
    ref = data["reference_cause_l2"].iloc[0] if len(data) else ""
    ref_label = labels.code("cause_l2", ref, lang, ins) if ref else "?"
    ax.set_xlabel(_word("coefficient_vs", lang, ref=ref_label))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    _group_legend(body, _group_handles(_groups_in_order(data["cause_l1"], ins), lang, ins, kind="point"))
    return fig


# ---------------------------------------------------------------------------- F06 item correlations


def figure_item_correlation_data(bundle: dict) -> pd.DataFrame:
    """Pairwise Pearson correlations of the satisfaction items (the full square, both orders).

    Returns
    -------
    DataFrame: ``item_a``, ``item_b``, ``r``, ``n`` (pairs with both answers), rows in the
    instrument's item order of ``item_a`` then ``item_b``.
    """
    ins = _instrument(bundle)
    corr = bundle["item_correlations"][["item_a", "item_b", "r", "n"]]
    order = [it.name for it in ins.items]
    out = corr.assign(_la=_rank(corr["item_a"], order), _lb=_rank(corr["item_b"], order),
                      _lac=corr["item_a"].astype(str), _lbc=corr["item_b"].astype(str))
    out = out.sort_values(["_la", "_lac", "_lb", "_lbc"], kind="mergesort")
    out = out[["item_a", "item_b", "r", "n"]].reset_index(drop=True)
    out["n"] = out["n"].astype("int64")
    return _plain(out, ["item_a", "item_b"])


def draw_item_correlations(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Heat map of the correlations (diverging colours from -1 to 1), each cell annotated to 2 decimals."""
    import seaborn as sns

    ins = _instrument(bundle)
    names = {it.name: (it.zh if lang == "zh" else it.en) for it in ins.items}
    items = _unique(list(data["item_a"]) + list(data["item_b"]))
    grid = data.pivot(index="item_a", columns="item_b", values="r").reindex(index=items, columns=items)
    grid.index = [names.get(i, i) for i in items]
    grid.columns = [names.get(i, i) for i in items]
    fig, body = _new_figure(4.8, width=5.6)
    ax = body.add_subplot()
    sns.heatmap(grid, ax=ax, annot=True, fmt=".2f", vmin=-1.0, vmax=1.0, cmap="vlag",
                square=True, linewidths=0.5, cbar_kws={"label": _word("pearson_r", lang), "shrink": 0.8},
                annot_kws={"fontsize": 9})
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="x", labelrotation=30)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
    ax.tick_params(axis="y", labelrotation=0)
    return fig


# ---------------------------------------------------------------------------- F07 monthly rate


def figure_monthly_data(bundle: dict) -> pd.DataFrame:
    """Satisfied rate per survey month with its 95% Wilson interval.

    Returns
    -------
    DataFrame, one row per calendar month of ``surveyed_at`` with answers, in time order:
    ``month`` (``YYYY-MM``), ``n``, ``n_satisfied``, ``satisfied_rate``, ``conf_low``,
    ``conf_high``, ``conf_level``.
    """
    r = bundle["responses"]
    r = r.loc[r["surveyed_at"].notna(), ["surveyed_at", "satisfied"]]
    r = r.assign(month=r["surveyed_at"].dt.strftime("%Y-%m").astype(object))
    out = _rate_frame(r, ["month"])
    return _plain(out.sort_values("month", kind="mergesort").reset_index(drop=True), ["month"])


def draw_monthly(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Monthly satisfied rate (line and points) with its 95% interval band."""
    fig, body = _new_figure(4.0)
    ax = body.add_subplot()
    x = pd.to_datetime(data["month"], format="%Y-%m").to_numpy(dtype="datetime64[D]")
    ax.fill_between(x, data["conf_low"], data["conf_high"], color=NEUTRAL_COLOR, alpha=0.18, linewidth=0)
    ax.plot(x, data["satisfied_rate"], color=SERIES_COLOR, marker="o", markersize=3.5, linewidth=1.4)
    step = max(1, int(np.ceil(len(data) / 10)))
    ax.xaxis.set_major_locator(mdates.MonthLocator(interval=step))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.tick_params(axis="x", labelrotation=45)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
    _percent_axis(ax.yaxis)
    ax.set_xlabel(_word("month", lang))
    ax.set_ylabel(_word("satisfied_rate", lang))
    handles = [Line2D([], [], color=SERIES_COLOR, marker="o", markersize=3.5,
                      label=_word("satisfied_rate", lang)),
               Patch(facecolor=NEUTRAL_COLOR, alpha=0.18, label=_word("conf_band", lang))]
    _group_legend(body, handles)
    return fig


# ---------------------------------------------------------------------------- F08 response funnel
# F08 and F09 read the frames of research.representativeness.run; without a
# work-order export they have no rows and the drawing says so.


def _no_data_figure(lang: str) -> Figure:
    fig, body = _new_figure(1.2)
    ax = body.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, _word("no_workorders", lang), ha="center", va="center")
    return fig


def figure_funnel_data(bundle: dict) -> pd.DataFrame:
    """The funnel from work orders to valid answers, and the response rate per sub-cause.

    Returns
    -------
    DataFrame with ``part`` = ``funnel`` rows (``stage`` work_orders, completed,
    accepted, valid; ``count``; ``share`` of the work orders) then ``part`` =
    ``subcause`` rows (taxonomy order: ``cause_l1``, ``cause_l2``, ``count`` =
    work orders, ``share`` = response rate, ``conf_low``, ``conf_high`` its Wilson
    interval). No rows without a work-order export.
    """
    cols = ["part", "stage", "cause_l1", "cause_l2", "count", "share", "conf_low", "conf_high"]
    fun = bundle.get("funnel")
    rr = bundle.get("response_rates")
    if fun is None or rr is None or len(rr) == 0:
        return pd.DataFrame(columns=cols)
    ins = _instrument(bundle)
    top = pd.DataFrame({"part": "funnel", "stage": fun["stage"].astype(object), "cause_l1": None,
                        "cause_l2": None, "count": fun["count"].astype("float64"),
                        "share": fun["share_of_work_orders"].astype("float64"), "conf_low": np.nan,
                        "conf_high": np.nan})
    sub = rr[rr["variable"] == "cause_l2"]
    sub = pd.DataFrame({"part": "subcause", "stage": None, "cause_l1": sub["level"].map(ins.parent),
                        "cause_l2": sub["level"].astype(object), "count": sub["work_orders"].astype("float64"),
                        "share": sub["completed_rate"], "conf_low": sub["completed_conf_low"],
                        "conf_high": sub["completed_conf_high"]})
    sub = _sort_by_codes(sub, ins)
    return _plain(pd.concat([top, sub], ignore_index=True)[cols], ["part", "stage", "cause_l1", "cause_l2"])


def draw_funnel(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Left: bars of the funnel stages with their share of the work orders. Right: the
    response rate of each sub-cause with its 95% interval, coloured by cause group."""
    if data.empty:
        return _no_data_figure(lang)
    ins = _instrument(bundle)
    fig, body = _new_figure(5.6)
    left, right = body.subplots(1, 2, width_ratios=[1, 1.5])
    fun = data[data["part"] == "funnel"].reset_index(drop=True)
    y = np.arange(len(fun))
    left.barh(y, fun["count"], color=SERIES_COLOR, height=0.6)
    left.set_yticks(y, [_word(f"stage_{s}", lang) for s in fun["stage"]])
    left.set_ylim(len(fun) - 0.5, -0.5)
    left.grid(axis="y", visible=False)
    left.set_xlabel(_word("count", lang))
    for yi, (c, s) in enumerate(zip(fun["count"], fun["share"])):
        left.text(c, yi, f" {int(c):,}\n {100 * s:.1f}%", va="center", ha="left", fontsize=7)
    left.set_xlim(0, fun["count"].max() * 1.45)
    sub = data[data["part"] == "subcause"].reset_index(drop=True)
    ys = _subcause_rows(right, sub, lang, ins)
    for g in _unique(sub["cause_l1"]):
        m = (sub["cause_l1"] == g).to_numpy()
        d = sub[m]
        right.errorbar(d["share"], ys[m], xerr=[d["share"] - d["conf_low"], d["conf_high"] - d["share"]],
                       fmt="o", color=cause_color(g), markersize=4, capsize=2, linewidth=1.2)
    _percent_axis(right.xaxis)
    right.set_xlabel(_word("completed_rate", lang))
    _group_legend(body, _group_handles(_groups_in_order(sub["cause_l1"], ins), lang, ins, kind="point"), ncols=4)
    return fig


# ---------------------------------------------------------------------------- F09 weighted vs unweighted


def figure_weighted_data(bundle: dict) -> pd.DataFrame:
    """Weighted and unweighted satisfied rate per sub-cause (from T11's estimates).

    Returns
    -------
    DataFrame, taxonomy order: ``cause_l1, cause_l2, estimate, conf_low, conf_high``
    (weighted, design-based interval), ``estimate_unweighted, conf_low_unweighted,
    conf_high_unweighted``, ``difference`` (weighted - unweighted, proportion).
    No rows without a work-order export.
    """
    cols = ["cause_l1", "cause_l2", "estimate", "conf_low", "conf_high", "estimate_unweighted",
            "conf_low_unweighted", "conf_high_unweighted", "difference"]
    we = bundle.get("weighted_estimates")
    if we is None or len(we) == 0:
        return pd.DataFrame(columns=cols)
    ins = _instrument(bundle)
    sub = we[(we["variable"] == "satisfied") & (we["domain"] == "cause_l2")].copy()
    sub["cause_l2"] = sub["level"].astype(object)
    sub["cause_l1"] = sub["cause_l2"].map(ins.parent)
    return _plain(_sort_by_codes(sub[cols], ins), ["cause_l1", "cause_l2"])


def draw_weighted(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Per sub-cause: the unweighted rate (hollow grey) and the weighted rate (filled, cause
    colour) with their 95% intervals, side by side."""
    if data.empty:
        return _no_data_figure(lang)
    ins = _instrument(bundle)
    fig, body = _new_figure(5.6)
    ax = body.add_subplot()
    y = _subcause_rows(ax, data, lang, ins)
    off = 0.18
    ax.errorbar(data["estimate_unweighted"], y + off,
                xerr=[data["estimate_unweighted"] - data["conf_low_unweighted"],
                      data["conf_high_unweighted"] - data["estimate_unweighted"]],
                fmt="o", mfc="white", color=NEUTRAL_COLOR, markersize=4, capsize=2, linewidth=1.0)
    for g in _unique(data["cause_l1"]):
        m = (data["cause_l1"] == g).to_numpy()
        d = data[m]
        ax.errorbar(d["estimate"], y[m] - off, xerr=[d["estimate"] - d["conf_low"], d["conf_high"] - d["estimate"]],
                    fmt="o", color=cause_color(g), markersize=4, capsize=2, linewidth=1.2)
    _percent_axis(ax.xaxis)
    ax.set_xlabel(_word("satisfied_rate", lang))
    handles = _group_handles(_groups_in_order(data["cause_l1"], ins), lang, ins, kind="point")
    handles = [Line2D([], [], color=NEUTRAL_COLOR, marker="o", mfc="white", markersize=4,
                      label=_word("unweighted", lang))] + handles
    _group_legend(body, handles, ncols=3)
    return fig


# ---------------------------------------------------------------------------- F10 importance-performance


def figure_ipa_data(bundle: dict) -> pd.DataFrame:
    """Importance-performance points (from research.strategy.drivers via the bundle's ``drivers_ipa``).

    Returns
    -------
    DataFrame, one row per operational driver placed in a quadrant (a performance measure and an
    importance that clears its permutation null; ``drivers_ipa`` order): ``driver, importance``
    (R²), ``performance`` (0..1), ``quadrant``, ``p_concentrate_here``, ``importance_crosshair``,
    ``performance_crosshair``. No rows without a driver analysis.
    """
    cols = ["driver", "importance", "performance", "quadrant", "p_concentrate_here", "importance_crosshair",
            "performance_crosshair"]
    ipa = bundle.get("drivers_ipa")
    if ipa is None or len(ipa) == 0:
        return pd.DataFrame(columns=cols)
    if "set" in ipa.columns:
        ipa = ipa[(ipa["set"] == "operational") & (ipa["ipa_status"] == "placed")]
    return _plain(ipa[cols].reset_index(drop=True), ["driver", "quadrant"])


def draw_ipa(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Scatter of importance against performance with the mean crosshairs, the four quadrant
    names in the corners and each driver's P(concentrate here)."""
    fig, body = _new_figure(4.8)
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
        ax.annotate(f"{_word(str(d), lang)} ({100 * p:.0f}%)", (xi, yi), xytext=(4, -11 if lo else 4),
                    textcoords="offset points", fontsize=7)
    ax.axvline(float(data["performance_crosshair"].iloc[0]), color=NEUTRAL_COLOR, linestyle="--", linewidth=1)
    ax.axhline(float(data["importance_crosshair"].iloc[0]), color=NEUTRAL_COLOR, linestyle="--", linewidth=1)
    pad_x = (x.max() - x.min()) * 0.25 + 0.01
    pad_y = (y.max() - y.min()) * 0.15 + 0.01
    ax.set_xlim(x.min() - pad_x, x.max() + pad_x)
    ax.set_ylim(min(0, y.min() - pad_y), y.max() + pad_y)
    for name, (hx, hy) in {"concentrate_here": (0.02, 0.97), "keep_up": (0.98, 0.97),
                           "low_priority": (0.02, 0.03), "possible_overkill": (0.98, 0.03)}.items():
        ax.text(hx, hy, _word(name, lang), transform=ax.transAxes, ha="left" if hx < 0.5 else "right",
                va="top" if hy > 0.5 else "bottom", color=NEUTRAL_COLOR, fontsize=8)
    ax.set_xlabel(_word("performance", lang))
    ax.set_ylabel(_word("importance_r2", lang))
    return fig


# ---------------------------------------------------------------------------- F11 station funnel

#: number of points of each limit curve of F11 (answers, log-spaced)
FUNNEL_CURVE_POINTS = 120


def figure_station_funnel_data(bundle: dict) -> pd.DataFrame:
    """The risk-adjusted station funnel (research.strategy.stations.funnel via ``bundle["station_funnel"]``).

    Returns
    -------
    DataFrame with ``part`` = ``station`` rows (by name: ``station``, ``n`` answers, ``rate`` the
    standardised satisfied rate, ``z``, ``q_value``, ``flagged`` -- outside the 99.8% limits or
    BH q < 0.05 -- and ``signal`` above / below / "") then ``part`` = ``limits`` rows (``n`` on a
    log-spaced grid over the stations' answers; ``lcl_95, ucl_95, lcl_99.8, ucl_99.8`` from
    :func:`research.strategy.stations.funnel_limits` with the over-dispersion factor when the funnel used
    it). Every row carries ``target`` (the overall rate) and ``phi`` (the factor used, 1 when
    none). No rows when the funnel was not computed.
    """
    from research.strategy.stations import funnel_limits

    cols = ["part", "station", "n", "rate", "target", "lcl_95", "ucl_95", "lcl_99.8", "ucl_99.8", "z", "q_value",
            "flagged", "signal", "phi"]
    sf = bundle.get("station_funnel")
    if sf is None or len(sf) == 0:
        return pd.DataFrame(columns=cols)
    target = float(sf["target"].iloc[0])
    phi = float(sf["phi"].iloc[0]) if bool(sf["phi_used"].iloc[0]) else 1.0
    sig = sf["signal"].astype(object).fillna("").astype(str)
    fdr = sf["fdr_signal"].astype(object).fillna("").astype(str)
    pts = pd.DataFrame({"part": "station", "station": sf["station"].astype(object), "n": sf["n"].astype("float64"),
                        "rate": sf["std_rate"].astype("float64"), "target": target, "z": sf["z"].astype("float64"),
                        "q_value": sf["q_value"].astype("float64"),
                        "flagged": ((sig != "") | (fdr != "")).to_numpy(),
                        "signal": np.where(sig != "", sig, fdr)})
    pts = pts.sort_values("station", kind="stable")
    lo, hi = max(1.0, np.floor(0.8 * pts["n"].min())), np.ceil(1.1 * pts["n"].max())
    grid = np.unique(np.round(np.geomspace(lo, hi, FUNNEL_CURVE_POINTS)))
    lim = funnel_limits(grid, target, phi=phi)
    curve = pd.DataFrame({"part": "limits", "station": None, "n": grid, "target": target})
    for c in ("lcl_95", "ucl_95", "lcl_99.8", "ucl_99.8"):
        curve[c] = lim[c].to_numpy()
    out = pd.concat([pts, curve], ignore_index=True)
    out["phi"] = phi
    out["flagged"] = out["flagged"].astype("boolean")
    return _plain(out[cols], ["part", "station", "signal"])


def draw_station_funnel(data: pd.DataFrame, lang: str, bundle: dict) -> Figure:
    """Each station's risk-adjusted rate against its answers, the overall rate, the 95% (dashed) and
    99.8% (dotted) limits; flagged stations in red with their names."""
    fig, body = _new_figure(4.6)
    ax = body.add_subplot()
    if data.empty:
        ax.axis("off")
        ax.text(0.5, 0.5, _word("funnel_not_computed", lang), ha="center", va="center")
        return fig
    pts = data[data["part"] == "station"]
    cur = data[data["part"] == "limits"]
    target = float(data["target"].iloc[0])
    ax.axhline(target, color=SERIES_COLOR, linewidth=1.2, label=_word("overall_rate", lang))
    for level, style in (("95", "--"), ("99.8", ":")):
        ax.plot(cur["n"], cur[f"lcl_{level}"], color=NEUTRAL_COLOR, linestyle=style, linewidth=1,
                label=_word(f"limits_{level}", lang))
        ax.plot(cur["n"], cur[f"ucl_{level}"], color=NEUTRAL_COLOR, linestyle=style, linewidth=1)
    flag = pts["flagged"].astype(bool).to_numpy()
    ax.scatter(pts["n"][~flag], pts["rate"][~flag], s=16, color=SERIES_COLOR, alpha=0.8, zorder=3,
               label=_word("station", lang))
    ax.set_xscale("log")
    lo_n, hi_n = float(cur["n"].min()), float(cur["n"].max())
    if flag.any():
        fl = pts[flag].sort_values("rate", kind="stable")
        ax.scatter(fl["n"], fl["rate"], s=24, color="#c0392b", zorder=4, label=_word("flagged_station", lang))
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
    _hours_axis(ax.xaxis)
    _percent_axis(ax.yaxis)
    rates = pd.concat([pts["rate"], cur["lcl_99.8"], cur["ucl_99.8"]])
    ax.set_ylim(max(0.0, rates.min() - 0.03), min(1.0, rates.max() + 0.03))
    ax.set_xlabel(_word("answers_n", lang))
    ax.set_ylabel(_word("adjusted_satisfied_rate", lang))
    _group_legend(body, ax.get_legend_handles_labels()[0], ncols=5)
    phi = float(data["phi"].iloc[0])
    if phi > 1:
        ax.text(0.01, 0.02, _word("overdispersion_phi", lang, phi=phi), transform=ax.transAxes, fontsize=7,
                color=NEUTRAL_COLOR, va="bottom")
    return fig
