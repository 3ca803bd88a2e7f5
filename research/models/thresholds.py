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
from scipy.special import expit

from research.errors import InputError, NotEstimable, check_whole
from research.config.instrument import Instrument
from research.models.design import Design, build_design, formula_context, model_frame
from research.stats.logit import weighted_cross as _weighted_cross
from research.config.plan import MAX_BOOTSTRAP_REPS, SEED_MAX, Plan

CURVE_POINTS = 40
BOOT_CURVE_ROWS = 50_000


class BootstrapFailure(RuntimeError):
    """A bootstrap replicate whose refit did not converge; it is left out and counted."""


def _logit_fit(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, bool]:
    """Full-sample spline logit: :func:`research.stats.logit.fit_logit` from R ``glm``'s start.

    The same maximum-likelihood estimate as statsmodels' ``GLM(y, X, Binomial()).fit(method="IRLS",
    tol=1e-12)``, which this replaced (tests/test_thresholds.py compares them): statsmodels solves
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


def weighted_logit_newton(X: np.ndarray, y: np.ndarray, w: np.ndarray, start: np.ndarray,
                          tol: float = 1e-9, max_iter: int = 50) -> np.ndarray:
    """Frequency-weighted logit by Newton's method from a warm start
    (:func:`research.stats.logit.fit_logit`: least-squares steps, stop when the largest step is
    below ``tol``).

    For the bootstrap loop: each replicate starts at the full-sample estimate and converges in
    2-4 Newton steps of one weighted cross-product each, where statsmodels' IRLS solves a
    least-squares problem per iteration and is about 20 times slower here. The result equals
    statsmodels' GLM with ``freq_weights`` (checked in the tests). Least squares, not solve: a
    replicate that drew no station with some sub-cause leaves that column without information;
    its coefficient then keeps its full-sample value. BootstrapFailure without convergence.
    """
    from research.stats.logit import fit_logit

    fit = fit_logit(X, y, w, start=start, tol=tol, max_iter=max_iter, solver="lstsq", information=False)
    if not fit.converged:
        raise BootstrapFailure("weighted logit did not converge (separation in this replicate)")
    return fit.params


def _curve_shifts(design: Design, frame: pd.DataFrame, rows: np.ndarray,
                  hours: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """For a cause group whose time-dependent columns do not vary across its rows:
    (column indices, their values at each grid hour (len(hours), k)). None otherwise."""
    terms = design.columns_using({"handling_hours"})
    used = set().union(*(design.variables_of_term[t] for t in terms)) if terms else set()
    if not used <= {"handling_hours", "cause_l1"}:
        return None
    template = frame.iloc[np.repeat(rows[:1], len(hours))].assign(handling_hours=hours)
    idx, new = design.rebuild(template, {"handling_hours"})
    return idx, new


def group_curves(design: Design, beta: np.ndarray, groups: dict[str, np.ndarray],
                 shifts: dict, patterns: dict | None = None) -> dict[str, np.ndarray]:
    """Average predicted P(satisfied) of each group's tickets at each of its grid hours.

    ``patterns``: each group's distinct rows of the design without its time columns, with their
    counts (:func:`curve_patterns`), when the caller has them: the bootstrap takes them once
    instead of a pass over the group's rows per replicate."""
    out = {}
    for g, rows in groups.items():
        idx, new = shifts[g]
        if patterns is None:
            Xg = design.X[rows]
            rest = Xg @ beta - Xg[:, idx] @ beta[idx]  # linear predictor without the time columns
            # tickets share few covariate patterns (sub-cause x channel ...): average over the distinct
            # linear predictors with their counts (the same mean, summed in another order; the
            # bootstrap's largest cost before, 480 million logistic evaluations on the sample)
            u, count = np.unique(rest, return_counts=True)
            total = len(rest)
        else:
            P, n = patterns[g]
            u, inverse = np.unique(P @ beta, return_inverse=True)
            count = np.bincount(inverse, weights=n, minlength=len(u))
            total = n.sum()
        add = new @ beta[idx]  # (len(hours),): the time columns at each grid hour
        out[g] = (expit(u[None, :] + add[:, None]) @ count) / total
    return out


def curve_patterns(design: Design, groups: dict[str, np.ndarray], shifts: dict) -> dict:
    """For :func:`group_curves`: each group's distinct design rows with its time columns set to
    zero, and how many of its rows have each (as floats)."""
    out = {}
    for g, rows in groups.items():
        Xg = design.X[rows]
        Xg[:, shifts[g][0]] = 0.0
        varying = np.flatnonzero((Xg != Xg[:1]).any(axis=0))
        if len(varying):  # rows grouped by equal values (pandas factorises each column: no row sort)
            ids = pd.DataFrame(Xg[:, varying]).groupby(list(range(len(varying))), sort=False).ngroup().to_numpy()
        else:
            ids = np.zeros(len(Xg), dtype=np.intp)
        first = np.unique(ids, return_index=True)[1]
        out[g] = (Xg[first], np.bincount(ids).astype(float))
    return out


