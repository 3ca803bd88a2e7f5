"""Non-response weights: raking (iterative proportional fitting) of survey respondents
to the margins of the work-order population, optional weight trimming, and weight
diagnostics.

The work-order export is the population (one row per complaint ticket, surveyed or
not); the completed surveys are a sample whose response depends on cause, handling
time and region. Raking gives every respondent a weight so that the weighted counts
of respondents equal the population counts on each chosen margin variable
(e.g. region, cause_l2, handling band). Weights are in *work orders per respondent*
(their sum is the population size ``N``).

Functions (pure: DataFrames in, DataFrames/arrays out):

- :func:`handling_band` -- handling hours to the five handling-time bands
  (:mod:`research.stats.bands`, importable from here).
- :func:`rake`          -- IPF of respondents to population margins, optional cap.
- :func:`poststratify`  -- raking to the one margin of the strata's cells.
- :func:`weight_summary`, :func:`margin_diagnostics` -- n, sum, min, max, mean, cv, Kish
  n_eff, deff, overall and per level (:mod:`research.stats.weight_diagnostics`).

Every function takes optional multiplicities (``count``: each row stands for that many
respondents, or work orders, with its values), so that the groups of an engine's ``GROUP BY``
give the weights of the expanded rows (:mod:`research.representativeness.at_scale`).

Why written by hand
-------------------
Libraries considered, and why none is used:

- ``samplics``: its weighting module lists trimming and raking as TODO.
- ``balance`` (Meta): its ``rake`` once ignored the trimming settings silently
  (balance issue 69) -- trimmed raking is exactly what is needed here.
- ``weightipy`` before 0.4.2 fails silently with pandas 3 (this project's pandas).
- ``statsmodels`` has no survey-weighting module.
- R ``survey::rake`` is the reference implementation; the tests compare with it
  (``tests/fixtures/r/weights/``), but R is not a runtime dependency.

IPF itself is a few lines of numpy. Each margin variable is coded once to integer
group indices; one adjustment step is one ``np.bincount`` (weighted counts per
level) and one gather (``factor[codes]``), so 1,000,000 respondents with 10 margins
rake in about a second (``benchmarks/bench_weights.py``).

Algorithm (:func:`rake`)
------------------------
Start with equal weights ``w_i = N / n`` (``N`` = population rows, ``n`` = sample
rows). One *sweep* adjusts the margins in the order given: for margin variable
``v`` with levels ``k``, population counts ``T_k`` and weighted sample counts
``S_k``, every respondent of level ``k`` is multiplied by ``T_k / S_k`` (R's
``postStratify`` on that margin). After each sweep the margin error is

    max over variables v and levels k of |S_vk - T_vk| / sum_k T_vk

(absolute error relative to the margin total ``N``, dimensionless); sweeps stop
when it is below ``tol`` (converged) or after ``max_iter`` sweeps (not
converged; ``RakeResult.converged`` is False and a ``RuntimeWarning`` is issued).
This is the same fixed point as ``survey::rake``; R stops on the change of the
full cross-table between sweeps instead, which with ``epsilon = 1e-10`` gives
weights equal to ours to ~1e-12 relative.

Trimming (``cap``): the maximum weight is ``U = cap * N / n`` -- ``cap`` times the
mean weight, which is ``N / n`` whenever the margins hold (every margin sums to
``N``). Trimming and re-raking are alternated at the finest grain: inside every
margin adjustment, the trimmed factor ``f_k`` of level ``k`` solves

    sum_{i in k} min(f_k * w_i, U) = T_k

(found exactly by the monotone fixed point: cap the units with ``f * w_i > U``,
recompute ``f`` from the remaining units, repeat until no new unit is capped;
``f`` only grows, so it ends after at most as many rounds as units in the level).
So after every step the cap holds exactly and the margin just adjusted holds
exactly; sweeps continue until *all* margins hold to ``tol`` with the cap in
force -- both conditions at once, never a silent violation of either. Weight
"excess" removed from a capped unit is redistributed within its level, which is
what trimming followed by re-raking does in the limit. Before raking,
``T_k > U * n_k`` for any level (``n_k`` respondents) is rejected with
ValueError: no capped weights can reach that margin. Convergence with a cap is
slower (the cap constraint becomes active only gradually); the tests use
``tol = 1e-9``. If the cap is jointly infeasible (each level alone feasible but
not together), the sweeps do not converge and ``converged`` is False.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# the handling-time bands are research.stats.bands; their names stay importable from here
from research.stats.bands import BAND_EDGES_HOURS, BAND_LABELS, band_labels, handling_band  # noqa: F401
# the summaries of weights are research.stats.weight_diagnostics; their names stay importable from here
from research.stats.weight_diagnostics import margin_diagnostics, weight_summary  # noqa: F401

__all__ = ["BAND_LABELS", "BAND_EDGES_HOURS", "band_labels", "handling_band", "rake", "RakeResult",
           "poststratify", "propensity_weights", "weight_summary", "margin_diagnostics"]


@dataclass(frozen=True)
class RakeResult:
    """Outcome of :func:`rake`.

    Attributes
    ----------
    weights : np.ndarray
        One weight per row of ``sample``, in the row order of ``sample``
        (work orders represented per respondent; sums to the population size N).
    iterations : int
        Number of full sweeps over the margins.
    max_margin_error : float
        Largest ``|weighted count - population count| / margin total`` over all
        variables and levels after the last sweep (dimensionless).
    converged : bool
        ``max_margin_error < tol`` (and, with a cap, every weight <= the cap).
    cap_weight : float or None
        The maximum allowed weight ``cap * N / n`` when a cap was given.
    """

    weights: np.ndarray
    iterations: int
    max_margin_error: float
    converged: bool
    cap_weight: float | None = None
    _margins: tuple = field(default=(), repr=False)
    #: respondents per row of ``sample`` when it was given collapsed (:func:`rake`'s ``count``)
    _count: np.ndarray | None = field(default=None, repr=False)

    def diagnostics(self) -> pd.DataFrame:
        """Tidy frame, one row per margin variable and level.

        Columns: ``variable``, ``level``, ``n_sample`` (respondents), ``population``
        (population count), ``weighted`` (sum of weights), ``error``
        (weighted - population, in work orders), ``rel_error`` (error / margin total).
        """
        rows = []
        c = self._count
        for var, levels, codes, target in self._margins:
            got = np.bincount(codes, weights=self.weights if c is None else self.weights * c, minlength=len(levels))
            n_k = np.bincount(codes, weights=c, minlength=len(levels)).astype(np.int64)
            total = target.sum()
            for k, lev in enumerate(levels):
                rows.append((var, lev, int(n_k[k]), float(target[k]), float(got[k]),
                             float(got[k] - target[k]), float((got[k] - target[k]) / total)))
        return pd.DataFrame(rows, columns=["variable", "level", "n_sample", "population",
                                           "weighted", "error", "rel_error"])


def _levels_and_counts(pop: pd.Series, var: str, count=None) -> tuple[pd.Index, np.ndarray]:
    if pop.isna().any():
        raise ValueError(f"population column {var!r} has {int(pop.isna().sum())} missing "
                         "value(s); recode them to a level before raking")
    counts = (pop.value_counts(sort=False) if count is None
              else pd.Series(np.asarray(count, dtype=float), index=pop.index).groupby(pop, observed=True).sum())
    counts = counts[counts > 0]
    if isinstance(pop.dtype, pd.CategoricalDtype):
        order = [c for c in pop.cat.categories if c in counts.index]
    else:
        order = sorted(counts.index.tolist(), key=lambda x: (str(type(x)), x))
    levels = pd.Index(order, dtype=object)
    return levels, counts.reindex(levels).to_numpy(dtype="float64")


def _codes(s: pd.Series, levels: pd.Index, var: str) -> np.ndarray:
    if s.isna().any():
        raise ValueError(f"sample column {var!r} has {int(s.isna().sum())} missing "
                         "value(s); recode them to a level before raking")
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat_idx = levels.get_indexer(pd.Index(s.cat.categories, dtype=object))
        codes = cat_idx[s.cat.codes.to_numpy()]
        bad_vals = s.cat.categories[cat_idx < 0]
        bad_vals = [v for v in bad_vals if (s == v).any()]
    else:
        # the distinct values looked up once (not every row's value): the same codes
        fcodes, uniques = pd.factorize(s, use_na_sentinel=True)
        lookup = levels.get_indexer(pd.Index(np.asarray(uniques, dtype=object), dtype=object))
        codes = lookup[fcodes]
        bad_vals = [u for u, c in zip(np.asarray(uniques, dtype=object).tolist(), lookup) if c < 0]
    if bad_vals:
        raise ValueError(f"sample column {var!r} has level(s) {bad_vals[:5]!r} with no "
                         "population rows; such respondents cannot be weighted (merge the level "
                         "or drop the rows)")
    return codes.astype(np.intp, copy=False)


def _ipf(w, units, count, margins, U, max_iter, tol):
    """The sweeps of :func:`rake` on units (rows, or cells of ``count`` rows each, all with the
    same weight): returns the units' weights, the number of sweeps and the final margin error."""

    def sums(codes, w, k):
        return np.bincount(codes, weights=w if count is None else w * count, minlength=k)

    err = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        for codes, (k, target) in zip(units, margins):
            if U is None:
                w = w * (target / sums(codes, w, k))[codes]
            else:
                w = _capped_factor(w, codes, target, k, U, count=count)
        # last margin holds exactly after its own step; check the others
        err = 0.0
        for codes, (k, target) in zip(units[:-1], margins[:-1]):
            err = max(err, float(np.max(np.abs(sums(codes, w, k) - target)) / target.sum()))
        if err < tol:
            break
    # exact error over every margin (the last one included) for the record
    err = 0.0
    for codes, (k, target) in zip(units, margins):
        err = max(err, float(np.max(np.abs(sums(codes, w, k) - target)) / target.sum()))
    return w, it, err


