"""Survey-weighted regressions with Taylor-linearization covariance: the logit (R ``svyglm(...,
family = quasibinomial())``) and the proportional-odds logit (R ``svyolr``) on the one-stage
cluster design of :mod:`research.stats.design_based`, with the design degrees of freedom of
their t tests (:func:`design_df`). Checked against R ``survey`` 4.1-1 in
``tests/stats/test_design_based.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats
from scipy.special import expit

from research.stats.calibration import Calibration
from research.stats.linearization import SvyFit, _cluster_codes, _z


def _model_inputs(X, y, weights, clusters, names):
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    n, p = X.shape
    y = np.asarray(y, dtype=float)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    if not np.isfinite(X).all() or not np.isfinite(y).all():
        raise ValueError("X and y must be finite (drop incomplete rows first)")
    if not np.isfinite(w).all() or (w <= 0).any():
        raise ValueError("weights must be finite and positive")
    if names is not None and len(names) != p:
        raise ValueError(f"names must have {p} entries (one per column of X), got {len(names)}")
    codes, g = _cluster_codes(clusters)
    if codes.shape != (n,):
        raise ValueError(f"clusters must have length {n}")
    return X, y, w, codes, g


def design_df(residual_df: int, n_clusters: int, n_params: int) -> tuple[int, str, str]:
    """The t reference of a survey-weighted fit: ``(df, label, note)``.

    ``residual_df`` is R's ``df.residual`` of the fit (``degf(design) + 1 -
    length(coef)`` for svyglm, ``degf(design) - length(beta)`` for svyolr;
    ``degf = G - 1`` with one stratum). When it is at least 1 it is the df, the
    label ``t with <df> design df`` and no note. Otherwise (G <= p: R's
    ``summary.svyglm`` gives NaN p-values) the df is ``degf(design) = G - 1``, as
    R survey's ``svymean`` and Stata's ``svy`` use, with a label and a note that
    say so and never print a negative df; with a single PSU (``G - 1 = 0``) the
    df is 0, which research.models.fit.inference_df turns into the
    normal distribution (labelled and noted here).
    """
    if residual_df >= 1:
        return int(residual_df), f"t with {int(residual_df)} design df", ""
    g = int(n_clusters)
    if g >= 2:
        return (g - 1, f"t with G - 1 = {g - 1} df (R survey::degf, as svymean; {g} PSUs for {n_params} "
                       "parameters leave no residual design df)",
                f"only {g} PSUs for {n_params} parameters, so R's residual design df is below 1: "
                f"tests and intervals use t with G - 1 = {g - 1} df (R survey::degf(design), as svymean and Stata's "
                "svy) instead")
    return (0, "normal (a single PSU leaves no design df)",
            "a single PSU: no design df and no design-based variance between PSUs; tests and intervals use the "
            "normal distribution and are not to be trusted")


def _tidy(terms, est, vcov, df, conf_level, extra=None):
    """Tidy t-based rows with the design df; when ``df < 1`` (no more clusters than
    parameters, G <= p) R gives no p-values: here t with ``G - 1`` df is used instead, R
    survey's ``degf(design)`` (as ``svymean``; :func:`design_df`), and the ``reference``
    column says so rather than leaving them missing or printing a negative df; with a
    single cluster, the normal distribution (labelled)."""
    se = np.sqrt(np.diag(vcov))
    stat = est / se
    residual = df
    df, reference, _ = design_df(residual, (extra or {}).get("n_clusters", 0), len(est))
    if residual >= 1:
        reference = f"t({df:g})"
    if df >= 1:
        p = 2 * stats.t.sf(np.abs(stat), df)
        q = float(stats.t.ppf(0.5 + conf_level / 2, df))
    else:
        p = 2 * stats.norm.sf(np.abs(stat))
        q = _z(conf_level)
    out = pd.DataFrame({"term": list(terms), "estimate": est, "std_error": se, "statistic": stat,
                        "p_value": p, "conf_low": est - q * se, "conf_high": est + q * se,
                        "conf_level": conf_level, "df": df, "reference": reference})
    if extra:
        for k, v in extra.items():
            out[k] = v
    return out


def svy_glm_logit(X: np.ndarray, y: np.ndarray, weights, clusters, *, names: Sequence[str],
                  conf_level: float = 0.95, tol: float = 1e-12,
                  max_iter: int = 100, calibration: Calibration | None = None,
                  design_rows: np.ndarray | None = None) -> pd.DataFrame:
    """Survey-weighted logit (pseudo-ML) with the design-based sandwich, as R
    ``svyglm(y ~ ..., des, family = quasibinomial())``.

    Estimates solve ``sum_i w_i x_i (y_i - p_i) = 0``, ``p_i = expit(x_i'b)``
    (Newton-Raphson; ``X`` includes the intercept column). With the bread
    ``A^{-1} = (sum_i w_i p_i (1 - p_i) x_i x_i')^{-1}`` the influence values are
    ``z_i = A^{-1} w_i x_i (y_i - p_i)`` and ``Var(b) = G/(G-1) sum_g (z_g -
    zbar)(z_g - zbar)'`` (R's ``svy.varcoef``; the quasibinomial dispersion
    does not enter). The weights' scale does not matter (R rescales them to
    mean 1).

    Tests and intervals use Student's t with ``df = G - ncol(X)`` (R's
    ``df.residual = degf(design) + 1 - length(coef)``, ``degf = G - 1``), as
    ``summary.svyglm`` and ``confint.svyglm``.

    ``y`` may be 0/1 or a proportion in [0, 1]. Returns ``term, estimate,
    std_error, statistic, p_value, conf_low, conf_high, conf_level, df, nobs,
    n_clusters``.
    """
    fit = svy_glm_logit_fit(X, y, weights, clusters, names=names, tol=tol, max_iter=max_iter,
                            calibration=calibration, design_rows=design_rows)
    return _tidy(fit.names, fit.params, fit.vcov, fit.df, conf_level,
                 {"nobs": fit.nobs, "n_clusters": fit.n_clusters})


def svy_glm_logit_fit(X: np.ndarray, y: np.ndarray, weights, clusters, *, names: Sequence[str],
                      tol: float = 1e-12, max_iter: int = 100, calibration: Calibration | None = None,
                      design_rows: np.ndarray | None = None) -> SvyFit:
    """:func:`svy_glm_logit` without the tidying: parameters and design-based covariance.

    With ``calibration`` (the design's calibration margins) the influence
    values of the rows ``design_rows`` of the design (all rows when None) are
    projected on the margins before the cluster sums, as R's ``svyglm`` on a
    raked design; ``G`` is then the design's cluster count.
    """
    X, y, w, codes, g = _model_inputs(X, y, weights, clusters, names)
    if ((y < 0) | (y > 1)).any():
        raise ValueError("y must lie in [0, 1]")
    n, p = X.shape
    wn = w / w.mean()
    try:
        b, info = logit_fit(X, y, weights=wn, tol=tol, max_iter=max_iter, relative=True)
    except RuntimeError:
        raise RuntimeError(f"svy_glm_logit did not converge in {max_iter} iterations "
                           "(separation?)") from None
    mu = expit(X @ b)
    bread = linalg.inv(info)
    # influence z_i = bread' x_i r_i is linear in x_i r_i: its cluster (or cell) sums are those of
    # x_i r_i times bread, so no n x p influence matrix is formed
    vcov, g = _sandwich(X, wn * (y - mu), bread, codes, g, calibration, design_rows)
    return SvyFit(names=list(names), params=b, vcov=vcov, df=g - p, nobs=n, n_clusters=g)


def logit_fit(X: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None, mask: np.ndarray | None = None,
              tol: float = 1e-12, max_iter: int = 100, relative: bool = False,
              start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Weighted) maximum-likelihood logit over the rows of ``mask`` (all when None): the
    coefficients and the information ``sum_i w_i p_i (1 - p_i) x_i x_i'`` at them.

    :func:`research.stats.logit.fit_logit` with chord steps (the information is kept after a step
    that shrank at least four-fold), a Cholesky solve, and, above
    :data:`research.stats.logit.SUBSAMPLE_ROWS` rows, a start from a subsample's fit
    (:func:`research.stats.logit.subsample_start`). Stops when no coefficient moves by more than
    ``tol`` (``relative``: ``tol * (1 + |b|)``). Raises RuntimeError without convergence in
    ``max_iter`` steps and ``numpy.linalg.LinAlgError`` for a singular information.
    """
    from research.stats.logit import fit_logit, subsample_start

    X = np.asarray(X, dtype=float)
    use = None if mask is None else np.asarray(mask, dtype=bool)
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=float)
    if use is not None:
        w = np.where(use, w, 0.0)
    yy = np.nan_to_num(np.asarray(y, dtype=float)) if use is not None else np.asarray(y, dtype=float)
    if start is None:
        start = subsample_start(X, yy, w, max_iter=max_iter, relative=relative)
    fit = fit_logit(X, yy, w, start=start, mask=use, tol=tol, max_iter=max_iter, relative=relative,
                    chord=True)
    if not fit.converged:
        raise RuntimeError(f"logit did not converge in {max_iter} iterations")
    return fit.params, fit.information


