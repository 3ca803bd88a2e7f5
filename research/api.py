"""The Python API: the command line's steps as functions for notebooks and scripts.

Each function mirrors a command (``research ingest``, ``fit``, ``weight``, the levers and key
drivers of ``reproduce``, ``bulletin``, ``reproduce``), takes frames or paths, and returns
the same frames the command writes as CSV (machine column names, full precision; columns in
``docs/result_contract.md``). They call the pipeline's own stage functions, so a number
computed here equals the one in the build folder (tested in ``tests/test_api.py``).

``plan`` is everywhere a :class:`research.config.plan.Plan`, a path to a plan YAML, or None for the
committed ``paper/analysis_plan.yaml``. Model fits run with one BLAS thread, as ``reproduce``
does (fixed summation order).

Example::

    from research import api

    ing = api.ingest("data/raw/survey_sample.csv", "data/raw/workorders_sample.csv")
    fit = api.fit(ing.responses)                       # estimates, predictions, thresholds, ...
    rep = api.weight(ing.responses, ing.workorders)    # response rates, weights, design-based
    lev = api.levers(ing.responses, ing.workorders)    # levers and associations
    week = api.bulletin(ing.responses, ing.workorders, period="week", at="2025-06-04")
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from research.ingestion.run import IngestResult
from research.config.instrument import Instrument, load_instrument
from research.config.plan import Plan, load_plan

__all__ = ["ingest", "fit", "fit_on_engine", "weight", "levers", "drivers", "typical_cases", "bulletin", "reproduce"]


def _plan(plan: Plan | str | Path | None) -> Plan:
    return plan if isinstance(plan, Plan) else load_plan(plan)


def _instrument(instrument: Instrument | None) -> Instrument:
    return instrument if instrument is not None else load_instrument()


def ingest(survey: str | Path, workorders: str | Path | None = None, *,
           instrument: Instrument | None = None) -> IngestResult:
    """``research ingest``: validate, pseudonymise and derive fields.

    Returns
    -------
    :class:`research.ingestion.run.IngestResult`: ``responses`` and ``workorders`` (canonical frames,
    ``docs/input_contract.md``), ``rejected`` (one row per rejected source row with its reason)
    and ``report`` (the reconciliation, as ``ingest_report.json``).
    """
    from research.ingestion.run import ingest as run

    return run(Path(survey), Path(workorders) if workorders is not None else None,
               instrument=_instrument(instrument))


def fit(responses: pd.DataFrame, *, plan: Plan | str | Path | None = None, thresholds: bool = True,
        instrument: Instrument | None = None) -> dict[str, pd.DataFrame]:
    """``research fit``: every model of the plan, predictions, marginal effects, group
    comparisons, reliability and (unless ``thresholds`` is False) the tolerance thresholds.

    Returns
    -------
    dict of frames keyed as the files of ``fit/`` (``estimates``, ``model_fit``,
    ``predictions``, ``marginal_effects``, ``thresholds``, ...).
    """
    from research.models.run import fit_plan
    from research.pipeline.reproduce import one_blas_thread

    with one_blas_thread():
        return fit_plan(responses, plan=_plan(plan), instrument=_instrument(instrument), thresholds=thresholds)


def fit_on_engine(data: pd.DataFrame | str | Path, *, engine: str = "duckdb",
                  plan: Plan | str | Path | None = None, instrument: Instrument | None = None,
                  thresholds: bool = True, **config) -> dict[str, pd.DataFrame]:
    """``research fit --engine ENGINE``: the plan's models from sums computed by an engine.

    ``data``: canonical responses in memory, or the folder of a dataset (``research ingest
    --dataset``), which DuckDB and Spark read out of core. ``engine``: ``pandas``, ``duckdb`` or
    ``spark`` (``config``: DuckDB's ``threads``/``memory_limit``, Spark's ``master``).

    Returns the tables of :func:`research.models.run_engine.fit_plan_on`: ``estimates``,
    ``model_fit``, ``predictions``, ``marginal_effects``, ``station_effects``, ``brant``,
    ``subcause_ranks``, the group comparisons and scale checks from counts (``comparisons``,
    ``pairwise``, ``association``, ``reliability``, ``item_statistics``, ``item_correlations``)
    the tolerance thresholds (``thresholds``, ``threshold_curves``; without them when
    ``thresholds`` is False) and ``notes``, equal to :func:`fit`'s to 1e-9 relative
    (docs/architecture.md, "Engines") except, above 200,000 complete rows, the thresholds'
    intervals and bands, from one-step bootstrap replicates (their ``method`` says so).

    Example::

        api.fit_on_engine("build/dataset", engine="duckdb")["estimates"]
    """
    from research.engines import DatasetSource, FrameSource, open_engine
    from research.models.run_engine import fit_plan_on

    source = FrameSource(data) if isinstance(data, pd.DataFrame) else DatasetSource(Path(data))
    eng = open_engine(engine, **config)
    try:
        return fit_plan_on(eng, source, plan=_plan(plan), instrument=_instrument(instrument), thresholds=thresholds)
    finally:
        eng.close()


def weight(responses: pd.DataFrame, workorders: pd.DataFrame, *, plan: Plan | str | Path | None = None,
           instrument: Instrument | None = None) -> dict[str, pd.DataFrame]:
    """``research weight``: response rates, non-response weights (the plan's ``weighting``),
    design-based estimates and the non-response sensitivity analyses.

    Returns
    -------
    dict of frames keyed as the files of ``weights/`` (``response_rates``,
    ``respondent_weights``, ``weight_summary``, ``weighted_estimates``, ...).
    """
    from research.pipeline.reproduce import one_blas_thread, respondent_weighting

    with one_blas_thread():
        return respondent_weighting(responses, workorders, plan=_plan(plan), instrument=_instrument(instrument))[0]


def levers(responses: pd.DataFrame, workorders: pd.DataFrame | None = None, *,
           plan: Plan | str | Path | None = None, instrument: Instrument | None = None) -> dict[str, pd.DataFrame]:
    """The levers of ``reproduce`` (stage 4): the plan's improvement scenarios and the
    associations of the post-treatment answers, weighted to the work-order population when
    ``workorders`` are given (as ``reproduce`` does), unweighted otherwise.

    Returns
    -------
    ``{"levers": ..., "associations": ...}`` as ``strategy/levers.csv`` and ``associations.csv``.
    """
    from research.pipeline.reproduce import lever_results, one_blas_thread, respondent_weighting

    plan, instrument = _plan(plan), _instrument(instrument)
    with one_blas_thread():
        _, weights, calibration = respondent_weighting(responses, workorders, plan=plan, instrument=instrument)
        return lever_results(responses, plan=plan, instrument=instrument, weights=weights, calibration=calibration)


def drivers(responses: pd.DataFrame, workorders: pd.DataFrame | None = None, *,
            plan: Plan | str | Path | None = None, instrument: Instrument | None = None) -> dict[str, pd.DataFrame]:
    """The key drivers of ``reproduce`` (stage 4), weighted as :func:`levers`.

    Returns
    -------
    ``{"importance": ..., "ipa": ...}`` as ``strategy/drivers_importance.csv`` and ``drivers_ipa.csv``.
    """
    from research.pipeline.reproduce import driver_results, one_blas_thread, respondent_weighting

    plan = _plan(plan)
    with one_blas_thread():
        _, weights, _ = respondent_weighting(responses, workorders, plan=plan, instrument=_instrument(instrument))
        return driver_results(responses, plan=plan, weights=weights)


def typical_cases(responses: pd.DataFrame, *, plan: Plan | str | Path | None = None) -> dict[str, pd.DataFrame]:
    """典型案例分析 of ``reproduce`` (stage 4), with the plan's ``typical_cases`` section: per cause
    group the words that set dissatisfied customers' (masked) comments apart from satisfied ones
    (weighted log-odds with an informative Dirichlet prior, z-scores) and the dissatisfied comments
    closest to those words. Unweighted (they describe the comments written).

    Returns
    -------
    ``{"typical_terms": ..., "typical_cases": ...}`` as ``strategy/typical_terms.csv`` and
    ``typical_cases.csv``.
    """
    from research.pipeline.stages import typical_results

    return typical_results(responses, plan=_plan(plan))


def bulletin(responses: pd.DataFrame, workorders: pd.DataFrame, *, period: str, at,
             plan: Plan | str | Path | None = None, instrument: Instrument | None = None) -> dict[str, pd.DataFrame]:
    """``research bulletin``'s tables for the day, ISO week or month holding ``at``, with the
    plan's ``conf_level`` and ``bulletin`` section.

    Returns
    -------
    dict of frames (``overview``, ``by_region``, ``by_station``, then ``out_of_control`` and
    ``recurrence`` for a week, ``ranking`` for a month, ``repeat_callers``), as the bulletin's CSVs.
    """
    from research.bulletin import bulletin_tables

    plan = _plan(plan)
    return bulletin_tables(responses, workorders, period=period, at=at, instrument=_instrument(instrument),
                           conf_level=plan.conf_level, spec=plan.bulletin)


def reproduce(survey: str | Path | None = None, workorders: str | Path | None = None,
              out: str | Path | None = None, *, plan: str | Path | None = None, reps: int | None = None,
              dataset: str | Path | None = None, engine: str = "auto") -> dict:
    """``research reproduce``: every stage into ``out`` (default ``build/``) from the exports
    (default the committed sample) or from ``dataset`` (a folder of ``research ingest --dataset``),
    the fit's models through ``engine`` (``auto``, ``pandas``, ``duckdb``, ``spark``). Returns the
    manifest.

    Example::

        api.reproduce(dataset="build/dataset", engine="duckdb", out="build/duckdb")["engine"]
    """
    from research import paths
    from research.pipeline.reproduce import reproduce as run

    if survey is None and dataset is None:
        survey, workorders = paths.sample_survey(), workorders or paths.sample_workorders()
    return run(Path(survey) if survey is not None else None, Path(workorders) if workorders is not None else None,
               Path(out) if out is not None else paths.build_dir(),
               plan_path=Path(plan) if plan is not None else None, reps=reps,
               dataset=Path(dataset) if dataset is not None else None, engine=engine)
