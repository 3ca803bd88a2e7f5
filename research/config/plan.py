"""The analysis plan as data: load and validate ``paper/analysis_plan.yaml``.

The plan declares the models (name, family, outcome, right-hand side,
standard-error type, clustering or grouping), the reference levels of the
categorical variables, the prediction grid, the tolerance-threshold
analysis and the non-response weighting. :func:`load_plan` returns an immutable :class:`Plan`; any problem
raises :class:`research.errors.InputError` naming the file and the key.

Every formula of the plan is parsed by :mod:`research.config.formula` (never evaluated as
written) and kept as the canonical text re-generated from the parse; every size the
plan sets (bootstrap replicates, grid points, knots, iterations, models, levers,
bands) is bounded by the ``MAX_*`` constants below, and seeds lie in numpy's range.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from research import paths
from research.config.formula import MODEL_FUNCTIONS, parse_rhs
from research.config.yamlfile import YamlFile

Family = Literal["linear", "logit", "ordinal", "mixed"]
SeType = Literal["cluster", "model", "cr2"]
FAMILIES: tuple[str, ...] = get_args(Family)
SE_TYPES: tuple[str, ...] = get_args(SeType)

#: variables a formula may use, and the outcomes each family accepts
VARIABLES = ("cause_l1", "cause_l2", "channel", "repeat", "handling_hours", "region", "station",
             "resolved", "sla_met", "month")
OUTCOMES = {"linear": ("sat_overall", "sat_speed", "sat_attitude", "sat_outcome"),
            "mixed": ("sat_overall", "sat_speed", "sat_attitude", "sat_outcome"),
            "ordinal": ("sat_overall", "sat_speed", "sat_attitude", "sat_outcome"),
            "logit": ("satisfied",)}
CLUSTER_VARIABLES = ("station", "region")
#: variables the threshold spline logit may use (the columns research.models.thresholds gives it)
THRESHOLD_VARIABLES = ("cause_l1", "cause_l2", "channel", "repeat", "handling_hours")

# Bounds on the work a plan can ask for: a plan received from someone else must not be able
# to make a run take days or exhaust memory. Each is far above what the analysis needs.
MAX_MODELS = 50
MAX_BOOTSTRAP_REPS = 10_000
MAX_GRID_POINTS = 1_000
MAX_KNOTS = 10
MAX_ITER = 10_000
MAX_BANDS = 20
MAX_LEVERS = 50
MAX_HOURS = 87_600.0  # ten years: the longest handling time any hour setting may name
MAX_FACTOR = 100.0  # largest time multiplier / scale factor
MAX_DELTA = 10.0  # largest non-response log-odds shift (an odds ratio of e^10)
SEED_MAX = 2**32 - 1  # numpy's SeedSequence-compatible legacy seed range


def plan_path() -> Path:
    """Default plan file: ``paper/analysis_plan.yaml``."""
    return paths.project_root() / "paper" / "analysis_plan.yaml"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the plan."""

    name: str
    family: str
    outcome: str
    rhs: str
    se: str
    cluster: str | None
    group: str | None
    zh: str
    en: str

    @property
    def formula(self) -> str:
        return f"{self.outcome} ~ {self.rhs}"

    def variables(self) -> tuple[str, ...]:
        """Data columns the model uses (outcome, right-hand side, cluster/group)."""
        named = set(parse_rhs(self.rhs, source=f"model {self.name!r}: rhs", variables=VARIABLES).variables())
        used = [v for v in VARIABLES if v in named]
        extra = [c for c in (self.cluster, self.group) if c]
        return tuple(dict.fromkeys([self.outcome, *used, *extra]))


@dataclass(frozen=True)
class ThresholdSpec:
    """The tolerance-threshold analysis (spline logit of ``outcome``)."""

    outcome: str
    rhs: str
    knots_quantiles: tuple[float, ...]
    reference_quantile: float
    upper_quantile: float
    drop_points: float
    max_hours: float
    bootstrap_reps: int
    bootstrap_seed: int
    bootstrap_cluster: str
    # a cause group with fewer tickets or fewer dissatisfied answers gets "insufficient data"
    min_tickets: int = 300
    min_dissatisfied: int = 100
    # Davies' test of a change point: level and number of breakpoints evaluated
    change_point_alpha: float = 0.05
    change_point_points: int = 10
    # the breakpoint interval's critical value: parametric-bootstrap calibration with this many
    # replicates (0: the chi-square(1) quantile) for groups of at most calibration_max_n tickets
    change_point_calibration_reps: int = 199
    change_point_calibration_max_n: int = 5_000


