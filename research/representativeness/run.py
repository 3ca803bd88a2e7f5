"""Representativeness: make the headline figures speak for the work-order population.

:func:`analyse_representativeness` runs, on the canonical responses and work
orders and as the plan's ``weighting`` section says:

1. non-response: the funnel, response rates by cause group, sub-cause,
   region, station and handling band, the response-propensity logit;
2. weights: raking of every completed survey to the work orders' margins
   (or inverse-propensity weights, or post-stratification), optional
   trimming, and diagnostics overall and per margin level;
3. design-based estimates: weighted satisfied rate and mean scores overall
   and by domain, with their unweighted twins (the "how much non-response
   moves each figure" table), and the plan's logit / ordinal models refitted
   with the weights (svyglm / svyolr), with population-level predictions and
   average marginal effects of doubling the handling time.
4. non-response sensitivity (:mod:`research.strategy.sensitivity`): the satisfied
   rate under every weighting method side by side, and its delta-adjusted
   (pattern-mixture) range with the tipping delta for refusals and no-answers.

Everything returned is a tidy frame (keys in :data:`OUTPUTS`);
:func:`write_representativeness` writes them as CSV.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from research.stats.design_based import Calibration, svy_by
from research.errors import InputError
from research.config.instrument import Instrument
from research.representativeness.nonresponse import funnel, population_design, population_frame, propensity_model, response_rates
from research.config.plan import Plan, WeightingSpec
from research.stats.bands import handling_band
from research.stats.weights import RakeResult, margin_diagnostics, poststratify, propensity_weights, rake

Progress = Callable[[str], None]

#: result frames, written as ``weights/<key>.csv``
OUTPUTS = ("funnel", "response_rates", "propensity_estimates", "propensity_fit", "weight_summary",
           "weight_margins", "respondent_weights", "weighted_estimates", "svy_estimates", "svy_fit",
           "svy_marginal_effects", "svy_predictions", "weighting_methods", "delta_range", "tipping_deltas")
#: response-rate breakdowns (each variable on its own)
RATE_VARIABLES = ("cause_l1", "cause_l2", "region", "station", "handling_band")
#: outcomes of the weighted-vs-unweighted table: the satisfied rate, then the mean scores
ESTIMATE_VARIABLES = ("satisfied", "sat_overall", "sat_speed", "sat_attitude", "sat_outcome")


def respondent_frame(responses: pd.DataFrame, spec: WeightingSpec) -> pd.DataFrame:
    """Responses with ``handling_band`` (the plan's bands) added; nothing else changes."""
    return responses.assign(handling_band=handling_band(responses["handling_hours"], spec.bands_hours))


def _check_margins(frame: pd.DataFrame, variables: tuple[str, ...], what: str) -> None:
    for v in variables:
        n = int(frame[v].isna().sum())
        if n:
            raise InputError(f"{what}: {n} row(s) have no {v}; they cannot be weighted "
                             "(fix the export or drop the margin from the plan's weighting.margins)")


def calibration_of(respondents: pd.DataFrame, weights: np.ndarray, spec: WeightingSpec) -> Calibration | None:
    """The calibration margins behind the weights (for design-based SEs), or None.

    Raked weights are calibrated to the raking margins, post-stratified ones to
    the cells; inverse-propensity and equal weights are taken as fixed.
    """
    if spec.method == "rake":
        return Calibration.from_frame(respondents, spec.margins, weights, spec.cluster, raking=True)
    if spec.method == "poststratify":
        return Calibration.from_frame(respondents, spec.poststrata, weights, spec.cluster, raking=False)
    return None


#: the description of inverse-propensity weights (``weight_summary``, ``weighting_methods``)
IPW_TEXT = "inverse response propensity"


def no_propensity(bad: int) -> InputError:
    """The error of ipw weights for ``bad`` respondents without a fitted response propensity."""
    return InputError(f"ipw weights: {bad} respondent(s) have no fitted response propensity "
                      "(their ticket is not in the work orders or a covariate is missing)")


def make_weights(respondents: pd.DataFrame, population: pd.DataFrame, spec: WeightingSpec,
                 propensity: np.ndarray | None = None, *, count=None,
                 population_count=None) -> tuple[np.ndarray, RakeResult | None, str]:
    """Non-response weights of the respondents (work orders per respondent; they sum to N).

    Parameters
    ----------
    respondents : :func:`respondent_frame` output, one row per completed survey.
    population : :func:`research.representativeness.nonresponse.population_frame` output.
    spec : the plan's weighting section (method, margins, strata, cap, tol).
    propensity : for ``ipw``: each respondent's fitted response propensity.
    count, population_count : optional multiplicities: each row of ``respondents``
        (``population``) stands for that many respondents (work orders); the weights are
        those of the expanded rows, one per row (:mod:`research.representativeness.at_scale`).

    Returns
    -------
    weights, the RakeResult (None for ``none``) and a one-line description.

    Raises
    ------
    InputError
        A margin value missing, a respondent level absent from the work orders,
        a population level without respondents, an infeasible cap.
    """
    n = len(respondents) if count is None else int(np.sum(count))
    N = len(population) if population_count is None else int(np.sum(population_count))
    counts = {"count": count, "population_count": population_count}
    try:
        if spec.method == "none":
            return np.full(len(respondents), N / n), None, "equal weights N/n (no non-response adjustment)"
        if spec.method == "rake":
            _check_margins(respondents, spec.margins, "survey responses")
            _check_margins(population, spec.margins, "work orders")
            res = rake(respondents, population, list(spec.margins), cap=spec.trim_cap,
                       max_iter=spec.max_iter, tol=spec.tol, **counts)
            text = f"raking to {', '.join(spec.margins)}"
        elif spec.method == "poststratify":
            _check_margins(respondents, spec.poststrata, "survey responses")
            _check_margins(population, spec.poststrata, "work orders")
            res = poststratify(respondents, population, list(spec.poststrata), cap=spec.trim_cap, tol=spec.tol,
                               **counts)
            text = f"post-stratification on {' × '.join(spec.poststrata)}"
        else:
            if propensity is None or np.isnan(propensity).any():
                raise no_propensity(n if propensity is None else int(np.isnan(propensity).sum()))
            res = propensity_weights(propensity, N, cap=spec.trim_cap, tol=spec.tol)
            text = IPW_TEXT
    except ValueError as exc:
        raise InputError(f"weighting ({spec.method}): {exc}") from None
    if spec.trim_cap is not None:
        text += f", trimmed at {spec.trim_cap:g} × the mean weight and re-adjusted"
    if not res.converged:
        raise InputError(f"weighting ({spec.method}) did not converge in {res.iterations} sweeps "
                         f"(largest margin error {res.max_margin_error:.3g}); loosen trim_cap or "
                         "collapse sparse levels")
    return res.weights, res, text


def coded_domains(data: pd.DataFrame, domains, cluster: str) -> pd.DataFrame:
    """``data`` with its domain and cluster columns as categoricals that
    :func:`research.stats.design_based.svy_by` reads as it reads the strings, so the many estimates on
    one frame code the strings once: a domain's categories are its values sorted (``svy_by``'s
    ``groupby(sort=True)`` order), the cluster's in order of appearance (``pd.factorize``'s codes).
    Categorical columns are kept as they are."""
    new = {}
    for c in dict.fromkeys([*domains, cluster]):
        col = data[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            continue
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        if c == cluster:
            new[c] = pd.Categorical.from_codes(codes, categories=pd.Index(uniques))
        else:
            order = np.argsort(np.asarray(uniques, dtype=object), kind="stable") if len(uniques) else np.zeros(0, int)
            rank = np.empty(len(uniques), dtype=np.intp)
            rank[order] = np.arange(len(uniques))
            new[c] = pd.Categorical.from_codes(np.where(codes < 0, -1, rank[codes]),
                                               categories=pd.Index(uniques[order]))
    return data.assign(**new)


def _on_respondents(values: np.ndarray, population: pd.DataFrame, respondents: pd.DataFrame) -> np.ndarray:
    """A per-work-order array taken on each respondent's ticket (NaN for a ticket without a work
    order; the first work order of a ticket id counts)."""
    ids = pd.Index(population["ticket_id"].astype("string"))
    first = ~ids.duplicated(keep="first")
    pos = ids[first].get_indexer(pd.Index(respondents["ticket_id"].astype("string")))
    return np.where(pos >= 0, np.asarray(values, dtype=float)[first][pos], np.nan)


def estimates_of(data: pd.DataFrame, variable: str, domains: tuple[str, ...], cluster: str,
                 conf_level: float, calibration: Calibration | None, count: str | None = None) -> list[pd.DataFrame]:
    """The rows of ``weighted_estimates`` of one outcome: :func:`svy_by` overall and by each domain
    (none when the outcome has no value). ``data``: :func:`coded_domains` output with ``weight``
    (and ``count``, respondents per row, when given: the rows are groups)."""
    if data[variable].notna().sum() == 0:
        return []
    data = data.assign(overall=pd.Categorical.from_codes(np.zeros(len(data), dtype=np.int8), categories=["overall"]))
    parts = []
    for d in ("overall", *domains):
        t = svy_by(data, y=variable, by=d, weights="weight", cluster=cluster, conf_level=conf_level,
                   calibration=calibration, count=count)
        t = t.rename(columns={d: "level"})
        t.insert(0, "domain", d)
        parts.append(t)
    return parts


def rows_weighted_estimates(respondents: pd.DataFrame, weights: np.ndarray, spec: WeightingSpec,
                            conf_level: float) -> tuple[pd.DataFrame, Calibration | None]:
    """``weighted_estimates`` of the respondents (:func:`respondent_frame`, one row each) with their
    ``weights``, and the calibration behind the weights (:func:`calibration_of`). InputError for a
    respondent without a cluster."""
    if respondents[spec.cluster].isna().any():
        raise InputError(f"survey responses: {int(respondents[spec.cluster].isna().sum())} row(s) have no "
                         f"{spec.cluster}; the design needs a cluster for every respondent")
    if respondents[spec.cluster].nunique() < 2:
        raise InputError(f"survey responses: every respondent is in one {spec.cluster}; design-based "
                         f"standard errors need at least 2 clusters (weighting.cluster of the plan)")
    data = coded_domains(respondents[list(dict.fromkeys([spec.cluster, *spec.domains, *ESTIMATE_VARIABLES]))],
                         spec.domains, spec.cluster).assign(weight=weights)
    calibration = calibration_of(respondents, weights, spec)
    parts = [t for variable in ESTIMATE_VARIABLES
             for t in estimates_of(data, variable, spec.domains, spec.cluster, conf_level, calibration)]
    return finish_estimates(parts), calibration


def finish_estimates(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """``weighted_estimates`` from its parts (:func:`estimates_of`): the level as text, the
    difference weighted - unweighted and the ratio of the variances."""
    out = pd.concat(parts, ignore_index=True)
    out["level"] = out["level"].astype(str)
    out["difference"] = out["estimate"] - out["estimate_unweighted"]
    out["deff_ratio"] = (out["std_error"] / out["std_error_unweighted"]) ** 2
    return out


def analyse_representativeness(responses: pd.DataFrame, workorders: pd.DataFrame, *, plan: Plan,
                               instrument: Instrument, progress: Progress | None = None) -> dict[str, pd.DataFrame]:
    """Non-response analysis, weights and design-based estimates (see the module docstring).

    Parameters
    ----------
    responses : canonical responses (each row a completed survey).
    workorders : canonical work orders (the population).
    plan : its ``weighting`` section says how to weight.

    Returns
    -------
    dict of tidy frames keyed by :data:`OUTPUTS`.
    """
    say = progress or (lambda m: None)
    spec = plan.weighting
    conf = plan.conf_level
    t0 = time.perf_counter()
    population = population_frame(workorders, bands_hours=spec.bands_hours)
    respondents = respondent_frame(responses, spec)
    out: dict[str, pd.DataFrame] = {"funnel": funnel(workorders, responses)}
    out["response_rates"] = response_rates(population, list(RATE_VARIABLES), conf_level=conf)
    # the response-propensity model and the non-response outcome model share one design of the work orders
    prepared = population_design(population, spec.propensity_rhs, cluster=spec.cluster,
                                 reference_levels=plan.reference_levels, instrument=instrument)
    est, fit, prop = propensity_model(population, spec.propensity_rhs, cluster=spec.cluster,
                                      reference_levels=plan.reference_levels, instrument=instrument,
                                      conf_level=conf, prepared=prepared)
    out["propensity_estimates"], out["propensity_fit"] = est, fit
    say(f"response rates and propensity model in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    resp_prop = _on_respondents(prop, population, respondents)
    weights, res, text = make_weights(respondents, population, spec, resp_prop)
    out.update(_weight_tables(respondents, population, spec, weights, res, text, resp_prop))
    say(f"weights ({text}) in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    out["weighted_estimates"], calibration = rows_weighted_estimates(respondents, weights, spec, conf)
    say(f"weighted vs unweighted estimates in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    from research.strategy.sensitivity import nonresponse_sensitivity

    out.update(nonresponse_sensitivity(respondents, population, spec, resp_prop,
                                       reference_levels=plan.reference_levels, instrument=instrument,
                                       conf_level=conf, prepared=prepared))
    del prepared  # the work orders' design (1.75M x 27 floats at scale) is not needed any more
    say(f"non-response sensitivity (weighting methods, delta adjustment) in {time.perf_counter() - t0:.1f} s")

    out.update(_survey_weighted_models(responses, weights, calibration, plan, instrument, say))
    return out


#: variables of the weights' diagnostics per level (``weight_summary``)
SUMMARY_VARIABLES = ("region", "cause_l1", "cause_l2", "handling_band")


def weight_tables(respondents: pd.DataFrame, population: pd.DataFrame, spec: WeightingSpec,
                  weights: np.ndarray, res: RakeResult | None, text: str, *, count=None,
                  population_count=None, summary: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """``weight_summary`` (diagnostics of the weights and how they were made) and ``weight_margins``
    (population against weighted counts per margin level). ``count``, ``population_count``:
    respondents (work orders) per row, when the rows are groups (None: one each); ``summary``: the
    weights' :func:`margin_diagnostics` when the caller has them (groups whose weights vary within:
    :mod:`research.representativeness.at_scale_ipw`)."""
    if summary is None:
        summary = margin_diagnostics(respondents, weights, [v for v in SUMMARY_VARIABLES if v in respondents],
                                     count=count)
    summary.insert(0, "method", spec.method)
    summary["description"] = text
    summary["iterations"] = res.iterations if res is not None else 0
    summary["max_margin_error"] = res.max_margin_error if res is not None else 0.0
    summary["converged"] = res.converged if res is not None else True
    summary["trim_cap"] = spec.trim_cap if spec.trim_cap is not None else np.nan
    summary["population"] = len(population) if population_count is None else int(np.sum(population_count))
    margins = (res.diagnostics() if res is not None and spec.method == "rake"
               else _margin_check(respondents, population, weights, spec.margins, count, population_count))
    return {"weight_summary": summary, "weight_margins": margins}


def _weight_tables(respondents: pd.DataFrame, population: pd.DataFrame, spec: WeightingSpec,
                   weights: np.ndarray, res: RakeResult | None, text: str,
                   resp_prop: np.ndarray) -> dict[str, pd.DataFrame]:
    """:func:`weight_tables` and ``respondent_weights`` (one row per respondent)."""
    return {**weight_tables(respondents, population, spec, weights, res, text),
            "respondent_weights": pd.DataFrame({"ticket_id": respondents["ticket_id"].astype(str).to_numpy(),
                                                "weight": weights, "propensity": resp_prop})}


def _survey_weighted_models(responses: pd.DataFrame, weights: np.ndarray, calibration: Calibration | None,
                            plan: Plan, instrument: Instrument, say: Progress) -> dict[str, pd.DataFrame]:
    """The plan's ``weighting.models`` refitted with the weights
    (:func:`research.models.weighted.fit_weighted_model`): ``svy_estimates``, ``svy_fit``,
    ``svy_marginal_effects`` and ``svy_predictions``, each labelled with the weighting method."""
    from research.models.predict import marginal_effects, predictions
    from research.models.weighted import fit_weighted_model

    spec, conf = plan.weighting, plan.conf_level
    parts = {k: [] for k in ("svy_estimates", "svy_fit", "svy_marginal_effects", "svy_predictions")}
    for name in spec.models:
        t0 = time.perf_counter()
        m = plan.model(name)
        fm = fit_weighted_model(m, responses, weights, cluster=spec.cluster, plan=plan, instrument=instrument,
                                calibration=calibration)
        add_svy_parts(parts, fm, plan, marginal_effects(
            fm, parent=instrument.parent, multiplier=plan.time_multiplier,
            threshold=instrument.satisfied_threshold, conf_level=conf), predictions(
            fm, parent=instrument.parent, grid_hours=plan.grid_hours,
            threshold=instrument.satisfied_threshold, conf_level=conf))
        say(f"survey-weighted model {name} in {time.perf_counter() - t0:.1f} s")
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in parts.items()}


def add_svy_parts(parts: dict[str, list], fm, plan: Plan, effects: pd.DataFrame, preds: pd.DataFrame) -> None:
    """Append one survey-weighted model's rows to ``parts`` (``svy_estimates``, ``svy_fit``,
    ``svy_marginal_effects``, ``svy_predictions``), each labelled with the weighting method: the
    rows of the row path and of the sums path (:mod:`research.models.aggregate.svy`) alike."""
    from research.models.tidy import tidy_estimates

    m, method = fm.spec, plan.weighting.method
    parts["svy_estimates"].append(tidy_estimates(fm, plan.conf_level).assign(weighting=method))
    parts["svy_fit"].append(pd.DataFrame([{"model": m.name, "family": m.family, "formula": m.formula,
                                           **fm.stats, "method": fm.se_method, "weighting": method}]))
    parts["svy_marginal_effects"].append(effects.assign(weighting=method))
    parts["svy_predictions"].append(preds.assign(weighting=method))


def _margin_check(respondents: pd.DataFrame, population: pd.DataFrame, weights: np.ndarray,
                  margins: tuple[str, ...], count=None, population_count=None) -> pd.DataFrame:
    """Population vs weighted counts per margin level, for weights not made by raking to them;
    levels by decreasing population count, ties by level. ``count``, ``population_count``:
    multiplicities of the rows (None: one each)."""
    rows = []
    c = np.ones(len(respondents)) if count is None else np.asarray(count, dtype=float)
    pc = np.ones(len(population)) if population_count is None else np.asarray(population_count, dtype=float)
    wc = pd.Series(np.asarray(weights, dtype=float) * c)
    for var in margins:
        pop = pd.Series(pc).groupby(population[var].astype("string").to_numpy()).sum()
        pop = pop.sort_values(ascending=False, kind="stable")
        by = respondents[var].astype("string").to_numpy()
        got = wc.groupby(by).sum()
        n_k = pd.Series(c).groupby(by).sum()
        total = float(pop.sum())
        for lev in pop.index:
            g = float(got.get(lev, 0.0))
            rows.append((var, lev, int(round(n_k.get(lev, 0))), float(pop[lev]), g, g - float(pop[lev]),
                         (g - float(pop[lev])) / total))
    return pd.DataFrame(rows, columns=["variable", "level", "n_sample", "population", "weighted", "error",
                                       "rel_error"])


def write_representativeness(results: dict[str, pd.DataFrame], out_dir: str | Path) -> dict[str, Path]:
    """Write each frame as ``<key>.csv`` (UTF-8, full precision); returns the paths by key."""
    from research.models.run import write_results

    return write_results(results, out_dir)
