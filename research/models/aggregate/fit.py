"""One plan model fitted through an engine: the aggregate counterpart of
:func:`research.models.fit.fit_model`, returning the same :class:`FittedModel` so
:mod:`research.models.tidy` builds the same ``estimates.csv`` and ``model_fit.csv`` rows.

The FittedModel of this path has no rows: ``frame`` is the model's groups (typed as a model frame:
its categories and reference levels are what ``model_fit`` reports), ``design.X`` is empty and
``rows``/``y`` hold nothing per row. Predictions and marginal effects, which need rows, are not
computed from it (yet): :func:`research.models.run` says so in the notes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.config.formula import NUMERIC_VARIABLES
from research.config.instrument import Instrument
from research.config.plan import ModelSpec, Plan
from research.engines.base import Engine, Source, column_name
from research.engines.expr import col
from research.errors import NotEstimable
from research.models.aggregate.cells import cell_design, numeric_basis
from research.models.aggregate.families import Cells, fit_linear, fit_logit, fit_mixed
from research.models.aggregate.ordinal import fit_ordinal
from research.models.design import Design
from research.models.fitted import CLUSTERED, FittedModel, df_note

#: fewest complete rows a model is fitted on (as research.models.fit.MIN_ROWS)
MIN_ROWS = 10


def _formula_variables() -> tuple[str, ...]:
    from research.config.plan import PROPENSITY_VARIABLES, VARIABLES

    return tuple(dict.fromkeys((*VARIABLES, *PROPENSITY_VARIABLES)))


def _check(spec: ModelSpec, groups: pd.DataFrame, typed: pd.DataFrame) -> list[str]:
    """:func:`research.models.fit.estimable` on groups and their row counts."""
    n = int(groups["n"].sum())
    if n < MIN_ROWS:
        raise NotEstimable(f"model {spec.name}: only {n} complete rows of its variables "
                           f"({', '.join(spec.variables())}); at least {MIN_ROWS} are needed")
    if groups[spec.outcome].nunique() < 2:
        raise NotEstimable(f"model {spec.name}: the outcome {spec.outcome} takes a single value in its "
                           f"{n:,} complete rows: there is nothing to model")
    from research.models.families import family_of

    grouped = family_of(spec.family, spec.name).grouped  # as models.fit.estimable asks (not the family's name)
    for name in (spec.cluster if spec.se in CLUSTERED else None, spec.group if grouped else None):
        if name is not None and groups[name].nunique() < 2:
            raise NotEstimable(f"model {spec.name}: needs at least 2 levels of {name}; the data have "
                               f"{groups[name].nunique()} (the pandas engine falls back to model-based "
                               "standard errors on a single cluster)")
    rhs_only = [v for v in typed.columns if v not in (spec.outcome, spec.cluster, spec.group)]
    single = [v for v in rhs_only if v in groups and groups[v].nunique() < 2]
    constant = [v for v in single if not isinstance(typed[v].dtype, pd.CategoricalDtype)]
    if constant:
        raise NotEstimable(f"model {spec.name}: {', '.join(constant)} takes a single value in its {n:,} complete "
                           "rows, so its effect cannot be estimated (take it out of the model's rhs in the plan)")
    return [f"{v} has a single level in the data: the model cannot compare its levels (no {v} effect)"
            for v in single]


def fit_model_on(engine: Engine, source: Source, spec: ModelSpec, *, plan: Plan,
                 instrument: Instrument) -> FittedModel:
    """Fit ``spec`` on the complete cases of its variables in ``source``, through ``engine``.

    Same result as :func:`research.models.fit.fit_model` to rounding (1e-9 relative, tested),
    except: no CR2 and no single-cluster fallback (both raise NotEstimable with a reason).
    """
    from research.models.families import family_of

    variables = tuple(spec.variables())
    numeric = tuple(v for v in variables if v in NUMERIC_VARIABLES)
    keys = tuple(v for v in variables if v not in NUMERIC_VARIABLES)
    basis = numeric_basis(spec.rhs, variables=_formula_variables())
    values = {f"g{m + 1}": e for m, e in enumerate(basis)}
    if numeric:  # the hours themselves, for counterfactual hours (research.models.aggregate.predict)
        values["h"] = col(column_name("handling_hours"))
    prepared = engine.prepare(source, keys, values, numeric)
    groups = prepared.groups
    family = family_of(spec.family, spec.name)
    if len(groups) == 0:
        raise NotEstimable(f"model {spec.name}: no complete rows of its variables ({', '.join(variables)})")
    cd = cell_design(groups, rhs=spec.rhs, intercept=family.intercept, variables=variables,
                     formula_variables=_formula_variables(), reference_levels=plan.reference_levels,
                     instrument=instrument)
    notes = cd.notes + _check(spec, groups, cd.frame)
    cluster_name = spec.cluster if spec.se in CLUSTERED else None
    codes, n_clusters = (pd.factorize(groups[cluster_name])[0], int(groups[cluster_name].nunique())) \
        if cluster_name else (None, 0)
    cells = Cells(engine=engine, prepared=prepared, C=cd.C, y=_outcome(groups, spec, instrument),
                  n_g=groups["n"].to_numpy(dtype=float), cluster=codes, n_clusters=n_clusters,
                  cluster_name=cluster_name)
    out = _dispatch(spec, cells, groups, instrument)
    if not (np.isfinite(out["params"]).all() and np.isfinite(np.diag(out["vcov"])).all()):
        raise NotEstimable(f"model {spec.name}: the fit gives non-finite estimates or standard errors")
    cut_names = out["cut_names"]
    names = cd.names + cut_names
    kinds = ["coefficient"] * out["n_beta"] + ["cutpoint"] * len(cut_names)
    out["stats"]["n_dropped"] = int(prepared.total_rows - cells.n)
    if cluster_name:
        out["stats"]["n_clusters"] = n_clusters
    if out["stats"].get("warning"):
        notes.append(out["stats"].pop("warning"))
    design = Design(X=np.empty((0, len(cd.names))), names=cd.names, spec=None, context={}, columns_of_term={},
                    variables_of_term={})
    fm = FittedModel(spec=spec, design=design, frame=cd.frame, rows=np.empty(0, dtype=int), y=out["y"],
                     params=out["params"], vcov=out["vcov"], names=names, kinds=kinds, n_beta=out["n_beta"],
                     df_resid=out["df_resid"], stats=out["stats"],
                     se_method=f"{out['se_method']} [engine {engine.name}, from sums]",
                     extra={**out.get("extra", {}), "engine": engine.name, "cells": cells, "cell_design": cd,
                            "groups": groups})
    if df_note(fm):
        notes.append(df_note(fm))
    fm.stats["notes"] = "; ".join(notes)
    return fm


def _outcome(groups: pd.DataFrame, spec: ModelSpec, instrument: Instrument) -> np.ndarray:
    raw = groups[spec.outcome].to_numpy(dtype=float)
    if spec.family != "ordinal":
        return raw
    scale = next(i.scale for i in instrument.items if i.name == spec.outcome)
    levels = np.asarray(instrument.scales[scale].codes, dtype=float)
    return np.searchsorted(levels, raw).astype(float)


def _dispatch(spec: ModelSpec, cells: Cells, groups: pd.DataFrame, instrument: Instrument) -> dict:
    if spec.family == "linear":
        out = fit_linear(cells, spec.se)
    elif spec.family == "logit":
        out = fit_logit(cells, spec.se)
    elif spec.family == "ordinal":
        scale = next(i.scale for i in instrument.items if i.name == spec.outcome)
        levels = instrument.scales[scale].codes
        out = fit_ordinal(cells, len(levels), spec.se)
        out["cut_names"] = [f"{levels[j]}|{levels[j + 1]}" for j in range(len(levels) - 1)]
    elif spec.family == "mixed":
        labels = np.unique(groups[spec.group].astype(str).to_numpy())
        codes = np.searchsorted(labels, groups[spec.group].astype(str).to_numpy())
        out = fit_mixed(cells, codes, labels, spec.group)
    else:
        raise NotEstimable(f"model {spec.name}: family {spec.family} has no aggregate fit")
    return out