WEIGHT_METHODS = ("rake", "ipw", "poststratify", "none")
#: variables that may be raking margins or post-strata (columns of both exports,
#: or derived from them: ``handling_band`` from handling_hours and ``bands_hours``)
MARGIN_VARIABLES = ("region", "station", "channel", "cause_l1", "cause_l2", "handling_band")
#: variables the response-propensity model may use (work-order columns; ``repeat``
#: is derived from the work orders, see research.representativeness.nonresponse.population_frame)
PROPENSITY_VARIABLES = ("cause_l1", "cause_l2", "channel", "region", "station", "repeat", "handling_hours")


@dataclass(frozen=True)
class WeightingSpec:
    """Non-response weighting of the respondents to the work-order population."""

    method: str  # rake | ipw | poststratify | none
    margins: tuple[str, ...]  # raking margins, in adjustment order
    poststrata: tuple[str, ...]  # cells of post-stratification (their full cross)
    bands_hours: tuple[float, ...]  # inner edges of the handling-time bands, hours
    trim_cap: float | None  # max weight as a multiple of the mean weight (re-raked), or None
    max_iter: int
    tol: float
    cluster: str  # primary sampling units of the design-based variance
    propensity_rhs: str  # right-hand side of the response-propensity logit
    models: tuple[str, ...]  # plan models refitted with the weights (logit / ordinal)
    domains: tuple[str, ...]  # domains of the weighted-vs-unweighted table
    # non-response sensitivity (research.strategy.sensitivity): shifts of the non-respondents' log-odds of
    # being satisfied, the target rate the headline is compared with, and the breakdowns
    deltas: tuple[float, ...] = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
    target_rate: float = 0.80
    sensitivity_domains: tuple[str, ...] = ("cause_l1",)


LEVER_KINDS = ("within_sla", "scale_hours", "target_hours", "set")
#: variables a ``set`` lever may change, and the values it may set them to
LEVER_SETTABLE = {"repeat": (False, True), "resolved": ("yes", "partly", "no")}
#: variables declared post-treatment by default (``scenarios.post_treatment``): the callback's
#: "was it resolved?" answer and repeat calls during the case are partly caused by the handling and
#: by dissatisfaction itself, so a lever model must not adjust for them, nor a lever set them
POST_TREATMENT = ("resolved", "repeat")


@dataclass(frozen=True)
class Lever:
    """One improvement scenario (see research.strategy.scenarios)."""

    name: str
    kind: str  # within_sla | scale_hours | set
    cause_l1: str | None
    cause_l2: str | None
    factor: float | None
    variable: str | None
    value: object
    zh: str
    en: str
    hours: float | None = None  # target_hours: the target handling time, hours


@dataclass(frozen=True)
class ScenarioSpec:
    """The lever scenarios: the logit they use, the levers, the bootstrap, and the variables
    declared post-treatment (never adjusted for in the lever model, never set by a lever)."""

    model: str
    levers: tuple[Lever, ...]
    bootstrap_reps: int
    bootstrap_seed: int
    bootstrap_cluster: str
    post_treatment: tuple[str, ...] = POST_TREATMENT


@dataclass(frozen=True)
class DriverSpec:
    """Key-driver analysis (research.strategy.drivers): outcome, bootstrap, permutation null."""

    outcome: str  # sat_overall (LMG of R²) or satisfied (McFadden pseudo-R²)
    bootstrap_reps: int
    bootstrap_seed: int
    bootstrap_cluster: str
    permutation_reps: int = 200       # permutations per driver for the importance null (0: none)
    permutation_seed: int = 20261129


#: the bulletin ranking's case-mix adjustment when the plan has no ``bulletin`` section
BULLETIN_RANKING_RHS = "cause_l2 + log2(1 + handling_hours) + channel"


@dataclass(frozen=True)
class BulletinSpec:
    """The bulletin (``research bulletin``): the fixed effects of the monthly station ranking's
    random-intercept logit (variables fixed before the station handles the ticket: never
    ``station`` itself, nor post-treatment answers) and the length of the repeat-caller table."""

    ranking_rhs: str = BULLETIN_RANKING_RHS
    repeat_top: int = 50


