"""Tables T01..T08: builders (data), renderers (csv/html/md/docx/tex), snapshots and determinism.

Two bundles:
- ``small``: a simulated export (3,000 surveys, a few planted faults) ingested and
  fitted once per module; the threshold bootstrap is off (``bootstrap_reps=0``)
  because a cluster bootstrap of so few rows can drop a sub-cause from a replicate.
- ``fixed``: a hand-written bundle (ingest report and thresholds only) for the
  snapshot tests, so that the snapshots change only when rendering changes.

Snapshots live in ``tests/snapshots/tables/``. A missing snapshot is written and
the test skipped; to accept a deliberate change, rerun with
``RESEARCH_UPDATE_SNAPSHOTS=1``.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.artifacts import render_tables as rt
from research.artifacts import table_cells
from research.artifacts.docx_util import DOCX_EAST_ASIA_FONT, FIXED_TIME
from research.strategy import causal
from research.artifacts import labels, tables
from research.artifacts.render_tables import display_table
from research.artifacts.bundle import make_bundle
from research.artifacts.registry import TABLES, get
from research.artifacts.stamp import Stamp
from research.ingestion.run import ingest
from research.models.run import fit_plan
from research.representativeness.run import analyse_representativeness
from research.artifacts.labels import with_lever_names
from research.strategy.scenarios import run_levers
from research.config.plan import load_plan
from research.simulate import simulate, write_simulation
from research.stats.intervals import wilson_interval

from conftest import TEST_KEY


SNAPSHOTS = Path(__file__).parents[1] / "snapshots" / "tables"
STAMP = Stamp("0" * 64, "testcommit", 1)
#: numbers copied from a result frame must be equal exactly (no arithmetic happens on the way)
EXACT = dict(rtol=0, atol=0)

EXPECTED_COLUMNS = {
    "T01": ["cause_l1", "work_orders", "completed_surveys", "valid_responses", "satisfied", "satisfied_rate",
            "median_handling_hours", "mean_handling_hours"],
    "T02": ["row_type", "role", "file", "reason", "rows_read", "accepted", "rejected"],
    "T03": ["level", "cause_l1", "cause_l2", "n", "satisfied", "satisfied_rate", "rate_conf_low",
            "rate_conf_high", "mean_score", "mean_std_error", "mean_conf_low", "mean_conf_high", "conf_level"],
    "T05": ["model", "term", "scale", "cause_l1", "estimate", "std_error", "statistic", "p_value", "conf_low",
            "conf_high", "conf_level", "n"],
    "T06": ["cause_l1", "threshold_hours", "conf_low", "conf_high", "conf_level", "reached", "upper_reached",
            "reference_hours", "reference_rate", "max_hours", "drop_points", "boot_reps", "boot_not_reached", "n",
            "shape", "change_point_p", "breakpoint_hours", "breakpoint_low", "breakpoint_high", "slope_per_doubling",
            "slope_low", "slope_high", "n_dissatisfied", "change_point_kind"],
    "T07": ["analysis", "dv", "between", "method", "statistic", "df1", "df2", "p_value", "effect_size",
            "effect_size_name", "n", "n_groups", "n_missing"],
    "T08": ["row_type", "name", "alpha", "conf_low", "conf_high", "conf_level", "mean", "sd", "item_rest_r",
            "alpha_if_dropped", "n", "n_items", "n_missing", "method"],
    "T23": ["cause_l1", "part", "rank", "term", "n_dissatisfied", "n_satisfied", "delta", "se", "z",
            "comments_dissatisfied", "comments_satisfied", "ticket_id", "cause_l2", "comment", "score", "matched"],
}


# --------------------------------------------------------------------------- bundles

@pytest.fixture(scope="module")
def small(tmp_path_factory, instrument):
    """A small fitted bundle (simulated, 1% planted faults), built once for the module."""
    plan = load_plan()
    plan = dataclasses.replace(plan, thresholds=dataclasses.replace(plan.thresholds, bootstrap_reps=0))
    files = write_simulation(simulate(3000, 5, faults=0.01), tmp_path_factory.mktemp("sim"))
    ing = ingest(files["survey"], files["workorders"], key=TEST_KEY)
    fit = fit_plan(ing.responses, plan=plan, instrument=instrument)
    bundle = make_bundle(ing, fit, plan=plan, instrument=instrument)
    bundle.update(analyse_representativeness(ing.responses, ing.workorders, plan=plan, instrument=instrument))
    plan_l = dataclasses.replace(plan, scenarios=dataclasses.replace(plan.scenarios, bootstrap_reps=20))
    bundle["levers"] = with_lever_names(run_levers(ing.responses, plan=plan_l, instrument=instrument), plan_l)
    from research.strategy.drivers import key_drivers

    kd = key_drivers(ing.responses, bootstrap_reps=20)
    bundle["drivers_importance"], bundle["drivers_ipa"] = kd["importance"], kd["ipa"]
    from research.strategy.monitoring import p_chart, recurrence, repeat_callers

    rec = recurrence(ing.workorders, alpha=0.05)  # a lenient alpha so that the small sample flags cells
    bundle["recurrence"], bundle["recurrence_tested"] = rec[rec["flagged"]].reset_index(drop=True), len(rec)
    bundle["repeat_callers"] = repeat_callers(ing.workorders, ing.responses)
    bundle["p_chart"] = p_chart(ing.responses, sigma=2.0)
    from research.strategy.causal import associations
    from research.strategy.stations import funnel

    bundle["associations"] = associations(ing.responses, plan=plan, instrument=instrument)
    bundle["station_funnel"] = funnel(ing.responses, instrument=instrument)
    from research.pipeline.stages import typical_results

    bundle.update(typical_results(ing.responses, plan=plan))
    return bundle


@pytest.fixture(scope="module")
def built(small):
    """Every table's data, built once: id -> frame."""
    return {spec.id: spec.build_function()(small) for spec in TABLES}


