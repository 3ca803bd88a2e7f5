"""Key drivers, the LMG / Shapley decomposition: R² of every subset of driver groups and the
Shapley weights that turn them into importances.

Relative importance of group ``j`` (LMG, Shapley value of the R² game, general dominance)::

    I_j = sum_{S not containing j} |S|! (k - |S| - 1)! / k!  * (R2(S + j) - R2(S))

so ``importance = R2 @ M`` with ``M`` = :func:`_shapley_matrix` and ``R2`` the (2^k,) subset
R² in bitmask order (bit j = group j). References and the libraries considered are in
:mod:`research.strategy.drivers`.

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
"""

from __future__ import annotations

from math import factorial

import numpy as np
from scipy.special import expit

from research.strategy.drivers_design import _Prepared

# A column whose centred weighted sum of squares is below this fraction of its
# uncentred one is constant in that (replicate) sample: it carries no
# information and is zeroed instead of being rescaled to unit variance.
_CONSTANT_RTOL = 1e-9
# Eigenvalues of a correlation sub-matrix below this fraction of its largest
# are treated as zero (exact collinearity, e.g. a replicate missing the
# reference sub-cause); rounding noise of such a matrix is ~1e-15.
_PINV_RCOND = 1e-12
# Newton for the logits stops when the log-likelihood still to gain is below this fraction of it.
_LOGLIK_RTOL = 1e-12


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
