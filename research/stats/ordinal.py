"""Proportional-odds (cumulative logit) model: exact Newton-Raphson ML, as R's ``ordinal::clm``.

Why this module exists
----------------------
statsmodels' ``OrderedModel`` is the only Python implementation at hand, and
it does not fit this project's needs: it is marked experimental, it fits with
a generic quasi-Newton optimiser and numerical derivatives (BFGS took 569 s on
1,000,000 rows x 25 columns, where R ``ordinal::clm`` takes 36 s), and it
takes no case or survey weights. The model is simple enough to fit exactly:
the log-likelihood is concave in (beta, theta) (Pratt 1981), and its gradient
and Hessian are closed-form, so Newton-Raphson converges in a handful of
iterations, each a few BLAS ``X' diag(c) X`` products.

Model (sign convention of R ``clm`` and ``MASS::polr``)::

    logit P(Y <= j | x) = theta_j - x'beta,   j = 0..K-2,   theta increasing

with ``y`` coded 0..K-1 and no intercept in ``X`` (the cutpoints play that
role). A positive ``beta`` shifts mass to higher categories.

Estimation: Newton-Raphson on the natural parameters (beta, theta) with the
analytic gradient and Hessian and step halving (a step is halved until the
cutpoints stay strictly increasing and the log-likelihood does not decrease),
starting from beta = 0 and theta at the logits of the cumulative marginal
(weighted) proportions -- the same algorithm as ``clm``'s default. Category
probabilities ``F(a) - F(b)`` are computed as
``F(a) (1 - F(b)) (1 - exp(b - a))`` in log space, so that neither tail loses
precision. ``vcov`` is the inverse observed information (the inverse negative
Hessian) for ``[beta, theta]``; with weights it is the inverse *weighted*
information, and survey-weighted inference should use the sandwich
(:func:`ordinal_scores` + :func:`research.stats.sandwich.cluster_robust_vcov`).

Checked in ``tests/stats/test_ordinal.py`` against ``ordinal::clm`` (estimates,
SEs, log-likelihood, weighted fit, ``sandwich::vcovCL`` CR1) and a Brant test
computed in R (``tests/fixtures/r/ordinal/``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.linalg import blas
from scipy.special import expit, log_expit

__all__ = ["OrdinalFit", "fit_ordinal", "ordinal_scores", "ordinal_hessian",
           "cumulative_probabilities", "category_probabilities", "brant_test"]

_CHUNK = 131_072  # rows per block for the X' diag(c) X products (bounds temporary memory)


@dataclass
class OrdinalFit:
    """A fitted proportional-odds model; parameter order everywhere is ``[beta..., theta...]``."""

    beta: np.ndarray      # (p,) logit P(Y <= j | x) = theta_j - x'beta
    theta: np.ndarray     # (K-1,) increasing cutpoints
    vcov: np.ndarray      # (p+K-1, p+K-1) inverse observed (weighted) information
    loglik: float
    nobs: int             # rows used (rows with positive weight); weights do not change it
    n_levels: int         # K
    iterations: int
    converged: bool
    gradient_max: float   # max |score| at the solution

    @property
    def params(self) -> np.ndarray:
        """``[beta..., theta...]``, the order of ``vcov``."""
        return np.concatenate([self.beta, self.theta])


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------

def _check_inputs(X, y, n_levels, weights):
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D (n, p) array, got {X.ndim} dimensions")
    n, p = X.shape
    y_arr = np.asarray(y)
    if y_arr.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X, got {y_arr.shape}")
    if n == 0:
        raise ValueError("no observations")
    if not np.issubdtype(y_arr.dtype, np.integer):
        yf = np.asarray(y_arr, dtype=float)
        if not np.isfinite(yf).all():
            raise ValueError(f"y has {int((~np.isfinite(yf)).sum())} non-finite values")
        if (yf != np.round(yf)).any():
            raise ValueError("y must hold integer codes 0..K-1")
        y_arr = yf.astype(np.int64)
    y_arr = y_arr.astype(np.intp, copy=False)
    K = int(y_arr.max()) + 1 if n_levels is None else int(n_levels)
    if K < 2:
        raise ValueError(f"need at least 2 outcome levels, got K = {K}")
    bad = (y_arr < 0) | (y_arr >= K)
    if bad.any():
        raise ValueError(f"y must hold codes 0..{K - 1} (K = {K}); {int(bad.sum())} values outside, "
                         f"e.g. {y_arr[bad][0]} at row {int(np.flatnonzero(bad)[0])}")
    if not np.isfinite(X).all():
        rows, cols = np.nonzero(~np.isfinite(X))
        raise ValueError(f"X has {rows.size} non-finite values (columns "
                         f"{sorted(set(cols.tolist()))[:10]}, first at row {rows[0]})")
    if weights is None:
        w = None
        used = np.ones(n, dtype=bool)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("weights must be finite and non-negative")
        used = w > 0
        if not used.any():
            raise ValueError("all weights are zero")
    counts = np.bincount(y_arr[used], minlength=K)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(
            f"outcome level(s) {empty.tolist()} (codes 0..{K - 1}) have no observations"
            f"{' with positive weight' if w is not None else ''}; the cutpoints next to an empty "
            f"level are not identified -- merge or drop the level and recode y")
    X = np.ascontiguousarray(X)
    _check_rank(X, used)
    return X, y_arr, K, w, int(used.sum())


def _check_rank(X: np.ndarray, used: np.ndarray) -> None:
    """Raise ValueError naming the columns if [1, X] (rows in use) is rank deficient.

    The implicit constant is included because the cutpoints absorb it: a constant
    column in X is as unidentified as a duplicated one.
    """
    n, p = X.shape
    if p == 0:
        return
    Xu = X if used.all() else X[used]
    m = Xu.shape[0]
    s = Xu.sum(axis=0)
    gram = np.empty((p + 1, p + 1))
    gram[0, 0] = m
    gram[0, 1:] = gram[1:, 0] = s
    gram[1:, 1:] = Xu.T @ Xu
    d = np.sqrt(np.diag(gram))
    zero = np.flatnonzero(d[1:] == 0)
    if zero.size:
        raise ValueError(f"X is rank deficient: column(s) {zero.tolist()} are all zero")
    corr = gram / np.outer(d, d)
    ev, vec = np.linalg.eigh(corr)
    null = ev < 1e-12 * ev[-1]
    if null.any():
        load = np.abs(vec[:, null]).max(axis=1)
        involved = np.flatnonzero(load > 1e-3 * load.max())
        cols = [int(i) - 1 for i in involved if i > 0]
        const = " together with a constant (which the cutpoints already absorb)" if 0 in involved else ""
        raise ValueError(f"X is rank deficient: columns {cols} (0-based) are linearly "
                         f"dependent{const}; drop one of them")


# ---------------------------------------------------------------------------
# core computations
# ---------------------------------------------------------------------------

def _bounds(theta: np.ndarray, eta: np.ndarray, y: np.ndarray):
    """Upper and lower linear predictors a = theta_y - eta, b = theta_{y-1} - eta (+-inf at the ends)."""
    hi = np.append(theta, np.inf)
    lo = np.insert(theta, 0, -np.inf)
    return hi[y] - eta, lo[y] - eta


def _log_gap(theta: np.ndarray) -> np.ndarray:
    """log(1 - exp(theta_{k-1} - theta_k)) per category k (0 for the two end categories)."""
    K = theta.size + 1
    lq = np.zeros(K)
    if K > 2:
        lq[1:-1] = np.log(-np.expm1(theta[:-1] - theta[1:]))
    return lq


def _state(beta, theta, X, y):
    """Per-observation pieces at (beta, theta): log P and the four log-expit terms.

    With a = theta_y - eta, b = theta_{y-1} - eta and gap_y = 1 - exp(b - a),
    P = F(a) - F(b) = F(a) (1 - F(b)) gap_y, so log P needs no subtraction of
    probabilities (no cancellation in either tail).
    """
    eta = X @ beta
    a, b = _bounds(theta, eta, y)
    lq = _log_gap(theta)[y]
    la, lmb = log_expit(a), log_expit(-b)
    return {"logp": la + lmb + lq, "a": a, "b": b, "lq": lq, "la": la, "lmb": lmb}


def _ratios(st):
    """g_a = f(a)/P, g_b = f(b)/P, F(a), F(b) from a state (f = logistic density)."""
    a, b, lq, la, lmb = st["a"], st["b"], st["lq"], st["la"], st["lmb"]
    lma, lb = log_expit(-a), log_expit(b)
    ga = np.exp(lma - lmb - lq)   # (1-F(a)) / ((1-F(b)) gap); 0 in the top category
    gb = np.exp(lb - la - lq)     # F(b) / (F(a) gap);         0 in the bottom category
    return ga, gb, np.exp(la), np.exp(lb)


def _loglik_of(st, w) -> float:
    return float(st["logp"].sum() if w is None else st["logp"] @ w)


def _score_rows(X, y, K, ga, gb, w) -> np.ndarray:
    n, p = X.shape
    m = K - 1
    out = np.zeros((n, p + m))
    d = ga - gb
    if w is not None:
        ga, gb, d = ga * w, gb * w, d * w
    np.multiply(X, (-d)[:, None], out=out[:, :p])
    flat = out.reshape(-1)
    base = np.arange(n) * (p + m) + p
    top = np.flatnonzero(y < m)
    flat[base[top] + y[top]] = ga[top]          # d/d theta_y
    bot = np.flatnonzero(y > 0)
    flat[base[bot] + y[bot] - 1] = -gb[bot]     # d/d theta_{y-1} (a different cell)
    return out


def _grad_hess(st, X, y, K, w):
    """Gradient and Hessian of the log-likelihood, accumulated with BLAS products."""
    n, p = X.shape
    m = K - 1
    ga, gb, Fa, Fb = _ratios(st)
    ha = ga * (1.0 - 2.0 * Fa)          # f'(a)/P
    hb = gb * (1.0 - 2.0 * Fb)          # f'(b)/P
    d = ga - gb
    ww = np.ones(n) if w is None else w
    # gradient
    g = np.empty(p + m)
    g[:p] = -(X.T @ (ww * d))
    g[p:] = (np.bincount(y, weights=ww * ga, minlength=K)[:m]
             - np.bincount(y, weights=ww * gb, minlength=K)[1:])
    H = np.empty((p + m, p + m))
    # beta x beta: X' diag(c) X with c = w [(h_a - h_b) - (g_a - g_b)^2] <= 0 (each
    # observation's log P is concave in eta), so -H_bb = A'A with A = sqrt(-c) X: one
    # SYRK per row block
    root = np.sqrt(np.maximum(-(ww * ((ha - hb) - d * d)), 0.0))
    Hbb = np.zeros((p, p))
    if p:
        for s in range(0, n, _CHUNK):
            A = X[s:s + _CHUNK] * root[s:s + _CHUNK, None]
            Hbb -= blas.dsyrk(1.0, A.T, trans=0)      # upper triangle of A'A
    Hbb = np.triu(Hbb) + np.triu(Hbb, 1).T
    H[:p, :p] = Hbb
    # beta x theta_j: obs with y = j (theta_j is their upper bound) and y = j+1 (lower bound)
    C = np.zeros((n, m))
    flat = C.reshape(-1)
    base = np.arange(n) * m
    top = np.flatnonzero(y < m)
    flat[base[top] + y[top]] = (-ww * (ha - ga * d))[top]
    bot = np.flatnonzero(y > 0)
    flat[base[bot] + y[bot] - 1] = (-ww * (gb * d - hb))[bot]
    Hbt = X.T @ C
    H[:p, p:] = Hbt
    H[p:, :p] = Hbt.T
    # theta x theta: tridiagonal
    Htt = np.zeros((m, m))
    Htt[np.arange(m), np.arange(m)] = (
        np.bincount(y, weights=ww * (ha - ga * ga), minlength=K)[:m]
        + np.bincount(y, weights=ww * (-hb - gb * gb), minlength=K)[1:])
    off = np.bincount(y, weights=ww * ga * gb, minlength=K)[1:m]
    Htt[np.arange(m - 1), np.arange(1, m)] = off
    Htt[np.arange(1, m), np.arange(m - 1)] = off
    H[p:, p:] = Htt
    return g, H


def _solve_neg(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Newton step (-H)^{-1} g; falls back to a pseudo-inverse if -H is not numerically PD."""
    try:
        return linalg.cho_solve(linalg.cho_factor(-H), g)
    except linalg.LinAlgError:
        return np.linalg.lstsq(-H, g, rcond=None)[0]