@pytest.fixture(scope="module")
def fixed(instrument):
    """A hand-written bundle for the snapshots: LaTeX/Markdown specials in a file name, a reason
    with zero rows, a threshold with an open upper bound and one not reached."""
    reasons = {"duplicate": {"zh": "重复行", "en": "identical copy of an earlier row"},
               "invalid_datetime": {"zh": "日期时间无法识别", "en": "unrecognised date or time"},
               "unknown_label": {"zh": "未知标签", "en": "label not in the instrument"}}
    report = {
        "files": [
            {"role": "survey", "file": "survey_2025 Q1 & Q2 (50%) #1|$x$.csv", "rows_read": 12345,
             "accepted": 12311, "rejected": 34,
             "rejected_by_reason": {"duplicate": 4, "invalid_datetime": 30, "unknown_label": 0}},
            {"role": "workorders", "file": "工单导出_2025.xlsx", "rows_read": 50000, "accepted": 49999,
             "rejected": 1, "rejected_by_reason": {"duplicate": 0, "invalid_datetime": 0, "unknown_label": 1}},
        ],
        "rows_read": 62345, "accepted": 62310, "rejected": 35, "reasons": reasons,
    }
    thresholds = pd.DataFrame({
        "cause_l1": ["voltage", "outage", "service", "capability"],
        "threshold_hours": [41.38503, 3.141465, 14.79, np.nan],
        "conf_low": [25.547, 2.6144, 10.76, np.nan],
        "conf_high": [192.823, 4.24586, np.nan, np.nan],
        "conf_level": 0.95,
        "reached": [True, True, True, False],
        "upper_reached": [True, True, False, False],
        "reference_hours": [17.2033, 0.8333, 5.7, 14.9367],
        "reference_rate": [0.812683, 0.919456, 0.866777, 0.843585],
        "max_hours": [298.88, 44.958, 189.07, 305.2167],
        "drop_points": 5.0,
        "boot_reps": 200,
        "boot_not_reached": [3, 0, 61, 200],
        "n": [1329, 10411, 6022, 1542],
        "method": "logit of satisfied, restricted cubic spline",
    })
    return {"ingest_report": report, "thresholds": thresholds, "instrument": instrument}


# --------------------------------------------------------------------------- builders

@pytest.mark.parametrize("spec", TABLES, ids=[s.id for s in TABLES])
def test_builder_returns_tidy_frame_with_documented_columns(spec, built, small):
    data = built[spec.id]
    assert isinstance(data, pd.DataFrame) and len(data) > 0, f"{spec.id}: empty table"
    if spec.id in EXPECTED_COLUMNS:
        assert list(data.columns) == EXPECTED_COLUMNS[spec.id], f"{spec.id}: columns changed"
    assert data.index.equals(pd.RangeIndex(len(data))), f"{spec.id}: index is not 0..n-1"
    assert all(isinstance(c, str) and c == c.lower() and " " not in c for c in data.columns), \
        f"{spec.id}: column names must be snake_case machine names"
    # numbers stay numbers: no formatted strings such as "81.2%" or "<0.001"
    for col in data.columns:
        if pd.api.types.is_string_dtype(data[col]):
            values = data[col].dropna().astype(str)
            assert not values.str.contains(r"%|<0\.|\d,\d", regex=True).any(), \
                f"{spec.id}.{col}: display formatting found in the data"
    again = spec.build_function()(small)
    pd.testing.assert_frame_equal(data, again, obj=f"{spec.id} built twice")


def test_t01_sample_counts_add_up(built, small):
    t = built["T01"].set_index("cause_l1")
    resp, wo = small["responses"], small["workorders"]
    overall, groups = t.loc["overall"], t.drop(index="overall")
    assert overall["completed_surveys"] == len(resp)
    assert overall["work_orders"] == len(wo)
    assert overall["valid_responses"] == resp["sat_overall"].notna().sum()
    for col in ("work_orders", "completed_surveys", "valid_responses", "satisfied"):
        assert groups[col].sum() == overall[col], f"T01 {col}: groups do not add up to overall"
    assert list(groups.index) == list(small["instrument"].label_sets["cause_l1"].codes)
    assert ((t["satisfied_rate"] >= 0) & (t["satisfied_rate"] <= 1)).all()
    assert t["satisfied_rate"].to_numpy() == pytest.approx((t["satisfied"] / t["valid_responses"]).to_numpy())
    assert overall["median_handling_hours"] == pytest.approx(resp["handling_hours"].median())
    assert (t["valid_responses"] <= t["completed_surveys"]).all()
    assert (t["completed_surveys"] <= t["work_orders"]).all()


def test_t01_without_workorders_has_missing_work_orders(small):
    data = tables.table_sample({**small, "workorders": None})
    assert data["work_orders"].isna().all()
    disp = rt.display_table(get("T01"), data, "en", small)
    assert "Work orders" not in disp.headers


def test_t02_reconciliation_holds(built, small):
    t = built["T02"]
    report = small["ingest_report"]
    files = t[t["row_type"] == "file"]
    assert list(files["file"]) == [f["file"] for f in report["files"]]
    assert (files["rows_read"] == files["accepted"] + files["rejected"]).all(), "rows read != accepted + rejected"
    for _, f in files.iterrows():
        reasons = t[(t["row_type"] == "reason") & (t["file"] == f["file"])]
        assert reasons["rejected"].sum() == f["rejected"], f"{f['file']}: reason counts do not sum to rejected"
        assert (reasons["rejected"] > 0).all()
        assert set(reasons["reason"]) <= set(report["reasons"]), "reason without a label in the report"
    total = t[t["row_type"] == "total"].iloc[0]
    assert (total["rows_read"], total["accepted"], total["rejected"]) == \
        (report["rows_read"], report["accepted"], report["rejected"])
    assert files["rejected"].sum() == total["rejected"] > 0, "the planted faults must show as rejections"


