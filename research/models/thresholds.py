"""Tolerance thresholds: how long handling can take before satisfaction falls.

A logit of ``satisfied`` with a flexible handling-time curve per cause group
(restricted cubic splines in ``log2(1 + hours)``, knots at fixed quantiles of
the data) gives, for each cause group, the average predicted satisfied rate
of its tickets as a function of handling time. The **threshold** is the
handling time at which that curve first falls more than ``drop_points``
percentage points below its value at fast handling; it is found on a fine
log-spaced grid and interpolated linearly in log hours. "Fast handling" is
the group's own ``reference_quantile`` of handling time and the curve stops at
its ``upper_quantile`` (capped at ``max_hours``): a group whose complaints
never close within an hour is not extrapolated to one. If the curve never
falls that far within that range, the threshold is "not reached" (NaN,
``reached = False``).

The 5-point drop is a **convention**, not a change point: a smooth
(log-linear) curve crosses it too. So each cause group is also asked whether
a change point exists at all (:mod:`research.stats.changepoint`: Davies'
test of a slope change in ``log2(1 + hours)``, as R ``segmented::davies.test``).
``shape`` is ``threshold`` when it is detected at the plan's level (the
breakpoint is then reported with its profile-likelihood interval),
``gradual`` otherwise (the finding is "satisfaction falls gradually; no
threshold", with the slope per doubling of handling time), and
``insufficient_data`` for a group with fewer than ``min_tickets`` tickets or
``min_dissatisfied`` dissatisfied answers (its threshold and interval are
left empty rather than narrow and wrong).

Spline knots are each cause group's own quantiles of ``log2(1 + hours)``
(pooled knots put a small, slow group's curve on knots outside its data).

Uncertainty: a cluster bootstrap by station (stations drawn with
replacement; each refit is a frequency-weighted logit warm-started at the
full-sample estimate), seeded from the plan; percentile intervals for the
thresholds and pointwise bands for the curves. Each replicate re-estimates
the group's reference and upper handling times (weighted quantiles of the
resampled tickets) as well as the curve, so the threshold's interval carries
the uncertainty of "fast handling" too. Replicate curves average over
at most ``BOOT_CURVE_ROWS`` tickets per group (a fixed seeded subsample; all
of them in smaller samples). Replicates where the threshold
is not reached count as +infinity, so an upper limit can be "not reached" too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from research.errors import InputError, NotEstimable, check_whole
from research.config.instrument import Instrument
from research.models.design import Design, build_design, formula_context, model_frame
from research.config.plan import MAX_BOOTSTRAP_REPS, SEED_MAX, Plan
# the curves and the bootstrap are modules of their own; their names stay importable from here
from research.models.threshold_bootstrap import (ANDERSON_DEPTH, BOOT_CURVE_ROWS, CHORD_MAX_ITER,  # noqa: F401
                                                 CHORD_MAX_MOVE, CHORD_NEWTON_TOL, CHORD_TOL, SCORE_BLOCK,
                                                 BootstrapFailure, StationRefits, _bootstrap,
                                                 weighted_logit_newton)
from research.models.threshold_curves import (CURVE_POINTS, _curve_shifts, curve_patterns,  # noqa: F401
                                              group_curves, hour_grid, threshold_from_curve, weighted_quantile)


def _logit_fit(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, bool]:
    """Full-sample spline logit: :func:`research.stats.logit.fit_logit` from R ``glm``'s start.

    The same maximum-likelihood estimate as statsmodels' ``GLM(y, X, Binomial()).fit(method="IRLS",
    tol=1e-12)``, which this replaced (tests/models/test_thresholds.py compares them): statsmodels solves
    each weighted least-squares step by the pseudo-inverse of the whole weighted design (an SVD of
    an n x p matrix and several n x p copies: 1.5 GB and 6 s on 250,000 rows), where a Newton step
    needs one pass of ``X' diag(w) X`` in row blocks. Starts, like IRLS, from ``mu = (y + 1/2) / 2``
    and stops after a step below 1e-10 relative to ``1 + |b|`` (quadratic convergence: what is
    left is rounding); Cholesky solves; at most 100 steps.

    Returns the coefficients and whether the fit shows (quasi-)separation (statsmodels' test:
    every fitted probability within 1e-8 of its answer). NotEstimable when the fit has no finite
    solution or the information matrix is singular.
    """
    from scipy import linalg

    from research.stats.logit import fit_logit

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            fit = fit_logit(X, np.asarray(y, dtype=float), start="glm", tol=1e-10, relative=True,
                            max_iter=100, information=False)
        except (linalg.LinAlgError, ValueError):
            raise NotEstimable("thresholds: the spline logit's information matrix is singular") from None
    if not np.isfinite(fit.params).all():
        raise NotEstimable("thresholds: the spline logit gives non-finite estimates")
    if not fit.converged:
        raise NotEstimable("thresholds: the spline logit did not converge (separation)")
    return fit.params, fit.separated


def tolerance_thresholds(responses: pd.DataFrame, *, plan: Plan, instrument: Instrument,
                         progress: Callable[[str], None] | None = None) -> dict:
    """Spline curves of the satisfied rate against handling time, and thresholds per cause group.

    Parameters
    ----------
    responses : canonical responses.
    plan : its ``thresholds`` section (formula, knots, drop, bootstrap) is used.
    progress : called with a message every 20 bootstrap replicates.

    Returns
    -------
    ``{"thresholds": ..., "curves": ..., "spline_estimates": ...}``:

    - thresholds: ``cause_l1, threshold_hours, conf_low, conf_high, conf_level,
      reached, upper_reached, reference_hours, max_hours, reference_rate, drop_points,
      boot_reps, boot_not_reached, boot_failed, n, method`` (failed replicates, whose refit
      did not converge, are left out of the intervals and counted) (hours; rates as proportions);
    - curves: ``cause_l1, hours, estimate, conf_low, conf_high, conf_level``
      (average predicted P(satisfied) of the group's tickets);
    - spline_estimates: the spline logit's coefficients (term, estimate);
    - notes: list of what had to be adapted (a bootstrap left out for want of clusters).

    Raises
    ------
    NotEstimable
        (an InputError) Too few complete rows, ``satisfied`` taking one value, knots
        that are not distinct, a singular or non-finite spline logit.
    InputError
        Bootstrap replicates or seed out of bounds; time terms not by cause_l1.
    """
    spec = plan.thresholds
    if spec is None:
        raise ValueError("the plan has no thresholds section")
    frame, reps, notes = _threshold_frame(responses, plan, instrument)
    design, lh, groups, designs, group_knots = _spline_design(frame, spec, notes)
    y = frame["satisfied"].to_numpy()
    beta, separated = _logit_fit(design.X, y)
    if separated:
        notes.append("the spline logit shows (quasi-)separation: a cause group or sub-cause with very few "
                     "rows may have a curve drifting to 0 or 1")
    raw_hours = frame["handling_hours"].to_numpy()
    grids = {g: hour_grid(*np.quantile(raw_hours[rows], [spec.reference_quantile, spec.upper_quantile]),
                          spec.max_hours) for g, rows in groups.items()}
    shifts = {g: _curve_shifts(designs[g], frame, rows, grids[g]) for g, rows in groups.items()}
    if any(s is None for s in shifts.values()):
        raise InputError("analysis plan: thresholds.rhs: the time terms of the formula may only involve cause_l1")
    drop = spec.drop_points / 100
    curves = group_curves(design, beta, groups, shifts)
    point = {g: threshold_from_curve(grids[g], c, drop) for g, c in curves.items()}
    shapes = {g: group_shape(design, frame, rows, y, lh, spec, plan.conf_level) for g, rows in groups.items()}
    boot_t, boot_c, failed = _one_thread_bootstrap(design, y, beta, frame, spec, groups, designs, grids, drop,
                                                   reps, progress)
    return threshold_tables(groups={g: len(rows) for g, rows in groups.items()}, grids=grids, curves=curves,
                            point=point, shapes=shapes, boot=(boot_t, boot_c, failed), knots=group_knots,
                            spec=spec, conf=plan.conf_level, reps=reps, method=_method(spec, reps),
                            names=design.names, beta=beta, notes=notes)


def threshold_tables(*, groups: dict[str, int], grids, curves, point, shapes, boot, knots, spec, conf: float,
                     reps: int, method: str, names, beta, notes: list) -> dict:
    """:func:`tolerance_thresholds`' return value from its pieces, per cause group (``groups``: its
    tickets): grid, curve, point threshold, shape columns, the bootstrap's ``(thresholds, curves,
    failed)`` and knots (log2(1 + hours)); the engine route (research.models.aggregate.threshold_table)
    builds the same tables from its own pieces."""
    boot_t, boot_c, failed = boot
    rows_t, rows_c = [], []
    for g, n in groups.items():
        lo, hi = _percentile_interval(boot_t[g], failed, grids[g][-1], conf)
        sh = shapes[g]
        enough = sh["shape"] != "insufficient_data"
        th_point = point[g] if enough else np.nan
        rows_t.append({
            "cause_l1": g, "threshold_hours": th_point,
            "conf_low": float(lo) if np.isfinite(lo) and enough else np.nan,
            "conf_high": float(hi) if np.isfinite(hi) and enough else np.nan, "conf_level": conf,
            "reached": bool(np.isfinite(th_point)), "upper_reached": bool(np.isfinite(hi) and enough),
            "reference_hours": float(grids[g][0]), "max_hours": float(grids[g][-1]),
            "reference_rate": float(curves[g][0]),
            "drop_points": spec.drop_points, "boot_reps": reps,
            "boot_not_reached": int(np.isnan(boot_t[g][~failed]).sum()), "boot_failed": int(failed.sum()),
            "n": int(n),
            **sh,
            "knots_hours": "; ".join(f"{2 ** k - 1:.4g}" for k in knots[g]),
            "method": method,
        })
        rows_c += _curve_rows(g, grids[g], curves[g], boot_c[g], failed, conf)
    est = pd.DataFrame({"term": names, "estimate": beta})
    return {"thresholds": pd.DataFrame(rows_t), "curves": pd.DataFrame(rows_c), "spline_estimates": est,
            "notes": notes}


def _percentile_interval(boot_t: np.ndarray, failed: np.ndarray, max_hours: float,
                         conf: float) -> tuple[float, float]:
    """Percentile interval of a group's replicate thresholds (hours), failed replicates left out; a
    replicate where the threshold is not reached (NaN) ranks above every reached one, and an end
    beyond ``max_hours`` is +inf (not reached)."""
    lo_q, hi_q = 100 * (1 - conf) / 2, 100 * (1 + conf) / 2
    ok = ~failed
    t = np.where(np.isnan(boot_t[ok]), np.finfo(float).max, boot_t[ok])
    lo, hi = np.percentile(t, [lo_q, hi_q]) if ok.any() else (np.nan, np.nan)
    lo, hi = (np.inf if v > max_hours else v for v in (lo, hi))
    return lo, hi


def _curve_rows(g: str, grid: np.ndarray, curve: np.ndarray, boot_c: np.ndarray, failed: np.ndarray,
                conf: float) -> list[dict]:
    """threshold_curves.csv rows of group ``g``: the curve at each grid hour with its pointwise
    percentile band over the replicates that did not fail (NaN when none)."""
    lo_q, hi_q = 100 * (1 - conf) / 2, 100 * (1 + conf) / 2
    band = (np.percentile(boot_c[~failed], [lo_q, hi_q], axis=0) if (~failed).any()
            else np.full((2, CURVE_POINTS), np.nan))
    return [{"cause_l1": g, "hours": float(h), "estimate": float(curve[j]),
             "conf_low": float(band[0, j]), "conf_high": float(band[1, j]), "conf_level": conf}
            for j, h in enumerate(grid)]


def _threshold_frame(responses: pd.DataFrame, plan: Plan, instrument: Instrument) -> tuple[pd.DataFrame, int, list]:
    """The complete rows of the thresholds' variables, the bootstrap replicates to draw (0 when
    there are fewer than 2 clusters, with a note) and the notes so far. InputError when the plan's
    replicates or seed are out of bounds; NotEstimable when the rows cannot support the logit."""
    spec = plan.thresholds
    reps = check_whole(spec.bootstrap_reps, "bootstrap reps", low=0, high=MAX_BOOTSTRAP_REPS, where="thresholds")
    check_whole(spec.bootstrap_seed, "bootstrap seed", low=0, high=SEED_MAX, where="thresholds")
    variables = tuple(dict.fromkeys(["satisfied", "cause_l1", "cause_l2", "handling_hours", "channel",
                                     *(["repeat"] if "repeat" in _rhs_variables(spec.rhs) else []),
                                     spec.bootstrap_cluster]))
    frame, _ = model_frame(responses, variables, reference_levels=plan.reference_levels,
                           instrument=instrument)
    _check_estimable(frame)
    notes = []
    if reps and frame[spec.bootstrap_cluster].nunique() < 2:
        notes.append(f"no bootstrap intervals: a cluster bootstrap by {spec.bootstrap_cluster} needs at least "
                     f"2 of them, the data have {frame[spec.bootstrap_cluster].nunique()}")
        reps = 0
    return frame, reps, notes


def _spline_design(frame: pd.DataFrame, spec, notes: list) -> tuple:
    """The spline logit's design with each cause group's own knots: ``(design, lh, groups, designs,
    group_knots)``, ``lh`` = log2(1 + hours) of every row, ``groups`` the rows of each cause group,
    ``designs`` and ``group_knots`` as :func:`_group_knots` gives them. NotEstimable when the
    pooled knots are not distinct or the design is rank-deficient."""
    lh = np.log2(1 + frame["handling_hours"].to_numpy())
    knots = np.quantile(lh, spec.knots_quantiles)
    if np.any(np.diff(knots) <= 0):
        raise NotEstimable(f"thresholds: the spline knots (quantiles {list(spec.knots_quantiles)} of "
                           "log2(1 + handling_hours)) are not distinct: too many equal handling times")
    try:
        design = build_design(frame, spec.rhs, intercept=True, context=formula_context(knots))
    except NotEstimable as exc:  # a rank-deficient design: the data's doing
        raise NotEstimable(f"thresholds: {exc}") from None
    l1 = frame["cause_l1"].astype(str).to_numpy()
    groups = {g: np.flatnonzero(l1 == g) for g in frame["cause_l1"].cat.categories if (l1 == g).any()}
    designs, group_knots = _group_knots(design, frame, groups, lh, spec.knots_quantiles, knots, notes)
    return design, lh, groups, designs, group_knots


def _one_thread_bootstrap(design, y, beta, frame, spec, groups, designs, grids, drop, reps, progress):
    """:func:`research.models.threshold_bootstrap._bootstrap` with one BLAS thread below 200,000 rows."""
    from threadpoolctl import threadpool_limits

    # Small cross-products run slower with several BLAS threads competing for 2 cores
    # (measured: 20 replicates 6-8 s with threads vs 0.24 s with one on the 20,000-row sample).
    limit = threadpool_limits(limits=1, user_api="blas") if len(y) < 200_000 else None
    try:
        return _bootstrap(design, y, beta, frame, spec, groups, designs, grids, drop, reps, progress)
    finally:
        if limit is not None:
            limit.restore_original_limits()


def _method(spec, reps: int) -> str:
    """The ``method`` column of thresholds.csv: how the curve, threshold, interval and change point
    were obtained."""
    return (f"logit of satisfied, restricted cubic spline in log2(1 + hours) per cause group "
            f"(knots at the group's own quantiles {list(spec.knots_quantiles)}); threshold = first "
            f"time {spec.drop_points:g} points below the rate at the group's "
            f"{spec.reference_quantile:g} quantile of hours (a convention, not a change point); "
            f"cluster bootstrap by {spec.bootstrap_cluster}, {reps} replicates, seed "
            f"{spec.bootstrap_seed}, reference and upper hours re-estimated in each; percentile. "
            f"Change point: Davies' test (segmented::davies.test, LRT, "
            f"{spec.change_point_points} breakpoints) of a slope change and of a step in "
            "log2(1 + hours) against the log-linear logit within the group (Bonferroni over the "
            f"two), level {spec.change_point_alpha:g}; breakpoint by profile likelihood of the "
            "better-fitting kind, interval the hull of both kinds' profile intervals, critical "
            f"values from a parametric bootstrap ({spec.change_point_calibration_reps} replicates; "
            f"above {spec.change_point_calibration_max_n:,} tickets chi-square(1) and Hansen's "
            "for a step); slope per doubling: average "
            "change in percentage points, CR1 by "
            f"{spec.bootstrap_cluster}, t(G - 1)")


def _group_knots(design: Design, frame: pd.DataFrame, groups: dict[str, np.ndarray], lh: np.ndarray,
                 quantiles, pooled: np.ndarray, notes: list) -> tuple[dict, dict]:
    """Put each group's own spline knots into the time columns of ``design.X`` (in place).

    The time columns of the plan's formula are interactions with ``cause_l1`` (checked by
    :func:`_curve_shifts`), so a row of group g has non-zero time columns only for g: evaluating
    them on g's rows with g's knots gives the per-group-knot design. Returns each group's
    :class:`Design` (for counterfactual rebuilds with its knots) and its knots (log2(1 + h)).
    A group whose own quantiles coincide (too many equal handling times) keeps the pooled knots,
    with a note."""
    from dataclasses import replace

    time = bool(design.columns_using({"handling_hours"}))
    designs, knots = {}, {}
    for g, rows in groups.items():
        k = np.quantile(lh[rows], quantiles)
        if np.any(np.diff(k) <= 0):
            notes.append(f"thresholds: the knots of cause group {g} (its own quantiles {list(quantiles)}) are "
                         "not distinct; the pooled knots are used for it")
            k = pooled
        knots[g] = k
        designs[g] = replace(design, context=formula_context(k))
        if time:
            idx, new = designs[g].rebuild(frame.iloc[rows], {"handling_hours"})
            design.X[np.ix_(rows, idx)] = new
    return designs, knots


#: how thresholds.csv names the alternative that fitted better (change_point_kind)
CHANGE_KIND = {"hinge": "slope_change", "step": "step"}


def group_shape(design: Design, frame: pd.DataFrame, rows: np.ndarray, y: np.ndarray, lh: np.ndarray,
                spec, conf_level: float) -> dict:
    """One cause group: enough data? a change point? else the slope per doubling.

    The group's own log-linear logit (its rows; the plan's non-time columns that vary within it,
    e.g. sub-cause and channel, plus ``z = log2(1 + hours)``) is the smooth null; Davies' test of a
    hinge at ``spec.change_point_points`` breakpoints from the group's ``reference_quantile`` to its
    ``upper_quantile`` of z (R ``segmented::davies.test``, type "lrt"). Returns the columns
    ``shape, n_dissatisfied, change_point_p, change_point_kind, change_point_p_slope,
    change_point_p_step, breakpoint_hours, breakpoint_low, breakpoint_high, breakpoint_cut_slope,
    breakpoint_cut_step, breakpoint_calibration_reps, slope_per_doubling, slope_low, slope_high`` (hours;
    slope in percentage points of the satisfied rate per doubling of 1 + hours; breakpoint columns
    only when ``shape`` is ``threshold``; a NaN end of the breakpoint interval means the data do not
    bound it on that side). The breakpoint interval is the hull of the slope-change and the step
    profile-likelihood sets (:func:`research.stats.changepoint.find_change_point`), whose critical
    values ``breakpoint_cut_slope`` / ``breakpoint_cut_step`` are calibrated by a parametric
    bootstrap (``change_point.calibration_reps`` replicates) for groups of at most
    ``change_point.calibration_max_n`` tickets, else chi-square(1) and Hansen's 7.35 (at 95%).
    """
    from research.stats.changepoint import full_rank_columns

    time_cols = {i for t in design.columns_using({"handling_hours"}) for i in design.columns_of_term[t]}
    other = [j for j in range(design.X.shape[1]) if j not in time_cols]
    Xo = design.X[np.ix_(rows, other)]
    Xo = Xo[:, full_rank_columns(Xo)]
    z = lh[rows]
    return shape_of_rows(np.column_stack([Xo, z]), z, y[rows], frame[spec.bootstrap_cluster].cat.codes.to_numpy()[rows],
                         int(rows[0]), spec, conf_level)


def shape_of_rows(X0: np.ndarray, z: np.ndarray, y: np.ndarray, cluster: np.ndarray, first_row: int, spec,
                  conf_level: float) -> dict:
    """:func:`group_shape` from one cause group's rows: its null design ``X0`` (the non-time columns
    of full rank, then ``z``), ``z = log2(1 + hours)``, ``y`` (0/1), cluster codes and the position
    of its first row among the complete rows (a seed of the calibration). Also the engine route's
    for groups small enough to fetch (research.models.aggregate.changepoint)."""
    from research.stats.changepoint import find_change_point, slope_per_doubling

    out = empty_shape(int((y == 0).sum()))
    if not enough_data(len(y), out["n_dissatisfied"], int((y == 1).sum()), spec):
        return out
    yy = y.astype(float)
    lo, hi = np.quantile(z, [spec.reference_quantile, spec.upper_quantile])
    if not hi > lo:
        return out
    cal = calibration_reps(len(y), spec)
    try:
        cp = find_change_point(X0, z, yy, np.linspace(lo, hi, spec.change_point_points), np.linspace(lo, hi, 60),
                               conf_level, spec.change_point_alpha, calibration_reps=cal,
                               seed=[spec.bootstrap_seed, first_row, len(y)])
        slope = slope_per_doubling(X0, X0.shape[1] - 1, yy, cluster, conf_level)
    except NotEstimable:
        return out
    return shape_columns(out, cp, slope, cal)


def empty_shape(n_dissatisfied: int) -> dict:
    """:func:`group_shape`'s columns of a group with insufficient data."""
    return {"shape": "insufficient_data", "n_dissatisfied": n_dissatisfied, "change_point_p": np.nan,
            "change_point_kind": "", "change_point_p_slope": np.nan, "change_point_p_step": np.nan,
            "breakpoint_hours": np.nan, "breakpoint_low": np.nan, "breakpoint_high": np.nan,
            "breakpoint_cut_slope": np.nan, "breakpoint_cut_step": np.nan, "breakpoint_calibration_reps": 0,
            "slope_per_doubling": np.nan, "slope_low": np.nan, "slope_high": np.nan}


