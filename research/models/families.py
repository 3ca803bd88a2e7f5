"""The one dispatch table from a plan model's ``family`` to everything done with it.

:data:`FAMILIES` maps a family name (``linear``, ``logit``, ``ordinal``, ``mixed``) to a
:class:`Family`: its estimator and what fitting, predictions, tables, survey-weighted refits
and the plan run need to know about it. No module of research/models, research/stats or
research/representativeness branches on a family's name (tests/models/test_model_families.py checks);
each looks its entry up (:func:`family_of`) and calls what the entry holds. The plan's
validation (research/config/plan.py) still names families where it checks a plan. A step an entry does not
define (a family without predictions, without a survey-weighted fit) is refused with the
model's and the family's names (:func:`require`).

Adding a family is its estimator (and, for predictions, its scale kernel) plus one entry here:
docs/howto.md, "How to add a model family", and tests/models/test_model_families.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from research.config.instrument import Instrument
from research.config.plan import ModelSpec, Plan
from research.errors import NotEstimable
from research.models import estimators as E
from research.models import scales as S
from research.models.design import Design
from research.models.fitted import FittedModel

#: what a family step returns: result tables by ``fit_plan`` key, and note rows ``{step, note}``
StepResult = tuple[dict[str, pd.DataFrame], list[dict]]


@dataclass(frozen=True)
class Step:
    """A per-family result of the plan run (:func:`research.models.run.fit_plan`), computed after
    the model's predictions: ``run(fm, plan, instrument) -> (tables, notes)``, the tables keyed
    by their ``fit_plan`` result name (``brant``, ``station_effects``, ...); ``label`` names it in
    the progress line (with its time)."""

    label: str
    run: Callable[[FittedModel, Plan, Instrument], StepResult]


@dataclass(frozen=True)
class Family:
    """A model family: what each place that handles a model of it needs.

    ``fit(spec, design, frame, instrument) -> dict``
        the estimator (:mod:`research.models.estimators`): ``y, params, vcov, n_beta,
        df_resid, stats, se_method, cut_names`` and optionally ``extra``; a
        ``stats["warning"]`` becomes a note.
    ``intercept``
        whether the design gets an intercept column (False when cutpoints take its place).
    ``scales``, ``predict``
        the response scales of its predictions (``mean_score``, ``p_satisfied``) and the
        kernel giving them with gradients (:mod:`research.models.scales`); None: the family
        has no predictions (refused by name).
    ``link``
        ``"logit"`` when coefficients are log odds (tables add odds ratios), else ``"identity"``.
    ``model_based``
        the standard errors a clustered model of it falls back to on a single cluster (the
        label of the note), None when it never clusters by ``spec.cluster``.
    ``grouped``
        it has a random intercept per ``spec.group`` (at least 2 groups needed).
    ``weighted(spec, design, frame, w, clusters, rows, instrument, calibration)``
        its survey-weighted fit, returning ``(SvyFit, y, cut_names, method)``; None: no such fit.
    ``more_estimates(fm, conf_level) -> DataFrame``
        rows added to its coefficient table (variance components), or None.
    ``steps``
        its own results of the plan run (:class:`Step`).
    """

    fit: Callable[[ModelSpec, Design, pd.DataFrame, Instrument], dict]
    intercept: bool = True
    scales: tuple[str, ...] = ()
    predict: Callable | None = None
    link: str = "identity"
    model_based: str | None = None
    grouped: bool = False
    weighted: Callable | None = None
    more_estimates: Callable[[FittedModel, float], pd.DataFrame] | None = None
    steps: tuple[Step, ...] = ()


def _subcause_ranks(fm: FittedModel, plan: Plan, instrument: Instrument) -> StepResult:
    """Sub-causes ranked on the model's average adjusted satisfied rate (:mod:`research.models.ranks`)."""
    from research.models.ranks import subcause_ranks

    return {"subcause_ranks": subcause_ranks(fm, parent=instrument.parent, threshold=instrument.satisfied_threshold,
                                             conf_level=plan.conf_level)}, []


