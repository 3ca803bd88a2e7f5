"""The weight stage from counts: response rates, raking and design-based estimates of a dataset
whose rows never reach pandas (``research weight --dataset DIR``; issue 15, docs/architecture.md,
"Engines").

Why counts are enough (exact, no approximation): every quantity of ``funnel``,
``response_rates``, ``weight_summary``, ``weight_margins`` and ``weighted_estimates`` is a sum
over rows of a function of a few categorical columns: the cluster (station), the margin
variables (region, sub-cause, handling band), the domains (cause group, sub-cause, region) and
one outcome at a time (its missing value included). Raked, post-stratified and equal weights are
functions of the margins' cell, so every respondent of a cell has the same weight. So the rows
are collapsed, through an engine (:mod:`research.engines`: pandas, DuckDB or Spark), to groups
with their row counts, and the row-level functions take those counts as multiplicities
(:func:`research.stats.weights.rake`, :func:`research.stats.weights.poststratify`,
:func:`research.stats.weight_diagnostics.margin_diagnostics`,
:meth:`research.stats.calibration.Calibration.from_frame`,
:func:`research.stats.design_based.svy_by`, :func:`.nonresponse.response_rates`): the tables are
those of :func:`research.representativeness.run.analyse_representativeness` on the same rows, to
rounding (tested to 1e-9 relative on the committed sample).

The collapses: the work orders once by (station, region, cause group, sub-cause, survey status)
and the responses once by (station, region, cause group, sub-cause), each with the counts per
handling band (sums of band indicators of the hours, the bands of
:func:`research.stats.bands.handling_band`: the same edges, right-closed, 0 h in the first), then
the responses once per outcome with the outcome as a key; an outcome's missing count per group
is the group's count less its answered counts. At national scale that is a few hundred thousand
groups (stations x sub-causes x bands x answer levels) whatever the number of rows.

The response-propensity logit of the work orders, the non-response sensitivity tables
(``weighting_methods`` with ipw, ``delta_range``, ``tipping_deltas``:
:mod:`.at_scale_sensitivity`, :mod:`.at_scale_methods`) and the survey-weighted models come from
the engine's sums too (:mod:`research.models.aggregate.propensity`,
:mod:`research.models.aggregate.svy`, the weights of ``weight_cells`` joined to the groups).
The same on every engine (pandas, DuckDB, Spark: the joins of the respondents and the work
orders are written for each, :func:`.at_scale_sensitivity.sources`); with a ``trim_cap`` the
sensitivity tables are not computed (the cap makes each ipw weight a capped function of its row).

``ipw`` as the plan's method (:mod:`.at_scale_ipw`): the weights ``k / p_i`` vary with every
respondent's hours, so they are engine expressions rather than cell weights: ``weight_summary``,
``weight_margins`` and ``weighted_estimates`` come from sums (and the smallest and largest weight
per level from :meth:`research.engines.base.Engine.extremes`); ``weight_cells`` is not written
(``notes`` gives ``k``; ``b`` is in ``propensity_estimates``); the survey-weighted models weight
every row by the same expression (:func:`research.models.aggregate.svy.svy_models_on` with
``ipw``). Not with a ``trim_cap``, or the band or the cluster as a domain (exit 2 before any
pass).

Not on this path: ``respondent_weights`` (one row per respondent: 20 million rows at scale;
``weight_cells`` gives the weight of every cell instead, which is every respondent's weight).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.config.plan import Plan, WeightingSpec
from research.engines import Engine, Source
from research.engines.expr import Expr, col, fn
from research.errors import InputError
from research.representativeness.nonresponse import funnel_of_counts, response_rates
from research.representativeness.run import (ESTIMATE_VARIABLES, OUTPUTS, RATE_VARIABLES, SUMMARY_VARIABLES,
                                             coded_domains, estimates_of, finish_estimates, make_weights,
                                             weight_tables)
from research.stats.bands import band_labels
from research.stats.design_based import Calibration

Progress = Callable[[str], None]

#: weighting methods whose weights are functions of categorical cells (computable from counts; ``ipw``
#: comes from the engine's sums, :mod:`.at_scale_ipw`)
METHODS = ("rake", "poststratify", "none")
#: the tables the dataset path writes (plus ``notes``)
OUTPUTS_AT_SCALE = ("funnel", "response_rates", "weight_summary", "weight_margins", "weight_cells",
                    "weighted_estimates")
#: tables of the row path that the dataset path does not compute
NOT_AT_SCALE = tuple(k for k in OUTPUTS if k not in OUTPUTS_AT_SCALE)
BAND = "handling_band"
#: respondents per row of a collapsed frame
COUNT = "n_respondents"


def _check_method(spec: WeightingSpec) -> None:
    """InputError for a weighting method this path cannot give: ``ipw`` where
    :func:`.at_scale_ipw.not_with_ipw` says why (a ``trim_cap``, the band or the cluster as a
    domain; its rows of ``weighting_methods`` do not depend on the method), an unknown method."""
    from research.representativeness.at_scale_ipw import not_with_ipw

    why = not_with_ipw(spec) if spec.method == "ipw" else ""
    if why or spec.method not in (*METHODS, "ipw"):
        raise InputError(f"weighting method {spec.method!r} is not available from sums here"
                         f"{': ' + why if why else ''}; set the plan's weighting.method to one of "
                         f"{', '.join(METHODS)} (weighting_methods.csv still has the ipw rows), or run "
                         "'research weight --data DIR' on an ingest folder")


def band_measures(bands_hours) -> dict[str, Expr]:
    """Indicators of the handling-time bands of the hours ``col("h")``, named ``b0, b1, ...``:
    ``[0, e1]``, ``(e1, e2]``, ..., ``(ek, inf)`` (:func:`research.stats.bands.handling_band`'s
    bands; negative hours are in none)."""
    edges = [0.0, *map(float, bands_hours)]
    h = col("h")
    out = {}
    for j in range(len(edges)):
        lower = fn("ge", h, 0.0) if j == 0 else fn("gt", h, edges[j])
        out[f"b{j}"] = lower * fn("le", h, edges[j + 1]) if j + 1 < len(edges) else lower
    return out


def collapse(engine: Engine, source: Source, keys: tuple[str, ...], bands_hours, what: str,
             complete: bool = True) -> tuple[pd.DataFrame, int]:
    """Rows of ``source`` counted by ``keys`` and handling band: one row per group and band with
    ``n`` rows (groups and bands without rows left out), the band an ordered categorical as
    :func:`research.stats.bands.handling_band` makes it; and the source's row count.

    ``complete``: every row must have every key and a handling time of 0 h or more (InputError
    naming ``what`` otherwise: such rows cannot be weighted). Else rows without a key (an outcome
    left unanswered) are left out, as the engine's complete cases.
    """
    prepared = engine.prepare(source, keys, {"h": col("v_handling_hours")}, numeric=("handling_hours",))
    sums = engine.sums(prepared, band_measures(bands_hours))
    counts = np.rint(sums.to_numpy(dtype=float)).astype(np.int64)
    groups = prepared.groups
    if complete and (prepared.n_rows != prepared.total_rows
                     or not np.array_equal(counts.sum(axis=1), groups["n"].to_numpy())):
        banded = int(counts.sum())
        raise InputError(f"{what}: {prepared.total_rows - banded:,} of {prepared.total_rows:,} row(s) have no "
                         f"{', '.join(keys)} or no handling time of 0 h or more; they cannot be weighted")
    labels = band_labels(bands_hours)
    g_idx, b_idx = np.nonzero(counts)
    out = groups.loc[g_idx, list(keys)].reset_index(drop=True)
    out[BAND] = pd.Categorical.from_codes(b_idx, categories=list(labels), ordered=True)
    out["n"] = counts[g_idx, b_idx]
    return out, prepared.total_rows


def _with_missing(base: pd.DataFrame, answered: pd.DataFrame, keys: list[str], y: str) -> pd.DataFrame:
    """``answered`` (groups with the outcome ``y`` as a key) and, per group of ``base``, a row with
    ``y`` missing counting the group's rows that ``answered`` lacks."""
    got = answered.groupby(keys, observed=True, sort=False)["n"].sum()
    total = base.set_index(keys)["n"]
    missing = total - got.reindex(total.index, fill_value=0)
    if (missing < 0).any():  # pragma: no cover - the engines count the same rows
        raise RuntimeError(f"{y}: more answered rows than rows in a group")
    miss = missing[missing > 0].rename("n").reset_index()
    miss[y] = np.nan
    frame = pd.concat([answered.assign(**{y: answered[y].astype(float)}), miss], ignore_index=True)
    return frame


