"""The package's one logit (research.stats.logit.fit_logit) against R, and its options.

R numbers: tests/fixtures/r/reference_estimates.csv (``glm(satisfied ~ cause_l2 + lh + channel +
repeat, binomial)`` on models_data.csv, model ``logit_iid``: estimates and model-based standard
errors) and tests/fixtures/r/design_based/svyglm.csv (``svyglm(satisfied ~ cause + x,
quasibinomial())`` with weights ``w``: its estimates are the weighted maximum-likelihood logit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from research.stats.logit import DenseDesign, fit_logit, subsample_start, weighted_cross

R_DIR = Path(__file__).parents[1] / "fixtures" / "r"


def _r_logit_design() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The design of make_reference.R's f_logit, columns in R's order and with R's names."""
    d = pd.read_csv(R_DIR / "models_data.csv")
    cols, names = [np.ones(len(d))], ["(Intercept)"]
    for lv in sorted(set(d["cause_l2"]) - {"expansion_delay"}):
        cols.append((d["cause_l2"] == lv).to_numpy(float))
        names.append(f"cause_l2{lv}")
    cols.append(np.log2(1 + d["handling_hours"].to_numpy(float)))
    names.append("lh")
    for lv in sorted(set(d["channel"]) - {"hotline"}):
        cols.append((d["channel"] == lv).to_numpy(float))
        names.append(f"channel{lv}")
    cols.append(d["repeat"].astype(str).str.lower().eq("true").to_numpy(float))
    names.append("repeatTRUE")
    y = d["satisfied"].astype(str).str.lower().eq("true").to_numpy(float)
    return np.column_stack(cols), y, names


@pytest.mark.parametrize("solver", ["cholesky", "lu", "lstsq"])
@pytest.mark.parametrize("start", [None, "glm"])
def test_matches_r_glm_binomial(solver, start):
    X, y, names = _r_logit_design()
    ref = pd.read_csv(R_DIR / "reference_estimates.csv")
    ref = ref[ref["model"] == "logit_iid"].set_index("term").loc[names]
    fit = fit_logit(X, y, start=start, solver=solver)
    assert fit.converged and not fit.separated and 3 <= fit.iterations <= 10
    np.testing.assert_allclose(fit.params, ref["estimate"], rtol=0, atol=1e-9)
    se = np.sqrt(np.diag(np.linalg.inv(fit.information)))
    np.testing.assert_allclose(se, ref["std_error"], rtol=1e-8)
    np.testing.assert_allclose(fit.mu, expit(X @ fit.params))


def _svy_data():
    d = pd.read_csv(R_DIR / "design_based" / "design_data.csv")
    d = d[d["sat_overall"].notna()].reset_index(drop=True)
    causes = ["service", "outage", "capability", "voltage"]
    X = np.column_stack([np.ones(len(d))] + [(d["cause"] == c).to_numpy(float) for c in causes[1:]]
                        + [d["x"].to_numpy(float)])
    y = d["satisfied"].astype(str).str.lower().eq("true").to_numpy(float)
    return X, y, d["w"].to_numpy(float)


def test_weighted_matches_r_svyglm_estimates_and_weight_scale_does_not_matter():
    X, y, w = _svy_data()
    ref = pd.read_csv(R_DIR / "design_based" / "svyglm.csv")["estimate"].to_numpy()
    a = fit_logit(X, y, w, relative=True)
    b = fit_logit(X, y, 7.0 * w, relative=True)
    np.testing.assert_allclose(a.params, ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(b.params, a.params, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.information, 7.0 * a.information, rtol=1e-12)
    # unweighted differs from weighted (the weights matter)
    assert np.max(np.abs(fit_logit(X, y).params - a.params)) > 1e-3


def test_mask_equals_fitting_the_rows_and_ignores_missing_answers():
    X, y, w = _svy_data()
    keep = np.arange(len(y)) % 3 != 0
    y_missing = np.where(keep, y, np.nan)
    a = fit_logit(X, y_missing, w, mask=keep)
    b = fit_logit(X[keep], y[keep], w[keep])
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.information, b.information, rtol=1e-12)


def test_chord_steps_and_warm_start_reach_the_same_root():
    X, y, w = _svy_data()
    newton = fit_logit(X, y, w)
    chord = fit_logit(X, y, w, chord=True)
    warm = fit_logit(X, y, w, start=newton.params + 0.01)
    for other in (chord, warm):
        assert other.converged
        np.testing.assert_allclose(other.params, newton.params, rtol=0, atol=1e-10)
    assert warm.iterations < newton.iterations


def test_cap_separation_and_singular_information():
    X, y, _ = _svy_data()
    capped = fit_logit(X, y, max_iter=1)
    assert not capped.converged and capped.iterations == 1
    # x separates the answers: the coefficients drift, every fitted probability goes to its answer
    sep = fit_logit(X, (X[:, -1] > 0).astype(float), max_iter=40, solver="lstsq", information=False)
    assert not sep.converged and sep.separated and sep.information is None
    with pytest.raises(np.linalg.LinAlgError):
        fit_logit(np.column_stack([X, X[:, 1]]), y, solver="lu")
    with pytest.raises(ValueError, match="solver"):
        fit_logit(X, y, solver="qr")


def test_lstsq_keeps_a_column_without_information_at_its_start():
    X, y, w = _svy_data()
    w = np.where(X[:, 1] == 1, 0.0, w)  # no weight on the rows of the second column's level
    start = fit_logit(X, y).params
    fit = fit_logit(X, y, w, start=start, solver="lstsq", tol=1e-9)
    assert fit.converged and fit.params[1] == start[1]


def test_weighted_cross_blocks_mask_and_both_products(monkeypatch):
    import research.stats.logit as lg

    rng = np.random.default_rng(3)
    for p in (3, 12):  # the plain product and the symmetric rank-k product
        X, v = rng.normal(size=(1000, p)), rng.random(1000)
        mask = rng.random(1000) < 0.6
        ref = (X[mask] * v[mask, None]).T @ X[mask]
        monkeypatch.setattr(lg, "ROW_BLOCK", 64)
        got = weighted_cross(X, v, mask)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
        assert (got == got.T).all()
        np.testing.assert_allclose(DenseDesign(X).information(v), (X * v[:, None]).T @ X, rtol=1e-12)


def test_subsample_start_only_for_large_fits(monkeypatch):
    import research.stats.logit as lg

    X, y, w = _svy_data()
    assert subsample_start(X, y, w) is None
    monkeypatch.setattr(lg, "SUBSAMPLE_ROWS", 1000)  # 2,910 rows: a fit on 364
    start = subsample_start(X, y, w)
    full = fit_logit(X, y, w).params
    assert start is not None and np.max(np.abs(start - full)) < 1.0
