"""Average adjusted predictions, marginal effects of handling time and prediction grids.

Every quantity is an average over tickets of a model prediction on a
counterfactual copy of the data ("as if every ticket had sub-cause s", "as if
each ticket had taken twice as long"), with a delta-method standard error
``sqrt(g' V g)``, ``g`` the gradient of the average with respect to the
parameters and ``V`` the model's covariance (cluster-robust where the plan
says so).

Why by hand: the Python ``marginaleffects`` package does not support this
package's ordinal and mixed estimators (its OrderedModel support is an open
issue, pymarginaleffects 209) and re-evaluates the whole design for every
counterfactual. Here the gradients are analytic and a counterfactual only
rebuilds the design columns that depend on the changed variables, so one
average costs one pass over the rows. The numbers are checked against R
(``predict()`` with a numerical Jacobian; tests/fixtures/r/predictions).

Scales
------
``mean_score``: expected overall score (1..5): the linear predictor for
linear and mixed models (random effects at zero), ``sum_k k P(Y = k)`` for
ordinal models.
``p_satisfied``: probability of a top-2-box answer: the logit model's
probability, ``P(Y >= satisfied_threshold)`` for ordinal models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from research.models.fit import FittedModel

SCALES = {"linear": ("mean_score",), "mixed": ("mean_score",), "logit": ("p_satisfied",),
          "ordinal": ("mean_score", "p_satisfied")}


@dataclass
class Counterfactual:
    """A change to the model frame on a subset of rows.

    rows : positions (into the model frame) the average runs over.
    changes : variable -> new values (scalar or array over ``rows``).
    """

    rows: np.ndarray
    changes: dict


def _with_changes(fm: FittedModel, cf: Counterfactual) -> pd.DataFrame:
    frame = fm.frame.iloc[cf.rows]
    new = {}
    for var, value in cf.changes.items():
        col = frame[var]
        if hasattr(col, "cat"):
            cats = col.cat.categories
            codes = np.full(len(frame), cats.get_loc(value), dtype=np.int8 if len(cats) < 127 else np.int32)
            new[var] = pd.Categorical.from_codes(codes, categories=cats)
        else:
            new[var] = np.broadcast_to(np.asarray(value, dtype=float), (len(frame),)).copy()
    return frame.assign(**new)


def average(fm: FittedModel, cf: Counterfactual, scale: str, threshold: int) -> tuple[float, np.ndarray]:
    """Average prediction on ``scale`` under a counterfactual, and its gradient.

    Returns
    -------
    estimate : the average over ``cf.rows``.
    gradient : d estimate / d params (same length as ``fm.params``).
    """
    X = fm.design.X[cf.rows] if len(cf.rows) < len(fm.design.X) else fm.design.X
    beta = fm.beta
    eta = X @ beta
    colsum_w = None
    idx = np.array([], dtype=int)
    if cf.changes:
        idx, new = fm.design.rebuild(_with_changes(fm, cf), set(cf.changes))
        if len(idx):
            eta = eta - X[:, idx] @ beta[idx] + new @ beta[idx]
    m = len(eta)
    family = fm.spec.family
    grad = np.zeros(len(fm.params))
    if family in ("linear", "mixed"):
        if scale != "mean_score":
            raise ValueError(f"{family} models predict mean_score only")
        w = np.ones(m)
        est = float(eta.mean())
    elif family == "logit":
        if scale != "p_satisfied":
            raise ValueError("logit models predict p_satisfied only")
        p = expit(eta)
        est = float(p.mean())
        w = p * (1 - p)
    else:
        theta = fm.cutpoints
        F = expit(theta[None, :] - eta[:, None])  # P(Y <= j), j = 1..K-1
        f = F * (1 - F)
        if scale == "mean_score":
            levels = len(theta) + 1  # scores 1..K: E[Y] = K - sum_j P(Y <= j)
            est = float(levels - F.sum(axis=1).mean())
            w = f.sum(axis=1)
            grad[fm.n_beta:] = -f.mean(axis=0)
        elif scale == "p_satisfied":
            j = threshold - 2  # P(Y >= t) = 1 - P(Y <= t - 1); cutpoint index t - 2 (0-based)
            est = float(1 - F[:, j].mean())
            w = f[:, j]
            grad[fm.n_beta + j] = -f[:, j].mean()
        else:
            raise ValueError(f"unknown scale {scale!r}")
    colsum_w = X.T @ w
    if len(idx):
        colsum_w[idx] = new.T @ w
    grad[: fm.n_beta] = colsum_w / m
    return est, grad


def _row(fm, quantity, scale, est, grad, conf_level, **labels) -> dict:
    se = float(np.sqrt(max(grad @ fm.vcov @ grad, 0.0)))
    q = stats.norm.ppf(0.5 + conf_level / 2)
    return {"model": fm.spec.name, "quantity": quantity, "scale": scale, **labels, "estimate": est,
            "std_error": se, "conf_low": est - q * se, "conf_high": est + q * se, "conf_level": conf_level}


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
    std_error, conf_low, conf_high, conf_level, n``, where quantity is

    - ``aap_subcause``: every ticket given sub-cause s (and its cause group), averaged;
    - ``aap_cause``: mean of the group's aap_subcause weighted by each sub-cause's
      share of the group's tickets (delta method on the same combination);
    - ``grid``: the tickets of cause group g, each given handling time h, averaged.
    """
    frame = fm.frame
    out = []
    all_rows = np.arange(len(frame))
    has_l1 = "cause_l1" in frame.columns
    subs = list(frame["cause_l2"].cat.categories) if "cause_l2" in frame.columns else []
    for scale in SCALES[fm.spec.family]:
        per_sub = {}
        for s in subs:
            changes = {"cause_l2": s}
            if has_l1:
                changes["cause_l1"] = parent[s]
            est, grad = average(fm, Counterfactual(all_rows, changes), scale, threshold)
            per_sub[s] = (est, grad)
            out.append(_row(fm, "aap_subcause", scale, est, grad, conf_level, cause_l1=parent[s],
                            cause_l2=s, hours=np.nan, n=len(all_rows)))
        counts = frame["cause_l2"].value_counts() if subs else pd.Series(dtype=int)
        for g in dict.fromkeys(parent[s] for s in subs):
            members = [s for s in subs if parent[s] == g]
            wts = np.array([counts.get(s, 0) for s in members], dtype=float)
            if wts.sum() == 0:
                continue
            wts /= wts.sum()
            est = float(sum(w * per_sub[s][0] for w, s in zip(wts, members)))
            grad = sum(w * per_sub[s][1] for w, s in zip(wts, members))
            out.append(_row(fm, "aap_cause", scale, est, grad, conf_level, cause_l1=g, cause_l2=None,
                            hours=np.nan, n=len(all_rows)))
        for g, rows in _group_rows(fm, parent).items():
            for h in grid_hours:
                est, grad = average(fm, Counterfactual(rows, {"handling_hours": h}), scale, threshold)
                out.append(_row(fm, "grid", scale, est, grad, conf_level, cause_l1=g, cause_l2=None,
                                hours=float(h), n=len(rows)))
    return pd.DataFrame(out)