@dataclass(frozen=True)
class Plan:
    """The whole plan, validated; ``source`` is the YAML text as loaded (recorded with results)."""

    conf_level: float
    reference_levels: dict[str, str]
    models: tuple[ModelSpec, ...]
    grid_hours: np.ndarray
    time_multiplier: float
    thresholds: ThresholdSpec | None
    weighting: WeightingSpec
    scenarios: ScenarioSpec | None
    drivers: DriverSpec
    path: Path
    source: str
    bulletin: BulletinSpec = BulletinSpec()

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no model named {name!r} in the plan; models: {[m.name for m in self.models]}")


def _formula(r: YamlFile, node, key: str, where: str, variables: tuple[str, ...],
             functions: tuple[str, ...] = MODEL_FUNCTIONS, default: str | None = None) -> str:
    """The canonical text of the formula at ``where.key`` (research.config.formula.parse_rhs).

    Parameters
    ----------
    node : the mapping holding the key; ``default`` (already canonical) when it is absent.
    variables, functions : what the formula may use.

    Returns
    -------
    The formula re-generated from its parsed structure: the only text handed to formulaic.

    Raises
    ------
    InputError
        Missing key, a value that is not text, or a formula outside the grammar; names the
        file, the key, the offending token and its position.
    """
    if not isinstance(node, dict):
        raise r.fail(where, "expected a mapping")
    key_path = f"{where}.{key}" if where else key
    if key not in node:
        if default is None:
            raise r.fail(key_path, "missing")
        return default
    return parse_rhs(node[key], source=f"{r.path}: key '{key_path}'", variables=variables,
                     functions=functions).text()


def _at_most(r: YamlFile, key_path: str, value: float, limit: float) -> None:
    """Refuse ``value`` above ``limit`` (bounded work), naming the key, the value and the limit."""
    if value > limit:
        raise r.fail(key_path, f"{value} is above the limit of {limit}")


def _finite(r: YamlFile, key_path: str, value: float) -> float:
    """Refuse infinity and NaN (YAML's .inf / .nan), which no setting of the plan can mean."""
    if not math.isfinite(value):
        raise r.fail(key_path, f"must be a finite number, got {value}")
    return value


def _model(r: YamlFile, node, where: str) -> ModelSpec:
    name = r.text(node, "name", where)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise r.fail(f"{where}.name", f"{name!r}: use lower-case letters, digits and underscores")
    family = r.text(node, "family", where)
    if family not in FAMILIES:
        raise r.fail(f"{where}.family", f"{family!r} is not one of {list(FAMILIES)}")
    outcome = r.text(node, "outcome", where)
    if outcome not in OUTCOMES[family]:
        raise r.fail(f"{where}.outcome", f"{outcome!r} cannot be the outcome of a {family} model; "
                     f"use one of {list(OUTCOMES[family])}")
    rhs = _formula(r, node, "rhs", where, VARIABLES)
    se = r.text(node, "se", where, default="model")
    if se not in SE_TYPES:
        raise r.fail(f"{where}.se", f"{se!r} is not one of {list(SE_TYPES)}")
    cluster = r.get(node, "cluster", where, (str, type(None)), default=None)
    if se in ("cluster", "cr2") and cluster not in CLUSTER_VARIABLES:
        raise r.fail(f"{where}.cluster", f"se: {se} needs a cluster variable, one of "
                     f"{list(CLUSTER_VARIABLES)}; got {cluster!r}")
    if se == "cr2" and family != "linear":
        raise r.fail(f"{where}.se", f"se: cr2 (clubSandwich CR2, Bell-McCaffrey df) exists for linear models, "
                     f"not {family}; use se: cluster (CR1, t with G - 1 df)")
    if se == "cluster" and family == "mixed":
        raise r.fail(f"{where}.se", "a mixed model takes se: model (the random intercept models the clusters)")
    group = r.get(node, "group", where, (str, type(None)), default=None)
    if family == "mixed" and group not in CLUSTER_VARIABLES:
        raise r.fail(f"{where}.group", f"a mixed model needs group: one of {list(CLUSTER_VARIABLES)}")
    return ModelSpec(name=name, family=family, outcome=outcome, rhs=rhs, se=se,
                     cluster=cluster if se in ("cluster", "cr2") else None,
                     group=group if family == "mixed" else None,
                     zh=r.text(node, "zh", where, default=name), en=r.text(node, "en", where, default=name))


