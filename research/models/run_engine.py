"""``research fit --engine duckdb|spark``: the plan's models fitted through an engine, from sums.

:func:`fit_plan_on` fits every model of the plan with :func:`research.models.aggregate.fit_model_on`
and returns the tables of :func:`research.models.run.fit_plan` that sums give: ``estimates``,
``model_fit``, ``predictions``, ``marginal_effects`` (:mod:`research.models.aggregate.predict`),
``station_effects`` (the mixed model's BLUPs), the family steps of the row path
(:data:`research.models.families.FAMILIES`) from sums: ``brant`` (:mod:`research.models.aggregate.brant`)
and ``subcause_ranks`` (:mod:`research.models.aggregate.ranks`), the group comparisons and scale
checks from counts (``comparisons``, ``pairwise``, ``association``, ``reliability``,
``item_statistics``, ``item_correlations``: :mod:`research.models.aggregate.comparisons`), the
tolerance thresholds (``thresholds``, ``threshold_curves``:
:mod:`research.models.aggregate.threshold_table`: the row path's on up to 200,000 complete rows,
fetched; above, bootstrap replicates one-step, whose interval ends and bands differ from the row
path's by less than the bootstrap's Monte Carlo error, and its ``method`` says so) and ``notes``. Same estimates, standard errors, tests, ranks,
comparisons, point thresholds, curves and change points as the pandas path to 1e-9 relative
(tests/models/test_aggregate.py, tests/models/test_aggregate_rows.py,
tests/models/test_aggregate_comparisons.py, tests/models/test_aggregate_threshold_table.py).
"""

from __future__ import annotations

import time
from typing import Callable

import pandas as pd

from research.config.instrument import Instrument
from research.config.plan import Plan
from research.engines.base import Engine, Source
from research.errors import InputError, NotEstimable

#: the tables of research.models.run.fit_plan that this path does not compute (they need rows):
#: none since the thresholds are computed through the engine (kept for callers that read it)
ROW_TABLES: tuple[str, ...] = ()
#: the tables of research.models.run.fit_plan that this path computes from counts
#: (research.models.aggregate.comparisons)
COUNT_TABLES = ("comparisons", "pairwise", "association", "reliability", "item_statistics", "item_correlations")


def fit_plan_on(engine: Engine, source: Source, *, plan: Plan, instrument: Instrument,
                progress: Callable[[str], None] | None = None, thresholds: bool = True) -> dict[str, pd.DataFrame]:
    """Every model of ``plan`` on ``source`` through ``engine`` (see the module docstring);
    ``thresholds``: also the tolerance thresholds (when the plan has them), as
    :func:`research.models.run.fit_plan`'s.

    Raises InputError when no model could be fitted (each reason named)."""
    from research.models.aggregate import fit_model_on
    from research.models.tidy import tidy_estimates, tidy_fit

    say = progress or (lambda message: None)
    from research.models.aggregate.predict import marginal_effects_from_sums, predictions_from_sums

    estimates, fits, effects, preds, slopes, notes = [], [], [], [], [], []
    steps: dict[str, list[pd.DataFrame]] = {"brant": [], "subcause_ranks": []}
    for spec in plan.models:
        t0 = time.perf_counter()
        try:
            fm = fit_model_on(engine, source, spec, plan=plan, instrument=instrument)
        except NotEstimable as exc:
            notes.append({"step": f"model {spec.name}", "note": f"not fitted: {exc}"})
            say(f"model {spec.name}: not fitted ({exc})")
            continue
        estimates.append(tidy_estimates(fm, plan.conf_level))
        fits.append(tidy_fit(fm))
        if "blups" in fm.extra:
            effects.append(fm.extra["blups"].assign(model=spec.name))
        if _predictable(fm):
            preds.append(predictions_from_sums(fm, parent=instrument.parent, grid_hours=plan.grid_hours,
                                               threshold=instrument.satisfied_threshold, conf_level=plan.conf_level,
                                               reference_levels=plan.reference_levels, instrument=instrument))
            slopes.append(marginal_effects_from_sums(fm, parent=instrument.parent, multiplier=plan.time_multiplier,
                                                     threshold=instrument.satisfied_threshold,
                                                     conf_level=plan.conf_level))
        else:
            notes.append({"step": f"predictions {spec.name}", "note": "not computed: the family defines no "
                          "predictions, or the model has no cause or handling-time term"})
        if fm.stats.get("notes"):
            notes.append({"step": f"model {spec.name}", "note": fm.stats["notes"]})
        for key, table, more in _family_steps(fm, plan, instrument):
            steps.setdefault(key, []).append(table)
            notes += more
        say(f"model {spec.name} ({spec.family}, {fm.stats['nobs']:,} rows, {len(fm.frame):,} groups) "
            f"by {engine.name} in {time.perf_counter() - t0:.1f} s")
    if not estimates:
        raise InputError("no model of the plan could be fitted: " + "; ".join(n["note"] for n in notes))
    compared, more = _compared(engine, source, plan, say)
    notes += more
    threshold_tables = {}
    if thresholds and plan.thresholds is not None:
        threshold_tables, more = _thresholds(engine, source, plan, instrument, say)
        notes += more
    notes.append({"step": "engine", "note": (
        f"fitted by the {engine.name} engine from sums over groups of rows, group comparisons and "
        "reliability from counts" + ("; thresholds' bootstrap replicates one-step from per-station totals"
                                     if _one_step(threshold_tables) else ""))})
    return {"estimates": pd.concat(estimates, ignore_index=True),
            "model_fit": pd.concat(fits, ignore_index=True),
            "predictions": pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(),
            "marginal_effects": pd.concat(slopes, ignore_index=True) if slopes else pd.DataFrame(),
            "station_effects": pd.concat(effects, ignore_index=True) if effects else pd.DataFrame(),
            **{key: pd.concat(parts, ignore_index=True) if parts else pd.DataFrame() for key, parts in steps.items()},
            **compared, **threshold_tables, "notes": pd.DataFrame(notes, columns=["step", "note"])}


