"""Inverse-propensity weighting (the plan's ``weighting.method: ipw``) from an engine's sums:
``weight_summary``, ``weight_margins``, ``weighted_estimates`` (and the weights of the survey-weighted
models, :class:`IpwWeight`) of ``research weight --dataset``
(issue 15; docs/architecture.md, "Engines").

A respondent's weight is ``w_i = k / p_i = k (1 + exp(-x_i'b))``: ``b`` the response-propensity fit
of the work orders (:func:`research.models.aggregate.propensity.fit_propensity`), ``x_i`` its
ticket's work-order covariates (the hours among them), ``k`` the scale that makes the weights sum
to the work orders (:func:`research.stats.weights.propensity_weights`). The weight is an engine
expression of the row (the hours' basis) and of its group's coefficients ``C[g]'b``, so every
table is a few passes over the respondents, grouped by those covariates and the response's own
variables (:func:`.at_scale_sensitivity.sources`):

- ``weight_summary``: per level of the summary variables ``n``, ``sum w``, ``sum w^2``, the
  smallest and largest ``w`` (:meth:`research.engines.base.Engine.extremes`) and, in a second pass
  with each level's mean as a parameter, ``sum (w - mean)^2`` (the row path's two-pass standard
  deviation, so the coefficient of variation agrees to rounding even where it is small);
- ``weight_margins``: the weighted counts per margin level, sums of ``w`` (the groups enter
  :func:`research.representativeness.run._margin_check` with their mean weight and count);
- ``weighted_estimates``: one pass per outcome with the outcome as a key; ``svy_by`` is linear in
  the weights on rows sharing the cluster, the domain and the answer, and inverse-propensity
  weights are fixed (no calibration), so each group enters with its mean weight and its count.

``weight_cells.csv`` is not written: the weight varies with every respondent's hours, so no table
of cells holds it (a table per distinct covariate pattern would be per respondent at scale). The
weights are ``k / expit(x'b)`` with ``b`` in ``propensity_estimates.csv`` and ``k`` in
``notes.csv``. The survey-weighted models (``svy_*``) read the responses with their tickets'
covariates beside them (:func:`model_source`, the ``w_`` columns) and weight every row by
:class:`IpwWeight`'s expression (:func:`research.models.aggregate.svy.svy_models_on` with ``ipw``;
fixed weights: the design's cells are the clusters, no calibration).
The same on every engine (pandas, DuckDB, Spark). Not available: a ``trim_cap`` (a cap makes
each weight a capped function of its row), the handling band or the cluster among the ``domains``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.engines.base import Engine, Source
from research.engines.expr import Expr, col, fn
from research.errors import InputError

#: respondents per row of the grouped frames
COUNT = "n_respondents"


def not_with_ipw(spec) -> str:
    """Why ipw cannot be the method from sums ('' when it can; the same on every engine): the
    sensitivity tables' reasons (:func:`.at_scale_sensitivity.not_from_sums`) for the ``domains``."""
    from research.representativeness.at_scale_sensitivity import not_from_sums

    return not_from_sums(spec, "domains")


