"""The plan's model families fitted from an engine's sums (issue 15): OLS, logit, proportional-odds
logit and the random-intercept mixed model, with CR1 standard errors clustered by station.

Each function takes a :class:`Cells` (the engine, its prepared groups and the cell design) and
returns the dict the row-level estimators of :mod:`research.models.estimators` return, so the
tables are built by the same code. The iterations are the row-level ones (the same start, steps,
stopping rules, step halving and solvers: :func:`research.stats.logit.fit_logit` with
statsmodels' ridge for the logit, :func:`research.stats.ordinal.fit_ordinal` as ``ordinal::clm``
for the ordinal model, :func:`research.stats.mixed.fit_from_stats` for REML); only where each
sum is computed changes. tests/models/test_aggregate.py checks every family against the
row-level fit on the committed sample to 1e-9 relative, with each engine.

Not available from sums: CR2 (it needs each cluster's hat matrix), which raises NotEstimable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from research.engines.base import Engine, Prepared
from research.engines.expr import Expr, col, fn
from research.errors import NotEstimable
from research.models.aggregate.algebra import (basis_coefficients, cross, eta, first, moment_measures,
                                               per_cluster, second, vec)


@dataclass
class Cells:
    """A model's groups on an engine: ``C`` (G, p, M), the groups' outcome ``y`` (G,), row counts
    ``n_g`` (G,), cluster codes (G,) and their number, and the rows ``n``.

    A weighted model (the survey-weighted fits of :mod:`research.models.aggregate.svy`) has a row
    weight ``weight``, an expression of the row (its handling band) and of per-group constants
    ``weight_columns`` (name -> (G,) array, joined to every pass), and ``w_g`` (G,), the groups'
    weight totals; unweighted: None."""

    engine: Engine
    prepared: Prepared
    C: np.ndarray
    y: np.ndarray
    n_g: np.ndarray
    cluster: np.ndarray | None
    n_clusters: int
    weight: Expr | None = None
    weight_columns: dict | None = None
    w_g: np.ndarray | None = None
    #: the variable the clusters are the levels of (the method text names it, as the row path's)
    cluster_name: str | None = None

    @property
    def by(self) -> str:
        """`` by <cluster variable>`` for the method text (empty when not named)."""
        return f" by {self.cluster_name}" if self.cluster_name else ""

    @property
    def M(self) -> int:
        return self.C.shape[2]

    @property
    def n(self) -> int:
        return int(self.n_g.sum())

    @property
    def gid(self) -> np.ndarray:
        return self.prepared.groups["gid"].to_numpy()

    def weighted(self, e: Expr) -> Expr:
        """``e`` times the row weight (``e`` itself for an unweighted model)."""
        return e if self.weight is None else e * self.weight

    @property
    def weights_of_groups(self) -> np.ndarray:
        """The groups' weight totals (their row counts for an unweighted model)."""
        return self.n_g if self.w_g is None else self.w_g

    def sums(self, measures, params=None):
        if self.weight_columns:
            params = (pd.DataFrame({"gid": self.gid}) if params is None else params).assign(**self.weight_columns)
        return self.engine.sums(self.prepared, measures, params)


