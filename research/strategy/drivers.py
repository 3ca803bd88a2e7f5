"""Key-driver analysis (relative importance) and importance-performance analysis (IPA).

Which of the things a customer experiences -- the complaint's sub-cause, how
long handling took, a repeat call, whether the problem was resolved, and the
three satisfaction items (staff attitude, handling speed, outcome) -- accounts
for how much of the variation in overall satisfaction, and which of them the
utility should work on first?

Relative importance: LMG / Shapley value / general dominance
------------------------------------------------------------
Drivers come in GROUPS (the sub-cause is 16 dummy columns, the resolution 2);
importance is assigned to groups, never to single dummies. For ``k`` groups
and every subset ``S`` of them, ``R2(S)`` is the R² of the OLS fit of the
outcome on the columns of ``S`` (with an intercept; ``R2(empty) = 0``). The
importance of group ``j`` is its marginal R² increase averaged over all ``k!``
orders in which the groups can enter the model, which equals the subset
formula::

    I_j = sum_{S not containing j} |S|! (k - |S| - 1)! / k!  * (R2(S + j) - R2(S))

This is R's ``relaimpo::calc.relimp(type = "lmg")`` (Lindeman, Merenda & Gold
1980; Grömping 2006, with ``groups =``), the Shapley value of the R² game
(Lipovetsky & Conklin 2001) and the general dominance statistic of dominance
analysis (Budescu 1993; Azen & Budescu 2003; R ``domir``). The importances add
up exactly to the full model's R² (the Shapley efficiency property), so
``share = I_j / R2(all)`` adds up to 1. For OLS each ``I_j >= 0`` (R² never
falls when a group is added).

How the subset R² are computed (one pass over the data for OLS, a logit per subset for a
boolean outcome): :mod:`research.strategy.drivers_lmg`.

Confidence intervals: cluster bootstrap
---------------------------------------
Stations are resampled with replacement and percentile intervals (R's type 7) taken for
each importance and its share; the same replicates give the performance of every driver,
so the IPA quadrant probabilities come from the very same resamples
(:mod:`research.strategy.drivers_bootstrap`).

Importance-performance analysis
-------------------------------
Performance of each driver on a 0..1 scale and its quadrant (Martilla & James 1977), with
the share of replicates placing it in each quadrant: :mod:`research.strategy.drivers_ipa`.

Libraries considered
--------------------
- ``dominance-analysis`` (PyPI, 1.1.9, 2023): single columns only (no groups),
  no weights, no bootstrap; it first keeps the ``top_k`` predictors chosen by
  an F test, fits its logits without an intercept (``sm.Logit`` on the
  predictors alone), and imports plotly/cufflinks and calls
  ``init_notebook_mode`` at import.
- ``relativeImp`` (PyPI, 0.0.2, 2019) and ``key-driver-analysis``: Johnson's
  relative weights, an approximation of LMG, single columns, no weights.
- R ``relaimpo`` / ``domir``: the reference implementations, but not packaged
  for Debian (so not in our R fixture environment) and not callable here.
None supports grouped predictors + survey weights + a station cluster
bootstrap, hence this module; it is checked against a brute-force base-R
reference (``tests/fixtures/r/drivers/``).

Public API: :func:`key_drivers` (one bootstrap run, both results),
:func:`driver_importance`, :func:`importance_performance`,
:func:`driver_performance`, :func:`subset_r2`. Frames carry machine names only; the display
words of drivers, quadrants and performance measures are in :mod:`research.artifacts.words`.

The steps live in their own modules: :mod:`research.strategy.drivers_design` (driver groups,
checks, the complete-case design), :mod:`research.strategy.drivers_lmg` (subset R² and the
Shapley weights), :mod:`research.strategy.drivers_bootstrap` (the cluster bootstrap),
:mod:`research.strategy.drivers_ipa` (performance and quadrants) and
:mod:`research.strategy.drivers_null` (the permutation null). Every name they define that
scripts, benchmarks and tests use is importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from research.errors import check_whole
from research.strategy.drivers_bootstrap import _Run, _run
from research.strategy.drivers_design import (CALLBACK_DRIVERS, DEFAULT_DRIVERS, DEFAULT_SEED,  # noqa: F401
                                              DRIVER_SETS, DRIVER_SOURCES, DRIVERS, ITEM_DRIVERS,
                                              OPERATIONAL_DRIVERS, PERFORMANCE_MEASURES, QUADRANTS,
                                              RESOLVED_ORDER, Driver, Quadrant, _check_drivers, _check_run,
                                              _Prepared, _prepare)
from research.strategy.drivers_ipa import (IPA_STATUSES, _ipa_frame, driver_performance,  # noqa: F401
                                           importance_performance)

__all__ = ["key_drivers", "driver_analysis", "driver_importance", "importance_performance",
           "driver_performance", "subset_r2", "Driver", "DRIVERS", "DEFAULT_DRIVERS",
           "OPERATIONAL_DRIVERS", "ITEM_DRIVERS", "CALLBACK_DRIVERS", "DRIVER_SETS", "DRIVER_SOURCES",
           "QUADRANTS", "PERFORMANCE_MEASURES", "DEFAULT_SEED"]

# A null share within this of the observed one counts as "at least as large" (ties, e.g. a
# constant driver with share 0 in the data and in every permutation, give p = 1, not 1/(B+1)).
_NULL_TIE_TOL = 1e-12


# ---------------------------------------------------------------- frames ----
def _importance_frame(run: _Run, conf_level: float) -> pd.DataFrame:
    prep = run.prep
    total = float(run.r2[-1])
    imp = run.imp
    rep_total = run.rep_imp.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rep_share = run.rep_imp / rep_total
    good = ~np.isnan(run.rep_imp).any(1)
    a = (1 - conf_level) / 2
    if good.any():
        lo, hi = np.quantile(run.rep_imp[good], [a, 1 - a], axis=0)
        slo, shi = np.quantile(rep_share[good], [a, 1 - a], axis=0)
    else:
        lo = hi = slo = shi = np.full(len(imp), np.nan)
    rank = pd.Series(-imp).rank(method="min").astype(int).to_numpy()
    return pd.DataFrame({
        "outcome": prep.outcome,
        "driver": list(prep.drivers),
        "importance": imp,
        "share": imp / total if total > 0 else np.full(len(imp), np.nan),
        "conf_low": lo, "conf_high": hi,
        "share_conf_low": slo, "share_conf_high": shi,
        "rank": rank,
        "total_r2": total,
        "n": prep.n,
        "n_dropped": prep.n_dropped,
        "method": "lmg_mcfadden" if prep.logit else "lmg",
        "conf_level": float(conf_level),
        "n_clusters": prep.n_clusters,
        "bootstrap_reps": int(good.sum()),
    })


def _add_null(frame: pd.DataFrame, null: dict[str, np.ndarray] | None, alpha: float) -> pd.DataFrame:
    """Permutation-null columns of an importance frame (research.strategy.drivers_null).

    ``null_share_mean``, ``null_share_q95`` (mean and 95th percentile of the share under
    permutation of the driver's rows), ``p_value`` ((1 + #{null >= observed}) / (B + 1)),
    ``p_holm`` (Holm across the drivers of this decomposition), ``null_reps`` (permutations
    used) and ``detectable`` (``p_holm < alpha``); all missing (``detectable`` NA) without a null.
    """
    from research.strategy.drivers_null import holm

    out = frame.copy()
    if null is None:
        for c in ["null_share_mean", "null_share_q95", "p_value", "p_holm"]:
            out[c] = np.nan
        out["null_reps"] = 0
        out["detectable"] = pd.array([pd.NA] * len(out), dtype="boolean")
        return out
    ns = null["share"]
    obs = out["share"].to_numpy(float)
    ok = np.isfinite(ns)
    nreps = ok.sum(0)
    with np.errstate(invalid="ignore"):
        exceed = ((ns >= obs[None, :] - _NULL_TIE_TOL) & ok).sum(0)
    p = np.where(nreps > 0, (1.0 + exceed) / (nreps + 1.0), np.nan)
    out["null_share_mean"] = [np.nanmean(ns[:, j]) if nreps[j] else np.nan for j in range(ns.shape[1])]
    out["null_share_q95"] = [np.quantile(ns[ok[:, j], j], 0.95) if nreps[j] else np.nan
                             for j in range(ns.shape[1])]
    out["p_value"] = p
    out["p_holm"] = holm(p)
    out["null_reps"] = nreps.astype(int)
    out["detectable"] = pd.array(out["p_holm"].to_numpy() < alpha, dtype="boolean")
    return out


def _replicate_frame(run: _Run) -> pd.DataFrame:
    B, k = run.rep_imp.shape
    total = run.rep_imp.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = run.rep_imp / total[:, None]
    return pd.DataFrame({
        "replicate": np.repeat(np.arange(1, B + 1), k),
        "driver": np.tile(list(run.prep.drivers), B),
        "importance": run.rep_imp.ravel(),
        "share": share.ravel(),
        "total_r2": np.repeat(total, k),
        "performance": (run.rep_perf.ravel() if run.rep_perf is not None
                        else np.full(B * k, np.nan)),
    })


# ----------------------------------------------------------------- public ---
def driver_analysis(responses: pd.DataFrame, *, outcome: str = "sat_overall",
                    drivers: Sequence[str] = DEFAULT_DRIVERS, weights: str | None = None,
                    bootstrap_reps: int = 200, seed: int = DEFAULT_SEED,
                    cluster: str | None = "station", conf_level: float = 0.95,
                    permutation_reps: int = 0, permutation_seed: int | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, pd.DataFrame]:
    """ONE decomposition of the given driver groups: importance, its permutation null and the
    IPA, all from one cluster bootstrap run (the building block of :func:`key_drivers`).

    Parameters
    ----------
    responses : canonical survey responses (``research.ingestion.schema.RESPONSES``); needs the
        outcome, the source column of each driver (:data:`DRIVER_SOURCES`), the
        cluster column, the weights column if given, and for the performance
        ``sla_met`` (handling time) and each driver's own column.
    outcome : numeric column (OLS R², ``method = "lmg"``) or boolean column
        (logit, McFadden's pseudo-R², ``method = "lmg_mcfadden"``).
    drivers : driver groups, a subset of :data:`DRIVERS`, in output order.
    weights : column of non-negative survey weights (weighted R²), or None.
    bootstrap_reps : cluster bootstrap replicates (0: no intervals).
    seed : seed of ``numpy.random.default_rng`` for the bootstrap.
    cluster : column whose values are resampled (stations); None resamples rows.
    conf_level : level of the percentile intervals; ``1 - conf_level`` is the level of the
        permutation test (Holm-adjusted across the groups). Default 0.95; the pipeline passes
        the plan's ``conf_level``.
    permutation_reps : permutations per group for the null (research.strategy.drivers_null; 0: none,
        every driver with a performance measure is placed in the IPA).
    permutation_seed : base seed of the permutations (default
        ``research.strategy.drivers_null.DEFAULT_PERMUTATION_SEED``).
    progress : called with a message every 20 replicates and once per permuted group.

    Returns
    -------
    dict with three frames: ``"importance"`` (as :func:`driver_importance`, plus the null
    columns ``null_share_mean, null_share_q95, p_value, p_holm, null_reps, detectable``),
    ``"ipa"`` (as :func:`importance_performance`; only drivers with a performance measure
    whose importance clears the null are placed, ``ipa_status`` says why another is not)
    and ``"replicates"`` (one row per replicate and driver: ``replicate`` 1..B,
    ``driver``, ``importance`` (R² units), ``share``, ``total_r2``, ``performance``
    (0..1; NaN for a driver without a measure or in a failed replicate)).
    """
    from research.strategy.drivers_null import DEFAULT_PERMUTATION_SEED, permutation_null

    drivers = _check_drivers(drivers)
    _check_run(bootstrap_reps, conf_level, seed)
    from research.config.plan import MAX_BOOTSTRAP_REPS, SEED_MAX

    check_whole(permutation_reps, "permutation_reps", low=0, high=MAX_BOOTSTRAP_REPS, where="key drivers")
    pseed = DEFAULT_PERMUTATION_SEED if permutation_seed is None else permutation_seed
    check_whole(pseed, "permutation_seed", low=0, high=SEED_MAX, where="key drivers")
    prep = _prepare(responses, outcome=outcome, drivers=drivers, weights=weights,
                    cluster=cluster, performance=True)
    run = _run(prep, reps=int(bootstrap_reps), seed=int(seed), progress=progress)
    null = (permutation_null(prep, reps=int(permutation_reps), seed=int(pseed), progress=progress)
            if permutation_reps else None)
    imp = _add_null(_importance_frame(run, conf_level), null, 1.0 - conf_level)
    detectable = None if null is None else imp["detectable"].fillna(False).to_numpy(bool)
    return {
        "importance": imp,
        "ipa": _ipa_frame(outcome, drivers, run.imp, run.perf, run.rep_imp, run.rep_perf, detectable),
        "replicates": _replicate_frame(run),
    }


def key_drivers(responses: pd.DataFrame, *, outcome: str = "sat_overall",
                sets: dict[str, Sequence[str]] | None = None, weights: str | None = None,
                bootstrap_reps: int = 200, seed: int = DEFAULT_SEED,
                cluster: str | None = "station", conf_level: float = 0.95,
                permutation_reps: int = 200, permutation_seed: int | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, pd.DataFrame]:
    """Key drivers without the halo: operational drivers and satisfaction items decomposed APART.

    The operational decomposition uses only what the utility controls or observes
    before the callback (:data:`OPERATIONAL_DRIVERS`: sub-cause, handling time, SLA
    met, channel, repeat calls). The three satisfaction items are answers to the
    same call as the outcome (correlation ~0.84 with it): mixed in, they take ~80%
    of R² and every other driver's share and quadrant is decided by them. They are
    decomposed on their own (:data:`ITEM_DRIVERS`, "item importance"). The
    resolution answer is also a callback answer (post-treatment) and is in neither
    set; an operational set naming a callback answer is refused.

    Each set is one :func:`driver_analysis` (same bootstrap seed, so the same stations
    are drawn in both) with its permutation null; the IPA quadrants of a set are
    computed among its drivers that have a performance measure and clear the null.

    Parameters
    ----------
    sets : set name -> driver groups (default :data:`DRIVER_SETS`); the set named
        ``"operational"`` may not contain :data:`CALLBACK_DRIVERS`.
    other parameters : as :func:`driver_analysis` (``permutation_reps`` defaults to 200).

    Returns
    -------
    dict with ``"importance"``, ``"ipa"`` and ``"replicates"``: the frames of
    :func:`driver_analysis` for each set stacked, with a first column ``set``
    (``"operational"``, ``"items"``); shares, ranks, Holm adjustments and crosshairs
    are within a set.

    Examples
    --------
    >>> from research.simulate import simulate
    >>> res = key_drivers(simulate(20000, 1).responses, bootstrap_reps=50)   # doctest: +SKIP
    >>> res["importance"][["set", "driver", "share", "null_share_q95", "p_value"]]  # doctest: +SKIP
    """
    sets = dict(DRIVER_SETS if sets is None else sets)
    if not sets:
        raise ValueError("sets must name at least one driver set")
    mixed = [d for d in sets.get("operational", ()) if d in CALLBACK_DRIVERS]
    if mixed:
        raise ValueError(f"the operational driver set may not contain callback answers {mixed} "
                         "(post-treatment; they are decomposed apart as item importance)")
    parts: dict[str, list[pd.DataFrame]] = {"importance": [], "ipa": [], "replicates": []}
    for name, drivers in sets.items():
        res = driver_analysis(responses, outcome=outcome, drivers=drivers, weights=weights,
                              bootstrap_reps=bootstrap_reps, seed=seed, cluster=cluster,
                              conf_level=conf_level, permutation_reps=permutation_reps,
                              permutation_seed=permutation_seed, progress=progress)
        for key, frame in res.items():
            parts[key].append(frame.assign(set=name)[["set", *frame.columns]])
    return {key: pd.concat(frames, ignore_index=True) for key, frames in parts.items()}


def driver_importance(responses: pd.DataFrame, *, outcome: str = "sat_overall",
                      drivers: Sequence[str] = DEFAULT_DRIVERS, weights: str | None = None,
                      bootstrap_reps: int = 200, seed: int = DEFAULT_SEED,
                      cluster: str | None = "station", conf_level: float = 0.95,
                      progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Relative importance (LMG / Shapley / general dominance) of driver groups.

    Parameters are those of :func:`key_drivers` (performance columns are not
    needed here). Rows missing the outcome, any driver's source column, the
    weight or the cluster are dropped.

    Returns
    -------
    DataFrame, one row per driver group in ``drivers`` order:

    - ``outcome``, ``driver``
    - ``importance``: Shapley share of the R² (R² units; McFadden R² for a boolean outcome)
    - ``share``: importance / total_r2 (0..1; sums to 1)
    - ``conf_low``, ``conf_high``: percentile bootstrap interval of ``importance``
    - ``share_conf_low``, ``share_conf_high``: the same for ``share``
    - ``rank``: 1 = most important
    - ``total_r2``: R² of the model with every group (= sum of importances)
    - ``n``: rows used; ``n_dropped``: rows dropped for missing values
    - ``method``: ``"lmg"`` (OLS R²) or ``"lmg_mcfadden"`` (logit, McFadden)
    - ``conf_level``; ``n_clusters``: clusters resampled; ``bootstrap_reps``:
      replicates used (failed replicates, e.g. a non-converging logit, are left out)

    Examples
    --------
    >>> driver_importance(responses, bootstrap_reps=200, seed=1)   # doctest: +SKIP
    # In R (point estimates, single columns, no groups):
    #   relaimpo::calc.relimp(lm(sat_overall ~ ..., d), type = "lmg")
    #   domir::domir(sat_overall ~ ..., \\(f) summary(lm(f, d))$r.squared)
    """
    drivers = _check_drivers(drivers)
    _check_run(bootstrap_reps, conf_level, seed)
    prep = _prepare(responses, outcome=outcome, drivers=drivers, weights=weights,
                    cluster=cluster, performance=False)
    run = _run(prep, reps=int(bootstrap_reps), seed=int(seed), progress=progress)
    return _importance_frame(run, conf_level)


def subset_r2(responses: pd.DataFrame, *, outcome: str = "sat_overall",
              drivers: Sequence[str] = DEFAULT_DRIVERS, weights: str | None = None) -> pd.DataFrame:
    """R² (or McFadden R²) of the model on every subset of driver groups (complete rows).

    Returns
    -------
    DataFrame, one row per subset (2^k rows, bitmask order: bit j = ``drivers[j]``):
    ``outcome``, ``subset`` (group names joined by ``+`` in ``drivers`` order;
    ``""`` for the empty model), ``size`` (number of groups), ``r2``, ``method``.
    """
    drivers = _check_drivers(drivers)
    prep = _prepare(responses, outcome=outcome, drivers=drivers, weights=weights,
                    cluster=None, performance=False)
    run = _run(prep, reps=0, seed=0, progress=None)
    k = len(drivers)
    names = ["+".join(d for j, d in enumerate(drivers) if m >> j & 1) for m in range(2 ** k)]
    return pd.DataFrame({"outcome": outcome, "subset": names,
                         "size": [bin(m).count("1") for m in range(2 ** k)], "r2": run.r2,
                         "method": "lmg_mcfadden" if prep.logit else "lmg"})
