"""The thresholds' change-point analysis per cause group through an engine (issue 15):
:func:`group_shapes_on`, the columns :func:`research.models.thresholds.group_shape` gives
(``shape``, Davies' p-values, the breakpoint and its interval, the slope per doubling) for every
cause group, without the rows in memory.

Per cause group the row path fits, on the group's rows, the log-linear logit ``X0 = [non-time
columns of the thresholds design that vary within the group, z = log2(1 + hours)]`` (the null),
then ``2 x change_point.points`` logits with a hinge ``relu(z - psi)`` or a step ``1(z > psi)`` in
front (Davies' test), and when a change point is found ``2 x 60`` more (the profile likelihood of
the breakpoint). Every one of them is a logit whose score and information are sums over rows:

- the non-time columns depend only on a row's cell keys (``cause_l2``, ``channel``[, ``repeat``]),
  so a row's design is ``C[cell] @ (1, z, c(z))`` with ``c`` the hinge or step term: one
  :meth:`Engine.prepare` with keys (satisfied, cause_l1, cause_l2, channel[, repeat], cluster) and
  ``z`` per row, and per-cell weighted moments of ``(1, z, c)`` give ``X' W X`` and ``X' (y - p)``
  (:mod:`research.models.aggregate.algebra`). The full-rank subset of the non-time columns is
  :func:`research.stats.changepoint.full_rank_columns` of the distinct cell rows scaled by
  ``sqrt(n_cell)`` (the Gram matrix of the rows, so the same pivoted QR up to rounding; checked
  against the rows on the committed sample, tests/models/test_aggregate_changepoint.py);
- the fits are **batched**: one engine pass serves every model still iterating, of every cause
  group. Each model is a *slot* of the parameter table (:meth:`Engine.sums` with a ``slot``
  column): its own group's cells with their coefficients on ``(1, z, c)``, its breakpoint and
  kind, so the engine sums each row once per model of its group. Each model runs
  :func:`research.stats.logit.fit_logit`'s iteration as :func:`research.stats.changepoint.logit_newton`
  runs it (start 0 for the null, ``(0, b0)`` for an alternative; LU solve; stop after a step of at
  most 1e-10; at most 100 steps; a singular or non-finite information or no convergence leaves
  that breakpoint out, as NotEstimable does on the rows); models that converged drop out of later
  passes. The null takes one more pass at its estimate (deviance, information, the slope's sums);
  an alternative keeps the deviance of the pass of its last step (see :func:`_step`);
- the slope per doubling (:func:`research.stats.changepoint.slope_per_doubling`) from the null's
  last pass: ``sum expit(eta + g) - expit(eta)``, the gradient's per-cell sums and the clusters'
  score totals (cells carry the cluster) for CR1;
- each cause group's ``reference_quantile`` and ``upper_quantile`` of ``z`` (the breakpoints' range)
  exactly, as ``np.quantile`` gives them (:func:`research.models.aggregate.quantiles.group_quantiles`),
  unless the caller passes them (``bounds``).

Groups of at most ``change_point.calibration_max_n`` tickets need the parametric-bootstrap
calibration, which redraws every row's answer in the row path's order, seeded by the group's first
row's position among the complete rows: their rows are fetched (:meth:`Engine.level_rows`, in
read_dataset's order; bounded by that size) and the row path's own
:func:`research.models.thresholds.shape_of_rows` runs on them. The numbers equal the row path's to
1e-9 relative (tests/models/test_aggregate_changepoint.py, pandas, DuckDB and Spark: about 1e-12 on
the sample). On 1M rows (``benchmarks/bench_changepoint_engine.py``) the largest difference is
3.8e-11 through DuckDB and 6.5e-10 through the pandas engine, both in Davies' p-values: a group's
deviance (475,344 for outage) is a sum known to about 1e-10 in either path, so a breakpoint whose
deviance falls by only 0.001 has a signed root known to about 1e-7 relative, and the bound's total
variation carries a little of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from research.engines.base import Engine, Source, column_name
from research.engines.expr import Expr, col, fn
from research.errors import NotEstimable
from research.models.aggregate.algebra import per_cluster, vec

#: the Newton iteration of research.stats.changepoint.logit_newton
TOL, MAX_ITER = 1e-10, 100
#: profile grid points (research.models.thresholds.group_shape)
PROFILE_POINTS = 60


@dataclass
class _Group:
    """One cause group's cells: their indices into the prepared groups, their keys, the non-time
    design columns (``X_other``) and those of full rank ``Xo`` (cells, q), answers, counts and
    cluster codes of its cells."""

    level: str
    cells: np.ndarray
    keys: pd.DataFrame
    X_other: np.ndarray
    Xo: np.ndarray
    y: np.ndarray
    n_g: np.ndarray
    cluster: np.ndarray
    n_clusters: int

    @property
    def n(self) -> int:
        return int(self.n_g.sum())


@dataclass
class _Model:
    """One logit of a group: kind ``null`` (basis 1, z), ``hinge`` or ``step`` (1, z, c) at ``psi``;
    ``b`` in the row path's column order (``[c,] Xo..., z``)."""

    group: int
    kind: str
    psi: float
    b: np.ndarray
    it: int = 0
    state: str = "run"  # run -> [final: the null's pass at its estimate ->] done | failed
    dev: float = np.nan
    info: np.ndarray | None = None
    sums: dict = field(default_factory=dict)


