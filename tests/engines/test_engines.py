"""The engine interface (research.engines): expressions, and the three engines' grouped sums.

Reference: the pandas engine's numpy sums (np.bincount in row order) are the reference; DuckDB
and Spark must give the same groups in the same order and the same sums to 1e-12 relative.
Spark's sums are checked on a dataset folder in tests/models/test_aggregate.py (one Spark session
for the suite: its jobs cost about a second each).
"""

import numpy as np
import pandas as pd
import pytest

from research.engines import DatasetSource, FrameSource, choose_engine, open_engine
from research.engines.expr import col, fn, num

KEYS = ("cause_l2", "channel", "repeat", "station", "month", "satisfied")


def _frame(n=3000, seed=3):
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 400 * 24, n), unit="h")
    frame = pd.DataFrame({
        "cause_l2": pd.array(rng.choice(["slow_repair", "billing_error", "voltage_fluctuation"], n), dtype="string"),
        "channel": pd.array(rng.choice(["hotline", "app"], n), dtype="string"),
        "repeat": pd.array(rng.random(n) < 0.2, dtype="boolean"),
        "station": pd.array(rng.choice([f"站{i}" for i in range(7)], n), dtype="string"),
        "created_at": t.values,
        "satisfied": pd.array(rng.random(n) < 0.7, dtype="boolean"),
        "handling_hours": rng.exponential(30, n),
    })
    frame.loc[::17, "handling_hours"] = np.nan  # incomplete rows are left out by every engine
    frame.loc[::23, "satisfied"] = pd.NA
    return frame


def _sums(engine, source):
    g1 = fn("log2", 1 + col("v_handling_hours"))
    p = engine.prepare(source, KEYS, {"g1": g1})
    params = pd.DataFrame({"gid": p.groups["gid"], "a0": np.linspace(-3, 3, len(p.groups)), "a1": 0.25})
    e = col("a0") + col("a1") * col("g1")
    measures = {"n": num(1.0), "g1": col("g1"), "g11": col("g1") * col("g1"), "ll": fn("log_expit", e),
                "w": fn("expit", e) * (1 - fn("expit", e)), "far": fn("log_expit", e - 1e300)}
    return p, engine.sums(p, measures, params)


@pytest.fixture(scope="module")
def reference():
    eng = open_engine("pandas")
    return _sums(eng, FrameSource(_frame()))


def _agree(reference, other):
    (p0, s0), (p1, s1) = reference, other
    pd.testing.assert_frame_equal(p1.groups, p0.groups)
    assert p1.n_rows == p0.n_rows == int(s0["n"].sum())
    assert p1.total_rows == p0.total_rows == 3000
    np.testing.assert_allclose(s1.to_numpy(), s0.to_numpy(), rtol=1e-12, atol=0)


def test_pandas_engine_counts_only_complete_rows(reference):
    p, s = reference
    frame = _frame()
    complete = frame[list(KEYS[:-2]) + ["satisfied", "handling_hours"]].notna().all(axis=1).sum()
    assert p.n_rows == complete < 3000
    assert (s["n"].to_numpy() == p.groups["n"].to_numpy()).all()
    assert p.groups["month"].str.match(r"^\d{4}-\d{2}$").all()
    assert (s["far"] < -1e299).all()  # no overflow to -inf or nan at an extreme argument


def test_duckdb_engine_equals_pandas(reference):
    eng = open_engine("duckdb")
    try:
        _agree(reference, _sums(eng, FrameSource(_frame())))
    finally:
        eng.close()


def test_expressions_never_carry_text_into_sql():
    with pytest.raises(ValueError):
        col('x"; DROP TABLE t; --')
    with pytest.raises(ValueError):
        col("Station")  # engine columns are the package's own lower-case names
    with pytest.raises(ValueError):
        num(float("inf"))
    with pytest.raises(ValueError):
        fn("system", col("v_x"))
    sql = (fn("log_expit", col("v_x") * 2.5) + 1e-300).sql()
    assert "v_x" in sql and "2.5" in sql and ";" not in sql


