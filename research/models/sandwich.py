"""Cluster-robust (sandwich) covariance from a bread matrix and per-observation scores.

Model-agnostic: any M-estimator that can give the inverse negative Hessian
(the "bread") and the per-observation score contributions (rows of the
estimating functions) gets the CR1 covariance of R's
``sandwich::vcovCL(fit, cluster = ~g, type = "HC1")`` (defaults
``cadjust = TRUE``, ``fix = FALSE``). It is used for the proportional-odds
model of :mod:`research.models.ordinal`, for which statsmodels has no
cluster-robust option.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse


def cluster_robust_vcov(bread: np.ndarray, scores: np.ndarray, clusters: np.ndarray, *,
                        n_params: int | None = None) -> np.ndarray:
    """CR1 cluster-robust covariance.

    ``V = G/(G-1) * (N-1)/(N-K) * B (sum_g s_g s_g') B``, where ``B = bread``
    is the inverse of the negative Hessian of the log-likelihood (the model
    covariance, e.g. ``OrdinalFit.vcov``), ``s_g`` is the sum of the score
    rows of cluster ``g``, ``G`` the number of clusters, ``N`` the number of
    score rows and ``K = n_params`` (default ``bread.shape[0]``).

    This equals R ``sandwich::vcovCL(fit, cluster = ~cluster, type = "HC1")``
    for ``lm``, ``glm`` and ``ordinal::clm`` fits (sandwich's ``bread.clm`` is
    ``vcov(fit) * n`` and its ``estfun.clm`` the weighted score rows), checked
    in ``tests/test_ordinal.py`` against ``tests/fixtures/r/ordinal/vcov_cl.csv``.

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
    onehot = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(g, n))
    sums = np.asarray(onehot @ scores)
    meat = sums.T @ sums
    adj = g / (g - 1) * (n - 1) / (n - k)
    v = adj * (bread @ meat @ bread)
    return (v + v.T) / 2