def group_shapes_on(engine: Engine, source: Source, *, plan, instrument,
                    bounds: dict[str, tuple[float, float]] | None = None) -> dict[str, dict]:
    """Every cause group's :func:`research.models.thresholds.group_shape` columns, through ``engine``.

    Parameters
    ----------
    engine, source : where the responses are (any engine; a frame or a dataset folder).
    plan : its ``thresholds`` section (formula, cluster, change point, minimum sizes).
    bounds : optional ``{cause_l1 level: (lo, hi)}``, the group's ``reference_quantile`` and
        ``upper_quantile`` of ``log2(1 + hours)`` when the caller has them already; default
        computed here (:func:`research.models.aggregate.quantiles.group_quantiles`, a few passes).

    Returns
    -------
    ``{cause_l1 level: dict}`` in the order of the cause groups (the row path's), each with the
    columns of :func:`research.models.thresholds.group_shape` (hours; percentage points).
    """
    from research.models.thresholds import empty_shape, enough_data

    spec = plan.thresholds
    if spec is None:
        raise ValueError("the plan has no thresholds section")
    prepared, groups = _cells(engine, source, plan, instrument)
    out, large = {}, []
    for i, g in enumerate(groups):
        out[g.level] = empty_shape(int(g.n_g[g.y == 0].sum()))
        if not enough_data(g.n, out[g.level]["n_dissatisfied"], int(g.n_g[g.y == 1].sum()), spec):
            continue
        if g.n <= spec.change_point_calibration_max_n:
            out[g.level] = _small_group(engine, source, g, spec, plan.conf_level)
        else:
            large.append(i)
    if large:
        if bounds is None:
            from research.models.aggregate.quantiles import group_quantiles

            level = np.full(len(prepared.groups), -1)
            for j, i in enumerate(large):
                level[groups[i].cells] = j
            q = group_quantiles(engine, prepared, col("g1"), level, [spec.reference_quantile, spec.upper_quantile])
            bounds = {groups[i].level: (float(q[j, 0]), float(q[j, 1])) for j, i in enumerate(large)}
        missing = [groups[i].level for i in large if groups[i].level not in bounds]
        if missing:
            raise ValueError(f"change points: no breakpoint range (bounds) for cause group(s) {', '.join(missing)}")
        _large_groups(engine, prepared, groups, large, bounds, spec, plan.conf_level, out)
    return out