def test_wilson_interval_matches_r_prop_test():
    # In R: prop.test(8, 10, correct = FALSE)$conf.int -> 0.4901625 0.9433178
    low, high = wilson_interval([8, 0, 5], [10, 5, 0], 0.95)
    assert low[0] == pytest.approx(0.4901625, abs=1e-7) and high[0] == pytest.approx(0.9433178, abs=1e-7)
    assert low[1] == 0 and 0 < high[1] < 1          # no successes: interval starts at 0
    assert math.isnan(low[2]) and math.isnan(high[2])  # n = 0: undefined


def test_t03_intervals_bracket_rates_and_means(built, small):
    t = built["T03"]
    assert ((t["satisfied_rate"] >= 0) & (t["satisfied_rate"] <= 1)).all(), "rate outside [0, 1]"
    assert (t["rate_conf_low"] >= 0).all() and (t["rate_conf_high"] <= 1).all()
    assert (t["rate_conf_low"] <= t["satisfied_rate"]).all() and (t["satisfied_rate"] <= t["rate_conf_high"]).all()
    assert (t["mean_conf_low"] <= t["mean_score"]).all() and (t["mean_score"] <= t["mean_conf_high"]).all()
    assert t["mean_score"].between(1, 5).all()
    groups = t[t["level"] == "cause_l1"].set_index("cause_l1")
    subs = t[t["level"] == "cause_l2"]
    assert (subs.groupby("cause_l1")["n"].sum() == groups["n"].reindex(subs.groupby("cause_l1").size().index)).all()
    overall = t[t["level"] == "overall"].iloc[0]
    valid = small["responses"][small["responses"]["sat_overall"].notna()]
    assert overall["n"] == len(valid) == groups["n"].sum()
    assert overall["mean_score"] == pytest.approx(valid["sat_overall"].astype(float).mean())
    parent = small["instrument"].parent
    assert all(parent[r.cause_l2] == r.cause_l1 for r in subs.itertuples()), "sub-cause under the wrong group"


def test_t04_one_row_per_term_and_numbers_equal_estimates(built, small):
    t, est, fit = built["T04"], small["estimates"], small["model_fit"]
    body = t[t["kind"] != "fit"]
    assert sorted(body["term"]) == sorted(est["term"].unique()), "T04 must hold each distinct term once"
    assert list(t.loc[t["kind"] == "fit", "term"]) == list(tables.FIT_STATISTICS)
    assert len(t) == est["term"].nunique() + len(tables.FIT_STATISTICS)
    models = tables.model_names(t)
    assert models == list(fit["model"])
    wide = body.set_index("term")
    checked = 0
    for r in est.itertuples():
        for col in ("estimate", "std_error", "p_value"):
            got, want = wide.at[r.term, f"{r.model}_{col}"], getattr(r, col)
            assert (math.isnan(got) and math.isnan(want)) or got == want, f"T04 {r.model} {r.term} {col}"
            checked += 1
    assert checked == 3 * len(est)
    # a term a model lacks is empty, not zero
    present = set(zip(est["model"], est["term"], strict=True))
    for m in models:
        absent = [term for term in wide.index if (m, term) not in present]
        assert wide.loc[absent, f"{m}_estimate"].isna().all()
    fit_rows = t[t["kind"] == "fit"].set_index("term")
    for r in fit.itertuples():
        for stat in tables.FIT_STATISTICS:
            assert fit_rows.at[stat, f"{r.model}_estimate"] == float(getattr(r, stat)), f"T04 {r.model} {stat}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_t04_shows_odds_ratios_with_intervals_and_holm_stars(built, small, tmp_path, lang):
    """Logit and ordinal coefficients as exp(b) [low, high] with stars from the Holm p of the sub-cause
    contrasts (unadjusted p elsewhere); OLS/mixed coefficients with intervals; cutpoints as log-odds
    with standard errors; the note says so; every format writes in both languages."""
    t, est = built["T04"], small["estimates"]
    disp = display_table(get("T04"), t, lang, small)
    models = tables.model_names(t)
    cells = [row.cells for row in disp.rows if not row.span]
    labels_ = [c[0] for c in cells]
    fam = small["model_fit"].set_index("model")["family"]
    checked = {"odds": 0, "coef": 0, "cut": 0, "holm_differs": 0}
    for r in est[est["kind"].isin(["coefficient", "cutpoint"])].itertuples():
        j = 1 + models.index(r.model)
        i = labels_.index(table_cells._term(r.term, lang, small))
        holm = isinstance(r.p_holm, float) and not math.isnan(r.p_holm)
        p = r.p_holm if holm else r.p_value
        if r.kind == "cutpoint":
            assert cells[i][j] == rt.fmt_num(r.estimate) + rt.stars(p), f"{r.model} {r.term}: cutpoint not log-odds"
            assert cells[i + 1][j] == f"({rt.fmt_num(r.std_error)})"
            checked["cut"] += 1
        elif fam[r.model] in ("logit", "ordinal"):
            assert cells[i][j] == rt.fmt_num(math.exp(r.estimate)) + rt.stars(p), f"{r.model} {r.term}"
            assert cells[i + 1][j] == f"[{rt.fmt_num(math.exp(r.conf_low))}, {rt.fmt_num(math.exp(r.conf_high))}]"
            checked["odds"] += 1
        else:
            assert cells[i][j] == rt.fmt_num(r.estimate) + rt.stars(p), f"{r.model} {r.term}"
            assert cells[i + 1][j] == f"[{rt.fmt_num(r.conf_low)}, {rt.fmt_num(r.conf_high)}]"
            checked["coef"] += 1
        checked["holm_differs"] += holm and rt.stars(r.p_holm) != rt.stars(r.p_value)
    assert checked["odds"] and checked["coef"] and checked["cut"], checked
    k = int(est.loc[est["model"] == "logit", "p_holm"].notna().sum())
    assert k == 16
    note = " ".join(disp.notes)
    assert (f"Holm-adjusted across the {k} sub-cause contrasts" in note if lang == "en"
            else f"{k}个子类对比的Holm校正p值" in note)
    files = rt.write_table(get("T04"), small, tmp_path, STAMP, langs=(lang,))
    assert {f.split(".")[-1] for f in files} >= {"csv", "html", "md", "docx", "tex"}
    md = files[f"{lang}.md"].read_text(encoding="utf-8")
    logit_sub = est[(est["model"] == "logit") & est["term"].str.startswith("cause_l2[")].iloc[0]
    assert rt.fmt_num(math.exp(logit_sub.estimate)) in md


