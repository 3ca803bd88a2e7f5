"""典型案例分析 in the build (issue 14 point 3): the plan's ``typical_cases`` section, the strategy
stage writing ``strategy/typical_terms.csv`` and ``typical_cases.csv``, T23 and F12 from them, planted
phrases recovered through the stage, and no personal number planted in a raw comment reaching any of
the new outputs."""

from __future__ import annotations

import dataclasses
import re
import zipfile

import pandas as pd
import pytest

from research import paths
from research.config.plan import load_plan
from research.config.plan_specs import TypicalCasesSpec
from research.errors import InputError
from research.pipeline.stages import STRATEGY_ENTRIES, Build, strategy_stage, typical_results
from research.simulate import SimParams, simulate, write_simulation

NEW_OUTPUTS = ("strategy/typical_terms.csv", "strategy/typical_cases.csv", "tables/T23_typical_cases",
               "figures/F12_typical_terms")


def _plan_with(tmp_path, section: str):
    text = (paths.project_root() / "paper" / "analysis_plan.yaml").read_text(encoding="utf-8")
    path = tmp_path / "plan.yaml"
    path.write_text(text + "\n" + section + "\n", encoding="utf-8")
    return load_plan(path)


# --- the plan section -------------------------------------------------------------------------------

def test_the_section_is_optional_and_read_when_given(tmp_path, plan):
    assert plan.typical_cases == TypicalCasesSpec(per_group=3, prior=None, top=10, min_count=5)
    got = _plan_with(tmp_path, "typical_cases: {per_group: 2, prior: 500, top: 7, min_count: 3}").typical_cases
    assert got == TypicalCasesSpec(per_group=2, prior=500.0, top=7, min_count=3)
    assert _plan_with(tmp_path, "typical_cases: {prior: null}").typical_cases.prior is None


@pytest.mark.parametrize("section, key", [
    ("typical_cases: {per_group: 0}", "typical_cases.per_group"),
    ("typical_cases: {per_group: 11}", "typical_cases.per_group"),
    ("typical_cases: {per_group: true}", "typical_cases.per_group"),
    ("typical_cases: {top: 0}", "typical_cases.top"),
    ("typical_cases: {top: 51}", "typical_cases.top"),
    ("typical_cases: {min_count: 0}", "typical_cases.min_count"),
    ("typical_cases: {prior: 0}", "typical_cases.prior"),
    ("typical_cases: {prior: -5}", "typical_cases.prior"),
    ("typical_cases: {prior: .inf}", "typical_cases.prior"),
    ("typical_cases: {prior: many}", "typical_cases.prior"),
    ("typical_cases: {per_grup: 2}", "typical_cases.per_grup"),
    ("typical_cases: [3]", "typical_cases"),
])
def test_a_bad_setting_is_one_input_error_naming_the_key(tmp_path, section, key):
    with pytest.raises(InputError, match=re.escape(f"key '{key}'")):
        _plan_with(tmp_path, section)


# --- the sample build ---------------------------------------------------------------------------------

def test_the_sample_build_writes_the_typical_cases_and_compares_them(sample_build):
    out, manifest, _ = sample_build
    terms = pd.read_csv(out / "strategy" / "typical_terms.csv", encoding="utf-8-sig")
    cases = pd.read_csv(out / "strategy" / "typical_cases.csv", encoding="utf-8-sig", dtype={"ticket_id": str})
    assert list(terms.columns[:3]) == ["cause_l1", "rank", "term"] and (terms["z"] >= 1.96).all()
    assert terms.groupby("cause_l1")["rank"].max().le(10).all() and len(terms) > 0
    assert list(cases.columns) == ["cause_l1", "rank", "ticket_id", "cause_l2", "comment", "score", "matched"]
    assert cases.groupby("cause_l1").size().le(3).all() and set(cases["cause_l1"]) <= set(terms["cause_l1"])
    listed = {a["path"]: a for a in manifest["artifacts"]}
    for rel in ("strategy/typical_terms.csv", "strategy/typical_cases.csv", "tables/T23_typical_cases.csv",
                "figures/F12_typical_terms.csv"):
        assert listed[rel]["compare"] and listed[rel]["tolerance"] == "closed_form", rel
    for rel in ("tables/T23_typical_cases.zh.docx", "figures/F12_typical_terms.zh.png"):
        assert rel in listed
    values = pd.read_csv(out / "values.csv", encoding="utf-8-sig").set_index("name")
    top = terms.sort_values(["comments_dissatisfied", "cause_l1", "rank"], ascending=[False, True, True]).iloc[0]
    assert values.loc["typical_top_term", "zh"] == top["term"]
    assert float(values.loc["typical_top_z", "value"]) == pytest.approx(top["z"])
    zh = (out / "report" / "report.zh.html").read_text(encoding="utf-8")
    assert "典型案例分析" in zh and f"“{top['term']}”" in zh


# --- planted phrases, through the stage -----------------------------------------------------------------

def _ingested(tmp_path, sim):
    from research.ingestion.run import ingest

    files = write_simulation(sim, tmp_path / "sim")
    return ingest(files["survey"], None)


def _build(tmp_path, plan) -> Build:
    from research.config.instrument import load_instrument

    return Build(survey=tmp_path, workorders=None, root=tmp_path / "build", plan=plan,
                 instrument=load_instrument(), plan_file=plan.path, reps=0, say=lambda _m: None)


