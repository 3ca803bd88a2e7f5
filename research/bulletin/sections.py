"""The bulletin's sections, declared once: which periods carry each, how its table is computed and
how it is shown.

:data:`SECTIONS` is the bulletin, in display order. A :class:`Section` names

- ``key``: the table's key (``bulletin_tables`` returns a dict by key; the CSV is
  ``bulletin_<period>_<start>_<key>.csv``) and its registered spec,
  ``research.artifacts.registry.BULLETIN[key]`` (id ``B0n``, zh/en title and caption);
- ``periods``: the bulletins (day, week, month) that carry it;
- ``build``: a function of the period's :class:`Inputs` returning the table (a DataFrame with
  machine names and codes, full precision);
- ``show``: a function ``(table, lang, instrument, conf_level) -> Display`` giving the formatted
  rows a reader sees.

Adding a section is one ``Section(...)`` line, its two functions and its ``BULLETIN`` spec
(docs/architecture.md, "How to add a bulletin section"; ``tests/bulletin/test_bulletin_sections.py`` does it
on a toy section).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from research.bulletin.display import (_display_by, _display_ooc, _display_overview, _display_ranking,
                                       _display_recurrence, _display_red_black, _display_repeat,
                                       _display_rising)
from research.bulletin.tables import (_by, _out_of_control, _overview, _recurrence, _repeat_callers, ranking,
                                     red_black, rising_words, stations_sorted)
from research.bulletin.data import _Data, _in
from research.bulletin.periods import PERIODS, Period


@dataclass(frozen=True)
class Inputs:
    """What a section reads for one bulletin: the prepared frames (``data``), the period, the previous
    one and the same period last year (None when there is none), the cause groups in instrument order,
    the instrument, the interval level and the plan's ``bulletin`` section (``spec``)."""

    data: _Data
    period: Period
    previous: Period
    last_year: Period | None
    causes: list[str]
    instrument: object
    conf_level: float
    spec: object
    #: the tables built so far, by key (a section may read an earlier one: the 红黑榜 reads the ranking)
    tables: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    """One table of the bulletin (see the module docstring)."""

    key: str
    periods: tuple[str, ...]
    build: Callable[[Inputs], pd.DataFrame]
    show: Callable[[pd.DataFrame, str, object, float], object]


def _month_ranking(i: Inputs) -> pd.DataFrame:
    month = i.data.r.loc[_in(i.data.r_surveyed, i.period)]
    return ranking(month, instrument=i.instrument, conf_level=i.conf_level, rhs=i.spec.ranking_rhs)


#: the bulletin, in display order
SECTIONS: tuple[Section, ...] = (
    Section("overview", PERIODS,
            lambda i: _overview(i.data, i.period, i.previous, i.last_year, i.causes),
            lambda d, lang, ins, level: _display_overview(d, lang, ins)),
    Section("by_region", PERIODS,
            lambda i: _by(i.data, i.period, i.previous, "region"),
            lambda d, lang, ins, level: _display_by(d, lang, "region")),
    Section("by_station", PERIODS,
            lambda i: stations_sorted(_by(i.data, i.period, i.previous, "station"), i.spec.min_n),
            lambda d, lang, ins, level: _display_by(d, lang, "station")),
    Section("out_of_control", ("week",),
            lambda i: _out_of_control(i.data, i.period),
            lambda d, lang, ins, level: _display_ooc(d, lang)),
    Section("recurrence", ("week",),
            lambda i: _recurrence(i.data, i.period),
            lambda d, lang, ins, level: _display_recurrence(d, lang, ins)),
    Section("ranking", ("month",), _month_ranking,
            lambda d, lang, ins, level: _display_ranking(d, lang, level)),
    Section("rising_words", ("week", "month"), lambda i: rising_words(i.data.r, i.period),
            lambda d, lang, ins, level: _display_rising(d, lang)),
    Section("red_black", ("month",), lambda i: red_black(i.tables["ranking"]),
            lambda d, lang, ins, level: _display_red_black(d, lang)),
    Section("repeat_callers", PERIODS,
            lambda i: _repeat_callers(i.data, i.period, i.spec.repeat_top),
            lambda d, lang, ins, level: _display_repeat(d, lang, ins)),
)


def section(key: str) -> Section:
    """The section with this key (KeyError naming the known keys otherwise)."""
    for s in SECTIONS:
        if s.key == key:
            return s
    raise KeyError(f"unknown bulletin table {key!r}; known: {[s.key for s in SECTIONS]}")
