"""``research reproduce --dataset DIR --engine duckdb|spark`` and ``verify --engine``: a build from the
sample's dataset through DuckDB against the session's build of the sample exports (pandas) and the
committed manifest. One extra full build (the dataset and the engine share it)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from research.artifacts.manifest import compare_manifests, validate_manifest
from research.cli import main
from research.errors import InputError

#: the fit tables the engine computes (research.pipeline.engine_fit.ENGINE_TABLES and, from counts,
#: research.models.run_engine.COUNT_TABLES)
ENGINE_FILES = {f"fit/{t}.csv" for t in ("estimates", "model_fit", "predictions", "marginal_effects",
                                         "station_effects", "comparisons", "pairwise", "association",
                                         "reliability", "item_statistics", "item_correlations")}


@pytest.fixture(scope="module")
def dataset_build(sample_dataset, tmp_path_factory):
    """``research reproduce --dataset <the sample's dataset> --engine duckdb``: (folder, manifest)."""
    out = tmp_path_factory.mktemp("dataset_build") / "build"
    assert main(["reproduce", "--dataset", str(sample_dataset), "--engine", "duckdb", "--out", str(out)]) == 0
    return out, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _cell_rows(expected_manifest, actual_manifest, expected_dir, actual_dir):
    """verify's verdicts of one build against another (cell by cell within the tolerances)."""
    from research.pipeline.verify import _compare_cells

    rows = compare_manifests(expected_manifest, actual_manifest)
    return _compare_cells(rows, expected_manifest, actual_dir, expected_dir)


def test_dataset_build_records_the_ledger_and_the_engine(dataset_build, sample_build, sample_dataset):
    _, m = dataset_build
    ledger = json.loads((sample_dataset / "ledger.json").read_text(encoding="utf-8"))
    entry = ledger["entries"][0]
    assert m["dataset"]["format"] == ledger["format"]
    assert [(i["role"], i["file"], i["sha256"], i["entry"], i["accepted"]) for i in m["inputs"]] == \
        [(f["role"], f["file"], f["sha256"], entry["id"], f["accepted"]) for f in entry["files"]]
    assert all(i["instrument"] == entry["instrument"]["fingerprint"] for i in m["inputs"])
    # the ledger's files are the exports the session's build read: the same sha256 per role
    exports = {i["role"]: i["sha256"] for i in sample_build[1]["inputs"]}
    assert {i["role"]: i["sha256"] for i in m["inputs"]} == exports
    assert m["engine"] == {"name": "duckdb"}
    assert {a["path"] for a in m["artifacts"] if a.get("engine") == "duckdb"} == ENGINE_FILES
    assert sample_build[1]["engine"] == {"name": "pandas"}  # --engine auto on the sample
    assert not any("engine" in a for a in sample_build[1]["artifacts"])
    validate_manifest(m, dataset_build[0] / "manifest.json", paths_in_project=False)
    bad = {**m, "engine": {"name": "polars"}}
    with pytest.raises(InputError, match="engine.name"):
        validate_manifest(bad, dataset_build[0] / "manifest.json", paths_in_project=False)


def test_dataset_and_duckdb_build_agrees_with_the_pandas_build_of_the_exports(dataset_build, sample_build):
    """Every artifact within verify's tolerances; the ingest and everything the fit does not feed
    byte for byte (the dataset's rows are the exports' rows); the engine's tables to 1e-9."""
    from research.artifacts.compare import compare_csv

    (out, m), (base, expected, _) = dataset_build, sample_build
    rows = _cell_rows(expected, m, base, out)
    assert [r for r in rows if r[1] not in ("match", "recorded")] == []
    digest = {a["path"]: a["sha256"] for a in m["artifacts"]}
    same = [a["path"] for a in expected["artifacts"]
            if a["path"].startswith(("ingest/", "weights/", "strategy/")) and a["path"] != "ingest/rejected.csv"]
    assert len(same) > 20
    assert [p for p in same if digest[p] != next(a["sha256"] for a in expected["artifacts"] if a["path"] == p)] == []
    # rejected.csv is read back from the dataset's report as text and written again: same cells
    assert pd.read_csv(out / "ingest/rejected.csv", dtype=str).equals(pd.read_csv(base / "ingest/rejected.csv", dtype=str))
    for path in sorted(ENGINE_FILES):
        result = compare_csv((base / path).read_bytes(), (out / path).read_bytes(), rel_tol=1e-9)
        assert result.ok, (path, result.problem, result.diffs[:3])


