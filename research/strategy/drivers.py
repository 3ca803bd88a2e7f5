"""Key-driver analysis (relative importance) and importance-performance analysis (IPA).

Which of the things a customer experiences -- the complaint's sub-cause, how
long handling took, a repeat call, whether the problem was resolved, and the
three satisfaction items (staff attitude, handling speed, outcome) -- accounts
for how much of the variation in overall satisfaction, and which of them the
utility should work on first?

Relative importance: LMG / Shapley value / general dominance
------------------------------------------------------------
Drivers come in GROUPS (the sub-cause is 16 dummy columns, the resolution 2);
importance is assigned to groups, never to single dummies. For ``k`` groups
and every subset ``S`` of them, ``R2(S)`` is the R² of the OLS fit of the
outcome on the columns of ``S`` (with an intercept; ``R2(empty) = 0``). The
importance of group ``j`` is its marginal R² increase averaged over all ``k!``
orders in which the groups can enter the model, which equals the subset
formula::

    I_j = sum_{S not containing j} |S|! (k - |S| - 1)! / k!  * (R2(S + j) - R2(S))

This is R's ``relaimpo::calc.relimp(type = "lmg")`` (Lindeman, Merenda & Gold
1980; Grömping 2006, with ``groups =``), the Shapley value of the R² game
(Lipovetsky & Conklin 2001) and the general dominance statistic of dominance
analysis (Budescu 1993; Azen & Budescu 2003; R ``domir``). The importances add
up exactly to the full model's R² (the Shapley efficiency property), so
``share = I_j / R2(all)`` adds up to 1. For OLS each ``I_j >= 0`` (R² never
falls when a group is added).

*How the 2^k R² values are computed.* One pass over the data builds the
centred weighted cross-product matrix ``C = A' W A`` of ``A = [X, y]``, every
column centred at its weighted mean (equivalently: ``Z' W Z`` of ``Z = [1, X,
y]`` with the intercept swept out). The R² of any subset is then read off
``C`` alone (see :func:`_ols_subset_r2`), with no further pass over the rows.

*Binary outcome.* For a boolean outcome (``satisfied``, the top-2-box) every
subset is a logit and ``R2(S)`` is McFadden's pseudo-R² ``1 - ll(S) /
ll(empty)`` (weighted log-likelihoods; with weights this is R's ``1 -
deviance / null.deviance`` of ``glm(binomial, weights = w)``). The
log-likelihoods need a real fit per subset: ``2^k - 1`` logits, fitted by a
small weighted Newton-Raphson written here (:func:`_logit_loglik`: step
halving, stop on the Newton decrement, least-squares steps so that a dummy
constant in a bootstrap replicate is ignored, and convergence of the
log-likelihood to its supremum under quasi-separation). statsmodels'
``Logit`` takes no weights; its ``GLM(Binomial, freq_weights=)`` gives the
same log-likelihood but took 0.19 s per full-model fit on 18,000 rows against
0.03 s here (0.014 s warm-started from the full-sample fit, as every
bootstrap replicate is), and the bootstrap needs 127 x (reps + 1) fits.
``method = "lmg_mcfadden"``. Cost: about 0.5 s per replicate on 18,000 rows,
so use fewer replicates or the R² path on large data.

Confidence intervals: cluster bootstrap
---------------------------------------
Stations (``cluster``) are resampled with replacement (``G`` draws out of the
``G`` stations, ``numpy.random.default_rng(seed)``); a replicate gives every
row the weight ``w_i * (times its station was drawn)``. Percentile intervals
(``numpy.quantile``, linear interpolation = R's type 7) for each importance
and its share. For OLS the replicate cross-product matrices are sums of
per-station matrices computed once, so a replicate costs no pass over the
data; the R² of all subsets of all replicates are then solved in batches.
The same replicates also give the performance of every driver, so the IPA
quadrant probabilities come from the very same resamples
(:func:`key_drivers`).

Importance-performance analysis
-------------------------------
Performance of a driver is its current level on a 0..1 scale, on the rows
used for the importance (see :data:`PERFORMANCE_MEASURES`): items ``(mean -
1) / 4``; ``resolved`` the share resolved "yes"; ``repeat`` one minus the
share of repeat callers; ``handling_time`` the share handled within the SLA
target (``sla_met``); ``subcause`` the satisfied rate. Crosshairs at the
mean importance and the mean performance across the drivers (Martilla &
James 1977): high importance & low performance = ``concentrate_here``
(重点改进区), high & high = ``keep_up`` (继续保持区), low & low =
``low_priority`` (次要改进区), low importance & high performance =
``possible_overkill`` (过度投入区); a value equal to its crosshair counts as
high. In every bootstrap replicate importance, performance AND the crosshairs
are recomputed; ``p_<quadrant>`` is the share of replicates placing the
driver in that quadrant.

Libraries considered
--------------------
- ``dominance-analysis`` (PyPI, 1.1.9, 2023): single columns only (no groups),
  no weights, no bootstrap; it first keeps the ``top_k`` predictors chosen by
  an F test, fits its logits without an intercept (``sm.Logit`` on the
  predictors alone), and imports plotly/cufflinks and calls
  ``init_notebook_mode`` at import.
- ``relativeImp`` (PyPI, 0.0.2, 2019) and ``key-driver-analysis``: Johnson's
  relative weights, an approximation of LMG, single columns, no weights.
- R ``relaimpo`` / ``domir``: the reference implementations, but not packaged
  for Debian (so not in our R fixture environment) and not callable here.
None supports grouped predictors + survey weights + a station cluster
bootstrap, hence this module; it is checked against a brute-force base-R
reference (``tests/fixtures/r/drivers/``).

Public API: :func:`key_drivers` (one bootstrap run, both results),
:func:`driver_importance`, :func:`importance_performance`,
:func:`driver_performance`, :func:`subset_r2`. Frames carry machine names only; the display
words of drivers, quadrants and performance measures are in :mod:`research.artifacts.words`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import factorial
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy.special import expit
from threadpoolctl import threadpool_limits

from research.errors import InputError, check_whole

__all__ = ["key_drivers", "driver_analysis", "driver_importance", "importance_performance",
           "driver_performance", "subset_r2", "Driver", "DRIVERS", "DEFAULT_DRIVERS",
           "OPERATIONAL_DRIVERS", "ITEM_DRIVERS", "CALLBACK_DRIVERS", "DRIVER_SETS", "DRIVER_SOURCES",
           "QUADRANTS", "PERFORMANCE_MEASURES", "DEFAULT_SEED"]

Driver = Literal["subcause", "handling_time", "sla_met", "channel", "repeat", "resolved", "attitude",
                 "speed", "outcome_item"]
DRIVERS: tuple[str, ...] = get_args(Driver)
#: what the utility controls or observes before the callback: the operational decomposition
OPERATIONAL_DRIVERS: tuple[str, ...] = ("subcause", "handling_time", "sla_met", "channel", "repeat")
#: the satisfaction items of the callback: decomposed apart ("item importance"), never mixed
#: into the operational shares (they are answers to the same call as the outcome: a halo)
ITEM_DRIVERS: tuple[str, ...] = ("attitude", "speed", "outcome_item")
#: answers of the callback itself (post-treatment): never in the operational set
CALLBACK_DRIVERS: tuple[str, ...] = ("resolved",) + ITEM_DRIVERS
DEFAULT_DRIVERS: tuple[str, ...] = OPERATIONAL_DRIVERS
#: driver sets of :func:`key_drivers`
DRIVER_SETS: dict[str, tuple[str, ...]] = {"operational": OPERATIONAL_DRIVERS, "items": ITEM_DRIVERS}

#: driver group -> the responses column it is built from
DRIVER_SOURCES: dict[str, str] = {
    "subcause": "cause_l2",             # dummies, one per sub-cause but the first
    "handling_time": "handling_hours",  # log2(1 + hours)
    "sla_met": "sla_met",               # 0/1: handled within the sub-cause's SLA target
    "channel": "channel",               # dummies, one per channel but the first
    "repeat": "repeat",                 # 0/1
    "resolved": "resolved",             # dummies of partly / no (yes = reference)
    "attitude": "sat_attitude",         # item score 1..5
    "speed": "sat_speed",
    "outcome_item": "sat_outcome",
}


Quadrant = Literal["concentrate_here", "keep_up", "low_priority", "possible_overkill"]
QUADRANTS: tuple[str, ...] = get_args(Quadrant)


#: driver group -> code of its performance measure (all on a 0..1 scale; "none": the driver is
#: a composition with no favourable level, so it has no performance and no IPA quadrant)
PERFORMANCE_MEASURES: dict[str, str] = {
    "subcause": "none",                 # the complaint mix: no level is "better performance"
    "handling_time": "sla_met_rate",    # share handled within the SLA target
    "sla_met": "sla_met_rate",
    "channel": "none",                  # the contact mix: likewise
    "repeat": "no_repeat_rate",         # 1 - share of repeat callers
    "resolved": "resolved_rate",        # share resolved "yes"
    "attitude": "item_score",           # (mean item score - 1) / 4
    "speed": "item_score",
    "outcome_item": "item_score",
}


DEFAULT_SEED = 20261128
RESOLVED_ORDER = ("yes", "partly", "no")

# A column whose centred weighted sum of squares is below this fraction of its
# uncentred one is constant in that (replicate) sample: it carries no
# information and is zeroed instead of being rescaled to unit variance.
_CONSTANT_RTOL = 1e-9
# Eigenvalues of a correlation sub-matrix below this fraction of its largest
# are treated as zero (exact collinearity, e.g. a replicate missing the
# reference sub-cause); rounding noise of such a matrix is ~1e-15.
_PINV_RCOND = 1e-12
# Below this many rows the small matrix products run single-threaded: with several BLAS
# threads competing for few cores they are many times slower (as in models/thresholds.py).
_SINGLE_THREAD_ROWS = 200_000
# Clusters at most this many: per-cluster cross-products are kept in memory
# (G x q x q); above it each replicate recomputes A' W_b A from the rows.
_MAX_CLUSTER_BLOCKS = 10_000
_PROGRESS_EVERY = 20
# Newton for the logits stops when the log-likelihood still to gain is below this fraction of it.
_LOGLIK_RTOL = 1e-12
# A null share within this of the observed one counts as "at least as large" (ties, e.g. a
# constant driver with share 0 in the data and in every permutation, give p = 1, not 1/(B+1)).
_NULL_TIE_TOL = 1e-12


# ---------------------------------------------------------------- checks ----
def _check_option(name: str, value, valid: tuple[str, ...]) -> str:
    """Return ``value`` if one of ``valid``; else ValueError listing the valid values."""
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; use one of "
                         f"{', '.join(repr(v) for v in valid)}")
    return value


def _check_drivers(drivers) -> tuple[str, ...]:
    if isinstance(drivers, str) or not isinstance(drivers, Sequence):
        raise ValueError(f"drivers must be a sequence of driver names, not {drivers!r}")
    out = tuple(_check_option("drivers", d, DRIVERS) for d in drivers)
    if not out:
        raise ValueError("drivers must name at least one driver group")
    if len(set(out)) != len(out):
        raise ValueError(f"drivers lists a group twice: {list(out)}")
    return out


def _check_run(bootstrap_reps, conf_level, seed) -> None:
    """InputError for replicates outside [0, MAX_BOOTSTRAP_REPS] or a seed outside numpy's
    [0, 2**32 - 1] (a plan or caller must not be able to exhaust memory, or reach numpy's
    negative-seed error mid-run); ValueError for a conf_level outside (0, 1)."""
    from research.config.plan import MAX_BOOTSTRAP_REPS, SEED_MAX

    check_whole(bootstrap_reps, "bootstrap_reps", low=0, high=MAX_BOOTSTRAP_REPS, where="key drivers")
    if not (isinstance(conf_level, (int, float)) and 0 < conf_level < 1):
        raise ValueError(f"conf_level must be a number strictly between 0 and 1, "
                         f"not {conf_level!r}")
    check_whole(seed, "seed", low=0, high=SEED_MAX, where="key drivers")


def _require_columns(responses: pd.DataFrame, needed: dict[str, str]) -> None:
    """InputError naming each column of ``needed`` (column -> its use) absent from responses."""
    if not isinstance(responses, pd.DataFrame):
        raise InputError(f"responses must be a pandas DataFrame, not {type(responses).__name__}")
    missing = [f"{c!r} (needed for {why})" for c, why in needed.items()
               if c not in responses.columns]
    if missing:
        raise InputError(f"responses lack column(s) {', '.join(missing)}")


def _as_float(series: pd.Series, column: str) -> np.ndarray:
    """A numeric or boolean column as float64 with NaN for missing; InputError otherwise."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("boolean").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(series.dtype):
        raise InputError(f"column {column!r} must be numeric or boolean, not {series.dtype}")
    return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


