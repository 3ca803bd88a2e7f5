"""Permutation null for the relative importance of each driver group (research.strategy.drivers).

Why
---
An LMG / Shapley share is never zero: a group of ``p`` columns that carries no
information about the outcome still takes about ``p / n`` of R² by chance, and
a 16-column group (the sub-cause) takes more than a single column. Without a
reference, a reader cannot tell a driver that explains nothing from a small
real one. The reference here is the share the same group gets when its rows no
longer belong to their tickets.

How
---
For driver group ``j`` and replicate ``b = 1..B``, the rows of ``j``'s columns
are permuted together (one permutation of the complete rows applied to the
whole block, so a dummy set stays a valid dummy set), every other column and
the outcome stay in place, and the LMG share of ``j`` is recomputed
(``share = I_j / R2(all)``, both from the permuted data). This is the
permutation test of a block of predictors (Anderson & Robinson 2001, "raw
data" permutation; for relative importance: Azen & Budescu 2003, and R's
``relaimpo`` documentation, which warns that LMG shares need such a
reference). The permutation p-value counts the observed share among the null
ones, ``(1 + #{null >= observed}) / (B + 1)`` (Phipson & Smyth 2010: exact
under the null, never zero). Holm's step-down adjustment (Holm 1979; R
``p.adjust(method = "holm")``) is applied across the groups of one
decomposition; a group whose adjusted p-value is not below ``alpha`` has "no
detectable importance".

What the null is: the group is unrelated to the outcome AND to the other
groups. A group that clears it may still owe its share to what it shares with
correlated groups (LMG splits shared variance evenly over orders); the test
says "more than noise", not "a cause".

Cost
----
OLS (``sat_overall``): permuting rows of block ``j`` changes only the block's
rows and columns of the centred cross-product matrix ``C = A' W A``, so a
replicate costs one ``n x p_j x q`` product and the subset R² of all
replicates are solved in one batch (research.strategy.drivers_lmg._ols_subset_r2); about
1 s for 5 groups x 200 replicates on 18,000 rows. Logit (``satisfied``,
McFadden): only the subsets that contain ``j`` are refitted (warm-started), i.e.
``2^(k-1)`` logits per replicate; use few replicates on large data.

Large data (OLS): above :data:`EXACT_PERMUTATION_ROWS` complete rows the B replicates are
not drawn by permuting rows. A permuted block enters the R² only through linear permutation
statistics ``S = sum_i a_pi(i) b_i'`` (``a``: the block's columns and, for the weighted
own block, their squares; ``b``: the weighted-centred other columns and the weight), whose
exact permutation mean and covariance are known in closed form (Wald & Wolfowitz 1944):
``E S = n abar bbar'`` and ``Cov(vec S) = (Sbb (x) Saa) / (n - 1)`` with ``Saa``, ``Sbb`` the
centred scatter matrices of ``a`` and ``b``. By the combinatorial central limit theorem
(Hoeffding 1951, *Ann Math Stat* 22:558) ``S`` is then normal to within O(n^-1/2), so each
replicate draws ``S`` from that normal and computes the subset R² from it exactly as from
permuted rows: no pass over the rows per replicate (at 1,000,000 rows the row permutations
took minutes and gigabytes; these draws take well under a second). The nulls are Monte
Carlo draws of (nearly) the same distribution, so their summaries and p-values move within
Monte Carlo error against the row permutations (measured: benchmarks/bench_strategy_1m.py).

Seeds: the B permutations come from ``numpy.random.default_rng(seed)`` and are
applied to every group in turn (each group's null is a valid null on its own;
drawing them once halves the cost), so a group's null does not depend on which
other groups are analysed or in which order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from research.strategy import drivers_lmg as lmg

__all__ = ["permutation_null", "holm", "DEFAULT_PERMUTATION_SEED"]

DEFAULT_PERMUTATION_SEED = 20261129
# Replicates whose cross-product matrices are solved together (memory: batch x q x q).
_BATCH = 50
#: above this many complete rows the OLS null draws each replicate's block cross-products from
#: their permutation distribution's normal approximation (exact mean and covariance; see the
#: module docstring) instead of permuting rows; at or below it the rows are permuted
EXACT_PERMUTATION_ROWS = 100_000
# rows per chunk of the one pass that forms the scatter matrices of the large-data null
_CHUNK_ROWS = 200_000


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (R ``p.adjust(p, "holm")``); NaN stays NaN.

    The one implementation is :func:`research.models.fit.adjust_pvalues`.
    """
    from research.models.fit import adjust_pvalues

    return adjust_pvalues(p, "holm")


