"""Monitoring (research.strategy.monitoring): p-charts, recurrence, repeat callers.

References:
- p-chart limits: base R 4.2.2 with exactly the formulas of ``qcc::qcc(type = "p")``
  (qcc 2.7/3.0 ``stats.p``, ``limits.p``/``limits.np``, ``beyond.limits``; qcc itself is
  not packaged for Debian), weeks by ``cut.Date(..., "week", start.on.monday = TRUE)``;
  ``tests/fixtures/r/monitoring/make_reference.R``, files ``pchart_data.csv`` and
  ``pchart_reference.csv``. Tolerance 1e-12.
- Poisson p-values: ``scipy.stats.poisson.sf`` / ``binom.sf`` and R 4.2.2 ``ppois`` /
  ``poisson.test(c(x, S), c(1, B), alternative = "greater")`` (``poisson_reference.csv``).
- CUSUM ARL: R ``surveillance`` 1.20.3 ``arlCusum(h, k, theta, distr = "poisson")``
  (``cusum_arl_reference.csv``).
- Default risk model: R 4.2.2 ``glm(binomial)`` (``risk_glm_reference.csv``).
- False alarms: in-control Poisson counts with constant means (numpy, seeded).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from research.errors import InputError
from research.strategy.monitoring import (
    cusum_arl,
    cusum_design,
    fit_dissatisfaction_model,
    p_chart,
    period_start,
    recurrence,
    repeat_callers,
)
from research.ingestion.pseudonymise import pseudonymise
from research.simulate import simulate

R_DIR = Path(__file__).parents[1] / "fixtures" / "r" / "monitoring"
KEY = b"unit-test-key-0123456789abcdef"
MONDAY = np.datetime64("2025-01-06T00:00", "us")  # a Monday
WEEK_US = 7 * 86_400 * 1_000_000


@pytest.fixture(scope="module")
def sim():
    """60,000 completed surveys (~105,000 work orders), customer ids pseudonymised (as ingest)."""
    s = simulate(60000, 7)
    wo = s.workorders.copy()
    resp = s.responses.copy()
    clear = set(wo["customer_id"].dropna())
    wo["customer_id"] = pseudonymise(wo["customer_id"], KEY)
    resp["customer_id"] = pseudonymise(resp["customer_id"], KEY)
    return wo, resp, clear


def _weekly_rows(x: np.ndarray, seed: int, start=MONDAY) -> pd.DataFrame:
    """Work orders from a (cells, weeks) count matrix: cell i is station S<i>, sub-cause 'c'."""
    rng = np.random.default_rng(seed)
    n_cells, n_weeks = x.shape
    cell = np.repeat(np.repeat(np.arange(n_cells), n_weeks), x.ravel())
    week = np.repeat(np.tile(np.arange(n_weeks), n_cells), x.ravel())
    offset = week.astype(np.int64) * WEEK_US + rng.integers(0, WEEK_US, len(week))
    names = np.array([f"S{i:04d}" for i in range(n_cells)], dtype=object)
    return pd.DataFrame({
        "station": pd.array(names[cell], dtype="string"),
        "cause_l2": pd.array(np.full(len(cell), "c", dtype=object), dtype="string"),
        "created_at": (start + offset.astype("timedelta64[us]")).astype("datetime64[us]"),
    })


# ---- periods --------------------------------------------------------------------------------

def test_period_start_iso_weeks_months_days():
    t = pd.Series(pd.to_datetime([
        "2025-03-02 23:59:59", "2025-03-03 00:00:00", "2025-03-09 23:59:00",
        "2024-12-31 12:00:00", "2025-01-01 00:00:00", "1969-12-31 10:00:00", None]))
    w = period_start(t, "W")
    assert list(pd.to_datetime(w[:6])) == [pd.Timestamp(d) for d in (
        "2025-02-24", "2025-03-03", "2025-03-03", "2024-12-30", "2024-12-30", "1969-12-29")]
    assert np.isnat(w[6]) and w.dtype == np.dtype("datetime64[us]")
    assert all(pd.Timestamp(v).day_of_week == 0 for v in w[:6])
    m = period_start(t, "M")
    assert pd.Timestamp(m[0]) == pd.Timestamp("2025-03-01")
    assert pd.Timestamp(m[3]) == pd.Timestamp("2024-12-01")
    d = period_start(t, "D")
    assert pd.Timestamp(d[0]) == pd.Timestamp("2025-03-02")
    with pytest.raises(InputError, match="unknown period"):
        period_start(t, "Q")
    # the names of the one period vocabulary (research.stats.periods) give the same starts
    for code, name in (("W", "week"), ("M", "month"), ("D", "day")):
        np.testing.assert_array_equal(period_start(t, name), period_start(t, code))


# ---- p-chart ------------------------------------------------------------------------------

def _answers(rows):
    """rows: (station, week index from MONDAY, n, dissatisfied) -> canonical-like responses."""
    recs = []
    for st, w, n, d in rows:
        for i in range(n):
            recs.append({"station": st,
                         "surveyed_at": pd.Timestamp(MONDAY)
                         + pd.Timedelta(days=7 * w, hours=1 + i % 150),
                         "satisfied": i >= d})
    out = pd.DataFrame(recs)
    out["station"] = out["station"].astype("string")
    out["satisfied"] = out["satisfied"].astype("boolean")
    out["surveyed_at"] = out["surveyed_at"].astype("datetime64[us]")
    return out


def test_p_chart_limits_by_hand():
    """Small table computed by hand: p0 = 20/70, limits p0 +/- 3 sqrt(p0 (1 - p0) / n_t)."""
    resp = _answers([("A", 0, 10, 2), ("A", 1, 20, 4), ("A", 2, 40, 14),
                     ("B", 0, 1, 1), ("B", 2, 4, 0)])
    # a week of B with only missing answers: the point is absent
    extra = pd.DataFrame({"station": pd.array(["B"] * 3, dtype="string"),
                          "surveyed_at": [pd.Timestamp(MONDAY) + pd.Timedelta(days=8)] * 3,
                          "satisfied": pd.array([pd.NA] * 3, dtype="boolean")})
    extra["surveyed_at"] = extra["surveyed_at"].astype("datetime64[us]")
    got = p_chart(pd.concat([resp, extra], ignore_index=True))
    assert list(got.columns) == ["station", "period_start", "n", "dissatisfied", "rate", "centre",
                                 "lcl", "ucl", "out_of_control", "signal", "low_n"]
    a = got[got["station"] == "A"].reset_index(drop=True)
    p0 = 20 / 70
    for i, n in enumerate((10, 20, 40)):
        half = 3 * math.sqrt(p0 * (1 - p0) / n)
        assert a.loc[i, "centre"] == pytest.approx(p0, abs=1e-15)
        assert a.loc[i, "lcl"] == pytest.approx(max(p0 - half, 0), abs=1e-15)
        assert a.loc[i, "ucl"] == pytest.approx(min(p0 + half, 1), abs=1e-15)
    # n = 10: 0.2857 - 3 * 0.1429 < 0 -> clipped at 0
    assert a.loc[0, "lcl"] == 0.0
    assert list(a["period_start"]) == [pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-13"),
                                       pd.Timestamp("2025-01-20")]
    b = got[got["station"] == "B"].reset_index(drop=True)
    assert list(b["n"]) == [1, 4]  # the all-missing week is absent
    # B: p0 = 1/5; n = 1: ucl = min(0.2 + 3*0.4, 1) = 1, rate 1 is not > 1
    assert b.loc[0, "ucl"] == 1.0 and b.loc[0, "rate"] == 1.0 and not b.loc[0, "out_of_control"]
    assert b["low_n"].all() and not a["low_n"].iloc[1:].any() and not a.loc[0, "low_n"]
    # overall centre and a given standard
    ov = p_chart(resp, centre="overall")
    assert ov["centre"].unique().tolist() == pytest.approx([21 / 75])
    std = p_chart(resp, centre=0.1)  # A: rates 0.2, 0.2, 0.35; ucl 0.385, 0.301, 0.242
    assert std.loc[std["station"] == "A", "signal"].tolist() == ["", "", "above"]
    per = p_chart(resp, centre={"A": 0.6, "B": 0.6})  # A, n = 20: lcl = 0.6 - 3 sqrt(.24/20) = .271
    assert per.loc[(per["station"] == "A") & (per["n"] == 20), "signal"].item() == "below"
    with pytest.raises(InputError, match="no centre"):
        p_chart(resp, centre={"A": 0.5})


@pytest.mark.parametrize("sigma", [3.0, 2.0])
@pytest.mark.parametrize("centre", ["group", "overall"])
def test_p_chart_matches_r_reference(sigma, centre):
    """Against base R 4.2.2 with qcc's p-chart formulas (make_reference.R section 1)."""
    data = pd.read_csv(R_DIR / "pchart_data.csv",
                       dtype={"station": "string", "satisfied": "string"})
    data["surveyed_at"] = pd.to_datetime(data["surveyed_at"]).astype("datetime64[us]")
    data["satisfied"] = data["satisfied"].map({"true": True, "false": False}).astype("boolean")
    ref = pd.read_csv(R_DIR / "pchart_reference.csv", dtype={"station": "string"})
    ref = ref[(ref["sigma"] == sigma) & (ref["centre_kind"] == centre)].reset_index(drop=True)
    got = p_chart(data, sigma=sigma, centre=centre)
    assert len(got) == len(ref)
    assert (got["station"].to_numpy() == ref["station"].to_numpy()).all()
    assert (got["period_start"] == pd.to_datetime(ref["period_start"])).all()
    assert (got["n"].to_numpy() == ref["n"].to_numpy()).all()
    assert (got["dissatisfied"].to_numpy() == ref["dissatisfied"].to_numpy()).all()
    for col in ("rate", "centre", "lcl", "ucl"):
        np.testing.assert_allclose(got[col].to_numpy(), ref[col].to_numpy(), rtol=1e-12, atol=1e-14)
    assert (got["out_of_control"].to_numpy() == ref["out_of_control"].to_numpy()).all()
    if sigma == 3.0 and centre == "group":  # the planted jump (S02, week of 2025-04-14) is caught
        flagged = got[got["out_of_control"]]
        hits = set(zip(flagged["station"], flagged["period_start"]))
        assert ("S02", pd.Timestamp("2025-04-14")) in hits