def enough_data(n: int, n_dissatisfied: int, n_satisfied: int, spec) -> bool:
    """At least ``min_tickets`` tickets and ``min_dissatisfied`` answers of each kind."""
    return not (n < spec.min_tickets or n_dissatisfied < spec.min_dissatisfied or n_satisfied < spec.min_dissatisfied)


def calibration_reps(n: int, spec) -> int:
    """The parametric-bootstrap replicates of a group of ``n`` tickets (0 above the plan's bound)."""
    return spec.change_point_calibration_reps if n <= spec.change_point_calibration_max_n else 0


def shape_columns(out: dict, cp: dict, slope: dict, cal: int) -> dict:
    """``out`` (:func:`empty_shape`) filled from :func:`research.stats.changepoint.find_change_point`'s
    ``cp`` and :func:`~research.stats.changepoint.slope_per_doubling`'s ``slope``, in place."""
    out.update(change_point_p=cp["p_value"], change_point_p_slope=cp["p_slope"], change_point_p_step=cp["p_step"],
               slope_per_doubling=slope["estimate"], slope_low=slope["conf_low"], slope_high=slope["conf_high"])
    if cp["found"]:
        out.update(shape="threshold", change_point_kind=CHANGE_KIND[cp["kind"]],
                   breakpoint_hours=2 ** cp["psi"] - 1, breakpoint_low=2 ** cp["conf_low"] - 1,
                   breakpoint_high=2 ** cp["conf_high"] - 1, breakpoint_cut_slope=cp["cut_slope"],
                   breakpoint_cut_step=cp["cut_step"], breakpoint_calibration_reps=cal)
    else:
        out["shape"] = "gradual"
    return out


def _rhs_variables(rhs: str) -> set[str]:
    """Variables a thresholds formula uses (parsed, never evaluated)."""
    from research.config.formula import parse_rhs
    from research.config.plan import MODEL_FUNCTIONS, THRESHOLD_VARIABLES

    return set(parse_rhs(rhs, source="thresholds.rhs", variables=THRESHOLD_VARIABLES,
                         functions=(*MODEL_FUNCTIONS, "rcs")).variables())


def _check_estimable(frame: pd.DataFrame) -> None:
    """NotEstimable unless the complete rows can support the spline logit: at least
    :data:`research.models.fit.MIN_ROWS` of them and both values of ``satisfied``."""
    from research.models.fit import MIN_ROWS

    if len(frame) < MIN_ROWS:
        raise NotEstimable(f"thresholds: only {len(frame)} complete rows; at least {MIN_ROWS} are needed")
    if frame["satisfied"].nunique() < 2:
        raise NotEstimable(f"thresholds: satisfied takes a single value in the {len(frame):,} complete rows: "
                           "there is no curve to estimate")
