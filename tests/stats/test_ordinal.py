"""Proportional-odds estimator (research.stats.ordinal) and CR1 sandwich (research.stats.sandwich).

References:
- R ``ordinal::clm`` / ``sandwich::vcovCL`` fits in ``tests/fixtures/r/reference_*.csv``
  (made by ``tests/fixtures/r/make_reference.R``; see ``tests/fixtures/r/README.md``);
- R ``clm`` weighted fit, ``vcovCL(type = "HC1")`` on clm and a Brant test computed in R,
  in ``tests/fixtures/r/ordinal/`` (made by ``tests/fixtures/r/ordinal/make_reference.R``);
- simulation from a known model, and analytic identities (finite differences, invariances).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from research.stats.ordinal import (OrdinalFit, brant_test, category_probabilities,
                                     cumulative_probabilities, fit_ordinal, ordinal_hessian,
                                     ordinal_scores)
from research.stats.sandwich import cluster_robust_vcov

R_DIR = Path(__file__).parents[1] / "fixtures" / "r"
ORD_DIR = R_DIR / "ordinal"
CUTS = ["1|2", "2|3", "3|4", "4|5"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(R_DIR / "models_data.csv", dtype={"repeat": str, "satisfied": str})
    d["repeat"] = d["repeat"].map({"true": True, "false": False})
    assert d["repeat"].notna().all()
    return d


def design(d: pd.DataFrame, model: str) -> pd.DataFrame:
    """Treatment-coded X with R's column names (references as in the R scripts)."""
    cols: dict[str, np.ndarray] = {}
    for lev in sorted(set(d["cause_l2"]) - {"expansion_delay"}):
        cols[f"cause_l2{lev}"] = (d["cause_l2"] == lev).to_numpy(float)
    lh = np.log2(1 + d["handling_hours"].to_numpy(float))
    if model == "ordinal":
        cols["lh"] = lh
    for lev in ("app", "counter", "wechat"):
        cols[f"channel{lev}"] = (d["channel"] == lev).to_numpy(float)
    cols["repeatTRUE"] = d["repeat"].to_numpy(float)
    if model == "speed_by_cause":
        for lev in ("service", "capability", "outage", "voltage"):
            cols[f"cause_l1{lev}:lh"] = np.where(d["cause_l1"] == lev, lh, 0.0)
    return pd.DataFrame(cols)


def r_rows(model: str, r_function: str = "ordinal::clm") -> pd.DataFrame:
    ref = pd.read_csv(R_DIR / "reference_estimates.csv")
    return ref[(ref["model"] == model) & (ref["r_function"] == r_function)].set_index("term")


def y_of(d: pd.DataFrame) -> np.ndarray:
    return d["sat_overall"].to_numpy() - 1


def weights_of(d: pd.DataFrame) -> np.ndarray:
    return 0.5 + np.arange(len(d)) % 3      # R: 0.5 + ((row - 1) %% 3)


