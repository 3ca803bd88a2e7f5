"""The analysis plan's typed specs: the dataclasses :func:`research.config.plan.load_plan`
returns, the variables each part of a plan may use, and the bounds on the work a plan may ask for.

In: nothing (constants and frozen dataclasses). Out: :class:`Plan` and its parts
(:class:`ModelSpec`, :class:`ThresholdSpec`, :class:`WeightingSpec`, :class:`ScenarioSpec` with
its :class:`Lever` s, :class:`DriverSpec`, :class:`BulletinSpec`). The YAML checks that build
them are in :mod:`research.config.plan_sections` and :mod:`research.config.plan_levers`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from research.config.formula import parse_rhs

Family = Literal["linear", "logit", "ordinal", "mixed"]
SeType = Literal["cluster", "model", "cr2"]
FAMILIES: tuple[str, ...] = get_args(Family)
SE_TYPES: tuple[str, ...] = get_args(SeType)

#: variables a formula may use, and the outcomes each family accepts
VARIABLES = ("cause_l1", "cause_l2", "channel", "repeat", "handling_hours", "region", "station",
             "resolved", "sla_met", "month")
#: the categorical ones among them (a model frame makes them pandas Categoricals, reference first):
#: the variables ``reference_levels`` may name
CATEGORICAL_VARIABLES = ("cause_l1", "cause_l2", "channel", "region", "station", "resolved", "month")
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
    ``station`` itself, nor post-treatment answers), the length of the repeat-caller table, and
    the fewest valid answers a station needs in the period to be sorted by its satisfied rate
    (``min_n``; fewer: listed after the others and flagged)."""

    ranking_rhs: str = BULLETIN_RANKING_RHS
    repeat_top: int = 50
    # stations with fewer valid answers in the period are listed after the others, flagged, unsorted
    min_n: int = 30


#: bounds of the plan's ``typical_cases`` section
MAX_TYPICAL_PER_GROUP = 10
MAX_TYPICAL_TOP = 50
MAX_TYPICAL_PRIOR = 1e9


@dataclass(frozen=True)
class TypicalCasesSpec:
    """典型案例分析 (research.strategy.typical_cases, stage 4): per cause group, at most ``top``
    distinguishing words of dissatisfied comments, each occurring at least ``min_count`` times
    there; ``prior`` the informative Dirichlet prior's ``alpha_0`` (None: the pooled number of words,
    research.stats.fightin_words); ``per_group`` typical (masked) comments per cause group."""

    per_group: int = 3
    prior: float | None = None
    top: int = 10
    min_count: int = 5


@dataclass(frozen=True)
class ReportSpec:
    """The report as a document: the issuing unit (``issuer``, zh and en; None: not stated) and the
    issue date (``issued``; None: the last survey date in the data, so that a rebuild of the same
    data gives the same report; never the day of the build)."""

    issuer: dict[str, str] | None = None
    issued: datetime.date | None = None


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
    report: ReportSpec = ReportSpec()
    typical_cases: TypicalCasesSpec = TypicalCasesSpec()

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no model named {name!r} in the plan; models: {[m.name for m in self.models]}")
