"""Sub-cause ranks with intervals on the ranks (issue 11, point 5).

"The least satisfied sub-cause" is the minimum of 17 point estimates; whether it is
*detectably* the least satisfied depends on how far the estimates are apart relative to
their joint uncertainty. :func:`subcause_ranks` answers that: from the average adjusted
prediction (AAP) of being satisfied per sub-cause (every ticket given sub-cause ``s``,
averaged; :func:`research.models.predict.predictions`, quantity ``aap_subcause``) and the
delta-method covariance of those AAPs, ``G V G'`` (``G`` the gradients of the AAPs over
the model's parameters from :func:`research.models.predict._evaluate`, ``V`` the model's
own vcov: clustered by station for the plan models), it draws ``draws`` (2,000) seeded
samples from the joint normal of the rates, ranks the sub-causes within each draw
(1 = least satisfied) and reports the 2.5% and 97.5% quantiles of each sub-cause's
ranks (Goldstein & Spiegelhalter 1996, "League tables and their limitations", JRSS A
159:385-443; the same simulation as :func:`research.strategy.stations.rank_stations`, which
ranks stations the other way round).

The point ``rank`` is the rank of the point estimates (ties share the lowest rank,
``min``); the interval ends are ``inverted_cdf`` quantiles of the simulated ranks, so
they are whole ranks. A sub-cause whose interval is ``1-1`` is the least satisfied in
at least 97.5% of the draws; wide, overlapping intervals mean the data cannot order
those sub-causes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

DRAWS = 2000
SEED = 20261130
METHOD = ("joint normal of the average adjusted predictions (delta-method covariance G V G' with the "
          "model's vcov), {draws} seeded draws; rank 1 = least satisfied; interval = {lo:g}%/{hi:g}% "
          "quantiles of the simulated ranks (Goldstein & Spiegelhalter 1996)")

COLUMNS = {"model": "string", "cause_l2": "string", "estimate": "float64", "std_error": "float64",
           "rank": "int64", "rank_low": "int64", "rank_high": "int64", "draws": "int64", "seed": "int64",
           "method": "string"}


def simulate_rates(mean: np.ndarray, cov: np.ndarray, draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """``draws`` x k samples of N(mean, cov); ``cov`` may be singular (a symmetric square root
    from its eigen-decomposition, negative rounding-error eigenvalues set to 0)."""
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    w, U = np.linalg.eigh((cov + cov.T) / 2)
    root = U * np.sqrt(np.clip(w, 0, None))[None, :]
    z = np.random.default_rng(seed).standard_normal((draws, len(mean)))
    return mean[None, :] + z @ root.T


def rank_intervals(names, mean, cov, *, draws: int = DRAWS, seed: int = SEED,
                   conf_level: float = 0.95) -> pd.DataFrame:
    """Ranks (1 = lowest) of ``mean`` with simulated intervals; columns ``cause_l2, estimate,
    std_error, rank, rank_low, rank_high, draws, seed, method`` in the order of ``names``."""
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    sims = simulate_rates(mean, cov, draws, seed)
    ranks = stats.rankdata(sims, axis=1, method="min")
    lo_q, hi_q = (1 - conf_level) / 2, (1 + conf_level) / 2
    low = np.quantile(ranks, lo_q, axis=0, method="inverted_cdf").astype(np.int64)
    high = np.quantile(ranks, hi_q, axis=0, method="inverted_cdf").astype(np.int64)
    point = stats.rankdata(np.round(mean, 12), method="min").astype(np.int64)
    return pd.DataFrame({"cause_l2": list(names), "estimate": mean,
                         "std_error": np.sqrt(np.clip(np.diag(cov), 0, None)),
                         "rank": point, "rank_low": low, "rank_high": high, "draws": draws, "seed": seed,
                         "method": METHOD.format(draws=draws, lo=100 * lo_q, hi=100 * hi_q)})


def subcause_ranks(fm, *, parent: dict[str, str], threshold: int, scale: str = "p_satisfied",
                   draws: int = DRAWS, seed: int = SEED, conf_level: float = 0.95) -> pd.DataFrame:
    """Sub-causes of a fitted model ranked on their average adjusted prediction on ``scale``
    (``p_satisfied`` for logit and ordinal models), with intervals on the ranks.

    The estimates equal the model's ``aap_subcause`` rows of
    :func:`research.models.predict.predictions` (same changes, same gradients).

    Returns
    -------
    DataFrame ``model, cause_l2, estimate, std_error, rank, rank_low, rank_high, draws,
    seed, method``, ordered by rank (then sub-cause code); empty when the model has no
    ``cause_l2`` or fewer than 2 sub-causes.
    """
    from research.models.predict import _AAP_CACHE, _aap_key, _evaluate, _rows

    frame = fm.frame
    if "cause_l2" not in frame.columns or frame["cause_l2"].cat.categories.size < 2:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMNS.items()})
    has_l1 = "cause_l1" in frame.columns
    subs = [str(s) for s in frame["cause_l2"].cat.categories]
    changes = [{"cause_l2": s, **({"cause_l1": parent[s]} if has_l1 else {})} for s in subs]
    # the averages predictions() already computed for this model (the same changes), else anew
    done = fm.extra.get(_AAP_CACHE, {}).get(_aap_key(threshold, changes))
    if done is not None and list(done) == subs:
        results = [done[s] for s in subs]
    else:
        everyone = _rows(fm, np.arange(len(frame)))
        results = [_evaluate(fm, everyone, ch, threshold) for ch in changes]
    est, grads = [], []
    for res in results:
        e, g = res[scale]
        est.append(e)
        grads.append(g)
    G = np.vstack(grads)
    out = rank_intervals(subs, np.array(est), G @ fm.vcov @ G.T, draws=draws, seed=seed, conf_level=conf_level)
    out.insert(0, "model", fm.spec.name)
    out = out.sort_values(["rank", "cause_l2"], kind="stable").reset_index(drop=True)
    return out.astype(COLUMNS)
