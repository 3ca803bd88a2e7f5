"""Benchmark: peak memory and time of ``research bulletin --dataset DIR --engine duckdb`` against
``--engine pandas`` (issue 15 point 4: a weekly bulletin under 6 GB at national scale).

Data: a dataset folder of ``research ingest --dataset`` (not made here; e.g.
``research simulate --n 2000000 --seed 15 --out /tmp/bull-bench/raw`` then ``research ingest
/tmp/bull-bench/raw/survey.csv --workorders /tmp/bull-bench/raw/workorders.csv --dataset
/tmp/bull-bench/ds``). Each engine runs the command in a fresh process (``research.cli.main``),
which reports its own peak resident set size (``getrusage``, DuckDB's memory included) and wall
time; the CSVs of the two runs are compared byte for byte.

Usage::

    python benchmarks/bench_bulletin_dataset.py --dataset DIR [--period week] [--at DATE]
        [--engine duckdb --engine pandas] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(dataset: str, period: str, at: str | None, engine: str, out: str) -> None:
    """Run the command in this process; print its peak RSS (MB) and wall time (s) as JSON."""
    from research.cli import main

    argv = ["bulletin", "--dataset", dataset, "--period", period, "--engine", engine, "--out", out]
    t0 = time.perf_counter()
    code = main(argv + (["--at", at] if at else []))
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    print(json.dumps({"engine": engine, "exit": code, "wall_s": round(wall, 1), "peak_rss_mb": round(peak_mb)}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--period", default="week", choices=("day", "week", "month"))
    ap.add_argument("--at")
    ap.add_argument("--engine", action="append", choices=("duckdb", "pandas"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(str(args.dataset), args.period, args.at, args.child, args.out)
        return 0
    runs, outs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engine or ["duckdb", "pandas"]:
            outs[engine] = Path(tmp) / engine
            cmd = [sys.executable, __file__, "--dataset", str(args.dataset), "--period", args.period,
                   "--child", engine, "--out", str(outs[engine])] + (["--at", args.at] if args.at else [])
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
        same = None
        if len(outs) == 2:
            a, b = (sorted(p.glob("*.csv")) for p in outs.values())
            same = [p.name for p in a] == [p.name for p in b] and all(
                x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
    result = {"dataset": str(args.dataset), "period": args.period, "at": args.at, "runs": runs,
              "csv_identical": same, "python": platform.python_version(), "machine": platform.machine()}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
