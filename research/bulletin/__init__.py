"""The bulletin of 日统计、周通报、月督导: daily statistics, weekly bulletin, monthly supervision.

Functions
---------
- :func:`bulletin_tables` (pure: frames in, frames out) -- the tables of one period;
- :func:`write_bulletin` -- one self-contained HTML page and one Word document per language
  holding every table, plus one CSV per table (UTF-8 with BOM, full precision);
- :func:`run_bulletin` -- the command-line entry: reads ``responses.parquet`` and
  ``workorders.parquet`` of an ingest folder, checks the arguments, builds and writes.

Periods
-------
``period="day"`` is the calendar day holding ``at``; ``"week"`` the ISO week (Monday 00:00 to
Sunday 24:00) holding it; ``"month"`` the calendar month. The *previous period* is the day,
week or month before; *the same period last year* is the same calendar day (29 February:
the 28th), the same ISO week number of the previous ISO year (week 53 of a year whose
previous year has 52 weeks: none), or the same month one year earlier. A comparison period
counts as reached only when the data start on or before its first day (work orders: first
``created_at``; surveys: first ``surveyed_at``); otherwise its values are NaN.

Indicators (each for a period ``[start, end)``)
-----------------------------------------------
- ``volume``: work orders with ``created_at`` in the period, by cause group ``cause_l1``
  (instrument order) and in total;
- ``satisfied_rate``: responses with ``surveyed_at`` in the period; satisfied (top-2 box,
  ``satisfied``) among valid answers (``satisfied`` not missing);
- ``sla_rate``: work orders with ``resolved_at`` in the period; share with ``sla_met`` true
  among those with ``sla_met`` known;
- ``repeat_share``: responses with ``surveyed_at`` in the period; share with ``repeat`` true
  among those with ``repeat`` known;
- ``mean_handling_hours`` (平均处理时长): work orders with ``resolved_at`` in the period; mean
  ``handling_hours`` among those where it is known.

Changes: for volumes the difference in work orders; for rates the difference in
percentage points (``100 * (this - other)``); for the mean handling time the difference in hours.

Tables (keys of the dict :func:`bulletin_tables` returns)
---------------------------------------------------------
- ``overview`` (every period): one row per cause group (``group``: cause code, instrument order)
  and a last row ``total``; one unit per column (the name says it,
  :func:`research.bulletin.tables.column_unit`): ``volume``, ``volume_previous``,
  ``volume_last_year``, ``volume_change``, ``volume_change_last_year`` (work orders); for each rate
  ``satisfied_rate``, ``sla_rate``, ``repeat_share``: its counts (``sat_valid``/``sat_yes``,
  ``sla_valid``/``sla_yes``, ``repeat_valid``/``repeat_yes``), ``<rate>``, ``<rate>_previous``,
  ``<rate>_last_year`` (proportions 0..1), ``<rate>_change_points`` and
  ``<rate>_change_last_year_points`` (percentage points); ``hours_valid`` (work orders with a known
  handling time), ``mean_handling_hours``, ``..._previous``, ``..._last_year``, ``..._change``,
  ``..._change_last_year`` (hours). Rates and hours are on the ``total`` row only.
- ``by_region``, ``by_station`` (every period): per region (station), for this period and the
  previous one: ``volume``, ``sat_valid``, ``sat_yes``, ``satisfied_rate``, ``sla_valid``,
  ``sla_yes``, ``sla_rate``, ``repeat_valid``, ``repeat_yes``, ``repeat_share``, each with a
  ``_previous`` column, and ``volume_change`` (work orders) and ``<rate>_change_points``
  (percentage points); then ``mean_handling_hours``, ``mean_handling_hours_previous`` and
  ``mean_handling_hours_change`` (hours). The counts of all rows add up to the overview totals.
  ``by_station`` also has ``small_n`` (fewer valid answers than the plan's ``bulletin.min_n``).
- ``out_of_control`` (week): rows of :func:`research.strategy.monitoring.p_chart` (by station, ISO
  week, by ``surveyed_at``, default centre line and limits) for the bulletin week with
  ``out_of_control`` true, the chart run on the responses surveyed up to the end of the week.
- ``recurrence`` (week): rows of :func:`research.strategy.monitoring.recurrence` (default: station x
  sub-cause, exact conditional Poisson test, 8-week baseline, alpha 0.001) for the bulletin
  week with ``flagged`` true, run on the work orders created up to the end of the week.
- ``ranking`` (month): :func:`ranking` -- stations on the satisfied rate adjusted for
  ``cause_l2 + log2(1 + handling_hours) + channel`` by a logit random-intercept model (as
  ``lme4::glmer``; :mod:`research.strategy.stations`): ``adjusted_rate`` is the rate the station would
  have had with the month's whole case mix. Stations are ranked, with a ``conf_level`` interval
  on each rank (2,000 seeded draws), only when the between-station variance is distinguishable
  from zero (boundary likelihood-ratio test, p < 0.05); otherwise ``rank`` is empty and the
  bulletin says "no detectable difference between stations this month" (``attrs["ranked"]``,
  ``attrs["note"]``). Ties share a rank; names never break them. ``versus_mean`` is ``below`` /
  ``above`` when the station's risk-adjusted funnel z-score has a Benjamini-Hochberg q-value
  below 0.05 across the month's stations, else empty. Fewer than 2 stations or
  :data:`MIN_RANKING_ROWS` complete rows, or a failed fit: an empty frame with these columns and
  the reason in ``frame.attrs["note"]``.
- ``repeat_callers`` (every period): :func:`research.strategy.monitoring.repeat_callers` on the work
  orders created up to the end of the period (default risk model fitted on the responses
  surveyed up to the end), restricted to episodes whose latest work order was created in
  the period, the :data:`REPEAT_TOP` highest risks. Customers appear only as the keyed
  pseudonym of the canonical frames.

Charts (:mod:`research.bulletin.charts`; their data under ``chart_<key>`` in the same dict)
----------------------------------------------------------------------------------------
``chart_trend`` (every period): the last 12 periods' work orders and satisfied rate with its Wilson
interval; ``chart_causes`` (every period): work orders by cause group, this and the previous period;
``chart_stations`` (week, month): each station's satisfied rate with its Wilson interval, small-n
flag and the overall rate.

Every displayed word has a Chinese and an English form (``lang="zh"`` default, ``"en"``).

"""

from __future__ import annotations

import sys
import types

from research.bulletin.data import RANKING_RHS
from research.bulletin.display import display
from research.bulletin.periods import last_year_period, period_of, previous_period, Period
from research.bulletin.run import data_range, run_bulletin
from research.bulletin.tables import bulletin_tables, ranking
from research.bulletin.write import write_bulletin

class _CallableBulletin(types.ModuleType):
    """``research.bulletin(responses, workorders, period=..., at=...)`` is :func:`research.api.bulletin`
    (the Python API mirrors the command), while ``research.bulletin.<module>`` stays the package."""

    def __call__(self, *args, **kwargs):
        from research.api import bulletin

        return bulletin(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableBulletin

__all__ = ['Period', 'RANKING_RHS', 'bulletin_tables', 'data_range', 'display', 'last_year_period', 'period_of',
           'previous_period', 'ranking', 'run_bulletin', 'write_bulletin']
