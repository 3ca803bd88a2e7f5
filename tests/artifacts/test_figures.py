"""Figures F01-F07: the data they plot, their glyphs and fonts, their languages, byte-identical output.

The bundle is the one the session's build of the committed sample (conftest.sample_build) drew
its figures from: the same data, fitted with the plan's own replicate counts, so this module
fits nothing itself.
"""

from __future__ import annotations

import io
import re
import warnings

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.lines import Line2D
from matplotlib.text import Text

from research.artifacts import figures
from research.artifacts.figure_axes import figure_word
from research.artifacts.registry import FIGURES, get
from research.artifacts.render_figures import draw_figure, write_figure
from research.artifacts.stamp import Stamp
from research.artifacts.theme import CJK_FAMILY, apply_theme, font_path
from research.stats.intervals import wilson_interval

STAMP = Stamp(data_sha256="0123456789abcdef" * 4, commit="abc1234567", seed=918273)
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
#: tolerance of recomputed floats (sums in a different order)
TOL = 1e-12


@pytest.fixture(scope="module")
def bundle(sample_bundle):
    """The committed sample's bundle: before, this module ingested and fitted the sample itself
    (with 20 threshold replicates instead of the plan's 200), about 20 s that the session's build
    has already spent on the same data. Each check here compares a figure's data with the bundle
    it was drawn from, so any complete bundle of the sample tests the same thing; this one also
    holds the weights, levers and drivers, so every figure is drawn from real data."""
    return sample_bundle


@pytest.fixture(scope="module")
def data(bundle):
    """The data of every figure, by id."""
    return {spec.id: spec.build_function()(bundle) for spec in FIGURES}


@pytest.fixture
def themed():
    with mpl.rc_context():
        apply_theme()
        yield


def _texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


# ---------------------------------------------------------------------------- font and glyphs


def test_theme_resolves_to_the_packaged_cjk_font(themed):
    path = font_path()
    assert path.is_file() and path.suffix == ".otf"
    assert mpl.rcParams["font.sans-serif"][0] == CJK_FAMILY
    assert mpl.rcParams["svg.fonttype"] == "path" and mpl.rcParams["svg.hashsalt"]
    assert mpl.rcParams["axes.unicode_minus"] is False
    for family in (CJK_FAMILY, "sans-serif"):
        found = font_manager.findfont(font_manager.FontProperties(family=[family]), fallback_to_default=False)
        assert found == str(path), f"{family!r} resolves to {found}, not the packaged font"


def test_the_glyph_check_can_fail(themed):
    """Control for the test below: Chinese text in a Latin-only font does warn (and so fails)."""
    from matplotlib.figure import Figure

    fig = Figure()
    fig.text(0.5, 0.5, "满意率", family="DejaVu Sans")
    with warnings.catch_warnings(), pytest.raises(UserWarning, match="missing from font"):
        warnings.simplefilter("error")
        fig.savefig(io.BytesIO(), format="png")


@pytest.mark.parametrize("spec", FIGURES, ids=lambda s: s.id)
def test_zh_figure_draws_every_glyph_in_the_packaged_font(spec, bundle, data, themed):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph (or any other warning) fails the test
        fig = draw_figure(spec, data[spec.id], "zh", bundle, STAMP)
        fig.savefig(io.BytesIO(), format="png", dpi=72)
        fig.savefig(io.BytesIO(), format="svg")
    texts = _texts(fig)
    assert any(CJK.search(t.get_text()) for t in texts if t.get_gid() != "footer-stamp")
    for t in texts:
        used = font_manager.findfont(t.get_fontproperties(), fallback_to_default=False)
        assert used == str(font_path()), f"{t.get_text()!r} is set in {used}"


@pytest.mark.parametrize("spec", FIGURES, ids=lambda s: s.id)
def test_en_figure_has_no_chinese_text(spec, bundle, data, themed):
    fig = draw_figure(spec, data[spec.id], "en", bundle, STAMP)
    fig.savefig(io.BytesIO(), format="png", dpi=72)  # lay out, so tick labels exist
    stations = set(bundle["responses"]["station"].astype(str))  # names in the data, shown as they are (F11)
    said = set(bundle["typical_terms"]["term"].astype(str))  # the customers' own words, as they are (F12)
    chinese = [t.get_text() for t in _texts(fig) if CJK.search(t.get_text()) and t.get_text() not in stations | said]
    assert not chinese, f"{spec.id} in English shows {chinese}"


