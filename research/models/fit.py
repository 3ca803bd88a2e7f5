"""Fit one model of the analysis plan on the complete cases of its variables.

:func:`fit_model` builds the model frame and design, checks that the data can support the
model (:func:`estimable`), falls back to model-based standard errors on a single cluster
(:func:`single_cluster_fallback`) and calls the estimator of the model's family, looked up in
:data:`research.models.families.FAMILIES` (the one dispatch table; docs/howto.md, "How to add
a model family"). The result is a :class:`research.models.fitted.FittedModel`;
:mod:`research.models.tidy` turns it into the result tables.

Inference (issue 11): every plan model but the mixed one clusters by station.
CR1 fits (OLS, logit, ordinal: :func:`research.stats.sandwich.cluster_robust_vcov`)
test with Student's t on G - 1 df (Stata's ``vce(cluster)`` convention,
``clubSandwich::coef_test(test = "naive-t")``); ``se: cr2`` (linear models) gives
clubSandwich's CR2 with Bell–McCaffrey (Satterthwaite) df per contrast. One rule
(:func:`research.models.fitted.inference_df`) serves coefficients, predictions and marginal
effects. Checked against R in ``tests/models/test_inference.py``.

A single cluster (a one-station export): no cluster-robust covariance exists (it
needs at least 2 clusters), so a clustered model is fitted with model-based
standard errors instead (:func:`single_cluster_fallback`): ``se_type`` ``model``
in ``model_fit``, the reason in the ``method`` label of every estimate and in the
model's notes. Such standard errors ignore any correlation within the station.

The names this module had before the split stay importable from it: ``FittedModel``,
``inference_df``, ``df_note``, ``CLUSTERED`` (:mod:`research.models.fitted`), ``Family``,
``FAMILIES`` (:mod:`research.models.families`), ``tidy_estimates``, ``tidy_fit``,
``adjust_pvalues``, ``ADJUSTED_FAMILY`` (:mod:`research.models.tidy`) and the estimators
``_fit_*``, ``_logit_newton`` (:mod:`research.models.estimators`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from research.config.instrument import Instrument
from research.config.plan import ModelSpec, Plan
from research.errors import NotEstimable
from research.models.design import build_design, formula_context, model_frame
from research.models.estimators import (_fit_linear, _fit_logit, _fit_mixed, _fit_ordinal,  # noqa: F401
                                        _fit_ordinal_of, _logit_newton)
from research.models.families import FAMILIES, Family, family_of  # noqa: F401
from research.models.fitted import CLUSTERED, FittedModel, df_note, inference_df  # noqa: F401
from research.models.tidy import ADJUSTED_FAMILY, adjust_pvalues, tidy_estimates, tidy_fit  # noqa: F401

#: fewest complete rows a model is fitted on
MIN_ROWS = 10


def estimable(spec: ModelSpec, frame: pd.DataFrame) -> list[str]:
    """Check that a model frame can support the model, before any fitting.

    Parameters
    ----------
    spec : the model's plan entry.
    frame : its complete cases (:func:`research.models.design.model_frame`).

    Returns
    -------
    Notes for the results: each categorical variable of the right-hand side with a
    single level in the data (nothing to compare: its main effect has no columns).

    Raises
    ------
    NotEstimable
        Fewer than :data:`MIN_ROWS` complete rows; an outcome taking a single value;
        fewer than 2 clusters (``se: cluster``; :func:`fit_model` falls back to model-based
        standard errors before asking) or groups (``mixed``); a number or flag
        of the right-hand side taking a single value. Messages name the model and the
        variable, never a data value.
    """
    n = len(frame)
    if n < MIN_ROWS:
        raise NotEstimable(f"model {spec.name}: only {n} complete rows of its variables "
                           f"({', '.join(spec.variables())}); at least {MIN_ROWS} are needed")
    if frame[spec.outcome].nunique() < 2:
        raise NotEstimable(f"model {spec.name}: the outcome {spec.outcome} takes a single value in its "
                           f"{n:,} complete rows: there is nothing to model")
    for role, name in (("standard errors clustered by {} need", spec.cluster if spec.se in CLUSTERED else None),
                       ("a random intercept per {} needs", spec.group if family_of(spec.family, spec.name).grouped else None)):
        if name is not None and frame[name].nunique() < 2:
            raise NotEstimable(f"model {spec.name}: {role.format(name)} at least 2 levels of {name}; "
                               f"the data have {frame[name].nunique()}")
    rhs_only = [v for v in frame.columns if v not in (spec.outcome, spec.cluster, spec.group)]
    single = [v for v in rhs_only if frame[v].nunique() < 2]
    constant = [v for v in single if not isinstance(frame[v].dtype, pd.CategoricalDtype)]
    if constant:  # a constant number or flag is collinear with the intercept / cutpoints
        raise NotEstimable(f"model {spec.name}: {', '.join(constant)} takes a single value in its {n:,} complete "
                           "rows, so its effect cannot be estimated (take it out of the model's rhs in the plan)")
    return [f"{v} has a single level in the data: the model cannot compare its levels (no {v} effect)"
            for v in single]


def single_cluster_fallback(spec: ModelSpec, frame: pd.DataFrame) -> tuple[ModelSpec, str, str]:
    """A clustered model on data with a single cluster: ``(spec, label, note)``.

    A cluster-robust covariance (CR1, CR2) needs at least 2 clusters: with one, the
    single cluster's score total is zero at the estimate and the CR1 factor G / (G - 1)
    is undefined (statsmodels divides by zero).
    Rather than refuse the model, it is fitted with its model-based covariance
    (the family's ``model_based`` standard errors; the plan's ``se: model``): the returned ``spec`` has ``se:
    model`` and keeps ``cluster`` (so ``model_fit`` shows the station and ``n_clusters``
    1), ``label`` is appended to the method of every estimate and ``note`` goes to the
    model's notes. Those standard errors ignore any correlation of answers within the
    station, so they may be too small. Any other model: ``(spec, "", "")`` unchanged.
    """
    model_based = family_of(spec.family, spec.name).model_based
    if spec.se not in CLUSTERED or model_based is None or frame[spec.cluster].nunique() >= 2:
        return spec, "", ""
    label = f"model-based standard errors: a single {spec.cluster} in the data, and clustering needs at least 2"
    note = (f"a single {spec.cluster} in the data: standard errors are model-based ({model_based}), "
            f"not clustered by {spec.cluster} as the plan asks (a cluster-robust covariance needs at least 2 "
            f"clusters); they ignore any correlation of answers within the {spec.cluster} and may be too small")
    return dataclasses.replace(spec, se="model"), label, note


def fit_model(spec: ModelSpec, responses: pd.DataFrame, *, plan: Plan, instrument: Instrument) -> FittedModel:
    """Fit one model of the plan on the complete cases of its variables.

    Parameters
    ----------
    spec : the model's plan entry.
    responses : canonical responses (research.ingestion.schema.RESPONSES).
    plan : gives the reference levels.
    instrument : gives category orders and the answer scale.

    Returns
    -------
    FittedModel

    Raises
    ------
    NotEstimable
        (an InputError) The data cannot support the model: see :func:`estimable`, a
        rank-deficient design, an empty answer level, a fit that fails (singular
        information matrix) or gives non-finite estimates. A clustered model on a
        single station is fitted with model-based standard errors instead, with a
        note (:func:`single_cluster_fallback`).
    """
    notes: list[str] = []
    frame, rows = model_frame(responses, spec.variables(), reference_levels=plan.reference_levels,
                              instrument=instrument, notes=notes)
    spec, fallback, why = single_cluster_fallback(spec, frame) if len(frame) else (spec, "", "")
    if why:
        notes.append(why)
    notes += estimable(spec, frame)
    family = family_of(spec.family, spec.name)
    try:
        design = build_design(frame, spec.rhs, intercept=family.intercept, context=formula_context())
    except NotEstimable as exc:  # a rank-deficient design: the data's doing, not the plan's
        raise NotEstimable(f"model {spec.name}: {str(exc).removeprefix('analysis plan: ')}") from None
    out = family.fit(spec, design, frame, instrument)
    if not (np.isfinite(out["params"]).all() and np.isfinite(np.diag(out["vcov"])).all()):
        raise NotEstimable(f"model {spec.name}: the fit gives non-finite estimates or standard errors "
                           "(a singular information matrix: some level or combination is too sparse)")
    names = design.names + out["cut_names"]
    kinds = ["coefficient"] * out["n_beta"] + ["cutpoint"] * len(out["cut_names"])
    out["stats"]["n_dropped"] = int(len(responses) - len(frame))
    if spec.se in CLUSTERED:
        out["stats"]["n_clusters"] = int(frame[spec.cluster].nunique())
    if out["stats"].get("warning"):
        notes.append(out["stats"].pop("warning"))
    fm = FittedModel(spec=spec, design=design, frame=frame, rows=rows, y=out["y"], params=out["params"],
                     vcov=out["vcov"], names=names, kinds=kinds, n_beta=out["n_beta"],
                     df_resid=out["df_resid"], stats=out["stats"],
                     se_method=out["se_method"] + (f"; {fallback}" if fallback else ""),
                     extra=out.get("extra", {}))
    if df_note(fm):
        notes.append(df_note(fm))
    fm.stats["notes"] = "; ".join(notes)
    return fm

