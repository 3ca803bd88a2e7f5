"""Benchmark: one week's monitoring bulletin on 1,000,000 work orders (``research.strategy.monitoring``).

Data: ``research.simulate.simulate`` with enough completed surveys to give about
``--workorders`` work orders (default 1,000,000; about 1.75 work orders per completed
survey, 37 stations, 17 sub-causes, 78 weeks from 2025-01-01), customer ids pseudonymised
with a fixed benchmark key (as ingest does). Data construction and pseudonymisation are
not timed. The bulletin week is the last complete ISO week (Monday to Sunday) of the
data; everything created or surveyed after it is dropped first, as on bulletin day.

Timed (wall clock, each call on its own, then the sum):

1. ``p_chart(responses)``: every station x week over the whole history (the centre line
   pools all weeks), then the bulletin week's rows;
2. ``recurrence(workorders, since=week)``: Poisson (exact conditional test) over every
   station x sub-cause cell, 8-week baseline, alpha 0.001;
3. ``recurrence(workorders, method="cusum", since=week)``: the CUSUM runs over the whole
   history (its statistic carries over from week to week); the design cache is cleared
   first, so the timing includes computing every ``h``;
4. ``repeat_callers(workorders, responses)``: every episode of the history, including
   fitting the default risk model on all responses; then the episodes whose latest work
   order falls in the bulletin week.

Target: the weekly bulletin on 1,000,000 work orders in at most 30 s overall; the sum of
the four steps is reported with ``within_target``.

Usage::

    python benchmarks/bench_monitoring.py [--workorders 1000000] [--seed 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time

import numpy as np
import pandas as pd

from research.strategy import monitoring
from research.strategy.monitoring import p_chart, period_start, recurrence, repeat_callers
from research.ingestion.pseudonymise import pseudonymise
from research.simulate import simulate

BENCH_KEY = b"benchmark-key-not-secret-0123456789"
WORKORDERS_PER_SURVEY = 35024 / 20000  # simulate(20000, 1) gives 35,024 work orders


def make_data(n_workorders: int, seed: int):
    sim = simulate(int(round(n_workorders / WORKORDERS_PER_SURVEY)), seed)
    wo, resp = sim.workorders, sim.responses
    both = pd.concat([wo["customer_id"], resp["customer_id"]], ignore_index=True)
    ids = pseudonymise(both, BENCH_KEY)
    wo = wo.assign(customer_id=ids.iloc[: len(wo)].to_numpy())
    resp = resp.assign(customer_id=ids.iloc[len(wo):].to_numpy())
    # the last complete ISO week, and nothing after it
    last_day = wo["created_at"].max().normalize()
    week = pd.Timestamp(period_start([last_day])[0])
    if last_day.day_of_week != 6:
        week -= pd.Timedelta(days=7)
    end = week + pd.Timedelta(days=7)
    wo = wo[wo["created_at"] < end].reset_index(drop=True)
    resp = resp[resp["surveyed_at"] < end].reset_index(drop=True)
    return wo, resp, week


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workorders", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    wo, resp, week = make_data(args.workorders, args.seed)
    t_data = time.perf_counter() - t0

    chart, t_chart = _timed(lambda: p_chart(resp))
    chart_week = chart[chart["period_start"] == week]
    rec, t_rec = _timed(lambda: recurrence(wo, since=week))
    rec_week = rec[rec["period_start"] == week]
    monitoring._DESIGNS.clear()  # time the CUSUM design from scratch
    cus, t_cus = _timed(lambda: recurrence(wo, method="cusum", since=week))
    cus_week = cus[cus["period_start"] == week]
    rep, t_rep = _timed(lambda: repeat_callers(wo, resp))
    in_week = (rep["last_created"] >= week) & (rep["last_created"] < week + pd.Timedelta(days=7))
    rep_week = rep[in_week]
    total = t_chart + t_rec + t_cus + t_rep
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux

    out = {
        "benchmark": "monitoring_weekly_bulletin",
        "workorders": len(wo), "responses": len(resp), "bulletin_week": str(week.date()),
        "weeks": int(wo["created_at"].dt.to_period("W").nunique()),
        "stations": int(wo["station"].nunique()),
        "cells": int(wo.groupby(["station", "cause_l2"]).ngroups),
        "seconds": {
            "p_chart": round(t_chart, 3), "recurrence_poisson": round(t_rec, 3),
            "recurrence_cusum": round(t_cus, 3), "repeat_callers": round(t_rep, 3),
            "total": round(total, 3),
        },
        "bulletin": {
            "p_chart_points": len(chart_week),
            "p_chart_out_of_control": int(chart_week["out_of_control"].sum()),
            "recurrence_cells": len(rec_week),
            "recurrence_flagged_poisson": int(rec_week["flagged"].sum()),
            "recurrence_flagged_cusum": int(cus_week["flagged"].sum()),
            "cusum_designs": len(monitoring._DESIGNS),
            "repeat_episodes_all": len(rep),
            "repeat_episodes_this_week": len(rep_week),
        },
        "data_seconds_untimed": round(t_data, 1),
        "ru_maxrss_mib": round(rss, 1),
        "target_seconds": 30.0, "within_target": total <= 30.0,
        "python": sys.version.split()[0], "numpy": np.__version__, "pandas": pd.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
