"""The bulletin's sections are declared once (research.bulletin.sections.SECTIONS; issue 13): each
has its registered spec, its periods, its table and its display. Adding a section is one
Section(...) line, two functions and a spec -- done here on a toy section, as
docs/architecture.md ("How to add a bulletin section") describes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.artifacts.registry import BULLETIN, ArtifactSpec
from research.artifacts.table_cells import Display, Row, fmt_count
from research.bulletin import bulletin_tables, write_bulletin
from research.bulletin.periods import PERIODS
from research.bulletin.sections import SECTIONS, Section, section
from research.simulate import simulate

WEEK_AT = "2026-03-04"


@pytest.fixture(scope="module")
def sim():
    s = simulate(3000, 5)
    return s.responses, s.workorders


@pytest.fixture(scope="module")
def week(sim):
    """The week bulletin's tables at WEEK_AT, built once for the module (read only)."""
    r, w = sim
    return bulletin_tables(r, w, period="week", at=WEEK_AT)


@pytest.fixture(scope="module")
def week_zh(week, tmp_path_factory):
    """The files of the Chinese week bulletin of ``week``, written once for the module (read only):
    its charts are most of a bulletin's writing time."""
    return write_bulletin(week, tmp_path_factory.mktemp("week_zh"), period="week", at=WEEK_AT, lang="zh")


def test_every_section_has_a_registered_spec_and_every_spec_a_section():
    assert [s.key for s in SECTIONS] == list(BULLETIN)  # same keys, in display order
    ids = [BULLETIN[s.key].id for s in SECTIONS]
    assert len(set(ids)) == len(ids) and all(i.startswith("B") for i in ids)  # ids stay as issued
    for s in SECTIONS:
        assert s.periods and set(s.periods) <= set(PERIODS), s.key


def test_each_period_carries_the_sections_declared_for_it(sim):
    r, w = sim
    for period in PERIODS:
        tables = bulletin_tables(r, w, period=period, at=WEEK_AT)
        from research.bulletin.charts import CHARTS

        assert list(tables) == ([s.key for s in SECTIONS if period in s.periods] +
                                [f"chart_{c.key}" for c in CHARTS if period in c.periods]), period


def test_an_unknown_section_is_named_in_the_error():
    with pytest.raises(KeyError, match="unknown bulletin table 'nope'.*overview"):
        section("nope")


def _by_channel(i) -> pd.DataFrame:
    """Toy section: work orders of the period by channel."""
    created = i.data.w_created
    inside = (created >= pd.Timestamp(i.period.start).to_datetime64()) & \
             (created < pd.Timestamp(i.period.end).to_datetime64())
    counts = i.data.w.loc[inside, "channel"].astype(str).value_counts().sort_index()
    return pd.DataFrame({"channel": counts.index, "volume": counts.to_numpy()})


def _show_by_channel(d: pd.DataFrame, lang: str, instrument, conf_level: float) -> Display:
    headers = ["受理渠道", "工单量"] if lang == "zh" else ["Channel", "Work orders"]
    return Display(headers, ["l", "r"], [Row([str(r.channel), fmt_count(r.volume)]) for r in d.itertuples()])


