"""The confidence level a caption or a figure legend shows is the plan's ``conf_level``; levels
fixed by a method (the funnel's 95% and 99.8% limits) stay as they are (issue 13)."""

from __future__ import annotations

import re
import shutil

import matplotlib as mpl
import pytest
from matplotlib.text import Text

from research import paths
from research.artifacts import registry
from research.artifacts import render_tables as rt
from research.artifacts.figure_data_fit import figure_monthly_data, figure_satisfaction_data
from research.artifacts.levels import DEFAULT_CONF_LEVEL, conf_level
from research.artifacts.registry import FIGURES, TABLES
from research.artifacts.render_figures import draw_figure
from research.artifacts.report import TableSource
from research.artifacts.stamp import Stamp
from research.artifacts.theme import apply_theme
from research.config.plan import load_plan

STAMP = Stamp("0" * 64, "test")
#: the entries whose caption names the plan's level (the others name none, or a method's own)
PLAN_LEVEL_IDS = {"T03", "T04", "T05", "T08", "T09", "T13", "F02", "F04", "F05", "F07", "F08", "F09"}


@pytest.fixture(scope="module")
def plan90(tmp_path_factory):
    """The committed plan, read from a temporary copy whose conf_level is 0.9."""
    path = tmp_path_factory.mktemp("plan90") / "analysis_plan.yaml"
    text = (paths.project_root() / "paper" / "analysis_plan.yaml").read_text(encoding="utf-8")
    text, n = re.subn(r"(?m)^conf_level: 0\.95$", "conf_level: 0.9", text)
    assert n == 1, "the committed plan no longer says conf_level: 0.95"
    path.write_text(text, encoding="utf-8")
    plan = load_plan(path)
    assert plan.conf_level == 0.9
    return plan


@pytest.fixture(scope="module")
def bundle90(sample_bundle, plan90):
    return dict(sample_bundle, plan=plan90)


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_captions_name_the_plan_level_where_and_only_where_they_should():
    for spec in TABLES + FIGURES:
        both = spec.zh_caption + spec.en_caption
        assert ("{level}" in both) == (spec.id in PLAN_LEVEL_IDS), spec.id
        if spec.id in PLAN_LEVEL_IDS:  # no literal level left beside the field
            assert "95%" not in both, spec.id
        for lang in ("zh", "en"):
            assert "{level}" not in spec.at_level(0.9).caption(lang)
    # a method's fixed levels are kept
    assert "99.8%" in registry.get("T22").caption("en")
    assert "95% and 99.8%" in registry.get("F11").at_level(0.9).caption("en")


def test_unbound_entry_shows_the_plan_default():
    assert DEFAULT_CONF_LEVEL == load_plan().conf_level
    assert "95%" in registry.get("T03").caption("en") and "90%" in registry.get("T03").at_level(0.9).caption("en")
    assert conf_level({}) == DEFAULT_CONF_LEVEL


def test_table_caption_says_90_percent_in_every_format(bundle90, tmp_path):
    spec = registry.get("T03")
    files = rt.write_table(spec, bundle90, tmp_path, STAMP)
    for lang, word in (("zh", "90%置信区间"), ("en", "90% confidence intervals")):
        for fmt in ("md", "html", "tex"):
            text = files[f"{lang}.{fmt}"].read_text(encoding="utf-8").replace("\\%", "%")  # TeX escapes %
            assert word in text, (lang, fmt)
            assert "95%" not in text, (lang, fmt)
        from docx import Document

        paragraphs = [p.text for p in Document(str(files[f"{lang}.docx"])).paragraphs]
        assert spec.at_level(0.9).caption(lang) in paragraphs and not any("95%" in p for p in paragraphs)


@pytest.mark.parametrize("fig_id", ["F04", "F07"])
def test_figure_legend_says_90_percent(bundle90, fig_id):
    spec = registry.get(fig_id)
    data = spec.build_function()(bundle90)
    with mpl.rc_context():
        apply_theme()
        for lang, band in (("zh", "90%置信带"), ("en", "90% confidence band")):
            fig = draw_figure(spec, data, lang, bundle90, STAMP)
            texts = _texts(fig)
            assert band in texts, (fig_id, lang, texts)
            assert not [t for t in texts if "95%" in t], (fig_id, lang)


def test_figure_intervals_are_at_the_plan_level(bundle90, sample_bundle):
    for build in (figure_satisfaction_data, figure_monthly_data):
        at90, at95 = build(bundle90), build(sample_bundle)
        assert (at90["conf_level"] == 0.9).all() and (at95["conf_level"] == 0.95).all()
        assert ((at90["conf_high"] - at90["conf_low"]) < (at95["conf_high"] - at95["conf_low"])).all()


def test_funnel_limits_stay_fixed_by_the_method(bundle90):
    spec = registry.get("F11")
    data = spec.build_function()(bundle90)
    with mpl.rc_context():
        apply_theme()
        texts = _texts(draw_figure(spec, data, "en", bundle90, STAMP))
    assert "95% limits" in texts and "99.8% limits" in texts


def test_report_figure_captions_take_the_level_the_build_used(bundle90, tmp_path):
    """The report stage gets no bundle: it reads the level of the plan the build used."""
    src = paths.project_root() / "paper" / "analysis_plan.yaml"
    (tmp_path / "fit").mkdir()
    text = re.sub(r"(?m)^conf_level: 0\.95$", "conf_level: 0.9", src.read_text(encoding="utf-8"))
    (tmp_path / "fit" / "analysis_plan_used.yaml").write_text(text, encoding="utf-8")
    assert "90%" in TableSource(tmp_path).spec("F02").caption("en")
    assert "90%" in TableSource(tmp_path / "nowhere", bundle=bundle90).spec("F07").caption("zh")
    shutil.rmtree(tmp_path / "fit")
    assert "95%" in TableSource(tmp_path).spec("F02").caption("en")
