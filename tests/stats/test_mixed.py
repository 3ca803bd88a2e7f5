"""Random-intercept REML fits (research.stats.mixed) against lme4::lmer and known truth.

References:
- ``tests/fixtures/r/reference_estimates.csv`` / ``reference_fit.csv``, rows
  ``model == "mixed"``: ``lme4::lmer(sat_overall ~ cause_l2 + lh + channel + repeat
  + (1 | station), REML = TRUE)`` on ``models_data.csv`` (``tests/fixtures/r/make_reference.R``).
- ``tests/fixtures/r/mixed/``: ``ranef(fit, condVar = TRUE)`` for that fit, and lmer
  fits on a singular and an unbalanced data set (``mixed/make_reference.R``).
- Simulated data with known parameters (parameter recovery, shuffling invariance).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.stats.mixed import MixedFit, fit_random_intercept, information_criteria

R_DIR = Path(__file__).parents[1] / "fixtures" / "r"
MIXED_DIR = R_DIR / "mixed"


def _design(d: pd.DataFrame, terms: list[str]) -> np.ndarray:
    """X with columns in the order of R's term names (treatment coding, R's reference levels)."""
    rep = d["repeat"].astype(str).str.lower()
    assert rep.isin(["true", "false"]).all()
    cols = []
    for t in terms:
        if t == "(Intercept)":
            cols.append(np.ones(len(d)))
        elif t == "lh":
            cols.append(np.log2(1.0 + d["handling_hours"].to_numpy(float)))
        elif t == "repeatTRUE":
            cols.append((rep == "true").to_numpy(float))
        elif t.startswith("cause_l2"):
            level = t.removeprefix("cause_l2")
            assert level != "expansion_delay" and (d["cause_l2"] == level).any()
            cols.append((d["cause_l2"] == level).to_numpy(float))
        elif t.startswith("channel"):
            level = t.removeprefix("channel")
            assert level != "hotline" and (d["channel"] == level).any()
            cols.append((d["channel"] == level).to_numpy(float))
        else:
            raise AssertionError(f"unexpected R term {t!r}")
    return np.column_stack(cols)


@pytest.fixture(scope="module")
def main_fit():
    """The fixture's lmer model refitted in Python; returns (fit, R estimates, R fit row)."""
    est = pd.read_csv(R_DIR / "reference_estimates.csv")
    est = est[est["model"] == "mixed"].reset_index(drop=True)
    ref = pd.read_csv(R_DIR / "reference_fit.csv")
    ref = ref[ref["model"] == "mixed"].iloc[0]
    d = pd.read_csv(R_DIR / "models_data.csv", dtype={"repeat": str, "station": str})
    terms = est["term"].tolist()
    assert len(terms) == 22 and terms[0] == "(Intercept)"
    X = _design(d, terms)
    fit = fit_random_intercept(X, d["sat_overall"].to_numpy(float), d["station"].to_numpy())
    return fit, est, ref


def _fit_file(name: str, xcols: list[str]) -> MixedFit:
    d = pd.read_csv(MIXED_DIR / f"mixed_data_{name}.csv", dtype={"group": str})
    X = np.column_stack([np.ones(len(d))] + [d[c].to_numpy(float) for c in xcols])
    return fit_random_intercept(X, d["y"].to_numpy(float), d["group"].to_numpy())


def _r_rows(file: str, name: str) -> pd.DataFrame:
    t = pd.read_csv(MIXED_DIR / file, dtype={"group": str})
    return t[t["fit"] == name].reset_index(drop=True)


# ---- 1. the committed lmer fit (reference_estimates.csv / reference_fit.csv) ----

def test_fixed_effects_and_se_match_lmer(main_fit):
    """Reference: lme4::lmer REML, reference_estimates.csv rows model == "mixed"."""
    fit, est, _ = main_fit
    np.testing.assert_allclose(fit.beta, est["estimate"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fit.se, est["std_error"], rtol=1e-3)
    np.testing.assert_allclose(fit.beta / fit.se, est["statistic"], rtol=1e-3)
    assert fit.converged and not fit.singular
    assert fit.nobs == 3000 and fit.n_groups == 30


def test_loglik_variances_and_information_criteria_match_lmer(main_fit):
    """Reference: lme4::lmer REML, reference_fit.csv row model == "mixed" (logLik, REMLcrit,
    VarCorr, AIC, BIC)."""
    fit, _, ref = main_fit
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-6)
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], rel=1e-6)
    assert fit.reml_criterion == pytest.approx(-2 * fit.loglik, rel=1e-15)
    assert fit.sigma2_group == pytest.approx(ref["var_station"], rel=1e-4)
    assert fit.sigma2_resid == pytest.approx(ref["var_residual"], rel=1e-4)
    ic = information_criteria(fit)
    assert ic["df"] == ref["df"] == 24
    assert ic["aic"] == pytest.approx(ref["aic"], rel=1e-6)
    assert ic["bic"] == pytest.approx(ref["bic"], rel=1e-6)
    # our optimum is at least as good as lmer's (it solves the score equation exactly)
    assert fit.loglik >= ref["loglik"] - 1e-9


