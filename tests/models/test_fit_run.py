"""The whole plan through fit_plan and `research fit`: outputs, robustness to unusual exports."""

from __future__ import annotations

import pandas as pd
import pytest

from research.cli import main
from research.models.run import fit_plan
from research.simulate import simulate

EXPECTED = {"estimates", "model_fit", "predictions", "marginal_effects", "brant", "station_effects",
            "comparisons", "pairwise", "association", "reliability", "item_statistics",
            "item_correlations", "notes"}


@pytest.fixture(scope="module")
def responses():
    return simulate(3000, 21).responses


def test_fit_plan_returns_every_table(responses):
    out = fit_plan(responses, thresholds=False)
    assert EXPECTED <= set(out)
    assert list(out["model_fit"]["model"]) == ["ols", "ordinal", "logit", "mixed", "speed_by_cause", "levers"]
    assert set(out["brant"]["model"]) == {"ordinal", "speed_by_cause"}
    cols = ["model", "term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]
    assert out["estimates"].columns[: len(cols)].tolist() == cols
    # the only note: the lever model (month and region adjusted) has more parameters than stations
    assert set(out["notes"]["step"]) <= {"model levers"}


def test_unusual_export_adapts_and_says_so(responses):
    odd = responses[responses["cause_l2"] != "expansion_delay"]  # the plan's reference level
    one = odd[odd["cause_l2"] == "low_voltage"].index[:1]
    odd = odd[(odd["cause_l2"] != "low_voltage") | odd.index.isin(one)]  # a sub-cause with one answer
    out = fit_plan(odd, thresholds=False)
    notes = " ".join(out["notes"]["note"])
    assert "reference level 'expansion_delay' of cause_l2 has no rows" in notes
    assert "low_voltage" in notes
    assert (out["model_fit"]["reference_cause_l2"] == "staff_attitude").all()


def test_research_fit_writes_csv_files(tmp_path, responses, capsys):
    data = tmp_path / "responses.parquet"
    responses.to_parquet(data)
    assert main(["fit", "--data", str(data), "--out", str(tmp_path / "fit"), "--no-thresholds"]) == 0
    names = {p.stem for p in (tmp_path / "fit").glob("*.csv")}
    assert {"estimates", "model_fit", "predictions", "marginal_effects"} <= names
    est = pd.read_csv(tmp_path / "fit" / "estimates.csv")
    assert "cause_l2[staff_attitude]" in set(est["term"])
    assert (tmp_path / "fit" / "analysis_plan_used.yaml").exists()
    assert "speed_by_cause" in capsys.readouterr().out


def test_research_fit_without_data_is_a_clear_error(tmp_path, capsys):
    assert main(["fit", "--data", str(tmp_path / "none.parquet")]) == 2
    assert "responses file not found" in capsys.readouterr().err


def test_models_needing_an_absent_optional_column_are_skipped_with_a_note(responses):
    no_repeat = responses.assign(repeat=pd.array([pd.NA] * len(responses), dtype="boolean"))
    out = fit_plan(no_repeat, thresholds=False)
    fitted = set(out["model_fit"]["model"])
    assert "ordinal" not in fitted and "logit" not in fitted
    # the lever model adjusts only for pre-treatment variables: it needs neither repeat nor resolved
    assert "levers" in fitted
    notes = out["notes"]
    assert ((notes["step"] == "model ordinal") & notes["note"].str.contains("no repeat")).any()
