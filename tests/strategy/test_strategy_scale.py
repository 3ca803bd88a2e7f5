"""The large-data paths of the strategy stage (levers, mediation, driver nulls) against the exact ones.

- the lever bootstrap's evaluator (research.strategy.scenarios._BootEvaluator) gives the very numbers of
  ``_effects`` (same products, same order) for any parameters and weights;
- the mediation logits' subsample start and chord steps (research.strategy.causal, above CHORD_ROWS) end
  at Newton's root from zero, and reusing the lever fit's frame and design gives the same table;
- the large-data permutation null (research.strategy.drivers_null, above EXACT_PERMUTATION_ROWS): the
  permutation mean and covariance of the block cross-products it draws from equal those of all
  n! permutations (enumerated), and its null shares agree with row permutations within Monte
  Carlo error.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest

from research.strategy import causal, causal_mediation, drivers_null
from research.strategy import drivers as drv
from research.models.fit import fit_model
from research.config.plan import load_plan
from research.simulate import simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(4000, 41)


@pytest.fixture(scope="module")
def lever_fit(sim, plan, instrument):
    return fit_model(plan.model(plan.scenarios.model), sim.responses, plan=plan, instrument=instrument)


@pytest.mark.parametrize("subsample", [False, True])
def test_boot_evaluator_gives_the_numbers_of_effects(sim, lever_fit, subsample):
    from research.strategy.scenarios import _BootEvaluator, _effects, lever_changes

    fm, levers = lever_fit, lever_fit_levers()
    changes = {lv.name: lever_changes(fm, sim.responses, lv) for lv in levers}
    rng = np.random.default_rng(1)
    n = len(fm.frame)
    rows = np.sort(rng.choice(n, n // 3, replace=False)) if subsample else None
    ev = _BootEvaluator(fm, levers, changes, rows)
    for _ in range(3):
        beta = fm.params + rng.normal(0, 0.05, len(fm.params))
        w = rng.integers(0, 3, n).astype(float) * rng.uniform(0.5, 2, n)
        rep = dataclasses.replace(fm, params=beta, extra={**fm.extra, "weights": w})
        want = [e for e, _ in _effects(rep, levers, changes, 4, rows=rows)[1]]
        assert ev.effects(beta[: fm.n_beta], ev.take(w)) == want   # the same floats, not merely close


def lever_fit_levers():
    return tuple(load_plan().scenarios.levers)


def _mediation(sim, plan, instrument, **kw):
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(sim.responses))
    return causal.lever_mediation(sim.responses, lever_fit_levers(), plan=plan, instrument=instrument,
                                  threshold=4, weights=w, **kw)


@pytest.mark.parametrize("extra", [False, True])
def test_chord_logit_ends_at_the_newton_root(monkeypatch, extra):
    rng = np.random.default_rng(7)
    n = 6000
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n), rng.exponential(1, n)])
    m = (rng.random(n) < 0.4).astype(float)
    eta = -0.5 + X[:, 1] - 0.7 * X[:, 2] + 0.3 * X[:, 3] + (1.2 * m if extra else 0)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    w = rng.uniform(0.5, 2, n)
    Z = causal._Design(X, extra=m if extra else None)
    newton = causal._logit_fit(Z, y, w)
    calls = []
    monkeypatch.setattr(causal_mediation, "CHORD_ROWS", 0)
    monkeypatch.setattr(causal_mediation, "START_ROWS", 1500)
    info = causal._Design.information
    monkeypatch.setattr(causal._Design, "information", lambda self, v: calls.append(len(v)) or info(self, v))
    chord = causal._logit_fit(Z, y, w)
    np.testing.assert_allclose(chord, newton, rtol=1e-12, atol=1e-13)
    assert calls.count(n) <= 3   # the full rows' information: at the start, then Newton's last steps
    assert calls.count(1500) >= 3   # the subsample's Newton from zero


def test_mediation_chord_path_gives_the_same_table(sim, plan, instrument, monkeypatch):
    newton = _mediation(sim, plan, instrument)
    monkeypatch.setattr(causal_mediation, "CHORD_ROWS", 0)
    monkeypatch.setattr(causal_mediation, "START_ROWS", 3000)   # a start, or Newton from zero if it separates
    chord = _mediation(sim, plan, instrument)
    assert len(newton) > 0
    pd.testing.assert_frame_equal(newton, chord, check_exact=False, rtol=1e-9, atol=1e-13)


def test_mediation_reuses_the_lever_fit(sim, plan, instrument):
    from research.models.weighted import fit_model_weighted_or_not

    w = np.random.default_rng(2).uniform(0.5, 2.0, len(sim.responses))
    spec = plan.model(plan.scenarios.model)
    fm = fit_model_weighted_or_not(spec, sim.responses, w, cluster="station", plan=plan, instrument=instrument)
    alone = _mediation(sim, plan, instrument)
    reused = _mediation(sim, plan, instrument, fitted=fm)
    pd.testing.assert_frame_equal(alone, reused, check_exact=False, rtol=1e-12, atol=1e-15)
    # a fitted row without a resolution answer: the complete cases differ, nothing is reused
    gap = sim.responses.copy()
    gap.loc[gap.index[fm.rows[5]], "resolved"] = pd.NA
    got = causal.lever_mediation(gap, lever_fit_levers(), plan=plan, instrument=instrument, threshold=4,
                                 weights=w, fitted=fm)
    want = causal.lever_mediation(gap, lever_fit_levers(), plan=plan, instrument=instrument, threshold=4,
                                  weights=w)
    assert got["n"].iloc[0] == len(fm.rows) - 1
    pd.testing.assert_frame_equal(got, want)


# ---------------------------------------------------------------- driver nulls ----
def _driver_data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cause = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    hours = rng.exponential(10, n)
    channel = rng.choice(["phone", "web"], n)
    repeat = rng.random(n) < 0.2
    sla = rng.random(n) < 0.7
    score = (3 + 0.4 * (cause == "b") - 0.3 * np.log2(1 + hours) / 3 - 0.5 * repeat + rng.normal(0, 1, n))
    return pd.DataFrame({
        "cause_l2": pd.array(cause, dtype="string"), "handling_hours": hours,
        "sla_met": pd.array(sla, dtype="boolean"), "channel": pd.array(channel, dtype="string"),
        "repeat": pd.array(repeat, dtype="boolean"),
        "sat_overall": pd.array(np.clip(np.round(score), 1, 5).astype(int), dtype="Int64"),
        "station": pd.array(rng.choice(["s1", "s2", "s3"], n), dtype="string"),
        "w": rng.uniform(0.5, 2.0, n),
    })


@pytest.mark.parametrize("weights", ["w", None])
def test_null_moments_are_those_of_every_permutation(weights):
    n = 8
    d = _driver_data(n, 3)
    d.loc[:2, "cause_l2"] = ["a", "b", "c"]   # three levels: a two-dummy block
    prep = drv._prepare(d, outcome="sat_overall", drivers=drv.OPERATIONAL_DRIVERS, weights=weights,
                        cluster="station", performance=False)
    ctx = drivers_null._OlsNullContext(prep)
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.int32)   # all 40,320
    for j in (0, 1):   # the sub-cause dummies and the handling time
        _, cross, own, cols, rest, _ = drivers_null._exact_block_products(prep, j, perms)
        mean, A, B = ctx.moments(j)
        p, r = len(cols), len(rest)
        flat = cross.reshape(len(perms), -1)          # (perm, p * r), row-major over (k, l)
        np.testing.assert_allclose(flat.mean(0), mean[:p, :r].ravel(), rtol=1e-9, atol=1e-12)
        cov = np.cov(flat, rowvar=False, bias=True)
        want = np.einsum("ik,jl->ijkl", A[:p, :p], B[:r, :r]).reshape(p * r, p * r)
        np.testing.assert_allclose(cov, want, rtol=1e-8, atol=1e-12)
        if j == 0:   # the dummies' per-level weight sums, which make their own block when weighted
            codes = prep.level_codes[0][perms]                        # (perm, n)
            lw = np.stack([(prep.w * (codes == k)).sum(1) for k in range(p)], axis=1)
            np.testing.assert_allclose(lw.mean(0), mean[:p, r], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(np.cov(lw, rowvar=False, bias=True), A[:p, :p] * B[r, r],
                                       rtol=1e-8, atol=1e-12)
        draws_cross, draws_own = ctx.draw(j, 4, seed=1)
        assert draws_cross.shape == (4, p, r) and draws_own.shape == (4, p, p)


@pytest.mark.parametrize("weights", ["w", None])
def test_large_data_null_agrees_with_row_permutations(weights, monkeypatch):
    d = _driver_data(3000, 5)
    prep = drv._prepare(d, outcome="sat_overall", drivers=drv.OPERATIONAL_DRIVERS, weights=weights,
                        cluster="station", performance=False)
    reps = 600
    exact = drivers_null.permutation_null(prep, reps=reps, seed=11)["importance"]
    monkeypatch.setattr(drivers_null, "EXACT_PERMUTATION_ROWS", 0)
    approx = drivers_null.permutation_null(prep, reps=reps, seed=11)["importance"]
    assert np.isfinite(approx).all() and (approx >= -1e-12).all()
    for j in range(len(prep.drivers)):
        a, b = exact[:, j], approx[:, j]
        se = np.sqrt(a.var() / reps + b.var() / reps)
        assert abs(a.mean() - b.mean()) < 4 * se, prep.drivers[j]
        # the upper tail that decides the p-values: 95th percentiles within 25%
        assert np.quantile(b, 0.95) == pytest.approx(np.quantile(a, 0.95), rel=0.25), prep.drivers[j]


def test_large_data_null_in_key_drivers(monkeypatch):
    monkeypatch.setattr(drivers_null, "EXACT_PERMUTATION_ROWS", 0)
    d = _driver_data(2000, 6)
    res = drv.key_drivers(d, sets={"operational": drv.OPERATIONAL_DRIVERS}, weights="w", bootstrap_reps=5,
                          permutation_reps=200)
    imp = res["importance"]
    assert (imp["null_reps"] == 200).all()
    assert imp["p_value"].between(1 / 201, 1).all()
    # a planted driver clears its null, a pure-noise one (the channel) does not
    assert bool(imp.set_index("driver").loc["repeat", "detectable"])
    assert not bool(imp.set_index("driver").loc["channel", "detectable"])
