"""The analysis plan as data: load and validate ``paper/analysis_plan.yaml``.

The plan declares the models (name, family, outcome, right-hand side,
standard-error type, clustering or grouping), the reference levels of the
categorical variables, the prediction grid, the tolerance-threshold
analysis and the non-response weighting. :func:`load_plan` returns an immutable :class:`Plan`; any problem
raises :class:`research.errors.InputError` naming the file and the key.

Every formula of the plan is parsed by :mod:`research.config.formula` (never evaluated as
written) and kept as the canonical text re-generated from the parse; every size the
plan sets (bootstrap replicates, grid points, knots, iterations, models, levers,
bands) is bounded by the ``MAX_*`` constants, and seeds lie in numpy's range.

The work is split by job; every name below stays importable from this module:

- :mod:`research.config.plan_specs` -- the spec dataclasses, the variables each part may use
  and the ``MAX_*`` bounds;
- :mod:`research.config.plan_fields` -- checks of single settings (formula, bound, seed,
  bootstrap) shared by the sections;
- :mod:`research.config.plan_sections` -- models, predictions, thresholds, weighting, drivers,
  bulletin, report and typical cases, each validated into its spec;
- :mod:`research.config.plan_levers` -- the lever scenarios;
- :mod:`research.config.replicates` -- the replicate counts and ``--reps N``.
"""

from __future__ import annotations

from pathlib import Path

from research import paths
from research.config.formula import MODEL_FUNCTIONS, parse_rhs
from research.config.plan_levers import read_scenarios
from research.config.plan_sections import (read_bulletin, read_drivers, read_models, read_predictions,
                                           read_report, read_thresholds, read_typical_cases, read_weighting)
from research.config.plan_specs import (BULLETIN_RANKING_RHS, CATEGORICAL_VARIABLES, CLUSTER_VARIABLES, FAMILIES, LEVER_KINDS,
                                        LEVER_SETTABLE, MARGIN_VARIABLES, MAX_BANDS, MAX_BOOTSTRAP_REPS,
                                        MAX_DELTA, MAX_FACTOR, MAX_GRID_POINTS, MAX_HOURS, MAX_ITER, MAX_KNOTS,
                                        MAX_LEVERS, MAX_MODELS, OUTCOMES, POST_TREATMENT, PROPENSITY_VARIABLES,
                                        SE_TYPES, SEED_MAX, THRESHOLD_VARIABLES, VARIABLES, WEIGHT_METHODS,
                                        BulletinSpec, DriverSpec, Family, Lever, ModelSpec, Plan, ReportSpec,
                                        ScenarioSpec, SeType, ThresholdSpec, TypicalCasesSpec, WeightingSpec)
from research.config.replicates import replicate_counts, with_replicates
from research.config.yamlfile import YamlFile

__all__ = ["BULLETIN_RANKING_RHS", "CLUSTER_VARIABLES", "FAMILIES", "LEVER_KINDS", "LEVER_SETTABLE",
           "MARGIN_VARIABLES", "MODEL_FUNCTIONS", "MAX_BANDS", "MAX_BOOTSTRAP_REPS", "MAX_DELTA", "MAX_FACTOR", "MAX_GRID_POINTS",
           "MAX_HOURS", "MAX_ITER", "MAX_KNOTS", "MAX_LEVERS", "MAX_MODELS", "OUTCOMES", "POST_TREATMENT",
           "PROPENSITY_VARIABLES", "SE_TYPES", "SEED_MAX", "THRESHOLD_VARIABLES", "VARIABLES", "WEIGHT_METHODS",
           "BulletinSpec", "DriverSpec", "Family", "Lever", "ModelSpec", "Plan", "ReportSpec", "ScenarioSpec", "SeType",
           "ThresholdSpec", "TypicalCasesSpec", "WeightingSpec", "load_plan", "parse_rhs", "plan_path",
           "replicate_counts", "with_replicates"]


def plan_path() -> Path:
    """Default plan file: ``paper/analysis_plan.yaml`` of the checkout (or current folder), else the
    copy installed with the package (:func:`research.paths.default_plan`)."""
    return paths.default_plan()


def load_plan(path: str | Path | None = None) -> Plan:
    """Load and validate the analysis plan.

    Parameters
    ----------
    path : the YAML file; default ``paper/analysis_plan.yaml``.

    Returns
    -------
    The :class:`Plan`; its sections are checked in the order conf_level, reference_levels,
    models, predictions, thresholds, weighting, scenarios, drivers, bulletin, report, typical_cases (the first
    problem found is the one reported).

    Raises
    ------
    InputError
        Missing file, invalid YAML, or a key that is missing, mistyped, inconsistent or
        unknown (a misspelt key is refused, not ignored); the message names the file and the key.
    """
    path = Path(path) if path is not None else plan_path()
    r = YamlFile(path, what="analysis plan")
    conf = float(r.get(r.data, "conf_level", "", (int, float), default=0.95))
    if not 0.5 <= conf < 1:
        raise r.fail("conf_level", f"must be in [0.5, 1), got {conf}")
    refs = r.get(r.data, "reference_levels", "", dict, default={})
    for k, v in refs.items():
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise r.fail(f"reference_levels.{k}", f"expected a level as text, got {type(v).__name__}")
    refs = {str(k): str(v) for k, v in refs.items()}
    unknown = [k for k in refs if k not in CATEGORICAL_VARIABLES]
    if unknown:
        raise r.fail(f"reference_levels.{unknown[0]}",
                     f"not a categorical variable; use some of {list(CATEGORICAL_VARIABLES)}")
    r.get(r.data, "version", "", (int, float, str, type(None)), default=None)  # for people: not used
    models = read_models(r)
    grid, mult = read_predictions(r)

    def section(name: str):
        return r.get(r.data, name, "", default=None)  # each reader checks its section's type

    plan = Plan(conf_level=conf, reference_levels=refs, models=models, grid_hours=grid, time_multiplier=mult,
                thresholds=read_thresholds(r, section("thresholds")),
                weighting=read_weighting(r, section("weighting"), models),
                scenarios=read_scenarios(r, section("scenarios"), models),
                drivers=read_drivers(r, section("drivers")), path=path,
                source=path.read_text(encoding="utf-8"), bulletin=read_bulletin(r, section("bulletin")),
                report=read_report(r, section("report")),
                typical_cases=read_typical_cases(r, section("typical_cases")))
    r.refuse_unknown()  # a misspelt key is an error, not a default used in silence
    return plan
