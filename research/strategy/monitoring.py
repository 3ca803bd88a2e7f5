"""Monitoring for the weekly bulletin: p-charts of the dissatisfied rate, recurring
complaint cells, and repeat callers.

Functions (pure: DataFrames in, DataFrames out; nothing is read or written):

- :func:`p_chart`        -- p-chart of the dissatisfied rate per station and period.
- :func:`recurrence`     -- station x sub-cause cells whose complaint count rises beyond
  expectation (exact conditional Poisson test, or a one-sided Poisson CUSUM).
- :func:`repeat_callers` -- pseudonymised customers with two or more work orders within
  a 30-day window, with a predicted risk of dissatisfaction.

Helpers, public because the tests and the docs use them: :func:`period_start`,
:func:`cusum_arl`, :func:`cusum_design`, :func:`fit_dissatisfaction_model`.
Frames carry machine names only; their display words are in :mod:`research.artifacts.words`.

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

Recurrence (:func:`recurrence`)
-------------------------------
Counts ``x[c, t]`` of work orders per cell ``c`` (default station x sub-cause) and
period ``t`` (by ``created_at``), with zeros filled in for every period between the
first and the last period of the data (all cells share that range). A cell exists when
it has at least one work order in the data. The first and last periods may be partial
(an export cut mid-week); pass whole periods, or read those periods with care.

Baseline: the previous ``B = baseline_periods`` periods, ``S[c, t] = sum x[c, t-B..t-1]``;
only periods with a full baseline are tested (the first ``B`` periods of the range are
not). ``expected = S / B`` (complaints per period). With ``scale="volume"`` the
expectation follows the overall volume: ``expected = S * r_t / sum_b r_b``, where ``r``
is the count of *all other* cells in the period (the cell itself left out, so its own
jump does not raise its expectation); this removes a network-wide trend or seasonal
swing that hits every cell alike. Default ``scale="none"``.

``method="poisson"``: one-sided test of ``x[c, t]`` against its expectation.

- ``test="conditional"`` (default): the exact conditional test of two Poisson counts.
  Under "no change" ``x ~ Poisson(mu)`` and ``S ~ Poisson(B mu)`` independently, so given
  their total ``x + S``, ``x ~ Binomial(x + S, 1 / (B + 1))`` whatever ``mu`` is
  (with volume scaling ``q = r_t / (r_t + sum_b r_b)``). ``p_value = P(X >= x)`` under
  that binomial; identical to R ``poisson.test(c(x, S), c(1, B), alternative =
  "greater")``. Because the test is exact for every ``mu``, the false-alarm rate per
  tested cell-period is at most ``alpha`` (a little less: the binomial is discrete).
- ``test="plugin"``: ``p_value = P(X >= x | X ~ Poisson(expected)) =
  scipy.stats.poisson.sf(x - 1, expected)``, treating the baseline mean as the true
  mean. Its false-alarm rate is *above* ``alpha``: the baseline mean of 8 periods is
  itself noisy (variance ``mu / 8``), which makes the exact size about ``1.5 alpha`` for
  ``mu >= 2`` at ``alpha = 0.001`` and ``B = 8``, and far more for rare cells (a cell
  with an all-zero baseline is flagged by any single complaint, ``p = 0``). Kept for
  comparison with the textbook formula; not the default.

``flagged = p_value < alpha``.

``method="cusum"``: the one-sided Poisson CUSUM of Lucas (1985) per cell, run over the
tested periods: ``C_t = max(0, C_{t-1} + x_t - k_t)``, ``C = 0`` before the first tested
period, signal (``flagged``) when ``C_t >= h_t``, after which ``C`` restarts at 0.

- In-control mean ``mu0 = expected`` (the rolling baseline mean); out-of-control mean
  ``mu1 = 2 mu0``; reference value ``k = (mu1 - mu0) / (ln mu1 - ln mu0) = mu0 / ln 2``,
  rounded to the nearest 1/20 (Lucas rounds k too; the chart then runs on a lattice of
  1/20 and its run length is computed exactly).
- Decision interval ``h``: the smallest multiple of 1/20 whose in-control average run
  length is at least ``arl0`` periods (default ``1 / alpha`` = 1000 periods, so the
  long-run false-alarm rate per cell-period of the restarted chart, ``1 / ARL``, is at
  most ``alpha`` -- the same scale as the Poisson test). The ARL is computed exactly by
  the Markov chain of Brook & Evans (1972) (:func:`cusum_arl`; checked against R
  ``surveillance::arlCusum``). Because ``mu0`` is *estimated* from ``B`` periods, the
  chain's in-control count is the predictive distribution of the next count given the
  baseline sum ``S``: negative binomial with shape ``S`` and mean ``S / B`` (a Poisson
  whose mean has the posterior Gamma(S, B) of the prior ``d mu / mu``), variance
  ``mu0 (1 + 1 / B)``. Designing ``h`` for a known ``mu0`` instead would halve the
  in-control ARL with ``B = 8`` (about 500 instead of 1000 periods at ``mu = 5..10``,
  measured).
  A zero baseline is read as half a complaint (``S = 0.5``).
- Measured in-control ARL (restarted chart; tested cell-periods / signals) on Poisson
  data with constant means ``mu`` per period. Target 1000 (the default at alpha = 0.001):
  ``B = 8``: 1314, 1063, 1100 periods at ``mu`` = 5, 10, 20; 3114 at ``mu = 2``, about
  9600 at ``mu = 1`` and 48000 at ``mu = 0.5``; ``B = 26``: 1297, 980, 1150 at ``mu`` = 1,
  5, 20. Target 200 (the tests, 5 seeds each): ``B = 8``: 200-248 at ``mu`` = 2-20,
  about 290 at ``mu = 50``; ``B = 26``: 190-208 at ``mu`` = 1 and 5. So the ARL is never
  much below the target (0.95 x at worst in these runs, within Monte Carlo error) and
  within about 1.5 x of it wherever the baseline holds 25 or more complaints; rarer
  cells are watched very conservatively (a wide predictive distribution needs a high
  ``h``) -- use a longer baseline, or the Poisson test, for them. Designs are cached by
  ``(S, B, arl0)``.
- ``scale="volume"`` is not available with the CUSUM (the design would change every
  cell-period).

Output: one row per cell and tested period: cell columns, ``period_start``,
``count``, ``expected``, then ``p_value`` (poisson) or ``cusum``, ``k``, ``h`` (cusum),
and ``flagged``. ``since`` keeps only periods starting on or after a date (the CUSUM
still runs over the whole range).

Repeat callers (:func:`repeat_callers`)
---------------------------------------
A customer's work orders (by ``customer_id``: the keyed pseudonym of the canonical
frames, used and written exactly as given; no other identifier, phone or comment is
read or written) sorted by ``created_at`` (ties keep the input order) are cut into
*episodes*: a new episode starts when the gap to the previous work order exceeds
``window_days`` days (exact time difference). So every two work orders within
``window_days`` of each other fall in the same episode, and any ``window_days``-day
window holding two or more of a customer's work orders lies inside one episode; an
episode can last longer than ``window_days`` when the calls keep coming. Episodes with
at least two work orders are listed. With ``responses``, the episode's surveyed tickets
give ``n_surveyed``, ``resolved_share`` (share answering resolved = "yes" among those
with an answer) and ``last_satisfied`` / ``last_sat_overall`` (the latest surveyed
ticket of the episode by ``created_at``).

Risk (predicted probability of dissatisfaction) of the episode's *latest* work order:

- ``risk`` callable: called once with the latest work orders (canonical columns, one
  row per episode) and must return one probability per row;
- ``risk`` Series: indexed by ``ticket_id``; the value of the latest ticket;
- ``risk=None`` (default) with ``responses``: the transparent default model
  (:func:`fit_dissatisfaction_model`): a logit of ``dissatisfied = (satisfied ==
  False)`` on ``cause_l2`` (treatment coding, first level in sorted order as
  reference) + ``log2(1 + handling_hours)`` + ``repeat``, fitted by maximum likelihood
  (statsmodels ``Logit``) on the complete cases of ``responses``, then applied to
  the latest work order with ``repeat = True`` (it has an earlier work order of the
  same customer within ``window_days``: the work-order proxy of the survey's repeat
  flag, as in :mod:`research.representativeness.nonresponse`). A sub-cause the model has not seen, or a
  missing handling time (ticket still open), gives ``<NA>``;
- ``risk=None`` without ``responses``: ``risk`` is ``<NA>``.

Rows are ordered by risk (highest first, ``<NA>`` last), then ``n_tickets``
(descending), ``last_created`` (latest first) and ``customer_id``.

References: Lucas, J. M. (1985) Counted data CUSUM's. Technometrics 27(2), 129-144.
Brook, D. & Evans, D. A. (1972) An approach to the probability distribution of CUSUM
run length. Biometrika 59(3), 539-549. Montgomery, D. C. (2013) Introduction to
Statistical Quality Control, 7th ed., ch. 7 (p-chart with variable sample size).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from research.errors import InputError
from research.stats.periods import period_range, period_start  # period_start: also monitoring.period_start


_GRID = 20  # CUSUM lattice: k, h and the statistic are multiples of 1/20 of a complaint
_LN2 = math.log(2.0)


# ---- input checks and periods -------------------------------------------------------------

def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what}: expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise InputError(f"{what}: required column(s) absent: {names}")


def _datetimes(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    col = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(col):
        raise InputError(f"{what}: column {column!r} must hold datetimes (got {col.dtype})")
    if getattr(col.dt, "tz", None) is not None:
        col = col.dt.tz_localize(None)
    return col.to_numpy(dtype="datetime64[us]")


def _keys(by) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


# ---- p-chart ------------------------------------------------------------------------------

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


# ---- CUSUM design (Brook & Evans Markov chain) -------------------------------------------

def _count_pmf(mean: float, size: float | None, xmax: int) -> np.ndarray:
    x = np.arange(xmax + 1)
    if size is None:
        return stats.poisson.pmf(x, mean)
    return stats.nbinom.pmf(x, size, size / (size + mean))


def _arl_units(km: int, n_states: int, pmf: np.ndarray, grid: int) -> float:
    """ARL from C = 0 of the lattice CUSUM: increments grid*x - km, signal at >= n_states."""
    i = np.arange(n_states)
    d = i[None, :] - i[:, None] + km  # grid * x needed to go from state i to state j (j >= 1)
    x = d // grid
    ok = (d >= 0) & (d % grid == 0)
    ok[:, 0] = False
    q = np.where(ok, pmf[np.clip(x, 0, len(pmf) - 1)], 0.0)
    cdf = np.cumsum(pmf)
    to_zero = np.floor_divide(km - i, grid)  # largest x that sends state i back to 0
    q[:, 0] = np.where(to_zero >= 0, cdf[np.clip(to_zero, 0, len(cdf) - 1)], 0.0)
    a = np.eye(n_states) - q
    try:
        arl = np.linalg.solve(a, np.ones(n_states))
    except np.linalg.LinAlgError:
        return math.inf
    return float(arl[0])


def cusum_arl(k: float, h: float, *, mean: float, size: float | None = None,
              grid: int = _GRID) -> float:
    """Average run length of the one-sided count CUSUM ``C_t = max(0, C_{t-1} + X_t - k)``.

    The chart starts at ``C_0 = 0`` and signals at the first ``t`` with ``C_t >= h``;
    ``X_t`` are iid Poisson(``mean``), or negative binomial with that mean and shape
    ``size`` (variance ``mean + mean^2 / size``). Computed exactly by the Markov chain of
    Brook & Evans (1972) on the lattice of 1/``grid``: ``k`` and ``h`` must be multiples
    of 1/``grid`` (they are rounded to it). Same chain as R
    ``surveillance::arlCusum(h, k, theta = mean, distr = "poisson")``.

    Returns
    -------
    The ARL in periods (``inf`` if the chain never signals).
    """
    km = int(round(k * grid))
    n_states = int(round(h * grid))
    if n_states < 1:
        raise ValueError("h must be at least 1/grid")
    xmax = (n_states + km) // grid + 2
    return _arl_units(km, n_states, _count_pmf(mean, size, xmax), grid)


_DESIGNS: dict[tuple[float, int, float, int], tuple[int, int, float]] = {}


def _design_units(s: float, b: int, arl0: float, grid: int = _GRID,
                  hint: int | None = None) -> tuple[int, int, float]:
    key = (float(s), int(b), float(arl0), int(grid))
    hit = _DESIGNS.get(key)
    if hit is not None:
        return hit
    s_eff = max(float(s), 0.5)
    mu0 = s_eff / b
    km = max(int(round(mu0 / _LN2 * grid)), 1)
    cache: dict[int, float] = {}

    def arl(n_states: int) -> float:
        if n_states not in cache:
            xmax = (n_states + km) // grid + 2
            cache[n_states] = _arl_units(km, n_states, _count_pmf(mu0, s_eff, xmax), grid)
        return cache[n_states]

    # smallest n with arl(n) >= arl0 (arl is non-decreasing in n). Bracket from the
    # hint (the design of a neighbouring S), keeping arl(lo) < arl0 (lo = 0: no chart)
    # and arl(hi) >= arl0, then bisect.
    hi = max(int(hint or 1), 1)
    step = 1
    if arl(hi) >= arl0:
        lo = hi - step
        while lo >= 1 and arl(lo) >= arl0:
            hi, step = lo, step * 2
            lo = hi - step
        lo = max(lo, 0)
    else:
        lo = hi
        hi = lo + step
        while arl(hi) < arl0:
            lo, step = hi, step * 2
            hi = lo + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if arl(mid) >= arl0:
            hi = mid
        else:
            lo = mid
    out = (km, hi, arl(hi))
    _DESIGNS[key] = out
    return out


def cusum_design(baseline_sum: float, baseline_periods: int, arl0: float,
                 grid: int = _GRID) -> tuple[float, float, float]:
    """Reference value ``k``, decision interval ``h`` and in-control ARL of the CUSUM of one cell.

    Parameters
    ----------
    baseline_sum : complaints in the baseline periods (``S``; 0 is read as 0.5).
    baseline_periods : number of baseline periods ``B``.
    arl0 : target in-control average run length, in periods.

    Returns
    -------
    ``(k, h, arl)``: ``k = mu0 / ln 2`` with ``mu0 = S / B`` (out-of-control mean
    ``2 mu0``), rounded to 1/``grid``; ``h`` the smallest multiple of 1/``grid`` whose ARL
    is at least ``arl0`` when the counts follow the predictive negative binomial (shape
    ``S``, mean ``S / B``); ``arl`` that ARL (>= ``arl0``).
    """
    with threadpool_limits(limits=1, user_api="blas"):  # many small solves
        km, n_states, arl = _design_units(baseline_sum, baseline_periods, arl0, grid)
    return km / grid, n_states / grid, arl


# ---- recurrence ---------------------------------------------------------------------------

def recurrence(workorders: pd.DataFrame, *, cell=("station", "cause_l2"), period: str = "W",
               date_col: str = "created_at", baseline_periods: int = 8, alpha: float = 0.001,
               method: str = "poisson", test: str = "conditional", scale: str = "none",
               arl0: float | None = None, since=None) -> pd.DataFrame:
    """Cells (station x sub-cause by default) whose complaint count rises beyond expectation.

    Parameters
    ----------
    workorders : canonical work orders; uses the ``cell`` columns and ``date_col``.
        Rows with a missing cell value or date are not counted.
    cell : columns defining a cell.
    period : ``"W"`` (ISO weeks, default), ``"D"`` or ``"M"``.
    date_col : datetime column placing a work order in a period (default ``created_at``).
    baseline_periods : ``B``, periods in the rolling baseline (a full baseline is required).
    alpha : flag when the p-value is below ``alpha`` (poisson); for the CUSUM the default
        target ARL is ``1 / alpha``.
    method : ``"poisson"`` or ``"cusum"``.
    test : poisson only: ``"conditional"`` (exact, default) or ``"plugin"``.
    scale : ``"none"`` (default) or ``"volume"`` (expectation follows the volume of the
        other cells; poisson only).
    arl0 : cusum only: target in-control ARL in periods (default ``1 / alpha``).
    since : keep only periods starting on or after this date (the tests and the CUSUM
        still use the earlier periods).

    Returns
    -------
    One row per cell and tested period, sorted by cell and period: the cell columns,
    ``period_start``, ``count`` (work orders), ``expected`` (work orders per period
    expected from the baseline), then ``p_value`` (poisson) or ``cusum``, ``k``, ``h``
    (cusum; in work orders), and ``flagged``. See the module docstring for the tests.
    """
    keys = _keys(cell)
    what = "recurrence: work orders"
    _require(workorders, [*keys, date_col], what)
    if method not in ("poisson", "cusum"):
        raise ValueError("method must be 'poisson' or 'cusum'")
    if test not in ("conditional", "plugin"):
        raise ValueError("test must be 'conditional' or 'plugin'")
    if scale not in ("none", "volume"):
        raise ValueError("scale must be 'none' or 'volume'")
    if method == "cusum" and scale != "none":
        raise ValueError("scale='volume' is available with method='poisson' only")
    if int(baseline_periods) < 1:
        raise ValueError("baseline_periods must be at least 1")
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie in (0, 1)")
    b = int(baseline_periods)
    target = float(arl0) if arl0 is not None else 1.0 / alpha

    when = period_start(_datetimes(workorders, date_col, what), period)
    valid = ~np.isnat(when)
    for k in keys:
        valid &= workorders[k].notna().to_numpy()
    empty = _empty_recurrence(keys, method)
    if not valid.any():
        return empty
    codes, uniques = _cell_codes(workorders, keys, valid)
    grid_t = period_range(when[valid].min(), when[valid].max(), period)
    t_idx = np.searchsorted(grid_t, when[valid])
    n_cells, n_t = len(uniques), len(grid_t)
    x = np.bincount(codes * n_t + t_idx, minlength=n_cells * n_t).reshape(n_cells, n_t)
    if n_t <= b:
        return empty

    cs = np.concatenate([np.zeros((n_cells, 1), dtype=np.int64), np.cumsum(x, axis=1)], axis=1)
    tested = np.arange(b, n_t)
    s = cs[:, tested] - cs[:, tested - b]  # baseline sums, (cells, tested periods)
    obs = x[:, tested]
    if scale == "volume":
        r = x.sum(axis=0)[None, :] - x  # volume of the other cells
        rcs = np.concatenate([np.zeros((n_cells, 1), dtype=np.int64), np.cumsum(r, axis=1)], axis=1)
        rb = (rcs[:, tested] - rcs[:, tested - b]).astype(float)
        rt = r[:, tested].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = np.where(rb > 0, s * rt / rb, np.nan)
            q = np.where(rb > 0, rt / (rt + rb), np.nan)
    else:
        expected = s / b
        q = np.full(s.shape, 1.0 / (b + 1))

    out_cols: dict[str, np.ndarray] = {}
    if method == "poisson":
        if test == "conditional":
            p = stats.binom.sf(obs - 1, obs + s, q)
        else:
            p = stats.poisson.sf(obs - 1, expected)
        p = np.where(obs == 0, 1.0, p)
        p = np.where(np.isnan(expected), np.nan, p)
        out_cols["p_value"] = p
        flagged = p < alpha
    else:
        stat, kk, hh, flagged = _run_cusum(obs, s, b, target)
        out_cols.update(cusum=stat, k=kk, h=hh)

    keep_t = np.ones(len(tested), dtype=bool)
    if since is not None:
        first = pd.Timestamp(since).normalize().to_datetime64().astype("datetime64[us]")
        keep_t = grid_t[tested] >= first
    nt = int(keep_t.sum())
    rows = np.repeat(np.arange(n_cells), nt)
    frame = uniques.iloc[rows].reset_index(drop=True)
    frame["period_start"] = np.tile(grid_t[tested][keep_t], n_cells)
    frame["count"] = obs[:, keep_t].ravel().astype(np.int64)
    frame["expected"] = expected[:, keep_t].ravel().astype(float)
    for name, values in out_cols.items():
        frame[name] = values[:, keep_t].ravel()
    frame["flagged"] = flagged[:, keep_t].ravel().astype(bool)
    return frame[list(empty.columns)]


def _empty_recurrence(keys: list[str], method: str) -> pd.DataFrame:
    cols: dict[str, pd.Series] = {k: pd.Series([], dtype="string") for k in keys}
    cols["period_start"] = pd.Series([], dtype="datetime64[us]")
    cols["count"] = pd.Series([], dtype=np.int64)
    cols["expected"] = pd.Series([], dtype=float)
    if method == "poisson":
        cols["p_value"] = pd.Series([], dtype=float)
    else:
        cols.update(cusum=pd.Series([], dtype=float), k=pd.Series([], dtype=float),
                    h=pd.Series([], dtype=float))
    cols["flagged"] = pd.Series([], dtype=bool)
    return pd.DataFrame(cols)


def _cell_codes(frame: pd.DataFrame, keys: list[str],
                valid: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer cell code per valid row (cells in sorted order) and the cell key table."""
    parts = []
    for k in keys:
        col = frame[k][valid]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype("string")
        c, u = pd.factorize(col, sort=True)
        parts.append((c.astype(np.int64), u))
    combo = np.zeros(int(valid.sum()), dtype=np.int64)
    for c, u in parts:
        combo = combo * len(u) + c
    uniq, codes = np.unique(combo, return_inverse=True)
    table = {}
    rest = uniq.copy()
    for k, (c, u) in zip(reversed(keys), reversed(parts)):
        table[k] = pd.array(np.asarray(u, dtype=object)[rest % len(u)], dtype="string")
        rest = rest // len(u)
    return codes.astype(np.int64), pd.DataFrame({k: table[k] for k in keys})