def test_p_chart_planted_station_week_numpy():
    """12 stations x 26 weeks at 20% dissatisfied; one station-week at 60%: flagged, and
    nothing else in the planted station; elsewhere at most the binomial false alarms."""
    rng = np.random.default_rng(11)
    rows = []
    for s in range(12):
        for w in range(26):
            n = int(rng.poisson(50))
            p = 0.6 if (s == 6 and w == 14) else 0.2
            rows.append((f"S{s:02d}", w, n, int(rng.binomial(n, p))))
    got = p_chart(_answers(rows))
    flagged = got[got["out_of_control"]]
    planted = ("S06", pd.Timestamp(MONDAY) + pd.Timedelta(weeks=14))
    hits = set(zip(flagged["station"], flagged["period_start"]))
    assert planted in hits
    mine = got.loc[(got["station"] == "S06") & got["out_of_control"], "period_start"]
    assert mine.tolist() == [planted[1]]
    assert flagged.set_index(["station", "period_start"]).loc[planted, "signal"] == "above"
    # other points: 3-sigma false alarms, expected ~0.3% of 311 points
    assert len(hits - {planted}) <= stats.binom.ppf(0.999, len(got) - 1, 0.005)


def test_p_chart_planted_in_simulation(sim):
    """Simulated responses: one station-week pushed to 60% dissatisfied is flagged 'above'."""
    _, resp, _ = sim
    resp = resp.copy()
    wk = period_start(resp["surveyed_at"])
    station = resp["station"].value_counts().index[0]
    target = np.datetime64("2025-09-15", "us")
    idx = np.flatnonzero((resp["station"] == station).to_numpy() & (wk == target)
                         & resp["satisfied"].notna().to_numpy())
    n_dis = int(round(0.6 * len(idx)))
    sat = resp["satisfied"].copy()
    sat.iloc[idx[:n_dis]] = False
    sat.iloc[idx[n_dis:]] = True
    resp["satisfied"] = sat
    got = p_chart(resp)
    row = got[(got["station"] == station) & (got["period_start"] == pd.Timestamp(target))].iloc[0]
    assert row["rate"] == pytest.approx(n_dis / len(idx)) and row["centre"] < 0.3
    assert row["out_of_control"] and row["signal"] == "above"
    others = got[(got["station"] == station) & (got["period_start"] != pd.Timestamp(target))]
    assert others["signal"].ne("above").mean() > 0.95