def test_t05_rows_equal_marginal_effects(built, small):
    t, me = built["T05"], small["marginal_effects"]
    assert len(t) == len(me)
    keys = ["model", "scale", "cause_l1"]
    merged = t.merge(me, on=keys, suffixes=("", "_src"), validate="one_to_one")
    for col in ("estimate", "std_error", "p_value", "conf_low", "conf_high"):
        np.testing.assert_allclose(merged[col], merged[f"{col}_src"], **EXACT, err_msg=f"T05 {col}")
    assert list(dict.fromkeys(t["scale"])) == [s for s in tables.EFFECT_SCALES if s in set(me["scale"])]


def test_t06_equals_thresholds_frame(built, small):
    t, th = built["T06"], small["thresholds"]
    src = th.set_index("cause_l1").loc[t["cause_l1"]]
    for col in ("threshold_hours", "conf_low", "conf_high", "reference_hours", "reference_rate", "max_hours",
                "drop_points", "n", "boot_reps"):
        np.testing.assert_allclose(t[col].to_numpy(float), src[col].to_numpy(float), **EXACT, err_msg=f"T06 {col}")
    assert list(t["reached"]) == list(src["reached"])
    codes = small["instrument"].label_sets["cause_l1"].codes
    assert list(t["cause_l1"]) == [c for c in codes if c in set(th["cause_l1"])]


def test_t07_holds_comparisons_then_association(built, small):
    t, comp, assoc = built["T07"], small["comparisons"], small["association"]
    assert len(t) == len(comp) + len(assoc)
    np.testing.assert_allclose(t["statistic"].iloc[: len(comp)], comp["statistic"], **EXACT)
    last = t.iloc[len(comp):]
    np.testing.assert_allclose(last["effect_size"], assoc["cramers_v"], **EXACT)
    assert (last["effect_size_name"] == "cramers_v").all()
    assert t["p_value"].between(0, 1).all()


def test_t08_alpha_then_items(built, small):
    t = built["T08"]
    assert list(t["row_type"]) == ["scale"] + ["item"] * len(small["item_statistics"])
    assert t.loc[0, "alpha"] == small["reliability"].loc[0, "alpha"]
    assert list(t["name"].iloc[1:]) == list(small["item_statistics"]["item"])
    assert t.loc[0, "conf_low"] <= t.loc[0, "alpha"] <= t.loc[0, "conf_high"]


# --------------------------------------------------------------------------- display rules

def test_number_formats():
    assert rt.fmt_count(19920) == "19,920" and rt.fmt_count(pd.NA) == ""
    assert rt.fmt_pct(0.80895) == "80.9%"
    assert rt.fmt_p(3e-40) == "<0.001" and rt.fmt_p(0.0456) == "0.046" and rt.fmt_p(np.nan) == ""
    assert rt.fmt_num(-0.0001) == "0.000", "no negative zero"
    assert rt.fmt_num(-28531.354, "fit") == "-28,531.4"
    assert rt.fmt_df(3.0) == "3" and rt.fmt_df(3794.38) == "3794.4"
    assert rt.stars(0.0004) == "***" and rt.stars(0.004) == "**" and rt.stars(0.04) == "*" and rt.stars(0.5) == ""


def test_tex_escape_covers_specials():
    assert rt.tex_escape(r"a_b & 50% #1 $x$ {y} ~ ^ \ <0.001") == (
        r"a\_b \& 50\% \#1 \$x\$ \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{} \textless{}0.001")


# --------------------------------------------------------------------------- snapshots

def _check_snapshots(rendered: dict[str, str]) -> None:
    """Compare each rendered text with its snapshot file; write missing ones (then skip)."""
    written, failures = [], []
    for name, text in rendered.items():
        path = SNAPSHOTS / name
        if os.environ.get("RESEARCH_UPDATE_SNAPSHOTS") == "1" or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
            written.append(str(path))
            continue
        want = path.read_text(encoding="utf-8")
        if text != want:
            diff = "".join(difflib.unified_diff(want.splitlines(keepends=True), text.splitlines(keepends=True),
                                                fromfile=f"snapshot {name}", tofile="rendered now", n=1))
            failures.append(f"rendered {name} differs from its snapshot in {SNAPSHOTS}:\n{diff[:3000]}")
    if failures:
        pytest.fail("\n".join(failures) + "\nIf the change is intended, rerun with "
                    "RESEARCH_UPDATE_SNAPSHOTS=1 and commit the snapshots.")
    if written:
        pytest.skip(f"snapshots written: {written}; check and commit them")


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("table_id", ["T02", "T06"])
def test_markdown_and_latex_match_snapshots(table_id, lang, fixed, tmp_path):
    spec = get(table_id)
    files = rt.write_table(spec, fixed, tmp_path, STAMP, langs=(lang,))
    _check_snapshots({f"{spec.name}.{lang}.{fmt}": files[f"{lang}.{fmt}"].read_text(encoding="utf-8")
                      for fmt in ("md", "tex")})


