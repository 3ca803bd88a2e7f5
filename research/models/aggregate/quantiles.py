"""Exact quantiles of a row value through an engine, by group and for cluster-bootstrap replicates
(issue 15): what the tolerance thresholds (:mod:`research.models.thresholds`) take from the rows.

- :func:`group_quantiles`: per level of a grouping of the prepared groups, ``np.quantile(x, qs)``
  (numpy's default "linear" method, Hyndman & Fan 1996, *Am. Stat.* 50:361-365, definition 7) of
  the value ``x`` over the level's rows: the pooled spline knots (one level for every group), each
  cause group's own knots and its reference and upper handling hours.
- :func:`replicate_quantiles`: per level and bootstrap replicate, the same quantiles of the
  frequency-expanded sample in which every row of cluster ``c`` counts ``counts[b, c]`` times,
  as :func:`research.models.threshold_curves.weighted_quantile` computes them from the sorted rows
  (the replicates' reference and upper hours, :func:`research.models.threshold_bootstrap._bootstrap`).

Both return the row path's numbers: the same order statistics, combined by the same floating-point
operations (bit-equal on the pandas engine; on DuckDB and Spark the values are the engine's own
evaluation of the value expression, e.g. its ``LOG2``, which may differ from numpy's by an ulp).

**Method** (exact; no row set is pulled whole). A quantile needs two order statistics of its level
(ranks ``floor(q (n - 1))`` and the next one; for a replicate, ranks of the weighted sample). Each
is located by histograms: a window (at first the level's ``[min, max]``, one
:meth:`~research.engines.base.Engine.extremes` pass) is cut into :data:`BINS` equal-width bins and
one :meth:`~research.engines.base.Engine.histogram` pass counts the rows of every bin by cell (the
level; for replicates the level's clusters, so that a replicate's weighted count of a bin is
``counts[b] @ histogram``, for all replicates at once). Cumulative counts give the bin that holds
each rank. A bin whose smallest and largest value are equal holds one value (a heavy atom: many
equal handling times) and that is the answer, whatever its size. Consecutive needed bins become the
next, narrower window (a bin is the value interval between its own smallest and largest value, so
the windows are defined by comparisons only, exact in every engine); a window of at most
:data:`FETCH_ROWS` rows (or any window after :data:`MAX_PASSES` passes: at most the level) is
fetched (:meth:`~research.engines.base.Engine.window_values`: value and group of its rows) and the
rank is found among its sorted values, with the replicate's weights. Memory: the histograms (at
most windows x cells x bins counts) and the fetched windows. Measured
(``benchmarks/bench_quantiles_engine.py``, 200 replicates, DuckDB): on 1M rows the knots and hours
in 0.5-0.8 s and the replicates in 0.35-0.4 s (the row path's numpy: 0.4-0.55 s and 0.9-1.0 s
on the rows in memory), peak 286 MB against the row path's 740 MB, every number bit-equal; on 20M
rows 8.3 s and 3.6 s, peak 793 MB (``benchmarks/results/quantiles_engine_*.json``).

**Why by hand, and not the engines' own exact quantiles.** DuckDB's ``quantile_cont`` and Spark's
``percentile`` are exact too, and for the unweighted quantiles they would be simpler, but:

1. neither weights per bootstrap replicate: a replicate's weights are its cluster multiplicities,
   and Spark's ``percentile(x, q, frequency)`` would need the rows joined to every replicate (200
   times the rows); so the replicates need the histograms anyway;
2. neither gives ``np.quantile``'s bits: both interpolate by another formula than numpy's
   ``_lerp`` (which switches to ``b - (1 - t)(b - a)`` for ``t >= 0.5``), measured on 200-300 random
   samples of 1-500 rounded log-normal values: DuckDB differed in 95 of 2,000 quantiles, Spark in
   247 of 3,000, each by at most 2.2e-16 relative (within the 1e-12 asked, but here the histograms
   give the row path's number exactly);
3. memory: DuckDB's holistic aggregate keeps every value of a group (the pooled knots of 20M rows:
   160 MB in one state), Spark's ``percentile`` a map of each distinct value to its count per
   group, merged in one task per group. Its cost is the number of distinct values: on the
   simulated 20M dataset handling times take 57,963 distinct values (a few MB per group, cheap),
   but handling times measured to the second would be nearly all distinct, some 20 million boxed
   map entries (on the order of 1-2 GB) for the pooled knots on one executor. The histograms here
   hold at most windows x cells x bins counts and the fetched windows, whatever the data.

So one method serves both functions and the three engines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.engines.base import Engine, Prepared
from research.engines.expr import Expr

#: bins a histogram pass cuts each window into
BINS = 1024
#: a window holding at most this many rows is fetched rather than cut again
FETCH_ROWS = 20_000
#: histogram passes before every window still open is fetched (at most its level's rows)
MAX_PASSES = 8
#: cap on replicates x rows of one cumulative-weight matrix when a fetched window is finished
_CUM_CELLS = 4_000_000


@dataclass
class _Window:
    """Rows of one level whose value lies in ``[lo, hi]`` (``rows`` of them), and the targets
    (indices into the flat target arrays) whose order statistic lies there, with their rank
    within the window (``rel``, in the replicate's weighted count)."""

    level: int
    lo: float
    hi: float
    rows: int
    idx: np.ndarray
    rel: np.ndarray


def group_quantiles(engine: Engine, prepared: Prepared, value: Expr, group_of_gid: np.ndarray, qs, *,
                    bins: int = BINS, fetch_rows: int = FETCH_ROWS) -> np.ndarray:
    """``np.quantile(x[rows of level], qs)`` for every level: an array (n_levels, len(qs)).

    ``value``: an expression of the prepared value columns (as :meth:`Engine.sums` reads them);
    ``group_of_gid``: the level (0, 1, ...) of each prepared group, negative for a group left out
    (n_levels = its largest entry + 1; a level without rows gives NaN); ``qs`` in [0, 1]. A pooled
    quantile: one level for every group. ``bins`` and ``fetch_rows``: see the module docstring."""
    level, n_levels = _levels(prepared, group_of_gid)
    qs = _quantiles(qs)
    n = np.bincount(level[level >= 0], weights=prepared.groups["n"].to_numpy()[level >= 0],
                    minlength=n_levels).astype(np.int64)
    # numpy's linear method (numpy.lib._function_base_impl._quantile, _get_indexes): virtual index
    # (n - 1) q, its floor and the next rank; at or past the last rank, the largest value
    virtual = (n - 1)[:, None] * qs[None, :]
    prev = np.floor(virtual)
    last = virtual >= (n - 1)[:, None]
    gamma = virtual - prev
    lv = np.broadcast_to(np.arange(n_levels)[:, None], virtual.shape)
    need = (n > 0)[:, None] & ~last
    t_level = np.concatenate([lv[need], lv[need]])
    t_rank = np.concatenate([prev[need], prev[need] + 1]).astype(np.int64)
    values, _, hi = _order_statistics(engine, prepared, value, level, np.zeros(len(level), dtype=np.int64),
                                      np.ones((1, 1), dtype=np.int64), (t_level, np.zeros_like(t_level), t_rank),
                                      bins=bins, fetch_rows=fetch_rows)
    out = np.full(virtual.shape, np.nan)
    k = int(need.sum())
    out[need] = _lerp(values[:k], values[k:], gamma[need])
    at_last = (n > 0)[:, None] & last
    out[at_last] = np.broadcast_to(hi[:, None], out.shape)[at_last]
    return out


def replicate_quantiles(engine: Engine, prepared: Prepared, value: Expr, group_of_gid: np.ndarray,
                        cluster_of_gid: np.ndarray, counts: np.ndarray, qs, *, bins: int = BINS,
                        fetch_rows: int = FETCH_ROWS) -> np.ndarray:
    """Per level and replicate ``b``, ``weighted_quantile(sorted x, counts[b][cluster], qs)``: an
    array (n_levels, reps, len(qs)), NaN where the replicate gives the level no weight.

    ``cluster_of_gid``: each prepared group's cluster (0 .. counts.shape[1] - 1: the cluster codes
    :func:`research.models.threshold_bootstrap._bootstrap` draws); ``counts``: (reps, n_clusters)
    whole multiplicities, as ``_bootstrap`` draws them; the rest as :func:`group_quantiles`."""
    level, n_levels = _levels(prepared, group_of_gid)
    qs = _quantiles(qs)
    counts = np.asarray(counts)
    if counts.ndim != 2 or (counts.size and (counts.min() < 0 or not np.all(counts == np.floor(counts)))):
        raise ValueError("counts: a (reps, clusters) array of whole multiplicities >= 0")
    counts = counts.astype(np.int64)
    cluster = np.asarray(cluster_of_gid, dtype=np.int64)
    if cluster.shape != level.shape or (len(cluster) and (cluster.min() < 0 or cluster.max() >= counts.shape[1])):
        raise ValueError("cluster_of_gid: one cluster code in 0 .. counts.shape[1] - 1 per prepared group")
    keep = level >= 0
    n_lc = np.zeros((n_levels, counts.shape[1]), dtype=np.int64)
    np.add.at(n_lc, (level[keep], cluster[keep]), prepared.groups["n"].to_numpy(dtype=np.int64)[keep])
    total = n_lc @ counts.T  # (levels, reps): the weighted sample's size
    # weighted_quantile's arithmetic: pos = q (total - 1), ranks floor(pos) and the next one; past
    # the last rank its clamp takes the level's largest value (multiplied by a zero fraction)
    pos = qs[None, None, :] * (total - 1)[:, :, None]
    lo = np.floor(pos)
    has = np.broadcast_to((total > 0)[:, :, None], pos.shape)
    nxt = has & (lo + 1 <= (total - 1)[:, :, None])
    grid = np.indices(pos.shape)
    t_level = np.concatenate([grid[0][has], grid[0][nxt]])
    t_rep = np.concatenate([grid[1][has], grid[1][nxt]])
    t_rank = np.concatenate([lo[has], lo[nxt] + 1]).astype(np.int64)
    values, _, hi = _order_statistics(engine, prepared, value, level, cluster, counts, (t_level, t_rep, t_rank),
                                      bins=bins, fetch_rows=fetch_rows)
    a = np.full(pos.shape, np.nan)
    a[has] = values[:int(has.sum())]
    b = np.broadcast_to(hi[:, None, None], pos.shape).copy()
    b[nxt] = values[int(has.sum()):]
    out = np.full(pos.shape, np.nan)
    out[has] = a[has] + (pos[has] - lo[has]) * (b[has] - a[has])
    return out


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's own interpolation of ``np.quantile`` (numpy.lib._function_base_impl._lerp, numpy
    2.x), copied because it is private: ``a + t (b - a)``, and ``b - (1 - t)(b - a)`` where
    ``t >= 0.5`` (monotone and exact at both ends); the same operations give the same bits."""
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _levels(prepared: Prepared, group_of_gid) -> tuple[np.ndarray, int]:
    """The level of each prepared group (int64) and the number of levels; ValueError when the
    array does not give one whole level per group."""
    level = np.asarray(group_of_gid)
    if level.shape != (len(prepared.groups),) or (level.size and not np.all(level == np.floor(level))):
        raise ValueError(f"group_of_gid: one whole level per prepared group ({len(prepared.groups)})")
    level = level.astype(np.int64)
    return level, int(level.max()) + 1 if level.size and level.max() >= 0 else 0


def _quantiles(qs) -> np.ndarray:
    """``qs`` as a 1-d float array in [0, 1] (ValueError otherwise)."""
    q = np.atleast_1d(np.asarray(qs, dtype=float))
    if q.ndim != 1 or not np.all((q >= 0) & (q <= 1)):
        raise ValueError(f"quantiles must lie in [0, 1], got {qs!r}")
    return q


def _order_statistics(engine: Engine, prepared: Prepared, value: Expr, level: np.ndarray, cluster: np.ndarray,
                      counts: np.ndarray, targets: tuple, *, bins: int, fetch_rows: int):
    """The value of each target (level, replicate, rank in the replicate's weighted sample of the
    level: every row of cluster c counted ``counts[rep, c]`` times, ranks from 0), and each
    level's smallest and largest value. Histogram passes, then one fetch (module docstring)."""
    t_level, t_rep, t_rank = (np.asarray(t, dtype=np.int64) for t in targets)
    lo, hi, n = _level_extremes(engine, prepared, value, level)
    out = np.full(len(t_rank), np.nan)
    windows, fetch = [], []
    for lv in np.unique(t_level):
        idx = np.flatnonzero(t_level == lv)
        if lo[lv] == hi[lv]:  # one value in the whole level
            out[idx] = lo[lv]
            continue
        w = _Window(int(lv), float(lo[lv]), float(hi[lv]), int(n[lv]), idx, t_rank[idx])
        (fetch if w.rows <= fetch_rows else windows).append(w)
    for _ in range(MAX_PASSES):
        cut = []
        for w in windows:  # a window too narrow (or too wide) for a positive finite bin width is fetched
            width = (w.hi - w.lo) / bins
            (cut if np.isfinite(width) and width > 0 else fetch).append(w)
        windows = []
        if not cut:
            break
        frame = pd.DataFrame({"win": np.arange(len(cut)), "key": [w.level for w in cut], "lo": [w.lo for w in cut],
                              "hi": [w.hi for w in cut], "width": [(w.hi - w.lo) / bins for w in cut],
                              "bins": bins})
        hist = engine.histogram(prepared, value, level, cluster, frame)
        by_win = dict(tuple(hist.groupby("win")))
        for i, w in enumerate(cut):
            for run in _locate(w, by_win.get(i, hist.iloc[:0]), counts, t_rep, out):
                (fetch if run.rows <= fetch_rows else windows).append(run)
    fetch += windows
    if fetch:
        _finish(engine, prepared, value, level, cluster, counts, fetch, t_rep, out)
    return out, lo, hi