# ---------------------------------------------------------------- design ----
@dataclass
class _Prepared:
    """The complete-case design of one analysis."""

    outcome: str
    drivers: tuple[str, ...]
    logit: bool
    X: np.ndarray              # n x p driver columns, centred at their weighted means
    y: np.ndarray              # outcome (0/1 for logit), not centred
    w: np.ndarray              # analysis weights (1 without weights)
    groups: list[np.ndarray]   # column indices of X of each driver group
    cluster: np.ndarray        # cluster code 0..G-1 of each row
    n_clusters: int
    n: int
    n_dropped: int
    perf_values: np.ndarray | None  # n x k performance values (NaN = missing), or None
    # per group: for a dummy group, the index within the group of each row's dummy that is 1
    # (-1 = the reference level); None for a numeric group (used by the permutation null)
    level_codes: list[np.ndarray | None] | None = None


def _dummies(values: pd.Series, order: Sequence[str] = ()) -> tuple[np.ndarray, int]:
    """Dummy coding of every level present but the reference (the first of ``order`` present,
    else the first in sorted order), as codes: each row's column among the ``p`` dummies
    (0..p-1, levels in sorted order), -1 for the reference level. The reference is immaterial
    to every R²."""
    codes, uniques = pd.factorize(values.astype("string"), sort=True)
    levels = [str(u) for u in uniques]
    ref = next((levels.index(v) for v in order if v in levels), 0)
    codes = codes.astype(np.int64)
    return np.where(codes == ref, -1, np.where(codes > ref, codes - 1, codes)), len(levels) - 1