def permutation_null(prep, *, reps: int, seed: int,
                     progress: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Null distribution of each driver group's LMG share under permutation of its rows.

    Parameters
    ----------
    prep : ``research.strategy.drivers_design._Prepared`` (the complete-case design of one decomposition).
    reps : permutations per group (B >= 1).
    seed : seed of ``numpy.random.default_rng`` drawing the B permutations (shared by the groups).
    progress : called once per group.

    Returns
    -------
    dict of arrays: ``"share"`` (B, k) the null shares (0..1; NaN where a permuted fit
    failed), ``"importance"`` (B, k) the null importances (R² units).
    """

    k = len(prep.drivers)
    subsets = lmg._subset_columns(prep.groups)
    M = lmg._shapley_matrix(k)
    null_imp = np.full((reps, k), np.nan)
    null_share = np.full((reps, k), np.nan)
    fits = _logit_context(prep, subsets) if prep.logit else None
    perms = ols = None
    for j, d in enumerate(prep.drivers):
        cols = prep.groups[j]
        if len(cols) == 0:        # a constant driver: share 0 in every permutation as observed
            null_imp[:, j] = 0.0
            null_share[:, j] = 0.0
            continue
        if prep.logit or prep.n <= EXACT_PERMUTATION_ROWS:
            if perms is None:
                perms = np.random.default_rng(int(seed)).permuted(
                    np.broadcast_to(np.arange(prep.n, dtype=np.int32), (reps, prep.n)), axis=1)
            if prep.logit:
                r2 = _logit_null_r2(prep, subsets, cols, j, perms, fits)
            else:
                r2 = _ols_null_r2(prep, subsets, j, perms)
        else:
            if ols is None:
                ols = _OlsNullContext(prep)
            r2 = _ols_null_r2(prep, subsets, j, None, ctx=ols, reps=reps, seed=int(seed))
        imp = r2 @ M
        null_imp[:, j] = imp[:, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            null_share[:, j] = imp[:, j] / r2[:, -1]
        if progress is not None:
            progress(f"driver permutation null {j + 1}/{k} ({d}, {reps} permutations)")
    return {"share": null_share, "importance": null_imp}


def _exact_block_products(prep, j: int, perms: np.ndarray):
    """``C`` and, per permutation, group ``j``'s ``cross`` (B, p, rest) and ``own`` (B, p, p)
    block products of the permuted rows (see :func:`_ols_null_r2`)."""
    from scipy import sparse

    w, sw = prep.w, prep.w.sum()
    A = np.column_stack([prep.X, prep.y - (w @ prep.y) / sw])    # every column weighted-centred
    C = A.T @ (A * w[:, None])
    cols = prep.groups[j]
    rest = np.setdiff1d(np.arange(C.shape[0]), cols)
    WA = A[:, rest] * w[:, None]
    B, n, p = len(perms), prep.n, len(cols)
    codes = prep.level_codes[j] if prep.level_codes is not None else None
    equal = bool((w == w[0]).all())       # equal weights: the block's own sums do not move
    if codes is not None:                  # dummies: per-level sums of the permuted rows
        cpT = codes[perms.T]               # (n, B) level of the row each ticket now carries
        keep = cpT >= 0
        # S' (n x B p): ticket i has a 1 in column b p + level; built row by row, already sorted
        St = sparse.csr_matrix((np.ones(int(keep.sum())), (np.arange(B) * p + cpT)[keep],
                                np.r_[0, np.cumsum(keep.sum(1))]), shape=(n, B * p))
        cross = np.asarray(St.T @ WA).reshape(B, p, len(rest))
        if equal:
            own = np.repeat(C[np.ix_(cols, cols)][None], B, axis=0)
        else:
            lw = np.asarray(St.T @ w).reshape(B, p)
            own = np.einsum("bi,ij->bij", lw, np.eye(p)) - lw[:, :, None] * lw[:, None, :] / sw
    elif p == 1:                           # one numeric column
        xp = prep.X[:, cols[0]][perms]     # (B, n)
        cross = (xp @ WA)[:, None, :]
        if equal:
            own = np.repeat(C[np.ix_(cols, cols)][None], B, axis=0)
        else:
            m = xp @ w / sw
            own = ((xp ** 2) @ w - sw * m ** 2)[:, None, None]
    else:                                  # a general block: one replicate at a time
        Xj = prep.X[:, cols]
        cross = np.empty((B, p, len(rest)))
        own = np.empty((B, p, p))
        for b, perm in enumerate(perms):
            Xp = Xj[perm]
            Xp = Xp - (w @ Xp) / sw
            cross[b] = Xp.T @ WA
            own[b] = Xp.T @ (Xp * w[:, None])
    return C, cross, own, cols, rest, B


def _ols_null_r2(prep, subsets, j: int, perms: np.ndarray | None, *, ctx: _OlsNullContext | None = None,
                 reps: int = 0, seed: int = 0) -> np.ndarray:
    """Subset R² (B, 2^k) with the rows of group ``j``'s block permuted by each row of ``perms``.

    Only the block's rows/columns of ``C = A' W A`` change: with ``A_rest`` weighted-centred,
    ``C[j, rest] = X_j[perm]' W A_rest`` (the block's own re-centring drops out) and
    ``C[j, j] = X_j[perm]' W X_j[perm] - sw m m'`` with ``m`` its permuted weighted mean. A
    dummy group's products are per-level sums (one sparse product for all replicates), a
    one-column group's one dense product. Subsets without ``j`` keep the sample's R².

    With ``ctx`` (large data; ``perms`` None) the ``reps`` replicates' block products are drawn
    from their permutation distribution's normal approximation (:class:`_OlsNullContext`).
    """

    if ctx is not None:
        C, (cross, own) = ctx.C, ctx.draw(j, reps, seed)
        cols = prep.groups[j]
        rest = np.setdiff1d(np.arange(C.shape[0]), cols)
        B = reps
    else:
        C, cross, own, cols, rest, B = _exact_block_products(prep, j, perms)
    Cb = np.repeat(C[None], B, axis=0)
    Cb[:, cols[:, None], rest[None, :]] = cross
    Cb[:, rest[:, None], cols[None, :]] = cross.transpose(0, 2, 1)
    Cb[:, cols[:, None], cols[None, :]] = own
    with_j = [m for m in range(len(subsets)) if m >> j & 1]
    full = lmg._ols_subset_r2(C[None], np.zeros((1, C.shape[0])), np.ones(1), subsets)[0]
    out = np.repeat(full[None], B, axis=0)
    sub_j = [subsets[m] for m in with_j]
    with threadpool_limits(limits=1, user_api="blas"):
        for lo in range(0, B, _BATCH):
            hi = min(lo + _BATCH, B)
            try:
                out[lo:hi, with_j] = _subset_r2_solve(Cb[lo:hi], sub_j)
            except np.linalg.LinAlgError:   # a singular sub-matrix: the pseudo-inverse path
                out[lo:hi, with_j] = lmg._ols_subset_r2(Cb[lo:hi], np.zeros((hi - lo, C.shape[0])),
                                                        np.ones(hi - lo), sub_j)
    return out


def _psd_sqrt(S: np.ndarray) -> np.ndarray:
    """A square root ``L`` (``L L' = S``) of a symmetric positive semi-definite matrix; the
    eigenvalues that rounding made negative count as 0 (a constant column has no spread)."""
    vals, vecs = np.linalg.eigh((S + S.T) / 2)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


class _OlsNullContext:
    """Sufficient statistics of the large-data OLS null (one pass over the rows, in chunks).

    For group ``j`` with columns ``J`` and the other columns ``R`` of ``A = [X, y]`` (weighted-
    centred), the permuted block enters ``C`` only through ``S = sum_i a_pi(i) b_i'`` with
    ``b_i = [w_i A_iR, w_i]`` and ``a_i`` the block's raw dummies (a dummy group: its weighted
    own block is ``diag(lw) - lw lw' / sw`` with ``lw = S[:, -1]``) or its columns and their
    products (a numeric group: ``own = sum w x x' - (sum w x)(sum w x)' / sw``). The
    permutation distribution of ``S`` has mean ``(sum a)(sum b)' / n`` and covariance
    ``Sbb (x) Saa / (n - 1)`` (centred scatter matrices; Wald & Wolfowitz 1944), and is normal
    to within O(n^-1/2) (Hoeffding 1951): :meth:`draw` samples it.
    """

    def __init__(self, prep):
        w = prep.w
        n, P = prep.X.shape
        q = P + 1
        self.n, self.sw = n, float(w.sum())
        self.equal = bool((w == w[0]).all())
        yc = prep.y - (w @ prep.y) / self.sw
        C = np.zeros((q, q))
        M2 = np.zeros((q + 1, q + 1))      # sum_i w_i^2 [A_i, 1][A_i, 1]'
        M1 = np.zeros(q + 1)               # sum_i w_i [A_i, 1]
        numeric = [j for j, cols in enumerate(prep.groups)
                   if len(cols) and (prep.level_codes is None or prep.level_codes[j] is None)]
        sa = {j: 0.0 for j in numeric}
        saa = {j: 0.0 for j in numeric}
        with threadpool_limits(limits=1, user_api="blas"):
            for lo in range(0, n, _CHUNK_ROWS):
                hi = min(lo + _CHUNK_ROWS, n)
                Ac = np.empty((hi - lo, q + 1))
                Ac[:, :P] = prep.X[lo:hi]
                Ac[:, P] = yc[lo:hi]
                Ac[:, q] = 1.0
                WAc = Ac * w[lo:hi, None]
                C += Ac[:, :q].T @ WAc[:, :q]
                M2 += WAc.T @ WAc
                M1 += WAc.sum(0)
                for j in numeric:
                    a = _numeric_a(prep.X[lo:hi, prep.groups[j]])
                    sa[j] = sa[j] + a.sum(0)
                    saa[j] = saa[j] + a.T @ a
        self.C, self.M2, self.M1 = C, M2, M1
        self.a_stats = {j: (sa[j], saa[j]) for j in numeric}
        for j, cols in enumerate(prep.groups):
            if len(cols) and j not in self.a_stats:   # dummies: level counts
                counts = np.bincount(prep.level_codes[j][prep.level_codes[j] >= 0],
                                     minlength=len(cols)).astype(float)
                self.a_stats[j] = (counts, np.diag(counts))
        self.groups = prep.groups

    def moments(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Permutation mean of group ``j``'s ``S`` (da, db) and the two factors of its covariance,
        ``Cov(S_kl, S_k'l') = A_kk' B_ll'``: ``A = Saa / (n - 1)``, ``B = Sbb``."""
        cols = self.groups[j]
        q, n = self.C.shape[0], self.n
        bidx = np.r_[np.setdiff1d(np.arange(q), cols), q]     # b = [w A_rest, w]
        sb = self.M1[bidx]
        Sbb = self.M2[np.ix_(bidx, bidx)] - np.outer(sb, sb) / n
        sa, raw = self.a_stats[j]
        return np.outer(sa, sb) / n, (raw - np.outer(sa, sa) / n) / (n - 1), Sbb

    def draw(self, j: int, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``reps`` draws of group ``j``'s ``cross`` (B, p, rest) and ``own`` (B, p, p)."""
        cols = self.groups[j]
        p = len(cols)
        mean, A, Bm = self.moments(j)
        La, Lb = _psd_sqrt(A), _psd_sqrt(Bm)
        Z = np.random.default_rng(seed).standard_normal((reps, *mean.shape))
        S = mean + La @ Z @ Lb.T                     # (B, da, db)
        r = mean.shape[1] - 1
        cross = S[:, :p, :r]
        if self.equal:
            own = np.repeat(self.C[np.ix_(cols, cols)][None], reps, axis=0)
        elif mean.shape[0] == p:                     # dummies: per-level weight sums
            lw = S[:, :, r]
            own = np.einsum("bi,ij->bij", lw, np.eye(p)) - lw[:, :, None] * lw[:, None, :] / self.sw
        else:                                        # numeric: sum w x and sum w x x'
            m = S[:, :p, r]
            iu = np.triu_indices(p)
            prod = np.empty((reps, p, p))
            prod[:, iu[0], iu[1]] = S[:, p:, r]
            prod[:, iu[1], iu[0]] = S[:, p:, r]
            own = prod - m[:, :, None] * m[:, None, :] / self.sw
        return cross, own


def _numeric_a(x: np.ndarray) -> np.ndarray:
    """``a`` of a numeric block (rows x p): its columns, then the products ``x_k x_l`` (k <= l)."""
    iu = np.triu_indices(x.shape[1])
    return np.column_stack([x, x[:, iu[0]] * x[:, iu[1]]])


def _subset_r2_solve(C: np.ndarray, subsets: list[np.ndarray]) -> np.ndarray:
    """R² ``r_S' R_SS^-1 r_S`` of each subset from centred cross-products ``C`` (B, q, q), y last,
    by a direct solve (a permuted block keeps its level counts, so the sub-matrices stay
    non-singular; research.strategy.drivers_lmg._ols_subset_r2 is the pseudo-inverse version, 4x slower)."""
    d = np.sqrt(np.einsum("bii->bi", C))
    if not (d > 0).all():
        raise np.linalg.LinAlgError("a constant column")
    R = C / d[:, :, None] / d[:, None, :]
    p = C.shape[1] - 1
    out = np.empty((C.shape[0], len(subsets)))
    for m, cols in enumerate(subsets):
        rs = R[:, cols, p]
        out[:, m] = np.einsum("bi,bi->b", rs, np.linalg.solve(R[:, cols][:, :, cols], rs[:, :, None])[:, :, 0])
    return out


def _logit_context(prep, subsets):
    """Full-sample subset fits of the logit: McFadden R² and coefficients (warm starts)."""

    sd = np.sqrt((prep.w @ prep.X ** 2) / prep.w.sum())
    r2, betas = lmg._logit_subset_r2(prep, subsets, prep.w, sd, None)
    return r2, betas, sd


def _logit_null_r2(prep, subsets, cols, j: int, perms: np.ndarray, fits) -> np.ndarray:
    """McFadden subset R² (B, 2^k) with block ``cols`` permuted; subsets without group ``j``
    keep their full-sample value, the others are refitted (NaN row if a fit fails)."""

    r2_full, betas, sd = fits
    w, y = prep.w, prep.y
    ybar = (w @ y) / w.sum()
    ll0 = float(w.sum() * (ybar * np.log(ybar) + (1 - ybar) * np.log1p(-ybar)))
    Xs = prep.X / sd
    ones = np.ones((prep.n, 1))
    with_j = [m for m in range(len(subsets)) if m >> j & 1]
    out = np.repeat(r2_full[None], len(perms), axis=0)
    for b, perm in enumerate(perms):
        Xb = Xs.copy()
        block = Xs[perm][:, cols]
        Xb[:, cols] = block - (w @ block) / w.sum()
        try:
            for m in with_j:
                Z = np.hstack([ones, Xb[:, subsets[m]]])
                start = betas[m].copy()
                start[1:][np.isin(subsets[m], cols)] = 0.0   # the permuted block starts at no effect
                ll, _ = lmg._logit_loglik(Z, y, w, start)
                out[b, m] = 1.0 - ll / ll0
        except lmg._FitFailure:
            out[b] = np.nan
    return out