def test_stamp_is_on_the_figure_and_the_title_is_not(bundle, data, themed):
    """The document titles a figure (below it, numbered): a title drawn in the picture showed twice."""
    spec = get("F04")
    for lang in ("zh", "en"):
        fig = draw_figure(spec, data["F04"], lang, bundle, STAMP)
        texts = [t.get_text() for t in _texts(fig)]
        assert spec.title(lang) not in texts
        assert STAMP.text(lang) in texts and str(STAMP.seed) in STAMP.text(lang)


# ---------------------------------------------------------------------------- the data plotted


def _check_interval(frame: pd.DataFrame, est: str) -> None:
    assert (frame["conf_low"] <= frame[est]).all() and (frame[est] <= frame["conf_high"]).all()


def test_pareto_data(bundle, data):
    d = data["F01"]
    assert list(d.columns) == ["rank", "cause_l2", "cause_l1", "count", "share", "cumulative_share", "source"]
    wo = bundle["workorders"]
    assert (d["source"] == "workorders").all() and d["count"].sum() == len(wo)
    assert d["cause_l2"].is_unique and set(d["cause_l2"]) == set(wo["cause_l2"])
    assert (np.diff(d["count"]) <= 0).all(), "bars not sorted descending"
    assert d["cumulative_share"].iloc[-1] == 1.0
    assert (np.diff(d["cumulative_share"]) > 0).all()
    np.testing.assert_allclose(d["cumulative_share"], d["share"].cumsum(), rtol=0, atol=TOL)
    ins = bundle["instrument"]
    assert all(ins.parent[s] == g for s, g in zip(d["cause_l2"], d["cause_l1"], strict=True))


def test_pareto_falls_back_to_responses(bundle):
    d = figures.figure_pareto_data({**bundle, "workorders": None})
    assert (d["source"] == "responses").all() and d["count"].sum() == len(bundle["responses"])


def test_satisfaction_data(bundle, data):
    from statsmodels.stats.proportion import proportion_confint

    d = data["F02"]
    assert list(d.columns) == ["cause_l1", "cause_l2", "n", "n_satisfied", "satisfied_rate",
                               "conf_low", "conf_high", "conf_level"]
    r = bundle["responses"]
    assert d["n"].sum() == r["satisfied"].notna().sum()
    assert d["n_satisfied"].sum() == r["satisfied"].sum()
    assert d["satisfied_rate"].between(0, 1).all() and d["conf_low"].ge(0).all() and d["conf_high"].le(1).all()
    _check_interval(d, "satisfied_rate")
    low, high = proportion_confint(d["n_satisfied"], d["n"], alpha=0.05, method="wilson")
    np.testing.assert_allclose(d["conf_low"], low, rtol=0, atol=TOL)
    np.testing.assert_allclose(d["conf_high"], high, rtol=0, atol=TOL)
    # grouped by cause group: each group's rows are contiguous
    assert d["cause_l1"].ne(d["cause_l1"].shift()).sum() == d["cause_l1"].nunique()


def test_wilson_interval_at_the_edges():
    low, high = wilson_interval([0, 7, 7, 3], [7, 7, 0, 10])
    assert low[0] == 0 and 0 < high[0] < 1 and high[1] == 1 and 0 < low[1] < 1
    assert np.isnan(low[2]) and np.isnan(high[2])
    assert low[3] < 0.3 < high[3]