def _prepare(responses: pd.DataFrame, *, outcome: str, drivers: tuple[str, ...],
             weights: str | None, cluster: str | None, performance: bool) -> _Prepared:
    needed = {DRIVER_SOURCES[d]: f"driver {d!r}" for d in drivers}
    if outcome in needed:
        raise ValueError(f"outcome {outcome!r} is also the source of {needed[outcome]}; "
                         "drop that driver or choose another outcome")
    needed[outcome] = "the outcome"
    if weights is not None:
        needed[weights] = "the weights"
    if cluster is not None:
        needed[cluster] = "the cluster bootstrap"
    perf_cols = {}
    if performance:
        for d in drivers:
            if PERFORMANCE_MEASURES[d] == "none":
                continue
            col = {"handling_time": "sla_met"}.get(d, DRIVER_SOURCES[d])
            perf_cols[d] = col
            needed.setdefault(col, f"the performance of driver {d!r}")
    _require_columns(responses, needed)

    y_all = _as_float(responses[outcome], outcome)
    logit = pd.api.types.is_bool_dtype(responses[outcome].dtype)
    complete = ~np.isnan(y_all)
    for d in drivers:
        complete &= responses[DRIVER_SOURCES[d]].notna().to_numpy()
    if weights is not None:
        w_all = _as_float(responses[weights], weights)
        bad = np.isfinite(w_all) & (w_all < 0) | np.isinf(w_all)
        if bad.any():
            raise InputError(f"column {weights!r}: weights must be finite and non-negative "
                             f"({int(bad.sum())} rows are not)")
        complete &= ~np.isnan(w_all)
    if cluster is not None:
        complete &= responses[cluster].notna().to_numpy()
    rows = np.flatnonzero(complete)
    n = len(rows)
    if n < 3:
        raise InputError(f"only {n} rows have the outcome {outcome!r} and every driver; "
                         "need at least 3")
    # only the columns used, and no copy when every row is complete
    sub = responses[list(needed)]
    if n < len(responses):
        sub = sub.iloc[rows]
    w = np.ones(n) if weights is None else w_all[rows]
    if not w.sum() > 0:
        raise InputError(f"column {weights!r}: the weights of the complete rows sum to zero")
    y = y_all[rows]

    # each column as a way to build it (a dummy: its codes and level; else the values), so that
    # only the centred design X is ever held whole
    columns: list[tuple[np.ndarray, int | None]] = []
    groups = []
    level_codes: list[np.ndarray | None] = []
    for d in drivers:
        src = DRIVER_SOURCES[d]
        if d in ("subcause", "channel", "resolved"):
            codes, p = _dummies(sub[src], RESOLVED_ORDER if d == "resolved" else ())
            cols = [(codes, j) for j in range(p)]
        else:
            x = _as_float(sub[src], src)
            if d == "handling_time":
                if (x < 0).any():
                    raise InputError(f"column {src!r}: {int((x < 0).sum())} negative "
                                     "handling times")
                x = np.log2(1.0 + x)
            # a column constant over the complete rows explains nothing: leave it out
            cols = [(x, None)] if x.min() < x.max() else []
        if d in ("subcause", "channel", "resolved"):
            level_codes.append(codes if len(cols) else None)
        else:
            level_codes.append(None)
        groups.append(np.arange(len(columns), len(columns) + len(cols)))
        columns.extend(cols)
    X = np.empty((n, len(columns)), order="F")
    for j, (values, level) in enumerate(columns):
        col = values if level is None else (values == level).astype(float)
        X[:, j] = col - (w @ col) / w.sum()
    del columns

    if cluster is None:
        codes, n_clusters = np.arange(n), n
    else:
        # codes of the sorted labels: the resampling does not depend on the row order
        codes, uniq = pd.factorize(sub[cluster].astype("string"), sort=True)
        n_clusters = len(uniq)

    perf = None
    if performance:
        perf = np.column_stack([_performance_values(sub, d, perf_cols[d]) if d in perf_cols
                                else np.full(n, np.nan) for d in drivers])
    return _Prepared(outcome, drivers, logit, X, y, w, groups, codes, n_clusters, n,
                     len(responses) - n, perf, level_codes)


def _performance_values(sub: pd.DataFrame, driver: str, column: str) -> np.ndarray:
    """Per-row value whose weighted mean is the driver's performance (NaN = not counted)."""
    if driver == "resolved":
        v = sub[column].astype("string")
        return np.where(v.isna(), np.nan, (v == "yes").fillna(False).to_numpy(dtype=bool))
    values = _as_float(sub[column], column)
    if driver == "repeat":
        return 1.0 - values
    if driver in ("attitude", "speed", "outcome_item"):
        return (values - 1.0) / 4.0
    return values   # sla_met (handling_time, sla_met): 0/1


# ------------------------------------------------------------- subsets ------
def _subset_columns(groups: list[np.ndarray]) -> list[np.ndarray]:
    """Column indices of every subset, indexed by bitmask (bit j = group j)."""
    k = len(groups)
    return [np.concatenate([groups[j] for j in range(k) if m >> j & 1] or [np.empty(0, int)])
            .astype(int) for m in range(2 ** k)]


def _shapley_matrix(k: int) -> np.ndarray:
    """M (2^k x k) with importance = R2 @ M: the subset formula of the Shapley value."""
    M = np.zeros((2 ** k, k))
    for m in range(2 ** k):
        s = bin(m).count("1")
        for j in range(k):
            if not m >> j & 1:
                c = factorial(s) * factorial(k - s - 1) / factorial(k)
                M[m | 1 << j, j] += c
                M[m, j] -= c
    return M


