"""The threshold bootstrap's refits from per-station pieces (research.models.thresholds.StationRefits)
and the Newton spline logit give what the methods they replaced give."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from research.models import thresholds as T


def _data(n=6000, stations=12, seed=3):
    rng = np.random.default_rng(seed)
    cl = rng.integers(0, stations, n)
    sub = rng.integers(0, 5, n)
    X = np.column_stack([np.ones(n), *(sub == k for k in range(1, 5)), rng.normal(size=n),
                         np.log2(1 + rng.exponential(20, n))]).astype(float)
    # a column that only two stations have (a sub-cause some replicates never draw)
    X = np.column_stack([X, ((cl < 2) & (rng.random(n) < 0.3)).astype(float)])
    eta = X @ np.array([1.0, -0.3, 0.2, 0.4, -0.5, 0.3, -0.4, 0.6]) + 0.3 * rng.normal(size=stations)[cl]
    y = (rng.random(n) < expit(eta)).astype(float)
    return X, y, cl


def test_spline_logit_equals_statsmodels_irls():
    import statsmodels.api as sm

    X, y, _ = _data()
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit(method="IRLS", tol=1e-12, maxiter=100).params
    got, separated = T._logit_fit(X, y)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert not separated


def test_spline_logit_singular_is_not_estimable():
    X, y, _ = _data()
    with pytest.raises(T.NotEstimable, match="singular"):
        T._logit_fit(np.column_stack([X, X[:, 1]]), y)


def test_station_refits_equal_weighted_newton_refits():
    X, y, cl = _data()
    beta, _ = T._logit_fit(X, y)
    rng = np.random.default_rng(7)
    counts = np.stack([np.bincount(rng.integers(0, 12, 12), minlength=12) for _ in range(30)])
    refits = T.StationRefits(X, y, beta, cl, 12)
    got, failed = refits.refit_all(counts)
    assert not failed.any() and refits.newton_refits == 0
    skipped = 0
    for r, c in enumerate(counts):
        w = c[cl].astype(float)
        keep = w > 0
        ref = T.weighted_logit_newton(X[keep], y[keep], w[keep], beta)
        np.testing.assert_allclose(got[r], ref, rtol=0, atol=1e-10)
        if c[:2].sum() == 0:  # no station with the last column: it keeps its full-sample value
            skipped += 1
            assert got[r, -1] == beta[-1]
    assert skipped  # the seed draws such replicates


def test_station_refits_hand_an_unsettled_replicate_to_newton(monkeypatch):
    X, y, cl = _data()
    beta, _ = T._logit_fit(X, y)
    counts = np.bincount([0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9], minlength=12)[None, :]
    from research.models import threshold_bootstrap

    # not enough chord steps: Newton finishes it (patched where StationRefits reads it)
    monkeypatch.setattr(threshold_bootstrap, "CHORD_MAX_ITER", 1)
    refits = T.StationRefits(X, y, beta, cl, 12)
    got, failed = refits.refit_all(counts)
    assert refits.newton_refits == 1 and not failed.any()
    w = counts[0][cl].astype(float)
    keep = w > 0
    np.testing.assert_allclose(got[0], T.weighted_logit_newton(X[keep], y[keep], w[keep], beta), atol=0)


def test_station_refits_leave_separated_replicates_to_newton():
    X, y, cl = _data()
    beta, _ = T._logit_fit(X, y)
    y = y.copy()
    y[(cl <= 1) & (X[:, -1] == 1)] = 1.0  # the last column's rows all satisfied: it separates
    counts = np.zeros((1, 12), dtype=int)
    counts[0, [0, 1, 2, 3]] = 1
    refits = T.StationRefits(X, y, beta, cl, 12)
    got, failed = refits.refit_all(counts)
    assert refits.newton_refits == 1
    w = counts[0][cl].astype(float)
    keep = w > 0
    try:
        ref = T.weighted_logit_newton(X[keep], y[keep], w[keep], beta)
    except T.BootstrapFailure:
        assert failed[0] and np.isnan(got[0]).all()
    else:
        assert not failed[0]
        np.testing.assert_allclose(got[0], ref, rtol=1e-9)  # the same Newton, rows in station order


def test_curve_patterns_give_the_row_average():
    X, y, cl = _data()
    from research.models.design import Design

    design = Design(X=X, names=[f"x{i}" for i in range(X.shape[1])], spec=None, context={},
                    columns_of_term={}, variables_of_term={})
    rows = {"a": np.arange(0, 3000), "b": np.arange(3000, 6000)}
    hours = np.linspace(0, 5, 7)
    shifts = {g: (np.array([6]), hours[:, None]) for g in rows}
    beta = np.linspace(-0.5, 0.5, X.shape[1])
    direct = T.group_curves(design, beta, rows, shifts)
    compressed = T.group_curves(design, beta, rows, shifts, patterns=T.curve_patterns(design, rows, shifts))
    for g in rows:
        np.testing.assert_allclose(compressed[g], direct[g], rtol=1e-14)