def _variables(spec: WeightingSpec) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(the calibration variables of the method, the responses' keys, the work orders' keys),
    the handling band left out of the keys (it comes from the hours). The keys cover every method's
    variables, so one count serves rake, poststratify and none alike."""
    cal = spec.poststrata if spec.method == "poststratify" else spec.margins
    both = [*spec.margins, *spec.poststrata]
    resp = tuple(v for v in dict.fromkeys([spec.cluster, *both, *spec.domains, *spec.sensitivity_domains,
                                           *SUMMARY_VARIABLES]) if v != BAND)
    pop = tuple(v for v in dict.fromkeys([*RATE_VARIABLES, *both]) if v != BAND) + ("survey_status",)
    return tuple(cal), resp, pop


@dataclass
class Counts:
    """What :func:`count_rows` asks of an engine: the work orders by ``pop_keys`` and band
    (``population``, column ``n``), the responses by ``resp_keys`` and band (``respondents``) and,
    per outcome, by those and the outcome, a missing outcome a group of its own (``outcomes``);
    the two tables' row counts. Small: groups, not rows."""

    population: pd.DataFrame
    respondents: pd.DataFrame
    outcomes: dict[str, pd.DataFrame]
    work_orders: int
    responses: int
    resp_keys: tuple[str, ...]
    engine: str = ""


