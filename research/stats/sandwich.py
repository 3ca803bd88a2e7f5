"""Cluster-robust (sandwich) covariance from a bread matrix and per-observation scores.

Model-agnostic: any M-estimator that can give the inverse negative Hessian
(the "bread") and the per-observation score contributions (rows of the
estimating functions) gets the CR1 covariance of R's
``sandwich::vcovCL(fit, cluster = ~g, type = "HC1")`` (defaults
``cadjust = TRUE``, ``fix = FALSE``). It is used for the proportional-odds
model of :mod:`research.stats.ordinal`, for which statsmodels has no
cluster-robust option.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse


def cluster_robust_vcov(bread: np.ndarray, scores: np.ndarray, clusters: np.ndarray, *,
                        n_params: int | None = None, row_weights: np.ndarray | None = None) -> np.ndarray:
    """CR1 cluster-robust covariance.

    ``V = G/(G-1) * (N-1)/(N-K) * B (sum_g s_g s_g') B``, where ``B = bread``
    is the inverse of the negative Hessian of the log-likelihood (the model
    covariance, e.g. ``OrdinalFit.vcov``), ``s_g`` is the sum of the score
    rows of cluster ``g``, ``G`` the number of clusters, ``N`` the number of
    score rows and ``K = n_params`` (default ``bread.shape[0]``).

    This equals R ``sandwich::vcovCL(fit, cluster = ~cluster, type = "HC1")``
    for ``lm``, ``glm`` and ``ordinal::clm`` fits (sandwich's ``bread.clm`` is
    ``vcov(fit) * n`` and its ``estfun.clm`` the weighted score rows), checked
    in ``tests/stats/test_ordinal.py`` against ``tests/fixtures/r/ordinal/vcov_cl.csv``.

    Parameters
    ----------
    bread : (K, K) array
        Inverse negative Hessian (model-based covariance).
    scores : (N, K) array
        Per-observation score contributions at the estimate (weights included).
    clusters : (N,) array-like
        Cluster labels of any hashable type; missing labels are an error.
    n_params : int, optional
        ``K`` in the small-sample factor; defaults to ``bread.shape[0]``.
    row_weights : (N,) array, optional
        When given, the score rows are ``scores * row_weights[:, None]`` (a GLM's design and its
        working residuals): their cluster sums are taken without forming that N x K product.
    """
    bread = np.asarray(bread, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if bread.ndim != 2 or bread.shape[0] != bread.shape[1]:
        raise ValueError(f"bread must be a square matrix, got shape {bread.shape}")
    if scores.ndim != 2 or scores.shape[1] != bread.shape[0]:
        raise ValueError(f"scores must be (N, {bread.shape[0]}), got shape {scores.shape}")
    n = scores.shape[0]
    clusters = np.asarray(clusters)
    if clusters.shape != (n,):
        raise ValueError(f"clusters must have length {n} (one label per score row), got shape "
                         f"{clusters.shape}")
    codes, uniques = pd.factorize(clusters, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"clusters has {int((codes < 0).sum())} missing labels")
    g = len(uniques)
    if g < 2:
        raise ValueError(f"cluster-robust covariance needs at least 2 clusters, got {g}")
    k = bread.shape[0] if n_params is None else int(n_params)
    if n <= k:
        raise ValueError(f"need more score rows (N = {n}) than parameters (K = {k})")
    # cluster sums of the score rows: (G, K)
    weights = np.ones(n) if row_weights is None else np.asarray(row_weights, dtype=float)
    if weights.shape != (n,):
        raise ValueError(f"row_weights must have length {n}, got shape {weights.shape}")
    onehot = sparse.csr_matrix((weights, (codes, np.arange(n))), shape=(g, n))
    return cr1_from_sums(bread, np.asarray(onehot @ scores), n_rows=n, n_params=k)


def cr1_from_sums(bread: np.ndarray, sums: np.ndarray, *, n_rows: int, n_params: int) -> np.ndarray:
    """CR1 from the clusters' score sums ``sums`` (G, K) and the row count: the formula of
    :func:`cluster_robust_vcov`, for callers that have the sums and not the rows (an engine's
    per-cluster totals, research.models.aggregate)."""
    g, n, k = sums.shape[0], int(n_rows), int(n_params)
    if g < 2:
        raise ValueError(f"cluster-robust covariance needs at least 2 clusters, got {g}")
    meat = sums.T @ sums
    adj = g / (g - 1) * (n - 1) / (n - k)
    v = adj * (bread @ meat @ bread)
    return (v + v.T) / 2



class CR2:
    """CR2 cluster-robust covariance with Bell–McCaffrey (Satterthwaite) degrees of freedom.

    The bias-reduced linearization of Bell & McCaffrey (2002), as R
    ``clubSandwich::vcovCR(fit, cluster, type = "CR2")`` computes it for ``lm``
    fits (Pustejovsky & Tipton 2018, *J. Business & Economic
    Statistics* 36: 672–683), and the Satterthwaite degrees of freedom of any
    linear contrast ``c'b`` under the working model (``clubSandwich::coef_test(...,
    test = "Satterthwaite")``). Checked against clubSandwich 0.5.8 in
    ``tests/models/test_inference.py`` (``tests/fixtures/r/inference/``).

    ``V = B (sum_g X_g' A_g e_g e_g' A_g X_g) B`` with ``A_g = (I - H_gg)^(-1/2)``,
    ``H_gg = X_g B X_g'``, ``B = (X'X)^-1``, ``e`` the OLS residuals, working model
    ``Var(e) = I``; no further small-sample factor. For linear models only: for a
    ``glm`` clubSandwich takes ``A_g = T^(1/2) [T^(1/2) (I - H_gg) T T^(1/2)]^(-1/2) T^(1/2)``
    with ``T = diag(p (1 - p))``, which is not of this low-rank form (the weighted
    least-squares form of a logit differs from it by about 0.1% in the SEs).

    Each ``A_g`` is formed from the ``p x p`` eigenproblem of ``H_gg`` (``X_g`` has rank
    at most ``p``), so the cost is ``O(n p^2)``; a cluster with an eigenvalue of
    ``H_gg`` at 1 (a cluster-specific column) gets the pseudo-inverse root there, as
    clubSandwich does.

    Parameters
    ----------
    X : (n, p) array
        Design matrix of the linear model.
    resid : (n,) array
        OLS residuals.
    clusters : (n,) array-like
        Cluster labels; at least 2 clusters.
    """

    def __init__(self, X: np.ndarray, resid: np.ndarray, clusters) -> None:
        X = np.asarray(X, dtype=float)
        e = np.asarray(resid, dtype=float)
        n, p = X.shape
        codes, uniques = pd.factorize(np.asarray(clusters), use_na_sentinel=True)
        if (codes < 0).any():
            raise ValueError(f"clusters has {int((codes < 0).sum())} missing labels")
        g_count = len(uniques)
        if g_count < 2:
            raise ValueError(f"cluster-robust covariance needs at least 2 clusters, got {g_count}")
        self.n_clusters = g_count
        B = np.linalg.inv(X.T @ X)
        B = (B + B.T) / 2
        self.bread = B
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(g_count + 1))
        sums = np.empty((g_count, p))
        self._m1 = np.empty((g_count, p, p))  # X_g' A_g X_g
        self._m2 = np.empty((g_count, p, p))  # X_g' A_g^2 X_g
        for g in range(g_count):
            idx = order[bounds[g]:bounds[g + 1]]
            Xg, eg = X[idx], e[idx]
            U, s, Vt = np.linalg.svd(Xg, full_matrices=False)
            keep = s > s.max() * 1e-12 if len(s) else s.astype(bool)
            U, s, Vt = U[:, keep], s[keep], Vt[keep]
            lam, Q = np.linalg.eigh((s[:, None] * (Vt @ B @ Vt.T)) * s[None, :])
            W = U @ Q  # eigenvectors of H_gg with eigenvalues lam (others 0)
            one_minus = 1 - lam
            d = np.where(one_minus > 1e-10, 1 / np.sqrt(np.clip(one_minus, 1e-300, None)), 0.0) - 1
            XtW = Xg.T @ W
            XtX = Xg.T @ Xg
            sums[g] = Xg.T @ eg + XtW @ (d * (W.T @ eg))
            self._m1[g] = XtX + (XtW * d) @ XtW.T
            self._m2[g] = XtX + (XtW * (2 * d + d * d)) @ XtW.T
        v = B @ (sums.T @ sums) @ B
        self.vcov = (v + v.T) / 2

    def df(self, contrast: np.ndarray) -> float:
        """Satterthwaite degrees of freedom of ``contrast' b`` (one contrast, length p).

        ``df = (sum_g Q_gg)^2 / sum_gh Q_gh^2`` with ``Q = diag(c'B M2_g B c) - R B R'``,
        ``R_g = (X_g' A_g X_g) B c``: the Gram matrix of the vectors ``(I - H)' A_g X_g B c``
        under the working model (Pustejovsky & Tipton 2018, section 3.1).
        """
        bc = self.bread @ np.asarray(contrast, dtype=float)
        r = self._m1 @ bc  # (G, p)
        qq = np.einsum("i,gij,j->g", bc, self._m2, bc)
        gram = -(r @ self.bread @ r.T)
        gram[np.diag_indices_from(gram)] += qq
        denom = float((gram ** 2).sum())
        return float(np.trace(gram) ** 2 / denom) if denom > 0 else np.nan

    def coefficient_df(self) -> np.ndarray:
        """Satterthwaite df of each coefficient (the unit contrasts)."""
        return np.array([self.df(c) for c in np.eye(self.bread.shape[0])])
