"""Coverage study: the 5-point-drop tolerance threshold's bootstrap interval, for every cause group.

For ``--seeds`` exports of the default simulator (``research.simulate``, ``--n`` responses; the
truth is log-linear in ``log2(1 + hours)`` with a slope per cause group), the pipeline's
:func:`research.models.thresholds.tolerance_thresholds` (the committed plan, ``--reps``
cluster-bootstrap replicates) is compared with the simulator's own threshold: the first time the
true satisfied rate of the group's surveyed tickets, had each taken that long, is 5 points below
its rate at the group's reference hours (as ``tests/models/test_thresholds.py::_true_curve``). An upper
end beyond the curve ("not reached") is open. Prints, per group, coverage with its Monte-Carlo
standard error, the median estimate and truth, and the share of "not reached" upper ends.

Usage::

    python benchmarks/bench_threshold_coverage.py [--seeds 60] [--n 20000] [--reps 100] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_thresholds import _true_curve  # noqa: E402

from research.config.instrument import load_instrument  # noqa: E402
from research.models.thresholds import threshold_from_curve, tolerance_thresholds  # noqa: E402
from research.config.plan import load_plan  # noqa: E402
from research.simulate import simulate  # noqa: E402


def one(seed: int, n: int, reps: int) -> list[dict]:
    sim = simulate(n, seed)
    plan = load_plan()
    plan = replace(plan, thresholds=replace(plan.thresholds, bootstrap_reps=reps))
    th = tolerance_thresholds(sim.responses, plan=plan, instrument=load_instrument())["thresholds"]
    rows = []
    for r in th.itertuples(index=False):
        hours = np.exp(np.linspace(np.log(r.reference_hours), np.log(r.max_hours), 400))
        truth = threshold_from_curve(hours, _true_curve(sim, r.cause_l1, hours), r.drop_points / 100)
        lo = r.conf_low if np.isfinite(r.conf_low) else -np.inf
        hi = r.conf_high if r.upper_reached else np.inf
        t = truth if np.isfinite(truth) else np.inf
        rows.append({"seed": seed, "group": r.cause_l1, "shape": r.shape, "truth": truth,
                     "estimate": r.threshold_hours, "conf_low": r.conf_low, "conf_high": r.conf_high,
                     "covered": bool(lo <= t <= hi), "upper_open": not r.upper_reached})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=60)
    ap.add_argument("--seed0", type=int, default=30_000)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    for s in range(a.seeds):
        rows += one(a.seed0 + s, a.n, a.reps)
        print(f"seed {s + 1}/{a.seeds} done at {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    d = pd.DataFrame(rows)
    out = []
    for g, x in d.groupby("group", sort=False):
        c = float(x["covered"].mean())
        out.append({"group": g, "seeds": len(x), "coverage": c, "coverage_mc_se": float(np.sqrt(c * (1 - c) / len(x))),
                    "median_estimate": float(x["estimate"].median()), "median_truth": float(x["truth"].median()),
                    "upper_open": float(x["upper_open"].mean()),
                    "shape_gradual": float((x["shape"] == "gradual").mean())})
        print(json.dumps(out[-1]))
    print(f"{time.perf_counter() - t0:.0f} s")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"summary": out, "draws": rows}, indent=1, default=float))


if __name__ == "__main__":
    main()