# ---- recurrence: known values ---------------------------------------------------------------

@pytest.mark.parametrize("b", [4, 8])
def test_poisson_p_values_against_scipy_and_r(b):
    """One cell per (x, S): plug-in p = scipy poisson.sf(x-1, S/B) = R 4.2.2 ppois(x-1, S/B, FALSE);
    conditional p = scipy binom.sf(x-1, x+S, 1/(B+1)) = R 4.2.2
    poisson.test(c(x, S), c(1, B), alternative = "greater")."""
    ref = pd.read_csv(R_DIR / "poisson_reference.csv")
    ref = ref[ref["B"] == b].reset_index(drop=True)
    x = np.zeros((len(ref), b + 1), dtype=np.int64)
    for i, (s, obs) in enumerate(zip(ref["S"], ref["x"])):
        x[i, :b] = s // b
        x[i, : s % b] += 1
        x[i, b] = obs
    x = np.column_stack([np.ones(len(ref), dtype=np.int64), x])  # every cell starts in week 0
    wo = _weekly_rows(x, seed=1)
    for test, col in (("plugin", "plugin"), ("conditional", "conditional")):
        got = recurrence(wo, baseline_periods=b, test=test)
        last = got[got["period_start"] == got["period_start"].max()].reset_index(drop=True)
        assert len(last) == len(ref)
        assert (last["count"].to_numpy() == ref["x"].to_numpy()).all()
        np.testing.assert_allclose(last["expected"], ref["S"] / b, rtol=1e-14)
        np.testing.assert_allclose(last["p_value"], ref[col], rtol=1e-9, atol=1e-300)
        if test == "plugin":
            want = np.where(ref["x"] == 0, 1.0, stats.poisson.sf(ref["x"] - 1, ref["S"] / b))
        else:
            sf = stats.binom.sf(ref["x"] - 1, ref["x"] + ref["S"], 1 / (b + 1))
            want = np.where(ref["x"] == 0, 1.0, sf)
        np.testing.assert_allclose(last["p_value"], want, rtol=1e-12)