def _inv_neg(H: np.ndarray) -> np.ndarray:
    try:
        v = linalg.cho_solve(linalg.cho_factor(-H), np.eye(H.shape[0]))
    except linalg.LinAlgError:
        v = np.linalg.pinv(-H)
    return (v + v.T) / 2


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------

def fit_ordinal(X: np.ndarray, y: np.ndarray, *, n_levels: int | None = None,
                weights: np.ndarray | None = None, tol: float = 1e-10,
                max_iter: int = 100) -> OrdinalFit:
    """Fit ``logit P(Y <= j | x) = theta_j - x'beta`` by Newton-Raphson (as ``ordinal::clm``).

    Parameters
    ----------
    X : (n, p) array
        Design without an intercept column (a constant column is rejected as
        rank deficient: the cutpoints absorb it).
    y : (n,) integer array
        Outcome codes 0..K-1.
    n_levels : int, optional
        K; defaults to ``y.max() + 1``. Every level must occur.
    weights : (n,) array, optional
        Non-negative case/probability weights multiplying each log-likelihood
        contribution. ``vcov`` is then the inverse weighted information; use
        the sandwich for design-based SEs.
    tol : float
        Converged when ``max |gradient| < tol`` (clm's ``gradTol``). For very
        large n, rounding in the sums puts a floor of roughly 1e-16 * n under
        the gradient; so once a Newton step is below ``tol`` relative to
        ``1 + |parameter|``, that step is taken in full, and the fit stops as
        converged at the next iteration (``gradient_max`` then reports the
        floor reached).
    max_iter : int
        Maximum Newton iterations.

    Raises
    ------
    ValueError
        Non-finite X, y outside 0..K-1, an empty outcome level (named), a
        rank-deficient X (column indices named), bad weights.
    """
    X, y, K, w, nobs = _check_inputs(X, y, n_levels, weights)
    p = X.shape[1]
    beta, theta = _start(y, w, K, p)
    converged = polished = False
    it = 0
    st = _state(beta, theta, X, y)
    ll = _loglik_of(st, w)
    g, H = _grad_hess(st, X, y, K, w)
    while True:
        par = np.concatenate([beta, theta])
        gmax = float(np.abs(g).max())
        if gmax < tol:
            converged = True
            break
        step = _solve_neg(H, g)
        tiny = np.max(np.abs(step) / (1.0 + np.abs(par))) < tol
        if tiny and polished:
            converged = True
            break
        if it >= max_iter:
            break
        if tiny:
            # gradient above tol but the step negligible: take this one full Newton step
            # (quadratic convergence brings the gradient to its rounding floor) and stop
            # at the next iteration unless the gradient test passes first
            polished = True
            if not np.all(np.diff(par[p:] + step[p:]) > 0):
                converged = True
                break
            beta, theta = par[:p] + step[:p], par[p:] + step[p:]
            st = _state(beta, theta, X, y)
            ll = _loglik_of(st, w)
            it += 1
            g, H = _grad_hess(st, X, y, K, w)
            continue
        accepted = _halved_step(par, step, p, X, y, w, ll)
        if accepted is None:
            break   # no improving step: at the numerical optimum or stuck; converged stays False
        new, st, ll = accepted
        beta, theta = new[:p], new[p:]
        it += 1
        g, H = _grad_hess(st, X, y, K, w)
    return OrdinalFit(beta=beta.copy(), theta=theta.copy(), vcov=_inv_neg(H), loglik=ll, nobs=nobs,
                      n_levels=K, iterations=it, converged=converged,
                      gradient_max=float(np.abs(g).max()))


