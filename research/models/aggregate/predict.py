"""Average adjusted predictions and marginal effects of a model fitted from sums (issue 15): the
tables of :func:`research.models.predict.predictions` and :func:`~research.models.predict.marginal_effects`,
computed through the engine that fitted the model.

Every quantity there is a mean over tickets of a function of the counterfactual linear predictor
``eta'``, with the delta-method gradient a mean of a weight times the counterfactual design row.
Per family (the kernels of :mod:`research.models.scales`):

- identity (linear, mixed): ``mean(eta')``, gradient ``mean(x')``;
- logit: ``mean(p)``, gradient ``mean(p (1 - p) x')``;
- ordinal: ``mean_score = K - mean(sum_j F_j)`` with ``F_j = expit(theta_j - eta')``, gradient
  ``mean(sum_j f_j x')`` and ``-mean(f_j)`` for cutpoint j; ``p_satisfied = 1 - mean(F_t)``.

A ticket's ``x' = C'[g] G(h')``: ``C'`` the cell design of its group after the change (every
ticket given sub-cause s: :func:`research.models.aggregate.cells.cell_design` on changed group
values, with the model's own categories), ``G(h')`` the numeric basis at the ticket's own hours,
at a grid value, or at twice its hours. So each mean is ``sum_g`` of per-group sums of those
expressions times ``C'[g]``: one engine pass per counterfactual, and none for the grid, whose
hours are one value (the groups' counts suffice). tests/models/test_aggregate.py checks every row
against the row-level tables to 1e-9 relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.engines.expr import Expr, col, fn, num
from research.models.aggregate.algebra import basis_column, basis_coefficients, eta
from research.models.fitted import FittedModel


def _scale_exprs(fm: FittedModel, e: Expr, threshold: int) -> dict[str, tuple]:
    """scale -> (constant, sign, A, B, {cutpoint j: f_j}) with estimate ``constant + sign mean(A)``,
    beta gradient ``mean(B x')`` and cutpoint gradients ``-mean(f_j)``."""
    family = fm.spec.family
    if family in ("linear", "mixed"):
        return {"mean_score": (0.0, 1.0, e, num(1.0), {})}
    if family == "logit":
        p = fn("expit", e)
        return {"p_satisfied": (0.0, 1.0, p, p * (1 - p), {})}
    theta = fm.cutpoints
    t = threshold - 2
    F = [fn("expit", num(float(th)) - e) for th in theta]
    f = [Fj * (1 - Fj) for Fj in F]
    sum_F, sum_f = F[0], f[0]
    for j in range(1, len(F)):
        sum_F, sum_f = sum_F + F[j], sum_f + f[j]
    return {"mean_score": (float(len(theta) + 1), -1.0, sum_F, sum_f, dict(enumerate(f))),
            "p_satisfied": (1.0, -1.0, F[t], f[t], {t: f[t]})}


def _measures(fm: FittedModel, e: Expr, basis: list[Expr], threshold: int, *,
              weighted: bool = True) -> dict[str, Expr]:
    """Per-row expressions to sum: ``A``, ``B G_m`` (``basis``: the row's G at its hours) and f_j,
    each times the row's weight for a weighted model (:meth:`Cells.weighted`) unless ``weighted``
    is False."""
    weighted = fm.extra["cells"].weighted if weighted else (lambda x: x)
    out = {}
    for k, (scale, (_, _, A, B, cuts)) in enumerate(_scale_exprs(fm, e, threshold).items()):
        out[f"s{k}_a"] = weighted(A)
        for m, g in enumerate(basis):
            out[f"s{k}_b{m}"] = weighted(B * g if m else B)
        for j, fj in cuts.items():
            out[f"s{k}_f{j}"] = weighted(fj)
    return out


def _combine(fm: FittedModel, sums: pd.DataFrame, C: np.ndarray, rows: np.ndarray, n: float,
             threshold: int) -> dict[str, tuple[float, np.ndarray]]:
    """Estimates and gradients from per-group sums, over the groups ``rows`` (indices); ``n`` their
    rows (their weight total for a weighted model): the means' divisor."""
    M = C.shape[2]
    out = {}
    for k, (scale, (const, sign, _, _, cuts)) in enumerate(_scale_exprs(fm, num(0.0), threshold).items()):
        s = sums.iloc[rows]
        est = const + sign * float(s[f"s{k}_a"].sum()) / n
        b = np.column_stack([s[f"s{k}_b{m}"].to_numpy() for m in range(M)])
        grad = np.zeros(len(fm.params))
        grad[: fm.n_beta] = np.einsum("gjm,gm->j", C[rows], b) / n
        for j in cuts:
            grad[fm.n_beta + j] = -float(s[f"s{k}_f{j}"].sum()) / n
        out[scale] = (est, grad)
    return out


def _numpy_sums(measures: dict[str, Expr], columns: dict[str, np.ndarray], weights: np.ndarray) -> pd.DataFrame:
    """Per-group sums of rows that are all alike within a group (``weights`` rows each)."""
    n = len(weights)
    return pd.DataFrame({k: weights * np.broadcast_to(np.asarray(e.numpy(columns), dtype=float), (n,))
                         for k, e in measures.items()})


def _row_basis(cd, hours_factor: float | None) -> list[Expr]:
    """The basis ``(1, g1, ...)`` at each row's hours (``None``) or at ``factor`` times them."""
    if hours_factor is None:
        return [basis_column(m) for m in range(1 + len(cd.basis))]
    h = col("h") * hours_factor
    return [num(1.0)] + [b.replace({"v_handling_hours": h}) for b in cd.basis]


def _cause_groups(groups: pd.DataFrame, parent: dict[str, str]):
    """``(cause group, indices of its groups)`` in taxonomy order, those with groups only (as
    :func:`research.models.predict._group_rows` gives rows)."""
    if "cause_l1" in groups.columns:
        cause = groups["cause_l1"].astype(str).to_numpy()
    else:
        cause = groups["cause_l2"].astype(str).map(parent).to_numpy()
    for g in dict.fromkeys(parent.values()):
        rows = np.flatnonzero(cause == g)
        if len(rows):
            yield g, rows


def _eta_at(basis: list[Expr]) -> Expr:
    """``sum_m a_m basis_m`` (the linear predictor at the hours ``basis`` is evaluated at)."""
    out = col("a0") * basis[0] if basis[0] != num(1.0) else col("a0")
    for m in range(1, len(basis)):
        out = out + col(f"a{m}") * basis[m]
    return out


def _context(fm: FittedModel):
    from research.models.aggregate.fit import _formula_variables
    from research.models.families import family_of

    return dict(rhs=fm.spec.rhs, intercept=family_of(fm.spec.family, fm.spec.name).intercept,
                variables=tuple(fm.spec.variables()), formula_variables=_formula_variables())


def predictions_from_sums(fm: FittedModel, *, parent: dict[str, str], grid_hours, threshold: int,
                          conf_level: float, reference_levels: dict, instrument) -> pd.DataFrame:
    """:func:`research.models.predict.predictions` (same rows, same order) of a model of
    :func:`research.models.aggregate.fit_model_on`."""
    from research.models.families import family_of
    from research.models.predict import average_rows

    cells, groups = fm.extra["cells"], fm.extra["groups"]
    n = cells.n
    wt = cells.weights_of_groups  # a weighted model's means are weighted: its weight totals
    scales = family_of(fm.spec.family, fm.spec.name).scales
    per_sub = subcause_averages(fm, parent=parent, threshold=threshold, reference_levels=reference_levels,
                                instrument=instrument)
    subs = list(per_sub)
    counts = pd.Series(wt).groupby(groups["cause_l2"].astype(str).to_numpy()).sum() if subs else pd.Series(dtype=float)
    out = average_rows(fm, per_sub, counts, parent=parent, scales=scales, conf_level=conf_level, n=n)
    out += _grid(fm, parent, grid_hours, threshold, conf_level, scales)
    return pd.DataFrame(out)


#: sub-causes whose averages one engine pass sums (each adds its coefficient columns to every row
#: of the pandas engine's pass: M floats per row)
SUBCAUSES_PER_PASS = 6


def subcause_averages(fm: FittedModel, *, parent: dict[str, str], threshold: int, reference_levels: dict,
                      instrument) -> dict[str, dict[str, tuple[float, np.ndarray]]]:
    """Every ticket given sub-cause ``s``, averaged: ``{s: {scale: (estimate, gradient)}}`` for each
    sub-cause of the model (empty without ``cause_l2``), one engine pass per
    :data:`SUBCAUSES_PER_PASS` sub-causes; kept in
    ``fm.extra`` under the row path's key (:data:`research.models.predict._AAP_CACHE`), so
    :func:`research.models.ranks.subcause_ranks` finds them as it finds the row path's."""
    from research.models.aggregate.cells import cell_design
    from research.models.predict import _AAP_CACHE, _aap_key

    cells, cd, groups = fm.extra["cells"], fm.extra["cell_design"], fm.extra["groups"]
    frame = cd.frame
    subs = [str(s) for s in frame["cause_l2"].cat.categories] if "cause_l2" in frame.columns else []
    has_l1 = "cause_l1" in frame.columns
    changes = [{"cause_l2": s, **({"cause_l1": parent[s]} if has_l1 else {})} for s in subs]
    key = _aap_key(threshold, changes)
    done = fm.extra.get(_AAP_CACHE, {}).get(key)
    if done is not None and list(done) == subs:
        return done
    every = np.arange(len(groups))
    measures = _measures(fm, eta(cells.M), _row_basis(cd, None), threshold)
    per_sub = {}
    for start in range(0, len(subs), SUBCAUSES_PER_PASS):
        batch, tables, asked = list(zip(subs, changes))[start:start + SUBCAUSES_PER_PASS], [], {}
        designs = []
        for i, (s, change) in enumerate(batch):
            Cs = cell_design(groups.assign(**change), reference_levels=reference_levels, instrument=instrument,
                             typed=frame, **_context(fm)).C
            designs.append(Cs)
            # sub-cause i's coefficients and measures under names of its own, so that one pass sums them all
            own = {f"a{m}": f"p{i}_a{m}" for m in range(cells.M)}
            tables.append(basis_coefficients(Cs, fm.beta, cells.gid).rename(columns=own).set_index("gid"))
            renamed = {a: col(b) for a, b in own.items()}
            asked.update({f"p{i}_{name}": e.replace(renamed) for name, e in measures.items()})
        sums = cells.sums(asked, pd.concat(tables, axis=1).reset_index())
        for i, ((s, _), Cs) in enumerate(zip(batch, designs)):
            mine = sums[[f"p{i}_{name}" for name in measures]].set_axis(list(measures), axis=1)
            per_sub[s] = _combine(fm, mine, Cs, every, float(cells.weights_of_groups.sum()), threshold)
    fm.extra.setdefault(_AAP_CACHE, {})[key] = per_sub
    return per_sub


def _grid(fm, parent, grid_hours, threshold, conf_level, scales) -> list[dict]:
    """The grid rows: a cause group's tickets all at one handling time, from the groups alone."""
    from research.engines.base import column_name
    from research.models.predict import _row

    cells, cd, groups = fm.extra["cells"], fm.extra["cell_design"], fm.extra["groups"]
    M, n_g, wt = cells.M, cells.n_g, cells.weights_of_groups
    a = np.einsum("gjm,j->gm", cells.C, fm.beta)
    out = []
    for g, rows in _cause_groups(groups, parent):
        for h in (float(v) for v in grid_hours):
            at = {column_name("handling_hours"): np.array([h])}
            G = [1.0] + [float(np.asarray(b.numpy(at)).ravel()[0]) for b in cd.basis]
            columns = {**{f"a{m}": a[:, m] for m in range(M)},
                       **{f"g{m}": np.full(len(groups), G[m]) for m in range(1, M)}}
            # a group's rows are alike here: its weight total wt stands for their weights
            sums = _numpy_sums(_measures(fm, eta(M), _row_basis(cd, None), threshold, weighted=False), columns, wt)
            res = _combine(fm, sums, cells.C, rows, float(wt[rows].sum()), threshold)
            for scale in scales:
                est, grad = res[scale]
                out.append(_row(fm, "grid", scale, est, grad, conf_level, cause_l1=g, cause_l2=None, hours=h,
                                n=int(n_g[rows].sum())))
    return out


def marginal_effects_from_sums(fm: FittedModel, *, parent: dict[str, str], multiplier: float, threshold: int,
                               conf_level: float = 0.95) -> pd.DataFrame:
    """:func:`research.models.predict.marginal_effects` (same rows) of a model fitted from sums:
    two engine passes, at the tickets' hours and at ``multiplier`` times them."""
    from research.models.predict import effect_rows

    cells, cd, groups = fm.extra["cells"], fm.extra["cell_design"], fm.extra["groups"]
    params = basis_coefficients(cells.C, fm.beta, cells.gid)
    passes = {}
    for key, factor in (("now", None), ("moved", float(multiplier))):
        basis = _row_basis(cd, factor)
        passes[key] = cells.sums(_measures(fm, _eta_at(basis), basis, threshold), params)
    out = []
    wt = cells.weights_of_groups
    for g, rows in _cause_groups(groups, parent):
        total = float(wt[rows].sum())
        now = _combine(fm, passes["now"], cells.C, rows, total, threshold)
        moved = _combine(fm, passes["moved"], cells.C, rows, total, threshold)
        out += effect_rows(fm, g, now, moved, multiplier=multiplier, conf_level=conf_level,
                           n=int(cells.n_g[rows].sum()))
    return pd.DataFrame(out)
