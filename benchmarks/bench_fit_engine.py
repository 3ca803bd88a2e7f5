"""Benchmark: the plan's models through each engine (issue 15): seconds per model and peak memory.

For each engine a fresh child process fits every model of the plan (``--models`` to choose) on
one source and reports the seconds of each fit; the parent samples the proportional set size of
the child's process tree every 0.25 s (Spark's JVM is a child process) and keeps the peak.

- ``pandas``: today's row-level fit (:func:`research.models.fit.fit_model`) on the responses in
  memory (``--responses FILE``, or a dataset read whole with ``read_dataset``): the in-memory
  path, the reference of the per-row ratio;
- ``duckdb`` / ``spark``: :func:`research.models.aggregate.fit_model_on` from sums, on
  ``--dataset DIR`` (out of core) or ``--responses FILE``.

Usage::

    python benchmarks/bench_fit_engine.py --responses build/ingest/responses.parquet --engines pandas,duckdb
    python benchmarks/bench_fit_engine.py --dataset /tmp/scale20m/dataset --engines duckdb [--json OUT --label L]

Prints per engine: rows, seconds per model and in all, seconds per million rows, tree PSS peak.
``--json`` adds the result under ``--label`` to a JSON file (kept results stay).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_reproduce import _pss_kb, _tree  # noqa: E402  (the one process-tree sampler)


def child(engine_name: str, responses: str | None, dataset: str | None, models: list[str]) -> None:
    """Fit in this process and print one JSON line of seconds per model."""
    from research.config.instrument import load_instrument
    from research.config.plan import load_plan
    from research.engines import DatasetSource, FrameSource, open_engine

    plan, instrument = load_plan(), load_instrument()
    specs = [m for m in plan.models if not models or m.name in models]
    out = {"engine": engine_name, "models": {}}
    t0 = time.perf_counter()
    if engine_name == "pandas":
        from research.models.fit import fit_model

        if dataset:
            from research.ingestion.dataset import read_dataset

            frame = read_dataset(dataset, "responses")
        else:
            from research.ingestion.readers import read_ingested

            frame = read_ingested(Path(responses), "responses")
        out["read_seconds"] = round(time.perf_counter() - t0, 2)
        for spec in specs:
            t = time.perf_counter()
            fm = fit_model(spec, frame, plan=plan, instrument=instrument)
            out["models"][spec.name] = {"seconds": round(time.perf_counter() - t, 2), "nobs": fm.stats["nobs"]}
    else:
        from research.models.aggregate import fit_model_on

        if dataset:
            source = DatasetSource(Path(dataset))
        else:
            from research.ingestion.readers import read_ingested

            source = FrameSource(read_ingested(Path(responses), "responses"))
        engine = open_engine(engine_name)
        out["read_seconds"] = round(time.perf_counter() - t0, 2)
        try:
            for spec in specs:
                t = time.perf_counter()
                fm = fit_model_on(engine, source, spec, plan=plan, instrument=instrument)
                out["models"][spec.name] = {"seconds": round(time.perf_counter() - t, 2), "nobs": fm.stats["nobs"],
                                            "groups": len(fm.frame), "iterations": fm.stats.get("iterations")}
        finally:
            engine.close()
    out["rows"] = max(m["nobs"] for m in out["models"].values())  # the largest model's complete rows
    out["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(out))


def measure(engine_name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", engine_name]
    cmd += ["--dataset", args.dataset] if args.dataset else ["--responses", args.responses]
    if args.models:
        cmd += ["--models", args.models]
    load = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            peak[0] = max(peak[0], sum(_pss_kb(p) for p in _tree(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode:
        print(stderr[-3000:], file=sys.stderr)
        raise SystemExit(proc.returncode)
    result = json.loads(stdout.strip().splitlines()[-1])
    result.update({"wall_seconds": round(time.perf_counter() - t, 1), "peak_tree_pss_mb": round(peak[0] / 1024),
                   "load_before": round(load, 2)})
    result["seconds_per_million_rows"] = round(result["seconds"] / max(result["rows"], 1) * 1e6, 2)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--responses", help="responses.parquet of an ingest")
    ap.add_argument("--dataset", help="a dataset folder of 'research ingest --dataset'")
    ap.add_argument("--engines", default="pandas,duckdb")
    ap.add_argument("--models", default="", help="comma-separated plan model names (default: all)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="add the results to this JSON file")
    ap.add_argument("--label", default="", help="key of the results in --json")
    args = ap.parse_args()
    if bool(args.responses) == bool(args.dataset):
        ap.error("give one of --responses FILE or --dataset DIR")
    models = [m for m in args.models.split(",") if m]
    if args.child:
        child(args.child, args.responses, args.dataset, models)
        return 0
    results = {}
    for name in args.engines.split(","):
        r = results[name] = measure(name, args)
        per = ", ".join(f"{k} {v['seconds']} s" for k, v in r["models"].items())
        print(f"{name}: {r['rows']:,} rows; read {r['read_seconds']} s; {per}; all {r['seconds']} s "
              f"({r['seconds_per_million_rows']} s per million rows); tree PSS peak {r['peak_tree_pss_mb']:,} MB; "
              f"load before {r['load_before']}", flush=True)
    if args.json:
        path = Path(args.json)
        kept = json.loads(path.read_text()) if path.exists() else {}
        kept[args.label or time.strftime("%Y-%m-%d %H:%M")] = results
        path.write_text(json.dumps(kept, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