def test_a_new_section_is_one_declaration_and_reaches_every_output(sim, tmp_path, monkeypatch):
    r, w = sim
    if "channel" not in w.columns:
        pytest.skip("the simulated work orders carry no channel")
    toy = Section("by_channel", ("week",), _by_channel, _show_by_channel)
    spec = ArtifactSpec("B08", "table", "B08_by_channel", "分受理渠道工单量", "Work orders by channel",
                        "本期各受理渠道的工单量。", "Work orders of the period by channel.", (), "by_channel")
    monkeypatch.setattr("research.bulletin.sections.SECTIONS", SECTIONS + (toy,))
    monkeypatch.setitem(BULLETIN, "by_channel", spec)

    tables = bulletin_tables(r, w, period="week", at=WEEK_AT)
    sections_built = [k for k in tables if not k.startswith("chart_")]  # the charts' data come after
    assert sections_built[-1] == "by_channel" and tables["by_channel"]["volume"].sum() > 0
    assert "by_channel" not in bulletin_tables(r, w, period="month", at=WEEK_AT)  # week only

    written = write_bulletin(tables, tmp_path, period="week", at=WEEK_AT, lang="en")
    assert written["csv:by_channel"].name == "bulletin_week_2026-03-02_by_channel.csv"
    html = written["html"].read_text(encoding="utf-8")
    assert "Work orders by channel" in html and html.index("Repeat callers") < html.index("Work orders by channel")
    zh = write_bulletin(tables, tmp_path, period="week", at=WEEK_AT, lang="zh")
    assert "分受理渠道工单量" in zh["html"].read_text(encoding="utf-8")


def test_each_bulletin_spec_names_its_section_as_builder():
    for key, spec in BULLETIN.items():
        assert spec.builder == key and section(spec.builder).key == key