# ---------------------------------------------------------------------------
# 1. against ordinal::clm (tests/fixtures/r/reference_*.csv)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["ordinal", "speed_by_cause"])
def test_matches_r_clm(data, model):
    """Reference: R ordinal::clm, tests/fixtures/r/reference_estimates.csv and reference_fit.csv."""
    Xdf = design(data, model)
    fit = fit_ordinal(Xdf.to_numpy(), y_of(data), n_levels=5)
    assert fit.converged and fit.gradient_max < 1e-6
    assert fit.nobs == 3000 and fit.n_levels == 5 and fit.iterations < 15
    ref = r_rows(model)
    names = list(Xdf.columns) + CUTS
    assert sorted(names) == sorted(ref.index)
    est = np.r_[fit.beta, fit.theta]
    se = np.sqrt(np.diag(fit.vcov))
    np.testing.assert_allclose(est, ref.loc[names, "estimate"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(se, ref.loc[names, "std_error"], rtol=1e-3)
    rfit = pd.read_csv(R_DIR / "reference_fit.csv")
    ll = rfit.loc[(rfit["model"] == model) & (rfit["r_function"] == "ordinal::clm"), "loglik"].item()
    assert fit.loglik == pytest.approx(ll, rel=1e-6)


def test_agrees_with_polr_estimates(data):
    """Reference: R MASS::polr (tests/fixtures/r/reference_estimates.csv); its SEs are numerical."""
    Xdf = design(data, "ordinal")
    fit = fit_ordinal(Xdf.to_numpy(), y_of(data))
    ref = r_rows("ordinal", "MASS::polr")
    names = list(Xdf.columns) + CUTS
    np.testing.assert_allclose(np.r_[fit.beta, fit.theta], ref.loc[names, "estimate"], atol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), ref.loc[names, "std_error"], rtol=1e-4)


# ---------------------------------------------------------------------------
# 2. cluster-robust CR1 and weighted fit (tests/fixtures/r/ordinal/)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["ordinal", "ordinal_weighted"])
def test_cluster_vcov_matches_sandwich_vcovCL(data, model):
    """Reference: R sandwich::vcovCL(clm, cluster = ~station, type = "HC1"), ordinal/vcov_cl.csv."""
    Xdf = design(data, "ordinal")
    X, y = Xdf.to_numpy(), y_of(data)
    w = weights_of(data) if model == "ordinal_weighted" else None
    fit = fit_ordinal(X, y, weights=w)
    scores = ordinal_scores(fit, X, y, weights=w)
    V = cluster_robust_vcov(fit.vcov, scores, data["station"].to_numpy())
    names = list(Xdf.columns) + CUTS
    ref = pd.read_csv(ORD_DIR / "vcov_cl.csv")
    ref = ref[ref["model"] == model].pivot(index="row", columns="col", values="value")
    R = ref.loc[names, names].to_numpy()
    np.testing.assert_allclose(V, R, rtol=0, atol=1e-6 * np.abs(R).max())
    np.testing.assert_allclose(np.sqrt(np.diag(V)), np.sqrt(np.diag(R)), rtol=1e-5)


def test_weighted_fit_matches_clm(data):
    """Reference: R clm(..., weights = w), w = 0.5 + ((row - 1) %% 3); ordinal/estimates.csv, fit.csv."""
    Xdf = design(data, "ordinal")
    w = weights_of(data)
    fit = fit_ordinal(Xdf.to_numpy(), y_of(data), weights=w)
    ref = pd.read_csv(ORD_DIR / "estimates.csv")
    ref = ref[ref["model"] == "ordinal_weighted"].set_index("term")
    names = list(Xdf.columns) + CUTS
    np.testing.assert_allclose(np.r_[fit.beta, fit.theta], ref.loc[names, "estimate"], atol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), ref.loc[names, "std_error"], rtol=1e-3)
    rfit = pd.read_csv(ORD_DIR / "fit.csv").set_index("model")
    assert fit.loglik == pytest.approx(rfit.loc["ordinal_weighted", "loglik"], rel=1e-6)
    # nobs counts rows; R's nobs() for a weighted clm is the sum of the weights (4500)
    assert fit.nobs == rfit.loc["ordinal_weighted", "rows"] == 3000
    assert rfit.loc["ordinal_weighted", "nobs_r"] == pytest.approx(w.sum())
    # the weighted fit differs from the unweighted one (the weights matter)
    unw = fit_ordinal(Xdf.to_numpy(), y_of(data))
    assert np.abs(unw.beta - fit.beta).max() > 1e-3


def test_cluster_vcov_matches_r_for_ols(data):
    """Reference: R lm + sandwich::vcovCL(type = "HC1") (model "ols" in reference_estimates.csv);
    bread = (X'X)^-1, scores = x_i e_i, as in the fixture README."""
    Xdf = design(data, "ordinal")
    X = np.column_stack([np.ones(len(data)), Xdf.to_numpy()])
    yv = data["sat_overall"].to_numpy(float)
    bread = np.linalg.inv(X.T @ X)
    e = yv - X @ (bread @ (X.T @ yv))
    V = cluster_robust_vcov(bread, X * e[:, None], data["station"].to_numpy())
    ref = r_rows("ols", "lm+vcovCL(HC1,cluster=station)+coeftest")
    names = ["(Intercept)"] + list(Xdf.columns)
    np.testing.assert_allclose(np.sqrt(np.diag(V)), ref.loc[names, "std_error"], rtol=1e-8)


def test_cluster_vcov_input_checks():
    """Reference: the CR1 definition (G >= 2 clusters, one label per score row)."""
    with pytest.raises(ValueError, match="at least 2 clusters"):
        cluster_robust_vcov(np.eye(2), np.ones((5, 2)), np.zeros(5))
    with pytest.raises(ValueError, match="length 5"):
        cluster_robust_vcov(np.eye(2), np.ones((5, 2)), np.zeros(4))


# ---------------------------------------------------------------------------
# 3. Brant test (tests/fixtures/r/ordinal/brant.csv)
# ---------------------------------------------------------------------------

