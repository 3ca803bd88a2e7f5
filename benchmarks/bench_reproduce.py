"""Benchmark: `research reproduce` end to end (bootstrap included), time and memory of the process tree.

Targets (issue 12): the committed sample in at most 30 s, and 1,000,000 responses in at most
150 s and 4 GB, on this 2-core machine, with the plan's numbers of replicates. The
1M-response exports come from the simulator (``simulate(n, 1)``: n completed surveys and
their whole work-order population), written once to a cache folder.

Each reproduce runs in a fresh process. ``reproduce`` forks (stages 3-4 alongside the fit,
then the rendering workers), so memory is measured over the whole process tree: every
0.25 s the proportional set sizes (PSS, ``/proc/<pid>/smaps_rollup``: pages shared by forked
processes counted once in total) of the process and all its descendants are summed; the
largest sum is ``peak_tree_pss_mb``. ``peak_rss_mb_largest_process`` is the largest single
process's resident set (``ru_maxrss``), as measured before. CPU is the user + system time of
the tree (``RUSAGE_CHILDREN`` of this benchmark, which runs nothing else meanwhile). Each
result carries the load average before the run: on a shared machine compare runs at
similar loads.

Usage::

    python benchmarks/bench_reproduce.py [--n 1000000] [--skip-sample] [--skip-big] [--label L] [--json OUT]

``--json`` (default ``benchmarks/results/reproduce.json``) keeps the results already there and
adds these under ``--label`` (default: the current commit).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"sample": {"seconds": 30}, "big": {"seconds": 150, "peak_tree_pss_mb": 4096}}


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(args: list[str]) -> dict:
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "research.cli", "reproduce", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = [0, 0.0, []]  # KB, seconds into the run, PSS MB of each process in the tree then
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            each = [_pss_kb(p) for p in _tree(proc.pid)]
            if sum(each) > peak[0]:
                peak[:] = [sum(each), time.perf_counter() - t, [round(k / 1024) for k in each]]

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = proc.communicate()[1]
    done.set()
    sampler.join()
    seconds = time.perf_counter() - t
    if proc.returncode:
        print(stderr[-3000:], file=sys.stderr)
        raise SystemExit(proc.returncode)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stages = [line for line in stderr.splitlines() if "stage" in line and (" in " in line or "done" in line)]
    return {"seconds": round(seconds, 1), "cpu_seconds": round(after.ru_utime + after.ru_stime
                                                              - before.ru_utime - before.ru_stime, 1),
            "peak_tree_pss_mb": round(peak[0] / 1024), "peak_at_seconds": round(peak[1], 1),
            "peak_processes_pss_mb": peak[2], "peak_rss_mb_largest_process": round(after.ru_maxrss / 1024),
            "load_before": round(load, 2), "stages": stages}


def _report(name: str, result: dict, target: dict) -> None:
    for line in result["stages"]:
        print("  " + line)
    verdict = ", ".join(f"{k} {result[k]:,} (target <= {v:,})" for k, v in target.items())
    print(f"{name}: {verdict}; CPU {result['cpu_seconds']} s; tree PSS peak {result['peak_tree_pss_mb']:,} MB "
          f"at {result.get('peak_at_seconds')} s (per process {result.get('peak_processes_pss_mb')} MB); "
          f"largest process {result['peak_rss_mb_largest_process']:,} MB; load before {result['load_before']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--skip-sample", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--label")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "reproduce.json")
    args = parser.parse_args()
    label = args.label or subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                         text=True).stdout.strip()
    results = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-reproduce-"))
    if not args.skip_sample:
        results["sample"] = run(["--out", str(tmp / "sample")])
        _report("sample", results["sample"], TARGETS["sample"])
    if not args.skip_big:
        cache = Path(tempfile.gettempdir()) / "research-bench" / f"exports_{args.n}"
        if not (cache / "survey.csv").exists():
            sys.path.insert(0, str(ROOT))
            from research.simulate import simulate, write_simulation

            t = time.perf_counter()
            write_simulation(simulate(args.n, 1), cache)
            print(f"simulated and wrote {args.n:,} responses in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        results[f"n_{args.n}"] = run(["--survey", str(cache / "survey.csv"), "--workorders",
                                      str(cache / "workorders.csv"), "--out", str(tmp / "big")])
        _report(f"{args.n:,} responses", results[f"n_{args.n}"], TARGETS["big"])
    old = json.loads(args.json.read_text(encoding="utf-8")) if args.json.exists() else {}
    old[label] = {**old.get(label, {}), **results, "targets": TARGETS}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(old, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