def _ols_subset_r2(S2: np.ndarray, S1: np.ndarray, S0: np.ndarray,
                   subsets: list[np.ndarray]) -> np.ndarray:
    """R² of every subset for a batch of samples, from their weighted moments alone.

    ``S0`` (B,), ``S1`` (B, q), ``S2`` (B, q, q) are the weighted sums of 1, A and
    A A' of ``A = [X, y]`` (y last) in each of B samples; returns (B, 2^k).

    Why this is exact: with an intercept, OLS of y on the columns S is (by
    Frisch-Waugh-Lovell) OLS of the centred y on the centred columns, so with
    the centred cross-products ``C = S2 - S1 S1' / S0`` the coefficients solve
    ``C_SS b = C_Sy`` and ``R2(S) = 1 - SSE/SST = C_yS C_SS^+ C_Sy / C_yy``;
    every quantity is a sub-block of the same matrix, so the only difference
    from fitting each model to the rows is rounding (~eps * cond(C_SS)). The
    weighted version is the same algebra with W inside every sum, which is the
    weighted R² of R's ``summary(lm(weights = w))``. The sub-blocks are
    rescaled to correlations first, and solved by an eigen-decomposition
    pseudo-inverse, so columns that are constant or collinear in a bootstrap
    replicate (a sub-cause no drawn station has) contribute nothing, as R's
    pivoting ``lm`` drops them.
    """
    C = S2 - S1[:, :, None] * S1[:, None, :] / S0[:, None, None]
    diag = np.einsum("bii->bi", C)
    raw = np.einsum("bii->bi", S2)
    p = C.shape[1] - 1
    cyy = diag[:, p]
    ok = cyy > _CONSTANT_RTOL * raw[:, p]
    live = diag[:, :p] > _CONSTANT_RTOL * raw[:, :p]
    scale = np.where(live, 1.0 / np.sqrt(np.where(live, diag[:, :p], 1.0)), 0.0)
    R = C[:, :p, :p] * scale[:, :, None] * scale[:, None, :]
    r = C[:, :p, p] * scale / np.sqrt(np.where(ok, cyy, 1.0))[:, None]
    out = np.zeros((C.shape[0], len(subsets)))
    for m, cols in enumerate(subsets):
        if len(cols) == 0:
            continue
        Rs = R[:, cols][:, :, cols]
        rs = r[:, cols]
        inv = np.linalg.pinv(Rs, rcond=_PINV_RCOND, hermitian=True)
        out[:, m] = np.einsum("bi,bij,bj->b", rs, inv, rs)
    out[~ok] = np.nan
    return out


class _FitFailure(RuntimeError):
    """A logit whose Newton iterations did not converge."""


def _logit_loglik(Z: np.ndarray, y: np.ndarray, w: np.ndarray, beta: np.ndarray,
                  max_iter: int = 100) -> tuple[float, np.ndarray]:
    """Maximised weighted log-likelihood of a logit (Newton-Raphson with step halving).

    ``Z`` includes the intercept column. Stops when the Newton decrement
    ``g' H^+ g`` (twice the log-likelihood still to gain, to second order) is
    below ``_LOGLIK_RTOL * |ll|``, so the value is exact to about 1e-12
    relative; Newton converges quadratically, so this costs one iteration
    fewer than waiting for a step without gain. Under quasi-separation the
    log-likelihood still converges (to its supremum) while a coefficient
    drifts, as in R's ``glm``. Steps are least-squares solutions, so a column
    constant in a bootstrap replicate is ignored. Raises _FitFailure after
    ``max_iter`` iterations.
    """
    def ll_of(eta):
        return float((w * (y * eta - np.logaddexp(0.0, eta))).sum())

    beta = beta.copy()
    eta = Z @ beta
    ll = ll_of(eta)
    for _ in range(max_iter):
        p = expit(eta)
        grad = (w * (y - p)) @ Z
        A = Z * np.sqrt(w * p * (1.0 - p))[:, None]
        hess = A.T @ A          # A'A of one array: numpy uses the symmetric rank-k product
        step = np.linalg.lstsq(hess, grad, rcond=1e-13)[0]
        if grad @ step <= _LOGLIK_RTOL * abs(ll):
            return ll, beta
        t = 1.0
        while True:
            eta_new = Z @ (beta + t * step)
            ll_new = ll_of(eta_new)
            if ll_new >= ll or t < 1e-10:
                break
            t /= 2.0
        if ll_new < ll:          # no ascent left along the Newton direction: at the maximum
            return ll, beta
        beta = beta + t * step
        eta, ll = eta_new, ll_new
    raise _FitFailure("logit did not converge")


def _logit_subset_r2(prep: _Prepared, subsets: list[np.ndarray], w: np.ndarray, sd: np.ndarray,
                     starts: list[np.ndarray] | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """McFadden R² of every subset (2^k,) for row weights ``w``, and the fitted coefficients.

    Columns are divided by ``sd`` (the full sample's, so that the coefficients of
    a replicate are on the scale of the warm start ``starts``).
    """
    keep = w > 0
    Xs, y, ww = prep.X[keep] / sd, prep.y[keep], w[keep]
    ybar = (ww @ y) / ww.sum()
    if not 0 < ybar < 1:
        raise _FitFailure("outcome constant")
    ll0 = float(ww.sum() * (ybar * np.log(ybar) + (1 - ybar) * np.log1p(-ybar)))
    ones = np.ones((len(y), 1))
    out = np.zeros(len(subsets))
    betas: list[np.ndarray] = []
    for m, cols in enumerate(subsets):
        if len(cols) == 0:
            betas.append(np.array([np.log(ybar / (1 - ybar))]))
            continue
        Z = np.hstack([ones, Xs[:, cols]])
        start = (starts[m] if starts is not None
                 else np.r_[np.log(ybar / (1 - ybar)), np.zeros(len(cols))])
        ll, beta = _logit_loglik(Z, y, ww, start)
        out[m] = 1.0 - ll / ll0
        betas.append(beta)
    return out, betas


# ------------------------------------------------------------- bootstrap ----
@dataclass
class _Run:
    """Point estimates and bootstrap replicates of one analysis."""

    prep: _Prepared
    r2: np.ndarray           # (2^k,) subset R² of the full sample
    imp: np.ndarray          # (k,)
    perf: np.ndarray | None  # (k,)
    rep_imp: np.ndarray      # (B, k), NaN rows = failed replicates
    rep_perf: np.ndarray | None  # (B, k)


def _moments(A: np.ndarray, w: np.ndarray, codes: np.ndarray, G: int):
    """Per-cluster weighted sums of 1, A and A A' (G,), (G, q), (G, q, q)."""
    q = A.shape[1]
    s0 = np.bincount(codes, weights=w, minlength=G)
    s1 = np.column_stack([np.bincount(codes, weights=w * A[:, j], minlength=G) for j in range(q)]) \
        if q else np.zeros((G, 0))
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=G))]
    S2 = np.zeros((G, q, q))
    for g in range(G):
        idx = order[bounds[g]:bounds[g + 1]]
        Ag = A[idx]
        S2[g] = Ag.T @ (Ag * w[idx, None])
    return s0, s1, S2


