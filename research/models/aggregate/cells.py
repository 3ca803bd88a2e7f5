"""A plan model's design as groups times a numeric basis: what lets an engine fit it from sums.

Every variable of a plan formula but one is categorical or a flag; the one number is
``handling_hours`` (:data:`research.config.formula.NUMERIC_VARIABLES`). So a design row is fixed by
the row's *group* (its values of the categorical variables, the flags, the outcome and the
cluster) and by a few numeric functions of its hours, the formula's *numeric basis*
``G(h) = (1, log2(1 + h), ...)``:

    x_i = C[g(i)] @ G(h_i),   C[g] a (p, M) matrix of 0s and 1s per group g.

Then every sum a fit needs is a sum over groups of ``C[g]`` times per-group sums of ``G G'``
(weighted): exact, with no binning of hours. :func:`numeric_basis` reads the basis off the parsed
formula (:mod:`research.config.formula`), as :mod:`research.engines.expr` expressions any engine
evaluates; :func:`cell_design` finds ``C`` by building the package's own design
(:func:`research.models.design.build_design`, formulaic) on every group at a few probe hours and
solving for it, then checks that the decomposition reproduces the design exactly (it must, for
every formula of the plan's grammar), so the column names, coding and reference levels are the
row-level path's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.config.formula import FUNCTIONS, NUMERIC_VARIABLES, Call, Offset, Variable, parse_rhs
from research.engines.base import column_name
from research.engines.expr import Expr, col, fn, num
from research.errors import NotEstimable

#: groups per block when the design is built at the probe hours (bounds that frame's size)
BLOCK_GROUPS = 20_000


def _factor_exprs(factor, knots) -> list[Expr]:
    """Expressions of one numeric factor (several for ``rcs``)."""
    if isinstance(factor, Variable):
        return [col(column_name(factor.name))]
    if isinstance(factor, Offset):
        return [num(float(factor.constant)) + col(column_name(factor.variable.name))]
    if isinstance(factor, Call):
        args = _factor_exprs(factor.argument, knots)
        if factor.function == "rcs":
            return [e for a in args for e in _rcs_exprs(a, knots)]
        return [fn({"log": "ln"}.get(factor.function, factor.function), a) for a in args]
    raise TypeError(f"not a formula factor: {factor!r}")


def _rcs_exprs(x: Expr, knots) -> list[Expr]:
    """:func:`research.models.design.rcs_basis` as expressions (Harrell's restricted cubic
    spline, ``Hmisc::rcspline.eval(x, knots, inclx = TRUE, norm = 2)``)."""
    if knots is None:
        raise ValueError("rcs() needs knots")
    t = [float(v) for v in knots]
    k = len(t)
    scale = (t[-1] - t[0]) ** 2
    tail1 = fn("cube", fn("relu", x - t[-2]))
    tail2 = fn("cube", fn("relu", x - t[-1]))
    out = [x]
    for j in range(k - 2):
        c = (fn("cube", fn("relu", x - t[j])) - tail1 * ((t[-1] - t[j]) / (t[-1] - t[-2]))
             + tail2 * ((t[-2] - t[j]) / (t[-1] - t[-2])))
        out.append(c / scale)
    return out


def numeric_basis(rhs: str, *, variables: tuple[str, ...], knots=None) -> list[Expr]:
    """The numeric basis of a formula, without the constant: one expression per distinct product
    of a term's numeric factors (``[log2(1 + h)]`` for ``cause_l2 + log2(1 + handling_hours)``),
    in order of first appearance. Empty when the formula uses no number."""
    formula = parse_rhs(rhs, source="model formula", variables=variables, functions=FUNCTIONS)
    basis: list[Expr] = []
    for term in formula.terms:
        numeric = [f for f in term.factors if set(f.variables()) & set(NUMERIC_VARIABLES)]
        if not numeric:
            continue
        products = [num(1.0)]
        for factor in numeric:
            products = [p * e if p != num(1.0) else e for p in products for e in _factor_exprs(factor, knots)]
        for p in products:
            if p not in basis:
                basis.append(p)
    return basis


@dataclass
class CellDesign:
    """``C`` (groups, p, M) with ``M = 1 + len(basis)``: column ``j`` of group ``g``'s design
    row is ``C[g, j] @ (1, basis...)``; ``names`` the design's column names; ``frame`` the groups
    typed as :func:`research.models.design.model_frame` types rows."""

    C: np.ndarray
    names: list[str]
    basis: list[Expr]
    frame: pd.DataFrame
    notes: list[str]


def _probes(basis: list[Expr]) -> tuple[np.ndarray, np.ndarray]:
    """Probe hours and the basis at them, ``(R,)`` and ``(R, M)``, of full column rank: hours
    spread from minutes to a year, so every spline knot interval holds some."""
    m = 1 + len(basis)
    hours = np.geomspace(0.02, 9000.0, max(2 * m + 1, 3))
    G = np.column_stack([np.ones_like(hours)] + [np.broadcast_to(e.numpy({column_name("handling_hours"): hours}),
                                                                 hours.shape) for e in basis])
    if np.linalg.matrix_rank(G) < m:
        raise NotEstimable("the formula's numeric terms are linearly dependent on the probe hours")
    return hours, G


def cell_design(groups: pd.DataFrame, *, rhs: str, intercept: bool, variables: tuple[str, ...],
                formula_variables: tuple[str, ...], reference_levels: dict, instrument, knots=None,
                typed: pd.DataFrame | None = None) -> CellDesign:
    """The decomposition of the module docstring for the groups of :meth:`Engine.prepare`.

    ``variables``: the model's variables (its model frame); ``formula_variables``: the names a
    formula may use (for the parser); ``typed``: the categories to code with (a counterfactual
    copy of the groups, "every ticket given sub-cause s", keeps the fitted model's coding; default:
    the groups' own, as a model frame of them types them). Raises NotEstimable as
    :func:`research.models.design.build_design` does (a rank-deficient design at the probes).
    """
    from research.models.design import build_design, formula_context, model_frame

    basis = numeric_basis(rhs, variables=formula_variables, knots=knots)
    hours, G = _probes(basis)
    pinv = np.linalg.pinv(G)  # (M, R)
    uses_hours = "handling_hours" in variables
    notes: list[str] = []
    # the groups typed once (categories, reference levels and their notes from every group)
    if typed is None:
        typed, _ = model_frame(groups.assign(handling_hours=1.0) if uses_hours else groups, variables,
                               reference_levels=reference_levels, instrument=instrument, notes=notes)
    # the design depends on the formula's own variables only: build it once per distinct
    # combination of those (the outcome and a cluster outside the formula only split groups)
    formula = parse_rhs(rhs, source="model formula", variables=formula_variables, functions=FUNCTIONS)
    used = [v for v in variables if v in formula.variables() and v != "handling_hours"]
    if used:
        inverse = groups.groupby(used, sort=False, dropna=False).ngroup().to_numpy()
        firsts = np.unique(inverse, return_index=True)[1]
    else:
        inverse, firsts = np.zeros(len(groups), dtype=np.int64), np.arange(min(len(groups), 1))
    distinct = groups.iloc[firsts]
    blocks, names = [], None
    for start in range(0, len(distinct), BLOCK_GROUPS):
        part = distinct.iloc[start:start + BLOCK_GROUPS]
        rep = part.loc[part.index.repeat(len(hours)), [v for v in variables if v != "handling_hours"]]
        if uses_hours:
            rep = rep.assign(handling_hours=np.tile(hours, len(part)))
        frame, _ = model_frame(rep.reset_index(drop=True), variables, reference_levels=reference_levels,
                               instrument=instrument)
        for v in frame.columns:  # a block may lack a level: the categories of every group
            if hasattr(typed[v], "cat"):
                frame[v] = pd.Categorical(frame[v].astype(str), categories=typed[v].cat.categories)
        design = build_design(frame, rhs, intercept=intercept, context=formula_context(knots), check_rank=False)
        names = design.names
        X = design.X.reshape(len(part), len(hours), -1)
        C = np.einsum("mr,grj->gjm", pinv, X)
        back = np.einsum("gjm,rm->grj", C, G)
        if not np.allclose(back, X, rtol=1e-9, atol=1e-9):  # the grammar guarantees it; a check
            raise RuntimeError(f"formula {rhs!r}: the design does not decompose into groups and a numeric basis")
        rounded = np.round(C)
        if np.max(np.abs(C - rounded), initial=0.0) < 1e-7:
            C = rounded  # dummies and flags: exactly 0 and 1, as in the row-level design
        blocks.append(C)
    C = np.concatenate(blocks)[inverse] if blocks else np.zeros((0, 0, len(basis) + 1))
    return CellDesign(C=C, names=names or [], basis=basis, frame=typed, notes=notes)
