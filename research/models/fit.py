"""Fit the models of the analysis plan and return tidy results.

One function per family turns a model frame into a :class:`FittedModel`
(parameters, covariance, fit statistics); :func:`fit_model` dispatches on the
plan's ``family``; :func:`tidy_estimates` and :func:`tidy_fit` give the
result contract of DESIGN.md.

Libraries: OLS and logit use statsmodels (cluster-robust CR1 covariance, as
R's ``sandwich::vcovCL(type = "HC1")``); the proportional-odds model and the
random-intercept mixed model use this package's own estimators
(:mod:`research.stats.ordinal`, :mod:`research.stats.mixed`), which say why.

Inference (issue 11): every plan model but the mixed one clusters by station.
CR1 fits (OLS, logit, ordinal: :func:`research.stats.sandwich.cluster_robust_vcov`)
test with Student's t on G - 1 df (Stata's ``vce(cluster)`` convention,
``clubSandwich::coef_test(test = "naive-t")``); ``se: cr2`` (linear models) gives
clubSandwich's CR2 with Bell–McCaffrey (Satterthwaite) df per contrast. One rule
(:func:`inference_df`) serves coefficients, predictions and marginal effects.
Checked against R in ``tests/test_inference.py``.

A single cluster (a one-station export): no cluster-robust covariance exists (it
needs at least 2 clusters), so a clustered model is fitted with model-based
standard errors instead (:func:`single_cluster_fallback`): ``se_type`` ``model``
in ``model_fit``, the reason in the ``method`` label of every estimate and in the
model's notes. Such standard errors ignore any correlation within the station.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from research.errors import InputError, NotEstimable
from research.config.instrument import Instrument
from research.models.design import Design, build_design, formula_context, model_frame
from research.config.plan import ModelSpec, Plan


@dataclass
class FittedModel:
    """A fitted model: everything predictions and tables need.

    ``params`` holds the coefficients of ``design`` (``n_beta`` of them) and,
    for ordinal models, the cutpoints after them; ``names`` and ``kinds``
    label each entry (kind ``coefficient`` or ``cutpoint``).
    """

    spec: ModelSpec
    design: Design
    frame: pd.DataFrame
    rows: np.ndarray
    y: np.ndarray
    params: np.ndarray
    vcov: np.ndarray
    names: list[str]
    kinds: list[str]
    n_beta: int
    df_resid: float | None  # t reference distribution (linear models); None = normal
    stats: dict
    se_method: str
    extra: dict = field(default_factory=dict)  # family-specific (variance components, BLUPs, ...)

    @property
    def beta(self) -> np.ndarray:
        return self.params[: self.n_beta]

    @property
    def cutpoints(self) -> np.ndarray:
        return self.params[self.n_beta:]


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
    statsmodels' to rounding and the iteration counts are the same (tests/test_fit_scale_logit.py).

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


#: fewest complete rows a model is fitted on
MIN_ROWS = 10

def _fit_ordinal_of(spec: ModelSpec, design: Design, frame: pd.DataFrame, instrument: Instrument) -> dict:
    scale = next(i.scale for i in instrument.items if i.name == spec.outcome)
    return _fit_ordinal(spec, design, frame, instrument.scales[scale].codes)


@dataclass(frozen=True)
class Family:
    """A model family's estimator: ``fit(spec, design, frame, instrument) -> dict`` (``y, params,
    vcov, n_beta, df_resid, stats, se_method, cut_names`` and optionally ``extra``, as the
    ``_fit_*`` functions return) and whether its design has an intercept column."""

    fit: Callable[[ModelSpec, Design, pd.DataFrame, Instrument], dict]
    intercept: bool = True


#: the one dispatch table from a plan model's ``family`` to its estimator; adding a family is its
#: estimator plus one line here (and its name in research.config.plan.FAMILIES): see
#: docs/architecture.md, "How to add a model family", and tests/test_model_families.py
FAMILIES: dict[str, Family] = {
    "linear": Family(lambda spec, design, frame, instrument: _fit_linear(spec, design, frame)),
    "logit": Family(lambda spec, design, frame, instrument: _fit_logit(spec, design, frame)),
    "ordinal": Family(_fit_ordinal_of, intercept=False),
    "mixed": Family(lambda spec, design, frame, instrument: _fit_mixed(spec, design, frame)),
}


#: the model-based standard errors a clustered model falls back to with a single cluster, by family
MODEL_BASED = {"linear": "classical OLS standard errors, t(n - k)",
               "logit": "inverse-information standard errors, normal",
               "ordinal": "inverse observed-information standard errors, normal"}

#: plan ``se`` types that cluster by ``spec.cluster``
CLUSTERED = ("cluster", "cr2")

#: the family of terms whose p-values are adjusted together within a model (sub-cause contrasts)
ADJUSTED_FAMILY = "cause_l2["

#: families whose coefficients are log odds (tables show exp(b) with exp of the interval ends)
ODDS_FAMILIES = ("logit", "ordinal")


def inference_df(fm: "FittedModel", contrast: np.ndarray | None = None) -> float | None:
    """Degrees of freedom of the t reference for a linear combination of ``fm.params``.

    One rule for coefficients, predictions and marginal effects of a model: CR2 fits give
    the Bell–McCaffrey (Satterthwaite) df of the contrast (``clubSandwich``; G - 1 when no
    contrast is given); other fits ``fm.df_resid`` (G - 1 for CR1, n - k for classical OLS,
    the design df for survey-weighted fits, G - 1 when G <= p: research.stats.design_based.design_df).
    ``None`` means the normal distribution: the model has no t reference (ML logit / ordinal
    with model-based SEs, mixed), or its df is below 1 (a design-based fit on a single
    cluster), which :func:`df_note` reports.
    """
    cr2 = fm.extra.get("cr2")
    if cr2 is not None and contrast is not None:
        c = np.asarray(contrast, dtype=float)[: fm.n_beta]
        return cr2.df(c)
    if fm.df_resid is None or not np.isfinite(fm.df_resid) or fm.df_resid < 1:
        return None
    return float(fm.df_resid)


def df_note(fm: "FittedModel") -> str:
    """A note when the t reference is missing for lack of clusters, or clusters are fewer than
    parameters (empty string otherwise)."""
    n_par = len(fm.params)
    g = fm.stats.get("n_clusters")
    notes = []
    if fm.df_resid is not None and np.isfinite(fm.df_resid) and fm.df_resid < 1:
        notes.append(f"the degrees of freedom of the t reference are {fm.df_resid:g} (< 1): tests and intervals "
                     "use the normal distribution instead (labelled 'normal (df < 1)' in the method column) "
                     "and are too narrow")
    if g is not None and np.isfinite(g) and g <= n_par:
        notes.append(f"only {int(g)} clusters for {n_par} parameters: the cluster-robust covariance has rank at "
                     f"most {int(g) - 1}, so no joint (Wald) test of all coefficients is possible; single-"
                     f"coefficient t tests with {int(g) - 1} df remain defined but rest on few clusters")
    return "; ".join(notes)


def estimable(spec: ModelSpec, frame: pd.DataFrame) -> list[str]:
    """Check that a model frame can support the model, before any fitting.

    Parameters
    ----------
    spec : the model's plan entry.
    frame : its complete cases (:func:`research.models.design.model_frame`).

    Returns
    -------
    Notes for the results: each categorical variable of the right-hand side with a
    single level in the data (nothing to compare: its main effect has no columns).

    Raises
    ------
    NotEstimable
        Fewer than :data:`MIN_ROWS` complete rows; an outcome taking a single value;
        fewer than 2 clusters (``se: cluster``; :func:`fit_model` falls back to model-based
        standard errors before asking) or groups (``mixed``); a number or flag
        of the right-hand side taking a single value. Messages name the model and the
        variable, never a data value.
    """
    n = len(frame)
    if n < MIN_ROWS:
        raise NotEstimable(f"model {spec.name}: only {n} complete rows of its variables "
                           f"({', '.join(spec.variables())}); at least {MIN_ROWS} are needed")
    if frame[spec.outcome].nunique() < 2:
        raise NotEstimable(f"model {spec.name}: the outcome {spec.outcome} takes a single value in its "
                           f"{n:,} complete rows: there is nothing to model")
    for role, name in (("standard errors clustered by {} need", spec.cluster if spec.se in CLUSTERED else None),
                       ("a random intercept per {} needs", spec.group if spec.family == "mixed" else None)):
        if name is not None and frame[name].nunique() < 2:
            raise NotEstimable(f"model {spec.name}: {role.format(name)} at least 2 levels of {name}; "
                               f"the data have {frame[name].nunique()}")
    rhs_only = [v for v in frame.columns if v not in (spec.outcome, spec.cluster, spec.group)]
    single = [v for v in rhs_only if frame[v].nunique() < 2]
    constant = [v for v in single if not isinstance(frame[v].dtype, pd.CategoricalDtype)]
    if constant:  # a constant number or flag is collinear with the intercept / cutpoints
        raise NotEstimable(f"model {spec.name}: {', '.join(constant)} takes a single value in its {n:,} complete "
                           "rows, so its effect cannot be estimated (take it out of the model's rhs in the plan)")
    return [f"{v} has a single level in the data: the model cannot compare its levels (no {v} effect)"
            for v in single]


def single_cluster_fallback(spec: ModelSpec, frame: pd.DataFrame) -> tuple[ModelSpec, str, str]:
    """A clustered model on data with a single cluster: ``(spec, label, note)``.

    A cluster-robust covariance (CR1, CR2) needs at least 2 clusters: with one, the
    single cluster's score total is zero at the estimate and the CR1 factor G / (G - 1)
    is undefined (statsmodels divides by zero).
    Rather than refuse the model, it is fitted with its model-based covariance
    (:data:`MODEL_BASED`; the plan's ``se: model``): the returned ``spec`` has ``se:
    model`` and keeps ``cluster`` (so ``model_fit`` shows the station and ``n_clusters``
    1), ``label`` is appended to the method of every estimate and ``note`` goes to the
    model's notes. Those standard errors ignore any correlation of answers within the
    station, so they may be too small. Any other model: ``(spec, "", "")`` unchanged.
    """
    if spec.se not in CLUSTERED or spec.family not in MODEL_BASED or frame[spec.cluster].nunique() >= 2:
        return spec, "", ""
    label = f"model-based standard errors: a single {spec.cluster} in the data, and clustering needs at least 2"
    note = (f"a single {spec.cluster} in the data: standard errors are model-based ({MODEL_BASED[spec.family]}), "
            f"not clustered by {spec.cluster} as the plan asks (a cluster-robust covariance needs at least 2 "
            f"clusters); they ignore any correlation of answers within the {spec.cluster} and may be too small")
    return dataclasses.replace(spec, se="model"), label, note


def fit_model(spec: ModelSpec, responses: pd.DataFrame, *, plan: Plan, instrument: Instrument) -> FittedModel:
    """Fit one model of the plan on the complete cases of its variables.

    Parameters
    ----------
    spec : the model's plan entry.
    responses : canonical responses (research.ingestion.schema.RESPONSES).
    plan : gives the reference levels.
    instrument : gives category orders and the answer scale.

    Returns
    -------
    FittedModel

    Raises
    ------
    NotEstimable
        (an InputError) The data cannot support the model: see :func:`estimable`, a
        rank-deficient design, an empty answer level, a fit that fails (singular
        information matrix) or gives non-finite estimates. A clustered model on a
        single station is fitted with model-based standard errors instead, with a
        note (:func:`single_cluster_fallback`).
    """
    notes: list[str] = []
    frame, rows = model_frame(responses, spec.variables(), reference_levels=plan.reference_levels,
                              instrument=instrument, notes=notes)
    spec, fallback, why = single_cluster_fallback(spec, frame) if len(frame) else (spec, "", "")
    if why:
        notes.append(why)
    notes += estimable(spec, frame)
    family = FAMILIES[spec.family]
    try:
        design = build_design(frame, spec.rhs, intercept=family.intercept, context=formula_context())
    except NotEstimable as exc:  # a rank-deficient design: the data's doing, not the plan's
        raise NotEstimable(f"model {spec.name}: {str(exc).removeprefix('analysis plan: ')}") from None
    out = family.fit(spec, design, frame, instrument)
    if not (np.isfinite(out["params"]).all() and np.isfinite(np.diag(out["vcov"])).all()):
        raise NotEstimable(f"model {spec.name}: the fit gives non-finite estimates or standard errors "
                           "(a singular information matrix: some level or combination is too sparse)")
    names = design.names + out["cut_names"]
    kinds = ["coefficient"] * out["n_beta"] + ["cutpoint"] * len(out["cut_names"])
    out["stats"]["n_dropped"] = int(len(responses) - len(frame))
    if spec.se in CLUSTERED:
        out["stats"]["n_clusters"] = int(frame[spec.cluster].nunique())
    if out["stats"].get("warning"):
        notes.append(out["stats"].pop("warning"))
    if out["stats"].get("converged") is False and spec.family == "ordinal":
        notes.append("the proportional-odds fit did not converge: a level with very few rows may "
                     "have an estimate drifting to infinity")
    fm = FittedModel(spec=spec, design=design, frame=frame, rows=rows, y=out["y"], params=out["params"],
                     vcov=out["vcov"], names=names, kinds=kinds, n_beta=out["n_beta"],
                     df_resid=out["df_resid"], stats=out["stats"],
                     se_method=out["se_method"] + (f"; {fallback}" if fallback else ""),
                     extra=out.get("extra", {}))
    if df_note(fm):
        notes.append(df_note(fm))
    fm.stats["notes"] = "; ".join(notes)
    return fm


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Holm (``"holm"``) or Benjamini–Hochberg (``"fdr"``) adjusted p-values of one family.

    Same as R ``p.adjust(p, "holm")`` and ``p.adjust(p, "BH")`` (Holm 1979; Benjamini &
    Hochberg 1995): missing p-values stay missing and do not count in the family size.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    if method == "holm":
        order = ok[np.argsort(p[ok], kind="stable")]
        adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    elif method == "fdr":
        order = ok[np.argsort(p[ok], kind="stable")[::-1]]
        adj = np.minimum.accumulate(m / np.arange(m, 0, -1) * p[order])
    else:
        raise ValueError(f"unknown adjustment {method!r}: use 'holm' or 'fdr'")
    out[order] = np.minimum(adj, 1.0)
    return out


def tidy_estimates(fm: FittedModel, conf_level: float = 0.95) -> pd.DataFrame:
    """Coefficient table: ``model, term, estimate, std_error, statistic, p_value,
    conf_low, conf_high, conf_level, kind, df, n, method, p_holm, p_fdr, odds_ratio,
    or_conf_low, or_conf_high``.

    ``statistic`` = estimate / std_error; p-values and intervals use Student's t with
    ``df`` degrees of freedom (:func:`inference_df`): G - 1 for CR1 cluster-robust fits
    (Stata's convention, R ``clubSandwich::coef_test(test = "naive-t")``), the
    Bell–McCaffrey df of each coefficient for CR2 fits (``clubSandwich``,
    ``test = "Satterthwaite"``), n - k for classical OLS (R ``lmtest::coeftest``), the
    design df for survey-weighted fits (G - 1 when G <= p); the normal distribution otherwise (``df``
    blank; ``method`` ends in ``normal (df < 1)`` when a t reference was due but has
    fewer than 1 df).

    ``p_holm``, ``p_fdr``: Holm and Benjamini–Hochberg adjusted p-values over the
    family of sub-cause contrasts (terms ``cause_l2[...]``) of this model (R
    ``p.adjust``); blank on other terms. ``p_value`` stays unadjusted.
    ``odds_ratio``, ``or_conf_low``, ``or_conf_high``: for logit and ordinal
    coefficients, ``exp`` of the estimate and of the interval ends (the odds of a
    higher answer / of being satisfied, multiplied); blank otherwise.

    Variance components of mixed models are added as ``kind = variance`` rows
    without standard errors.
    """
    est = fm.params
    se = np.sqrt(np.clip(np.diag(fm.vcov), 0, None))
    z = est / se
    k = len(est)
    dfs = np.array([np.nan if (d := inference_df(fm, c)) is None else d for c in np.eye(k)]) \
        if fm.extra.get("cr2") is not None else np.full(k, np.nan if inference_df(fm) is None else inference_df(fm))
    t_ref = np.isfinite(dfs)
    p = np.where(t_ref, 2 * stats.t.sf(np.abs(z), np.where(t_ref, dfs, 1.0)), 2 * stats.norm.sf(np.abs(z)))
    q = np.where(t_ref, stats.t.ppf(0.5 + conf_level / 2, np.where(t_ref, dfs, 1.0)),
                 stats.norm.ppf(0.5 + conf_level / 2))
    method = fm.se_method
    if fm.df_resid is not None and not t_ref.any():  # a t reference was due but has no df
        method = f"{method}; normal (df < 1: {fm.df_resid:g})"
    out = pd.DataFrame({
        "model": fm.spec.name, "term": fm.names, "estimate": est, "std_error": se,
        "statistic": z, "p_value": p, "conf_low": est - q * se, "conf_high": est + q * se,
        "conf_level": conf_level, "kind": fm.kinds, "df": dfs,
        "n": fm.stats["nobs"], "method": method,
    })
    family = out["term"].str.startswith(ADJUSTED_FAMILY).to_numpy() & (out["kind"] == "coefficient").to_numpy()
    out["p_holm"] = np.nan
    out["p_fdr"] = np.nan
    if family.any():
        out.loc[family, "p_holm"] = adjust_pvalues(out.loc[family, "p_value"].to_numpy(), "holm")
        out.loc[family, "p_fdr"] = adjust_pvalues(out.loc[family, "p_value"].to_numpy(), "fdr")
    odds = (fm.spec.family in ODDS_FAMILIES) & (out["kind"] == "coefficient").to_numpy()
    for col, src in (("odds_ratio", "estimate"), ("or_conf_low", "conf_low"), ("or_conf_high", "conf_high")):
        out[col] = np.where(odds, np.exp(out[src].to_numpy()), np.nan)
    if fm.spec.family == "mixed":
        var = pd.DataFrame({"model": fm.spec.name,
                            "term": [f"var({fm.spec.group})", "var(residual)"], "kind": "variance",
                            "estimate": [fm.stats["var_group"], fm.stats["var_residual"]],
                            "conf_level": conf_level, "n": fm.stats["nobs"], "method": "REML"})
        out = pd.concat([out, var], ignore_index=True)
    return out


def tidy_fit(fm: FittedModel) -> pd.DataFrame:
    """One row of fit statistics: ``model, family, outcome, formula, nobs, n_dropped, loglik,
    aic, bic, df`` and family-specific columns (r_squared, sigma, pseudo_r2_mcfadden,
    reml_criterion, var_group, var_residual, icc, n_groups, iterations, converged, ...),
    plus ``se_type``, ``cluster``, ``n_clusters``, ``df_inference`` (the df of its t
    tests: G - 1 for CR1, n - k for classical OLS; blank for normal-based and CR2 fits,
    whose df are per contrast) and the reference levels used."""
    refs = {f"reference_{v}": str(fm.frame[v].cat.categories[0]) for v in fm.frame.columns
            if hasattr(fm.frame[v], "cat")}
    row = {"model": fm.spec.name, "family": fm.spec.family, "outcome": fm.spec.outcome,
           "formula": fm.spec.formula, **fm.stats, "se_type": fm.spec.se,
           "cluster": fm.spec.cluster or fm.spec.group or "",
           "n_clusters": int(fm.frame[fm.spec.cluster or fm.spec.group].nunique())
           if (fm.spec.cluster or fm.spec.group) else np.nan,
           "df_inference": np.nan if fm.extra.get("cr2") is not None or inference_df(fm) is None
           else inference_df(fm), **refs}
    return pd.DataFrame([row])