# ---- 2. BLUPs and the singular / unbalanced fits (tests/fixtures/r/mixed/) ----

def test_blups_match_lmer_ranef_condvar(main_fit):
    """Reference: ranef(lmer fit, condVar = TRUE), mixed_ranef.csv rows fit == "main"."""
    fit, _, _ = main_fit
    r = _r_rows("mixed_ranef.csv", "main")
    assert fit.groups.tolist() == r["group"].tolist()
    np.testing.assert_allclose(fit.blup, r["blup"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fit.blup_se, r["blup_sd"], rtol=1e-3)


@pytest.mark.parametrize("name, xcols", [("singular", ["x"]), ("unbalanced", ["x1", "x2", "x3"])])
def test_other_lmer_fits(name, xcols):
    """Reference: lme4::lmer REML on mixed_data_<name>.csv (mixed/make_reference.R):
    mixed_estimates.csv, mixed_fit.csv, mixed_ranef.csv."""
    fit = _fit_file(name, xcols)
    est = _r_rows("mixed_estimates.csv", name)
    ref = _r_rows("mixed_fit.csv", name).iloc[0]
    r = _r_rows("mixed_ranef.csv", name)
    np.testing.assert_allclose(fit.beta, est["estimate"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fit.se, est["std_error"], rtol=1e-3)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-6)
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], rel=1e-6)
    assert fit.sigma2_resid == pytest.approx(ref["var_resid"], rel=1e-4)
    ic = information_criteria(fit)
    assert ic["df"] == ref["df"]
    assert ic["aic"] == pytest.approx(ref["aic"], rel=1e-6)
    assert ic["bic"] == pytest.approx(ref["bic"], rel=1e-6)
    assert fit.nobs == ref["nobs"] and fit.n_groups == ref["n_groups"]
    assert fit.groups.tolist() == r["group"].tolist()
    np.testing.assert_allclose(fit.blup, r["blup"], rtol=0, atol=1e-4)
    assert fit.singular == bool(ref["singular"])
    assert fit.converged
    if name == "singular":
        assert ref["var_group"] == 0 and ref["theta"] == 0
        assert fit.sigma2_group < 1e-8
        np.testing.assert_array_equal(fit.blup_se, 0.0)
        np.testing.assert_array_equal(r["blup_sd"], 0.0)
    else:
        assert fit.sigma2_group == pytest.approx(ref["var_group"], rel=1e-4)
        np.testing.assert_allclose(fit.blup_se, r["blup_sd"], rtol=1e-3)
        # group sizes 1..1200: the smallest group is shrunk the most
        sizes = pd.read_csv(MIXED_DIR / "mixed_data_unbalanced.csv")["group"].value_counts()
        assert fit.blup_se[np.argmin(sizes[fit.groups].to_numpy())] == fit.blup_se.max()


# ---- 3. simulated data with known truth ----

def _simulate(seed: int = 7, n: int = 20_000, G: int = 50):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(50, 700, size=G).astype(float)
    sizes = np.floor(sizes / sizes.sum() * n).astype(int)
    sizes[0] += n - sizes.sum()
    codes = rng.permutation(np.repeat(np.arange(G), sizes))
    labels = np.array([f"grp-{k:02d}" for k in range(G)], dtype=object)
    X = np.column_stack([
        np.ones(n), rng.normal(size=n), rng.random(n) < 0.4,
        rng.normal(size=G)[codes],  # group-level covariate
        rng.exponential(size=n),
    ]).astype(float)
    beta = np.array([1.0, 0.5, -0.3, 0.25, 0.1])
    s2u, s2e = 0.3, 1.5
    y = X @ beta + rng.normal(scale=np.sqrt(s2u), size=G)[codes] + \
        rng.normal(scale=np.sqrt(s2e), size=n)
    return X, y, labels[codes], beta, s2u, s2e


