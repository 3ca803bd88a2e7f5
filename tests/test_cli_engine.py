"""``research fit --engine ... --dataset DIR`` (issue 15): the models' estimates from sums, through
the command line, against the estimates of the sample build's pandas path (the published route).
"""

import json

import numpy as np
import pandas as pd
import pytest

from research.cli import main


def test_fit_a_dataset_with_duckdb_gives_the_pandas_estimates(sample_dataset, sample_build, tmp_path, capsys):
    """Two of the plan's models through the command line (every model through DuckDB is compared in
    tests/models/test_aggregate.py)."""
    from conftest import plan_with_models

    plan = plan_with_models(tmp_path, ("ordinal", "ols"))
    out = tmp_path / "fit"
    assert main(["fit", "--dataset", str(sample_dataset), "--engine", "duckdb", "--out", str(out),
                 "--plan", str(plan)]) == 0
    printed = capsys.readouterr()
    assert "with the duckdb engine" in printed.out
    a = pd.read_csv(out / "estimates.csv")
    b = pd.read_csv(sample_build[0] / "fit" / "estimates.csv")
    b = b[b["model"].isin(a["model"].unique())]
    assert len(a) == len(b) > 40 and set(a["model"]) == {"ols", "ordinal"}
    m = a.merge(b, on=["model", "term", "kind"], suffixes=("", "_ref"), validate="one_to_one")
    assert len(m) == len(a)
    for col in ("estimate", "std_error", "p_value", "conf_low", "conf_high"):
        np.testing.assert_allclose(m[col], m[f"{col}_ref"], rtol=1e-8, atol=1e-13, err_msg=col)
    p = pd.read_csv(out / "predictions.csv")
    q = pd.read_csv(sample_build[0] / "fit" / "predictions.csv")
    q = q[q["model"].isin(["ols", "ordinal"])].reset_index(drop=True)
    assert p.shape == q.shape
    np.testing.assert_allclose(p["estimate"], q["estimate"], rtol=1e-8)
    np.testing.assert_allclose(p["std_error"], q["std_error"], rtol=1e-8)
    assert json.loads((out / "engine.json").read_text())["engine"] == "duckdb"
    notes = pd.read_csv(out / "notes.csv")
    assert notes["note"].str.contains("from sums").any()  # says how this path computed them
    listed = json.loads((out / "engine.json").read_text())
    assert "estimates" in listed["tables"] and "thresholds" not in listed["tables"]  # the cut plan has none


def test_auto_picks_duckdb_for_a_dataset_and_pandas_for_a_small_file(sample_dataset, sample_build):
    import argparse

    from research.cli_commands import _fit_engine

    assert _fit_engine(argparse.Namespace(engine="auto", dataset=str(sample_dataset), data=None)) == "duckdb"
    small = str(sample_build[0] / "ingest" / "responses.parquet")
    assert _fit_engine(argparse.Namespace(engine="auto", dataset=None, data=small)) == "pandas"
    assert _fit_engine(argparse.Namespace(engine="spark", dataset=None, data=small)) == "spark"


def test_fit_refuses_bad_engine_requests(sample_dataset, tmp_path, capsys, monkeypatch):
    import research.engines.spark_engine as spark

    code = None
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--data", "x.parquet", "--dataset", str(sample_dataset)])
    assert exc.value.code == 2  # argparse: --data and --dataset are exclusive
    monkeypatch.setattr(spark, "java_available", lambda: False)
    code = main(["fit", "--dataset", str(sample_dataset), "--engine", "spark", "--out", str(tmp_path / "s")])
    assert code == 2 and "Java runtime" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    code = main(["fit", "--dataset", str(tmp_path / "plain"), "--engine", "duckdb", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "not a dataset" in err and "Traceback" not in err