def count_rows(engine: Engine, responses: Source, workorders: Source, spec: WeightingSpec,
               progress: Progress | None = None) -> Counts:
    """The engine's passes (see the module docstring): the work orders once, the responses once and
    once per outcome of :data:`ESTIMATE_VARIABLES`. InputError for rows without a key or hours."""
    say = progress or (lambda m: None)
    _, resp_keys, pop_keys = _variables(spec)
    t0 = time.perf_counter()
    pop, n_wo = collapse(engine, workorders, pop_keys, spec.bands_hours, "work orders")
    base, n_accepted = collapse(engine, responses, resp_keys, spec.bands_hours, "survey responses")
    say(f"counted {n_wo:,} work orders in {len(pop):,} groups and {n_accepted:,} responses in {len(base):,} "
        f"groups in {time.perf_counter() - t0:.1f} s")
    outcomes = {}
    for y in ESTIMATE_VARIABLES:
        t0 = time.perf_counter()
        answered, _ = collapse(engine, responses, (*resp_keys, y), spec.bands_hours, "survey responses",
                               complete=False)
        outcomes[y] = _with_missing(base, answered, [*resp_keys, BAND], y)
        say(f"counted {y} in {len(outcomes[y]):,} groups in {time.perf_counter() - t0:.1f} s")
    return Counts(pop, base, outcomes, n_wo, n_accepted, resp_keys, engine.name)


def analyse_at_scale(engine: Engine, responses: Source, workorders: Source, *, plan: Plan,
                     progress: Progress | None = None, instrument=None,
                     models: bool = True) -> dict[str, pd.DataFrame]:
    """The weight stage's tables from per-group counts (see the module docstring):
    :func:`count_rows` through ``engine``, then :func:`tables_from_counts`.

    Parameters
    ----------
    engine : where the rows are counted (:func:`research.engines.open_engine`).
    responses, workorders : the two tables (e.g. ``DatasetSource(folder)`` and
        ``DatasetSource(folder, "workorders")``).
    plan : its ``weighting`` section (method ``rake``, ``poststratify``, ``none`` or ``ipw``).

    Returns
    -------
    ``funnel``, ``response_rates``, ``weight_summary``, ``weight_margins``, ``weight_cells`` (the
    weight of every cell of the calibration variables; not with ipw), ``weighted_estimates`` (as
    :func:`research.representativeness.run.analyse_representativeness` on the same rows) and
    ``notes`` (``step``, ``note``); with ``models``, the propensity model, the sensitivity tables
    and the survey-weighted models.

    Raises
    ------
    InputError
        ``ipw`` where :func:`.at_scale_ipw.not_with_ipw` says why (before any pass), rows without
        a key or a handling time, and what :func:`research.representativeness.run.make_weights` refuses.
    """
    _check_method(plan.weighting)
    counts = count_rows(engine, responses, workorders, plan.weighting, progress)
    out = tables_from_counts(counts, plan, progress)
    if models:
        out.update(_models_from_sums(engine, responses, workorders, plan, instrument, out, progress, counts))
    return out


