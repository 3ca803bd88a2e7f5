"""The one zh/en mapping (research.artifacts.words): every word a reader sees is found in both
languages, one concept has one wording, the confidence level shown is the plan's, and a new
table is added as docs/architecture.md says."""

from __future__ import annotations

import collections
import dataclasses
import re

import pandas as pd
import pytest

from research.artifacts import render_tables as rt
from research.artifacts import words
from research.artifacts.registry import BULLETIN, FIGURES, TABLES, ArtifactSpec
from research.artifacts.stamp import Stamp
from research.artifacts.table_cells import Display, Row, headers
from research.artifacts.words import WORDS, MissingWord, word
from research.strategy.drivers import DRIVERS, PERFORMANCE_MEASURES, QUADRANTS

HAN = re.compile(r"[\u4e00-\u9fff]")

#: keys whose zh (or en) equals another key's while the other language differs, on purpose:
#: Chinese has no plural ("模型": a model's column header, "Models" the key listing several)
HOMONYMS = {frozenset({"model", "models_key"})}


@pytest.fixture()
def asked(monkeypatch):
    """Record every key looked up through words.word (and the template lookups) while a test runs."""
    seen: set[str] = set()
    real = words._pair

    def recording(key, instrument, plan):
        seen.add(key)
        return real(key, instrument, plan)

    monkeypatch.setattr(words, "_pair", recording)
    return seen


def test_every_entry_has_both_languages():
    for key, pair in WORDS.items():
        assert isinstance(pair, tuple) and len(pair) == 2, key
        zh, en = pair
        assert zh.strip() and en.strip(), f"{key}: empty zh or en"
        assert not HAN.search(en), f"{key}: Chinese in the English word {en!r}"
        assert words._fields(zh) == words._fields(en), f"{key}: zh and en fill different fields"


def test_one_concept_one_wording():
    """Two keys with the same Chinese have the same English (case aside) and vice versa."""
    def norm(text: str) -> str:
        return text.casefold().strip()

    clashes = []
    for a, b in (("zh", "en"), ("en", "zh")):
        by = collections.defaultdict(dict)
        for key, (zh, en) in WORDS.items():
            if key.startswith("sep_"):  # punctuation, not a concept
                continue
            text = {"zh": zh, "en": en}
            by[norm(text[a])][key] = norm(text[b])
        for same, keys in by.items():
            if len(set(keys.values())) > 1:
                pairs = {frozenset({k1, k2}) for k1 in keys for k2 in keys
                         if k1 < k2 and keys[k1] != keys[k2]}
                clashes += [(same, sorted(p)) for p in pairs - HOMONYMS]
    assert not clashes, f"one wording in one language, two in the other: {clashes}"


def test_unknown_key_and_missing_field_are_loud():
    with pytest.raises(MissingWord, match="no display word for 'no_such_word'"):
        word("no_such_word", "zh")
    with pytest.raises(MissingWord, match="needs level"):
        word("ci", "en")
    with pytest.raises(ValueError, match="lang"):
        word("total", "fr")
    assert word("ci", "zh", level="90%") == "90%置信区间"


def test_strategy_codes_have_words():
    """Drivers, quadrants and performance measures (machine names of the strategy frames)."""
    for key in [*DRIVERS, *QUADRANTS, *(f"measure_{m}" for m in set(PERFORMANCE_MEASURES.values()))]:
        assert HAN.search(word(key, "zh")) and word(key, "en"), key
    assert [word(q, "zh") for q in QUADRANTS] == ["重点改进区", "继续保持区", "次要改进区", "过度投入区"]


def test_instrument_and_plan_words_through_the_same_lookup(instrument, plan):
    assert word("cause_l1:outage", "zh", instrument=instrument) == \
        instrument.label_sets["cause_l1"].zh()["outage"]
    lever = plan.scenarios.levers[0]
    assert word(f"lever:{lever.name}", "en", plan=plan) == lever.en
    assert word(f"model:{plan.models[0].name}", "zh", plan=plan) == plan.models[0].zh
    with pytest.raises(MissingWord, match="cause_l1:no_such_cause"):
        word("cause_l1:no_such_cause", "zh", instrument=instrument)


