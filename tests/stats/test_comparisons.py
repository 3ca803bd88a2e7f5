"""research.stats.comparisons against R, plus invariants and input errors.

Reference source for every ``*_matches_r`` test: the CSV files written by
``tests/fixtures/r/comparisons/make_reference.R`` from
``tests/fixtures/r/models_data.csv`` (R 4.2.2, rstatix 0.7.2, effectsize 0.8.3;
versions in ``tests/fixtures/r/comparisons/reference_versions.txt``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.stats.comparisons import association, compare_groups, crosstab, hedges_j
from research.simulate import simulate

FIXTURES = Path(__file__).parents[1] / "fixtures" / "r"
REF = FIXTURES / "comparisons"

#: Everything computed in closed form or by the same algorithm in R and Python
#: (means, SEs, Welch t and df, F, H, chi-square, the p-values of the F, t,
#: chi-square distributions, Hedges' g with the exact J): agreement was 1e-13 or
#: better, so 1e-6 relative is a loose bound that still catches any formula error.
RTOL = 1e-6
#: Games-Howell p (studentized range). R's ptukey is a fixed-order
#: Gauss-Legendre approximation and returns the upper tail as 1 - P, so its
#: absolute error is about 1e-8 (it gives 0 where scipy's numerical integration
#: gives 6.2e-9); the largest difference seen was 5.3e-8 absolute. Compared with
#: an absolute tolerance, plus RTOL for large p.
P_TUKEY_ATOL = 1e-7
#: Games-Howell interval bounds: R's qtukey differed from scipy's
#: studentized_range.ppf by up to 4e-8 relative (qtukey is documented as
#: accurate to about 4 decimals; here it did better); the largest bound
#: difference was 3.7e-8 absolute. Bounds near zero make a relative tolerance
#: meaningless, so these use an absolute one, plus RTOL.
CONF_ATOL = 1e-7

PAIR_COLUMNS = ("mean_a", "mean_b", "n_a", "n_b", "estimate", "std_error", "statistic",
                "df", "p_holm", "hedges_g")


def _close(actual, expected, name: str, *, rtol: float = RTOL, atol: float = 0.0) -> None:
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=f"{name} differs from R")


@pytest.fixture(scope="module")
def models_data() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "models_data.csv")


@pytest.fixture(scope="module")
def results(models_data) -> dict[str, dict[str, pd.DataFrame]]:
    """compare_groups on models_data.csv for both cause levels (computed once)."""
    return {b: compare_groups(models_data, dv="sat_overall", between=b)
            for b in ("cause_l1", "cause_l2")}


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate(3000, 5).responses


# ------------------------------------------------------------ against R ------
@pytest.mark.parametrize("between", ["cause_l1", "cause_l2"])
def test_omnibus_matches_r(results, between):
    """Welch F (oneway.test) and Kruskal H (kruskal.test) with effect sizes; R reference."""
    ref = pd.read_csv(REF / "reference_omnibus.csv").query("between == @between")
    got = results[between]["omnibus"].set_index("method")
    ref = ref.set_index("method").loc[got.index]
    for col in ("statistic", "df1", "df2", "p_value", "n", "n_groups"):
        _close(got[col], ref[col], f"{between} {col}")
    _close(got.loc["welch_anova", "effect_size"], ref.loc["welch_anova", "eta_squared"],
           f"{between} eta_squared (SS_between / SS_total)")
    _close(got.loc["kruskal", "effect_size"], ref.loc["kruskal", "epsilon_squared"],
           f"{between} epsilon_squared (effectsize::rank_epsilon_squared)")
    assert list(got["effect_size_name"]) == ["eta_squared", "epsilon_squared"]
    assert (got["n_missing"] == 0).all()


def test_kruskal_eta_squared_h_and_categorical_order(models_data):
    """eta²[H] = (H - k + 1) / (n - k) against R rstatix::kruskal_effsize; in the same call
    (to save time) a categorical ``between`` keeps its category order, unused ones ignored."""
    ref = pd.read_csv(REF / "reference_omnibus.csv").query(
        "between == 'cause_l1' and method == 'kruskal'")
    d = models_data.assign(cause_l1=pd.Categorical(
        models_data["cause_l1"], categories=["voltage", "service", "outage", "capability", "x"]))
    res = compare_groups(d, between="cause_l1", kruskal_effect="eta_squared_h")
    om = res["omnibus"].set_index("method")
    assert om.loc["kruskal", "effect_size_name"] == "eta_squared_h"
    _close(om.loc["kruskal", "effect_size"], ref["eta_squared_h"].item(), "eta_squared_h")
    pw = res["pairwise"]
    assert list(pw["group_a"].astype(str))[:3] == ["voltage"] * 3
    assert "x" not in set(pw["group_a"].astype(str)) | set(pw["group_b"].astype(str))
    assert om.loc["kruskal", "n_groups"] == 4


@pytest.mark.parametrize("between", ["cause_l1", "cause_l2"])
def test_pairwise_matches_r(results, between):
    """Games-Howell pairs: rstatix::games_howell_test (interval), ptukey (p),
    t.test + p.adjust('holm') (p_holm), effectsize::hedges_g; R reference."""
    ref = pd.read_csv(REF / "reference_pairwise.csv").query("between == @between")
    got = results[between]["pairwise"]
    k = results[between]["omnibus"]["n_groups"].iloc[0]
    assert len(got) == len(ref) == k * (k - 1) // 2
    m = got.merge(ref, on=["group_a", "group_b"], suffixes=("", "_r"), validate="1:1")
    assert len(m) == len(ref), "pairs (group_a, group_b) differ from R"
    for col in PAIR_COLUMNS:
        _close(m[col], m[f"{col}_r"], f"{between} {col}")
    _close(m["p_value"], m["p_value_r"], f"{between} Games-Howell p_value", atol=P_TUKEY_ATOL)
    for col in ("conf_low", "conf_high"):
        _close(m[col], m[f"{col}_r"], f"{between} {col}", atol=CONF_ATOL)
    assert (m["conf_level"] == 0.95).all()


@pytest.mark.parametrize("col", ["cause_l1", "cause_l2"])
def test_association_matches_r(models_data, col):
    """Pearson chi-square without correction and Cramér's V; R chisq.test(correct = FALSE)."""
    ref = pd.read_csv(REF / "reference_association.csv").query("col == @col").iloc[0]
    got = association(models_data, row="satisfied", col=col).iloc[0]
    for name in ("statistic", "df", "p_value", "cramers_v", "n"):
        _close(got[name], ref[name], f"{col} {name}")
    assert got["method"] == "pearson_chi2"