def _capped_factor(w, codes, target, k_levels, U, max_rounds=10_000, count=None):
    """Per-level factors f_k with sum_{i in k} min(f_k w_i, U) = T_k; returns new weights.
    ``count``: the units are cells of that many rows sharing a weight (None: rows)."""
    capped = np.zeros(w.shape[0], dtype=bool)
    for _ in range(max_rounds):
        free = ~capped
        s_free = np.bincount(codes[free], weights=w[free] if count is None else (w * count)[free],
                             minlength=k_levels)
        n_cap = np.bincount(codes[capped], weights=None if count is None else count[capped], minlength=k_levels)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (target - U * n_cap) / s_free
        f = np.where(s_free > 0, f, 0.0)
        new = f[codes] * w
        over = free & (new > U)
        if not over.any():
            return np.where(capped, U, new)
        capped |= over
    raise RuntimeError("trimmed raking step did not settle")  # pragma: no cover


def rake(sample: pd.DataFrame, population: pd.DataFrame, margins: list[str], *,
         max_iter: int = 1000, tol: float = 1e-10, cap: float | None = None,
         start=None, count=None, population_count=None) -> RakeResult:
    """Rake the respondents (rows of ``sample``) to the population margin counts.

    Parameters
    ----------
    sample : DataFrame
        One row per respondent, with every column in ``margins``.
    population : DataFrame
        One row per population unit (work order), with every column in ``margins``;
        margin targets are its counts per level.
    margins : list of str
        Margin variables, adjusted in this order in every sweep.
    max_iter : int
        Maximum number of sweeps.
    tol : float
        Convergence threshold on the largest absolute margin error relative to the
        margin total (dimensionless).
    cap : float, optional
        Maximum weight as a multiple of the mean weight ``N / n`` (e.g. 5). See the
        module docstring for the trimming algorithm.
    start : array, optional
        Starting weights (positive, one per sample row; e.g. inverse response
        propensities). Default: equal weights ``N / n``.
    count, population_count : arrays, optional
        Multiplicities: each row of ``sample`` (``population``) stands for that many
        respondents (work orders) with its values, e.g. the groups of an engine's
        ``GROUP BY`` (:mod:`research.representativeness.at_scale`). None: every row once.
        The weights are the same as those of the expanded rows (one weight per row of
        ``sample``; ``n`` and ``N`` are the sums of the counts).

    Returns
    -------
    RakeResult

    Raises
    ------
    ValueError
        Empty ``margins``/sample, missing values in a margin column, a population
        level with count > 0 that has no respondents (raking cannot reach it; the
        message names the variable and level), a sample level absent from the
        population, or a cap that no weights can satisfy for some level.
    """
    margins = list(margins)
    _check_rake_inputs(sample, population, margins, cap)
    count = None if count is None else _multiplicity(count, len(sample), "count")
    population_count = None if population_count is None else _multiplicity(population_count, len(population),
                                                                            "population_count")
    n = len(sample) if count is None else int(count.sum())
    N = len(population) if population_count is None else int(population_count.sum())
    coded = _coded_margins(sample, population, margins, count, population_count)
    U = None if cap is None else _cap_weight(coded, cap, n, N, count)
    cell, units, unit_count, w_unit = _raking_units(coded, len(sample), n, N, start, count)
    w_unit, it, err = _ipf(w_unit, units, unit_count, [(len(levels), target) for _, levels, _, target in coded],
                           U, max_iter, tol)
    w = w_unit if cell is None else w_unit[cell]
    converged = err < tol and (U is None or float(w.max()) <= U * (1 + 1e-12))
    if not converged:
        warnings.warn(f"rake did not converge in {it} sweeps: max margin error {err:.3g} "
                      f"(tol {tol:g})", RuntimeWarning, stacklevel=2)
    return RakeResult(weights=w, iterations=it, max_margin_error=err, converged=converged,
                      cap_weight=U, _margins=tuple(coded), _count=count)


