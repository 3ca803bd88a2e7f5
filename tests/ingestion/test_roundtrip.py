"""simulate -> ingest reproduces the simulator's own canonical frames exactly.

The simulator builds its canonical frames from the values it generated, not
by parsing its export, so this is an independent check of the whole ingest.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import TEST_KEY
from research import paths
from research.ingestion.run import ingest
from research.ingestion.pseudonymise import pseudonymise
from research.simulate import simulate, write_simulation


@pytest.fixture(scope="module")
def sim_and_result(tmp_path_factory):
    sim = simulate(4000, 11, faults=0.02)
    out = tmp_path_factory.mktemp("sim")
    files = write_simulation(sim, out)
    result = ingest(files["survey"], files["workorders"], key=TEST_KEY)
    return sim, result


def _expected(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["customer_id"] = pseudonymise(out["customer_id"], TEST_KEY)
    return out


def test_responses_reproduced_exactly(sim_and_result):
    sim, result = sim_and_result
    pd.testing.assert_frame_equal(result.responses, _expected(sim.responses))


def test_workorders_reproduced_exactly(sim_and_result):
    sim, result = sim_and_result
    pd.testing.assert_frame_equal(result.workorders, _expected(sim.workorders))


def test_rejections_are_exactly_the_planted_faults(sim_and_result):
    sim, result = sim_and_result
    planted = pd.DataFrame(sim.truth["planted_faults"])
    got = result.rejected[["source_row", "ticket_id", "reason"]]
    merged = planted.merge(got, on="source_row", how="outer", suffixes=("_planted", "_got"),
                           indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    assert (merged["reason_planted"] == merged["reason_got"]).all()
    assert (merged["ticket_id_planted"] == merged["ticket_id_got"]).all()
    assert len(planted["reason"].unique()) == 10


def test_committed_sample_ingests_as_its_truth_says(tmp_path):
    truth = json.loads((paths.raw_dir() / "sample_truth.json").read_text(encoding="utf-8"))
    result = ingest(paths.sample_survey(), paths.sample_workorders(), key=TEST_KEY)
    files = {f["role"]: f for f in result.report["files"]}
    assert files["survey"]["encoding"] == "utf-8-sig" and files["workorders"]["encoding"] == "gb18030"
    planted = pd.Series([p["reason"] for p in truth["planted_faults"]]).value_counts().to_dict()
    got = {k: v for k, v in files["survey"]["rejected_by_reason"].items() if v}
    assert got == planted
    assert files["workorders"]["rejected"] == 0
    assert result.report["reconciled"]
