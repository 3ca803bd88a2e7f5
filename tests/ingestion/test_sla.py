"""SLA deadlines on the Chinese working calendar.

Reference: the State Council General Office notice on the 2025 holidays
(国务院办公厅关于2025年部分节假日安排的通知, 2024-11-12): Spring Festival
2025-01-28..02-04 off with make-up working days Sun 01-26 and Sat 02-08;
National Day 2025-10-01..10-08 off with make-up working days Sun 09-28 and
Sat 10-11. The expected deadlines below were counted by hand from it.
"""

from __future__ import annotations

import pandas as pd

from research.ingestion.sla import add_working_days, sla_deadlines


def ts(*values):
    return pd.Series(pd.to_datetime(list(values)), dtype="datetime64[us]")


def test_working_days_skip_holidays_and_count_make_up_days():
    days, fallback = add_working_days(ts("2025-09-30 10:00", "2025-01-27 09:00", "2025-10-09 23:59"), 7)
    # 09-30 -> 10-09, 10-10, 10-11 (Sat, make-up), 10-13 .. 10-16
    # 01-27 -> 02-05, 02-06, 02-07, 02-08 (Sat, make-up), 02-10, 02-11, 02-12
    # 10-09 -> 10-10, 10-11 (make-up), 10-13, 10-14, 10-15, 10-16, 10-17
    assert days.tolist() == [pd.Timestamp("2025-10-16"), pd.Timestamp("2025-02-12"),
                             pd.Timestamp("2025-10-17")]
    assert fallback == []


def test_deadlines_by_unit(instrument):
    created = ts("2025-09-30 10:00", "2025-05-01 10:00", "2025-05-01 10:00", "2025-05-01 10:00")
    l2 = pd.Series(["billing_dispute", "slow_repair", "arrears_disconnection", "expansion_delay"])
    deadline, warnings = sla_deadlines(created, l2, instrument)
    assert deadline.iloc[0] == pd.Timestamp("2025-10-17 00:00")  # end of 7th working day
    assert deadline.iloc[1] == pd.Timestamp("2025-05-01 15:30")  # 5.5 h
    assert deadline.iloc[2] == pd.Timestamp("2025-05-02 10:00")  # 24 h
    # 2025 Labour Day: 05-01..05-05 off, Sun 04-27 worked -> 05-06, 07, 08, 09, 12 is the 5th
    assert deadline.iloc[3] == pd.Timestamp("2025-05-13 00:00")
    assert warnings == []


def test_years_without_calendar_data_fall_back_with_a_warning(instrument):
    deadline, warnings = sla_deadlines(ts("2026-12-30 08:00"), pd.Series(["billing_dispute"]), instrument)
    assert deadline.iloc[0] == pd.Timestamp("2027-01-09")  # Mon-Fri used for 2027
    assert len(warnings) == 1 and "2027" in warnings[0]