def test_choose_engine_by_size_and_source():
    assert choose_engine("auto", n_rows=20_000, dataset=False) == "pandas"
    assert choose_engine("auto", n_rows=5_000_000, dataset=False) == "duckdb"
    assert choose_engine("auto", n_rows=None, dataset=True) == "duckdb"
    assert choose_engine("spark", n_rows=10, dataset=False) == "spark"
    with pytest.raises(ValueError):
        choose_engine("polars", n_rows=10, dataset=False)


def test_dataset_source_needs_a_ledger(tmp_path):
    from research.errors import InputError

    (tmp_path / "responses").mkdir()
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "responses" / "stray.parquet")
    with pytest.raises(InputError, match="not a dataset"):
        DatasetSource(tmp_path).files()


def test_pandas_engine_reads_a_dataset_once_until_its_ledger_changes(sample_dataset, monkeypatch, tmp_path):
    """The weight stage makes seven passes through an engine: the pandas engine reads the dataset's
    table once for all of them, and again when the ledger says the dataset changed."""
    import os
    import shutil

    import research.ingestion.dataset as dataset

    folder = tmp_path / "ds"
    shutil.copytree(sample_dataset, folder)
    reads = []
    real = dataset.read_dataset
    monkeypatch.setattr(dataset, "read_dataset", lambda *a, **k: reads.append(a) or real(*a, **k))
    engine = open_engine("pandas")
    keys, values = ("cause_l1",), {"h": col("v_handling_hours")}
    first = [engine.prepare(DatasetSource(folder), keys, values) for _ in range(3)]
    assert len(reads) == 1
    assert all(p.groups.equals(first[0].groups) for p in first)
    engine.prepare(DatasetSource(folder, "workorders"), ("cause_l1",), {})
    assert len(reads) == 2  # another table is another read
    ledger = folder / dataset.LEDGER
    stat = ledger.stat()
    os.utime(ledger, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    engine.prepare(DatasetSource(folder), keys, values)
    assert len(reads) == 3
    engine.close()


def test_sums_per_slot_and_lets_agree_with_plain_sums():
    """Sums with a slot column (several parameter rows per gid, some gids left out) and lets equal,
    slot by slot, the plain sums with that slot's parameters, in pandas and DuckDB."""
    frame = _frame()
    measures = {"w": col("p") * (1 - col("p")), "wz": col("p") * (1 - col("p")) * col("g1"), "n": num(1.0)}
    lets = [{"e": col("a0") + col("a1") * col("g1")}, {"p": fn("expit", col("e"))}]
    inline = {k: v.replace({"p": fn("expit", col("a0") + col("a1") * col("g1"))}) for k, v in measures.items()}
    for name in ("pandas", "duckdb"):
        eng = open_engine(name)
        try:
            p = eng.prepare(FrameSource(frame), KEYS, {"g1": fn("log2", 1 + col("v_handling_hours"))})
            G = len(p.groups)
            some = np.arange(0, G, 3)
            params = pd.concat([pd.DataFrame({"gid": some, "slot": s, "a0": 0.1 * s - 1.0, "a1": 0.2 + s})
                                for s in range(3)], ignore_index=True)
            got = eng.sums(p, measures, params, lets=lets)
            assert got[["gid", "slot"]].equals(params[["gid", "slot"]])
            for s in range(3):
                plain = eng.sums(p, inline, pd.DataFrame({"gid": np.arange(G), "a0": 0.1 * s - 1.0, "a1": 0.2 + s}))
                part = got[got["slot"] == s]
                np.testing.assert_allclose(part[list(measures)].to_numpy(), plain.loc[some, list(measures)].to_numpy(),
                                           rtol=1e-12, atol=0)
        finally:
            eng.close()


def test_level_rows_in_dataset_order_with_the_first_position(sample_dataset):
    """A level's complete rows in read_dataset's order, typed as keys, and how many complete rows
    come before the first: pandas and DuckDB, on a dataset and on the same rows as a frame."""
    from research.ingestion.dataset import read_dataset

    variables = ("satisfied", "cause_l1", "channel", "station", "handling_hours")
    responses = read_dataset(sample_dataset, "responses")
    complete = responses[list(variables)].dropna().reset_index(drop=True)
    at = np.flatnonzero(complete["cause_l1"].to_numpy() == "capability")
    for name in ("pandas", "duckdb"):
        eng = open_engine(name)
        try:
            for source in (DatasetSource(sample_dataset), FrameSource(responses)):
                rows, first = eng.level_rows(source, variables, "cause_l1", "capability")
                assert first == at[0] > 0 and len(rows) == len(at)
                assert rows["satisfied"].dtype == bool and rows["handling_hours"].dtype == float
                np.testing.assert_array_equal(rows["handling_hours"].to_numpy(),
                                              complete["handling_hours"].to_numpy()[at])
                assert (rows["station"].to_numpy() == complete["station"].astype(str).to_numpy()[at]).all()
        finally:
            eng.close()


def test_histogram_and_window_values_agree_between_engines():
    """Engine.histogram and Engine.window_values (the exact quantiles' passes) give pandas' numbers on
    DuckDB: the same bins, counts, smallest and largest values by (window, cell); only the rows of
    the windows' keys within their closed bounds (both ends included); a group whose key is negative
    is left out."""
    frame = _frame()
    out = {}
    for name in ("pandas", "duckdb"):
        engine = open_engine(name)
        p = engine.prepare(FrameSource(frame), ("channel", "station"), {"h": col("v_handling_hours")})
        key = np.where(p.groups["channel"].to_numpy() == "app", 0, 1)
        key[0] = -1
        cell = pd.factorize(p.groups["station"])[0]
        lo, hi = np.sort(frame["handling_hours"].dropna().to_numpy())[[100, 900]]
        windows = pd.DataFrame({"win": [0, 1, 2], "key": [0, 1, 1], "lo": [lo, lo, hi * 2], "hi": [hi, hi, hi * 3],
                                "width": [(hi - lo) / 7, (hi - lo) / 50, hi / 3], "bins": [7, 50, 3]})
        hist = engine.histogram(p, col("h"), key, cell, windows).sort_values(["win", "cell", "bin"])
        rows = engine.window_values(p, col("h"), key, windows).sort_values(["win", "gid", "value"])
        out[name] = (hist.reset_index(drop=True), rows.reset_index(drop=True), key, p.groups)
        engine.close()
    (h0, r0, key, groups), (h1, r1, _, _) = out["pandas"], out["duckdb"]
    pd.testing.assert_frame_equal(h1, h0)
    pd.testing.assert_frame_equal(r1, r0)
    assert set(h0["bin"][h0["win"] == 0]) == set(range(7)) and h0["bin"].max() <= 49
    assert r0["value"].min() == lo and (r0["value"] <= hi * 3).all() and 0 not in set(r0["gid"])
    assert h0.groupby("win")["n"].sum().to_dict() == r0.groupby("win").size().to_dict()


def test_pandas_slot_sums_are_the_same_whatever_the_block(monkeypatch):
    """The pandas engine evaluates slots in blocks bounded by SLOT_BLOCK_VALUES (memory at 1M rows):
    one slot per block gives bit for bit the sums of the default blocks of 16."""
    from research.engines import pandas_engine

    frame = _frame()
    measures = {"w": col("p") * (1 - col("p")), "n": num(1.0)}
    lets = [{"p": fn("expit", col("a0") + col("a1") * col("g1"))}]
    eng = open_engine("pandas")
    p = eng.prepare(FrameSource(frame), KEYS, {"g1": fn("log2", 1 + col("v_handling_hours"))})
    some = np.arange(0, len(p.groups), 2)
    params = pd.concat([pd.DataFrame({"gid": some, "slot": s, "a0": 0.1 * s - 1.0, "a1": 0.2 + s})
                        for s in range(20)], ignore_index=True)
    default = eng.sums(p, measures, params, lets=lets)
    monkeypatch.setattr(pandas_engine, "SLOT_BLOCK_VALUES", 1)  # one slot per block
    one = eng.sums(p, measures, params, lets=lets)
    pd.testing.assert_frame_equal(one, default, check_exact=True)
    eng.close()