class IpwSums:
    """The respondents' groups on the engine with each one's ipw coefficients (see the module
    docstring); ``weight`` is the expression of ``1 / p`` of a row."""

    def __init__(self, engine: Engine, respondents: Source, prop, plan, covariates: tuple[str, ...]):
        from research.models.aggregate.algebra import eta
        from research.models.aggregate.cells import numeric_basis
        from research.models.aggregate.fit import _formula_variables

        self.engine, self.source, self.prop, self.plan = engine, respondents, prop, plan
        self.cov = [v for v in covariates if v != "handling_hours"]
        basis = numeric_basis(plan.weighting.propensity_rhs, variables=_formula_variables())
        self.values = {f"g{m + 1}": e for m, e in enumerate(basis)}
        self.numeric = ("handling_hours",) if "handling_hours" in covariates else ()
        self.weight: Expr = 1 + fn("exp", -eta(prop.C.shape[2]))

    def prepare(self, keys: tuple[str, ...]):
        """The respondents grouped by the covariates and ``keys``, and the coefficients' table.
        InputError (the row path's) for respondents without a propensity."""
        from research.representativeness.run import no_propensity

        prepared = self.engine.prepare(self.source, (*self.cov, *keys), self.values, self.numeric)
        bad = prepared.total_rows - prepared.n_rows
        if bad:
            raise no_propensity(bad)
        groups = prepared.groups
        params = groups[["gid", *self.cov]].merge(self.prop.coefficients(self.cov), on=self.cov, how="left",
                                                  sort=False).drop(columns=self.cov).sort_values("gid")
        if params.isna().any().any():  # pragma: no cover - a respondent's work order is among the population's
            raise RuntimeError("ipw: a respondent's covariates are not among the work orders'")
        return prepared, params.reset_index(drop=True)

    def by(self, keys: tuple[str, ...], measures: dict[str, Expr]) -> pd.DataFrame:
        """The sums of ``measures`` (reading ``col("w")``, the row's ``1 / p``) per group of
        ``keys`` (the covariates summed over), with the rows ``n``."""
        prepared, params = self.prepare(keys)
        s = self.engine.sums(prepared, {k: e.replace({"w": self.weight}) for k, e in measures.items()}, params)
        out = prepared.groups[list(keys)].assign(n=prepared.groups["n"].to_numpy(dtype=float), **{
            k: s[k].to_numpy() for k in measures})
        return out.groupby(list(keys), sort=True, observed=True).sum().reset_index()


def _text(values: pd.Series) -> np.ndarray:
    return values.astype(str).replace("", np.nan).to_numpy(dtype=object)


def ipw_tables(engine: Engine, respondents: Source, prop, counts, plan, covariates: tuple[str, ...],
               progress=None) -> dict[str, pd.DataFrame]:
    """``weight_summary``, ``weight_margins``, ``weighted_estimates`` with ipw weights (module
    docstring), and ``k`` (the weights' scale: work orders per unit of ``1 / p``) as a frame
    ``ipw_scale`` for the notes. ``counts``: :func:`.at_scale.count_rows`' (the population)."""
    from research.representativeness.at_scale_sensitivity import respondent_variables
    from research.representativeness.run import IPW_TEXT, SUMMARY_VARIABLES, weight_tables
    from research.stats.bands import band_labels
    from research.stats.weights import rake

    say = progress or (lambda m: None)
    spec = plan.weighting
    why = not_with_ipw(spec)
    if why:
        raise InputError(f"weighting method 'ipw' from sums: {why}")
    sums = IpwSums(engine, respondents, prop, plan, covariates)
    rvars = respondent_variables(spec)
    keys = (f"r_{spec.cluster}", *(f"r_{v}" for v in rvars), "r_handling_band")
    prepared, params = sums.prepare(keys)
    s = engine.sums(prepared, {"s1": sums.weight, "s2": sums.weight * sums.weight}, params)
    ext = engine.extremes(prepared, {"w": sums.weight}, params)
    g = prepared.groups
    n, s1 = g["n"].to_numpy(dtype=float), s["s1"].to_numpy()
    N = float(counts.work_orders)
    res = rake(pd.DataFrame({"all": np.zeros(len(g), dtype=np.int8)}), pd.DataFrame({"all": [0]}), ["all"],
               tol=spec.tol, start=s1 / n, count=n, population_count=np.array([N]))
    if not res.converged:  # pragma: no cover - one margin converges in a sweep
        raise InputError("weighting (ipw) did not converge")
    k = float(np.dot(res.weights, n) / s1.sum())
    labels = band_labels(spec.bands_hours)
    units = pd.DataFrame({**{v: _text(g[f"r_{v}"]) for v in rvars},
                          "handling_band": pd.Categorical.from_codes(g["r_handling_band"].astype(int).to_numpy(),
                                                                     categories=list(labels), ordered=True)})
    units[COUNT] = n
    summary = _summary(sums, prepared, params, units, n, k * s1, k * k * s["s2"].to_numpy(), k * ext["w_min"].to_numpy(),
                       k * ext["w_max"].to_numpy(), [v for v in SUMMARY_VARIABLES if v in units], k)
    pop = counts.population
    out = weight_tables(units, pop, spec, res.weights, res, IPW_TEXT, count=n, population_count=pop["n"].to_numpy(),
                        summary=summary)
    say(f"ipw weights (scale {k:.6g} work orders per 1/p) of {int(n.sum()):,} respondents")
    out["weighted_estimates"] = _estimates(sums, spec, plan.conf_level, k)
    out["ipw_scale"] = pd.DataFrame({"k": [k]})
    return out