def _models_from_sums(engine: Engine, responses: Source, workorders: Source, plan: Plan, instrument,
                      out: dict[str, pd.DataFrame], progress: Progress | None,
                      counts: Counts | None = None) -> dict[str, pd.DataFrame]:
    """The response-propensity logit on the work orders, the non-response sensitivity tables
    (:func:`research.representativeness.at_scale_sensitivity.sensitivity_on`, with the same
    propensity fit, when ``counts`` are given) and the survey-weighted models with the weights of
    ``out["weight_cells"]`` (:func:`research.models.aggregate.svy.svy_models_on`), all from the
    engine's sums, the same on every engine; ``notes`` rewritten to say what is still not
    computed: the sensitivity tables with a plan that :func:`.at_scale_sensitivity.not_from_sums`
    names."""
    from research.config.instrument import load_instrument
    from research.models.aggregate.svy import svy_models_on
    from research.representativeness.at_scale_sensitivity import not_from_sums, open_sums, sensitivity_on

    say = progress or (lambda m: None)
    instrument = instrument if instrument is not None else load_instrument()
    spec = plan.weighting
    got: dict[str, pd.DataFrame] = {}
    left = [k for k in NOT_AT_SCALE if k != "respondent_weights"]
    t0 = time.perf_counter()
    opened = open_sums(engine, responses, workorders, plan=plan, instrument=instrument)
    got["propensity_estimates"], got["propensity_fit"] = opened.prop.tables(plan)
    say(f"response-propensity model from sums in {time.perf_counter() - t0:.1f} s")
    if spec.method == "ipw":
        from research.representativeness.at_scale_ipw import ipw_tables

        got.update(ipw_tables(engine, opened.respondents, opened.prop, counts, plan, opened.covariates, say))
    why = not_from_sums(spec)
    if counts is not None and not why:
        got.update(sensitivity_on(engine, responses, workorders, plan=plan, instrument=instrument,
                                  counts=counts, progress=say, opened=opened))
    if spec.method == "ipw":
        from research.representativeness.at_scale_ipw import IpwWeight, model_source

        weight = IpwWeight(opened.prop, plan, opened.covariates, float(got["ipw_scale"]["k"].iloc[0]))
        got.update(svy_models_on(engine, model_source(engine, responses, opened), plan=plan, instrument=instrument,
                                 weight_cells=None, progress=say, ipw=weight))
    else:
        cal_vars, _, _ = _variables(spec)
        cells = out["weight_cells"]
        cells = (cells[[*cal_vars, "weight"]] if cal_vars else cells[["weight"]].iloc[:1]).reset_index(drop=True)
        got.update(svy_models_on(engine, responses, plan=plan, instrument=instrument, weight_cells=cells,
                                 progress=say))
    left = [k for k in left if k not in got]
    got["notes"] = _notes(engine.name, [(left, why)], ipw=got.pop("ipw_scale", None))
    return got


def tables_from_counts(counts: Counts, plan: Plan, progress: Progress | None = None) -> dict[str, pd.DataFrame]:
    """:func:`analyse_at_scale`'s tables from the engine's counts (no engine needed here)."""
    say = progress or (lambda m: None)
    spec, conf = plan.weighting, plan.conf_level
    _check_method(spec)
    cal_vars, resp_keys, _ = _variables(spec)
    if resp_keys != counts.resp_keys:
        raise ValueError(f"counts by {counts.resp_keys}, the plan needs {resp_keys}")
    pop, base = counts.population, counts.respondents
    n_pop, n_base = pop["n"].to_numpy(), base["n"].to_numpy()
    out: dict[str, pd.DataFrame] = {}
    done = float(n_pop[(pop["survey_status"] == "completed").to_numpy()].sum())
    sat = counts.outcomes["sat_overall"]
    out["funnel"] = funnel_of_counts(float(counts.work_orders), done, float(counts.responses),
                                     float(sat.loc[sat["sat_overall"].notna(), "n"].sum()))
    out["response_rates"] = response_rates(pop, list(RATE_VARIABLES), conf_level=conf, count=n_pop)
    if spec.method == "ipw":  # per-respondent weights: from the engine's sums (analyse_at_scale)
        out["notes"] = _notes(counts.engine)
        return out
    weights, res, text = make_weights(base, pop, spec, count=n_base, population_count=n_pop)
    out.update(weight_tables(base, pop, spec, weights, res, text, count=n_base, population_count=n_pop))
    out["weight_cells"] = cells = _cells(base, weights, cal_vars)
    say(f"weights ({text}) of {len(cells):,} cells")
    parts = []
    for y, units in counts.outcomes.items():
        w = units[list(cal_vars)].merge(cells[[*cal_vars, "weight"]], on=list(cal_vars), how="left")["weight"]
        w, n = w.to_numpy(), units["n"].to_numpy()
        calibration = None if spec.method == "none" else Calibration.from_frame(
            units, cal_vars, w, spec.cluster, raking=spec.method == "rake", count=n)
        data = coded_domains(units[list(dict.fromkeys([spec.cluster, *spec.domains, y]))], spec.domains,
                             spec.cluster).assign(weight=w, **{COUNT: n})
        parts += estimates_of(data, y, spec.domains, spec.cluster, conf, calibration, count=COUNT)
    out["weighted_estimates"] = finish_estimates(parts)
    out["notes"] = _notes(counts.engine)
    return out


