"""Does satisfaction fall at a change point, or gradually? Per cause group.

For one cause group's tickets, with covariates ``X0`` (intercept, sub-cause,
channel, repeat: everything before the treatment) and ``z = log2(1 + hours)``:

- the **smooth null** is the log-linear logit ``logit P(satisfied) = X0 b + g z``;
- the **change-point alternatives** add a hinge ``d (z - psi)+`` (the slope in
  log time changes at an unknown breakpoint ``psi``) or a step ``d 1(z > psi)``
  (the rate drops at once; threshold regression, Hansen 2000).

:func:`davies_test` is R's ``segmented::davies.test(obj, ~z, k, type = "lrt")``
(Davies 1987, *Biometrika* 74:33-43; Muggeo 2003, *Stat. Med.* 22:3055-3071):
the signed root of the likelihood-ratio statistic at ``k`` breakpoints, its
largest absolute value ``M`` and total variation ``V``, and Davies' upper
bound ``p = 2 (Phi(-M) + V exp(-M^2 / 2) / sqrt(8 pi))`` for the two-sided
test. Checked against R in ``tests/fixtures/r/changepoint/``.

:func:`profile_breakpoint` estimates ``psi`` by profile likelihood over a grid
and gives the likelihood-ratio interval ``{psi : 2 (l_max - l(psi)) <=
chi2_1(conf)}`` (Muggeo 2003 discusses it beside the Wald interval; the
profile interval need not be symmetric). :func:`slope_per_doubling` gives the
smooth model's average effect of one more unit of ``z`` (a doubling of
``1 + hours``) on the satisfied rate in percentage points, with a
cluster-robust (CR1) delta-method interval, t with G - 1 df (as Stata and R
``clubSandwich`` use for cluster-robust tests).

Simulation (``benchmarks/bench_threshold_changepoint.py``, sample-sized groups, station random
intercept sd 0.3; Monte-Carlo SE in brackets). Hinge-only test and chi-square interval, 200
replicates per group and truth: false detections under a smooth truth 3.0%, 2.0%, 4.5%, 3.5%
(service, outage, capability, voltage; ~1.3); power against a slope change 100%, 100%, 95%, 91%;
coverage of the breakpoint's 95% profile interval 97%, 96%, 86% (2.5), 80.5% (2.8) -- too narrow
for the small groups. Hence :func:`calibrated_lr_cut` (voltage-sized groups, 150 draws: 94%) and,
since a planted *step* put the hinge's breakpoint far from the step (simulator hard case),
:func:`find_change_point`: Davies against a slope change and against a step (Bonferroni; 100
smooth draws: 3% false detections for voltage, 5% for service) and the hull of both kinds'
calibrated intervals (voltage-sized groups, 40 draws, 49 calibration draws: 97.5% coverage of a
planted slope change, 95% of a planted jump, where the better-fitting kind's interval alone gave
75% and 80%; median width 2.0 on the log2 scale, a factor of 4 in hours: where the kind of change
is uncertain, so is its place).

All functions take numpy arrays and return plain dictionaries; the model
frame is built by :mod:`research.models.thresholds`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import expit, log_expit

from research.errors import NotEstimable


def logit_newton(X: np.ndarray, y: np.ndarray, start: np.ndarray | None = None,
                 tol: float = 1e-10, max_iter: int = 100) -> tuple[np.ndarray, float]:
    """Maximum-likelihood logit (:func:`research.stats.logit.fit_logit`: LU steps, stop when the
    largest step is below ``tol``); returns (coefficients, deviance).

    The same estimates as R ``glm(family = binomial)``; NotEstimable when it does not converge
    (separation) or the information matrix is singular.
    """
    from research.stats.logit import fit_logit

    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging fit is caught just below
            fit = fit_logit(X, y, start=start, tol=tol, max_iter=max_iter, solver="lu", information=False)
    except np.linalg.LinAlgError:
        raise NotEstimable("change-point logit: singular information matrix") from None
    if not fit.converged:
        raise NotEstimable("change-point logit did not converge (separation)")
    eta = X @ fit.params
    return fit.params, float(-2 * np.sum(y * log_expit(eta) + (1 - y) * log_expit(-eta)))


def full_rank_columns(X: np.ndarray) -> np.ndarray:
    """Indices of a maximal set of linearly independent columns of ``X`` (pivoted QR), in order."""
    from scipy.linalg import qr

    if X.shape[1] == 0:
        return np.array([], dtype=int)
    scale = np.sqrt(np.clip((X ** 2).sum(0), 1e-300, None))
    _, r, piv = qr(X / scale, mode="economic", pivoting=True)
    d = np.abs(np.diag(r))
    rank = int((d > d[0] * 1e-9).sum()) if len(d) else 0
    return np.sort(piv[:rank])


def hinge(z: np.ndarray, psi: float) -> np.ndarray:
    """``max(z - psi, 0)`` (R ``pmax(x - p, 0)``, segmented's slope-change term)."""
    return np.clip(z - psi, 0, None)


#: the change-point alternatives: a change of slope at psi (segmented) or a jump at psi (a step)
KINDS = ("hinge", "step")


def change_term(z: np.ndarray, psi: float, kind: str = "hinge") -> np.ndarray:
    """The column a change point at ``psi`` adds: :func:`hinge` (slope change), ``1(z > psi)``
    (a step: satisfaction drops at once when handling passes ``psi``; threshold regression,
    Hansen 2000, *Econometrica* 68:575-603), or both (``"both"``, two columns)."""
    if kind == "hinge":
        return hinge(z, psi)
    if kind == "step":
        return (z > psi).astype(float)
    if kind == "both":  # a change of slope and a jump at the same psi (two columns)
        return np.column_stack([hinge(z, psi), (z > psi).astype(float)])
    raise ValueError(f"change point kind {kind!r}: one of {KINDS}")


def davies_test(X0: np.ndarray, z: np.ndarray, y: np.ndarray, values: np.ndarray, kind: str = "hinge") -> dict:
    """Davies' test of a change in the slope of ``z`` (two-sided, likelihood-ratio statistic).

    With ``kind="step"`` the alternative is a jump at the breakpoint instead (the same process and
    bound, the signed root of the LR of the step's coefficient; no R reference: checked by
    recovery of planted steps and the size under smooth truths, tests/models/test_thresholds_changepoint.py).

    Parameters
    ----------
    X0 : (n, p) null design including ``z`` as a column (the log-linear logit).
    z : (n,) the segmented variable, ``log2(1 + hours)``.
    y : (n,) 0/1 outcome.
    values : breakpoints at which the process is evaluated (R's ``values``; segmented's default
        is ``seq(sort(z)[2], sort(z)[n - 1], length = k)``).

    Returns
    -------
    ``{"p_value", "statistic" (M, the largest |signed root|), "best" (psi at M), "variation" (V),
    "values", "process"}``. Reference: R ``segmented::davies.test(glm, ~z, k, type = "lrt")``.
    """
    b0, dev0 = logit_newton(X0, y)
    proc, kept = [], []
    for psi in values:
        X1 = np.column_stack([change_term(z, psi, kind), X0])
        try:
            b1, dev1 = logit_newton(X1, y, start=np.r_[0.0, b0])
        except NotEstimable:
            continue
        proc.append(np.sqrt(max(dev0 - dev1, 0.0)) * np.sign(b1[0]))
        kept.append(psi)
    return davies_bound(proc, kept)


def davies_bound(proc, kept) -> dict:
    """Davies' upper bound from the signed roots ``proc`` of the LR statistic at the fitted
    breakpoints ``kept`` (:func:`davies_test`'s result; also the engine route's,
    research.models.aggregate.changepoint, which fits the same logits from sums). NotEstimable
    with fewer than 2 of them."""
    if len(proc) < 2:
        raise NotEstimable("change-point test: fewer than 2 breakpoints could be fitted")
    proc = np.asarray(proc)
    m = float(np.max(np.abs(proc)))
    v = float(np.sum(np.abs(np.diff(proc))))
    p = 2 * (stats.norm.sf(m) + v * np.exp(-m ** 2 / 2) / np.sqrt(8 * np.pi))
    return {"p_value": float(min(p, 1.0)), "statistic": m, "best": float(kept[int(np.argmax(np.abs(proc)))]),
            "variation": v, "values": np.asarray(kept), "process": proc}


def _profile(X0: np.ndarray, z: np.ndarray, y: np.ndarray, grid: np.ndarray,
             start: np.ndarray, kind: str = "hinge") -> tuple[np.ndarray, np.ndarray]:
    """Deviance and change (slope change or jump) of the change-point logit at each breakpoint of
    ``grid`` (inf / NaN where it cannot be fitted)."""
    dev = np.full(len(grid), np.inf)
    coef = np.full(len(grid), np.nan)
    for i, psi in enumerate(grid):
        try:
            b1, dev[i] = logit_newton(np.column_stack([change_term(z, psi, kind), X0]), y, start=start)
        except NotEstimable:
            continue
        coef[i] = b1[0]
    return dev, coef


def calibrated_lr_cut(X0: np.ndarray, z: np.ndarray, y: np.ndarray, grid: np.ndarray, psi: float,
                      conf_level: float, reps: int, seed, kind: str = "hinge") -> float:
    """Parametric-bootstrap critical value of the profile likelihood-ratio statistic of a breakpoint.

    The chi-square(1) calibration of ``2 (l_max - l(psi))`` is asymptotic; when the slope change is
    weakly identified (small groups) the statistic is stochastically larger and the profile
    interval too narrow (simulation, ``benchmarks/bench_threshold_changepoint.py``: coverage 80.5%
    for voltage-sized groups). Here answers are redrawn ``reps`` times from the fitted hinge logit
    at ``psi`` (so ``psi`` is the truth of the bootstrap world), the statistic at ``psi`` is
    recomputed against its minimum over ``grid``, and its ``conf_level`` quantile is returned
    (parametric bootstrap calibration of a likelihood-ratio set; Hall 1992, *The Bootstrap and
    Edgeworth Expansion*, sec. 3.10; for change points Hinkley 1970 and Muggeo 2017,
    *Aust. N. Z. J. Stat.* 59:311-322 on the non-regular breakpoint likelihood). Replicates whose
    hinge logit cannot be fitted are left out; with fewer than ``reps / 2`` fitted the chi-square
    value is returned. ``seed``: anything ``numpy.random.default_rng`` accepts. For a step
    (``kind="step"``) the LR of the location is far from chi-square even in large samples
    (Hansen 2000, *Econometrica* 68:575-603: about 7.35 rather than 3.84 at 95%), which this
    calibration captures.
    """
    X1 = np.column_stack([change_term(z, psi, kind), X0])
    b1, _ = logit_newton(X1, y)
    p = expit(X1 @ b1)
    rng = np.random.default_rng(seed)
    stat = []
    for _ in range(reps):
        ys = (rng.random(len(y)) < p).astype(float)
        try:
            _, d_psi = logit_newton(X1, ys, start=b1)
        except NotEstimable:
            continue
        dev, _ = _profile(X0, z, ys, grid, b1, kind)
        stat.append(d_psi - min(float(dev.min()), d_psi))
    if len(stat) < max(reps / 2, 1):
        return float(stats.chi2.ppf(conf_level, 1))
    return float(np.quantile(stat, conf_level))


def profile_breakpoint(X0: np.ndarray, z: np.ndarray, y: np.ndarray, grid: np.ndarray,
                       conf_level: float, calibration_reps: int = 0, seed=0, kind: str = "hinge",
                       cut: float | None = None) -> dict:
    """Breakpoint of the hinge logit by profile likelihood over ``grid``, with its LR interval.

    Returns ``{"psi", "conf_low", "conf_high", "slope_change", "deviance", "cut"}`` (psi on the
    scale of ``z``; ``cut`` the critical value of the deviance difference). The interval's ends
    are interpolated linearly between grid points; an end that reaches the edge of the grid is
    NaN (the data do not bound it on that side). With ``calibration_reps`` > 0 the critical value
    is :func:`calibrated_lr_cut`'s parametric-bootstrap quantile (seeded by ``seed``), else the
    chi-square(1) quantile, or ``cut`` when given. ``kind``: a slope change (``"hinge"``) or a jump (``"step"``) at psi;
    ``slope_change`` is then the jump on the logit scale.
    """
    b0, _ = logit_newton(X0, y)
    extra = 2 if kind == "both" else 1
    dev, coef = _profile(X0, z, y, grid, np.r_[np.zeros(extra), b0], kind)
    if not np.isfinite(dev).any():
        raise NotEstimable("breakpoint: no hinge logit could be fitted")
    j = int(np.argmin(dev))
    if calibration_reps > 0:
        cut = calibrated_lr_cut(X0, z, y, grid, float(grid[j]), conf_level, calibration_reps, seed, kind)
    elif cut is None:
        cut = float(stats.chi2.ppf(conf_level, 1))
    return profile_interval(grid, dev, coef, cut)


def profile_interval(grid: np.ndarray, dev: np.ndarray, coef: np.ndarray, cut: float) -> dict:
    """:func:`profile_breakpoint`'s result from the profile deviances ``dev`` and changes ``coef``
    over ``grid`` (inf / NaN where not fitted; at least one finite) and the critical value ``cut``."""
    j = int(np.argmin(dev))
    excess = dev - dev[j] - cut  # <= 0 inside the interval

    def end(direction: int) -> float:
        k = j
        while 0 <= k + direction < len(grid) and excess[k + direction] <= 0:
            k += direction
        if not 0 <= k + direction < len(grid):
            return np.nan
        a, b = excess[k], excess[k + direction]
        return float(grid[k] + (grid[k + direction] - grid[k]) * (-a / (b - a)))

    return {"psi": float(grid[j]), "conf_low": end(-1), "conf_high": end(+1),
            "slope_change": float(coef[j]), "deviance": dev, "cut": cut}


def slope_per_doubling(X0: np.ndarray, z_col: int, y: np.ndarray, cluster: np.ndarray,
                       conf_level: float) -> dict:
    """Average change of P(satisfied), in percentage points, when ``z`` rises by 1 (a doubling).

    ``100 * mean(expit(eta + g) - expit(eta))`` from the log-linear logit, delta-method standard
    error from the cluster-robust CR1 covariance (R ``sandwich::vcovCL(type = "HC1")``), t with
    G - 1 degrees of freedom (Cameron & Miller 2015, *J. Human Resources* 50:317-372).
    Returns ``{"estimate", "std_error", "conf_low", "conf_high", "df"}``.
    """
    beta, _ = logit_newton(X0, y)
    eta = X0 @ beta
    p0, p1 = expit(eta), expit(eta + beta[z_col])
    est = 100 * float(np.mean(p1 - p0))
    X1 = X0.copy()
    X1[:, z_col] += 1
    grad = 100 * ((X1 * (p1 * (1 - p1))[:, None]).mean(0) - (X0 * (p0 * (1 - p0))[:, None]).mean(0))
    bread = np.linalg.inv((X0 * (p0 * (1 - p0))[:, None]).T @ X0)
    codes, cl = np.unique(cluster, return_inverse=True)
    score = np.zeros((len(codes), X0.shape[1]))
    np.add.at(score, cl, X0 * (y - p0)[:, None])
    return slope_interval(est, grad, bread, score, len(y), conf_level)


def slope_interval(est: float, grad: np.ndarray, bread: np.ndarray, score: np.ndarray, n: int,
                   conf_level: float) -> dict:
    """:func:`slope_per_doubling`'s result from its estimate, gradient (k,), bread (the inverse
    information, k x k), the clusters' scores (G, k, the clusters that hold rows) and the rows ``n``."""
    g, k = score.shape
    if g < 2:
        return {"estimate": est, "std_error": np.nan, "conf_low": np.nan, "conf_high": np.nan, "df": np.nan}
    meat = score.T @ score * (g / (g - 1)) * ((n - 1) / (n - k))
    vcov = bread @ meat @ bread
    se = float(np.sqrt(grad @ vcov @ grad))
    q = stats.t.ppf((1 + conf_level) / 2, g - 1)
    return {"estimate": est, "std_error": se, "conf_low": est - q * se, "conf_high": est + q * se,
            "df": float(g - 1)}


def hansen_cut(conf_level: float) -> float:
    """Asymptotic critical value of the likelihood-ratio set for a step's location,
    ``-2 log(1 - sqrt(conf_level))`` (Hansen 2000, *Econometrica* 68:575-603, eq. 15 and Table 1:
    7.35 at 95%), used for a step when no bootstrap calibration is run (large groups)."""
    return float(-2 * np.log(1 - np.sqrt(conf_level)))


def find_change_point(X0: np.ndarray, z: np.ndarray, y: np.ndarray, values: np.ndarray, grid: np.ndarray,
                      conf_level: float, alpha: float, calibration_reps: int = 0, seed=0) -> dict:
    """Is there a change point in ``z``, of which kind, where? The decision the thresholds use.

    Davies' test (:func:`davies_test`) at ``values`` against a change of slope (``"hinge"``) and
    against a jump (``"step"``); ``p_value`` is the smaller of the two p-values times 2
    (Bonferroni), ``kind`` the alternative with the larger statistic (the better fit: each adds one
    parameter) and ``psi`` its breakpoint over ``grid``. The interval is the hull of the two
    profile-likelihood intervals, the hinge's and the step's (:func:`profile_breakpoint`): which
    kind of change the data hold is itself uncertain, and an interval built on the wrong kind
    misses (simulation, voltage-sized groups, 40 draws: against a planted jump the chosen kind's
    interval covered 80%, the hull 95%). Critical values: a parametric-bootstrap calibration
    with ``calibration_reps`` draws (seeded by ``seed``) when > 0, else chi-square(1) for the
    hinge and Hansen's (:func:`hansen_cut`) for the step.

    Returns ``{"p_value", "p_slope", "p_step", "kind", "found", "psi", "conf_low", "conf_high",
    "cut_slope", "cut_step"}`` (``psi`` and its interval on the scale of ``z``, NaN unless
    ``found``; a NaN end of a found interval: not bounded by the data on that side). Raises
    NotEstimable when a test cannot be computed.
    """
    out = change_point_decision({kind: davies_test(X0, z, y, values, kind=kind) for kind in KINDS}, alpha)
    if out["found"]:
        bp = {}
        for k in KINDS:  # without calibration, chi-square(1) is far too small for a step: Hansen's value
            bp[k] = profile_breakpoint(X0, z, y, grid, conf_level, calibration_reps=calibration_reps,
                                       seed=[*np.atleast_1d(seed).tolist(), KINDS.index(k)], kind=k,
                                       cut=hansen_cut(conf_level) if k == "step" else None)
        with_breakpoint(out, bp)
    return out


def change_point_decision(dv: dict, alpha: float) -> dict:
    """:func:`find_change_point`'s decision from the two kinds' :func:`davies_test` results ``dv``
    (breakpoint columns NaN: :func:`with_breakpoint` fills them when ``found``)."""
    p = min(1.0, len(KINDS) * min(d["p_value"] for d in dv.values()))
    kind = max(KINDS, key=lambda k: dv[k]["statistic"])
    return {"p_value": p, "p_slope": dv["hinge"]["p_value"], "p_step": dv["step"]["p_value"], "kind": kind,
            "found": p < alpha, "psi": np.nan, "conf_low": np.nan, "conf_high": np.nan,
            "cut_slope": np.nan, "cut_step": np.nan}


def with_breakpoint(out: dict, bp: dict) -> dict:
    """``out`` (:func:`change_point_decision`) with the breakpoint of its kind and the hull of the
    two kinds' profile intervals ``bp`` (kind -> :func:`profile_breakpoint` result), in place."""
    lows = [bp[k]["conf_low"] for k in KINDS]
    highs = [bp[k]["conf_high"] for k in KINDS]
    out.update(psi=bp[out["kind"]]["psi"], cut_slope=bp["hinge"]["cut"], cut_step=bp["step"]["cut"],
               conf_low=np.nan if np.isnan(lows).any() else float(min(lows)),
               conf_high=np.nan if np.isnan(highs).any() else float(max(highs)))
    return out
