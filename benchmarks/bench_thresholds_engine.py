"""Benchmark: the tolerance thresholds through an engine on a dataset (issue 15) against the row path
in memory: seconds and the process's peak resident memory, each in a fresh child process.

``engine``: :func:`research.models.aggregate.threshold_table.thresholds_on` on ``--dataset`` with
``--engine`` (DuckDB by default: quantiles, the spline logit, change points and one-step replicates
from sums); ``rows``: :func:`research.models.thresholds.tolerance_thresholds` on ``--responses``
(exact replicates), read into memory first (the read is timed apart). With both, the largest
differences of the point thresholds (relative) and of the interval ends (as a share of the row
path's width) are printed. The Spark figures: ``--engine spark`` (the process tree's memory is not
in ``ru_maxrss``: the JVM is a child; ``/usr/bin/time`` or the JVM's own limit bound it).

Usage::

    python benchmarks/bench_thresholds_engine.py --dataset /tmp/ds1m/ds --responses /tmp/ds1m/ingest/responses.parquet
    python benchmarks/bench_thresholds_engine.py --dataset DIR_20M --json benchmarks/results/thresholds_engine_20m.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, kind: str, engine: str) -> dict:
    from pathlib import Path

    import pandas as pd

    from research.config.instrument import load_instrument
    from research.config.plan import load_plan

    plan, inst = load_plan(), load_instrument()
    out = {"path": kind, "source": path}
    t0 = time.perf_counter()
    if kind == "rows":
        from research.models.thresholds import tolerance_thresholds

        frame = pd.read_parquet(path)
        out["read_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        th = tolerance_thresholds(frame, plan=plan, instrument=inst)
    else:
        from research.engines import DatasetSource, open_engine
        from research.models.aggregate.threshold_table import thresholds_on

        eng = open_engine(engine)
        out["engine"] = engine
        try:
            th = thresholds_on(eng, DatasetSource(Path(path)), plan=plan, instrument=inst,
                               progress=lambda m: print(f"[{time.perf_counter() - t0:7.1f}s] {m}", file=sys.stderr))
        finally:
            eng.close()
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = _peak_mb()
    t = th["thresholds"]
    out["rows"] = int(t["n"].sum())
    out["table"] = t[["cause_l1", "threshold_hours", "conf_low", "conf_high", "shape", "n"]].to_dict("list")
    return out


def _compare(rows: dict, eng: dict) -> dict:
    import numpy as np

    a, b = rows["table"], eng["table"]
    th_a, th_b = np.array(a["threshold_hours"], float), np.array(b["threshold_hours"], float)
    width = np.array(a["conf_high"], float) - np.array(a["conf_low"], float)
    ends = np.fmax(np.abs(np.array(a["conf_low"], float) - np.array(b["conf_low"], float)),
                   np.abs(np.array(a["conf_high"], float) - np.array(b["conf_high"], float))) / width
    return {"threshold_rel_diff": float(np.nanmax(np.abs(th_a - th_b) / np.abs(th_a))) if np.isfinite(th_a).any()
            else 0.0, "end_move_of_width": dict(zip(a["cause_l1"], np.round(ends, 5).tolist())),
            "shapes_same": a["shape"] == b["shape"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--responses", help="the same rows in memory, for the row path")
    parser.add_argument("--engine", default="duckdb", choices=("pandas", "duckdb", "spark"))
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--child", choices=("rows", "engine"))
    args = parser.parse_args()
    if args.child:
        path = args.responses if args.child == "rows" else args.dataset
        print(json.dumps(child(path, args.child, args.engine), default=str))
        return
    results = []
    for kind in ("engine", *(("rows",) if args.responses else ())):
        cmd = [sys.executable, __file__, "--dataset", args.dataset, "--engine", args.engine, "--child", kind]
        if args.responses:
            cmd += ["--responses", args.responses]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # progress on stderr, as it goes
        if done.returncode:
            raise SystemExit(f"the {kind} child failed (its messages above)")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "table"}), flush=True)
    out = {"results": results}
    if len(results) == 2:
        out["compare"] = _compare(results[1], results[0])
        print(json.dumps(out["compare"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