def _cells(units: pd.DataFrame, weights: np.ndarray, variables: tuple[str, ...]) -> pd.DataFrame:
    """``weight_cells``: one row per cell of ``variables`` (sorted) with its ``respondents``, their
    ``weight`` (work orders per respondent) and ``weighted`` (respondents x weight)."""
    frame = units[list(variables)].assign(respondents=units["n"].to_numpy(), weight=weights)
    cells = frame.groupby(list(variables), observed=True, sort=True).agg(
        respondents=("respondents", "sum"), weight=("weight", "first"), top=("weight", "max"),
        bottom=("weight", "min"))
    if (cells["top"] - cells["bottom"] > 1e-12 * cells["weight"]).any():  # pragma: no cover - cell functions
        raise RuntimeError("weights differ within a cell")
    cells = cells.drop(columns=["top", "bottom"]).reset_index()
    cells["weighted"] = cells["respondents"] * cells["weight"]
    return cells


def _notes(engine: str, missing: list[tuple[list[str], str]] | None = None,
           ipw: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the dataset path computed and how, and what it left out (``missing``: the tables left
    out and why, default every model table: they need the model passes); ``ipw``: the ipw
    weights' scale (:func:`.at_scale_ipw.ipw_tables`), when they are the method."""
    if missing is None:
        missing = [([k for k in NOT_AT_SCALE if k != "respondent_weights"],
                    "they need the model passes (analyse_at_scale with models=True)")]
    rows = [
        {"step": "engine", "note": f"counts by group through the {engine} engine; the tables equal those of "
                                   "'research weight --data' on the same rows (sums of the same terms)"},
        {"step": "respondent_weights", "note": "not written: one row per respondent does not scale; every "
                                               "respondent of a cell of weight_cells has that cell's weight"}]
    if ipw is not None:
        rows[1]["note"] = "not written: one row per respondent does not scale"
        rows.append({"step": "weight_cells", "note": "not written: an ipw weight varies with the respondent's hours; "
                     f"it is k / expit(x'b), b in propensity_estimates.csv, k = {float(ipw['k'].iloc[0])!r} "
                     "(work orders per unit of 1/p)"})
    rows += [{"step": "not computed", "note": ", ".join(left) + (f": {why}" if why else "")}
             for left, why in missing if left]
    return pd.DataFrame(rows, columns=["step", "note"])


def weigh_on_engine(name: str, plan: Plan, out, *, dataset=None, folder=None,
                    progress: Progress | None = None) -> tuple[dict[str, pd.DataFrame], dict]:
    """``research weight --dataset DIR`` (or an ingest ``folder`` with ``--engine duckdb|spark``):
    :func:`analyse_at_scale` through the engine ``name``, its tables written to ``out`` as CSV with
    ``engine.json``. Returns (the tables, the paths written by name).

    InputError: a method other than :data:`METHODS` or a usable ipw (before any engine starts), a folder that is
    not a dataset or holds no work orders, Spark without a Java runtime."""
    import json
    from pathlib import Path

    from research.engines import DatasetSource, FrameSource, open_engine
    from research.representativeness.run import write_representativeness
    from research.safeio import atomic_write_text

    _check_method(plan.weighting)
    if name == "spark":
        from research.engines.spark_engine import java_available

        if not java_available():
            raise InputError("--engine spark needs a Java runtime (17 or newer): none on the PATH or in JAVA_HOME")
    if dataset is not None:
        responses, workorders = DatasetSource(Path(dataset)), DatasetSource(Path(dataset), "workorders")
        responses.files(), workorders.files()  # InputError now for a folder that is not a dataset
    else:
        from research.ingestion.readers import read_ingested

        responses = FrameSource(read_ingested(Path(folder) / "responses.parquet", "responses"))
        workorders = FrameSource(read_ingested(Path(folder) / "workorders.parquet", "work-order"))
    engine = open_engine(name)
    try:
        results = analyse_at_scale(engine, responses, workorders, plan=plan, progress=progress)
    finally:
        engine.close()
    written = write_representativeness(results, out)
    written["engine"] = atomic_write_text(Path(out) / "engine.json", json.dumps(
        {"engine": name, "source": "dataset" if dataset is not None else "ingest", "from_counts": True,
         "method": plan.weighting.method, "tables": list(results)}, indent=2) + "\n")
    return results, written