@pytest.mark.parametrize("period, first, last, start", [
    ("week", "2025-01-01", "2026-06-30", "2026-06-22"),   # Tuesday: the week before is the last whole one
    ("week", "2025-01-01", "2026-06-28", "2026-06-22"),   # Sunday: its own week is whole
    ("month", "2025-01-01", "2026-06-30", "2026-06-01"),  # the month's last day: whole
    ("month", "2025-01-01", "2026-06-29", "2026-05-01"),
    ("day", "2025-01-01", "2026-06-29", "2026-06-29"),
])
def test_the_default_at_is_the_last_whole_period(period, first, last, start):
    import datetime as dt

    from research.bulletin.periods import last_complete

    p = last_complete(period, dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    assert p.start.date().isoformat() == start


def test_data_shorter_than_a_whole_period_ask_for_at():
    import datetime as dt

    from research.bulletin.periods import last_complete
    from research.errors import InputError

    with pytest.raises(InputError, match="cover no whole month; give --at"):
        last_complete("month", dt.date(2026, 6, 3), dt.date(2026, 6, 20))


def test_the_command_without_at_builds_the_last_whole_week(tmp_path):
    from research.cli import main

    s = simulate(1500, 7)
    folder = tmp_path / "ingest"
    folder.mkdir()
    s.responses.to_parquet(folder / "responses.parquet")
    s.workorders.to_parquet(folder / "workorders.parquet")
    code = main(["bulletin", "--period", "week", "--data", str(folder), "--out", str(tmp_path / "out"),
                 "--lang", "en"])
    assert code == 0
    # the last day BOTH exports cover: work orders end before the answers that follow them
    last = min(s.workorders["created_at"].max(), s.responses["surveyed_at"].max()).date()
    assert s.workorders["created_at"].max() < s.responses["surveyed_at"].max()
    from research.bulletin.periods import last_complete

    first = min(s.workorders["created_at"].min(), s.responses["surveyed_at"].min()).date()
    expected = last_complete("week", first, last).start.date().isoformat()
    assert (tmp_path / "out" / f"bulletin_week_{expected}.en.html").is_file()


def test_the_opening_paragraph_quotes_the_tables_and_reaches_html_and_docx(sim, week, week_zh):
    """摘要 (issue 14 point 2): each figure of the paragraph is a cell of the overview, in both
    languages; a comparison the data do not reach is left out, not shown blank."""
    import zipfile

    from research.bulletin.summary import summary

    r, w = sim
    tables = week
    o = tables["overview"].set_index("group")
    zh, en = summary(tables, "zh"), summary(tables, "en")
    volume = f"{o.loc['total', 'volume']:,.0f}"
    rate = f"{100 * o.loc['total', 'satisfied_rate']:.1f}%"
    assert f"本期受理工单{volume}件" in zh and volume in en and rate in zh and rate in en
    assert zh.endswith("。") and en.endswith(".") and "nan" not in zh + en
    written = week_zh
    assert zh in written["html"].read_text(encoding="utf-8")
    with zipfile.ZipFile(written["docx"]) as z:
        assert f"本期受理工单{volume}件" in z.read("word/document.xml").decode("utf-8")
    first = bulletin_tables(r, w, period="week", at=str(r["surveyed_at"].min().date()))
    assert "环比" not in summary(first, "zh")  # no previous period in the data: no change quoted


def test_stations_are_sorted_by_rate_and_small_ones_flagged_not_placed():
    """Issue 14 point 2: stations sorted by a stated key (satisfied rate), those under the plan's
    bulletin.min_n valid answers listed after, by name, flagged with * and a note."""
    from research.bulletin.display import display
    from research.bulletin.tables import stations_sorted

    by = pd.DataFrame({"region": ["A"] * 5, "station": ["s1", "s2", "s3", "s4", "s5"],
                       "sat_valid": [40, 2, 35, 3, 50], "satisfied_rate": [0.70, 1.0, 0.90, 0.0, 0.80]})
    for col in ("volume", "volume_change", "satisfied_rate_change_points", "sla_rate", "sla_rate_change_points",
                "repeat_share", "repeat_share_change_points", "mean_handling_hours", "mean_handling_hours_change"):
        by[col] = 0.0
    out = stations_sorted(by, 30)
    assert list(out["station"]) == ["s3", "s5", "s1", "s2", "s4"]  # 0.9, 0.8, 0.7; then small, by name
    assert list(out["small_n"]) == [False, False, False, True, True]
    shown = display("by_station", out, "zh")
    assert [r.cells[1] for r in shown.rows] == ["s3", "s5", "s1", "s2*", "s4*"]
    assert any("少于30条" in n for n in shown.notes)
    assert not display("by_station", stations_sorted(by, 1), "en").rows[1].cells[1].endswith("*")


def test_min_n_comes_from_the_plan(tmp_path):
    from research.config.plan import load_plan
    from research import paths

    text = (paths.project_root() / "paper" / "analysis_plan.yaml").read_text(encoding="utf-8")
    assert load_plan().bulletin.min_n == 30
    p = tmp_path / "plan.yaml"
    p.write_text(text + "\nbulletin:\n  min_n: 5\n" if "\nbulletin:" not in text
                 else text.replace("\nbulletin:\n", "\nbulletin:\n  min_n: 5\n", 1), encoding="utf-8")
    assert load_plan(p).bulletin.min_n == 5
    p.write_text(text.replace("\nbulletin:\n", "\nbulletin:\n  min_n: 0\n", 1) if "\nbulletin:" in text
                 else text + "\nbulletin:\n  min_n: 0\n", encoding="utf-8")
    from research.errors import InputError

    with pytest.raises(InputError, match="min_n"):
        load_plan(p)


def test_the_red_and_black_lists_hold_only_stations_that_separate_from_the_mean():
    """红黑榜 (issue 14 point 2) only where the intervals separate: the ranking's versus_mean
    (funnel, BH q < 0.05), whatever the rank; red by adjusted rate down, black up."""
    from research.bulletin.display import display
    from research.bulletin.tables import red_black

    ranking = pd.DataFrame({"region": ["A"] * 5, "station": ["s1", "s2", "s3", "s4", "s5"],
                            "n": [50] * 5, "raw_rate": [0.9, 0.95, 0.5, 0.6, 0.99],
                            "adjusted_rate": [0.88, 0.93, 0.55, 0.62, 0.97], "q_value": [0.01, 0.2, 0.01, 0.03, 0.3],
                            "versus_mean": ["above", "", "below", "below", ""]})
    out = red_black(ranking)
    assert list(out["list"]) == ["red", "black", "black"] and list(out["station"]) == ["s1", "s3", "s4"]
    assert "s5" not in set(out["station"])  # top of the order, inside the funnel: on neither list
    zh = display("red_black", out, "zh")
    assert [r.cells[0] for r in zh.rows] == ["红榜", "黑榜", "黑榜"]
    none = red_black(ranking.assign(versus_mean=""))
    assert none.empty and none.attrs["note"] == "no_separation"
    assert "不设红黑榜" in display("red_black", none, "zh").rows[0].cells[0]


def test_rising_words_of_a_period_against_the_eight_before():
    """B09 (issue 14 point 3, the bulletin's "一类问题" signal from the customers' words): a word new
    in this month's dissatisfied comments rises; a steady stream gives nothing."""
    from research.bulletin.periods import period_of
    from research.bulletin.tables import rising_words

    days = pd.date_range("2025-05-01", "2026-02-28", freq="D")
    base = ["抢修太慢了", "电费不合理", "态度恶劣"]
    steady = pd.DataFrame({"surveyed_at": days, "satisfied": False, "comment": [base[i % 3] for i in range(len(days))]})
    march = period_of("month", "2026-03-15")
    march_days = pd.date_range("2026-03-01", "2026-03-31")
    calm = pd.concat([steady, pd.DataFrame({"surveyed_at": march_days, "satisfied": False,
                                            "comment": [base[(len(days) + i) % 3] for i in range(len(march_days))]})])
    assert rising_words(calm, march).empty
    burst = pd.concat([calm, pd.DataFrame({"surveyed_at": pd.Timestamp("2026-03-05"), "satisfied": False,
                                           "comment": ["小区低电压空调开不了"] * 15})])
    up = rising_words(burst, march)
    assert "低电压" in set(up["term"]) and up.attrs["baseline_start"] == "2025-07-01"
    assert rising_words(burst.drop(columns="comment"), march).attrs["note"] == "no_comment_column"


# ---------------------------------------------------------------------------- charts (issue 14 point 2)

def _docx_tables_by_orientation(path) -> list[tuple[int, bool, object]]:
    """(columns, landscape, table) of each table of a DOCX, with the orientation of its section."""
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.oxml.ns import qn
    from docx.table import Table

    doc = docx.Document(str(path))
    landscape = [s.orientation == WD_ORIENT.LANDSCAPE for s in doc.sections]
    out, k = [], 0
    for el in doc.element.body:
        if el.tag == qn("w:tbl"):
            table = Table(el, doc)
            out.append((len(table.columns), landscape[k], table))
        elif el.tag == qn("w:p") and el.find(f"{qn('w:pPr')}/{qn('w:sectPr')}") is not None:
            k += 1  # a paragraph holding a sectPr ends its section
    return out


def test_charts_are_embedded_in_html_and_docx_and_written_byte_identical(week, week_zh, tmp_path):
    import docx

    from research.bulletin.charts import CHARTS

    tables = week
    week_charts = [c.key for c in CHARTS if "week" in c.periods]
    assert week_charts == ["trend", "causes", "stations"]
    written = week_zh
    html = written["html"].read_text(encoding="utf-8")
    assert html.count('<img alt="') == html.count("data:image/png;base64,") == 3
    assert "图 1" in html and "近12期满意率与工单量走势" in html
    assert len(docx.Document(str(written["docx"])).inline_shapes) == 3
    again = write_bulletin(tables, tmp_path / "b", period="week", at=WEEK_AT, lang="zh")
    for key in week_charts:
        for kind in ("png", "svg"):
            path = written[f"{kind}:{key}"]
            assert path.name == f"bulletin_week_2026-03-02_chart_{key}.zh.{kind}"
            assert path.read_bytes() == again[f"{kind}:{key}"].read_bytes(), path.name  # no dates, no ids
        assert written[f"csv:chart_{key}"].is_file()
    assert written["png:trend"].read_bytes().startswith(b"\x89PNG")
    assert b"<dc:date>" not in written["svg:trend"].read_bytes()
    trend = tables["chart_trend"]
    assert len(trend) == 12 and trend["current"].tolist() == [False] * 11 + [True]
    assert (trend["conf_low"] <= trend["satisfied_rate"]).all() and (trend["satisfied_rate"] <= trend["conf_high"]).all()
    stations = tables["chart_stations"]
    assert stations["small_n"].tolist() == list(tables["by_station"].loc[tables["by_station"]["sat_valid"] > 0,
                                                                         "small_n"])
    en = write_bulletin(tables, tmp_path / "a", period="week", at=WEEK_AT, lang="en")
    assert "Figure 1" in en["html"].read_text(encoding="utf-8") and en["png:trend"].name.endswith(".en.png")


def test_the_day_bulletin_leaves_out_the_station_chart(sim, tmp_path):
    import docx

    r, w = sim
    day = bulletin_tables(r, w, period="day", at=WEEK_AT)
    assert "chart_stations" not in day and {"chart_trend", "chart_causes"} <= set(day)
    written = write_bulletin(day, tmp_path, period="day", at=WEEK_AT, lang="zh")
    assert len(docx.Document(str(written["docx"])).inline_shapes) == 2
    assert "png:stations" not in written


def test_each_csv_column_has_one_unit(sim, tmp_path):
    """No column mixes a proportion with a point change (the old overview did, by row): every
    numeric column's unit is read from its name (tables.column_unit) and its values agree."""
    from research.bulletin.tables import column_unit

    r, w = sim
    tables = bulletin_tables(r, w, period="month", at=WEEK_AT)
    written = write_bulletin(tables, tmp_path, period="month", at=WEEK_AT, lang="zh")
    for key in ("overview", "by_region", "by_station"):
        back = pd.read_csv(written[f"csv:{key}"], encoding="utf-8-sig")
        for col in back.columns:
            if not pd.api.types.is_numeric_dtype(back[col]) or back[col].isna().all() or col == "small_n":
                continue
            unit = column_unit(col)
            assert unit is not None, (key, col)
            v = back[col].dropna()
            if unit == "proportion":
                assert v.between(0, 1).all(), (key, col)
            if unit == "count":
                assert (v == v.round()).all(), (key, col)
            assert not col.endswith("_change") or unit in ("count", "hours"), (key, col)  # a rate change says points
        for rate in ("satisfied_rate", "sla_rate", "repeat_share"):
            got = back[f"{rate}_change_points"].dropna()
            want = 100 * (back[rate] - back[f"{rate}_previous"])
            np.testing.assert_allclose(got, want[got.index], rtol=1e-12)
    assert column_unit("satisfied_rate") == "proportion" and column_unit("satisfied_rate_change_points") == "points"
    assert column_unit("mean_handling_hours_change") == "hours" and column_unit("volume_change") == "count"


def test_wide_tables_are_landscape_and_a_station_name_fits_one_line(week, week_zh):
    """B02/B03 (12, 13 columns) and the repeat callers go into a landscape A4 section, the others
    stay portrait; the station column is wider than the longest station name at the table font."""
    from research.artifacts.render_docx import DOCX_FONT_PT, DOCX_NARROW_PADDING
    from research.artifacts.docx_util import WIDE_TABLE_COLUMNS

    tables, written = week, week_zh
    found = _docx_tables_by_orientation(written["docx"])
    assert len(found) == len([k for k in tables if not k.startswith("chart_")])
    assert any(land for _, land, _ in found) and not found[0][1]  # the overview stays portrait
    for columns, landscape, _ in found:
        assert landscape == (columns >= WIDE_TABLE_COLUMNS), columns
    station_table = next(t for c, _, t in found if c == 13)
    width_pt = station_table.columns[1].width.pt - 2 * DOCX_NARROW_PADDING / 20
    longest = max(len(s) + 1 for s in tables["by_station"]["station"])  # the small-n * included
    assert width_pt >= longest * DOCX_FONT_PT, (width_pt, longest)
