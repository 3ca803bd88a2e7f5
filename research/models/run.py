"""Fit the whole analysis plan: every model, its predictions and marginal effects,
the proportional-odds check, tolerance thresholds, group comparisons and the
scale's reliability. Returns tidy frames; :func:`write_results` writes them as CSV.

Output tables (file name = key + ``.csv``):

``estimates``          every coefficient, cutpoint and variance component of every model
``model_fit``          one row per model: nobs, loglik, aic, bic, df, ...
``predictions``        average adjusted predictions per sub-cause and cause group, and grids
``marginal_effects``   effect of multiplying handling time, per cause group
``brant``              proportional-odds test per term, for each ordinal model
``thresholds``         tolerance threshold per cause group (hours) with bootstrap CI
``threshold_curves``   the spline curves behind the thresholds, with bands
``comparisons``        Welch ANOVA and Kruskal-Wallis across cause groups and sub-causes
``pairwise``           Games-Howell pairs with Hedges' g and Holm-adjusted p
``association``        satisfied x cause group: chi-square and Cramér's V
``reliability``        Cronbach's alpha of the four items with CI
``item_statistics``    item means, item-rest correlations, alpha if dropped
``item_correlations``  pairwise Pearson correlations of the items
``station_effects``    BLUPs of the mixed model's station intercepts
``subcause_ranks``     sub-causes ranked on the logit's average adjusted satisfied rate, with
                       simulated 95% intervals on the ranks (:mod:`research.models.ranks`)
``notes``              anything the run had to adapt (a reference level absent, groups left out,
                       a model or test the data cannot support, skipped)

Data that cannot support one analysis (a single station for the mixed model, an outcome taking
one value, too few rows, a singular Brant covariance) skip that analysis with a note; a single
station makes the clustered models fall back to model-based standard errors, with a note
(:func:`research.models.fit.single_cluster_fallback`); the run stops with an
:class:`~research.errors.InputError` only when no model of the plan can be fitted at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from research.errors import InputError, NotEstimable
from research.config.instrument import Instrument, load_instrument
from research.config.plan import Plan, load_plan
from research.models.families import FAMILIES, family_of
from research.models.fit import fit_model
from research.models.fitted import FittedModel
from research.models.predict import marginal_effects, predictions
from research.models.tidy import tidy_estimates, tidy_fit

Progress = Callable[[str], None]
#: optional survey columns (docs/input_contract.md): a model using one the export lacks is skipped with a note
OPTIONAL_VARIABLES = ("resolved", "repeat")


def absent_optional(spec, responses: pd.DataFrame) -> list[str]:
    """The optional export columns (:data:`OPTIONAL_VARIABLES`) a model uses that the export lacks
    (absent or every value missing): such a model cannot be fitted."""
    return [v for v in spec.variables() if v in OPTIONAL_VARIABLES
            and (v not in responses.columns or responses[v].notna().sum() == 0)]


def fit_plan(responses: pd.DataFrame, *, plan: Plan | None = None, instrument: Instrument | None = None,
             progress: Progress | None = None, thresholds: bool = True) -> dict[str, pd.DataFrame]:
    """Fit everything the plan declares on canonical responses.

    Parameters
    ----------
    responses : canonical responses (``responses.parquet``).
    plan, instrument : default: the committed plan and instrument.
    progress : called with a message (and seconds) as each step ends.
    thresholds : run the tolerance-threshold analysis (its bootstrap is the slow part).

    Returns
    -------
    dict of tidy DataFrames, keyed as in the module docstring.

    Raises
    ------
    InputError
        No model of the plan could be fitted (each reason is named).
    """
    plan = plan if plan is not None else load_plan()
    instrument = instrument if instrument is not None else load_instrument()
    say = progress or (lambda message: None)
    out, skipped = _fit_models(responses, plan, instrument, say)
    if thresholds and plan.thresholds is not None:
        skipped += _thresholds(responses, plan, instrument, progress, out)
    t0 = time.perf_counter()
    notes = skipped + [{"step": f"model {r['model']}", "note": r["notes"]} for _, r in out["model_fit"].iterrows()
                       if r.get("notes")]
    notes += _comparisons(responses, out)
    notes += _scale_checks(responses, out, plan.conf_level)
    out["notes"] = pd.DataFrame(notes, columns=["step", "note"])
    say(f"group comparisons and reliability in {time.perf_counter() - t0:.1f} s")
    return out


#: result tables every plan run has (empty when no model makes them); a family step may add others
MODEL_TABLES = ("estimates", "model_fit", "predictions", "marginal_effects", "brant", "station_effects",
                "subcause_ranks")


def _fit_models(responses: pd.DataFrame, plan: Plan, instrument: Instrument,
                say: Progress) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """Every model of the plan with its tables (:func:`_model_tables`): the tables of
    :data:`MODEL_TABLES` (and any a family step adds), each the models' rows one after the other,
    and the notes of models skipped. InputError when no model could be fitted."""
    parts: dict[str, list[pd.DataFrame]] = {k: [] for k in MODEL_TABLES}
    skipped: list[dict] = []
    for spec in plan.models:
        absent = absent_optional(spec, responses)
        if absent:  # an optional export column the export lacks: the model cannot be fitted
            skipped.append({"step": f"model {spec.name}",
                            "note": f"not fitted: the survey export has no {', '.join(absent)}"})
            say(f"model {spec.name}: skipped (no {', '.join(absent)} in the export)")
            continue
        t0 = time.perf_counter()
        try:
            fm = fit_model(spec, responses, plan=plan, instrument=instrument)
        except NotEstimable as exc:  # the data cannot support this model: the others still run
            skipped.append({"step": f"model {spec.name}", "note": f"not fitted: {_reason(exc, spec.name)}"})
            say(f"model {spec.name}: skipped ({_reason(exc, spec.name)})")
            continue
        tables, notes = _model_tables(fm, plan, instrument, say, fitted_in=time.perf_counter() - t0)
        for key, table in tables.items():
            parts.setdefault(key, []).append(table)
        skipped += notes
    if plan.models and not parts["model_fit"]:
        raise InputError(_none_fitted(skipped, len(plan.models)))
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in parts.items()}, skipped


def _model_tables(fm: FittedModel, plan: Plan, instrument: Instrument, say: Progress,
                  fitted_in: float) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """A fitted model's estimates, fit statistics, predictions, marginal effects and the steps of
    its family (:data:`research.models.families.FAMILIES`: sub-cause ranks, the Brant test,
    station effects). Predictions are left out, with a note, for a family without them.
    ``fitted_in``: seconds the fit took (for the progress line). Returns ``(tables by key, notes)``."""
    spec = fm.spec
    threshold = instrument.satisfied_threshold
    t1 = time.perf_counter()
    tables = {"estimates": tidy_estimates(fm, plan.conf_level),
              "model_fit": tidy_fit(fm)}  # timings go to progress, never into results
    notes: list[dict] = []
    family = family_of(spec.family, spec.name)
    # predictions and marginal effects are per cause group and over handling time
    lacks = [v for v, ok in (("cause_l2", "cause_l1" in fm.frame.columns or "cause_l2" in fm.frame.columns),
                             ("handling_hours", "handling_hours" in fm.frame.columns)) if not ok]
    if family.predict is None:
        notes.append({"step": f"predictions {spec.name}",
                      "note": f"not computed: the {spec.family} family defines no predictions"})
    elif lacks:
        notes.append({"step": f"predictions {spec.name}",
                      "note": f"not computed: the model has no {' or '.join(lacks)} term (predictions and "
                              "marginal effects are by cause group and handling time)"})
    else:
        tables["predictions"] = predictions(fm, parent=instrument.parent, grid_hours=plan.grid_hours,
                                            threshold=threshold, conf_level=plan.conf_level)
        tables["marginal_effects"] = marginal_effects(fm, parent=instrument.parent,
                                                      multiplier=plan.time_multiplier,
                                                      threshold=threshold, conf_level=plan.conf_level)
    timings = [f"fitted in {fitted_in:.1f} s", f"predictions in {time.perf_counter() - t1:.1f} s"]
    for step in family.steps:
        t2 = time.perf_counter()
        step_tables, step_notes = step.run(fm, plan, instrument)
        tables.update(step_tables)
        notes += step_notes
        timings.append(f"{step.label} in {time.perf_counter() - t2:.1f} s")
    say(f"model {spec.name}: " + ", ".join(timings))
    return tables, notes


def _thresholds(responses: pd.DataFrame, plan: Plan, instrument: Instrument, progress: Progress | None,
                out: dict[str, pd.DataFrame]) -> list[dict]:
    """The tolerance thresholds (:func:`research.models.thresholds.tolerance_thresholds`) into
    ``out["thresholds"]`` and ``out["threshold_curves"]``; returns their notes (a note instead when
    the data cannot support them)."""
    from research.models.thresholds import tolerance_thresholds

    say = progress or (lambda message: None)
    t0 = time.perf_counter()
    try:
        th = tolerance_thresholds(responses, plan=plan, instrument=instrument, progress=progress)
    except NotEstimable as exc:
        say(f"tolerance thresholds: skipped ({_reason(exc, 'thresholds')})")
        return [{"step": "thresholds", "note": f"not computed: {_reason(exc, 'thresholds')}"}]
    out["thresholds"], out["threshold_curves"] = th["thresholds"], th["curves"]
    say(f"tolerance thresholds in {time.perf_counter() - t0:.1f} s")
    return [{"step": "thresholds", "note": note} for note in th.get("notes", [])]


def _comparisons(responses: pd.DataFrame, out: dict[str, pd.DataFrame]) -> list[dict]:
    """Welch ANOVA, Kruskal-Wallis and Games-Howell pairs of the overall score across cause groups
    and sub-causes (:func:`research.stats.comparisons.compare_groups`) into ``out["comparisons"]``
    and ``out["pairwise"]``; returns the notes (groups left out, comparisons not computed)."""
    from research.stats.comparisons import compare_groups

    notes: list[dict] = []
    omnibus, pairwise = [], []
    for between in ("cause_l1", "cause_l2"):
        data, dropped = _comparable(responses, "sat_overall", between)
        data, alike = _varied(data, "sat_overall", between)
        notes += left_out_notes(between, dropped, alike)
        try:
            comp = compare_groups(data, dv="sat_overall", between=between)
        except ValueError as exc:  # e.g. a single group in the data: nothing to compare
            notes.append({"step": f"comparisons by {between}", "note": f"not computed: {exc}"})
            continue
        omnibus.append(comp["omnibus"])
        pairwise.append(comp["pairwise"])
    out["comparisons"] = pd.concat(omnibus, ignore_index=True) if omnibus else pd.DataFrame()
    out["pairwise"] = pd.concat(pairwise, ignore_index=True) if pairwise else pd.DataFrame()
    return notes


def left_out_notes(between: str, dropped: list[str], alike: list[str]) -> list[dict]:
    """The notes of the groups :func:`_comparisons` leaves out of the comparisons by ``between``:
    ``dropped`` (fewer than 2 answers, :func:`_comparable`), ``alike`` (no variance, :func:`_varied`)."""
    step = f"comparisons by {between}"
    notes = [{"step": step, "note": f"groups with fewer than 2 answers left out: {dropped}"}] if dropped else []
    if alike:
        notes.append({"step": step, "note": "groups whose answers are all the same (no variance, so the Welch "
                                            f"and Games-Howell weights are undefined) left out: {alike}"})
    return notes


#: the steps of :func:`_scale_checks`, by table (the step's name in ``notes``)
SCALE_STEPS = {"association": "association of satisfied and cause_l1", "reliability": "reliability",
               "item_statistics": "item statistics", "item_correlations": "item correlations"}


def _scale_checks(responses: pd.DataFrame, out: dict[str, pd.DataFrame], conf_level: float) -> list[dict]:
    """The association of satisfied with the cause group and the reliability of the items (its
    interval at ``conf_level``, the plan's) into ``out``; returns a note for each that could not be
    computed (its table then empty)."""
    from research.stats.comparisons import association
    from research.stats.reliability import cronbach_alpha, item_correlations, item_statistics

    notes: list[dict] = []
    # each of these needs two values of its variables and some variance; ValueError names the column
    for key, compute in (
            ("association", lambda: association(responses, row="satisfied", col="cause_l1")),
            ("reliability", lambda: cronbach_alpha(responses, conf_level=conf_level)),
            ("item_statistics", lambda: item_statistics(responses)),
            ("item_correlations", lambda: item_correlations(responses))):
        try:
            out[key] = compute()
        except ValueError as exc:
            out[key] = pd.DataFrame()
            notes.append({"step": SCALE_STEPS[key], "note": f"not computed: {exc}"})
    return notes


def _reason(exc: Exception, name: str) -> str:
    """An exception's message without a leading ``model <name>: `` (the note's step says it)."""
    text = str(exc)
    for prefix in (f"model {name}: ", f"{name}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _none_fitted(skipped: list[dict], n_models: int) -> str:
    """The message when no model could be fitted: each reason once, with the models it stopped."""
    reasons: dict[str, list[str]] = {}
    for note in skipped:
        model = note["step"].removeprefix("model ")
        reasons.setdefault(note["note"].removeprefix("not fitted: "), []).append(model)
    return (f"responses: none of the analysis plan's {n_models} models can be fitted on these data: "
            + "; ".join(f"{reason} ({', '.join(models)})" for reason, models in reasons.items()))


def _comparable(responses: pd.DataFrame, dv: str, between: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows whose group has at least 2 answers (a group variance needs 2), and the groups left out."""
    answered = responses[dv].notna() & responses[between].notna()
    sizes = responses.loc[answered, between].value_counts()
    small = sorted(sizes[sizes < 2].index.astype(str))
    if not small:
        return responses, []
    return responses[~responses[between].astype(str).isin(small)], small