def _bootstrap(r: YamlFile, node, where: str, defaults: dict | None = None) -> tuple[int, int, str]:
    """A section's ``bootstrap: {reps, seed, cluster}`` (shared by thresholds, scenarios, drivers);
    ``defaults`` makes the mapping and each key optional. reps 0 turns the bootstrap off."""
    d = defaults or {}
    w = f"{where}.bootstrap"
    boot = r.get(node, "bootstrap", where, dict, **({"default": {}} if defaults else {}))
    reps = r.get(boot, "reps", w, int, **({"default": d["reps"]} if "reps" in d else {}))
    if reps < 0:
        raise r.fail(f"{w}.reps", "must be >= 0 (0 turns the bootstrap off)")
    _at_most(r, f"{w}.reps", reps, MAX_BOOTSTRAP_REPS)
    cluster = r.text(boot, "cluster", w, **({"default": d["cluster"]} if "cluster" in d else {}))
    if cluster not in CLUSTER_VARIABLES:
        raise r.fail(f"{w}.cluster", f"one of {list(CLUSTER_VARIABLES)}")
    seed = r.get(boot, "seed", w, int, **({"default": d["seed"]} if "seed" in d else {}))
    if not 0 <= seed <= SEED_MAX:
        raise r.fail(f"{w}.seed", f"{seed} is outside [0, {SEED_MAX}] (numpy's seed range)")
    return reps, seed, cluster


def _thresholds(r: YamlFile, node) -> ThresholdSpec | None:
    if node is None:
        return None
    w = "thresholds"
    q = r.seq(node, "knots_quantiles", w)
    if len(q) < 3 or any(not isinstance(x, (int, float)) or not 0 < x < 1 for x in q) or sorted(q) != q:
        raise r.fail(f"{w}.knots_quantiles", "need at least 3 increasing quantiles strictly between 0 and 1")
    _at_most(r, f"{w}.knots_quantiles", len(q), MAX_KNOTS)
    reps, seed, cluster = _bootstrap(r, node, w)
    outcome = r.text(node, "outcome", w)
    if outcome != "satisfied":
        raise r.fail(f"{w}.outcome", "the threshold analysis models 'satisfied'")
    ref = float(r.get(node, "reference_quantile", w, (int, float)))
    upper = float(r.get(node, "upper_quantile", w, (int, float)))
    if not 0 <= ref < upper <= 1:
        raise r.fail(f"{w}.reference_quantile", "need 0 <= reference_quantile < upper_quantile <= 1")
    top = _finite(r, f"{w}.max_hours", float(r.get(node, "max_hours", w, (int, float))))
    if top <= 0:
        raise r.fail(f"{w}.max_hours", "must be positive")
    _at_most(r, f"{w}.max_hours", top, MAX_HOURS)
    drop = float(r.get(node, "drop_points", w, (int, float)))
    if not 0 < drop < 100:
        raise r.fail(f"{w}.drop_points", "must be between 0 and 100 (percentage points)")
    rhs = _formula(r, node, "rhs", w, THRESHOLD_VARIABLES, functions=(*MODEL_FUNCTIONS, "rcs"))
    min_n = r.get(node, "min_tickets", w, int, default=ThresholdSpec.min_tickets)
    min_d = r.get(node, "min_dissatisfied", w, int, default=ThresholdSpec.min_dissatisfied)
    if min_n < 1 or min_d < 1:
        raise r.fail(f"{w}.min_tickets", "min_tickets and min_dissatisfied must be >= 1")
    cp = r.get(node, "change_point", w, dict, default={})
    alpha = float(r.get(cp, "alpha", f"{w}.change_point", (int, float), default=ThresholdSpec.change_point_alpha))
    if not 0 < alpha < 1:
        raise r.fail(f"{w}.change_point.alpha", "must be between 0 and 1")
    points = r.get(cp, "points", f"{w}.change_point", int, default=ThresholdSpec.change_point_points)
    if points < 2:
        raise r.fail(f"{w}.change_point.points", "need at least 2 breakpoints (10 or more recommended)")
    _at_most(r, f"{w}.change_point.points", points, MAX_GRID_POINTS)
    cal = r.get(cp, "calibration_reps", f"{w}.change_point", int,
                default=ThresholdSpec.change_point_calibration_reps)
    if cal < 0:
        raise r.fail(f"{w}.change_point.calibration_reps", "must be >= 0 (0: chi-square critical value)")
    _at_most(r, f"{w}.change_point.calibration_reps", cal, MAX_BOOTSTRAP_REPS)
    cal_n = r.get(cp, "calibration_max_n", f"{w}.change_point", int,
                  default=ThresholdSpec.change_point_calibration_max_n)
    if cal_n < 0:
        raise r.fail(f"{w}.change_point.calibration_max_n", "must be >= 0")
    return ThresholdSpec(outcome=outcome, rhs=rhs, knots_quantiles=tuple(map(float, q)),
                         reference_quantile=ref, upper_quantile=upper, drop_points=drop,
                         max_hours=top, bootstrap_reps=reps, bootstrap_seed=seed, bootstrap_cluster=cluster,
                         min_tickets=min_n, min_dissatisfied=min_d, change_point_alpha=alpha,
                         change_point_points=points, change_point_calibration_reps=cal,
                         change_point_calibration_max_n=cal_n)


