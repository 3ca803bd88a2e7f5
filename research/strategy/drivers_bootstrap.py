"""Key drivers, the cluster bootstrap: point estimates and replicates of one decomposition.

In: a :class:`research.strategy.drivers_design._Prepared` design, the number of replicates and
the seed. Out: :class:`_Run`, the subset R² (2^k,) and importances (k,) of the full sample, the
performance (k,) of each driver, and the importance and performance of every replicate
((B, k); NaN rows for failed replicates).

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
(:mod:`research.strategy.drivers_ipa`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from research.errors import InputError
from research.strategy.drivers_design import _Prepared
from research.strategy.drivers_lmg import (_FitFailure, _logit_subset_r2, _ols_subset_r2, _shapley_matrix,
                                           _subset_columns)

# Below this many rows the small matrix products run single-threaded: with several BLAS
# threads competing for few cores they are many times slower (as in models/thresholds.py).
_SINGLE_THREAD_ROWS = 200_000
# Clusters at most this many: per-cluster cross-products are kept in memory
# (G x q x q); above it each replicate recomputes A' W_b A from the rows.
_MAX_CLUSTER_BLOCKS = 10_000
_PROGRESS_EVERY = 20


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
