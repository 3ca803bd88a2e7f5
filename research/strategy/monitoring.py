"""Monitoring for the weekly bulletin: p-charts of the dissatisfied rate, recurring
complaint cells, and repeat callers.

Functions (pure: DataFrames in, DataFrames out; nothing is read or written):

- :func:`p_chart`        -- p-chart of the dissatisfied rate per station and period
  (:mod:`research.strategy.monitoring_pchart`, with :func:`expected_false_signals`).
- :func:`recurrence`     -- station x sub-cause cells whose complaint count rises beyond
  expectation (exact conditional Poisson test, or a one-sided Poisson CUSUM;
  :mod:`research.strategy.monitoring_recurrence`, the CUSUM design in
  :mod:`research.strategy.monitoring_cusum`).
- :func:`repeat_callers` -- pseudonymised customers with two or more work orders within
  a 30-day window, with a predicted risk of dissatisfaction
  (:mod:`research.strategy.monitoring_repeat`).

Helpers, public because the tests and the docs use them: :func:`period_start`,
:func:`cusum_arl`, :func:`cusum_design`, :func:`fit_dissatisfaction_model`.
Frames carry machine names only; their display words are in :mod:`research.artifacts.words`.
Each method, its conventions and its references are in the docstring of its module; every name
that scripts, benchmarks and tests use is importable from here.

Periods
-------
The package's one period vocabulary (research.stats.periods): ``period="week"`` (or ``"W"``,
the default) is the ISO week: weeks start on Monday 00:00 and ``period_start`` is that Monday
(a date at midnight, ``datetime64[us]``). ``"day"`` / ``"D"`` (calendar day) and ``"month"`` /
``"M"`` (calendar month, ``period_start`` = the 1st) are also accepted. Datetimes are
the naive local times of the canonical frames (China Standard Time).
"""

from __future__ import annotations

from research.stats.periods import period_start  # noqa: F401  (also monitoring.period_start)
from research.strategy.monitoring_checks import _datetimes, _keys, _require  # noqa: F401
from research.strategy.monitoring_cusum import (_DESIGNS, _GRID, _arl_units, _count_pmf,  # noqa: F401
                                                _design_units, _run_cusum, cusum_arl, cusum_design)
from research.strategy.monitoring_pchart import expected_false_signals, p_chart  # noqa: F401
from research.strategy.monitoring_recurrence import _cell_codes, _empty_recurrence, recurrence  # noqa: F401
from research.strategy.monitoring_repeat import (DissatisfactionModel,  # noqa: F401
                                                 fit_dissatisfaction_model, repeat_callers)

__all__ = ["p_chart", "expected_false_signals", "recurrence", "cusum_arl", "cusum_design",
           "repeat_callers", "DissatisfactionModel", "fit_dissatisfaction_model", "period_start"]