def _cells(engine: Engine, source: Source, plan, instrument) -> tuple:
    """The prepared cells (``g1 = z``) and each cause group's :class:`_Group`, in the row path's
    order of the cause groups."""
    from research.models.aggregate.cells import cell_design
    from research.models.aggregate.fit import _formula_variables
    from research.models.aggregate.thresholds import _variables
    from research.stats.changepoint import full_rank_columns

    spec = plan.thresholds
    variables = _variables(spec)
    keys = tuple(v for v in variables if v != "handling_hours")
    prepared = engine.prepare(source, keys, {"g1": fn("log2", 1 + col(column_name("handling_hours")))},
                              ("handling_hours",))
    cells = prepared.groups
    # the non-time columns do not depend on the knots: any distinct ones build the design
    cd = cell_design(cells, rhs=spec.rhs, intercept=True, variables=variables,
                     formula_variables=_formula_variables(), reference_levels=plan.reference_levels,
                     instrument=instrument, knots=np.linspace(0.5, 5.0, len(spec.knots_quantiles)))
    other = np.flatnonzero(~np.any(cd.C[:, :, 1:] != 0, axis=(0, 2)))
    X_other = cd.C[:, other, 0]
    y = cells["satisfied"].to_numpy(dtype=float)
    n_g = cells["n"].to_numpy(dtype=float)
    level = cells["cause_l1"].astype(str).to_numpy()
    cluster = cells[spec.bootstrap_cluster].astype(str).to_numpy()
    out = []
    for lv in cd.frame["cause_l1"].cat.categories:
        at = np.flatnonzero(level == lv)
        if not len(at):
            continue
        Xa = X_other[at]
        Xo = Xa[:, full_rank_columns(Xa * np.sqrt(n_g[at])[:, None])]
        codes, labels = pd.factorize(cluster[at])
        out.append(_Group(str(lv), at, cells.iloc[at][list(keys)].reset_index(drop=True), Xa, Xo, y[at], n_g[at],
                          codes, len(labels)))
    return prepared, out


def _small_group(engine: Engine, source: Source, g: _Group, spec, conf_level: float) -> dict:
    """A group of at most ``calibration_max_n`` tickets: its rows fetched in the row path's order,
    then :func:`research.models.thresholds.shape_of_rows` on them."""
    from research.models.aggregate.thresholds import _variables
    from research.models.thresholds import shape_of_rows
    from research.stats.changepoint import full_rank_columns

    if g.n > spec.change_point_calibration_max_n:
        raise NotEstimable(f"thresholds: cause group {g.level} has {g.n:,} tickets, more than the "
                           f"{spec.change_point_calibration_max_n:,} whose rows may be fetched for the calibration")
    variables = _variables(spec)
    rows, first = engine.level_rows(source, variables, "cause_l1", g.level)
    keys = list(g.keys.columns)
    at = rows[keys].merge(g.keys.assign(_cell=np.arange(len(g.keys))), on=keys, how="left",
                          validate="many_to_one")["_cell"].to_numpy()
    Xo = g.X_other[at]
    Xo = Xo[:, full_rank_columns(Xo)]  # the rows' own choice, as the row path makes it
    z = np.log2(1 + rows["handling_hours"].to_numpy())
    y = rows["satisfied"].to_numpy()
    return shape_of_rows(np.column_stack([Xo, z]), z, y, g.cluster[at], first, spec, conf_level)


def _model_sums(null: bool) -> tuple[list[dict[str, Expr]], dict[str, Expr]]:
    """The row expressions of a model (its slot's parameters ``a0, a1, a2``, ``psi`` and ``h``, 1
    for a hinge, 0 for a step) in four stages of lets: the change term ``c`` (``relu(z - psi)`` or
    ``1(z > psi)``; exactly one of them), ``eta``, ``p`` and the row's log-likelihood
    ``log_expit(+-eta)`` (the sign of its answer: the row path's two terms, one of them times 0),
    ``w = p (1 - p)`` and ``r = y - p``; and its measures: ``w G_m G_l`` and ``r G_m`` over the basis
    ``G = (1, z, c)`` and the log-likelihood. The ``null`` (``a2 = 0``, basis ``(1, z)``) adds the slope's
    sums (``p1 = expit(eta + a1)``, ``a1`` its coefficient of z)."""
    z, y, h, psi = col("g1"), col("y"), col("h"), col("psi")
    c, e, p, q, w, r, v = (col(n) for n in ("c", "e", "p", "q", "w", "r", "v"))
    G = [None, z] if null else [None, z, c]
    lets = [{"c": h * fn("relu", z - psi) + (1 - h) * fn("gt", z, psi)}] if not null else []
    lets += [{"e": col("a0") + sum((col(f"a{m}") * G[m] for m in range(2, len(G))), col("a1") * z)},
             {"p": fn("expit", e), "l": fn("log_expit", e * (2 * y - 1)),
              **({"q": fn("expit", e + col("a1"))} if null else {})},
             {"w": p * (1 - p), "r": y - p, **({"v": q * (1 - q)} if null else {})}]
    out = {f"w{m}{l}": w if m == 0 and l == 0 else (w * G[l] if m == 0 else w * G[m] * G[l])
           for m in range(len(G)) for l in range(m, len(G))}
    out.update({f"r{m}": r if m == 0 else r * G[m] for m in range(len(G))})
    out["ll"] = col("l")
    if null:
        out.update({"d": q - p, "v1": v, "v1z": v * z})
    return lets, out


