"""Non-response sensitivity: how far the headline satisfied rate could move.

Raking (and inverse-propensity weighting, and post-stratification) remove the
bias of non-response only when whether a customer answers depends on the
weighting variables alone -- "missing at random" (MAR) given the margins.
Nothing in the data can check that: a customer who refuses the callback
because they are dissatisfied looks, on every work-order variable, like one
who refuses for another reason. This module therefore does two things:

1. :func:`weighting_methods` -- the headline rates (overall and by cause
   group) under every weighting method at once: unweighted (equal weights),
   raking, inverse response propensity and post-stratification, each with its
   design-based (Taylor-linearization) standard error, so the reader sees how
   much the *choice* of MAR adjustment matters.
2. :func:`delta_range` and :func:`tipping_deltas` -- a delta-adjustment
   (pattern-mixture) analysis of departures from MAR. A logit of satisfied on
   the work-order covariates (the response-propensity formula) is fitted on the
   respondents and applied to the non-respondents; a non-respondent's log-odds
   of being satisfied is then shifted by ``delta`` from that of comparable
   respondents (same covariates)::

       theta_d(delta) = [ sum_{i in d, observed} y_i
                          + sum_{i in d, missing} expit(x_i' beta + delta_{pattern(i)}) ] / N_d

   where ``N_d`` counts the work orders of domain ``d`` and ``pattern(i)`` is
   the ticket's survey status (``refused`` / ``no_answer``; completed surveys
   without an answer stay MAR, ``delta = 0``). At ``delta = 0`` this is the
   MAR regression (imputation) estimator of the population rate; ``delta < 0``
   means non-respondents are less often satisfied than comparable respondents
   (``exp(delta)`` is the odds ratio). The *tipping* delta is the shift at
   which the main comparison -- the rate against the plan's target -- would be
   overturned; it is found separately for refusals, for no-answers and for
   both together (refusals may well differ: they are more likely dissatisfied).

   References: Rubin (1977), "Formalizing subjective notions about the effect
   of nonrespondents in sample surveys", JASA 72, 538-543; Little (1994), "A
   class of pattern-mixture models for normal incomplete data", Biometrika 81,
   471-483; Carpenter & Kenward (2013), *Multiple Imputation and its
   Application*, ch. 10 (delta adjustment; R ``mice``'s post-processing
   ``imp$post`` and ``rbmi::delta_template`` implement the same shift on the
   logit scale as multiple imputation; here it is applied to the predicted
   probabilities directly, which is the MI estimator's limit with infinitely
   many imputations).

Standard errors of ``theta_d(delta)`` come from the estimator's influence
values (M-estimation sandwich): each work order contributes
``(a_i - theta_d) / N_d`` (``a_i`` its observed or shifted predicted outcome)
and each respondent also ``g_d' H^{-1} x_i (y_i - p_i)``, the effect of its
answer on ``beta`` (``H`` the logit's information, ``g_d`` the derivative of
``theta_d`` with respect to ``beta``); they are summed within stations and
combined as a one-stage cluster design (:func:`research.design_based.
linearized_variance`). Intervals use Student's t with ``G - 1`` degrees of
freedom (``G`` stations; as Stata and R ``clubSandwich`` for clustered
inference). The uncertainty is about the population under the stated
``delta``; the range of ``delta`` itself is an assumption the data cannot
check.

All functions are pure: frames in, tidy frames out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats
from scipy.special import expit

from research.design_based import _cluster_codes, svy_by
from research.errors import InputError
from research.plan import WeightingSpec

__all__ = ["WEIGHTING_METHODS", "PATTERNS", "SCENARIOS", "weighting_methods", "OutcomeModel", "outcome_model",
           "missing_pattern", "delta_adjusted_rate", "delta_range", "tipping_deltas", "nonresponse_sensitivity"]

#: weighting methods set side by side (``none``: equal weights, i.e. the unweighted rate)
WEIGHTING_METHODS = ("none", "rake", "ipw", "poststratify")
#: missing-data patterns of a work order: answered, completed without a satisfaction answer,
#: no answer, refused, no survey status
PATTERNS = ("observed", "item_missing", "no_answer", "refused", "unknown")
#: which non-respondents a scenario shifts by delta (the others stay at delta = 0, MAR)
SCENARIOS = {"refused": ("refused",), "no_answer": ("no_answer",), "all": ("refused", "no_answer", "unknown")}
#: patterns a delta may shift: the non-respondents (completed surveys without an answer stay MAR)
SHIFTABLE = ("no_answer", "refused", "unknown")
#: bracket of the tipping-delta search (log-odds); beyond it a shift is an odds ratio above e^20
TIPPING_BRACKET = 20.0


# ---------------------------------------------------------------------------
# 1. weighting methods side by side
# ---------------------------------------------------------------------------

def _kish(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / np.dot(w, w)) if w.size else np.nan


def weighting_methods(respondents: pd.DataFrame, population: pd.DataFrame, spec: WeightingSpec,
                      propensity: np.ndarray | None, *, domains: Sequence[str] = ("cause_l1",),
                      methods: Sequence[str] = WEIGHTING_METHODS, y: str = "satisfied",
                      conf_level: float = 0.95) -> pd.DataFrame:
    """The satisfied rate overall and by domain under every weighting method.

    Parameters
    ----------
    respondents : :func:`research.representativeness.respondent_frame` output (one row per
        completed survey; ``y`` 0/1 or missing, the margins, ``spec.cluster``).
    population : :func:`research.nonresponse.population_frame` output (the work orders).
    spec : the plan's weighting section; each method uses its margins, cells, cap and tol.
    propensity : each respondent's fitted response propensity (for ``ipw``), or None.
    domains : respondent columns to break the rate down by (besides ``overall``).
    methods : from :data:`WEIGHTING_METHODS`.

    Returns
    -------
    DataFrame, one row per method, domain and level: ``method, domain, level, estimate``
    (proportion satisfied, 0..1), ``std_error, conf_low, conf_high, conf_level`` (Taylor
    linearization, stations as clusters, calibration margins projected out for rake and
    post-stratification as R ``survey`` does on a calibrated design; normal quantile as
    ``confint`` of ``svyby``), ``n`` (valid answers), ``n_eff`` (Kish effective n of the
    domain's weights), ``description`` (the weighting, or why it could not be made, then
    with NaN estimates).

    References: Lumley (2010), *Complex Surveys*, ch. 7 (raking, post-stratification);
    R ``survey`` 4.1 (``rake``, ``postStratify``, ``svyby``).
    """
    from research.representativeness import calibration_of, make_weights

    data = respondents.assign(overall="overall")
    yv = pd.to_numeric(data[y].astype("Float64"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    parts = []
    for method in methods:
        s = replace(spec, method=method)
        try:
            weights, _, text = make_weights(respondents, population, s, propensity)
        except InputError as exc:
            rows = [{"method": method, "domain": d, "level": str(lev), "description": f"not available: {exc}"}
                    for d in ("overall", *domains) for lev in sorted(data[d].dropna().astype(str).unique())]
            parts.append(pd.DataFrame(rows))
            continue
        calibration = calibration_of(respondents, weights, s)
        d_w = data.assign(_w=weights, _y=yv)
        for d in ("overall", *domains):
            t = svy_by(d_w, y="_y", by=d, weights="_w", cluster=spec.cluster, conf_level=conf_level,
                       calibration=calibration)
            ok = ~np.isnan(yv)
            lev = d_w[d].astype("string").to_numpy(dtype=object)
            n_eff = [_kish(weights[ok & (lev == str(v))]) for v in t[d].astype(str)]
            parts.append(pd.DataFrame({
                "method": method, "domain": d, "level": t[d].astype(str).to_numpy(),
                "estimate": t["estimate"].to_numpy(), "std_error": t["std_error"].to_numpy(),
                "conf_low": t["conf_low"].to_numpy(), "conf_high": t["conf_high"].to_numpy(),
                "conf_level": conf_level, "n": t["n"].to_numpy(), "n_eff": n_eff, "description": text}))
    cols = ["method", "domain", "level", "estimate", "std_error", "conf_low", "conf_high", "conf_level", "n",
            "n_eff", "description"]
    out = pd.concat(parts, ignore_index=True)
    return out.reindex(columns=cols)


# ---------------------------------------------------------------------------
# 2. delta adjustment
# ---------------------------------------------------------------------------

def missing_pattern(population: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """Each work order's pattern (:data:`PATTERNS`) from its survey status and outcome.

    ``y`` is the outcome aligned with ``population`` (NaN when unknown). A completed survey
    with an outcome is ``observed``, without one ``item_missing``; ``no_answer`` and
    ``refused`` as the status says; a missing status is ``unknown``.
    """
    status = population["survey_status"].astype("string").fillna("").to_numpy(dtype=object)
    obs = ~np.isnan(y)
    pat = np.full(len(population), "unknown", dtype=object)
    pat[status == "no_answer"] = "no_answer"
    pat[status == "refused"] = "refused"
    pat[status == "completed"] = "item_missing"
    pat[(status == "completed") & obs] = "observed"
    bad = obs & (status != "completed")
    if bad.any():
        raise InputError(f"work orders: {int(bad.sum())} ticket(s) have a survey answer but a survey_status "
                         "other than completed")
    return pat


def delta_adjusted_rate(y: np.ndarray, pattern: np.ndarray, eta: np.ndarray,
                        delta: Mapping[str, float]) -> float:
    """The delta-adjusted population rate (closed form; no uncertainty).

    Parameters
    ----------
    y : outcome per unit (0/1; read only where ``pattern == "observed"``).
    pattern : per unit, one of :data:`PATTERNS`.
    eta : per unit, the respondents' model's linear predictor (log-odds of satisfied).
    delta : shift of the log-odds per non-response pattern (:data:`SHIFTABLE`; patterns not
        named: 0, i.e. MAR). ValueError for ``observed`` or ``item_missing``.

    Returns
    -------
    ``[sum_{observed} y_i + sum_{missing} expit(eta_i + delta_pattern(i))] / N`` (0..1).
    """
    bad = sorted(set(delta) - set(SHIFTABLE))
    if bad:
        raise ValueError(f"delta may shift only {list(SHIFTABLE)} (completed surveys stay MAR), got {bad}")
    y = np.asarray(y, dtype=float)
    pattern = np.asarray(pattern, dtype=object)
    eta = np.asarray(eta, dtype=float)
    shift = np.array([float(delta.get(p, 0.0)) for p in pattern]) if len(pattern) else np.zeros(0)
    obs = pattern == "observed"
    a = np.where(obs, np.nan_to_num(y), expit(eta + shift))
    return float(a.mean())


@dataclass(frozen=True)
class OutcomeModel:
    """The respondents' logit of satisfied, applied to every modelled work order.

    Attributes
    ----------
    rows : positions (in the population frame) of the work orders with every covariate.
    X : their design matrix (rows x k).
    beta : coefficients (log-odds), fitted on the ``observed`` rows.
    bread : ``H^{-1}``, inverse of the logit's information on the observed rows.
    names : column names of ``X``.
    """

    rows: np.ndarray
    X: np.ndarray
    beta: np.ndarray
    bread: np.ndarray
    names: list[str]

    @property
    def eta(self) -> np.ndarray:
        return self.X @ self.beta


def outcome_model(population: pd.DataFrame, y: np.ndarray, rhs: str, *, cluster: str = "station",
                  reference_levels: dict[str, str] | None = None, instrument=None) -> OutcomeModel:
    """Logit of ``y`` on the work-order covariates ``rhs``, fitted where ``y`` is observed.

    Parameters
    ----------
    population : :func:`research.nonresponse.population_frame` output (every covariate of ``rhs``
        is a work-order column, so the model predicts non-respondents too).
    y : outcome aligned with ``population`` (0/1, NaN for non-respondents).
    rhs : right-hand side over work-order variables (the plan's ``propensity_rhs``).

    Raises
    ------
    InputError
        Fewer than 10 answered tickets, one outcome only, or a design the respondents cannot
        identify (a level with no respondents).
    """
    import statsmodels.api as sm

    from research.instrument import load_instrument
    from research.models.design import build_design, formula_context, model_frame
    from research.nonresponse import _uses

    instrument = instrument if instrument is not None else load_instrument()
    variables = tuple(v for v in ("cause_l1", "cause_l2", "channel", "region", "station", "repeat",
                                  "handling_hours") if _uses(rhs, v))
    frame, rows = model_frame(population, tuple(dict.fromkeys([*variables, cluster])),
                              reference_levels=reference_levels or {}, instrument=instrument)
    design = build_design(frame, rhs, intercept=True, context=formula_context())
    X = np.asarray(design.X, dtype=float)
    yr = np.asarray(y, dtype=float)[rows]
    obs = ~np.isnan(yr)
    if obs.sum() < 10 or np.unique(yr[obs]).size < 2:
        raise InputError("non-response sensitivity: the outcome model needs at least 10 answered tickets "
                         "with both outcomes")
    Xo = X[obs]
    empty = [n for n, c in zip(design.names, Xo.T) if not np.any(c)]
    if empty:
        raise InputError(f"non-response sensitivity: no respondent has {empty}; the outcome model cannot "
                         "predict those work orders (collapse the level)")
    res = sm.Logit(yr[obs], Xo, check_rank=False).fit(method="newton", disp=0, maxiter=100, tol=1e-12)
    beta = np.asarray(res.params)
    p = expit(Xo @ beta)
    H = (Xo * (p * (1 - p))[:, None]).T @ Xo
    try:
        bread = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        raise InputError("non-response sensitivity: the outcome model's information matrix is singular") from None
    return OutcomeModel(rows=np.asarray(rows), X=X, beta=beta, bread=bread, names=list(design.names))


@dataclass(frozen=True)
class _Prep:
    """What every delta shares: the linear predictor, the respondents' influence on beta summed
    within clusters, the pattern, the clusters."""

    X: np.ndarray
    eta: np.ndarray
    y: np.ndarray  # observed outcome, 0 elsewhere
    obs: np.ndarray
    codes: np.ndarray
    g: int
    beta_totals: np.ndarray  # G x k: sum over the cluster's respondents of H^-1 x_i (y_i - p_i)


def _prep(model: OutcomeModel, yr: np.ndarray, pattern: np.ndarray, codes: np.ndarray, g: int) -> _Prep:
    eta = model.eta
    obs = pattern == "observed"
    y = np.where(obs, np.nan_to_num(yr), 0.0)
    infl = (model.X * (obs * (y - expit(eta)))[:, None]) @ model.bread
    totals = np.stack([np.bincount(codes, weights=infl[:, j], minlength=g) for j in range(infl.shape[1])], axis=1)
    return _Prep(X=model.X, eta=eta, y=y, obs=obs, codes=codes, g=g, beta_totals=totals)


def _estimates(pr: _Prep, shift: np.ndarray, dom: np.ndarray, n_dom: int) -> tuple[np.ndarray, np.ndarray]:
    """theta_d and its cluster-robust SE for every domain ``0..n_dom-1`` (``dom`` per modelled row).

    Influence value of row i for domain d (sum scale)::

        z_id = I_id (a_i - theta_d) / N_d + g_d' H^{-1} x_i (y_i - p_i) [i observed]

    with ``g_d = (1/N_d) sum_{i in d, missing} q_i (1 - q_i) x_i``; cluster totals of ``z``
    go to :func:`research.design_based.linearized_variance`.
    """
    q = expit(pr.eta + shift)
    a = np.where(pr.obs, pr.y, q)
    N_d = np.maximum(np.bincount(dom, minlength=n_dom).astype(float), 1.0)  # an empty bucket stays 0
    theta = np.bincount(dom, weights=a, minlength=n_dom) / N_d
    wq = np.where(pr.obs, 0.0, q * (1 - q))
    onehot = sparse.csr_matrix((np.ones(dom.size), (dom, np.arange(dom.size))), shape=(n_dom, dom.size))
    G = np.asarray(onehot @ (pr.X * wq[:, None])) / N_d[:, None]  # n_dom x k
    resid = (a - theta[dom]) / N_d[dom]
    direct = np.bincount(pr.codes * n_dom + dom, weights=resid, minlength=pr.g * n_dom).reshape(pr.g, n_dom)
    totals = direct + pr.beta_totals @ G.T  # G x n_dom cluster totals
    totals = totals - totals.mean(axis=0)
    var = pr.g / (pr.g - 1) * np.einsum("gd,gd->d", totals, totals)
    return theta, np.sqrt(var)


def _setup(population: pd.DataFrame, y: np.ndarray, model: OutcomeModel, domains: Sequence[str], cluster: str):
    """Modelled rows' outcome, pattern, clusters, and the domains as (variable, levels, codes)."""
    rows = model.rows
    pop = population.iloc[rows]
    yr = np.asarray(y, dtype=float)[rows]
    pattern = missing_pattern(pop, yr)
    codes, g = _cluster_codes(pop[cluster].astype("string").to_numpy(dtype=object))
    doms = [("overall", ["overall"], np.zeros(len(rows), dtype=np.intp))]
    for d in domains:
        lev = pop[d].astype("string")
        present = set(lev.dropna().unique())
        order = ([str(c) for c in pop[d].cat.categories if str(c) in present]
                 if isinstance(pop[d].dtype, pd.CategoricalDtype) else sorted(present))
        idx = {v: i for i, v in enumerate(order)}
        dom = np.array([idx.get(v, -1) if isinstance(v, str) else -1 for v in lev.to_numpy(dtype=object)],
                       dtype=np.intp)
        doms.append((d, order, dom))
    return yr, pattern, codes, g, doms


def _labels(doms) -> tuple[list[str], list[str]]:
    return ([var for var, levels, _ in doms for _ in levels], [lv for _, levels, _ in doms for lv in levels])


def _all_domains(pr: _Prep, shift, doms):
    """theta and SE for every domain level, in the order of :func:`_labels`.

    A ticket with no level of a domain variable belongs to none of its domains but, as a
    respondent, still moves beta: it is kept in an extra bucket whose estimate is dropped.
    """
    est, se = [], []
    for _, levels, dom in doms:
        k = len(levels)
        t, s = _estimates(pr, shift, np.where(dom < 0, k, dom), k + 1)
        est.extend(t[:k])
        se.extend(s[:k])
    return np.asarray(est), np.asarray(se)


def _shift(pattern: np.ndarray, shifted: tuple[str, ...], delta: float) -> np.ndarray:
    return np.where(np.isin(pattern, shifted), delta, 0.0)


def delta_range(population: pd.DataFrame, y: np.ndarray, model: OutcomeModel, deltas: Sequence[float], *,
                domains: Sequence[str] = ("cause_l1",), cluster: str = "station",
                conf_level: float = 0.95) -> pd.DataFrame:
    """The delta-adjusted satisfied rate over a grid of delta, per scenario and domain.

    Parameters
    ----------
    population : the work orders (:func:`research.nonresponse.population_frame`).
    y : outcome aligned with ``population`` (0/1; NaN where unknown).
    model : :func:`outcome_model` fitted on the same ``population`` and ``y``.
    deltas : shifts of the non-respondents' log-odds of being satisfied (log odds ratio
        against comparable respondents).
    domains : population columns to break the rate down by (besides ``overall``).

    Returns
    -------
    DataFrame, one row per scenario (:data:`SCENARIOS`: only refusals shifted, only
    no-answers, or every non-respondent), delta, domain and level: ``scenario, delta,
    odds_ratio`` (``exp(delta)``), ``domain, level, estimate`` (population satisfied rate,
    0..1), ``std_error, conf_low, conf_high, conf_level`` (sandwich, clusters, t with G - 1
    df), ``df``, ``n`` (work orders modelled), ``n_observed``, ``n_refused``,
    ``n_no_answer``, ``n_item_missing`` (kept at delta = 0), ``method``.
    """
    yr, pattern, codes, g, doms = _setup(population, y, model, domains, cluster)
    q = stats.t.ppf(0.5 + conf_level / 2, g - 1)
    dvars, dlevels = _labels(doms)
    pr = _prep(model, yr, pattern, codes, g)
    parts = []
    for scen, shifted in SCENARIOS.items():
        for delta in deltas:
            est, se = _all_domains(pr, _shift(pattern, shifted, float(delta)), doms)
            parts.append(pd.DataFrame({"scenario": scen, "delta": float(delta), "odds_ratio": np.exp(float(delta)),
                                       "domain": dvars, "level": dlevels,
                                       "estimate": est, "std_error": se, "conf_low": est - q * se,
                                       "conf_high": est + q * se}))
    out = pd.concat(parts, ignore_index=True)
    out["conf_level"] = conf_level
    out["df"] = g - 1
    cnt = _pattern_counts(pattern, doms)
    out = out.merge(cnt, on=["domain", "level"], how="left", sort=False)
    out["method"] = ("delta adjustment (pattern mixture): respondents' logit applied to non-respondents, "
                     "log-odds shifted by delta; cluster sandwich SE, t(G - 1)")
    return out


def _pattern_counts(pattern, doms) -> pd.DataFrame:
    rows = []
    for var, levels, dom in doms:
        for k, lev in enumerate(levels):
            pt = pattern[dom == k]
            rows.append({"domain": var, "level": lev, "n": int(pt.size), "n_observed": int((pt == "observed").sum()),
                         "n_refused": int((pt == "refused").sum()), "n_no_answer": int((pt == "no_answer").sum()),
                         "n_item_missing": int((pt == "item_missing").sum()),
                         "n_unknown": int((pt == "unknown").sum())})
    return pd.DataFrame(rows)


def tipping_deltas(population: pd.DataFrame, y: np.ndarray, model: OutcomeModel, *, target: float,
                   domains: Sequence[str] = ("cause_l1",), cluster: str = "station",
                   plausible: tuple[float, float] = (-1.0, 1.0)) -> pd.DataFrame:
    """The delta at which each domain's rate would cross ``target`` (the main comparison).

    For every scenario (:data:`SCENARIOS`) and domain level, the rate ``theta(delta)`` rises
    monotonically from ``rate_if_all_dissatisfied`` (delta -> -inf: every shifted
    non-respondent dissatisfied) to ``rate_if_all_satisfied`` (delta -> +inf). The tipping
    delta solves ``theta(delta) = target`` (Brent's method); it is NaN when the target lies
    outside those limits: no departure from MAR of that group alone could overturn the
    comparison.

    Returns
    -------
    DataFrame: ``scenario, domain, level, target, estimate_mar`` (rate at delta = 0),
    ``side`` (``above`` / ``below`` the target at delta = 0), ``tipping_delta`` (log odds
    ratio), ``tipping_odds_ratio``, ``within_plausible`` (the tipping delta lies inside
    ``plausible``, the plan's delta range: the conclusion is fragile), ``rate_if_all_dissatisfied,
    rate_if_all_satisfied`` (the worst- and best-case bounds of Manski 1989 for that group).
    """
    if not 0 < target < 1:
        raise InputError(f"non-response sensitivity: target rate must be in (0, 1), got {target}")
    yr, pattern, codes, g, doms = _setup(population, y, model, domains, cluster)
    eta = model.eta
    rows = []
    for scen, shifted in SCENARIOS.items():
        mask_s = np.isin(pattern, shifted)
        for var, lev, in_d in ((v, lv, dom == k) for v, levels, dom in doms for k, lv in enumerate(levels)):
            yd, pd_, ed = yr[in_d], pattern[in_d], eta[in_d]
            sd = mask_s[in_d]
            base = np.where(pd_ == "observed", np.nan_to_num(yd), expit(ed))
            fixed = float(base[~sd].sum())
            N = float(in_d.sum())

            def rate(delta, ed=ed, sd=sd, fixed=fixed, N=N):
                return (fixed + float(expit(ed[sd] + delta).sum())) / N

            lo, hi = fixed / N, (fixed + sd.sum()) / N
            mar = rate(0.0)
            tip = np.nan
            if sd.any() and lo < target < hi:
                a, b = -TIPPING_BRACKET, TIPPING_BRACKET
                if (rate(a) - target) * (rate(b) - target) < 0:
                    tip = float(optimize.brentq(lambda d: rate(d) - target, a, b, xtol=1e-10))
            rows.append({"scenario": scen, "domain": var, "level": lev, "target": target, "estimate_mar": mar,
                         "side": "above" if mar >= target else "below", "tipping_delta": tip,
                         "tipping_odds_ratio": np.exp(tip) if np.isfinite(tip) else np.nan,
                         "within_plausible": bool(np.isfinite(tip) and plausible[0] <= tip <= plausible[1]),
                         "rate_if_all_dissatisfied": lo, "rate_if_all_satisfied": hi,
                         "n_shifted": int(sd.sum()), "n": int(N)})
    return pd.DataFrame(rows)


def nonresponse_sensitivity(respondents: pd.DataFrame, population: pd.DataFrame, spec: WeightingSpec,
                            propensity: np.ndarray | None, *, reference_levels: dict[str, str] | None = None,
                            instrument=None, conf_level: float = 0.95) -> dict[str, pd.DataFrame]:
    """Everything of this module for one plan: the three tidy frames.

    Parameters
    ----------
    respondents : :func:`research.representativeness.respondent_frame` output.
    population : :func:`research.nonresponse.population_frame` output.
    spec : the plan's weighting section (``deltas``, ``target_rate``, ``sensitivity_domains``).
    propensity : each respondent's fitted response propensity (for ``ipw``).

    Returns
    -------
    ``{"weighting_methods": ..., "delta_range": ..., "tipping_deltas": ...}`` (see
    :func:`weighting_methods`, :func:`delta_range`, :func:`tipping_deltas`); the delta = 0 row
    of the ``all`` scenario is also added to ``weighting_methods`` as method ``outcome_model``
    (the MAR regression estimator).
    """
    domains = tuple(spec.sensitivity_domains)
    methods = weighting_methods(respondents, population, spec, propensity, domains=domains,
                                conf_level=conf_level)
    sat = respondents[["ticket_id", "satisfied"]].copy()
    sat["ticket_id"] = sat["ticket_id"].astype(str)
    sat = sat.drop_duplicates("ticket_id")
    yser = pd.to_numeric(sat.set_index("ticket_id")["satisfied"].astype("Float64"), errors="coerce")
    y = yser.reindex(population["ticket_id"].astype(str).to_numpy()).to_numpy(dtype=float, na_value=np.nan)
    model = outcome_model(population, y, spec.propensity_rhs, cluster=spec.cluster,
                          reference_levels=reference_levels, instrument=instrument)
    grid = sorted(set(float(d) for d in spec.deltas) | {0.0})
    dr = delta_range(population, y, model, grid, domains=domains, cluster=spec.cluster, conf_level=conf_level)
    tip = tipping_deltas(population, y, model, target=spec.target_rate, domains=domains, cluster=spec.cluster,
                         plausible=(min(grid), max(grid)))
    mar = dr[(dr["scenario"] == "all") & (dr["delta"] == 0.0)]
    methods = pd.concat([methods, pd.DataFrame({
        "method": "outcome_model", "domain": mar["domain"].to_numpy(), "level": mar["level"].to_numpy(),
        "estimate": mar["estimate"].to_numpy(), "std_error": mar["std_error"].to_numpy(),
        "conf_low": mar["conf_low"].to_numpy(), "conf_high": mar["conf_high"].to_numpy(),
        "conf_level": conf_level, "n": mar["n_observed"].to_numpy(), "n_eff": np.nan,
        "description": "respondents' logit on the work-order covariates averaged over all work orders "
                       "(MAR regression estimator; delta = 0)"})], ignore_index=True)
    return {"weighting_methods": methods, "delta_range": dr, "tipping_deltas": tip}
