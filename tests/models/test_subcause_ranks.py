"""Sub-cause ranks with intervals (research.models.ranks; issue 11, point 5).

References: a brute-force computation (each draw's ranks by sorting it in plain Python,
each quantile by counting), the predictions module (same estimates and delta-method SEs,
themselves checked against R in test_predictions.py), and planted truths: a sub-cause
planted far below the others is ranked 1 with the interval 1-1, two sub-causes planted
identical get overlapping intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from research.config.instrument import load_instrument
from research.models.fit import fit_model
from research.models.predict import predictions
from research.models.ranks import DRAWS, SEED, rank_intervals, simulate_rates, subcause_ranks
from research.config.plan import load_plan

DATA = "tests/fixtures/r/models_data.csv"


def _data(planted: dict[str, float] | None = None, seed: int = 7) -> pd.DataFrame:
    df = pd.read_csv(DATA)
    df["repeat"] = df["repeat"].astype(bool)
    df["satisfied"] = df["satisfied"].astype(bool)
    if planted is not None:  # satisfied ~ Bernoulli(planted rate of the sub-cause), nothing else matters
        rng = np.random.default_rng(seed)
        p = df["cause_l2"].map(planted).fillna(0.8).to_numpy()
        df["satisfied"] = rng.random(len(df)) < p
    return df


def _fit(df):
    plan, ins = load_plan(), load_instrument()
    return fit_model(plan.model("logit"), df, plan=plan, instrument=ins), ins


@pytest.fixture(scope="module")
def fixture_fit():
    return _fit(_data())


def _brute_force(sims: np.ndarray, conf_level: float = 0.95):
    """Ranks by sorting each draw (1 = lowest; ties share the lowest rank), quantiles by counting:
    the smallest rank r with at least q of the draws at or below r (type-1 / inverted cdf)."""
    n, k = sims.shape
    ranks = np.empty((n, k), dtype=int)
    for i in range(n):
        row = list(sims[i])
        ordered = sorted(row)
        for j in range(k):
            ranks[i, j] = ordered.index(row[j]) + 1
    def quantile(col, q):
        for r in range(1, k + 1):
            if (col <= r).sum() >= q * n - 1e-9 and (col <= r).sum() > 0:
                return r
        return k
    lo_q, hi_q = (1 - conf_level) / 2, (1 + conf_level) / 2
    return ([quantile(ranks[:, j], lo_q) for j in range(k)], [quantile(ranks[:, j], hi_q) for j in range(k)])


def test_ranks_match_brute_force_on_the_fitted_logit(fixture_fit):
    fm, ins = fixture_fit
    got = subcause_ranks(fm, parent=ins.parent, threshold=ins.satisfied_threshold)
    assert list(got.columns) == ["model", "cause_l2", "estimate", "std_error", "rank", "rank_low", "rank_high",
                                 "draws", "seed", "method"]
    assert len(got) == 17 and (got["draws"] == DRAWS).all() and (got["seed"] == SEED).all()
    # estimates and SEs are the predictions module's aap_subcause (checked against R there)
    pr = predictions(fm, parent=ins.parent, grid_hours=np.array([1.0]), threshold=ins.satisfied_threshold)
    aap = pr[(pr["quantity"] == "aap_subcause") & (pr["scale"] == "p_satisfied")].set_index("cause_l2")
    g = got.set_index("cause_l2")
    np.testing.assert_allclose(g["estimate"], aap.loc[g.index, "estimate"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(g["std_error"], aap.loc[g.index, "std_error"], rtol=1e-10)
    # the point rank orders the estimates
    assert list(got["rank"]) == list(range(1, 18)) and got["estimate"].is_monotonic_increasing
    # brute force from the same draws (the covariance rebuilt from the gradients' SEs is not enough:
    # recompute it as the module does, then sort each draw by hand)
    from research.models.predict import _evaluate, _rows

    subs = [str(s) for s in fm.frame["cause_l2"].cat.categories]
    everyone = _rows(fm, np.arange(len(fm.frame)))
    G = np.vstack([_evaluate(fm, everyone, {"cause_l2": s, "cause_l1": ins.parent[s]}, 4)["p_satisfied"][1]
                   if "cause_l1" in fm.frame.columns else
                   _evaluate(fm, everyone, {"cause_l2": s}, 4)["p_satisfied"][1] for s in subs])
    mean = g.loc[subs, "estimate"].to_numpy()
    sims = simulate_rates(mean, G @ fm.vcov @ G.T, DRAWS, SEED)
    low, high = _brute_force(sims)
    assert list(g.loc[subs, "rank_low"]) == low
    assert list(g.loc[subs, "rank_high"]) == high
    assert (got["rank_low"] <= got["rank"]).all() and (got["rank"] <= got["rank_high"]).all()


def test_draws_follow_the_joint_normal():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))
    cov = A @ A.T / 100
    mean = np.array([0.2, 0.5, 0.6, 0.9])
    sims = simulate_rates(mean, cov, 200_000, 11)
    np.testing.assert_allclose(sims.mean(axis=0), mean, atol=4 * math.sqrt(cov.diagonal().max() / 200_000))
    np.testing.assert_allclose(np.cov(sims.T), cov, atol=0.02 * np.abs(cov).max())
    # a singular covariance (a rate that is a combination of the others) still draws
    B = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    s = simulate_rates(np.zeros(3), B @ B.T * 0.01, 1000, 1)
    np.testing.assert_allclose(s[:, 2], 0.5 * (s[:, 0] + s[:, 1]), atol=1e-7)  # sqrt of a ~1e-17 eigenvalue
    # seeded: the same seed gives the same draws
    np.testing.assert_array_equal(simulate_rates(mean, cov, 10, 5), simulate_rates(mean, cov, 10, 5))


def test_planted_separated_and_identical_rates():
    names = ["a", "b", "c", "d", "e"]
    mean = np.array([0.40, 0.80, 0.80, 0.60, 0.90])  # a far below; b and c identical
    cov = np.diag(np.full(5, 0.01**2))
    out = rank_intervals(names, mean, cov).set_index("cause_l2")
    assert (out.loc["a", "rank"], out.loc["a", "rank_low"], out.loc["a", "rank_high"]) == (1, 1, 1)
    assert out.loc["d", "rank_high"] < out.loc["b", "rank_low"], "separated rates: intervals do not overlap"
    assert out.loc["b", "rank"] == out.loc["c", "rank"] == 3, "ties share the lowest rank"
    for s in ("b", "c"):
        assert (out.loc[s, "rank_low"], out.loc[s, "rank_high"]) == (3, 4), "identical rates: 3 or 4"


def test_planted_truth_on_a_fitted_logit():
    """Satisfied drawn from planted sub-cause rates: billing_dispute at 0.35 (least satisfied, far
    below), staff_attitude and slow_repair both at 0.8 like the rest."""
    fm, ins = _fit(_data({"billing_dispute": 0.35}))
    out = subcause_ranks(fm, parent=ins.parent, threshold=ins.satisfied_threshold).set_index("cause_l2")
    least = out.loc["billing_dispute"]
    assert (least["rank"], least["rank_low"], least["rank_high"]) == (1, 1, 1)
    others = out.drop(index="billing_dispute")
    assert (others["rank_low"] > least["rank_high"]).all(), "the planted least is apart from every other"
    a, b = out.loc["staff_attitude"], out.loc["slow_repair"]
    assert a["rank_low"] <= b["rank_high"] and b["rank_low"] <= a["rank_high"], "identical rates overlap"
    assert (others["rank_high"] - others["rank_low"] >= 3).all(), "16 equal rates cannot be ordered"


def test_no_subcause_gives_an_empty_frame(fixture_fit):
    import dataclasses

    fm, ins = fixture_fit
    plan = load_plan()
    spec = dataclasses.replace(plan.model("logit"), rhs="log2(1 + handling_hours) + channel + repeat")
    fm2 = fit_model(spec, _data(), plan=plan, instrument=ins)
    out = subcause_ranks(fm2, parent=ins.parent, threshold=4)
    assert out.empty and "rank_low" in out.columns


def test_named_values_of_the_least_satisfied_subcause():
    from research.artifacts.values import SUBCAUSE_RANK_VALUES, _subcause_rank_values

    def frame(low_high, others_low):
        k = 1 + len(others_low)
        return pd.DataFrame({"model": "logit", "cause_l2": [f"s{i:02d}" for i in range(k)],
                             "estimate": np.linspace(0.5, 0.9, k), "rank": np.arange(1, k + 1),
                             "rank_low": [1, *others_low], "rank_high": [low_high, *range(2, k + 1)]})

    vals = {r["name"]: r for r in _subcause_rank_values({"subcause_ranks": frame(1, [2, 3, 4])})}
    assert set(vals) == set(SUBCAUSE_RANK_VALUES)
    assert (vals["subcause_lowest_rank"]["en"], vals["subcause_lowest_rank_low"]["en"],
            vals["subcause_lowest_rank_high"]["en"], vals["subcause_count"]["en"]) == ("1", "1", "1", "4")
    assert "single it out" in vals["subcause_lowest_verdict"]["en"] and "cannot" not in vals["subcause_lowest_verdict"]["en"]
    vals = {r["name"]: r for r in _subcause_rank_values({"subcause_ranks": frame(3, [1, 1, 2])})}
    assert vals["subcause_lowest_rank_high"]["en"] == "3"
    assert "cannot single it out" in vals["subcause_lowest_verdict"]["en"] and "of 2 other" in vals["subcause_lowest_verdict"]["en"]
    assert "另有 2 个子类" in vals["subcause_lowest_verdict"]["zh"]
    vals = {r["name"]: r for r in _subcause_rank_values({"subcause_ranks": frame(2, [2, 3])})}
    assert "fewer than 97.5%" in vals["subcause_lowest_verdict"]["en"]
    missing = _subcause_rank_values({})
    assert {r["name"] for r in missing} == set(SUBCAUSE_RANK_VALUES) and all(r["en"] == "no data" for r in missing)
