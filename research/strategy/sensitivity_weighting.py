"""Non-response sensitivity, the weighting methods side by side: the headline satisfied rates
(overall and by domain) under every weighting method at once, each with its design-based
standard error, so the reader sees how much the *choice* of MAR adjustment matters.

Raking, inverse response propensity and post-stratification each assume that whether a
customer answers depends on their own weighting variables alone (MAR given the margins);
setting them beside the unweighted rate, with their design-based (Taylor-linearization)
standard errors, shows how far that choice moves the headline rate.

In: the respondents, the population of work orders, the plan's weighting section and the
response propensities. Out: one row per method, domain and level (:func:`weighting_methods`).
The delta adjustment (departures from MAR) is in :mod:`research.strategy.sensitivity_delta`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from research.stats.design_based import svy_by
from research.errors import InputError
from research.config.plan import WeightingSpec

#: weighting methods set side by side (``none``: equal weights, i.e. the unweighted rate)
WEIGHTING_METHODS = ("none", "rake", "ipw", "poststratify")


def _kish(w: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of weights ``w`` (NaN when empty)."""
    return float(w.sum() ** 2 / np.dot(w, w)) if w.size else np.nan


def weighting_methods(respondents: pd.DataFrame, population: pd.DataFrame, spec: WeightingSpec,
                      propensity: np.ndarray | None, *, domains: Sequence[str] = ("cause_l1",),
                      methods: Sequence[str] = WEIGHTING_METHODS, y: str = "satisfied",
                      conf_level: float = 0.95) -> pd.DataFrame:
    """The satisfied rate overall and by domain under every weighting method.

    Parameters
    ----------
    respondents : :func:`research.representativeness.run.respondent_frame` output (one row per
        completed survey; ``y`` 0/1 or missing, the margins, ``spec.cluster``).
    population : :func:`research.representativeness.nonresponse.population_frame` output (the work orders).
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
    from research.representativeness.run import calibration_of, coded_domains, make_weights

    # the domains and clusters coded once for every method's estimates (svy_by reads the codes as
    # it reads the strings)
    data = coded_domains(respondents[list(dict.fromkeys([spec.cluster, *domains]))], domains, spec.cluster)
    data["overall"] = pd.Categorical.from_codes(np.zeros(len(data), dtype=np.int8), categories=["overall"])
    yv = pd.to_numeric(respondents[y].astype("Float64"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    parts = []
    for method in methods:
        s = replace(spec, method=method)
        try:
            weights, _, text = make_weights(respondents, population, s, propensity)
        except InputError as exc:
            parts.append(unavailable_rows(method, data, domains, exc))
            continue
        parts += method_rows(method, data, yv, weights, calibration_of(respondents, weights, s), text,
                             domains=domains, cluster=spec.cluster, conf_level=conf_level)
    return finish_methods(parts)


def unavailable_rows(method: str, data: pd.DataFrame, domains: Sequence[str], exc: Exception) -> pd.DataFrame:
    """The rows of a method whose weights could not be made: every domain level of ``data`` (the
    coded respondents, or their groups) with the reason and no estimate."""
    rows = [{"method": method, "domain": d, "level": str(lev), "description": f"not available: {exc}"}
            for d in ("overall", *domains) for lev in sorted(data[d].dropna().astype(str).unique())]
    return pd.DataFrame(rows)


def method_rows(method: str, data: pd.DataFrame, yv: np.ndarray, weights: np.ndarray, calibration, text: str, *,
                domains: Sequence[str], cluster: str, conf_level: float, count: np.ndarray | None = None,
                squares: np.ndarray | None = None) -> list[pd.DataFrame]:
    """One method's rows of :func:`weighting_methods`: ``svy_by`` of ``yv`` overall and by each
    domain with ``weights`` and the Kish n_eff of each level's answered rows. ``data``: the coded
    domains and cluster plus ``overall``. ``count``: respondents per row when the rows are groups
    (:mod:`research.representativeness.at_scale_sensitivity`; ``weights`` then the group's mean
    weight), ``squares``: the groups' sums of squared weights (default ``count * weights**2``)."""
    ok = ~np.isnan(yv)
    d_w = data.assign(_w=weights, _y=yv) if count is None else data.assign(_w=weights, _y=yv, _n=count)
    w1 = weights if count is None else weights * count
    w2 = weights ** 2 if count is None else (weights ** 2 * count if squares is None else squares)
    parts = []
    for d in ("overall", *domains):
        t = svy_by(d_w, y="_y", by=d, weights="_w", cluster=cluster, conf_level=conf_level,
                   calibration=calibration, count=None if count is None else "_n")
        # Kish n_eff of each level's answered rows: (sum w)^2 / sum w^2 per category code
        codes = np.asarray(d_w[d].cat.codes)
        use = ok & (codes >= 0)
        k = len(d_w[d].cat.categories)
        s1 = np.bincount(codes[use], weights=w1[use], minlength=k)
        s2 = np.bincount(codes[use], weights=w2[use], minlength=k)
        at = d_w[d].cat.categories.get_indexer(pd.Index(t[d].astype(object)))
        with np.errstate(divide="ignore", invalid="ignore"):
            n_eff = np.where(s2[at] > 0, s1[at] ** 2 / s2[at], np.nan)
        parts.append(pd.DataFrame({
            "method": method, "domain": d, "level": t[d].astype(str).to_numpy(),
            "estimate": t["estimate"].to_numpy(), "std_error": t["std_error"].to_numpy(),
            "conf_low": t["conf_low"].to_numpy(), "conf_high": t["conf_high"].to_numpy(),
            "conf_level": conf_level, "n": t["n"].to_numpy(), "n_eff": n_eff, "description": text}))
    return parts


def finish_methods(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """``weighting_methods`` from its parts, in its columns."""
    cols = ["method", "domain", "level", "estimate", "std_error", "conf_low", "conf_high", "conf_level", "n",
            "n_eff", "description"]
    out = pd.concat(parts, ignore_index=True)
    return out.reindex(columns=cols)