def _weighting(r: YamlFile, node, models: tuple[ModelSpec, ...]) -> WeightingSpec:
    """The weighting section; every key has a default, so a plan without one weights by default."""
    node = {} if node is None else node
    w = "weighting"
    method = r.text(node, "method", w, default="rake")
    if method not in WEIGHT_METHODS:
        raise r.fail(f"{w}.method", f"{method!r} is not one of {list(WEIGHT_METHODS)}")

    def variables(key: str, default: list, allowed: tuple[str, ...]) -> tuple[str, ...]:
        vals = [str(v) for v in r.seq(node, key, w, default=default)]
        bad = [v for v in vals if v not in allowed]
        if bad:
            raise r.fail(f"{w}.{key}", f"unknown variable(s) {bad}; use some of {list(allowed)}")
        if len(set(vals)) != len(vals):
            raise r.fail(f"{w}.{key}", f"a variable is listed twice: {vals}")
        return tuple(vals)

    margins = variables("margins", ["region", "cause_l2", "handling_band"], MARGIN_VARIABLES)
    if method == "rake" and not margins:
        raise r.fail(f"{w}.margins", "raking needs at least one margin")
    strata = variables("poststrata", ["region", "cause_l1"], MARGIN_VARIABLES)
    if method == "poststratify" and not strata:
        raise r.fail(f"{w}.poststrata", "post-stratification needs at least one variable")
    bands = r.seq(node, "bands_hours", w, default=[4, 24, 72, 168])
    _at_most(r, f"{w}.bands_hours", len(bands), MAX_BANDS)
    if (not bands or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b)
                         or b <= 0 for b in bands)
            or sorted(bands) != bands or len(set(bands)) != len(bands)):
        raise r.fail(f"{w}.bands_hours", "need increasing positive band edges in hours, e.g. [4, 24, 72, 168]")
    _at_most(r, f"{w}.bands_hours", max(bands), MAX_HOURS)
    cap = r.get(node, "trim_cap", w, (int, float, type(None)), default=None)
    if cap is not None and not cap > 1:
        raise r.fail(f"{w}.trim_cap", f"must be above 1 (a multiple of the mean weight), got {cap}")
    if cap is not None:
        _finite(r, f"{w}.trim_cap", cap)
    max_iter = r.get(node, "max_iter", w, int, default=1000)
    tol = float(r.get(node, "tol", w, (int, float), default=1e-10))
    if max_iter < 1 or not 0 < tol < 1:
        raise r.fail(f"{w}.tol", "need max_iter >= 1 and 0 < tol < 1")
    _at_most(r, f"{w}.max_iter", max_iter, MAX_ITER)
    cluster = r.text(node, "cluster", w, default="station")
    if cluster not in CLUSTER_VARIABLES:
        raise r.fail(f"{w}.cluster", f"one of {list(CLUSTER_VARIABLES)}")
    rhs = _formula(r, node, "propensity_rhs", w, PROPENSITY_VARIABLES,
                   default="cause_l2 + log2(1 + handling_hours) + channel + region + repeat")
    known = {m.name: m for m in models}
    weighted = tuple(str(m) for m in r.seq(node, "models", w,
                                          default=[m.name for m in models if m.family in ("logit", "ordinal")]))
    if len(set(weighted)) != len(weighted):
        raise r.fail(f"{w}.models", f"a model is listed twice: {weighted}")
    for m in weighted:
        if m not in known:
            raise r.fail(f"{w}.models", f"{m!r} is not a model of the plan ({list(known)})")
        if known[m].family not in ("logit", "ordinal"):
            raise r.fail(f"{w}.models", f"{m!r} is a {known[m].family} model; survey-weighted fits exist "
                         "for logit and ordinal models")
    domains = variables("domains", ["cause_l1", "cause_l2", "region"], MARGIN_VARIABLES)
    deltas = r.seq(node, "deltas", w, default=list(WeightingSpec.deltas))
    _at_most(r, f"{w}.deltas", len(deltas), MAX_GRID_POINTS)
    if (not deltas or any(isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d)
                          or abs(d) > MAX_DELTA for d in deltas)
            or sorted(deltas) != deltas or len(set(deltas)) != len(deltas)):
        raise r.fail(f"{w}.deltas", f"need increasing log-odds shifts within ±{MAX_DELTA:g}, e.g. [-1, -0.5, 0, 0.5, 1]")
    target = r.get(node, "target_rate", w, (int, float), default=WeightingSpec.target_rate)
    if isinstance(target, bool) or not 0 < target < 1:
        raise r.fail(f"{w}.target_rate", f"must be a proportion between 0 and 1, got {target}")
    sens_domains = variables("sensitivity_domains", list(WeightingSpec.sensitivity_domains), MARGIN_VARIABLES)
    return WeightingSpec(method=method, margins=margins, poststrata=strata,
                         bands_hours=tuple(float(b) for b in bands), trim_cap=None if cap is None else float(cap),
                         max_iter=max_iter, tol=tol, cluster=cluster, propensity_rhs=rhs, models=weighted,
                         domains=domains, deltas=tuple(float(d) for d in deltas), target_rate=float(target),
                         sensitivity_domains=sens_domains)


