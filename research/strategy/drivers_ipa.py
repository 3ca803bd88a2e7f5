"""Key drivers, importance-performance analysis (IPA): the performance of each driver and its
quadrant, with the bootstrap probability of each quadrant.

Importance-performance analysis
-------------------------------
Performance of a driver is its current level on a 0..1 scale, on the rows
used for the importance (see :data:`PERFORMANCE_MEASURES`): items ``(mean -
1) / 4``; ``resolved`` the share resolved "yes"; ``repeat`` one minus the
share of repeat callers; ``handling_time`` the share handled within the SLA
target (``sla_met``); ``subcause`` the satisfied rate. Crosshairs at the
mean importance and the mean performance across the drivers (Martilla &
James 1977): high importance & low performance = ``concentrate_here``
(重点改进区), high & high = ``keep_up`` (继续保持区), low & low =
``low_priority`` (次要改进区), low importance & high performance =
``possible_overkill`` (过度投入区); a value equal to its crosshair counts as
high. In every bootstrap replicate importance, performance AND the crosshairs
are recomputed; ``p_<quadrant>`` is the share of replicates placing the
driver in that quadrant.

In: importances (R² units) and performances (0..1) of the drivers, for the sample and for each
bootstrap replicate (:mod:`research.strategy.drivers_bootstrap`). Out: one row per driver
(:func:`_ipa_frame`, :func:`importance_performance`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from research.strategy.drivers_design import (DEFAULT_DRIVERS, PERFORMANCE_MEASURES, QUADRANTS, _check_drivers,
                                              _prepare)


def _quadrants(imp: np.ndarray, perf: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Quadrant code index (0..3 in QUADRANTS order, -1 if undefined) of each driver."""
    fin = np.isfinite(imp) & np.isfinite(perf)
    if not fin.any():
        return np.full(len(imp), -1), np.nan, np.nan
    ci, cp = float(imp[fin].mean()), float(perf[fin].mean())
    hi_i, hi_p = imp >= ci, perf >= cp
    q = np.where(hi_i, np.where(hi_p, 1, 0), np.where(hi_p, 3, 2))
    return np.where(fin, q, -1), ci, cp


#: IPA status of a driver: placed in a quadrant, or why not
IPA_STATUSES: tuple[str, ...] = ("placed", "no_performance_measure", "no_detectable_importance",
                                 "too_few_drivers")


def _ipa_frame(outcome: str, drivers: tuple[str, ...], imp: np.ndarray, perf: np.ndarray,
               rep_imp: np.ndarray, rep_perf: np.ndarray,
               detectable: np.ndarray | None = None) -> pd.DataFrame:
    """Quadrants of the drivers that have a performance measure and (if ``detectable`` is
    given) an importance that clears its permutation null; crosshairs and bootstrap
    probabilities are computed among those drivers only (at least 2 are needed)."""
    k = len(drivers)
    has_perf = np.isfinite(perf)
    clears = np.ones(k, dtype=bool) if detectable is None else np.asarray(detectable, dtype=bool)
    placed = has_perf & clears
    status = np.where(~has_perf, "no_performance_measure",
                      np.where(~clears, "no_detectable_importance", "placed")).astype(object)
    if placed.sum() < 2:
        status[placed] = "too_few_drivers"
        placed[:] = False
    idx = np.flatnonzero(placed)
    q = np.full(k, -1)
    ci = cp = np.nan
    probs = np.full((k, len(QUADRANTS)), np.nan)
    nb = 0
    if len(idx):
        q[idx], ci, cp = _quadrants(imp[idx], perf[idx])
        ri, rp = rep_imp[:, idx], rep_perf[:, idx]
        good = np.isfinite(ri).all(1) & np.isfinite(rp).all(1)
        counts = np.zeros((len(idx), len(QUADRANTS)))
        for b in np.flatnonzero(good):
            qb, _, _ = _quadrants(ri[b], rp[b])
            counts[np.arange(len(idx)), qb] += 1
        nb = int(good.sum())
        if nb:
            probs[idx] = counts / nb
    out = pd.DataFrame({
        "driver": list(drivers),
        "importance": imp,
        "performance": perf,
        "quadrant": pd.array([QUADRANTS[i] if i >= 0 else pd.NA for i in q], dtype="string"),
    })
    for j, name in enumerate(QUADRANTS):
        out[f"p_{name}"] = probs[:, j]
    out["outcome"] = outcome
    out["performance_measure"] = [PERFORMANCE_MEASURES[d] for d in drivers]
    out["importance_crosshair"] = ci
    out["performance_crosshair"] = cp
    out["bootstrap_reps"] = nb
    out["ipa_status"] = pd.array(list(status), dtype="string")
    return out