@pytest.mark.parametrize("col", ["cause_l1", "cause_l2"])
def test_crosstab_matches_r(models_data, col):
    """Counts and column percentages; R table() and prop.table(margin = 2)."""
    ref = pd.read_csv(REF / "reference_crosstab.csv", dtype={"row_level": str}).query(
        "col == @col")
    got = crosstab(models_data, "satisfied", col)
    got = got.assign(row_level=got["row_level"].astype(str).str.lower())
    m = got.merge(ref, on=["row_level", "col_level"], suffixes=("", "_r"), validate="1:1")
    assert len(m) == len(ref) == len(got)
    _close(m["count"], m["count_r"], f"{col} count")
    _close(m["col_percent"], m["col_percent_r"], f"{col} col_percent")


def test_two_by_two_is_not_continuity_corrected():
    """A 2x2 table gets the plain Pearson X²; reference: the textbook formula
    sum((O - E)² / E) (R chisq.test(correct = FALSE) gives the same by definition)."""
    d = pd.DataFrame({"a": [True] * 30 + [False] * 20, "b": ["x"] * 20 + ["y"] * 25 + ["x"] * 5})
    obs = pd.crosstab(d["a"], d["b"]).to_numpy()
    exp = obs.sum(1, keepdims=True) * obs.sum(0, keepdims=True) / obs.sum()
    got = association(d, row="a", col="b").iloc[0]
    _close(got["statistic"], ((obs - exp) ** 2 / exp).sum(), "2x2 Pearson X²")
    _close(got["cramers_v"], np.sqrt(got["statistic"] / obs.sum()), "2x2 Cramér's V")