def test_parameter_recovery_simulated():
    """Reference: the simulation's known truth (50 groups, n = 20,000, seed 7)."""
    X, y, g, beta, s2u, s2e = _simulate()
    fit = fit_random_intercept(X, y, g)
    assert fit.converged and not fit.singular and fit.n_groups == 50
    lo, hi = fit.beta - 1.96 * fit.se, fit.beta + 1.96 * fit.se
    assert np.all((lo <= beta) & (beta <= hi)), (fit.beta, fit.se, beta)
    # sd of the residual-variance estimate ~ s2e * sqrt(2 / n) ~ 1 %
    assert fit.sigma2_resid == pytest.approx(s2e, rel=0.04)
    # sd of the group-variance estimate ~ s2u * sqrt(2 / (G - 1)) ~ 20 %
    assert fit.sigma2_group == pytest.approx(s2u, rel=0.5)


def test_invariant_to_row_order_and_label_type():
    """Reference: the same fit on shuffled rows (and integer labels) must be identical."""
    X, y, g, *_ = _simulate(seed=11)
    fit = fit_random_intercept(X, y, g)
    perm = np.random.default_rng(3).permutation(len(y))
    fit2 = fit_random_intercept(X[perm], y[perm], g[perm])
    for a, b in [(fit.beta, fit2.beta), (fit.vcov, fit2.vcov), (fit.blup, fit2.blup),
                 (fit.blup_se, fit2.blup_se)]:
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    assert fit2.sigma2_group == pytest.approx(fit.sigma2_group, rel=1e-8)
    assert fit2.sigma2_resid == pytest.approx(fit.sigma2_resid, rel=1e-8)
    assert fit2.loglik == pytest.approx(fit.loglik, rel=1e-12)
    assert fit2.groups.tolist() == fit.groups.tolist() == sorted(set(g))
    codes = np.searchsorted(fit.groups, g)
    fit3 = fit_random_intercept(X, y, codes)
    np.testing.assert_allclose(fit3.blup, fit.blup, rtol=1e-8, atol=1e-12)


def test_reml_optimum_is_a_maximum():
    """Reference: the REML log-likelihood itself: refits with the variance ratio nudged must
    have a lower criterion (checked through the module's own criterion on unbalanced data)."""
    from research.stats.mixed import _Stats

    d = pd.read_csv(MIXED_DIR / "mixed_data_unbalanced.csv", dtype={"group": str})
    X = np.column_stack([np.ones(len(d)), d[["x1", "x2", "x3"]].to_numpy(float)])
    y = d["y"].to_numpy(float)
    fit = fit_random_intercept(X, y, d["group"].to_numpy())
    codes = np.searchsorted(fit.groups, d["group"].to_numpy())
    st = _Stats(X, y, codes, fit.n_groups)
    g0 = fit.gamma
    c0 = st.evaluate(g0)
    assert c0["crit"] == pytest.approx(fit.reml_criterion, rel=1e-14)
    assert abs(c0["grad"]) < 1e-6
    for f in (0.9, 0.99, 1.01, 1.1):
        assert st.evaluate(g0 * f)["crit"] > c0["crit"]
    # analytic derivative against a central difference
    h = 1e-5 * g0
    num = (st.evaluate(g0 * 1.5 + h)["crit"] - st.evaluate(g0 * 1.5 - h)["crit"]) / (2 * h)
    assert st.evaluate(g0 * 1.5)["grad"] == pytest.approx(num, rel=1e-5)


# ---- input checks ----

def test_bad_inputs_raise():
    """Reference: the documented contract of fit_random_intercept (clear errors)."""
    X, y, g, *_ = _simulate(seed=5, n=2000, G=10)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="X has 1 non-finite"):
        fit_random_intercept(Xn, y, g)
    yn = y.copy()
    yn[7] = np.inf
    with pytest.raises(ValueError, match="y has 1 non-finite"):
        fit_random_intercept(X, yn, g)
    with pytest.raises(ValueError, match="rank deficient"):
        fit_random_intercept(np.column_stack([X, X[:, 1] - 2 * X[:, 2]]), y, g)
    with pytest.raises(ValueError, match="rank deficient"):
        fit_random_intercept(np.column_stack([X, np.zeros(len(y))]), y, g)
    with pytest.raises(ValueError, match="at least 2 groups"):
        fit_random_intercept(X, y, np.full(len(y), "only"))
    gm = g.copy()
    gm[0] = None
    with pytest.raises(ValueError, match="missing label"):
        fit_random_intercept(X, y, gm)
    with pytest.raises(ValueError, match="rows"):
        fit_random_intercept(X, y[:-1], g)
    with pytest.raises(NotImplementedError):
        fit_random_intercept(X, y, g, weights=np.ones(len(y)))