def _multiplicity(count, rows: int, what: str) -> np.ndarray:
    """``count`` as floats, one positive whole number per row; ValueError otherwise."""
    c = np.asarray(count, dtype="float64")
    if c.shape != (rows,) or not np.isfinite(c).all() or (c <= 0).any() or (c != np.round(c)).any():
        raise ValueError(f"{what} must hold {rows} positive whole numbers (rows per group)")
    return c


def _check_rake_inputs(sample: pd.DataFrame, population: pd.DataFrame, margins: list[str],
                       cap: float | None) -> None:
    """ValueError for empty or duplicate margins, a margin column absent from either frame, an
    empty sample or a cap not above 1."""
    if not margins:
        raise ValueError("rake: margins is empty")
    if len(set(margins)) != len(margins):
        raise ValueError(f"rake: duplicate margin variables in {margins!r}")
    for frame, name in ((sample, "sample"), (population, "population")):
        missing = [v for v in margins if v not in frame.columns]
        if missing:
            raise ValueError(f"rake: {name} has no column(s) {missing!r}")
    if len(sample) == 0:
        raise ValueError("rake: the sample has no rows")
    if cap is not None and not cap > 1.0:
        raise ValueError(f"rake: cap must be > 1 (a multiple of the mean weight), got {cap!r}")


