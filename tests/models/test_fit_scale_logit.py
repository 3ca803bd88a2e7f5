"""The logit models' own Newton fit (research.models.fit._logit_newton) gives what statsmodels'
Logit gave: estimates, model-based and CR1 covariances, log-likelihoods, iteration counts."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit

from research.models.fit import _logit_newton
from research.stats.sandwich import cluster_robust_vcov


def _data(n=5000, seed=2):
    rng = np.random.default_rng(seed)
    cl = rng.integers(0, 15, n)
    sub = rng.integers(0, 6, n)
    X = np.column_stack([np.ones(n), *(sub == k for k in range(1, 6)), np.log2(1 + rng.exponential(30, n)),
                         rng.random(n) < 0.2]).astype(float)
    eta = X @ np.array([2.0, -0.4, 0.3, -0.8, 0.1, 0.5, -0.35, -0.6]) + 0.2 * rng.normal(size=15)[cl]
    return X, (rng.random(n) < expit(eta)).astype(float), cl


@pytest.mark.parametrize("seed", [2, 5])
def test_logit_newton_is_statsmodels_newton(seed):
    X, y, cl = _data(seed=seed)
    ref = sm.Logit(y, X).fit(method="newton", disp=0, maxiter=100, tol=1e-12)
    got = _logit_newton(X, y)
    np.testing.assert_allclose(got["params"], ref.params, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(got["bread"], ref.cov_params(), rtol=1e-10)
    assert got["llf"] == pytest.approx(ref.llf, rel=1e-13)
    assert got["llnull"] == pytest.approx(ref.llnull, rel=1e-9)  # statsmodels optimises it numerically
    assert got["iterations"] == ref.mle_retvals["iterations"]
    assert got["converged"] and not got["separated"]
    clustered = sm.Logit(y, X).fit(method="newton", disp=0, maxiter=100, tol=1e-12, cov_type="cluster",
                                   cov_kwds={"groups": cl, "use_correction": True, "df_correction": True})
    vcov = cluster_robust_vcov(got["bread"], X, cl, row_weights=got["residuals"])
    np.testing.assert_allclose(vcov, clustered.cov_params(), rtol=1e-9)


def test_row_weights_equal_explicit_score_rows():
    X, y, cl = _data()
    r = np.random.default_rng(1).normal(size=len(y))
    bread = np.linalg.inv(X.T @ X)
    np.testing.assert_array_equal(cluster_robust_vcov(bread, X, cl, row_weights=r),
                                  cluster_robust_vcov(bread, X * r[:, None], cl))


def test_logit_newton_flags_perfect_prediction_and_nonconvergence():
    X, y, _ = _data(n=400)
    y = (X[:, 6] > np.median(X[:, 6])).astype(float)  # the handling time separates completely
    got = _logit_newton(X, y, maxiter=25)
    assert got["separated"] or not got["converged"]
