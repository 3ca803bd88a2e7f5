"""Benchmark: group comparisons, association and reliability from counts through DuckDB against the
row path (issue 15): seconds of each step, the process's peak resident memory, and how far the two
paths' tables are apart.

Each path runs in a fresh child process: ``rows`` reads the responses into memory
(``pandas.read_parquet``) and runs :func:`research.models.run._comparisons` and
``_scale_checks`` (pingouin on the rows); ``duckdb`` counts a dataset folder's rows by the causes,
``satisfied`` and the four items (:func:`research.models.aggregate.comparisons.count_on`, one
``GROUP BY``) and computes the six tables from the counts (``tables_from_counts``). Each child
pickles its tables and runs under ``/usr/bin/time -v`` (wall time and maximum resident set of the
whole process); the parent compares the tables cell by cell (largest relative difference per table,
the Games-Howell p-values apart: scipy's integral, compared absolutely).

Usage::

    python benchmarks/bench_comparisons_1m.py --responses /tmp/ds1m/ingest/responses.parquet --dataset /tmp/ds1m/ds
    # one child alone, e.g. under /usr/bin/time -v:
    python benchmarks/bench_comparisons_1m.py --child duckdb --source /tmp/ds1m/ds --pickle /tmp/duckdb.pkl
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, source: str, pickle_to: str) -> dict:
    """One path's tables (pickled to ``pickle_to``) and its timings."""
    import pandas as pd

    from research.config.plan import load_plan

    conf_level = load_plan().conf_level
    out: dict = {"path": path}
    t0 = time.perf_counter()
    if path == "rows":
        from research.models import run

        frame = pd.read_parquet(source)
        out["rows"], out["read_seconds"] = len(frame), round(time.perf_counter() - t0, 2)
        t = time.perf_counter()
        tables: dict = {}
        notes = run._comparisons(frame, tables) + run._scale_checks(frame, tables, conf_level)
    else:
        from research.engines import DatasetSource, open_engine
        from research.models.aggregate.comparisons import ASSOCIATION, BETWEEN, DV, counts_of, tables_from_counts
        from research.stats.reliability import SAT_ITEMS

        engine = open_engine("duckdb")
        keys = tuple(dict.fromkeys((*BETWEEN, *ASSOCIATION, DV, *SAT_ITEMS)))
        joint = engine.count(DatasetSource(Path(source)), keys)
        engine.close()
        counts = counts_of(joint)  # what count_on does, with the joint table's size kept for the record
        out["rows"], out["count_seconds"] = counts.total, round(time.perf_counter() - t0, 2)
        out["combinations"] = len(joint)
        t = time.perf_counter()
        tables, notes = tables_from_counts(counts, conf_level)
    out["tables_seconds"] = round(time.perf_counter() - t, 2)
    out["total_seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_mb"] = round(_peak_mb())
    out["notes"] = len(notes)
    with open(pickle_to, "wb") as fh:
        pickle.dump({k: tables[k] for k in ("comparisons", "pairwise", "association", "reliability",
                                            "item_statistics", "item_correlations")}, fh)
    return out


def compare(rows: dict, counts: dict) -> dict:
    """Per table: the largest relative difference of its float cells (the Games-Howell p-values:
    the largest absolute one, ``pairwise.p_value``), and whether the other cells are equal."""
    import numpy as np
    import pandas as pd

    out = {}
    for key, want in rows.items():
        got = counts[key]
        same_text, worst = list(got.columns) == list(want.columns) and got.shape == want.shape, 0.0
        for col in want.columns if same_text else []:
            if pd.api.types.is_float_dtype(want[col]):
                a, b = got[col].to_numpy(float), want[col].to_numpy(float)
                if (key, col) == ("pairwise", "p_value"):
                    out["pairwise.p_value_abs"] = float(np.nanmax(np.abs(a - b)))
                    continue
                with np.errstate(invalid="ignore", divide="ignore"):
                    rel = np.abs(a - b) / np.abs(b)
                worst = max(worst, float(np.nanmax(np.where(a == b, 0.0, rel))) if len(a) else 0.0)
            else:
                same_text &= got[col].astype(str).tolist() == want[col].astype(str).tolist()
        out[key] = {"max_rel": worst, "text_equal": bool(same_text)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--responses", help="responses.parquet of the in-memory path")
    ap.add_argument("--dataset", help="the same responses as a dataset folder")
    ap.add_argument("--child", choices=("rows", "duckdb"))
    ap.add_argument("--source")
    ap.add_argument("--pickle")
    ap.add_argument("--out", default="benchmarks/results/comparisons_1m.jsonl")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.source, args.pickle)))
        return
    results, tables = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for path, source in (("duckdb", args.dataset), ("rows", args.responses)):
            target = str(Path(tmp) / f"{path}.pkl")
            command = [sys.executable, __file__, "--child", path, "--source", source, "--pickle", target]
            done = subprocess.run(["/usr/bin/time", "-v", *command], check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            for line in done.stderr.splitlines():  # /usr/bin/time -v: the whole process, start included
                if "Maximum resident set size" in line:
                    result["time_v_max_rss_mb"] = round(int(line.split(":")[-1]) / 1024)
                elif "Elapsed (wall clock)" in line:
                    result["time_v_wall"] = line.split("):")[-1].strip()
            results.append(result)
            with open(target, "rb") as fh:
                tables[path] = pickle.load(fh)
    results.append({"path": "difference", **compare(tables["rows"], tables["duckdb"])})
    with open(args.out, "a", encoding="utf-8") as fh:
        for r in results:
            print(json.dumps(r))
            fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