def test_handling_time_data(bundle, data):
    d = data["F03"]
    assert list(d.columns) == ["cause_l1", "probability", "handling_hours", "n"]
    r = bundle["responses"]
    assert d.groupby("cause_l1")["n"].first().sum() == r["handling_hours"].notna().sum()
    for g, part in d.groupby("cause_l1"):
        hours = r.loc[r["cause_l1"] == g, "handling_hours"]
        assert (np.diff(part["handling_hours"]) >= 0).all()
        assert part["probability"].iloc[0] == 0 and part["probability"].iloc[-1] == 1
        assert part["handling_hours"].iloc[0] == hours.min() and part["handling_hours"].iloc[-1] == hours.max()
        assert part.loc[np.isclose(part["probability"], 0.5), "handling_hours"].item() == pytest.approx(
            hours.median(), rel=1e-12)


def test_speed_curve_data_is_the_threshold_curves(bundle, data):
    d = data["F04"]
    curves = bundle["threshold_curves"]
    key = ["cause_l1", "hours"]
    mine = d[curves.columns].sort_values(key).reset_index(drop=True)
    theirs = curves.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine.astype({"cause_l1": object}), theirs.astype({"cause_l1": object}))
    thr = bundle["thresholds"].set_index("cause_l1")
    for g, part in d.groupby("cause_l1"):
        assert part["hours"].is_monotonic_increasing
        if thr.loc[g, "reached"]:
            assert (part["threshold_hours"] == thr.loc[g, "threshold_hours"]).all()
        else:
            assert part["threshold_hours"].isna().all()
        assert part["threshold_rate"].iloc[0] == pytest.approx(
            thr.loc[g, "reference_rate"] - thr.loc[g, "drop_points"] / 100)
    _check_interval(d, "estimate")


def test_speed_curves_omit_the_line_of_an_unreached_threshold(bundle, data, themed):
    def dashed_verticals(frame):
        fig = figures.draw_speed_curves(frame, "en", bundle)
        return sum(1 for ln in fig.findobj(Line2D) if ln.get_linestyle() == "--" and len(ln.get_xdata()) == 2
                   and ln.get_xdata()[0] == ln.get_xdata()[1])

    d = data["F04"]
    reached = d.groupby("cause_l1")["reached"].first()
    assert dashed_verticals(d) == reached.sum()
    first = d["cause_l1"].iloc[0]
    off = d.assign(reached=d["reached"] & (d["cause_l1"] != first),
                   threshold_hours=d["threshold_hours"].where(d["cause_l1"] != first))
    assert dashed_verticals(off) == reached.sum() - bool(reached[first])


def test_forest_data(bundle, data):
    d = data["F05"]
    assert list(d.columns) == ["model", "term", "cause_l1", "cause_l2", "estimate", "conf_low", "conf_high",
                               "conf_level", "reference_cause_l2"]
    r = bundle["responses"]
    assert len(d) == r["cause_l2"].nunique() - 1, "one row per non-reference sub-cause"
    ref = bundle["model_fit"].set_index("model").loc["ordinal", "reference_cause_l2"]
    assert (d["reference_cause_l2"] == ref).all() and ref not in set(d["cause_l2"])
    assert (d["model"] == "ordinal").all() and (d["term"] == "cause_l2[" + d["cause_l2"] + "]").all()
    est = bundle["estimates"].set_index(["model", "term"])
    np.testing.assert_array_equal(d["estimate"], est.loc[list(zip(d["model"], d["term"], strict=True)),
                                                         "estimate"])
    _check_interval(d, "estimate")


def test_item_correlation_data(bundle, data):
    d = data["F06"]
    assert list(d.columns) == ["item_a", "item_b", "r", "n"]
    items = [it.name for it in bundle["instrument"].items]
    assert list(d["item_a"].drop_duplicates()) == items and list(d["item_b"].iloc[: len(items)]) == items
    assert d["r"].between(-1, 1).all()
    assert (d.loc[d["item_a"] == d["item_b"], "r"] == 1).all()
    merged = d.merge(bundle["item_correlations"], on=["item_a", "item_b"], suffixes=("", "_src"))
    assert len(merged) == len(d) == len(bundle["item_correlations"])
    assert (merged["r"] == merged["r_src"]).all()


