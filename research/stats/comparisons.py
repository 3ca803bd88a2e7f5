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
from scipy.stats import studentized_range

KruskalEffect = Literal["epsilon_squared", "eta_squared_h"]
KRUSKAL_EFFECTS: tuple[str, ...] = get_args(KruskalEffect)

#: scipy.stats.studentized_range treats df at or above this as infinite (its cdf switches to the
#: one-dimensional integral); the quantiles here do the same, so that they agree with scipy's
_SCIPY_INFINITE_DF = 1e5
#: Composite Gauss-Legendre rules of the studentized-range integrals (see :func:`_studentized_range_cdf_pdf`):
#: points per panel; panels of the inner integral over z in [-_Z_LIMIT, _Z_LIMIT]; at least
#: _S_PANELS panels, none wider than _S_PANEL_WIDTH, for the outer integral over x = log(s^2);
#: the outer range leaves out _S_TAIL of the probability of s at each end.
_GL_ORDER = 8
_Z_LIMIT = 8.5
_Z_PANELS = 34
_S_PANELS = 12
_S_PANEL_WIDTH = 0.5
_S_TAIL = 1e-18
#: the quantile's Newton iteration stops after a step below this, relative (quadratic convergence:
#: the error left is of the order of its square)
_QUANTILE_STEP = 1e-8
#: distinct df from which the quantiles start from an interpolant through this many exact ones
_START_NODES = 8
_QUANTILE_MAX_ITER = 100
#: largest (quantiles x outer nodes x inner nodes) array evaluated at once
_CHUNK_ELEMENTS = 2_000_000


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
        raise ValueError(f"column {between!r} has {len(sizes)} group(s) with a non-missing "
                         f"{dv!r}; at least 2 are needed to compare groups")
    small = sizes[sizes < 2]
    if len(small):
        raise ValueError(f"column {between!r}: group(s) {', '.join(map(repr, small.index))} "
                         f"have fewer than 2 non-missing values of {dv!r}; a group variance "
                         f"needs at least 2")
    return frame, int(len(data) - keep.sum())


# ------------------------------------------------------------- helpers -------
def hedges_j(df: np.ndarray | float) -> np.ndarray:
    """Exact small-sample factor of Hedges' g (Hedges 1981).

    ``J(m) = Gamma(m / 2) / (sqrt(m / 2) * Gamma((m - 1) / 2))`` with
    ``m = n_a + n_b - 2``; as ``effectsize::hedges_g`` in R.
    """
    m = np.asarray(df, dtype=float)
    return np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))


