"""Benchmark: the fit stage (stage 2 of ``research reproduce``) on ingested responses, per sub-step.

Issue 12: ``research reproduce`` on 1,000,000 responses in at most 150 s and 4 GB on 2 cores; the
fit branch (``research.models.run.fit_plan`` then ``write_results``, in the parent process) has
a budget of 90 s on one core and 2.5 GB peak RSS.

Each measurement runs in a FRESH process (``--child``), as ``research reproduce`` runs the stage:
one BLAS thread (``research.pipeline.reproduce.one_blas_thread``), the committed plan and instrument, the
responses read with ``research.ingestion.readers.read_ingested``. The child wraps the stage's sub-steps
(each model's fit, predictions, marginal effects, sub-cause ranks and Brant test; the threshold
spline logit, change-point tests and cluster bootstrap; the group comparisons, association and
reliability; writing the CSVs) and records for each its CPU seconds (``time.process_time``), wall
seconds and peak RSS: the kernel's high-water mark (``VmHWM``) is reset before each sub-step
(``/proc/self/clear_refs``), so a sub-step's peak is its own, not an earlier one's. The whole
stage's peak is the largest of them (``ru_maxrss`` cannot be used after a reset).

The machine is shared: ``--repeat`` fresh processes per size, minimum per sub-step, the load
average recorded with each run. ``--compare DIR`` checks the written CSVs against a reference
build's ``fit`` folder (the largest difference of every numeric column, relative to the
column's scale, and for estimates relative to their standard error). ``--profile FILE`` keeps a
cProfile of the (first) child.

Results go to ``benchmarks/results/fit_1m.json`` under ``--label`` (other labels are kept, so
"before" and "after" sit side by side).

Usage::

    python benchmarks/bench_fit_1m.py --size 250k --label after --repeat 2
    python benchmarks/bench_fit_1m.py --size 1m --label after --compare /tmp/research-bench/build_1m/fit
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "fit_1m.json"
DATA = {"1m": Path("/tmp/research-bench/build_1m/ingest/responses.parquet"),
        "250k": Path("/tmp/research-bench/build_250k/responses.parquet")}


# --------------------------------------------------------------------------- child side

def _hwm_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


class Steps:
    """Times and peak RSS of nested sub-steps (a peak is carried up to the enclosing steps)."""

    def __init__(self):
        self.rows: list[dict] = []
        self.open: list[dict] = []

    def wrap(self, name, fn, label=None):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            step = name if label is None else f"{name}:{label(*args, **kwargs)}"
            hwm = _hwm_kb()
            for frame in self.open:
                frame["peak_kb"] = max(frame["peak_kb"], hwm)
            _reset_hwm()
            frame = {"step": step, "peak_kb": 0, "depth": len(self.open)}
            self.open.append(frame)
            c, w = time.process_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                frame["cpu_s"] = time.process_time() - c
                frame["wall_s"] = time.perf_counter() - w
                frame["peak_kb"] = max(frame["peak_kb"], _hwm_kb())
                self.open.pop()
                for outer in self.open:
                    outer["peak_kb"] = max(outer["peak_kb"], frame["peak_kb"])
                self.rows.append(frame)
        return inner


def child(size: str, out_dir: Path, profile: Path | None) -> dict:
    import resource

    from research.stats import comparisons, reliability
    from research.config.instrument import load_instrument
    from research.models import run, thresholds
    from research.config.plan import load_plan, plan_path
    from research.ingestion.readers import read_ingested
    from research.pipeline.reproduce import one_blas_thread

    steps = Steps()
    model = lambda *a, **k: (a[0] if a else k["fm"]).spec.name  # noqa: E731
    run.fit_model = steps.wrap("fit", run.fit_model, lambda spec, *a, **k: spec.name)
    run.predictions = steps.wrap("predictions", run.predictions, model)
    run.marginal_effects = steps.wrap("marginal_effects", run.marginal_effects, model)
    from research.models import families
    for fam in families.FAMILIES.values():
        # a family's steps (sub-cause ranks, Brant test, station effects) are frozen Step records
        fam_steps = tuple(type(st)(st.label, steps.wrap(st.label, st.run, model)) for st in fam.steps)
        object.__setattr__(fam, "steps", fam_steps)
    thresholds._logit_fit = steps.wrap("thresholds:spline_logit", thresholds._logit_fit)
    thresholds.group_shape = steps.wrap("thresholds:change_point", thresholds.group_shape,
                                        lambda d, frame, rows, *a, **k: str(frame["cause_l1"].iloc[rows[0]]))
    thresholds._one_thread_bootstrap = steps.wrap("thresholds:bootstrap", thresholds._one_thread_bootstrap)
    thresholds.tolerance_thresholds = steps.wrap("thresholds", thresholds.tolerance_thresholds)
    comparisons.compare_groups = steps.wrap("compare_groups", comparisons.compare_groups,
                                            lambda *a, **k: k["between"])
    comparisons.association = steps.wrap("association", comparisons.association)
    for name in ("cronbach_alpha", "item_statistics", "item_correlations"):
        setattr(reliability, name, steps.wrap(name, getattr(reliability, name)))
    fit_plan = steps.wrap("fit_plan", run.fit_plan)
    write_results = steps.wrap("write_results", run.write_results)

    c0, w0 = time.process_time(), time.perf_counter()
    responses = read_ingested(DATA[size], "responses")
    plan, instrument = load_plan(plan_path()), load_instrument()
    read = {"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0, "peak_kb": _hwm_kb()}
    prof = None
    if profile is not None:
        import cProfile

        prof = cProfile.Profile()
    c0, w0 = time.process_time(), time.perf_counter()
    with one_blas_thread():
        if prof is not None:
            prof.enable()
        results = fit_plan(responses, plan=plan, instrument=instrument)
        write_results(results, out_dir, plan=plan)
        if prof is not None:
            prof.disable()
    stage = {"cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0,
             "peak_mb": max(r["peak_kb"] for r in steps.rows) / 1024}
    if prof is not None:
        prof.dump_stats(str(profile))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"rows": len(responses), "read": read, "stage": stage,
            "steps": [{**r, "peak_mb": r.pop("peak_kb") / 1024} for r in steps.rows],
            "system_cpu_s": usage.ru_stime, "load_average": os.getloadavg()}


# --------------------------------------------------------------------------- comparison

def compare(new_dir: Path, ref_dir: Path) -> dict:
    """Largest difference of each numeric column of every CSV against the reference folder,
    relative to the column's largest absolute value; for estimates also relative to the SE."""
    import numpy as np
    import pandas as pd

    out = {}
    for ref in sorted(ref_dir.glob("*.csv")):
        new = new_dir / ref.name
        if not new.exists():
            out[ref.stem] = {"missing": True}
            continue
        a, b = pd.read_csv(ref), pd.read_csv(new)
        if a.shape != b.shape or list(a.columns) != list(b.columns):
            out[ref.stem] = {"shape": [list(a.shape), list(b.shape)]}
            continue
        worst, where, text = 0.0, "", 0
        for col in a.columns:
            x, y = a[col], b[col]
            if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
                xv, yv = x.to_numpy(float), y.to_numpy(float)
                same_nan = np.isnan(xv) == np.isnan(yv)
                if not same_nan.all():
                    worst, where = np.inf, f"{col} (NaN pattern)"
                    continue
                ok = ~np.isnan(xv)
                scale = np.nanmax(np.abs(xv)) if ok.any() else 0.0
                d = np.abs(xv[ok] - yv[ok])
                d = d[np.isfinite(d)]
                rel = float(d.max() / scale) if len(d) and scale > 0 else 0.0
                if rel > worst:
                    worst, where = rel, col
            else:
                text += int((x.fillna("").astype(str) != y.fillna("").astype(str)).sum())
        entry = {"max_rel_diff": worst, "column": where, "text_cells_differing": text}
        if ref.stem == "estimates" and "std_error" in a.columns:
            se = a["std_error"].to_numpy(float)
            d = np.abs(a["estimate"].to_numpy(float) - b["estimate"].to_numpy(float))
            ok = se > 0
            entry["max_estimate_diff_over_se"] = float(np.nanmax(d[ok] / se[ok])) if ok.any() else 0.0
        out[ref.stem] = entry
    return out