def test_verify_names_the_engine_and_passes_with_duckdb(dataset_build, monkeypatch, tmp_path):
    """``verify --engine duckdb`` of the committed (pandas) manifest: the rebuild is the module's
    DuckDB build (copied, instead of a fourth build), compared within the manifest's tolerances."""
    import research.pipeline.reproduce as reproduce_module
    from research.pipeline.verify import verify

    asked = {}

    def rebuilt(survey, workorders, out, **kwargs):
        asked.update(kwargs)
        shutil.copytree(dataset_build[0], out, dirs_exist_ok=True)
        return dataset_build[1]

    monkeypatch.setattr(reproduce_module, "reproduce", rebuilt)
    ok, rows = verify(keep=tmp_path / "rebuild", engine="duckdb")
    assert asked["engine"] == "duckdb" and asked["dataset"] is None
    row = next(r for r in rows if r[0] == "engine")
    assert row[1] == "recorded" and "pandas engine (not recorded" in row[2] and "rebuilt by duckdb" in row[2]
    assert ok, [r for r in rows if r[1] not in ("match", "recorded")][:5]
    ok, rows = verify(keep=tmp_path / "again")  # default: the manifest's engine, pandas
    assert asked["engine"] == "pandas"


def test_reproduce_dataset_refusals(tmp_path, sample_dataset, capsys):
    """Exclusive with the exports; a missing, foreign or old dataset: exit 2, one line each."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "ledger.json").write_text('{"format": 1, "entries": []}', encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "ledger.json").write_text('{"format": 2, "pseudonym_key_id": null, "entries": []}', encoding="utf-8")
    cases = {("--dataset", str(sample_dataset), "--survey", "x.csv"): "not both",
             ("--dataset", str(tmp_path / "absent")): "not a folder",
             ("--dataset", str(tmp_path)): "not a dataset",
             ("--dataset", str(old)): "earlier layout",
             ("--dataset", str(empty)): "holds no ingest"}
    for args, says in cases.items():
        assert main(["reproduce", *args, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], (args, err)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_merged_report_of_two_ingests(sample_bundle):
    from research.pipeline.dataset_input import merged_report

    one = sample_bundle["ingest_report"]
    both = merged_report([one, one], pd.concat([sample_bundle["responses"]] * 2, ignore_index=True))
    assert len(both["files"]) == 2 * len(one["files"])
    assert both["rows_read"] == 2 * one["rows_read"] and both["rejected"] == 2 * one["rejected"]
    assert both["responses"]["rows"] == 2 * one["responses"]["rows"]
    assert both["responses"]["satisfied_rate_unweighted"] == pytest.approx(one["responses"]["satisfied_rate_unweighted"])


def test_spark_engine_fit_stage(spark_engine, sample_bundle, tmp_path, monkeypatch):
    """The fit stage's merge through Spark (one model; the row path's tables are the session
    build's): the engine's rows replace the row path's, within 1e-9, words unchanged; a table the
    engine did not give for a model keeps the row path's rows."""
    import yaml

    import research.models.run as run_module
    from research import paths
    from research.config.plan import load_plan
    from research.pipeline.engine_fit import fit_with_engine

    import research.models.run_engine as run_engine

    rows = {k: sample_bundle[k] for k in run_module.MODEL_TABLES + ("notes", "thresholds")}
    monkeypatch.setattr(run_module, "fit_plan", lambda *a, **k: rows)
    # predictions cost a Spark job per sub-cause (DuckDB's build checks them): the model's fit only,
    # so the row path's predictions stay
    monkeypatch.setattr(run_engine, "_predictable", lambda fm: False)
    data = yaml.safe_load(paths.default_plan().read_text(encoding="utf-8"))
    data["models"] = [m for m in data["models"] if m["name"] == "ols"]  # one pass: the cheapest model
    for section in ("levers", "scenarios", "drivers", "weighting"):  # sections naming other models
        data.pop(section, None)
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    plan = load_plan(tmp_path / "plan.yaml")
    said = []
    out, tables = fit_with_engine(sample_bundle["responses"], engine="spark", dataset=None, plan=plan,
                                  instrument=sample_bundle["instrument"], say=said.append)
    assert tables and "brant" in said[-1] and "from the rows" in said[-1]
    a, b = rows["estimates"], out["estimates"]
    assert list(a["model"]) == list(b["model"]) and (a["method"] == b["method"]).all()
    ols = a["model"] == "ols"
    assert ((b.loc[ols, "estimate"] - a.loc[ols, "estimate"]).abs()
            <= 1e-9 * a.loc[ols, "estimate"].abs().clip(lower=1)).all()
    assert b.loc[~ols].equals(a.loc[~ols])
    assert out["predictions"].equals(rows["predictions"])
    # the comparisons and scale checks from Spark's counts: the session build's (the row path's)
    for key in run_engine.COUNT_TABLES:
        a, b = sample_bundle[key], out[key]
        assert list(a.columns) == list(b.columns) and a.shape == b.shape, key
        for col in a.columns:
            if pd.api.types.is_float_dtype(a[col]):  # Games-Howell p: scipy's integral, 1e-10 absolute
                atol = 1e-10 if (key, col) == ("pairwise", "p_value") else 0.0
                np.testing.assert_allclose(b[col].to_numpy(float), a[col].to_numpy(float), rtol=1e-9, atol=atol)
            else:
                assert b[col].astype(str).tolist() == a[col].astype(str).tolist(), (key, col)


