"""Benchmark: key-driver analysis (LMG of 7 driver groups) with a 200-replicate station bootstrap.

Data (numpy, seeded): ``--n`` canonical-looking responses, 40 stations (unequal
sizes), 17 sub-causes, resolution yes/partly/no, repeat calls, lognormal handling
hours, three 1..5 items (2 % missing each) and an overall score from a latent
model; ``satisfied`` = overall >= 4, ``sla_met`` = handling within 24 h. pandas
dtypes as in ``research.ingestion.schema.RESPONSES`` (string, Int64, boolean).

Timed: one ``key_drivers(data, bootstrap_reps=200)`` call (design, the 128 subset
R² of the full sample and of every replicate, the IPA with its quadrant
probabilities), after one untimed warm-up call on 10,000 rows; data construction
excluded. Also timed: the point estimate alone (``bootstrap_reps=0``). With
``--outcome satisfied`` the McFadden path (128 logits per replicate) is timed
instead; use a smaller ``--n`` and ``--reps`` for it. Memory: ``tracemalloc`` peak
of the timed call, and the process's ``ru_maxrss``.

Usage::

    python benchmarks/bench_drivers.py [--n 1000000] [--reps 200] [--seed 1]
                                       [--outcome sat_overall] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

from research.strategy.drivers import key_drivers


def make_data(n: int, seed: int, n_stations: int = 40, n_sub: int = 17) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    share = rng.lognormal(0.0, 0.7, n_stations)
    station = rng.choice(n_stations, size=n, p=share / share.sum())
    sub_share = rng.dirichlet(np.full(n_sub, 3.0))
    sub = rng.choice(n_sub, size=n, p=sub_share)
    hours = np.round(np.exp(np.log(rng.uniform(2, 72, n_sub))[sub] + 0.9 * rng.normal(size=n)), 2)
    L = np.log2(1 + hours)
    repeat = rng.random(n) < 1 / (1 + np.exp(2.5 - 0.15 * L))
    resolved = rng.choice(3, size=n, p=[0.84, 0.10, 0.06])
    eta = (rng.normal(0, 0.4, n_sub)[sub] - 0.15 * L - 0.5 * repeat
           + np.array([0.0, -1.0, -1.8])[resolved] + rng.normal(0, 0.3, n_stations)[station])
    latent = eta + rng.logistic(size=n)
    cuts = np.array([-2.5, -1.5, -0.5, 1.0])

    def cut(x):
        return 1 + (x[:, None] > cuts).sum(1)

    items = {}
    for name, extra in [("sat_speed", -0.2 * (L - 4)), ("sat_attitude", 0.0),
                        ("sat_outcome", np.array([0.0, -0.6, -1.0])[resolved])]:
        score = pd.array(cut(latent + extra + rng.normal(0, 0.6, n)), dtype="Int64")
        score[rng.random(n) < 0.02] = pd.NA
        items[name] = score
    overall = cut(latent)
    sub_codes = np.array([f"sub_{i:02d}" for i in range(n_sub)], dtype=object)
    station_codes = np.array([f"S{i:02d}" for i in range(n_stations)], dtype=object)
    return pd.DataFrame({
        "station": pd.array(station_codes[station], dtype="string"),
        "cause_l2": pd.array(sub_codes[sub], dtype="string"),
        "handling_hours": hours,
        "repeat": pd.array(repeat, dtype="boolean"),
        "resolved": pd.array(np.array(["yes", "partly", "no"], dtype=object)[resolved],
                             dtype="string"),
        "sat_overall": pd.array(overall, dtype="Int64"),
        **items,
        "satisfied": pd.array(overall >= 4, dtype="boolean"),
        "sla_met": pd.array(hours <= 24, dtype="boolean"),
    })


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--outcome", default="sat_overall", choices=["sat_overall", "satisfied"])
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)

    data = make_data(args.n, args.seed)
    key_drivers(data.iloc[:10_000], outcome=args.outcome, bootstrap_reps=2)   # warm-up, not timed

    tracemalloc.start()
    t0 = time.perf_counter()
    res = key_drivers(data, outcome=args.outcome, bootstrap_reps=args.reps, seed=args.seed)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    t0 = time.perf_counter()
    key_drivers(data, outcome=args.outcome, bootstrap_reps=0)
    elapsed_point = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux

    imp = res["importance"]
    out = {
        "benchmark": "key_drivers", "outcome": args.outcome, "method": imp["method"].iloc[0],
        "n": args.n, "n_used": int(imp["n"].iloc[0]), "drivers": int(len(imp)),
        "subsets": 2 ** len(imp), "clusters": int(imp["n_clusters"].iloc[0]),
        "bootstrap_reps": args.reps, "seconds_point": round(elapsed_point, 3),
        "seconds": round(elapsed, 3), "tracemalloc_peak_mib": round(peak / 2**20, 1),
        "ru_maxrss_mib": round(rss, 1),
        "python": sys.version.split()[0], "numpy": np.__version__, "pandas": pd.__version__,
        "machine": platform.machine(),
        "total_r2": float(imp["total_r2"].iloc[0]),
        "importance": dict(zip(imp["driver"], imp["importance"].round(6))),
        "quadrant": dict(zip(res["ipa"]["driver"], res["ipa"]["quadrant"].astype(str))),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