def driver_performance(responses: pd.DataFrame, *, outcome: str = "sat_overall",
                       drivers: Sequence[str] = DEFAULT_DRIVERS, weights: str | None = None,
                       cluster: str | None = "station") -> pd.DataFrame:
    """Performance (0..1) of each driver on the rows the importance analysis uses.

    Returns
    -------
    DataFrame: ``driver``, ``performance`` (0..1, weighted mean of the measure),
    ``performance_measure`` (code, see :data:`PERFORMANCE_MEASURES`), ``n`` (rows).
    """
    drivers = _check_drivers(drivers)
    prep = _prepare(responses, outcome=outcome, drivers=drivers, weights=weights,
                    cluster=cluster, performance=True)
    V = prep.perf_values
    ok = ~np.isnan(V)
    with np.errstate(invalid="ignore", divide="ignore"):
        perf = (prep.w @ np.where(ok, V, 0.0)) / (prep.w @ ok)
    return pd.DataFrame({"driver": list(drivers), "performance": perf,
                         "performance_measure": [PERFORMANCE_MEASURES[d] for d in drivers],
                         "n": prep.n})


def importance_performance(responses: pd.DataFrame, importance: pd.DataFrame, *,
                           replicates: pd.DataFrame, weights: str | None = None,
                           cluster: str | None = "station") -> pd.DataFrame:
    """Importance-performance analysis: quadrant of each driver and its bootstrap probabilities.

    Parameters
    ----------
    responses : the responses the importance was computed on.
    importance : output of :func:`driver_importance` / ``key_drivers()["importance"]``.
    replicates : ``key_drivers()["replicates"]``: the importance AND performance of
        each driver in each bootstrap replicate (same resamples).
    weights, cluster : as used for ``importance`` (they decide which rows are used;
        checked through ``n``).

    Returns
    -------
    DataFrame, one row per driver: ``driver``, ``importance`` (R² units),
    ``performance`` (0..1), ``quadrant`` (:data:`QUADRANTS`; crosshairs at the
    means over drivers, a value at its crosshair counts as high),
    ``p_concentrate_here``, ``p_keep_up``, ``p_low_priority``,
    ``p_possible_overkill`` (share of replicates, crosshairs recomputed in each;
    they sum to 1), ``outcome``, ``performance_measure``, ``importance_crosshair``,
    ``performance_crosshair``, ``bootstrap_reps`` (replicates used).
    """
    need = {"outcome", "driver", "importance", "n"}
    if not need <= set(importance.columns):
        raise ValueError(f"importance frame lacks {sorted(need - set(importance.columns))}")
    if not {"replicate", "driver", "importance", "performance"} <= set(replicates.columns):
        raise ValueError("replicates must be key_drivers()['replicates'] (columns replicate, "
                         "driver, importance, performance)")
    drivers = _check_drivers(list(importance["driver"]))
    outcome = str(importance["outcome"].iloc[0])
    perf = driver_performance(responses, outcome=outcome, drivers=drivers, weights=weights,
                              cluster=cluster)
    if int(perf["n"].iloc[0]) != int(importance["n"].iloc[0]):
        raise ValueError(f"importance was computed on {int(importance['n'].iloc[0])} rows but "
                         f"these responses give {int(perf['n'].iloc[0])}; pass the same data, "
                         "weights and cluster")
    rep = replicates.set_index(["replicate", "driver"])
    ri = rep["importance"].unstack("driver").reindex(columns=list(drivers))
    rp = rep["performance"].unstack("driver").reindex(columns=list(drivers))
    detectable = (importance["detectable"].astype("boolean").fillna(False).to_numpy(bool)
                  if "detectable" in importance.columns and importance["null_reps"].gt(0).all() else None)
    return _ipa_frame(outcome, drivers, importance["importance"].to_numpy(float),
                      perf["performance"].to_numpy(float), ri.to_numpy(float), rp.to_numpy(float),
                      detectable)
