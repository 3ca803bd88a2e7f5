"""Handling-time targets (SLA): the deadline by which each ticket should be resolved.

Targets come from ``surveys/sla.yaml`` (see :class:`research.config.instrument.SlaTarget`).

- ``hours``: deadline = ``created_at`` + value hours.
- ``working_days``: deadline = 24:00 of the N-th working day after the day the
  ticket was created (that day is day 0, working or not). Working days follow
  the Chinese calendar with public holidays and make-up working days (调休),
  from the maintained ``chinese-calendar`` package. For years the package does
  not cover yet, Monday to Friday is used and a warning says so.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from research.config.instrument import Instrument


@lru_cache(maxsize=64)
def _year_supported(year: int) -> bool:
    import chinese_calendar

    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def working_day_flags(start: dt.date, stop: dt.date) -> tuple[pd.DatetimeIndex, np.ndarray, list[int]]:
    """Working-day flags for every calendar day from ``start`` to ``stop`` inclusive.

    Returns
    -------
    days : DatetimeIndex of the calendar days.
    flags : bool array, True on a working day.
    fallback_years : years outside the calendar package's coverage, where
        Monday to Friday was used instead.
    """
    days = pd.date_range(start, stop, freq="D")
    flags = np.empty(len(days), dtype=bool)
    fallback: set[int] = set()
    for i, day in enumerate(days.date):
        if _year_supported(day.year):
            flags[i] = _is_workday(day)
        else:
            fallback.add(day.year)
            flags[i] = day.weekday() < 5
    return days, flags, sorted(fallback)


@lru_cache(maxsize=16384)
def _is_workday(day: dt.date) -> bool:
    """``chinese_calendar.is_workday``, once per day (it checks the date against the whole
    holiday table on each call, and each target rule counts over the same days)."""
    import chinese_calendar

    return chinese_calendar.is_workday(day)


def _working_days(day: np.ndarray, n: int) -> tuple[np.ndarray, list[int]]:
    """The N-th working day after each day of ``day`` (``datetime64[D]``, no NaT, not empty),
    and the years where the Monday-to-Friday fallback applied to a counted day."""
    first, last = day.min(), day.max()
    # n working days never take more than n weeks plus the longest holiday (< 3 weeks)
    stop = last + np.timedelta64(7 * n + 30, "D")
    days, flags, fallback = working_day_flags(first.item(), stop.item())
    cum = np.cumsum(flags)
    pos = (day - first).astype(np.int64)
    target = np.searchsorted(cum, cum[pos] + n, side="left")
    # report only the uncovered years that a counted day actually fell in
    used_years = set(days[: target.max() + 1].year)
    return first + target.astype("timedelta64[D]"), [y for y in fallback if y in used_years]


def add_working_days(dates: pd.Series, n: int) -> tuple[pd.Series, list[int]]:
    """The N-th working day after each date (date part only), as midnight timestamps.

    Parameters
    ----------
    dates : datetime Series (time of day ignored); NaT stays NaT.
    n : number of working days, >= 1.

    Returns
    -------
    The working days (datetime Series, same index) and the years where the
    Monday-to-Friday fallback applied.
    """
    values = dates.to_numpy()
    if values.dtype.kind != "M":  # not naive numpy datetimes: as pandas computes them
        return _add_working_days_pandas(dates, n)
    out = np.full(len(values), np.datetime64("NaT"), dtype=values.dtype)
    valid = ~np.isnat(values)
    if not valid.any():
        return pd.Series(out, index=dates.index), []
    day, years = _working_days(values[valid].astype("datetime64[D]"), n)
    out[valid] = day.astype(values.dtype)
    return pd.Series(out, index=dates.index), years


def _add_working_days_pandas(dates: pd.Series, n: int) -> tuple[pd.Series, list[int]]:
    """:func:`add_working_days` for datetimes numpy does not hold (time zones)."""
    day = dates.dt.normalize()
    valid = day.notna()
    out = pd.Series(pd.NaT, index=dates.index, dtype=dates.dtype)
    if not valid.any():
        return out, []
    first, last = day[valid].min(), day[valid].max()
    days, flags, fallback = working_day_flags(first.date(), (last + pd.Timedelta(days=7 * n + 30)).date())
    cum = np.cumsum(flags)
    pos = ((day[valid] - first) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    target = np.searchsorted(cum, cum[pos] + n, side="left")
    out[valid] = days[target].to_numpy().astype(out.dtype)
    used_years = set(days[: target.max() + 1].year)
    return out, [y for y in fallback if y in used_years]


def sla_deadlines(created_at: pd.Series, cause_l2: pd.Series,
                  instrument: Instrument) -> tuple[pd.Series, list[str]]:
    """Deadline of each ticket under the target of its sub-cause.

    Parameters
    ----------
    created_at : datetime Series, when each ticket was accepted.
    cause_l2 : sub-cause codes, same index.
    instrument : gives the targets.

    Returns
    -------
    deadlines : datetime Series (same dtype as ``created_at``); a ticket meets
        its target when ``resolved_at <= deadline``.
    warnings : messages about calendar years outside the package's coverage.

    Notes
    -----
    Computed on numpy arrays: the rule of each row is looked up once per
    distinct sub-cause (a handful among a million rows), and each rule's rows
    are selected once (1M rows: 0.3 s with pandas Series, most of it in
    aligning and masked assignment). Hour targets that are not a whole number
    of ``created_at``'s unit, and datetimes numpy does not hold, go through
    pandas as before.
    """
    values = created_at.to_numpy()
    targets = {c: instrument.sla_for(c) for c in instrument.label_sets["cause_l2"].codes}
    rules: dict[tuple[float, str], int] = {}
    for t in targets.values():
        rules.setdefault((t.value, t.unit), len(rules))
    if values.dtype.kind != "M" or not all(_whole(value, values.dtype) for value, kind in rules
                                           if kind == "hours"):
        return _sla_deadlines_pandas(created_at, cause_l2, instrument)
    warnings: list[str] = []
    fallback_years: set[int] = set()
    # the rule of each row: -1 for <NA> and for codes without a target
    codes, uniques = pd.factorize(cause_l2.astype("string"), use_na_sentinel=True)
    rule_of = np.array([rules[(targets[c].value, targets[c].unit)] if c in targets else -1
                        for c in uniques] + [-1], dtype=np.int64)
    rule = rule_of[codes]  # code -1 (<NA>) -> the appended -1
    unit = np.datetime_data(values.dtype)[0]
    out = np.full(len(values), np.datetime64("NaT"), dtype=values.dtype)
    for (value, kind), r in rules.items():
        mask = rule == r
        if not mask.any():
            continue
        if kind == "hours":
            out[mask] = values[mask] + pd.to_timedelta(value, unit="h").to_timedelta64().astype(
                f"timedelta64[{unit}]")
        else:
            chosen = values[mask]
            valid = ~np.isnat(chosen)
            if valid.any():
                day, years = _working_days(chosen[valid].astype("datetime64[D]"), int(value))
                chosen = np.full(len(chosen), np.datetime64("NaT"), dtype=values.dtype)
                # end (24:00) of that working day
                chosen[valid] = (day + np.timedelta64(1, "D")).astype(values.dtype)
                fallback_years.update(years)
            out[mask] = chosen
    if fallback_years:
        warnings.append(
            "working-day targets: the chinese-calendar package has no holiday data for "
            f"{sorted(fallback_years)}; Monday to Friday was used for those years"
        )
    return pd.Series(out, index=created_at.index), warnings


def _whole(hours: float, dtype: np.dtype) -> bool:
    """True when ``hours`` (as pandas reads them) are a whole number of ``dtype``'s unit."""
    unit = np.datetime_data(dtype)[0]
    step = pd.to_timedelta(hours, unit="h").to_timedelta64()
    return step % np.timedelta64(1, unit) == np.timedelta64(0, unit)


