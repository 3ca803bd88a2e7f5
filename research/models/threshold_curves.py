"""The satisfied-rate curves of the tolerance thresholds (:mod:`research.models.thresholds`).

A cause group's curve is the average predicted P(satisfied) of its tickets with every ticket's
handling time set to each hour of a log-spaced grid (:func:`hour_grid`); the threshold is where
it first falls ``drop`` below its first value (:func:`threshold_from_curve`). The bootstrap
(:mod:`research.models.threshold_bootstrap`) evaluates the same curves per replicate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from research.models.design import Design

#: hours on each group's grid
CURVE_POINTS = 40


def _curve_shifts(design: Design, frame: pd.DataFrame, rows: np.ndarray,
                  hours: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """For a cause group whose time-dependent columns do not vary across its rows:
    (column indices, their values at each grid hour (len(hours), k)). None otherwise."""
    terms = design.columns_using({"handling_hours"})
    used = set().union(*(design.variables_of_term[t] for t in terms)) if terms else set()
    if not used <= {"handling_hours", "cause_l1"}:
        return None
    template = frame.iloc[np.repeat(rows[:1], len(hours))].assign(handling_hours=hours)
    idx, new = design.rebuild(template, {"handling_hours"})
    return idx, new


def group_curves(design: Design, beta: np.ndarray, groups: dict[str, np.ndarray],
                 shifts: dict, patterns: dict | None = None) -> dict[str, np.ndarray]:
    """Average predicted P(satisfied) of each group's tickets at each of its grid hours.

    ``patterns``: each group's distinct rows of the design without its time columns, with their
    counts (:func:`curve_patterns`), when the caller has them: the bootstrap takes them once
    instead of a pass over the group's rows per replicate."""
    out = {}
    for g, rows in groups.items():
        idx, new = shifts[g]
        if patterns is None:
            Xg = design.X[rows]
            rest = Xg @ beta - Xg[:, idx] @ beta[idx]  # linear predictor without the time columns
            # tickets share few covariate patterns (sub-cause x channel ...): average over the distinct
            # linear predictors with their counts (the same mean, summed in another order; the
            # bootstrap's largest cost before, 480 million logistic evaluations on the sample)
            u, count = np.unique(rest, return_counts=True)
            total = len(rest)
        else:
            P, n = patterns[g]
            u, inverse = np.unique(P @ beta, return_inverse=True)
            count = np.bincount(inverse, weights=n, minlength=len(u))
            total = n.sum()
        add = new @ beta[idx]  # (len(hours),): the time columns at each grid hour
        out[g] = (expit(u[None, :] + add[:, None]) @ count) / total
    return out


def curve_patterns(design: Design, groups: dict[str, np.ndarray], shifts: dict) -> dict:
    """For :func:`group_curves`: each group's distinct design rows with its time columns set to
    zero, and how many of its rows have each (as floats)."""
    out = {}
    for g, rows in groups.items():
        Xg = design.X[rows]
        Xg[:, shifts[g][0]] = 0.0
        varying = np.flatnonzero((Xg != Xg[:1]).any(axis=0))
        if len(varying):  # rows grouped by equal values (pandas factorises each column: no row sort)
            ids = pd.DataFrame(Xg[:, varying]).groupby(list(range(len(varying))), sort=False).ngroup().to_numpy()
        else:
            ids = np.zeros(len(Xg), dtype=np.intp)
        first = np.unique(ids, return_index=True)[1]
        out[g] = (Xg[first], np.bincount(ids).astype(float))
    return out


def threshold_from_curve(hours: np.ndarray, curve: np.ndarray, drop: float) -> float:
    """First handling time where ``curve`` <= curve[0] - drop (linear in log hours); NaN if never."""
    target = curve[0] - drop
    below = np.flatnonzero(curve <= target)
    if len(below) == 0:
        return np.nan
    j = below[0]
    if j == 0:
        return float(hours[0])
    x0, x1 = np.log(hours[j - 1]), np.log(hours[j])
    y0, y1 = curve[j - 1], curve[j]
    frac = (y0 - target) / (y0 - y1) if y0 != y1 else 0.0
    return float(np.exp(x0 + frac * (x1 - x0)))


def weighted_quantile(x_sorted: np.ndarray, w_sorted: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(np.repeat(x, w), q)`` (linear interpolation) for whole frequency weights,
    without expanding; ``x_sorted`` ascending. NaN when every weight is zero."""
    cw = np.cumsum(w_sorted)
    total = cw[-1] if len(cw) else 0
    if total <= 0:
        return np.full(len(q), np.nan)
    pos = np.asarray(q) * (total - 1)
    lo = np.floor(pos)
    a = x_sorted[np.searchsorted(cw, lo, side="right")]
    b = x_sorted[np.minimum(np.searchsorted(cw, lo + 1, side="right"), len(x_sorted) - 1)]
    return a + (pos - lo) * (b - a)


def hour_grid(lo: float, hi: float, max_hours: float) -> np.ndarray:
    """CURVE_POINTS log-spaced hours from ``lo`` to ``min(hi, max_hours)`` (at least 1% apart)."""
    hi = min(hi, max_hours)
    return np.exp(np.linspace(np.log(lo), np.log(max(hi, lo * 1.01)), CURVE_POINTS))
