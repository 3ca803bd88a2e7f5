"""Benchmark: the non-response sensitivity tables (``weighting_methods``, ``delta_range``,
``tipping_deltas``) on the row path and from an engine's sums, one path per process (run each
under ``/usr/bin/time -v`` for its peak memory).

- ``--path rows --data INGEST``: the ingest folder read into pandas, then as
  :func:`research.representativeness.run.analyse_representativeness` runs it: ``population_frame``,
  ``population_design``, ``propensity_model`` (the ipw weights need it) and
  :func:`research.strategy.sensitivity.nonresponse_sensitivity`.
- ``--path dataset --dataset DIR [--engine duckdb|pandas]``: the counts of
  :func:`research.representativeness.at_scale.count_rows` and
  :func:`research.representativeness.at_scale_sensitivity.sensitivity_on` (the propensity fit
  included).

With ``--ipw`` both paths make instead the plan's weight tables with ipw as the method
(``weight_summary``, ``weight_margins``, ``weighted_estimates``: the row path's ``make_weights``,
``weight_tables``, ``rows_weighted_estimates`` after the propensity model;
:func:`research.representativeness.at_scale_ipw.ipw_tables` after the counts and the propensity fit).

Both run under ``research.pipeline.reproduce.one_blas_thread()``, as the CLI runs the stage. Each
step's wall seconds are printed and written, with the tables, to ``--out`` (``timings.json``,
``<table>.csv``); compare two ``--out`` folders with ``--compare A B`` (1e-9 relative, verify's rule).

Usage::

    /usr/bin/time -v python benchmarks/bench_sensitivity_1m.py --path rows --data /tmp/ds1m/ingest --out /tmp/s_rows
    /usr/bin/time -v python benchmarks/bench_sensitivity_1m.py --path dataset --dataset /tmp/ds1m/ds --out /tmp/s_ds
    python benchmarks/bench_sensitivity_1m.py --compare /tmp/s_rows /tmp/s_ds
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TABLES = ("weighting_methods", "delta_range", "tipping_deltas")
IPW_TABLES = ("weight_summary", "weight_margins", "weighted_estimates")


def _rows(data: Path, plan, instrument, clock, ipw: bool = False) -> dict:
    from research.ingestion.readers import read_ingested
    from research.representativeness.nonresponse import population_design, population_frame, propensity_model
    from research.representativeness.run import _on_respondents, respondent_frame
    from research.strategy.sensitivity import nonresponse_sensitivity

    spec = plan.weighting
    responses = clock("read", lambda: read_ingested(data / "responses.parquet", "responses"))
    workorders = clock("read work orders", lambda: read_ingested(data / "workorders.parquet", "work-order"))
    population = clock("population_frame", lambda: population_frame(workorders, bands_hours=spec.bands_hours))
    respondents = respondent_frame(responses, spec)
    prepared = clock("population_design", lambda: population_design(
        population, spec.propensity_rhs, cluster=spec.cluster, reference_levels=plan.reference_levels,
        instrument=instrument))
    _, _, prop = clock("propensity_model", lambda: propensity_model(
        population, spec.propensity_rhs, cluster=spec.cluster, reference_levels=plan.reference_levels,
        instrument=instrument, conf_level=plan.conf_level, prepared=prepared))
    if ipw:
        from research.representativeness.run import make_weights, rows_weighted_estimates, weight_tables

        def tables():
            weights, res, text = make_weights(respondents, population, spec, _on_respondents(prop, population,
                                                                                             respondents))
            out = weight_tables(respondents, population, spec, weights, res, text)
            out["weighted_estimates"], _ = rows_weighted_estimates(respondents, weights, spec, plan.conf_level)
            return out

        return clock("ipw tables", tables)
    return clock("nonresponse_sensitivity", lambda: nonresponse_sensitivity(
        respondents, population, spec, _on_respondents(prop, population, respondents),
        reference_levels=plan.reference_levels, instrument=instrument, conf_level=plan.conf_level,
        prepared=prepared))


def _dataset(folder: Path, engine_name: str, plan, instrument, clock, ipw: bool = False) -> dict:
    from research.engines import DatasetSource, open_engine
    from research.representativeness.at_scale import count_rows
    from research.representativeness.at_scale_sensitivity import sensitivity_on

    responses, workorders = DatasetSource(folder), DatasetSource(folder, "workorders")
    engine = open_engine(engine_name)
    try:
        counts = clock("count_rows", lambda: count_rows(engine, responses, workorders, plan.weighting))
        if ipw:
            from research.representativeness.at_scale_ipw import ipw_tables
            from research.representativeness.at_scale_sensitivity import open_sums

            opened = clock("propensity fit", lambda: open_sums(engine, responses, workorders, plan=plan,
                                                                instrument=instrument))
            return clock("ipw tables", lambda: ipw_tables(engine, opened.respondents, opened.prop, counts, plan,
                                                          opened.covariates))
        return clock("sensitivity_on", lambda: sensitivity_on(engine, responses, workorders, plan=plan,
                                                              instrument=instrument, counts=counts))
    finally:
        engine.close()


def _compare(a: Path, b: Path) -> int:
    from research.artifacts.compare import compare_csv

    bad = 0
    for name in (n for n in TABLES + IPW_TABLES if (a / f"{n}.csv").exists()):
        result = compare_csv((a / f"{name}.csv").read_bytes(), (b / f"{name}.csv").read_bytes(), rel_tol=1e-9)
        print(f"{name}: {'same' if result.ok else result.problem or result.diffs[:3]}")
        bad += not result.ok
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("rows", "dataset"))
    parser.add_argument("--data", type=Path, help="an ingest folder (rows)")
    parser.add_argument("--dataset", type=Path, help="a dataset folder (dataset)")
    parser.add_argument("--engine", default="duckdb", choices=("duckdb", "pandas"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"))
    parser.add_argument("--ipw", action="store_true", help="the weight tables with ipw as the method instead")
    args = parser.parse_args()
    if args.compare:
        return _compare(*args.compare)
    from research import paths
    from research.config.instrument import load_instrument
    from research.config.plan import load_plan

    import dataclasses

    plan, instrument = load_plan(paths.default_plan()), load_instrument()
    if args.ipw:
        plan = dataclasses.replace(plan, weighting=dataclasses.replace(plan.weighting, method="ipw"))
    timings: dict[str, float] = {}

    def clock(step, f):
        t0 = time.perf_counter()
        value = f()
        timings[step] = round(time.perf_counter() - t0, 2)
        print(f"{step}: {timings[step]:.1f} s", flush=True)
        return value

    from research.pipeline.reproduce import one_blas_thread

    t0 = time.perf_counter()
    with one_blas_thread():  # as the CLI and reproduce run the stage
        if args.path == "rows":
            out = _rows(args.data, plan, instrument, clock, args.ipw)
        else:
            out = _dataset(args.dataset, args.engine, plan, instrument, clock, args.ipw)
    timings["total"] = round(time.perf_counter() - t0, 2)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in IPW_TABLES if args.ipw else TABLES:
        out[name].to_csv(args.out / f"{name}.csv", index=False)
    (args.out / "timings.json").write_text(json.dumps({"path": args.path, "engine": args.engine, "ipw": args.ipw,
                                                       **timings},
                                                      indent=2) + "\n", encoding="utf-8")
    print(f"total: {timings['total']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
