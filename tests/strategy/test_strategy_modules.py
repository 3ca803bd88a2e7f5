"""The strategy modules split by job (issue 13): every name that scripts, benchmarks and tests
import from the old module is still there and is the very object of its new module, and each
strategy module and function stays within the size limits of tools/code_size.py."""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]

#: old module -> {new module: names it re-exports}
REEXPORTS = {
    "drivers": {"drivers_design": ["_prepare", "_Prepared", "DRIVERS", "OPERATIONAL_DRIVERS", "QUADRANTS",
                                   "PERFORMANCE_MEASURES", "DRIVER_SOURCES", "DEFAULT_SEED"],
                "drivers_bootstrap": ["_run", "_Run"],
                "drivers_ipa": ["importance_performance", "driver_performance", "IPA_STATUSES", "_ipa_frame"]},
    "monitoring": {"monitoring_checks": ["_datetimes", "_require"],
                   "monitoring_pchart": ["p_chart", "expected_false_signals"],
                   "monitoring_cusum": ["cusum_arl", "cusum_design", "_DESIGNS"],
                   "monitoring_recurrence": ["recurrence"],
                   "monitoring_repeat": ["repeat_callers", "fit_dissatisfaction_model", "DissatisfactionModel"]},
    "stations": {"stations_funnel": ["funnel", "funnel_table", "funnel_limits", "fit_case_mix", "bh_qvalues",
                                     "interpolated_cdf", "overdispersion_factor", "MIN_ROWS", "CASE_MIX_RHS"],
                 "stations_glmm": ["fit_random_intercept_logit", "GlmmFit", "_laplace"],
                 "stations_ranks": ["rank_stations"]},
    "causal": {"causal_mediation": ["lever_mediation", "MEDIATION_NOT_COMPUTED", "_Design", "_logit_fit"],
               "causal_associations": ["associations", "ASSOCIATION_VARIABLES"]},
    "sensitivity": {"sensitivity_weighting": ["weighting_methods", "WEIGHTING_METHODS"],
                    "sensitivity_delta": ["delta_range", "tipping_deltas", "outcome_model", "_DeltaSums", "_labels",
                                          "_setup", "PATTERNS", "SCENARIOS"]},
}


@pytest.mark.parametrize("old", sorted(REEXPORTS))
def test_old_module_reexports_the_new_objects(old):
    before = importlib.import_module(f"research.strategy.{old}")
    for new, names in REEXPORTS[old].items():
        mod = importlib.import_module(f"research.strategy.{new}")
        for name in names:
            assert getattr(before, name) is getattr(mod, name), f"{old}.{name} is not {new}.{name}"
    for name in getattr(before, "__all__", ()):
        assert hasattr(before, name), f"{old}.__all__ names {name}, which it lacks"


def test_flat_names_still_reach_the_split_modules():
    """research/_moved.py: ``research.monitoring`` is ``research.strategy.monitoring``, with its re-exports."""
    import research.strategy.monitoring as monitoring
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # the flat name says it moved
        old = importlib.import_module("research.monitoring")
    assert old.p_chart is monitoring.p_chart and old.recurrence is monitoring.recurrence


def test_strategy_modules_and_functions_within_limits():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import code_size
    finally:
        sys.path.pop(0)
    modules = {k: v for k, v in code_size.module_sizes().items() if k.startswith("research/strategy/")}
    functions = {k: v for k, v in code_size.function_sizes().items() if k.startswith("research/strategy/")}
    assert len(modules) >= 20
    assert {k: v for k, v in modules.items() if v > code_size.MODULE_LIMIT} == {}
    assert {k: v for k, v in functions.items() if v > code_size.FUNCTION_LIMIT} == {}


def test_row_pass_bootstrap_is_the_one_patched(monkeypatch):
    """The cluster-moment switch lives in drivers_bootstrap: patching it there changes the path
    taken (tests/strategy/test_drivers.py relies on that to compare the two)."""
    import numpy as np

    from research.strategy import drivers_bootstrap
    from research.strategy.drivers import driver_importance

    rng = np.random.default_rng(0)
    n = 400
    d = pd.DataFrame({"sat_overall": rng.integers(1, 6, n).astype(float),
                      "handling_hours": rng.exponential(10, n), "repeat": rng.random(n) < 0.2,
                      "station": rng.choice(list("ABCDEFGH"), n)})
    calls = []
    real = drivers_bootstrap._moments
    monkeypatch.setattr(drivers_bootstrap, "_moments", lambda *a: calls.append(1) or real(*a))
    driver_importance(d, drivers=("handling_time", "repeat"), bootstrap_reps=3, seed=1)
    assert calls == [1]
    monkeypatch.setattr(drivers_bootstrap, "_MAX_CLUSTER_BLOCKS", 0)
    driver_importance(d, drivers=("handling_time", "repeat"), bootstrap_reps=3, seed=1)
    assert calls == [1]
