"""The figure data builders and drawers by name: the registry's ``builder`` and ``drawer`` names
resolve here.

Every registered figure (:data:`research.artifacts.registry.FIGURES`) has

- a data builder ``<builder>(bundle) -> DataFrame`` (tidy, machine column names, full precision,
  a deterministic row order; never a model), in :mod:`research.artifacts.figure_data_fit`
  (F01..F07), :mod:`~research.artifacts.figure_data_weights` (F08, F09) or
  :mod:`~research.artifacts.figure_data_strategy` (F10-F12);
- a drawer ``<drawer>(data, lang, bundle) -> matplotlib.figure.Figure`` (reads only ``data``, plus
  the instrument and the plan in ``bundle`` for the words and the confidence level shown), in
  :mod:`research.artifacts.drawers_fit`, :mod:`~research.artifacts.drawers_weights` or
  :mod:`~research.artifacts.drawers_strategy`;
- shared parts: :mod:`research.artifacts.figure_parts` (instrument order) and
  :mod:`research.artifacts.figure_axes` (the figure with its footer strip, axes, legends).

:meth:`research.artifacts.registry.ArtifactSpec.build_function` and ``draw_function`` look the
names up in this module; each function is defined once, in its stage module. Drawers do not set
the theme: :func:`research.artifacts.render_figures.write_figure` applies it and adds the title
and the footer stamp.
"""

from __future__ import annotations

from research.artifacts.drawers_fit import (draw_forest, draw_handling_time, draw_item_correlations,  # noqa: F401
                                            draw_monthly, draw_pareto, draw_satisfaction, draw_speed_curves)
from research.artifacts.drawers_strategy import draw_ipa, draw_station_funnel, draw_typical_terms  # noqa: F401
from research.artifacts.drawers_weights import draw_funnel, draw_weighted  # noqa: F401
from research.artifacts.figure_data_fit import (ECDF_PROBABILITIES, FOREST_MODEL,  # noqa: F401
                                                figure_forest_data, figure_handling_time_data,
                                                figure_item_correlation_data, figure_monthly_data,
                                                figure_pareto_data, figure_satisfaction_data,
                                                figure_speed_curves_data)
from research.artifacts.figure_data_strategy import (F12_TERMS, FUNNEL_CURVE_POINTS, figure_ipa_data,  # noqa: F401
                                                     figure_station_funnel_data, figure_typical_terms_data)
from research.artifacts.figure_data_weights import figure_funnel_data, figure_weighted_data  # noqa: F401
