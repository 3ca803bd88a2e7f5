"""The repeat callers' default risk model from sums (issue 15): the logit of
:func:`research.strategy.monitoring_repeat.fit_dissatisfaction_model` (dissatisfied on ``cause_l2``,
``log2(1 + handling_hours)`` and ``repeat``; reference the first sub-cause in sorted order), fitted
through an engine so a national dataset's responses never come into memory.

Its design is written here directly as the cell design (:mod:`research.models.aggregate.cells`):
the intercept, one dummy per sub-cause after the first, the log hours (basis column 1) and the
repeat flag. The fit is :func:`research.models.aggregate.families.fit_logit` (Newton to a step of
1e-12), so the coefficients equal statsmodels' Newton fit of the rows to its own tolerance
(1e-8 on the step): about 1e-9 relative, tested in tests/models/test_aggregate.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.engines.base import Engine, Source, column_name
from research.engines.expr import col, fn
from research.errors import InputError

#: rows of the model's own checks (as fit_dissatisfaction_model)
MIN_ROWS = 10


def fit_dissatisfaction_from_sums(engine: Engine, source: Source):
    """The default risk model on the complete cases of ``source`` (the caller keeps only rows with
    a non-negative handling time, as the row-level fit does). InputError as the row-level fit."""
    from research.models.aggregate.families import Cells, fit_logit
    from research.strategy.monitoring_repeat import DissatisfactionModel

    hours = fn("log2", 1 + col(column_name("handling_hours")))
    prepared = engine.prepare(source, ("cause_l2", "repeat", "satisfied"), {"g1": hours}, ("handling_hours",))
    groups = prepared.groups
    n = prepared.n_rows
    if n < MIN_ROWS or groups["satisfied"].nunique() < 2:
        raise InputError(f"repeat_callers: responses: too few complete answers ({n}) or a single outcome "
                         "to fit the default risk model; pass risk= instead")
    levels = tuple(sorted(groups["cause_l2"].unique()))
    L = len(levels)
    C = np.zeros((len(groups), L + 2, 2))
    C[:, 0, 0] = 1.0
    cause = groups["cause_l2"].to_numpy()
    for j, level in enumerate(levels[1:], start=1):
        C[cause == level, j, 0] = 1.0
    C[:, L, 1] = 1.0
    C[:, L + 1, 0] = groups["repeat"].to_numpy(dtype=float)
    cells = Cells(engine=engine, prepared=prepared, C=C, y=1.0 - groups["satisfied"].to_numpy(dtype=float),
                  n_g=groups["n"].to_numpy(dtype=float), cluster=None, n_clusters=0)
    out = fit_logit(cells, "model")
    names = ["(Intercept)", *(f"cause_l2[{name}]" for name in levels[1:]), "log2(1 + handling_hours)", "repeat"]
    return DissatisfactionModel(levels=levels, coef=pd.Series(out["params"], index=names), nobs=int(n))
