"""Benchmark: the fit stage's per-model predictions and the group comparisons on the committed sample.

Issue 12, point 2 (reproduce on the sample in at most 30 s on 2 cores): a profile of
``research.models.run.fit_plan`` put most of its non-bootstrap time in
``research.models.predict.predictions`` (the counterfactual designs) and
``research.stats.comparisons.compare_groups`` (the studentized-range quantiles). This
times those steps on their own, as ``research reproduce`` runs them (one BLAS thread):

- ingest once (``research.ingestion.run.ingest`` of the committed sample) and fit every
  model of the plan once (the fits are not what is measured);
- then, per model, ``predictions``, ``marginal_effects`` and (logit models)
  ``subcause_ranks``; and ``compare_groups`` by ``cause_l1`` and by ``cause_l2``
  on the rows ``fit_plan`` gives it.

The machine is shared: every timing is repeated (``--repeat``, default 3) and the
minimum is reported. Results go to ``benchmarks/results/fit_stages.json`` under
``--label`` (other labels already in the file are kept, so a "before" and an
"after" run sit side by side).

Usage::

    python benchmarks/bench_fit_stages.py [--label after] [--repeat 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "fit_stages.json"


def best_of(fn, repeat: int) -> float:
    """Minimum wall time of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip()
    except OSError:
        return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="current", help="key of this run in the JSON file")
    parser.add_argument("--repeat", type=int, default=3, help="timings per step; the minimum is reported")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()

    from research import paths
    from research.stats.comparisons import compare_groups
    from research.ingestion.run import ingest
    from research.config.instrument import load_instrument
    from research.models.predict import marginal_effects, predictions
    from research.models.ranks import subcause_ranks
    from research.models.run import _comparable, _varied, absent_optional, fit_model
    from research.config.plan import load_plan
    from research.pipeline.reproduce import one_blas_thread

    plan, instrument = load_plan(), load_instrument()
    thr = instrument.satisfied_threshold
    rows = []
    with one_blas_thread():
        t = time.perf_counter()
        responses = ingest(paths.sample_survey(), paths.sample_workorders()).responses
        print(f"ingest: {time.perf_counter() - t:.1f} s ({len(responses):,} responses)", file=sys.stderr)
        for spec in plan.models:
            if absent_optional(spec, responses):
                continue
            t = time.perf_counter()
            fm = fit_model(spec, responses, plan=plan, instrument=instrument)
            print(f"fitted {spec.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            steps = {
                "predictions": lambda: predictions(fm, parent=instrument.parent, grid_hours=plan.grid_hours,
                                                   threshold=thr, conf_level=plan.conf_level),
                "marginal_effects": lambda: marginal_effects(fm, parent=instrument.parent,
                                                             multiplier=plan.time_multiplier, threshold=thr,
                                                             conf_level=plan.conf_level),
            }
            if spec.family == "logit":
                steps["subcause_ranks"] = lambda: subcause_ranks(fm, parent=instrument.parent, threshold=thr,
                                                                 conf_level=plan.conf_level)
            for step, fn in steps.items():
                rows.append({"stage": step, "model": spec.name, "seconds": best_of(fn, args.repeat)})
                print(f"{step:18s} {spec.name:16s} {rows[-1]['seconds']:7.2f} s", file=sys.stderr)
        for between in ("cause_l1", "cause_l2"):
            data, _ = _comparable(responses, "sat_overall", between)
            data, _ = _varied(data, "sat_overall", between)
            seconds = best_of(lambda: compare_groups(data, dv="sat_overall", between=between), args.repeat)
            rows.append({"stage": "compare_groups", "model": f"by {between}", "seconds": seconds})
            print(f"compare_groups     by {between:13s} {seconds:7.2f} s", file=sys.stderr)

    totals: dict[str, float] = {}
    for r in rows:
        totals[r["stage"]] = totals.get(r["stage"], 0.0) + r["seconds"]
    print(f"\n{'stage':18s} {'model':16s} {'seconds':>8s}   (minimum of {args.repeat})")
    for r in rows:
        print(f"{r['stage']:18s} {r['model']:16s} {r['seconds']:8.2f}")
    for stage, seconds in totals.items():
        print(f"{stage:18s} {'(all)':16s} {seconds:8.2f}")
    print(f"{'total':18s} {'':16s} {sum(totals.values()):8.2f}")

    record = {"rows": rows, "totals": totals, "total": sum(totals.values()), "repeat": args.repeat,
              "commit": git_commit(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
              "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    existing = {}
    if args.json.exists():
        try:
            existing = json.loads(args.json.read_text(encoding="utf-8"))
        except ValueError:
            existing = {}
    existing[args.label] = record
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.json} under {args.label!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
