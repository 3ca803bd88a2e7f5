"""Benchmark: the thresholds' change-point analysis per cause group through DuckDB
(:func:`research.models.aggregate.changepoint.group_shapes_on` on a dataset folder) against the row
path (:func:`research.models.thresholds.group_shape` on the responses in memory), issue 15:
seconds, the process's peak resident memory and the largest relative difference of every float
column (strings and integers compared exactly).

Each path runs in a fresh child process. ``rows`` reads the responses, builds the thresholds'
frame and design (:func:`research.models.thresholds._threshold_frame`, ``_spline_design``; timed
apart) and calls ``group_shape`` for every cause group; ``duckdb`` calls ``group_shapes_on`` on
the dataset (its own passes: preparing the cells, the quantiles, the batched fits, the small
groups' rows). ``--alpha`` sets ``change_point.alpha`` (1.0: every group "finds" a change point, so
the two 60-point profiles run too: the most passes); ``--max-n`` sets ``calibration_max_n``.

Usage::

    python benchmarks/bench_changepoint_engine.py --responses /tmp/ds1m/ingest/responses.parquet \\
        --dataset /tmp/ds1m/ds --out benchmarks/results/changepoint_engine_1m.json
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


def _plan(alpha: float | None, max_n: int | None):
    import dataclasses

    from research.config.plan import load_plan

    plan = load_plan()
    changes = {k: v for k, v in (("change_point_alpha", alpha), ("change_point_calibration_max_n", max_n))
               if v is not None}
    return dataclasses.replace(plan, thresholds=dataclasses.replace(plan.thresholds, **changes))


def child(path: str, source: str, alpha: float | None, max_n: int | None) -> dict:
    from research.config.instrument import load_instrument

    plan, inst = _plan(alpha, max_n), load_instrument()
    out = {"path": path}
    t0 = time.perf_counter()
    if path == "rows":
        import pandas as pd

        from research.models import thresholds as T

        frame = pd.read_parquet(source)
        out["rows"] = len(frame)
        t1 = time.perf_counter()
        tf, _, notes = T._threshold_frame(frame, plan, inst)
        design, lh, groups, _, _ = T._spline_design(tf, plan.thresholds, notes)
        y = tf["satisfied"].to_numpy()
        out["design_seconds"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        shapes = {g: T.group_shape(design, tf, rows, y, lh, plan.thresholds, plan.conf_level)
                  for g, rows in groups.items()}
        out["group_shape_seconds"] = time.perf_counter() - t2
        out["group_sizes"] = {g: int(len(r)) for g, r in groups.items()}
    else:
        from pathlib import Path

        from research.engines import DatasetSource, open_engine
        from research.models.aggregate.changepoint import group_shapes_on

        engine = open_engine(path)
        calls = {"sums": 0, "extremes": 0, "histogram": 0, "window_values": 0, "level_rows": 0}
        for name in calls:  # count the engine's passes
            method = getattr(engine, name)

            def counted(*a, _m=method, _n=name, **k):
                calls[_n] += 1
                return _m(*a, **k)
            setattr(engine, name, counted)
        try:
            shapes = group_shapes_on(engine, DatasetSource(Path(source)), plan=plan, instrument=inst)
        finally:
            engine.close()
        out["engine_calls"] = calls
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = _peak_mb()
    out["shapes"] = {g: {k: (v.item() if hasattr(v, "item") else v) for k, v in s.items()} for g, s in shapes.items()}
    return out


def _largest_difference(a: dict, b: dict) -> dict:
    """The largest relative difference of the float columns, and whether the rest is equal."""
    import math

    worst, where, exact = 0.0, None, True
    for g in b:
        for k, w in b[g].items():
            v = a[g][k]
            if isinstance(w, (str, bool)) or (isinstance(w, int) and not isinstance(w, bool)):
                exact &= v == w
            elif math.isnan(w) or math.isnan(v):
                exact &= math.isnan(w) and math.isnan(v)
            else:
                r = abs(v - w) / abs(w) if w else abs(v)
                if r > worst:
                    worst, where = r, f"{g}.{k}"
    return {"largest_relative_difference": worst, "at": where, "text_integers_nan_equal": bool(exact)}


def _run_child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--responses")
    ap.add_argument("--dataset")
    ap.add_argument("--alpha", type=float)
    ap.add_argument("--max-n", type=int)
    ap.add_argument("--out")
    ap.add_argument("--child", nargs="*")
    a = ap.parse_args()
    if a.child is not None:
        path, source = a.child[:2]
        print(json.dumps(child(path, source, a.alpha, a.max_n), default=float))
        return
    if not (a.responses and a.dataset):
        ap.error("--responses and --dataset are required")
    extra = [*(["--alpha", str(a.alpha)] if a.alpha is not None else []),
             *(["--max-n", str(a.max_n)] if a.max_n is not None else [])]
    import os

    rows = _run_child(["rows", a.responses, *extra])
    duck = _run_child(["duckdb", a.dataset, *extra])
    result = {"load_average_before": os.getloadavg(), "alpha": a.alpha, "calibration_max_n": a.max_n,
              "rows": {k: v for k, v in rows.items() if k != "shapes"},
              "duckdb": {k: v for k, v in duck.items() if k != "shapes"},
              "comparison": _largest_difference(duck["shapes"], rows["shapes"]),
              "shapes_rows": rows["shapes"]}
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
