"""One (weighted) binary logit by Newton's method, for every logit fit of the package.

The estimate is the root of the weighted score ``sum_i w_i x_i (y_i - p_i) = 0``,
``p_i = expit(x_i'b)``: the maximum-likelihood logit (R ``glm(family = binomial)``, whose IRLS is
Newton's method because the logit link is canonical; with weights, R's ``glm(..., weights = w)``
and the point estimate of ``survey::svyglm(family = quasibinomial())``). Newton's step is
``H^-1 g`` with the information ``H = X' diag(w p (1 - p)) X`` and the score ``g``
(McCullagh & Nelder 1989, *Generalized Linear Models*, 2nd ed., section 4.4).

Written by hand rather than called from statsmodels because statsmodels forms n x p
temporaries and evaluates the Hessian, score and predictions several times per step (the lever
model, 70 columns: 6.5 s and 1.1 GB on 250,000 rows); here a step is one pass of
:func:`weighted_cross` over blocks of rows, one product ``X b`` and one ``X' r``.

The callers keep their own stopping rule, iteration cap and linear solver (the arguments of
:func:`fit_logit`), so the estimates they publish do not move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.linalg import blas
from scipy.special import expit

#: rows per block of :func:`weighted_cross` (bounds its temporaries to block x columns floats)
ROW_BLOCK = 65_536
#: the linear solvers of a Newton step: Cholesky (positive definite information), LU, or the
#: least-squares (minimum-norm) solution, which leaves a column without information unchanged
SOLVERS = ("cholesky", "lu", "lstsq")
#: from this many columns on, :func:`weighted_cross` uses a symmetric rank-k product (measured:
#: slower than the plain product for 3 columns, twice as fast for 70)
SYRK_COLUMNS = 8


def weighted_cross(X: np.ndarray, w: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``X' diag(w) X`` for weights ``w >= 0`` (n,), over the rows of ``mask`` (all when None).

    Summed over blocks of :data:`ROW_BLOCK` rows: no n x p temporary and with a mask no copy of
    ``X`` (only the masked rows of each block). From :data:`SYRK_COLUMNS` columns on, one BLAS
    SYRK of ``sqrt(w) X`` per block (half the operations of ``(X * w[:, None]).T @ X``: the
    lever model's 70 columns); below, where SYRK's extra passes cost more than they save, the
    plain product. Returns a (p, p) symmetric array.
    """
    p = X.shape[1]
    out = np.zeros((p, p))
    syrk = p >= SYRK_COLUMNS
    v = np.sqrt(w) if syrk else w
    for s in range(0, len(X), ROW_BLOCK):
        Xb, vb = X[s:s + ROW_BLOCK], v[s:s + ROW_BLOCK]
        if mask is not None:
            Xb, vb = Xb[mask[s:s + ROW_BLOCK]], vb[mask[s:s + ROW_BLOCK]]
        if syrk:
            out += blas.dsyrk(1.0, (Xb * vb[:, None]).T, trans=0)
        else:
            out += (Xb * vb[:, None]).T @ Xb
    if not syrk:
        return (out + out.T) / 2
    # dsyrk writes the upper triangle only (the lower stays zero): mirror it, keep the diagonal
    full = out + out.T
    np.fill_diagonal(full, np.diagonal(out))
    return full


class DenseDesign:
    """The products a Newton step needs from a dense design ``X`` (n, k): ``dot(b) = X b``,
    ``tdot(v) = X' v`` and ``information(v) = X' diag(v) X`` (over the rows of ``mask``).

    :func:`fit_logit` takes any object with these three methods and ``k`` (columns), so a
    caller with a structured design (sparse plus dense columns: research.strategy.causal)
    runs the same iteration."""

    def __init__(self, X: np.ndarray, mask: np.ndarray | None = None):
        self.X = X
        self.mask = mask
        self.k = X.shape[1]

    def dot(self, b: np.ndarray) -> np.ndarray:
        return self.X @ b

    def tdot(self, v: np.ndarray) -> np.ndarray:
        return self.X.T @ v

    def information(self, v: np.ndarray) -> np.ndarray:
        return weighted_cross(self.X, v, self.mask)


@dataclass(frozen=True)
class LogitFit:
    """A Newton logit: ``params`` (k,), ``information`` (k, k) at them (None when not asked for),
    ``converged`` (the stopping rule was met within the cap), ``iterations`` (Newton steps
    taken), ``separated`` (some iterate fitted every row within 1e-8 of its answer: statsmodels'
    perfect-separation test) and ``mu`` (the fitted probabilities at ``params``)."""

    params: np.ndarray
    information: np.ndarray | None
    converged: bool
    iterations: int
    separated: bool
    mu: np.ndarray


def _solve(H: np.ndarray, g: np.ndarray, solver: str) -> np.ndarray:
    if solver == "cholesky":
        return linalg.solve(H, g, assume_a="pos")
    if solver == "lu":
        return np.linalg.solve(H, g)
    return np.linalg.lstsq(H, g, rcond=None)[0]


def _times(w: np.ndarray | None, v: np.ndarray) -> np.ndarray:
    """``w * v``; ``v`` itself without weights (no product with ones)."""
    return v if w is None else w * v


def _separated(mu: np.ndarray, y: np.ndarray, mask: np.ndarray | None) -> bool:
    """statsmodels' perfect-separation test, ``np.allclose(mu - y, 0)`` (every fitted probability
    within 1e-8 of its answer; False with a missing value), as one pass."""
    gap = np.abs(mu - y) if mask is None else np.abs(mu[mask] - y[mask])
    return bool(gap.max(initial=0.0) <= 1e-8)


