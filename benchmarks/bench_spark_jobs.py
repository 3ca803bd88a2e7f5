"""Benchmark: how many Spark jobs the plan's fit and the thresholds run (docs/scale.md).

On a small dataset (the committed sample ingested with ``research ingest --dataset``), reading costs
nothing, so the time is the jobs' fixed cost: the count and the seconds give the per-job latency
that the extrapolation to a cluster multiplies. The count is the Spark DAG scheduler's next job id
before and after each step (``local[2]``).

Usage::

    research ingest data/raw/survey_sample.csv --workorders data/raw/workorders_sample.csv --dataset /tmp/ds
    python benchmarks/bench_spark_jobs.py --dataset /tmp/ds [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from research.config.instrument import load_instrument
    from research.config.plan import load_plan
    from research.engines import DatasetSource, open_engine
    from research.models.aggregate.threshold_table import thresholds_on
    from research.models.run_engine import fit_plan_on

    engine = open_engine("spark", master="local[2]")
    scheduler = engine.spark.sparkContext._jsc.sc().dagScheduler()
    plan, instrument = load_plan(), load_instrument()
    out = {"dataset": str(args.dataset)}
    steps = {"fit_plan_without_thresholds": lambda: fit_plan_on(engine, DatasetSource(args.dataset), plan=plan,
                                                               instrument=instrument, thresholds=False),
             "thresholds": lambda: thresholds_on(engine, DatasetSource(args.dataset), plan=plan, instrument=instrument)}
    try:
        for name, step in steps.items():
            jobs, t0 = scheduler.nextJobId(), time.perf_counter()
            step()
            out[name] = {"jobs": scheduler.nextJobId() - jobs, "seconds": round(time.perf_counter() - t0, 1)}
            print(json.dumps({name: out[name]}), flush=True)
    finally:
        engine.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
