"""The non-response sensitivity tables from an engine's sums (issue 15; docs/architecture.md,
"Engines"): ``weighting_methods``, ``delta_range`` and ``tipping_deltas`` of
:func:`research.strategy.sensitivity.nonresponse_sensitivity` for a dataset whose rows never reach
pandas (``research weight --dataset DIR``).

Why sums suffice (exact, no approximation). The response propensity and the outcome model are
logits on the plan's ``propensity_rhs``: a row's linear predictor is ``a[g] . G(h)``, ``a[g]``
constants of its group of categorical keys and ``G = (1, log2(1 + h), ...)`` the numeric basis of
its hours (:mod:`research.models.aggregate.cells`). So

- **ipw** (in ``weighting_methods``): a respondent's weight is ``k / expit(x'b)`` with ``b`` the
  propensity fit of the work orders (:func:`research.models.aggregate.propensity.fit_propensity`),
  ``x`` its ticket's work-order covariates and ``k = N / sum_j 1 / p_j``. The weights vary with the
  hours inside a group, but every quantity of the table is linear in them on groups of rows that
  share the cluster, the domain and the answer: ``svy_by``'s totals and cluster totals need each
  group's ``sum w`` (a group with its mean weight and its count gives the same sums), Kish's
  ``n_eff`` also ``sum w^2``. One engine pass (``sum 1/p``, ``sum 1/p^2`` per group).
- **rake, post-stratification, none**: weights of cells, from the counts of
  :func:`research.representativeness.at_scale.count_rows` (as ``weighted_estimates``).
- **the outcome model** (the respondents' logit of satisfied on the work orders): the aggregate
  Newton iteration (:func:`research.models.aggregate.families.fit_logit`) on the work orders'
  groups with the answer and the missing-data pattern as keys, the unanswered groups weighted 0.
- **delta_range**: :class:`research.strategy.sensitivity_delta._DeltaSums` needs per (cluster,
  domain level) the answered totals and the sums of ``q = expit(eta + delta)`` per pattern, and per
  domain level ``sum q (1 - q) x``, and per cluster the respondents' ``sum x (y - p)``: sums of
  row expressions per group, one pass for every delta of the grid at once.
- **tipping_deltas**: the root of ``theta(delta) = target`` per scenario and domain level by
  Brent's method as the row path finds it (``scipy.optimize.brentq``, ``xtol = 1e-10``): the same
  iteration (:func:`research.stats.brent.brent_steps`, scipy's steps bit for bit), all the
  searches side by side, one engine pass per step for all of them (each group's candidate delta
  a per-group constant of the pass).

The numbers equal the row path's to rounding (tests/representativeness/test_at_scale_sensitivity.py:
1e-9 relative, counts and text exactly; Spark's equal the pandas engine's to 1e-9:
tests/representativeness/test_at_scale.py). The two joins of :func:`sources` are written for
each engine: frames for pandas, views of the engine's session for DuckDB and Spark (the same SQL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.config.plan import Plan
from research.engines.base import DatasetSource, Engine, FrameSource, Source, TableSource
from research.engines.expr import col, fn
from research.errors import InputError, NotEstimable
from research.strategy.sensitivity_delta import (PATTERNS, SCENARIOS, SHIFTABLE, TIPPING_BRACKET, _DeltaSums,
                                                 _pattern_counts, delta_table, tipping_row)

#: the outcome of the sensitivity tables (a respondent's 0/1 answer)
Y = "satisfied"
#: a pattern code for a ticket answered although its survey status is not ``completed`` (refused)
BAD = 9


def respondent_variables(spec) -> tuple[str, ...]:
    """The response's own variables the ipw tables group by (``r_<variable>`` as text): margins,
    strata, domains and the weight summary's variables, the band and the cluster apart."""
    from research.representativeness.run import SUMMARY_VARIABLES

    return tuple(v for v in dict.fromkeys([*spec.margins, *spec.poststrata, *spec.domains, *SUMMARY_VARIABLES])
                 if v not in ("handling_band", spec.cluster))


