"""Key drivers, data preparation: the driver groups and the complete-case design of one analysis.

What goes in: canonical survey responses (``research.ingestion.schema.RESPONSES``), the outcome
column, the driver groups (:data:`DRIVERS`), an optional weights column and the cluster column.
What comes out: :class:`_Prepared`, the design every later step of the key-driver analysis
reads (:mod:`research.strategy.drivers_lmg`, :mod:`research.strategy.drivers_bootstrap`,
:mod:`research.strategy.drivers_null`, :mod:`research.strategy.drivers_ipa`): the driver
columns centred at their weighted means (a dummy per non-reference level of a categorical
driver; ``log2(1 + hours)`` for the handling time), the outcome, the weights, the cluster code
of each row and the per-row performance values of the drivers. Rows missing the outcome, a
driver's source column, the weight or the cluster are dropped. The method is described in
:mod:`research.strategy.drivers` (docs/methods.md, key drivers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from research.errors import InputError, check_whole

Driver = Literal["subcause", "handling_time", "sla_met", "channel", "repeat", "resolved", "attitude",
                 "speed", "outcome_item"]
DRIVERS: tuple[str, ...] = get_args(Driver)
#: what the utility controls or observes before the callback: the operational decomposition
OPERATIONAL_DRIVERS: tuple[str, ...] = ("subcause", "handling_time", "sla_met", "channel", "repeat")
#: the satisfaction items of the callback: decomposed apart ("item importance"), never mixed
#: into the operational shares (they are answers to the same call as the outcome: a halo)
ITEM_DRIVERS: tuple[str, ...] = ("attitude", "speed", "outcome_item")
#: answers of the callback itself (post-treatment): never in the operational set
CALLBACK_DRIVERS: tuple[str, ...] = ("resolved",) + ITEM_DRIVERS
DEFAULT_DRIVERS: tuple[str, ...] = OPERATIONAL_DRIVERS
#: driver sets of :func:`key_drivers`
DRIVER_SETS: dict[str, tuple[str, ...]] = {"operational": OPERATIONAL_DRIVERS, "items": ITEM_DRIVERS}

#: driver group -> the responses column it is built from
DRIVER_SOURCES: dict[str, str] = {
    "subcause": "cause_l2",             # dummies, one per sub-cause but the first
    "handling_time": "handling_hours",  # log2(1 + hours)
    "sla_met": "sla_met",               # 0/1: handled within the sub-cause's SLA target
    "channel": "channel",               # dummies, one per channel but the first
    "repeat": "repeat",                 # 0/1
    "resolved": "resolved",             # dummies of partly / no (yes = reference)
    "attitude": "sat_attitude",         # item score 1..5
    "speed": "sat_speed",
    "outcome_item": "sat_outcome",
}


Quadrant = Literal["concentrate_here", "keep_up", "low_priority", "possible_overkill"]
QUADRANTS: tuple[str, ...] = get_args(Quadrant)


#: driver group -> code of its performance measure (all on a 0..1 scale; "none": the driver is
#: a composition with no favourable level, so it has no performance and no IPA quadrant)
PERFORMANCE_MEASURES: dict[str, str] = {
    "subcause": "none",                 # the complaint mix: no level is "better performance"
    "handling_time": "sla_met_rate",    # share handled within the SLA target
    "sla_met": "sla_met_rate",
    "channel": "none",                  # the contact mix: likewise
    "repeat": "no_repeat_rate",         # 1 - share of repeat callers
    "resolved": "resolved_rate",        # share resolved "yes"
    "attitude": "item_score",           # (mean item score - 1) / 4
    "speed": "item_score",
    "outcome_item": "item_score",
}


DEFAULT_SEED = 20261128
RESOLVED_ORDER = ("yes", "partly", "no")


# ---------------------------------------------------------------- checks ----
def _check_option(name: str, value, valid: tuple[str, ...]) -> str:
    """Return ``value`` if one of ``valid``; else ValueError listing the valid values."""
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; use one of "
                         f"{', '.join(repr(v) for v in valid)}")
    return value


def _check_drivers(drivers) -> tuple[str, ...]:
    if isinstance(drivers, str) or not isinstance(drivers, Sequence):
        raise ValueError(f"drivers must be a sequence of driver names, not {drivers!r}")
    out = tuple(_check_option("drivers", d, DRIVERS) for d in drivers)
    if not out:
        raise ValueError("drivers must name at least one driver group")
    if len(set(out)) != len(out):
        raise ValueError(f"drivers lists a group twice: {list(out)}")
    return out


def _check_run(bootstrap_reps, conf_level, seed) -> None:
    """InputError for replicates outside [0, MAX_BOOTSTRAP_REPS] or a seed outside numpy's
    [0, 2**32 - 1] (a plan or caller must not be able to exhaust memory, or reach numpy's
    negative-seed error mid-run); ValueError for a conf_level outside (0, 1)."""
    from research.config.plan import MAX_BOOTSTRAP_REPS, SEED_MAX

    check_whole(bootstrap_reps, "bootstrap_reps", low=0, high=MAX_BOOTSTRAP_REPS, where="key drivers")
    if not (isinstance(conf_level, (int, float)) and 0 < conf_level < 1):
        raise ValueError(f"conf_level must be a number strictly between 0 and 1, "
                         f"not {conf_level!r}")
    check_whole(seed, "seed", low=0, high=SEED_MAX, where="key drivers")


def _require_columns(responses: pd.DataFrame, needed: dict[str, str]) -> None:
    """InputError naming each column of ``needed`` (column -> its use) absent from responses."""
    if not isinstance(responses, pd.DataFrame):
        raise InputError(f"responses must be a pandas DataFrame, not {type(responses).__name__}")
    missing = [f"{c!r} (needed for {why})" for c, why in needed.items()
               if c not in responses.columns]
    if missing:
        raise InputError(f"responses lack column(s) {', '.join(missing)}")


def _as_float(series: pd.Series, column: str) -> np.ndarray:
    """A numeric or boolean column as float64 with NaN for missing; InputError otherwise."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("boolean").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(series.dtype):
        raise InputError(f"column {column!r} must be numeric or boolean, not {series.dtype}")
    return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


