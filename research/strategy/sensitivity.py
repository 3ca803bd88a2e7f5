"""Non-response sensitivity: how far the headline satisfied rate could move.

Raking (and inverse-propensity weighting, and post-stratification) remove the
bias of non-response only when whether a customer answers depends on the
weighting variables alone -- "missing at random" (MAR) given the margins.
Nothing in the data can check that: a customer who refuses the callback
because they are dissatisfied looks, on every work-order variable, like one
who refuses for another reason. This module therefore does two things:

1. :func:`weighting_methods` -- the headline rates under every weighting method at once
   (unweighted, raking, inverse response propensity, post-stratification), each with its
   design-based standard error (:mod:`research.strategy.sensitivity_weighting`);
2. :func:`delta_range` and :func:`tipping_deltas` -- a delta-adjustment (pattern-mixture)
   analysis of departures from MAR and the shift that would overturn the comparison with the
   plan's target (:mod:`research.strategy.sensitivity_delta`, which gives the method and its
   references).

:func:`nonresponse_sensitivity` runs both for one plan. Every name that scripts, benchmarks and
tests use is importable from here. All functions are pure: frames in, tidy frames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.config.plan import WeightingSpec
from research.strategy.sensitivity_delta import (PATTERNS, SCENARIOS, SHIFTABLE, TIPPING_BRACKET,  # noqa: F401
                                                 OutcomeModel, _DeltaSums, _labels, _pattern_codes,
                                                 _pattern_counts, _Setup, _setup, delta_adjusted_rate,
                                                 delta_range, missing_pattern, outcome_model, population_outcome,
                                                 tipping_deltas)
from research.strategy.sensitivity_weighting import WEIGHTING_METHODS, _kish, weighting_methods  # noqa: F401

__all__ = ["WEIGHTING_METHODS", "PATTERNS", "SCENARIOS", "weighting_methods", "OutcomeModel", "outcome_model",
           "missing_pattern", "delta_adjusted_rate", "delta_range", "tipping_deltas", "nonresponse_sensitivity"]


def nonresponse_sensitivity(respondents: pd.DataFrame, population: pd.DataFrame, spec: WeightingSpec,
                            propensity: np.ndarray | None, *, reference_levels: dict[str, str] | None = None,
                            instrument=None, conf_level: float = 0.95,
                            prepared=None) -> dict[str, pd.DataFrame]:
    """Everything of this module for one plan: the three tidy frames.

    Parameters
    ----------
    respondents : :func:`research.representativeness.run.respondent_frame` output.
    population : :func:`research.representativeness.nonresponse.population_frame` output.
    spec : the plan's weighting section (``deltas``, ``target_rate``, ``sensitivity_domains``).
    propensity : each respondent's fitted response propensity (for ``ipw``).
    conf_level : level of every interval (default 0.95;
        :func:`research.representativeness.run.analyse_representativeness` passes the plan's
        ``conf_level``).
    prepared : :func:`research.representativeness.nonresponse.population_design` of ``spec.propensity_rhs``, when the
        caller has it (the response-propensity model's design; built here otherwise).

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
    y = population_outcome(respondents, population)
    model = outcome_model(population, y, spec.propensity_rhs, cluster=spec.cluster,
                          reference_levels=reference_levels, instrument=instrument, prepared=prepared)
    grid = sorted(set(float(d) for d in spec.deltas) | {0.0})
    st = _setup(population, y, model, domains, spec.cluster)
    dr = delta_range(population, y, model, grid, domains=domains, cluster=spec.cluster, conf_level=conf_level,
                     setup=st)
    tip = tipping_deltas(population, y, model, target=spec.target_rate, domains=domains, cluster=spec.cluster,
                         plausible=(min(grid), max(grid)), setup=st)
    return {"weighting_methods": with_outcome_model(methods, dr, conf_level), "delta_range": dr,
            "tipping_deltas": tip}


def with_outcome_model(methods: pd.DataFrame, dr: pd.DataFrame, conf_level: float) -> pd.DataFrame:
    """``weighting_methods`` with the delta = 0 rows of the ``all`` scenario of ``dr`` (:func:`delta_range`)
    added as method ``outcome_model`` (the MAR regression estimator)."""
    mar = dr[(dr["scenario"] == "all") & (dr["delta"] == 0.0)]
    return pd.concat([methods, pd.DataFrame({
        "method": "outcome_model", "domain": mar["domain"].to_numpy(), "level": mar["level"].to_numpy(),
        "estimate": mar["estimate"].to_numpy(), "std_error": mar["std_error"].to_numpy(),
        "conf_low": mar["conf_low"].to_numpy(), "conf_high": mar["conf_high"].to_numpy(),
        "conf_level": conf_level, "n": mar["n_observed"].to_numpy(), "n_eff": np.nan,
        "description": "respondents' logit on the work-order covariates averaged over all work orders "
                       "(MAR regression estimator; delta = 0)"})], ignore_index=True)
