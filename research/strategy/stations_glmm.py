"""Stations, the random-intercept logit fitted by the Laplace approximation, as R
``lme4::glmer(..., family = binomial)`` (``nAGQ = 1``).

Random-intercept logit (:func:`fit_random_intercept_logit`)
-----------------------------------------------------------
``logit P(y_i = 1) = x_i' beta + theta v_s``, ``v_s ~ N(0, 1)`` (station ``s`` of row
``i``; ``theta`` the between-station SD on the logit scale). The Laplace approximation of
the marginal log-likelihood (lme4's ``nAGQ = 1``; Bates et al. 2015, JSS 67(1), section 5
of the lme4 vignette on GLMMs) is

    L(beta, theta) = sum_s [ l_s(beta, theta vhat_s) - vhat_s^2 / 2 - log(1 + theta^2 h_s) / 2 ],

``vhat_s`` the conditional mode (1-D Newton per station), ``h_s = sum_i p_i (1 - p_i)``
at the mode. ``L`` is maximised over ``(beta, theta >= 0)`` by L-BFGS-B with its analytic
gradient (implicit differentiation of the modes), from the glm estimates. Reported as
lme4 does: ``sigma2_station = theta^2``, the conditional modes ``u_s = theta vhat_s``
(``ranef``) and their conditional variances ``theta^2 / (1 + theta^2 h_s)`` (``condVar``).
``loglik_null`` is the glm's (``theta = 0``); the boundary likelihood-ratio test of
``theta = 0`` (Self & Liang 1987) has ``p = 0.5 P(chi2_1 > 2 (L - L0))``. Checked against
``lme4::glmer`` (``tests/fixtures/r/stations``).

References: Bates, D., Maechler, M., Bolker, B. & Walker, S. (2015) Fitting linear
mixed-effects models using lme4. Journal of Statistical Software 67(1). Self, S. G. &
Liang, K.-Y. (1987) Asymptotic properties of maximum likelihood estimators and likelihood
ratio tests under nonstandard conditions. JASA 82, 605-610.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special, stats
from threadpoolctl import threadpool_limits

from research.strategy.stations_funnel import fit_case_mix


# ---------------------------------------------------------------------------- random-intercept logit

@dataclass
class GlmmFit:
    """Result of :func:`fit_random_intercept_logit` (names and scales as lme4 reports them)."""

    beta: np.ndarray  # fixed effects
    theta: float  # between-station SD on the logit scale
    loglik: float  # Laplace log-likelihood (lme4 logLik of a glmer fit)
    loglik_null: float  # glm log-likelihood (theta = 0)
    groups: np.ndarray  # sorted station labels, order of ranef / condvar
    ranef: np.ndarray  # conditional modes u_s = theta * v_s
    condvar: np.ndarray  # their conditional variances
    nobs: int
    converged: bool

    @property
    def sigma2_group(self) -> float:
        return self.theta ** 2

    @property
    def lrt(self) -> float:
        """Likelihood-ratio statistic of theta = 0 (>= 0)."""
        return max(0.0, 2.0 * (self.loglik - self.loglik_null))

    @property
    def lrt_p(self) -> float:
        """Boundary p-value ``0.5 P(chi2_1 > lrt)`` (Self & Liang 1987); 1 when theta is 0."""
        return 1.0 if self.theta == 0 else float(0.5 * stats.chi2.sf(self.lrt, 1))


def _modes(eta0: np.ndarray, y: np.ndarray, codes: np.ndarray, G: int, theta: float,
           v: np.ndarray | None = None):
    """Conditional modes v_s of every station at fixed (beta, theta): vectorised 1-D Newton
    on the strictly concave ``g_s(v)``, each step halved until ``g_s`` does not fall."""
    v = np.zeros(G) if v is None else v.copy()

    def g(vv):
        eta = eta0 + theta * vv[codes]
        return np.bincount(codes, weights=y * eta - np.logaddexp(0.0, eta), minlength=G) - vv * vv / 2

    cur = g(v)
    for _ in range(200):
        p = special.expit(eta0 + theta * v[codes])
        score = theta * np.bincount(codes, weights=y - p, minlength=G) - v
        h = np.bincount(codes, weights=p * (1 - p), minlength=G)
        step = score / (theta * theta * h + 1.0)
        if np.max(np.abs(step)) < 1e-10:
            break
        for _ in range(50):
            new = g(v + step)
            bad = new < cur - 1e-12 * np.abs(cur)
            if not bad.any():
                break
            step = np.where(bad, step / 2, step)
        v = v + step
        cur = g(v)
    return v


def _laplace(params: np.ndarray, X, y, codes, G, state):
    """Negative Laplace log-likelihood and its gradient in (beta, theta)."""
    beta, theta = params[:-1], params[-1]
    eta0 = X @ beta
    v = _modes(eta0, y, codes, G, theta, state.get("v"))
    state["v"] = v
    eta = eta0 + theta * v[codes]
    p = special.expit(eta)
    w = p * (1 - p)
    h = np.bincount(codes, weights=w, minlength=G)
    H = theta * theta * h + 1.0
    ll = float(np.sum(y * eta - np.logaddexp(0.0, eta)) - 0.5 * np.sum(v * v) - 0.5 * np.sum(np.log(H)))
    resid = y - p
    c = w * (1 - 2 * p)  # d w / d eta
    # d v_s / d beta = -theta sum_i w_i x_i / H_s ; d v_s / d theta = (sum(y - p) - theta h v) / H_s
    Z = state["Z"]
    wx = Z @ (X * w[:, None])
    dv_db = -theta * wx / H[:, None]
    sr = np.bincount(codes, weights=resid, minlength=G)
    dv_dt = (sr - theta * h * v) / H
    # d h_s / d beta = sum_i c_i (x_i + theta dv_s/dbeta)
    cx = Z @ (X * c[:, None])
    csum = np.bincount(codes, weights=c, minlength=G)
    dh_db = cx + theta * csum[:, None] * dv_db
    dh_dt = csum * (v + theta * dv_dt)
    g_beta = X.T @ resid - 0.5 * ((theta * theta / H)[:, None] * dh_db).sum(axis=0)
    g_theta = float(np.sum(v * sr) - 0.5 * np.sum((2 * theta * h + theta * theta * dh_dt) / H))
    return -ll, -np.r_[g_beta, g_theta]


def fit_random_intercept_logit(X: np.ndarray, y: np.ndarray, groups) -> GlmmFit:
    """Fit ``y ~ X + (1 | groups)``, binomial logit, by the Laplace approximation.

    As R ``lme4::glmer(y ~ X - 1 + (1 | group), family = binomial)`` (``nAGQ = 1``; Bates et
    al. 2015). ``X`` (n, p) is used as given (include the intercept column); ``y`` 0/1;
    ``groups`` any labels (sorted for the output). See the module docstring for the
    likelihood and its gradient.

    Returns
    -------
    :class:`GlmmFit`: ``beta``, ``theta`` (between-group SD, logit scale), ``loglik``,
    ``loglik_null`` (glm), ``ranef`` / ``condvar`` per sorted group, ``lrt`` and ``lrt_p``
    (boundary test of theta = 0).

    Raises
    ------
    ValueError
        Fewer than 2 groups, mismatched lengths or non-finite values.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[0] != len(y) or len(groups) != len(y):
        raise ValueError("X, y and groups must have the same number of rows")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X and y must be finite")
    codes, labels = pd.factorize(pd.Series(np.asarray(groups, dtype=object)).astype(str), sort=True)
    G = len(labels)
    if G < 2:
        raise ValueError("at least 2 groups are needed")
    beta0 = fit_case_mix(X, y)
    eta0 = X @ beta0
    ll0 = float(np.sum(y * eta0 - np.logaddexp(0.0, eta0)))
    best = None
    Z = sparse.csr_matrix((np.ones(len(y)), (codes, np.arange(len(y)))), shape=(G, len(y)))
    for start in (0.5, 0.05):  # a second start only if the first stops at the boundary
        state: dict = {"Z": Z}
        with threadpool_limits(limits=1, user_api="blas"):  # tiny BLAS calls: threads only spin
            res = optimize.minimize(_laplace, np.r_[beta0, start], args=(X, y, codes, G, state), jac=True,
                                    method="L-BFGS-B", bounds=[(None, None)] * X.shape[1] + [(0.0, None)],
                                    options={"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-7})
        if best is None or res.fun < best.fun - 1e-9:
            best = res
        if best.x[-1] >= 1e-4:
            break
    beta, theta = best.x[:-1], float(best.x[-1])
    ll = -float(best.fun)
    if theta < 1e-4 or ll <= ll0:  # the boundary (lme4's singular fit)
        beta, theta, ll = beta0, 0.0, ll0
    eta0 = X @ beta
    v = _modes(eta0, y, codes, G, theta)
    p = special.expit(eta0 + theta * v[codes])
    h = np.bincount(codes, weights=p * (1 - p), minlength=G)
    return GlmmFit(beta=beta, theta=theta, loglik=ll, loglik_null=ll0,
                   groups=np.asarray(labels, dtype=object), ranef=theta * v,
                   condvar=theta * theta / (1.0 + theta * theta * h), nobs=len(y),
                   converged=bool(best.success))
