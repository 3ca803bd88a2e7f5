"""Brant (1990) Wald test of the proportional-odds (parallel lines) assumption of a fit of
:func:`research.stats.ordinal.fit_ordinal`.

The K-1 binary logits ``1{Y > j}`` are fitted by Newton's method (:func:`_logit_fit`), the
joint covariance of their slopes estimated as Brant (1990) gives it, and the equality of the
slopes tested per term and jointly (:func:`brant_test`). Checked in ``tests/stats/test_ordinal.py``
against a Brant test computed in R (``tests/fixtures/r/ordinal/``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, log_expit

from research.stats.logit import weighted_cross
from research.stats.ordinal import OrdinalFit, _inv_neg, _solve_neg

#: the method label of every row of the test
METHOD = "Brant (1990) Wald test of equal slopes across the K-1 binary logits 1{Y > j}"


#: a fitted probability this close to 0 or 1 (|eta| > 23) means the binary split separates some
#: rows (a level with no answer on one side of it): the slope drifts to infinity and its variance
#: with it, so the Brant covariance is singular in that direction
_SEPARATED = 1e-10


def _logit_fit(Z: np.ndarray, z: np.ndarray, tol: float = 1e-12, max_iter: int = 100):
    """Binary logit by Newton (IRLS).

    Returns
    -------
    coefficients, fitted probabilities, and whether the fit is proper: converged, and
    every fitted probability at least ``_SEPARATED`` away from 0 and 1 (otherwise
    the split separates some rows and the maximum likelihood estimate does not exist).
    """
    b = np.zeros(Z.shape[1])
    mean = z.mean()
    if not 0.0 < mean < 1.0:  # every row on one side of the split: nothing to fit
        return b, np.full(len(z), mean), False
    b[0] = np.log(mean) - np.log1p(-mean)
    eta = Z @ b
    ll = float(z @ eta + log_expit(-eta).sum())
    converged = False
    for _ in range(max_iter):
        pi = expit(eta)
        g = Z.T @ (z - pi)
        info = weighted_cross(Z, pi * (1 - pi))
        step = _solve_neg(-info, g)
        if not np.isfinite(step).all():
            break
        if np.max(np.abs(step) / (1 + np.abs(b))) < tol:
            converged = True
            break
        factor = 1.0
        for _ in range(40):
            b_new = b + factor * step
            eta_new = Z @ b_new
            ll_new = float(z @ eta_new + log_expit(-eta_new).sum())
            if ll_new >= ll - 1e-13 * max(1.0, abs(ll)):
                break
            factor /= 2
        b, eta, ll = b_new, eta_new, ll_new
    pi = expit(eta)
    proper = converged and bool(np.all((pi > _SEPARATED) & (pi < 1 - _SEPARATED)))
    return b, pi, proper


def _wald(D: np.ndarray, b: np.ndarray, V: np.ndarray) -> float:
    """Wald statistic ``(D b)' (D V D')^-1 (D b)``; NaN when ``D V D'`` is not finite or is
    singular (smallest eigenvalue of its correlation form below 1e-10) or the statistic is
    negative, which only rounding on a singular matrix can give."""
    db = D @ b
    M = D @ V @ D.T
    if not (np.isfinite(M).all() and np.isfinite(db).all()):
        return np.nan
    d = np.sqrt(np.clip(np.diag(M), 0, None))
    if not (d > 0).all():
        return np.nan
    # the check on the symmetrised correlation form; the statistic from M itself, as before
    if np.linalg.eigvalsh((M + M.T) / 2 / np.outer(d, d))[0] < 1e-10:
        return np.nan
    stat = float(db @ np.linalg.solve(M, db))
    return stat if stat >= 0 else np.nan


def brant_test(X, y, fit: OrdinalFit, *, names: list[str]) -> pd.DataFrame:
    """Brant (1990) Wald test of the proportional-odds (parallel lines) assumption.

    Fits the K-1 binary logits ``1{Y > j}`` on ``[1, X]``, estimates the joint
    covariance of the stacked slope vectors as in Brant (1990)::

        Var(b_j)      = (X'W_j X)^-1,                     W_j  = diag(pi_j (1 - pi_j))
        Cov(b_j, b_l) = (X'W_j X)^-1 (X'W_jl X) (X'W_l X)^-1,  W_jl = diag(pi_l - pi_j pi_l), j < l

    (``pi_j`` = fitted P(Y > j); intercepts dropped afterwards), and tests
    ``b_0 = b_1 = ... = b_{K-2}`` with a Wald statistic: one row per column
    of X (df = K-2) and an ``omnibus`` row (df = p (K-2)), first.

    Note: the CRAN ``brant`` package (0.3-0) fills the blocks below the
    diagonal with the *untransposed* upper blocks; its per-term statistics
    are the same as here, its omnibus statistic differs slightly (here the
    covariance is symmetric, as it must be).

    Returns a DataFrame with columns ``term, statistic, df, p_value, method``; ``attrs["note"]``
    says which statistics could not be computed, and why.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y).astype(np.intp)
    n, p = X.shape
    K = fit.n_levels
    if len(names) != p:
        raise ValueError(f"names must have {p} entries (one per column of X), got {len(names)}")
    if K < 3:
        raise ValueError("the Brant test needs at least 3 outcome levels")
    J = K - 1
    Z = np.column_stack([np.ones(n), X])
    coefs, pis, A, separated = _binary_logits(Z, y, J)
    if separated:
        return _not_computable(names, p, J, separated)
    V = _slope_covariance(Z, pis, A, J, p)
    return _wald_table(np.concatenate(coefs), V, names, J, p)


def _binary_logits(Z: np.ndarray, y: np.ndarray, J: int) -> tuple[list, list, list, list]:
    """The binary logits ``1{Y > j}``, j = 0..J-1, on ``Z``: their slopes (intercept dropped),
    fitted probabilities, inverse information matrices, and the splits whose fit is improper."""
    coefs, pis, A, separated = [], [], [], []
    for j in range(J):
        b, pi, proper = _logit_fit(Z, (y > j).astype(float))
        coefs.append(b[1:])
        pis.append(pi)
        A.append(_inv_neg(-weighted_cross(Z, pi * (1 - pi))))
        if not proper:
            separated.append(j)
    return coefs, pis, A, separated


def _not_computable(names: list[str], p: int, J: int, separated: list[int]) -> pd.DataFrame:
    """The table when some binary logit has no maximum likelihood estimate: its covariance is
    singular and every contrast involving it meaningless (R's brant package only warns here)."""
    splits = ", ".join(f"Y > {j}" for j in separated)
    out = pd.DataFrame({"term": ["omnibus", *names], "statistic": np.nan,
                        "df": [p * (J - 1)] + [J - 1] * p, "p_value": np.nan,
                        "method": METHOD})
    out.attrs["note"] = (f"not computable: the binary logit(s) {splits} do not converge (some level has "
                         "no answer on one side of the split), so the covariance of the slopes is singular")
    return out


def _slope_covariance(Z: np.ndarray, pis: list, A: list, J: int, p: int) -> np.ndarray:
    """Brant's joint covariance (J p x J p) of the stacked slope vectors of the binary logits."""
    V = np.zeros((J * p, J * p))
    for j in range(J):
        V[j * p:(j + 1) * p, j * p:(j + 1) * p] = A[j][1:, 1:]
        for l in range(j + 1, J):
            wjl = pis[l] - pis[j] * pis[l]  # = pi_l (1 - pi_j) >= 0
            C = (A[j] @ weighted_cross(Z, np.clip(wjl, 0.0, None)) @ A[l])[1:, 1:]
            V[j * p:(j + 1) * p, l * p:(l + 1) * p] = C
            V[l * p:(l + 1) * p, j * p:(j + 1) * p] = C.T
    return V


def _wald_table(beta_star: np.ndarray, V: np.ndarray, names: list[str], J: int, p: int) -> pd.DataFrame:
    """Wald tests of ``b_0 = b_i`` (i = 1..J-1): jointly (``omnibus``) and per term."""
    # contrasts b_0 - b_i, i = 1..J-1
    D = np.zeros(((J - 1) * p, J * p))
    for i in range(1, J):
        D[(i - 1) * p:i * p, :p] = np.eye(p)
        D[(i - 1) * p:i * p, i * p:(i + 1) * p] = -np.eye(p)

    terms = ["omnibus"]
    stat = [_wald(D, beta_star, V)]
    dfs = [p * (J - 1)]
    Ds = np.zeros((J - 1, J))
    Ds[:, 0] = 1.0
    Ds[np.arange(J - 1), np.arange(1, J)] = -1.0
    for k in range(p):
        s = np.arange(k, J * p, p)
        terms.append(names[k])
        stat.append(_wald(Ds, beta_star[s], V[np.ix_(s, s)]))
        dfs.append(J - 1)
    stat_a = np.array(stat)
    df_a = np.array(dfs)
    out = pd.DataFrame({
        "term": terms, "statistic": stat_a, "df": df_a,
        "p_value": stats.chi2.sf(stat_a, df_a),
        "method": METHOD,
    })
    if np.isnan(stat_a).any():
        out.attrs["note"] = (f"not computable for {', '.join(t for t, v in zip(terms, stat_a) if np.isnan(v))}: "
                             "the covariance of the binary-logit slopes is singular")
    return out
