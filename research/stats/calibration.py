"""Calibrated (raked or post-stratified) weights in the design-based variance: the
margins' residuals of an estimator's influence values, as R's ``svyrecvar`` on a design made
by ``rake()`` or ``postStratify()``. Used by :mod:`research.stats.design_based` and
:mod:`research.stats.svy_models`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.stats.linearization import _cluster_codes


@dataclass(frozen=True)
class Calibration:
    """The margins the weights were calibrated (raked or post-stratified) to.

    Calibrated weights estimate the margin totals without error, so the
    variance of an estimator excludes the part its influence values share with
    the margins: they are replaced by residuals from the margins before being
    summed within clusters. This is R's ``svyrecvar`` on a design made by
    ``rake()`` or ``postStratify()`` (its ``postStrata``), reproduced exactly:

    - raking: 10 rounds over the margins of ``z <- z - w * ave(z / w, margin)``
      (the level mean of ``z / w`` over the design's rows, unweighted);
    - post-stratification (one margin, the cells): one such step, which is
      exact (R's ``oldweights`` are equal here because the weights start equal).

    R stores the weights after each margin's step of the last sweep; at
    convergence (``tol`` 1e-10) they equal the final weights to ~1e-10, so the
    final weights are used for every margin.

    Attributes: ``margins`` (integer level codes per margin, over every row of
    the design: every respondent, also those an estimator drops for a missing
    value, whose influence is 0 as in R), ``weights`` (the calibrated weights of
    those rows), ``clusters``/``n_clusters`` (the design's cluster codes and
    count), ``raking`` (True: raking; False: post-stratification), ``counts`` (None: every row
    of the design is one respondent; else the rows are groups of that many respondents sharing
    their cluster, margin levels and weight, as an engine's ``GROUP BY`` gives them).

    With ``counts``, an influence value handed to :meth:`residuals`, :meth:`cell_sums`,
    :meth:`variance` or :meth:`domain_variances` is a group's *total* (the sum over its
    respondents); the level means of ``z / w`` are over respondents (``sum(n z / w) / sum(n)``
    per level in terms of the respondents' values), so every result equals that of the expanded
    rows up to rounding.
    """

    margins: tuple
    weights: np.ndarray
    clusters: np.ndarray
    n_clusters: int
    raking: bool = True
    counts: np.ndarray | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, margins: Sequence[str], weights, cluster: str, *,
                   raking: bool = True, count=None) -> "Calibration":
        """Calibration over the rows of ``frame`` (the whole design), margins as column names.

        For post-stratification (``raking=False``) the cells are the cross of the
        ``margins`` columns. ``count``: respondents per row (see the class docstring).
        """
        codes = [pd.factorize(frame[m].astype("string"), use_na_sentinel=True)[0] for m in margins]
        if any((c < 0).any() for c in codes):
            raise ValueError("calibration margins have missing values")
        if not raking:  # the cells of the cross, numbered in order of appearance (as a MultiIndex factorises)
            cell = np.zeros(len(frame), dtype=np.int64)
            for c in codes:
                cell = pd.factorize(cell * (int(c.max()) + 1 if len(c) else 1) + c)[0].astype(np.int64)
            codes = [cell]
        cl, g = _cluster_codes(frame[cluster])
        w = np.asarray(weights, dtype=float)
        counts = None if count is None else np.asarray(count, dtype=float)
        return cls(margins=tuple(np.asarray(c, dtype=np.intp) for c in codes), weights=w, clusters=cl,
                   n_clusters=g, raking=raking, counts=counts)

    def _level_space(self):
        """Margin indicator matrices, their cross-counts and level counts (built once, cached).

        Only :meth:`residuals` (the row-level projection) needs the indicator matrices;
        :meth:`variance` works on the cells (:meth:`_cells`)."""
        cached = self.__dict__.get("_cache")
        if cached is None:
            from scipy import sparse

            n = len(self.weights)
            ind, counted = [], []
            for codes in self.margins:
                levels = int(codes.max()) + 1
                ind.append(sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(levels, n)))
                counted.append(ind[-1] if self.counts is None else
                               sparse.csr_matrix((self.counts, (codes, np.arange(n))), shape=(levels, n)))
            cross = [[(a @ b.T).toarray() for b in ind] for a in counted]  # (L_a, L_b) cross-counts
            counts = [np.diag(cross[m][m])[:, None] for m in range(len(ind))]
            cached = (ind, cross, counts)
            object.__setattr__(self, "_cache", cached)  # frozen dataclass: cache outside the fields
        return cached

    def _cells(self) -> "_Cells":
        """The design's cells: rows sharing their cluster and their level of every margin
        (built once, cached). See :meth:`variance`."""
        cached = self.__dict__.get("_cells_cache")
        if cached is None:
            cached = _Cells.build(self)
            object.__setattr__(self, "_cells_cache", cached)  # frozen dataclass: cache outside the fields
        return cached

    def residuals(self, infl: np.ndarray) -> np.ndarray:
        """Influence values (n_design, k) with the margins projected out (see the class docstring).

        Computed in level space: every step subtracts ``w_i * c_m[level]`` from the
        rows, so after any number of steps ``x_i = x0_i - w_i * sum_m c_m[l_m(i)]``;
        the level sums a step needs are ``S_m - sum_m' C_mm' c_m'`` with ``S_m`` the
        level sums of ``x0 / w`` and ``C_mm'`` the cross-counts of the margins. So
        the rows are read twice whatever the number of rounds, and the result is
        the sequential algorithm's (R's) up to rounding.
        """
        x = np.array(infl, dtype=float, copy=True)
        if x.ndim == 1:
            x = x[:, None]
        w = self.weights[:, None]
        ind, cross, counts = self._level_space()
        sums = [S @ (x / w) for S in ind]  # (L_m, k) level sums of x0 / w
        c = self._projection(sums, cross, counts)
        if self.counts is not None:  # a group's total: its respondents' residuals summed
            w = w * self.counts[:, None]
        for m, codes in enumerate(self.margins):
            x -= w * c[m][codes]
        return x

    def _projection(self, sums, cross, counts):
        """The level coefficients ``c_m`` of the projection from the level sums ``S_m`` of ``x0 / w``:
        R's 10 rounds over the margins (one step for post-stratification), in level space."""
        c = [np.zeros_like(S_m) for S_m in sums]
        for _ in range(10 if self.raking else 1):
            for m in range(len(sums)):
                current = sums[m] - sum(cross[m][j] @ c[j] for j in range(len(sums)))
                c[m] += current / counts[m]
        return c

    def cell_sums(self, infl: np.ndarray, rows: np.ndarray | None = None, *,
                  scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sums per design cell of the influence values ``infl`` (n, k) of ``rows`` of the design (all
        rows when None) and of ``infl / w``: the two (n_cells, k) tables :meth:`variance_of_cell_sums`
        needs. ``scale`` (n,): the influence values are ``scale[:, None] * infl`` (not formed).
        Influence values that are linear in row-level terms can be summed per cell first and
        multiplied after (``cell_sums(X, scale=r) @ bread``)."""
        z = np.asarray(infl, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        cells = self._cells()
        if rows is None:
            if z.shape[0] != len(self.weights):
                raise ValueError(f"influence has {z.shape[0]} rows, the design {len(self.weights)}")
            cell, w = cells.cell, self.weights
        else:
            rows = np.asarray(rows)
            if z.shape[0] != len(rows):
                raise ValueError(f"influence has {z.shape[0]} rows, rows has {len(rows)}")
            cell, w = cells.cell[rows], self.weights[rows]
        from scipy import sparse

        n = len(cell)
        at = np.arange(n)
        r = np.ones(n) if scale is None else np.asarray(scale, dtype=float)
        plain = sparse.csr_matrix((r, (cell, at)), shape=(cells.n_cells, n)) @ z
        scaled = sparse.csr_matrix((r / w, (cell, at)), shape=(cells.n_cells, n)) @ z
        return np.asarray(plain), np.asarray(scaled)

    def variance_of_cell_sums(self, plain: np.ndarray, scaled: np.ndarray) -> np.ndarray:
        """Covariance from the cell sums of the influence values and of their ratio to the weights
        (:meth:`cell_sums`); the same matrix as ``linearized_variance(residuals(z), ...)``.

        The projected influence of row ``i`` is ``z_i - w_i sum_m c_m[l_m(i)]``; its total over
        cluster ``g`` is ``Z_g - sum_m sum_l W_m[g, l] c_m[l]`` with ``Z_g`` the cluster total of
        ``z`` and ``W_m[g, l]`` the weight total of the cluster's rows at level ``l`` of margin
        ``m``. ``c_m`` needs only the level sums of ``z / w``. Both come from the cell sums, so no
        row-level residual is formed; the result differs from the row-level projection
        (:meth:`residuals`) by rounding only.
        """
        cells = self._cells()
        plain = np.asarray(plain, dtype=float).reshape(cells.n_cells, -1)
        scaled = np.asarray(scaled, dtype=float).reshape(cells.n_cells, -1)
        totals = self._centred_totals(cells, plain, scaled)
        g = self.n_clusters
        v = g / (g - 1) * (totals.T @ totals)
        return (v + v.T) / 2

    def _centred_totals(self, cells, plain: np.ndarray, scaled: np.ndarray) -> np.ndarray:
        """Per-cluster totals of the calibration-projected influence, centred (clusters x k), from
        the cell sums of the influence (``plain``) and of influence / weight (``scaled``)."""
        sums = [agg @ scaled for agg in cells.to_level]
        c = self._projection(sums, cells.cross, cells.counts)
        totals = cells.to_cluster @ plain
        for wm, cm in zip(cells.cluster_weight, c):
            totals -= wm @ cm
        totals -= totals.mean(axis=0)
        return totals

    def variance(self, infl: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Covariance from influence values of ``rows`` of the design (all rows when None).

        Rows of the design outside ``rows`` have influence 0 (their projected influence is not 0:
        they take part in the margins). Computed from cell sums (:meth:`variance_of_cell_sums`)."""
        return self.variance_of_cell_sums(*self.cell_sums(infl, rows))

    def domain_variances(self, infl: np.ndarray, rows: np.ndarray, dom: np.ndarray, n_dom: int) -> np.ndarray:
        """Variances of ``n_dom`` domain estimators at once: estimator ``d``'s influence is ``infl``
        on the rows (of the design) ``rows`` whose ``dom`` is ``d``, 0 elsewhere. The same numbers as
        ``diag(variance(Z, rows))`` with ``Z[:, d] = infl * (dom == d)``, from one pass over the rows."""
        cells = self._cells()
        rows = np.asarray(rows)
        infl = np.asarray(infl, dtype=float)
        key = cells.cell[rows] * n_dom + dom
        size = cells.n_cells * n_dom
        plain = np.bincount(key, weights=infl, minlength=size).reshape(cells.n_cells, n_dom)
        scaled = np.bincount(key, weights=infl / self.weights[rows], minlength=size).reshape(cells.n_cells, n_dom)
        totals = self._centred_totals(cells, plain, scaled)
        g = self.n_clusters
        return g / (g - 1) * np.einsum("gd,gd->d", totals, totals)


@dataclass(frozen=True)
class _Cells:
    """A calibrated design collapsed to its cells (cluster x level of every margin).

    ``cell`` (per row), ``n_cells``; ``to_level`` (per margin, a sparse level x cell
    indicator), ``to_cluster`` (sparse cluster x cell indicator); ``cross`` (margin
    cross-counts, ``cross[a][b]`` is L_a x L_b), ``counts`` (level counts, L_m x 1);
    ``cluster_weight`` (per margin, the G x L_m weight totals of the rows of each cluster
    and level)."""

    cell: np.ndarray
    n_cells: int
    to_level: tuple
    to_cluster: object
    cross: list
    counts: list
    cluster_weight: tuple

    @classmethod
    def build(cls, cal: Calibration) -> "_Cells":
        from scipy import sparse

        g = cal.n_clusters
        sizes = [int(c.max()) + 1 for c in cal.margins]
        key = np.asarray(cal.clusters, dtype=np.int64)
        for codes, size in zip(cal.margins, sizes):  # factorised after each margin: no overflow
            key = pd.factorize(key * size + codes)[0].astype(np.int64)
        cell = key.astype(np.intp)
        n_cells = int(cell.max()) + 1
        first = np.empty(n_cells, dtype=np.intp)
        first[cell[::-1]] = np.arange(len(cell) - 1, -1, -1)  # a row of every cell
        cell_cluster = np.asarray(cal.clusters)[first]
        cell_levels = [np.asarray(c)[first] for c in cal.margins]
        n_cell = np.bincount(cell, weights=cal.counts, minlength=n_cells).astype(float)
        w_cell = np.bincount(cell, weights=cal.weights if cal.counts is None else cal.weights * cal.counts,
                             minlength=n_cells)
        at = np.arange(n_cells)
        to_level = tuple(sparse.csr_matrix((np.ones(n_cells), (lv, at)), shape=(size, n_cells))
                         for lv, size in zip(cell_levels, sizes))
        to_cluster = sparse.csr_matrix((np.ones(n_cells), (cell_cluster, at)), shape=(g, n_cells))
        cross = [[np.bincount(la * sb + lb, weights=n_cell, minlength=sa * sb).reshape(sa, sb)
                  for lb, sb in zip(cell_levels, sizes)] for la, sa in zip(cell_levels, sizes)]
        counts = [np.diag(cross[m][m])[:, None] for m in range(len(sizes))]
        cluster_weight = tuple(np.bincount(cell_cluster * size + lv, weights=w_cell, minlength=g * size)
                               .reshape(g, size) for lv, size in zip(cell_levels, sizes))
        return cls(cell=cell, n_cells=n_cells, to_level=to_level, to_cluster=to_cluster, cross=cross,
                   counts=counts, cluster_weight=cluster_weight)
