"""The survey design of the respondents from an engine's sums: weights taken from a table of
weight cells, the design's cells (cluster x level of every calibration margin) and the
Taylor-linearization variance with the calibration (raking or post-stratification) projected out.

Why the sums suffice (R ``survey``: ``svyrecvar`` on a design made by ``rake()`` or
``postStratify()``; :class:`research.stats.calibration.Calibration` is the row-level
reproduction this module matches). Let ``z_i`` be a row's influence values (0 on design rows an
estimator drops) and ``w_i`` its weight. Each raking step replaces ``z`` by ``z - w * a_m[l_m(i)]``
with ``a_m[l] = ave(z / w)`` over the rows of level ``l`` of margin ``m`` (the unweighted level
mean, R's ``ave``). So after R's 10 rounds (one step for post-stratification) the residual is
``z_i - w_i sum_m c_m[l_m(i)]``, and

- ``c`` needs only the level sums ``S_m[l] = sum_{l_m(i) = l} z_i / w_i`` and the cross-counts of the
  margins ``N_mm'[l, l'] = #{i: l_m(i) = l, l_m'(i) = l'}`` (each round: ``c_m += (S_m - sum_m'
  N_mm' c_m') / N_mm``);
- the residuals' total over cluster ``g`` is ``Z_g - sum_m sum_l W_m[g, l] c_m[l]`` with ``Z_g`` the
  cluster total of ``z`` and ``W_m[g, l]`` the weight total of the cluster's rows at level ``l``.

Every one of these is a sum over the design's *cells* (rows sharing their cluster and their level
of every margin) of ``z``, ``z / w``, counts and weights; the weights are a function of the cells
(raking from equal weights gives every row of a raking cell the same weight), so ``z / w`` sums to
the cell's ``z`` total over its weight. An estimator's influence values are linear in row-level
terms (``x_i r_i`` times the bread), so their cell totals are sums an engine computes per group of
rows whose keys include the cluster and the margin variables. Then ``Var = G / (G - 1) sum_g (T_g -
Tbar)(T_g - Tbar)'`` with ``T_g`` the projected cluster totals (R ``svyrecvar``, one stage).

The handling band is a function of a row's hours, not a key an engine groups by: its indicator is
written as an engine expression (:func:`band_indicators`) that is exactly 0 or 1, so a row's weight
is ``sum_b w[g, b] 1[band(i) = b]`` with ``w[g, b]`` constants of the row's group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.engines.base import Engine, Source, column_name
from research.engines.expr import Expr, col, fn, num
from research.errors import InputError

#: the margin computed from the hours (not an engine key)
BAND = "handling_band"
def band_indicators(bands_hours) -> list[Expr]:
    """One expression per band of :func:`research.stats.bands.handling_band` (right-closed at
    ``bands_hours``, the first band from 0 h inclusive): exactly 1.0 on the rows of the band, else
    0.0; every indicator is 0 on negative hours (which have no band). They read the prepared value
    column ``h``, the row's hours (:meth:`research.engines.base.Engine.prepare`): the indicators of
    :func:`research.representativeness.at_scale.band_measures`, in band order."""
    from research.representativeness.at_scale import band_measures

    return list(band_measures(bands_hours).values())


@dataclass(frozen=True)
class WeightScheme:
    """How the weights and the calibration margins read a row.

    ``keys``: the categorical variables of the weight cells and margins (engine keys; the band
    excluded); ``bands``: band labels when the handling band is a weight or margin variable, else
    None; ``indicators``: one expression per band (``[1]`` without bands); ``table``: the weight
    cells (margin columns as text + ``weight``); ``margins``: the calibration margins, each a
    tuple of variables (post-stratification: one margin, the cross of its variables); ``raking``."""

    keys: tuple[str, ...]
    bands: tuple[str, ...] | None
    indicators: list
    table: pd.DataFrame
    by: tuple[str, ...]
    margins: tuple[tuple[str, ...], ...]
    raking: bool


def weight_scheme(spec, weight_cells: pd.DataFrame) -> WeightScheme:
    """The :class:`WeightScheme` of the plan's weighting section ``spec`` (methods ``rake``,
    ``poststratify``, ``none``) and a table of weight cells: its columns other than ``weight`` are
    the variables the weights are a function of (none for equal weights: one row). InputError for
    ``ipw`` (weights of the hours, not of cells), a missing ``weight`` column, duplicate cells or
    weights that are not finite and positive."""
    from research.stats.bands import band_labels

    if spec.method not in ("rake", "poststratify", "none"):
        raise InputError(f"survey-weighted models from sums: weighting method {spec.method!r} makes weights that "
                         "are not functions of cells; use rake, poststratify or none (or the in-memory path)")
    if "weight" not in weight_cells.columns:
        raise InputError("weight cells: no 'weight' column")
    by = tuple(c for c in weight_cells.columns if c != "weight")
    w = weight_cells["weight"].to_numpy(dtype=float)
    if not len(w) or not np.isfinite(w).all() or (w <= 0).any():
        raise InputError("weight cells: weights must be finite and positive")
    table = weight_cells.assign(**{c: weight_cells[c].astype(str) for c in by})
    if (table.duplicated(list(by)).any() if by else len(table) != 1):
        raise InputError(f"weight cells: more than one weight for a cell of {list(by) or 'the design'}")
    margins = {"rake": tuple((m,) for m in spec.margins), "poststratify": (tuple(spec.poststrata),),
               "none": ()}[spec.method]
    variables = tuple(dict.fromkeys([*by, *(v for m in margins for v in m)]))
    bands = band_labels(spec.bands_hours) if BAND in variables else None
    indicators = band_indicators(spec.bands_hours) if bands else [num(1.0)]
    return WeightScheme(keys=tuple(v for v in variables if v != BAND), bands=bands, indicators=indicators,
                        table=table, by=by, margins=margins, raking=spec.method == "rake")


def band_rows(engine: Engine, prepared, scheme: WeightScheme) -> pd.DataFrame:
    """The groups of ``prepared`` split by band: one row per group and band holding rows, with the
    group's keys, ``gid``, ``band`` (index), ``handling_band`` (label, when banded), ``n`` (rows)."""
    groups = prepared.groups
    if scheme.bands is None:
        return groups.assign(band=0)
    s = engine.sums(prepared, {f"n{b}": e for b, e in enumerate(scheme.indicators)})
    counts = s.to_numpy()
    banded = counts.sum(axis=1)
    if (np.abs(banded - groups["n"].to_numpy()) > 0.5).any():
        raise InputError(f"survey responses: {int(round(groups['n'].sum() - banded.sum()))} respondent(s) have a "
                         "negative handling time, so no handling band; they cannot be weighted")
    g, b = np.nonzero(counts > 0.5)
    out = groups.iloc[g].reset_index(drop=True).assign(band=b, n=np.rint(counts[g, b]).astype(np.int64))
    return out.assign(**{BAND: np.asarray(scheme.bands, dtype=object)[b]})


