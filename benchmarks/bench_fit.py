"""Benchmark: fit the whole default analysis plan on 1,000,000 responses.

Target (model issue): the plan, bootstrap excluded, in at most 60 s and 4 GB
peak memory on this 2-core machine. The responses come from the simulator
(canonical frame, no ingest), made once in the parent process and passed to a
fresh child through a Parquet file so the child's peak memory is its own.

Reported: seconds per model (fit and predictions), the group comparisons,
the total, and peak RSS; with ``--thresholds`` also the tolerance-threshold
analysis with its cluster bootstrap (not part of the 60 s target).

Usage::

    python benchmarks/bench_fit.py [--n 1000000] [--thresholds] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import pandas as pd
from research.models.run import fit_plan
responses = pd.read_parquet(sys.argv[1])
messages = []
t0 = time.perf_counter()
results = fit_plan(responses, thresholds=sys.argv[2] == "1",
                   progress=lambda m: messages.append(f"[{time.perf_counter() - t0:7.1f}s] {m}"))
total = time.perf_counter() - t0
print(json.dumps({"seconds": total, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": len(responses), "steps": messages}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--thresholds", action="store_true", help="include the bootstrap thresholds")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from research.simulate import simulate

    cache = Path(tempfile.gettempdir()) / "research-bench" / f"responses_{args.n}.parquet"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        simulate(args.n, 1).responses.to_parquet(cache, index=False)
        print(f"simulated {args.n:,} responses in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(cache), "1" if args.thresholds else "0"],
                          capture_output=True, text=True)
    if proc.returncode:
        print(proc.stderr, file=sys.stderr)
        return proc.returncode
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    for step in run["steps"]:
        print(step)
    target = "" if args.thresholds else (
        f"; target <= 60 s and <= 4096 MB: {'met' if run['seconds'] <= 60 and run['peak_rss_mb'] <= 4096 else 'MISSED'}")
    print(f"whole plan on {run['rows']:,} responses: {run['seconds']:.1f} s, peak {run['peak_rss_mb']:,.0f} MB{target}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
