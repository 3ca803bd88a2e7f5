"""The bulletin (research.bulletin): counts, sums, planted signals, files, bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
import re
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

from research.bulletin import (bulletin_tables, last_year_period, period_of, previous_period,
                               run_bulletin, write_bulletin)
from research.errors import InputError
from research.simulate import simulate

WEEK_AT = "2026-03-04"  # ISO week 2026-W10: 2026-03-02 .. 2026-03-08
WEEK_START = pd.Timestamp("2026-03-02")
WEEK_END = pd.Timestamp("2026-03-09")
MONTH_AT = "2026-03-15"
PHONE = re.compile(r"(?<![\d.])1[3-9]\d{9}(?!\d)")  # not inside a decimal fraction
IDCARD = re.compile(r"(?<![\d.])\d{17}[\dXx](?!\d)")


@pytest.fixture(scope="module")
def sim():
    s = simulate(20000, 3)  # 2025-01-01 .. 2026-06-30
    return s.responses, s.workorders


@pytest.fixture(scope="module")
def week(sim):
    r, w = sim
    return bulletin_tables(r, w, period="week", at=WEEK_AT)


def _ov(tables, column, group="total"):
    """One cell of the overview (one row per cause group and total, one unit per column)."""
    o = tables["overview"].set_index("group")
    return o.loc[group, column]


# ---------------------------------------------------------------------------- periods

def test_periods():
    p = period_of("week", "2025-04-02")
    assert (p.start, p.end) == (pd.Timestamp("2025-03-31"), pd.Timestamp("2025-04-07"))
    assert p.title("zh") == "周通报（2025年第14周，2025-03-31至2025-04-06）"
    assert p.title("en") == "Weekly bulletin (2025-W14, 2025-03-31 to 2025-04-06)"
    assert previous_period(p).start == pd.Timestamp("2025-03-24")
    assert last_year_period(p).start == pd.Timestamp(dt.date.fromisocalendar(2024, 14, 1))
    m = period_of("month", "2024-12-31")
    assert (m.start, m.end) == (pd.Timestamp("2024-12-01"), pd.Timestamp("2025-01-01"))
    assert previous_period(m).start == pd.Timestamp("2024-11-01")
    assert last_year_period(period_of("day", "2028-02-29")).start == pd.Timestamp("2027-02-28")
    assert last_year_period(period_of("week", "2026-12-31")) is None  # 2026-W53; 2025 has 52 weeks


# ---------------------------------------------------------------------------- counts

def test_week_volumes_and_rates_match_direct_counts(sim, week):
    r, w = sim
    in_week = (w["created_at"] >= WEEK_START) & (w["created_at"] < WEEK_END)
    direct = w.loc[in_week, "cause_l1"].value_counts()
    o = week["overview"]
    vol = o.set_index("group")["volume"]
    assert vol["total"] == in_week.sum() > 0
    for cause, n in direct.items():
        assert vol[cause] == n
    assert list(vol.index[:-1]) == ["service", "outage", "capability", "voltage"]  # instrument order
    surveyed = (r["surveyed_at"] >= WEEK_START) & (r["surveyed_at"] < WEEK_END)
    sat = r.loc[surveyed, "satisfied"].dropna().astype(bool)
    assert _ov(week, "satisfied_rate") == pytest.approx(sat.mean(), abs=1e-15)
    assert _ov(week, "sat_valid") == len(sat)
    resolved = (w["resolved_at"] >= WEEK_START) & (w["resolved_at"] < WEEK_END)
    assert _ov(week, "sla_rate") == pytest.approx(
        w.loc[resolved, "sla_met"].dropna().astype(bool).mean(), abs=1e-15)
    rep = r.loc[surveyed, "repeat"].dropna().astype(bool)
    assert _ov(week, "repeat_share") == pytest.approx(rep.mean(), abs=1e-15)


def test_previous_and_last_year_equal_other_bulletins(sim, week):
    r, w = sim
    before = bulletin_tables(r, w, period="week", at="2026-02-25")
    year_ago = bulletin_tables(r, w, period="week", at="2025-03-05")  # 2025-W10
    a, b, c = week["overview"], before["overview"], year_ago["overview"]
    for ind in ("volume", "satisfied_rate", "sla_rate", "repeat_share", "mean_handling_hours"):
        np.testing.assert_allclose(a[f"{ind}_previous"].astype(float), b[ind].astype(float), rtol=0, atol=1e-15)
        np.testing.assert_allclose(a[f"{ind}_last_year"].astype(float), c[ind].astype(float), rtol=0, atol=1e-15)
    np.testing.assert_allclose(a["satisfied_rate_change_points"], 100 * (a["satisfied_rate"] - b["satisfied_rate"]))
    # station table: the previous columns are the previous bulletin's current columns
    s, t = week["by_station"].set_index("station"), before["by_station"].set_index("station")
    np.testing.assert_allclose(s["volume_previous"], t.reindex(s.index)["volume"])
    np.testing.assert_allclose(s["satisfied_rate_previous"], t.reindex(s.index)["satisfied_rate"])
    # 2025-W10 a year earlier: the data (from 2025-01-01) do not reach 2024
    last_year = [col for col in c.columns if col.endswith("_last_year")]
    assert c[last_year].isna().all().all()
    assert c["volume"].notna().all() and c["satisfied_rate"].notna().iloc[-1]


def test_comparison_before_data_start_is_nan(sim):
    r, w = sim
    first = bulletin_tables(r, w, period="week", at="2025-01-01")  # week from 2024-12-30
    o = first["overview"]
    compared = [c for c in o.columns if c.endswith(("_previous", "_last_year"))]
    assert compared and o[compared].isna().all().all()
    assert first["by_station"]["volume_previous"].isna().all()


@pytest.mark.parametrize("key", ["by_region", "by_station"])
def test_groups_add_up_to_overview(week, key):
    d = week[key]
    assert d["volume"].sum() == _ov(week, "volume")
    assert d["volume_previous"].sum() == _ov(week, "volume_previous")
    for ind, (num, den) in {"satisfied_rate": ("sat_yes", "sat_valid"), "sla_rate": ("sla_yes", "sla_valid"),
                            "repeat_share": ("repeat_yes", "repeat_valid")}.items():
        assert d[num].sum() == _ov(week, num)
        assert d[den].sum() == _ov(week, den)
        assert d[num].sum() / d[den].sum() == pytest.approx(_ov(week, ind))


def test_day_and_month_tables(sim):
    r, w = sim
    day = bulletin_tables(r, w, period="day", at="2026-03-04")
    assert set(day) == {"overview", "by_region", "by_station", "repeat_callers", "chart_trend", "chart_causes"}
    created = w["created_at"].dt.normalize() == pd.Timestamp("2026-03-04")
    assert _ov(day, "volume") == created.sum()
    month = bulletin_tables(r, w, period="month", at=MONTH_AT)
    assert "ranking" in month and "out_of_control" not in month
    created = (w["created_at"] >= "2026-03-01") & (w["created_at"] < "2026-04-01")
    assert _ov(month, "volume") == created.sum()
    rc = month["repeat_callers"]
    assert 0 < len(rc) <= 50
    assert rc["last_created"].between(pd.Timestamp("2026-03-01"), pd.Timestamp("2026-04-01")).all()
    assert set(rc["customer_id"]) <= set(w["customer_id"])


# ---------------------------------------------------------------------------- planted signals

def _busiest_station(r, start, end):
    m = (r["surveyed_at"] >= start) & (r["surveyed_at"] < end) & r["satisfied"].notna()
    return r.loc[m, "station"].value_counts().index[0]


def test_planted_out_of_control_station(sim, week):
    r, w = sim
    station = _busiest_station(r, WEEK_START, WEEK_END)
    assert station not in set(week["out_of_control"]["station"])  # not flagged before planting
    r2 = r.copy()
    hit = ((r2["station"] == station) & (r2["surveyed_at"] >= WEEK_START) & (r2["surveyed_at"] < WEEK_END)
           & r2["satisfied"].notna()).to_numpy()
    idx = np.flatnonzero(hit)
    r2.loc[idx[: int(0.9 * len(idx))], "satisfied"] = False
    planted = bulletin_tables(r2, w, period="week", at=WEEK_AT)["out_of_control"]
    assert station in set(planted["station"])
    row = planted[planted["station"] == station].iloc[0]
    assert row["signal"] == "above" and row["period_start"] == WEEK_START
    earlier = bulletin_tables(r2, w, period="week", at="2026-02-25")["out_of_control"]
    assert station not in set(earlier["station"])


def test_recurrence_rows_are_flagged_cells_of_the_week(week):
    rec = week["recurrence"]
    assert rec["flagged"].all() and (rec["period_start"] == WEEK_START).all()
    assert (rec["p_value"] < 0.001).all()


def test_monthly_ranking_planted_bad_station_and_shrinkage(sim):
    r, w = sim
    start, end = pd.Timestamp("2026-03-01"), pd.Timestamp("2026-04-01")
    r2 = r.copy()
    in_month = (r2["surveyed_at"] >= start) & (r2["surveyed_at"] < end)
    bad = _busiest_station(r, start, end)
    idx = np.flatnonzero((in_month & (r2["station"] == bad) & r2["satisfied"].notna()).to_numpy())
    r2.loc[idx[: int(0.7 * len(idx))], "satisfied"] = False
    # a tiny station: 3 answers, all dissatisfied
    donor = np.flatnonzero((in_month & (r2["station"] != bad) & r2["satisfied"].notna()
                            & r2["handling_hours"].notna()).to_numpy())[:3]
    r2.loc[donor, "station"] = "测试微小供电所"
    r2.loc[donor, "satisfied"] = False
    rank = bulletin_tables(r2, w, period="month", at=MONTH_AT)["ranking"]
    assert len(rank) == r2.loc[in_month, "station"].nunique()
    assert rank.attrs["ranked"] and rank.attrs["lrt_p"] < 0.05
    assert rank["rank"].is_monotonic_increasing and rank["rank"].min() == 1
    assert (rank["rank_low"] <= rank["rank"]).all() and (rank["rank"] <= rank["rank_high"]).all()
    b = rank[rank["station"] == bad].iloc[0]
    assert b["versus_mean"] == "below" and b["q_value"] < 0.05  # the funnel's FDR flag
    assert b["rank"] == len(rank) and b["rank_high"] == len(rank)
    tiny = rank[rank["station"] == "测试微小供电所"].iloc[0]
    assert tiny["n"] == 3 and tiny["raw_rate"] == 0.0
    assert abs(tiny["adjusted_rate"] - tiny["overall_mean"]) < abs(tiny["raw_rate"] - tiny["overall_mean"])
    assert tiny["ranef_se"] > b["ranef_se"]  # fewer answers, wider interval
    assert tiny["rank_high"] - tiny["rank_low"] > b["rank_high"] - b["rank_low"]
    assert tiny["versus_mean"] == ""  # 3 answers cannot pass the FDR rule


def test_ranking_without_station_differences_says_so_and_does_not_rank(sim, tmp_path):
    """Stations shuffled within the month: no station effect; the bulletin must not rank."""
    r, w = sim
    start, end = pd.Timestamp("2026-03-01"), pd.Timestamp("2026-04-01")
    r2 = r.copy()
    m = ((r2["surveyed_at"] >= start) & (r2["surveyed_at"] < end)).to_numpy()
    r2.loc[m, "station"] = np.random.default_rng(2).permutation(r2.loc[m, "station"].to_numpy())
    tables = bulletin_tables(r2, w, period="month", at=MONTH_AT)
    rank = tables["ranking"]
    assert not rank.attrs["ranked"] and len(rank) == r2.loc[m, "station"].nunique()
    assert rank.attrs["sigma2_station"] == 0.0 and rank.attrs["lrt_p"] == 1.0
    assert rank["rank"].isna().all() and rank["rank_low"].isna().all()
    assert "no detectable difference" in rank.attrs["note"]
    assert (rank["versus_mean"] == "").all()
    from research.bulletin import display
    zh = display("ranking", rank, "zh")
    en = display("ranking", rank, "en")
    assert any("本月各供电所之间无可检出的差异" in n for n in zh.notes)
    assert any("No detectable difference between stations this month" in n for n in en.notes)
    # listed by region then name (a listing, not a ranking), rank cells empty
    assert all(row.cells[0] == "" for row in zh.rows)
    listed = [(row.cells[2], row.cells[3]) for row in zh.rows]
    assert listed == sorted(listed)


def test_ranking_too_few_stations_is_empty_with_note(sim):
    r, w = sim
    one = r[r["station"] == r["station"].iloc[0]]
    rank = bulletin_tables(one, w, period="month", at=MONTH_AT)["ranking"]
    assert rank.empty and "rank" in rank.columns and "adjusted_rate" in rank.columns
    assert "station" in rank.attrs["note"]


# ---------------------------------------------------------------------------- files

def _docx_text(path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read("word/document.xml").decode("utf-8")


#: an embedded image (the HTML's charts): base64 text, whose digits can spell 11 of them by chance
DATA_URI = re.compile(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+")


def _shown_text(path) -> str:
    """The text of a written bulletin file a reader sees: a DOCX's document, an HTML page without its
    embedded images' base64, a CSV or SVG as written."""
    if path.suffix == ".docx":
        return _docx_text(path)
    return DATA_URI.sub("data:image", path.read_text(encoding="utf-8-sig"))


