"""The analysis plan's sections, each read and validated from the parsed YAML into its spec.

In: the plan's :class:`research.config.yamlfile.YamlFile` ``r`` and the section's node
(``r.data["weighting"]``, or None when the plan has no such section). Out: the section's
spec from :mod:`research.config.plan_specs`, or :class:`research.errors.InputError` naming the
file and the key. The lever scenarios are read in :mod:`research.config.plan_levers`; the
whole plan is put together by :func:`research.config.plan.load_plan`.
"""

from __future__ import annotations

import datetime
import math

import numpy as np

from research.config.formula import MODEL_FUNCTIONS
from research.config.plan_fields import at_most, bootstrap, finite, formula, identifier, seed_value
from research.config.plan_specs import (CLUSTER_VARIABLES, FAMILIES, MARGIN_VARIABLES, MAX_BANDS,
                                        MAX_BOOTSTRAP_REPS, MAX_DELTA, MAX_FACTOR, MAX_GRID_POINTS, MAX_HOURS,
                                        MAX_ITER, MAX_KNOTS, MAX_MODELS, OUTCOMES, POST_TREATMENT,
                                        PROPENSITY_VARIABLES, SE_TYPES, THRESHOLD_VARIABLES, VARIABLES,
                                        WEIGHT_METHODS, BULLETIN_RANKING_RHS, MAX_TYPICAL_PER_GROUP,
                                        MAX_TYPICAL_PRIOR, MAX_TYPICAL_TOP, BulletinSpec, DriverSpec, ModelSpec,
                                        ReportSpec, ThresholdSpec, TypicalCasesSpec, WeightingSpec)
from research.config.yamlfile import YamlFile


def read_model(r: YamlFile, node, where: str) -> ModelSpec:
    """One entry of ``models`` (``where`` is ``models[i]``): name, family, outcome, rhs, se,
    cluster or group, and the zh/en labels (default: the name)."""
    name = identifier(r, node, where)
    family = r.text(node, "family", where)
    if family not in FAMILIES:
        raise r.fail(f"{where}.family", f"{family!r} is not one of {list(FAMILIES)}")
    outcome = r.text(node, "outcome", where)
    if outcome not in OUTCOMES[family]:
        raise r.fail(f"{where}.outcome", f"{outcome!r} cannot be the outcome of a {family} model; "
                     f"use one of {list(OUTCOMES[family])}")
    rhs = formula(r, node, "rhs", where, VARIABLES)
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


def read_models(r: YamlFile) -> tuple[ModelSpec, ...]:
    """The plan's ``models`` list: at least one, at most ``MAX_MODELS``, names unique."""
    nodes = r.seq(r.data, "models", "")
    at_most(r, "models", len(nodes), MAX_MODELS)
    models = tuple(read_model(r, n, f"models[{i}]") for i, n in enumerate(nodes))
    if not models:
        raise r.fail("models", "the plan declares no model")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise r.fail("models", f"model names must be unique: {names}")
    return models


def read_predictions(r: YamlFile) -> tuple[np.ndarray, float]:
    """The ``predictions`` section: the handling-time grid (``grid_hours: {from, to, points}``,
    hours, spaced evenly on the log scale) and ``time_multiplier`` (positive, not 1).

    Returns ``(grid_hours, time_multiplier)``."""
    pred = r.get(r.data, "predictions", "", dict, default={})
    grid = r.get(pred, "grid_hours", "predictions", dict, default={"from": 0.5, "to": 720, "points": 25})
    g = "predictions.grid_hours"
    lo = finite(r, f"{g}.from", float(r.get(grid, "from", g, (int, float))))
    hi = finite(r, f"{g}.to", float(r.get(grid, "to", g, (int, float))))
    k = r.get(grid, "points", g, int)
    if not (0 < lo < hi and k >= 2):
        raise r.fail(g, "need 0 < from < to and points >= 2")
    at_most(r, f"{g}.to", hi, MAX_HOURS)
    at_most(r, f"{g}.points", k, MAX_GRID_POINTS)
    mult = finite(r, "predictions.time_multiplier",
                  float(r.get(pred, "time_multiplier", "predictions", (int, float), default=2)))
    if mult <= 0 or mult == 1:
        raise r.fail("predictions.time_multiplier", "must be positive and not 1")
    at_most(r, "predictions.time_multiplier", mult, MAX_FACTOR)
    return np.exp(np.linspace(np.log(lo), np.log(hi), k)), mult


