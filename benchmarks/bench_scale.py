"""Benchmark: national scale (issue 15, point 4): a chunked synthetic export of N surveys ingested into
one dataset, the weekly bulletin and the plan's models from it; time and peak memory of each stage.

Stages, each run as a user would, in a fresh process, timed (wall seconds) with the peak memory of
its whole process tree (every 0.25 s the proportional set sizes of the process and its
descendants are summed, ``/proc/<pid>/smaps_rollup``; the sampler of bench_reproduce.py):

- ``generate``: ``research simulate --n N --seed S --chunk-rows R --out CACHE/...`` (research.simulate.chunks;
  reused from ``--cache`` when its chunks.json is there, then reported as cached);
- ``ingest``: ``research ingest chunk_k/survey.csv --workorders chunk_k/workorders.csv --dataset D``, one call
  per chunk; seconds are the sum, peak the largest call's, and the first and last calls' seconds are
  kept (does an ingest slow down as the dataset grows?);
- ``bulletin``: ``research bulletin --dataset D --period week``;
- ``fit``: ``research fit --dataset D --engine duckdb`` when the CLI has those options (the engines of
  issue 15), else skipped with the reason printed;
- ``weight``: ``research weight --dataset D --engine duckdb`` (response rates, raking and design-based
  estimates from per-group counts, the response-propensity model and the survey-weighted models from
  sums; research.representativeness.at_scale) when the CLI has ``weight --dataset``, else skipped.
  Its in-memory twin, ``research weight --data``, also computes the sensitivity tables (ipw weights,
  delta adjustment: the dataset path does not), so its ratio compares a little more work with less.

``--compare-1m`` also runs the in-memory path at 1,000,000 surveys (one unchunked ``research simulate``,
``research ingest`` without ``--dataset``, ``research bulletin --data``, ``research fit --data``), and
the table gives each stage's seconds per million surveys against it (``ratio``; issue 15 asks that
it stay near 1).

A stage whose tree exceeds ``--max-mb`` (default 6144: the issue's 6 GB) or runs longer than
``--stage-hours`` is stopped (its process group killed) and reported as such with what was measured.
``rows`` is the number of completed surveys in every stage (work orders: about 1.75 per survey, the
simulator's response model; ``--workorders-per-survey`` sets the response intercept for another
ratio). The JSON (``--json``) is rewritten after every stage, so a long run keeps what it measured.

Usage::

    python benchmarks/bench_scale.py [--rows 20000000] [--chunk-rows 1000000] [--workorders-per-survey 1.75]
        [--cache DIR] [--work DIR] [--stages generate ingest bulletin fit weight] [--compare-1m] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reproduce import _pss_kb, _tree  # noqa: E402  (the peak-PSS sampler of the process tree)

STAGES = ("generate", "ingest", "bulletin", "fit", "weight")
ONE_MILLION = 1_000_000


def _env() -> dict:
    """The children's environment: this checkout's package first."""
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_tree(cmd: list[str], log: Path, max_mb: float, max_seconds: float) -> dict:
    """Run ``cmd`` (its own process group, output to ``log``); sample the tree's PSS every 0.25 s.

    Returns seconds, peak MB (PSS of the tree), exit code and ``stopped`` (a reason, or None)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "ab") as fh:
        fh.write(("$ " + " ".join(cmd) + "\n").encode())
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=_env(),
                                start_new_session=True)
        peak, stopped, done = [0], [None], threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                kb = sum(_pss_kb(p) for p in _tree(proc.pid))
                peak[0] = max(peak[0], kb)
                elapsed = time.perf_counter() - t0
                reason = (f"tree PSS {kb / 1024:,.0f} MB > {max_mb:,.0f} MB" if kb / 1024 > max_mb else
                          f"over {max_seconds / 3600:g} h" if elapsed > max_seconds else None)
                if reason and stopped[0] is None:
                    stopped[0] = f"stopped after {elapsed:,.0f} s: {reason}"
                    os.killpg(proc.pid, signal.SIGKILL)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    return {"seconds": time.perf_counter() - t0, "peak_mb": peak[0] / 1024, "code": code, "stopped": stopped[0]}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "research.cli", *args]


