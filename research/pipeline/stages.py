"""The stages of ``research reproduce``, in order, each declaring what it reads and what it writes.

:data:`STAGES` is the pipeline: an ordered tuple of :class:`Stage`. Each stage

- ``reads`` bundle entries made by earlier stages (or the initial ``plan`` and ``instrument``),
- adds the bundle entries it declares in ``writes`` (a stage returning an undeclared key is a
  programming error, refused by :func:`research.pipeline.reproduce.run_stages`),
- writes files under the build folder, in the entries named in ``outputs``.

The *bundle* is the dict every table and figure reads from (``ArtifactSpec.reads`` names its
keys; a test checks every such key is written by a stage before ``render``). A stage marked
``beside`` reads nothing the stage just before it writes, so it may run in a forked child while
that stage runs (:mod:`research.pipeline.workers`): representativeness and strategy (levers,
drivers) run beside the fit and the monitoring stage, and join the bundle when a stage reads
their entries (rendering). ``internal`` entries pass between stages of one process and are never returned from a
child (weights and calibration margins: arrays of one value per response).

Stage functions take ``(build, bundle)`` -- the run's :class:`Build` settings and the bundle so
far (read-only) -- and return the new entries. They are also the Python API's building blocks
(:mod:`research.api`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from research.errors import InputError
from research.safeio import write_csv

Progress = Callable[[str], None]

#: the bundle entries a run starts with
INITIAL = ("plan", "instrument")

#: the tables of :func:`research.models.run.fit_plan` (``fit/<key>.csv``)
FIT_TABLES = ("estimates", "model_fit", "predictions", "marginal_effects", "brant", "station_effects",
              "subcause_ranks", "thresholds", "threshold_curves", "comparisons", "pairwise", "association",
              "reliability", "item_statistics", "item_correlations", "notes")

#: the tables of :func:`research.representativeness.run.analyse_representativeness` (``weights/``)
REPRESENTATIVENESS_TABLES = (
    "response_rates", "funnel", "propensity_estimates", "propensity_fit", "respondent_weights",
    "weight_summary", "weight_margins", "weighted_estimates", "svy_estimates", "svy_fit",
    "svy_predictions", "svy_marginal_effects", "weighting_methods", "delta_range", "tipping_deltas")


@dataclass(frozen=True)
class Build:
    """One run's settings: the raw exports (or ``dataset``, a folder of ``research ingest
    --dataset``, and ``survey`` None), the staging folder being written, the loaded plan and
    instrument, the plan's file, ``--reps`` (None: the plan's), the progress callback and the
    engine asked for (``--engine``: ``auto``, ``pandas``, ``duckdb`` or ``spark``)."""

    survey: Path | None
    workorders: Path | None
    root: Path
    plan: object
    instrument: object
    plan_file: Path
    reps: int | None
    say: Progress
    dataset: Path | None = None
    engine: str = "pandas"


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline (see the module docstring)."""

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    outputs: tuple[str, ...]
    run: Callable[[Build, Mapping], dict]
    beside: bool = False
    internal: tuple[str, ...] = ()


# -- stage 1 ---------------------------------------------------------------------------------------

def ingest_stage(b: Build, bundle: Mapping) -> dict:
    """Validate, pseudonymise and derive the exports (``ingest/``); at least two stations. With a
    dataset (``b.dataset``): its canonical rows, rejected rows and reports as ingested
    (:mod:`research.pipeline.dataset_input`); the inputs are then its ledger's files."""
    from research.ingestion.run import IngestResult, format_report, ingest, write_ingest
    from research.artifacts.manifest import display_path

    if b.dataset is not None:
        from research.pipeline.dataset_input import dataset_inputs, read_ingested_dataset

        ing = IngestResult(**read_ingested_dataset(b.dataset, instrument=b.instrument, say=b.say))
    else:
        ing = ingest(b.survey, b.workorders, instrument=b.instrument, progress=b.say)
    write_ingest(ing, b.root / "ingest")
    print(format_report(ing.report))
    stations = ing.responses["station"].nunique()
    if stations < 2:  # every stage after fit compares or clusters by station
        raise InputError(f"{b.survey or b.dataset}: column station (供电所): the accepted responses come from {stations} station; "
                         "reproduce needs at least 2 (standard errors clustered by station, weights with "
                         "stations as clusters, station comparisons). 'research fit' works on one station "
                         "with model-based standard errors.")
    if b.dataset is not None:
        inputs = dataset_inputs(b.dataset)[0]
    else:
        files = [b.survey] + ([b.workorders] if b.workorders else [])
        inputs = [{"role": f["role"], "path": display_path(Path(p)), "sha256": f["sha256"]}
                  for f, p in zip(ing.report["files"], files)]
    return {"responses": ing.responses, "workorders": ing.workorders, "rejected": ing.rejected,
            "ingest_report": ing.report, "inputs": inputs}