def test_files_zh_and_en(sim, week, tmp_path):
    import docx

    written = write_bulletin(week, tmp_path, period="week", at=WEEK_AT)
    assert written["html"].name == "bulletin_week_2026-03-02.zh.html"
    text = written["html"].read_text(encoding="utf-8")
    assert "周通报（2026年第10周，2026-03-02至2026-03-08）" in text
    assert "<script" not in text and 'href="http' not in text and "<link" not in text
    assert "满意率" in text and "供电服务问题" in text
    doc = docx.Document(str(written["docx"]))
    n_tables = len([k for k in week if not k.startswith("chart_")])  # the charts' data are pictures
    assert len(doc.tables) == n_tables
    assert doc.paragraphs[0].text == "周通报（2026年第10周，2026-03-02至2026-03-08）"
    assert doc.tables[0].rows[0].cells[0].text == "指标"
    for name in week:
        csv = written[f"csv:{name}"]
        raw = csv.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        back = pd.read_csv(csv, encoding="utf-8-sig")
        assert list(back.columns) == list(week[name].columns)
        assert len(back) == len(week[name])
    ov = pd.read_csv(written["csv:overview"], encoding="utf-8-sig")
    np.testing.assert_array_equal(ov["satisfied_rate"].to_numpy(), week["overview"]["satisfied_rate"].to_numpy())

    en = write_bulletin(week, tmp_path, period="week", at=WEEK_AT, lang="en")
    etext = en["html"].read_text(encoding="utf-8")
    assert "Weekly bulletin (2026-W10, 2026-03-02 to 2026-03-08)" in etext
    assert "Satisfied rate" in etext and "周通报" not in etext and "满意率" not in etext
    edoc = docx.Document(str(en["docx"]))
    assert len(edoc.tables) == n_tables and edoc.tables[0].rows[0].cells[0].text == "Indicator"
    # same tables, same bytes
    again = write_bulletin(week, tmp_path / "again", period="week", at=WEEK_AT, lang="en")
    assert again["docx"].read_bytes() == en["docx"].read_bytes()

    for path in [p for p in list(written.values()) + list(en.values()) if p.suffix != ".png"]:
        content = _shown_text(path)
        assert not PHONE.search(content), path
        assert not IDCARD.search(content), path