def _run_cusum(obs: np.ndarray, s: np.ndarray, b: int, arl0: float):
    """Run the restarted lattice CUSUM of every cell over the tested periods."""
    grid = _GRID
    values, inverse = np.unique(s, return_inverse=True)
    k_of = np.empty(len(values), dtype=np.int64)
    h_of = np.empty(len(values), dtype=np.int64)
    hint = None
    with threadpool_limits(limits=1, user_api="blas"):  # many small solves: one thread is faster
        for i, v in enumerate(values):  # increasing S: the previous h brackets the next
            k_of[i], h_of[i], _ = _design_units(float(v), b, arl0, grid, hint)
            hint = int(h_of[i])
    km = k_of[inverse.reshape(s.shape)]
    hn = h_of[inverse.reshape(s.shape)]
    stat = np.zeros(s.shape, dtype=np.int64)
    flagged = np.zeros(s.shape, dtype=bool)
    c = np.zeros(s.shape[0], dtype=np.int64)
    for j in range(s.shape[1]):
        c = np.maximum(0, c + grid * obs[:, j] - km[:, j])
        stat[:, j] = c
        hit = c >= hn[:, j]
        flagged[:, j] = hit
        c = np.where(hit, 0, c)
    return stat / grid, km / grid, hn / grid, flagged