def _start(y: np.ndarray, w: np.ndarray | None, K: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """clm's start: ``beta = 0`` and the cutpoints at the logits of the cumulative marginal
    (weighted) proportions of the K levels."""
    ww = np.ones(len(y)) if w is None else w
    cum = np.cumsum(np.bincount(y, weights=ww, minlength=K))[:K - 1] / ww.sum()
    return np.zeros(p), np.log(cum) - np.log1p(-cum)


def _halved_step(par: np.ndarray, step: np.ndarray, p: int, X, y, w, ll: float) -> tuple | None:
    """The Newton step from ``par`` halved (up to 60 times) until the cutpoints are strictly
    increasing and the log-likelihood does not decrease (up to rounding, which is ~1e-15
    relative for the sum): ``(new parameters, their state, their log-likelihood)``, None when no
    such step exists (clm's step halving)."""
    factor = 1.0
    slack = 1e-13 * max(1.0, abs(ll))
    for _ in range(60):
        new = par + factor * step
        th = new[p:]
        if np.all(np.diff(th) > 0):
            st_new = _state(new[:p], th, X, y)
            ll_new = _loglik_of(st_new, w)
            if np.isfinite(ll_new) and ll_new >= ll - slack:
                return new, st_new, ll_new
        factor /= 2
    return None


def _prep_eval(fit: OrdinalFit, X, y, weights):
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y).astype(np.intp)
    if X.shape != (y.size, fit.beta.size):
        raise ValueError(f"X must be ({y.size}, {fit.beta.size}), got {X.shape}")
    if ((y < 0) | (y >= fit.n_levels)).any():
        raise ValueError(f"y must hold codes 0..{fit.n_levels - 1}")
    w = None if weights is None else np.asarray(weights, dtype=float)
    return X, y, w