def read_thresholds(r: YamlFile, node) -> ThresholdSpec | None:
    """The tolerance-threshold section (None without one): knots, bootstrap, outcome, quantiles,
    hours, drop, rhs, minimum group sizes and the ``change_point`` settings."""
    if node is None:
        return None
    w = "thresholds"
    q = r.seq(node, "knots_quantiles", w)
    if len(q) < 3 or any(not isinstance(x, (int, float)) or not 0 < x < 1 for x in q) or sorted(q) != q:
        raise r.fail(f"{w}.knots_quantiles", "need at least 3 increasing quantiles strictly between 0 and 1")
    at_most(r, f"{w}.knots_quantiles", len(q), MAX_KNOTS)
    reps, seed, cluster = bootstrap(r, node, w)
    outcome = r.text(node, "outcome", w)
    if outcome != "satisfied":
        raise r.fail(f"{w}.outcome", "the threshold analysis models 'satisfied'")
    ref = float(r.get(node, "reference_quantile", w, (int, float)))
    upper = float(r.get(node, "upper_quantile", w, (int, float)))
    if not 0 <= ref < upper <= 1:
        raise r.fail(f"{w}.reference_quantile", "need 0 <= reference_quantile < upper_quantile <= 1")
    top = finite(r, f"{w}.max_hours", float(r.get(node, "max_hours", w, (int, float))))
    if top <= 0:
        raise r.fail(f"{w}.max_hours", "must be positive")
    at_most(r, f"{w}.max_hours", top, MAX_HOURS)
    drop = float(r.get(node, "drop_points", w, (int, float)))
    if not 0 < drop < 100:
        raise r.fail(f"{w}.drop_points", "must be between 0 and 100 (percentage points)")
    rhs = formula(r, node, "rhs", w, THRESHOLD_VARIABLES, functions=(*MODEL_FUNCTIONS, "rcs"))
    min_n = r.get(node, "min_tickets", w, int, default=ThresholdSpec.min_tickets)
    min_d = r.get(node, "min_dissatisfied", w, int, default=ThresholdSpec.min_dissatisfied)
    if min_n < 1 or min_d < 1:
        raise r.fail(f"{w}.min_tickets", "min_tickets and min_dissatisfied must be >= 1")
    cp = _change_point(r, node, w)
    return ThresholdSpec(outcome=outcome, rhs=rhs, knots_quantiles=tuple(map(float, q)),
                         reference_quantile=ref, upper_quantile=upper, drop_points=drop,
                         max_hours=top, bootstrap_reps=reps, bootstrap_seed=seed, bootstrap_cluster=cluster,
                         min_tickets=min_n, min_dissatisfied=min_d, **cp)


def _change_point(r: YamlFile, node, w: str) -> dict:
    """``thresholds.change_point``: Davies' test level and breakpoints, and the calibration of the
    breakpoint interval; returns the matching :class:`ThresholdSpec` keyword arguments."""
    cp = r.get(node, "change_point", w, dict, default={})
    alpha = float(r.get(cp, "alpha", f"{w}.change_point", (int, float), default=ThresholdSpec.change_point_alpha))
    if not 0 < alpha < 1:
        raise r.fail(f"{w}.change_point.alpha", "must be between 0 and 1")
    points = r.get(cp, "points", f"{w}.change_point", int, default=ThresholdSpec.change_point_points)
    if points < 2:
        raise r.fail(f"{w}.change_point.points", "need at least 2 breakpoints (10 or more recommended)")
    at_most(r, f"{w}.change_point.points", points, MAX_GRID_POINTS)
    cal = r.get(cp, "calibration_reps", f"{w}.change_point", int,
                default=ThresholdSpec.change_point_calibration_reps)
    if cal < 0:
        raise r.fail(f"{w}.change_point.calibration_reps", "must be >= 0 (0: chi-square critical value)")
    at_most(r, f"{w}.change_point.calibration_reps", cal, MAX_BOOTSTRAP_REPS)
    cal_n = r.get(cp, "calibration_max_n", f"{w}.change_point", int,
                  default=ThresholdSpec.change_point_calibration_max_n)
    if cal_n < 0:
        raise r.fail(f"{w}.change_point.calibration_max_n", "must be >= 0")
    return {"change_point_alpha": alpha, "change_point_points": points,
            "change_point_calibration_reps": cal, "change_point_calibration_max_n": cal_n}


