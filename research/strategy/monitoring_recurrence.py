"""Monitoring, recurrence flags: station x sub-cause cells whose weekly complaint count rises
beyond the periods before (exact conditional Poisson test, or a one-sided Poisson CUSUM).

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

``method="cusum"``: the one-sided Poisson CUSUM of Lucas (1985) per cell, designed and run by
:mod:`research.strategy.monitoring_cusum` (its docstring gives the design and its measured
in-control ARL).

Output: one row per cell and tested period: cell columns, ``period_start``,
``count``, ``expected``, then ``p_value`` (poisson) or ``cusum``, ``k``, ``h`` (cusum),
and ``flagged``. ``since`` keeps only periods starting on or after a date (the CUSUM
still runs over the whole range).

References: Lucas, J. M. (1985) Counted data CUSUM's. Technometrics 27(2), 129-144.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from research.stats.periods import period_range, period_start
from research.strategy.monitoring_checks import _datetimes, _keys, _require
from research.strategy.monitoring_cusum import _run_cusum


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
    _check_options(method, test, scale, baseline_periods, alpha)
    b = int(baseline_periods)
    target = float(arl0) if arl0 is not None else 1.0 / alpha
    empty = _empty_recurrence(keys, method)
    counts = _cell_period_counts(workorders, keys, period, date_col, what)
    if counts is None:
        return empty
    uniques, grid_t, x = counts
    if len(grid_t) <= b:
        return empty
    tested, s, obs, expected, q = _baseline(x, b, scale)
    out_cols: dict[str, np.ndarray] = {}
    if method == "poisson":
        p = _poisson_p_values(obs, s, expected, q, test)
        out_cols["p_value"] = p
        flagged = p < alpha
    else:
        stat, kk, hh, flagged = _run_cusum(obs, s, b, target)
        out_cols.update(cusum=stat, k=kk, h=hh)
    keep_t = np.ones(len(tested), dtype=bool)
    if since is not None:
        first = pd.Timestamp(since).normalize().to_datetime64().astype("datetime64[us]")
        keep_t = grid_t[tested] >= first
    return _recurrence_frame(uniques, grid_t[tested], keep_t, obs, expected, out_cols, flagged,
                             list(empty.columns))


def _check_options(method: str, test: str, scale: str, baseline_periods: int, alpha: float) -> None:
    """ValueError for an option of :func:`recurrence` outside its allowed values."""
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


def _cell_period_counts(workorders: pd.DataFrame, keys: list[str], period: str, date_col: str,
                        what: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray] | None:
    """Work orders per cell and period, zeros filled in between the first and the last period.

    Returns ``(cells, periods, x)``: the cell key table (cells in sorted order), the period
    starts (``datetime64[us]``) and the counts ``x`` (cells x periods, int64); None when no row
    has every cell column and a date.
    """
    when = period_start(_datetimes(workorders, date_col, what), period)
    valid = ~np.isnat(when)
    for k in keys:
        valid &= workorders[k].notna().to_numpy()
    if not valid.any():
        return None
    codes, uniques = _cell_codes(workorders, keys, valid)
    grid_t = period_range(when[valid].min(), when[valid].max(), period)
    t_idx = np.searchsorted(grid_t, when[valid])
    n_cells, n_t = len(uniques), len(grid_t)
    x = np.bincount(codes * n_t + t_idx, minlength=n_cells * n_t).reshape(n_cells, n_t)
    return uniques, grid_t, x


def _baseline(x: np.ndarray, b: int, scale: str):
    """Baseline of every cell and tested period from the counts ``x`` (cells x periods).

    Returns ``(tested, s, obs, expected, q)``: the indices of the tested periods (those with a
    full baseline of ``b`` periods), the baseline sums ``s``, the counts ``obs``, the expected
    count ``expected`` (work orders per period) and the binomial probability ``q`` of the
    conditional test (each cells x tested periods); ``scale="volume"`` follows the other cells.
    """
    n_cells, n_t = x.shape
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
    return tested, s, obs, expected, q


def _poisson_p_values(obs: np.ndarray, s: np.ndarray, expected: np.ndarray, q: np.ndarray,
                      test: str) -> np.ndarray:
    """One-sided p-values of the counts ``obs`` against their baseline: the exact conditional
    binomial test (``test="conditional"``) or the plug-in Poisson tail; 1 for a zero count, NaN
    where the expectation is undefined."""
    if test == "conditional":
        p = stats.binom.sf(obs - 1, obs + s, q)
    else:
        p = stats.poisson.sf(obs - 1, expected)
    p = np.where(obs == 0, 1.0, p)
    return np.where(np.isnan(expected), np.nan, p)


def _recurrence_frame(uniques: pd.DataFrame, starts: np.ndarray, keep_t: np.ndarray, obs: np.ndarray,
                      expected: np.ndarray, out_cols: dict[str, np.ndarray], flagged: np.ndarray,
                      columns: list[str]) -> pd.DataFrame:
    """One row per cell and kept tested period (``starts[keep_t]``), cells outer, in ``columns``
    order."""
    n_cells = len(uniques)
    nt = int(keep_t.sum())
    rows = np.repeat(np.arange(n_cells), nt)
    frame = uniques.iloc[rows].reset_index(drop=True)
    frame["period_start"] = np.tile(starts[keep_t], n_cells)
    frame["count"] = obs[:, keep_t].ravel().astype(np.int64)
    frame["expected"] = expected[:, keep_t].ravel().astype(float)
    for name, values in out_cols.items():
        frame[name] = values[:, keep_t].ravel()
    frame["flagged"] = flagged[:, keep_t].ravel().astype(bool)
    return frame[columns]


def _empty_recurrence(keys: list[str], method: str) -> pd.DataFrame:
    """The recurrence frame with no rows: the columns and dtypes of ``method``'s output."""
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