# ---- repeat callers -----------------------------------------------------------------------

@dataclass(frozen=True)
class DissatisfactionModel:
    """Logit of dissatisfied on cause_l2 + log2(1 + handling_hours) + repeat.

    ``coef`` holds the intercept (``(Intercept)``), one term per non-reference
    sub-cause (``cause_l2[<code>]``), ``log2(1 + handling_hours)`` and ``repeat``.
    """

    levels: tuple[str, ...]  # sub-causes seen in the fit; levels[0] is the reference
    coef: pd.Series
    nobs: int

    def predict(self, cause_l2, handling_hours, repeat) -> np.ndarray:
        """P(dissatisfied) per row; NaN for an unseen sub-cause or a missing handling time."""
        cause = pd.Series(cause_l2, dtype="string").reset_index(drop=True)
        hours = pd.Series(handling_hours, dtype=float).reset_index(drop=True).to_numpy()
        rep = np.broadcast_to(np.asarray(repeat, dtype=float), hours.shape)
        eta = self.coef["(Intercept)"] + self.coef["log2(1 + handling_hours)"] * np.log2(1 + hours)
        eta = eta + self.coef["repeat"] * rep
        lev = pd.Series(np.zeros(len(self.levels)), index=list(self.levels))
        for name in self.levels[1:]:
            lev[name] = self.coef[f"cause_l2[{name}]"]
        eff = cause.map(lev).to_numpy(dtype=float, na_value=np.nan)
        eta = eta + eff
        return 1.0 / (1.0 + np.exp(-eta))


