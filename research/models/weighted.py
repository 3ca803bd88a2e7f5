"""Survey-weighted (design-based) fits of the plan's logit and ordinal models.

:func:`fit_weighted_model` refits one plan model on the respondents with their
non-response weights, as R's ``svyglm(..., family = quasibinomial())`` (logit)
or ``svyolr(...)`` (proportional odds) on ``svydesign(ids = ~station, weights =
~w)``: pseudo-maximum likelihood with Taylor-linearization covariance, the
stations as primary sampling units (:mod:`research.stats.design_based`, checked
against R survey 4.1-1). The result is a :class:`research.models.fit.FittedModel`
carrying the weights in ``extra["weights"]``, so the predictions and average
marginal effects of :mod:`research.models.predict` average over the
*population* (weighted) rather than over the respondents.

Design degrees of freedom: the tidy estimates use Student's t with the design
df (``G - p`` for the logit, ``G - 1 - p`` for svyolr, as R), and so do the
delta-method predictions and marginal effects of the fit
(:func:`research.models.fit.inference_df`): one reference distribution per
model. When that residual design df is below 1 (no more stations than
parameters, "G <= p"), R's ``summary.svyglm`` would give no p-values; here the
fit falls back to t with ``G - 1`` df, R survey's ``degf(design)`` (the df
``svymean``'s intervals use, and Stata's ``svy`` design df), the same reference
the package's CR1 fits use when G <= p. The ``method`` label says so (never a
negative df) and the fit carries a note: the covariance has rank at most
``G - 1``, so tests rest on few PSUs and no joint Wald test is possible.
With a single PSU there is no design df at all and tests use the normal
distribution (labelled, with a note). The rule: :func:`research.stats.design_based.design_df`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.config.instrument import Instrument
from research.config.plan import ModelSpec, Plan
from research.errors import InputError
from research.models.design import build_design, formula_context, model_frame
from research.models.families import FAMILIES, family_of
from research.models.fitted import FittedModel, df_note
from research.stats.design_based import Calibration, design_df


def weighted_families() -> tuple[str, ...]:
    """The families with a survey-weighted fit (a ``weighted`` in their FAMILIES entry)."""
    return tuple(name for name, fam in FAMILIES.items() if fam.weighted is not None)


def fit_weighted_model(spec: ModelSpec, responses: pd.DataFrame, weights, *, cluster: str, plan: Plan,
                       instrument: Instrument, calibration: Calibration | None = None) -> FittedModel:
    """Design-based fit of one plan model whose family has a survey-weighted fit (logit, ordinal).

    Parameters
    ----------
    spec : a plan model of a family with a ``weighted`` fit in
        :data:`research.models.families.FAMILIES` (``logit``, ``ordinal``).
    responses : canonical responses (research.ingestion.schema.RESPONSES), one row per
        respondent of the design.
    weights : one positive weight per row of ``responses`` (work orders per
        respondent, e.g. raking weights).
    cluster : the column of primary sampling units (e.g. ``station``). Every
        cluster of ``responses`` counts in ``G``, also one whose rows are all
        incomplete for this model (R keeps such PSUs when it subsets a design).
    calibration : the margins the weights were raked / post-stratified to, over
        the rows of ``responses`` (:class:`research.stats.design_based.Calibration`);
        the covariance then excludes what the margins explain, as R's
        ``svyglm`` / ``svyolr`` on a ``rake()``-d design. None: weights taken
        as fixed.

    Returns
    -------
    FittedModel with ``se_method`` naming the design, ``df_resid`` the design
    df, ``stats`` (nobs, n_clusters, sum_weights, df, n_dropped, notes) and
    ``extra["weights"]`` (the model-frame rows' weights).

    Raises
    ------
    InputError
        A family without a survey-weighted fit, weights that do not match the rows, too few
        rows, or a fit that fails.
    """
    weighted = family_of(spec.family, spec.name).weighted
    if weighted is None:
        raise InputError(f"model {spec.name}: survey-weighted fits exist for {list(weighted_families())}, "
                         f"not {spec.family}")
    w_all = _checked_weights(spec, responses, weights, cluster)
    notes: list[str] = []
    variables = tuple(dict.fromkeys([*spec.variables(), cluster]))
    frame, rows = model_frame(responses, variables, reference_levels=plan.reference_levels,
                              instrument=instrument, notes=notes)
    if len(frame) < 10:
        raise InputError(f"model {spec.name}: only {len(frame)} complete rows")
    # every cluster of the responses, in order of appearance (codes of their text, once)
    codes, all_clusters = pd.factorize(responses[cluster].astype(str) if responses[cluster].dtype == object
                                       else responses[cluster])
    clusters = pd.Categorical.from_codes(codes[rows], categories=pd.Index(all_clusters).astype(str))
    w = w_all[rows]
    design = build_design(frame, spec.rhs, intercept=family_of(spec.family).intercept, context=formula_context())
    try:
        fit, y, cut_names, method = weighted(spec, design, frame, w, clusters, rows, instrument, calibration)
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
        raise InputError(f"model {spec.name} (survey-weighted): {exc}") from None
    return _weighted_result(spec, design, frame, rows, fit, y, list(cut_names), w, notes,
                            method=_method(method, cluster, calibration), n_responses=len(responses))


def _checked_weights(spec: ModelSpec, responses: pd.DataFrame, weights, cluster: str) -> np.ndarray:
    """The weights as a float array, after checking them and the cluster column (InputError)."""
    w_all = np.asarray(weights, dtype=float)
    if w_all.shape != (len(responses),) or not np.isfinite(w_all).all() or (w_all <= 0).any():
        raise InputError(f"model {spec.name}: need one finite positive weight per response "
                         f"({len(responses)}), got {w_all.shape[0] if w_all.ndim else 0}")
    if cluster not in responses.columns:
        raise InputError(f"model {spec.name}: cluster column {cluster!r} is absent")
    if responses[cluster].isna().any():
        raise InputError(f"model {spec.name}: cluster column {cluster!r} has "
                         f"{int(responses[cluster].isna().sum())} missing values")
    return w_all


def _method(estimator: str, cluster: str, calibration: Calibration | None) -> str:
    """The ``method`` label of a survey-weighted fit, without its reference distribution."""
    method = f"{estimator}; Taylor linearization, {cluster} as PSUs"
    if calibration is not None:
        method += ", calibrated to the weighting margins"
    return method


def _weighted_result(spec: ModelSpec, design, frame: pd.DataFrame, rows: np.ndarray, fit, y: np.ndarray,
                     cut_names: list[str], w: np.ndarray, notes: list[str], *, method: str,
                     n_responses: int) -> FittedModel:
    """The :class:`FittedModel` of a survey-weighted fit (``fit`` a
    :class:`research.stats.design_based.SvyFit`), with its design df
    (:func:`research.stats.design_based.design_df`) and notes."""
    n_beta = design.X.shape[1]
    df, reference, df_why = design_df(fit.df, fit.n_clusters, len(fit.params))
    if df_why:
        notes.append(df_why)
    stats = {"nobs": fit.nobs, "n_clusters": fit.n_clusters, "sum_weights": float(w.sum()),
             "df": df, "n_dropped": int(n_responses - len(frame)), "notes": "; ".join(notes)}
    fm = FittedModel(spec=spec, design=design, frame=frame, rows=rows, y=y, params=fit.params,
                     vcov=fit.vcov, names=design.names + cut_names,
                     kinds=["coefficient"] * n_beta + ["cutpoint"] * len(cut_names), n_beta=n_beta,
                     df_resid=float(df), stats=stats, se_method=f"{method}; {reference}",
                     extra={"weights": w, **fit.extra})
    if df_note(fm):
        fm.stats["notes"] = "; ".join(filter(None, [fm.stats["notes"], df_note(fm)]))
    return fm


def fit_model_weighted_or_not(spec, responses, weights=None, *, cluster: str, plan, instrument,
                              calibration=None):
    """:func:`research.models.fit.fit_model` without ``weights``, else :func:`fit_weighted_model`
    (survey-weighted, clustered by ``cluster``, calibration projected out): one place for the
    choice the lever, mediation and association analyses all make."""
    if weights is None:
        from research.models.fit import fit_model

        return fit_model(spec, responses, plan=plan, instrument=instrument)
    return fit_weighted_model(spec, responses, weights, cluster=cluster, plan=plan, instrument=instrument,
                              calibration=calibration)
