"""What the table builders share: instrument order, answer counts, normal intervals of means.

Used by :mod:`research.artifacts.tables_fit`, :mod:`~research.artifacts.tables_weights` and
:mod:`~research.artifacts.tables_strategy` (one builder per table; the registry names them).
Frames in, frames or numbers out; nothing is formatted here. The confidence level of their
intervals is the plan's (:func:`research.artifacts.levels.conf_level`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

OVERALL = "overall"


def z_value(conf_level: float) -> float:
    """The standard normal quantile of ``0.5 + conf_level / 2`` (1.96 at 0.95)."""
    return float(stats.norm.ppf(0.5 + conf_level / 2))


def mean_interval(values: pd.Series, conf_level: float) -> tuple[int, float, float, float, float]:
    """n, mean, standard error and the normal interval ``mean ± z sd / sqrt(n)`` of a numeric series."""
    v = pd.to_numeric(values, errors="coerce").astype("float64").dropna().to_numpy()
    n = len(v)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan
    mean = float(v.mean())
    se = float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    z = z_value(conf_level)
    return n, mean, se, mean - z * se, mean + z * se


def cause_codes(bundle: dict, kind: str, present) -> list[str]:
    """Codes of ``kind`` in instrument order, then any other present codes sorted (never silently dropped)."""
    ins = bundle.get("instrument")
    known: list[str] = []
    if ins is not None and kind in ins.label_sets:
        known = list(ins.label_sets[kind].codes)
    extra = sorted({str(v) for v in present if pd.notna(v)} - set(known))
    return known + extra


def valid_answers(responses: pd.DataFrame) -> pd.DataFrame:
    """Responses whose overall satisfaction was answered."""
    return responses[responses["sat_overall"].notna()]


def satisfied_counts(valid: pd.DataFrame) -> tuple[int, int]:
    """(answers with ``satisfied`` known, of which satisfied) of a frame of valid responses."""
    sat = valid["satisfied"].astype("boolean")
    return int(sat.notna().sum()), int(sat.fillna(False).sum())


def order_of(frame: pd.DataFrame, column: str, codes: list[str]) -> pd.Series:
    """Position of each value of ``frame[column]`` in ``codes`` (NaN when absent), a sort key."""
    return frame[column].map({c: i for i, c in enumerate(codes)})


def frame_or_none(bundle: dict, key: str, columns: list[str]) -> pd.DataFrame | None:
    """The bundle's frame ``key``, or None when absent or empty (no work-order export)."""
    frame = bundle.get(key)
    if frame is None or len(frame) == 0:
        return None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"bundle[{key!r}] lacks columns {missing}")
    return frame


def level_order(frame: pd.DataFrame, var_col: str, level_col: str, variables: tuple[str, ...],
                 bundle: dict) -> pd.DataFrame:
    """Rows ordered by variable (``variables`` order) then level (instrument order for codes,
    band order for bands, as given otherwise)."""
    frame = frame[frame[var_col].isin(variables)].copy()
    frame["_v"] = order_of(frame, var_col, list(variables))
    ranks = []
    for var, level in zip(frame[var_col], frame[level_col].astype(str)):
        if var in ("cause_l1", "cause_l2"):
            codes = cause_codes(bundle, var, [level])
            ranks.append(codes.index(level))
        else:
            ranks.append(-1)  # keep the given order (bands in band order, others sorted upstream)
    frame["_l"] = ranks
    frame["_i"] = np.arange(len(frame))
    return frame.sort_values(["_v", "_l", "_i"], kind="stable").drop(columns=["_v", "_l", "_i"])