def test_snapshot_inputs_render_as_intended(fixed, tmp_path):
    """What the snapshots should show, asserted directly (so a bad snapshot cannot be accepted silently)."""
    files = rt.write_table(get("T06"), fixed, tmp_path, STAMP, langs=("en",))
    md = files["en.md"].read_text(encoding="utf-8")
    assert md.index("Service problems") < md.index("Outages") < md.index("Voltage quality"), "instrument order"
    assert "| 14.8 | [10.8, not reached] |" in md
    assert "| Supply capability (inspection and construction) | not reached |  |" in md
    tex = rt.write_table(get("T02"), fixed, tmp_path, STAMP, langs=("en",))["en.tex"].read_text(encoding="utf-8")
    assert r"survey\_2025 Q1 \& Q2 (50\%) \#1\textbar{}\$x\$.csv" in tex
    assert "Label not in the instrument" in tex and "\\begin{tabular}{llrrr}" in tex


# --------------------------------------------------------------------------- files

def test_write_table_files_carry_title_caption_and_stamp(small, tmp_path):
    spec = get("T03")
    files = rt.write_table(spec, small, tmp_path, STAMP)
    assert set(files) == {"csv"} | {f"{lang}.{fmt}" for lang in ("zh", "en") for fmt in rt.FORMATS}
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in files.values()}
    for lang in ("zh", "en"):
        for fmt in ("html", "md", "tex"):
            text = files[f"{lang}.{fmt}"].read_text(encoding="utf-8")
            title = spec.title(lang)
            assert title in text, f"{lang}.{fmt}: title missing"
            assert STAMP.text(lang) in text, f"{lang}.{fmt}: stamp missing"
            caption = spec.caption(lang) if fmt != "tex" else rt.tex_escape(spec.caption(lang))
            assert caption in text.replace("&quot;", '"').replace("&#x27;", "'"), f"{lang}.{fmt}: caption missing"
    html = files["zh.html"].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html, \
        "HTML must be self-contained"


def test_csv_is_bom_utf8_full_precision_round_trip(built, small, tmp_path):
    spec = get("T03")
    path = rt.write_table(spec, small, tmp_path, STAMP, langs=())["csv"]
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    back = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    data = built["T03"]
    assert list(back.columns) == list(data.columns)
    for col in ("satisfied_rate", "rate_conf_low", "rate_conf_high", "mean_score", "mean_conf_high"):
        np.testing.assert_array_equal(back[col].to_numpy(float), data[col].to_numpy(float),
                                      err_msg=f"{col} lost precision in the CSV")


def test_every_format_is_byte_identical_when_written_twice(sample_build, sample_bundle, sample_stamp, tmp_path):
    # the first write is the session's build's (tables/, in its rendering workers, before its report
    # and manifest stages); the second is this process's, from the same bundle with the same stamps
    first, second = sample_build[0] / "tables", tmp_path
    written = max(p.stat().st_mtime for p in first.iterdir())
    # the wall clock has moved on by 2 s (a DOCX's zip times step by 2 s) since the build wrote the
    # tables, so that any timestamp written into a file would differ (a wait only if it has not)
    time.sleep(max(0.0, written + 2.1 - time.time()))
    files_b = {spec.id: rt.write_table(spec, sample_bundle, second, sample_stamp(spec)) for spec in TABLES}
    assert len(files_b) == len(TABLES)
    names = sorted(p.name for f in files_b.values() for p in f.values())
    assert names == sorted(p.name for p in first.iterdir())
    assert {n.rsplit(".", 1)[-1] for n in names} == {"csv", "html", "md", "docx", "tex"}
    differ = [n for n in names if (first / n).read_bytes() != (second / n).read_bytes()]
    assert not differ, f"not byte-identical when written twice: {differ}"


def test_docx_opens_with_chinese_headers_and_east_asian_font(small, tmp_path):
    import docx
    from docx.oxml.ns import qn

    spec = get("T02")
    path = rt.write_table(spec, small, tmp_path, STAMP, langs=("zh",))["zh.docx"]
    doc = docx.Document(str(path))
    assert len(doc.tables) == 1
    table = doc.tables[0]
    header = [c.text for c in table.rows[0].cells]
    assert header == ["输入文件", "原因", "读取行数", "接受", "拒绝"]
    texts = [c.text for row in table.rows for c in row.cells]
    assert "合计" in texts and any("回访数据" in t for t in texts)
    survey = small["ingest_report"]["files"][0]
    assert f"{survey['rows_read']:,}" in texts
    paragraphs = [p.text for p in doc.paragraphs]
    assert paragraphs[0] == rt.title_line(spec, "zh")
    assert spec.caption("zh") in paragraphs and STAMP.text("zh") in paragraphs
    fonts = {el.get(qn("w:eastAsia")) for el in doc.element.body.iter(qn("w:rFonts"))}
    assert fonts == {DOCX_EAST_ASIA_FONT}, "every run must name the East Asian font"
    fixed_time = FIXED_TIME.replace(tzinfo=None)
    props = doc.core_properties
    assert props.created.replace(tzinfo=None) == props.modified.replace(tzinfo=None) == fixed_time