def _design(g: _Group, kind: str) -> np.ndarray:
    """The group's cell design (cells, p, M) of a model in the row path's column order."""
    q = g.Xo.shape[1]
    alt = kind != "null"
    C = np.zeros((len(g.cells), q + 1 + alt, 2 + alt))
    C[:, alt:alt + q, 0] = g.Xo
    C[:, alt + q, 1] = 1.0
    if alt:
        C[:, 0, 2] = 1.0
    return C


def _second(s: dict, M: int) -> np.ndarray:
    out = np.empty((len(s["w00"]), M, M))
    for m in range(M):
        for l in range(m, M):
            out[:, m, l] = out[:, l, m] = s[f"w{m}{l}"]
    return out


def _run(engine: Engine, prepared, groups: list[_Group], models: list[_Model]) -> None:
    """Iterate every model to its estimate and deviance (or failure), all in the same passes: one
    slot per model, over its own group's cells."""
    designs = {(i, k): _design(groups[i], k) for i in {m.group for m in models} for k in ("null", "hinge", "step")}
    null = models[0].kind == "null" if models else False
    lets, measures = _model_sums(null)
    while True:
        live = [m for m in models if m.state in ("run", "final")]
        if not live:
            return
        cols: dict[str, list] = {k: [] for k in ("gid", "slot", "y", "a0", "a1", "a2", "psi", "h")}
        for j, m in enumerate(live):
            g = groups[m.group]
            a = np.einsum("gjm,j->gm", designs[(m.group, m.kind)], m.b)
            k = len(g.cells)
            for name, v in (("gid", g.cells), ("slot", np.full(k, j)), ("y", g.y), ("a0", a[:, 0]), ("a1", a[:, 1]),
                            ("a2", a[:, 2] if a.shape[1] > 2 else np.zeros(k)), ("psi", np.full(k, m.psi)),
                            ("h", np.full(k, float(m.kind != "step")))):
                cols[name].append(v)
        params = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
        s = engine.sums(prepared, measures, params, lets=lets)
        arrays = {k: s[k].to_numpy() for k in measures}
        start = 0
        for m in live:
            k = len(groups[m.group].cells)
            _step(m, designs[(m.group, m.kind)], {name: v[start:start + k] for name, v in arrays.items()})
            start += k


def _step(m: _Model, C: np.ndarray, s: dict) -> None:
    """One Newton step of ``m`` from its pass's sums over its group's cells. The null takes one more
    pass at its estimate (its deviance, information and the slope's sums). An alternative keeps the
    deviance of the pass that took its last step: that step is at most 1e-10 in every coefficient,
    so the deviance at the estimate differs by about ``step' H step`` (below 1e-12 on a million
    rows; the row path evaluates it after the step): one pass fewer per phase."""
    M = C.shape[2]
    # dense: a group's design has a dozen columns (algebra.cross's sparse products pay off for many)
    H = np.tensordot(np.matmul(C, _second(s, M)), C, axes=([0, 2], [0, 2]))
    H = (H + H.T) / 2
    m.dev = -2 * float(s["ll"].sum())
    if m.state == "final":
        m.info, m.sums, m.state = H, s, "done"
        return
    if m.it >= MAX_ITER or not np.isfinite(H).all():
        m.state = "failed"
        return
    try:
        step = np.linalg.solve(H, vec(C, np.column_stack([s[f"r{i}"] for i in range(M)])))
    except np.linalg.LinAlgError:
        m.state = "failed"
        return
    if not np.isfinite(step).all():
        m.state = "failed"
        return
    m.b = m.b + step
    m.it += 1
    if np.max(np.abs(step), initial=0.0) <= TOL:
        m.state = "final" if m.kind == "null" else "done"