# -- stage 2 ---------------------------------------------------------------------------------------

def fit_stage(b: Build, bundle: Mapping) -> dict:
    """Every model of the plan, thresholds, comparisons and reliability (``fit/``); ``engine``: the
    engine in force (``b.engine``, ``auto`` by :func:`research.engines.choose_engine`'s rule) and the
    fit tables it computed (:mod:`research.pipeline.engine_fit`; none with pandas)."""
    from research.engines import choose_engine
    from research.models.run import fit_plan, summarize, write_results

    name = choose_engine(b.engine, n_rows=len(bundle["responses"]), dataset=b.dataset is not None)
    if name == "pandas":
        fit, tables = fit_plan(bundle["responses"], plan=b.plan, instrument=b.instrument, progress=b.say), []
    else:
        from research.pipeline.engine_fit import fit_with_engine

        b.say(f"engine {name}" + (f" (--engine auto: {'a dataset' if b.dataset else 'over 2,000,000 rows'})"
                                  if b.engine == "auto" else ""))
        fit, tables = fit_with_engine(bundle["responses"], engine=name, dataset=b.dataset, plan=b.plan,
                                      instrument=b.instrument, say=b.say)
    write_results(fit, b.root / "fit", plan=b.plan)
    print(summarize(fit))
    return {**fit, "engine": {"name": name, "artifacts": {f"fit/{t}.csv": name for t in tables}}}


# -- stages 3 and 4 (beside the fit) ----------------------------------------------------------------

def respondent_weighting(responses, workorders, *, plan, instrument, say: Progress | None = None):
    """Stage 3: representativeness of the responses against the work-order population.

    Returns ``(rep, weights, calibration)``: the tidy frames of
    :func:`research.representativeness.run.analyse_representativeness` (``weights/``), the
    respondents' weights in ``responses`` order (work orders represented per response), and the
    raking margins for design-based standard errors. ``workorders`` None: ``({}, None, None)``."""
    if workorders is None:
        return {}, None, None
    from research.representativeness.run import analyse_representativeness, calibration_of, respondent_frame

    rep = analyse_representativeness(responses, workorders, plan=plan, instrument=instrument, progress=say)
    weights = rep["respondent_weights"]["weight"].to_numpy()
    return rep, weights, calibration_of(respondent_frame(responses, plan.weighting), weights, plan.weighting)


def representativeness_stage(b: Build, bundle: Mapping) -> dict:
    """Response rates, weights and design-based estimates (``weights/``), with a work-order export;
    ``weights`` and ``calibration`` (internal) are None without one."""
    rep, weights, calibration = respondent_weighting(bundle["responses"], bundle["workorders"], plan=b.plan,
                                                     instrument=b.instrument, say=b.say)
    if bundle["workorders"] is None:
        b.say("no work-order export: response rates and weights skipped")
    else:
        from research.representativeness.run import write_representativeness

        write_representativeness(rep, b.root / "weights")
    return {**rep, "weights": weights, "calibration": calibration}


def lever_results(responses, *, plan, instrument, weights=None, calibration=None,
                  say: Progress | None = None) -> dict:
    """Levers (``levers``: improvement scenarios with bootstrap intervals, E-values, mediation) and
    ``associations`` (resolution and repeat calls: post-treatment, never levers), weighted to the
    work-order population when ``weights`` are given (``strategy/levers.csv``, ``associations.csv``)."""
    from research.artifacts.labels import with_lever_names
    from research.strategy.causal import associations
    from research.strategy.scenarios import run_levers

    levers = run_levers(responses, plan=plan, instrument=instrument, weights=weights, calibration=calibration,
                        progress=say)
    # the lever frame carries machine names; its zh/en name columns come from the one mapping
    return {"levers": with_lever_names(levers, plan),
            "associations": associations(responses, plan=plan, instrument=instrument, weights=weights,
                                         calibration=calibration)}


def driver_results(responses, *, plan, weights=None, say: Progress | None = None) -> dict:
    """Key drivers of the plan's ``drivers`` section: ``importance`` and ``ipa``
    (``strategy/drivers_*.csv``), weighted when ``weights`` are given."""
    from research.strategy.drivers import key_drivers

    ds = plan.drivers
    data = responses if weights is None else responses.assign(_weight=weights)
    drivers = key_drivers(data, outcome=ds.outcome, weights=None if weights is None else "_weight",
                          bootstrap_reps=ds.bootstrap_reps, seed=ds.bootstrap_seed, cluster=ds.bootstrap_cluster,
                          conf_level=plan.conf_level, permutation_reps=ds.permutation_reps,
                          permutation_seed=ds.permutation_seed, progress=say)
    return {"importance": drivers["importance"], "ipa": drivers["ipa"]}


