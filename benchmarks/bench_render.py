"""Benchmark: CPU and wall time of ``write_table`` / ``write_figure`` for every registered table and
figure, on the bundle of the committed sample.

The bundle is built once, as ``research reproduce`` builds it (ingest, fit, representativeness,
levers, drivers, monitoring): the build is stopped where it would start rendering, and the jobs it
was about to render (spec, per-artifact stamp) are kept. ``--bundle-cache FILE`` pickles that
bundle (or reads it when the file exists), so that repeated runs skip the ~25 s build; delete the
file after changing anything upstream of rendering.

Each artifact is then rendered ``--repeat`` times in this process (one BLAS thread, as the
workers of ``research.pipeline.reproduce.render_all``), into a scratch folder, and the minimum of each of
process CPU time (user + sys, ``time.process_time``) and wall time is kept: the machine has two
cores shared with other work, so CPU time is the figure to compare, wall time is recorded
beside it. Stamps use a fixed data hash and commit (``bench``) with each artifact's own seed, so
that two runs of different code write files that can be compared (``--keep DIR``).

Results are merged into ``--json`` (default ``benchmarks/results/render.json``) under ``--label``
(e.g. ``before`` / ``after``), so one file holds both sides of a change.

Usage::

    python benchmarks/bench_render.py --label after [--repeat 3] [--bundle-cache /tmp/bundle.pkl]
        [--only T01 F04 ...] [--keep DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "render.json"
#: the test suite's pseudonymisation key (tests/conftest.py): the bench never writes a key file
BENCH_KEY = "unit-test-key-0123456789abcdef"


class _Captured(Exception):
    """Raised by the stand-in for ``render_all`` to stop the build once the bundle is complete."""


def build_bundle() -> tuple[dict, list[tuple]]:
    """The bundle and the (kind, spec, stamp) jobs of one ``research reproduce`` of the sample,
    stopped before rendering (nothing is published)."""
    import research.pipeline.reproduce as rep
    from research import paths

    captured: dict = {}

    def capture(jobs, bundle, *, say):
        captured["bundle"], captured["jobs"] = bundle, jobs
        raise _Captured

    original = rep.render_all
    rep.render_all = capture
    out = Path(tempfile.mkdtemp(prefix="bench-render-build-"))
    try:
        workorders = paths.sample_workorders()
        rep.reproduce(paths.sample_survey(), workorders if workorders.exists() else None, out / "build")
    except _Captured:
        pass
    finally:
        rep.render_all = original
        shutil.rmtree(out, ignore_errors=True)
    if "bundle" not in captured:
        raise SystemExit("the build finished without rendering: no bundle captured")
    jobs = [(kind, spec, stamp) for kind, spec, _folder, stamp in captured["jobs"]]
    return captured["bundle"], jobs


def load_or_build(cache: Path | None) -> tuple[dict, list[tuple], float]:
    """(bundle, jobs, seconds spent) from ``cache`` when it exists, else built (and cached)."""
    t = time.perf_counter()
    if cache is not None and cache.exists():
        with cache.open("rb") as f:
            payload = pickle.load(f)
        return payload["bundle"], payload["jobs"], time.perf_counter() - t
    bundle, jobs = build_bundle()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as f:
            pickle.dump({"bundle": bundle, "jobs": jobs}, f, protocol=pickle.HIGHEST_PROTOCOL)
    return bundle, jobs, time.perf_counter() - t


def time_jobs(bundle: dict, jobs: list[tuple], repeat: int, scratch: Path) -> dict[str, dict]:
    """Minimum CPU and wall seconds of each job over ``repeat`` renders into ``scratch``."""
    from research.artifacts.render_figures import write_figure
    from research.artifacts.render_tables import write_table
    from research.artifacts.stamp import Stamp
    from research.pipeline.reproduce import one_blas_thread

    results = {}
    with one_blas_thread():
        for kind, spec, stamp in jobs:
            fixed = Stamp("0" * 64, "bench", stamp.seed)
            folder = scratch / ("tables" if kind == "table" else "figures")
            write = write_table if kind == "table" else write_figure
            cpu, wall = [], []
            for _ in range(repeat):
                c, w = time.process_time(), time.perf_counter()
                write(spec, bundle, folder, fixed)
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - w)
            results[spec.id] = {"kind": kind, "cpu_s": round(min(cpu), 4), "wall_s": round(min(wall), 4),
                                "cpu_runs_s": [round(x, 4) for x in cpu]}
            print(f"{spec.id:5} {kind:6} cpu {min(cpu):6.3f} s  wall {min(wall):6.3f} s", file=sys.stderr)
    return results


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for name in ("matplotlib", "python-docx", "lxml", "pillow", "seaborn"):
        try:
            out[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing package is recorded as such
            out[name] = "missing"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="after", help="key of this run in the JSON (e.g. before, after)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bundle-cache", type=Path, help="pickle of the bundle: read if present, else written")
    ap.add_argument("--only", nargs="*", help="artifact ids to time (default: all)")
    ap.add_argument("--keep", type=Path, help="render into this folder (kept) instead of a scratch one")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    ap.add_argument("--no-json", action="store_true", help="print only")
    args = ap.parse_args(argv)
    os.environ.setdefault("RESEARCH_PSEUDONYM_KEY", BENCH_KEY)

    bundle, jobs, load_s = load_or_build(args.bundle_cache)
    if args.only:
        jobs = [j for j in jobs if j[1].id in set(args.only)]
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="bench-render-"))
    load_before = os.getloadavg()
    try:
        per = time_jobs(bundle, jobs, args.repeat, scratch)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    totals = {kind: round(sum(r["cpu_s"] for r in per.values() if r["kind"] == kind), 3)
              for kind in ("table", "figure")}
    walls = {kind: round(sum(r["wall_s"] for r in per.values() if r["kind"] == kind), 3)
             for kind in ("table", "figure")}
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=10", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    run = {"commit": commit, "repeat": args.repeat, "bundle_s": round(load_s, 1),
           "cpu_s_total": round(sum(totals.values()), 3), "cpu_s_by_kind": totals,
           "wall_s_total": round(sum(walls.values()), 3), "wall_s_by_kind": walls,
           "loadavg_before": [round(x, 2) for x in load_before],
           "loadavg_after": [round(x, 2) for x in os.getloadavg()],
           "versions": versions(), "artifacts": per}
    print(f"total cpu {run['cpu_s_total']:.2f} s (tables {totals['table']:.2f}, figures {totals['figure']:.2f}); "
          f"wall {run['wall_s_total']:.2f} s", file=sys.stderr)
    if not args.no_json:
        doc = json.loads(args.json.read_text(encoding="utf-8")) if args.json.exists() else {}
        doc.setdefault("benchmark", "render")
        doc.setdefault("what", "minimum over --repeat of process CPU (user+sys) and wall seconds of "
                               "write_table / write_figure per registered artifact, sample bundle, one process")
        doc.setdefault("machine", {"cores": os.cpu_count(), "arch": platform.machine()})
        doc.setdefault("runs", {})[args.label] = run
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