def _variable_list(r: YamlFile, node, w: str, key: str, default: list, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``w.key``: a list of distinct variables from ``allowed`` (``default`` when absent)."""
    vals = [str(v) for v in r.seq(node, key, w, default=default)]
    bad = [v for v in vals if v not in allowed]
    if bad:
        raise r.fail(f"{w}.{key}", f"unknown variable(s) {bad}; use some of {list(allowed)}")
    if len(set(vals)) != len(vals):
        raise r.fail(f"{w}.{key}", f"a variable is listed twice: {vals}")
    return tuple(vals)


def read_weighting(r: YamlFile, node, models: tuple[ModelSpec, ...]) -> WeightingSpec:
    """The weighting section; every key has a default, so a plan without one weights by default."""
    node = {} if node is None else node
    w = "weighting"
    method = r.text(node, "method", w, default="rake")
    if method not in WEIGHT_METHODS:
        raise r.fail(f"{w}.method", f"{method!r} is not one of {list(WEIGHT_METHODS)}")
    margins = _variable_list(r, node, w, "margins", ["region", "cause_l2", "handling_band"], MARGIN_VARIABLES)
    if method == "rake" and not margins:
        raise r.fail(f"{w}.margins", "raking needs at least one margin")
    strata = _variable_list(r, node, w, "poststrata", ["region", "cause_l1"], MARGIN_VARIABLES)
    if method == "poststratify" and not strata:
        raise r.fail(f"{w}.poststrata", "post-stratification needs at least one variable")
    bands = r.seq(node, "bands_hours", w, default=[4, 24, 72, 168])
    at_most(r, f"{w}.bands_hours", len(bands), MAX_BANDS)
    if (not bands or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b)
                         or b <= 0 for b in bands)
            or sorted(bands) != bands or len(set(bands)) != len(bands)):
        raise r.fail(f"{w}.bands_hours", "need increasing positive band edges in hours, e.g. [4, 24, 72, 168]")
    at_most(r, f"{w}.bands_hours", max(bands), MAX_HOURS)
    cap = r.get(node, "trim_cap", w, (int, float, type(None)), default=None)
    if cap is not None and not cap > 1:
        raise r.fail(f"{w}.trim_cap", f"must be above 1 (a multiple of the mean weight), got {cap}")
    if cap is not None:
        finite(r, f"{w}.trim_cap", cap)
    max_iter = r.get(node, "max_iter", w, int, default=1000)
    tol = float(r.get(node, "tol", w, (int, float), default=1e-10))
    if max_iter < 1 or not 0 < tol < 1:
        raise r.fail(f"{w}.tol", "need max_iter >= 1 and 0 < tol < 1")
    at_most(r, f"{w}.max_iter", max_iter, MAX_ITER)
    cluster = r.text(node, "cluster", w, default="station")
    if cluster not in CLUSTER_VARIABLES:
        raise r.fail(f"{w}.cluster", f"one of {list(CLUSTER_VARIABLES)}")
    rhs = formula(r, node, "propensity_rhs", w, PROPENSITY_VARIABLES,
                  default="cause_l2 + log2(1 + handling_hours) + channel + region + repeat")
    weighted = _weighted_models(r, node, w, models)
    domains = _variable_list(r, node, w, "domains", ["cause_l1", "cause_l2", "region"], MARGIN_VARIABLES)
    return WeightingSpec(method=method, margins=margins, poststrata=strata,
                         bands_hours=tuple(float(b) for b in bands), trim_cap=None if cap is None else float(cap),
                         max_iter=max_iter, tol=tol, cluster=cluster, propensity_rhs=rhs, models=weighted,
                         domains=domains, **_sensitivity(r, node, w))


def _weighted_models(r: YamlFile, node, w: str, models: tuple[ModelSpec, ...]) -> tuple[str, ...]:
    """``weighting.models``: plan models refitted with the weights, distinct, logit or ordinal only
    (default: every logit and ordinal model of the plan)."""
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
    return weighted


def _sensitivity(r: YamlFile, node, w: str) -> dict:
    """The non-response sensitivity keys of ``weighting``: ``deltas`` (increasing log-odds shifts
    within ±MAX_DELTA), ``target_rate`` (a proportion) and ``sensitivity_domains``; returns the
    matching :class:`WeightingSpec` keyword arguments."""
    deltas = r.seq(node, "deltas", w, default=list(WeightingSpec.deltas))
    at_most(r, f"{w}.deltas", len(deltas), MAX_GRID_POINTS)
    if (not deltas or any(isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d)
                          or abs(d) > MAX_DELTA for d in deltas)
            or sorted(deltas) != deltas or len(set(deltas)) != len(deltas)):
        raise r.fail(f"{w}.deltas", f"need increasing log-odds shifts within ±{MAX_DELTA:g}, e.g. [-1, -0.5, 0, 0.5, 1]")
    target = r.get(node, "target_rate", w, (int, float), default=WeightingSpec.target_rate)
    if isinstance(target, bool) or not 0 < target < 1:
        raise r.fail(f"{w}.target_rate", f"must be a proportion between 0 and 1, got {target}")
    sens_domains = _variable_list(r, node, w, "sensitivity_domains", list(WeightingSpec.sensitivity_domains),
                                  MARGIN_VARIABLES)
    return {"deltas": tuple(float(d) for d in deltas), "target_rate": float(target),
            "sensitivity_domains": sens_domains}


def read_drivers(r: YamlFile, node) -> DriverSpec:
    """The key-driver section; every key has a default."""
    node = {} if node is None else node
    w = "drivers"
    outcome = r.text(node, "outcome", w, default="sat_overall")
    if outcome not in ("sat_overall", "satisfied"):
        raise r.fail(f"{w}.outcome", "sat_overall (R² decomposition) or satisfied (McFadden pseudo-R²)")
    reps, seed, cluster = bootstrap(r, node, w, defaults={"reps": 200, "seed": 20261128, "cluster": "station"})
    perm = r.get(node, "permutation", w, dict, default={})
    pw = f"{w}.permutation"
    preps = r.get(perm, "reps", pw, int, default=200)
    if preps < 0:
        raise r.fail(f"{pw}.reps", "must be >= 0 (0 turns the permutation null off)")
    at_most(r, f"{pw}.reps", preps, MAX_BOOTSTRAP_REPS)
    pseed = seed_value(r, perm, "seed", pw, default=20261129)
    return DriverSpec(outcome=outcome, bootstrap_reps=reps, bootstrap_seed=seed, bootstrap_cluster=cluster,
                      permutation_reps=preps, permutation_seed=pseed)


def read_bulletin(r: YamlFile, node) -> BulletinSpec:
    """The bulletin section; every key has a default (:class:`BulletinSpec`)."""
    node = {} if node is None else node
    w = "bulletin"
    if not isinstance(node, dict):
        raise r.fail(w, "expected a mapping")
    allowed = tuple(v for v in VARIABLES if v not in ("station", *POST_TREATMENT))
    rhs = formula(r, node, "ranking_rhs", w, allowed, default=BULLETIN_RANKING_RHS)
    top = r.get(node, "repeat_top", w, int, default=50)
    if not 1 <= top <= 10_000:
        raise r.fail(f"{w}.repeat_top", f"must be from 1 to 10,000, got {top}")
    min_n = r.get(node, "min_n", w, int, default=30)
    if not 1 <= min_n <= 100_000:
        raise r.fail(f"{w}.min_n", f"must be from 1 to 100,000, got {min_n}")
    return BulletinSpec(ranking_rhs=rhs, repeat_top=top, min_n=min_n)


def read_report(r: YamlFile, node) -> ReportSpec:
    """The optional ``report`` section: ``issuer: {zh: ..., en: ...}`` (both, non-blank) and
    ``issued: YYYY-MM-DD`` (a date, optional); any other key is refused (:class:`ReportSpec`)."""
    if node is None:
        return ReportSpec()
    w = "report"
    if not isinstance(node, dict):
        raise r.fail(w, "expected a mapping")
    unknown = sorted(str(k) for k in node if k not in ("issuer", "issued"))
    if unknown:
        raise r.fail(f"{w}.{unknown[0]}", "unknown key; the report section has issuer and issued")
    issuer = r.get(node, "issuer", w, (dict, type(None)), default=None)
    if issuer is not None:
        extra = sorted(str(k) for k in issuer if k not in ("zh", "en"))
        if extra:
            raise r.fail(f"{w}.issuer.{extra[0]}", "unknown language; give zh and en")
        issuer = {lang: r.text(issuer, lang, f"{w}.issuer") for lang in ("zh", "en")}
    issued = r.get(node, "issued", w, (datetime.date, str, type(None)), default=None)
    if isinstance(issued, datetime.datetime):
        raise r.fail(f"{w}.issued", f"expected a date YYYY-MM-DD, got {issued!r}")
    if isinstance(issued, str):
        try:
            issued = datetime.date.fromisoformat(issued.strip())
        except ValueError:
            raise r.fail(f"{w}.issued", f"expected a date YYYY-MM-DD, got {issued!r}") from None
    return ReportSpec(issuer=issuer, issued=issued)


def read_typical_cases(r: YamlFile, node) -> TypicalCasesSpec:
    """The ``typical_cases`` section (典型案例分析); every key has a default (:class:`TypicalCasesSpec`):
    ``per_group`` 1..MAX_TYPICAL_PER_GROUP, ``top`` 1..MAX_TYPICAL_TOP, ``min_count`` >= 1, ``prior`` a
    positive number or null (the pooled number of words)."""
    node = {} if node is None else node
    w = "typical_cases"
    if not isinstance(node, dict):
        raise r.fail(w, "expected a mapping")
    known = ("per_group", "prior", "top", "min_count")
    unknown = [str(k) for k in node if k not in known]
    if unknown:
        raise r.fail(f"{w}.{unknown[0]}", f"unknown key; use some of {list(known)}")
    d = TypicalCasesSpec()
    per_group = r.get(node, "per_group", w, int, default=d.per_group)
    if not 1 <= per_group <= MAX_TYPICAL_PER_GROUP:
        raise r.fail(f"{w}.per_group", f"must be from 1 to {MAX_TYPICAL_PER_GROUP}, got {per_group}")
    top = r.get(node, "top", w, int, default=d.top)
    if not 1 <= top <= MAX_TYPICAL_TOP:
        raise r.fail(f"{w}.top", f"must be from 1 to {MAX_TYPICAL_TOP}, got {top}")
    min_count = r.get(node, "min_count", w, int, default=d.min_count)
    if not 1 <= min_count <= 100_000:
        raise r.fail(f"{w}.min_count", f"must be from 1 to 100,000, got {min_count}")
    prior = r.get(node, "prior", w, (int, float, type(None)), default=d.prior)
    if prior is not None and not (math.isfinite(prior) and 0 < prior <= MAX_TYPICAL_PRIOR):
        raise r.fail(f"{w}.prior", f"must be a positive number up to {MAX_TYPICAL_PRIOR:g} (the prior's "
                     f"alpha_0) or null (the pooled number of words), got {prior}")
    return TypicalCasesSpec(per_group=per_group, prior=None if prior is None else float(prior), top=top,
                            min_count=min_count)
