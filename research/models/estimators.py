"""The estimators of the model families: a plan model's design and frame in, a fit dict out.

Each ``_fit_*`` function fits one family (the ``fit`` of its entry in
:data:`research.models.families.FAMILIES`) and returns ``y, params, vcov, n_beta, df_resid,
stats, se_method, cut_names`` and optionally ``extra``; a ``stats["warning"]`` becomes a note
of the model. Each ``_weighted_*`` function is a family's survey-weighted (design-based) fit
(the entry's ``weighted``; :func:`research.models.weighted.fit_weighted_model` calls it).

Libraries: OLS and logit use statsmodels (cluster-robust CR1 covariance, as
R's ``sandwich::vcovCL(type = "HC1")``); the proportional-odds model and the
random-intercept mixed model use this package's own estimators
(:mod:`research.stats.ordinal`, :mod:`research.stats.mixed`), which say why; the
survey-weighted fits are :mod:`research.stats.design_based` (R survey's ``svyglm``, ``svyolr``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.config.instrument import Instrument
from research.config.plan import ModelSpec
from research.errors import InputError, NotEstimable
from research.models.design import Design


def _clusters(frame: pd.DataFrame, name: str | None) -> np.ndarray | None:
    if name is None:
        return None
    return frame[name].cat.codes.to_numpy() if hasattr(frame[name], "cat") else \
        pd.factorize(frame[name])[0]


def _outcome(frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    return frame[spec.outcome].to_numpy(dtype=float)


def _n_clusters(frame: pd.DataFrame, name: str) -> int:
    return int(frame[name].nunique())


def _cluster_df(spec: ModelSpec, frame: pd.DataFrame) -> float:
    """G - 1: the t reference of cluster-robust tests (Stata's ``regress, vce(cluster)``
    convention; ``clubSandwich::coef_test(test = "naive-t")``)."""
    return float(_n_clusters(frame, spec.cluster) - 1)


def _fit_linear(spec: ModelSpec, design: Design, frame: pd.DataFrame) -> dict:
    import statsmodels.api as sm

    y = _outcome(frame, spec)
    model = sm.OLS(y, design.X)
    n, k = design.X.shape
    extra = {}
    if spec.se == "cluster":
        res = model.fit(cov_type="cluster", cov_kwds={"groups": _clusters(frame, spec.cluster),
                                                      "use_correction": True, "df_correction": True})
        df = _cluster_df(spec, frame)
        vcov = np.asarray(res.cov_params())
        method = (f"OLS; CR1 cluster-robust by {spec.cluster} (R sandwich::vcovCL HC1); "
                  f"t(G - 1 = {df:g})")
    elif spec.se == "cr2":
        from research.stats.sandwich import CR2

        res = model.fit()
        cr2 = CR2(design.X, y - design.X @ np.asarray(res.params), _clusters(frame, spec.cluster))
        vcov, df, extra = cr2.vcov, _cluster_df(spec, frame), {"cr2": cr2}
        method = (f"OLS; CR2 cluster-robust by {spec.cluster} (R clubSandwich::vcovCR CR2); "
                  "t with Bell-McCaffrey (Satterthwaite) df")
    else:
        res = model.fit()
        vcov, df = np.asarray(res.cov_params()), float(n - k)
        method = "OLS; classical; t(n - k)"
    ll = float(res.llf)
    # R's logLik.lm counts the residual variance as a parameter: df = k + 1
    stats_ = {"nobs": n, "loglik": ll, "df": k + 1, "aic": -2 * ll + 2 * (k + 1),
              "bic": -2 * ll + np.log(n) * (k + 1), "r_squared": float(res.rsquared),
              "sigma": float(np.sqrt(res.scale))}
    return dict(y=y, params=np.asarray(res.params), vcov=vcov, n_beta=k,
                df_resid=df, stats=stats_, se_method=method, cut_names=[], extra=extra)


def _logit_newton(X: np.ndarray, y: np.ndarray, *, maxiter: int = 100, tol: float = 1e-12) -> dict:
    """Maximum-likelihood logit by statsmodels' Newton iteration, as ``sm.Logit(y, X).fit(method=
    "newton", maxiter=maxiter, tol=tol)`` runs it (statsmodels.base.optimizer._fit_newton), through
    the package's one logit (:func:`research.stats.logit.fit_logit`).

    statsmodels' iteration: start at zero; step ``(H / n + 1e-10 I)^-1 (score / n)`` (its ridge
    on the mean Hessian; an LU solve); continue while some coefficient moved by more than ``tol``;
    ``converged`` unless ``maxiter`` steps were taken; its (quasi-)separation check after each
    step (every fitted probability within 1e-8 of its answer). So the estimates agree with
    statsmodels' to rounding and the iteration counts are the same (tests/models/test_fit_scale_logit.py).

    Returns ``params, bread`` (the inverse information, statsmodels' ``cov_params()``), ``residuals``
    (``y - mu``: the score rows are ``X`` times them), ``llf``, ``llnull`` (the intercept-only model's
    maximum, in closed form), ``iterations``, ``converged`` and ``separated``. LinAlgError when a
    step's Hessian is singular.
    """
    from scipy.special import log_expit

    from research.stats.logit import fit_logit

    n = len(y)
    fit = fit_logit(X, y, tol=tol, max_iter=maxiter, solver="lu", ridge=1e-10)
    params, mu = fit.params, fit.mu
    bread = np.linalg.inv(fit.information / n) / n
    eta = X @ params
    llf = float(y @ log_expit(eta) + (1 - y) @ log_expit(-eta))
    ybar = float(y.mean())
    llnull = n * (ybar * np.log(ybar) + (1 - ybar) * np.log1p(-ybar)) if 0 < ybar < 1 else 0.0
    return {"params": params, "bread": bread, "residuals": y - mu, "llf": llf, "llnull": llnull,
            "iterations": fit.iterations, "converged": fit.iterations < maxiter, "separated": fit.separated}


def _fit_logit(spec: ModelSpec, design: Design, frame: pd.DataFrame) -> dict:
    from research.stats.sandwich import cluster_robust_vcov

    y = _outcome(frame, spec)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        try:
            res = _logit_newton(design.X, y)
        except np.linalg.LinAlgError:  # the Newton step solves with the Hessian
            raise NotEstimable(f"model {spec.name}: the logit's information matrix is singular (a level or "
                               "combination with too few rows, or complete separation)") from None
    converged = res["converged"]
    n, k = design.X.shape
    ll = res["llf"]
    vcov, df, extra = res["bread"], None, {}
    if spec.se == "cluster":  # statsmodels' cov_type="cluster" with use_correction: CR1
        vcov = cluster_robust_vcov(res["bread"], design.X, _clusters(frame, spec.cluster),
                                   row_weights=res["residuals"])
        df = _cluster_df(spec, frame)
        method = f"logit ML; CR1 cluster-robust by {spec.cluster} (R sandwich::vcovCL HC1); t(G - 1 = {df:g})"
    else:
        method = "logit ML; inverse information; normal"
    stats_ = {"nobs": n, "loglik": ll, "df": k, "aic": -2 * ll + 2 * k, "bic": -2 * ll + np.log(n) * k,
              "pseudo_r2_mcfadden": float(1 - ll / res["llnull"]), "iterations": int(res["iterations"]),
              "converged": converged}
    if not converged or res["separated"]:
        stats_["warning"] = ("the logit did not converge or shows (quasi-)separation: a level with very "
                             "few rows may have an estimate drifting to infinity (R's glm warns likewise)")
    return dict(y=y, params=res["params"], vcov=vcov, n_beta=k,
                df_resid=df, stats=stats_, se_method=method, cut_names=[], extra=extra)


def _fit_ordinal(spec: ModelSpec, design: Design, frame: pd.DataFrame, levels: tuple[int, ...]) -> dict:
    from research.stats.ordinal import fit_ordinal, ordinal_scores
    from research.stats.sandwich import cluster_robust_vcov

    y_raw = _outcome(frame, spec).astype(int)
    code = {v: i for i, v in enumerate(levels)}
    y = np.array([code[v] for v in range(levels[0], levels[-1] + 1)])[y_raw - levels[0]]
    try:
        fit = fit_ordinal(design.X, y, n_levels=len(levels))
    except ValueError as exc:  # an empty answer level, a rank-deficient design: named in the message
        raise NotEstimable(f"model {spec.name}: {exc}") from None
    params = np.concatenate([fit.beta, fit.theta])
    vcov = fit.vcov
    method = "proportional-odds logit ML (R ordinal::clm); inverse observed information; normal"
    df = None
    if spec.se == "cluster":  # per-station score sums, as sandwich::vcovCL(clm fit, type = "HC1")
        scores = ordinal_scores(fit, design.X, y)
        vcov = cluster_robust_vcov(fit.vcov, scores, _clusters(frame, spec.cluster))
        df = _cluster_df(spec, frame)
        method = (f"proportional-odds logit ML; CR1 cluster-robust by {spec.cluster} "
                  f"(R sandwich::vcovCL HC1 on ordinal::clm); t(G - 1 = {df:g})")
    n = len(y)
    k = len(params)
    stats_ = {"nobs": n, "loglik": fit.loglik, "df": k, "aic": -2 * fit.loglik + 2 * k,
              "bic": -2 * fit.loglik + np.log(n) * k, "iterations": fit.iterations,
              "converged": fit.converged, "gradient_max": fit.gradient_max}
    if not fit.converged:
        stats_["warning"] = ("the proportional-odds fit did not converge: a level with very few rows may "
                             "have an estimate drifting to infinity")
    cut_names = [f"{levels[j]}|{levels[j + 1]}" for j in range(len(levels) - 1)]
    return dict(y=y, params=params, vcov=vcov, n_beta=len(fit.beta), df_resid=df, stats=stats_,
                se_method=method, cut_names=cut_names, extra={"ordinal_fit": fit})


def _fit_mixed(spec: ModelSpec, design: Design, frame: pd.DataFrame) -> dict:
    from research.stats.mixed import fit_random_intercept, information_criteria

    y = _outcome(frame, spec)
    groups = frame[spec.group].astype(str).to_numpy()
    try:
        fit = fit_random_intercept(design.X, y, groups)
    except ValueError as exc:  # fewer than 2 groups, a rank-deficient design, an exact fit
        raise NotEstimable(f"model {spec.name}: {exc}") from None
    ic = information_criteria(fit)
    stats_ = {"nobs": fit.nobs, "loglik": fit.loglik, "df": ic["df"], "aic": ic["aic"], "bic": ic["bic"],
              "reml_criterion": fit.reml_criterion, "n_groups": fit.n_groups,
              "var_group": fit.sigma2_group, "var_residual": fit.sigma2_resid,
              "icc": fit.sigma2_group / (fit.sigma2_group + fit.sigma2_resid),
              "singular": fit.singular, "converged": fit.converged}
    blups = pd.DataFrame({"group": fit.groups, "blup": fit.blup, "blup_se": fit.blup_se})
    return dict(y=y, params=np.asarray(fit.beta), vcov=np.asarray(fit.vcov), n_beta=len(fit.beta),
                df_resid=None, stats=stats_, cut_names=[],
                se_method=f"linear mixed model, REML (R lme4::lmer); random intercept per {spec.group}; normal",
                extra={"mixed_fit": fit, "blups": blups})


def _fit_ordinal_of(spec: ModelSpec, design: Design, frame: pd.DataFrame, instrument: Instrument) -> dict:
    scale = next(i.scale for i in instrument.items if i.name == spec.outcome)
    return _fit_ordinal(spec, design, frame, instrument.scales[scale].codes)



def _weighted_logit(spec: ModelSpec, design: Design, frame: pd.DataFrame, w: np.ndarray, clusters,
                    rows: np.ndarray, instrument: Instrument, calibration) -> tuple:
    """Survey-weighted logit, as R ``svyglm(..., family = quasibinomial())``: ``(fit, y, cut_names,
    method)`` with ``fit`` a :class:`research.stats.design_based.SvyFit`."""
    from research.stats.design_based import svy_glm_logit_fit

    raw = frame[spec.outcome].to_numpy(dtype=float)
    fit = svy_glm_logit_fit(design.X, raw, w, clusters, names=design.names, calibration=calibration,
                            design_rows=rows)
    return fit, raw, [], "survey-weighted logit, pseudo-ML (R survey::svyglm quasibinomial)"


def _weighted_ordinal(spec: ModelSpec, design: Design, frame: pd.DataFrame, w: np.ndarray, clusters,
                      rows: np.ndarray, instrument: Instrument, calibration) -> tuple:
    """Survey-weighted proportional-odds logit, as R ``svyolr``: ``(fit, y, cut_names, method)``,
    ``y`` the 0-based answer level. InputError when an answer level has no respondents."""
    from research.stats.design_based import svy_olr_fit

    raw = frame[spec.outcome].to_numpy(dtype=float)
    scale = next(i.scale for i in instrument.items if i.name == spec.outcome)
    levels = np.asarray(instrument.scales[scale].codes)
    y = np.searchsorted(levels, raw.astype(int))
    present = np.unique(y)
    if len(present) != len(levels):
        absent = [int(v) for v in levels if np.searchsorted(levels, v) not in present]
        raise InputError(f"model {spec.name}: answer level(s) {absent} of {spec.outcome} "
                         "have no respondents; the proportional-odds fit needs every level")
    fit = svy_olr_fit(design.X, y, w, clusters, names=design.names, levels=[str(v) for v in levels],
                      calibration=calibration, design_rows=rows)
    return (fit, y, fit.names[design.X.shape[1]:],
            "survey-weighted proportional-odds logit, pseudo-ML (R survey::svyolr)")