def _varied(responses: pd.DataFrame, dv: str, between: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows whose group's answers vary (Welch's weights divide by each group's variance),
    and the groups left out."""
    answered = responses[dv].notna() & responses[between].notna()
    spread = responses.loc[answered].groupby(responses.loc[answered, between].astype(str))[dv].nunique()
    alike = sorted(spread[spread < 2].index)
    if not alike:
        return responses, []
    return responses[~responses[between].astype(str).isin(alike)], alike


def write_results(results: dict[str, pd.DataFrame], out_dir: str | Path, *, plan: Plan | None = None) -> dict[str, Path]:
    """Write each result frame as ``<name>.csv`` (UTF-8 without BOM, full precision, ``\\n`` line ends)
    and the plan used, each file atomically; text cells a spreadsheet would run as a formula are
    prefixed with ``'`` (:func:`research.safeio.write_csv`).

    Returns the paths written, by name.
    """
    from research.safeio import atomic_write_text, write_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in results.items():
        written[name] = write_csv(frame, out / f"{name}.csv")
    if plan is not None:
        written["plan"] = atomic_write_text(out / "analysis_plan_used.yaml", plan.source)
    return written


def single_cluster_models(model_fit: pd.DataFrame) -> dict[str, list[str]]:
    """Models the plan clusters that were fitted with model-based standard errors because the
    data have a single cluster (:func:`research.models.fit.single_cluster_fallback`): cluster
    variable -> model names (empty when none)."""
    if model_fit is None or not len(model_fit) or "se_type" not in model_fit.columns:
        return {}
    cluster = model_fit.get("cluster", pd.Series("", index=model_fit.index)).fillna("").astype(str)
    # families that cluster by spec.cluster (a random-intercept group is not a fallback)
    falls_back = model_fit["family"].astype(str).map(
        lambda f: f in FAMILIES and FAMILIES[f].model_based is not None).astype(bool)
    hit = (model_fit["se_type"].astype(str) == "model") & (cluster != "") & falls_back \
        & (model_fit["n_clusters"] < 2)
    out: dict[str, list[str]] = {}
    for model, var in zip(model_fit.loc[hit, "model"].astype(str), cluster[hit]):
        out.setdefault(var, []).append(model)
    return out


def summarize(results: dict[str, pd.DataFrame]) -> str:
    """A few lines for the terminal: fit statistics and the thresholds."""
    lines = []
    fit = results["model_fit"]
    for _, r in fit.iterrows():
        lines.append(f"{r['model']:<16} n={int(r['nobs']):>9,}  loglik={r['loglik']:>14.3f}  "
                     f"aic={r['aic']:>14.3f}  ({r['family']})")
    th = results.get("thresholds")
    if th is not None and len(th):
        for _, r in th.iterrows():
            hours = f"{r['threshold_hours']:.1f} h" if np.isfinite(r["threshold_hours"]) else "not reached"
            hi = f"{r['conf_high']:.1f}" if np.isfinite(r["conf_high"]) else "not reached"
            lo = f"{r['conf_low']:.1f}" if np.isfinite(r["conf_low"]) else "?"
            # no bootstrap (a single station, or reps 0): no interval, rather than "? to not reached"
            ci = "no bootstrap interval" if r.get("boot_reps", 1) == 0 else f"95% CI {lo} to {hi}"
            lines.append(f"threshold {r['cause_l1']:<11} {hours:>12}  ({ci})")
    return "\n".join(lines)
