"""Monitoring, input checks shared by the p-chart, the recurrence flags and the repeat callers.

In: a frame and the columns a function needs; out: nothing (InputError naming what is
wrong), the datetimes of a column as naive ``datetime64[us]``, or the grouping columns as a list.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from research.errors import InputError


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """InputError when ``frame`` is not a DataFrame or lacks one of ``columns``."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what}: expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise InputError(f"{what}: required column(s) absent: {names}")


def _datetimes(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """``frame[column]`` as naive ``datetime64[us]`` (a time zone is dropped, the wall time
    kept); InputError when the column does not hold datetimes."""
    col = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(col):
        raise InputError(f"{what}: column {column!r} must hold datetimes (got {col.dtype})")
    if getattr(col.dt, "tz", None) is not None:
        col = col.dt.tz_localize(None)
    return col.to_numpy(dtype="datetime64[us]")


def _keys(by) -> list[str]:
    """A column name or a list of them, as a list."""
    return [by] if isinstance(by, str) else list(by)