def test_monthly_data(bundle, data):
    d = data["F07"]
    assert list(d.columns) == ["month", "n", "n_satisfied", "satisfied_rate", "conf_low", "conf_high",
                               "conf_level", "min_n", "too_few"]
    assert (d["min_n"] == bundle["plan"].bulletin.min_n).all()
    assert (d["too_few"] == (d["n"] < d["min_n"])).all()
    r = bundle["responses"]
    assert d["month"].is_monotonic_increasing and d["month"].is_unique
    assert d["month"].str.fullmatch(r"\d{4}-\d{2}").all()
    assert d["n"].sum() == r["satisfied"].notna().sum()
    assert d["satisfied_rate"].between(0, 1).all()
    _check_interval(d, "satisfied_rate")
    first = r[r["surveyed_at"].dt.strftime("%Y-%m") == d["month"].iloc[0]]["satisfied"].dropna()
    assert d["satisfied_rate"].iloc[0] == pytest.approx(first.mean(), rel=1e-12)


def test_a_month_of_one_answer_is_flagged_and_not_drawn_as_a_point(bundle):
    """The last month holds one (satisfied) answer: the data keeps it, flagged ``too_few``; the
    line and the band skip it (no point at 100%); a hatched strip and the legend say why."""
    import matplotlib as mpl

    from research.artifacts.drawers_fit import draw_monthly
    from research.artifacts.figure_data_fit import figure_monthly_data
    from research.artifacts.theme import apply_theme

    r = bundle["responses"]
    last = r["surveyed_at"].max()
    one = r[r["satisfied"].notna()].iloc[[0]].assign(surveyed_at=last + pd.DateOffset(months=2), satisfied=True)
    d = figure_monthly_data({**bundle, "responses": pd.concat([r, one], ignore_index=True)})
    assert d["n"].iloc[-1] == 1 and d["satisfied_rate"].iloc[-1] == 1.0
    assert d["too_few"].iloc[-1] and (d["too_few"] == (d["n"] < d["min_n"])).all() and not d["too_few"].all()
    with mpl.rc_context():
        apply_theme()
        fig = draw_monthly(d, "en", bundle)
        ax = fig.subfigs[0].axes[0]
        line = next(ln for ln in ax.get_lines() if ln.get_gid() == "monthly-rate")
        y = np.asarray(line.get_ydata(), float)
        few = d["too_few"].to_numpy(bool)
        assert len(y) == len(d) and np.isnan(y[few]).all() and np.isfinite(y[~few]).all()
        assert [a for a in ax.patches if a.get_gid() == "monthly-too-few"]
        assert sum(t.get_text().startswith("n = ") for t in ax.texts) == few.sum()
        legend = [t.get_text() for lg in fig.subfigs[0].legends for t in lg.get_texts()]
        assert any(f"fewer than {d['min_n'].iloc[0]} " in t for t in legend), legend
        assert ax.get_ylim()[1] < 1.0  # the 100% of one answer does not stretch the axis
        fig.clear()


# ---------------------------------------------------------------------------- files


def test_write_figure_files(bundle, data, tmp_path):
    spec = get("F02")
    out = write_figure(spec, bundle, tmp_path, STAMP)
    assert set(out) == {"csv", "zh.png", "zh.svg", "en.png", "en.svg"}
    assert out["zh.png"].name == "F02_satisfaction_by_subcause.zh.png"
    assert out["csv"].read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(out["csv"], encoding="utf-8-sig")
    pd.testing.assert_frame_equal(back, data["F02"].reset_index(drop=True), check_dtype=False)
    assert (back["conf_low"].to_numpy() == data["F02"]["conf_low"].to_numpy()).all(), "floats not exact"
    from PIL import Image

    with Image.open(out["zh.png"]) as im:
        assert round(im.info["dpi"][0]) == 300
        assert "Software" not in im.info
    svg = out["en.svg"].read_text(encoding="utf-8")
    assert STAMP.text("en") in svg and str(STAMP.seed) in svg  # text as paths, stamp kept as a comment
    assert "<text" not in svg and "<dc:date>" not in svg