def _group_sums(M: np.ndarray, r: np.ndarray | None, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """``sum_{i in group} r_i M_i`` for every group (``r`` None: 1), as one sparse product."""
    from scipy import sparse

    n = len(codes)
    data = np.ones(n) if r is None else r
    return np.asarray(sparse.csr_matrix((data, (codes, np.arange(n))), shape=(n_groups, n)) @ M)


def _sandwich(M: np.ndarray, r: np.ndarray | None, bread: np.ndarray, codes: np.ndarray, g: int,
              calibration: "Calibration | None", design_rows: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Design-based covariance of an estimator whose influence values are ``(r_i M_i) @ bread``:
    from the clusters' (or, calibrated, the design cells') sums of ``r_i M_i``. Returns (vcov, G)."""
    if calibration is not None:
        plain, scaled = calibration.cell_sums(M, design_rows, scale=r)
        return calibration.variance_of_cell_sums(plain @ bread, scaled @ bread), calibration.n_clusters
    totals = _group_sums(M, r, codes, g) @ bread
    totals -= totals.mean(axis=0)
    v = g / (g - 1) * (totals.T @ totals)
    return (v + v.T) / 2, g


def svy_olr(X: np.ndarray, y: np.ndarray, weights, clusters, *, names: Sequence[str],
            levels: Sequence[str] | None = None, conf_level: float = 0.95,
            calibration: Calibration | None = None, design_rows: np.ndarray | None = None) -> pd.DataFrame:
    """Design-weighted proportional-odds logit, as R ``survey::svyolr(factor(y) ~ ..., des)``.

    Model (``MASS::polr`` / ``svyolr`` convention)::

        logit P(Y <= j | x) = theta_j - x'beta,   j = 1..K-1

    ``X`` has no intercept column; ``y`` holds codes 0..K-1 (every level must
    occur). Estimates maximise the weighted log-likelihood ``sum_i w_i log
    P(Y = y_i | x_i)`` (pseudo-ML) with :func:`research.stats.ordinal.fit_ordinal`
    (exact Newton). Covariance: with ``H`` the Hessian of that weighted
    log-likelihood and ``s_i`` the weighted score rows (in ``[beta, theta]``),
    influence values ``z_i = (-H)^{-1} s_i`` and ``Var = G/(G-1) sum_g (z_g -
    zbar)(z_g - zbar)'`` (svyolr's ``svyrecvar(gmini %*% solve(H))``). No
    ``(N-1)/(N-K)`` factor (so not ``cluster_robust_vcov``'s CR1).

    R's svyolr gets its Hessian by finite differences of the gradient (optim,
    step 1e-3), so its SEs carry ~1e-6 relative error; here the Hessian is
    analytic.

    t statistics; p-values and intervals use Student's t with ``df = G - 1 -
    p`` (svyolr's ``df.residual = degf(design) - length(beta)``; R itself
    prints no p-values for svyolr). Cutpoint terms are named ``"a|b"`` from
    ``levels`` (default ``"0".."K-1"``), as R names them from the factor levels.

    Returns ``term, kind ("beta"/"cutpoint"), estimate, std_error, statistic,
    p_value, conf_low, conf_high, conf_level, df, nobs, n_clusters``.
    """
    fit = svy_olr_fit(X, y, weights, clusters, names=names, levels=levels, calibration=calibration,
                      design_rows=design_rows)
    p = len(names)
    out = _tidy(fit.names, fit.params, fit.vcov, fit.df, conf_level,
                {"nobs": fit.nobs, "n_clusters": fit.n_clusters})
    out.insert(1, "kind", ["beta"] * p + ["cutpoint"] * (len(fit.params) - p))
    return out


def svy_olr_fit(X: np.ndarray, y: np.ndarray, weights, clusters, *, names: Sequence[str],
                levels: Sequence[str] | None = None, calibration: Calibration | None = None,
                design_rows: np.ndarray | None = None) -> SvyFit:
    """:func:`svy_olr` without the tidying: ``[beta, theta]``, their design-based
    covariance and the fitted :class:`research.stats.ordinal.OrdinalFit` (``extra``).
    ``calibration`` and ``design_rows`` as in :func:`svy_glm_logit_fit`."""
    from research.stats.ordinal import fit_ordinal, ordinal_hessian, ordinal_scores

    X, yf, w, codes, g = _model_inputs(X, y, weights, clusters, names)
    yi = yf.astype(np.intp)
    if (yi != yf).any():
        raise ValueError("y must hold integer codes 0..K-1")
    K = int(yi.max()) + 1 if levels is None else len(levels)
    labels = [str(k) for k in range(K)] if levels is None else [str(v) for v in levels]
    fit = fit_ordinal(X, yi, n_levels=K, weights=w)
    if not fit.converged:
        raise RuntimeError("svy_olr: the weighted proportional-odds fit did not converge")
    scores = ordinal_scores(fit, X, yi, weights=w)
    bread = linalg.inv(-ordinal_hessian(fit, X, yi, weights=w))
    bread = (bread + bread.T) / 2
    vcov, g = _sandwich(scores, None, bread, codes, g, calibration, design_rows)
    p = X.shape[1]
    terms = list(names) + [f"{labels[j]}|{labels[j + 1]}" for j in range(K - 1)]
    return SvyFit(names=terms, params=np.asarray(fit.params), vcov=vcov, df=g - 1 - p, nobs=X.shape[0],
                  n_clusters=g, extra={"ordinal_fit": fit})