def _cr1(cells: Cells, bread: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    from research.stats.sandwich import cr1_from_sums

    return cr1_from_sums(bread, scores, n_rows=cells.n, n_params=k)


def fit_linear(cells: Cells, se: str) -> dict:
    """OLS: ``X'X`` and ``X'y`` from one pass, the residuals' sums from a second."""
    if se == "cr2":
        raise NotEstimable("CR2 standard errors need each cluster's rows; an engine gives sums: use se: cluster "
                           "(CR1) with --engine duckdb/spark, or the pandas engine")
    M, y, n = cells.M, cells.y, cells.n
    s = cells.sums(moment_measures("x", None, M))
    t, S = first(s, "x", M), second(s, "x", M)
    XtX = cross(cells.C, S)
    beta = linalg.solve(XtX, vec(cells.C, y[:, None] * t), assume_a="pos")
    k = len(beta)
    r = col("y") - eta(M)
    s2 = cells.sums({"rss": r * r, **moment_measures("r", r, M, second=False)},
                    basis_coefficients(cells.C, beta, cells.gid, y=y))
    rss = float(s2["rss"].sum())
    bread = linalg.inv(XtX)
    if se == "cluster":
        vcov = _cr1(cells, bread, per_cluster(cells.C, first(s2, "r", M), cells.cluster, cells.n_clusters), k)
        df = float(cells.n_clusters - 1)
        method = f"OLS; CR1 cluster-robust{cells.by} (R sandwich::vcovCL HC1); t(G - 1 = {df:g})"
    else:
        vcov, df, method = rss / (n - k) * bread, float(n - k), "OLS; classical; t(n - k)"
    ybar = float(cells.n_g @ y) / n
    tss = float(cells.n_g @ (y - ybar) ** 2)
    ll = -n / 2 * (np.log(2 * np.pi) + np.log(rss / n) + 1)
    stats_ = {"nobs": n, "loglik": ll, "df": k + 1, "aic": -2 * ll + 2 * (k + 1),
              "bic": -2 * ll + np.log(n) * (k + 1), "r_squared": 1 - rss / tss, "sigma": float(np.sqrt(rss / (n - k)))}
    return dict(y=y, params=beta, vcov=(vcov + vcov.T) / 2, n_beta=k, df_resid=df, stats=stats_,
                se_method=method, cut_names=[], extra={})


def _logit_pass(cells: Cells, b: np.ndarray, *, loglik: bool = False):
    M = cells.M
    e = eta(M)
    p = fn("expit", e)
    measures = {**moment_measures("w", cells.weighted(p * (1 - p)), M),
                **moment_measures("r", cells.weighted(col("y") - p), M, second=False)}
    if loglik:
        measures["ll"] = cells.weighted(col("y") * fn("log_expit", e) + (1 - col("y")) * fn("log_expit", -e))
    return cells.sums(measures, basis_coefficients(cells.C, b, cells.gid, y=cells.y))


def fit_logit(cells: Cells, se: str, *, tol: float = 1e-12, max_iter: int = 100) -> dict:
    """ML logit by :func:`research.stats.logit.fit_logit`'s Newton iteration as the row-level
    fit runs it (start at 0, LU solve of the information plus statsmodels' ridge ``1e-10 n``,
    stop after a step of at most ``tol``): one engine pass per step."""
    M, n, C = cells.M, cells.n, cells.C
    k = C.shape[1]
    b = np.zeros(k)
    it, converged = 0, False
    while it < max_iter:
        s = _logit_pass(cells, b)
        H = cross(C, second(s, "w", M)) + 1e-10 * n * np.eye(k)
        if not np.isfinite(H).all():
            break
        try:
            step = linalg.lu_solve(linalg.lu_factor(H), vec(C, first(s, "r", M)))
        except (linalg.LinAlgError, ValueError):
            raise NotEstimable("the logit's information matrix is singular (a level or combination with too few "
                               "rows, or complete separation)") from None
        b = b + step
        it += 1
        if np.max(np.abs(step), initial=0.0) <= tol:
            converged = True
            break
    s = _logit_pass(cells, b, loglik=True)
    info = cross(C, second(s, "w", M))
    bread = np.linalg.inv(info / n) / n
    ll = float(s["ll"].sum())
    ybar = float(cells.n_g @ cells.y) / n
    llnull = n * (ybar * np.log(ybar) + (1 - ybar) * np.log1p(-ybar)) if 0 < ybar < 1 else 0.0
    vcov, df = bread, None
    method = "logit ML; inverse information; normal"
    if se == "cluster":
        vcov = _cr1(cells, bread, per_cluster(C, first(s, "r", M), cells.cluster, cells.n_clusters), k)
        df = float(cells.n_clusters - 1)
        method = f"logit ML; CR1 cluster-robust{cells.by} (R sandwich::vcovCL HC1); t(G - 1 = {df:g})"
    stats_ = {"nobs": n, "loglik": ll, "df": k, "aic": -2 * ll + 2 * k, "bic": -2 * ll + np.log(n) * k,
              "pseudo_r2_mcfadden": float(1 - ll / llnull), "iterations": it, "converged": converged}
    if not converged:
        stats_["warning"] = ("the logit did not converge: a level with very few rows may have an estimate "
                             "drifting to infinity (R's glm warns likewise)")
    return dict(y=cells.y, params=b, vcov=vcov, n_beta=k, df_resid=df, stats=stats_, se_method=method,
                cut_names=[], extra={})


def fit_mixed(cells: Cells, group_codes: np.ndarray, labels: np.ndarray, group: str = "group") -> dict:
    """REML random intercept per ``group`` (the variable's name, for the method text) from
    per-group sums: ``sum z z'`` over all rows and ``sum z`` per group of the random intercept
    (``z = [x, y]``)."""
    from research.stats.mixed import _Stats, fit_from_stats, information_criteria

    M, C, y, n_g = cells.M, cells.C, cells.y, cells.n_g
    s = cells.sums(moment_measures("x", None, M))
    t, S = first(s, "x", M), second(s, "x", M)
    XtX = cross(C, S)
    Xty = vec(C, y[:, None] * t)
    p = XtX.shape[0]
    full = np.empty((p + 1, p + 1))
    full[:p, :p], full[:p, p], full[p, :p] = XtX, Xty, Xty
    full[p, p] = float(n_g @ (y * y))
    zsum = np.zeros((len(labels), p + 1))
    np.add.at(zsum[:, :p], group_codes, np.einsum("gjm,gm->gj", C, t))
    np.add.at(zsum[:, p], group_codes, y * n_g)
    counts = np.bincount(group_codes, weights=n_g, minlength=len(labels))
    try:
        fit = fit_from_stats(_Stats.from_sums(counts, zsum, full), labels)
    except ValueError as exc:
        raise NotEstimable(str(exc)) from None
    ic = information_criteria(fit)
    stats_ = {"nobs": fit.nobs, "loglik": fit.loglik, "df": ic["df"], "aic": ic["aic"], "bic": ic["bic"],
              "reml_criterion": fit.reml_criterion, "n_groups": fit.n_groups, "var_group": fit.sigma2_group,
              "var_residual": fit.sigma2_resid, "icc": fit.sigma2_group / (fit.sigma2_group + fit.sigma2_resid),
              "singular": fit.singular, "converged": fit.converged}
    import pandas as pd

    blups = pd.DataFrame({"group": fit.groups, "blup": fit.blup, "blup_se": fit.blup_se})
    return dict(y=y, params=np.asarray(fit.beta), vcov=np.asarray(fit.vcov), n_beta=len(fit.beta),
                df_resid=None, stats=stats_, cut_names=[],
                se_method=f"linear mixed model, REML (R lme4::lmer); random intercept per {group}; normal",
                extra={"mixed_fit": fit, "blups": blups})
