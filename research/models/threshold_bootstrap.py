"""The cluster bootstrap of the tolerance thresholds (:mod:`research.models.thresholds`).

Stations are drawn with replacement (seeded from the plan); each replicate refits the spline
logit as a frequency-weighted logit warm-started at the full-sample estimate -- all replicates
at once by a chord iteration over the stations (:class:`StationRefits`), any it does not settle
by Newton's method (:func:`weighted_logit_newton`) -- and re-estimates each group's reference
and upper handling times from its resampled tickets (:func:`_bootstrap`). Replicate curves
average over at most :data:`BOOT_CURVE_ROWS` tickets per group (a fixed seeded subsample).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from research.models.threshold_curves import (CURVE_POINTS, _curve_shifts, curve_patterns, group_curves,
                                              hour_grid, threshold_from_curve, weighted_quantile)
from research.stats.logit import weighted_cross as _weighted_cross

BOOT_CURVE_ROWS = 50_000


class BootstrapFailure(RuntimeError):
    """A bootstrap replicate whose refit did not converge; it is left out and counted."""


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
    agree with weighted_logit_newton's to about 1e-12 (tests/models/test_thresholds.py).

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