def _scenarios(r: YamlFile, node, models: tuple[ModelSpec, ...]) -> ScenarioSpec | None:
    """The lever scenarios, in a causal frame.

    Levers are what a manager can change: handling time (``within_sla``,
    ``scale_hours``, ``target_hours``) and, only for variables not declared
    post-treatment, ``set``. ``post_treatment`` (default ``[resolved, repeat]``)
    lists variables partly caused by the handling or by satisfaction itself:
    the lever model may not adjust for them (conditioning on a consequence of
    the outcome or a mediator biases the lever's total effect; Hernán & Robins
    2020, *Causal Inference: What If*, ch. 8 and 18) and no lever may set them.
    """
    if node is None:
        return None
    w = "scenarios"
    model = r.text(node, "model", w)
    known = {m.name: m for m in models}
    if model not in known:
        raise r.fail(f"{w}.model", f"{model!r} is not a model of the plan ({list(known)})")
    if known[model].family != "logit":
        raise r.fail(f"{w}.model", f"{model!r} is a {known[model].family} model; scenarios use a logit of satisfied")
    post = [str(v) for v in r.seq(node, "post_treatment", w, default=list(POST_TREATMENT))]
    bad = [v for v in post if v not in VARIABLES]
    if bad:
        raise r.fail(f"{w}.post_treatment", f"unknown variable(s) {bad}; use some of {list(VARIABLES)}")
    index = [m.name for m in models].index(model)
    used = [v for v in post if v in known[model].variables()[1:]]
    if used:
        raise r.fail(f"{w}.model", f"the lever model {model!r} (models[{index}].rhs) uses {used[0]!r}, declared "
                     f"post-treatment in {w}.post_treatment: it is partly a consequence of the handling or of "
                     "dissatisfaction itself, so adjusting for it biases every lever; take it out of the lever "
                     "model (its association with satisfaction is reported apart)")
    reps, seed, cluster = _bootstrap(r, node, w)
    levers = []
    nodes = r.seq(node, "levers", w)
    _at_most(r, f"{w}.levers", len(nodes), MAX_LEVERS)
    for i, lv in enumerate(nodes):
        where = f"{w}.levers[{i}]"
        name = r.text(lv, "name", where)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise r.fail(f"{where}.name", f"{name!r}: use lower-case letters, digits and underscores")
        kind = r.text(lv, "kind", where)
        if kind not in LEVER_KINDS:
            raise r.fail(f"{where}.kind", f"{kind!r} is not one of {list(LEVER_KINDS)}")
        l1 = r.get(lv, "cause_l1", where, (str, type(None)), default=None)
        l2 = r.get(lv, "cause_l2", where, (str, type(None)), default=None)
        factor = variable = value = hours = None
        if kind == "scale_hours":
            factor = _finite(r, f"{where}.factor", float(r.get(lv, "factor", where, (int, float))))
            if not factor > 0:
                raise r.fail(f"{where}.factor", "must be positive")
            _at_most(r, f"{where}.factor", factor, MAX_FACTOR)
        if kind == "target_hours":
            hours = _finite(r, f"{where}.hours", float(r.get(lv, "hours", where, (int, float))))
            if not hours > 0:
                raise r.fail(f"{where}.hours", "must be positive (the target handling time, hours)")
            _at_most(r, f"{where}.hours", hours, MAX_HOURS)
        if kind == "set":
            variable = r.text(lv, "variable", where)
            if variable in post:
                raise r.fail(f"{where}.variable", f"{variable!r} is declared post-treatment ({w}.post_treatment): "
                             "it is partly caused by the handling or by dissatisfaction, not something a manager "
                             "sets; a lever changes handling time or SLA compliance")
            if variable not in LEVER_SETTABLE:
                raise r.fail(f"{where}.variable", f"one of {list(LEVER_SETTABLE)}")
            value = r.get(lv, "value", where)
            if value not in LEVER_SETTABLE[variable]:
                raise r.fail(f"{where}.value", f"{variable} takes one of {list(LEVER_SETTABLE[variable])}")
        levers.append(Lever(name=name, kind=kind, cause_l1=l1, cause_l2=l2, factor=factor, variable=variable,
                            value=value, zh=r.text(lv, "zh", where, default=name),
                            en=r.text(lv, "en", where, default=name), hours=hours))
    names = [lv.name for lv in levers]
    if len(set(names)) != len(names):
        raise r.fail(f"{w}.levers", f"lever names must be unique: {names}")
    return ScenarioSpec(model=model, levers=tuple(levers), bootstrap_reps=reps, bootstrap_seed=seed,
                        bootstrap_cluster=cluster, post_treatment=tuple(post))