# --------------------------------------------------------------------------- T09..T12 (representativeness)

def test_t09_response_counts_add_up(built, small):
    t = built["T09"]
    wo = small["workorders"]
    assert (t["completed"] + t["no_answer"] + t["refused"] == t["work_orders"]).all()
    overall = t[t["variable"] == "overall"].iloc[0]
    assert overall["work_orders"] == len(wo)
    assert overall["completed"] == (wo["survey_status"] == "completed").sum()
    for var in ("cause_l1", "cause_l2", "region", "handling_band", "station"):
        assert t.loc[t["variable"] == var, "work_orders"].sum() == len(wo), var
    assert ((t["completed_conf_low"] <= t["completed_rate"]) & (t["completed_rate"] <= t["completed_conf_high"])).all()
    l1 = list(t.loc[t["variable"] == "cause_l1", "level"])
    assert l1 == [c for c in small["instrument"].label_sets["cause_l1"].codes if c in l1]


def test_t10_weights_reach_the_population(built, small):
    t = built["T10"]
    first = t.iloc[0]
    assert (first["variable"], first["level"]) == ("all", "all")
    assert first["sum"] == pytest.approx(len(small["workorders"]), rel=1e-9)
    assert first["n"] == len(small["responses"])
    assert first["deff"] == pytest.approx(1 + first["cv"] ** 2, rel=1e-12)
    margin_rows = t[t["population"].notna() & (t["variable"] != "all")]
    assert len(margin_rows) > 0
    # raked to the margins: weighted sums equal the population counts of every margin level
    assert margin_rows["sum"].to_numpy() == pytest.approx(margin_rows["population"].to_numpy(), rel=1e-8)
    assert bool(first["converged"])


def test_t11_difference_is_weighted_minus_unweighted(built, small):
    t = built["T11"]
    assert list(dict.fromkeys(t["variable"])) == ["satisfied", "sat_overall"]
    assert t["difference"].to_numpy() == pytest.approx((t["estimate"] - t["estimate_unweighted"]).to_numpy())
    o = t[(t["variable"] == "satisfied") & (t["domain"] == "overall")].iloc[0]
    valid = small["responses"]["satisfied"].dropna().astype(bool)
    assert o["estimate_unweighted"] == pytest.approx(valid.mean(), abs=1e-12)
    assert o["n"] == len(valid)


def test_t12_pairs_weighted_and_unweighted_effects(built, small):
    t = built["T12"]
    plan = small["plan"]
    assert set(t["model"]) == set(plan.weighting.models)
    assert t["estimate_unweighted"].notna().all()
    assert (t["conf_low"] < t["estimate"]).all() and (t["estimate"] < t["conf_high"]).all()


def test_t13_odds_ratios_are_exp_of_the_estimates(built, small):
    t = built["T13"]
    assert t["term"].iloc[0] == "(Intercept)"
    assert t["odds_ratio"].to_numpy() == pytest.approx(np.exp(t["estimate"].to_numpy()), rel=1e-12)
    assert (t["odds_ratio_low"] < t["odds_ratio"]).all() and (t["odds_ratio"] < t["odds_ratio_high"]).all()
    assert (t["n"] == len(small["workorders"])).all()


def test_t14_levers_ranked_by_gain(built):
    t = built["T14"]
    assert list(t["rank"]) == list(range(1, len(t) + 1))
    assert (t["effect_points"].diff().dropna() <= 0).all()
    assert t["dissatisfied_per_10k"].to_numpy() == pytest.approx(-100 * t["effect_points"].to_numpy())
    assert (t["conf_low_points"] <= t["conf_high_points"]).all()


#: levers.csv's columns before the causal frame's share note: a contract (add, never rename)
LEVERS_CSV_COLUMNS = [
    "rank", "lever", "zh", "en", "kind", "model", "baseline_rate", "scenario_rate", "effect", "effect_points",
    "conf_low", "conf_high", "std_error", "dissatisfied_per_10k", "dissatisfied_per_10k_low",
    "dissatisfied_per_10k_high", "n", "weighted", "boot_reps", "boot_failed", "conf_level", "n_affected",
    "dissatisfied_observed", "dissatisfied_lever", "rr_dissatisfied", "rr_conf_low", "rr_conf_high", "evalue",
    "evalue_ci", "rr_satisfied", "evalue_satisfied", "evalue_satisfied_ci", "indirect_effect", "share_mediated",
    "share_mediated_low", "share_mediated_high"]


def test_levers_csv_keeps_its_columns_and_says_why_a_share_is_missing(small):
    lv = small["levers"]
    assert list(lv.columns[:len(LEVERS_CSV_COLUMNS)]) == LEVERS_CSV_COLUMNS
    assert "mediation_note" in lv.columns
    computed = lv["share_mediated"].notna()
    assert (lv.loc[computed, "mediation_note"] == "").all()
    assert lv.loc[~computed, "mediation_note"].isin(causal.MEDIATION_NOT_COMPUTED).all()