def _brant(fm: FittedModel, plan: Plan, instrument: Instrument) -> StepResult:
    """The Brant test of proportional odds per term (:func:`research.stats.brant.brant_test`), with
    a note when it could not be computed, in whole or for some terms (NaN statistics)."""
    from research.stats.brant import brant_test

    return brant_table(fm.spec.name, brant_test(fm.design.X, fm.y, fm.extra["ordinal_fit"],
                                                names=fm.design.names))


def brant_table(model: str, out: pd.DataFrame) -> StepResult:
    """The ``brant`` table of a Brant test's rows (``model`` first) and its notes: one when it could
    not be computed, in whole or for some terms (NaN statistics). Shared by the row path and the
    sums path (:mod:`research.models.aggregate.brant`)."""
    note = out.attrs.get("note")
    out = out.assign(model=model)[["model", *[c for c in out.columns if c != "model"]]]
    out.attrs = {"note": note} if note else {}
    notes = []
    if out["statistic"].isna().any():
        notes.append({"step": f"Brant test {model}", "note": note or
                      "not computable: the covariance of the binary-logit slopes is singular"})
    return {"brant": out}, notes


def _station_effects(fm: FittedModel, plan: Plan, instrument: Instrument) -> StepResult:
    """The BLUPs of the random intercepts (``group, blup, blup_se``)."""
    return {"station_effects": fm.extra["blups"].assign(model=fm.spec.name)}, []


def _variance_components(fm: FittedModel, conf_level: float) -> pd.DataFrame:
    """A mixed model's variance components as ``kind = variance`` rows (REML; no standard errors)."""
    return pd.DataFrame({"model": fm.spec.name,
                         "term": [f"var({fm.spec.group})", "var(residual)"], "kind": "variance",
                         "estimate": [fm.stats["var_group"], fm.stats["var_residual"]],
                         "conf_level": conf_level, "n": fm.stats["nobs"], "method": "REML"})


#: the one dispatch table from a plan model's ``family`` to its estimator and the rest; adding a
#: family is its estimator plus one entry here (and its name and outcomes in
#: research.config.plan): docs/howto.md, "How to add a model family"
FAMILIES: dict[str, Family] = {
    "linear": Family(lambda spec, design, frame, instrument: E._fit_linear(spec, design, frame),
                     scales=("mean_score",), predict=S.identity_scale("mean_score"),
                     model_based="classical OLS standard errors, t(n - k)"),
    "logit": Family(lambda spec, design, frame, instrument: E._fit_logit(spec, design, frame),
                    scales=("p_satisfied",), predict=S.logit_satisfied, link="logit",
                    model_based="inverse-information standard errors, normal", weighted=E._weighted_logit,
                    steps=(Step("sub-cause ranks", _subcause_ranks),)),
    "ordinal": Family(E._fit_ordinal_of, intercept=False, scales=("mean_score", "p_satisfied"),
                      predict=S.ordinal_scores, link="logit",
                      model_based="inverse observed-information standard errors, normal",
                      weighted=E._weighted_ordinal, steps=(Step("Brant test", _brant),)),
    "mixed": Family(lambda spec, design, frame, instrument: E._fit_mixed(spec, design, frame),
                    scales=("mean_score",), predict=S.identity_scale("mean_score"), grouped=True,
                    more_estimates=_variance_components, steps=(Step("station effects", _station_effects),)),
}


def family_of(name: str, model: str = "") -> Family:
    """The :data:`FAMILIES` entry of family ``name``; NotEstimable (naming the model) when none."""
    if name not in FAMILIES:
        raise NotEstimable(f"{f'model {model}: ' if model else ''}the model family {name!r} has no entry in "
                           f"research.models.families.FAMILIES (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def require(spec: ModelSpec, attribute: str, what: str) -> Callable:
    """The callable ``attribute`` of the family of ``spec``; NotEstimable naming the model, the family
    and ``what`` (e.g. "predictions") when the entry does not define it."""
    step = getattr(family_of(spec.family, spec.name), attribute)
    if step is None:
        raise NotEstimable(f"model {spec.name}: {what} are not defined for the {spec.family} family "
                           f"(its entry in research.models.families.FAMILIES has no {attribute})")
    return step
