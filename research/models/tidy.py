"""Tidy tables of a fitted model: its coefficients (with adjusted p-values and odds ratios) and
its fit statistics, as docs/result_contract.md (``estimates.csv``, ``model_fit.csv``) describes.

Inference (issue 11): the t reference of every row is :func:`research.models.fitted.inference_df`;
per-family rows (odds ratios of log-odds coefficients, variance components) come from the
model's entry in :data:`research.models.families.FAMILIES`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from research.models.families import family_of
from research.models.fitted import FittedModel, inference_df

#: the family of terms whose p-values are adjusted together within a model (sub-cause contrasts)
ADJUSTED_FAMILY = "cause_l2["


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Holm (``"holm"``) or Benjamini–Hochberg (``"fdr"``) adjusted p-values of one family.

    Same as R ``p.adjust(p, "holm")`` and ``p.adjust(p, "BH")`` (Holm 1979; Benjamini &
    Hochberg 1995): missing p-values stay missing and do not count in the family size.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    if method == "holm":
        order = ok[np.argsort(p[ok], kind="stable")]
        adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    elif method == "fdr":
        order = ok[np.argsort(p[ok], kind="stable")[::-1]]
        adj = np.minimum.accumulate(m / np.arange(m, 0, -1) * p[order])
    else:
        raise ValueError(f"unknown adjustment {method!r}: use 'holm' or 'fdr'")
    out[order] = np.minimum(adj, 1.0)
    return out


def tidy_estimates(fm: FittedModel, conf_level: float = 0.95) -> pd.DataFrame:
    """Coefficient table: ``model, term, estimate, std_error, statistic, p_value,
    conf_low, conf_high, conf_level, kind, df, n, method, p_holm, p_fdr, odds_ratio,
    or_conf_low, or_conf_high``.

    ``statistic`` = estimate / std_error; p-values and intervals use Student's t with
    ``df`` degrees of freedom (:func:`inference_df`): G - 1 for CR1 cluster-robust fits
    (Stata's convention, R ``clubSandwich::coef_test(test = "naive-t")``), the
    Bell–McCaffrey df of each coefficient for CR2 fits (``clubSandwich``,
    ``test = "Satterthwaite"``), n - k for classical OLS (R ``lmtest::coeftest``), the
    design df for survey-weighted fits (G - 1 when G <= p); the normal distribution otherwise (``df``
    blank; ``method`` ends in ``normal (df < 1)`` when a t reference was due but has
    fewer than 1 df).

    ``p_holm``, ``p_fdr``: Holm and Benjamini–Hochberg adjusted p-values over the
    family of sub-cause contrasts (terms ``cause_l2[...]``) of this model (R
    ``p.adjust``); blank on other terms. ``p_value`` stays unadjusted.
    ``odds_ratio``, ``or_conf_low``, ``or_conf_high``: for logit and ordinal
    coefficients, ``exp`` of the estimate and of the interval ends (the odds of a
    higher answer / of being satisfied, multiplied); blank otherwise.

    Variance components of mixed models are added as ``kind = variance`` rows
    without standard errors.
    """
    est = fm.params
    se = np.sqrt(np.clip(np.diag(fm.vcov), 0, None))
    z = est / se
    k = len(est)
    dfs = np.array([np.nan if (d := inference_df(fm, c)) is None else d for c in np.eye(k)]) \
        if fm.extra.get("cr2") is not None else np.full(k, np.nan if inference_df(fm) is None else inference_df(fm))
    t_ref = np.isfinite(dfs)
    p = np.where(t_ref, 2 * stats.t.sf(np.abs(z), np.where(t_ref, dfs, 1.0)), 2 * stats.norm.sf(np.abs(z)))
    q = np.where(t_ref, stats.t.ppf(0.5 + conf_level / 2, np.where(t_ref, dfs, 1.0)),
                 stats.norm.ppf(0.5 + conf_level / 2))
    method = fm.se_method
    if fm.df_resid is not None and not t_ref.any():  # a t reference was due but has no df
        method = f"{method}; normal (df < 1: {fm.df_resid:g})"
    out = pd.DataFrame({
        "model": fm.spec.name, "term": fm.names, "estimate": est, "std_error": se,
        "statistic": z, "p_value": p, "conf_low": est - q * se, "conf_high": est + q * se,
        "conf_level": conf_level, "kind": fm.kinds, "df": dfs,
        "n": fm.stats["nobs"], "method": method,
    })
    adjusted = out["term"].str.startswith(ADJUSTED_FAMILY).to_numpy() & (out["kind"] == "coefficient").to_numpy()
    out["p_holm"] = np.nan
    out["p_fdr"] = np.nan
    if adjusted.any():
        out.loc[adjusted, "p_holm"] = adjust_pvalues(out.loc[adjusted, "p_value"].to_numpy(), "holm")
        out.loc[adjusted, "p_fdr"] = adjust_pvalues(out.loc[adjusted, "p_value"].to_numpy(), "fdr")
    fam = family_of(fm.spec.family, fm.spec.name)
    odds = (fam.link == "logit") & (out["kind"] == "coefficient").to_numpy()
    for col, src in (("odds_ratio", "estimate"), ("or_conf_low", "conf_low"), ("or_conf_high", "conf_high")):
        out[col] = np.where(odds, np.exp(out[src].to_numpy()), np.nan)
    if fam.more_estimates is not None:
        out = pd.concat([out, fam.more_estimates(fm, conf_level)], ignore_index=True)
    return out


def tidy_fit(fm: FittedModel) -> pd.DataFrame:
    """One row of fit statistics: ``model, family, outcome, formula, nobs, n_dropped, loglik,
    aic, bic, df`` and family-specific columns (r_squared, sigma, pseudo_r2_mcfadden,
    reml_criterion, var_group, var_residual, icc, n_groups, iterations, converged, ...),
    plus ``se_type``, ``cluster``, ``n_clusters``, ``df_inference`` (the df of its t
    tests: G - 1 for CR1, n - k for classical OLS; blank for normal-based and CR2 fits,
    whose df are per contrast) and the reference levels used."""
    refs = {f"reference_{v}": str(fm.frame[v].cat.categories[0]) for v in fm.frame.columns
            if hasattr(fm.frame[v], "cat")}
    row = {"model": fm.spec.name, "family": fm.spec.family, "outcome": fm.spec.outcome,
           "formula": fm.spec.formula, **fm.stats, "se_type": fm.spec.se,
           "cluster": fm.spec.cluster or fm.spec.group or "",
           "n_clusters": int(fm.frame[fm.spec.cluster or fm.spec.group].nunique())
           if (fm.spec.cluster or fm.spec.group) else np.nan,
           "df_inference": np.nan if fm.extra.get("cr2") is not None or inference_df(fm) is None
           else inference_df(fm), **refs}
    return pd.DataFrame([row])
