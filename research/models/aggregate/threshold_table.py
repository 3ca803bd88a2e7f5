"""The tolerance thresholds through an engine (issue 15): :func:`thresholds_on` gives the tables of
:func:`research.models.thresholds.tolerance_thresholds` (``thresholds``, ``curves``,
``spline_estimates``, ``notes``) from sums, counts and quantiles an engine computes where the data
live, so a dataset too large for memory gets its thresholds too.

What is computed how, and where the engine route changes a number:

- **Knots, reference and upper hours**: exact quantiles through the engine
  (:mod:`research.models.aggregate.quantiles`), as ``np.quantile`` on the rows.
- **Spline logit**: :func:`research.models.aggregate.thresholds.spline_cells` and the logit from
  sums (:func:`research.models.aggregate.families.fit_logit`): the row path's maximum to 1e-9.
- **Curves and point thresholds**: a group's curve averages the predicted P(satisfied) of its
  tickets with every ticket's hours set to each grid hour; a ticket's prediction then depends only on
  its cell (sub-cause, channel, ...), so the average is over the cells with their row counts (the
  row path averages over the distinct linear predictors with their counts: the same mean).
- **Change points and slope per doubling**: :func:`research.models.aggregate.changepoint.group_shapes_on`
  (batched logits from sums; groups small enough for the calibration from their rows).
- **Small data**: with at most :data:`EXACT_ROWS` complete rows (the committed sample has 19,304)
  the rows of the thresholds' variables are fetched through the engine and the row path runs on
  them, so nothing below changes anything: the same tables as ``research fit --data``.
- **Bootstrap replicates (the one change, above EXACT_ROWS)**: the same station draws as the row path (the plan's
  seed, stations in the row path's order), each replicate's reference and upper hours re-estimated
  exactly (weighted quantiles through the engine), but each replicate's coefficients are the
  **one-step** estimate from per-station totals (:func:`research.models.aggregate.thresholds.one_step_replicates`;
  Andrews 2002, *Econometrica* 70:119-162), not iterated to the replicate's own maximum as
  :class:`research.models.threshold_bootstrap.StationRefits` does on the rows: that needs each
  replicate's score at its own coefficients, a pass over every row per replicate and step. The
  point thresholds, curves and change points do not change; the interval ends and bands do, by less
  than the bootstrap's own Monte Carlo error. On 1,000,000 rows (200 replicates) the one-step
  replicates moved an end by 0.9-3.6% of the interval's width (by cause group) and the bands by at
  most 0.0014, while the exact bootstrap with another seed moved the ends by 3.7-16.4% and the bands
  by 0.0060-0.0072 (three other seeds; every group 3-5 times more than the one-step change:
  ``benchmarks/results/thresholds_one_step_1m.json``, written by
  ``benchmarks/bench_aggregate_rows.py --thresholds --seeds 3``). On the 20,000-row sample the
  one-step change is larger (up to 15% of a width): there the row path, exact, is the published
  one. The ``method`` column says which was used.
  Replicate curves average over all of a group's tickets (the row path: a fixed subsample of at most
  :data:`research.models.threshold_bootstrap.BOOT_CURVE_ROWS`; the same on the committed sample).
  A replicate whose drawn information is not positive definite (the row path refits it by Newton's
  method on its rows) is counted as failed, with a note.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.special import expit

from research.config.instrument import Instrument
from research.config.plan import MAX_BOOTSTRAP_REPS, SEED_MAX, Plan
from research.engines.base import Engine, Source, column_name
from research.engines.expr import col, fn
from research.errors import InputError, NotEstimable, check_whole
from research.models.threshold_curves import CURVE_POINTS, hour_grid, threshold_from_curve

#: at most this many complete rows, the rows themselves are fetched through the engine and the row
#: path runs on them (exact replicates, as research.strategy's lever bootstrap below 200,000 rows)
EXACT_ROWS = 200_000
#: appended to the row path's method text (research.models.thresholds._method)
ONE_STEP = ("; replicates' coefficients one-step from per-station totals (Andrews 2002), computed by the "
            "{engine} engine")


def thresholds_on(engine: Engine, source: Source, *, plan: Plan, instrument: Instrument,
                  progress: Callable[[str], None] | None = None, exact_rows: int = EXACT_ROWS) -> dict:
    """:func:`research.models.thresholds.tolerance_thresholds` through ``engine`` on ``source``.

    Returns the same dict (``thresholds``, ``curves``, ``spline_estimates``, ``notes``); see the
    module docstring for what changes. With at most ``exact_rows`` complete rows, the thresholds'
    columns of those rows are fetched through the engine (:meth:`Engine.level_rows`, in the
    dataset's order) and the row path runs on them: the same numbers as ``research fit --data``,
    exact replicates included (a note says so). Raises as the row path (NotEstimable, InputError)."""
    from research.models.aggregate.families import fit_logit
    from research.models.aggregate.thresholds import one_step_replicates, spline_cells, station_pieces
    from research.models.thresholds import _method, threshold_tables

    say = progress or (lambda message: None)
    spec = plan.thresholds
    if spec is None:
        raise ValueError("the plan has no thresholds section")
    reps = check_whole(spec.bootstrap_reps, "bootstrap reps", low=0, high=MAX_BOOTSTRAP_REPS, where="thresholds")
    check_whole(spec.bootstrap_seed, "bootstrap seed", low=0, high=SEED_MAX, where="thresholds")
    prep, levels, group_of_gid, clusters, cluster_of_gid = _prepared(engine, source, plan, instrument)
    if prep.n_rows <= exact_rows:
        return _on_rows(engine, source, plan, instrument, prep.n_rows, exact_rows, progress)
    notes = []
    if reps and len(clusters) < 2:
        notes.append(f"no bootstrap intervals: a cluster bootstrap by {spec.bootstrap_cluster} needs at least "
                     f"2 of them, the data have {len(clusters)}")
        reps = 0
    knots, bounds = _knots(engine, prep, levels, group_of_gid, spec, notes)
    hours_q = _quantiles(engine, prep, col("h"), group_of_gid, len(levels), [spec.reference_quantile,
                                                                            spec.upper_quantile])
    grids = {g: hour_grid(*hours_q[i], spec.max_hours) for i, g in enumerate(levels)}
    cells, names, labels = spline_cells(engine, source, plan=plan, instrument=instrument, knots=knots)
    fit = fit_logit(cells, "none", tol=1e-12)
    if not np.isfinite(fit["params"]).all():
        raise NotEstimable("thresholds: the spline logit gives non-finite estimates")
    if not fit["stats"]["converged"]:
        raise NotEstimable("thresholds: the spline logit did not converge (separation)")
    beta = fit["params"]
    if _separated(cells, beta):
        notes.append("the spline logit shows (quasi-)separation: a cause group or sub-cause with very few "
                     "rows may have a curve drifting to 0 or 1")
    say(f"thresholds: spline logit from sums by {engine.name}")
    parts = _curve_parts(cells, knots, levels)
    curves = {g: _curve(parts[g], beta, grids[g]) for g in levels}
    drop = spec.drop_points / 100
    point = {g: threshold_from_curve(grids[g], curves[g], drop) for g in levels}
    from research.models.aggregate.changepoint import group_shapes_on

    shapes = group_shapes_on(engine, source, plan=plan, instrument=instrument, bounds=bounds)
    say("thresholds: change points from sums")
    boot_t, boot_c, failed = _bootstrap(engine, prep, cells, labels, clusters, cluster_of_gid, group_of_gid,
                                        levels, parts, grids, beta, spec, reps, drop,
                                        pieces=lambda: station_pieces(cells, beta), one_step=one_step_replicates)
    if failed.any():
        notes.append(f"thresholds: {int(failed.sum())} bootstrap replicate(s) without a positive definite "
                     "information in their drawn stations were left out (the row path refits them on the rows)")
    say(f"thresholds: {reps} one-step bootstrap replicates")
    return threshold_tables(groups={g: parts[g][0].sum() for g in levels}, grids=grids, curves=curves,
                            point=point, shapes=shapes, boot=(boot_t, boot_c, failed), knots=knots, spec=spec,
                            conf=plan.conf_level, reps=reps, method=_method(spec, reps) + ONE_STEP.format(
                                engine=engine.name), names=names, beta=beta, notes=notes)


def _on_rows(engine: Engine, source: Source, plan: Plan, instrument: Instrument, n: int, bound: int,
             progress) -> dict:
    """The row path on the complete rows of the thresholds' variables, fetched through ``engine``."""
    from research.models.aggregate.thresholds import _variables
    from research.models.thresholds import tolerance_thresholds

    rows, _ = engine.level_rows(source, _variables(plan.thresholds), "cause_l1", None)
    out = tolerance_thresholds(rows, plan=plan, instrument=instrument, progress=progress)
    out["notes"] = [*out["notes"], f"thresholds: {n:,} complete rows (at most {bound:,}) fetched through the "
                    f"{engine.name} engine; computed on the rows, with exact bootstrap replicates"]
    return out


def _prepared(engine: Engine, source: Source, plan: Plan, instrument: Instrument):
    """The complete cases of the thresholds' variables as groups, with ``z`` and the hours per row;
    the cause groups in the row path's order, each group's code by ``gid``, the clusters in the row
    path's order (its category codes index the bootstrap draws) and each group's cluster code."""
    from research.models.aggregate.thresholds import _variables
    from research.models.design import category_order
    from research.models.fit import MIN_ROWS

    spec = plan.thresholds
    variables = _variables(spec)
    keys = tuple(v for v in variables if v != "handling_hours")
    hours = col(column_name("handling_hours"))
    prep = engine.prepare(source, keys, {"z": fn("log2", 1 + hours), "h": hours}, ("handling_hours",))
    groups = prep.groups
    n = int(groups["n"].sum())
    if n < MIN_ROWS:
        raise NotEstimable(f"thresholds: only {n} complete rows; at least {MIN_ROWS} are needed")
    if groups["satisfied"].nunique() < 2:
        raise NotEstimable(f"thresholds: satisfied takes a single value in the {n:,} complete rows: "
                           "there is no curve to estimate")
    levels = _ordered("cause_l1", groups["cause_l1"].astype(str), plan, instrument, category_order)
    clusters = _ordered(spec.bootstrap_cluster, groups[spec.bootstrap_cluster].astype(str), plan, instrument,
                        category_order)
    group_of_gid = pd.Categorical(groups["cause_l1"].astype(str), categories=levels).codes.astype(np.intp)
    cluster_of_gid = pd.Categorical(groups[spec.bootstrap_cluster].astype(str),
                                    categories=clusters).codes.astype(np.intp)
    return prep, levels, group_of_gid, clusters, cluster_of_gid


def _ordered(variable: str, values: pd.Series, plan: Plan, instrument: Instrument, category_order) -> list[str]:
    """The levels of ``variable`` in the order :func:`research.models.design.model_frame` gives them
    (instrument order or sorted, the plan's reference level first when it has rows)."""
    levels = category_order(variable, instrument, values)
    ref = plan.reference_levels.get(variable)
    return [ref, *[v for v in levels if v != ref]] if ref in levels else levels


def _quantiles(engine: Engine, prep, value, group_of_gid: np.ndarray, n_levels: int, qs) -> np.ndarray:
    """(n_levels, len(qs)) quantiles of ``value`` per level (np.quantile's)."""
    from research.models.aggregate.quantiles import group_quantiles

    return np.asarray(group_quantiles(engine, prep, value, group_of_gid, np.asarray(qs, dtype=float)))


def _knots(engine: Engine, prep, levels: list[str], group_of_gid: np.ndarray, spec, notes: list) -> tuple:
    """Each cause group's knots on ``z`` (its own quantiles; the pooled ones, with a note, when its
    own coincide), as :func:`research.models.thresholds._spline_design` and ``_group_knots``; and,
    from the same quantile passes, each group's ``reference_quantile`` and ``upper_quantile`` of
    ``z`` (the change points' breakpoint range, ``group_shapes_on``'s ``bounds``)."""
    qs = spec.knots_quantiles
    pooled = _quantiles(engine, prep, col("z"), np.zeros_like(group_of_gid), 1, qs)[0]
    if np.any(np.diff(pooled) <= 0):
        raise NotEstimable(f"thresholds: the spline knots (quantiles {list(qs)} of "
                           "log2(1 + handling_hours)) are not distinct: too many equal handling times")
    both = _quantiles(engine, prep, col("z"), group_of_gid, len(levels),
                      [*qs, spec.reference_quantile, spec.upper_quantile])
    own, ends = both[:, :len(qs)], both[:, len(qs):]
    bounds = {g: (float(ends[i, 0]), float(ends[i, 1])) for i, g in enumerate(levels)}
    knots = {}
    for i, g in enumerate(levels):
        k = own[i]
        if np.any(np.diff(k) <= 0):
            notes.append(f"thresholds: the knots of cause group {g} (its own quantiles {list(qs)}) are "
                         "not distinct; the pooled knots are used for it")
            k = pooled
        knots[g] = k
    return knots, bounds


def _separated(cells, beta: np.ndarray) -> bool:
    """statsmodels' test of (quasi-)separation, as the row path's: every fitted probability within
    1e-8 of its answer (one engine pass for the largest distance)."""
    from research.models.aggregate.algebra import basis_coefficients, eta

    p = fn("expit", eta(cells.M))
    far = cells.engine.extremes(cells.prepared, {"d": fn("abs", col("y") - p)},
                                basis_coefficients(cells.C, beta, cells.gid, y=cells.y))
    return bool(far["d_max"].max() < 1e-8)


def _curve_parts(cells, knots: dict, levels: list[str]) -> dict:
    """Per cause group: its cells' row counts, their design (G_g, p, M) and the basis functions at
    any hours (a function of an hours array giving (len, M)). InputError when a group's time
    columns vary across its cells (time terms by anything but cause_l1), as the row path."""
    from research.models.aggregate.thresholds import basis_values

    values = basis_values(knots)
    groups = cells.prepared.groups
    cause = groups["cause_l1"].astype(str).to_numpy()
    name = column_name("handling_hours")

    def basis(hours: np.ndarray) -> np.ndarray:
        cols = {name: np.asarray(hours, dtype=float)}
        return np.column_stack([np.ones(len(hours)), *[np.broadcast_to(values[f"g{m}"].numpy(cols), len(hours))
                                                        for m in range(1, cells.M)]])

    out = {}
    for g in levels:
        rows = np.flatnonzero(cause == g)
        C = cells.C[rows]
        if len(C) and not np.allclose(C[:, :, 1:], C[:1, :, 1:], rtol=0, atol=0):
            raise InputError("analysis plan: thresholds.rhs: the time terms of the formula may only involve cause_l1")
        out[g] = (cells.n_g[rows], C, basis)
    return out


def _curve(part, beta: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Average predicted P(satisfied) of the group's tickets at each of ``hours``: over its cells
    with their row counts (:func:`research.models.threshold_curves.group_curves`' mean)."""
    n, C, basis = part
    a = np.einsum("gjm,j->gm", C, beta)  # each cell's coefficient of each basis function
    rest, slope = a[:, 0], a[0, 1:]  # the time part is the same for every cell of the group
    add = basis(hours)[:, 1:] @ slope
    u, inverse = np.unique(rest, return_inverse=True)
    count = np.bincount(inverse, weights=n, minlength=len(u))
    return (expit(u[None, :] + add[:, None]) @ count) / count.sum()


def _bootstrap(engine: Engine, prep, cells, labels, clusters: list[str], cluster_of_gid, group_of_gid,
               levels: list[str], parts: dict, grids: dict, beta: np.ndarray, spec, reps: int, drop: float,
               *, pieces, one_step) -> tuple[dict, dict, np.ndarray]:
    """The row path's cluster bootstrap (:func:`research.models.threshold_bootstrap._bootstrap`: the
    same draws, replicate hours, curves and thresholds) with one-step replicate coefficients."""
    from research.models.aggregate.quantiles import replicate_quantiles

    n_cl = len(clusters)
    rng = np.random.default_rng(spec.bootstrap_seed)
    counts = np.stack([np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl) for _ in range(reps)]) \
        if reps else np.zeros((0, n_cl), dtype=int)
    boot_t = {g: np.full(reps, np.nan) for g in levels}
    boot_c = {g: np.full((reps, CURVE_POINTS), np.nan) for g in levels}
    failed = np.zeros(reps, dtype=bool)
    if not reps:
        return boot_t, boot_c, failed
    score, info = pieces()
    at = {str(c): i for i, c in enumerate(labels)}  # the cells' cluster codes -> the row path's order
    order = np.array([at[c] for c in clusters])
    betas = one_step(beta, score[order], info[order], counts)
    failed = np.isnan(betas).any(axis=1)
    hours = replicate_quantiles(engine, prep, col("h"), group_of_gid, cluster_of_gid, counts,
                                np.array([spec.reference_quantile, spec.upper_quantile]))
    for i, g in enumerate(levels):
        for b in np.flatnonzero(~failed):
            boot_c[g][b] = _curve(parts[g], betas[b], grids[g])
            lo, hi = hours[i, b]
            if np.isfinite(lo) and lo > 0:
                grid = hour_grid(lo, hi, spec.max_hours)
                boot_t[g][b] = threshold_from_curve(grid, _curve(parts[g], betas[b], grid), drop)
    return boot_t, boot_c, failed