def _coded_margins(sample: pd.DataFrame, population: pd.DataFrame, margins: list[str], count=None,
                   population_count=None) -> list[tuple]:
    """``(variable, levels, sample codes, population counts)`` of each margin; ValueError when a
    population level has no respondents (raking cannot reach it)."""
    coded = []
    for var in margins:
        levels, target = _levels_and_counts(population[var], var, population_count)
        codes = _codes(sample[var], levels, var)
        n_k = np.bincount(codes, weights=count, minlength=len(levels))
        empty = np.flatnonzero(n_k == 0)
        if empty.size:
            lv = [levels[k] for k in empty]
            raise ValueError(
                f"rake: variable {var!r}, level(s) {lv!r} have population count(s) "
                f"{[int(target[k]) for k in empty]!r} but no respondents; raking cannot reach "
                "them (collapse the level with a neighbour)")
        coded.append((var, levels, codes, target))
    return coded


def _cap_weight(coded: list[tuple], cap: float, n: int, N: int, count=None) -> float:
    """The largest weight allowed, ``cap`` times the mean weight ``N / n``; ValueError when some
    level's target needs a larger mean weight."""
    U = cap * N / n
    for var, levels, codes, target in coded:
        n_k = np.bincount(codes, weights=count, minlength=len(levels))
        bad = np.flatnonzero(target > U * n_k * (1 + 1e-12))
        if bad.size:
            k = bad[0]
            need = target[k] / n_k[k] / (N / n)
            raise ValueError(
                f"rake: cap={cap} is infeasible: variable {var!r}, level {levels[k]!r} needs "
                f"a mean weight of {target[k] / n_k[k]:.4g} ({need:.4g} x the mean weight) "
                f"but the cap allows at most {U:.4g}")
    return U


def _raking_units(coded: list[tuple], rows: int, n: int, N: int, start, count=None) -> tuple:
    """What the sweeps of :func:`_ipf` run on: ``(cell, units, count, w_unit)``. With equal
    starting weights, the cells of the margins' cross (``cell`` per row, ``units`` each margin's
    level per cell, ``count`` respondents per cell, ``w_unit`` each cell's weight); with
    ``start``, the rows themselves (``cell`` None, ``count`` the rows' multiplicities or None).
    ``rows`` rows of the sample stand for ``n`` respondents. ValueError for bad ``start``."""
    if start is None:
        # Equal starting weights: respondents sharing their level of every margin (a cell of the
        # margins' cross) get the same factors in every step, so the weights are a function of
        # the cell. The sweeps run on the cell table (each cell once, with its count of
        # respondents) and the weights are mapped back to the rows: the same fixed point and the
        # same steps, summed over a few hundred cells instead of every row.
        cell = np.zeros(rows, dtype=np.int64)
        for var, levels, codes, target in coded:
            cell = pd.factorize(cell * len(levels) + codes)[0].astype(np.int64)
        n_cells = int(cell.max()) + 1
        first = np.empty(n_cells, dtype=np.intp)
        first[cell[::-1]] = np.arange(rows - 1, -1, -1)
        units = [codes[first] for var, levels, codes, target in coded]
        per_cell = np.bincount(cell, weights=count, minlength=n_cells).astype("float64")
        return cell, units, per_cell, np.full(n_cells, N / n, dtype="float64")
    w_unit = np.asarray(start, dtype="float64").copy()
    if w_unit.shape != (rows,) or not np.isfinite(w_unit).all() or (w_unit <= 0).any():
        raise ValueError(f"rake: start must hold {rows} finite positive weights")
    return None, [codes for var, levels, codes, target in coded], count, w_unit