# --------------------------------------------------------------------------- parent side

def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, check=False)
        return out.stdout.strip()
    except OSError:
        return ""


def summarize(runs: list[dict]) -> dict:
    """Minimum over runs of each sub-step's CPU, wall and peak (sub-steps matched by name and order)."""
    first = runs[0]
    steps = []
    for i, s in enumerate(first["steps"]):
        same = [r["steps"][i] for r in runs if len(r["steps"]) > i and r["steps"][i]["step"] == s["step"]]
        steps.append({"step": s["step"], "depth": s["depth"], **{k: min(x[k] for x in same)
                                                                 for k in ("cpu_s", "wall_s", "peak_mb")}})
    return {"rows": first["rows"], "stage": {k: min(r["stage"][k] for r in runs) for k in first["stage"]},
            "steps": steps, "load_average": [r["load_average"] for r in runs]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(DATA), default="1m")
    parser.add_argument("--label", default="current")
    parser.add_argument("--repeat", type=int, default=1, help="fresh processes; minimum per sub-step")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--compare", type=Path, help="a reference build's fit folder")
    parser.add_argument("--profile", type=Path, help="cProfile output of the first child")
    parser.add_argument("--keep", type=Path, help="write the results here (default: a temporary folder)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.size, args.out, args.profile)))
        return 0

    runs = []
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench-fit-1m-"))
    for i in range(args.repeat):
        cmd = [sys.executable, __file__, "--child", "--size", args.size, "--out", str(out_dir)]
        if args.profile is not None and i == 0:
            cmd += ["--profile", str(args.profile)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stderr[-4000:], file=sys.stderr)
            return proc.returncode
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        print(f"run {i + 1}: {r['rows']:,} rows, stage CPU {r['stage']['cpu_s']:.1f} s, wall "
              f"{r['stage']['wall_s']:.1f} s, peak {r['stage']['peak_mb']:.0f} MB, load "
              f"{' '.join(f'{x:.2f}' for x in r['load_average'])}", file=sys.stderr)
    summary = summarize(runs)
    print(f"\n{'sub-step':44s} {'CPU s':>8s} {'wall s':>8s} {'peak MB':>8s}   (minimum of {len(runs)})")
    for s in summary["steps"]:
        print(f"{'  ' * s['depth'] + s['step']:44s} {s['cpu_s']:8.2f} {s['wall_s']:8.2f} {s['peak_mb']:8.0f}")
    st = summary["stage"]
    print(f"{'stage 2 (fit_plan + write_results)':44s} {st['cpu_s']:8.2f} {st['wall_s']:8.2f} {st['peak_mb']:8.0f}")
    record = {**summary, "size": args.size, "repeat": len(runs), "commit": git_commit(), "cpus": os.cpu_count(),
              "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    if args.compare is not None:
        record["compare"] = compare(out_dir, args.compare)
        for name, entry in record["compare"].items():
            print(f"compare {name:20s} {entry}")
    existing = {}
    if args.json.exists():
        try:
            existing = json.loads(args.json.read_text(encoding="utf-8"))
        except ValueError:
            existing = {}
    existing[f"{args.label} {args.size}"] = record
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.json} under {args.label!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