def threshold_from_curve(hours: np.ndarray, curve: np.ndarray, drop: float) -> float:
    """First handling time where ``curve`` <= curve[0] - drop (linear in log hours); NaN if never."""
    target = curve[0] - drop
    below = np.flatnonzero(curve <= target)
    if len(below) == 0:
        return np.nan
    j = below[0]
    if j == 0:
        return float(hours[0])
    x0, x1 = np.log(hours[j - 1]), np.log(hours[j])
    y0, y1 = curve[j - 1], curve[j]
    frac = (y0 - target) / (y0 - y1) if y0 != y1 else 0.0
    return float(np.exp(x0 + frac * (x1 - x0)))


def weighted_quantile(x_sorted: np.ndarray, w_sorted: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(np.repeat(x, w), q)`` (linear interpolation) for whole frequency weights,
    without expanding; ``x_sorted`` ascending. NaN when every weight is zero."""
    cw = np.cumsum(w_sorted)
    total = cw[-1] if len(cw) else 0
    if total <= 0:
        return np.full(len(q), np.nan)
    pos = np.asarray(q) * (total - 1)
    lo = np.floor(pos)
    a = x_sorted[np.searchsorted(cw, lo, side="right")]
    b = x_sorted[np.minimum(np.searchsorted(cw, lo + 1, side="right"), len(x_sorted) - 1)]
    return a + (pos - lo) * (b - a)


def hour_grid(lo: float, hi: float, max_hours: float) -> np.ndarray:
    """CURVE_POINTS log-spaced hours from ``lo`` to ``min(hi, max_hours)`` (at least 1% apart)."""
    hi = min(hi, max_hours)
    return np.exp(np.linspace(np.log(lo), np.log(max(hi, lo * 1.01)), CURVE_POINTS))


#: the bootstrap's chord iteration stops when its step falls below this (what is left is then
#: about the contraction rate, ~0.1, times the step: far below the 1e-9 step at which
#: weighted_logit_newton stops, whose quadratic convergence leaves only rounding)
CHORD_TOL = 1e-11
#: ... or when a step below weighted_logit_newton's tolerance no longer shrinks (the rounding
#: floor of the score); a replicate whose steps stop shrinking above it, or that takes more than
#: CHORD_MAX_ITER of them, is refitted by weighted_logit_newton
CHORD_NEWTON_TOL = 1e-9
CHORD_MAX_ITER = 60
#: a coefficient this far (logit scale) from its full-sample value signals (quasi-)separation,
#: where the likelihood is flat and where an iteration stops depends on the method: such a
#: replicate is refitted by weighted_logit_newton, as before
CHORD_MAX_MOVE = 10.0
#: previous steps the Anderson acceleration of the chord iteration combines
ANDERSON_DEPTH = 5
#: rows per block of a station in the score passes (the block of every replicate's linear
#: predictors, rows x replicates, stays in cache between its two products)
SCORE_BLOCK = 2048


class StationRefits:
    """Frequency-weighted logit refits of every replicate of a cluster bootstrap at once.

    A replicate draws stations with replacement, so its frequency weights are station
    multiplicities ``c_g``, and its score and information are sums over the drawn stations of
    ``c_g`` times that station's own. This keeps, once, the rows in station order (each station a
    slice: no copy of the design per replicate) and each station's information ``H_g`` and score
    ``s_g`` at the full-sample estimate ``b0``. Each replicate's estimate solves the estimating
    equation :func:`weighted_logit_newton` solves (its weighted score equal to zero), by a chord
    iteration (Ortega & Rheinboldt 1970, *Iterative Solution of Nonlinear Equations*, 7.1; Kelley
    1995, *Iterative Methods for Linear and Nonlinear Equations*, 5.4.1) with the information of
    ``b0``: the one-step estimate ``b1 = b0 + (sum c_g H_g)^-1 sum c_g s_g`` (no pass over the rows),
    then steps ``(sum c_g H_g)^-1 score(b)``, Anderson-accelerated (Walker & Ni 2011, *SIAM J.
    Numer. Anal.* 49:1715-1735; depth :data:`ANDERSON_DEPTH`). A step needs the score only, not
    the n x p^2 Hessian of a Newton step, and the scores of all replicates come from one pass over
    the stations' rows (matrix products of a row block with every replicate's coefficients that
    drew its station, instead of one matrix-vector product per replicate). Linear convergence to
    the same root as Newton's method; it stops after a step below :data:`CHORD_TOL`, so estimates
    agree with weighted_logit_newton's to about 1e-12 (tests/test_thresholds.py).

    Columns without a non-zero value in the drawn stations (a replicate that drew no station with
    some sub-cause) keep their full-sample value, as weighted_logit_newton's least-squares step
    leaves them. A replicate the chord does not settle (an information matrix that is not positive
    definite, steps that stop shrinking) or settles with a coefficient more than
    :data:`CHORD_MAX_MOVE` from its full-sample value ((quasi-)separation: the likelihood is flat
    there) is refitted by weighted_logit_newton on its rows, so such replicates, and failures,
    are that method's.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, beta: np.ndarray, clusters: np.ndarray, n_clusters: int):
        order = np.argsort(clusters, kind="stable")
        self.bounds = np.searchsorted(clusters[order], np.arange(n_clusters + 1))
        self.X = X[order]
        self.y = np.asarray(y, dtype=float)[order]
        self.beta = np.asarray(beta, dtype=float)
        p = X.shape[1]
        self.info = np.zeros((n_clusters, p, p))
        self.score = np.zeros((n_clusters, p))
        self.present = np.zeros((n_clusters, p), dtype=bool)
        for g in range(n_clusters):
            a, b = self.bounds[g], self.bounds[g + 1]
            if a == b:
                continue
            Xg = self.X[a:b]
            mu = expit(Xg @ self.beta)
            self.info[g] = _weighted_cross(Xg, mu * (1 - mu))
            self.score[g] = Xg.T @ (self.y[a:b] - mu)
            self.present[g] = (Xg != 0).any(axis=0)
        self.passes = 0  # score passes over the rows (one per chord step of all live replicates)
        self.newton_refits = 0

    def scores(self, betas: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Weighted scores ``sum_g c_g X_g' (y_g - expit(X_g b))`` of each row of ``betas`` (k x p)
        with station multiplicities ``counts`` (k x G)."""
        self.passes += 1
        out = np.zeros_like(betas)
        with np.errstate(over="ignore"):
            for g in range(len(self.bounds) - 1):
                reps = np.flatnonzero(counts[:, g])
                if not len(reps):
                    continue
                coef = np.ascontiguousarray(betas[reps].T)
                acc = np.zeros((len(reps), betas.shape[1]))
                for s in range(self.bounds[g], self.bounds[g + 1], SCORE_BLOCK):
                    e = min(s + SCORE_BLOCK, self.bounds[g + 1])
                    Xb = self.X[s:e]
                    r = Xb @ coef  # linear predictors, rows x replicates; made residuals in place
                    np.negative(r, out=r)
                    np.exp(r, out=r)
                    r += 1.0
                    np.divide(1.0, r, out=r)  # expit = 1 / (1 + exp(-eta)), 0 where exp overflows
                    np.subtract(self.y[s:e, None], r, out=r)
                    acc += r.T @ Xb
                out[reps] += counts[reps, g][:, None] * acc
        return out

    def refit_all(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every replicate's estimate (reps x p) and which replicates failed (no estimate)."""
        from scipy import linalg

        reps, p = len(counts), len(self.beta)
        out = np.tile(self.beta, (reps, 1))
        failed = np.zeros(reps, dtype=bool)
        c = counts.astype(float)
        active, factor, x, hist = {}, {}, {}, {}
        newton = []
        for r in range(reps):
            act = self.present[counts[r] > 0].any(axis=0)
            info = np.tensordot(c[r], self.info, axes=1)[np.ix_(act, act)]
            try:
                factor[r] = linalg.cho_factor(info)
            except (linalg.LinAlgError, ValueError):
                newton.append(r)
                continue
            active[r] = act
            x[r] = self.beta[act] + linalg.cho_solve(factor[r], (c[r] @ self.score)[act])
            hist[r] = ([], [])  # previous iterates and steps, for the Anderson acceleration
        live = sorted(x)
        for _ in range(CHORD_MAX_ITER):
            if not live:
                break
            betas = out[live]
            for i, r in enumerate(live):
                betas[i, active[r]] = x[r]
            grads = self.scores(betas, c[live])
            still = []
            for i, r in enumerate(live):
                step = linalg.cho_solve(factor[r], grads[i, active[r]])
                size = float(np.max(np.abs(step))) if len(step) else 0.0
                xs, fs = hist[r]
                previous = float(np.max(np.abs(fs[-1]))) if fs else np.inf
                if not np.isfinite(size) or (size >= previous and size >= CHORD_NEWTON_TOL):
                    newton.append(r)  # diverging or stalled above the tolerance
                    continue
                if size < CHORD_TOL or (size < CHORD_NEWTON_TOL and size > previous / 2):
                    done = x[r] + step
                    if np.max(np.abs(done - self.beta[active[r]]), initial=0.0) > CHORD_MAX_MOVE:
                        newton.append(r)
                    else:
                        out[r, active[r]] = done
                    continue
                xs.append(x[r].copy())
                fs.append(step)
                if len(xs) > ANDERSON_DEPTH + 1:
                    del xs[0], fs[0]
                new = x[r] + step
                if len(xs) > 1:
                    dx = np.diff(np.array(xs), axis=0).T
                    df = np.diff(np.array(fs), axis=0).T
                    gamma = np.linalg.lstsq(df, step, rcond=None)[0]
                    new = new - (dx + df) @ gamma
                x[r] = new
                still.append(r)
            live = still
        newton += live
        for r in sorted(newton):
            self.newton_refits += 1
            w = np.repeat(c[r], np.diff(self.bounds))
            keep = w > 0
            try:
                out[r] = weighted_logit_newton(self.X[keep], self.y[keep], w[keep], self.beta)
            except BootstrapFailure:
                failed[r] = True
                out[r] = np.nan
        return out, failed


def _bootstrap(design, y, beta, frame, spec, groups, designs, grids, drop, reps, progress):
    """Cluster bootstrap replicates: thresholds and curves per group, and which replicates failed.

    Each replicate refits the logit (:class:`StationRefits`) and re-estimates each group's
    reference and upper handling times from its resampled tickets; the threshold is searched on
    that replicate's own grid, the band is evaluated on the full-sample grid."""
    rng = np.random.default_rng(spec.bootstrap_seed)
    # Replicate curves average over at most BOOT_CURVE_ROWS tickets per group (a fixed, seeded
    # subsample; all tickets when fewer, as in the committed sample): on a million rows the
    # average over 50,000 tickets differs from the full one by about 0.0005, far below the
    # replicate-to-replicate spread, and the bootstrap runs several times faster.
    sub_rng = np.random.default_rng([spec.bootstrap_seed, 1])
    curve_rows = {g: (np.sort(sub_rng.choice(rows, BOOT_CURVE_ROWS, replace=False))
                      if len(rows) > BOOT_CURVE_ROWS else rows) for g, rows in groups.items()}
    cl = frame[spec.bootstrap_cluster].cat.codes.to_numpy()
    n_cl = int(cl.max()) + 1
    counts = np.stack([np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl) for _ in range(reps)]) \
        if reps else np.zeros((0, n_cl), dtype=int)
    raw = frame["handling_hours"].to_numpy()
    qs = np.array([spec.reference_quantile, spec.upper_quantile])
    rep_grids, shifts = {}, {}
    for g, rows in groups.items():
        order = rows[np.argsort(raw[rows], kind="stable")]
        raw_sorted, cl_sorted = raw[order], cl[order]
        rep_grids[g] = np.full((reps, CURVE_POINTS), np.nan)
        for b in range(reps):
            lo, hi = weighted_quantile(raw_sorted, counts[b][cl_sorted], qs)
            if np.isfinite(lo) and lo > 0:
                rep_grids[g][b] = hour_grid(lo, hi, spec.max_hours)
        hours = np.concatenate([grids[g], np.nan_to_num(rep_grids[g], nan=grids[g][0]).ravel()])
        shifts[g] = _curve_shifts(designs[g], frame, rows, hours)
    patterns = curve_patterns(design, curve_rows, shifts)
    boot_t = {g: np.full(reps, np.nan) for g in groups}
    boot_c = {g: np.full((reps, CURVE_POINTS), np.nan) for g in groups}
    failed = np.zeros(reps, dtype=bool)
    if reps:
        betas, failed = StationRefits(design.X, y, beta, cl, n_cl).refit_all(counts)
    for b in range(reps):
        if failed[b]:
            continue
        bb = betas[b]
        sel = np.r_[np.arange(CURVE_POINTS), CURVE_POINTS * (b + 1) + np.arange(CURVE_POINTS)]
        cb = group_curves(design, bb, curve_rows, {g: (idx, new[sel]) for g, (idx, new) in shifts.items()},
                          patterns=patterns)
        for g in groups:
            boot_c[g][b] = cb[g][:CURVE_POINTS]
            if np.isfinite(rep_grids[g][b, 0]):
                boot_t[g][b] = threshold_from_curve(rep_grids[g][b], cb[g][CURVE_POINTS:], drop)
        if progress is not None and ((b + 1) % 20 == 0 or b + 1 == reps):
            progress(f"threshold bootstrap {b + 1}/{reps}")

    return boot_t, boot_c, failed


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
    conf = plan.conf_level
    shapes = {g: group_shape(design, frame, rows, y, lh, spec, conf) for g, rows in groups.items()}

    from threadpoolctl import threadpool_limits

    # Small cross-products run slower with several BLAS threads competing for 2 cores
    # (measured: 20 replicates 6-8 s with threads vs 0.24 s with one on the 20,000-row sample).
    limit = threadpool_limits(limits=1, user_api="blas") if len(y) < 200_000 else None
    try:
        boots = _bootstrap(design, y, beta, frame, spec, groups, designs, grids, drop, reps, progress)
    finally:
        if limit is not None:
            limit.restore_original_limits()
    boot_t, boot_c, failed = boots

    lo_q, hi_q = 100 * (1 - conf) / 2, 100 * (1 + conf) / 2
    rows_t, rows_c = [], []
    for g in groups:
        # not reached = beyond max_hours: ranks above every reached value
        ok = ~failed
        t = np.where(np.isnan(boot_t[g][ok]), np.finfo(float).max, boot_t[g][ok])
        lo, hi = np.percentile(t, [lo_q, hi_q]) if ok.any() else (np.nan, np.nan)
        lo, hi = (np.inf if v > grids[g][-1] else v for v in (lo, hi))
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
            "n": len(groups[g]),
            **sh,
            "knots_hours": "; ".join(f"{2 ** k - 1:.4g}" for k in group_knots[g]),
            "method": (f"logit of satisfied, restricted cubic spline in log2(1 + hours) per cause group "
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
                       f"{spec.bootstrap_cluster}, t(G - 1)"),
        })
        band = (np.percentile(boot_c[g][~failed], [lo_q, hi_q], axis=0) if (~failed).any()
                else np.full((2, CURVE_POINTS), np.nan))
        for j, h in enumerate(grids[g]):
            rows_c.append({"cause_l1": g, "hours": float(h), "estimate": float(curves[g][j]),
                           "conf_low": float(band[0, j]), "conf_high": float(band[1, j]), "conf_level": conf})
    est = pd.DataFrame({"term": design.names, "estimate": beta})
    return {"thresholds": pd.DataFrame(rows_t), "curves": pd.DataFrame(rows_c), "spline_estimates": est,
            "notes": notes}


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
    from research.stats.changepoint import find_change_point, full_rank_columns, slope_per_doubling

    out = {"shape": "insufficient_data", "n_dissatisfied": int((y[rows] == 0).sum()), "change_point_p": np.nan,
           "change_point_kind": "", "change_point_p_slope": np.nan, "change_point_p_step": np.nan,
           "breakpoint_hours": np.nan, "breakpoint_low": np.nan, "breakpoint_high": np.nan,
           "breakpoint_cut_slope": np.nan, "breakpoint_cut_step": np.nan, "breakpoint_calibration_reps": 0,
           "slope_per_doubling": np.nan, "slope_low": np.nan, "slope_high": np.nan}
    if len(rows) < spec.min_tickets or out["n_dissatisfied"] < spec.min_dissatisfied \
            or (y[rows] == 1).sum() < spec.min_dissatisfied:
        return out
    time_cols = {i for t in design.columns_using({"handling_hours"}) for i in design.columns_of_term[t]}
    other = [j for j in range(design.X.shape[1]) if j not in time_cols]
    Xo = design.X[np.ix_(rows, other)]
    Xo = Xo[:, full_rank_columns(Xo)]
    z = lh[rows]
    X0 = np.column_stack([Xo, z])
    yy = y[rows].astype(float)
    lo, hi = np.quantile(z, [spec.reference_quantile, spec.upper_quantile])
    if not hi > lo:
        return out
    cal = spec.change_point_calibration_reps if len(rows) <= spec.change_point_calibration_max_n else 0
    try:
        cp = find_change_point(X0, z, yy, np.linspace(lo, hi, spec.change_point_points), np.linspace(lo, hi, 60),
                               conf_level, spec.change_point_alpha, calibration_reps=cal,
                               seed=[spec.bootstrap_seed, int(rows[0]), len(rows)])
        slope = slope_per_doubling(X0, X0.shape[1] - 1, yy,
                                   frame[spec.bootstrap_cluster].cat.codes.to_numpy()[rows], conf_level)
    except NotEstimable:
        return out
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