def _ols_bootstrap(prep: _Prepared, subsets, M, counts, rep_imp, report) -> np.ndarray:
    """Subset R² of the full sample; fills ``rep_imp`` (B, k) with the replicates' importances."""
    A = np.column_stack([prep.X, prep.y - (prep.w @ prep.y) / prep.w.sum()])
    S2_full = A.T @ (A * prep.w[:, None])
    with threadpool_limits(limits=1, user_api="blas"):   # many tiny solves
        r2 = _ols_subset_r2(S2_full[None], (prep.w @ A)[None], np.array([prep.w.sum()]), subsets)[0]
    if np.isnan(r2).any():
        raise InputError(f"outcome {prep.outcome!r} is constant over the {prep.n} complete rows")
    reps, G = counts.shape
    if not reps:
        return r2
    blocks = G <= _MAX_CLUSTER_BLOCKS
    if blocks:
        s0, s1, S2 = _moments(A, prep.w, prep.cluster, G)
    for lo in range(0, reps, _PROGRESS_EVERY):
        c = counts[lo:lo + _PROGRESS_EVERY].astype(float)
        if blocks:    # a replicate's moments: station moments times how often each was drawn
            b0, b1, b2 = c @ s0, c @ s1, np.tensordot(c, S2, axes=(1, 0))
        else:         # too many clusters to keep their moments: one pass over the rows each
            wb = prep.w[None, :] * c[:, prep.cluster]
            b0, b1 = wb.sum(1), wb @ A
            b2 = np.stack([A.T @ (A * row[:, None]) for row in wb])
        with threadpool_limits(limits=1, user_api="blas"):
            rep_imp[lo:lo + len(c)] = _ols_subset_r2(b2, b1, b0, subsets) @ M
        report(lo + len(c))
    return r2


def _logit_bootstrap(prep: _Prepared, subsets, M, counts, rep_imp, report) -> np.ndarray:
    """McFadden subset R² of the full sample; fills ``rep_imp`` with the replicates' importances.

    Each replicate refits every subset's logit, warm-started at the full-sample fit.
    """
    sd = np.sqrt((prep.w @ prep.X ** 2) / prep.w.sum())   # > 0: constant columns were dropped
    limit = threadpool_limits(limits=1, user_api="blas") if prep.n < _SINGLE_THREAD_ROWS else None
    try:
        try:
            r2, betas = _logit_subset_r2(prep, subsets, prep.w, sd, None)
        except _FitFailure as exc:
            raise InputError(f"the logit of {prep.outcome!r} could not be fitted on the "
                             f"{prep.n} complete rows ({exc})") from None
        for b in range(counts.shape[0]):
            try:
                rb, _ = _logit_subset_r2(prep, subsets, prep.w * counts[b][prep.cluster], sd, betas)
                rep_imp[b] = rb @ M
            except _FitFailure:
                pass      # left NaN: not counted in the intervals
            report(b + 1)
    finally:
        if limit is not None:
            limit.restore_original_limits()
    return r2


def _run(prep: _Prepared, *, reps: int, seed: int, progress: Callable[[str], None] | None) -> _Run:
    k = len(prep.drivers)
    subsets = _subset_columns(prep.groups)
    M = _shapley_matrix(k)
    G = prep.n_clusters
    if G < 2 and reps:  # one cluster: every replicate is the sample itself, an interval of zero width
        if progress is not None:
            progress(f"driver bootstrap skipped: {G} cluster(s), at least 2 are needed")
        reps = 0
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, G, G), minlength=G) for _ in range(reps)]) \
        if reps else np.zeros((0, G), dtype=np.int64)
    rep_imp = np.full((reps, k), np.nan)
    rep_perf = None

    def report(done: int) -> None:
        if progress is not None and (done % _PROGRESS_EVERY == 0 or done == reps):
            progress(f"driver bootstrap {done}/{reps}")

    if prep.perf_values is not None:
        V = prep.perf_values
        ok = ~np.isnan(V)
        wv = prep.w[:, None] * np.where(ok, V, 0.0)
        num = np.column_stack([np.bincount(prep.cluster, weights=wv[:, j], minlength=G)
                               for j in range(k)])
        den = np.column_stack([np.bincount(prep.cluster, weights=prep.w * ok[:, j], minlength=G)
                               for j in range(k)])
        with np.errstate(invalid="ignore", divide="ignore"):
            perf = num.sum(0) / den.sum(0)
            rep_perf = (counts @ num) / (counts @ den)
    else:
        perf = None

    if not prep.logit:
        r2 = _ols_bootstrap(prep, subsets, M, counts, rep_imp, report)
    else:
        r2 = _logit_bootstrap(prep, subsets, M, counts, rep_imp, report)
    return _Run(prep, r2, r2 @ M, perf, rep_imp, rep_perf)


# ---------------------------------------------------------------- frames ----
def _importance_frame(run: _Run, conf_level: float) -> pd.DataFrame:
    prep = run.prep
    total = float(run.r2[-1])
    imp = run.imp
    rep_total = run.rep_imp.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rep_share = run.rep_imp / rep_total
    good = ~np.isnan(run.rep_imp).any(1)
    a = (1 - conf_level) / 2
    if good.any():
        lo, hi = np.quantile(run.rep_imp[good], [a, 1 - a], axis=0)
        slo, shi = np.quantile(rep_share[good], [a, 1 - a], axis=0)
    else:
        lo = hi = slo = shi = np.full(len(imp), np.nan)
    rank = pd.Series(-imp).rank(method="min").astype(int).to_numpy()
    return pd.DataFrame({
        "outcome": prep.outcome,
        "driver": list(prep.drivers),
        "importance": imp,
        "share": imp / total if total > 0 else np.full(len(imp), np.nan),
        "conf_low": lo, "conf_high": hi,
        "share_conf_low": slo, "share_conf_high": shi,
        "rank": rank,
        "total_r2": total,
        "n": prep.n,
        "n_dropped": prep.n_dropped,
        "method": "lmg_mcfadden" if prep.logit else "lmg",
        "conf_level": float(conf_level),
        "n_clusters": prep.n_clusters,
        "bootstrap_reps": int(good.sum()),
    })


