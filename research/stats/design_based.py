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

Functions (all pure; results are tidy frames per the result contract of
``DESIGN.md``):

- :func:`svy_mean`      -- ``svymean(~y, des, na.rm = TRUE)``
- :func:`svy_by`        -- ``svyby(~y, ~by, des, svymean, na.rm = TRUE)`` plus the
  unweighted equivalents (all weights 1, same clusters)
- :func:`svy_glm_logit` -- ``svyglm(y ~ ..., des, family = quasibinomial())``
- :func:`svy_olr`       -- ``svyolr(factor(y) ~ ..., des)`` (proportional odds)

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

Checked against R ``survey`` 4.1-1 in ``tests/test_design_based.py``
(fixtures and the generating script in ``tests/fixtures/r/design_based/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats
from scipy.special import expit

__all__ = ["svy_mean", "svy_by", "svy_glm_logit", "svy_olr", "svy_glm_logit_fit", "svy_olr_fit",
           "SvyFit", "Calibration", "linearized_variance", "design_df"]


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


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

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
    count), ``raking`` (True: raking; False: post-stratification).
    """

    margins: tuple
    weights: np.ndarray
    clusters: np.ndarray
    n_clusters: int
    raking: bool = True

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, margins: Sequence[str], weights, cluster: str, *,
                   raking: bool = True) -> "Calibration":
        """Calibration over the rows of ``frame`` (the whole design), margins as column names.

        For post-stratification (``raking=False``) the cells are the cross of the
        ``margins`` columns.
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
        return cls(margins=tuple(np.asarray(c, dtype=np.intp) for c in codes), weights=w, clusters=cl,
                   n_clusters=g, raking=raking)

    def _level_space(self):
        """Margin indicator matrices, their cross-counts and level counts (built once, cached).

        Only :meth:`residuals` (the row-level projection) needs the indicator matrices;
        :meth:`variance` works on the cells (:meth:`_cells`)."""
        cached = self.__dict__.get("_cache")
        if cached is None:
            from scipy import sparse

            n = len(self.weights)
            ind = []
            for codes in self.margins:
                levels = int(codes.max()) + 1
                ind.append(sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(levels, n)))
            cross = [[(a @ b.T).toarray() for b in ind] for a in ind]  # (L_a, L_b) cross-counts
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
        n_cell = np.bincount(cell, minlength=n_cells).astype(float)
        w_cell = np.bincount(cell, weights=cal.weights, minlength=n_cells)
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


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))


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
                  codes: np.ndarray, g: int, calibration: Calibration | None = None):
    """Domain means and linearization SEs; rows with dom < 0 or missing y have influence 0.

    One pass over the rows: each row lies in one domain, so the (G x D) matrix of
    cluster-by-domain influence totals is a single bincount.
    """
    ok = (dom >= 0) & ~np.isnan(yv)
    d_ok = dom[ok]
    w_ok = w[ok]
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
           conf_level: float = 0.95, calibration: Calibration | None = None) -> pd.DataFrame:
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
    grouped = data[by_cols].groupby(by_cols, sort=True, observed=True, dropna=True)
    dom = grouped.ngroup().to_numpy()
    dom = np.where(pd.isna(dom), -1, dom).astype(np.intp)
    n_dom = grouped.ngroups
    keys = grouped.size().reset_index()[by_cols] if n_dom else pd.DataFrame(columns=by_cols)
    est, se = _domain_means(yv, w, dom, n_dom, codes, g, calibration)
    est_u, se_u = _domain_means(yv, np.ones_like(w), dom, n_dom, codes, g)
    in_dom = dom >= 0
    miss = np.isnan(yv)
    n = np.bincount(dom[in_dom & ~miss], minlength=n_dom)
    n_missing = np.bincount(dom[in_dom & miss], minlength=n_dom)
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


# ---------------------------------------------------------------------------
# regression models
# ---------------------------------------------------------------------------

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
