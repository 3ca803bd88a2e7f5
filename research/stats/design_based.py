"""Design-based (survey-weighted) estimates with Taylor-linearization standard errors.

The design is a one-stage cluster sample with stations as primary sampling units
(PSUs), a single stratum, unequal weights and the with-replacement
approximation (no finite population correction) -- in R::

    des <- survey::svydesign(ids = ~station, weights = ~w, data = d)

Every estimator here is (or is linearised as) a smooth function of weighted
totals; its standard error comes from the estimator's *influence values*
``z_i`` (one per row), summed within clusters::

    z_g  = sum_{i in g} z_i                          (g = 1..G clusters)
    Var  = G / (G - 1) * sum_g (z_g - zbar)^2,       zbar = (1/G) sum_g z_g

which is what ``survey::svyrecvar`` computes for this design (its
``onestage``: cluster totals, centred within the single stratum, scaled by
``n_PSU / (n_PSU - 1)``). For the estimators below the influence values sum to
zero over the sample, so the centring changes nothing numerically; it is kept
so the formula is the survey package's. ``G`` counts every cluster of the
data passed in, including clusters whose rows are all missing for the
variable at hand (R keeps them too: subsetting a ``survey.design2`` only sets
the dropped rows' weights to zero).

Functions (all pure; results are tidy frames per docs/result_contract.md):

- :func:`svy_mean`      -- ``svymean(~y, des, na.rm = TRUE)``
- :func:`svy_by`        -- ``svyby(~y, ~by, des, svymean, na.rm = TRUE)`` plus the
  unweighted equivalents (all weights 1, same clusters)
- :func:`svy_glm_logit` -- ``svyglm(y ~ ..., des, family = quasibinomial())``
  (:mod:`research.stats.svy_models`)
- :func:`svy_olr`       -- ``svyolr(factor(y) ~ ..., des)`` (proportional odds;
  :mod:`research.stats.svy_models`)

The influence-value variance and cluster codes are :mod:`research.stats.linearization`,
calibrated weights :mod:`research.stats.calibration`; every name stays importable from here.

Confidence intervals: means and domain means use the normal quantile, as
``confint()`` on an ``svystat``/``svyby`` object does by default; the
regression models use Student's t with the design degrees of freedom
``df = G - 1 - (number of slope coefficients)``. For ``svyglm`` this is R's
``df.residual = degf(design) + 1 - length(coef)`` with the intercept counted
in ``coef`` (``summary.svyglm`` p-values and ``confint.svyglm`` intervals);
for ``svyolr`` it is its ``df.residual = degf(design) - length(beta)`` (R
itself prints only t values for svyolr; the p-values and t intervals here
use that df). When that df is below 1 (no more clusters than parameters, where
R gives no p-values), t with ``G - 1`` df, R's ``degf(design)`` as ``svymean``
uses (:func:`design_df`), labelled so, never a negative df.

Checked against R ``survey`` 4.1-1 in ``tests/stats/test_design_based.py``
(fixtures and the generating script in ``tests/fixtures/r/design_based/``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# the design's building blocks, the calibration and the regressions are modules of their own;
# every name stays importable from here
from research.stats.calibration import Calibration, _Cells  # noqa: F401
from research.stats.linearization import SvyFit, _cluster_codes, _z, linearized_variance  # noqa: F401
from research.stats.svy_models import (_group_sums, _model_inputs, _sandwich, _tidy, design_df,  # noqa: F401
                                       logit_fit, svy_glm_logit, svy_glm_logit_fit, svy_olr, svy_olr_fit)

__all__ = ["svy_mean", "svy_by", "svy_glm_logit", "svy_olr", "svy_glm_logit_fit", "svy_olr_fit",
           "SvyFit", "Calibration", "linearized_variance", "design_df"]


def _numeric_column(data: pd.DataFrame, col: str) -> np.ndarray:
    if col not in data.columns:
        raise KeyError(f"column {col!r} not in data")
    s = data[col]
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=float, na_value=np.nan)
    if s.dtype == object:
        # object column of True/False/None (e.g. after reading with missing values)
        vals = s.to_numpy()
        ok = pd.isna(vals)
        scalar = (bool, np.bool_, int, float, np.integer, np.floating)
        if all(isinstance(v, scalar) for v in vals[~ok]):
            out = np.full(vals.shape, np.nan)
            out[~ok] = vals[~ok].astype(float)
            return out
    raise TypeError(f"column {col!r} must be numeric or boolean, got dtype {s.dtype}")


def _weights(data: pd.DataFrame, col: str) -> np.ndarray:
    w = _numeric_column(data, col)
    if not np.isfinite(w).all() or (w <= 0).any():
        raise ValueError(f"weights {col!r} must be finite and positive")
    return w



# ---------------------------------------------------------------------------
# means
# ---------------------------------------------------------------------------

def svy_mean(data: pd.DataFrame, *, y: str, weights: str, cluster: str,
             conf_level: float = 0.95, calibration: Calibration | None = None) -> pd.DataFrame:
    """Survey-weighted mean with a Taylor-linearization SE (R ``svymean(~y, des, na.rm = TRUE)``).

    Estimator (ratio of weighted totals, over the rows with ``y`` observed)::

        ybar = sum_i w_i y_i / sum_i w_i

    Influence values ``z_i = w_i (y_i - ybar) / sum_i w_i`` (0 for rows with
    missing ``y``), and ``Var(ybar) = G/(G-1) sum_g (z_g - zbar)^2`` over the
    ``G`` clusters of ``data`` (see the module docstring). Normal-theory CI
    ``ybar -/+ z_{1-a/2} SE`` (as ``confint(svymean(...))``). A boolean ``y``
    gives a proportion.

    Special case (tested): equal weights and one row per cluster give
    ``SE = sd(y) / sqrt(n)`` -- the ordinary SE of the mean, the sample
    standard deviation having the ``n - 1`` divisor; i.e. the with-replacement
    ``G/(G-1)`` factor turns the plug-in ``sqrt(sum (y - ybar)^2) / n`` into
    ``sqrt(n/(n-1))`` times that.

    With ``calibration`` (over the rows of ``data``) the influence values are
    first replaced by their residuals from the calibration margins
    (:class:`Calibration`), as R does on a raked or post-stratified design.

    Returns one row: ``variable, estimate, std_error, conf_low, conf_high,
    conf_level, n, n_missing, n_clusters``.
    """
    yv = _numeric_column(data, y)
    w = _weights(data, weights)
    codes, g = _cluster_codes(data[cluster])
    ok = ~np.isnan(yv)
    n_ok = int(ok.sum())
    if n_ok == 0:
        raise ValueError(f"column {y!r} has no non-missing values")
    wy = np.where(ok, w, 0.0)
    W = wy.sum()
    ybar = float(np.dot(wy, np.where(ok, yv, 0.0)) / W)
    infl = wy * (np.where(ok, yv, ybar) - ybar) / W
    var = calibration.variance(infl) if calibration is not None else linearized_variance(infl, codes, g)
    se = float(np.sqrt(var[0, 0]))
    q = _z(conf_level)
    return pd.DataFrame({
        "variable": [y], "estimate": [ybar], "std_error": [se],
        "conf_low": [ybar - q * se], "conf_high": [ybar + q * se], "conf_level": [conf_level],
        "n": [n_ok], "n_missing": [int(len(yv) - n_ok)], "n_clusters": [g],
    })


def _domain_means(yv: np.ndarray, w: np.ndarray, dom: np.ndarray, n_dom: int,
                  codes: np.ndarray, g: int, calibration: Calibration | None = None, count=None):
    """Domain means and linearization SEs; rows with dom < 0 or missing y have influence 0.

    One pass over the rows: each row lies in one domain, so the (G x D) matrix of
    cluster-by-domain influence totals is a single bincount. ``count``: respondents per row
    (None: one); a row's weight and influence then count that many times (its influence is the
    group's total, as :class:`Calibration` takes it).
    """
    ok = (dom >= 0) & ~np.isnan(yv)
    d_ok = dom[ok]
    w_ok = w[ok] if count is None else w[ok] * count[ok]
    y_ok = yv[ok]
    W = np.bincount(d_ok, weights=w_ok, minlength=n_dom)
    WY = np.bincount(d_ok, weights=w_ok * y_ok, minlength=n_dom)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = WY / W
    infl = w_ok * (y_ok - est[d_ok]) / W[d_ok]
    if calibration is not None:
        # the residuals spread over every row; each domain's variance from the design's cell sums
        return est, np.sqrt(calibration.domain_variances(infl, np.flatnonzero(ok), d_ok, n_dom))
    totals = np.bincount(codes[ok] * n_dom + d_ok, weights=infl,
                         minlength=g * n_dom).reshape(g, n_dom)
    totals -= totals.mean(axis=0)
    var = g / (g - 1) * np.einsum("gd,gd->d", totals, totals)
    return est, np.sqrt(var)


def svy_by(data: pd.DataFrame, *, y: str, by: str | Sequence[str], weights: str, cluster: str,
           conf_level: float = 0.95, calibration: Calibration | None = None,
           count: str | None = None) -> pd.DataFrame:
    """Domain means (R ``svyby(~y, ~by, des, svymean, na.rm = TRUE)``) and their unweighted twins.

    For domain ``d`` (indicator ``I_di``, rows with ``y`` observed)::

        ybar_d = sum_i w_i I_di y_i / sum_i w_i I_di
        z_i    = w_i I_di (y_i - ybar_d) / sum_i w_i I_di

    The variance uses the whole design's ``G`` clusters (domain sizes are
    random; clusters with no row in the domain contribute ``z_g = 0``), as
    ``svyby`` does by subsetting the design (which zeroes weights rather than
    dropping PSUs): ``Var = G/(G-1) sum_g (z_g - zbar)^2``. Normal-theory CIs.

    ``estimate_unweighted`` / ``std_error_unweighted`` are the same quantities
    with every weight 1 and the same cluster linearization (``svydesign(ids =
    ~cluster, weights = ~1)``), so ``estimate - estimate_unweighted`` is how far
    the weighting (non-response adjustment) moves each figure. ``calibration``
    (over the rows of ``data``) applies to the weighted estimates only.

    Rows with a missing ``by`` value belong to no domain (dropped, not a
    domain of their own). Domains are ordered as ``groupby(sort=True)`` orders
    them (category order for categoricals).

    ``count`` (a column name, optional): each row of ``data`` stands for that many respondents
    with its values (the groups of an engine's ``GROUP BY``; a ``calibration`` is then built with
    the same counts); every sum above, ``n`` and ``n_missing`` count them, so the result equals
    that of the expanded rows up to rounding.

    Returns one row per domain: the ``by`` columns, ``variable, estimate,
    std_error, conf_low, conf_high, conf_level, n, n_missing,
    estimate_unweighted, std_error_unweighted, conf_low_unweighted,
    conf_high_unweighted, n_clusters``.
    """
    by_cols = [by] if isinstance(by, str) else list(by)
    for c in by_cols:
        if c not in data.columns:
            raise KeyError(f"column {c!r} not in data")
    yv = _numeric_column(data, y)
    w = _weights(data, weights)
    codes, g = _cluster_codes(data[cluster])
    mult = None if count is None else _numeric_column(data, count)
    grouped = data[by_cols].groupby(by_cols, sort=True, observed=True, dropna=True)
    dom = grouped.ngroup().to_numpy()
    dom = np.where(pd.isna(dom), -1, dom).astype(np.intp)
    n_dom = grouped.ngroups
    keys = grouped.size().reset_index()[by_cols] if n_dom else pd.DataFrame(columns=by_cols)
    est, se = _domain_means(yv, w, dom, n_dom, codes, g, calibration, mult)
    est_u, se_u = _domain_means(yv, np.ones_like(w), dom, n_dom, codes, g, count=mult)
    in_dom = dom >= 0
    miss = np.isnan(yv)
    n = np.bincount(dom[in_dom & ~miss], weights=None if mult is None else mult[in_dom & ~miss], minlength=n_dom)
    n_missing = np.bincount(dom[in_dom & miss], weights=None if mult is None else mult[in_dom & miss],
                            minlength=n_dom)
    if mult is not None:
        n, n_missing = np.round(n).astype(np.int64), np.round(n_missing).astype(np.int64)
    q = _z(conf_level)
    out = keys.reset_index(drop=True).copy()
    out["variable"] = y
    out["estimate"] = est
    out["std_error"] = se
    out["conf_low"] = est - q * se
    out["conf_high"] = est + q * se
    out["conf_level"] = conf_level
    out["n"] = n
    out["n_missing"] = n_missing
    out["estimate_unweighted"] = est_u
    out["std_error_unweighted"] = se_u
    out["conf_low_unweighted"] = est_u - q * se_u
    out["conf_high_unweighted"] = est_u + q * se_u
    out["n_clusters"] = g
    return out