def _summary(sums: IpwSums, prepared, params, units, n, sw, sw2, lo, hi, variables, k) -> pd.DataFrame:
    """``weight_summary``'s rows (:func:`research.stats.weight_diagnostics.margin_diagnostics`'s
    levels and columns) from the groups' sums; the squared deviations from each level's mean by
    one more pass (the level means as parameters)."""
    from research.stats.weight_diagnostics import _level_codes

    parts = [("all", "all", np.ones(len(units), dtype=bool))]
    for var in variables:
        levels, codes = _level_codes(units[var])
        parts += [(var, str(lev), codes == j) for j, lev in enumerate(levels) if (codes == j).any()]
    means = [float(sw[m].sum()) / float(n[m].sum()) for _, _, m in parts]
    measures, columns = {}, {}
    for v, var in enumerate(["all", *variables]):
        mean = np.zeros(len(units))
        for (pv, _, m), mu in zip(parts, means):
            if pv == var:
                mean[m] = mu
        columns[f"m{v}"] = mean
        d = k * sums.weight - col(f"m{v}")
        measures[f"d{v}"] = d * d
    dev = sums.engine.sums(prepared, measures, params.assign(**columns))
    rows = []
    for (var, lev, m), mean in zip(parts, means):
        v = ["all", *variables].index(var)
        cnt = int(round(float(n[m].sum())))
        s, ss = float(sw[m].sum()), float(sw2[m].sum())
        cv = float(np.sqrt(dev[f"d{v}"].to_numpy()[m].sum() / cnt) / mean)
        rows.append({"variable": var, "level": lev, "n": cnt, "sum": s, "min": float(lo[m].min()),
                     "max": float(hi[m].max()), "mean": mean, "cv": cv, "n_eff": s * s / ss, "deff": cnt / (s * s / ss)})
    return pd.DataFrame(rows)


def _estimates(sums: IpwSums, spec, conf_level: float, k: float) -> pd.DataFrame:
    """``weighted_estimates``: per outcome, the groups (cluster, domains, answer) with their mean
    weight and count (:func:`research.representativeness.run.estimates_of`)."""
    from research.representativeness.run import ESTIMATE_VARIABLES, coded_domains, estimates_of, finish_estimates

    parts = []
    for y in ESTIMATE_VARIABLES:
        keys = (f"r_{spec.cluster}", *(f"r_{d}" for d in spec.domains), f"r_{y}")
        per = sums.by(keys, {"s1": col("w")})
        value = per[f"r_{y}"].astype(float).to_numpy()
        frame = pd.DataFrame({spec.cluster: per[f"r_{spec.cluster}"].to_numpy(),
                              **{d: _text(per[f"r_{d}"]) for d in spec.domains},
                              y: np.where(value < 0, np.nan, value)})
        count = per["n"].to_numpy()
        data = coded_domains(frame, spec.domains, spec.cluster).assign(weight=k * per["s1"].to_numpy() / count,
                                                                       **{COUNT: count})
        parts += estimates_of(data, y, tuple(spec.domains), spec.cluster, conf_level, None, count=COUNT)
    return finish_estimates(parts)