@pytest.mark.parametrize("fid", ["F01", "F04", "F06"])
def test_write_figure_is_byte_identical(fid, bundle, sample_figure_files, tmp_path):
    spec = get(fid)
    # the first write is the session's build's (in its forked rendering worker, from the bundle used
    # here, with the stamp it drew); the second is this process's
    first, stamp = sample_figure_files(fid)
    with mpl.rc_context({"svg.hashsalt": None, "font.family": "serif"}):  # the caller's settings don't matter
        second = write_figure(spec, bundle, tmp_path / "b", stamp)
    assert set(first) == set(second)
    for key in first:
        assert first[key].read_bytes() == second[key].read_bytes(), f"{fid} {key} differs between two writes"


# ---------------------------------------------------------------------------- F11 station funnel


def test_station_funnel_data_is_the_funnel_with_its_limit_curves(bundle, data):
    from research.strategy.stations import funnel_limits

    d, sf = data["F11"], bundle["station_funnel"]
    pts, cur = d[d["part"] == "station"], d[d["part"] == "limits"]
    assert list(d.columns) == ["part", "station", "n", "rate", "target", "lcl_95", "ucl_95", "lcl_99.8", "ucl_99.8",
                               "z", "q_value", "flagged", "signal", "phi"]
    assert list(pts["station"]) == sorted(sf["station"].astype(str))
    by = sf.set_index("station").loc[pts["station"]]
    np.testing.assert_array_equal(pts["rate"].to_numpy(), by["std_rate"].to_numpy())
    np.testing.assert_array_equal(pts["n"].to_numpy(), by["n"].to_numpy(float))
    flagged = (by["signal"].astype(str) != "") | (by["fdr_signal"].astype(str) != "")
    np.testing.assert_array_equal(pts["flagged"].astype(bool).to_numpy(), flagged.to_numpy())
    phi = float(sf["phi"].iloc[0]) if bool(sf["phi_used"].iloc[0]) else 1.0
    assert (d["phi"] == phi).all()
    # the curves are funnel_limits at the grid, spanning every station, and pass through each station's limits
    assert cur["n"].min() <= pts["n"].min() and cur["n"].max() >= pts["n"].max() and cur["n"].is_monotonic_increasing
    ref = funnel_limits(cur["n"].to_numpy(), float(sf["target"].iloc[0]), phi=phi)
    for c in ("lcl_95", "ucl_95", "lcl_99.8", "ucl_99.8"):
        np.testing.assert_allclose(cur[c].to_numpy(), ref[c].to_numpy(), rtol=0, atol=TOL)
        np.testing.assert_allclose(funnel_limits(pts["n"].to_numpy(), float(sf["target"].iloc[0]), phi=phi)[c],
                                   by[c].to_numpy(), rtol=0, atol=TOL)
    assert (cur["lcl_99.8"] <= cur["lcl_95"]).all() and (cur["ucl_95"] <= cur["ucl_99.8"]).all()


def test_station_funnel_labels_flagged_stations_in_both_languages(bundle, themed):
    """A planted poor and a planted good station are drawn in the flag colour with their names; no data
    draws a sentence instead."""
    from research.strategy.stations import funnel_table

    rng = np.random.default_rng(5)
    names = [f"站{i:02d}" for i in range(25)]
    n = rng.integers(60, 800, len(names))
    st = np.repeat(names, n)
    p = np.where(st == "站03", 0.55, np.where(st == "站11", 0.97, 0.82))
    sf = funnel_table(st, (rng.random(len(st)) < p).astype(float), overdispersion="none")
    d = figures.figure_station_funnel_data({"station_funnel": sf})
    flagged = set(d.loc[d["flagged"].fillna(False).astype(bool), "station"])
    assert {"站03", "站11"} <= flagged
    for lang in ("zh", "en"):
        fig = draw_figure(get("F11"), d, lang, bundle, STAMP)
        fig.savefig(io.BytesIO(), format="png", dpi=72)
        texts = [t.get_text() for t in _texts(fig)]
        assert flagged <= set(texts)
        assert figure_word("limits_99.8", lang) in texts and figure_word("overall_rate", lang) in texts
    empty = figures.figure_station_funnel_data({})
    assert len(empty) == 0
    fig = draw_figure(get("F11"), empty, "en", bundle, STAMP)
    assert figure_word("funnel_not_computed", "en") in [t.get_text() for t in _texts(fig)]