def test_planted_phrases_come_out_of_the_strategy_stage(tmp_path, plan, monkeypatch):
    """A simulation with cause-specific phrases in dissatisfied comments, through the strategy stage
    (its levers and key drivers stubbed: they have their own tests and take most of its time): in the
    stage's typical_terms.csv each of the two largest groups ranks one of its planted words first,
    holds at least two of them and none of another group's; each typical case holds one of them."""
    import research.pipeline.stages as stages

    monkeypatch.setattr(stages, "lever_results", lambda *a, **k: {"levers": pd.DataFrame(),
                                                                  "associations": pd.DataFrame()})
    monkeypatch.setattr(stages, "driver_results", lambda *a, **k: {"importance": pd.DataFrame(),
                                                                   "ipa": pd.DataFrame()})
    sim = simulate(8000, 11, params=SimParams(comment_cause_share=0.9, comment_cause_noise=0.05))
    responses = _ingested(tmp_path, sim).responses
    (tmp_path / "build").mkdir()
    spec = TypicalCasesSpec(per_group=2, top=10)
    part = strategy_stage(_build(tmp_path, dataclasses.replace(plan, typical_cases=spec)),
                          {"responses": responses, "weights": None, "calibration": None})
    assert set(part) == set(STRATEGY_ENTRIES)
    terms = pd.read_csv(tmp_path / "build" / "strategy" / "typical_terms.csv", encoding="utf-8-sig")
    cases = pd.read_csv(tmp_path / "build" / "strategy" / "typical_cases.csv", encoding="utf-8-sig")
    truth = sim.truth["comment_terms"]["terms"]
    assert terms.groupby("cause_l1").size().max() <= spec.top
    for group in responses["cause_l1"].value_counts().index[:2]:
        mine = terms[terms["cause_l1"] == group].sort_values("rank")
        others = {t for g, ts in truth.items() if g != group for t in ts}
        assert mine["term"].iloc[0] in truth[group], (group, list(mine["term"]))
        assert len(set(mine["term"]) & set(truth[group])) >= 2 and not set(mine["term"]) & others
        chosen = cases[cases["cause_l1"] == group]
        assert len(chosen) == spec.per_group
        assert all(any(t in c for t in truth[group]) for c in chosen["comment"])


# --- personal numbers -------------------------------------------------------------------------------------

PHONE, IDCARD = "13987654321", "44010619851203271X"


def _text_of(path) -> str:
    if path.suffix == ".docx":
        with zipfile.ZipFile(path) as z:
            return " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    return path.read_text(encoding="utf-8-sig")


def test_a_phone_and_id_card_in_raw_comments_reach_no_new_output(tmp_path, plan):
    """Every dissatisfied outage comment of the raw export carries a phone and an ID-card number, so the
    typical outage cases are such comments: their numbers appear nowhere in the stage's CSVs, T23 (CSV,
    HTML, Markdown, LaTeX, DOCX in zh and en), F12's data or the named values; the mask does."""
    from research.artifacts.registry import get
    from research.artifacts.render_figures import write_figure
    from research.artifacts.render_tables import write_table
    from research.artifacts.stamp import Stamp
    from research.artifacts.values_strategy import typical_values
    from research.config.instrument import load_instrument
    from research.ingestion.run import ingest

    sim = simulate(1500, 12, params=SimParams(comment_cause_share=0.8))
    files = write_simulation(sim, tmp_path / "sim")
    raw = pd.read_csv(files["survey"], dtype=str, encoding="utf-8-sig", keep_default_na=False)
    unhappy = raw["总体满意度"].isin(["一般", "不满意", "非常不满意"]) & (raw["诉求大类"] == "停电问题") & (raw["客户意见"] != "")
    assert unhappy.sum() >= 10
    raw.loc[unhappy, "客户意见"] += f"，联系电话{PHONE}，身份证{IDCARD}"
    raw.to_csv(files["survey"], index=False, encoding="utf-8-sig")
    responses = ingest(files["survey"], None).responses
    ins = load_instrument()
    bundle = {**typical_results(responses, plan=plan), "plan": plan, "instrument": ins, "responses": responses}
    out = tmp_path / "out"
    (out / "strategy").mkdir(parents=True)
    written = []
    for key in ("typical_terms", "typical_cases"):
        bundle[key].to_csv(out / "strategy" / f"{key}.csv", index=False, encoding="utf-8-sig")
        written.append(out / "strategy" / f"{key}.csv")
    stamp = Stamp("0" * 64, "test")
    written += list(write_table(get("T23"), bundle, out / "tables", stamp).values())
    written += [p for p in write_figure(get("F12"), bundle, out / "figures", stamp).values() if p.suffix == ".csv"]
    values = pd.DataFrame(typical_values(bundle)).to_csv(index=False)
    texts = {p.name: _text_of(p) for p in written} | {"values": values}
    outage_cases = bundle["typical_cases"][bundle["typical_cases"]["cause_l1"] == "outage"]
    assert len(outage_cases) == plan.typical_cases.per_group
    assert all("[PHONE]" in c and "[IDCARD]" in c for c in outage_cases["comment"])
    assert any("[PHONE]" in t for t in texts.values())  # the planted comments did reach the outputs
    digits = re.compile(r"\d{7,}")
    for name, text in texts.items():
        assert PHONE not in text and IDCARD not in text and IDCARD[:17] not in text, name
        assert not [d for d in digits.findall(text) if d in PHONE + IDCARD], name