def ordinal_scores(fit: OrdinalFit, X, y, weights=None) -> np.ndarray:
    """Per-observation score contributions at the estimate, (n, p+K-1), order ``[beta, theta]``.

    Weighted fits: pass the same weights (rows are ``w_i * d log P_i / d par``),
    as ``sandwich::estfun`` does for a weighted ``clm``.
    """
    X, y, w = _prep_eval(fit, X, y, weights)
    ga, gb, _, _ = _ratios(_state(fit.beta, fit.theta, X, y))
    return _score_rows(X, y, fit.n_levels, ga, gb, w)


def ordinal_hessian(fit: OrdinalFit, X, y, weights=None) -> np.ndarray:
    """Hessian of the (weighted) log-likelihood at the estimate, (p+K-1, p+K-1), negative definite."""
    X, y, w = _prep_eval(fit, X, y, weights)
    return _grad_hess(_state(fit.beta, fit.theta, X, y), X, y, fit.n_levels, w)[1]


def cumulative_probabilities(beta, theta, X) -> np.ndarray:
    """``P(Y <= j | x) = expit(theta_j - x'beta)``, shape (n, K-1)."""
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    eta = X @ np.asarray(beta, dtype=float)
    return expit(np.asarray(theta, dtype=float)[None, :] - eta[:, None])


def category_probabilities(beta, theta, X) -> np.ndarray:
    """``P(Y = k | x)``, shape (n, K); each difference computed without cancellation."""
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    theta = np.asarray(theta, dtype=float)
    eta = X @ np.asarray(beta, dtype=float)
    hi = np.append(theta, np.inf)[None, :] - eta[:, None]       # a for each category
    lo = np.insert(theta, 0, -np.inf)[None, :] - eta[:, None]   # b for each category
    return np.exp(log_expit(hi) + log_expit(-lo) + _log_gap(theta)[None, :])


# ---------------------------------------------------------------------------
# Brant test
# ---------------------------------------------------------------------------


def __getattr__(name: str):
    """The Brant test moved to :mod:`research.stats.brant` (it imports this module, so it is
    looked up when asked for, PEP 562): ``from research.stats.ordinal import brant_test`` still works."""
    if name in ("brant_test", "_logit_fit", "_wald", "_SEPARATED"):
        from research.stats import brant

        return getattr(brant, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