def fit_dissatisfaction_model(responses: pd.DataFrame) -> DissatisfactionModel:
    """Fit the default risk model on the complete cases of canonical responses.

    Outcome ``satisfied == False`` (1) vs True (0); regressors ``cause_l2`` (treatment
    coding, reference the first level in sorted order), ``log2(1 + handling_hours)``
    (handling time in hours) and ``repeat`` (the survey's repeat-call flag, 0/1).
    Maximum likelihood (Newton) with statsmodels ``Logit``; the same estimates as R
    ``glm(dissatisfied ~ cause_l2 + log2(1 + handling_hours) + repeat, binomial)``.
    """
    from statsmodels.discrete.discrete_model import Logit  # not statsmodels.api: 0.3 s less to import

    what = "repeat_callers: responses"
    _require(responses, ["satisfied", "cause_l2", "handling_hours", "repeat"], what)
    y_all = responses["satisfied"].astype("boolean")
    cause_all = responses["cause_l2"].astype("string")
    hours_all = pd.to_numeric(responses["handling_hours"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    rep_all = responses["repeat"].astype("boolean")
    # complete cases with a non-negative handling time, in row order (as dropna and a filter give)
    rows = np.flatnonzero(y_all.notna().to_numpy() & cause_all.notna().to_numpy() & ~np.isnan(hours_all)
                          & rep_all.notna().to_numpy() & (np.nan_to_num(hours_all, nan=-1.0) >= 0))
    y_ok = y_all.to_numpy(dtype=bool, na_value=False)[rows]
    if len(rows) < 10 or len(np.unique(y_ok)) < 2:
        raise InputError(f"{what}: too few complete answers ({len(rows)}) or a single outcome "
                         "to fit the default risk model; pass risk= instead")
    codes, uniques = pd.factorize(cause_all.take(rows), sort=True)
    levels = tuple(str(u) for u in uniques)
    names = ["(Intercept)", *(f"cause_l2[{name}]" for name in levels[1:]), "log2(1 + handling_hours)", "repeat"]
    # the regressors as one column-major array: the layout a frame built column by column gives
    x = np.empty((len(rows), len(names)), order="F")
    x[:, 0] = 1.0
    for j in range(1, len(levels)):
        x[:, j] = codes == j
    x[:, len(levels)] = np.log2(1 + hours_all[rows])
    x[:, len(levels) + 1] = rep_all.to_numpy(dtype=bool, na_value=False)[rows]
    y = (~y_ok).astype(float)
    fit = Logit(y, x, check_rank=False).fit(disp=0, method="newton", maxiter=100)
    coef = pd.Series(np.asarray(fit.params), index=names)
    return DissatisfactionModel(levels=levels, coef=coef, nobs=int(fit.nobs))


def repeat_callers(workorders: pd.DataFrame, responses: pd.DataFrame | None = None, *,
                   window_days: float = 30, risk: Callable | pd.Series | None = None,
                   min_tickets: int = 2) -> pd.DataFrame:
    """Customers (pseudonyms) with two or more work orders within ``window_days`` days.

    Parameters
    ----------
    workorders : canonical work orders; uses ``ticket_id``, ``customer_id`` (the keyed
        pseudonym, used as given), ``created_at``, ``cause_l2``, ``station``, and
        ``handling_hours`` (hours) for the default risk. Rows without a customer or a
        creation time are ignored.
    responses : canonical responses (optional); uses ``ticket_id``, ``satisfied``,
        ``sat_overall``, ``resolved``; and for the default risk model ``cause_l2``,
        ``handling_hours``, ``repeat``.
    window_days : two work orders of a customer at most this many days apart belong to
        the same episode.
    risk : callable (latest work orders -> probabilities), Series by ``ticket_id``, or
        None for the default model (see the module docstring).
    min_tickets : smallest episode listed (default 2).

    Returns
    -------
    One row per customer and episode, highest risk first: ``customer_id``, ``episode``
    (1, 2, ... per customer in time order, among the listed episodes), ``n_tickets``,
    ``first_created``, ``last_created``, ``span_days`` (days, float), ``causes``
    (sub-cause codes in time order joined by "|"), ``stations`` (distinct stations in
    order of first appearance, "|"), ``last_ticket_id``, ``n_surveyed``,
    ``resolved_share``, ``last_satisfied``, ``last_sat_overall`` (<NA> without
    responses), ``risk`` (probability in [0, 1], <NA> when unknown).
    """
    what = "repeat_callers: work orders"
    _require(workorders, ["ticket_id", "customer_id", "created_at", "cause_l2", "station"], what)
    if risk is None and responses is not None:
        _require(workorders, ["handling_hours"], what)
    if responses is not None:
        needed = ["ticket_id", "satisfied", "sat_overall", "resolved"]
        if risk is None:  # the default model's variables
            needed += ["cause_l2", "handling_hours", "repeat"]
        _require(responses, needed, "repeat_callers: responses")
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    created = _datetimes(workorders, "created_at", what)
    ok = np.flatnonzero(~np.isnat(created) & workorders["customer_id"].notna().to_numpy())
    cust_codes, _ = pd.factorize(workorders["customer_id"].iloc[ok])
    t = created[ok].astype(np.int64)  # microseconds
    # by customer, then creation time; ties keep the input order (stable)
    by = np.lexsort((t, cust_codes))
    order = ok[by]
    cust, t = cust_codes[by], t[by]
    window = int(round(window_days * 86_400 * 1_000_000))
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        new[1:] = (cust[1:] != cust[:-1]) | ((t[1:] - t[:-1]) > window)
    ep = np.cumsum(new) - 1
    size = np.bincount(ep) if len(order) else np.array([], dtype=np.int64)
    keep = size[ep] >= min_tickets if len(order) else np.zeros(0, dtype=bool)
    # the listed episodes' work orders, as positions in ``workorders``: only the columns used are
    # taken (not every column of every work order, as a sorted copy of the frame would)
    pos = order[keep]
    t_sub = t[keep].astype("datetime64[us]")
    ep_sub = ep[keep]
    if len(pos):
        starts = np.flatnonzero(np.r_[True, ep_sub[1:] != ep_sub[:-1]])
        ends = np.r_[starts[1:], len(pos)].astype(np.int64)
    else:
        starts = ends = np.zeros(0, dtype=np.int64)
    last_idx = ends - 1

    def taken(column: str, at: np.ndarray) -> pd.Series:
        return workorders[column].take(at).reset_index(drop=True)

    causes_all = taken("cause_l2", pos).astype("string").fillna("").to_numpy(dtype=object)
    stations_all = taken("station", pos).astype("string").fillna("").to_numpy(dtype=object)
    causes = ["|".join(causes_all[a:e]) for a, e in zip(starts, ends)]
    stations = ["|".join(dict.fromkeys(stations_all[a:e])) for a, e in zip(starts, ends)]
    first_t = t_sub[starts]
    last_t = t_sub[last_idx]
    out = pd.DataFrame({
        "customer_id": pd.array(taken("customer_id", pos[starts]).astype("string").to_numpy(dtype=object),
                                dtype="string"),
        "n_tickets": (ends - starts).astype(np.int64),
        "first_created": first_t.astype("datetime64[us]"),
        "last_created": last_t.astype("datetime64[us]"),
        "span_days": (last_t - first_t).astype("timedelta64[us]").astype(np.int64) / 86_400e6,
        "causes": pd.array(causes, dtype="string"),
        "stations": pd.array(stations, dtype="string"),
        "last_ticket_id": pd.array(
            taken("ticket_id", pos[last_idx]).astype("string").to_numpy(dtype=object), dtype="string"),
    })
    out.insert(1, "episode", out.groupby("customer_id", sort=False).cumcount().astype(np.int64) + 1)

    # survey outcomes of the episode's tickets
    if responses is not None and len(pos):
        r = responses[["ticket_id", "satisfied", "sat_overall", "resolved"]]
        r = r[r["ticket_id"].notna()].drop_duplicates("ticket_id", keep="last")
        at = pd.Index(r["ticket_id"].astype("string")).get_indexer(taken("ticket_id", pos).astype("string"))
        surveyed = at >= 0
        take_r = np.where(surveyed, at, len(r))  # len(r): "no survey", past the padding below
        res = r["resolved"].astype("string")
        res_known = np.r_[res.notna().to_numpy(dtype=bool), False][take_r]
        res_yes = np.r_[(res == "yes").fillna(False).to_numpy(dtype=bool), False][take_r]
        ep_local = np.repeat(np.arange(len(starts)), ends - starts)
        n_surv = np.bincount(ep_local, weights=surveyed, minlength=len(starts)).astype(np.int64)
        n_known = np.bincount(ep_local, weights=res_known, minlength=len(starts))
        n_yes = np.bincount(ep_local, weights=res_yes, minlength=len(starts))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(n_known > 0, n_yes / np.where(n_known > 0, n_known, 1), np.nan)
        where = np.where(surveyed, np.arange(len(pos)), -1)
        last_pos = np.maximum.reduceat(where, starts) if len(starts) else np.array([], int)
        has = last_pos >= 0
        row = np.where(has, take_r[np.where(has, last_pos, 0)], len(r))
        sat = r["satisfied"].astype("boolean").reset_index(drop=True).reindex(row)
        score = r["sat_overall"].astype("Int64").reset_index(drop=True).reindex(row)
        out["n_surveyed"] = pd.array(n_surv, dtype="Int64")
        out["resolved_share"] = pd.array(np.where(np.isnan(share), None, share), dtype="Float64")
        out["last_satisfied"] = pd.array(sat.where(has, pd.NA).to_numpy(), dtype="boolean")
        out["last_sat_overall"] = pd.array(score.where(has, pd.NA).to_numpy(), dtype="Int64")
    else:
        out["n_surveyed"] = pd.array([pd.NA] * len(out) if responses is None else [0] * len(out),
                                     dtype="Int64")
        out["resolved_share"] = pd.array([pd.NA] * len(out), dtype="Float64")
        out["last_satisfied"] = pd.array([pd.NA] * len(out), dtype="boolean")
        out["last_sat_overall"] = pd.array([pd.NA] * len(out), dtype="Int64")

    # risk of the latest ticket
    latest = workorders.iloc[pos[last_idx]].reset_index(drop=True)
    latest["customer_id"] = latest["customer_id"].astype("string")
    values = np.full(len(out), np.nan)
    if callable(risk):
        got = np.asarray(risk(latest), dtype=float) if len(latest) else np.array([], dtype=float)
        if got.shape != (len(latest),):
            raise ValueError(f"risk callable returned shape {got.shape}, expected ({len(latest)},)")
        values = got
    elif isinstance(risk, pd.Series):
        ser = risk.copy()
        ser.index = ser.index.astype("string")
        values = ser.reindex(latest["ticket_id"].astype("string")).to_numpy(
            dtype=float, na_value=np.nan)
    elif risk is None and responses is not None and len(latest):
        model = fit_dissatisfaction_model(responses)
        values = model.predict(latest["cause_l2"], latest["handling_hours"], True)
    elif risk is not None:
        raise ValueError("risk must be a callable, a Series by ticket_id, or None")
    if np.any((values < 0) | (values > 1)):
        raise ValueError("risk values must be probabilities in [0, 1]")
    out["risk"] = pd.array(np.where(np.isnan(values), None, values), dtype="Float64")

    out["_r"] = np.nan_to_num(values, nan=-1.0)
    out = out.sort_values(["_r", "n_tickets", "last_created", "customer_id"],
                          ascending=[False, False, False, True], kind="stable")
    return out.drop(columns="_r").reset_index(drop=True)
