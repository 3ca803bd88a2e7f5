"""The one period vocabulary (research.stats.periods) and the bulletin's periods built on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.bulletin.periods import period_of
from research.errors import InputError
from research.stats.periods import PERIODS, next_start, period_kind, period_range, period_start


def test_names_and_codes():
    assert PERIODS == ("day", "week", "month")
    assert [period_kind(x) for x in ("D", "W", "M", "day", "week", "month")] == [*PERIODS, *PERIODS]
    for bad in ("Q", "year", None, 7):
        with pytest.raises(InputError, match="unknown period; use one of day, week, month, D, W, M"):
            period_kind(bad)


def test_starts_ranges_and_next_starts():
    t = pd.to_datetime(["2025-03-31 08:00", "2025-04-06 23:59", "2024-12-31 12:00", None]).to_numpy()
    w = period_start(t, "week")
    assert list(w[:3].astype("datetime64[D]").astype(str)) == ["2025-03-31", "2025-03-31", "2024-12-30"]
    assert np.isnat(w[3])
    m = period_start(t, "month")
    assert list(m[:3].astype("datetime64[D]").astype(str)) == ["2025-03-01", "2025-04-01", "2024-12-01"]
    r = period_range(m[2], m[1], "M")
    assert list(r.astype("datetime64[M]").astype(str)) == ["2024-12", "2025-01", "2025-02", "2025-03", "2025-04"]
    assert len(period_range(w[2], w[0], "week")) == 14
    assert str(next_start(m[2], "month").astype("datetime64[D]")) == "2025-01-01"
    assert str(next_start(w[0], "W").astype("datetime64[D]")) == "2025-04-07"
    assert str(next_start(w[0], "day").astype("datetime64[D]")) == "2025-04-01"


@pytest.mark.parametrize("kind, at, start, end", [
    ("day", "2024-02-29", "2024-02-29", "2024-03-01"),
    ("week", "2025-04-02", "2025-03-31", "2025-04-07"),
    ("month", "2024-12-15", "2024-12-01", "2025-01-01"),
])
def test_bulletin_periods_use_the_same_bounds(kind, at, start, end):
    p = period_of(kind, at)
    assert (p.kind, p.start, p.end) == (kind, pd.Timestamp(start), pd.Timestamp(end))
    assert p.start == pd.Timestamp(period_start(np.array([np.datetime64(at)]), kind)[0])