def _sla_deadlines_pandas(created_at: pd.Series, cause_l2: pd.Series,
                          instrument: Instrument) -> tuple[pd.Series, list[str]]:
    """:func:`sla_deadlines` with pandas Series, for datetimes numpy does not hold (time zones)."""
    out = pd.Series(pd.NaT, index=created_at.index, dtype=created_at.dtype)
    warnings: list[str] = []
    fallback_years: set[int] = set()
    codes = cause_l2.astype("string")
    targets = {c: instrument.sla_for(c) for c in instrument.label_sets["cause_l2"].codes}
    by_rule: dict[tuple[float, str], list[str]] = {}
    for code, t in targets.items():
        by_rule.setdefault((t.value, t.unit), []).append(code)
    for (value, unit), group in by_rule.items():
        mask = codes.isin(group).fillna(False).to_numpy(dtype=bool)
        if not mask.any():
            continue
        if unit == "hours":
            out[mask] = created_at[mask] + pd.to_timedelta(value, unit="h")
        else:
            day, years = _add_working_days_pandas(created_at[mask], int(value))
            out[mask] = day + pd.Timedelta(days=1)  # end (24:00) of that working day
            fallback_years.update(years)
    if fallback_years:
        warnings.append(
            "working-day targets: the chinese-calendar package has no holiday data for "
            f"{sorted(fallback_years)}; Monday to Friday was used for those years"
        )
    return out, warnings
