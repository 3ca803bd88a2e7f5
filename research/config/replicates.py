"""How many random replicates a plan's resampling steps draw, and a plan with every count replaced
(``research reproduce --reps N``).

In: a :class:`research.config.plan_specs.Plan`. Out: the counts (recorded in the manifest), or
a copy of the plan with new counts; the plan itself is never changed (the specs are frozen).
"""

from __future__ import annotations

from dataclasses import replace

from research.config.plan_specs import MAX_BOOTSTRAP_REPS, Plan
from research.errors import InputError


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
    --reps N``: a quick look; 0 turns every resampling step off and its intervals are missing).
    The plan's ``source`` gets a first comment line saying so."""
    if isinstance(reps, bool) or not isinstance(reps, int) or not 0 <= reps <= MAX_BOOTSTRAP_REPS:
        raise InputError(f"--reps: a whole number from 0 to {MAX_BOOTSTRAP_REPS:,} is expected")
    th, sc, dr = plan.thresholds, plan.scenarios, plan.drivers
    note = (f"# research reproduce --reps {reps}: every bootstrap, permutation and calibration count "
            f"below was replaced by {reps}\n")
    return replace(plan, source=note + plan.source,
                   thresholds=replace(th, bootstrap_reps=reps, change_point_calibration_reps=reps) if th else th,
                   scenarios=replace(sc, bootstrap_reps=reps) if sc else sc,
                   drivers=replace(dr, bootstrap_reps=reps, permutation_reps=reps) if dr else dr)