def weights_of(rows: pd.DataFrame, scheme: WeightScheme) -> np.ndarray:
    """The weight of each row of :func:`band_rows` (its cell's); InputError naming a cell without one."""
    if not scheme.by:
        return np.full(len(rows), float(scheme.table["weight"].iloc[0]))
    keyed = rows[list(scheme.by)].astype(str)
    w = keyed.merge(scheme.table, on=list(scheme.by), how="left")["weight"].to_numpy(dtype=float)
    if np.isnan(w).any():
        cell = keyed.iloc[int(np.flatnonzero(np.isnan(w))[0])].to_dict()
        raise InputError(f"weight cells: respondents of the cell {cell} have no weight")
    return w


def weight_expression(scheme: WeightScheme, prefix: str = "wb") -> Expr:
    """A row's weight: ``sum_b <prefix>b * indicator_b`` (the ``<prefix>b`` columns per group)."""
    out = None
    for b, ind in enumerate(scheme.indicators):
        term = col(f"{prefix}{b}") * ind if scheme.bands else col(f"{prefix}{b}")
        out = term if out is None else out + term
    return out


@dataclass
class DesignCells:
    """The design's cells: ``cells`` (cluster, key and band columns, ``n`` rows, ``w`` weight),
    ``cluster`` codes (K,), ``n_clusters`` (G), ``levels`` (per margin, codes (K,) and their
    number); see the module docstring."""

    cells: pd.DataFrame
    cluster_name: str
    cluster: np.ndarray
    n_clusters: int
    levels: list
    raking: bool

    @property
    def columns(self) -> list[str]:
        return [c for c in self.cells.columns if c not in ("n", "w", "gid", "band")]

    def index_of(self, rows: pd.DataFrame) -> np.ndarray:
        """The cell of each of ``rows`` (frames with the cells' key columns)."""
        cols = self.columns
        keyed = self.cells[cols].astype(str).assign(_k=np.arange(len(self.cells)))
        k = rows[cols].astype(str).merge(keyed, on=cols, how="left")["_k"].to_numpy()
        if np.isnan(k.astype(float)).any():
            raise InputError("survey design: a model row outside the design's cells")  # a subset by construction
        return k.astype(np.intp)

    def variance(self, infl: np.ndarray) -> np.ndarray:
        """``G/(G-1) sum_g (T_g - Tbar)(T_g - Tbar)'`` from the cells' influence totals ``infl`` (K, q),
        the calibration margins projected out (module docstring; R ``svyrecvar``)."""
        infl = np.asarray(infl, dtype=float).reshape(len(self.cells), -1)
        g = self.n_clusters
        totals = np.zeros((g, infl.shape[1]))
        np.add.at(totals, self.cluster, infl)
        if self.levels:
            n, w = self.cells["n"].to_numpy(dtype=float), self.cells["w"].to_numpy(dtype=float)
            scaled = infl / w[:, None]
            sums = [_level_sums(codes, size, scaled) for codes, size in self.levels]
            cross = [[np.bincount(a * sb + b, weights=n, minlength=sa * sb).reshape(sa, sb)
                      for b, sb in self.levels] for a, sa in self.levels]
            counts = [np.diag(cross[m][m])[:, None] for m in range(len(self.levels))]
            c = [np.zeros_like(s) for s in sums]
            for _ in range(10 if self.raking else 1):  # R's rake: 10 rounds; postStratify: one step
                for m in range(len(sums)):
                    c[m] += (sums[m] - sum(cross[m][j] @ c[j] for j in range(len(sums)))) / counts[m]
            for (codes, size), cm in zip(self.levels, c):
                wm = np.bincount(self.cluster * size + codes, weights=n * w, minlength=g * size).reshape(g, size)
                totals -= wm @ cm
        totals -= totals.mean(axis=0)
        v = g / (g - 1) * (totals.T @ totals)
        return (v + v.T) / 2