def test_t14_shows_evalues_and_the_share_through_resolution(built, small):
    t = built["T14"]
    lv = small["levers"].set_index("lever")
    for col in ("evalue", "evalue_ci", "share_mediated", "share_mediated_low", "share_mediated_high"):
        np.testing.assert_allclose(t[col].to_numpy(float), lv.loc[t["lever"], col].to_numpy(float), **EXACT,
                                   err_msg=f"T14 {col}")
    assert ((t["evalue_ci"] >= 1) & (t["evalue_ci"] <= t["evalue"])).all()
    for lang, head_e, head_s in (("en", "E-value (point / CI)", "Share through resolution (%, 95% CI)"),
                                 ("zh", "E值（点估计/置信限）", "经由办结的效应占比（%，95%置信区间）")):
        disp = display_table(get("T14"), t, lang, small)
        assert disp.headers[-2:] == [head_e, head_s]
        assert len(disp.widths) == len(disp.headers)
        for r, row in zip(t.itertuples(index=False), disp.rows):
            assert row.cells[-2] == f"{r.evalue:.2f} / {r.evalue_ci:.2f}"
            if math.isnan(r.share_mediated):
                assert row.cells[-1] == labels.text("not_computed", lang)
            else:
                assert row.cells[-1].startswith(f"{100 * r.share_mediated:.1f} [")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_t14_says_why_the_share_is_not_computed(built, small, lang):
    t = built["T14"].copy()
    t.loc[0, ["share_mediated", "share_mediated_low", "share_mediated_high"]] = np.nan
    t.loc[0, "mediation_note"] = "mediation_total_includes_zero"
    disp = display_table(get("T14"), t, lang, small)
    assert disp.rows[0].cells[-1] == labels.text("not_computed", lang)
    reason = labels.text("mediation_total_includes_zero", lang)
    note = [n for n in disp.notes if reason in n]
    assert len(note) == 1 and str(t.loc[0, "zh" if lang == "zh" else "en"])[1:] in note[0]
    # no resolution answers at all: one note for every lever
    t = built["T14"].assign(share_mediated=np.nan, share_mediated_low=np.nan, share_mediated_high=np.nan,
                            mediation_note="mediation_no_resolution")
    disp = display_table(get("T14"), t, lang, small)
    assert all(r.cells[-1] == labels.text("not_computed", lang) for r in disp.rows)
    assert sum(labels.text("mediation_no_resolution", lang) in n for n in disp.notes) == 1


def test_t14_docx_columns_fill_the_text_width(small, tmp_path):
    import docx

    path = rt.write_table(get("T14"), small, tmp_path, STAMP, langs=("en",))["en.docx"]
    doc = docx.Document(str(path))
    sec = doc.sections[-1]
    grid = [c.w for c in doc.tables[0]._tbl.tblGrid.gridCol_lst]
    assert len(grid) == 8
    # column widths are stored in twips (635 EMU): each column may lose part of one to rounding
    assert sum(grid) == pytest.approx(sec.page_width - sec.left_margin - sec.right_margin, abs=635 * len(grid))
    assert grid[1] == max(grid)  # the lever's name gets the widest column


def test_t15_drivers_ranked_with_quadrant_probabilities(built):
    t = built["T15"]
    assert set(t["set"]) <= {"operational", "items"}  # two decompositions, never mixed (issue 11)
    for _, part in t.groupby("set", sort=False):
        assert list(part["rank"]) == list(range(1, len(part) + 1))
        assert part["share"].sum() == pytest.approx(1.0, abs=1e-12)
    placed = t[t["quadrant"].notna() & (t["quadrant"].astype(str) != "")]
    probs = placed[["p_concentrate_here", "p_keep_up", "p_low_priority", "p_possible_overkill"]].sum(axis=1)
    assert probs.to_numpy() == pytest.approx(1.0)


def test_t16_lists_only_pseudonyms_by_risk(built, small):
    t = built["T16"]
    assert 0 < len(t) <= tables.T16_ROWS
    assert (t["n_tickets"] >= 2).all()
    assert (t["risk"].diff().dropna() <= 0).all()
    clear_ids = set(small["workorders"]["customer_id"])  # the canonical frames already hold pseudonyms
    assert set(t["customer_id"]) <= clear_ids
    assert not t["customer_id"].astype(str).str.contains(r"1[3-9]\d{9}|\d{17}[\dXx]").any()


def test_t17_t18_list_only_flags(built):
    assert len(built["T17"]) > 0 and (built["T17"]["count"] > built["T17"]["expected"]).all()
    t18 = built["T18"]
    assert len(t18) > 0
    assert ((t18["rate"] > t18["ucl"]) | (t18["rate"] < t18["lcl"])).all()


@pytest.mark.parametrize("artifact", ["T09", "T10", "T11", "T12", "T13"])
def test_representativeness_tables_say_so_without_work_orders(artifact, small):
    bundle = {k: v for k, v in small.items() if k not in (
        "response_rates", "weight_summary", "weight_margins", "weighted_estimates", "svy_marginal_effects",
        "propensity_estimates")}
    spec = get(artifact)
    data = spec.build_function()(bundle)
    assert len(data) == 0 and len(data.columns) > 0
    for lang in ("zh", "en"):
        disp = display_table(spec, data, lang, bundle)
        assert len(disp.rows) == 1 and disp.rows[0].span
        assert disp.rows[0].cells[0] == labels.text("no_workorders", lang)


def test_titles_and_captions_fit_document_properties():
    """DOCX core properties hold at most 255 characters (python-docx raises beyond): a long caption
    is cut with an ellipsis in the properties, whole in the document body."""
    from research.artifacts.docx_util import CORE_PROPERTY_CHARS, core_property

    long = "说明" * 300
    assert len(core_property(long)) == CORE_PROPERTY_CHARS and core_property(long).endswith("…")
    assert core_property("short caption") == "short caption"
    for spec in TABLES:
        for lang in ("zh", "en"):
            assert len(core_property(spec.caption(lang))) <= CORE_PROPERTY_CHARS, (spec.id, lang)


# --------------------------------------------------------------------------- T21, T22 and T18's chance signals