def _band_sql(column: str, bands_hours) -> str:
    """The band code of :func:`research.stats.bands.handling_band` (-1: no band) of an hours column."""
    edges = [float(e) for e in bands_hours]
    steps = " ".join(f"WHEN {column} <= {e!r} THEN {j}" for j, e in enumerate(edges))
    return f"CASE WHEN {column} IS NULL OR {column} < 0 THEN -1 {steps} ELSE {len(edges)} END"


def _y_code(values: pd.Series) -> np.ndarray:
    """-1 (no answer), 0, 1 of a 0/1 column."""
    y = pd.to_numeric(values.astype("Float64"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(y), -1, y).astype(np.int64)


def _frames(workorders: Source, responses: Source, spec, covariates: tuple[str, ...]):
    """The pandas engine's two frames (see :func:`sources`)."""
    from research.engines.pandas_engine import frame_of
    from research.representativeness.nonresponse import population_frame
    from research.strategy.sensitivity_delta import population_outcome

    pop = population_frame(frame_of(workorders), bands_hours=spec.bands_hours)
    resp = frame_of(responses)
    y = population_outcome(resp, pop, Y)
    status = pop["survey_status"].astype("string")
    code = np.full(len(pop), PATTERNS.index("unknown"), dtype=np.int64)
    for p in ("no_answer", "refused"):
        code[(status == p).fillna(False).to_numpy(dtype=bool)] = PATTERNS.index(p)
    done = (status == "completed").fillna(False).to_numpy(dtype=bool)
    code[done] = PATTERNS.index("item_missing")
    code[done & ~np.isnan(y)] = PATTERNS.index("observed")
    code[~done & ~np.isnan(y)] = BAD
    doms = {f"d_{d}": pop[d].astype("string").fillna("").to_numpy(dtype=object) for d in spec.sensitivity_domains}
    population = pop.assign(y_code=np.where(np.isnan(y), -1, y).astype(np.int64), pattern_code=code, **doms)
    ids = pd.Index(pop["ticket_id"].astype("string"))
    first = pop.loc[~ids.duplicated(keep="first"), ["ticket_id", *covariates]]
    first = first.assign(ticket_id=first["ticket_id"].astype("string"))
    from research.representativeness.run import ESTIMATE_VARIABLES
    from research.stats.bands import handling_band

    left = pd.DataFrame({"ticket_id": resp["ticket_id"].astype("string"),
                         f"r_{spec.cluster}": resp[spec.cluster], "y_code": _y_code(resp[Y]),
                         **{f"d_{d}": resp[d].astype("string").fillna("").to_numpy(dtype=object)
                            for d in spec.sensitivity_domains},
                         **{f"r_{v}": resp[v].astype("string").fillna("").to_numpy(dtype=object)
                            for v in respondent_variables(spec)},
                         "r_handling_band": np.asarray(handling_band(resp["handling_hours"], spec.bands_hours).codes,
                                                       dtype=np.int64),
                         **{f"r_{v}": pd.to_numeric(resp[v].astype("Float64"), errors="coerce").to_numpy(
                             dtype=float, na_value=-1.0) for v in ESTIMATE_VARIABLES}})
    return FrameSource(population), FrameSource(left.merge(first, on="ticket_id", how="left", sort=False))


def sources(engine: Engine, responses: Source, workorders: Source, spec,
            covariates: tuple[str, ...]) -> tuple[Source, Source]:
    """(the work orders, the respondents) as the sensitivity passes read them.

    The work orders: :func:`research.models.aggregate.propensity.population_source`'s columns
    (``responded``, ``repeat``) with ``y_code`` (the ticket's answer, -1 none: the response of the
    ticket; ticket ids are unique in a dataset and an ingest), ``pattern_code`` (the index in
    :data:`PATTERNS`, :data:`BAD` for an answer without a completed status) and ``d_<domain>``
    (the sensitivity domains as text, '' when missing). The respondents: ``r_<cluster>``,
    ``d_<domain>``, ``y_code``, ``r_<variable>`` (:func:`respondent_variables`, text),
    ``r_handling_band`` (the band's code of the response's hours, -1 none) and ``r_<outcome>``
    (each outcome of ``weighted_estimates`` as a number, -1 unanswered) of the response, and the
    ``covariates`` of its ticket's work order (missing without one). pandas: frames; DuckDB and Spark:
    tables of the engine's session (the same SQL; DuckDB keeps them as temporary tables, Spark as
    cached views: :meth:`research.engines.sql_engine.SQLEngine._materialise`)."""
    if engine.name == "pandas":
        return _frames(workorders, responses, spec, covariates)
    from research.models.aggregate.propensity import population_source
    from research.representativeness.run import ESTIMATE_VARIABLES

    pop = population_source(engine, workorders).name
    resp = f"{pop}_resp"
    if not isinstance(responses, (DatasetSource, FrameSource)):
        raise InputError("non-response sensitivity from sums: the responses must be a dataset or a frame")
    # a dataset: DuckDB's read_parquet, Spark's read_table (region folders decoded); a frame: its columns
    engine._register(resp, responses, ["ticket_id", spec.cluster, "handling_hours", *ESTIMATE_VARIABLES,
                                       *spec.sensitivity_domains, *respondent_variables(spec)])
    q = engine._quoted
    y = f"CAST(r.{q(Y)} AS BOOLEAN)"
    yc = f"CASE WHEN {y} IS NULL THEN -1 WHEN {y} THEN 1 ELSE 0 END"
    done = "p.survey_status = 'completed'"
    pattern = (f"CASE WHEN {y} IS NOT NULL AND NOT COALESCE({done}, FALSE) THEN {BAD} "
               f"WHEN {done} AND {y} IS NOT NULL THEN 0 WHEN {done} THEN 1 "
               "WHEN p.survey_status = 'no_answer' THEN 2 WHEN p.survey_status = 'refused' THEN 3 ELSE 4 END")
    # STRING: both dialects' text type (DuckDB's alias of VARCHAR; Spark wants a length with VARCHAR)
    doms = "".join(f", COALESCE(CAST(p.{q(d)} AS STRING), '') AS {q('d_' + d)}" for d in spec.sensitivity_domains)
    on = "CAST(p.ticket_id AS STRING) = CAST(r.ticket_id AS STRING)"
    engine._execute(f"CREATE OR REPLACE TEMPORARY VIEW {pop}_y AS SELECT p.*, {yc} AS y_code, {pattern} AS "
                    f"pattern_code{doms} FROM {pop} p LEFT JOIN {resp} r ON {on}")
    # kept once (DuckDB: a temporary table it spills; Spark: a cached view), not re-derived by every
    # prepare: the work orders' ticket-history window and both joins would otherwise run again for
    # each of the passes' groupings; the respondents join this table, so the window runs once
    keep = ["ticket_id", *covariates, "responded", "handling_hours", "y_code", "pattern_code",
            *(f"d_{d}" for d in spec.sensitivity_domains)]
    engine._materialise(f"{pop}_yt", f"SELECT {', '.join(q(c) for c in dict.fromkeys(keep))} FROM {pop}_y")
    rdoms = "".join(f", COALESCE(CAST(r.{q(d)} AS STRING), '') AS {q('d_' + d)}" for d in spec.sensitivity_domains)
    rdoms += "".join(f", COALESCE(CAST(r.{q(v)} AS STRING), '') AS {q('r_' + v)}" for v in respondent_variables(spec))
    rdoms += f", {_band_sql('r.' + q('handling_hours'), spec.bands_hours)} AS {q('r_handling_band')}"
    rdoms += "".join(f", COALESCE(CAST(r.{q(v)} AS DOUBLE), -1.0) AS {q('r_' + v)}" for v in ESTIMATE_VARIABLES)
    cov = "".join(f", p.{q(v)}" for v in covariates)
    engine._materialise(f"{pop}_rt", f"SELECT r.{q(spec.cluster)} AS {q('r_' + spec.cluster)}, {yc} AS y_code"
                                     f"{rdoms}{cov} FROM {resp} r LEFT JOIN {pop}_yt p ON {on}")
    return TableSource(f"{pop}_yt"), TableSource(f"{pop}_rt")


def not_from_sums(spec, domains: str = "sensitivity_domains") -> str:
    """Why the plan's weighting section ``spec`` keeps ipw weights off the sums path ('' when it
    does not): a ``trim_cap`` (each ipw weight capped row by row), the handling band among the
    ``domains`` field's variables (not a key of these passes) or the cluster (the row path orders
    its levels by first appearance among the responses, which groups do not keep). ``domains``:
    ``sensitivity_domains`` for the sensitivity tables, ``domains`` for ipw as the method
    (:func:`research.representativeness.at_scale_ipw.not_with_ipw`)."""
    if spec.trim_cap is not None:
        return "a trim_cap caps each ipw weight row by row"
    odd = [d for d in getattr(spec, domains) if d in (spec.cluster, "handling_band")]
    if odd:
        return f"{domains} {', '.join(odd)} (the handling band or the cluster) are not domains of the sums"
    return ""


@dataclass
class Opened:
    """What the sums passes share (:func:`open_sums`): the two sources of :func:`sources`, the
    propensity fit on the work orders and the propensity formula's variables with the cluster."""

    population: Source
    respondents: Source
    prop: object
    covariates: tuple[str, ...]


def open_sums(engine: Engine, responses: Source, workorders: Source, *, plan: Plan, instrument) -> Opened:
    """The sources of :func:`sources` and the response-propensity fit on the work orders' source
    (pandas, DuckDB or Spark)."""
    from research.models.aggregate.propensity import VARIABLES, fit_propensity
    from research.representativeness.nonresponse import _uses

    spec = plan.weighting
    covariates = tuple(dict.fromkeys([*(v for v in VARIABLES if _uses(spec.propensity_rhs, v)), spec.cluster]))
    population, respondents = sources(engine, responses, workorders, spec, covariates)
    prop = fit_propensity(engine, workorders, plan=plan, instrument=instrument, source=population)
    return Opened(population, respondents, prop, covariates)


def sensitivity_on(engine: Engine, responses: Source, workorders: Source, *, plan: Plan, instrument,
                   counts, progress=None, opened: Opened | None = None) -> dict[str, pd.DataFrame]:
    """``weighting_methods``, ``delta_range`` and ``tipping_deltas`` (see the module docstring) and
    the response-propensity model's ``propensity_estimates``, ``propensity_fit`` (whose fit the
    ipw weights use) of the rows behind ``counts`` (:func:`research.representativeness.at_scale.count_rows`,
    which must have counted by the sensitivity domains too). ``opened``: :func:`open_sums`' when
    the caller has it.

    Raises
    ------
    InputError
        As the row path: an answered ticket whose survey status is not completed, an outcome model
        the respondents cannot support, a target outside (0, 1).
    """
    from research.representativeness.at_scale_methods import weighting_methods_on
    from research.strategy.sensitivity import with_outcome_model

    spec = plan.weighting
    if not_from_sums(spec):
        raise InputError(f"non-response sensitivity from sums: {not_from_sums(spec)}")
    if not 0 < spec.target_rate < 1:
        raise InputError(f"non-response sensitivity: target rate must be in (0, 1), got {spec.target_rate}")
    say, t0 = progress or (lambda m: None), time.perf_counter()

    def step(what: str) -> None:
        nonlocal t0
        say(f"{what} from sums in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()

    if opened is None:
        opened = open_sums(engine, responses, workorders, plan=plan, instrument=instrument)
        step(f"response-propensity model ({opened.prop.out['stats']['iterations']} Newton steps)")
    model = OutcomeSums(engine, opened.population, plan, instrument, opened.covariates)
    step("non-response outcome model")
    grid = sorted(set(float(d) for d in spec.deltas) | {0.0})
    dr = delta_table(model.delta_sums(grid), model.n_clusters, model.labels(), model.pattern_counts(), grid,
                     plan.conf_level)
    step(f"delta_range ({len(grid)} deltas, one pass)")
    tip = model.tipping(spec.target_rate, (min(grid), max(grid)))
    step(f"tipping_deltas ({model.passes} passes)")
    methods = weighting_methods_on(engine, opened.respondents, opened.prop, counts, plan, opened.covariates)
    step("weighting_methods")
    est, fit = opened.prop.tables(plan)
    return {"propensity_estimates": est, "propensity_fit": fit,
            "weighting_methods": with_outcome_model(methods, dr, plan.conf_level), "delta_range": dr,
            "tipping_deltas": tip}


class OutcomeSums:
    """The outcome model fitted from the work orders' groups (keys: the covariates, the cluster,
    the sensitivity domains, the pattern and the answer) and the sums of the delta adjustment."""

    def __init__(self, engine: Engine, source: Source, plan: Plan, instrument, covariates: tuple[str, ...]):
        from research.models.aggregate.cells import cell_design, numeric_basis
        from research.models.aggregate.families import Cells, fit_logit
        from research.models.aggregate.fit import _formula_variables

        spec = plan.weighting
        self.engine, self.domains = engine, tuple(spec.sensitivity_domains)
        basis = numeric_basis(spec.propensity_rhs, variables=_formula_variables())
        hours = "handling_hours" in covariates
        keys = (*(v for v in covariates if v != "handling_hours"), *(f"d_{d}" for d in self.domains),
                "pattern_code", "y_code")
        self.prepared = engine.prepare(source, keys, {f"g{m + 1}": e for m, e in enumerate(basis)},
                                       ("handling_hours",) if hours else ())
        g = self.groups = self.prepared.groups
        self.n = g["n"].to_numpy(dtype=float)
        self.pcode = g["pattern_code"].astype(int).to_numpy()
        bad = int(self.n[self.pcode == BAD].sum())
        if bad:
            raise InputError(f"work orders: {bad} ticket(s) have a survey answer but a survey_status "
                             "other than completed")
        self.obs = (self.pcode == PATTERNS.index("observed")).astype(float)
        self.y = (g["y_code"].astype(int).to_numpy() == 1).astype(float) * self.obs
        n_obs = float(self.n @ self.obs)
        if self.prepared.n_rows < 10 or n_obs < 10 or len(np.unique(self.y[self.obs > 0])) < 2:
            raise InputError("non-response sensitivity: the outcome model needs at least 10 answered tickets "
                             "with both outcomes")
        cd = cell_design(g, rhs=spec.propensity_rhs, intercept=True, variables=covariates,
                         formula_variables=_formula_variables(), reference_levels=plan.reference_levels,
                         instrument=instrument)
        self.C = cd.C
        used = (cd.C[self.obs > 0] != 0).any(axis=(0, 2))
        empty = [nm for nm, u in zip(cd.names, used) if not u]
        if empty:
            raise InputError(f"non-response sensitivity: no respondent has {empty}; the outcome model cannot "
                             "predict those work orders (collapse the level)")
        self.cluster, uniques = pd.factorize(g[spec.cluster])
        self.n_clusters = len(uniques)
        self.cells = Cells(engine=engine, prepared=self.prepared, C=cd.C, y=self.y, n_g=self.n * self.obs,
                           cluster=self.cluster, n_clusters=self.n_clusters, weight=col("obs"),
                           weight_columns={"obs": self.obs}, w_g=self.n * self.obs)
        try:
            out = fit_logit(self.cells, "model")
        except NotEstimable as exc:
            raise InputError(f"non-response sensitivity: the outcome model: {exc}") from None
        if not out["stats"]["converged"]:
            raise InputError("non-response sensitivity: the outcome model: logit did not converge in 100 Newton "
                             "steps (perfect separation?)")
        self.beta, self.bread = out["params"], out["vcov"]
        self._levels()

    def _levels(self) -> None:
        """Each group's level code per domain variable (``overall`` first; -1: no level), levels
        sorted as the row path's ``_setup`` sorts a text column."""
        self.doms = [("overall", ["overall"], np.zeros(len(self.groups), dtype=np.intp))]
        for d in self.domains:
            values = self.groups[f"d_{d}"].astype(str)
            order = sorted(v for v in values.unique() if v != "")
            self.doms.append((d, order, np.asarray(pd.Categorical(values, categories=order).codes, dtype=np.intp)))

    def labels(self) -> tuple[list[str], list[str]]:
        from research.strategy.sensitivity_delta import _labels

        return _labels(self.doms)

    def pattern_counts(self) -> pd.DataFrame:
        return _pattern_counts(self.pcode, self.doms, count=self.n)

    def _pass(self, measures: dict, **columns) -> pd.DataFrame:
        from research.models.aggregate.algebra import basis_coefficients

        return self.engine.sums(self.prepared, measures, basis_coefficients(
            self.C, self.beta, self.groups["gid"].to_numpy(), y=self.y, obs=self.obs, **columns))

    def delta_sums(self, grid: list[float]) -> "_EngineDeltaSums":
        """One pass: the respondents' scores and, for every delta of ``grid``, ``sum q`` and
        ``sum q (1 - q) G`` per group."""
        from research.models.aggregate.algebra import basis_column, eta, first, per_cluster

        M = self.C.shape[2]
        e = eta(M)
        measures = {f"r_{m}": col("obs") * (col("y") - fn("expit", e)) * basis_column(m) for m in range(M)}
        for k, d in enumerate(grid):
            q = fn("expit", e + float(d))
            measures[f"q{k}"] = q
            measures.update({f"s{k}_{m}": q * (1 - q) * basis_column(m) for m in range(M)})
        s = self._pass(measures)
        self.q0 = s[f"q{grid.index(0.0)}"].to_numpy()
        beta_totals = per_cluster(self.C, first(s, "r", M), self.cluster, self.n_clusters) @ self.bread
        return _EngineDeltaSums(self, beta_totals, {d: (s[f"q{k}"].to_numpy(), first(s, f"s{k}", M))
                                                    for k, d in enumerate(grid)})

    def tipping(self, target: float, plausible: tuple[float, float]) -> pd.DataFrame:
        """:func:`research.strategy.sensitivity_delta.tipping_deltas` from sums (needs
        :meth:`delta_sums` first: the rates at delta = 0)."""
        from research.stats.brent import brent_steps, solve_together

        base = np.where(self.obs > 0, self.n * self.y, self.q0)
        items, searches = [], {}
        for s, (scen, shifted) in enumerate(SCENARIOS.items()):
            sh = np.isin(self.pcode, [PATTERNS.index(p) for p in shifted])
            for v, (var, levels, dom) in enumerate(self.doms):
                for k, lev in enumerate(levels):
                    in_d = dom == k
                    fixed = float(base[in_d & ~sh].sum())
                    N, n_sh = float(self.n[in_d].sum()), float(self.n[in_d & sh].sum())
                    items.append((s, v, k, scen, var, lev, fixed, N, n_sh, fixed / N, (fixed + n_sh) / N))
        rate = self._rates(items)
        shifted = [np.isin(self.pcode, [PATTERNS.index(p) for p in sh]) for sh in SCENARIOS.values()]
        mar = [(it[6] + float(self.q0[(self.doms[it[1]][2] == it[2]) & shifted[it[0]]].sum())) / it[7] for it in items]
        live = [i for i, it in enumerate(items) if it[8] > 0 and it[9] < target < it[10]]
        ends = [rate({i: x for i in live}) for x in (-TIPPING_BRACKET, TIPPING_BRACKET)]
        live = [i for i in live if (ends[0][i] - target) * (ends[1][i] - target) < 0]
        roots = solve_together({i: brent_steps(-TIPPING_BRACKET, TIPPING_BRACKET, xtol=1e-10) for i in live},
                               lambda pending: {i: v - target for i, v in rate(pending).items()})
        return pd.DataFrame([tipping_row(scen, var, lev, target, mar[i], float(roots.get(i, np.nan)), lo, hi,
                                         plausible, int(round(n_sh)), int(round(N)))
                             for i, (_, _, _, scen, var, lev, _, N, n_sh, lo, hi) in enumerate(items)])

    def _rates(self, items):
        """A function of ``{item: delta}`` returning ``{item: theta(delta)}``: one pass, a measure
        per (scenario, domain variable) reading each group's delta from the parameter table."""
        from research.models.aggregate.algebra import eta

        e = eta(self.C.shape[2])
        self.passes = 0
        shifted = [np.isin(self.pcode, [PATTERNS.index(p) for p in sh]) for sh in SCENARIOS.values()]

        def rate(pending: dict) -> dict:
            if not pending:
                return {}
            columns = {f"t{s}_{v}": np.zeros(len(self.groups)) for s in range(len(SCENARIOS))
                       for v in range(len(self.doms))}
            for i, delta in pending.items():
                s, v, k = items[i][:3]
                columns[f"t{s}_{v}"][self.doms[v][2] == k] = delta
            names = sorted({f"t{items[i][0]}_{items[i][1]}" for i in pending})
            sums = self._pass({f"e{c[1:]}": fn("expit", e + col(c)) for c in names}, **columns)
            self.passes += 1
            out = {}
            for i in pending:
                s, v, k, *_, fixed, N, _, _, _ = items[i]
                use = (self.doms[v][2] == k) & shifted[s]
                out[i] = (fixed + float(sums[f"e{s}_{v}"].to_numpy()[use].sum())) / N
            return out

        return rate


class _EngineDeltaSums(_DeltaSums):
    """:class:`_DeltaSums` with its sums from the engine's groups (the same attributes; its
    :meth:`estimates` unchanged)."""

    def __init__(self, model: OutcomeSums, beta_totals: np.ndarray, by_delta: dict):
        self.g, self.beta_totals = model.n_clusters, beta_totals
        self.offsets, size, cols = [], 0, []
        for _, levels, dom in model.doms:
            k = len(levels)
            self.offsets.append((size, k))
            cols.append(size + np.where(dom < 0, k, dom))
            size += k + 1
        self.D = size
        cl, n = model.cluster, model.n
        self.N = np.maximum(sum(np.bincount(c, weights=n, minlength=size) for c in cols), 1.0)
        self.n_gd = self._by_cluster(cols, cl, n)
        self.A_obs = self._by_cluster(cols, cl, n * model.y)
        self.X = None
        self.parts, self._cache = {}, {}
        for p in ("item_missing", *SHIFTABLE):
            rows = model.pcode == PATTERNS.index(p)
            if not (model.n[rows] > 0).any():
                continue
            self.parts[p] = None
            for d, (q, s) in by_delta.items():
                x = np.einsum("gjm,gm->gj", model.C[rows], s[rows])
                S = np.zeros((size, x.shape[1]))
                for c in cols:
                    np.add.at(S, c[rows], x)
                self._cache[(p, float(d))] = (self._by_cluster([c[rows] for c in cols], cl[rows], q[rows]), S)

    def _by_cluster(self, cols, cl, w) -> np.ndarray:
        size, g = self.D, self.g
        return sum(np.bincount(cl * size + c, weights=w, minlength=g * size) for c in cols).reshape(g, size)