def test_hedges_j_exact():
    """Exact J against the Gamma-function definition at small df (Hedges 1981, eq. 6e):
    J(2) = Gamma(1) / (1 * Gamma(1/2)) = 1 / sqrt(pi); and J -> 1 - 3/(4m - 1) for large m."""
    _close(hedges_j(2), 1 / np.sqrt(np.pi), "J(2)", rtol=1e-13)
    _close(hedges_j(10_000), 1 - 3 / (4 * 10_000 - 1), "J(10000)", rtol=1e-9)


# ------------------------------------------- studentized-range quantiles -----
def test_studentized_range_k2_is_exact():
    """k = 2: Q = sqrt(2) |T| with T Student's t, so the cdf, pdf and quantile have closed forms;
    the Gauss-Legendre rules of research.stats.comparisons match them for df 1 to 1e7 (df >= 1e5 taken
    as infinite, as scipy does)."""
    from scipy import stats

    from research.stats.studentized_range import _studentized_range_cdf_pdf, _studentized_range_ppf

    df = np.array([1, 1.5, 2.5, 5, 10, 30, 100, 354.6, 2000, 6473.6, 20000, 99999, 1e5, 1e7])
    t_df = np.where(df >= 1e5, np.inf, df)
    for p in (0.05, 0.5, 0.95, 0.999):
        q = _studentized_range_ppf(p, 2, df)
        _close(q, np.sqrt(2) * stats.t.ppf((1 + p) / 2, t_df), f"k=2 quantile {p}", rtol=1e-12)
        cdf, pdf = _studentized_range_cdf_pdf(q, 2, df)
        _close(cdf, 2 * stats.t.cdf(q / np.sqrt(2), t_df) - 1, f"k=2 cdf at the {p} quantile", rtol=0,
               atol=1e-13)
        _close(pdf, np.sqrt(2) * stats.t.pdf(q / np.sqrt(2), t_df), f"k=2 pdf at the {p} quantile",
               rtol=1e-10)


@pytest.mark.parametrize("k", [3, 4, 17])
def test_studentized_range_quantiles_agree_with_scipy(k):
    """The vectorised quantiles (Games-Howell intervals) against scipy.stats.studentized_range:
    its cdf (adaptive nquad, epsabs 1e-11) at our quantile gives back p, and its ppf agrees
    within 1e-9 relative where its cdf is accurate (df below its 1e5 switch to infinity)."""
    from scipy.stats import studentized_range

    from research.stats.studentized_range import tukey_quantiles

    df = np.array([1.5, 7.0, 354.6, 895.3, 6473.6, 2e5])
    q = tukey_quantiles(0.95, k, df)
    _close(studentized_range.cdf(q, k, df), 0.95, f"scipy cdf at the k={k} quantiles", rtol=0, atol=1e-10)
    pick = [1, 3]  # scipy's ppf costs about 0.5 s a value
    _close(q[pick], studentized_range.ppf(0.95, k, df[pick]), f"k={k} quantile vs scipy ppf", rtol=1e-9)


def test_many_df_start_from_an_interpolant_and_still_converge():
    """With more distinct df than interpolation nodes (17 groups give 136 pairs) every quantile is
    still solved to the end: equal to the quantile solved for that df alone, and repeated df
    share one value."""
    from research.stats.studentized_range import _START_NODES, tukey_quantiles

    rng = np.random.default_rng(5)
    df = np.concatenate([rng.uniform(300, 7000, 3 * _START_NODES), [1000.0, 1000.0, 2.0, 3e5]])
    q = tukey_quantiles(0.95, 17, df)
    alone = np.array([tukey_quantiles(0.95, 17, df[[i]])[0] for i in range(len(df))])
    _close(q, alone, "quantiles solved together vs one by one", rtol=1e-13)
    assert q[-4] == q[-3]


