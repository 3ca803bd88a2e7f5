"""Permutation null of the driver importances and the two driver sets (research.strategy.drivers_null,
research.strategy.drivers.key_drivers).

References:
- Brute force: each null replicate equals the LMG share (driver_importance, itself checked
  against base R in tests/strategy/test_drivers.py) of the data with the driver's column(s)
  permuted by the same permutation -- the fast cross-product update is only algebra.
- Holm's adjustment against R ``p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm")`` =
  ``0.03 0.06 0.06 0.02`` and ``p.adjust(c(0.5, NA, 0.9), "holm")`` = ``1 NA 1`` (NA not
  counted in m; the values follow from Holm 1979 by hand).
- Planted truth on small simulated data: an irrelevant 17-level sub-cause (16 columns) has
  a share inside its null and p-values spread over (0, 1) across seeds; a relevant one has
  p < 0.01 (Phipson & Smyth 2010: the smallest attainable p is 1 / (B + 1)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.strategy.drivers import (CALLBACK_DRIVERS, ITEM_DRIVERS, OPERATIONAL_DRIVERS, driver_analysis,
                              driver_importance, key_drivers)
from research.strategy.drivers_null import holm

# the null's cross-product update vs refitting the permuted data: both exact up to rounding
R2_TOL = 1e-10
# McFadden R² of refitted logits: both Newton runs stop at a decrement of 1e-12 |ll|
MCFADDEN_TOL = 1e-8
SUBCAUSES = np.array([f"sc{j:02d}" for j in range(17)])
CHANNELS = np.array(["app", "counter", "hotline", "wechat"])


def simulate(n: int = 1200, n_stations: int = 20, seed: int = 1, *, subcause_effect: float = 0.0,
             hours_effect: float = -0.15) -> pd.DataFrame:
    """Responses-like frame: 17 sub-causes (effect ``subcause_effect`` x a fixed pattern),
    handling time (``hours_effect`` per doubling), SLA met, 4 channels, repeat calls,
    the three items driven by the same latent satisfaction as the overall score."""
    rng = np.random.default_rng(seed)
    station = rng.integers(0, n_stations, n)
    sub = rng.integers(0, len(SUBCAUSES), n)
    hours = np.round(rng.lognormal(2.5, 1.0, n), 2)
    sla = rng.random(n) < 0.85
    chan = rng.integers(0, len(CHANNELS), n)
    rep = rng.random(n) < 0.2
    pattern = np.linspace(-1, 1, len(SUBCAUSES))
    latent = (subcause_effect * pattern[sub] + hours_effect * np.log2(1 + hours) - 0.3 * rep
              + rng.normal(0, 0.1, n_stations)[station] + rng.normal(0, 0.8, n))
    item = [np.clip(np.round(3.5 + latent + rng.normal(0, 0.5, n)), 1, 5) for _ in range(3)]
    overall = np.clip(np.round(3.5 + latent + rng.normal(0, 0.4, n)), 1, 5)
    return pd.DataFrame({
        "station": pd.array([f"S{s:02d}" for s in station], dtype="string"),
        "cause_l2": pd.array(SUBCAUSES[sub], dtype="string"),
        "channel": pd.array(CHANNELS[chan], dtype="string"),
        "handling_hours": hours,
        "sla_met": pd.array(sla, dtype="boolean"),
        "repeat": pd.array(rep, dtype="boolean"),
        "resolved": pd.array(np.where(latent > -0.5, "yes", "no"), dtype="string"),
        "sat_overall": pd.array(overall.astype(int), dtype="Int64"),
        "sat_attitude": pd.array(item[0].astype(int), dtype="Int64"),
        "sat_speed": pd.array(item[1].astype(int), dtype="Int64"),
        "sat_outcome": pd.array(item[2].astype(int), dtype="Int64"),
        "satisfied": pd.array(overall >= 4, dtype="boolean"),
        "w": rng.uniform(0.5, 2.0, n),
    })


SOURCE = {"subcause": ["cause_l2"], "handling_time": ["handling_hours"], "sla_met": ["sla_met"],
          "channel": ["channel"], "repeat": ["repeat"]}


def _perms(n: int, reps: int, seed: int) -> np.ndarray:
    """The module's permutations (drawn once, shared by the groups)."""
    return np.random.default_rng(seed).permuted(
        np.broadcast_to(np.arange(n, dtype=np.int32), (reps, n)), axis=1)


@pytest.mark.parametrize("outcome,weighted,tol", [("sat_overall", False, R2_TOL),
                                                  ("sat_overall", True, R2_TOL),
                                                  ("satisfied", False, MCFADDEN_TOL)])
