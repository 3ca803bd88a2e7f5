"""Group comparisons: omnibus tests, Games-Howell pairs, chi-square association.

Pure functions: a data frame of canonical responses in, tidy data frames out.
Nothing is rounded. The statistics come from pingouin (the project's chosen
library) wherever pingouin computes them exactly; the few quantities it does
not give, or gives only approximately, are computed here and say so:

- the Games-Howell confidence interval (pingouin gives none),
- Hedges' g with the exact small-sample factor (pingouin uses the
  approximation ``1 - 3 / (4 (n_a + n_b) - 9)``; see :func:`compare_groups`),
- the Kruskal-Wallis effect size (pingouin gives none).

Reference values: ``tests/fixtures/r/comparisons/make_reference.R``
(``oneway.test``, ``kruskal.test``, ``rstatix::games_howell_test``,
``t.test`` + ``p.adjust("holm")``, ``effectsize::hedges_g``, ``chisq.test``).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import special

from research.stats.studentized_range import tukey_quantiles

KruskalEffect = Literal["epsilon_squared", "eta_squared_h"]
KRUSKAL_EFFECTS: tuple[str, ...] = get_args(KruskalEffect)


# ------------------------------------------------------------------ checks ----
def check_option(name: str, value: str, valid: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``valid``; otherwise raise ValueError listing them."""
    if value not in valid:
        listed = ", ".join(repr(v) for v in valid)
        raise ValueError(f"{name}={value!r} is not valid; use one of {listed}")
    return value