def test_recurrence_grid_zero_weeks_and_output():
    """Zeros are filled for weeks without work orders; only full-baseline weeks are tested."""
    x = np.array([[3, 0, 2, 0, 1, 5, 0], [0, 0, 0, 0, 0, 0, 1]])
    wo = _weekly_rows(x, seed=2)
    got = recurrence(wo, baseline_periods=3)
    assert list(got.columns) == ["station", "cause_l2", "period_start", "count", "expected",
                                 "p_value", "flagged"]
    assert len(got) == 2 * 4
    a = got[got["station"] == "S0000"]
    assert a["count"].tolist() == [0, 1, 5, 0]
    np.testing.assert_allclose(a["expected"], [5 / 3, 2 / 3, 3 / 3, 6 / 3])
    assert got["period_start"].iloc[0] == pd.Timestamp(MONDAY) + pd.Timedelta(weeks=3)
    since = recurrence(wo, baseline_periods=3, since=pd.Timestamp(MONDAY) + pd.Timedelta(weeks=6))
    assert len(since) == 2 and since["period_start"].nunique() == 1
    # too short a history: nothing tested
    assert recurrence(wo, baseline_periods=7).empty
    cus = recurrence(wo, baseline_periods=3, method="cusum")
    assert list(cus.columns) == ["station", "cause_l2", "period_start", "count", "expected",
                                 "cusum", "k", "h", "flagged"]


def test_cusum_statistic_by_hand():
    """C_t = max(0, C_{t-1} + x_t - k_t), k_t = round(20 mu0 / ln 2) / 20, restart after signals."""
    x = np.array([[4, 4, 4, 4, 12, 9, 4, 4]])
    got = recurrence(_weekly_rows(x, seed=3), baseline_periods=4, method="cusum", alpha=0.01)
    c = 0.0
    for _, row in got.iterrows():
        assert row["k"] == pytest.approx(round(20 * row["expected"] / math.log(2)) / 20)
        k, h, _ = cusum_design(row["expected"] * 4, 4, 100.0)
        assert (row["k"], row["h"]) == pytest.approx((k, h))
        c = max(0.0, c + row["count"] - row["k"])
        assert row["cusum"] == pytest.approx(c)
        assert row["flagged"] == (c >= row["h"] - 1e-12)
        if row["flagged"]:
            c = 0.0


# ---- recurrence: planted signal -------------------------------------------------------------

@pytest.mark.parametrize("method", ["poisson", "cusum"])
def test_recurrence_flags_planted_cell(sim, method):
    """The busiest station x sub-cause cell has its count of one week tripled (two copies of
    each of its work orders that week): flagged that week by both methods."""
    wo, _, _ = sim
    wk = period_start(wo["created_at"])
    cells = wo.groupby(["station", "cause_l2"]).size()
    station, cause = cells.idxmax()
    target = np.datetime64("2025-10-13", "us")
    sel = ((wo["station"] == station).to_numpy() & (wo["cause_l2"] == cause).to_numpy()
           & (wk == target))
    base = int(sel.sum())
    assert base >= 8
    extra = pd.concat([wo[sel]] * 2, ignore_index=True)
    extra["ticket_id"] = [f"PLANT{i:05d}" for i in range(len(extra))]
    planted = pd.concat([wo, extra], ignore_index=True)
    got = recurrence(planted, method=method)
    row = got[(got["station"] == station) & (got["cause_l2"] == cause)
              & (got["period_start"] == pd.Timestamp(target))].iloc[0]
    assert row["count"] == 3 * base
    assert row["flagged"]
    before = recurrence(wo, method=method)
    same = before[(before["station"] == station) & (before["cause_l2"] == cause)
                  & (before["period_start"] == pd.Timestamp(target))].iloc[0]
    assert not same["flagged"]
    # flags elsewhere stay rare (seasonal outage swings are real changes, not false alarms)
    assert before["flagged"].mean() < 0.005


def test_recurrence_volume_scaling_removes_a_network_wide_swing():
    """Every cell doubles in the last week: scale='none' flags many cells, 'volume' almost none,
    while a cell that quadruples alone is still flagged with 'volume'."""
    rng = np.random.default_rng(5)
    mu = rng.uniform(5, 15, 80)
    x = rng.poisson(mu[:, None], size=(80, 13))
    x[:, 12] = rng.poisson(2 * mu)
    x[0, 12] = int(8 * mu[0])
    wo = _weekly_rows(x, seed=6)
    last = pd.Timestamp(MONDAY) + pd.Timedelta(weeks=12)
    none = recurrence(wo, since=last)
    vol = recurrence(wo, since=last, scale="volume")
    assert none["flagged"].sum() > 20
    assert vol["flagged"].sum() <= 3 and vol.loc[vol["station"] == "S0000", "flagged"].item()
    with pytest.raises(ValueError):
        recurrence(wo, scale="volume", method="cusum")


# ---- recurrence: false alarms on in-control data --------------------------------------------