def test_brant_matches_r(data):
    """Reference: Brant (1990) test computed in R by hand (ordinal/brant.csv, make_reference.R)."""
    Xdf = design(data, "ordinal")
    X, y = Xdf.to_numpy(), y_of(data)
    fit = fit_ordinal(X, y)
    out = brant_test(X, y, fit, names=list(Xdf.columns))
    assert list(out.columns) == ["term", "statistic", "df", "p_value", "method"]
    assert out["term"].iloc[0] == "omnibus"
    ref = pd.read_csv(ORD_DIR / "brant.csv").set_index("term")
    got = out.set_index("term")
    assert sorted(got.index) == sorted(ref.index)
    np.testing.assert_allclose(got.loc[ref.index, "statistic"], ref["statistic"], rtol=1e-4)
    np.testing.assert_array_equal(got.loc[ref.index, "df"], ref["df"])
    np.testing.assert_allclose(got.loc[ref.index, "p_value"], ref["p_value"], rtol=1e-3)
    assert got.loc["omnibus", "df"] == 21 * 3


def test_brant_detects_non_proportional_odds():
    """Reference: simulation where the slope differs across cutpoints (the test must reject)."""
    rng = np.random.default_rng(7)
    n = 20_000
    x = rng.normal(size=(n, 2))
    cuts = np.array([-1.0, 0.0, 1.0])
    slopes = np.array([[0.2, 0.5], [0.8, 0.5], [1.4, 0.5]])   # x0 violates PO, x1 does not
    p_le = expit(cuts[None, :] - x @ slopes.T)                  # (n, 3), increasing in j here
    u = rng.random(n)
    y = (u[:, None] > p_le).sum(axis=1)
    fit = fit_ordinal(x, y)
    out = brant_test(x, y, fit, names=["x0", "x1"]).set_index("term")
    assert out.loc["x0", "p_value"] < 1e-6
    assert out.loc["x1", "p_value"] > 1e-3
    assert out.loc["omnibus", "p_value"] < 1e-6


# ---------------------------------------------------------------------------
# 4. simulation, identities, invariances, errors
# ---------------------------------------------------------------------------

def simulate(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.random(n) < 0.3, rng.exponential(size=n),
                         rng.integers(0, 3, n) == 1])
    X = X.astype(float)
    beta = np.array([0.8, -0.5, 0.3, 0.25])
    theta = np.array([-1.5, -0.2, 0.9, 2.4])
    y = np.searchsorted(theta, X @ beta + rng.logistic(size=n))
    return X, y, beta, theta


def test_parameter_recovery():
    """Reference: known truth of a simulated proportional-odds model (n = 20,000, seed 2026)."""
    X, y, beta, theta = simulate(20_000, 2026)
    fit = fit_ordinal(X, y, n_levels=5)
    est = np.r_[fit.beta, fit.theta]
    se = np.sqrt(np.diag(fit.vcov))
    truth = np.r_[beta, theta]
    assert np.all(np.abs(est - truth) < 1.96 * se), (est - truth) / se
    assert np.all(np.diff(fit.theta) > 0)
    assert fit.converged and fit.iterations <= 10


def test_scores_and_hessian_are_derivatives():
    """Reference: central finite differences of the log-likelihood / of the summed scores."""
    X, y, _, _ = simulate(2_000, 5)
    w = 0.5 + np.random.default_rng(1).random(len(y))
    fit = fit_ordinal(X, y, weights=w)
    S = ordinal_scores(fit, X, y, weights=w)
    assert np.abs(S.sum(axis=0)).max() < 1e-8            # score equations at the MLE
    H = ordinal_hessian(fit, X, y, weights=w)
    np.testing.assert_allclose(np.linalg.inv(-H), fit.vcov, rtol=1e-8, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(H) < 0)
    p = X.shape[1]

    def loglik(par):
        probs = category_probabilities(par[:p], par[p:], X)
        return float(w @ np.log(probs[np.arange(len(y)), y]))

    def total_score(par):
        f = OrdinalFit(par[:p], par[p:], fit.vcov, 0.0, len(y), 5, 0, True, 0.0)
        return ordinal_scores(f, X, y, weights=w).sum(axis=0)

    par0 = np.r_[fit.beta, fit.theta] + 0.05   # away from the optimum: non-zero gradient
    h = 1e-5
    eye = np.eye(par0.size)
    num_g = np.array([(loglik(par0 + h * e) - loglik(par0 - h * e)) / (2 * h) for e in eye])
    np.testing.assert_allclose(total_score(par0), num_g, rtol=1e-5, atol=1e-5)
    num_H = np.column_stack([(total_score(par0 + h * e) - total_score(par0 - h * e)) / (2 * h)
                             for e in eye])
    f0 = OrdinalFit(par0[:p], par0[p:], fit.vcov, 0.0, len(y), 5, 0, True, 0.0)
    np.testing.assert_allclose(ordinal_hessian(f0, X, y, weights=w), num_H, rtol=1e-5, atol=1e-4)