def _level_extremes(engine: Engine, prepared: Prepared, value: Expr, level: np.ndarray):
    """Each level's smallest and largest value and its rows (one engine pass); ValueError when a
    value is not finite (NaN has no rank)."""
    n_levels = int(level.max()) + 1 if len(level) and level.max() >= 0 else 0
    ext = engine.extremes(prepared, {"v": value})
    keep = level >= 0
    lo, hi = np.full(n_levels, np.inf), np.full(n_levels, -np.inf)
    with np.errstate(invalid="ignore"):  # a NaN value: refused just below
        np.minimum.at(lo, level[keep], ext["v_min"].to_numpy(dtype=float)[keep])
        np.maximum.at(hi, level[keep], ext["v_max"].to_numpy(dtype=float)[keep])
    n = np.bincount(level[keep], weights=prepared.groups["n"].to_numpy()[keep], minlength=n_levels).astype(np.int64)
    if not (np.isfinite(lo[n > 0]).all() and np.isfinite(hi[n > 0]).all()):
        raise ValueError("quantiles: the value is not finite on every row (NaN or infinite values have no rank)")
    return lo, hi, n


def _search_rows(cum: np.ndarray, row: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """For each target, the first column ``j`` with ``cum[row, j] > rel`` (``cum``: each row
    non-decreasing, and ``rel`` below its row's last entry): one ``searchsorted`` over the rows
    laid end to end, each shifted above the one before."""
    if len(rel) and np.any(rel >= cum[row, -1]):
        raise RuntimeError("quantiles: a rank lies beyond its window's weighted count (the engine's counts "
                           "do not add up)")
    step = int(cum[:, -1].max()) + 1 if cum.size else 1
    shift = np.arange(cum.shape[0], dtype=np.int64)[:, None] * step
    found = np.searchsorted((cum + shift).ravel(), rel + row * step, side="right")
    return found - row * cum.shape[1]


def _locate(w: _Window, hist: pd.DataFrame, counts: np.ndarray, t_rep: np.ndarray, out: np.ndarray):
    """One window's histogram (its rows of :meth:`Engine.histogram`): the targets that fall in a
    one-value bin get that value (in ``out``); the others' bins, in runs of consecutive bins, are
    returned as narrower windows."""
    if int(hist["n"].sum()) != w.rows:
        raise RuntimeError(f"quantiles: the engine's histogram counts {int(hist['n'].sum())} rows in a window "
                           f"of {w.rows}")
    present, j_of = np.unique(hist["bin"].to_numpy(), return_inverse=True)
    H = np.zeros((counts.shape[1], len(present)), dtype=np.int64)
    np.add.at(H, (hist["cell"].to_numpy(), j_of), hist["n"].to_numpy(dtype=np.int64))
    bmin, bmax = np.full(len(present), np.inf), np.full(len(present), -np.inf)
    np.minimum.at(bmin, j_of, hist["vmin"].to_numpy(dtype=float))
    np.maximum.at(bmax, j_of, hist["vmax"].to_numpy(dtype=float))
    reps, row = np.unique(t_rep[w.idx], return_inverse=True)
    cum = np.cumsum(counts[reps] @ H, axis=1)  # each replicate's weighted rows up to each bin
    j = _search_rows(cum, row, w.rel)
    atom = bmin[j] == bmax[j]
    out[w.idx[atom]] = bmin[j[atom]]
    needed = np.unique(j[~atom])
    rows = H.sum(axis=0)
    for run in np.split(needed, np.flatnonzero(np.diff(needed) != 1) + 1) if len(needed) else []:
        first, last = int(run[0]), int(run[-1])
        sel = ~atom & (j >= first) & (j <= last)
        below = cum[row[sel], first - 1] if first > 0 else 0
        yield _Window(w.level, float(bmin[first]), float(bmax[last]), int(rows[first:last + 1].sum()),
                      w.idx[sel], w.rel[sel] - below)


def _finish(engine: Engine, prepared: Prepared, value: Expr, level: np.ndarray, cluster: np.ndarray,
            counts: np.ndarray, fetch: list[_Window], t_rep: np.ndarray, out: np.ndarray) -> None:
    """Fetch the rows of the windows ``fetch`` (one engine pass) and give each of their targets the
    value of its rank among the window's sorted values, weighted by its replicate (in ``out``)."""
    frame = pd.DataFrame({"win": np.arange(len(fetch)), "key": [w.level for w in fetch],
                          "lo": [w.lo for w in fetch], "hi": [w.hi for w in fetch]})
    got = engine.window_values(prepared, value, level, frame)
    by_win = dict(tuple(got.groupby("win")))
    for i, w in enumerate(fetch):
        part = by_win.get(i, got.iloc[:0])
        if len(part) != w.rows:
            raise RuntimeError(f"quantiles: the engine returned {len(part)} rows of a window of {w.rows}")
        v = part["value"].to_numpy(dtype=float)
        order = np.argsort(v, kind="stable")
        v, cl = v[order], cluster[part["gid"].to_numpy()[order]]
        reps, row = np.unique(t_rep[w.idx], return_inverse=True)
        chunk = max(1, _CUM_CELLS // max(len(v), 1))
        for s in range(0, len(reps), chunk):  # replicates in chunks: bounded cumulative-weight matrices
            sel = (row >= s) & (row < s + chunk)
            cum = np.cumsum(counts[reps[s:s + chunk]][:, cl], axis=1)
            out[w.idx[sel]] = v[_search_rows(cum, row[sel] - s, w.rel[sel])]