def _gauss_legendre(lo: np.ndarray, hi: np.ndarray, panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (each (len(lo), panels * _GL_ORDER)) of a composite Gauss-Legendre rule with
    ``panels`` equal panels on each interval [lo[i], hi[i]]."""
    x, w = np.polynomial.legendre.leggauss(_GL_ORDER)
    lo, hi = np.asarray(lo, dtype=float)[:, None], np.asarray(hi, dtype=float)[:, None]
    half = (hi - lo) / (2 * panels)
    mids = lo + half * (2 * np.arange(panels) + 1)
    nodes = (mids[:, :, None] + half[:, :, None] * x).reshape(len(lo), -1)
    weights = np.broadcast_to(half[:, :, None] * w, (len(lo), panels, _GL_ORDER)).reshape(len(lo), -1)
    return nodes, weights


_Z, _ZW = (a[0] for a in _gauss_legendre(np.array([-_Z_LIMIT]), np.array([_Z_LIMIT]), _Z_PANELS))
_PHI_Z = special.ndtr(_Z)
_DENSITY_Z = np.exp(-_Z**2 / 2) / np.sqrt(2 * np.pi) * _ZW


def _range_cdf_pdf(w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """cdf and pdf at ``w`` (any shape, >= 0) of the range of ``k`` independent standard normals.

    ``W(w) = k * integral phi(z) (Phi(z + w) - Phi(z))^(k-1) dz`` and its derivative
    ``k (k - 1) * integral phi(z) phi(z + w) (Phi(z + w) - Phi(z))^(k-2) dz`` (Hartley 1942;
    Lund & Lund 1983), by the composite Gauss-Legendre rule on [-_Z_LIMIT, _Z_LIMIT] (phi is
    below 1e-16 outside it).
    """
    w = np.asarray(w, dtype=float)[..., None]
    upper = w + _Z
    d = np.clip(special.ndtr(upper) - _PHI_Z, 0.0, None)
    d_k2 = d ** (k - 2)
    cdf = k * np.sum(_DENSITY_Z * d_k2 * d, axis=-1)
    pdf = k * (k - 1) * np.sum(_DENSITY_Z * np.exp(-upper**2 / 2) / np.sqrt(2 * np.pi) * d_k2, axis=-1)
    return cdf, pdf


def _studentized_range_cdf_pdf(q: np.ndarray, k: int, df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cdf and pdf of the studentized range for ``k`` groups at ``q`` with ``df`` (arrays of one shape).

    ``P(Q <= q) = E[W(q s)]``, ``s^2`` a chi-square with ``df`` df over ``df`` and ``W`` the cdf
    of the range of ``k`` standard normals (:func:`_range_cdf_pdf`); the pdf is ``E[s W'(q s)]``.
    The expectation over ``s`` is a composite Gauss-Legendre rule in ``x = log(s^2)``: ``s^2 df / 2``
    is Gamma(df / 2), so x has density proportional to ``exp(-(df / 2) (e^x - 1 - x))``, a smooth
    bump of width about sqrt(2 / df), taken between its 1e-18 and 1 - 1e-18 quantiles and
    normalised by the rule's own sum (no gamma function constant, which would lose digits to
    cancellation at large df). As scipy, ``df >= 1e5`` is taken as infinite: ``W(q)``.
    Vectorised: one call evaluates every (q, df) pair.

    Accuracy (tests/stats/test_comparisons.py): for k = 2, where ``Q = sqrt(2) |T|`` with T Student's
    t, the cdf is within 1e-13 of ``2 F_t(q / sqrt(2)) - 1`` for df 1 to 1e7; for k up to 17,
    scipy's ``studentized_range.cdf`` (adaptive nquad, ``epsabs`` 1e-11) at the quantiles
    found here gives back ``p`` within 1e-10; rules with twice the panels (half as wide)
    change the cdf by less than 4e-13 for k 2..17, df 1..1e5, q 0..60 (measured when the rules
    were chosen).
    """
    q = np.asarray(q, dtype=float)
    df = np.asarray(df, dtype=float)
    cdf, pdf = np.empty(len(q)), np.empty(len(q))
    infinite = df >= _SCIPY_INFINITE_DF
    if infinite.any():
        cdf[infinite], pdf[infinite] = _range_cdf_pdf(q[infinite], k)
    finite = np.flatnonzero(~infinite)
    if not len(finite):
        return cdf, pdf
    a = df[finite] / 2
    lo = np.log(special.gammaincinv(a, _S_TAIL) / a)
    hi = np.log(special.gammainccinv(a, _S_TAIL) / a)
    # small df have a long left tail in x and need more panels: df with equal counts go together
    panels = np.maximum(_S_PANELS, np.ceil((hi - lo) / _S_PANEL_WIDTH).astype(int))
    for n_panels in np.unique(panels):
        group = np.flatnonzero(panels == n_panels)
        x, wx = _gauss_legendre(lo[group], hi[group], int(n_panels))
        dens = np.exp(-a[group, None] * (np.expm1(x) - x)) * wx
        dens /= dens.sum(axis=1, keepdims=True)
        s = np.exp(x / 2)
        step = max(1, _CHUNK_ELEMENTS // (x.shape[1] * len(_Z)))
        for start in range(0, len(group), step):
            part = slice(start, start + step)
            at = finite[group[part]]
            W, dW = _range_cdf_pdf(q[at, None] * s[part], k)
            cdf[at] = np.sum(dens[part] * W, axis=1)
            pdf[at] = np.sum(dens[part] * s[part] * dW, axis=1)
    return cdf, pdf


def _studentized_range_ppf(p: float, k: int, df: np.ndarray) -> np.ndarray:
    """Quantile ``p`` of the studentized range for ``k`` groups at every ``df`` (vectorised).

    Safeguarded Newton on :func:`_studentized_range_cdf_pdf`, all df at once: a step that
    leaves the bracket known so far bisects it (or doubles ``q`` while there is no upper end).
    Newton converges quadratically, so a step below ``_QUANTILE_STEP`` relative leaves an error
    of order its square (below 1e-14) and is the last. Starting values: the infinite-df
    quantile; with more than ``_START_NODES`` distinct df, first the quantiles at
    ``_START_NODES`` Chebyshev nodes in 1 / df (q is smooth in 1 / df), and every other df
    starts from their interpolant, typically within 1e-9, so that one step finishes it. A df
    that has not converged after ``_QUANTILE_MAX_ITER`` steps falls back to
    ``scipy.stats.studentized_range.ppf``.
    """
    df = np.asarray(df, dtype=float)

    def solve(q, dfs):
        lo, hi = np.zeros(len(q)), np.full(len(q), np.inf)
        active = np.ones(len(q), dtype=bool)
        for _ in range(_QUANTILE_MAX_ITER):
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            F, f = _studentized_range_cdf_pdf(q[idx], k, dfs[idx])
            below = F < p
            lo[idx] = np.where(below, np.maximum(lo[idx], q[idx]), lo[idx])
            hi[idx] = np.where(below, hi[idx], np.minimum(hi[idx], q[idx]))
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = q[idx] - (F - p) / f
            done = np.isfinite(newton) & (np.abs(newton - q[idx]) <= _QUANTILE_STEP * np.abs(q[idx]))
            bad = ~np.isfinite(newton) | (newton <= lo[idx]) | (newton >= hi[idx])
            q[idx] = np.where(done | ~bad, newton,
                              np.where(np.isfinite(hi[idx]), (lo[idx] + hi[idx]) / 2, 2 * q[idx]))
            active[idx[done]] = False
        if active.any():  # not expected; scipy's exact (slow) quantile
            q[active] = studentized_range.ppf(p, k, dfs[active])
        return q

    q_inf = solve(np.array([3.0]), np.array([np.inf]))[0]
    start = np.full(len(df), q_inf)
    finite = df < _SCIPY_INFINITE_DF
    if finite.sum() > _START_NODES:
        x = 1.0 / df[finite]
        lo, hi = x.min(), x.max()
        j = np.arange(_START_NODES)
        nodes = (lo + hi) / 2 + (hi - lo) / 2 * np.cos((2 * j + 1) * np.pi / (2 * _START_NODES))
        at_nodes = solve(np.full(_START_NODES, q_inf), 1.0 / nodes)
        fit = np.polynomial.chebyshev.Chebyshev.fit(nodes, at_nodes, _START_NODES - 1, domain=[lo, hi])
        guess = fit(x)
        start[finite] = np.where(np.isfinite(guess) & (guess > 0), guess, q_inf)
    return solve(start, df)


def _tukey_quantiles(conf_level: float, k: int, df: np.ndarray) -> np.ndarray:
    """Upper quantile ``q`` of the studentized range for ``k`` groups at each ``df``.

    :func:`_studentized_range_ppf`, once per distinct df, all at once. It agrees with
    ``scipy.stats.studentized_range.ppf`` within 1e-10 relative (scipy's own cdf tolerance;
    5e-12 on the committed sample's 142 pairs) and with R's ``qtukey`` as closely as scipy
    does, in about 0.1 s for 136 df instead of about 0.5 s per df (scipy inverts its adaptive
    two-dimensional integral with brentq, one df at a time, about 14 integrals each).
    """
    df = np.asarray(df, dtype=float)
    uniq, inverse = np.unique(df, return_inverse=True)
    return _studentized_range_ppf(conf_level, k, uniq)[inverse]


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
    h = float(kw["H"])
    if kruskal_effect == "epsilon_squared":
        kw_effect = h / ((n**2 - 1) / (n + 1))
    else:
        kw_effect = (h - k + 1) / (n - k)
    return pd.DataFrame({
        "analysis": "compare_groups", "dv": dv, "between": between,
        "method": ["welch_anova", "kruskal"],
        "statistic": [float(welch["F"]), h],
        "df1": [float(welch["ddof1"]), float(kw["ddof1"])],
        "df2": [float(welch["ddof2"]), np.nan],
        "p_value": [float(welch["p_unc"]), float(kw["p_unc"])],
        "effect_size": [float(welch["np2"]), kw_effect],
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
    n_a = sizes.loc[gh["A"]].to_numpy()
    n_b = sizes.loc[gh["B"]].to_numpy()
    df = gh["df"].to_numpy(dtype=float)
    se = gh["se"].to_numpy(dtype=float)
    est = gh["diff"].to_numpy(dtype=float)
    half = _tukey_quantiles(conf_level, k, df) / np.sqrt(2) * se
    return pd.DataFrame({
        "dv": dv, "between": between,
        "group_a": gh["A"].to_numpy(), "group_b": gh["B"].to_numpy(),
        "mean_a": gh["mean_A"].to_numpy(dtype=float),
        "mean_b": gh["mean_B"].to_numpy(dtype=float),
        "n_a": n_a.astype("int64"), "n_b": n_b.astype("int64"),
        "estimate": est, "std_error": se,
        "statistic": gh["T"].to_numpy(dtype=float), "df": df,
        "p_value": gh["pval"].to_numpy(dtype=float),
        "p_holm": welch_t["p_corr"].to_numpy(dtype=float),
        "hedges_g": gh["cohen"].to_numpy(dtype=float) * hedges_j(n_a + n_b - 2),
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
            raise ValueError(f"column {src!r} has {frame[name].nunique()} distinct non-missing "
                             f"value(s) among complete rows; at least 2 are needed")
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
    return pd.DataFrame({
        "analysis": ["association"], "row": row, "col": col, "method": "pearson_chi2",
        "statistic": float(pearson["chi2"]), "df": float(pearson["dof"]),
        "p_value": float(pearson["pval"]), "cramers_v": float(pearson["cramer"]),
        "n": len(frame), "n_rows": int(frame["row"].nunique()),
        "n_cols": int(frame["col"].nunique()), "n_missing": n_missing,
    })