def _large_groups(engine: Engine, prepared, groups: list[_Group], large: list[int], bounds: dict, spec,
                  conf_level: float, out: dict) -> None:
    """The groups above ``calibration_max_n`` tickets from sums: null fits, Davies' two processes,
    the profiles of the groups where a change point is found, the slope per doubling (``out``
    filled in place, as :func:`research.models.thresholds.shape_of_rows` would)."""
    from research.models.thresholds import shape_columns
    from research.stats.changepoint import (KINDS, change_point_decision, davies_bound, hansen_cut, profile_interval,
                                            with_breakpoint)

    todo = [i for i in large if bounds[groups[i].level][1] > bounds[groups[i].level][0]]
    null = {i: _Model(i, "null", 0.0, np.zeros(groups[i].Xo.shape[1] + 1)) for i in todo}
    _run(engine, prepared, groups, list(null.values()))
    todo = [i for i in todo if null[i].state == "done"]
    values = {i: np.linspace(*bounds[groups[i].level], spec.change_point_points) for i in todo}
    alt = {(i, k): [_Model(i, k, float(v), np.r_[0.0, null[i].b]) for v in values[i]] for i in todo for k in KINDS}
    _run(engine, prepared, groups, [m for ms in alt.values() for m in ms])
    decision = {}
    for i in todo:
        try:
            dv = {k: davies_bound(*_process(null[i], alt[(i, k)])) for k in KINDS}
        except NotEstimable:
            continue
        decision[i] = change_point_decision(dv, spec.change_point_alpha)
    found = [i for i in decision if decision[i]["found"]]
    grid = {i: np.linspace(*bounds[groups[i].level], PROFILE_POINTS) for i in found}
    prof = {(i, k): [_Model(i, k, float(v), np.r_[0.0, null[i].b]) for v in grid[i]] for i in found for k in KINDS}
    _run(engine, prepared, groups, [m for ms in prof.values() for m in ms])
    chi2 = float(stats.chi2.ppf(conf_level, 1))
    for i in decision:
        cp = decision[i]
        if cp["found"]:
            bp = {}
            for k in KINDS:
                dev = np.array([m.dev if m.state == "done" else np.inf for m in prof[(i, k)]])
                coef = np.array([m.b[0] if m.state == "done" else np.nan for m in prof[(i, k)]])
                if not np.isfinite(dev).any():
                    break
                bp[k] = profile_interval(grid[i], dev, coef, hansen_cut(conf_level) if k == "step" else chi2)
            if len(bp) < len(KINDS):
                continue  # NotEstimable on the rows: no change-point logit could be fitted
            with_breakpoint(cp, bp)
        out[groups[i].level] = shape_columns(out[groups[i].level], cp, _slope(groups[i], null[i], conf_level), 0)


def _process(null: _Model, models: list[_Model]) -> tuple[list, list]:
    """Davies' signed roots of the LR statistic at the breakpoints whose logit was fitted."""
    proc = [np.sqrt(max(null.dev - m.dev, 0.0)) * np.sign(m.b[0]) for m in models if m.state == "done"]
    return proc, [m.psi for m in models if m.state == "done"]


def _slope(g: _Group, null: _Model, conf_level: float) -> dict:
    """:func:`research.stats.changepoint.slope_per_doubling` from the null's last pass."""
    from research.stats.changepoint import slope_interval

    s, n = null.sums, g.n
    est = 100 * float(s["d"].sum()) / n
    grad1 = np.r_[g.Xo.T @ s["v1"], s["v1z"].sum() + s["v1"].sum()]
    grad0 = np.r_[g.Xo.T @ s["w00"], s["w01"].sum()]
    grad = 100 * (grad1 / n - grad0 / n)
    bread = np.linalg.inv(null.info)
    C = _design(g, "null")
    present, codes = np.unique(g.cluster, return_inverse=True)
    score = per_cluster(C, np.column_stack([s["r0"], s["r1"]]), codes, len(present))
    return slope_interval(est, grad, bread, score, n, conf_level)