def test_every_table_figure_and_bulletin_finds_its_words(sample_bundle, sample_build, tmp_path, asked,
                                                         monkeypatch):
    """Walk every table and figure of the sample build and every bulletin table, in zh and en:
    every key asked for exists (word() raises otherwise) and no machine name is shown raw.
    Figures are drawn as for the build but not saved, the bulletins' charts saved at 24 dpi instead
    of 300 (the words are the same; laying out and saving the pixels took most of this test's 22 s)."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from research.artifacts import render_figures
    from research.artifacts.render_figures import draw_figure
    from research.artifacts.theme import apply_theme
    from research.bulletin.run import run_bulletin

    monkeypatch.setattr(render_figures, "PNG_DPI", 24)

    stamp = Stamp("0" * 64, "test")
    for spec in TABLES:
        data = spec.build_function()(sample_bundle)
        for lang in words.LANGS:
            disp = rt.display_table(spec, data, lang, sample_bundle)
            shown = disp.headers + [c for r in disp.rows for c in r.cells] + disp.notes
            leftovers = [t for t in shown if re.search(r"\{[a-z_]+(:[^}]*)?\}", t)]
            assert not leftovers, f"{spec.id} {lang}: unfilled fields {leftovers}"
            if lang == "en":
                assert not [h for h in disp.headers if HAN.search(h)], f"{spec.id}: Chinese in an en header"
    for spec in FIGURES:  # drawn in both languages as write_figure draws them, not laid out or saved
        data = spec.build_function()(sample_bundle)
        for lang in words.LANGS:
            with mpl.rc_context():
                apply_theme()
                plt.close(draw_figure(spec, data, lang, sample_bundle, stamp))
    out, _, _ = sample_build
    for period in ("day", "week", "month"):
        for lang in words.LANGS:
            run_bulletin(out / "ingest", period=period, at="2026-03-11", out=tmp_path / "bulletin", lang=lang)
    fixed = {k for k in asked if ":" not in k}
    assert fixed <= set(WORDS)
    # the walk reached the words of every part: tables, figures, bulletin, stamp
    assert {"ci", "stamp", "cumulative_share", "rank_interval_level", "table_title"} <= fixed


def test_header_level_comes_from_the_plan(sample_bundle, tmp_path):
    """A plan with conf_level 0.9 shows 90% (and no 95%) in T03's and T05's headers, in every format."""
    plan90 = dataclasses.replace(sample_bundle["plan"], conf_level=0.9)
    bundle = dict(sample_bundle, plan=plan90)
    for spec in (t for t in TABLES if t.id in ("T03", "T05")):
        files = rt.write_table(spec, bundle, tmp_path, Stamp("0" * 64, "test"), langs=("zh", "en"))
        for lang in words.LANGS:
            disp = rt.display_table(spec, spec.build_function()(bundle), lang, bundle)
            head = " ".join(disp.headers)
            assert "90%" in head and "95%" not in head, (spec.id, lang, head)
            md = files[f"{lang}.md"].read_text(encoding="utf-8")
            header_line = next(line for line in md.splitlines() if line.startswith("| "))
            assert "90%" in header_line and "95%" not in header_line


def test_headers_fill_the_level_only_where_a_word_has_it():
    assert headers(["ci", "n"], "en", {}) == ["95% CI", "N"]


def test_add_a_table_as_the_howto_says(monkeypatch, sample_bundle, tmp_path):
    """docs/architecture.md, "How to add a word or a table": a word in WORDS, a builder, a display,
    an ArtifactSpec; rendered in zh and en (on a copy of WORDS: monkeypatch restores it)."""
    monkeypatch.setitem(WORDS, "toy_count", ("玩具数", "Toys"))

    def table_toy(bundle: dict) -> pd.DataFrame:
        return pd.DataFrame({"cause_l1": ["outage", "overall"], "toy_count": [3, 5]})

    def display_toy(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
        rows = [Row([rt.word("total", lang) if r.cause_l1 == "overall" else
                     word(f"cause_l1:{r.cause_l1}", lang, instrument=bundle["instrument"]), rt.fmt_count(r.toy_count)])
                for r in data.itertuples(index=False)]
        return Display(headers(["cause_l1", "toy_count"], lang, bundle), ["l", "r"], rows)

    spec = ArtifactSpec("T99", "table", "T99_toys", "玩具", "Toys", "玩具数量。", "Toy counts.", (),
                        table_toy, display=display_toy)
    files = rt.write_table(spec, sample_bundle, tmp_path, Stamp("0" * 64, "test"))
    zh = files["zh.md"].read_text(encoding="utf-8")
    en = files["en.md"].read_text(encoding="utf-8")
    assert "表 T99　玩具" in zh and "| 诉求大类 | 玩具数 |" in zh and "合计" in zh
    assert "Table T99. Toys" in en and "| Cause group | Toys |" in en and "Total" in en
    assert files["csv"].read_text(encoding="utf-8-sig").splitlines()[0] == "cause_l1,toy_count"


def test_displays_are_keyed_by_builder_and_cover_the_registry():
    for spec in TABLES:
        assert rt.display_function(spec) is rt.DISPLAYS[spec.build_function()]
    assert all(callable(k) for k in rt.DISPLAYS)
    orphan = ArtifactSpec("T98", "table", "T98_x", "x", "x", "x", "x", (), lambda b: pd.DataFrame())
    with pytest.raises(KeyError, match="no display for builder"):
        rt.display_function(orphan)


def test_bulletin_specs_have_both_titles():
    for spec in BULLETIN.values():
        assert HAN.search(spec.title("zh")) and not HAN.search(spec.title("en"))


def test_lever_frame_names_come_from_the_plan(plan):
    from research.artifacts.labels import with_lever_names

    names = [lv.name for lv in plan.scenarios.levers]
    frame = pd.DataFrame({"rank": range(1, len(names) + 1), "lever": names, "effect": 0.0})
    out = with_lever_names(frame, plan)
    assert list(out.columns) == ["rank", "lever", "zh", "en", "effect"]
    assert list(out["en"]) == [lv.en for lv in plan.scenarios.levers]
    assert "zh" not in frame.columns  # the computation's frame is left as it was


def test_each_word_is_written_in_one_domain_module_only():
    """The words are split by domain (research/artifacts/words/*.py) but stay one mapping: the
    domain modules hold entries only, every key is in exactly one of them, and the package
    refuses a key written twice."""
    import types

    from research.artifacts.words import bulletin, fit, notes, report, strategy, weights

    domains = (fit, weights, strategy, bulletin, notes, report)
    assert sum(len(m.WORDS) for m in domains) == len(WORDS)
    assert set().union(*(m.WORDS for m in domains)) == set(WORDS)
    for m in domains:  # entries, no lookup of their own
        assert not [n for n, v in vars(m).items() if isinstance(v, types.FunctionType)], m.__name__
    twice = types.SimpleNamespace(__name__="toy_domain", WORDS={"total": ("合计", "Total")})
    with pytest.raises(ValueError, match=r"written twice \(again in toy_domain\): \['total'\]"):
        words._join(fit, notes, twice)
