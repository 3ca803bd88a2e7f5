"""Benchmark: design-based domain means (``svy_by``) on 1,000,000 rows.

Data (numpy, seeded): 20 domains (string labels D01..D20), 40 stations
(string labels, unequal sizes), lognormal weights, a boolean outcome stored as
a pandas nullable ``boolean`` column with about 3 % missing.

Timed: one ``svy_by(data, y="satisfied", by="domain", weights="w",
cluster="station")`` call (weighted and unweighted estimates with their
linearization SEs), after one untimed warm-up call; data construction is
excluded. Timed again with the calibration adjustment of raked weights
(``calibration=Calibration`` over three margins: region 6 levels, handling band
5 levels and the 20 domains; 10 projection rounds as R's svyrecvar), which is
what ``research reproduce`` runs on raked weights. Memory: ``tracemalloc`` peak of the allocations made during the
timed call, and the process's ``ru_maxrss``. Target: at most 10 s.

Usage::

    python benchmarks/bench_design_based.py [--n 1000000] [--seed 1] [--json OUT]
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

from research.stats.design_based import Calibration, svy_by


def make_data(n: int, seed: int, n_domains: int = 20, n_clusters: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    share = rng.lognormal(0.0, 0.7, n_clusters)
    station = rng.choice(n_clusters, size=n, p=share / share.sum())
    domain = rng.integers(0, n_domains, size=n)
    station_eff = rng.normal(0, 0.5, n_clusters)[station]
    domain_eff = np.linspace(-1, 1, n_domains)[domain]
    p = 1 / (1 + np.exp(-(domain_eff + station_eff)))
    sat = rng.random(n) < p
    w = rng.lognormal(0.0, 0.6, n) * np.exp(-0.3 * station_eff)
    satisfied = pd.array(sat, dtype="boolean")
    satisfied[rng.random(n) < 0.03] = pd.NA
    return pd.DataFrame({
        "station": np.array([f"S{i:02d}" for i in range(n_clusters)], dtype=object)[station],
        "domain": np.array([f"D{i:02d}" for i in range(n_domains)], dtype=object)[domain],
        "w": w, "satisfied": satisfied,
        "region": rng.integers(0, 6, size=n).astype(str), "band": rng.integers(0, 5, size=n).astype(str),
    })


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)

    data = make_data(args.n, args.seed)
    # warm-up call (imports, first-call overheads), not timed
    svy_by(data.iloc[:10_000], y="satisfied", by="domain", weights="w", cluster="station")
    tracemalloc.start()
    t0 = time.perf_counter()
    out = svy_by(data, y="satisfied", by="domain", weights="w", cluster="station")
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cal = Calibration.from_frame(data, ["region", "band", "domain"], data["w"].to_numpy(), "station")
    tracemalloc.start()
    t0 = time.perf_counter()
    out_cal = svy_by(data, y="satisfied", by="domain", weights="w", cluster="station", calibration=cal)
    elapsed_cal = time.perf_counter() - t0
    _, peak_cal = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux

    res = {
        "benchmark": "svy_by", "n": args.n, "domains": int(len(out)),
        "clusters": int(out["n_clusters"].iloc[0]), "seconds": round(elapsed, 3),
        "tracemalloc_peak_mib": round(peak / 2**20, 1), "ru_maxrss_mib": round(rss, 1),
        "seconds_calibrated": round(elapsed_cal, 3),
        "tracemalloc_peak_mib_calibrated": round(peak_cal / 2**20, 1),
        "target_seconds": 10.0, "within_target": max(elapsed, elapsed_cal) <= 10.0,
        "python": sys.version.split()[0], "numpy": np.__version__, "pandas": pd.__version__,
        "machine": platform.machine(),
        "se_range": [float(out["std_error"].min()), float(out["std_error"].max())],
        "se_range_calibrated": [float(out_cal["std_error"].min()), float(out_cal["std_error"].max())],
    }
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