def test_t21_copies_the_associations_resolution_first(built, small):
    t = built["T21"]
    src = small["associations"].set_index("term")
    assert list(t["variable"]) == sorted(t["variable"], key=["resolved", "repeat"].index)
    assert set(t["variable"]) == {"resolved", "repeat"} and (t["reference"].isin(["yes", "false"])).all()
    for r in t.itertuples(index=False):
        s_ = src.loc[f"{r.variable}[{r.level}]"]
        for c in ("rate", "reference_rate", "estimate", "conf_low", "conf_high", "p_value"):
            np.testing.assert_allclose(getattr(r, c), s_[c], **EXACT)
    np.testing.assert_allclose(t["estimate"], t["rate"] - t["reference_rate"], rtol=0, atol=1e-12)
    assert (t["conf_low"] <= t["estimate"]).all() and (t["estimate"] <= t["conf_high"]).all()
    assert t["method"].str.contains("not an effect").all()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_t21_display_says_association_not_lever(built, small, lang):
    disp = display_table(get("T21"), built["T21"], lang, small)
    text = " ".join(disp.notes)
    assert ("不列入改进杠杆" in text and "后果" in text) if lang == "zh" else \
        ("not levers" in text and "consequences of dissatisfaction" in text)
    r = built["T21"].iloc[0]
    cells = [row.cells for row in disp.rows if not row.bold]
    assert cells[0][3] == f"{100 * r.estimate:+.1f}" and cells[0][1] == f"{100 * r.rate:.1f}"
    empty = display_table(get("T21"), tables.table_associations({}), lang, {})
    assert len(empty.rows) == 1 and empty.rows[0].span


def test_t22_all_stations_by_z_with_flags_from_limits_and_q(built, small):
    t = built["T22"]
    sf = small["station_funnel"]
    assert len(t) == len(sf) and set(t["station"]) == set(sf["station"].astype(str))
    assert (t["z"].diff().dropna() >= 0).all()
    below = t["std_rate"] < t["lcl_99.8"]
    above = t["std_rate"] > t["ucl_99.8"]
    assert ((t["signal"] == "below") == below).all() and ((t["signal"] == "above") == above).all()
    assert ((t["fdr_signal"] != "") == (t["q_value"] < 0.05)).all()
    by = sf.set_index("station")
    for c in ("n", "observed", "expected", "std_rate", "z", "q_value"):
        np.testing.assert_allclose(t[c].to_numpy(float), by.loc[t["station"], c].to_numpy(float), **EXACT)


def test_t22_flags_a_planted_poor_station(instrument):
    """Planted truth: one station far below the rest is flagged below and sorted first."""
    from research.strategy.stations import funnel_table

    rng = np.random.default_rng(11)
    st = np.repeat([f"S{i:02d}" for i in range(20)], 300)
    p = np.where(st == "S07", 0.55, 0.85)
    y = rng.random(len(st)) < p
    bundle = {"station_funnel": funnel_table(st, y.astype(float))}
    t = tables.table_station_funnel(bundle)
    assert t["station"].iloc[0] == "S07" and t["signal"].iloc[0] == "below" and t["fdr_signal"].iloc[0] == "below"
    assert (t["signal"].iloc[1:] != "below").all()  # (the poor station pulls the overall rate down a little)
    for lang in ("zh", "en"):
        disp = display_table(get("T22"), t, lang, bundle)
        assert [r.bold for r in disp.rows] == list((t["signal"] != "") | (t["fdr_signal"] != ""))
        assert len(disp.headers) == len(disp.rows[0].cells) == 10
        assert ("并非“没有差异”" if lang == "zh" else "no difference from the overall rate is detectable") in disp.notes[0]
    empty = tables.table_station_funnel({})
    assert len(empty) == 0 and len(display_table(get("T22"), empty, "en", {}).rows) == 1


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_t18_note_gives_the_expected_chance_signals(built, small, lang):
    from research.strategy.monitoring import expected_false_signals

    ef = expected_false_signals(small["p_chart"])
    fs = tables.p_chart_false_signals(small)
    assert fs["weeks"] == len(ef) and fs["observed_total"] == int(small["p_chart"]["out_of_control"].sum())
    np.testing.assert_allclose(fs["expected_per_week"], ef["expected_false"].sum() / len(ef), rtol=1e-12)
    note = " ".join(display_table(get("T18"), built["T18"], lang, small).notes)
    assert f"{fs['expected_per_week']:.2f}" in note and f"{fs['observed_per_week']:.2f}" in note
    assert "T22" in note
    from research.artifacts.values import named_values

    v = named_values(small).set_index("name")
    assert v.loc["pchart_expected_false_per_week", "value"] == fs["expected_per_week"]
    assert v.loc["funnel_n_flagged", "value"] == int(((built["T22"]["signal"] != "") |
                                                      (built["T22"]["fdr_signal"] != "")).sum())


@pytest.mark.parametrize("table_id", ["T18", "T21", "T22"])
def test_new_tables_render_in_every_format(table_id, small, tmp_path):
    spec = get(table_id)
    files = rt.write_table(spec, small, tmp_path, STAMP)
    for lang in ("zh", "en"):
        for fmt in rt.FORMATS:
            assert files[f"{lang}.{fmt}"].stat().st_size > 0
        md = files[f"{lang}.md"].read_text(encoding="utf-8")
        assert spec.title(lang) in md and spec.caption(lang) in md



def test_every_registered_read_is_produced_by_a_stage(sample_bundle):
    # issue 13: a spec's `reads` names bundle entries; each must be something the pipeline's
    # stages put in the bundle (ingest, fit, representativeness, strategy), else the artifact
    # would be built from nothing. The session's bundle is the one reproduce renders from.
    from research.artifacts import registry

    missing = {(spec.id, key) for spec in (*registry.TABLES, *registry.FIGURES) for key in spec.reads
               if key not in sample_bundle}
    assert not missing, sorted(missing)
    assert all(spec.reads for spec in (*registry.TABLES, *registry.FIGURES))