ALPHA = 0.005


@pytest.fixture(scope="module")
def in_control():
    """400 cells with constant Poisson means from 0.2 to 30 per week, 160 weeks."""
    rng = np.random.default_rng(2026)
    mu = np.exp(rng.uniform(np.log(0.2), np.log(30), 400))
    x = rng.poisson(mu[:, None], size=(400, 160))
    return _weekly_rows(x, seed=7), mu


def _binom_bound(n, p, q=0.999):
    return stats.binom.ppf(q, n, p) / n


@pytest.mark.parametrize("alpha", [ALPHA, 0.001])
def test_poisson_false_alarm_rate_at_most_alpha(in_control, alpha):
    """Conditional test: flags / tested cell-weeks <= alpha (plus the 99.9% binomial margin);
    the same holds with volume scaling (no volume change in the data). The plug-in formula's
    rate is documented to exceed alpha (noisy baseline; rare cells)."""
    wo, _ = in_control
    got = recurrence(wo, alpha=alpha)
    n = len(got)
    assert n == 400 * (160 - 8)
    assert got["flagged"].mean() <= _binom_bound(n, alpha)
    vol = recurrence(wo, alpha=alpha, scale="volume")
    assert vol["flagged"].mean() <= _binom_bound(n, alpha)
    plug = recurrence(wo, alpha=alpha, test="plugin")
    assert plug["flagged"].mean() > _binom_bound(n, alpha)


def test_exact_size_of_the_tests():
    """Exact false-alarm probability for constant mean mu (sum over the baseline total):
    conditional <= alpha for every mu; plug-in ~1.5 alpha at mu >= 2 (B = 8, alpha = 0.001)."""
    b, alpha = 8, 0.001
    for mu in (0.3, 1.0, 2.0, 5.0, 20.0):
        s = np.arange(0, int(b * mu + 15 * math.sqrt(b * mu) + 40))
        ws = stats.poisson.pmf(s, b * mu)
        x = np.arange(0, int(mu + 15 * math.sqrt(mu) + 40))
        wx = stats.poisson.pmf(x, mu)
        xx, ss = np.meshgrid(x, s)
        cond = np.where(xx == 0, 1.0, stats.binom.sf(xx - 1, xx + ss, 1 / (b + 1)))
        plug = np.where(xx == 0, 1.0, stats.poisson.sf(xx - 1, ss / b))
        size_c = float((ws[:, None] * wx[None, :] * (cond < alpha)).sum())
        size_p = float((ws[:, None] * wx[None, :] * (plug < alpha)).sum())
        assert size_c <= alpha
        if mu >= 2:
            assert 1.3 * alpha < size_p < 1.8 * alpha


@pytest.mark.parametrize("mu,b", [(2.0, 8), (5.0, 8), (10.0, 8), (20.0, 8), (1.0, 26), (5.0, 26)])
def test_cusum_in_control_arl_near_target(mu, b):
    """Target ARL0 = 1/alpha = 200 weeks. Renewal estimate (tested cell-weeks / signals, the
    chart restarting after each signal) on 100 cells x 1200 weeks: within [0.85, 1.35] x target
    (stated tolerance; the chart is designed for ARL >= target and its lattice makes it a
    little longer), and the flag rate <= alpha plus the 99.9% binomial margin."""
    rng = np.random.default_rng(int(mu * 100) + b)
    x = rng.poisson(mu, size=(100, 1200))
    got = recurrence(_weekly_rows(x, seed=b), method="cusum", alpha=ALPHA, baseline_periods=b)
    n, signals = len(got), int(got["flagged"].sum())
    arl = n / signals
    assert 0.85 * 200 <= arl <= 1.35 * 200, arl
    assert signals / n <= _binom_bound(n, ALPHA)


def test_cusum_false_alarm_rate_mixed_means(in_control):
    """Same in-control data as the Poisson check, default target 1/alpha: flag rate <= alpha
    plus the binomial margin (rare cells give fewer alarms: conservative)."""
    wo, _ = in_control
    got = recurrence(wo, method="cusum", alpha=ALPHA)
    assert got["flagged"].mean() <= _binom_bound(len(got), ALPHA)


# ---- CUSUM design ---------------------------------------------------------------------------

def test_cusum_arl_matches_r_surveillance():
    """Brook-Evans ARL of the Poisson CUSUM against R surveillance 1.20.3 arlCusum."""
    ref = pd.read_csv(R_DIR / "cusum_arl_reference.csv")
    for theta, k, h, arl in ref.itertuples(index=False):
        assert cusum_arl(k, h, mean=theta) == pytest.approx(arl, rel=1e-9)


