"""Monitoring, the p-chart of the dissatisfied rate per station and period, and the number of
signals it gives by chance.

Periods
-------
The package's one period vocabulary (research.stats.periods): ``period="week"`` (or ``"W"``,
the default) is the ISO week: weeks start on Monday 00:00 and ``period_start`` is that Monday
(a date at midnight, ``datetime64[us]``). ``"day"`` / ``"D"`` (calendar day) and ``"month"`` /
``"M"`` (calendar month, ``period_start`` = the 1st) are also accepted. Datetimes are
the naive local times of the canonical frames (China Standard Time).

p-chart (:func:`p_chart`)
-------------------------
Per station and period ``t``: ``n_t`` valid answers (``satisfied`` not missing),
``d_t`` dissatisfied (``satisfied == False``, i.e. overall score below the top-2 box),
``rate = d_t / n_t``. Centre line ``p0``:

- ``centre="group"`` (default): the station's pooled dissatisfied rate over *all*
  periods in the input, ``sum_t d_t / sum_t n_t`` -- exactly ``qcc::qcc(type = "p")``
  run on one station's series (``stats.p``: ``pbar = sum(data) / sum(sizes)``). This is
  a retrospective (phase I) chart: the point judged is part of its own centre line,
  which dilutes a one-week jump only by that week's share of the station's answers.
- ``centre="overall"``: the pooled rate of all stations together.
- a number, or a mapping / Series from station to number: a given standard (e.g. the
  rates of an earlier quarter, for a prospective phase II chart).

Limits per point from its own denominator (qcc ``limits.p`` / ``limits.np``):
``p0 +/- sigma * sqrt(p0 (1 - p0) / n_t)``, the lower clipped at 0 and the upper at 1.
A point is out of control when ``rate > ucl`` or ``rate < lcl`` (strict, as qcc's
``beyond.limits``); qcc's run rules (``violating.runs``) are not applied. Points with
``n_t = 0`` are absent. Small ``n_t`` still get limits, but they are wide and the
normal approximation behind them is poor: the lower limit is 0 (no "below" signal is
possible) whenever ``n_t <= sigma^2 (1 - p0) / p0`` (36 answers at ``p0 = 0.2``), and
the upper limit is 1 (no "above" signal is possible) whenever ``n_t <= sigma^2 p0 /
(1 - p0)`` (2 answers at ``p0 = 0.2``). ``low_n`` marks ``n_t < min_n`` (default 10)
so a bulletin can grey those points out; they are still judged.


References: Montgomery, D. C. (2013) Introduction to Statistical Quality Control, 7th ed.,
ch. 7 (p-chart with variable sample size).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from research.errors import InputError
from research.stats.periods import period_start
from research.strategy.monitoring_checks import _datetimes, _keys, _require


def p_chart(responses: pd.DataFrame, *, by="station", period: str = "W",
            date_col: str = "surveyed_at", sigma: float = 3.0, centre="group",
            min_n: int = 10) -> pd.DataFrame:
    """p-chart of the dissatisfied rate per station (or ``by`` group) and period.

    Parameters
    ----------
    responses : canonical responses; uses ``by``, ``date_col`` and ``satisfied``
        (boolean, <NA> for no valid overall answer; such rows are not counted).
    by : grouping column (or list of columns); default ``"station"``.
    period : ``"W"`` (ISO weeks starting Monday, default), ``"D"`` or ``"M"``.
    date_col : datetime column that places an answer in a period (default the survey time).
    sigma : width of the limits in standard errors (default 3).
    centre : ``"group"`` (each group's pooled dissatisfied rate over all periods of the
        input), ``"overall"`` (pooled over all groups), a number in [0, 1], or a mapping /
        Series from group (single ``by`` column) to a number.
    min_n : points with fewer valid answers are marked ``low_n`` (still judged).

    Returns
    -------
    One row per group and period with at least one valid answer, sorted by group and
    period: ``<by>``, ``period_start`` (datetime64[us], midnight of the first day),
    ``n`` (valid answers), ``dissatisfied`` (count), ``rate``, ``centre``, ``lcl``,
    ``ucl`` (proportions in [0, 1]), ``out_of_control`` (rate > ucl or rate < lcl),
    ``signal`` ("above", "below" or ""), ``low_n`` (n < min_n). Empty input gives an
    empty frame with these columns.
    """
    keys = _keys(by)
    what = "p_chart: responses"
    _require(responses, [*keys, date_col, "satisfied"], what)
    if sigma <= 0:
        raise ValueError("sigma must be positive")
    g = _chart_counts(responses, keys, period, date_col, what)
    p0 = _centre_line(g, keys, centre)
    return _limits(g, keys, p0, sigma, min_n)


def _chart_counts(responses: pd.DataFrame, keys: list[str], period: str, date_col: str,
                  what: str) -> pd.DataFrame:
    """Valid answers and dissatisfied answers per group and period.

    Returns one row per ``keys`` group and period with at least one valid answer (sorted):
    the ``keys`` columns, ``period_start``, ``n`` and ``dissatisfied`` (int64 counts) and
    ``rate`` (dissatisfied / n).
    """
    when = period_start(_datetimes(responses, date_col, what), period)
    sat = responses["satisfied"].astype("boolean")
    valid = sat.notna().to_numpy() & ~np.isnat(when)
    for k in keys:
        valid &= responses[k].notna().to_numpy()
    frame = pd.DataFrame({k: responses[k][valid].reset_index(drop=True) for k in keys})
    frame["period_start"] = when[valid]
    frame["_d"] = (~sat.to_numpy(dtype=bool, na_value=True)[valid]).astype(np.int64)
    g = (frame.groupby([*keys, "period_start"], sort=True, observed=True)["_d"]
         .agg(["size", "sum"]).reset_index()
         .rename(columns={"size": "n", "sum": "dissatisfied"}))
    g["n"] = g["n"].astype(np.int64)
    g["dissatisfied"] = g["dissatisfied"].astype(np.int64)
    n = g["n"].to_numpy(dtype=float)
    d = g["dissatisfied"].to_numpy(dtype=float)
    g["rate"] = d / n if len(g) else np.array([], dtype=float)
    return g


def _centre_line(g: pd.DataFrame, keys: list[str], centre) -> np.ndarray:
    """The centre line ``p0`` (a proportion) of each row of :func:`_chart_counts`' frame ``g``,
    for ``centre`` as :func:`p_chart` takes it; ValueError / InputError for a bad centre."""
    n = g["n"].to_numpy(dtype=float)
    d = g["dissatisfied"].to_numpy(dtype=float)
    if isinstance(centre, str) and centre == "group":
        tot = g.groupby(keys, sort=False, observed=True)[["dissatisfied", "n"]].transform("sum")
        p0 = tot["dissatisfied"].to_numpy(dtype=float) / tot["n"].to_numpy(dtype=float)
    elif isinstance(centre, str) and centre == "overall":
        p0 = np.full(len(g), d.sum() / n.sum() if n.sum() else np.nan)
    elif isinstance(centre, (Mapping, pd.Series)):
        if len(keys) != 1:
            raise ValueError("a centre per group needs a single 'by' column")
        p0 = g[keys[0]].map(pd.Series(centre) if isinstance(centre, Mapping) else centre)
        p0 = p0.to_numpy(dtype=float, na_value=np.nan)
        unknown = g.loc[np.isnan(p0), keys[0]].unique()
        if len(unknown):
            raise InputError(f"p_chart: no centre given for {keys[0]} {list(unknown)[:5]}")
    elif isinstance(centre, (int, float)) and not isinstance(centre, bool):
        p0 = np.full(len(g), float(centre))
    else:
        raise ValueError("centre must be 'group', 'overall', a number or a mapping by group")
    if np.any((p0 < 0) | (p0 > 1)):
        raise ValueError("centre rates must lie in [0, 1]")
    return p0


def _limits(g: pd.DataFrame, keys: list[str], p0: np.ndarray, sigma: float, min_n: int) -> pd.DataFrame:
    """The p-chart frame of :func:`p_chart` from the counts ``g`` and centre lines ``p0``: limits
    ``p0 +/- sigma * sqrt(p0 (1 - p0) / n)`` clipped to [0, 1], the signals and ``low_n``."""
    n = g["n"].to_numpy(dtype=float)
    half = sigma * np.sqrt(p0 * (1.0 - p0) / n) if len(g) else np.array([], dtype=float)
    g["centre"] = p0
    g["lcl"] = np.maximum(p0 - half, 0.0)
    g["ucl"] = np.minimum(p0 + half, 1.0)
    rate = g["rate"].to_numpy()
    above = rate > g["ucl"].to_numpy()
    below = rate < g["lcl"].to_numpy()
    g["out_of_control"] = above | below
    g["signal"] = pd.array(np.where(above, "above", np.where(below, "below", "")), dtype="string")
    g["low_n"] = g["n"].to_numpy() < min_n
    g["period_start"] = g["period_start"].astype("datetime64[us]")
    cols = [*keys, "period_start", "n", "dissatisfied", "rate", "centre", "lcl", "ucl",
            "out_of_control", "signal", "low_n"]
    return g[cols].reset_index(drop=True)


def expected_false_signals(chart: pd.DataFrame, *, by="station") -> pd.DataFrame:
    """Expected number of false signals per period of a :func:`p_chart` when nothing changed.

    For each point, the exact binomial probability that a station in control at its centre
    line ``p0`` falls outside its own limits: ``P(D > n ucl) + P(D < n lcl)``,
    ``D ~ Binomial(n, p0)`` (scipy ``binom``, as R ``pbinom``); summed over the stations
    charted in the period. This is what the p-chart is for: sudden change within a station
    (it compares a station only with its own centre line, so a persistently poor station is
    never flagged -- that is :func:`research.strategy.stations.funnel`'s job), and the reader should
    expect this many signals a period from chance alone.

    Returns
    -------
    One row per period: ``period_start``, ``stations`` (points charted), ``signals``
    (observed), ``expected_false`` (expected false signals, sum of probabilities).
    """
    _require(chart, [*_keys(by), "period_start", "n", "centre", "lcl", "ucl", "out_of_control"],
             "expected_false_signals: chart")
    n = chart["n"].to_numpy(dtype=float)
    p0 = chart["centre"].to_numpy(dtype=float)
    hi = stats.binom.sf(np.floor(n * chart["ucl"].to_numpy(dtype=float) + 1e-9), n, p0)
    lo_count = np.ceil(n * chart["lcl"].to_numpy(dtype=float) - 1e-9) - 1  # largest d with d < n lcl
    lo = np.where(lo_count >= 0, stats.binom.cdf(lo_count, n, p0), 0.0)
    frame = pd.DataFrame({"period_start": chart["period_start"].to_numpy(), "_p": hi + lo,
                          "_s": chart["out_of_control"].astype(bool).to_numpy()})
    out = frame.groupby("period_start", sort=True).agg(stations=("_p", "size"), signals=("_s", "sum"),
                                                       expected_false=("_p", "sum")).reset_index()
    out["stations"] = out["stations"].astype(np.int64)
    out["signals"] = out["signals"].astype(np.int64)
    return out