def test_probabilities_are_valid():
    """Reference: probability axioms and P(Y <= j) = expit(theta_j - x'beta) (the model)."""
    rng = np.random.default_rng(3)
    X = rng.normal(scale=6.0, size=(500, 3))       # extreme linear predictors included
    beta = np.array([1.0, -2.0, 0.5])
    theta = np.array([-30.0, -1.0, 0.0, 1e-9, 25.0])
    P = category_probabilities(beta, theta, X)
    assert P.shape == (500, 6)
    assert np.all((P >= 0) & (P <= 1))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    cum = cumulative_probabilities(beta, theta, X)
    np.testing.assert_allclose(np.cumsum(P, axis=1)[:, :-1], cum, atol=1e-12)
    np.testing.assert_allclose(cum, expit(theta[None, :] - (X @ beta)[:, None]), atol=0)


def test_shuffle_invariance():
    """Reference: the likelihood is a sum over rows, so row order cannot matter (to 1e-8)."""
    X, y, _, _ = simulate(5_000, 11)
    w = 0.5 + (np.arange(len(y)) % 3)
    a = fit_ordinal(X, y, weights=w)
    perm = np.random.default_rng(4).permutation(len(y))
    b = fit_ordinal(X[perm], y[perm], weights=w[perm])
    np.testing.assert_allclose(b.beta, a.beta, rtol=0, atol=1e-8)
    np.testing.assert_allclose(b.theta, a.theta, rtol=0, atol=1e-8)
    np.testing.assert_allclose(b.vcov, a.vcov, rtol=1e-8, atol=1e-12)
    assert b.loglik == pytest.approx(a.loglik, rel=1e-12)


def test_integer_weights_equal_replicated_rows():
    """Reference: case weights k are the same likelihood as k copies of the row."""
    X, y, _, _ = simulate(1_500, 12)
    k = 1 + np.arange(len(y)) % 3
    a = fit_ordinal(X, y, weights=k.astype(float))
    b = fit_ordinal(np.repeat(X, k, axis=0), np.repeat(y, k))
    np.testing.assert_allclose(a.beta, b.beta, atol=1e-9)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=1e-8)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)
    assert a.nobs == 1_500 and b.nobs == int(k.sum())


def test_two_levels_equal_logit():
    """Reference: with K = 2 the model is a logit with intercept theta_0 and slopes -beta."""
    X, y, _, _ = simulate(3_000, 13)
    yb = (y >= 2).astype(int)
    fit = fit_ordinal(X, yb)
    import statsmodels.api as sm
    res = sm.Logit(1 - yb, sm.add_constant(X)).fit(disp=0, tol=1e-12)
    # logit P(Y = 0) = theta - x'beta
    np.testing.assert_allclose(np.r_[-fit.beta, fit.theta], np.r_[res.params[1:], res.params[0]],
                               atol=1e-7)


def test_error_empty_level():
    """Reference: an empty outcome level leaves neighbouring cutpoints unidentified (clm errors)."""
    X, y, _, _ = simulate(1_000, 14)
    with pytest.raises(ValueError, match=r"level\(s\) \[2\] \(codes 0..4\) have no observations"):
        fit_ordinal(X, np.where(y == 2, 3, y))
    with pytest.raises(ValueError, match=r"level\(s\) \[5\] \(codes 0..5\)"):
        fit_ordinal(X, y, n_levels=6)
    w = np.where(y == 1, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"level\(s\) \[1\].*positive weight"):
        fit_ordinal(X, y, weights=w)


def test_error_rank_deficient():
    """Reference: linear algebra -- a column that is a combination of others is not identified."""
    X, y, _, _ = simulate(1_000, 15)
    bad = np.column_stack([X, X[:, 0] - 2 * X[:, 2]])
    with pytest.raises(ValueError, match=r"rank deficient: columns \[0, 2, 4\]"):
        fit_ordinal(bad, y)
    const = np.column_stack([X, np.full(len(y), 3.0)])
    with pytest.raises(ValueError, match=r"columns \[4\].*constant"):
        fit_ordinal(const, y)


def test_error_bad_inputs():
    """Reference: the documented input contract (finite X, codes 0..K-1, valid weights)."""
    X, y, _, _ = simulate(500, 16)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        fit_ordinal(Xn, y)
    with pytest.raises(ValueError, match="codes 0..3"):
        fit_ordinal(X, y, n_levels=4)
    with pytest.raises(ValueError, match="codes"):
        fit_ordinal(X, np.where(y == 0, -1, y))
    with pytest.raises(ValueError, match="non-negative"):
        fit_ordinal(X, y, weights=-np.ones(len(y)))
