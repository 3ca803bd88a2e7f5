"""The ``research`` commands: one ``cmd_*`` function per sub-command (see :mod:`research.cli`).

In: the parsed :class:`argparse.Namespace` of :func:`research.cli_parser.build_parser`. Out: the
exit code (0, or 1 when ``verify`` finds differences); what was written is printed on standard
output, progress on standard error. Failures raise (:class:`research.errors.InputError`,
OSError, ...) and :func:`research.cli.main` turns them into one line and exit 2. Each command
imports its stage lazily, so ``research --help`` starts without loading the analysis.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from research import paths
from research.errors import InputError


def _progress(message: str) -> None:
    """One progress line on standard error, flushed at once."""
    print(message, file=sys.stderr, flush=True)


def cmd_ingest(args: argparse.Namespace) -> int:
    from research.ingestion.run import format_report, ingest, timed, write_ingest

    progress = timed(_progress)
    if getattr(args, "dataset", None) or getattr(args, "replace", False) or getattr(args, "chunk_rows", None):
        return _ingest_dataset(args, progress)
    result = ingest(args.survey, args.workorders, progress=progress)
    out = Path(args.out) if args.out else paths.ingest_dir()
    progress(f"writing {out}")
    written = write_ingest(result, out)
    print(format_report(result.report))
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    return 0


def _ingest_dataset(args: argparse.Namespace, progress) -> int:
    """``research ingest --dataset DIR [--replace]``: ingest, then append to the dataset
    (:func:`research.ingestion.dataset.ingest_into_dataset`)."""
    from research.ingestion.dataset import ingest_into_dataset
    from research.ingestion.run import format_report

    if not args.dataset:
        flag = "--replace" if args.replace else "--chunk-rows"
        raise InputError(f"{flag} needs --dataset DIR (it is about appending an export to a dataset)")
    if args.out:
        raise InputError("give --out DIR (one ingest folder) or --dataset DIR (append to a dataset), "
                         "not both")
    result, entry = ingest_into_dataset(args.dataset, args.survey, args.workorders, replace=args.replace,
                                        progress=progress, chunk_rows=getattr(args, "chunk_rows", None))
    print(format_report(result.report))
    for f in entry["files"]:
        print(f"appended {f['table']}: {f['accepted']:,} rows, months {', '.join(f['months']) or '-'}, "
              f"{len(f['parts'])} part(s)")
    print(f"wrote ledger entry {entry['id']}: {Path(args.dataset) / 'ledger.json'}; report and rejected "
          f"rows in {Path(args.dataset) / entry['report']}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from research.simulate import hard_case_params, simulate, write_simulation

    if getattr(args, "chunk_rows", None):
        return _simulate_chunked(args)
    _progress(f"simulating {args.n:,} survey responses (seed {args.seed})")
    params = hard_case_params() if getattr(args, "hard_cases", False) else None
    sim = simulate(args.n, args.seed, faults=args.faults, params=params)
    written = write_simulation(sim, args.out)
    counts = sim.truth.get("counts", {})
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    if counts:
        print("counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if isinstance(v, int)))
    return 0


def _simulate_chunked(args: argparse.Namespace) -> int:
    """``research simulate --chunk-rows R``: the export as chunks (research.simulate.chunks)."""
    from research.safeio import writable_folder
    from research.simulate.chunks import chunk_sizes, write_chunked

    if getattr(args, "hard_cases", False):
        raise InputError("--chunk-rows cannot be combined with --hard-cases (their truth does not add up "
                         "over chunks)")
    try:
        count = len(chunk_sizes(args.n, args.chunk_rows))
    except ValueError as exc:
        raise InputError(f"--chunk-rows: {exc}") from None
    out = writable_folder(args.out, "--out")
    if any(out.glob("chunk_*")) or (out / "chunks.json").exists():
        raise InputError(f"--out {out} already holds a chunked export (chunk_* or chunks.json); give an "
                         "empty or new folder")
    _progress(f"simulating {args.n:,} survey responses (seed {args.seed}) as {count:,} chunk(s) of at most "
              f"{args.chunk_rows:,}")
    manifest = write_chunked(args.n, args.seed, out, args.chunk_rows, faults=args.faults, progress=_progress)
    for chunk in manifest["chunks"]:
        print(f"wrote {chunk['folder']}: {out / chunk['folder']} ({chunk['counts']['survey_rows']:,} survey "
              f"rows, {chunk['counts']['workorders']:,} work orders)")
    print(f"wrote chunks: {out / 'chunks.json'}")
    print("totals: " + ", ".join(f"{k} {v:,}" for k, v in manifest["totals"].items()))
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from research.ingestion.run import timed
    from research.models.run import fit_plan, single_cluster_models, summarize, write_results
    from research.config.plan import load_plan

    progress = timed(_progress)
    engine = _fit_engine(args)
    if engine != "pandas":
        return _fit_on_engine(args, engine, progress)
    if getattr(args, "dataset", None):
        from research.ingestion.dataset import read_dataset

        data = Path(args.dataset)
        responses = read_dataset(data, "responses")
    else:
        data = Path(args.data) if args.data else paths.ingest_dir() / "responses.parquet"
        responses = _read_parquet(data, "responses")  # columns and types checked against research.ingestion.schema
    plan = load_plan(args.plan)
    progress(f"fitting {len(plan.models)} models on {len(responses):,} responses")
    from research.pipeline.reproduce import one_blas_thread

    try:
        with one_blas_thread():  # the same sums, in the same order, as research reproduce
            results = fit_plan(responses, plan=plan, progress=progress, thresholds=not args.no_thresholds)
    except InputError as exc:  # the models' messages say "responses"; the user wants the file
        text = str(exc)
        raise InputError(f"{data}: {text.removeprefix('responses: ')}") from None
    out = Path(args.out) if args.out else paths.build_dir() / "fit"
    written = write_results(results, out, plan=plan)
    for var, models in single_cluster_models(results["model_fit"]).items():
        # one line, as for errors; the reason is in notes.csv and in each estimate's method
        print(f"research fit: warning: a single {var} in {data.name}: standard errors of {', '.join(models)} are "
              f"model-based, not clustered by {var} (see notes.csv in {out})", file=sys.stderr, flush=True)
    print(summarize(results))
    print(f"wrote {len(written)} files to {out}")
    return 0


def _fit_engine(args: argparse.Namespace) -> str:
    """The engine of ``research fit``: ``--engine``, or for ``auto`` the size rule of
    :func:`research.engines.choose_engine` (rows from the dataset's ledger or the Parquet footer)."""
    from research.engines import choose_engine

    requested = getattr(args, "engine", "auto") or "auto"
    if requested != "auto":
        return requested
    if getattr(args, "dataset", None):
        return choose_engine("auto", n_rows=None, dataset=True)
    import pyarrow.parquet as pq

    data = Path(args.data) if args.data else paths.ingest_dir() / "responses.parquet"
    try:
        rows = pq.ParquetFile(data).metadata.num_rows
    except (OSError, ValueError):  # absent or unreadable: the pandas path reads it and says why
        rows = None
    return choose_engine("auto", n_rows=rows, dataset=False)


def _fit_on_engine(args: argparse.Namespace, name: str, progress) -> int:
    """``research fit --engine duckdb|spark``: the models from sums (research.models.run_engine)."""
    import json

    from research.config.instrument import load_instrument
    from research.config.plan import load_plan
    from research.engines import DatasetSource, FrameSource, open_engine
    from research.models.run import write_results
    from research.models.run_engine import fit_plan_on
    from research.safeio import atomic_write_text

    if name == "spark":
        from research.engines.spark_engine import java_available

        if not java_available():
            raise InputError("--engine spark needs a Java runtime (17 or newer): none on the PATH or in JAVA_HOME")
    if getattr(args, "dataset", None):
        source, where = DatasetSource(Path(args.dataset)), Path(args.dataset)
        source.files()  # InputError now for a folder that is not a dataset
    else:
        where = Path(args.data) if args.data else paths.ingest_dir() / "responses.parquet"
        source = FrameSource(_read_parquet(where, "responses"))
    plan = load_plan(args.plan)
    progress(f"fitting {len(plan.models)} models on {source.describe()} with the {name} engine")
    engine = open_engine(name)
    try:
        results = fit_plan_on(engine, source, plan=plan, instrument=load_instrument(), progress=progress,
                              thresholds=not getattr(args, "no_thresholds", False))
    finally:
        engine.close()
    out = Path(args.out) if args.out else paths.build_dir() / "fit"
    written = write_results(results, out, plan=plan)
    tables = sorted(k for k, t in results.items() if k != "notes" and len(t))
    written["engine"] = atomic_write_text(out / "engine.json", json.dumps(
        {"engine": name, "source": "dataset" if getattr(args, "dataset", None) else "responses.parquet",
         "models": results["model_fit"]["model"].tolist(), "from_sums": True, "tables": tables,
         "thresholds_bootstrap": _bootstrap_kind(results)}, indent=2) + "\n")
    mf = results["model_fit"]
    print(f"fitted {len(mf)} models with the {name} engine on {int(mf['nobs'].max()):,} responses from {where}")
    print(f"wrote {len(written)} files to {out}")
    return 0


def _bootstrap_kind(results: dict) -> str | None:
    """engine.json's ``thresholds_bootstrap``: ``one-step`` (replicates from per-station totals),
    ``exact`` (small data: the rows fetched, research.models.aggregate.threshold_table), None without
    thresholds."""
    from research.models.run_engine import _one_step

    if not len(results.get("thresholds", ())):
        return None
    return "one-step" if _one_step(results) else "exact"


def _read_parquet(path: Path, what: str):
    from research.ingestion.readers import read_ingested

    return read_ingested(path, what)


def cmd_weight(args: argparse.Namespace) -> int:
    from research.ingestion.run import timed
    from research.config.instrument import load_instrument
    from research.config.plan import load_plan
    from research.representativeness.run import analyse_representativeness, write_representativeness

    progress = timed(_progress)
    if getattr(args, "dataset", None) or getattr(args, "engine", "auto") in ("duckdb", "spark"):
        return _weight_on_engine(args, progress)
    folder = Path(args.data) if args.data else paths.ingest_dir()
    responses = _read_parquet(folder / "responses.parquet", "responses")
    workorders = _read_parquet(folder / "workorders.parquet", "work-order")
    plan = load_plan(args.plan)
    spec = plan.weighting
    progress(f"weighting {len(responses):,} respondents to {len(workorders):,} work orders ({spec.method})")
    results = analyse_representativeness(responses, workorders, plan=plan, instrument=load_instrument(),
                                         progress=progress)
    out = Path(args.out) if args.out else paths.build_dir() / "weights"
    written = write_representativeness(results, out)
    _print_weights(results)
    print(f"wrote {len(written)} files to {out}")
    return 0


def _print_weights(results: dict) -> None:
    """The weighted and unweighted satisfied rate and the weights' summary, two lines."""
    we = results["weighted_estimates"]
    o = we[(we["variable"] == "satisfied") & (we["domain"] == "overall")].iloc[0]
    ws = results["weight_summary"].iloc[0]
    print(f"satisfied rate: weighted {100 * o['estimate']:.1f}% (95% CI {100 * o['conf_low']:.1f} to "
          f"{100 * o['conf_high']:.1f}), unweighted {100 * o['estimate_unweighted']:.1f}%")
    print(f"weights: {ws['description']}; design effect {ws['deff']:.2f}, effective n {ws['n_eff']:,.0f}, "
          f"max weight {ws['max']:.2f}")


def _weight_on_engine(args: argparse.Namespace, progress) -> int:
    """``research weight --dataset DIR`` (or ``--engine duckdb|spark``): the tables from counts
    (research.representativeness.at_scale)."""
    from research.config.plan import load_plan
    from research.representativeness.at_scale import weigh_on_engine

    plan = load_plan(args.plan)
    name = "duckdb" if args.engine == "auto" else args.engine
    dataset = Path(args.dataset) if getattr(args, "dataset", None) else None
    out = Path(args.out) if args.out else paths.build_dir() / "weights"
    results, written = weigh_on_engine(name, plan, out, dataset=dataset,
                                       folder=None if dataset else Path(args.data) if args.data else paths.ingest_dir(),
                                       progress=progress)
    _print_weights(results)
    cells = (f"{len(results['weight_cells']):,} weight cells instead of respondent weights" if "weight_cells" in results
             else "ipw weights per respondent: no weight cells")
    print(f"wrote {len(written)} files to {out} (from counts by the {name} engine: {cells}; see notes.csv)")
    return 0


def cmd_bulletin(args: argparse.Namespace) -> int:
    from research.bulletin import run_bulletin

    dataset = getattr(args, "dataset", None)
    data = Path(dataset) if dataset else Path(args.data) if args.data else paths.ingest_dir()
    out = Path(args.out) if args.out else paths.build_dir() / "bulletin"
    _progress(f"building the {args.period} bulletin for {args.at or 'the last whole ' + str(args.period)} "
              f"from {'the dataset ' if dataset else ''}{data}")
    written = run_bulletin(data, period=args.period, at=args.at, out=out, lang=args.lang,
                           plan_path=Path(args.plan) if args.plan else None, say=_progress,
                           dataset=bool(dataset), engine=getattr(args, "engine", "auto"))
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from research.ingestion.run import timed
    from research.pipeline.reproduce import reproduce

    progress = timed(_progress)
    dataset = Path(args.dataset) if getattr(args, "dataset", None) else None
    if dataset is not None:
        if args.survey or args.workorders:
            raise InputError("--dataset DIR replaces the exports: give --dataset or --survey/--workorders, not both")
        survey = workorders = None
    else:
        survey = Path(args.survey) if args.survey else paths.sample_survey()
        workorders = Path(args.workorders) if args.workorders else None
        if workorders is None and args.survey is None and paths.sample_workorders().exists():
            workorders = paths.sample_workorders()
    out = Path(args.out) if args.out else paths.build_dir()
    manifest = reproduce(survey, workorders, out, progress=progress,
                         plan_path=Path(args.plan) if args.plan else None, reps=args.reps, dataset=dataset,
                         engine=getattr(args, "engine", "auto") or "auto")
    print(f"{len(manifest['artifacts'])} artifacts and manifest.json in {out} (engine {manifest['engine']['name']}"
          + (f", from the dataset {dataset}" if dataset is not None else "") + ")")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """``research verify``: rebuild and compare (default), or ``--built DIR``: check a folder as it is.

    Exit 0 when everything matches, 1 on any difference, 2 (through InputError) on a malformed
    manifest, a folder marked incomplete or being rebuilt, or a missing input.
    """
    from research.ingestion.run import timed
    from research.pipeline.reproduce import verify, verify_built

    if args.built:
        if args.manifest or args.plan or args.keep or args.reps is not None or getattr(args, "engine", None):
            raise InputError("verify --built checks the folder's own manifest.json without rebuilding; "
                             "--manifest, --plan, --keep, --reps and --engine do not apply to it")
        ok, rows = verify_built(Path(args.built))
        statuses = ("match", "differs", "missing", "extra", "leftover")
    else:
        ok, rows = verify(Path(args.manifest) if args.manifest else None, progress=timed(_progress),
                          plan_path=Path(args.plan) if args.plan else None,
                          keep=Path(args.keep) if args.keep else None, artifact=args.artifact,
                          reps=args.reps, engine=getattr(args, "engine", None))
        statuses = ("match", "differs", "missing", "extra", "recorded")
    width = max((len(r[0]) for r in rows), default=0)
    for path, status, detail in rows:
        print(f"{status:<9} {path:<{width}}  {detail}")
    counts = {s: sum(1 for r in rows if r[1] == s) for s in statuses}
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    print("verify: every compared artifact matches" if ok else "verify: DIFFERENCES found")
    if args.keep and not args.built:
        print(f"verify: the rebuild is kept in {args.keep}")
    return 0 if ok else 1


def cmd_publish(args: argparse.Namespace) -> int:
    """``research publish``: a build's manifest and compared CSVs become the published ones in paper/."""
    from research.pipeline.reproduce import publish

    written = publish(Path(args.built) if args.built else paths.build_dir(), allow_dirty=args.allow_dirty)
    print(f"published {len(written) - 1} result tables to paper/results/ and {written[-1]}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from research.artifacts.registry import BULLETIN, REGISTRY

    for spec in (*REGISTRY, *BULLETIN.values()):
        print(f"{spec.id}  {spec.kind:<6}  {spec.name:<32} {spec.zh_title} / {spec.en_title}")
    return 0