def test_null_replicate_is_the_share_of_the_permuted_data(outcome, weighted, tol):
    d = simulate(n=500 if outcome == "satisfied" else 800, seed=3, subcause_effect=0.5)
    reps, seed = 3, 77
    res = driver_analysis(d, outcome=outcome, weights="w" if weighted else None, bootstrap_reps=0,
                          permutation_reps=reps, permutation_seed=seed, drivers=OPERATIONAL_DRIVERS)
    assert (res["importance"]["null_reps"] == reps).all()
    # recover the replicates from the p-value and quantile columns would be indirect: recompute
    from research.strategy import drivers as drv
    from research.strategy.drivers_null import permutation_null

    prep = drv._prepare(d, outcome=outcome, drivers=OPERATIONAL_DRIVERS,
                        weights="w" if weighted else None, cluster="station", performance=False)
    null = permutation_null(prep, reps=reps, seed=seed)
    perms = _perms(len(d), reps, seed)
    for j, g in enumerate(OPERATIONAL_DRIVERS):
        for b in range(reps):
            pd_ = d.copy()
            for col in SOURCE[g]:
                pd_[col] = d[col].to_numpy()[perms[b]]
            ref = driver_importance(pd_, outcome=outcome, drivers=OPERATIONAL_DRIVERS,
                                    weights="w" if weighted else None, bootstrap_reps=0)
            assert null["share"][b, j] == pytest.approx(ref["share"].iloc[j], abs=tol), (g, b)
            assert null["importance"][b, j] == pytest.approx(ref["importance"].iloc[j], abs=tol), (g, b)
    # the frame's summaries are those of these replicates
    imp = res["importance"].set_index("driver")
    for j, g in enumerate(OPERATIONAL_DRIVERS):
        assert imp.loc[g, "null_share_mean"] == pytest.approx(null["share"][:, j].mean(), abs=1e-15)
        assert imp.loc[g, "null_share_q95"] == pytest.approx(np.quantile(null["share"][:, j], 0.95), abs=1e-15)
        exceed = (null["share"][:, j] >= imp.loc[g, "share"] - 1e-12).sum()
        assert imp.loc[g, "p_value"] == pytest.approx((1 + exceed) / (reps + 1))


def test_holm_matches_r():
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02],
                               rtol=0, atol=1e-15)
    np.testing.assert_allclose(holm(np.array([0.5, np.nan, 0.9])), [1.0, np.nan, 1.0], rtol=0, atol=1e-15)


def test_irrelevant_subcause_is_within_its_null_and_p_is_spread_over_seeds():
    """A 17-level sub-cause with no effect: its share is of the size of its null (so a reader
    sees it explains nothing), and its p-value is roughly uniform over simulated datasets."""
    ps, inside = [], 0
    for seed in range(20):
        d = simulate(n=800, seed=100 + seed)
        imp = driver_analysis(d, drivers=("subcause", "handling_time"), bootstrap_reps=0,
                              permutation_reps=99, permutation_seed=seed)["importance"].set_index("driver")
        ps.append(imp.loc["subcause", "p_value"])
        inside += imp.loc["subcause", "share"] <= imp.loc["subcause", "null_share_q95"]
    ps = np.array(ps)
    # under the null p ~ U(0,1): mean 0.5 (sd of the mean of 20 ~ 0.065), 5% below 0.05
    assert 0.3 < ps.mean() < 0.7, ps
    assert (ps < 0.05).sum() <= 3, ps
    assert inside >= 16, f"irrelevant share above its null 95th percentile in {20 - inside} of 20"
    assert ps.min() < 0.5 < ps.max(), "p-values should spread over (0, 1)"


def test_relevant_subcause_clears_its_null():
    d = simulate(n=800, seed=5, subcause_effect=0.6)
    imp = driver_analysis(d, drivers=("subcause", "handling_time"), bootstrap_reps=0,
                          permutation_reps=199, permutation_seed=1)["importance"].set_index("driver")
    assert imp.loc["subcause", "p_value"] < 0.01
    assert imp.loc["subcause", "share"] > imp.loc["subcause", "null_share_q95"]
    assert bool(imp.loc["subcause", "detectable"])


