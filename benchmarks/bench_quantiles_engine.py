"""Benchmark: the tolerance thresholds' quantiles through DuckDB against the row path's numpy (issue 15).

Two child processes, each measured alone (seconds per step, the process's peak resident set size
from ``getrusage``, DuckDB's memory included since it runs in the process):

- ``rows``: the row path on the responses in memory (``--responses``, an ingest's
  ``responses.parquet``): :func:`research.models.thresholds._threshold_frame`, then the pooled knots
  ``np.quantile(lh, knots_quantiles)``, each cause group's knots and its reference and upper hours
  (``np.quantile``), and for ``--reps`` replicates (counts drawn as
  :func:`research.models.threshold_bootstrap._bootstrap` draws them) each group's
  ``weighted_quantile`` of its sorted hours, as ``_bootstrap`` loops;
- ``duckdb`` (or ``--engine``): :func:`research.models.aggregate.quantiles.group_quantiles` and
  :func:`~research.models.aggregate.quantiles.replicate_quantiles` on the dataset ``--dataset``
  (the same rows), after ``engine.prepare`` of the thresholds' variables; the histogram passes and
  the rows fetched are counted.

The parent compares the two children's arrays (largest relative difference, bit-equal share) and
checks that both number the stations alike. ``--engine-only`` runs the engine child alone (data
too large for the row path: the 20M dataset). Usage::

    python benchmarks/bench_quantiles_engine.py --responses /tmp/ds1m/ingest/responses.parquet \\
        --dataset /tmp/ds1m/ds --reps 200 --json benchmarks/results/quantiles_engine_1m.json
    python benchmarks/bench_quantiles_engine.py --dataset /tmp/scale20m/work4/dataset_20000000 --engine-only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _counts(seed: int, n_cl: int, reps: int) -> np.ndarray:
    """Station multiplicities as threshold_bootstrap._bootstrap draws them."""
    rng = np.random.default_rng(seed)
    return np.stack([np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl) for _ in range(reps)])


def child_rows(args, out: dict, arrays: dict) -> None:
    from research.config.instrument import load_instrument
    from research.config.plan import load_plan
    from research.ingestion.ingested import read_ingested
    from research.models import thresholds as T
    from research.models.threshold_curves import weighted_quantile

    plan, instrument = load_plan(), load_instrument()
    spec = plan.thresholds
    t = time.perf_counter()
    frame, _, _ = T._threshold_frame(read_ingested(Path(args.responses), "responses"), plan, instrument)
    out["read_seconds"] = round(time.perf_counter() - t, 2)
    out["rows"], out["peak_mb_after_read"] = len(frame), _peak_mb()
    t = time.perf_counter()
    lh = np.log2(1 + frame["handling_hours"].to_numpy())
    raw = frame["handling_hours"].to_numpy()
    l1 = frame["cause_l1"].astype(str).to_numpy()
    groups = {g: np.flatnonzero(l1 == g) for g in frame["cause_l1"].cat.categories if (l1 == g).any()}
    qs = np.array([spec.reference_quantile, spec.upper_quantile])
    arrays["pooled"] = np.quantile(lh, spec.knots_quantiles)
    arrays["knots"] = np.stack([np.quantile(lh[r], spec.knots_quantiles) for r in groups.values()])
    arrays["hours"] = np.stack([np.quantile(raw[r], qs) for r in groups.values()])
    out["group_seconds"] = round(time.perf_counter() - t, 3)
    cl = frame[spec.bootstrap_cluster].cat.codes.to_numpy()
    out["stations"] = [str(s) for s in frame[spec.bootstrap_cluster].cat.categories]
    out["groups"] = list(groups)
    counts = _counts(spec.bootstrap_seed, int(cl.max()) + 1, args.reps)
    t = time.perf_counter()
    reps = np.full((len(groups), args.reps, len(qs)), np.nan)
    for i, rows in enumerate(groups.values()):  # as _bootstrap: sort each group once, then every replicate
        order = rows[np.argsort(raw[rows], kind="stable")]
        raw_sorted, cl_sorted = raw[order], cl[order]
        for b in range(args.reps):
            reps[i, b] = weighted_quantile(raw_sorted, counts[b][cl_sorted], qs)
    arrays["reps"] = reps
    out["replicate_seconds"] = round(time.perf_counter() - t, 3)
    out["peak_mb_after_replicates"] = _peak_mb()


class _Spy:
    """The engine, with its histogram passes and fetched rows counted."""

    def __init__(self, engine):
        self.engine, self.passes, self.fetched, self.histogram_rows = engine, 0, 0, 0

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def histogram(self, *a):
        self.passes += 1
        h = self.engine.histogram(*a)
        self.histogram_rows += len(h)
        return h

    def window_values(self, *a):
        got = self.engine.window_values(*a)
        self.fetched += len(got)
        return got


def child_engine(args, out: dict, arrays: dict) -> None:
    import pandas as pd

    from research.config.plan import load_plan
    from research.engines import DatasetSource, open_engine
    from research.engines.base import column_name
    from research.engines.expr import col, fn
    from research.models.aggregate.quantiles import group_quantiles, replicate_quantiles
    from research.models.aggregate.thresholds import _variables

    spec = load_plan().thresholds
    engine = _Spy(open_engine(args.child))
    out["peak_mb_before"] = _peak_mb()
    t = time.perf_counter()
    h = col(column_name("handling_hours"))
    keys = tuple(v for v in _variables(spec) if v != "handling_hours")
    p = engine.prepare(DatasetSource(Path(args.dataset)), keys, {"h": h, "lh": fn("log2", 1 + h)})
    out["prepare_seconds"] = round(time.perf_counter() - t, 2)
    out["rows"], out["prepared_groups"], out["peak_mb_after_prepare"] = p.n_rows, len(p.groups), _peak_mb()
    # levels and clusters as the row path numbers them (cause groups in the instrument's order, written
    # by the rows child; stations sorted, checked by the parent against the rows child's categories)
    names = json.loads(args.groups) if args.groups else sorted(p.groups["cause_l1"].astype(str).unique())
    level = pd.Index(names).get_indexer(p.groups["cause_l1"].astype(str))
    stations = np.sort(p.groups[spec.bootstrap_cluster].astype(str).unique())
    cluster = pd.Index(stations).get_indexer(p.groups[spec.bootstrap_cluster].astype(str))
    out["stations"] = [str(s) for s in stations]
    qs = np.array([spec.reference_quantile, spec.upper_quantile])
    t = time.perf_counter()
    arrays["pooled"] = group_quantiles(engine, p, col("lh"), np.zeros(len(level), dtype=int), spec.knots_quantiles)[0]
    arrays["knots"] = group_quantiles(engine, p, col("lh"), level, spec.knots_quantiles)
    arrays["hours"] = group_quantiles(engine, p, col("h"), level, qs)
    out["group_seconds"] = round(time.perf_counter() - t, 3)
    out["group_passes"], out["group_fetched_rows"] = engine.passes, engine.fetched
    out["peak_mb_after_group"] = _peak_mb()
    engine.passes = engine.fetched = engine.histogram_rows = 0
    counts = _counts(spec.bootstrap_seed, len(stations), args.reps)
    t = time.perf_counter()
    arrays["reps"] = replicate_quantiles(engine, p, col("h"), level, cluster, counts, qs)
    out["replicate_seconds"] = round(time.perf_counter() - t, 3)
    out["replicate_passes"], out["replicate_fetched_rows"] = engine.passes, engine.fetched
    out["replicate_histogram_rows"] = engine.histogram_rows
    out["peak_mb_after_replicates"] = _peak_mb()
    engine.close()


def run_child(kind: str, args, groups: list[str] | None, folder: Path) -> tuple[dict, dict]:
    cmd = [sys.executable, __file__, "--child", kind, "--reps", str(args.reps), "--out", str(folder / kind)]
    cmd += ["--responses", args.responses] if kind == "rows" else ["--dataset", args.dataset]
    cmd += ["--groups", json.dumps(groups)] if groups else []
    load = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(proc.returncode)
    out = json.loads((folder / kind).with_suffix(".json").read_text())
    out.update(wall_seconds=round(time.perf_counter() - t, 1), load_before=round(load, 2))
    with np.load((folder / kind).with_suffix(".npz")) as z:
        return out, {k: z[k] for k in z.files}


def compare(a: dict, b: dict) -> dict:
    """Largest relative difference and the share of bit-equal entries, per array."""
    res = {}
    for k in a:
        x, y = a[k], b[k]
        both = np.isnan(x) & np.isnan(y)
        rel = np.abs(x - y) / np.maximum(np.abs(x), np.finfo(float).tiny)
        res[k] = {"entries": int(x.size), "same_nan": bool(np.array_equal(np.isnan(x), np.isnan(y))),
                  "bit_equal": int((both | (x == y)).sum()), "max_rel_diff": float(np.nanmax(rel, initial=0.0))}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--responses", help="an ingest's responses.parquet (the row path)")
    ap.add_argument("--dataset", help="the same rows as a dataset folder (the engine path)")
    ap.add_argument("--engine", default="duckdb")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--engine-only", action="store_true",
                    help="only the engine child (data too large for the row path; no comparison)")
    ap.add_argument("--json", help="add the results to this JSON file")
    ap.add_argument("--label", default="", help="key of the results in --json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--groups", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        out, arrays = {"child": args.child}, {}
        (child_rows if args.child == "rows" else child_engine)(args, out, arrays)
        Path(args.out).with_suffix(".json").write_text(json.dumps(out))
        np.savez(Path(args.out).with_suffix(".npz"), **arrays)
        return 0
    if not args.dataset or not (args.responses or args.engine_only):
        ap.error("give --responses FILE and --dataset DIR (the same rows), or --dataset DIR --engine-only")
    with tempfile.TemporaryDirectory() as tmp:
        if args.engine_only:
            eng, _ = run_child(args.engine, args, None, Path(tmp))
            result = {"reps": args.reps, args.engine: eng, "stations": len(eng.pop("stations"))}
        else:
            rows, ra = run_child("rows", args, None, Path(tmp))
            eng, ea = run_child(args.engine, args, rows["groups"], Path(tmp))
            result = {"reps": args.reps, "rows": rows, args.engine: eng, "stations": len(rows["stations"]),
                      "same_stations": rows.pop("stations") == eng.pop("stations"), "agreement": compare(ra, ea)}
    print(json.dumps(result, indent=2))
    if args.json:
        path = Path(args.json)
        kept = json.loads(path.read_text()) if path.exists() else {}
        kept[args.label or time.strftime("%Y-%m-%d %H:%M")] = result
        path.write_text(json.dumps(kept, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
