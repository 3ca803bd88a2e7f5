"""``research reproduce``: rebuild everything from the raw exports, stage by stage.

:func:`reproduce` runs the stages of :data:`research.pipeline.stages.STAGES` in their order --
ingest, fit, representativeness, strategy, tables and figures, named values, report, manifest --
each reporting its time through ``progress`` (:func:`run_stages`). Stages marked ``beside``
(representativeness and strategy: they read only the ingest outputs) run in a forked child while
the fit runs (:mod:`research.pipeline.workers`); ``RESEARCH_WORKERS=1`` keeps all in one process.
It builds into a fresh staging folder inside the output root, under a lock, and moves the outputs
into place only when every stage succeeded (:mod:`research.pipeline.buildstate`): a killed run
never leaves a half-written build that looks complete.

Checking a build (``verify``, ``publish``) is :mod:`research.pipeline.verify`; its functions are
also importable from here, as are the stage functions the Python API uses.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from research.errors import InputError
from research.pipeline import buildstate
from research.pipeline.stages import (STAGES, Build, Stage, driver_results, lever_results,  # noqa: F401
                                      respondent_weighting, timed)
from research.pipeline.verify import (BUILT_OK, manifest_path, publish, results_dir, verify,  # noqa: F401
                                      verify_built)
from research.pipeline.workers import (one_blas_thread, release_memory, render_all, render_workers,  # noqa: F401
                                       start_beside)

Progress = Callable[[str], None]


def reproduce(survey: Path | None, workorders: Path | None, out_root: Path, *, progress: Progress | None = None,
              plan_path: Path | None = None, reps: int | None = None, dataset: Path | None = None,
              engine: str = "auto") -> dict:
    """Rebuild every artifact into ``out_root``; returns the manifest (also written there).

    Parameters
    ----------
    survey, workorders : the raw exports (``workorders`` None: no representativeness stage); both
        None with ``dataset``.
    dataset : a dataset folder of ``research ingest --dataset`` read instead of the exports: the
        ingest stage takes its rows, rejected rows and reports as ingested, and the manifest's
        inputs are its ledger's files (:mod:`research.pipeline.dataset_input`).
    engine : where the fit's models, predictions and marginal effects are computed: ``pandas``
        (the row path, the published numbers), ``duckdb`` or ``spark`` (from sums,
        :mod:`research.pipeline.engine_fit`; the row-only tables still from the rows), or ``auto``
        (:func:`research.engines.choose_engine`: duckdb for a dataset or over 2,000,000 responses,
        else pandas). Recorded in the manifest (``engine``, and each artifact the engine computed).
    out_root : the output root, created if absent. Layout: ``ingest/``, ``fit/``, ``weights/``
        (with a work-order export), ``strategy/``, ``tables/``, ``figures/``, ``values.csv``,
        ``report/``, ``manifest.json``. These owned entries are replaced as a whole (an old
        ``weights/`` disappears when this run has no work orders); anything else in the folder
        is left alone and is not in the manifest.
    progress : called with a message as each stage starts and ends.
    plan_path : the analysis plan (default ``paper/analysis_plan.yaml``).
    reps : None (the plan's replicates), or every bootstrap, permutation and calibration count
        set to this (``--reps N``, a quick look: :func:`research.config.plan.with_replicates`). The
        manifest records the counts used (``replicates``) and the override (``reps_override``);
        ``publish`` refuses such a build and ``verify`` names the difference.

    Raises
    ------
    InputError
        ``out_root`` is a file, or a non-build folder holding entries this would replace, or
        another run holds its lock; or any input is bad. The published entries are then unchanged.
    """
    say = progress or (lambda m: None)
    out_root = Path(out_root)
    if dataset is not None:
        from research.pipeline.dataset_input import dataset_inputs

        if survey is not None or workorders is not None:
            raise InputError("give the exports (--survey, --workorders) or --dataset DIR, not both")
        dataset_inputs(Path(dataset))  # InputError now for a missing, malformed or old dataset
    elif survey is None:
        raise InputError("no survey export given (--survey FILE) and no --dataset DIR")
    from research.engines import ENGINES

    if engine != "auto" and engine not in ENGINES:
        raise InputError(f"--engine {str(engine)[:20]!r}: one of auto, {', '.join(ENGINES)}")
    buildstate.check_root(out_root)
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out_root}: cannot create the output folder ({exc.strerror})") from None
    with buildstate.build_lock(out_root):
        if buildstate.remove_leftovers(out_root):
            say("removed the staging folder left by an interrupted run")
        staging = buildstate.new_staging(out_root)
        try:
            with one_blas_thread():
                manifest = _build(survey, workorders, staging, say=say, plan_path=plan_path, reps=reps,
                                  dataset=dataset, engine=engine)
            say(f"moving the outputs into {out_root}")
            buildstate.publish(staging, out_root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return manifest


def _build(survey: Path | None, workorders: Path | None, out_root: Path, *, say: Progress,
           plan_path: Path | None, reps: int | None = None, dataset: Path | None = None,
           engine: str = "auto") -> dict:
    """Load the plan and instrument and run every stage into the fresh folder ``out_root`` (the
    staging folder); returns the manifest, written there last."""
    from research.config.instrument import load_instrument
    from research.config.plan import load_plan, plan_path as default_plan, with_replicates

    plan_file = Path(plan_path) if plan_path else default_plan()
    plan, instrument = load_plan(plan_file), load_instrument()
    if reps is not None:
        plan = with_replicates(plan, reps)
        say(f"every bootstrap, permutation and calibration draws {reps} replicates (--reps {reps}): "
            "a quick look, not the published numbers")
    build = Build(survey=Path(survey) if survey else None, workorders=Path(workorders) if workorders else None,
                  root=out_root, plan=plan, instrument=instrument, plan_file=plan_file, reps=reps, say=say,
                  dataset=Path(dataset) if dataset is not None else None, engine=engine)
    return run_stages(STAGES, build, {"plan": plan, "instrument": instrument})["manifest"]


def run_stages(stages: tuple[Stage, ...], build: Build, bundle: dict) -> dict:
    """Run ``stages`` in order over ``bundle`` (the entries they read); returns the bundle with every
    stage's entries added.

    The stages marked ``beside`` that follow a stage are started first, in a forked child
    (:func:`research.pipeline.workers.start_beside`), and run one after the other there while this
    process runs that stage and any later stage that reads none of their entries; their entries,
    less their ``internal`` ones, join the bundle when a stage needs one (``reads`` naming it, or
    ``"*"``) or at the end. If a stage of this process fails, running children are stopped; a
    child's own error is raised here."""
    pending: list[tuple[object, set[str]]] = []  # (handle, entries it will add)

    def collect(needs: set[str]) -> None:
        for item in list(pending):
            handle, writes = item
            if "*" in needs or writes & needs:
                pending.remove(item)
                bundle.update(handle.result())

    i = 0
    try:
        while i < len(stages):
            stage, group = stages[i], []
            j = i + 1
            while j < len(stages) and stages[j].beside:
                group.append((j, stages[j]))
                j += 1
            collect(set(stage.reads).union(*(s.reads for _, s in group)))
            if group:
                release_memory()
                handle = start_beside(lambda g=tuple(group): _run_group(g, build, bundle),
                                      ", ".join(s.name for _, s in group))
                pending.append((handle, {k for _, s in group for k in s.writes if k not in s.internal}))
            bundle.update(timed(stage, i + 1, build, bundle))
            i = j
        collect({"*"})
    except BaseException:
        for handle, _ in pending:
            handle.cancel()
        raise
    return bundle


def _run_group(group: tuple[tuple[int, Stage], ...], build: Build, bundle: dict) -> dict:
    """The ``beside`` stages of :func:`run_stages`, in order, over a copy of ``bundle``; returns the
    entries they made, less the ``internal`` ones."""
    own = dict(bundle)
    made: dict = {}
    for number, stage in group:
        release_memory()
        out = timed(stage, number + 1, build, own)
        own.update(out)
        made.update({k: v for k, v in out.items() if k not in stage.internal})
    return made
