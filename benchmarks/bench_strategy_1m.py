"""Benchmark: the STRATEGY part of stage 4 (what ``research.pipeline.stages.strategy_stage`` runs after
representativeness) on a large ingest, one sub-step per fresh process.

Issue 12: ``research reproduce`` on 1,000,000 responses in at most 150 s and 4 GB; the child
process's branch (representativeness + this part) has at most 90 s on one core and 2.5 GB.
Sub-steps, called as ``strategy_stage`` (research.pipeline.stages) calls them (one BLAS thread, respondent weights and
raking calibration of stage 3):

- ``levers``: ``research.strategy.scenarios.run_levers`` (lever effects and their one-step bootstrap,
  E-values, mediation through resolution);
- ``associations``: ``research.strategy.causal.associations``;
- ``drivers``: ``research.strategy.drivers.key_drivers`` as ``research.pipeline.reproduce.driver_results`` calls it
  (the two decompositions, their cluster bootstrap and permutation nulls);
- ``p_chart``, ``recurrence``, ``repeat_callers`` (``research.strategy.monitoring``) and ``funnel``
  (``research.strategy.stations.funnel``);
- ``all``: every one of them in sequence in one process (its peak RSS is the part's).

Stage 3 runs once per size and its weights and calibration are kept in
``/tmp/research-bench/<size>_stage3.pkl`` (made with ``research.pipeline.reproduce.respondent_weighting``
when absent). Each measurement is a fresh process that reads the ingest outputs, loads that
file and runs one sub-step: CPU seconds (``time.process_time``), wall seconds, the peak RSS of the
whole process (``ru_maxrss``, the data included) and the RSS after loading, with the 1-minute
load average. ``--repeat`` runs each sub-step that many times (minimum kept). Results go to
``benchmarks/results/strategy_1m.json`` under ``--label`` (other labels are kept).

``--pythonpath DIR`` runs the children on another checkout's ``research`` package (a "before").

Usage::

    python benchmarks/bench_strategy_1m.py --size 1m --label after [--steps levers drivers] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "strategy_1m.json"
BENCH = Path("/tmp/research-bench")
STEPS = ("levers", "associations", "drivers", "p_chart", "funnel", "recurrence", "repeat_callers")


def ingest_dir(size: str) -> Path:
    root = BENCH / f"build_{size}"
    return root / "ingest" if (root / "ingest").exists() else root


def stage3(size: str, responses, workorders, plan, instrument) -> tuple:
    """Respondent weights and calibration of stage 3, computed once per size and kept."""
    import pickle

    path = BENCH / f"{size}_stage3.pkl"
    if not path.exists():
        from research.pipeline.reproduce import respondent_weighting

        _, weights, calibration = respondent_weighting(responses, workorders, plan=plan, instrument=instrument)
        with open(path, "wb") as f:
            pickle.dump({"weights": weights, "calibration": calibration}, f)
    with open(path, "rb") as f:
        s3 = pickle.load(f)
    return s3["weights"], s3["calibration"]


def child(size: str, step: str) -> dict:
    """Run one sub-step in this process; its measurements."""
    import resource

    from research.config.instrument import load_instrument
    from research.config.plan import load_plan, plan_path
    from research.ingestion.readers import read_ingested
    from research.pipeline.reproduce import one_blas_thread

    plan, instrument = load_plan(plan_path()), load_instrument()
    folder = ingest_dir(size)
    responses = read_ingested(folder / "responses.parquet", "responses")
    workorders = read_ingested(folder / "workorders.parquet", "work orders")
    weights, calibration = stage3(size, responses, workorders, plan, instrument)
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def run(name: str):
        if name == "levers":
            from research.strategy.scenarios import run_levers
            return run_levers(responses, plan=plan, instrument=instrument, weights=weights,
                              calibration=calibration)
        if name == "associations":
            from research.strategy.causal import associations
            return associations(responses, plan=plan, instrument=instrument, weights=weights,
                                calibration=calibration)
        if name == "drivers":   # as research.pipeline.reproduce.driver_results calls it
            from research.strategy.drivers import key_drivers
            ds = plan.drivers
            return key_drivers(responses.assign(_weight=weights), outcome=ds.outcome, weights="_weight",
                               bootstrap_reps=ds.bootstrap_reps, seed=ds.bootstrap_seed,
                               cluster=ds.bootstrap_cluster, conf_level=plan.conf_level,
                               permutation_reps=ds.permutation_reps, permutation_seed=ds.permutation_seed)
        if name == "p_chart":
            from research.strategy.monitoring import p_chart
            return p_chart(responses)
        if name == "funnel":
            from research.strategy.stations import funnel
            return funnel(responses, instrument=instrument)
        if name == "recurrence":
            from research.strategy.monitoring import recurrence
            return recurrence(workorders)
        if name == "repeat_callers":
            from research.strategy.monitoring import repeat_callers
            return repeat_callers(workorders, responses)
        raise SystemExit(f"unknown step {name}")

    with one_blas_thread():
        cpu, wall = time.process_time(), time.perf_counter()
        for name in (STEPS if step == "all" else (step,)):
            run(name)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "rss_after_load_mb": round(rss_load), "load_avg": round(os.getloadavg()[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1m", help="the ingest under /tmp/research-bench/build_<size>")
    parser.add_argument("--label", default="current", help="key of this run in the JSON file")
    parser.add_argument("--steps", nargs="+", default=[*STEPS, "all"], choices=[*STEPS, "all"])
    parser.add_argument("--repeat", type=int, default=1, help="fresh processes per step; the minimum is kept")
    parser.add_argument("--pythonpath", default=None, help="run the children on this checkout's package")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    env = dict(os.environ)
    cwd = None
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
        cwd = args.pythonpath   # the package finds its plan and instrument beside it
    runs: dict[str, list[dict]] = {}
    for step in args.steps:
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", args.size, step],
                                 capture_output=True, text=True, env=env, cwd=cwd, check=False)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                raise SystemExit(f"step {step} failed")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            runs.setdefault(step, []).append(res)
            print(f"{args.size} {step:15s} cpu {res['cpu_s']:7.2f} s  wall {res['wall_s']:7.2f} s  "
                  f"peak {res['peak_rss_mb']:6d} MB  (after load {res['rss_after_load_mb']} MB)  "
                  f"load {res['load_avg']}", flush=True)
    best = {s: {"cpu_s": min(r["cpu_s"] for r in rs), "wall_s": min(r["wall_s"] for r in rs),
                "peak_rss_mb": min(r["peak_rss_mb"] for r in rs), "runs": rs} for s, rs in runs.items()}
    data = json.loads(args.json.read_text()) if args.json.exists() else {}
    data.setdefault(args.size, {})[args.label] = {"when": time.strftime("%Y-%m-%d %H:%M"), "steps": best}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
