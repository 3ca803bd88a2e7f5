"""Tests of the synthetic data generator (research.simulate)."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest

from research import paths
from research.ingestion import schema
from research.config.instrument import load_instrument
from research.simulate import (FAULT_REASONS, SURVEY_HEADERS, WORKORDER_HEADERS, SimParams, simulate,
                               write_simulation)

SAMPLE_CALL = dict(n=20000, seed=20260301, faults=0.005)
EXPECTED_SURVEY_HEADERS = [
    "工单编号", "客户编号", "联系电话", "地市", "供电所", "受理渠道", "诉求大类", "诉求子类",
    "受理时间", "办结时间", "回访时间", "重复来电次数", "是否解决", "总体满意度",
    "处理速度满意度", "服务态度满意度", "处理结果满意度", "客户意见",
]
EXPECTED_WORKORDER_HEADERS = [
    "工单编号", "客户编号", "联系电话", "地市", "供电所", "受理渠道", "诉求大类", "诉求子类",
    "受理时间", "办结时间", "回访状态",
]
SAT_HEADERS = ["总体满意度", "处理速度满意度", "服务态度满意度", "处理结果满意度"]
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:00$")
SLASH_RE = re.compile(r"^\d{4}/[1-9]\d?/[1-9]\d? [12]?\d:\d{2}$")


@pytest.fixture(scope="module")
def ins():
    return load_instrument()


@pytest.fixture(scope="module")
def sim():
    return simulate(**SAMPLE_CALL)


@pytest.fixture(scope="module")
def small():
    return simulate(3000, 11, faults=0.02)


def parse_times(s: pd.Series) -> pd.Series:
    """Parse the two export date styles (strict: anything else raises)."""
    slash = s.str.contains("/", regex=False)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    out[~slash] = pd.to_datetime(s[~slash], format="%Y-%m-%d %H:%M:%S").astype("datetime64[us]")
    out[slash] = pd.to_datetime(s[slash], format="%Y/%m/%d %H:%M").astype("datetime64[us]")
    return out


def planted_rows(sim) -> set[int]:
    return {f["source_row"] for f in sim.truth["planted_faults"]}


def clean_export(sim) -> pd.DataFrame:
    """Survey export rows ingest accepts (the rows named by responses.source_row)."""
    return sim.survey_export.iloc[sim.responses["source_row"].to_numpy() - 1]


# ---------------------------------------------------------------------------
# determinism and shape
# ---------------------------------------------------------------------------


def test_same_seed_gives_identical_exports_and_files(tmp_path, small):
    again = simulate(3000, 11, faults=0.02)
    pd.testing.assert_frame_equal(small.survey_export, again.survey_export)
    pd.testing.assert_frame_equal(small.workorders_export, again.workorders_export)
    pd.testing.assert_frame_equal(small.responses, again.responses)
    assert small.truth == again.truth
    a = write_simulation(small, tmp_path / "a")
    b = write_simulation(again, tmp_path / "b")
    for key in ("survey", "workorders", "truth"):
        assert a[key].read_bytes() == b[key].read_bytes(), key


def test_different_seed_gives_different_data(small):
    other = simulate(3000, 12, faults=0.02)
    assert not small.survey_export.equals(other.survey_export)
    assert small.truth["population"]["satisfied_rate"] != other.truth["population"]["satisfied_rate"]


def test_headers_exactly(sim):
    assert list(sim.survey_export.columns) == EXPECTED_SURVEY_HEADERS == list(SURVEY_HEADERS)
    assert list(sim.workorders_export.columns) == EXPECTED_WORKORDER_HEADERS == list(WORKORDER_HEADERS)


def test_export_values_are_strings_without_missing(sim):
    for frame in (sim.survey_export, sim.workorders_export):
        for col in frame.columns:
            assert pd.api.types.is_string_dtype(frame[col]), col
            assert not frame[col].isna().any(), col


def test_n_is_the_number_of_completed_surveys(sim, ins):
    n = SAMPLE_CALL["n"]
    counts = sim.truth["counts"]
    assert counts["completed"] == n
    done = ins.label_sets["survey_status"].zh()["completed"]
    assert (sim.workorders_export["回访状态"] == done).sum() == n
    assert len(sim.survey_export) == n + counts["appended_copies"] + counts["no_workorder_rows"]
    assert counts["survey_rows"] == len(sim.survey_export)
    # the population ends at the ticket of the n-th completed survey
    assert sim.workorders_export["回访状态"].iloc[-1] == done


def test_labels_are_known_zh_labels(sim, ins):
    ex = clean_export(sim)
    wo = sim.workorders_export
    for header, name in (("受理渠道", "channel"), ("诉求大类", "cause_l1"), ("诉求子类", "cause_l2"),
                         ("是否解决", "resolved")):
        known = set(ins.label_sets[name].zh().values())
        assert set(ex[header]) <= known, header
        if header in wo.columns:
            assert set(wo[header]) <= known, header
    assert set(wo["回访状态"]) == set(ins.label_sets["survey_status"].zh().values())
    scale = ins.scales["sat5"]
    answers = {lab.zh for lab in scale.levels} | {lab.zh for lab in scale.missing}
    for header in SAT_HEADERS:
        assert set(ex[header]) <= answers, header
        assert {lab.zh for lab in scale.levels} <= set(ex[header]), header  # every level occurs
    # the sub-cause belongs to the cause group in every clean row
    zh1 = {v: k for k, v in ins.label_sets["cause_l1"].zh().items()}
    zh2 = {v: k for k, v in ins.label_sets["cause_l2"].zh().items()}
    assert (ex["诉求子类"].map(zh2).map(ins.parent) == ex["诉求大类"].map(zh1)).all()
    assert ex["供电所"].str.endswith("供电所").all()
    assert 5 <= ex["地市"].nunique() <= 8


def test_identifier_formats(sim):
    wo = sim.workorders_export
    assert wo["工单编号"].is_unique
    assert wo["工单编号"].str.fullmatch(r"GD20(25|26)\d{4}\d{5}").all()
    assert wo["客户编号"].str.fullmatch(r"\d{10}").all()
    assert wo["联系电话"].str.fullmatch(r"1[3-9]\d{9}").all()
    ex = sim.survey_export
    assert ex["重复来电次数"].iloc[sim.responses["source_row"] - 1].str.fullmatch(r"\d+").all()


def test_date_styles(sim):
    ex = clean_export(sim)
    for col in ("受理时间", "办结时间", "回访时间"):
        iso = ex[col].str.match(ISO_RE)
        slash = ex[col].str.match(SLASH_RE)
        assert (iso | slash).all(), col
        assert 0.4 < iso.mean() < 0.6, col
    # one style per row
    assert (ex["受理时间"].str.contains("/") == ex["回访时间"].str.contains("/")).all()


def test_repeat_customers_exist(sim):
    wo = sim.workorders
    assert wo["customer_id"].duplicated().any()
    again = wo.sort_values(["customer_id", "created_at"])
    gap = again.groupby("customer_id")["created_at"].diff()
    assert (gap <= pd.Timedelta(days=30)).sum() > 50


# ---------------------------------------------------------------------------
# canonical frames
# ---------------------------------------------------------------------------


def test_canonical_frames_conform_to_schema(sim):
    for frame, kind in ((sim.responses, "survey"), (sim.workorders, "workorders")):
        wanted = schema.SCHEMAS[kind]
        assert list(frame.columns) == list(wanted)
        for col, dtype in wanted.items():
            assert frame[col].dtype == pd.Series([], dtype=dtype).dtype, (kind, col, frame[col].dtype)
    assert set(sim.responses["channel"]) <= {"hotline", "app", "wechat", "counter"}
    assert set(sim.responses["resolved"]) <= {"yes", "partly", "no"}
    assert set(sim.workorders["survey_status"]) == {"completed", "no_answer", "refused"}
    assert sim.workorders["source_row"].tolist() == list(range(1, len(sim.workorders) + 1))


def test_time_order_and_range_in_clean_rows(sim):
    r, w = sim.responses, sim.workorders
    assert (r["created_at"] < r["resolved_at"]).all()
    assert (r["resolved_at"] < r["surveyed_at"]).all()
    assert (w["created_at"] < w["resolved_at"]).all()
    lo, hi = pd.Timestamp("2025-01-01"), pd.Timestamp("2026-09-30 23:59")
    for col in ("created_at", "resolved_at", "surveyed_at"):
        assert r[col].between(lo, hi).all(), col
    assert w["created_at"].max() <= pd.Timestamp("2026-06-30 23:59")
    assert w["created_at"].is_monotonic_increasing
    assert (w["created_at"] == w["created_at"].dt.floor("min")).all()
    hours = (w["resolved_at"] - w["created_at"]) / pd.Timedelta(hours=1)
    np.testing.assert_allclose(w["handling_hours"], hours)
    assert w["handling_hours"].between(0.25, 24 * 60).all()
    delay = (r["surveyed_at"] - r["resolved_at"]) / pd.Timedelta(hours=1)
    assert delay.between(2, 96).all()


def test_responses_reproduce_the_export(sim, ins):
    """A minimal independent parse of the accepted export rows gives the canonical values."""
    r = sim.responses
    ex = clean_export(sim).reset_index(drop=True)
    assert (ex["工单编号"] == r["ticket_id"]).all()
    assert (ex["客户编号"] == r["customer_id"]).all()
    assert (ex["地市"] == r["region"]).all()
    assert (ex["供电所"] == r["station"]).all()
    assert (ex["受理渠道"].map({v: k for k, v in ins.label_sets["channel"].zh().items()}) == r["channel"]).all()
    assert (ex["诉求子类"].map({v: k for k, v in ins.label_sets["cause_l2"].zh().items()}) == r["cause_l2"]).all()
    assert (ex["是否解决"].map({v: k for k, v in ins.label_sets["resolved"].zh().items()}) == r["resolved"]).all()
    for col, canon in (("受理时间", "created_at"), ("办结时间", "resolved_at"), ("回访时间", "surveyed_at")):
        assert (parse_times(ex[col]) == r[canon]).all(), col
    assert (ex["重复来电次数"].astype(int) == r["repeat_calls"]).all()
    codes = {lab.zh: int(lab.code) for lab in ins.scales["sat5"].levels}
    for header, item in zip(SAT_HEADERS, ("sat_overall", "sat_speed", "sat_attitude", "sat_outcome")):
        parsed = pd.array(ex[header].map(codes).to_numpy(), dtype="Int64")
        assert parsed.isna().sum() == r[item].isna().sum() > 0
        pd.testing.assert_extension_array_equal(parsed, r[item].array, check_dtype=False)
    assert (r["satisfied"] == (r["sat_overall"] >= 4)).fillna(True).all()
    assert r["satisfied"].isna().equals(r["sat_overall"].isna())
    assert (r["repeat"] == (r["repeat_calls"] > 0)).all()
    assert (r["sla_met"] == (r["resolved_at"] <= r["sla_deadline"])).all()


def test_comments_masked_in_canonical_frame(sim):
    r = sim.responses
    raw = clean_export(sim)["客户意见"].reset_index(drop=True)
    assert 0.6 < (raw == "").mean() < 0.8
    assert r["comment"].isna().equals(raw == "")
    phone = raw.str.contains(r"(?<!\d)1[3-9]\d{9}(?!\d)")
    idcard = raw.str.contains(r"(?<!\d)\d{17}[\dX](?!\d)")
    assert 0.02 < phone.mean() < 0.04
    assert 0.005 < idcard.mean() < 0.02
    assert r["comment"][phone].str.contains("[PHONE]", regex=False).all()
    assert r["comment"][idcard].str.contains("[IDCARD]", regex=False).all()
    assert not r["comment"].str.contains(r"\d", na=False).any()
    # the masked comment is the raw one with the numbers replaced
    remask = (raw.str.replace(r"\d{17}[\dX]", "[IDCARD]", regex=True)
              .str.replace(r"1[3-9]\d{9}", "[PHONE]", regex=True))
    assert (remask[raw != ""] == r["comment"][raw != ""]).all()


def test_id_card_check_digits(sim):
    raw = sim.survey_export["客户意见"].str.extract(r"(\d{17}[\dX])")[0].dropna()
    assert len(raw) > 50
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    for num in raw:
        check = "10X98765432"[sum(int(d) * w for d, w in zip(num[:17], weights)) % 11]
        assert num[17] == check, num


# ---------------------------------------------------------------------------
# planted faults
# ---------------------------------------------------------------------------


def test_planted_faults_are_where_truth_says(sim, ins):
    ex = sim.survey_export
    faults = sim.truth["planted_faults"]
    per = sim.truth["counts"]["faults_by_reason"]
    assert set(per) == set(FAULT_REASONS) and sum(per.values()) == 100
    assert all(v == 10 for v in per.values())
    zh1 = {v: k for k, v in ins.label_sets["cause_l1"].zh().items()}
    zh2 = {v: k for k, v in ins.label_sets["cause_l2"].zh().items()}
    wo_ids = set(sim.workorders_export["工单编号"])
    seen = {r: 0 for r in FAULT_REASONS}
    for f in faults:
        row = ex.iloc[f["source_row"] - 1]
        assert row["工单编号"] == f["ticket_id"]
        reason = f["reason"]
        seen[reason] += 1
        if reason == "missing_required":
            assert row["供电所"] == ""
        elif reason == "unknown_label":
            assert row["受理渠道"] == "传真"
        elif reason == "cause_mismatch":
            assert ins.parent[zh2[row["诉求子类"]]] != zh1[row["诉求大类"]]
        elif reason == "time_order":
            times = parse_times(pd.Series([row["受理时间"], row["办结时间"]]))
            assert times[1] < times[0]
        elif reason == "invalid_answer":
            assert row["总体满意度"] in ("6", "很好")
        elif reason == "invalid_datetime":
            assert row["受理时间"] == "2025-13-45 10:00:00"
        elif reason == "invalid_count":
            assert row["重复来电次数"] in ("-1", "两次")
        elif reason == "duplicate":
            earlier = ex.iloc[: f["source_row"] - 1]
            same = earlier[earlier["工单编号"] == row["工单编号"]]
            assert len(same) == 1 and (same.iloc[0] == row).all()
        elif reason == "conflicting_duplicate":
            same = ex[ex["工单编号"] == row["工单编号"]]
            assert len(same) == 2 and same["总体满意度"].nunique() == 2
            assert (same.drop(columns="总体满意度").nunique() == 1).all()
        elif reason == "no_workorder":
            assert row["工单编号"] not in wo_ids
    assert seen == {r: (20 if r == "conflicting_duplicate" else 10) for r in FAULT_REASONS}
    rows = [f["source_row"] for f in faults]
    assert len(rows) == len(set(rows))  # distinct rows


def test_faulty_rows_are_not_in_responses(sim):
    accepted = set(sim.responses["source_row"])
    assert not accepted & planted_rows(sim)
    counts = sim.truth["counts"]
    assert len(sim.responses) + counts["rejected_rows"] == counts["survey_rows"]
    assert sim.responses["ticket_id"].is_unique
    assert sim.responses["source_row"].is_monotonic_increasing
    # the first copy of an exact duplicate is accepted
    dup_ids = {f["ticket_id"] for f in sim.truth["planted_faults"] if f["reason"] == "duplicate"}
    assert dup_ids <= set(sim.responses["ticket_id"])
    conflict = {f["ticket_id"] for f in sim.truth["planted_faults"] if f["reason"] == "conflicting_duplicate"}
    assert not conflict & set(sim.responses["ticket_id"])


def test_no_faults_by_default():
    clean = simulate(500, 3)
    assert clean.truth["planted_faults"] == []
    assert len(clean.survey_export) == len(clean.responses) == 500
    assert clean.responses["source_row"].tolist() == list(range(1, 501))


# ---------------------------------------------------------------------------
# the data-generating process and its truth
# ---------------------------------------------------------------------------


def test_satisfaction_distribution(sim):
    pop = sim.population
    shares = pop["sat_overall"].value_counts(normalize=True)
    assert set(shares.index) == {1, 2, 3, 4, 5}
    assert (shares >= 0.05).all()
    assert 0.75 <= sim.truth["population"]["satisfied_rate"] <= 0.85
    assert 0.5 <= sim.truth["population"]["completion_rate"] <= 0.6


def test_naive_rate_is_biased_upward(sim):
    naive = sim.truth["naive"]["satisfied_rate"]
    population = sim.truth["population"]["satisfied_rate"]
    # about 6 standard errors of the naive rate at n = 20000
    assert naive - population > 0.008
    assert sim.truth["bias_naive_minus_population"] == pytest.approx(naive - population)


def test_completion_falls_with_handling_time(sim):
    wo = sim.workorders
    done = wo["survey_status"] == "completed"
    slow = wo["handling_hours"] > wo["handling_hours"].median()
    assert done[~slow].mean() - done[slow].mean() > 0.1
    # ... and within a cause group too (not only through the cause mix)
    out = wo["cause_l1"] == "outage"
    slow_o = wo["handling_hours"] > wo.loc[out, "handling_hours"].median()
    assert done[out & ~slow_o].mean() > done[out & slow_o].mean() + 0.03


def test_response_depends_only_on_declared_covariates(sim):
    """Missing at random: given cause group, handling time and region, p_complete ignores satisfaction."""
    pop = sim.population
    p = SimParams()
    L = np.log2(1 + pop["handling_hours"])
    logit = (p.response_intercept + pop["cause_l1"].map(p.response_cause).astype(float)
             + p.response_log_hours * L + pop["region"].map(p.response_region).astype(float))
    np.testing.assert_allclose(pop["p_complete"], 1 / (1 + np.exp(-logit)))


def test_outages_peak_in_summer(sim):
    wo = sim.workorders
    outage = (wo["cause_l1"] == "outage").groupby(wo["created_at"].dt.month).mean()
    assert outage[[7, 8]].min() > outage[[1, 2, 3, 11, 12]].max() + 0.05


def test_slower_handling_lowers_satisfaction(sim):
    pop = sim.population
    for group in ("outage", "service"):
        g = pop[pop["cause_l1"] == group]
        slow = g["handling_hours"] > g["handling_hours"].median()
        assert g.loc[~slow, "satisfied"].mean() > g.loc[slow, "satisfied"].mean() + 0.03, group
    slopes = sim.truth["params"]["slope"]
    assert all(v < 0 for v in slopes.values())
    assert min(slopes, key=slopes.get) == "outage"


def test_truth_recomputed_from_frames(sim):
    t = sim.truth
    pop = sim.population
    assert len(pop) == len(sim.workorders) == t["counts"]["workorders"]
    assert (pop["ticket_id"] == sim.workorders["ticket_id"]).all()
    assert t["population"]["satisfied_rate"] == pytest.approx((pop["sat_overall"] >= 4).mean(), abs=1e-12)
    by = (pop["sat_overall"] >= 4).groupby(pop["cause_l1"].astype(str)).mean()
    for g, v in t["population"]["satisfied_rate_by_cause_l1"].items():
        assert v == pytest.approx(by[g], abs=1e-12)
    by2 = (pop["sat_overall"] >= 4).groupby(pop["cause_l2"].astype(str)).mean()
    assert set(t["population"]["satisfied_rate_by_cause_l2"]) == set(by2.index)
    for g, v in t["population"]["satisfied_rate_by_cause_l2"].items():
        assert v == pytest.approx(by2[g], abs=1e-12)
    naive = sim.responses["satisfied"].astype("float64").mean()
    assert t["naive"]["satisfied_rate"] == pytest.approx(naive, abs=1e-12)
    assert t["population"]["completion_rate"] == pytest.approx(
        (sim.workorders["survey_status"] == "completed").mean(), abs=1e-12)
    assert set(t["station_effects"]) == set(pop["station"].astype(str))
    assert t["call"] == {"n": 20000, "seed": 20260301, "faults": 0.005}
    json.dumps(t)  # serialisable


def test_invalid_arguments():
    with pytest.raises(ValueError):
        simulate(0, 1)
    with pytest.raises(ValueError):
        simulate(10, 1, faults=0.9)
    bad = SimParams(slope={"service": -0.2})
    with pytest.raises(ValueError, match="slope"):
        simulate(10, 1, params=bad)


def test_tiny_n_still_works():
    s = simulate(1, 5)
    assert len(s.survey_export) == 1 and len(s.responses) == 1
    assert s.workorders["created_at"].max() <= pd.Timestamp("2026-06-30 23:59")


# ---------------------------------------------------------------------------
# files and the committed sample
# ---------------------------------------------------------------------------


def test_written_files_round_trip(tmp_path, small):
    out = write_simulation(small, tmp_path)
    assert {p.name for p in out.values()} == {"survey.csv", "workorders.csv", "truth.json"}
    assert out["survey"].read_bytes().startswith("\ufeff工单编号".encode("utf-8"))
    back = pd.read_csv(out["survey"], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert (back.to_numpy() == small.survey_export.to_numpy()).all()
    wo = pd.read_csv(out["workorders"], encoding="gb18030", dtype=str, keep_default_na=False)
    assert (wo.to_numpy() == small.workorders_export.to_numpy()).all()
    with pytest.raises(UnicodeDecodeError):
        out["workorders"].read_bytes().decode("utf-8")
    assert json.loads(out["truth"].read_text(encoding="utf-8")) == json.loads(json.dumps(small.truth))


def test_committed_sample_is_reproducible(tmp_path, sim):
    """data/raw holds exactly what the documented call writes."""
    out = write_simulation(sim, tmp_path)
    raw = paths.raw_dir()
    for key, name in (("survey", "survey_sample.csv"), ("workorders", "workorders_sample.csv"),
                      ("truth", "sample_truth.json")):
        committed = raw / name
        assert committed.is_file(), name
        assert committed.stat().st_size < 8_000_000
        assert (hashlib.sha256(committed.read_bytes()).hexdigest()
                == hashlib.sha256(out[key].read_bytes()).hexdigest()), name


def test_fault_counts_share_the_faults_evenly_over_the_reasons():
    from research.simulate.exports import _fault_counts

    counts = _fault_counts(0.013, 1000)  # 13 faults over 10 reasons: the first three get two
    assert list(counts) == list(FAULT_REASONS) and sum(counts.values()) == 13
    assert [counts[r] for r in FAULT_REASONS] == [2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    assert set(_fault_counts(0.0, 1000).values()) == {0}


def test_fault_rows_are_drawn_once_each_in_permutation_order():
    from research.simulate.exports import _RowPicker

    picker = _RowPicker(np.array([3, 0, 2, 1]))
    assert picker.pick(lambda i: i != 3) == 0  # 3 is not eligible and is skipped for good
    assert picker.pick() == 2 and picker.pick() == 1
    with pytest.raises(ValueError, match="too many faults for the number of rows"):
        picker.pick()


@pytest.mark.parametrize("seed", [1, 2])
def test_a_single_survey_is_simulated_with_or_without_a_naive_rate(seed):
    """n = 1: with seed 1 the one respondent's overall answer is missing, so there is no naive
    satisfied rate and no bias to state (None, not an error); with seed 2 it is observed."""
    from research.simulate import simulate

    truth = simulate(1, seed).truth
    rate = truth["naive"]["satisfied_rate"]
    if rate is None:
        assert seed == 1 and truth["bias_naive_minus_population"] is None
    else:
        assert truth["bias_naive_minus_population"] == pytest.approx(
            rate - truth["population"]["satisfied_rate"])
    assert truth["counts"]["survey_rows_before_faults"] == 1
