"""The response-propensity logit on the work orders from an engine's sums (issue 15):
:func:`propensity_on`, the tables of :func:`research.representativeness.nonresponse.propensity_model`
(``propensity_estimates``, ``propensity_fit``) without the work orders in memory.

The model is a logit of ``responded`` (the ticket's survey was completed) on the plan's
``weighting.propensity_rhs`` over the work orders, CR1 cluster-robust by station (R
``sandwich::vcovCL(type = "HC1")``, statsmodels' ``cov_type="cluster"``). Every variable of that
formula is categorical or a flag except the hours, so the fit is
:func:`research.models.aggregate.families.fit_logit` on the groups of the work orders (one engine
pass per Newton step; the clusters' score totals from the last pass).

Two columns are derived as :func:`research.representativeness.nonresponse.population_frame` derives
them: ``responded`` (``survey_status == "completed"``) and ``repeat`` (the same customer pseudonym
has an earlier ticket created at most :data:`~research.representativeness.nonresponse.REPEAT_WINDOW_DAYS`
days before: the previous ticket of the customer in the order of creation time, ties in the order
of the rows, NaT last). In DuckDB this is one window over the work orders (``LAG`` by customer,
sorted out of core), and the same SQL in Spark; in memory it is ``population_frame`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from research.config.instrument import Instrument
from research.config.plan import Plan
from research.engines.base import DatasetSource, Engine, FrameSource, Source, TableSource
from research.errors import InputError, NotEstimable

#: the work-order variables a propensity formula may use (as population_design)
VARIABLES = ("cause_l1", "cause_l2", "channel", "region", "station", "repeat", "handling_hours")


def propensity_on(engine: Engine, workorders: Source, *, plan: Plan,
                  instrument: Instrument) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(propensity_estimates, propensity_fit)`` of :func:`fit_propensity`'s fit."""
    return fit_propensity(engine, workorders, plan=plan, instrument=instrument).tables(plan)


