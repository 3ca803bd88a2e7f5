"""Benchmark: raking 1,000,000 respondents to 10 population margins (``research.stats.weights.rake``).

Data (numpy, seeded): a population of 2,500,000 units with 10 categorical margin
variables of 5, 8, 10, 12, 15, 20, 25, 30, 35 and 40 levels (200 levels in total;
unequal level shares from a Dirichlet draw), stored as pandas ``Categorical``
columns with string labels. Response probability depends on every margin variable
(random logit effects, sd 0.4 per level), and exactly 1,000,000 respondents are
drawn with those probabilities (Gumbel top-k), so the respondent margins differ
from the population's and raking has real work to do.

Timed: one ``rake(sample, population, margins)`` call to full convergence (default
``tol = 1e-10``: largest absolute margin error relative to the margin total),
including the level coding and population counts; data construction is excluded.
Also timed separately: the same call with ``cap = 5`` (trimmed raking).
Memory: ``tracemalloc`` peak of the allocations made during the timed call, and
the process's ``ru_maxrss``. Target: well under 10 s.

Usage::

    python benchmarks/bench_weights.py [--n 1000000] [--seed 1] [--json OUT]
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

from research.stats.weights import rake, weight_summary

LEVELS = (5, 8, 10, 12, 15, 20, 25, 30, 35, 40)   # 200 levels in total


def make_data(n: int, seed: int, pop_ratio: float = 2.5):
    rng = np.random.default_rng(seed)
    n_pop = int(round(n * pop_ratio))
    pop_cols, eta = {}, np.zeros(n_pop)
    for j, k in enumerate(LEVELS):
        share = rng.dirichlet(np.full(k, 2.0))
        codes = rng.choice(k, size=n_pop, p=share).astype(np.int16)
        eta += rng.normal(0.0, 0.4, k)[codes]
        labels = [f"v{j}_l{i:02d}" for i in range(k)]
        pop_cols[f"v{j}"] = pd.Categorical.from_codes(codes, categories=labels)
    population = pd.DataFrame(pop_cols)
    # n respondents drawn without replacement with probability ~ exp(eta) (Gumbel top-k)
    keys = eta + rng.gumbel(size=n_pop)
    idx = np.sort(np.argpartition(-keys, n)[:n])
    sample = population.iloc[idx].reset_index(drop=True)
    return sample, population


def _timed(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, elapsed, peak


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cap", type=float, default=5.0)
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)

    sample, population = make_data(args.n, args.seed)
    margins = list(sample.columns)

    res_free, t_free, peak_free = _timed(lambda: rake(sample, population, margins))
    res_cap, t_cap, peak_cap = _timed(lambda: rake(sample, population, margins, cap=args.cap))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux

    s_free = weight_summary(res_free.weights)
    s_cap = weight_summary(res_cap.weights)
    out = {
        "benchmark": "rake", "n_respondents": len(sample), "n_population": len(population),
        "margins": len(margins), "levels_total": int(sum(LEVELS)),
        "seconds": round(t_free, 3), "iterations": res_free.iterations,
        "max_margin_error": res_free.max_margin_error, "converged": res_free.converged,
        "tracemalloc_peak_mib": round(peak_free / 2**20, 1),
        "deff": round(s_free["deff"], 4),
        "max_weight_over_mean": round(s_free["max"] / s_free["mean"], 3),
        "capped": {"cap": args.cap, "seconds": round(t_cap, 3), "iterations": res_cap.iterations,
                   "max_margin_error": res_cap.max_margin_error, "converged": res_cap.converged,
                   "max_weight_over_mean": round(s_cap["max"] / s_cap["mean"], 6),
                   "tracemalloc_peak_mib": round(peak_cap / 2**20, 1),
                   "deff": round(s_cap["deff"], 4)},
        "ru_maxrss_mib": round(rss, 1),
        "target_seconds": 10.0, "within_target": t_free <= 10.0,
        "python": sys.version.split()[0], "numpy": np.__version__, "pandas": pd.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
