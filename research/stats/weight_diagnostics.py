"""Summaries of non-response weights: their distribution, Kish effective sample size and design
effect, overall and within every level of a variable (docs/methods.md, the weights' diagnostics).

Both functions take an optional multiplicity ``count`` (each weight stands for that many
respondents with that weight: the collapsed groups of an engine's ``GROUP BY``,
:mod:`research.representativeness.at_scale`); the result equals that of the expanded weights
(``np.repeat(weights, count)``) up to rounding. Importable from :mod:`research.stats.weights` too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["weight_summary", "margin_diagnostics"]


def weight_summary(weights, count=None) -> dict:
    """Summary of a weight vector.

    Returns a dict with ``n`` (count), ``sum``, ``min``, ``max``, ``mean`` (in the
    weights' unit, work orders per respondent for raking weights), ``cv``
    (population coefficient of variation, sd with divisor n over mean,
    dimensionless), ``n_eff`` = (sum w)^2 / sum w^2 (Kish effective sample size,
    respondents) and ``deff`` = n / n_eff (design effect due to unequal weighting;
    equals 1 + cv^2 exactly).

    ``count`` (optional, one positive whole number per weight): weight ``i`` is that of
    ``count[i]`` respondents; every sum above counts it that many times (``n = sum count``,
    ``sum = sum count * w``, ``n_eff = (sum count w)^2 / sum count w^2``).
    """
    w = np.asarray(weights, dtype="float64")
    if w.ndim != 1 or w.size == 0:
        raise ValueError("weight_summary: need a non-empty 1-d array of weights")
    if not np.all(np.isfinite(w)):
        raise ValueError("weight_summary: weights must be finite")
    if count is None:
        n = int(w.size)
        s = float(w.sum())
        mean = s / n
        cv = float(w.std(ddof=0) / mean) if mean != 0 else float("nan")
        n_eff = s * s / float(np.dot(w, w))
    else:
        c = np.asarray(count, dtype="float64")
        if c.shape != w.shape or (c <= 0).any():
            raise ValueError("weight_summary: count must hold one positive number per weight")
        n = int(round(float(c.sum())))
        s = float(np.dot(c, w))
        mean = s / n
        cv = float(np.sqrt(np.dot(c, (w - mean) ** 2) / n) / mean) if mean != 0 else float("nan")
        n_eff = s * s / float(np.dot(c, w * w))
    return {"n": n, "sum": s, "min": float(w.min()), "max": float(w.max()), "mean": mean,
            "cv": cv, "n_eff": n_eff, "deff": n / n_eff}


def _level_codes(col: pd.Series) -> tuple[list, np.ndarray]:
    """A variable's levels (category order for a categorical, else sorted by text) and each row's
    level code (-1 when missing)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return list(col.cat.categories), np.asarray(col.cat.codes)
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object).tolist()
    by_text = sorted(range(len(uniques)), key=lambda j: str(uniques[j]))
    levels = [uniques[j] for j in by_text]
    rank = np.empty(len(uniques), dtype=np.intp)
    rank[by_text] = np.arange(len(uniques))
    codes = np.where(codes < 0, -1, rank[np.maximum(codes, 0)]) if len(uniques) else codes
    return levels, codes


def margin_diagnostics(frame: pd.DataFrame, weights, variables: list[str], count=None) -> pd.DataFrame:
    """Weight summary within every level of every variable (one row per variable and level).

    ``frame`` holds the respondents (one row per weight; with ``count``, one row per group of
    ``count`` respondents sharing the row's values and weight). Columns: ``variable``,
    ``level``, then :func:`weight_summary`'s ``n, sum, min, max, mean, cv,
    n_eff, deff`` of the weights of that level's respondents, plus ``variable =
    "all"`` / ``level = "all"`` first for the whole sample.
    """
    w = np.asarray(weights, dtype="float64")
    c = None if count is None else np.asarray(count, dtype="float64")
    rows = [{"variable": "all", "level": "all", **weight_summary(w, c)}]
    for var in variables:
        levels, codes = _level_codes(frame[var])
        order = np.argsort(codes, kind="stable")  # each level's rows together, in row order
        bounds = np.searchsorted(codes[order], np.arange(len(levels) + 1))
        for k, lev in enumerate(levels):
            if bounds[k + 1] > bounds[k]:
                at = order[bounds[k]:bounds[k + 1]]
                rows.append({"variable": var, "level": str(lev),
                             **weight_summary(w[at], None if c is None else c[at])})
    return pd.DataFrame(rows)
