"""Key-driver analysis and importance-performance analysis (research.strategy.drivers).

References:
- Brute-force base R (R 4.2.2, ``stats::lm`` / ``stats::glm(binomial)``; relaimpo and
  domir are not packaged for Debian, so not used): the R² (McFadden R² = ``1 -
  deviance / null.deviance``) of all 2^7 subsets of the 7 driver groups and the LMG
  importances = Shapley values, computed both by the subset formula and literally
  over all 7! orders (they agree to 1e-12 in the script), unweighted and with
  ``weights = w``; ``tests/fixtures/r/drivers/make_reference.R`` on
  ``drivers_data.csv`` (2,000 simulated responses; see the README there). This is
  the quantity ``relaimpo::calc.relimp(type = "lmg", groups = ...)`` and
  ``domir::domir`` (general dominance) report.
- Known values: importances sum to the full model's R²; orthogonal single-column
  drivers get their squared correlation; integer weights equal duplicated rows; one
  bootstrap replicate equals the analysis of the resampled data; invariance to the
  order of driver groups and of rows.
- Parameter recovery on data simulated here with one dominant driver.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import research.strategy.drivers_bootstrap as drv_boot
from research.strategy.drivers import (QUADRANTS, driver_analysis, driver_importance,
                              driver_performance, importance_performance, subset_r2)
from research.errors import InputError

R_DIR = Path(__file__).parents[1] / "fixtures" / "r" / "drivers"
# The seven driver groups of the R fixture (the former default set, items and resolution
# included); the low-level functions are checked on it. key_drivers' operational and item
# sets are tested in tests/strategy/test_drivers_null.py.
FIX = ("subcause", "handling_time", "repeat", "resolved", "attitude", "speed", "outcome_item")
DEFAULT_DRIVERS = FIX

# OLS R² from the cross-product matrix vs R's QR fits: both are exact up to rounding
# (observed differences ~1e-14); the issue asks for 1e-10.
R2_TOL = 1e-10
# McFadden R²: R's glm stops at |dev change| / (|dev| + 0.1) < 1e-14 (set in the script),
# the Newton here at a decrement of 1e-12 |ll|; observed differences ~4e-13.
MCFADDEN_TOL = 1e-8
# Identities that hold up to floating-point rounding of sums of ~128 terms.
EXACT_TOL = 1e-12
IMPORTANCE_COLUMNS = ["outcome", "driver", "importance", "share", "conf_low", "conf_high",
                      "share_conf_low", "share_conf_high", "rank", "total_r2", "n", "n_dropped",
                      "method", "conf_level"]
IPA_COLUMNS = ["driver", "importance", "performance", "quadrant", "p_concentrate_here",
               "p_keep_up", "p_low_priority", "p_possible_overkill"]
P_COLUMNS = [f"p_{q}" for q in QUADRANTS]


@pytest.fixture(scope="module")
def fixture_data() -> pd.DataFrame:
    """drivers_data.csv with the canonical dtypes of research.ingestion.schema.RESPONSES."""
    d = pd.read_csv(R_DIR / "drivers_data.csv", dtype=str, keep_default_na=False)
    d = d.replace("", pd.NA)
    out = pd.DataFrame({c: d[c].astype("string") for c in ["station", "cause_l2", "resolved"]})
    out["handling_hours"] = d["handling_hours"].astype(float)
    for c in ["repeat", "satisfied", "sla_met"]:
        out[c] = d[c].map({"true": True, "false": False}).astype("boolean")
    for c in ["sat_overall", "sat_speed", "sat_attitude", "sat_outcome"]:
        out[c] = d[c].astype("Int64")
    out["w"] = d["w"].astype(float)
    assert len(out) == 2000
    return out


@pytest.fixture(scope="module")
def r_subsets() -> pd.DataFrame:
    return pd.read_csv(R_DIR / "subset_r2.csv", keep_default_na=False,
                       dtype={"subset": str, "outcome": str})


@pytest.fixture(scope="module")
def r_lmg() -> pd.DataFrame:
    return pd.read_csv(R_DIR / "lmg.csv")


def synthetic(n: int = 3000, n_stations: int = 30, seed: int = 7, *, attitude: float = 1.0,
              speed: float = 0.15, outcome: float = 0.1) -> pd.DataFrame:
    """Responses-like frame where the staff-attitude item dominates overall satisfaction."""
    rng = np.random.default_rng(seed)
    station = rng.integers(0, n_stations, n)
    subs = np.array(["billing_dispute", "fault_outage", "low_voltage", "slow_repair",
                     "staff_attitude"])
    sub = rng.integers(0, len(subs), n)
    hours = np.round(rng.lognormal(2.5, 1.0, n), 2)
    rep = rng.random(n) < 0.15
    res = rng.choice(np.array(["yes", "partly", "no"]), n, p=[0.8, 0.12, 0.08])
    att, spd, out = (rng.integers(1, 6, n) for _ in range(3))
    y = (3.0 + attitude * (att - 3) + speed * (spd - 3) + outcome * (out - 3)
         - 0.05 * np.log2(1 + hours) - 0.1 * rep + np.array([0.0, -0.1, 0.05, -0.05, 0.1])[sub]
         + rng.normal(0, 0.1, n_stations)[station] + rng.normal(0, 0.7, n))
    return pd.DataFrame({
        "station": pd.array([f"S{s:02d}" for s in station], dtype="string"),
        "cause_l2": pd.array(subs[sub], dtype="string"),
        "handling_hours": hours,
        "repeat": pd.array(rep, dtype="boolean"),
        "resolved": pd.array(res, dtype="string"),
        "sat_overall": y,
        "sat_attitude": pd.array(att, dtype="Int64"),
        "sat_speed": pd.array(spd, dtype="Int64"),
        "sat_outcome": pd.array(out, dtype="Int64"),
        "satisfied": pd.array(y >= 3.5, dtype="boolean"),
        "sla_met": pd.array(hours < 24, dtype="boolean"),
    })


# ------------------------------------------------------------------ R reference ----
@pytest.mark.parametrize("outcome", ["sat_overall", "satisfied"])
@pytest.mark.parametrize("weighted", [False, True])
def test_subset_r2_matches_r(fixture_data, r_subsets, outcome, weighted):
    """R² of all 128 subsets against R lm / glm (base R 4.2.2, brute force)."""
    tol = R2_TOL if outcome == "sat_overall" else MCFADDEN_TOL
    ours = subset_r2(fixture_data, drivers=FIX, outcome=outcome, weights="w" if weighted else None)
    ref = r_subsets[(r_subsets["outcome"] == outcome) & (r_subsets["weighted"] == weighted)]
    assert len(ours) == len(ref) == 128
    m = ours.merge(ref, on="subset", suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == 128, "subset names differ from R's"
    assert (m["size"] == m["size_r"]).all()
    diff = np.abs(m["r2"] - m["r2_r"])
    worst = m.loc[diff.idxmax(), "subset"]
    assert diff.max() < tol, f"subset R² of {worst!r} differs from R by {diff.max():.3g}"


@pytest.mark.parametrize("outcome", ["sat_overall", "satisfied"])
@pytest.mark.parametrize("weighted", [False, True])
def test_importance_matches_r(fixture_data, r_lmg, outcome, weighted):
    """LMG importance, share and total R² against the base-R Shapley values (subset formula
    and all 7! orders), R 4.2.2; as relaimpo::calc.relimp(type = "lmg", groups =)."""
    tol = R2_TOL if outcome == "sat_overall" else MCFADDEN_TOL
    ours = driver_importance(fixture_data, drivers=FIX, outcome=outcome, weights="w" if weighted else None,
                             bootstrap_reps=0)
    ref = r_lmg[(r_lmg["outcome"] == outcome) & (r_lmg["weighted"] == weighted)]
    assert list(ours["driver"]) == list(ref["driver"]) == list(DEFAULT_DRIVERS)
    for col in ["importance", "share", "total_r2"]:
        diff = np.abs(ours[col].to_numpy() - ref[col].to_numpy()).max()
        assert diff < tol, f"{col} differs from R by {diff:.3g}"
    assert (ours["n"] == ref["n"].to_numpy()).all(), "n (complete rows)"
    assert (ours["n_dropped"] == ref["n_dropped"].to_numpy()).all(), "n_dropped"
    assert (ours["method"] == ref["method"].to_numpy()).all()


# ---------------------------------------------------------------- known values ----
@pytest.mark.parametrize("outcome", ["sat_overall", "satisfied"])
def test_importances_sum_to_full_model_r2(fixture_data, outcome):
    imp = driver_importance(fixture_data, drivers=FIX, outcome=outcome, bootstrap_reps=0)
    full = subset_r2(fixture_data, drivers=FIX, outcome=outcome)["r2"].iloc[-1]
    assert imp["importance"].sum() == pytest.approx(imp["total_r2"].iloc[0], abs=EXACT_TOL), \
        "sum of importances vs total_r2"
    assert imp["total_r2"].iloc[0] == pytest.approx(full, abs=EXACT_TOL), \
        "total_r2 vs full model R²"
    assert imp["share"].sum() == pytest.approx(1.0, abs=EXACT_TOL), "sum of shares"
    assert (imp["importance"] >= 0).all(), "LMG importances are non-negative (R² monotone)"
    assert sorted(imp["rank"]) == list(range(1, 8))
    assert list(imp.columns[:len(IMPORTANCE_COLUMNS)]) == IMPORTANCE_COLUMNS


def test_orthogonal_drivers_get_squared_correlation():
    """Uncorrelated single-column drivers: importance_j = r(x_j, y)² exactly."""
    rng = np.random.default_rng(3)
    n = 500
    raw = rng.normal(size=(n, 3))
    q, _ = np.linalg.qr(raw - raw.mean(0))        # orthonormal, mean-zero columns
    y = q @ np.array([3.0, 2.0, 1.0]) + 0.05 * rng.normal(size=n)
    d = pd.DataFrame({"station": [f"S{i % 10}" for i in range(n)], "sat_overall": y,
                      "sat_attitude": q[:, 0], "sat_speed": q[:, 1], "sat_outcome": q[:, 2]})
    assert np.abs(np.corrcoef(q.T) - np.eye(3)).max() < 1e-12
    imp = driver_importance(d, drivers=("attitude", "speed", "outcome_item"), bootstrap_reps=0)
    r2 = [np.corrcoef(q[:, j], y)[0, 1] ** 2 for j in range(3)]
    np.testing.assert_allclose(imp["importance"], r2, rtol=0, atol=EXACT_TOL,
                               err_msg="importance vs squared correlation")


def test_group_order_invariance(fixture_data):
    """Permuting the driver groups permutes the rows and changes no number (bootstrap too)."""
    a = driver_importance(fixture_data, drivers=FIX, bootstrap_reps=30, seed=5)
    order = ["speed", "resolved", "subcause", "outcome_item", "repeat", "attitude", "handling_time"]
    b = driver_importance(fixture_data, drivers=order, bootstrap_reps=30, seed=5)
    b = b.set_index("driver").loc[list(DEFAULT_DRIVERS)].reset_index()
    for col in ["importance", "share", "conf_low", "conf_high", "share_conf_low", "share_conf_high",
                "total_r2"]:
        np.testing.assert_allclose(a[col], b[col], rtol=0, atol=EXACT_TOL, err_msg=col)
    assert (a["rank"] == b["rank"]).all()


def test_row_order_invariance(fixture_data):
    """Shuffling rows changes nothing: clusters are coded by sorted station label."""
    a = driver_importance(fixture_data, drivers=FIX, bootstrap_reps=30, seed=5)
    shuffled = fixture_data.sample(frac=1.0, random_state=11).reset_index(drop=True)
    b = driver_importance(shuffled, drivers=FIX, bootstrap_reps=30, seed=5)
    for col in ["importance", "conf_low", "conf_high", "share_conf_low", "share_conf_high"]:
        np.testing.assert_allclose(a[col], b[col], rtol=0, atol=1e-10, err_msg=col)


def test_integer_weights_equal_duplicated_rows(fixture_data):
    rng = np.random.default_rng(8)
    d = fixture_data.assign(k=rng.integers(1, 4, len(fixture_data)).astype(float))
    dup = d.loc[d.index.repeat(d["k"].astype(int))].reset_index(drop=True)
    for outcome, tol in [("sat_overall", EXACT_TOL), ("satisfied", MCFADDEN_TOL)]:
        a = driver_importance(d, drivers=FIX, outcome=outcome, weights="k", bootstrap_reps=0)
        b = driver_importance(dup, drivers=FIX, outcome=outcome, bootstrap_reps=0)
        np.testing.assert_allclose(a["importance"], b["importance"], rtol=0, atol=tol,
                                   err_msg=f"{outcome}: weighted vs duplicated rows")


def _replicate_counts(data: pd.DataFrame, seed: int, reps: int) -> tuple[np.ndarray, np.ndarray]:
    """Station labels (sorted) and how often replicate 1..reps draws each (the module's scheme)."""
    labels = np.unique(data["station"].astype(str))
    rng = np.random.default_rng(seed)
    return labels, np.stack([np.bincount(rng.integers(0, len(labels), len(labels)),
                                         minlength=len(labels)) for _ in range(reps)])


@pytest.mark.parametrize("outcome", ["sat_overall", "satisfied"])
def test_bootstrap_replicate_is_the_analysis_of_resampled_stations(fixture_data, outcome):
    """Replicate b = the point analysis of the data with each station repeated as drawn."""
    d = fixture_data.dropna(subset=["sat_overall", "sat_speed", "sat_attitude", "sat_outcome"])
    res = driver_analysis(d, drivers=FIX, outcome=outcome, bootstrap_reps=2, seed=21)
    labels, counts = _replicate_counts(d, 21, 2)
    times = dict(zip(labels, counts[1]))
    resampled = d.loc[d.index.repeat(d["station"].astype(str).map(times))]
    point = driver_importance(resampled, drivers=FIX, outcome=outcome, bootstrap_reps=0)
    rep = res["replicates"].query("replicate == 2")
    tol = R2_TOL if outcome == "sat_overall" else MCFADDEN_TOL
    np.testing.assert_allclose(rep["importance"], point["importance"], rtol=0, atol=tol,
                               err_msg="replicate importance vs resampled data")
    perf = driver_performance(resampled, drivers=FIX, outcome=outcome)
    np.testing.assert_allclose(rep["performance"], perf["performance"], rtol=0, atol=EXACT_TOL,
                               err_msg="replicate performance vs resampled data")


@pytest.mark.parametrize("level", ["staff_attitude", "billing_dispute"])
def test_replicate_without_a_subcause_level(level):
    """A sub-cause seen at one station only: replicates that miss it still equal the analysis
    of the resampled data. ``staff_attitude`` leaves a constant dummy; ``billing_dispute`` is
    the reference level, so the other dummies sum to 1 (aliased with the intercept, which
    R's lm drops)."""
    d = synthetic(n=1500, n_stations=12, seed=4)
    other = d["station"] != "S03"
    d.loc[other, "cause_l2"] = d.loc[other, "cause_l2"].replace(level, "fault_outage")
    labels, counts = _replicate_counts(d, 9, 40)
    b = int(np.flatnonzero(counts[:, list(labels).index("S03")] == 0)[0])
    res = driver_analysis(d, drivers=FIX, bootstrap_reps=40, seed=9)
    times = dict(zip(labels, counts[b]))
    resampled = d.loc[d.index.repeat(d["station"].map(times))]
    assert level not in set(resampled["cause_l2"])
    point = driver_importance(resampled, drivers=FIX, bootstrap_reps=0)
    np.testing.assert_allclose(res["replicates"].query("replicate == @b + 1")["importance"],
                               point["importance"], rtol=0, atol=R2_TOL,
                               err_msg=f"replicate without {level}")
    assert res["importance"]["bootstrap_reps"].iloc[0] == 40


def test_cluster_moments_and_row_passes_agree(fixture_data, monkeypatch):
    """The per-replicate pass over rows (many clusters) gives what the station moments give."""
    a = driver_importance(fixture_data, drivers=FIX, bootstrap_reps=25, seed=2)
    monkeypatch.setattr(drv_boot, "_MAX_CLUSTER_BLOCKS", 0)
    b = driver_importance(fixture_data, drivers=FIX, bootstrap_reps=25, seed=2)
    for col in ["conf_low", "conf_high", "share_conf_low", "share_conf_high"]:
        np.testing.assert_allclose(a[col], b[col], rtol=0, atol=1e-10, err_msg=col)


# ----------------------------------------------------------- parameter recovery ----
def test_dominant_driver_is_recovered():
    d = synthetic()
    imp = driver_importance(d, drivers=FIX, bootstrap_reps=200, seed=1).set_index("driver")
    assert imp.loc["attitude", "rank"] == 1, "attitude should rank first"
    runner_up = imp.sort_values("rank").iloc[1]
    assert imp.loc["attitude", "conf_low"] > runner_up["conf_high"], \
        "attitude's interval should exclude the runner-up's"
    # planted: var(1.0 * attitude) = 2; the other drivers explain about 0.08, station and
    # noise add 0.01 + 0.49, so R² of attitude ~ 2 / 2.58 = 0.78 and its share ~ 2 / 2.08 = 0.96
    assert 0.72 < imp.loc["attitude", "importance"] < 0.84
    assert imp.loc["attitude", "share"] > 0.93
    assert (imp["conf_low"] <= imp["importance"]).all(), "conf_low <= importance"
    assert (imp["importance"] <= imp["conf_high"]).all(), "importance <= conf_high"


# -------------------------------------------------------------------- bootstrap ----
def test_bootstrap_same_seed_same_output_other_seed_other_intervals(fixture_data):
    a = driver_analysis(fixture_data, drivers=FIX, bootstrap_reps=40, seed=123)
    b = driver_analysis(fixture_data, drivers=FIX, bootstrap_reps=40, seed=123)
    c = driver_analysis(fixture_data, drivers=FIX, bootstrap_reps=40, seed=124)
    for name in ["importance", "ipa", "replicates"]:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not np.allclose(a["importance"]["conf_low"], c["importance"]["conf_low"]), \
        "a different seed should give different intervals"
    np.testing.assert_array_equal(a["importance"]["importance"], c["importance"]["importance"])


def test_bootstrap_intervals_and_progress(fixture_data):
    messages: list[str] = []
    imp = driver_importance(fixture_data, drivers=FIX, bootstrap_reps=45, seed=1, conf_level=0.9,
                            progress=messages.append)
    assert messages == ["driver bootstrap 20/45", "driver bootstrap 40/45",
                        "driver bootstrap 45/45"]
    assert (imp["conf_low"] <= imp["conf_high"]).all()
    assert (imp["share_conf_low"] <= imp["share_conf_high"]).all()
    assert ((imp["share_conf_low"] >= 0) & (imp["share_conf_high"] <= 1)).all()
    assert (imp["conf_level"] == 0.9).all() and (imp["bootstrap_reps"] == 45).all()
    assert imp["n_clusters"].iloc[0] == fixture_data["station"].nunique()


def test_mcfadden_bootstrap(fixture_data):
    messages: list[str] = []
    imp = driver_importance(fixture_data, drivers=FIX, outcome="satisfied", bootstrap_reps=20, seed=3,
                            progress=messages.append)
    assert (imp["method"] == "lmg_mcfadden").all()
    assert messages == ["driver bootstrap 20/20"]
    assert imp["bootstrap_reps"].iloc[0] == 20
    assert imp[["conf_low", "conf_high"]].notna().all().all()
    assert (imp["conf_low"] <= imp["conf_high"]).all()


def test_row_bootstrap_without_cluster(fixture_data):
    imp = driver_importance(fixture_data.drop(columns="station"), drivers=FIX, cluster=None, bootstrap_reps=20)
    assert imp["n_clusters"].iloc[0] == imp["n"].iloc[0]
    assert imp[["conf_low", "conf_high"]].notna().all().all()


def test_no_bootstrap_gives_missing_intervals(fixture_data):
    imp = driver_importance(fixture_data, drivers=FIX, bootstrap_reps=0)
    assert imp[["conf_low", "conf_high", "share_conf_low", "share_conf_high"]].isna().all().all()
    assert (imp["bootstrap_reps"] == 0).all()


# ------------------------------------------------------------------------ IPA -----
def test_performance_values(fixture_data):
    """Performance = the documented 0..1 measures on the complete rows."""
    perf = driver_performance(fixture_data, drivers=FIX).set_index("driver")["performance"]
    cc = fixture_data.dropna(subset=["cause_l2", "handling_hours", "repeat", "resolved",
                                     "sat_overall", "sat_speed", "sat_attitude", "sat_outcome"])
    # the sub-cause is a composition: no favourable level, so no performance (never the
    # outcome itself, which the satisfied rate of the rows would be)
    assert np.isnan(perf["subcause"]), "sub-cause has no performance measure"
    expected = {
        "handling_time": cc["sla_met"].astype(float).mean(),
        "repeat": 1 - cc["repeat"].astype(float).mean(),
        "resolved": (cc["resolved"] == "yes").mean(),
        "attitude": (cc["sat_attitude"].astype(float).mean() - 1) / 4,
        "speed": (cc["sat_speed"].astype(float).mean() - 1) / 4,
        "outcome_item": (cc["sat_outcome"].astype(float).mean() - 1) / 4,
    }
    for d, v in expected.items():
        assert perf[d] == pytest.approx(v, abs=EXACT_TOL), f"performance of {d}"
    wperf = driver_performance(fixture_data, drivers=FIX, weights="w").set_index("driver")["performance"]
    assert wperf["resolved"] == pytest.approx(np.average(cc["resolved"] == "yes", weights=cc["w"]),
                                              abs=EXACT_TOL)


def test_ipa_from_one_bootstrap_run(fixture_data):
    res = driver_analysis(fixture_data, drivers=FIX, bootstrap_reps=60, seed=4)
    ipa = res["ipa"]
    assert list(ipa.columns[:len(IPA_COLUMNS)]) == IPA_COLUMNS
    np.testing.assert_allclose(ipa.loc[ipa["driver"] != "subcause", P_COLUMNS].sum(axis=1), 1.0,
                               atol=EXACT_TOL,
                               err_msg="quadrant probabilities sum to 1")
    assert ((ipa[P_COLUMNS] >= 0) & (ipa[P_COLUMNS] <= 1) | ipa[P_COLUMNS].isna()).all().all()
    np.testing.assert_array_equal(ipa["importance"], res["importance"]["importance"])
    # the sub-cause has no performance measure: no quadrant, no probabilities
    sc = ipa.set_index("driver").loc["subcause"]
    assert sc["ipa_status"] == "no_performance_measure" and pd.isna(sc["quadrant"])
    assert np.isnan(sc[P_COLUMNS].to_numpy(float)).all()
    ipa = ipa[ipa["driver"] != "subcause"]
    # the point quadrant follows the crosshairs at the means of the placed drivers
    ci, cp = ipa["importance"].mean(), ipa["performance"].mean()
    assert ipa["importance_crosshair"].iloc[0] == pytest.approx(ci, abs=EXACT_TOL)
    assert ipa["performance_crosshair"].iloc[0] == pytest.approx(cp, abs=EXACT_TOL)
    expected = np.where(ipa["importance"] >= ci,
                        np.where(ipa["performance"] >= cp, "keep_up", "concentrate_here"),
                        np.where(ipa["performance"] >= cp, "possible_overkill", "low_priority"))
    assert list(ipa["quadrant"]) == list(expected)
    # the same result from the separate function, fed the same replicates
    again = importance_performance(fixture_data, res["importance"], replicates=res["replicates"])
    pd.testing.assert_frame_equal(again, res["ipa"])
    # replicates hold importance and performance of every driver in every replicate
    assert len(res["replicates"]) == 60 * len(DEFAULT_DRIVERS)
    placed = res["replicates"]["driver"] != "subcause"
    assert res["replicates"]["importance"].notna().all()
    assert res["replicates"].loc[placed, "performance"].notna().all()


def test_ipa_probabilities_recompute_crosshairs_per_replicate(fixture_data):
    """Two hand-made replicates whose crosshairs differ: the probabilities follow each one."""
    drivers = ("attitude", "speed", "outcome_item")
    imp = driver_importance(fixture_data, drivers=drivers, bootstrap_reps=0)
    reps = pd.DataFrame({
        "replicate": [1, 1, 1, 2, 2, 2],
        "driver": list(drivers) * 2,
        "importance": [0.125, 0.25, 0.375, 0.375, 0.25, 0.125],
        "performance": [0.5, 0.625, 0.75, 0.5, 1.0, 0.75],
    })
    # (binary fractions, so the means are exact and the ties are real ties)
    # replicate 1: crosshairs (0.25, 0.625): low/low, high/high (ties count as high), high/high
    # replicate 2: crosshairs (0.25, 0.75): high/low, high/high, low/high
    ipa = importance_performance(fixture_data, imp, replicates=reps).set_index("driver")
    expected = {"attitude": [0.5, 0, 0.5, 0], "speed": [0, 1, 0, 0],
                "outcome_item": [0, 0.5, 0, 0.5]}
    for d, p in expected.items():
        np.testing.assert_allclose(ipa.loc[d, P_COLUMNS].to_numpy(float), p, err_msg=d)
    assert (ipa["bootstrap_reps"] == 2).all()


def test_ipa_rejects_other_data(fixture_data):
    res = driver_analysis(fixture_data, drivers=FIX, bootstrap_reps=5)
    with pytest.raises(ValueError, match="rows"):
        importance_performance(fixture_data.iloc[:1500], res["importance"],
                               replicates=res["replicates"])


# ------------------------------------------------------------------ bad input -----
@pytest.mark.parametrize("column", ["sat_speed", "cause_l2", "handling_hours", "station",
                                    "sat_overall"])
def test_missing_column_names_it(fixture_data, column):
    with pytest.raises(InputError, match=repr(column)):
        driver_importance(fixture_data.drop(columns=column), drivers=FIX, bootstrap_reps=0)


def test_missing_weight_and_performance_columns(fixture_data):
    with pytest.raises(InputError, match="'wt'"):
        driver_importance(fixture_data, drivers=FIX, weights="wt", bootstrap_reps=0)
    with pytest.raises(InputError, match="'sla_met'"):
        driver_analysis(fixture_data.drop(columns="sla_met"), drivers=FIX, bootstrap_reps=0)
    driver_importance(fixture_data.drop(columns="sla_met"), drivers=FIX, bootstrap_reps=0)   # not needed here


def test_bad_values_and_options(fixture_data):
    with pytest.raises(InputError, match="'w'"):
        driver_importance(fixture_data.assign(w=-1.0), drivers=FIX, weights="w", bootstrap_reps=0)
    with pytest.raises(InputError, match="'handling_hours'"):
        driver_importance(fixture_data.assign(handling_hours=-1.0), drivers=FIX, bootstrap_reps=0)
    with pytest.raises(InputError, match="'sat_overall'"):
        driver_importance(fixture_data.assign(sat_overall="good"), drivers=FIX, bootstrap_reps=0)
    with pytest.raises(ValueError, match="'courtesy'"):
        driver_importance(fixture_data, drivers=("attitude", "courtesy"))
    with pytest.raises(ValueError, match="source"):
        driver_importance(fixture_data, drivers=FIX, outcome="sat_speed")
    with pytest.raises(ValueError, match="conf_level"):
        driver_importance(fixture_data, drivers=FIX, conf_level=95)
    with pytest.raises(InputError, match="bootstrap_reps"):  # a size from the plan: InputError, exit 2
        driver_importance(fixture_data, drivers=FIX, bootstrap_reps=-1)


def test_n_dropped(fixture_data):
    d = fixture_data.copy()
    d.loc[:9, "handling_hours"] = np.nan
    base = driver_importance(fixture_data, drivers=FIX, bootstrap_reps=0)
    imp = driver_importance(d, drivers=FIX, bootstrap_reps=0)
    extra = int(fixture_data.loc[:9, ["sat_overall", "sat_speed", "sat_attitude", "sat_outcome"]]
                .notna().all(axis=1).sum())
    assert imp["n"].iloc[0] == base["n"].iloc[0] - extra
    assert imp["n_dropped"].iloc[0] == base["n_dropped"].iloc[0] + extra
    assert imp["n"].iloc[0] + imp["n_dropped"].iloc[0] == len(d)


def test_mcfadden_under_quasi_separation():
    """A sub-cause whose customers are all satisfied: the logit's log-likelihood converges to
    its supremum (a coefficient drifts, as in R's glm) and the importances stay finite."""
    d = synthetic(n=1500, n_stations=12, seed=5)
    d.loc[d["cause_l2"] == "staff_attitude", "satisfied"] = True
    imp = driver_importance(d, drivers=FIX, outcome="satisfied", bootstrap_reps=5, seed=1)
    assert imp[["importance", "conf_low", "conf_high"]].notna().all().all()
    assert imp["importance"].sum() == pytest.approx(imp["total_r2"].iloc[0], abs=EXACT_TOL)
    assert 0 < imp["total_r2"].iloc[0] < 1
    assert imp["bootstrap_reps"].iloc[0] == 5