def typical_results(responses, *, plan) -> dict:
    """典型案例分析 with the plan's ``typical_cases`` section: ``typical_terms`` (per cause group, the
    words distinguishing dissatisfied from satisfied comments, with z-scores) and ``typical_cases``
    (per cause group, the dissatisfied comments, masked, closest to those words), from
    :mod:`research.strategy.typical_cases` (``strategy/typical_terms.csv``, ``typical_cases.csv``).
    Unweighted: they describe the comments written, not the work-order population."""
    from research.strategy.typical_cases import distinguishing_terms, typical_cases

    spec = plan.typical_cases
    terms = distinguishing_terms(responses, prior=spec.prior, min_count=spec.min_count, top=spec.top)
    return {"typical_terms": terms, "typical_cases": typical_cases(responses, terms, per_group=spec.per_group)}


def strategy_stage(b: Build, bundle: Mapping) -> dict:
    """Levers, associations and key drivers, weighted when stage 3 made weights, and the typical
    cases (``strategy/``)."""
    responses = bundle["responses"]
    folder = b.root / "strategy"
    folder.mkdir(exist_ok=True)
    part = lever_results(responses, plan=b.plan, instrument=b.instrument, weights=bundle["weights"],
                         calibration=bundle["calibration"], say=b.say)
    drivers = driver_results(responses, plan=b.plan, weights=bundle["weights"], say=b.say)
    part["drivers_importance"], part["drivers_ipa"] = drivers["importance"], drivers["ipa"]
    t = time.perf_counter()
    part.update(typical_results(responses, plan=b.plan))
    for key in STRATEGY_ENTRIES:
        write_csv(part[key], folder / f"{key}.csv")
    b.say(f"{len(part['levers'])} levers and {len(part['drivers_importance'])} drivers; typical cases: "
          f"{len(part['typical_terms'])} words and {len(part['typical_cases'])} comments in "
          f"{time.perf_counter() - t:.1f} s")
    return part


def monitoring_stage(b: Build, bundle: Mapping) -> dict:
    """The p-chart, the station funnel and, with a work-order export, recurrence and repeat callers
    (``strategy/``): unweighted, so they need nothing of stage 3."""
    from research.strategy.monitoring import p_chart, recurrence, repeat_callers
    from research.strategy.stations import funnel

    responses, workorders = bundle["responses"], bundle["workorders"]
    folder = b.root / "strategy"
    folder.mkdir(exist_ok=True)
    part = {"p_chart": p_chart(responses),
            # persistent gaps between stations, risk-adjusted (the p-chart looks for sudden change);
            # "funnel" alone is the survey funnel (F08)
            "station_funnel": funnel(responses, instrument=b.instrument)}
    files = {"p_chart": "p_chart", "station_funnel": "station_funnel"}
    if workorders is not None:
        rec = recurrence(workorders)
        part["recurrence"] = rec[rec["flagged"]].reset_index(drop=True)
        part["recurrence_tested"] = int(len(rec))
        # customer pseudonyms depend on the local key: recorded in the manifest, not compared
        part["repeat_callers"] = repeat_callers(workorders, responses)
        files.update(recurrence="recurrence_flags", repeat_callers="repeat_callers")
    for key, name in files.items():
        write_csv(part[key], folder / f"{name}.csv")
    return part


STRATEGY_ENTRIES = ("levers", "associations", "drivers_importance", "drivers_ipa", "typical_terms",
                    "typical_cases")
MONITORING_ENTRIES = ("p_chart", "station_funnel", "recurrence", "recurrence_tested", "repeat_callers")


# -- stages 5 to 8 ---------------------------------------------------------------------------------

def seeds_of(plan) -> dict:
    """The seed of each random computation (``manifest.seeds``; each artifact's stamp names the
    seed its own numbers used, none when it draws no random numbers)."""
    return {"threshold_bootstrap": plan.thresholds.bootstrap_seed if plan.thresholds else 0,
            "lever_bootstrap": plan.scenarios.bootstrap_seed if plan.scenarios else 0,
            "driver_bootstrap": plan.drivers.bootstrap_seed,
            "driver_permutation": plan.drivers.permutation_seed}


def _stamp(bundle: Mapping):
    from research.artifacts.stamp import Stamp, data_hash, git_commit

    return Stamp(data_sha256=data_hash([i["sha256"] for i in bundle["inputs"]]), commit=git_commit())