def _intercept_for(ratio: float) -> float | None:
    """The response intercept giving ``ratio`` work orders per completed survey (None: the default
    DGP's own ratio, 1 / expected completion, within 1%)."""
    from scipy.optimize import brentq

    from research.config.instrument import load_instrument
    from research.simulate import SimParams
    from research.simulate.population import _code_tables

    ins = load_instrument()
    if abs(1 / _code_tables(SimParams(), ins)["p_bar"] - ratio) <= 0.01 * ratio:
        return None
    return brentq(lambda b: 1 / _code_tables(SimParams(response_intercept=b), ins)["p_bar"] - ratio, -6, 8)


def _generate_cmd(n: int, seed: int, chunk_rows: int | None, ratio: float, out: Path) -> list[str]:
    """``research simulate`` (chunked unless ``chunk_rows`` is None), or, for another work-order ratio
    than the DGP's, the same call through the API with the response intercept solved for."""
    b = _intercept_for(ratio)
    if b is None:
        extra = ["--chunk-rows", str(chunk_rows)] if chunk_rows else []
        return _cli("simulate", "--n", str(n), "--seed", str(seed), "--out", str(out), *extra)
    if chunk_rows:
        code = ("import sys; from research.simulate import SimParams; from research.simulate.chunks import "
                f"write_chunked; write_chunked({n}, {seed}, sys.argv[1], {chunk_rows}, "
                f"params=SimParams(response_intercept={b!r}), progress=print)")
    else:
        code = ("import sys; from research.simulate import SimParams, simulate, write_simulation; "
                f"write_simulation(simulate({n}, {seed}, params=SimParams(response_intercept={b!r})), sys.argv[1])")
    return [sys.executable, "-c", code, str(out)]


def _pairs(exports: Path) -> list[tuple[Path, Path]]:
    """(survey, work orders) of each chunk listed in chunks.json, or the one unchunked pair."""
    manifest = exports / "chunks.json"
    if manifest.exists():
        chunks = json.loads(manifest.read_text(encoding="utf-8"))["chunks"]
        return [(exports / c["folder"] / "survey.csv", exports / c["folder"] / "workorders.csv") for c in chunks]
    return [(exports / "survey.csv", exports / "workorders.csv")]


def _workorders(exports: Path) -> int | None:
    manifest = exports / "chunks.json"
    if manifest.exists():
        return json.loads(manifest.read_text(encoding="utf-8"))["totals"]["workorders"]
    truth = exports / "truth.json"
    return json.loads(truth.read_text(encoding="utf-8"))["counts"]["workorders"] if truth.exists() else None