def test_month_files_and_pii(sim, tmp_path):
    r, w = sim
    tables = bulletin_tables(r, w, period="month", at=MONTH_AT)
    written = write_bulletin(tables, tmp_path, period="month", at=MONTH_AT)
    text = written["html"].read_text(encoding="utf-8")
    assert "月督导（2026年3月，2026-03-01至2026-03-31）" in text and "调整后满意率" in text
    for path in [p for p in written.values() if p.suffix != ".png"]:  # SVG text is outlines, checked as text
        content = _shown_text(path)
        assert not PHONE.search(content) and not IDCARD.search(content)
        assert "comment" not in content and "[PHONE]" not in content


# ---------------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def data_dir(sim, tmp_path_factory):
    r, w = sim
    d = tmp_path_factory.mktemp("ingest")
    r.to_parquet(d / "responses.parquet")
    w.to_parquet(d / "workorders.parquet")
    return d


def test_run_bulletin_writes(data_dir, tmp_path):
    written = run_bulletin(data_dir, period="week", at=WEEK_AT, out=tmp_path, lang="en")
    assert written["html"].exists() and written["docx"].exists()
    assert "Weekly bulletin (2026-W10" in written["html"].read_text(encoding="utf-8")


@pytest.mark.parametrize("kwargs, message", [
    (dict(period="year", at=WEEK_AT), r"--period 'year': unknown period; use one of day, week, month"),
    (dict(period="week", at="2026-13-01"), r"--at '2026-13-01': not a date"),
    (dict(period="week", at="next monday"), r"--at 'next monday': not a date"),
    (dict(period="week", at="2030-01-01"), r"--at 2030-01-01: outside the data's date range 2025-01-01 to "),
    (dict(period="day", at="2024-12-31"), r"outside the data's date range"),
    (dict(period="week", at=WEEK_AT, lang="fr"), r"--lang 'fr'"),
])
def test_bad_arguments(data_dir, tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        run_bulletin(data_dir, out=tmp_path, **kwargs)


def test_bad_files(tmp_path, sim):
    with pytest.raises(InputError, match=r"responses.parquet: responses file not found"):
        run_bulletin(tmp_path, period="week", at=WEEK_AT, out=tmp_path / "out")
    r, w = sim
    r.to_parquet(tmp_path / "responses.parquet")
    w.drop(columns=["sla_met"]).to_parquet(tmp_path / "workorders.parquet")
    with pytest.raises(InputError, match=r"workorders.parquet: required column\(s\) absent: sla_met"):
        run_bulletin(tmp_path, period="week", at=WEEK_AT, out=tmp_path / "out")
    (tmp_path / "workorders.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"cannot read the work orders"):
        run_bulletin(tmp_path, period="week", at=WEEK_AT, out=tmp_path / "out")


def test_pure_function_bad_input(sim):
    r, w = sim
    with pytest.raises(InputError, match="unknown period"):
        bulletin_tables(r, w, period="W", at=WEEK_AT)
    with pytest.raises(InputError, match="not a date"):
        bulletin_tables(r, w, period="week", at="2026/03/04x")
    with pytest.raises(InputError, match="responses: required column"):
        bulletin_tables(r.drop(columns=["satisfied"]), w, period="week", at=WEEK_AT)


# ---------------------------------------------------------------------------- the plan's bulletin section

def _plan_with(tmp_path, section: str) -> Path:
    from research import paths

    text = paths.project_root().joinpath("paper", "analysis_plan.yaml").read_text(encoding="utf-8")
    head = text[:text.index("\nbulletin:")]
    path = tmp_path / "plan.yaml"
    path.write_text(head + "\n" + section, encoding="utf-8")
    return path


def test_the_plan_sets_the_ranking_model_the_repeat_rows_and_the_level(data_dir, tmp_path, monkeypatch):
    # issue 13: the ranking's formula lives in the plan, not in code; bulletin takes --plan
    import research.strategy.stations

    seen = {}
    real = research.strategy.stations.rank_stations

    def spy(responses, **kw):
        seen.update(kw)
        return real(responses, **kw)

    monkeypatch.setattr(research.strategy.stations, "rank_stations", spy)
    plan = _plan_with(tmp_path, "bulletin:\n  ranking_rhs: cause_l2 + channel\n  repeat_top: 3\n")
    plan.write_text(plan.read_text(encoding="utf-8").replace("conf_level: 0.95", "conf_level: 0.9"), encoding="utf-8")
    written = run_bulletin(data_dir, period="month", at="2026-03-15", out=tmp_path / "out", lang="en",
                           plan_path=plan)
    assert seen["rhs"] == "cause_l2 + channel" and seen["conf_level"] == 0.9
    repeat = pd.read_csv(next(p for p in written.values() if str(p).endswith("repeat_callers.csv")))
    assert len(repeat) <= 3
    assert "90% rank interval" in written["html"].read_text(encoding="utf-8")
    # the committed plan's section is the old in-code default: the same model as before
    from research.bulletin import RANKING_RHS
    from research.config.plan import load_plan

    assert load_plan().bulletin.ranking_rhs == RANKING_RHS and load_plan().bulletin.repeat_top == 50


@pytest.mark.parametrize("section, message", [
    ("bulletin:\n  ranking_rhs: cause_l2 + station\n", r"bulletin.ranking_rhs.*station"),
    ("bulletin:\n  ranking_rhs: cause_l2 + resolved\n", r"bulletin.ranking_rhs.*resolved"),
    ("bulletin:\n  ranking_rhs: __import__('os')\n", r"bulletin.ranking_rhs"),
    ("bulletin:\n  repeat_top: 0\n", r"bulletin.repeat_top.*from 1 to 10,000"),
    ("bulletin: [1, 2]\n", r"bulletin.*expected a mapping"),
])
def test_a_bad_bulletin_section_is_refused_naming_the_key(data_dir, tmp_path, section, message):
    plan = _plan_with(tmp_path, section)
    with pytest.raises(InputError, match=message) as err:
        run_bulletin(data_dir, period="month", at="2026-03-15", out=tmp_path / "out", plan_path=plan)
    assert str(plan) in str(err.value)


def test_bulletin_plan_option_on_the_command_line(data_dir, tmp_path):
    plan = _plan_with(tmp_path, "bulletin:\n  ranking_rhs: cause_l2 + station\n")
    proc = subprocess.run([sys.executable, "-m", "research.cli", "bulletin", "--period", "week", "--at", WEEK_AT,
                           "--data", str(data_dir), "--out", str(tmp_path / "b"), "--plan", str(plan)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "bulletin.ranking_rhs" in proc.stderr


def test_mean_handling_time_is_that_of_the_work_orders_resolved_in_the_period(sim):
    """平均处理时长 (issue 14 point 2): by resolution time, as the SLA rate; reference: pandas on
    the same rows. Its change is in hours, not points."""
    r, w = sim
    tables = bulletin_tables(r, w, period="week", at=WEEK_AT)
    resolved = w[(w["resolved_at"] >= WEEK_START) & (w["resolved_at"] < WEEK_END)]
    before = w[(w["resolved_at"] >= WEEK_START - pd.Timedelta(days=7)) & (w["resolved_at"] < WEEK_START)]
    assert _ov(tables, "mean_handling_hours") == pytest.approx(resolved["handling_hours"].mean(), rel=1e-12)
    assert _ov(tables, "hours_valid") == resolved["handling_hours"].notna().sum()
    assert _ov(tables, "mean_handling_hours_change") == pytest.approx(resolved["handling_hours"].mean()
                                                   - before["handling_hours"].mean(), rel=1e-12)
    by = tables["by_station"].set_index("station")
    station = resolved["station"].value_counts().index[0]
    mine = resolved.loc[resolved["station"] == station, "handling_hours"]
    assert by.loc[station, "mean_handling_hours"] == pytest.approx(mine.mean(), rel=1e-12)
