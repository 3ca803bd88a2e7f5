"""Benchmark: the Brant test and the sub-cause ranks from sums through DuckDB against the row path
(issue 15): seconds of each step and the process's peak resident memory.

Each path runs in a fresh child process: ``rows`` fits the ordinal and logit models on the
responses in memory (:func:`research.models.fit.fit_model`) and times
:func:`research.stats.brant.brant_test` and :func:`research.models.ranks.subcause_ranks`;
``duckdb`` fits them from sums on a dataset folder (:func:`research.models.aggregate.fit_model_on`)
and times :func:`research.models.aggregate.brant.brant_from_sums` and
:func:`research.models.aggregate.ranks.subcause_ranks_from_sums`. The ranks are timed without the
predictions before them (each path computes its sub-cause averages itself). Peak memory is the
child's ``ru_maxrss`` after the fit and after the steps (the fit's own peak included).

``--thresholds``: on ``--responses`` (in memory), the thresholds table and curve bands with each
bootstrap replicate's coefficients exact (the row path: StationRefits iterated to convergence)
and one-step (:func:`research.models.aggregate.thresholds.one_step_replicates` from the same
per-station totals, what the engine route gives), and how far the intervals move. With
``--seeds K`` also the exact intervals of K other bootstrap seeds (the plan's seed + 1, + 2, ...):
how far an interval end moves from one seed to another is the bootstrap's own Monte Carlo error,
the yardstick for the one-step change (``seed_end_move_of_width``: per other seed, the largest
move of an end as a share of the interval's width).

Usage::

    python benchmarks/bench_aggregate_rows.py --responses /tmp/ds1m/ingest/responses.parquet --dataset /tmp/ds1m/ds
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, source: str) -> dict:
    import pandas as pd

    from research.config.instrument import load_instrument
    from research.config.plan import load_plan

    plan, inst = load_plan(), load_instrument()
    spec = {m.name: m for m in plan.models}
    out = {"path": path}
    t0 = time.perf_counter()
    if path == "rows":
        from research.models.fit import fit_model
        from research.models.ranks import subcause_ranks
        from research.stats.brant import brant_test

        frame = pd.read_parquet(source)
        out["rows"] = len(frame)
        fits = {k: fit_model(spec[k], frame, plan=plan, instrument=inst) for k in ("ordinal", "logit")}
        brant = lambda fm: brant_test(fm.design.X, fm.y, fm.extra["ordinal_fit"], names=fm.design.names)  # noqa: E731
        ranks = lambda fm: subcause_ranks(fm, parent=inst.parent, threshold=inst.satisfied_threshold)  # noqa: E731
    else:
        from research.engines import DatasetSource, open_engine
        from research.models.aggregate import fit_model_on
        from research.models.aggregate.brant import brant_from_sums
        from research.models.aggregate.ranks import subcause_ranks_from_sums

        engine = open_engine("duckdb")
        fits = {k: fit_model_on(engine, DatasetSource(source), spec[k], plan=plan, instrument=inst)
                for k in ("ordinal", "logit")}
        out["rows"] = fits["logit"].stats["nobs"]
        brant = brant_from_sums
        ranks = lambda fm: subcause_ranks_from_sums(  # noqa: E731
            fm, parent=inst.parent, threshold=inst.satisfied_threshold, reference_levels=plan.reference_levels,
            instrument=inst)
    out["fit_seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_mb_after_fit"] = round(_peak_mb())
    t = time.perf_counter()
    b = brant(fits["ordinal"])
    out["brant_seconds"] = round(time.perf_counter() - t, 2)
    out["peak_mb_after_brant"] = round(_peak_mb())
    t = time.perf_counter()
    r = ranks(fits["logit"])
    out["ranks_seconds"] = round(time.perf_counter() - t, 2)
    out["peak_mb_after_ranks"] = round(_peak_mb())
    out["brant_omnibus"] = float(b["statistic"].iloc[0])
    out["ranks_first"] = r[["cause_l2", "estimate", "rank_low", "rank_high"]].iloc[0].tolist()
    return out


def thresholds_one_step(responses: str, seeds: int = 0) -> dict:
    """Thresholds and bands with exact and with one-step replicates (see the module docstring)."""
    import numpy as np
    import pandas as pd

    from research.config.instrument import load_instrument
    from research.config.plan import load_plan
    from research.models import threshold_bootstrap as TB
    from research.models.aggregate.thresholds import one_step_replicates
    from research.models.thresholds import tolerance_thresholds

    plan, inst = load_plan(), load_instrument()
    frame = pd.read_parquet(responses)
    exact = tolerance_thresholds(frame, plan=plan, instrument=inst)
    original = TB.StationRefits.refit_all

    def one_step(self, counts):
        betas = one_step_replicates(self.beta, self.score, self.info, counts)
        bad = np.isnan(betas).any(axis=1)
        if bad.any():  # as the row path: a replicate without a positive definite information is refitted
            betas[bad], _ = original(self, counts[bad])
        return betas, np.zeros(len(counts), dtype=bool)

    TB.StationRefits.refit_all = one_step
    try:
        approx = tolerance_thresholds(frame, plan=plan, instrument=inst)
    finally:
        TB.StationRefits.refit_all = original
    a, b = exact["thresholds"], approx["thresholds"]
    width = (a["conf_high"] - a["conf_low"]).to_numpy(float)
    out = {"rows": len(frame), "cause_l1": a["cause_l1"].tolist(),
           "threshold_same": bool(np.allclose(a["threshold_hours"], b["threshold_hours"], equal_nan=True, rtol=0)),
           "conf_low": [a["conf_low"].tolist(), b["conf_low"].tolist()],
           "conf_high": [a["conf_high"].tolist(), b["conf_high"].tolist()],
           "largest_end_move_of_width": float(np.nanmax(np.abs(np.r_[
               (a["conf_low"] - b["conf_low"]).to_numpy(float), (a["conf_high"] - b["conf_high"]).to_numpy(float)])
               / np.r_[width, width]))}
    ca, cb = exact["curves"], approx["curves"]
    out["largest_band_move"] = float(np.nanmax(np.abs(np.r_[(ca["conf_low"] - cb["conf_low"]).to_numpy(float),
                                                              (ca["conf_high"] - cb["conf_high"]).to_numpy(float)])))
    out["one_step_end_move_of_width"] = _end_moves(a, b, width)
    from dataclasses import replace

    out["seed_end_move_of_width"], out["seed_band_move"] = [], []
    for k in range(1, seeds + 1):
        other = replace(plan, thresholds=replace(plan.thresholds, bootstrap_seed=plan.thresholds.bootstrap_seed + k))
        o = tolerance_thresholds(frame, plan=other, instrument=inst)
        out["seed_end_move_of_width"].append(_end_moves(a, o["thresholds"], width))
        co = o["curves"]
        out["seed_band_move"].append(float(np.nanmax(np.abs(np.r_[
            (ca["conf_low"] - co["conf_low"]).to_numpy(float), (ca["conf_high"] - co["conf_high"]).to_numpy(float)]))))
        print(json.dumps(out), flush=True)
    return out


def _end_moves(a, b, width) -> dict:
    """Per cause group, the larger move of the two interval ends from ``a`` to ``b`` as a share of
    ``a``'s width."""
    import numpy as np

    moves = np.fmax(np.abs((a["conf_low"] - b["conf_low"]).to_numpy(float)),
                    np.abs((a["conf_high"] - b["conf_high"]).to_numpy(float))) / width
    return dict(zip(a["cause_l1"].astype(str), moves.round(5).tolist()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", required=True)
    parser.add_argument("--dataset")
    parser.add_argument("--thresholds", action="store_true")
    parser.add_argument("--seeds", type=int, default=0, help="with --thresholds: exact intervals of this many other seeds")
    parser.add_argument("--child", choices=["rows", "duckdb"])
    args = parser.parse_args()
    if args.thresholds:
        print(json.dumps(thresholds_one_step(args.responses, args.seeds)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.responses if args.child == "rows" else args.dataset), default=str))
        return
    for path in ("duckdb", "rows"):
        done = subprocess.run([sys.executable, __file__, "--responses", args.responses, "--dataset", args.dataset,
                               "--child", path], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