@dataclass
class PropensityFit:
    """The aggregate logit's result ``out`` (``params``, ``vcov``, ``stats``), the design's column
    ``names``, the work orders' ``groups`` (:meth:`Engine.prepare`) with their cell design ``C``
    (groups, p, M), the complete work orders ``n``, those that responded, the clusters and the
    source's rows."""

    out: dict
    names: list
    groups: pd.DataFrame
    C: np.ndarray
    n: int
    n_responded: int
    n_clusters: int
    total: int

    def tables(self, plan: Plan) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(propensity_estimates, propensity_fit)``."""
        return _tables(self.out, self.names, plan.weighting.propensity_rhs, plan.weighting.cluster, self.n,
                       self.n_responded, self.n_clusters, self.total, plan.conf_level)

    def coefficients(self, variables: list[str]) -> pd.DataFrame:
        """Per distinct combination of ``variables`` (the formula's categorical variables), the
        coefficients ``a0, a1, ...`` of the linear predictor on the numeric basis ``(1, g1, ...)``:
        ``C[g]' beta``, the same for every group of the combination."""
        from research.models.aggregate.algebra import basis_coefficients

        a = basis_coefficients(self.C, self.out["params"], self.groups["gid"].to_numpy())
        table = pd.concat([self.groups[variables].reset_index(drop=True), a.drop(columns="gid")], axis=1)
        return table.drop_duplicates(variables).reset_index(drop=True)


def fit_propensity(engine: Engine, workorders: Source, *, plan: Plan,
                   instrument: Instrument, source: Source | None = None) -> "PropensityFit":
    """The response-propensity logit of the work orders in ``workorders`` from sums.

    Parameters
    ----------
    engine : a pandas, DuckDB or Spark engine (:mod:`research.engines`).
    workorders : canonical work orders: a dataset folder's ``workorders`` table
        (``DatasetSource(folder, "workorders")``) or a frame.
    plan : ``weighting.propensity_rhs`` (the formula), ``weighting.cluster``, reference levels,
        ``conf_level``.

    source : the work orders with ``responded`` and ``repeat`` (:func:`population_source`, or a
        source holding those columns and more), when the caller has it.

    Returns
    -------
    :class:`PropensityFit`; :func:`propensity_on` makes of it the two frames of
    :func:`research.representativeness.nonresponse.propensity_model` (same columns and rows;
    estimates on the log-odds scale with odds ratios, normal-based intervals).

    Raises
    ------
    InputError : too few complete work orders, a single outcome, a fit that fails.
    """
    from research.models.aggregate.cells import cell_design, numeric_basis
    from research.models.aggregate.families import Cells, fit_logit
    from research.models.aggregate.fit import _formula_variables
    from research.representativeness.nonresponse import _uses

    spec = plan.weighting
    rhs, cluster = spec.propensity_rhs, spec.cluster
    variables = tuple(dict.fromkeys([*(v for v in VARIABLES if _uses(rhs, v)), cluster]))
    hours = "handling_hours" in variables
    basis = numeric_basis(rhs, variables=_formula_variables())
    values = {f"g{m + 1}": e for m, e in enumerate(basis)}
    keys = (*(v for v in variables if v != "handling_hours"), "responded")
    source = source if source is not None else population_source(engine, workorders)
    prepared = engine.prepare(source, keys, values, ("handling_hours",) if hours else ())
    groups = prepared.groups
    n = prepared.n_rows
    if n < 10:
        raise InputError(f"response propensity: only {n} complete work orders")
    y = groups["responded"].to_numpy(dtype=float)
    if groups["responded"].nunique() < 2:
        raise InputError("response propensity: every work order has the same survey outcome; "
                         "no response model can be fitted")
    cd = cell_design(groups, rhs=rhs, intercept=True, variables=variables, formula_variables=_formula_variables(),
                     reference_levels=plan.reference_levels, instrument=instrument)
    codes, uniques = pd.factorize(groups[cluster])
    cells = Cells(engine=engine, prepared=prepared, C=cd.C, y=y, n_g=groups["n"].to_numpy(dtype=float),
                  cluster=codes, n_clusters=len(uniques))
    try:
        out = fit_logit(cells, "cluster")
    except NotEstimable as exc:
        raise InputError(f"response propensity: {exc}") from None
    if not out["stats"]["converged"]:
        raise InputError("response propensity: logit did not converge in 100 Newton steps (perfect separation?)")
    return PropensityFit(out, list(cd.names), groups, cd.C, n, int(round(float(cells.n_g @ y))), len(uniques),
                         prepared.total_rows)


def _tables(out: dict, names: list[str], rhs: str, cluster: str, n: int, n_responded: int, G: int,
            total: int, conf_level: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two frames of propensity_model from the aggregate fit."""
    est, cov = out["params"], out["vcov"]
    k = len(est)
    se = np.sqrt(np.diag(cov))
    q = stats.norm.ppf(0.5 + conf_level / 2)
    z = est / se
    estimates = pd.DataFrame({
        "model": "response_propensity", "term": names, "estimate": est, "std_error": se,
        "statistic": z, "p_value": 2 * stats.norm.sf(np.abs(z)), "conf_low": est - q * se,
        "conf_high": est + q * se, "conf_level": conf_level, "odds_ratio": np.exp(est),
        "odds_ratio_low": np.exp(est - q * se), "odds_ratio_high": np.exp(est + q * se), "n": n})
    ll = out["stats"]["loglik"]
    ybar = n_responded / n
    ll_null = n * (ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar))
    fit = pd.DataFrame([{"model": "response_propensity", "formula": f"responded ~ {rhs}", "nobs": n,
                         "n_responded": n_responded, "loglik": ll, "aic": -2 * ll + 2 * k,
                         "bic": -2 * ll + np.log(n) * k, "pseudo_r2_mcfadden": 1 - ll / ll_null,
                         "n_clusters": int(G), "n_dropped": int(total - n),
                         "se_type": f"CR1 cluster-robust by {cluster}"}])
    return estimates, fit


def population_source(engine: Engine, workorders: Source) -> Source:
    """The work orders with ``responded`` and ``repeat`` as
    :func:`research.representativeness.nonresponse.population_frame` defines them (module
    docstring): a frame for the pandas engine, a view of the engine's session for DuckDB and Spark."""
    from research.representativeness.nonresponse import population_frame

    if engine.name == "pandas":
        from research.engines.pandas_engine import frame_of

        return FrameSource(population_frame(frame_of(workorders)))
    micros = {"duckdb": "epoch_us", "spark": "unix_micros"}
    if engine.name not in micros:
        raise InputError(f"response propensity from sums: the {engine.name} engine is not supported yet "
                         "(use --engine duckdb, spark or pandas)")
    return _sql_population(engine, workorders, micros[engine.name])


#: ``responded`` and ``repeat`` (the previous ticket of the customer, in the order of creation time,
#: ties in the order of the rows: ledger entry, then source_row) as SQL of either dialect: ``{q}``
#: the identifier quote, ``{micros}`` the dialect's microseconds since the epoch, ``{window}`` the
#: window in microseconds (the casts: Spark reads the Parquet timestamps as TIMESTAMP_NTZ, which
#: unix_micros does not take; a no-op in DuckDB)
_POPULATION_SQL = (
    "SELECT *, COALESCE(survey_status = 'completed', FALSE) AS responded, "
    "COALESCE(customer_id IS NOT NULL AND {micros}(CAST(created_at AS TIMESTAMP)) - {micros}(CAST(LAG(created_at) "
    "OVER (PARTITION BY customer_id ORDER BY created_at ASC NULLS LAST, _part, _row) AS TIMESTAMP)) <= "
    "{window}, FALSE) AS {q}repeat{q} FROM {raw}")


def _sql_population(engine, workorders: Source, micros: str) -> TableSource:
    """A view of the work orders with ``responded`` and ``repeat`` (:data:`_POPULATION_SQL`, one
    window by customer) in a DuckDB or Spark session: a dataset's rows with their ledger entry
    ``_part`` and ``_row`` (the engine's ``_ordered``, as its ``level_rows`` reads them); a frame is
    one entry in its own order; ``micros`` the dialect's microseconds since the epoch."""
    from research.representativeness.nonresponse import REPEAT_WINDOW_DAYS

    engine._count = getattr(engine, "_count", 0) + 1
    raw, view = f"wo{engine._count}_raw", f"wo{engine._count}_pop"
    if isinstance(workorders, DatasetSource):
        engine._ordered(raw, workorders, [])
    elif isinstance(workorders, FrameSource):
        frame = workorders.frame
        engine._register(raw, frame.assign(_part=0, _row=np.arange(len(frame))))
    else:
        raise InputError("response propensity from sums: the work orders must be a dataset or a frame")
    window = REPEAT_WINDOW_DAYS * 86_400 * 1_000_000  # microseconds
    engine._execute(f"CREATE OR REPLACE TEMPORARY VIEW {view} AS "
                    + _POPULATION_SQL.format(micros=micros, window=window, q=engine.quote, raw=raw))
    return TableSource(view)
