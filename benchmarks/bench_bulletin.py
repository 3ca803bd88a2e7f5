"""Benchmark: a weekly bulletin (tables + HTML + DOCX + CSVs) on about 1,000,000 work orders.

Data: the ingest outputs ``responses.parquet`` and ``workorders.parquet`` of ``--data``
(default ``/tmp/research-bench/ing1m``, a 1M-survey simulation with about 1.75M work
orders) when present, else ``research.simulate.simulate(570000, 1)`` (about 1,000,000
work orders; not timed). The bulletin week is the last complete ISO week of the work
orders.

Timed (wall clock): reading the parquet files (when used), ``bulletin_tables`` (period
week), ``write_bulletin`` (zh). Target: tables + HTML + DOCX in at most 30 s.

Usage::

    python benchmarks/bench_bulletin.py [--data DIR] [--json OUT] [--period week]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from research.bulletin import bulletin_tables, write_bulletin

DEFAULT_DATA = Path("/tmp/research-bench/ing1m")
TARGET_S = 30.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--period", default="week", choices=("day", "week", "month"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    if (args.data / "responses.parquet").exists() and (args.data / "workorders.parquet").exists():
        source = str(args.data)
        responses = pd.read_parquet(args.data / "responses.parquet")
        workorders = pd.read_parquet(args.data / "workorders.parquet")
        read_s = time.perf_counter() - t0
    else:
        from research.simulate import simulate
        source = "simulate(570000, 1)"
        sim = simulate(570000, 1)
        responses, workorders = sim.responses, sim.workorders
        read_s = None
    last_day = workorders["created_at"].max().normalize()
    # last complete ISO week: the Sunday on or before the last day with data to its end
    sunday = last_day - pd.Timedelta(days=(last_day.weekday() + 1) % 7)
    if sunday == last_day and workorders["created_at"].max() < last_day + pd.Timedelta(hours=23):
        sunday -= pd.Timedelta(days=7)
    at = (sunday - pd.Timedelta(days=3)).date()

    t1 = time.perf_counter()
    tables = bulletin_tables(responses, workorders, period=args.period, at=at)
    tables_s = time.perf_counter() - t1
    with tempfile.TemporaryDirectory() as tmp:
        t2 = time.perf_counter()
        written = write_bulletin(tables, tmp, period=args.period, at=at, lang="zh")
        write_s = time.perf_counter() - t2
        sizes = {k: Path(v).stat().st_size for k, v in written.items()}
    total = tables_s + write_s
    result = {
        "benchmark": "bulletin",
        "source": source,
        "period": args.period,
        "at": at.isoformat(),
        "responses": len(responses),
        "workorders": len(workorders),
        "rows": {k: len(v) for k, v in tables.items()},
        "read_s": None if read_s is None else round(read_s, 3),
        "tables_s": round(tables_s, 3),
        "write_s": round(write_s, 3),
        "total_s": round(total, 3),
        "target_s": TARGET_S,
        "within_target": total <= TARGET_S,
        "file_bytes": {"html": sizes["html"], "docx": sizes["docx"]},
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