def render_stage(b: Build, bundle: Mapping) -> dict:
    """Every table and figure of the registry (``tables/``, ``figures/``), in forked workers."""
    from research.artifacts import registry
    from research.artifacts.stamp import stamp_for
    from research.pipeline.workers import render_all

    stamp, seeds = _stamp(bundle), seeds_of(b.plan)
    jobs = [("table", spec, b.root / "tables", stamp_for(stamp, spec.reads, seeds)) for spec in registry.TABLES]
    jobs += [("figure", spec, b.root / "figures", stamp_for(stamp, spec.reads, seeds))
             for spec in registry.FIGURES]
    render_all(jobs, dict(bundle), say=b.say)
    b.say(f"{len(registry.TABLES)} tables and {len(registry.FIGURES)} figures")
    return {}


def values_stage(b: Build, bundle: Mapping) -> dict:
    """The named values the report and the paper cite (``values.csv``)."""
    from research.artifacts.values import named_values

    values = named_values(dict(bundle))
    write_csv(values, b.root / "values.csv")
    b.say(f"{len(values)} named values")
    return {"values": values}


def report_stage(b: Build, bundle: Mapping) -> dict:
    """The report, zh and en, HTML and DOCX (``report/``); its tables from their Displays of the
    bundle's data, as the per-table files (so the report can number them and count their rows)."""
    from research.artifacts.report import build_report

    build_report(bundle["values"], b.root, b.root / "report", bundle=dict(bundle))
    return {}


def manifest_stage(b: Build, bundle: Mapping) -> dict:
    """The manifest of every file written (``manifest.json``), with inputs, seeds, replicate counts
    and platform."""
    from research.artifacts.manifest import build_manifest, write_manifest
    from research.config.plan import replicate_counts

    engine = bundle["engine"]
    manifest = build_manifest(b.root, inputs=bundle["inputs"], commit=_stamp(bundle).commit,
                              seeds=seeds_of(b.plan), plan_path=b.plan_file, provenance=bundle["values"],
                              engines=engine["artifacts"])
    # what computed the numbers, not how it was asked (auto or by name): the same build, the same manifest
    manifest["engine"] = {"name": engine["name"]}
    if b.dataset is not None:
        from research.pipeline.dataset_input import dataset_inputs

        manifest["dataset"] = dataset_inputs(b.dataset)[1]
    manifest["replicates"] = replicate_counts(b.plan)
    manifest["reps_override"] = b.reps
    write_manifest(manifest, b.root / "manifest.json")
    b.say(f"manifest of {len(manifest['artifacts'])} artifacts")
    return {"manifest": manifest}


_INGESTED = ("responses", "workorders", "rejected", "ingest_report")

#: the pipeline, in order
STAGES: tuple[Stage, ...] = (
    Stage("ingest", reads=INITIAL, writes=_INGESTED + ("inputs",), outputs=("ingest",), run=ingest_stage),
    Stage("fit", reads=("responses",) + INITIAL, writes=FIT_TABLES + ("engine",), outputs=("fit",), run=fit_stage),
    Stage("representativeness", reads=("responses", "workorders") + INITIAL,
          writes=REPRESENTATIVENESS_TABLES + ("weights", "calibration"), outputs=("weights",),
          run=representativeness_stage, beside=True, internal=("weights", "calibration")),
    Stage("strategy", reads=("responses", "weights", "calibration") + INITIAL, writes=STRATEGY_ENTRIES,
          outputs=tuple(f"strategy/{k}.csv" for k in STRATEGY_ENTRIES), run=strategy_stage, beside=True),
    # in this process once the fit is done, while the child may still run stages 3-4
    Stage("monitoring", reads=("responses", "workorders", "instrument"), writes=MONITORING_ENTRIES,
          outputs=("strategy/p_chart.csv", "strategy/station_funnel.csv", "strategy/recurrence_flags.csv",
                   "strategy/repeat_callers.csv"), run=monitoring_stage),
    Stage("tables and figures", reads=("*",), writes=(), outputs=("tables", "figures"), run=render_stage),
    Stage("named values", reads=("*",), writes=("values",), outputs=("values.csv",), run=values_stage),
    Stage("report", reads=("*",), writes=(), outputs=("report",), run=report_stage),
    Stage("manifest", reads=("inputs", "values", "engine") + INITIAL, writes=("manifest",), outputs=("manifest.json",),
          run=manifest_stage),
)


def timed(stage: Stage, number: int, b: Build, bundle: Mapping) -> dict:
    """Run one stage with its start and end messages (``stage k/n: name ... done in s``); refuse
    entries the stage does not declare."""
    t = time.perf_counter()
    b.say(f"stage {number}/{len(STAGES)}: {stage.name}")
    out = stage.run(b, bundle)
    extra = set(out) - set(stage.writes)
    if extra:
        raise RuntimeError(f"stage {stage.name} returned entries it does not declare: {sorted(extra)}")
    b.say(f"stage {number}/{len(STAGES)}: {stage.name} done in {time.perf_counter() - t:.1f} s")
    return out
