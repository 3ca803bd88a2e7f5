"""The one-stage cluster design's building blocks: cluster codes, the Taylor-linearization
variance of an estimator from its influence values, the normal quantile, and the result of a
survey-weighted regression. See :mod:`research.stats.design_based` for the design and its
R reference (``survey::svyrecvar``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class SvyFit:
    """A survey-weighted regression: parameters, design-based covariance, design df."""

    names: list[str]
    params: np.ndarray
    vcov: np.ndarray
    df: int  # design degrees of freedom of t tests and intervals
    nobs: int
    n_clusters: int
    extra: dict = field(default_factory=dict)



def _cluster_codes(clusters) -> tuple[np.ndarray, int]:
    """Integer cluster codes and the number of clusters ``G``.

    A categorical keeps its unused categories as clusters: pass the clusters of
    a subset as a categorical over the whole design's clusters and ``G`` stays
    the design's (as subsetting an R ``survey.design2`` keeps every PSU).
    """
    if isinstance(getattr(clusters, "dtype", None), pd.CategoricalDtype):
        cat = pd.Categorical(clusters)
        codes = np.asarray(cat.codes, dtype=np.intp)
        if (codes < 0).any():
            raise ValueError(f"cluster has {int((codes < 0).sum())} missing labels")
        g = len(cat.categories)
        if g < 2:
            raise ValueError(f"design-based variance needs at least 2 clusters, got {g}")
        return codes, g
    codes, uniques = pd.factorize(np.asarray(clusters, dtype=object)
                                  if not isinstance(clusters, (pd.Series, pd.Index)) else clusters,
                                  use_na_sentinel=True)
    codes = np.asarray(codes)
    if (codes < 0).any():
        raise ValueError(f"cluster has {int((codes < 0).sum())} missing labels")
    g = len(uniques)
    if g < 2:
        raise ValueError(f"design-based variance needs at least 2 clusters, got {g}")
    return codes.astype(np.intp, copy=False), g


def linearized_variance(infl: np.ndarray, cluster_codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """Covariance of an estimator from its influence values, one-stage cluster design.

    ``infl`` is (n,) or (n, k); returns the (k, k) matrix
    ``G/(G-1) * sum_g (z_g - zbar)(z_g - zbar)'`` with ``z_g`` the cluster totals
    of the rows of ``infl`` and ``zbar`` their mean over the ``G`` clusters (as
    ``survey::svyrecvar`` for ``svydesign(ids = ~cluster, weights = ~w)``).
    """
    z = np.asarray(infl, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    g = int(n_clusters)
    totals = np.empty((g, z.shape[1]))
    for j in range(z.shape[1]):
        totals[:, j] = np.bincount(cluster_codes, weights=z[:, j], minlength=g)
    totals -= totals.mean(axis=0)
    v = g / (g - 1) * (totals.T @ totals)
    return (v + v.T) / 2


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))
