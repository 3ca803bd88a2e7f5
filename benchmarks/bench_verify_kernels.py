"""Benchmark: how far the sample's results move across BLAS kernels and thread counts.

Rebuilds the committed sample (``research reproduce``) in fresh processes under
different OpenBLAS settings (``OPENBLAS_CORETYPE`` selects the kernel a
processor of that type would run; ``OPENBLAS_NUM_THREADS`` the thread count)
and compares every compared CSV of each rebuild with the published copies in
``paper/results/``, cell by cell (:mod:`research.artifacts.compare`). Prints,
per setting and artifact, the largest relative difference of the cells that
are not byte-identical, and whether everything lies within the manifest's
tolerances. This is the measurement behind those tolerances (issue 12).

Usage::

    python benchmarks/bench_verify_kernels.py [--settings default Haswell:1 SandyBridge:2] [--json OUT]

A setting is ``CORETYPE[:THREADS]``; ``default`` leaves the environment as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from research.artifacts.compare import TOLERANCES, compare_csv  # noqa: E402


def rebuild(setting: str, out: Path) -> float:
    env = dict(os.environ)
    if setting != "default":
        core, _, threads = setting.partition(":")
        env["OPENBLAS_CORETYPE"] = core
        env.pop("OPENBLAS_L2_SIZE", None)
        if threads:
            env["OPENBLAS_NUM_THREADS"] = threads
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "research.cli", "reproduce", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{setting}: reproduce failed: {proc.stderr[-500:]}")
    return time.perf_counter() - t


def compare(out: Path) -> dict:
    manifest = json.loads((ROOT / "paper" / "manifest.json").read_text(encoding="utf-8"))
    published = ROOT / "paper" / "results"
    report = {}
    for a in manifest["artifacts"]:
        if not (a["compare"] and a["path"].endswith(".csv")):
            continue
        kind = a.get("tolerance", "iterative")
        result = compare_csv((published / a["path"]).read_bytes(), (out / a["path"]).read_bytes(),
                             rel_tol=TOLERANCES[kind][0])
        worst = max([d.rel_diff for d in result.diffs], default=result.max_rel_diff)
        report[a["path"]] = {"tolerance": kind, "within": result.ok, "max_rel_diff": worst,
                             "problem": result.problem}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=["default", "Haswell:1", "SandyBridge:2"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    for setting in args.settings:
        with tempfile.TemporaryDirectory() as tmp:
            seconds = rebuild(setting, Path(tmp) / "build")
            report = compare(Path(tmp) / "build")
        moved = {k: v for k, v in report.items() if v["max_rel_diff"] > 0 or not v["within"]}
        worst = max((v["max_rel_diff"] for v in report.values()), default=0.0)
        results[setting] = {"seconds": round(seconds, 1), "artifacts": len(report),
                            "not_byte_identical": len(moved), "all_within_tolerance":
                            all(v["within"] for v in report.values()), "largest_rel_diff": worst,
                            "by_artifact": {k: v["max_rel_diff"] for k, v in sorted(moved.items())}}
        print(f"{setting:<16} {seconds:6.1f} s  {len(report)} CSVs, {len(moved)} not byte-identical, "
              f"largest relative difference {worst:.1e}, all within tolerance: "
              f"{results[setting]['all_within_tolerance']}")
        for k, v in sorted(moved.items(), key=lambda kv: -kv[1]["max_rel_diff"])[:10]:
            print(f"    {k:<45} {v['max_rel_diff']:.1e}  ({v['tolerance']})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
