"""Non-response: who answers the callback survey, from the work-order population.

The work-order export holds every complaint ticket of the period with its
``survey_status`` (``completed`` / ``no_answer`` / ``refused``). Pure functions:

- :func:`population_frame` -- the work orders with the derived columns the
  weighting and the propensity model use (``handling_band``, ``repeat``,
  ``responded``).
- :func:`response_rates`   -- shares of completed / no answer / refused by
  one variable at a time, with Wilson intervals.
- :func:`funnel`           -- work orders -> completed surveys -> accepted
  survey rows -> valid answers.
- :func:`propensity_model` -- logit of completing the survey (cluster-robust
  by station), its effects as odds ratios, and each ticket's fitted propensity.

Intervals of rates are Wilson score intervals (:func:`research.stats.intervals.wilson_interval`,
as R ``prop.test(correct = FALSE)``);
they treat tickets as independent, which is what a response *rate* of a
station or region describes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats
from scipy.special import expit

from research.errors import InputError
from research.stats.intervals import wilson_interval
from research.stats.bands import handling_band

STATUSES = ("completed", "no_answer", "refused")
#: window of the work-order ``repeat`` flag: an earlier ticket of the same customer within this many days
REPEAT_WINDOW_DAYS = 30


def population_frame(workorders: pd.DataFrame, *, bands_hours=(4, 24, 72, 168)) -> pd.DataFrame:
    """Work orders with the columns the weighting uses.

    Parameters
    ----------
    workorders : canonical work orders (research.ingestion.schema.WORKORDERS).
    bands_hours : inner edges of the handling-time bands (hours).

    Returns
    -------
    A copy with ``handling_band`` (ordered categorical; missing when the
    handling time is missing or negative), ``responded`` (survey_status ==
    completed, bool) and ``repeat`` (bool: the same customer pseudonym has an
    earlier ticket created within :data:`REPEAT_WINDOW_DAYS` days before this
    one; the survey's own ``repeat_calls`` is unknown for non-respondents, so
    the population uses this ticket-history definition).
    """
    out = workorders.copy(deep=False)
    out["handling_band"] = handling_band(out["handling_hours"], bands_hours)
    out["responded"] = (out["survey_status"] == "completed").fillna(False).astype(bool).to_numpy()
    created = out["created_at"]
    # integer codes group the tickets as their strings do; a missing id (-1) matches no ticket, as NaN
    # never equalled NaN in the string comparison
    cust = pd.factorize(out["customer_id"], use_na_sentinel=True)[0]
    order = np.lexsort((created.to_numpy(), cust))
    cust = cust[order]
    t = created.to_numpy()[order]
    same = np.zeros(len(out), dtype=bool)
    same[1:] = (cust[1:] == cust[:-1]) & (cust[1:] >= 0)
    gap = np.full(len(out), np.timedelta64("NaT"), dtype="timedelta64[us]")
    gap[1:] = (t[1:] - t[:-1]).astype("timedelta64[us]")
    within = same & (gap <= np.timedelta64(REPEAT_WINDOW_DAYS, "D"))
    rep = np.zeros(len(out), dtype=bool)
    rep[order] = within
    out["repeat"] = rep
    return out


def response_rates(population: pd.DataFrame, by: list[str], *, conf_level: float = 0.95,
                   count=None) -> pd.DataFrame:
    """Shares of completed, no-answer and refused surveys, overall and by each variable of ``by``.

    Parameters
    ----------
    population : work orders (needs ``survey_status`` and the ``by`` columns).
    by : variables, each tabulated on its own (not crossed).
    count : optional, work orders per row (rows that are groups of an engine's ``GROUP BY``,
        :mod:`research.representativeness.at_scale`); None: one each.

    Returns
    -------
    One row per variable and level, first ``variable = level = "overall"``:
    ``variable, level, work_orders, completed, no_answer, refused, missing_status``
    (counts of tickets), and for each status ``s`` in completed / no_answer /
    refused: ``s_rate`` (share of the level's work orders with a status, 0..1)
    with ``s_conf_low, s_conf_high`` (Wilson), plus ``conf_level``. A ticket
    whose level is missing counts in a ``(missing)`` level, never dropped.
    """
    for v in ["survey_status", *by]:
        if v not in population.columns:
            raise InputError(f"work orders: column {v!r} needed for response rates is absent")
    status = population["survey_status"].astype("string")
    unknown = sorted(set(status.dropna().unique()) - set(STATUSES))
    if unknown:
        raise InputError(f"work orders: survey_status has unknown value(s) {unknown}; "
                         f"expected {list(STATUSES)}")
    # each ticket's status as a code 0..3 (the statuses, then missing); counts per level by one bincount
    kind = np.full(len(population), len(STATUSES), dtype=np.intp)
    for j, st in enumerate(STATUSES):
        kind[(status == st).fillna(False).to_numpy(dtype=bool)] = j
    n_kind = len(STATUSES) + 1
    parts = []
    for var in ["overall", *by]:
        if var == "overall":
            codes, uniques, order = np.zeros(len(population), dtype=np.intp), ["overall"], ["overall"]
        else:
            col = population[var]
            codes, uniques = pd.factorize(col.astype("string"), use_na_sentinel=True)
            uniques = [str(u) for u in uniques]
            order = ([str(c) for c in col.cat.categories] if isinstance(col.dtype, pd.CategoricalDtype)
                     else sorted(uniques))
            if (codes < 0).any():  # a missing level counts in "(missing)", never dropped
                codes = np.where(codes < 0, len(uniques), codes)
                uniques.append("(missing)")
        table = np.bincount(codes * n_kind + kind, weights=count,
                            minlength=len(uniques) * n_kind).reshape(len(uniques), n_kind)
        present = dict(zip(uniques, range(len(uniques))))
        levels = [o for o in order if o in present] + [u for u in uniques if u not in order]
        counts = pd.DataFrame(np.round(table[[present[v] for v in levels]]).astype(np.int64),
                              columns=[*STATUSES, "missing_status"])
        counts.insert(0, "level", levels)
        counts.insert(0, "variable", var)
        parts.append(counts)
    out = pd.concat(parts, ignore_index=True)
    out["work_orders"] = out[list(STATUSES)].sum(axis=1) + out["missing_status"]
    with_status = out[list(STATUSES)].sum(axis=1).to_numpy()
    cols = ["variable", "level", "work_orders", *STATUSES, "missing_status"]
    out = out[cols]
    for s in STATUSES:
        x = out[s].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{s}_rate"] = np.where(with_status > 0, x / np.maximum(with_status, 1), np.nan)
        out[f"{s}_conf_low"], out[f"{s}_conf_high"] = wilson_interval(x, with_status, conf_level)
    out["conf_level"] = conf_level
    return out


def funnel(workorders: pd.DataFrame | None, responses: pd.DataFrame) -> pd.DataFrame:
    """Work orders -> completed surveys -> accepted survey rows -> valid answers.

    Returns one row per stage: ``stage`` (``work_orders``, ``completed``,
    ``accepted``, ``valid``), ``count``, ``share_of_previous`` and
    ``share_of_work_orders`` (0..1; NaN without a work-order export).
    ``completed`` counts work orders whose survey_status is completed;
    ``accepted`` the survey rows ingest accepted; ``valid`` those that
    answered overall satisfaction.
    """
    n_wo = np.nan if workorders is None else float(len(workorders))
    n_done = np.nan if workorders is None else float((workorders["survey_status"] == "completed").sum())
    return funnel_of_counts(n_wo, n_done, float(len(responses)), float(responses["sat_overall"].notna().sum()))


def funnel_of_counts(work_orders: float, completed: float, accepted: float, valid: float) -> pd.DataFrame:
    """:func:`funnel` from its four counts (NaN work orders and completed: no work-order export)."""
    n_wo = work_orders
    counts = [work_orders, completed, accepted, valid]
    stages = ["work_orders", "completed", "accepted", "valid"]
    prev = [np.nan, *counts[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "stage": stages, "count": counts,
            "share_of_previous": [c / p if p and np.isfinite(p) else np.nan for c, p in zip(counts, prev)],
            "share_of_work_orders": [c / n_wo if np.isfinite(n_wo) and n_wo else np.nan for c in counts],
        })
    out["count"] = out["count"].astype("Int64") if out["count"].notna().all() else out["count"]
    return out


#: rows per block of the logit's weighted cross-products: bounds the temporaries to block x columns floats
LOGIT_BLOCK_ROWS = 65_536  # used for blocked scans of the design (the fit's blocks: design_based)


def logit_newton(X: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None, *, tol: float = 1e-12,
                 max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logit of ``y`` (0/1) on ``X`` by Newton-Raphson, on the rows of ``mask``
    (all rows when None); returns the coefficients and the information ``sum_i p_i (1 - p_i) x_i x_i'``
    at them.

    Stops when no coefficient moves by more than ``tol`` (statsmodels' Newton rule, which this
    replaces: the same root). The iteration is the package's one logit,
    :func:`research.stats.logit.fit_logit`, as :func:`research.stats.design_based.logit_fit` runs
    it: information summed over blocks of rows (only the masked rows of each block, so 1,750,000
    work orders need no copy of ``X``), kept while the steps shrink fast, and a large fit started
    from a subsample's.

    Raises
    ------
    InputError
        No convergence in ``max_iter`` steps or a singular information (separation, a column
        without variation).
    """
    from research.stats.design_based import logit_fit

    try:
        return logit_fit(X, y, mask=mask, tol=tol, max_iter=max_iter)
    except (np.linalg.LinAlgError, ValueError):
        raise InputError("logit: the information matrix is singular (a level or covariate without "
                         "variation, or perfect separation)") from None
    except RuntimeError:
        raise InputError(f"logit did not converge in {max_iter} Newton steps (perfect separation?)") from None


@dataclass(frozen=True)
class PopulationDesign:
    """The work orders' model frame and design matrix for a right-hand side (the response propensity
    and the non-response outcome model share them): ``frame`` (complete cases), ``rows`` (their
    positions in the population), ``design`` (research.models.design.Design)."""

    frame: pd.DataFrame
    rows: np.ndarray
    design: object


def population_design(population: pd.DataFrame, rhs: str, *, cluster: str = "station",
                      reference_levels: dict[str, str] | None = None, instrument=None) -> PopulationDesign:
    """Complete cases of the variables of ``rhs`` (and ``cluster``) among the work orders, and their
    design matrix (intercept included)."""
    from research.config.instrument import load_instrument
    from research.models.design import build_design, formula_context, model_frame

    instrument = instrument if instrument is not None else load_instrument()
    variables = tuple(v for v in ("cause_l1", "cause_l2", "channel", "region", "station", "repeat",
                                  "handling_hours") if _uses(rhs, v))
    frame, rows = model_frame(population, tuple(dict.fromkeys([*variables, cluster])),
                              reference_levels=reference_levels or {}, instrument=instrument)
    if len(frame) < 10:
        return PopulationDesign(frame=frame, rows=np.asarray(rows), design=None)
    design = build_design(frame, rhs, intercept=True, context=formula_context())
    return PopulationDesign(frame=frame, rows=np.asarray(rows), design=design)


def propensity_model(population: pd.DataFrame, rhs: str, *, cluster: str = "station",
                     reference_levels: dict[str, str] | None = None, instrument=None,
                     conf_level: float = 0.95,
                     prepared: PopulationDesign | None = None) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Logit of completing the survey, fitted on the work orders.

    Parameters
    ----------
    population : :func:`population_frame` output (``responded`` is the outcome).
    rhs : right-hand side in R notation over work-order variables.
    cluster : standard errors are CR1 cluster-robust by this column (R
        ``sandwich::vcovCL(type = "HC1")``), as the plan's other logits.
    prepared : :func:`population_design` of the same arguments, when the caller has it.

    Returns
    -------
    estimates : ``model = "response_propensity", term, estimate, std_error,
        statistic, p_value, conf_low, conf_high, conf_level, odds_ratio,
        odds_ratio_low, odds_ratio_high, n``.
    fit : one row: ``model, nobs, n_responded, loglik, aic, bic,
        pseudo_r2_mcfadden, n_clusters, n_dropped``.
    propensity : fitted probability per row of ``population`` (NaN for rows
        with a missing covariate).

    The fit is :func:`logit_newton`; the covariance is the CR1 sandwich
    ``G/(G-1) (n-1)/(n-k) H^-1 (sum_g s_g s_g') H^-1`` with ``s_g`` the score totals of the
    clusters (statsmodels' ``cov_type="cluster"`` with its small-sample correction).
    """
    from scipy import sparse

    if prepared is None:
        prepared = population_design(population, rhs, cluster=cluster, reference_levels=reference_levels,
                                     instrument=instrument)
    frame, rows, design = prepared.frame, prepared.rows, prepared.design
    if len(frame) < 10:
        raise InputError(f"response propensity: only {len(frame)} complete work orders")
    y = population["responded"].to_numpy(dtype=float)[rows]
    if y.min() == y.max():
        raise InputError("response propensity: every work order has the same survey outcome; "
                         "no response model can be fitted")
    X = design.X
    groups, uniques = pd.factorize(frame[cluster])
    G = len(uniques)
    try:
        est, H = logit_newton(X, y)
    except InputError as exc:
        raise InputError(f"response propensity: {exc}") from None
    n, k = X.shape
    p = expit(X @ est)
    bread = linalg.inv(H)
    scores = np.asarray(sparse.csr_matrix((y - p, (groups, np.arange(n))), shape=(G, n)) @ X)  # G x k
    cov = bread @ (scores.T @ scores) @ bread * (G / (G - 1)) * ((n - 1) / (n - k))
    se = np.sqrt(np.diag(cov))
    q = stats.norm.ppf(0.5 + conf_level / 2)
    z = est / se
    estimates = pd.DataFrame({
        "model": "response_propensity", "term": design.names, "estimate": est, "std_error": se,
        "statistic": z, "p_value": 2 * stats.norm.sf(np.abs(z)), "conf_low": est - q * se,
        "conf_high": est + q * se, "conf_level": conf_level, "odds_ratio": np.exp(est),
        "odds_ratio_low": np.exp(est - q * se), "odds_ratio_high": np.exp(est + q * se), "n": len(y)})
    eta = X @ est
    ll = float(np.sum(np.log(expit(np.where(y > 0, eta, -eta)))))
    ybar = float(y.mean())
    ll_null = n * (ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar))
    fit = pd.DataFrame([{"model": "response_propensity", "formula": f"responded ~ {rhs}", "nobs": n,
                         "n_responded": int(y.sum()), "loglik": ll, "aic": -2 * ll + 2 * k,
                         "bic": -2 * ll + np.log(n) * k, "pseudo_r2_mcfadden": 1 - ll / ll_null,
                         "n_clusters": int(G), "n_dropped": int(len(population) - n),
                         "se_type": f"CR1 cluster-robust by {cluster}"}])
    propensity = np.full(len(population), np.nan)
    propensity[rows] = p
    return estimates, fit, propensity


def _uses(rhs: str, variable: str) -> bool:
    """Whether the propensity formula ``rhs`` uses ``variable`` (read from its parse, not its text)."""
    from research.config.formula import parse_rhs
    from research.config.plan import PROPENSITY_VARIABLES

    return variable in parse_rhs(rhs, source="response propensity formula",
                                 variables=PROPENSITY_VARIABLES).variables()