def _level_sums(codes: np.ndarray, size: int, values: np.ndarray) -> np.ndarray:
    out = np.zeros((size, values.shape[1]))
    np.add.at(out, codes, values)
    return out


def design_cells(engine: Engine, source: Source, scheme: WeightScheme, cluster: str) -> DesignCells:
    """Every respondent of ``source`` in its cell (one engine pass to group, one for the bands).

    InputError when a respondent has no cluster, no value of a weight or margin variable, or a
    negative handling time (the row path refuses to weight them too), or its cell has no weight."""
    hours = col(column_name("handling_hours"))
    prepared = engine.prepare(source, (cluster, *scheme.keys), {"h": hours} if scheme.bands else {},
                              ("handling_hours",) if scheme.bands else ())
    if prepared.n_rows != prepared.total_rows:
        raise InputError(f"survey responses: {prepared.total_rows - prepared.n_rows} respondent(s) lack {cluster} "
                         f"or a weighting variable ({', '.join(scheme.keys + ((BAND,) if scheme.bands else ()))}); "
                         "every respondent of the design needs them")
    if prepared.groups[cluster].nunique() < 2:
        raise InputError(f"survey design: a design-based variance needs at least 2 values of {cluster}")
    rows = band_rows(engine, prepared, scheme)
    cells = rows.assign(w=weights_of(rows, scheme)).drop(columns=["gid"])
    codes, uniques = pd.factorize(cells[cluster].astype(str))
    levels = []
    for margin in scheme.margins:
        key = cells[list(margin)].astype(str).agg("\x1f".join, axis=1) if len(margin) > 1 else cells[margin[0]]
        lv, u = pd.factorize(key.astype(str))
        levels.append((lv.astype(np.intp), len(u)))
    return DesignCells(cells=cells.reset_index(drop=True), cluster_name=cluster, cluster=codes.astype(np.intp),
                       n_clusters=len(uniques), levels=levels, raking=scheme.raking)
