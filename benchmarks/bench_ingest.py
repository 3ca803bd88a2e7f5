"""Benchmark: ingest of 1,000,000 survey rows, UTF-8 CSV and GB18030 CSV, all validation on.

Target (issue 2): at most 10 s and 2 GB peak memory each, on a 2-core machine.

The input is made once with the simulator (n = 1,000,000 completed surveys,
0.5% planted faults, the matching work-order export is not used) and cached
in ``--cache`` (default: the system temp folder). Each ingest runs in a fresh
Python process that reports its own wall time (read + validate + derive +
pseudonymise + write outputs) and peak resident memory (``ru_maxrss``).

Usage::

    python benchmarks/bench_ingest.py [--n 1000000] [--cache DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, time
os.environ.setdefault("RESEARCH_PSEUDONYM_KEY", "benchmark-key-0123456789")
t0 = time.perf_counter()
from research.ingest import ingest, write_ingest
t1 = time.perf_counter()
result = ingest(sys.argv[1])
write_ingest(result, sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t1, "import_seconds": t1 - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows_read": result.report["rows_read"], "accepted": result.report["accepted"],
                  "rejected": result.report["rejected"]}))
"""


def make_inputs(n: int, cache: Path) -> dict[str, Path]:
    """Simulate once; write the survey export as UTF-8 and as GB18030 CSV."""
    cache.mkdir(parents=True, exist_ok=True)
    files = {"utf-8": cache / f"survey_{n}_utf8.csv", "gb18030": cache / f"survey_{n}_gb18030.csv"}
    if all(p.exists() for p in files.values()):
        return files
    from research.simulate import simulate

    t = time.perf_counter()
    sim = simulate(n, 1, faults=0.005)
    print(f"simulated {len(sim.survey_export):,} survey rows in {time.perf_counter() - t:.1f} s",
          file=sys.stderr)
    text = sim.survey_export.to_csv(index=False)
    files["utf-8"].write_bytes(text.encode("utf-8"))
    files["gb18030"].write_bytes(text.encode("gb18030"))
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "research-bench")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    files = make_inputs(args.n, args.cache)
    results = {"n": args.n, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                        "platform": platform.platform()}, "runs": {}}
    for encoding, path in files.items():
        out = args.cache / f"out_{encoding}"
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(out)],
                              capture_output=True, text=True, check=True)
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        run["file_mb"] = path.stat().st_size / 2**20
        run["rows_per_second"] = run["rows_read"] / run["seconds"]
        results["runs"][encoding] = run
        print(f"{encoding:>8}: {run['rows_read']:,} rows ({run['file_mb']:.0f} MB) in "
              f"{run['seconds']:.2f} s = {run['rows_per_second']:,.0f} rows/s; "
              f"peak {run['peak_rss_mb']:,.0f} MB; target <= 10 s and <= 2048 MB: "
              f"{'met' if run['seconds'] <= 10 and run['peak_rss_mb'] <= 2048 else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
