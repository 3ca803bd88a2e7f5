"""Bulletin periods: the day, ISO week or calendar month holding a moment, the previous period and the
same period last year (see the package docstring, Periods).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.errors import InputError
from research.artifacts.words import word
from research.stats.periods import PERIODS, next_start, period_start


@dataclass(frozen=True)
class Period:
    """One bulletin period: ``[start, end)`` at midnight."""

    kind: str
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def last_day(self) -> dt.date:
        return (self.end - pd.Timedelta(days=1)).date()

    def title(self, lang: str) -> str:
        """``周通报（2025年第14周，2025-03-31至2025-04-06）`` / ``Weekly bulletin (2025-W14, ...)``."""
        a, b = self.start.date().isoformat(), self.last_day.isoformat()
        if self.kind == "day":
            return word("bulletin_day", lang, a=a)
        if self.kind == "week":
            y, w, _ = self.start.date().isocalendar()
            return word("bulletin_week", lang, y=y, w=w, a=a, b=b)
        return word("bulletin_month", lang, y=self.start.year, m=self.start.month, a=a, b=b)


def _parse_at(at) -> dt.date:
    if isinstance(at, pd.Timestamp):
        return at.date()
    if isinstance(at, dt.datetime):
        return at.date()
    if isinstance(at, dt.date):
        return at
    if isinstance(at, np.datetime64):
        return pd.Timestamp(at).date()
    try:
        return dt.date.fromisoformat(str(at).strip())
    except ValueError:
        raise InputError(f"--at {at!r}: not a date; give an ISO date such as 2025-04-02") from None


def _check_period(period) -> str:
    """The bulletin's ``--period``: a period name (``day``, ``week``, ``month``; the one-letter
    codes of research.stats.periods are for the monitoring functions' arguments)."""
    if period not in PERIODS:
        raise InputError(f"--period {period!r}: unknown period; use one of {', '.join(PERIODS)}")
    return period


def period_of(period: str, at) -> Period:
    """The period of kind ``period`` (day, week, month) holding the date ``at``: its bounds are
    research.stats.periods's (:func:`~research.stats.periods.period_start`, ``next_start``)."""
    kind = _check_period(period)
    start = period_start(np.array([np.datetime64(_parse_at(at), "D")]), kind)[0]
    return Period(kind, pd.Timestamp(start), pd.Timestamp(next_start(start, kind)))


def previous_period(p: Period) -> Period:
    """The day, ISO week or month before ``p``."""
    return period_of(p.kind, p.start.date() - dt.timedelta(days=1))


def last_year_period(p: Period) -> Period | None:
    """The same day / ISO week number / month one year earlier (None: no such ISO week)."""
    d = p.start.date()
    if p.kind == "day":
        try:
            return period_of("day", d.replace(year=d.year - 1))
        except ValueError:  # 29 February
            return period_of("day", d.replace(year=d.year - 1, day=28))
    if p.kind == "week":
        y, w, _ = d.isocalendar()
        try:
            monday = dt.date.fromisocalendar(y - 1, w, 1)
        except ValueError:  # week 53 in a 52-week year
            return None
        return period_of("week", monday)
    return period_of("month", d.replace(year=d.year - 1))


def last_complete(period: str, first_day: dt.date, last_day: dt.date) -> Period:
    """The last whole ``period`` the data cover: the period holding ``last_day`` when the data reach
    its last day, else the one before it (a week that ends on Sunday needs data up to Sunday).

    Raises
    ------
    InputError
        The data (``first_day`` to ``last_day``) cover no whole period of that kind.
    """
    p = period_of(period, last_day)
    if p.last_day > last_day:
        p = previous_period(p)
    if p.start.date() < first_day:
        raise InputError(f"--period {period}: the data ({first_day.isoformat()} to {last_day.isoformat()}) cover "
                         f"no whole {period}; give --at a date inside the period wanted")
    return p