def _size_mb(folder: Path) -> float:
    """Bytes of every file under ``folder``, in MB (2**20)."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20 if folder.exists() else 0.0


def _ready(exports: Path, chunked: bool) -> bool:
    return (exports / "chunks.json").exists() if chunked else (exports / "truth.json").exists()


class Scale:
    """One run of the stages for one mode (``dataset``: chunked export into a dataset; ``memory``:
    the in-memory path); ``record`` is called with every finished stage."""

    def __init__(self, args, mode: str, n: int, record) -> None:
        self.args, self.mode, self.n, self.record = args, mode, n, record
        chunked = mode == "dataset"
        tag = f"{n}_{args.seed}" + (f"_c{args.chunk_rows}" if chunked else "") + f"_r{args.workorders_per_survey:g}"
        self.exports = args.cache / f"exports_{tag}"
        self.work = args.work / f"{mode}_{n}"
        self.chunked, self.log = chunked, args.work / f"{mode}_{n}.log"
        self.limits = (args.max_mb, args.stage_hours * 3600)

    def stage(self, name: str, result: dict, **extra) -> dict:
        row = {"mode": self.mode, "stage": name, "rows": self.n, **extra, **result}
        if result.get("seconds") is not None and not result.get("code") and not result.get("stopped"):
            row["seconds_per_million"] = result["seconds"] / (self.n / ONE_MILLION)
        self.record(row)
        return row

    def generate(self) -> dict:
        if _ready(self.exports, self.chunked):
            return self.stage("generate", {"seconds": None, "peak_mb": None, "code": 0,
                                           "stopped": None}, note=f"cached in {self.exports}")
        if self.exports.exists():
            shutil.rmtree(self.exports)  # an interrupted generation of this benchmark's own cache
        cmd = _generate_cmd(self.n, self.args.seed, self.args.chunk_rows if self.chunked else None,
                            self.args.workorders_per_survey, self.exports)
        return self.stage("generate", run_tree(cmd, self.log, *self.limits), disk_mb=_size_mb(self.exports))

    def ingest(self) -> dict:
        if self.work.exists():
            shutil.rmtree(self.work)  # the dataset or ingest folder of this benchmark's previous run
        calls = []
        for survey, wo in _pairs(self.exports):
            where = ["--dataset", str(self.work / "dataset")] if self.chunked else ["--out", str(self.work / "ingest")]
            calls.append(run_tree(_cli("ingest", str(survey), "--workorders", str(wo), *where), self.log,
                                  *self.limits))
            print(f"  ingest {len(calls)}/{len(_pairs(self.exports))}: {calls[-1]['seconds']:.1f} s, "
                  f"peak {calls[-1]['peak_mb']:,.0f} MB", flush=True)
            if calls[-1]["code"] or calls[-1]["stopped"]:
                break
        total = {"seconds": sum(c["seconds"] for c in calls), "peak_mb": max(c["peak_mb"] for c in calls),
                 "code": max(c["code"] for c in calls),
                 "stopped": next((c["stopped"] for c in calls if c["stopped"]), None)}
        return self.stage("ingest", total, calls=len(calls), first_call_seconds=calls[0]["seconds"],
                          last_call_seconds=calls[-1]["seconds"], workorders=_workorders(self.exports),
                          disk_mb=_size_mb(self.work))

    def bulletin(self) -> dict:
        where = ["--dataset", str(self.work / "dataset")] if self.chunked else ["--data", str(self.work / "ingest")]
        cmd = _cli("bulletin", *where, "--period", "week", "--out", str(self.work / "bulletin"))
        return self.stage("bulletin", run_tree(cmd, self.log, *self.limits))

    def fit(self) -> dict:
        extra = self.args.fit_args.split()
        if self.chunked:
            help_text = subprocess.run(_cli("fit", "--help"), capture_output=True, text=True, cwd=ROOT,
                                       env=_env()).stdout
            missing = [o for o in ("--dataset", "--engine") if o not in help_text]
            if missing:
                return self.stage("fit", {"seconds": None, "peak_mb": None, "code": None, "stopped": None},
                                  note=f"skipped: 'research fit' has no {' / '.join(missing)} option yet")
            cmd = _cli("fit", "--dataset", str(self.work / "dataset"), "--engine", "duckdb", *extra)
        else:
            cmd = _cli("fit", "--data", str(self.work / "ingest" / "responses.parquet"), *extra)
        return self.stage("fit", run_tree(cmd + ["--out", str(self.work / "fit")], self.log, *self.limits))

    def weight(self) -> dict:
        if self.chunked:
            help_text = subprocess.run(_cli("weight", "--help"), capture_output=True, text=True, cwd=ROOT,
                                       env=_env()).stdout
            if "--dataset" not in help_text:
                return self.stage("weight", {"seconds": None, "peak_mb": None, "code": None, "stopped": None},
                                  note="skipped: 'research weight' has no --dataset option yet")
            cmd = _cli("weight", "--dataset", str(self.work / "dataset"), "--engine", "duckdb")
            note = "tables from counts, propensity and svy models from sums (no sensitivity tables)"
        else:
            cmd, note = _cli("weight", "--data", str(self.work / "ingest")), "every table (propensity, svy models)"
        return self.stage("weight", run_tree(cmd + ["--out", str(self.work / "weights")], self.log, *self.limits),
                          note=note)

    def run(self, stages: list[str]) -> None:
        for name in stages:
            if name != "generate" and not _ready(self.exports, self.chunked):
                self.stage(name, {"seconds": None, "peak_mb": None, "code": None, "stopped": None},
                           note="skipped: no generated export")
                continue
            row = getattr(self, name)()
            if (row.get("code") or row.get("stopped")) and name in ("generate", "ingest"):
                print(f"  {self.mode} {name} failed or stopped (see {self.log}); later stages skipped", flush=True)
                return


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    """stage, mode, rows, seconds, seconds per million rows, ratio to the in-memory path at 1M, peak MB."""
    base = {r["stage"]: r.get("seconds_per_million") for r in rows if r["mode"] == "memory"}
    lines = [f"{'stage':<9} {'mode':<8} {'rows':>12} {'seconds':>10} {'s/M rows':>9} {'ratio':>6} "
             f"{'peak MB':>8}  note"]
    for r in rows:
        spm, b = r.get("seconds_per_million"), base.get(r["stage"])
        ratio = spm / b if (r["mode"] == "dataset" and spm is not None and b) else None
        r["ratio_to_memory_1m"] = ratio
        note = "; ".join(x for x in (r.get("note"), r.get("stopped"), "exit %s" % r["code"] if r.get("code") else "")
                         if x)
        if r["stage"] == "ingest" and r.get("calls"):
            note = (note + " " if note else "") + (f"{r['calls']} calls, first {r['first_call_seconds']:.1f} s, "
                                                   f"last {r['last_call_seconds']:.1f} s; "
                                                   f"{_fmt(r.get('workorders'), ',')} work orders")
        lines.append(f"{r['stage']:<9} {r['mode']:<8} {r['rows']:>12,} {_fmt(r.get('seconds'), '10.1f'):>10} "
                     f"{_fmt(spm, '9.1f'):>9} {_fmt(ratio, '6.2f'):>6} {_fmt(r.get('peak_mb'), '8,.0f'):>8}  {note}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000, help="completed surveys (default 20,000,000)")
    parser.add_argument("--workorders-per-survey", type=float, default=1.75,
                        help="work orders per completed survey (default 1.75, the simulator's own)")
    parser.add_argument("--chunk-rows", type=int, default=ONE_MILLION, help="surveys per chunk (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/research-bench/scale"),
                        help="generated exports, reused when complete")
    parser.add_argument("--work", type=Path, help="datasets and outputs (default CACHE/work)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--compare-1m", action="store_true",
                        help="also run the in-memory path at 1,000,000 surveys, for the per-row ratio")
    parser.add_argument("--fit-args", default="", help="extra options of both fit commands, e.g. '--no-thresholds'")
    parser.add_argument("--max-mb", type=float, default=6144, help="stop a stage whose tree PSS exceeds this")
    parser.add_argument("--stage-hours", type=float, default=3.0, help="stop a stage running longer than this")
    parser.add_argument("--json", type=Path, help="write the results here (rewritten after every stage)")
    return parser


def main() -> int:
    args = _parser().parse_args()
    args.work = args.work or args.cache / "work"
    rows: list[dict] = []
    meta = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                     text=True).stdout.strip()}

    def record(row: dict) -> None:
        rows.append({**row, "load_at_end": round(os.getloadavg()[0], 2)})
        print(f"{row['mode']} {row['stage']}: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                                            for k, v in row.items() if k not in ("mode", "stage")),
              flush=True)
        if args.json:
            table(rows)  # fills ratio_to_memory_1m
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({**meta, "stages": rows}, indent=2) + "\n", encoding="utf-8")

    if args.compare_1m:
        Scale(args, "memory", ONE_MILLION, record).run(args.stages)
    Scale(args, "dataset", args.rows, record).run(args.stages)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({**meta, "stages": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