def _glm_first_step(D, y: np.ndarray, w: np.ndarray | None, solver: str) -> np.ndarray:
    """R glm's start for the binomial family: ``mustart = (w y + 1/2) / (w + 1)``, then one
    weighted least-squares fit of the working response ``z = eta + (y - mu) / (mu (1 - mu))``
    with weights ``w mu (1 - mu)`` (R ``glm.fit``'s first iteration)."""
    mu = (y + 0.5) / 2 if w is None else (w * y + 0.5) / (w + 1.0)
    eta = np.log(mu) - np.log1p(-mu)
    v = _times(w, mu * (1 - mu))
    z = eta + (y - mu) / (mu * (1 - mu))
    return _solve(D.information(v), D.tdot(v * z), solver)


def fit_logit(X, y: np.ndarray, weights: np.ndarray | None = None, *, start=None,
              mask: np.ndarray | None = None, tol: float = 1e-12, max_iter: int = 100,
              relative: bool = False, solver: str = "cholesky", ridge: float = 0.0, chord: bool = False,
              information: bool = True) -> LogitFit:
    """(Weighted) maximum-likelihood logit of ``y`` on ``X`` by Newton's method.

    Parameters
    ----------
    X : (n, k) array with the intercept column, or a design object (:class:`DenseDesign`).
    y : (n,) 0/1 answers (or proportions in [0, 1]); values outside ``mask`` are ignored.
    weights : (n,) frequency or sampling weights ``>= 0`` (None: 1).
    start : (k,) starting coefficients; None: zero; ``"glm"``: R ``glm``'s binomial start (the
        first step is a weighted least-squares fit of the working response).
    mask : (n,) booleans, the rows to fit (None: all).
    tol, relative : stop after a step whose largest ``|step|`` (``relative``: ``|step| / (1 +
        |b|)``) is at most ``tol``; the step is taken.
    max_iter : the cap on Newton steps; ``converged`` is False when it is reached first.
    solver : one of :data:`SOLVERS`.
    ridge : added to the diagonal of the mean information ``H / sum(w)`` (statsmodels' Newton
        adds 1e-10), i.e. ``ridge * sum(w)`` to ``H``.
    chord : keep the information of a step for the next one when the step shrank at least
        four-fold (a chord step); every step solves the same score equation, so the root is
        Newton's.
    information : also return the information at the estimate (one more cross-product).

    Returns
    -------
    LogitFit. A non-finite information or step ends the iteration with ``converged`` False;
    a singular information raises ``numpy.linalg.LinAlgError`` (``scipy.linalg.LinAlgError``
    with the Cholesky solver, a subclass).
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, not {solver!r}")
    D = DenseDesign(np.asarray(X, dtype=float), mask) if isinstance(X, np.ndarray) else X
    y = np.asarray(y, dtype=float)
    n = len(y)
    w = None if weights is None else np.asarray(weights, dtype=float)
    if mask is not None:
        w = np.where(mask, 1.0 if w is None else w, 0.0)
        y = np.nan_to_num(y)
    shift = ridge * float(n if w is None else w.sum()) * np.eye(D.k) if ridge else None
    iterations, separated, converged, first_free = 0, False, False, False
    if isinstance(start, str):
        if start != "glm":
            raise ValueError(f"start must be coefficients, None or 'glm', not {start!r}")
        b = _glm_first_step(D, y, w, solver)
        iterations, first_free = 1, True
    else:
        b = np.zeros(D.k) if start is None else np.array(start, dtype=float)
    mu = expit(D.dot(b))
    if first_free:
        separated = _separated(mu, y, mask)
    H, previous = None, np.inf
    while iterations < max_iter:
        if H is None:
            H = D.information(_times(w, mu * (1 - mu)))
            if shift is not None:
                H = H + shift
        if not np.isfinite(H).all():
            break
        step = _solve(H, D.tdot(_times(w, y - mu)), solver)
        if not np.isfinite(step).all():
            break
        b = b + step
        iterations += 1
        mu = expit(D.dot(b))
        separated = separated or _separated(mu, y, mask)
        size = np.abs(step) / (1 + np.abs(b)) if relative else np.abs(step)
        if np.max(size, initial=0.0) <= tol:
            converged = True
            break
        largest = np.max(np.abs(step), initial=0.0)
        if not chord or largest > previous / 4:  # Newton: a fresh information for the next step
            H = None
        previous = largest
    info = D.information(_times(w, mu * (1 - mu))) if information else None
    return LogitFit(params=b, information=info, converged=converged, iterations=iterations,
                    separated=separated, mu=mu)


#: a logit fit on more rows than this may start from the fit on every SUBSAMPLE_STEP-th row
SUBSAMPLE_ROWS = 200_000
SUBSAMPLE_STEP = 8


def subsample_start(X: np.ndarray, y: np.ndarray, weights: np.ndarray, *, max_iter: int = 100,
                    relative: bool = False) -> np.ndarray | None:
    """A start for a large fit: the chord-Newton fit (to 1e-8) on every :data:`SUBSAMPLE_STEP`-th
    row (``y`` without missing values, ``weights`` zero on rows to leave out), or None when ``X``
    has at most :data:`SUBSAMPLE_ROWS` rows or that fit fails (a level
    absent from the subsample). Close enough to the root that few full passes remain."""
    if len(X) <= SUBSAMPLE_ROWS:
        return None
    sub = slice(None, None, SUBSAMPLE_STEP)
    Xs, ys, ws = np.ascontiguousarray(X[sub]), y[sub], weights[sub]
    try:  # a subsample that is itself large starts from its own subsample
        start = subsample_start(Xs, ys, ws, max_iter=max_iter, relative=relative)
        fit = fit_logit(Xs, ys, ws, start=start, tol=1e-8, max_iter=max_iter, relative=relative, chord=True,
                        information=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    return fit.params if fit.converged else None
