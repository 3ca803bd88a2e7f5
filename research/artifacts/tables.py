"""The table builders by name: the registry's ``builder`` names resolve here.

One builder per registered table (T01..T23), bundle in, tidy frame out, in the module of
its stage:

- :mod:`research.artifacts.tables_fit`: T01..T08 (sample, ingest, satisfaction, models,
  handling-time effects, thresholds, comparisons, reliability);
- :mod:`research.artifacts.tables_weights`: T09..T13, T19, T20 (representativeness);
- :mod:`research.artifacts.tables_strategy`: T14..T18, T21..T23 (levers, drivers, monitoring,
  associations, station funnel, typical cases);
- :mod:`research.artifacts.tables_common`: what they share (the plan's confidence level,
  instrument order).

:meth:`research.artifacts.registry.ArtifactSpec.build_function` looks a builder up by name in
this module, and :data:`research.artifacts.render_tables.DISPLAYS` is keyed by these very
function objects, so a builder is defined once, in its stage module, and only named here.
"""

from __future__ import annotations

from research.artifacts.levels import DEFAULT_CONF_LEVEL  # noqa: F401
from research.artifacts.tables_common import OVERALL  # noqa: F401
from research.artifacts.tables_fit import (EFFECT_SCALES, FIT_STATISTICS, T04_EXTRA, TERM_KINDS,  # noqa: F401
                                           model_names, table_group_comparisons, table_handling_time_effects,
                                           table_models, table_reconciliation, table_reliability, table_sample,
                                           table_satisfaction_by_cause, table_thresholds)
from research.artifacts.tables_strategy import (T16_ROWS, T23_COLUMNS, p_chart_false_signals,  # noqa: F401
                                                table_associations, table_key_drivers, table_levers,
                                                table_out_of_control, table_recurrence, table_repeat_callers,
                                                table_station_funnel, table_typical_cases)
from research.artifacts.tables_weights import (RATE_VARIABLES, T11_DOMAINS, T11_VARIABLES,  # noqa: F401
                                               T19_METHODS, T20_SCENARIOS, table_nonresponse_delta,
                                               table_response_propensity, table_response_rates,
                                               table_weight_diagnostics, table_weighted_effects,
                                               table_weighted_vs_unweighted, table_weighting_methods)