def test_verify_of_a_dataset_manifest_rebuilds_from_that_dataset(dataset_build, sample_dataset, monkeypatch,
                                                                   tmp_path):
    """A manifest of ``reproduce --dataset``: verify rebuilds from its dataset (inside the project)
    with the manifest's engine and compares each ledger file it records with the dataset's ledger
    now; a ledger that changed since says so and fails. The rebuild is the module's build, copied."""
    import research.pipeline.reproduce as reproduce_module
    from research import paths
    from research.pipeline.verify import verify

    project = tmp_path / "project"
    shutil.copytree(sample_dataset, project / "ds")
    manifest = {**dataset_build[1], "dataset": {**dataset_build[1]["dataset"], "path": "ds"}}
    (project / "paper").mkdir()
    target = project / "paper" / "manifest.json"
    target.write_text(json.dumps(manifest), encoding="utf-8")
    plan = paths.default_plan()
    monkeypatch.setattr(paths, "project_root", lambda: project)
    asked = {}

    def rebuilt(survey, workorders, out, **kwargs):
        asked.update(kwargs, exports=(survey, workorders))
        shutil.copytree(dataset_build[0], out, dirs_exist_ok=True)
        return dataset_build[1]

    monkeypatch.setattr(reproduce_module, "reproduce", rebuilt)
    ok, rows = verify(target, keep=tmp_path / "rebuild", plan_path=plan)
    assert asked["dataset"] == project / "ds" and asked["exports"] == (None, None) and asked["engine"] == "duckdb"
    ledger_rows = [r for r in rows if r[0].startswith("input:ds/")]
    assert len(ledger_rows) == len(manifest["inputs"]) and {r[1] for r in ledger_rows} == {"match"}
    assert ok, [r for r in rows if r[1] not in ("match", "recorded")][:5]
    # the dataset's ledger no longer holds the survey file the manifest records
    ledger = json.loads((project / "ds" / "ledger.json").read_text(encoding="utf-8"))
    ledger["entries"][0]["files"][0]["sha256"] = "0" * 64
    (project / "ds" / "ledger.json").write_text(json.dumps(ledger), encoding="utf-8")
    ok, rows = verify(target, keep=tmp_path / "rebuild2", plan_path=plan)
    assert not ok and any(r[0].startswith("input:ds/") and r[1] == "differs" for r in rows)
