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

from research.stats.design_based import Calibration, design_df, svy_glm_logit_fit, svy_olr_fit
from research.errors import InputError
from research.config.instrument import Instrument
from research.models.design import build_design, formula_context, model_frame
from research.models.fit import FittedModel, df_note
from research.config.plan import ModelSpec, Plan

FAMILIES = ("logit", "ordinal")


def fit_weighted_model(spec: ModelSpec, responses: pd.DataFrame, weights, *, cluster: str, plan: Plan,
                       instrument: Instrument, calibration: Calibration | None = None) -> FittedModel:
    """Design-based fit of one logit or ordinal model of the plan.

    Parameters
    ----------
    spec : a plan model of family ``logit`` or ``ordinal``.
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
        Another family, weights that do not match the rows, too few rows, or a
        fit that fails.
    """
    if spec.family not in FAMILIES:
        raise InputError(f"model {spec.name}: survey-weighted fits exist for {list(FAMILIES)}, "
                         f"not {spec.family}")
    w_all = np.asarray(weights, dtype=float)
    if w_all.shape != (len(responses),) or not np.isfinite(w_all).all() or (w_all <= 0).any():
        raise InputError(f"model {spec.name}: need one finite positive weight per response "
                         f"({len(responses)}), got {w_all.shape[0] if w_all.ndim else 0}")
    if cluster not in responses.columns:
        raise InputError(f"model {spec.name}: cluster column {cluster!r} is absent")
    if responses[cluster].isna().any():
        raise InputError(f"model {spec.name}: cluster column {cluster!r} has "
                         f"{int(responses[cluster].isna().sum())} missing values")
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
    design = build_design(frame, spec.rhs, intercept=spec.family == "logit", context=formula_context())
    raw = frame[spec.outcome].to_numpy(dtype=float)
    try:
        if spec.family == "logit":
            fit = svy_glm_logit_fit(design.X, raw, w, clusters, names=design.names, calibration=calibration,
                                    design_rows=rows)
            y, cut_names = raw, []
        else:
            scale = next(i.scale for i in instrument.items if i.name == spec.outcome)
            levels = np.asarray(instrument.scales[scale].codes)
            y = np.searchsorted(levels, raw.astype(int))
            present = np.unique(y)
            if len(present) != len(levels):
                absent = [int(v) for v in levels if np.searchsorted(levels, v) not in present]
                raise InputError(f"model {spec.name}: answer level(s) {absent} of {spec.outcome} "
                                 "have no respondents; the proportional-odds fit needs every level")
            fit = svy_olr_fit(design.X, y, w, clusters, names=design.names, levels=[str(v) for v in levels],
                              calibration=calibration, design_rows=rows)
            cut_names = fit.names[design.X.shape[1]:]
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
        raise InputError(f"model {spec.name} (survey-weighted): {exc}") from None
    n_beta = design.X.shape[1]
    df, reference, df_why = design_df(fit.df, fit.n_clusters, len(fit.params))
    if df_why:
        notes.append(df_why)
    stats = {"nobs": fit.nobs, "n_clusters": fit.n_clusters, "sum_weights": float(w.sum()),
             "df": df, "n_dropped": int(len(responses) - len(frame)), "notes": "; ".join(notes)}
    method = ("survey-weighted logit, pseudo-ML (R survey::svyglm quasibinomial)" if spec.family == "logit"
              else "survey-weighted proportional-odds logit, pseudo-ML (R survey::svyolr)")
    method += f"; Taylor linearization, {cluster} as PSUs"
    if calibration is not None:
        method += ", calibrated to the weighting margins"
    method += f"; {reference}"
    fm = FittedModel(spec=spec, design=design, frame=frame, rows=rows, y=y, params=fit.params,
                     vcov=fit.vcov, names=design.names + list(cut_names),
                     kinds=["coefficient"] * n_beta + ["cutpoint"] * len(cut_names), n_beta=n_beta,
                     df_resid=float(df), stats=stats, se_method=method,
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
