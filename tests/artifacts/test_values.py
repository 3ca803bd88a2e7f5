"""research.artifacts.values: the named values put together by stage from a small bundle (no
build needed), the formatting helpers, and the names kept importable after the split."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from research.artifacts import values, values_fit, values_format, values_strategy, values_weights
from research.config.instrument import load_instrument


@pytest.fixture(scope="module")
def bundle() -> dict:
    """The smallest bundle named_values accepts: an ingest report and three fit tables; every
    other result (weights, levers, drivers, monitoring, thresholds) is absent."""
    ins = load_instrument()
    g = ins.label_sets["cause_l1"].codes[0]
    s = ins.label_sets["cause_l2"].codes[0]
    report = {"files": [{"role": "survey", "rows_read": 1200, "rejected": 7, "sha256": "0" * 64}],
              "responses": {"rows": 1193, "satisfied_rate_unweighted": 0.8125}}
    return {"instrument": ins, "ingest_report": report,
            "marginal_effects": pd.DataFrame({"model": [values_format.AME_MODEL], "scale": ["p_satisfied"],
                                              "cause_l1": [g], "estimate": [-0.034]}),
            "predictions": pd.DataFrame({"model": ["logit"], "quantity": ["aap_subcause"], "cause_l2": [s],
                                         "estimate": [0.71]}),
            "estimates": pd.DataFrame({"model": ["logit"], "term": ["repeat"], "estimate": [math.log(0.5)]})}


def test_values_come_in_stage_order_with_every_always_name(bundle):
    v = values.named_values(bundle)
    names = list(v["name"])
    assert len(names) == len(set(names))
    assert set(values.ALWAYS) <= set(names)
    assert names[:4] == ["survey_rows_read", "survey_rows_rejected", "n_responses", "sat_rate_overall"]
    assert "n_workorders" in names and v.set_index("name").loc["n_workorders", "en"] == "no data"  # filled
    fit = [r["name"] for r in values_fit.fit_values(bundle)]
    assert names[4:4 + len(fit)] == fit  # the fit's values follow the ingest's, in their own order
    row = v.set_index("name").loc["repeat_odds_ratio"]
    assert row["value"] == pytest.approx(0.5) and row["en"] == "0.50" and row["source"] == "fit/estimates.csv"
    g = bundle["instrument"].label_sets["cause_l1"].codes[0]
    assert v.set_index("name").loc[f"ame_doubling_{g}", "en"] == "-3.4 percentage points"
    assert v.set_index("name").loc["sat_rate_overall", "zh"] == "81.2%"
    # a stage without results gives its always-present names as "no data", not nothing
    assert set(values_strategy.MONITORING_VALUES) <= set(names)
    assert values_weights.representativeness_values(bundle) == []
    assert list(v.columns) == ["name", "value", "unit", "zh", "en", "source", "row", "column", "artifact"]


def test_formatting_helpers():
    f = values_format
    assert f.pct(0.81234) == "81.2%" and f.pct(0.5, 0) == "50%"
    assert f.hours_text(3.14, "en") == "3.1 hours" and f.hours_text(3.14, "zh") == "3.1 小时"
    assert f.hours_text(math.nan, "en") != f.interval_end(math.nan, "en")  # "not reached" vs "not bounded"
    assert f.points_text(-0.034, "en") == "-3.4 percentage points" and f.points_text(0.02, "zh") == "+2.0 个百分点"
    assert f.gain_text(0.02, "en") == "2.0 percentage points"
    row = f.missing_row("x")
    assert math.isnan(row["value"]) and (row["zh"], row["en"]) == f.NO_DATA and row["source"] == ""


def test_former_private_names_still_import_from_values():
    assert values._threshold_finding is values_fit.threshold_finding
    assert values._subcause_rank_values is values_fit.subcause_rank_values
    assert values._nonresponse_sensitivity is values_weights.nonresponse_sensitivity_values
    assert values.SUBCAUSE_RANK_VALUES is values_fit.SUBCAUSE_RANK_VALUES
    assert all(hasattr(values, name) for name in values.__all__)


def test_data_source_is_the_sample_only_when_every_survey_file_is(bundle):
    """A dataset of several ingests lists one survey file per ingest: the report calls its data the
    committed synthetic sample only when each of them is the sample (by sha256)."""
    import hashlib

    from research import paths

    sample = hashlib.sha256(paths.sample_survey().read_bytes()).hexdigest()

    def source(shas):
        report = {**bundle["ingest_report"], "files": [{"role": "survey", "sha256": s} for s in shas]}
        row = next(v for v in values.limitation_values({**bundle, "ingest_report": report})
                   if v["name"] == "data_source")
        return row["value"]

    assert source([sample]) == "sample"
    assert source([sample, sample]) == "sample"
    assert source([sample, "0" * 64]) == "supplied"
    assert source(["0" * 64, sample]) == "supplied"
