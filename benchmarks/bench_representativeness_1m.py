"""Benchmark: the representativeness stage (stage 3 of ``research reproduce``) on an ingested build.

Timed, in a fresh process per run: ``analyse_representativeness(responses, workorders, plan=...,
instrument=...)`` then ``write_representativeness`` (into a temporary folder), under
``research.pipeline.reproduce.one_blas_thread()`` as reproduce runs it; reading the ingest outputs is
excluded. Each sub-step (the functions the stage calls: population frame, response rates,
propensity model, weights, weighted estimates, weighting methods, the delta adjustment, the
survey-weighted fits, predictions ...) is wrapped to record its CPU seconds
(``time.process_time``), wall seconds and peak RSS (``VmHWM`` of ``/proc/self/status``, reset with
``/proc/self/clear_refs`` before the step, so each step's own peak is seen; the stage's peak is
the largest of the steps' and the gaps' peaks).

``--before-commit SHA`` also measures the package as it was at that commit (its ``research``
folder exported with ``git archive`` to a temporary folder put first on ``PYTHONPATH``),
alternating before / after runs so both see the same machine load. The minimum over ``--reps``
runs is kept (CPU, wall and peak each), with every run and its load average.

Usage::

    python benchmarks/bench_representativeness_1m.py [--data /tmp/research-bench/build_1m/ingest]
        [--reps 2] [--before-commit 1dbf6c5] [--json benchmarks/results/representativeness_1m.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (module, function) wrapped as sub-steps, when the module has it (older code may not)
STEPS = (
    ("research.representativeness.run", "population_frame"), ("research.representativeness.run", "funnel"),
    ("research.representativeness.run", "response_rates"), ("research.representativeness.run", "population_design"),
    ("research.representativeness.run", "propensity_model"), ("research.representativeness.run", "make_weights"),
    ("research.representativeness.run", "margin_diagnostics"), ("research.representativeness.run", "_margin_check"),
    ("research.representativeness.run", "calibration_of"), ("research.representativeness.run", "_weighted_estimates"),
    ("research.representativeness.run", "rows_weighted_estimates"),
    ("research.strategy.sensitivity", "weighting_methods"), ("research.strategy.sensitivity", "outcome_model"),
    ("research.strategy.sensitivity", "delta_range"), ("research.strategy.sensitivity", "tipping_deltas"),
    ("research.models.weighted", "fit_weighted_model"), ("research.models.predict", "marginal_effects"),
    ("research.models.predict", "predictions"), ("research.representativeness.run", "write_representativeness"),
)

CHILD = r'''
import functools, importlib, json, os, resource, sys, tempfile, time
from pathlib import Path

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024

def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

steps, gaps, depth = [], [], [0]

def wrap(mod, name):
    f = getattr(mod, name)
    @functools.wraps(f)
    def g(*a, **k):
        if depth[0]:
            return f(*a, **k)
        gaps.append(status("VmHWM"))
        depth[0] += 1
        reset_peak()
        c0, t0 = time.process_time(), time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            depth[0] -= 1
            steps.append({"step": name, "cpu_s": round(time.process_time() - c0, 3),
                          "wall_s": round(time.perf_counter() - t0, 3), "peak_rss_mb": round(status("VmHWM"))})
            reset_peak()
    setattr(mod, name, g)

data = Path(sys.argv[1])
for modname, name in json.loads(sys.argv[2]):
    mod = importlib.import_module(modname)
    if hasattr(mod, name):
        wrap(mod, name)
import research.representativeness.run as R
from research.config.instrument import load_instrument
from research.config.plan import load_plan, plan_path
from research.ingestion.readers import read_ingested
from research.pipeline.reproduce import one_blas_thread

responses = read_ingested(data / "responses.parquet", "responses")
workorders = read_ingested(data / "workorders.parquet", "work orders")
plan, instrument = load_plan(plan_path()), load_instrument()
loaded = status("VmRSS")
reset_peak()
c0, t0 = time.process_time(), time.perf_counter()
with one_blas_thread(), tempfile.TemporaryDirectory() as out:
    res = R.analyse_representativeness(responses, workorders, plan=plan, instrument=instrument)
    R.write_representativeness(res, out)
cpu, wall = time.process_time() - c0, time.perf_counter() - t0
gaps.append(status("VmHWM"))
print(json.dumps({"cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                  "peak_rss_mb": round(max([s["peak_rss_mb"] for s in steps] + gaps)),
                  "rss_after_loading_mb": round(loaded), "research": R.__file__, "steps": steps}))
'''


def run_once(data: Path, pythonpath: str | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    load = os.getloadavg()
    # run from the exported tree for "before": with -c the working folder comes first on sys.path
    proc = subprocess.run([sys.executable, "-c", CHILD, str(data), json.dumps(STEPS)], env=env,
                          cwd=pythonpath or ROOT,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load_average_before"] = [round(x, 2) for x in load]
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def export_commit(commit: str, into: Path) -> str:
    """The ``research`` package of ``commit`` under ``into`` (git archive): a PYTHONPATH entry."""
    tar = into / "src.tar"
    subprocess.run(["git", "archive", "--format=tar", "-o", str(tar), commit, "research", "paper", "surveys"], cwd=ROOT,
                   check=True)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return str(into)


def summary(runs: list[dict]) -> dict:
    best = min(runs, key=lambda r: r["cpu_s"])
    steps: dict[str, dict] = {}
    for r in runs:  # per step (summed over its calls in a run), minimum over runs
        per: dict[str, dict] = {}
        for s in r["steps"]:
            d = per.setdefault(s["step"], {"calls": 0, "cpu_s": 0.0, "wall_s": 0.0, "peak_rss_mb": 0})
            d["calls"] += 1
            d["cpu_s"] += s["cpu_s"]
            d["wall_s"] += s["wall_s"]
            d["peak_rss_mb"] = max(d["peak_rss_mb"], s["peak_rss_mb"])
        for k, d in per.items():
            m = steps.setdefault(k, dict(d))
            for f in ("cpu_s", "wall_s", "peak_rss_mb"):
                m[f] = round(min(m[f], d[f]), 3)
    return {"cpu_s": min(r["cpu_s"] for r in runs), "wall_s": min(r["wall_s"] for r in runs),
            "peak_rss_mb": min(r["peak_rss_mb"] for r in runs), "rss_after_loading_mb": best["rss_after_loading_mb"],
            "steps": steps, "runs": [{k: v for k, v in r.items() if k != "steps"} for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/research-bench/build_1m/ingest"))
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--before-commit", default=None)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "representativeness_1m.json")
    args = ap.parse_args()
    result: dict = json.loads(args.json.read_text()) if args.json.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        old = export_commit(args.before_commit, Path(tmp)) if args.before_commit else None
        runs: dict[str, list] = {"before": [], "after": []}
        for i in range(args.reps):
            for label, path in (("before", old), ("after", None)):
                if label == "before" and old is None:
                    continue
                r = run_once(args.data, path)
                runs[label].append(r)
                print(f"{label} run {i + 1}: CPU {r['cpu_s']:.1f} s, wall {r['wall_s']:.1f} s, "
                      f"peak RSS {r['peak_rss_mb']} MB, load {r['load_average_before']}", flush=True)
    for label, rs in runs.items():
        if not rs:
            continue
        s = summary(rs)
        s.update(commit=args.before_commit if label == "before" else _head(), data=str(args.data),
                 measured=time.strftime("%Y-%m-%d %H:%M"))
        result[label] = s
        print(f"\n{label}: CPU {s['cpu_s']:.1f} s, wall {s['wall_s']:.1f} s, peak RSS {s['peak_rss_mb']} MB "
              f"(after loading {s['rss_after_loading_mb']} MB); minimum of {len(rs)}")
        for k, d in sorted(s["steps"].items(), key=lambda kv: -kv[1]["cpu_s"]):
            print(f"  {k:28s} x{d['calls']}  CPU {d['cpu_s']:7.2f} s  wall {d['wall_s']:7.2f} s  "
                  f"peak {d['peak_rss_mb']:6.0f} MB")
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip() + "+worktree"


if __name__ == "__main__":
    main()
