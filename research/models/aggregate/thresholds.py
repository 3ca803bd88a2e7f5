"""The tolerance thresholds' spline logit and its bootstrap replicates from per-station sums (issue 15),
a first part of :func:`research.models.thresholds.tolerance_thresholds` through an engine.

What is here:

- :func:`spline_cells`: the thresholds' spline logit (``satisfied`` on ``cause_l2 +
  cause_l1:rcs(log2(1 + hours)) + channel``) as a cell design (:mod:`research.models.aggregate.cells`)
  with each cause group's own knots. The knots differ by cause group, so the numeric basis is the
  union of the groups' bases: ``1, z = log2(1 + h)`` and, for each cause group ``c``, its two
  spline functions ``rcs_c1(z), rcs_c2(z)``; a group's design row uses its own cause group's
  functions only. The design's columns are the row path's (:func:`research.models.thresholds._spline_design`).
- :func:`station_pieces`: each station's score ``s_g`` and information ``H_g`` of that logit at an
  estimate, from per-(group) sums the engine computes (one pass): what
  :class:`research.models.threshold_bootstrap.StationRefits` keeps, from the rows.
- :func:`one_step_replicates`: the replicates of a cluster bootstrap as one Newton step from the
  estimate with those totals, ``b1 = b0 + (sum c_g H_g)^-1 sum c_g s_g`` (the one-step or
  estimating-function bootstrap, Andrews 2002, *Econometrica* 70:119-162): StationRefits' own
  first iterate, before its chord iteration converges each replicate on the rows.

**Where the engine route changes the computation, and by how much.** On the rows each replicate
is iterated to its own maximum likelihood estimate; from sums it is the one-step estimate, because
later steps need each replicate's score at its own coefficients, a pass over the rows per
replicate. On the committed sample (200 replicates, seed of the plan) the one-step coefficients are
up to 3.2 (logit scale) from the converged ones, for columns of rare cells; the point thresholds do
not change (they come from the full-sample fit), the curve bands move by at most 0.011 (proportion
satisfied) and the thresholds' interval ends by up to 15% of the interval's width (voltage: upper
end 112 h exact, 125 h one-step). On 1,000,000 rows the ends move by 0.9-3.6% of the width and the
bands by at most 0.0014, 3-5 times less than a change of the bootstrap's seed moves them
(``benchmarks/results/thresholds_one_step_1m.json``). :mod:`research.models.aggregate.threshold_table`
assembles the thresholds table from these pieces, the engine's quantiles and the change points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.engines.base import Engine, Source, column_name
from research.engines.expr import Expr, col, fn
from research.models.aggregate.algebra import cross, first, moment_measures, second
from research.models.aggregate.cells import _rcs_exprs, cell_design


def _variables(spec) -> tuple[str, ...]:
    from research.models.thresholds import _rhs_variables

    return tuple(dict.fromkeys(["satisfied", "cause_l1", "cause_l2", "handling_hours", "channel",
                                *(["repeat"] if "repeat" in _rhs_variables(spec.rhs) else []),
                                spec.bootstrap_cluster]))


def basis_values(knots: dict[str, np.ndarray]) -> dict[str, Expr]:
    """The union basis of :func:`spline_cells` as engine expressions of a row's hours: ``g1`` =
    ``z = log2(1 + hours)``, then each cause group's two spline functions (``g2, g3`` for the first
    group of ``knots``, ``g4, g5`` for the second, ...)."""
    z = fn("log2", 1 + col(column_name("handling_hours")))
    values = {"g1": z}
    for i, k in enumerate(knots.values()):
        parts = _rcs_exprs(z, k)[1:]
        values.update({f"g{2 + 2 * i + q}": e for q, e in enumerate(parts)})
    return values


def spline_cells(engine: Engine, source: Source, *, plan, instrument, knots: dict[str, np.ndarray]):
    """The thresholds' spline logit as :class:`research.models.aggregate.families.Cells` (its ``cluster``
    the bootstrap cluster) and the design's column names.

    ``knots``: each cause group's knots on ``log2(1 + hours)`` (as the row path chooses them,
    :func:`research.models.thresholds._group_knots`), in the order of the cause groups.
    :func:`research.models.aggregate.families.fit_logit` on the cells gives the row path's
    estimate (:func:`research.models.thresholds._logit_fit`, another start and stopping rule, the
    same maximum) to 1e-9 relative (tests/models/test_aggregate_rows.py)."""
    from research.models.aggregate.families import Cells
    from research.models.aggregate.fit import _formula_variables

    spec = plan.thresholds
    variables = _variables(spec)
    values = basis_values(knots)
    keys = tuple(v for v in variables if v != "handling_hours")
    prepared = engine.prepare(source, keys, values, ("handling_hours",))
    groups = prepared.groups
    M = len(values) + 1
    C, names = None, None
    cause = groups["cause_l1"].astype(str).to_numpy()
    typed = None
    for i, (c, k) in enumerate(knots.items()):
        rows = np.flatnonzero(cause == c)
        if not len(rows):
            continue
        cd = cell_design(groups if typed is None else groups.iloc[rows], rhs=spec.rhs, intercept=True, variables=variables,
                         formula_variables=_formula_variables(), reference_levels=plan.reference_levels,
                         instrument=instrument, knots=k, typed=typed)
        typed = cd.frame
        if C is None:
            C, names = np.zeros((len(groups), len(cd.names), M)), cd.names
        # the group's basis (1, z, rcs_1, rcs_2) onto the union basis
        part = cd.C[rows] if len(cd.C) == len(groups) else cd.C
        C[np.ix_(rows, np.arange(len(names)), [0, 1, 2 + 2 * i, 3 + 2 * i])] = part
    codes, labels = pd.factorize(groups[spec.bootstrap_cluster].astype(str))
    cells = Cells(engine=engine, prepared=prepared, C=C, y=groups["satisfied"].to_numpy(dtype=float),
                  n_g=groups["n"].to_numpy(dtype=float), cluster=codes, n_clusters=len(labels))
    return cells, names, np.asarray(labels)


def station_pieces(cells, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's score ``sum (y - p) x`` (n_clusters, p) and information ``sum p (1 - p) x x'``
    (n_clusters, p, p) of the logit at ``beta``: one engine pass, then per-cluster sums over groups."""
    from research.models.aggregate.algebra import basis_coefficients, eta, per_cluster

    M = cells.M
    e = eta(M)
    p = fn("expit", e)
    s = cells.sums({**moment_measures("w", p * (1 - p), M), **moment_measures("r", col("y") - p, M, second=False)},
                   basis_coefficients(cells.C, beta, cells.gid, y=cells.y))
    score = per_cluster(cells.C, first(s, "r", M), cells.cluster, cells.n_clusters)
    S = second(s, "w", M)
    info = np.stack([cross(cells.C[cells.cluster == g], S[cells.cluster == g]) for g in range(cells.n_clusters)])
    return score, info


def one_step_replicates(beta: np.ndarray, score: np.ndarray, info: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """One-step replicate estimates (reps, p) from per-cluster totals and the replicates' cluster
    multiplicities ``counts`` (reps, n_clusters), as StationRefits starts them: columns without
    information in the drawn clusters keep their full-sample value; NaN rows where the drawn
    information is not positive definite (StationRefits then refits on the rows)."""
    from scipy import linalg

    out = np.tile(np.asarray(beta, dtype=float), (len(counts), 1))
    present = np.diagonal(info, axis1=1, axis2=2) > 0
    for r, c in enumerate(np.asarray(counts, dtype=float)):
        act = present[c > 0].any(axis=0)
        H = np.tensordot(c, info, axes=1)[np.ix_(act, act)]
        try:
            out[r, act] = beta[act] + linalg.cho_solve(linalg.cho_factor(H), (c @ score)[act])
        except (linalg.LinAlgError, ValueError):
            out[r] = np.nan
    return out