def poststratify(sample: pd.DataFrame, population: pd.DataFrame, strata: list[str], *,
                 cap: float | None = None, tol: float = 1e-10, count=None,
                 population_count=None) -> RakeResult:
    """Post-stratification on the full cross of ``strata`` (R ``survey::postStratify``).

    Every respondent of cell ``c`` gets ``N_c / n_c`` (population work orders per
    respondent of the cell); this is raking to the single margin "cell". With a
    ``cap`` the excess is redistributed within the cell (see :func:`rake`). An
    empty cell with population rows raises ValueError naming it (collapse cells).
    ``count``, ``population_count``: multiplicities of the rows, as in :func:`rake`.
    """
    strata = list(strata)
    if not strata:
        raise ValueError("poststratify: strata is empty")

    for frame, name in ((sample, "sample"), (population, "population")):
        missing = [v for v in strata if v not in frame.columns]
        if missing:
            raise ValueError(f"poststratify: {name} has no column(s) {missing!r}")
    # The cell of a row is the text "a × b × ..." of its strata (missing when one is missing).
    # Coded as integers over both frames, with the text made once per distinct cell; handed to
    # rake as a categorical of the texts in sorted order (the order rake gives the texts).
    n_s = len(sample)
    key = np.zeros(n_s + len(population), dtype=np.int64)
    na = np.zeros(len(key), dtype=bool)
    texts = []
    for v in strata:
        both = pd.concat([sample[v].astype("string"), population[v].astype("string")], ignore_index=True)
        codes, uniques = pd.factorize(both, use_na_sentinel=True)
        na |= codes < 0
        key = pd.factorize(key * (len(uniques) + 1) + codes + 1)[0].astype(np.int64)
        texts.append((codes, np.asarray(uniques, dtype=object)))
    cells, _ = pd.factorize(key)
    first = np.empty(int(cells.max()) + 1 if len(cells) else 0, dtype=np.intp)
    first[cells[::-1]] = np.arange(len(cells) - 1, -1, -1)
    label = np.array([" × ".join(str(u[c[i]]) for c, u in texts) for i in first], dtype=object)
    ok = ~na[first]
    order = sorted(label[ok].tolist())
    rank = pd.Index(order).get_indexer(label)
    code = np.where(na, -1, rank[cells])
    cat = pd.Categorical.from_codes(code, categories=pd.Index(order, dtype=object))
    return rake(pd.DataFrame({"cell": cat[:n_s]}), pd.DataFrame({"cell": cat[n_s:]}), ["cell"], cap=cap, tol=tol,
                count=count, population_count=population_count)


def propensity_weights(propensity, population_size: int, *, cap: float | None = None,
                       tol: float = 1e-10) -> RakeResult:
    """Inverse-propensity weights ``1 / p_i`` of the respondents, scaled to sum to ``N``.

    ``propensity`` holds each respondent's fitted probability of completing the
    survey (from the response-propensity model of the population). Without a
    cap the weights are ``N / sum_j(1/p_j) * 1/p_i`` (the scale does not change
    ratio estimates; it makes weighted counts read as work orders). With a
    ``cap`` (multiple of the mean weight) the weights are trimmed and rescaled to
    ``N`` until both hold (a one-margin :func:`rake` started at ``1/p``).
    """
    p = np.asarray(propensity, dtype="float64")
    if p.ndim != 1 or p.size == 0 or not np.isfinite(p).all() or (p <= 0).any() or (p > 1).any():
        raise ValueError("propensity_weights: propensities must be finite and in (0, 1]")
    n = p.size
    one = pd.DataFrame({"all": np.zeros(n, dtype=np.int8)})
    pop = pd.DataFrame({"all": np.zeros(int(population_size), dtype=np.int8)})
    return rake(one, pop, ["all"], cap=cap, tol=tol, start=1.0 / p)