# ---------------------------------------------------------------- design ----
@dataclass
class _Prepared:
    """The complete-case design of one analysis."""

    outcome: str
    drivers: tuple[str, ...]
    logit: bool
    X: np.ndarray              # n x p driver columns, centred at their weighted means
    y: np.ndarray              # outcome (0/1 for logit), not centred
    w: np.ndarray              # analysis weights (1 without weights)
    groups: list[np.ndarray]   # column indices of X of each driver group
    cluster: np.ndarray        # cluster code 0..G-1 of each row
    n_clusters: int
    n: int
    n_dropped: int
    perf_values: np.ndarray | None  # n x k performance values (NaN = missing), or None
    # per group: for a dummy group, the index within the group of each row's dummy that is 1
    # (-1 = the reference level); None for a numeric group (used by the permutation null)
    level_codes: list[np.ndarray | None] | None = None


def _dummies(values: pd.Series, order: Sequence[str] = ()) -> tuple[np.ndarray, int]:
    """Dummy coding of every level present but the reference (the first of ``order`` present,
    else the first in sorted order), as codes: each row's column among the ``p`` dummies
    (0..p-1, levels in sorted order), -1 for the reference level. The reference is immaterial
    to every R²."""
    codes, uniques = pd.factorize(values.astype("string"), sort=True)
    levels = [str(u) for u in uniques]
    ref = next((levels.index(v) for v in order if v in levels), 0)
    codes = codes.astype(np.int64)
    return np.where(codes == ref, -1, np.where(codes > ref, codes - 1, codes)), len(levels) - 1



def _needed_columns(outcome: str, drivers: tuple[str, ...], weights: str | None, cluster: str | None,
                    performance: bool) -> tuple[dict[str, str], dict[str, str]]:
    """The columns one analysis reads and the performance column of each driver.

    Returns ``(needed, perf_cols)``: ``needed`` maps each column read (in the order the frame
    is cut) to its use, for the error message of a missing one; ``perf_cols`` maps each driver
    with a performance measure to the column it is measured on (empty without ``performance``).
    ValueError when the outcome is also the source of a driver.
    """
    needed = {DRIVER_SOURCES[d]: f"driver {d!r}" for d in drivers}
    if outcome in needed:
        raise ValueError(f"outcome {outcome!r} is also the source of {needed[outcome]}; "
                         "drop that driver or choose another outcome")
    needed[outcome] = "the outcome"
    if weights is not None:
        needed[weights] = "the weights"
    if cluster is not None:
        needed[cluster] = "the cluster bootstrap"
    perf_cols = {}
    if performance:
        for d in drivers:
            if PERFORMANCE_MEASURES[d] == "none":
                continue
            col = {"handling_time": "sla_met"}.get(d, DRIVER_SOURCES[d])
            perf_cols[d] = col
            needed.setdefault(col, f"the performance of driver {d!r}")
    return needed, perf_cols