def _one_step(tables: dict) -> bool:
    """Whether the thresholds' replicates were one-step (data above the exact bound; their method
    says so), not refitted on rows fetched through the engine."""
    table = tables.get("thresholds")
    return table is not None and bool(len(table)) and bool(table["method"].str.contains("one-step").any())


def _thresholds(engine: Engine, source: Source, plan: Plan, instrument: Instrument, say):
    """The tolerance thresholds through the engine (``thresholds``, ``threshold_curves``) and their
    notes; a note instead when they cannot be estimated (as :func:`research.models.run._thresholds`)."""
    from research.models.aggregate.threshold_table import thresholds_on
    from research.models.run import _reason

    t0 = time.perf_counter()
    try:
        th = thresholds_on(engine, source, plan=plan, instrument=instrument, progress=say)
    except NotEstimable as exc:
        say(f"tolerance thresholds: skipped ({_reason(exc, 'thresholds')})")
        return {}, [{"step": "thresholds", "note": f"not computed: {_reason(exc, 'thresholds')}"}]
    say(f"tolerance thresholds by {engine.name} in {time.perf_counter() - t0:.1f} s")
    return ({"thresholds": th["thresholds"], "threshold_curves": th["curves"]},
            [{"step": "thresholds", "note": note} for note in th["notes"]])


def _compared(engine: Engine, source: Source, plan: Plan, say) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """The group comparisons and scale checks of :func:`research.models.run.fit_plan` from the
    engine's counts (:mod:`research.models.aggregate.comparisons`), with their notes."""
    from research.models.aggregate.comparisons import count_on, tables_from_counts

    t0 = time.perf_counter()
    tables, notes = tables_from_counts(count_on(engine, source), plan.conf_level)
    say(f"group comparisons and reliability from counts by {engine.name} in {time.perf_counter() - t0:.1f} s")
    return tables, notes


def _family_steps(fm, plan: Plan, instrument: Instrument):
    """The row path's family steps (:data:`research.models.families.FAMILIES`) from sums:
    ``(table key, table, notes)`` for each; the station effects come with the fit (its BLUPs)."""
    from research.models.aggregate.brant import brant_step
    from research.models.aggregate.ranks import subcause_ranks_from_sums
    from research.models.families import family_of

    for step in family_of(fm.spec.family, fm.spec.name).steps:
        if step.label == "Brant test":
            tables, notes = brant_step(fm)
            yield "brant", tables["brant"], notes
        elif step.label == "sub-cause ranks":
            yield "subcause_ranks", subcause_ranks_from_sums(
                fm, parent=instrument.parent, threshold=instrument.satisfied_threshold,
                reference_levels=plan.reference_levels, instrument=instrument, conf_level=plan.conf_level), []


def _predictable(fm) -> bool:
    """As research.models.run: a family with predictions, and cause and handling-time terms."""
    from research.models.families import family_of

    cols = fm.frame.columns
    return (family_of(fm.spec.family, fm.spec.name).predict is not None
            and ("cause_l1" in cols or "cause_l2" in cols) and "handling_hours" in cols)