# ---------------------------------------------------------- invariants -------
@pytest.mark.parametrize("between", ["cause_l1", "cause_l2"])
def test_p_values_and_intervals_are_coherent(results, between):
    """0 <= p <= 1 everywhere; conf_low <= estimate <= conf_high; estimate = mean_a - mean_b."""
    om, pw = results[between]["omnibus"], results[between]["pairwise"]
    for p in (om["p_value"], pw["p_value"], pw["p_holm"]):
        assert p.between(0, 1).all()
    assert (pw["conf_low"] <= pw["estimate"]).all() and (pw["estimate"] <= pw["conf_high"]).all()
    _close(pw["estimate"], pw["mean_a"] - pw["mean_b"], "estimate = mean_a - mean_b", rtol=1e-12)
    _close(pw["statistic"], pw["estimate"] / pw["std_error"], "t = estimate / SE", rtol=1e-12)
    # an interval excludes 0 exactly when the Games-Howell p is below 1 - conf_level
    excludes = (pw["conf_low"] > 0) | (pw["conf_high"] < 0)
    assert (excludes == (pw["p_value"] < 0.05)).all()


def test_missing_dv_dropped_and_counted(sim):
    """n_missing = rows with sat_overall missing; n + n_missing = all rows; reference:
    the simulated frame's own NA count."""
    res = compare_groups(sim, dv="sat_overall", between="cause_l1")
    om = res["omnibus"]
    n_na = int(sim["sat_overall"].isna().sum())
    assert n_na > 0
    assert (om["n_missing"] == n_na).all() and (om["n"] == len(sim) - n_na).all()
    assert res["pairwise"][["n_a", "n_b"]].to_numpy().max() < len(sim) - n_na
    # unchanged when the rows are shuffled and the columns reordered
    shuffled = sim.sample(frac=1, random_state=11)[list(reversed(sim.columns))]
    res2 = compare_groups(shuffled, dv="sat_overall", between="cause_l1")
    for key in ("omnibus", "pairwise"):
        pd.testing.assert_frame_equal(res[key], res2[key], check_exact=False, rtol=1e-10)


def test_association_shuffle_and_missing(sim):
    """Chi-square invariant to row order; rows with satisfied missing are counted."""
    a = association(sim)
    b = association(sim.sample(frac=1, random_state=3))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
    assert a["n_missing"].item() == int(sim["satisfied"].isna().sum()) > 0
    xt = crosstab(sim, "satisfied", "cause_l1")
    assert xt["count"].sum() == a["n"].item()
    _close(xt.groupby("col_level")["col_percent"].sum(), 100.0, "column percentages sum",
           rtol=1e-12)


# ------------------------------------------------------------- errors --------
def test_missing_column_is_named(models_data):
    with pytest.raises(ValueError, match="'cause_l3'"):
        compare_groups(models_data, between="cause_l3")
    with pytest.raises(ValueError, match="'sat_speed'"):
        compare_groups(models_data, dv="sat_speed")
    with pytest.raises(ValueError, match="'nope'"):
        association(models_data, col="nope")
    with pytest.raises(ValueError, match="'nope'"):
        crosstab(models_data, "nope", "cause_l1")


def test_single_group_is_an_error(models_data):
    one = models_data[models_data["cause_l1"] == "service"]
    with pytest.raises(ValueError, match=r"'cause_l1' has 1 group"):
        compare_groups(one, between="cause_l1")
    with pytest.raises(ValueError, match="'cause_l1'"):
        association(one, col="cause_l1")


def test_group_of_one_is_an_error(models_data):
    d = pd.concat([models_data.head(20), pd.DataFrame({"sat_overall": [3], "cause_l1": ["new"]})])
    with pytest.raises(ValueError, match="'new'"):
        compare_groups(d, between="cause_l1")


def test_invalid_options_list_valid_values(models_data):
    with pytest.raises(ValueError, match="'epsilon_squared', 'eta_squared_h'"):
        compare_groups(models_data, kruskal_effect="omega")
    with pytest.raises(ValueError, match="conf_level"):
        compare_groups(models_data, conf_level=95)
    with pytest.raises(ValueError, match="'station' must be numeric"):
        compare_groups(models_data, dv="station")