def _complete_rows(responses: pd.DataFrame, outcome: str, drivers: tuple[str, ...], weights: str | None,
                   cluster: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Positions of the complete rows, with the outcome and the weights of every row.

    Returns ``(rows, y_all, w_all)``: ``rows`` the positions (0-based) of the rows with the
    outcome, every driver's source column, the weight and the cluster; ``y_all`` the outcome as
    float (NaN missing) and ``w_all`` the weights (None without ``weights``), both over all rows.
    InputError for a negative or infinite weight.
    """
    y_all = _as_float(responses[outcome], outcome)
    complete = ~np.isnan(y_all)
    for d in drivers:
        complete &= responses[DRIVER_SOURCES[d]].notna().to_numpy()
    w_all = None
    if weights is not None:
        w_all = _as_float(responses[weights], weights)
        bad = np.isfinite(w_all) & (w_all < 0) | np.isinf(w_all)
        if bad.any():
            raise InputError(f"column {weights!r}: weights must be finite and non-negative "
                             f"({int(bad.sum())} rows are not)")
        complete &= ~np.isnan(w_all)
    if cluster is not None:
        complete &= responses[cluster].notna().to_numpy()
    return np.flatnonzero(complete), y_all, w_all


def _design_matrix(sub: pd.DataFrame, drivers: tuple[str, ...],
                   w: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray | None]]:
    """The centred driver columns of the complete rows ``sub`` with weights ``w`` (n,).

    Returns ``(X, groups, level_codes)``: ``X`` (n x p, column-major) every driver column
    centred at its weighted mean; ``groups`` the column indices of each driver group;
    ``level_codes`` per group the dummy codes of a categorical driver (see :func:`_dummies`),
    None for a numeric one or a categorical one with a single level. A numeric column constant
    over the rows explains nothing and is left out (its group has no column).
    InputError for a negative handling time.
    """
    # each column as a way to build it (a dummy: its codes and level; else the values), so that
    # only the centred design X is ever held whole
    columns: list[tuple[np.ndarray, int | None]] = []
    groups = []
    level_codes: list[np.ndarray | None] = []
    for d in drivers:
        src = DRIVER_SOURCES[d]
        if d in ("subcause", "channel", "resolved"):
            codes, p = _dummies(sub[src], RESOLVED_ORDER if d == "resolved" else ())
            cols = [(codes, j) for j in range(p)]
        else:
            x = _as_float(sub[src], src)
            if d == "handling_time":
                if (x < 0).any():
                    raise InputError(f"column {src!r}: {int((x < 0).sum())} negative "
                                     "handling times")
                x = np.log2(1.0 + x)
            # a column constant over the complete rows explains nothing: leave it out
            cols = [(x, None)] if x.min() < x.max() else []
        if d in ("subcause", "channel", "resolved"):
            level_codes.append(codes if len(cols) else None)
        else:
            level_codes.append(None)
        groups.append(np.arange(len(columns), len(columns) + len(cols)))
        columns.extend(cols)
    X = np.empty((len(w), len(columns)), order="F")
    for j, (values, level) in enumerate(columns):
        col = values if level is None else (values == level).astype(float)
        X[:, j] = col - (w @ col) / w.sum()
    return X, groups, level_codes


def _prepare(responses: pd.DataFrame, *, outcome: str, drivers: tuple[str, ...],
             weights: str | None, cluster: str | None, performance: bool) -> _Prepared:
    """The complete-case design of one analysis (:class:`_Prepared`) from canonical responses.

    ``outcome`` numeric (OLS) or boolean (logit); ``drivers`` checked groups; ``weights`` and
    ``cluster`` column names or None (then every weight is 1 and every row its own cluster);
    ``performance`` adds the per-row performance values. InputError for a missing column, fewer
    than 3 complete rows or weights summing to zero.
    """
    needed, perf_cols = _needed_columns(outcome, drivers, weights, cluster, performance)
    _require_columns(responses, needed)
    rows, y_all, w_all = _complete_rows(responses, outcome, drivers, weights, cluster)
    logit = pd.api.types.is_bool_dtype(responses[outcome].dtype)
    n = len(rows)
    if n < 3:
        raise InputError(f"only {n} rows have the outcome {outcome!r} and every driver; "
                         "need at least 3")
    # only the columns used, and no copy when every row is complete
    sub = responses[list(needed)]
    if n < len(responses):
        sub = sub.iloc[rows]
    w = np.ones(n) if weights is None else w_all[rows]
    if not w.sum() > 0:
        raise InputError(f"column {weights!r}: the weights of the complete rows sum to zero")
    y = y_all[rows]
    X, groups, level_codes = _design_matrix(sub, drivers, w)

    if cluster is None:
        codes, n_clusters = np.arange(n), n
    else:
        # codes of the sorted labels: the resampling does not depend on the row order
        codes, uniq = pd.factorize(sub[cluster].astype("string"), sort=True)
        n_clusters = len(uniq)

    perf = None
    if performance:
        perf = np.column_stack([_performance_values(sub, d, perf_cols[d]) if d in perf_cols
                                else np.full(n, np.nan) for d in drivers])
    return _Prepared(outcome, drivers, logit, X, y, w, groups, codes, n_clusters, n,
                     len(responses) - n, perf, level_codes)


def _performance_values(sub: pd.DataFrame, driver: str, column: str) -> np.ndarray:
    """Per-row value whose weighted mean is the driver's performance (NaN = not counted)."""
    if driver == "resolved":
        v = sub[column].astype("string")
        return np.where(v.isna(), np.nan, (v == "yes").fillna(False).to_numpy(dtype=bool))
    values = _as_float(sub[column], column)
    if driver == "repeat":
        return 1.0 - values
    if driver in ("attitude", "speed", "outcome_item"):
        return (values - 1.0) / 4.0
    return values   # sla_met (handling_time, sla_met): 0/1