def _drivers(r: YamlFile, node) -> DriverSpec:
    """The key-driver section; every key has a default."""
    node = {} if node is None else node
    w = "drivers"
    outcome = r.text(node, "outcome", w, default="sat_overall")
    if outcome not in ("sat_overall", "satisfied"):
        raise r.fail(f"{w}.outcome", "sat_overall (R² decomposition) or satisfied (McFadden pseudo-R²)")
    reps, seed, cluster = _bootstrap(r, node, w, defaults={"reps": 200, "seed": 20261128, "cluster": "station"})
    perm = r.get(node, "permutation", w, dict, default={})
    pw = f"{w}.permutation"
    preps = r.get(perm, "reps", pw, int, default=200)
    if preps < 0:
        raise r.fail(f"{pw}.reps", "must be >= 0 (0 turns the permutation null off)")
    _at_most(r, f"{pw}.reps", preps, MAX_BOOTSTRAP_REPS)
    pseed = r.get(perm, "seed", pw, int, default=20261129)
    if not 0 <= pseed <= SEED_MAX:
        raise r.fail(f"{pw}.seed", f"{pseed} is outside [0, {SEED_MAX}] (numpy's seed range)")
    return DriverSpec(outcome=outcome, bootstrap_reps=reps, bootstrap_seed=seed, bootstrap_cluster=cluster,
                      permutation_reps=preps, permutation_seed=pseed)


def _bulletin(r: YamlFile, node) -> BulletinSpec:
    """The bulletin section; every key has a default (:class:`BulletinSpec`)."""
    node = {} if node is None else node
    w = "bulletin"
    if not isinstance(node, dict):
        raise r.fail(w, "expected a mapping")
    allowed = tuple(v for v in VARIABLES if v not in ("station", *POST_TREATMENT))
    rhs = _formula(r, node, "ranking_rhs", w, allowed, default=BULLETIN_RANKING_RHS)
    top = r.get(node, "repeat_top", w, int, default=50)
    if not 1 <= top <= 10_000:
        raise r.fail(f"{w}.repeat_top", f"must be from 1 to 10,000, got {top}")
    return BulletinSpec(ranking_rhs=rhs, repeat_top=top)