def test_cusum_arl_negative_binomial_by_simulation():
    """The chain with negative-binomial counts against a direct simulation of run lengths."""
    k, h, mean, size = 6.0, 3.0, 4.0, 10.0
    want = cusum_arl(k, h, mean=mean, size=size)
    rng = np.random.default_rng(3)
    reps = 4000
    c = np.zeros(reps)
    run = np.zeros(reps, dtype=np.int64)
    alive = np.ones(reps, dtype=bool)
    t = 0
    while alive.any() and t < 100_000:
        t += 1
        xs = rng.negative_binomial(size, size / (size + mean), reps)
        c = np.where(alive, np.maximum(0.0, c + xs - k), c)
        hit = alive & (c >= h)
        run[hit] = t
        alive &= ~hit
    se = run.std() / math.sqrt(reps)
    assert abs(run.mean() - want) < 4 * se


def test_cusum_design_is_the_smallest_h_reaching_the_target():
    for s, b in ((0, 8), (3, 8), (40, 8), (160, 8), (400, 8), (26, 26)):
        k, h, arl = cusum_design(s, b, 1000.0)
        mu0 = max(s, 0.5) / b
        assert k == pytest.approx(round(20 * mu0 / math.log(2)) / 20)
        assert arl >= 1000.0
        assert cusum_arl(k, h, mean=mu0, size=max(s, 0.5)) == pytest.approx(arl)
        if h > 0.05:
            assert cusum_arl(k, h - 0.05, mean=mu0, size=max(s, 0.5)) < 1000.0


# ---- repeat callers -------------------------------------------------------------------------

def _plant_customer(wo: pd.DataFrame, days, causes, stations, pseudonym="Cplanted0000000000001"):
    t0 = pd.Timestamp("2025-05-05 09:00")
    rows = pd.DataFrame({
        "ticket_id": [f"PL{i:04d}" for i in range(len(days))],
        "customer_id": pseudonym,
        "station": stations,
        "cause_l2": causes,
        "created_at": [t0 + pd.Timedelta(days=d) for d in days],
        "handling_hours": [10.0] * len(days),
    })
    rows = rows.astype({c: wo[c].dtype for c in rows.columns})
    return pd.concat([wo, rows], ignore_index=True)


def test_repeat_callers_planted_customer(sim):
    wo, resp, _ = sim
    planted = _plant_customer(wo, days=[0, 10, 25, 90, 200, 230, 260],
                              causes=["slow_repair", "fault_outage", "slow_repair", "meter_quality",
                                      "fault_outage", "fault_outage", "no_follow_up"],
                              stations=["X站", "Y站", "X站", "X站", "Y站", "Y站", "Z站"])
    got = repeat_callers(planted, resp)
    mine = got[got["customer_id"] == "Cplanted0000000000001"].sort_values("first_created")
    # days 0, 10, 25 -> one episode of 3; day 90 alone -> not listed;
    # days 200, 230 (exactly 30 days apart: included), 260 -> a chain of 3 spanning 60 days
    assert mine["n_tickets"].tolist() == [3, 3]
    assert mine["episode"].tolist() == [1, 2]
    assert mine["causes"].tolist() == ["slow_repair|fault_outage|slow_repair",
                                       "fault_outage|fault_outage|no_follow_up"]
    assert mine["stations"].tolist() == ["X站|Y站", "Y站|Z站"]
    assert mine["span_days"].tolist() == [25.0, 60.0]
    assert mine["last_ticket_id"].tolist() == ["PL0002", "PL0006"]
    assert mine["n_surveyed"].tolist() == [0, 0] and mine["last_satisfied"].isna().all()
    assert mine["risk"].notna().all()
    # 29.99 days with window 30 joins; 30.01 days does not
    p2 = _plant_customer(wo.iloc[:0], days=[0, 30.01], causes=["a", "b"], stations=["X", "X"])
    assert repeat_callers(p2).empty
    p3 = _plant_customer(wo.iloc[:0], days=[0, 29.99], causes=["a", "b"], stations=["X", "X"])
    assert repeat_callers(p3)["n_tickets"].tolist() == [2]


def _times_by_customer(wo: pd.DataFrame) -> list[tuple[str, list]]:
    """Each customer's ticket creation times (customers without an id left out, as groupby does)."""
    by: dict[str, list] = {}
    for cust, t in zip(wo["customer_id"].tolist(), wo["created_at"].tolist()):
        if cust is not pd.NA and cust is not None:
            by.setdefault(cust, []).append(t)
    return list(by.items())


def test_repeat_callers_counts_match_brute_force(sim):
    """Episode sizes against a plain Python pass over every customer."""
    wo, _, _ = sim
    got = repeat_callers(wo)
    want = []
    # the same plain pass, over Python lists of (customer, time) instead of one pandas group per
    # customer (~100,000 work orders: grouping them one by one took most of this test's time);
    # the times are the same datetime64 values, compared with the same 30-day rule
    window = pd.Timedelta(days=30)
    for cust, times in _times_by_customer(wo):
        times = sorted(times)
        run = 1
        for a, b in zip(times[:-1], times[1:]):
            if (b - a) <= window:
                run += 1
            else:
                if run >= 2:
                    want.append((cust, run))
                run = 1
        if run >= 2:
            want.append((cust, run))
    assert sorted(zip(got["customer_id"], got["n_tickets"])) == sorted(want)
    assert got["risk"].isna().all()  # no responses, no risk given


