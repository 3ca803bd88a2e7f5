"""The simulator's planted monitoring signals are found by research.strategy.monitoring.

References (parameter recovery): ``SimParams.plant_out_of_control`` shifts the
satisfaction latent of one station's tickets surveyed in one ISO week by -4
(their dissatisfied rate jumps from about 20% to over 80%);
``SimParams.plant_recurrence`` relabels 70% of one station's tickets created in
one week to one sub-cause. Both are recorded in ``truth["planted_signals"]``;
without them the simulation is unchanged.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from research.strategy.monitoring import p_chart, recurrence
from research.simulate import SimParams, simulate

STATION = "广州天河供电所"
WEEK = "2025-09-15"


@pytest.fixture(scope="module")
def planted():
    params = dataclasses.replace(SimParams(), plant_out_of_control=(STATION, WEEK, -4.0),
                                 plant_recurrence=(STATION, "low_voltage", WEEK, 0.7))
    return simulate(40000, 31, params=params)


def test_plants_are_recorded(planted):
    sig = planted.truth["planted_signals"]
    assert sig["out_of_control"]["station"] == STATION and sig["out_of_control"]["tickets"] > 5
    assert sig["recurrence"]["cause_l2"] == "low_voltage" and sig["recurrence"]["tickets_relabelled"] > 5


def test_p_chart_finds_the_planted_station_week(planted):
    pc = p_chart(planted.responses)
    week = pc[(pc["station"] == STATION) & (pc["period_start"] == pd.Timestamp(WEEK))]
    assert len(week) == 1 and bool(week["out_of_control"].iloc[0]) and week["signal"].iloc[0] == "above"
    # and the same station is in control in the weeks around it
    around = pc[(pc["station"] == STATION) & pc["period_start"].isin(
        [pd.Timestamp(WEEK) - pd.Timedelta(weeks=1), pd.Timestamp(WEEK) + pd.Timedelta(weeks=1)])]
    assert not around["out_of_control"].any()


def test_recurrence_finds_the_planted_cell(planted):
    rec = recurrence(planted.workorders)
    cell = rec[(rec["station"] == STATION) & (rec["cause_l2"] == "low_voltage")
               & (rec["period_start"] == pd.Timestamp(WEEK))]
    assert len(cell) == 1 and bool(cell["flagged"].iloc[0])
    flagged = rec[rec["flagged"]]
    assert len(flagged) <= 0.002 * len(rec) + 3  # few other flags: alpha = 0.001


def test_no_plant_no_change():
    a, b = simulate(2000, 32), simulate(2000, 32, params=SimParams())
    pd.testing.assert_frame_equal(a.responses, b.responses)
    assert "planted_signals" not in a.truth


def test_bad_plant_is_refused():
    with pytest.raises(ValueError, match="unknown station"):
        simulate(500, 1, params=dataclasses.replace(SimParams(), plant_out_of_control=("无此供电所", WEEK, -3)))
    with pytest.raises(ValueError, match="Monday"):
        simulate(500, 1, params=dataclasses.replace(SimParams(), plant_out_of_control=(STATION, "2025-09-16", -3)))