def load_plan(path: str | Path | None = None) -> Plan:
    """Load and validate the analysis plan.

    Parameters
    ----------
    path : the YAML file; default ``paper/analysis_plan.yaml``.

    Raises
    ------
    InputError
        Missing file, invalid YAML, or a key that is missing, mistyped or
        inconsistent; the message names the file and the key.
    """
    path = Path(path) if path is not None else plan_path()
    r = YamlFile(path, what="analysis plan")
    conf = float(r.get(r.data, "conf_level", "", (int, float), default=0.95))
    if not 0.5 <= conf < 1:
        raise r.fail("conf_level", f"must be in [0.5, 1), got {conf}")
    refs = r.get(r.data, "reference_levels", "", dict, default={})
    refs = {str(k): str(v) for k, v in refs.items()}
    nodes = r.seq(r.data, "models", "")
    _at_most(r, "models", len(nodes), MAX_MODELS)
    models = tuple(_model(r, n, f"models[{i}]") for i, n in enumerate(nodes))
    if not models:
        raise r.fail("models", "the plan declares no model")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise r.fail("models", f"model names must be unique: {names}")
    pred = r.get(r.data, "predictions", "", dict, default={})
    grid = r.get(pred, "grid_hours", "predictions", dict, default={"from": 0.5, "to": 720, "points": 25})
    g = "predictions.grid_hours"
    lo = _finite(r, f"{g}.from", float(r.get(grid, "from", g, (int, float))))
    hi = _finite(r, f"{g}.to", float(r.get(grid, "to", g, (int, float))))
    k = r.get(grid, "points", g, int)
    if not (0 < lo < hi and k >= 2):
        raise r.fail(g, "need 0 < from < to and points >= 2")
    _at_most(r, f"{g}.to", hi, MAX_HOURS)
    _at_most(r, f"{g}.points", k, MAX_GRID_POINTS)
    mult = _finite(r, "predictions.time_multiplier",
                   float(r.get(pred, "time_multiplier", "predictions", (int, float), default=2)))
    if mult <= 0 or mult == 1:
        raise r.fail("predictions.time_multiplier", "must be positive and not 1")
    _at_most(r, "predictions.time_multiplier", mult, MAX_FACTOR)
    return Plan(conf_level=conf, reference_levels=refs, models=models,
                grid_hours=np.exp(np.linspace(np.log(lo), np.log(hi), k)), time_multiplier=mult,
                thresholds=_thresholds(r, r.data.get("thresholds")),
                weighting=_weighting(r, r.data.get("weighting"), models),
                scenarios=_scenarios(r, r.data.get("scenarios"), models),
                drivers=_drivers(r, r.data.get("drivers")), path=path,
                source=path.read_text(encoding="utf-8"), bulletin=_bulletin(r, r.data.get("bulletin")))


def replicate_counts(plan: Plan) -> dict[str, int]:
    """The number of random replicates each resampling step of ``plan`` draws (recorded in the
    manifest): threshold and lever bootstraps, the breakpoint calibration, the drivers' bootstrap
    and permutation null (0 where the plan has no such section)."""
    th, sc, dr = plan.thresholds, plan.scenarios, plan.drivers
    return {"threshold_bootstrap": th.bootstrap_reps if th else 0,
            "breakpoint_calibration": th.change_point_calibration_reps if th else 0,
            "lever_bootstrap": sc.bootstrap_reps if sc else 0,
            "driver_bootstrap": dr.bootstrap_reps if dr else 0,
            "driver_permutation": dr.permutation_reps if dr else 0}


def with_replicates(plan: Plan, reps: int) -> Plan:
    """``plan`` with every count of :func:`replicate_counts` set to ``reps`` (``research reproduce
    --reps N``: a quick look; 0 turns every resampling step off and its intervals are missing)."""
    from dataclasses import replace

    from research.errors import InputError

    if isinstance(reps, bool) or not isinstance(reps, int) or not 0 <= reps <= MAX_BOOTSTRAP_REPS:
        raise InputError(f"--reps: a whole number from 0 to {MAX_BOOTSTRAP_REPS:,} is expected")
    th, sc, dr = plan.thresholds, plan.scenarios, plan.drivers
    note = (f"# research reproduce --reps {reps}: every bootstrap, permutation and calibration count "
            f"below was replaced by {reps}\n")
    return replace(plan, source=note + plan.source,
                   thresholds=replace(th, bootstrap_reps=reps, change_point_calibration_reps=reps) if th else th,
                   scenarios=replace(sc, bootstrap_reps=reps) if sc else sc,
                   drivers=replace(dr, bootstrap_reps=reps, permutation_reps=reps) if dr else dr)