def test_repeat_callers_outcomes_and_risk_options():
    wo = pd.DataFrame({
        "ticket_id": pd.array(["T1", "T2", "T3", "T4", "T5"], dtype="string"),
        "customer_id": pd.array(["Ca", "Ca", "Ca", "Cb", "Cb"], dtype="string"),
        "station": pd.array(["X", "X", "Y", "X", "X"], dtype="string"),
        "cause_l2": pd.array(["p", "q", "p", "q", "q"], dtype="string"),
        "created_at": pd.to_datetime(["2025-01-01", "2025-01-05", "2025-01-20", "2025-02-01",
                                      "2025-02-03"]).astype("datetime64[us]"),
        "handling_hours": [5.0, 50.0, 500.0, 1.0, np.nan],
    })
    resp = pd.DataFrame({
        "ticket_id": pd.array(["T1", "T2", "T4"], dtype="string"),
        "satisfied": pd.array([True, False, True], dtype="boolean"),
        "sat_overall": pd.array([5, 2, 4], dtype="Int64"),
        "resolved": pd.array(["yes", "no", pd.NA], dtype="string"),
    })
    got = repeat_callers(wo, resp, risk=pd.Series({"T3": 0.2, "T5": 0.9}))
    assert got["customer_id"].tolist() == ["Cb", "Ca"]  # by risk
    a = got.set_index("customer_id").loc["Ca"]
    assert a["n_surveyed"] == 2 and a["resolved_share"] == pytest.approx(0.5)
    assert pd.notna(a["last_satisfied"]) and not a["last_satisfied"]
    assert a["last_sat_overall"] == 2  # T2: the latest surveyed ticket of the episode
    b = got.set_index("customer_id").loc["Cb"]
    assert b["n_surveyed"] == 1 and pd.isna(b["resolved_share"])
    assert bool(b["last_satisfied"])
    seen = {}

    def scorer(latest):
        seen["ids"] = latest["ticket_id"].tolist()
        return np.where(latest["cause_l2"] == "p", 0.7, 0.1)

    got2 = repeat_callers(wo, resp, risk=scorer)
    assert sorted(seen["ids"]) == ["T3", "T5"]
    assert got2["risk"].tolist() == pytest.approx([0.7, 0.1])
    with pytest.raises(ValueError):
        repeat_callers(wo, risk=lambda latest: np.full(len(latest), 1.5))


def test_default_risk_model_matches_r_glm():
    """fit_dissatisfaction_model on risk_data.csv against R 4.2.2 glm(binomial) coefficients."""
    data = pd.read_csv(R_DIR / "risk_data.csv",
                       dtype={"cause_l2": "string", "repeat_flag": "string", "satisfied": "string"})
    resp = pd.DataFrame({
        "cause_l2": data["cause_l2"],
        "handling_hours": data["handling_hours"].astype(float),
        "repeat": data["repeat_flag"].map({"true": True, "false": False}).astype("boolean"),
        "satisfied": data["satisfied"].map({"true": True, "false": False}).astype("boolean"),
    })
    ref = pd.read_csv(R_DIR / "risk_glm_reference.csv").set_index("term")["estimate"]
    model = fit_dissatisfaction_model(resp)
    assert model.nobs == int(resp["satisfied"].notna().sum())
    assert set(model.coef.index) == set(ref.index)
    np.testing.assert_allclose(model.coef[ref.index].to_numpy(), ref.to_numpy(),
                               rtol=1e-7, atol=1e-9)
    p = model.predict(["slow_repair", "unknown", "fault_outage"], [10.0, 10.0, np.nan], True)
    eta = (ref["(Intercept)"] + ref["cause_l2[slow_repair]"]
           + ref["log2(1 + handling_hours)"] * math.log2(11) + ref["repeat"])
    assert p[0] == pytest.approx(1 / (1 + math.exp(-eta)), rel=1e-6)
    assert np.isnan(p[1]) and np.isnan(p[2])


def test_repeat_callers_default_risk_is_the_model_on_the_latest_ticket(sim):
    wo, resp, _ = sim
    got = repeat_callers(wo, resp)
    model = fit_dissatisfaction_model(resp)
    latest = wo.set_index("ticket_id").loc[got["last_ticket_id"]]
    want = model.predict(latest["cause_l2"], latest["handling_hours"], True)
    np.testing.assert_allclose(got["risk"].to_numpy(dtype=float), want, rtol=1e-12)
    r = got["risk"].to_numpy(dtype=float)
    assert (np.diff(r) <= 1e-15).all()  # highest risk first


PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
PHONE_ANYWHERE = re.compile(r"1[3-9]\d{9}")
IDCARD = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def test_repeat_callers_output_holds_no_personal_numbers(sim):
    """No value looks like a mobile number (1[3-9] + 9 digits) or an 18-character ID-card
    number in any text column (the others are numbers, dates or booleans), no clear customer
    id appears, and customer_id is the pseudonym as given. (Pseudonyms are 20 hex digits;
    a run of digits inside one is not a phone number, so the phone pattern is anchored at
    non-alphanumerics there; the other columns are checked with the bare pattern too.)"""
    wo, resp, clear = sim
    got = repeat_callers(wo, resp)
    assert len(got) > 1000
    assert set(got["customer_id"]) <= set(wo["customer_id"])
    assert got["customer_id"].str.fullmatch(r"C[0-9a-f]{20}").all()
    text_cols = [c for c in got.columns
                 if got[c].dtype == object or isinstance(got[c].dtype, pd.StringDtype)]
    assert set(text_cols) == {"customer_id", "causes", "stations", "last_ticket_id"}
    for col in got.columns.difference(text_cols):
        assert pd.api.types.is_numeric_dtype(got[col]) or pd.api.types.is_bool_dtype(got[col]) \
            or pd.api.types.is_datetime64_dtype(got[col]), col
    for col in text_cols:
        text = got[col].astype("string").fillna("")
        assert not text.str.contains(PHONE).any(), col
        assert not text.str.contains(IDCARD).any(), col
        if col not in ("customer_id", "last_ticket_id"):
            assert not text.str.contains(PHONE_ANYWHERE).any(), col
        assert not text.isin(clear).any(), col


# ---- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("func,frame_kind,column", [
    (p_chart, "responses", "satisfied"),
    (p_chart, "responses", "surveyed_at"),
    (p_chart, "responses", "station"),
    (recurrence, "workorders", "cause_l2"),
    (recurrence, "workorders", "created_at"),
    (repeat_callers, "workorders", "customer_id"),
    (repeat_callers, "workorders", "ticket_id"),
])
def test_missing_column_is_an_input_error_naming_it(sim, func, frame_kind, column):
    wo, resp, _ = sim
    frame = (resp if frame_kind == "responses" else wo).head(50).drop(columns=column)
    with pytest.raises(InputError, match=repr(column)):
        func(frame)


def test_bad_input_types(sim):
    wo, resp, _ = sim
    bad = resp.head(20).assign(surveyed_at=resp["surveyed_at"].head(20).astype("string"))
    with pytest.raises(InputError, match="'surveyed_at' must hold datetimes"):
        p_chart(bad)
    with pytest.raises(InputError, match="'repeat'"):
        repeat_callers(wo.head(50), resp.head(50).drop(columns="repeat"))
    with pytest.raises(InputError, match="'resolved'"):
        repeat_callers(wo.head(50), resp.head(50).drop(columns="resolved"))
    with pytest.raises(ValueError):
        recurrence(wo, method="ewma")


def test_expected_false_signals_exact_and_matches_a_null_simulation():
    """Stations in control at a given standard: observed signals match the exact expectation
    (sum of binomial tail probabilities, scipy.stats.binom = R pbinom) within Monte Carlo error."""
    from scipy import stats as st

    from research.strategy.monitoring import expected_false_signals, p_chart

    rng = np.random.default_rng(7)
    weeks = pd.date_range("2025-01-06", periods=150, freq="7D")
    # station s has 5 + 3 s answers a week (5 .. 92), D of them dissatisfied, D ~ Binomial(n, 0.2);
    # one row per answer, built with arrays (the frame a loop over stations, weeks and answers built,
    # draws in the same order, without its 2.7 s)
    n = np.repeat(5 + 3 * np.arange(30), len(weeks))  # per (station, week), station by station
    d = rng.binomial(n, 0.2)
    cell = np.repeat(np.arange(len(n)), n)
    i = np.arange(len(cell)) - np.repeat(np.cumsum(n) - n, n)  # the answer's number within its week
    resp = pd.DataFrame({"station": np.array([f"S{s:02d}" for s in range(30)])[cell // len(weeks)],
                         "surveyed_at": (weeks + pd.Timedelta(hours=9))[cell % len(weeks)],
                         "dissatisfied": i < d[cell]})
    resp["satisfied"] = (~resp["dissatisfied"]).astype("boolean")
    chart = p_chart(resp, centre=0.2)
    e = expected_false_signals(chart)
    assert len(e) == 150 and (e["stations"] == 30).all()
    first = chart[chart["period_start"] == chart["period_start"].iloc[0]]
    # by hand: above when D > n ucl, below when D < n lcl (lcl > 0 from n = 37 answers at 0.2)
    hand = sum(st.binom.sf(np.floor(r.n * r.ucl), r.n, 0.2)
               + (st.binom.cdf(np.ceil(r.n * r.lcl) - 1, r.n, 0.2) if r.lcl > 0 else 0.0)
               for r in first.itertuples())
    assert e["expected_false"].iloc[0] == pytest.approx(hand, rel=1e-12)
    total, seen = e["expected_false"].sum(), e["signals"].sum()
    assert abs(seen - total) < 4 * np.sqrt(total)
