"""The package's one vocabulary of calendar periods: ``day``, ``week`` (ISO week, Monday 00:00 to
Sunday 24:00) and ``month`` (calendar month), for the monitoring charts
(research.strategy.monitoring) and the bulletins (research.bulletin.periods).

The one-letter codes ``D``, ``W``, ``M`` (pandas' offset aliases, used by the monitoring
functions' ``period`` argument so far) are accepted wherever a period is; :func:`period_kind`
turns either spelling into the name. Display words (zh / en) belong to the callers' labels.
"""

from __future__ import annotations

import numpy as np

from research.errors import InputError

#: the period names, shortest first
PERIODS = ("day", "week", "month")
#: the one-letter codes accepted for them
CODES = {"D": "day", "W": "week", "M": "month"}


def period_kind(period, what: str = "period") -> str:
    """``"day"``, ``"week"`` or ``"month"`` for a period name or its code (``D``, ``W``, ``M``).

    InputError naming ``what`` (e.g. ``--period``) and the accepted values otherwise."""
    if isinstance(period, str):
        name = CODES.get(period, period)
        if name in PERIODS:
            return name
    accepted = ", ".join([*PERIODS, *CODES])
    raise InputError(f"{what} {period!r}: unknown period; use one of {accepted}")


def period_start(values, period: str = "week") -> np.ndarray:
    """Start of the period holding each datetime.

    Parameters
    ----------
    values : datetimes (Series or array; NaT allowed).
    period : ``"week"`` / ``"W"`` ISO week (the Monday), ``"day"`` / ``"D"`` day, ``"month"`` /
        ``"M"`` calendar month (the 1st).

    Returns
    -------
    ``datetime64[us]`` array of period starts at midnight (NaT stays NaT).
    """
    kind = period_kind(period)
    arr = np.asarray(values, dtype="datetime64[us]")
    days = arr.astype("datetime64[D]")
    if kind == "day":
        out = days
    elif kind == "month":
        out = days.astype("datetime64[M]").astype("datetime64[D]")
    else:
        nat = np.isnat(days)
        i = days.astype(np.int64)
        weekday = (i + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        out = (i - weekday).astype("datetime64[D]")
        out[nat] = np.datetime64("NaT")
    return out.astype("datetime64[us]")


def period_range(first: np.datetime64, last: np.datetime64, period: str = "week") -> np.ndarray:
    """Every period start from ``first`` to ``last`` (period starts themselves), ``datetime64[us]``."""
    kind = period_kind(period)
    if kind == "month":
        months = np.arange(first.astype("datetime64[M]"), last.astype("datetime64[M]") + 1)
        return months.astype("datetime64[D]").astype("datetime64[us]")
    step = 7 if kind == "week" else 1
    days = np.arange(first.astype("datetime64[D]"), last.astype("datetime64[D]") + 1, step)
    return days.astype("datetime64[us]")


def next_start(start: np.datetime64, period: str) -> np.datetime64:
    """The start of the period after the one starting at ``start`` (``datetime64[us]``)."""
    kind = period_kind(period)
    if kind == "month":
        return (np.datetime64(start, "M") + 1).astype("datetime64[us]")
    return np.datetime64(start, "D") + np.timedelta64(7 if kind == "week" else 1, "D")