def _group_rows(fm: FittedModel, parent: dict[str, str]) -> dict[str, np.ndarray]:
    """Model-frame rows of each cause group (from cause_l1, else from the sub-cause's parent)."""
    frame = fm.frame
    if "cause_l1" in frame.columns:
        groups = frame["cause_l1"].astype(str).to_numpy()
    else:
        groups = frame["cause_l2"].astype(str).map(parent).to_numpy()
    return {g: np.flatnonzero(groups == g) for g in dict.fromkeys(parent.values()) if (groups == g).any()}


def marginal_effects(fm: FittedModel, *, parent: dict[str, str], multiplier: float,
                     threshold: int, conf_level: float = 0.95) -> pd.DataFrame:
    """Average marginal effect of multiplying the handling time, per cause group.

    For the tickets of cause group g: mean prediction with ``handling_hours *
    multiplier`` minus mean prediction at the observed handling time.

    Returns
    -------
    ``model, term, scale, cause_l1, estimate, std_error, statistic, p_value,
    conf_low, conf_high, conf_level, n`` (estimate in score points for
    ``mean_score``, in probability for ``p_satisfied``).
    """
    hours = fm.frame["handling_hours"].to_numpy()
    q = stats.norm.ppf(0.5 + conf_level / 2)
    out = []
    for scale in SCALES[fm.spec.family]:
        for g, rows in _group_rows(fm, parent).items():
            base, g0 = average(fm, Counterfactual(rows, {}), scale, threshold)
            moved, g1 = average(fm, Counterfactual(rows, {"handling_hours": hours[rows] * multiplier}),
                                scale, threshold)
            est, grad = moved - base, g1 - g0
            se = float(np.sqrt(max(grad @ fm.vcov @ grad, 0.0)))
            z = est / se if se > 0 else np.nan
            out.append({"model": fm.spec.name, "term": f"handling_hours x{multiplier:g}", "scale": scale,
                        "cause_l1": g, "estimate": est, "std_error": se, "statistic": z,
                        "p_value": float(2 * stats.norm.sf(abs(z))), "conf_low": est - q * se,
                        "conf_high": est + q * se, "conf_level": conf_level, "n": len(rows)})
    return pd.DataFrame(out)