def model_source(engine: Engine, responses: Source, opened) -> Source:
    """The responses (every column, for the survey-weighted models) with their ticket's work-order
    covariates beside them as ``w_<variable>`` (the ipw weight's inputs; missing without a work
    order): a frame for pandas, a view of the engine's session for DuckDB and Spark (the responses
    joined to the work orders' table of :func:`.at_scale_sensitivity.sources`)."""
    from research.engines.base import FrameSource, TableSource
    from research.engines.pandas_engine import frame_of

    cov = [v for v in opened.covariates]
    if engine.name == "pandas":
        pop = frame_of(opened.population)
        ids = pd.Index(pop["ticket_id"].astype("string"))
        first = pop.loc[~ids.duplicated(keep="first"), ["ticket_id", *cov]]
        first = first.rename(columns={v: f"w_{v}" for v in cov}).assign(ticket_id=first["ticket_id"].astype("string"))
        resp = frame_of(responses)
        return FrameSource(resp.assign(ticket_id=resp["ticket_id"].astype("string")).merge(
            first, on="ticket_id", how="left", sort=False))
    table = opened.population.name
    name = f"{table}_m"
    engine._register(f"{name}_resp", responses)  # DuckDB's read_parquet, Spark's read_table, or the frame
    q = engine._quoted
    covs = ", ".join(f"p.{q(v)} AS {q('w_' + v)}" for v in cov)
    engine._execute(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS SELECT r.*, {covs} FROM {name}_resp r "
                    f"LEFT JOIN {table} p ON CAST(p.ticket_id AS STRING) = CAST(r.ticket_id AS STRING)")
    return TableSource(name)


class IpwWeight:
    """A survey-weighted model's ipw weight from sums (:func:`research.models.aggregate.svy.svy_models_on`):
    ``k (1 + exp(-x'b))`` of the ``w_`` covariates of :func:`model_source`; ``keys`` (the
    categorical covariates), ``values`` (the basis of the work order's hours), ``numeric``, and per
    group the coefficients ``ia0, ia1, ...`` (:meth:`columns`)."""

    def __init__(self, prop, plan, covariates: tuple[str, ...], k: float):
        from research.engines.base import column_name
        from research.models.aggregate.cells import numeric_basis
        from research.models.aggregate.fit import _formula_variables

        self.prop, self.k = prop, k
        self.cov = [v for v in covariates if v != "handling_hours"]
        self.keys = tuple(f"w_{v}" for v in self.cov)
        basis = numeric_basis(plan.weighting.propensity_rhs, variables=_formula_variables())
        hours = {column_name("handling_hours"): col(column_name("w_handling_hours"))}
        self.values = {f"wg{m + 1}": e.replace(hours) for m, e in enumerate(basis)}
        self.numeric = ("w_handling_hours",) if "handling_hours" in covariates else ()
        self.M = prop.C.shape[2]

    def expression(self, scale: float = 1.0) -> Expr:
        """``k / scale * (1 + exp(-eta))``, eta from the ``ia<m>`` columns and the ``wg<m>`` values."""
        eta = col("ia0")
        for m in range(1, self.M):
            eta = eta + col(f"ia{m}") * col(f"wg{m}")
        return (self.k / scale) * (1 + fn("exp", -eta))

    def columns(self, groups: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per group (in order), the coefficients ``ia<m>`` of its covariates."""
        coefs = self.prop.coefficients(self.cov)
        coefs = coefs.assign(**{v: coefs[v].astype(str) for v in self.cov}).rename(
            columns={v: f"w_{v}" for v in self.cov})
        got = groups[list(self.keys)].astype(str).merge(coefs, on=list(self.keys), how="left", sort=False)
        if got[[f"a{m}" for m in range(self.M)]].isna().any().any():  # pragma: no cover - every ticket's covariates
            raise RuntimeError("ipw: a respondent's covariates are not among the work orders'")
        return {f"ia{m}": got[f"a{m}"].to_numpy(dtype=float) for m in range(self.M)}
