"""The Python API (research.api, issue 13 point 4) gives the numbers the pipeline writes.

Reference: the session's ``research reproduce`` of the committed sample (conftest
``sample_build``, ``sample_bundle``): each API function must return the frames that build wrote,
because both call the same stage functions.
"""

from __future__ import annotations

import pandas as pd
import pytest

from research import api, paths
from research.errors import InputError


@pytest.fixture(scope="module")
def ingested():
    return api.ingest(paths.sample_survey(), paths.sample_workorders())


def _csv(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame as the pipeline's CSV writer writes it, read back (types as in the file)."""
    import tempfile
    from pathlib import Path

    from research.safeio import write_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(frame, Path(tmp) / "t.csv") or Path(tmp) / "t.csv"
        return pd.read_csv(path, encoding="utf-8-sig")


def test_ingest_gives_the_builds_responses(ingested, sample_bundle):
    pd.testing.assert_frame_equal(ingested.responses, sample_bundle["responses"])
    assert ingested.report["files"][0]["rows_read"] == sample_bundle["ingest_report"]["files"][0]["rows_read"]


def test_fit_gives_the_builds_estimates(ingested, sample_build):
    fit = api.fit(ingested.responses, thresholds=False)
    built = pd.read_csv(sample_build[0] / "fit" / "estimates.csv")
    pd.testing.assert_frame_equal(_csv(fit["estimates"]), built, rtol=1e-9)
    assert "thresholds" not in fit or fit["thresholds"].empty


def test_fit_on_engine_gives_the_builds_estimates_from_sums(ingested, sample_build, tmp_path):
    """Two models through the API (every model through DuckDB: tests/models/test_aggregate.py)."""
    from conftest import plan_with_models

    plan = plan_with_models(tmp_path, ("logit", "mixed"))
    fit = api.fit_on_engine(ingested.responses, engine="duckdb", threads=2, plan=plan)
    built = pd.read_csv(sample_build[0] / "fit" / "estimates.csv")
    built = built[built["model"].isin(["logit", "mixed"])].reset_index(drop=True)
    got = _csv(fit["estimates"])
    assert list(got["term"]) == list(built["term"])
    cols = ["estimate", "std_error", "conf_low", "conf_high"]
    pd.testing.assert_frame_equal(got[cols], built[cols], rtol=1e-9)
    assert got.loc[got["kind"] != "variance", "method"].str.contains("engine duckdb").all()


def test_weight_and_levers_give_the_builds_tables(ingested, sample_build):
    rep = api.weight(ingested.responses, ingested.workorders)
    built = pd.read_csv(sample_build[0] / "weights" / "weight_summary.csv")
    pd.testing.assert_frame_equal(_csv(rep["weight_summary"]), built, rtol=1e-9)
    lev = api.levers(ingested.responses, ingested.workorders)
    for key in ("levers", "associations"):
        built = pd.read_csv(sample_build[0] / "strategy" / f"{key}.csv")
        pd.testing.assert_frame_equal(_csv(lev[key]), built, rtol=1e-7)


def test_typical_cases_give_the_builds_tables(ingested, sample_build):
    got = api.typical_cases(ingested.responses)
    for key in ("typical_terms", "typical_cases"):
        built = pd.read_csv(sample_build[0] / "strategy" / f"{key}.csv")
        assert len(built) > 0, key
        pd.testing.assert_frame_equal(_csv(got[key]), built, rtol=1e-12)


def test_bulletin_gives_the_commands_tables(ingested, tmp_path):
    from research.bulletin import run_bulletin
    from research.ingestion.run import write_ingest

    write_ingest(ingested, tmp_path / "ingest")
    written = run_bulletin(tmp_path / "ingest", period="week", at="2025-06-04", out=tmp_path / "b", lang="en")
    tables = api.bulletin(ingested.responses, ingested.workorders, period="week", at="2025-06-04")
    overview = next(p for k, p in written.items() if str(p).endswith("_overview.csv"))
    pd.testing.assert_frame_equal(_csv(tables["overview"]), pd.read_csv(overview, encoding="utf-8-sig"), rtol=1e-12)


def test_a_plan_is_a_plan_a_path_or_the_committed_one(ingested, tmp_path):
    bad = tmp_path / "plan.yaml"
    bad.write_text("conf_level: 2\n", encoding="utf-8")
    with pytest.raises(InputError, match="conf_level"):
        api.bulletin(ingested.responses, ingested.workorders, period="week", at="2025-06-04", plan=bad)


def test_the_commands_are_reachable_from_the_package_itself():
    """Issue 13 point 4: research.ingest / fit / weight / levers / bulletin, as research.api's, without
    losing the sub-packages of the same names (research.bulletin.sections, research.ingestion)."""
    import research
    from research import api

    assert research.fit is api.fit and research.weight is api.weight and research.levers is api.levers
    assert research.ingest.__module__ == "research.ingestion.run"
    assert callable(research.bulletin) and research.bulletin.sections.SECTIONS  # a package that is callable
    from research.simulate import simulate

    s = simulate(1500, 7)
    tables = research.bulletin(s.responses, s.workorders, period="week", at="2025-06-04")
    expected = api.bulletin(s.responses, s.workorders, period="week", at="2025-06-04")
    assert list(tables) == list(expected)
    for key in tables:
        pd.testing.assert_frame_equal(tables[key], expected[key])
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        research.nonsense  # noqa: B018
