"""Stations, the ranking: stations ranked on the adjusted satisfied rate of the random-intercept
logit, with simulated intervals on the ranks, only when the between-station variance is
distinguishable from zero.

Ranking (:func:`rank_stations`)
-------------------------------
Adjusted satisfied rate of a station: the mean over *all* the period's answers of
``expit(x_i' beta + u_s)`` -- the rate the station would have had with the whole
period's case mix (direct standardisation). When the between-station variance is not
distinguishable from zero (``theta`` at 0, or the boundary test's ``p >= alpha``, default
0.05) the stations are **not ranked**: ``rank``, ``rank_low`` and ``rank_high`` are
missing, ``attrs["ranked"]`` is False and ``attrs["note"]`` says "no detectable
difference between stations". Otherwise the rank intervals come from ``draws`` (2,000)
seeded draws ``u_s ~ N(u_s, condVar_s)`` independently per station (an empirical-Bayes
approximation that ignores the uncertainty of ``beta`` and ``theta``), ranking the draws
(1 = most satisfied) and taking the ``(1 - conf_level) / 2`` and ``(1 + conf_level) / 2``
quantiles of each station's ranks (Goldstein & Spiegelhalter 1996). The point ``rank`` is
the rank of ``u_s`` with ties sharing the best rank (``min``): ties are never broken by
name. The flags (``versus_mean``) are those of :func:`funnel` on the same answers (FDR
rule), which holds whether or not the stations are ranked.

References: Goldstein, H. & Spiegelhalter, D. J. (1996) League tables and their limitations.
JRSS A 159(3), 385-443.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from research.errors import NotEstimable
from research.strategy.stations_funnel import CASE_MIX_RHS, MIN_ROWS, _design, fit_case_mix, funnel_table
from research.strategy.stations_glmm import fit_random_intercept_logit


# ---------------------------------------------------------------------------- ranking

_RANK_COLUMNS = {"station": "string", "n": "int64", "raw_rate": "float64", "ranef": "float64",
                 "ranef_se": "float64", "adjusted_rate": "float64", "rank": "Int64", "rank_low": "Int64",
                 "rank_high": "Int64", "overall_rate": "float64", "std_rate": "float64", "q_value": "float64",
                 "versus_mean": "string"}


def _empty_rank(note: str) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _RANK_COLUMNS.items()})
    out.attrs.update(note=note, ranked=False)
    return out


def rank_stations(responses: pd.DataFrame, *, instrument=None, rhs: str = CASE_MIX_RHS,
                  conf_level: float = 0.95, alpha: float = 0.05, draws: int = 2000, seed: int = 20260101,
                  fdr: float = 0.05) -> pd.DataFrame:
    """Stations ranked on the case-mix-adjusted satisfied rate, with intervals on the ranks.

    Parameters
    ----------
    responses : canonical responses of one period (``satisfied``, ``cause_l2``,
        ``handling_hours``, ``channel``, ``station``).
    instrument : category order (default the package's instrument).
    rhs : fixed effects (R notation; default :data:`CASE_MIX_RHS`).
    conf_level : coverage of the rank intervals (default 0.95; the monthly bulletin passes the
        plan's ``conf_level``).
    alpha : level of the boundary test of no between-station variance (default 0.05).
    draws, seed : simulation of the ranks (default 2,000 draws, fixed seed).
    fdr : q-value of the funnel flags (:func:`funnel`).

    Returns
    -------
    One row per station: ``station``, ``n``, ``raw_rate``, ``ranef`` (conditional mode,
    logit scale), ``ranef_se`` (its conditional SD), ``adjusted_rate`` (direct
    standardisation on the period's case mix, 0..1), ``rank``, ``rank_low``, ``rank_high``
    (1 = most satisfied; <NA> when not ranked), ``overall_rate``, ``std_rate`` and
    ``q_value`` (the funnel's), ``versus_mean`` ("below", "above" or "": the funnel's FDR
    flag). Ordered by rank (ties and unranked by adjusted rate, then raw rate, then n;
    never by name alone when they differ). ``attrs``: ``ranked`` (bool), ``note``,
    ``sigma2_station``, ``lrt``, ``lrt_p``, ``loglik``, ``n_answers``. See the module
    docstring (lme4 ``glmer``; Goldstein & Spiegelhalter 1996).
    """
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must lie strictly between 0 and 1")
    data = _ranking_data(responses, rhs, instrument)
    if isinstance(data, str):
        return _empty_rank(data)
    X, y, st = data
    try:
        fit = fit_random_intercept_logit(X, y, st)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return _empty_rank(f"ranking not computed: the model could not be fitted ({exc})")
    out = _station_rates(X, y, st, fit, fdr)
    ranked = fit.theta > 0 and fit.lrt_p < alpha
    if ranked:
        out["rank"], out["rank_low"], out["rank_high"] = _rank_intervals(fit, conf_level, draws, seed)
    out = _ordered(out.astype(_RANK_COLUMNS), ranked)
    out.attrs.update(ranked=bool(ranked), note=_rank_note(fit, ranked, alpha), sigma2_station=fit.sigma2_group,
                     lrt=fit.lrt, lrt_p=fit.lrt_p, loglik=fit.loglik, n_answers=int(len(y)),
                     conf_level=conf_level, draws=int(draws), seed=int(seed))
    return out


def _ranking_data(responses: pd.DataFrame, rhs: str, instrument) -> tuple | str:
    """The complete cases ``(X, y, stations)`` of the ranking model, or the note saying why the
    stations cannot be ranked (model not estimable, fewer than 2 stations or :data:`MIN_ROWS`
    answers, a single outcome)."""
    try:
        _, X, y, st = _design(responses, rhs, instrument, "rank_stations: responses")
    except NotEstimable as exc:
        return f"ranking not computed: the model is not estimable ({exc})"
    n_st = len(pd.unique(st))  # distinct stations by hashing (np.unique sorted a million strings)
    if n_st < 2:
        return f"ranking not computed: {n_st} station(s) with complete answers; at least 2 are needed"
    if len(y) < MIN_ROWS:
        return f"ranking not computed: {len(y)} complete answers; at least {MIN_ROWS} are needed"
    if y.min() == y.max():
        return "ranking not computed: every complete answer has the same outcome"
    return X, y, st


def _station_rates(X: np.ndarray, y: np.ndarray, st: np.ndarray, fit, fdr: float) -> pd.DataFrame:
    """One row per station of ``fit.groups`` (sorted labels): ``station``, ``n``, ``raw_rate``,
    ``ranef``, ``ranef_se``, ``adjusted_rate`` (direct standardisation on all the answers,
    0..1), ``rank``/``rank_low``/``rank_high`` (<NA>), ``overall_rate`` and the funnel's
    ``std_rate``, ``q_value`` and FDR flag ``versus_mean``."""
    codes = pd.factorize(pd.Series(st), sort=True)[0]
    G = len(fit.groups)
    eta0 = X @ fit.beta
    adjusted = np.array([special.expit(eta0 + u).mean() for u in fit.ranef])
    fun = funnel_table(st, y, special.expit(X @ fit_case_mix(X, y)), fdr=fdr)
    fun = fun.set_index(fun["station"].astype(str))
    names = fit.groups.astype(str)
    out = pd.DataFrame({"station": pd.array(names, dtype="string"),
                        "n": np.bincount(codes, minlength=G).astype(np.int64),
                        "raw_rate": np.bincount(codes, weights=y, minlength=G) / np.bincount(codes, minlength=G),
                        "ranef": fit.ranef, "ranef_se": np.sqrt(fit.condvar), "adjusted_rate": adjusted})
    rank = pd.array([pd.NA] * G, dtype="Int64")
    out["rank"], out["rank_low"], out["rank_high"] = rank, rank, rank
    out["overall_rate"] = float(y.mean())
    out["std_rate"] = fun["std_rate"].reindex(names).to_numpy(dtype=float)
    out["q_value"] = fun["q_value"].reindex(names).to_numpy(dtype=float)
    out["versus_mean"] = fun["fdr_signal"].reindex(names).fillna("").to_numpy(dtype=object)
    return out


def _rank_intervals(fit, conf_level: float, draws: int, seed: int):
    """Point rank (``min`` ties, 1 = most satisfied) and the ``conf_level`` interval of each
    station's rank from ``draws`` seeded draws of its random effect; three Int64 arrays."""
    G = len(fit.groups)
    rng = np.random.default_rng(seed)
    sims = fit.ranef[None, :] + rng.standard_normal((draws, G)) * np.sqrt(fit.condvar)[None, :]
    ranks = stats.rankdata(-sims, axis=1, method="min")
    lo_q, hi_q = (1 - conf_level) / 2, (1 + conf_level) / 2
    low = pd.array(np.quantile(ranks, lo_q, axis=0, method="inverted_cdf").astype(np.int64), dtype="Int64")
    high = pd.array(np.quantile(ranks, hi_q, axis=0, method="inverted_cdf").astype(np.int64), dtype="Int64")
    rank = pd.array(stats.rankdata(-np.round(fit.ranef, 12), method="min").astype(np.int64), dtype="Int64")
    return rank, low, high


def _ordered(out: pd.DataFrame, ranked: bool) -> pd.DataFrame:
    """Rows by rank (when ranked), then adjusted rate, raw rate and n (highest first)."""
    keys = ["adjusted_rate", "raw_rate", "n"]
    if ranked:
        out = out.assign(_r=out["rank"].astype("float64")).sort_values(["_r", *keys],
                                                                         ascending=[True, False, False, False],
                                                                         kind="stable").drop(columns="_r")
    else:
        out = out.sort_values(keys, ascending=False, kind="stable")
    return out.reset_index(drop=True)


def _rank_note(fit, ranked: bool, alpha: float) -> str:
    """Empty when ranked; else why the stations are not ranked."""
    if ranked:
        return ""
    if fit.theta == 0:
        return ("no detectable difference between stations: the between-station variance is estimated "
                "at zero; stations are not ranked")
    return (f"no detectable difference between stations: the between-station variance is not "
            f"distinguishable from zero (likelihood-ratio p = {fit.lrt_p:.3g} >= {alpha:g}); stations "
            "are not ranked")
