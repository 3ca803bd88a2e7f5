"""Levers, associations of the post-treatment variables: the satisfied rate of resolved against
unresolved tickets and of repeat against single callers, standardised over the lever model's
pre-treatment variables (g-formula standardisation; Hernán & Robins 2020, ch. 13). Differences
in *who is satisfied*, not effects of resolving or of preventing a call (both are partly
consequences of dissatisfaction, which is why the lever model leaves them out).

In: canonical responses, the plan, survey weights and raking calibration (optional). Out: one
row per compared level (:func:`associations`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from research.errors import NotEstimable

#: what the association model adjusts for beyond the lever model's pre-treatment variables
ASSOCIATION_VARIABLES = ("resolved", "repeat")

_COLUMNS = ["model", "term", "variable", "level", "reference", "rate", "reference_rate", "estimate", "std_error",
            "statistic", "p_value", "conf_low", "conf_high", "conf_level", "n", "method", "df", "n_clusters",
            "n_parameters"]


def associations(responses: pd.DataFrame, *, plan, instrument, weights: np.ndarray | None = None,
                 calibration=None) -> pd.DataFrame:
    """Satisfied rate of resolved vs unresolved and repeat vs single-call tickets: associations.

    A logit ``satisfied ~ <lever model rhs> + resolved + repeat`` (the lever
    model's pre-treatment variables: sub-cause, handling time per cause group,
    channel, station, month), clustered by station (survey-weighted when
    ``weights`` are given). For each level of resolution (against "yes") and
    for repeat calls (against none): the standardised satisfied rate with every
    ticket set to that level, averaged over the tickets (g-formula
    standardisation; Hernán & Robins 2020, ch. 13), and the difference from the
    reference level, delta-method interval and test with the fit's own reference
    distribution (:func:`research.models.fit.inference_df`, as its coefficients and
    predictions): t with G - 1 df for the clustered logit; for the survey-weighted
    logit the design df (R ``svyglm``'s G - p), or, when there are no more stations
    than parameters (G <= p, R's residual df below 1), t with G - 1 df, R survey's
    ``degf(design)`` as ``svymean`` uses (:func:`research.stats.design_based.design_df`),
    never a negative df; the normal distribution only when the fit has no t reference.

    These are differences in *who is satisfied*, not effects: the callback's
    resolution answer and repeat calls are partly consequences of
    dissatisfaction, so no lever sets them (see research.config.plan POST_TREATMENT).

    Returns
    -------
    One row per compared level: ``model`` ("associations"), ``term``
    (``resolved[partly]``, ``resolved[no]``, ``repeat[true]``), ``variable,
    level, reference, rate, reference_rate`` (0..1), ``estimate`` (rate minus
    reference rate, probability), ``std_error, statistic, p_value, conf_low,
    conf_high, conf_level, n, method``, then ``df`` (of the t reference; NaN for
    the normal), ``n_clusters`` (stations) and ``n_parameters`` (of the logit), so
    that a table can say when the stations are no more than the parameters.
    Empty when the export has no resolution or repeat answers or the model cannot
    be fitted.
    """
    from research.models.fit import inference_df
    from research.models.predict import _rows

    if plan.scenarios is None:
        return pd.DataFrame(columns=_COLUMNS)
    lever = plan.model(plan.scenarios.model)
    present = [v for v in ASSOCIATION_VARIABLES if v in responses.columns and responses[v].notna().any()]
    if not present:
        return pd.DataFrame(columns=_COLUMNS)
    fitted = _association_fit(responses, lever, present, plan=plan, instrument=instrument, weights=weights,
                              calibration=calibration)
    if fitted is None:
        return pd.DataFrame(columns=_COLUMNS)
    spec, fm = fitted
    conf = plan.conf_level
    df = inference_df(fm)  # the fit's one reference, as for its coefficients and predictions
    dist = stats.norm if df is None else stats.t(df)
    q = float(dist.ppf(0.5 + conf / 2))
    thr = instrument.satisfied_threshold
    base = _rows(fm, np.arange(len(fm.frame)))
    adjust = ", ".join(v for v in lever.variables()  # the lever model's own list, as the plan says it
                       if v != lever.outcome and v not in plan.scenarios.post_treatment)
    method = (f"standardised difference (g-formula) from a logit adjusted for {adjust}; "
              f"{fm.se_method}; an association, not an effect")
    out = []
    for var in present:
        compared = _compared_levels(fm.frame[var])
        if compared is None:
            continue
        pairs, value = compared
        for label, lev, ref in pairs:
            out.append(_difference_row(fm, base, var, label, value.get(lev, lev), value.get(ref, ref), ref,
                                       thr, dist, q))
    res = pd.DataFrame(out, columns=_COLUMNS[:13])
    g = fm.stats.get("n_clusters", fm.frame[spec.cluster].nunique())
    return res.assign(conf_level=conf, n=len(fm.frame), method=method, df=np.nan if df is None else df,
                      n_clusters=int(g), n_parameters=len(fm.params))[_COLUMNS]


def _association_fit(responses: pd.DataFrame, lever, present: list[str], *, plan, instrument, weights,
                     calibration):
    """``(spec, fit)`` of the logit ``satisfied ~ <lever model rhs> + <present>`` clustered by the
    lever model's cluster (survey-weighted with ``weights``), or None when it is not estimable."""
    from research.config.formula import parse_rhs
    from research.config.plan import VARIABLES, ModelSpec
    from research.models.weighted import fit_model_weighted_or_not

    rhs = parse_rhs(" + ".join([lever.rhs, *present]), source="associations", variables=VARIABLES).text()
    spec = ModelSpec(name="associations", family="logit", outcome="satisfied", rhs=rhs, se="cluster",
                     cluster=lever.cluster or "station", group=None, zh="关联", en="associations")
    try:
        fm = fit_model_weighted_or_not(spec, responses, weights, cluster=spec.cluster, plan=plan,
                                       instrument=instrument, calibration=calibration)
    except NotEstimable:
        return None
    return spec, fm


def _compared_levels(col: pd.Series):
    """The comparisons of one variable of the model frame: ``(pairs, value)``, ``pairs`` a list of
    ``(label, level, reference)`` and ``value`` the frame value of each level (categorical:
    every present level against "yes", else the first; boolean: true against false), or None
    for a boolean that does not vary."""
    if hasattr(col, "cat"):
        levels = [str(c) for c in col.cat.categories if (col == c).any()]
        ref = "yes" if "yes" in levels else levels[0]
        return [(lev, lev, ref) for lev in levels if lev != ref], {lev: lev for lev in levels}
    if col.nunique() < 2:
        return None
    return [("true", 1.0, 0.0)], {}


def _difference_row(fm, base, var: str, label: str, level_value, ref_value, ref, thr, dist, q: float) -> dict:
    """One compared level: the standardised satisfied rates with ``var`` set to ``level_value``
    and to ``ref_value`` for every row, their difference (probability), delta-method standard
    error, statistic, p-value (reference distribution ``dist``) and interval (quantile ``q``)."""
    from research.models.predict import _evaluate

    r0, g0 = _evaluate(fm, base, {var: ref_value}, thr)["p_satisfied"]
    r1, g1 = _evaluate(fm, base, {var: level_value}, thr)["p_satisfied"]
    g = g1 - g0
    est = r1 - r0
    se = float(np.sqrt(max(g @ fm.vcov @ g, 0.0)))
    z = est / se if se > 0 else np.nan
    return {"model": "associations", "term": f"{var}[{label}]", "variable": var, "level": label,
            "reference": str(ref if isinstance(ref, str) else "false"), "rate": r1,
            "reference_rate": r0, "estimate": est, "std_error": se, "statistic": z,
            "p_value": 2 * dist.sf(abs(z)), "conf_low": est - q * se,
            "conf_high": est + q * se}