def test_key_drivers_keeps_items_apart_and_places_only_detectable_drivers():
    d = simulate(n=1500, seed=8)           # sub-cause and channel irrelevant
    res = key_drivers(d, bootstrap_reps=30, seed=2, permutation_reps=99, permutation_seed=3)
    imp, ipa = res["importance"], res["ipa"]
    assert list(imp["set"].unique()) == ["operational", "items"]
    op = imp[imp["set"] == "operational"]
    items = imp[imp["set"] == "items"]
    assert list(op["driver"]) == list(OPERATIONAL_DRIVERS)
    assert list(items["driver"]) == list(ITEM_DRIVERS)
    assert not set(op["driver"]) & set(CALLBACK_DRIVERS), "no callback answer in the operational set"
    for part in (op, items):
        assert part["share"].sum() == pytest.approx(1.0, abs=1e-12), "shares sum to 1 within a set"
    # the items would swamp the operational drivers if mixed: here they are decomposed alone
    assert items["total_r2"].iloc[0] > 5 * op["total_r2"].iloc[0]
    opi = ipa[ipa["set"] == "operational"].set_index("driver")
    assert opi.loc["subcause", "ipa_status"] == "no_performance_measure"
    assert opi.loc["channel", "ipa_status"] == "no_performance_measure"
    assert opi.loc["handling_time", "ipa_status"] == "placed"
    placed = opi["ipa_status"] == "placed"
    assert opi.loc[placed, "quadrant"].notna().all() and opi.loc[~placed, "quadrant"].isna().all()
    p_cols = ["p_concentrate_here", "p_keep_up", "p_low_priority", "p_possible_overkill"]
    np.testing.assert_allclose(opi.loc[placed, p_cols].sum(axis=1), 1.0, atol=1e-12)
    # a driver that does not clear its null is not placed
    undetected = imp.loc[(imp["set"] == "operational") & ~imp["detectable"].astype(bool), "driver"]
    for g in undetected:
        assert opi.loc[g, "ipa_status"] in ("no_detectable_importance", "no_performance_measure")


def test_undetectable_driver_is_not_placed():
    """sla_met with no effect and a performance measure: status no_detectable_importance."""
    d = simulate(n=1500, seed=9)
    res = driver_analysis(d, drivers=("handling_time", "sla_met", "repeat"), bootstrap_reps=20,
                          permutation_reps=99)
    imp = res["importance"].set_index("driver")
    ipa = res["ipa"].set_index("driver")
    if not imp.loc["sla_met", "detectable"]:        # planted: no effect (p > alpha in most seeds)
        assert ipa.loc["sla_met", "ipa_status"] == "no_detectable_importance"
        assert pd.isna(ipa.loc["sla_met", "quadrant"])
    assert imp.loc["sla_met", "p_value"] > 0.05
    # crosshairs from the two placed drivers only
    placed = ipa[ipa["ipa_status"] == "placed"]
    assert len(placed) == 2
    assert placed["importance_crosshair"].iloc[0] == pytest.approx(placed["importance"].mean())


def test_operational_set_refuses_callback_answers():
    d = simulate(n=300)
    for bad in ("resolved", "attitude"):
        with pytest.raises(ValueError, match="callback"):
            key_drivers(d, sets={"operational": ("subcause", bad)}, bootstrap_reps=0, permutation_reps=0)


def test_constant_driver_has_p_one_and_group_order_does_not_change_the_null():
    d = simulate(n=600, seed=4).assign(sla_met=pd.array([True] * 600, dtype="boolean"))
    a = driver_analysis(d, drivers=("subcause", "sla_met", "repeat"), bootstrap_reps=0,
                        permutation_reps=49)["importance"].set_index("driver")
    assert a.loc["sla_met", "share"] == 0 and a.loc["sla_met", "p_value"] == 1.0
    b = driver_analysis(d, drivers=("repeat", "sla_met", "subcause"), bootstrap_reps=0,
                        permutation_reps=49)["importance"].set_index("driver")
    for col in ["null_share_mean", "null_share_q95", "p_value"]:
        np.testing.assert_allclose(a[col], b.loc[a.index, col], rtol=0, atol=1e-12, err_msg=col)


def test_no_permutation_gives_missing_null_and_places_every_measured_driver():
    d = simulate(n=400)
    res = driver_analysis(d, drivers=OPERATIONAL_DRIVERS, bootstrap_reps=0, permutation_reps=0)
    imp = res["importance"]
    assert imp[["null_share_mean", "null_share_q95", "p_value", "p_holm"]].isna().all().all()
    assert (imp["null_reps"] == 0).all() and imp["detectable"].isna().all()
    assert set(res["ipa"].query("ipa_status == 'placed'")["driver"]) == {"handling_time", "sla_met", "repeat"}