def _add_null(frame: pd.DataFrame, null: dict[str, np.ndarray] | None, alpha: float) -> pd.DataFrame:
    """Permutation-null columns of an importance frame (research.strategy.drivers_null).

    ``null_share_mean``, ``null_share_q95`` (mean and 95th percentile of the share under
    permutation of the driver's rows), ``p_value`` ((1 + #{null >= observed}) / (B + 1)),
    ``p_holm`` (Holm across the drivers of this decomposition), ``null_reps`` (permutations
    used) and ``detectable`` (``p_holm < alpha``); all missing (``detectable`` NA) without a null.
    """
    from research.strategy.drivers_null import holm

    out = frame.copy()
    if null is None:
        for c in ["null_share_mean", "null_share_q95", "p_value", "p_holm"]:
            out[c] = np.nan
        out["null_reps"] = 0
        out["detectable"] = pd.array([pd.NA] * len(out), dtype="boolean")
        return out
    ns = null["share"]
    obs = out["share"].to_numpy(float)
    ok = np.isfinite(ns)
    nreps = ok.sum(0)
    with np.errstate(invalid="ignore"):
        exceed = ((ns >= obs[None, :] - _NULL_TIE_TOL) & ok).sum(0)
    p = np.where(nreps > 0, (1.0 + exceed) / (nreps + 1.0), np.nan)
    out["null_share_mean"] = [np.nanmean(ns[:, j]) if nreps[j] else np.nan for j in range(ns.shape[1])]
    out["null_share_q95"] = [np.quantile(ns[ok[:, j], j], 0.95) if nreps[j] else np.nan
                             for j in range(ns.shape[1])]
    out["p_value"] = p
    out["p_holm"] = holm(p)
    out["null_reps"] = nreps.astype(int)
    out["detectable"] = pd.array(out["p_holm"].to_numpy() < alpha, dtype="boolean")
    return out


def _replicate_frame(run: _Run) -> pd.DataFrame:
    B, k = run.rep_imp.shape
    total = run.rep_imp.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = run.rep_imp / total[:, None]
    return pd.DataFrame({
        "replicate": np.repeat(np.arange(1, B + 1), k),
        "driver": np.tile(list(run.prep.drivers), B),
        "importance": run.rep_imp.ravel(),
        "share": share.ravel(),
        "total_r2": np.repeat(total, k),
        "performance": (run.rep_perf.ravel() if run.rep_perf is not None
                        else np.full(B * k, np.nan)),
    })


