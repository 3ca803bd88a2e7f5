"""The report reads as a methodologist would sign it (issue 11, point 8): a "how to read these
numbers" section near the start and a limitations section near the end in both languages, the
sample build saying plainly that its data are simulated, and no causal verbs on the association
results (resolution and repeat calls are partly consequences of dissatisfaction, never levers)."""

from __future__ import annotations

import re

import pytest

from research.artifacts import report

HEADINGS = {"zh": ("如何阅读本报告的数字", "局限性"), "en": ("How to read these numbers", "Limitations")}

#: verbs that state an effect; none may sit in a sentence about resolution or repeat calls
CAUSAL_EN = re.compile(r"\b(raises?|raising|drives?|driving|leads? to|costs?|improves?|improving|reduces?|"
                       r"lowers?|boosts?|increases?|harms?|hurts?|damages?)\b", re.IGNORECASE)
ASSOCIATION_EN = re.compile(r"\b(resol\w*|repeat\w*)\b", re.IGNORECASE)
#: (dissatisfaction causing the answer, "由不满意反过来造成", is the allowed direction)
CAUSAL_ZH = ("降低满意", "提升满意", "提高满意", "导致满意", "导致不满", "造成不满", "使满意", "显著降低", "损失")
ASSOCIATION_ZH = ("办结", "重复来电", "重复致电")


def _sentences_en(text: str) -> list[str]:
    text = re.sub(r"\{\{[^}]*\}\}", "X", text)  # values hold decimal points
    return [s for s in re.split(r"(?<=[.;:!?])\s+|\n+", text) if s.strip()]


def _sentences_zh(text: str) -> list[str]:
    return [s for s in re.split(r"[。；\n]+", text) if s.strip()]


def test_en_template_words_resolution_and_repeat_calls_as_associations():
    text = report.template_path("en").read_text(encoding="utf-8")
    bad = [s for s in _sentences_en(text) if ASSOCIATION_EN.search(s) and CAUSAL_EN.search(s)]
    assert not bad, "causal wording on an association result:\n" + "\n".join(bad)


def test_zh_template_words_resolution_and_repeat_calls_as_associations():
    text = report.template_path("zh").read_text(encoding="utf-8")
    bad = [s for s in _sentences_zh(text)
           if any(w in s for w in ASSOCIATION_ZH) and any(v in s for v in CAUSAL_ZH)]
    assert not bad, "causal wording on an association result:\n" + "\n".join(bad)


def test_the_checks_catch_causal_wording():
    """The checks above are not vacuous: the old wording of the report fails them."""
    old_en = "- Repeat calls cost satisfaction: a repeat-caller early-warning mechanism is warranted."
    assert any(ASSOCIATION_EN.search(s) and CAUSAL_EN.search(s) for s in _sentences_en(old_en))
    assert any(ASSOCIATION_EN.search(s) and CAUSAL_EN.search(s)
               for s in _sentences_en("Resolving every complaint raises satisfaction by 4 points."))
    old_zh = "- 重复来电显著降低满意度，应建立重复致电预警处置机制。"
    assert any(any(w in s for w in ASSOCIATION_ZH) and any(v in s for v in CAUSAL_ZH)
               for s in _sentences_zh(old_zh))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_headings_in_order_in_the_templates(lang):
    """How-to-read comes right after the summary, before the first numbered section; limitations is
    the last numbered section, before the conclusions and the appendix (issue 14)."""
    text = report.template_path(lang).read_text(encoding="utf-8")
    heads = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("## ")]
    how, lim = HEADINGS[lang]
    assert heads[1] == how
    numbered = [h for h in heads if h[:1].isdigit()]
    assert numbered[-1].endswith(lim)
    assert heads.index(numbered[-1]) < len(heads) - 2  # then conclusions, appendix


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_built_report_has_how_to_read_and_limitations(sample_build, lang):
    out, _, _ = sample_build
    html = (out / "report" / f"report.{lang}.html").read_text(encoding="utf-8")
    how, lim = HEADINGS[lang]
    assert how in html and lim in html
    assert html.index(how) < html.index(lim)
    # the committed sample is recognised and called simulated, in plain words
    assert ("模拟数据" if lang == "zh" else "simulated data") in html
    assert "{{" not in html and "[[" not in html
    # the number of stations (the clusters of every clustered interval) is quoted
    assert re.search(r"G = \d+", html)
