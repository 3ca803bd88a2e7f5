"""Benchmark: `research reproduce` end to end (bootstrap included).

Targets (artifacts issue): the committed sample in at most 90 s; 1,000,000
responses in at most 5 minutes, on this 2-core machine. The 1M-response
exports come from the simulator (``simulate(n, 1)``: n completed surveys and
their whole work-order population), written once to a cache folder; each
reproduce runs in a fresh process so its peak memory is its own.

Usage::

    python benchmarks/bench_reproduce.py [--n 1000000] [--skip-sample] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str]) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "research.cli", "reproduce", *args],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(proc.returncode)
    stages = [line for line in proc.stderr.splitlines() if "done in" in line or " in " in line and "stage" in line]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mb_max_so_far": peak, "stages": stages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--skip-sample", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-reproduce-"))
    if not args.skip_sample:
        results["sample"] = run(["--out", str(tmp / "sample")])
        print(f"sample: {results['sample']['seconds']:.1f} s (target <= 90 s)")
    cache = Path(tempfile.gettempdir()) / "research-bench" / f"exports_{args.n}"
    if not (cache / "survey.csv").exists():
        from research.simulate import simulate, write_simulation

        t = time.perf_counter()
        write_simulation(simulate(args.n, 1), cache)
        print(f"simulated and wrote {args.n:,} responses in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    big = run(["--survey", str(cache / "survey.csv"), "--workorders", str(cache / "workorders.csv"),
               "--out", str(tmp / "big")])
    results[f"n_{args.n}"] = big
    for line in big["stages"]:
        print("  " + line)
    print(f"{args.n:,} responses: {big['seconds']:.1f} s (target <= 300 s), "
          f"peak RSS {big['peak_rss_mb_max_so_far']:,.0f} MB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