def _quadrants(imp: np.ndarray, perf: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Quadrant code index (0..3 in QUADRANTS order, -1 if undefined) of each driver."""
    fin = np.isfinite(imp) & np.isfinite(perf)
    if not fin.any():
        return np.full(len(imp), -1), np.nan, np.nan
    ci, cp = float(imp[fin].mean()), float(perf[fin].mean())
    hi_i, hi_p = imp >= ci, perf >= cp
    q = np.where(hi_i, np.where(hi_p, 1, 0), np.where(hi_p, 3, 2))
    return np.where(fin, q, -1), ci, cp


#: IPA status of a driver: placed in a quadrant, or why not
IPA_STATUSES: tuple[str, ...] = ("placed", "no_performance_measure", "no_detectable_importance",
                                 "too_few_drivers")


def _ipa_frame(outcome: str, drivers: tuple[str, ...], imp: np.ndarray, perf: np.ndarray,
               rep_imp: np.ndarray, rep_perf: np.ndarray,
               detectable: np.ndarray | None = None) -> pd.DataFrame:
    """Quadrants of the drivers that have a performance measure and (if ``detectable`` is
    given) an importance that clears its permutation null; crosshairs and bootstrap
    probabilities are computed among those drivers only (at least 2 are needed)."""
    k = len(drivers)
    has_perf = np.isfinite(perf)
    clears = np.ones(k, dtype=bool) if detectable is None else np.asarray(detectable, dtype=bool)
    placed = has_perf & clears
    status = np.where(~has_perf, "no_performance_measure",
                      np.where(~clears, "no_detectable_importance", "placed")).astype(object)
    if placed.sum() < 2:
        status[placed] = "too_few_drivers"
        placed[:] = False
    idx = np.flatnonzero(placed)
    q = np.full(k, -1)
    ci = cp = np.nan
    probs = np.full((k, len(QUADRANTS)), np.nan)
    nb = 0
    if len(idx):
        q[idx], ci, cp = _quadrants(imp[idx], perf[idx])
        ri, rp = rep_imp[:, idx], rep_perf[:, idx]
        good = np.isfinite(ri).all(1) & np.isfinite(rp).all(1)
        counts = np.zeros((len(idx), len(QUADRANTS)))
        for b in np.flatnonzero(good):
            qb, _, _ = _quadrants(ri[b], rp[b])
            counts[np.arange(len(idx)), qb] += 1
        nb = int(good.sum())
        if nb:
            probs[idx] = counts / nb
    out = pd.DataFrame({
        "driver": list(drivers),
        "importance": imp,
        "performance": perf,
        "quadrant": pd.array([QUADRANTS[i] if i >= 0 else pd.NA for i in q], dtype="string"),
    })
    for j, name in enumerate(QUADRANTS):
        out[f"p_{name}"] = probs[:, j]
    out["outcome"] = outcome
    out["performance_measure"] = [PERFORMANCE_MEASURES[d] for d in drivers]
    out["importance_crosshair"] = ci
    out["performance_crosshair"] = cp
    out["bootstrap_reps"] = nb
    out["ipa_status"] = pd.array(list(status), dtype="string")
    return out


# ----------------------------------------------------------------- public ---
def driver_analysis(responses: pd.DataFrame, *, outcome: str = "sat_overall",
                    drivers: Sequence[str] = DEFAULT_DRIVERS, weights: str | None = None,
                    bootstrap_reps: int = 200, seed: int = DEFAULT_SEED,
                    cluster: str | None = "station", conf_level: float = 0.95,
                    permutation_reps: int = 0, permutation_seed: int | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, pd.DataFrame]:
    """ONE decomposition of the given driver groups: importance, its permutation null and the
    IPA, all from one cluster bootstrap run (the building block of :func:`key_drivers`).

    Parameters
    ----------
    responses : canonical survey responses (``research.ingestion.schema.RESPONSES``); needs the
        outcome, the source column of each driver (:data:`DRIVER_SOURCES`), the
        cluster column, the weights column if given, and for the performance
        ``sla_met`` (handling time) and each driver's own column.
    outcome : numeric column (OLS R², ``method = "lmg"``) or boolean column
        (logit, McFadden's pseudo-R², ``method = "lmg_mcfadden"``).
    drivers : driver groups, a subset of :data:`DRIVERS`, in output order.
    weights : column of non-negative survey weights (weighted R²), or None.
    bootstrap_reps : cluster bootstrap replicates (0: no intervals).
    seed : seed of ``numpy.random.default_rng`` for the bootstrap.
    cluster : column whose values are resampled (stations); None resamples rows.
    conf_level : level of the percentile intervals; ``1 - conf_level`` is the level of the
        permutation test (Holm-adjusted across the groups).
    permutation_reps : permutations per group for the null (research.strategy.drivers_null; 0: none,
        every driver with a performance measure is placed in the IPA).
    permutation_seed : base seed of the permutations (default
        ``research.strategy.drivers_null.DEFAULT_PERMUTATION_SEED``).
    progress : called with a message every 20 replicates and once per permuted group.

    Returns
    -------
    dict with three frames: ``"importance"`` (as :func:`driver_importance`, plus the null
    columns ``null_share_mean, null_share_q95, p_value, p_holm, null_reps, detectable``),
    ``"ipa"`` (as :func:`importance_performance`; only drivers with a performance measure
    whose importance clears the null are placed, ``ipa_status`` says why another is not)
    and ``"replicates"`` (one row per replicate and driver: ``replicate`` 1..B,
    ``driver``, ``importance`` (R² units), ``share``, ``total_r2``, ``performance``
    (0..1; NaN for a driver without a measure or in a failed replicate)).
    """
    from research.strategy.drivers_null import DEFAULT_PERMUTATION_SEED, permutation_null

    drivers = _check_drivers(drivers)
    _check_run(bootstrap_reps, conf_level, seed)
    from research.config.plan import MAX_BOOTSTRAP_REPS, SEED_MAX

    check_whole(permutation_reps, "permutation_reps", low=0, high=MAX_BOOTSTRAP_REPS, where="key drivers")
    pseed = DEFAULT_PERMUTATION_SEED if permutation_seed is None else permutation_seed
    check_whole(pseed, "permutation_seed", low=0, high=SEED_MAX, where="key drivers")
    prep = _prepare(responses, outcome=outcome, drivers=drivers, weights=weights,
                    cluster=cluster, performance=True)
    run = _run(prep, reps=int(bootstrap_reps), seed=int(seed), progress=progress)
    null = (permutation_null(prep, reps=int(permutation_reps), seed=int(pseed), progress=progress)
            if permutation_reps else None)
    imp = _add_null(_importance_frame(run, conf_level), null, 1.0 - conf_level)
    detectable = None if null is None else imp["detectable"].fillna(False).to_numpy(bool)
    return {
        "importance": imp,
        "ipa": _ipa_frame(outcome, drivers, run.imp, run.perf, run.rep_imp, run.rep_perf, detectable),
        "replicates": _replicate_frame(run),
    }


def key_drivers(responses: pd.DataFrame, *, outcome: str = "sat_overall",
                sets: dict[str, Sequence[str]] | None = None, weights: str | None = None,
                bootstrap_reps: int = 200, seed: int = DEFAULT_SEED,
                cluster: str | None = "station", conf_level: float = 0.95,
                permutation_reps: int = 200, permutation_seed: int | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, pd.DataFrame]:
    """Key drivers without the halo: operational drivers and satisfaction items decomposed APART.

    The operational decomposition uses only what the utility controls or observes
    before the callback (:data:`OPERATIONAL_DRIVERS`: sub-cause, handling time, SLA
    met, channel, repeat calls). The three satisfaction items are answers to the
    same call as the outcome (correlation ~0.84 with it): mixed in, they take ~80%
    of R² and every other driver's share and quadrant is decided by them. They are
    decomposed on their own (:data:`ITEM_DRIVERS`, "item importance"). The
    resolution answer is also a callback answer (post-treatment) and is in neither
    set; an operational set naming a callback answer is refused.

    Each set is one :func:`driver_analysis` (same bootstrap seed, so the same stations
    are drawn in both) with its permutation null; the IPA quadrants of a set are
    computed among its drivers that have a performance measure and clear the null.

    Parameters
    ----------
    sets : set name -> driver groups (default :data:`DRIVER_SETS`); the set named
        ``"operational"`` may not contain :data:`CALLBACK_DRIVERS`.
    other parameters : as :func:`driver_analysis` (``permutation_reps`` defaults to 200).

    Returns
    -------
    dict with ``"importance"``, ``"ipa"`` and ``"replicates"``: the frames of
    :func:`driver_analysis` for each set stacked, with a first column ``set``
    (``"operational"``, ``"items"``); shares, ranks, Holm adjustments and crosshairs
    are within a set.

    Examples
    --------
    >>> from research.simulate import simulate
    >>> res = key_drivers(simulate(20000, 1).responses, bootstrap_reps=50)   # doctest: +SKIP
    >>> res["importance"][["set", "driver", "share", "null_share_q95", "p_value"]]  # doctest: +SKIP
    """
    sets = dict(DRIVER_SETS if sets is None else sets)
    if not sets:
        raise ValueError("sets must name at least one driver set")
    mixed = [d for d in sets.get("operational", ()) if d in CALLBACK_DRIVERS]
    if mixed:
        raise ValueError(f"the operational driver set may not contain callback answers {mixed} "
                         "(post-treatment; they are decomposed apart as item importance)")
    parts: dict[str, list[pd.DataFrame]] = {"importance": [], "ipa": [], "replicates": []}
    for name, drivers in sets.items():
        res = driver_analysis(responses, outcome=outcome, drivers=drivers, weights=weights,
                              bootstrap_reps=bootstrap_reps, seed=seed, cluster=cluster,
                              conf_level=conf_level, permutation_reps=permutation_reps,
                              permutation_seed=permutation_seed, progress=progress)
        for key, frame in res.items():
            parts[key].append(frame.assign(set=name)[["set", *frame.columns]])
    return {key: pd.concat(frames, ignore_index=True) for key, frames in parts.items()}


def driver_importance(responses: pd.DataFrame, *, outcome: str = "sat_overall",
                      drivers: Sequence[str] = DEFAULT_DRIVERS, weights: str | None = None,
                      bootstrap_reps: int = 200, seed: int = DEFAULT_SEED,
                      cluster: str | None = "station", conf_level: float = 0.95,
                      progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Relative importance (LMG / Shapley / general dominance) of driver groups.

    Parameters are those of :func:`key_drivers` (performance columns are not
    needed here). Rows missing the outcome, any driver's source column, the
    weight or the cluster are dropped.

    Returns
    -------
    DataFrame, one row per driver group in ``drivers`` order:

    - ``outcome``, ``driver``
    - ``importance``: Shapley share of the R² (R² units; McFadden R² for a boolean outcome)
    - ``share``: importance / total_r2 (0..1; sums to 1)
    - ``conf_low``, ``conf_high``: percentile bootstrap interval of ``importance``
    - ``share_conf_low``, ``share_conf_high``: the same for ``share``
    - ``rank``: 1 = most important
    - ``total_r2``: R² of the model with every group (= sum of importances)
    - ``n``: rows used; ``n_dropped``: rows dropped for missing values
    - ``method``: ``"lmg"`` (OLS R²) or ``"lmg_mcfadden"`` (logit, McFadden)
    - ``conf_level``; ``n_clusters``: clusters resampled; ``bootstrap_reps``:
      replicates used (failed replicates, e.g. a non-converging logit, are left out)

    Examples
    --------
    >>> driver_importance(responses, bootstrap_reps=200, seed=1)   # doctest: +SKIP
    # In R (point estimates, single columns, no groups):
    #   relaimpo::calc.relimp(lm(sat_overall ~ ..., d), type = "lmg")
    #   domir::domir(sat_overall ~ ..., \\(f) summary(lm(f, d))$r.squared)
    """
    drivers = _check_drivers(drivers)
    _check_run(bootstrap_reps, conf_level, seed)
    prep = _prepare(responses, outcome=outcome, drivers=drivers, weights=weights,
                    cluster=cluster, performance=False)
    run = _run(prep, reps=int(bootstrap_reps), seed=int(seed), progress=progress)
    return _importance_frame(run, conf_level)


def subset_r2(responses: pd.DataFrame, *, outcome: str = "sat_overall",
              drivers: Sequence[str] = DEFAULT_DRIVERS, weights: str | None = None) -> pd.DataFrame:
    """R² (or McFadden R²) of the model on every subset of driver groups (complete rows).

    Returns
    -------
    DataFrame, one row per subset (2^k rows, bitmask order: bit j = ``drivers[j]``):
    ``outcome``, ``subset`` (group names joined by ``+`` in ``drivers`` order;
    ``""`` for the empty model), ``size`` (number of groups), ``r2``, ``method``.
    """
    drivers = _check_drivers(drivers)
    prep = _prepare(responses, outcome=outcome, drivers=drivers, weights=weights,
                    cluster=None, performance=False)
    run = _run(prep, reps=0, seed=0, progress=None)
    k = len(drivers)
    names = ["+".join(d for j, d in enumerate(drivers) if m >> j & 1) for m in range(2 ** k)]
    return pd.DataFrame({"outcome": outcome, "subset": names,
                         "size": [bin(m).count("1") for m in range(2 ** k)], "r2": run.r2,
                         "method": "lmg_mcfadden" if prep.logit else "lmg"})


def driver_performance(responses: pd.DataFrame, *, outcome: str = "sat_overall",
                       drivers: Sequence[str] = DEFAULT_DRIVERS, weights: str | None = None,
                       cluster: str | None = "station") -> pd.DataFrame:
    """Performance (0..1) of each driver on the rows the importance analysis uses.

    Returns
    -------
    DataFrame: ``driver``, ``performance`` (0..1, weighted mean of the measure),
    ``performance_measure`` (code, see :data:`PERFORMANCE_MEASURES`), ``n`` (rows).
    """
    drivers = _check_drivers(drivers)
    prep = _prepare(responses, outcome=outcome, drivers=drivers, weights=weights,
                    cluster=cluster, performance=True)
    V = prep.perf_values
    ok = ~np.isnan(V)
    with np.errstate(invalid="ignore", divide="ignore"):
        perf = (prep.w @ np.where(ok, V, 0.0)) / (prep.w @ ok)
    return pd.DataFrame({"driver": list(drivers), "performance": perf,
                         "performance_measure": [PERFORMANCE_MEASURES[d] for d in drivers],
                         "n": prep.n})


def importance_performance(responses: pd.DataFrame, importance: pd.DataFrame, *,
                           replicates: pd.DataFrame, weights: str | None = None,
                           cluster: str | None = "station") -> pd.DataFrame:
    """Importance-performance analysis: quadrant of each driver and its bootstrap probabilities.

    Parameters
    ----------
    responses : the responses the importance was computed on.
    importance : output of :func:`driver_importance` / ``key_drivers()["importance"]``.
    replicates : ``key_drivers()["replicates"]``: the importance AND performance of
        each driver in each bootstrap replicate (same resamples).
    weights, cluster : as used for ``importance`` (they decide which rows are used;
        checked through ``n``).

    Returns
    -------
    DataFrame, one row per driver: ``driver``, ``importance`` (R² units),
    ``performance`` (0..1), ``quadrant`` (:data:`QUADRANTS`; crosshairs at the
    means over drivers, a value at its crosshair counts as high),
    ``p_concentrate_here``, ``p_keep_up``, ``p_low_priority``,
    ``p_possible_overkill`` (share of replicates, crosshairs recomputed in each;
    they sum to 1), ``outcome``, ``performance_measure``, ``importance_crosshair``,
    ``performance_crosshair``, ``bootstrap_reps`` (replicates used).
    """
    need = {"outcome", "driver", "importance", "n"}
    if not need <= set(importance.columns):
        raise ValueError(f"importance frame lacks {sorted(need - set(importance.columns))}")
    if not {"replicate", "driver", "importance", "performance"} <= set(replicates.columns):
        raise ValueError("replicates must be key_drivers()['replicates'] (columns replicate, "
                         "driver, importance, performance)")
    drivers = _check_drivers(list(importance["driver"]))
    outcome = str(importance["outcome"].iloc[0])
    perf = driver_performance(responses, outcome=outcome, drivers=drivers, weights=weights,
                              cluster=cluster)
    if int(perf["n"].iloc[0]) != int(importance["n"].iloc[0]):
        raise ValueError(f"importance was computed on {int(importance['n'].iloc[0])} rows but "
                         f"these responses give {int(perf['n'].iloc[0])}; pass the same data, "
                         "weights and cluster")
    rep = replicates.set_index(["replicate", "driver"])
    ri = rep["importance"].unstack("driver").reindex(columns=list(drivers))
    rp = rep["performance"].unstack("driver").reindex(columns=list(drivers))
    detectable = (importance["detectable"].astype("boolean").fillna(False).to_numpy(bool)
                  if "detectable" in importance.columns and importance["null_reps"].gt(0).all() else None)
    return _ipa_frame(outcome, drivers, importance["importance"].to_numpy(float),
                      perf["performance"].to_numpy(float), ri.to_numpy(float), rp.to_numpy(float),
                      detectable)
