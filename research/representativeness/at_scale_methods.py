"""``weighting_methods`` from an engine's sums: the headline satisfied rate under every weighting
method with its design-based SE (:func:`research.strategy.sensitivity_weighting.weighting_methods`
on groups of rows; issue 15, docs/architecture.md, "Engines").

Raking, post-stratification and equal weights are weights of cells: the respondents' counts of
:func:`research.representativeness.at_scale.count_rows` by the calibration variables, the
cluster, the sensitivity domains and the answer carry them (the rows of the table are those
groups with their counts, as ``weighted_estimates``). Inverse-propensity weights ``k / p_i`` vary
with each respondent's hours, so they come from one more engine pass over the respondents (their
ticket's work-order covariates, :func:`research.representativeness.at_scale_sensitivity.sources`):
per group of (covariates, cluster, domains, answer) ``sum 1 / p`` and ``sum 1 / p^2``. Every sum of
the table is linear in the weights on groups sharing the cluster, the domain and the answer, so a
group stands in with its mean weight and its count (``svy_by(count=...)``), and Kish's
``n_eff`` with its sum of squared weights: the numbers of the rows, to rounding.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from research.engines.base import Engine, Source
from research.engines.expr import col
from research.errors import InputError
from research.strategy.sensitivity_weighting import (WEIGHTING_METHODS, finish_methods, method_rows,
                                                     unavailable_rows)

Y = "satisfied"


def _overall(data: pd.DataFrame) -> pd.DataFrame:
    return data.assign(overall=pd.Categorical.from_codes(np.zeros(len(data), dtype=np.int8), categories=["overall"]))


def weighting_methods_on(engine: Engine, respondents: Source, prop, counts, plan,
                         covariates: tuple[str, ...]) -> pd.DataFrame:
    """The frame of :func:`research.strategy.sensitivity_weighting.weighting_methods` (without the
    ``outcome_model`` rows) from ``counts`` (by the sensitivity domains too) and, for ``ipw``, the
    respondents' source and the propensity fit ``prop``
    (:class:`research.models.aggregate.propensity.PropensityFit`)."""
    from research.representativeness.run import coded_domains, make_weights

    spec, conf = plan.weighting, plan.conf_level
    domains = tuple(spec.sensitivity_domains)
    units = counts.outcomes[Y]
    n = units["n"].to_numpy(dtype=float)
    data = _overall(coded_domains(units[list(dict.fromkeys([spec.cluster, *domains]))], domains, spec.cluster))
    yv = units[Y].to_numpy(dtype=float)
    base, pop = counts.respondents, counts.population
    parts = []
    for method in WEIGHTING_METHODS:
        s = replace(spec, method=method)
        if method == "ipw":
            parts += _ipw_rows(engine, respondents, prop, counts.work_orders, plan, covariates, data)
            continue
        try:
            weights, _, text = make_weights(base, pop, s, count=base["n"].to_numpy(),
                                            population_count=pop["n"].to_numpy())
        except InputError as exc:
            parts.append(unavailable_rows(method, data, domains, exc))
            continue
        w, calibration = _unit_weights(units, base, weights, s)
        parts += method_rows(method, data, yv, w, calibration, text, domains=domains, cluster=spec.cluster,
                             conf_level=conf, count=n)
    return finish_methods(parts)


def _unit_weights(units: pd.DataFrame, base: pd.DataFrame, weights: np.ndarray, spec):
    """The weights of ``base``'s groups (cell functions) on the groups ``units``, and the
    calibration behind them (as :func:`research.representativeness.run.calibration_of`)."""
    from research.representativeness.at_scale import _cells
    from research.stats.design_based import Calibration

    if spec.method == "none":
        return np.full(len(units), float(weights[0]) if len(weights) else np.nan), None
    cal = tuple(spec.poststrata if spec.method == "poststratify" else spec.margins)
    cells = _cells(base, weights, cal)
    w = units[list(cal)].merge(cells[[*cal, "weight"]], on=list(cal), how="left")["weight"].to_numpy()
    return w, Calibration.from_frame(units, cal, w, spec.cluster, raking=spec.method == "rake",
                                     count=units["n"].to_numpy())


def _ipw_rows(engine: Engine, respondents: Source, prop, n_work_orders: int, plan, covariates, data):
    """The ``ipw`` rows: one pass over the respondents for their ``sum 1/p``, ``sum 1/p^2`` per group
    (:class:`.at_scale_ipw.IpwSums`); the row path's reason when a respondent has no propensity."""
    from research.representativeness.at_scale_ipw import IpwSums
    from research.representativeness.run import IPW_TEXT, coded_domains

    spec, conf = plan.weighting, plan.conf_level
    domains = tuple(spec.sensitivity_domains)
    r_keys = (f"r_{spec.cluster}", *(f"d_{d}" for d in domains), "y_code")
    try:
        per = IpwSums(engine, respondents, prop, plan, covariates).by(r_keys, {"s1": col("w"),
                                                                             "s2": col("w") * col("w")})
    except InputError as exc:  # respondents without a propensity: the row path's message
        return [unavailable_rows("ipw", data, domains, exc)]
    k = n_work_orders / float(per["s1"].sum())
    y = per["y_code"].astype(int).to_numpy()
    frame = pd.DataFrame({spec.cluster: per[f"r_{spec.cluster}"].to_numpy(),
                          **{d: per[f"d_{d}"].replace("", np.nan).to_numpy(dtype=object) for d in domains}})
    units = _overall(coded_domains(frame, domains, spec.cluster))
    count = per["n"].to_numpy()
    return method_rows("ipw", units, np.where(y < 0, np.nan, y).astype(float), k * per["s1"].to_numpy() / count,
                       None, IPW_TEXT, domains=domains, cluster=spec.cluster, conf_level=conf, count=count,
                       squares=k * k * per["s2"].to_numpy())
