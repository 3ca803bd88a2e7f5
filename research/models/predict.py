"""Average adjusted predictions, marginal effects of handling time and prediction grids.

Every quantity is an average over tickets of a model prediction on a
counterfactual copy of the data ("as if every ticket had sub-cause s", "as if
each ticket had taken twice as long"), with a delta-method standard error
``sqrt(g' V g)``, ``g`` the gradient of the average with respect to the
parameters and ``V`` the model's covariance (cluster-robust where the plan
says so). Tests and intervals use the model's own reference distribution
(:func:`research.models.fit.inference_df`): Student's t with G - 1 df for a CR1
cluster-robust model, the contrast's Bell–McCaffrey df for a CR2 model, the design
df for a survey-weighted model, n - k for classical OLS, else the normal (``df``
NaN) -- the same df as the model's coefficients.

Why by hand: the Python ``marginaleffects`` package does not support this
package's ordinal and mixed estimators (its OrderedModel support is an open
issue, pymarginaleffects 209) and re-evaluates the whole design for every
counterfactual. Here the gradients are analytic and a counterfactual only
rebuilds the design columns that depend on the changed variables (once, on a
one-row template, when those columns are the same for every ticket), so one
average costs one pass over the rows; the counterfactual designs of a whole
prediction set are built in a few stacked formulaic calls
(:func:`_new_columns_many`). The numbers are checked against R (``predict()``
with a numerical Jacobian; tests/fixtures/r/predictions).

Scales
------
``mean_score``: expected overall score (1..5): the linear predictor for
linear and mixed models (random effects at zero), ``sum_k k P(Y = k)`` for
ordinal models.
``p_satisfied``: probability of a top-2-box answer: the logit model's
probability, ``P(Y >= satisfied_threshold)`` for ordinal models.
A family's scales and the kernel computing them are its entry in
:data:`research.models.families.FAMILIES` (``scales``, ``predict``; the kernels are
:mod:`research.models.scales`); a family without them has no predictions (refused by name).

Weighted models
---------------
A model whose ``extra["weights"]`` holds one weight per model-frame row (the
survey-weighted fits of :mod:`research.models.weighted`) is averaged with
those weights: every "average over tickets" becomes a weighted average, i.e.
an estimate for the work-order population, and ``V`` is the design-based
covariance. The delta method then treats the covariate distribution as known
(as R ``marginaleffects::avg_slopes(..., wts = )`` does); intervals use the
design df of the coefficients (t), not the normal.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from research.models.counterfactual import (GROUP_ROWS, _STACK_ROWS, _averages, _changed_frame,  # noqa: F401
                                            _new_columns, _new_columns_many, _rows, _Rows, _split_terms,
                                            _stacked_frame)
from research.models.families import family_of, require
from research.models.fitted import FittedModel, inference_df


def _evaluate(fm: FittedModel, base: _Rows, changes: dict, threshold: int,
              columns: tuple | None = None) -> dict[str, tuple[float, np.ndarray]]:
    """Average prediction on every scale of the model under ``changes``, with gradients.

    ``columns``: the design columns the changes rebuild, as :func:`_new_columns`
    returns them, when the caller already has them (they depend on the data and
    the changes, not on the parameters: a bootstrap loop builds them once).

    Returns scale -> (estimate, gradient over ``fm.params``), from the kernel of the model's
    family (its ``predict`` in :data:`research.models.families.FAMILIES`); NotEstimable naming
    the model and family when the family has none.
    """
    predict = require(fm.spec, "predict", "predictions")
    columns = columns if columns is not None else _new_columns(fm, base, changes)
    eta, mean, beta_gradients = _averages(base, fm.beta, columns)
    return predict(fm, eta, mean, beta_gradients, threshold)


def _scales(fm: FittedModel) -> tuple[str, ...]:
    """The response scales of the model's predictions (its family's ``scales``)."""
    require(fm.spec, "predict", "predictions")
    return family_of(fm.spec.family, fm.spec.name).scales


def _reference(fm: FittedModel, grad: np.ndarray) -> tuple[float, object]:
    """(df, distribution) of a delta-method quantity with gradient ``grad``: the model's own t
    reference (:func:`research.models.fit.inference_df`, df NaN for the normal)."""
    df = inference_df(fm, grad)
    return (np.nan, stats.norm) if df is None else (df, _t_distribution(df))


@lru_cache(maxsize=1024)
def _t_distribution(df: float):
    """Student's t with ``df`` degrees of freedom, frozen once per df: freezing a scipy
    distribution costs about 2 ms, and a prediction set asks for the same df hundreds of times."""
    return stats.t(df)


def _row(fm, quantity, scale, est, grad, conf_level, **labels) -> dict:
    se = float(np.sqrt(max(grad @ fm.vcov @ grad, 0.0)))
    df, dist = _reference(fm, grad)
    q = dist.ppf(0.5 + conf_level / 2)
    return {"model": fm.spec.name, "quantity": quantity, "scale": scale, **labels, "estimate": est,
            "std_error": se, "conf_low": est - q * se, "conf_high": est + q * se, "conf_level": conf_level,
            "df": df}


def _group_rows(fm: FittedModel, parent: dict[str, str]) -> dict[str, np.ndarray]:
    """Model-frame rows of each cause group (from cause_l1, else from the sub-cause's parent)."""
    frame = fm.frame
    col = frame["cause_l1"] if "cause_l1" in frame.columns else frame["cause_l2"]
    # through the categories (a handful) and the integer codes: converting a million Arrow
    # strings to Python objects per call cost ~0.9 s per model at 1M rows
    cat = pd.Categorical(col)
    names = np.asarray(cat.categories.astype(str), dtype=object)
    if "cause_l1" not in frame.columns:
        names = np.array([parent.get(n) for n in names], dtype=object)
    groups = names[cat.codes] if len(names) else np.array([], dtype=object)
    groups = np.where(cat.codes < 0, None, groups)
    return {g: np.flatnonzero(groups == g) for g in dict.fromkeys(parent.values()) if (groups == g).any()}


def _subcause_counts(fm: FittedModel) -> pd.Series:
    """Tickets per sub-cause in the model frame (sum of weights for a weighted model)."""
    sub = fm.frame["cause_l2"]
    if fm.extra.get("weights") is None:
        return sub.value_counts()
    w = pd.Series(np.asarray(fm.extra["weights"], dtype=float), index=fm.frame.index)
    return w.groupby(sub, observed=True).sum()


#: ``fm.extra`` key of the per-sub-cause averages :func:`predictions` computed (estimates and
#: gradients, by threshold and changes): :func:`research.models.ranks.subcause_ranks` reuses them
_AAP_CACHE = "_aap_subcause"


def _aap_key(threshold: int, changes: list[dict]) -> tuple:
    return (threshold, tuple(tuple(sorted(ch.items())) for ch in changes))


def predictions(fm: FittedModel, *, parent: dict[str, str], grid_hours: np.ndarray,
                threshold: int, conf_level: float = 0.95) -> pd.DataFrame:
    """Average adjusted predictions per sub-cause and cause group, and the handling-time grid.

    Parameters
    ----------
    fm : a fitted model whose frame has cause_l2 (and cause_l1 where used) and handling_hours.
    parent : sub-cause code -> cause group code (the taxonomy).
    grid_hours : handling times (hours) of the grid.
    threshold : top-2-box threshold code (satisfied = answer >= threshold).

    Returns
    -------
    Tidy frame: ``model, quantity, scale, cause_l1, cause_l2, hours, estimate,
    std_error, conf_low, conf_high, conf_level, df, n``, where quantity is

    - ``aap_subcause``: every ticket given sub-cause s (and its cause group), averaged;
    - ``aap_cause``: mean of the group's aap_subcause weighted by each sub-cause's
      share of the group's tickets (delta method on the same combination);
    - ``grid``: the tickets of cause group g, each given handling time h, averaged.
    """
    frame = fm.frame
    scales = _scales(fm)
    everyone = _rows(fm, np.arange(len(frame)))
    has_l1 = "cause_l1" in frame.columns
    subs = list(frame["cause_l2"].cat.categories) if "cause_l2" in frame.columns else []
    sub_changes = [{"cause_l2": s, **({"cause_l1": parent[s]} if has_l1 else {})} for s in subs]
    # the sub-causes' counterfactual designs in a few formulaic calls
    columns = _new_columns_many(fm, [(everyone, ch) for ch in sub_changes])
    per_sub = {s: _evaluate(fm, everyone, ch, threshold, columns=cols)
               for s, ch, cols in zip(subs, sub_changes, columns)}
    # kept for research.models.ranks.subcause_ranks, which asks for the same averages
    fm.extra.setdefault(_AAP_CACHE, {})[_aap_key(threshold, sub_changes)] = per_sub
    counts = _subcause_counts(fm) if subs else pd.Series(dtype=float)
    out = average_rows(fm, per_sub, counts, parent=parent, scales=scales, conf_level=conf_level, n=len(frame))
    # one cause group's rows at a time: their design rows are a copy of X's, and the groups'
    # copies together are as large as X (600 MB at 1M rows and 77 columns)
    for g, rows in _group_rows(fm, parent).items():
        base = _rows(fm, rows)
        hours = [float(h) for h in grid_hours]
        for h, cols in zip(hours, _new_columns_many(fm, [(base, {"handling_hours": h}) for h in hours])):
            res = _evaluate(fm, base, {"handling_hours": h}, threshold, columns=cols)
            for scale in scales:
                est, grad = res[scale]
                out.append(_row(fm, "grid", scale, est, grad, conf_level, cause_l1=g, cause_l2=None,
                                hours=h, n=len(base.rows)))
        del base
    return pd.DataFrame(out)


def marginal_effects(fm: FittedModel, *, parent: dict[str, str], multiplier: float,
                     threshold: int, conf_level: float = 0.95) -> pd.DataFrame:
    """Average marginal effect of multiplying the handling time, per cause group.

    For the tickets of cause group g: mean prediction with ``handling_hours *
    multiplier`` minus mean prediction at the observed handling time.

    Returns
    -------
    ``model, term, scale, cause_l1, estimate, std_error, statistic, p_value,
    conf_low, conf_high, conf_level, n, df`` (estimate in score points for
    ``mean_score``, in probability for ``p_satisfied``).
    """
    hours = fm.frame["handling_hours"].to_numpy()
    out = []
    for g, rows in _group_rows(fm, parent).items():  # one group's design rows at a time (see predictions)
        base = _rows(fm, rows)
        change = {"handling_hours": hours[rows] * multiplier}
        now = _evaluate(fm, base, {}, threshold)
        moved = _evaluate(fm, base, change, threshold, columns=_new_columns_many(fm, [(base, change)])[0])
        del base
        out += effect_rows(fm, g, now, moved, multiplier=multiplier, conf_level=conf_level, n=len(rows))
    return pd.DataFrame(out)


def average_rows(fm: FittedModel, per_sub: dict, counts: pd.Series, *, parent: dict[str, str], scales,
                 conf_level: float, n: int) -> list[dict]:
    """The ``aap_subcause`` and ``aap_cause`` rows of :func:`predictions` from the per-sub-cause
    averages (``per_sub[s][scale] = (estimate, gradient)``) and the tickets per sub-cause
    (``counts``, the cause group's weights); shared with
    :func:`research.models.aggregate.predict.predictions_from_sums`."""
    subs = list(per_sub)
    out = []
    for scale in scales:
        for s in subs:
            est, grad = per_sub[s][scale]
            out.append(_row(fm, "aap_subcause", scale, est, grad, conf_level, cause_l1=parent[s],
                            cause_l2=s, hours=np.nan, n=n))
        for g in dict.fromkeys(parent[s] for s in subs):
            members = [s for s in subs if parent[s] == g]
            wts = np.array([counts.get(s, 0) for s in members], dtype=float)
            if wts.sum() == 0:
                continue
            wts /= wts.sum()
            est = float(sum(w * per_sub[s][scale][0] for w, s in zip(wts, members)))
            grad = sum(w * per_sub[s][scale][1] for w, s in zip(wts, members))
            out.append(_row(fm, "aap_cause", scale, est, grad, conf_level, cause_l1=g, cause_l2=None,
                            hours=np.nan, n=n))
    return out


def effect_rows(fm: FittedModel, group: str, now: dict, moved: dict, *, multiplier: float, conf_level: float,
                n: int) -> list[dict]:
    """The rows of :func:`marginal_effects` for one cause group from the averages (estimate,
    gradient per scale) at the observed and at the multiplied handling times; shared with
    :func:`research.models.aggregate.predict.marginal_effects_from_sums`."""
    out = []
    for scale in _scales(fm):
        est = moved[scale][0] - now[scale][0]
        grad = moved[scale][1] - now[scale][1]
        se = float(np.sqrt(max(grad @ fm.vcov @ grad, 0.0)))
        z = est / se if se > 0 else np.nan
        df, dist = _reference(fm, grad)
        q = dist.ppf(0.5 + conf_level / 2)
        out.append({"model": fm.spec.name, "term": f"handling_hours x{multiplier:g}", "scale": scale,
                    "cause_l1": group, "estimate": est, "std_error": se, "statistic": z,
                    "p_value": float(2 * dist.sf(abs(z))), "conf_low": est - q * se,
                    "conf_high": est + q * se, "conf_level": conf_level, "n": n, "df": df})
    return out
