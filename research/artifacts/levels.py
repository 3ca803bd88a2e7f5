"""The confidence level an artifact shows: the analysis plan's ``conf_level``, read from the bundle.

Every interval the models, weights and strategy stages compute uses the plan's ``conf_level``
(``paper/analysis_plan.yaml``), and so do the descriptive intervals the table and figure builders
compute themselves (Wilson intervals of rates, normal intervals of means). Captions, headers and
legends that name that level take it from here, never from a literal. Levels fixed by a method
(the funnel's 95% and 99.8% limits, Spiegelhalter 2005; the permutation null's 95th percentile)
are not the plan's and stay where the method is.
"""

from __future__ import annotations

from research.artifacts.words import level_text

#: the plan's default ``conf_level`` (research.config.plan), for a bundle without a plan
DEFAULT_CONF_LEVEL = 0.95


def conf_level(bundle: dict | None) -> float:
    """The plan's ``conf_level`` (0..1) from ``bundle["plan"]``; :data:`DEFAULT_CONF_LEVEL` without a plan."""
    plan = None if bundle is None else bundle.get("plan")
    return float(getattr(plan, "conf_level", DEFAULT_CONF_LEVEL))


def plan_level_text(bundle: dict | None) -> str:
    """The plan's confidence level as shown (``95%``, ``90%``; :func:`research.artifacts.words.level_text`)."""
    return level_text(conf_level(bundle))