def check_columns(data: pd.DataFrame, columns: tuple[str, ...] | list[str], *,
                  role: str = "column") -> None:
    """Raise ValueError naming every column of ``columns`` that ``data`` lacks."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"{role} {', '.join(repr(c) for c in missing)} not found in data; "
                         f"available columns: {', '.join(map(str, data.columns))}")


def check_conf_level(conf_level: float) -> float:
    """Raise ValueError unless ``0 < conf_level < 1``."""
    if not (isinstance(conf_level, (int, float)) and 0 < conf_level < 1):
        raise ValueError(f"conf_level must be a number strictly between 0 and 1, "
                         f"not {conf_level!r}")
    return float(conf_level)


def numeric_column(series: pd.Series, column: str) -> pd.Series:
    """``series`` (named ``column`` in messages) as float64 (missing -> NaN); ValueError naming ``column`` if not numeric."""
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series):
        raise ValueError(f"column {column!r} must be numeric, not {series.dtype}")
    return series.astype("Float64").astype("float64")


def _groups(data: pd.DataFrame, dv: str, between: str) -> tuple[pd.DataFrame, int]:
    """Complete rows of (dv, between) with dv as float64; also the number of rows dropped."""
    check_columns(data, [dv, between])
    if dv == between:
        raise ValueError(f"dv and between must be different columns, both are {dv!r}")
    y = numeric_column(data[dv], dv)
    g = data[between]
    keep = y.notna().to_numpy() & g.notna().to_numpy()
    g = g[keep]
    if isinstance(g.dtype, pd.CategoricalDtype):
        g = g.cat.remove_unused_categories()
    frame = pd.DataFrame({dv: y[keep].to_numpy(), between: g.to_numpy()})
    if isinstance(g.dtype, pd.CategoricalDtype):
        frame[between] = pd.Categorical(frame[between], categories=g.cat.categories)
    sizes = frame.groupby(between, observed=True, sort=True)[dv].size()
    if len(sizes) < 2:
        raise ValueError(too_few_groups(between, len(sizes), dv))
    small = sizes[sizes < 2]
    if len(small):
        raise ValueError(f"column {between!r}: group(s) {', '.join(map(repr, small.index))} "
                         f"have fewer than 2 non-missing values of {dv!r}; a group variance "
                         f"needs at least 2")
    return frame, int(len(data) - keep.sum())


def too_few_groups(between: str, n_groups: int, dv: str) -> str:
    """The message when fewer than 2 groups of ``between`` have a non-missing ``dv``."""
    return (f"column {between!r} has {n_groups} group(s) with a non-missing {dv!r}; at least 2 are "
            "needed to compare groups")


def too_few_values(column: str, n_values: int) -> str:
    """The message when ``column`` has fewer than 2 distinct values among complete rows."""
    return (f"column {column!r} has {n_values} distinct non-missing value(s) among complete rows; "
            "at least 2 are needed")


# ------------------------------------------------------------- helpers -------
def hedges_j(df: np.ndarray | float) -> np.ndarray:
    """Exact small-sample factor of Hedges' g (Hedges 1981).

    ``J(m) = Gamma(m / 2) / (sqrt(m / 2) * Gamma((m - 1) / 2))`` with
    ``m = n_a + n_b - 2``; as ``effectsize::hedges_g`` in R.
    """
    m = np.asarray(df, dtype=float)
    return np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))


# ------------------------------------------------------------ analyses -------
def compare_groups(data: pd.DataFrame, *, dv: str = "sat_overall", between: str = "cause_l1",
                   conf_level: float = 0.95,
                   kruskal_effect: KruskalEffect = "epsilon_squared") -> dict[str, pd.DataFrame]:
    """Compare the mean (and rank) of ``dv`` across the groups of ``between``.

    Rows where ``dv`` or ``between`` is missing are dropped first (counted in
    ``n_missing``). Groups are taken in pandas ``groupby`` order: category
    order for a categorical column, otherwise sorted.

    Parameters
    ----------
    data : DataFrame of responses.
    dv : numeric outcome column (nullable ``Int64`` is fine).
    between : grouping column (e.g. ``cause_l1``, 4 groups, or ``cause_l2``, 17).
    conf_level : level of the Games-Howell interval.
    kruskal_effect : effect size reported for the Kruskal-Wallis test, one of
        ``"epsilon_squared"`` (default) or ``"eta_squared_h"``; see below.

    Returns
    -------
    dict with two data frames.

    ``"omnibus"``, one row per test:

    - ``analysis`` ("compare_groups"), ``dv``, ``between``, ``method``:
      ``"welch_anova"`` (``pingouin.welch_anova``; R ``oneway.test(var.equal =
      FALSE)``) or ``"kruskal"`` (``pingouin.kruskal``, with the tie
      correction; R ``kruskal.test``).
    - ``statistic``: Welch's F or Kruskal-Wallis H.
    - ``df1``, ``df2``: numerator and (Welch-Satterthwaite) denominator df of F;
      for H, ``df1 = k - 1`` and ``df2`` is NaN.
    - ``p_value``.
    - ``effect_size``, ``effect_size_name``: for Welch, ``"eta_squared"`` =
      SS_between / SS_total, pingouin's ``np2`` (partial and classical eta-squared
      coincide in a one-way design). For Kruskal-Wallis, ``"epsilon_squared"``
      = H / ((n² - 1) / (n + 1)) = H / (n - 1) (Tomczak & Tomczak 2014; R
      ``effectsize::rank_epsilon_squared``) or ``"eta_squared_h"`` =
      (H - k + 1) / (n - k) (R ``rstatix::kruskal_effsize``).
    - ``n`` (rows used), ``n_groups`` (k), ``n_missing`` (rows dropped because
      ``dv`` or ``between`` was missing).

    ``"pairwise"``, one row per pair of groups (Games-Howell):

    - ``dv``, ``between``, ``group_a``, ``group_b``, ``mean_a``, ``mean_b``,
      ``n_a``, ``n_b``.
    - ``estimate`` = ``mean_a - mean_b`` (units of ``dv``).
    - ``std_error`` = sqrt(s_a²/n_a + s_b²/n_b) (Welch's unpooled SE; note R's
      ``rstatix::games_howell_test`` reports this times sqrt(1/2)).
    - ``statistic`` = estimate / std_error (Welch's t, signed); ``df``: its
      Welch-Satterthwaite df.
    - ``p_value``: Games-Howell p, P(Q > sqrt(2)·|t|) for the studentized range
      with k groups and ``df`` (``pingouin.pairwise_gameshowell``), adjusted
      for all k(k-1)/2 comparisons by construction.
    - ``p_holm``: Holm-adjusted p of the pairwise Welch t-tests
      (``pingouin.pairwise_tests(padjust="holm", correction=True)``; R
      ``t.test(var.equal = FALSE)`` + ``p.adjust(method = "holm")``). Both
      ``p_value`` and ``p_holm`` control the family-wise error rate; they are
      different procedures and will not agree.
    - ``hedges_g``: (mean_a - mean_b) / pooled SD × J(n_a + n_b - 2), with the
      exact factor J of :func:`hedges_j` (R ``effectsize::hedges_g``).
      Pingouin's own ``hedges`` uses the approximation 1 - 3/(4(n_a+n_b)-9),
      which differs by about 1/(32 m²) relative, m = n_a + n_b - 2.
    - ``conf_low``, ``conf_high``: Games-Howell interval,
      estimate ± q(conf_level; k, df) / sqrt(2) × std_error, q the
      studentized-range quantile (R ``rstatix::games_howell_test``).
    - ``conf_level``.

    Examples
    --------
    >>> from research.simulate import simulate
    >>> res = compare_groups(simulate(600, 5).responses, dv="sat_overall", between="cause_l1")
    >>> list(res["omnibus"]["method"])
    ['welch_anova', 'kruskal']
    >>> # In R: oneway.test(sat_overall ~ cause_l1, var.equal = FALSE);
    >>> #       rstatix::games_howell_test(d, sat_overall ~ cause_l1)
    """
    check_option("kruskal_effect", kruskal_effect, KRUSKAL_EFFECTS)
    conf_level = check_conf_level(conf_level)
    frame, n_missing = _groups(data, dv, between)
    return {"omnibus": _omnibus(frame, dv, between, n_missing, kruskal_effect),
            "pairwise": _games_howell(frame, dv, between, conf_level)}


def _omnibus(frame: pd.DataFrame, dv: str, between: str, n_missing: int,
             kruskal_effect: KruskalEffect) -> pd.DataFrame:
    """The ``omnibus`` table of :func:`compare_groups` (Welch ANOVA and Kruskal-Wallis) of the
    complete rows ``frame``."""
    n = len(frame)
    k = int(frame[between].nunique())
    welch = pg.welch_anova(data=frame, dv=dv, between=between).iloc[0]
    kw = pg.kruskal(data=frame, dv=dv, between=between).iloc[0]
    return omnibus_frame(dv, between,
                         welch=(welch["F"], welch["ddof1"], welch["ddof2"], welch["p_unc"], welch["np2"]),
                         kruskal=(kw["H"], kw["ddof1"], kw["p_unc"]), n=n, k=k, n_missing=n_missing,
                         kruskal_effect=kruskal_effect)


def omnibus_frame(dv: str, between: str, *, welch: tuple, kruskal: tuple, n: int, k: int, n_missing: int,
                  kruskal_effect: KruskalEffect) -> pd.DataFrame:
    """The ``omnibus`` table of :func:`compare_groups` from the tests' results: ``welch`` =
    (F, df1, df2, p, eta squared), ``kruskal`` = (H, df, p); ``n`` rows used in ``k`` groups,
    ``n_missing`` rows dropped. Shared by the row path and the counts path
    (:mod:`research.models.aggregate.comparisons`)."""
    f, df1, df2, p_f, np2 = (float(v) for v in welch)
    h, df_h, p_h = (float(v) for v in kruskal)
    if kruskal_effect == "epsilon_squared":
        kw_effect = h / ((n**2 - 1) / (n + 1))
    else:
        kw_effect = (h - k + 1) / (n - k)
    return pd.DataFrame({
        "analysis": "compare_groups", "dv": dv, "between": between,
        "method": ["welch_anova", "kruskal"],
        "statistic": [f, h], "df1": [df1, df_h], "df2": [df2, np.nan],
        "p_value": [p_f, p_h], "effect_size": [np2, kw_effect],
        "effect_size_name": ["eta_squared", kruskal_effect],
        "n": n, "n_groups": k, "n_missing": n_missing,
    })


def _games_howell(frame: pd.DataFrame, dv: str, between: str, conf_level: float) -> pd.DataFrame:
    """The ``pairwise`` table of :func:`compare_groups` (Games-Howell with Holm-adjusted Welch t
    p-values and Hedges' g) of the complete rows ``frame``."""
    k = int(frame[between].nunique())
    gh = pg.pairwise_gameshowell(data=frame, dv=dv, between=between, effsize="cohen")
    welch_t = pg.pairwise_tests(data=frame, dv=dv, between=between, parametric=True,
                                correction=True, padjust="holm", effsize="none")
    key_gh = list(zip(gh["A"].astype(str), gh["B"].astype(str)))
    key_t = list(zip(welch_t["A"].astype(str), welch_t["B"].astype(str)))
    if key_gh != key_t:  # both enumerate pairs in groupby order; guard against a change
        welch_t = welch_t.set_index(["A", "B"]).loc[gh.set_index(["A", "B"]).index].reset_index()
    sizes = frame.groupby(between, observed=True, sort=True)[dv].size()
    pairs = {"group_a": gh["A"].to_numpy(), "group_b": gh["B"].to_numpy(),
             "n_a": sizes.loc[gh["A"]].to_numpy(), "n_b": sizes.loc[gh["B"]].to_numpy()}
    pairs.update({key: gh[col].to_numpy(dtype=float) for key, col in (
        ("mean_a", "mean_A"), ("mean_b", "mean_B"), ("estimate", "diff"), ("std_error", "se"),
        ("statistic", "T"), ("df", "df"), ("p_value", "pval"), ("cohen_d", "cohen"))})
    pairs["p_holm"] = welch_t["p_corr"].to_numpy(dtype=float)
    return games_howell_frame(dv, between, pairs, k=k, conf_level=conf_level)


def games_howell_frame(dv: str, between: str, pairs: dict[str, np.ndarray], *, k: int,
                       conf_level: float) -> pd.DataFrame:
    """The ``pairwise`` table of :func:`compare_groups` from per-pair arrays ``pairs``: ``group_a``,
    ``group_b``, ``n_a``, ``n_b``, ``mean_a``, ``mean_b``, ``estimate``, ``std_error``, ``statistic``,
    ``df``, ``p_value``, ``p_holm`` and ``cohen_d`` (pooled-SD d); adds Hedges' g (:func:`hedges_j`)
    and the Games-Howell interval (:func:`research.stats.studentized_range.tukey_quantiles`, ``k``
    groups). Shared by the row path and the counts path (:mod:`research.models.aggregate.comparisons`)."""
    n_a, n_b = np.asarray(pairs["n_a"]), np.asarray(pairs["n_b"])
    est, se = pairs["estimate"], pairs["std_error"]
    half = tukey_quantiles(conf_level, k, pairs["df"]) / np.sqrt(2) * se
    return pd.DataFrame({
        "dv": dv, "between": between, "group_a": pairs["group_a"], "group_b": pairs["group_b"],
        "mean_a": pairs["mean_a"], "mean_b": pairs["mean_b"],
        "n_a": n_a.astype("int64"), "n_b": n_b.astype("int64"),
        "estimate": est, "std_error": se, "statistic": pairs["statistic"], "df": pairs["df"],
        "p_value": pairs["p_value"], "p_holm": pairs["p_holm"],
        "hedges_g": pairs["cohen_d"] * hedges_j(n_a + n_b - 2),
        "conf_low": est - half, "conf_high": est + half, "conf_level": conf_level,
    })


def _complete_pair(data: pd.DataFrame, row: str, col: str) -> tuple[pd.DataFrame, int]:
    check_columns(data, [row, col])
    if row == col:
        raise ValueError(f"row and col must be different columns, both are {row!r}")
    keep = data[row].notna().to_numpy() & data[col].notna().to_numpy()
    frame = pd.DataFrame({"row": data[row].to_numpy()[keep], "col": data[col].to_numpy()[keep]})
    for name, src in (("row", row), ("col", col)):
        if frame[name].nunique() < 2:
            raise ValueError(too_few_values(src, frame[name].nunique()))
    return frame, int(len(data) - keep.sum())


def crosstab(data: pd.DataFrame, row: str = "satisfied", col: str = "cause_l1") -> pd.DataFrame:
    """Observed two-way table of ``row`` × ``col`` in tidy (long) form.

    Rows where either variable is missing are left out (as in
    :func:`association`).

    Returns
    -------
    DataFrame, one row per cell (every combination of observed levels,
    including empty cells), in groupby order of ``col`` then ``row``:
    ``row``, ``col`` (the column names), ``row_level``, ``col_level`` (the
    values), ``count`` (int), ``col_total`` (count of the ``col_level``),
    ``col_percent`` = 100 × count / col_total (percent of the column, so the
    percentages of each ``col_level`` sum to 100).

    Examples
    --------
    >>> # In R: prop.table(table(d$satisfied, d$cause_l1), margin = 2) * 100
    """
    frame, _ = _complete_pair(data, row, col)
    table = pd.crosstab(frame["row"], frame["col"])
    long = (table.stack().rename("count").reset_index()
            .rename(columns={"row": "row_level", "col": "col_level"}))
    long = long[["row_level", "col_level", "count"]]
    long = long.sort_values(["col_level", "row_level"], kind="stable").reset_index(drop=True)
    totals = long.groupby("col_level", sort=False)["count"].transform("sum")
    long.insert(0, "col", col)
    long.insert(0, "row", row)
    long["count"] = long["count"].astype("int64")
    long["col_total"] = totals.astype("int64")
    long["col_percent"] = 100.0 * long["count"] / long["col_total"]
    return long


def association(data: pd.DataFrame, *, row: str = "satisfied",
                col: str = "cause_l1") -> pd.DataFrame:
    """Pearson chi-square test of independence of ``row`` and ``col``.

    No continuity correction is applied, for any table size (including 2×2),
    so the statistic is the plain Pearson X² = Σ (O - E)² / E
    (``pingouin.chi2_independence(correction=False)``, the ``pearson`` row;
    R ``chisq.test(table, correct = FALSE)``). Rows where either variable is
    missing are dropped (counted in ``n_missing``). The table itself is
    available from :func:`crosstab`.

    Returns
    -------
    DataFrame with one row: ``analysis`` ("association"), ``row``, ``col``,
    ``method`` ("pearson_chi2"), ``statistic`` (X²), ``df`` = (r - 1)(c - 1),
    ``p_value``, ``cramers_v`` = sqrt(X² / (n (min(r, c) - 1))) (no bias
    correction), ``n``, ``n_rows`` (r), ``n_cols`` (c), ``n_missing``.

    Examples
    --------
    >>> # In R: chisq.test(table(d$satisfied, d$cause_l1), correct = FALSE)
    """
    frame, n_missing = _complete_pair(data, row, col)
    # pingouin needs plain values; level labels do not enter the statistic
    frame = frame.astype({"row": str, "col": str})
    _, _, stats = pg.chi2_independence(frame, x="row", y="col", correction=False)
    pearson = stats.loc[stats["test"] == "pearson"].iloc[0]
    return association_frame(row, col, (pearson["chi2"], pearson["dof"], pearson["pval"], pearson["cramer"]),
                             n=len(frame), n_rows=int(frame["row"].nunique()),
                             n_cols=int(frame["col"].nunique()), n_missing=n_missing)


def association_frame(row: str, col: str, pearson: tuple, *, n: int, n_rows: int, n_cols: int,
                      n_missing: int) -> pd.DataFrame:
    """The table of :func:`association` from ``pearson`` = (X², df, p, Cramér's V); shared by the
    row path and the counts path (:mod:`research.models.aggregate.comparisons`)."""
    chi2, dof, p_value, cramer = (float(v) for v in pearson)
    return pd.DataFrame({
        "analysis": ["association"], "row": row, "col": col, "method": "pearson_chi2",
        "statistic": chi2, "df": dof, "p_value": p_value, "cramers_v": cramer,
        "n": n, "n_rows": n_rows, "n_cols": n_cols, "n_missing": n_missing,
    })
