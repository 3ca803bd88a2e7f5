"""The one Wilson interval (research.stats.intervals) against R, and the names it is used by."""

from __future__ import annotations

import math

import numpy as np
import pytest

from research.stats.intervals import wilson_interval


def test_matches_r_prop_test_and_binom_wilson():
    # R: prop.test(8, 10, correct = FALSE)$conf.int -> 0.4901625 0.9433178
    # R: binom::binom.wilson(3, 40, 0.9) -> lower 0.03413929, upper 0.1567152 (prop.test agrees)
    low, high = wilson_interval([8, 3], [10, 40], 0.95)
    assert low[0] == pytest.approx(0.4901625, abs=1e-7) and high[0] == pytest.approx(0.9433178, abs=1e-7)
    low, high = wilson_interval([3], [40], 0.90)
    z = 1.6448536269514722
    p, n = 3 / 40, 40
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert low[0] == pytest.approx(centre - half, rel=1e-12) and high[0] == pytest.approx(centre + half, rel=1e-12)


def test_edges_and_missing():
    low, high = wilson_interval([0, 7, 7, 3, np.nan], [7, 7, 0, 10, 5])
    assert low[0] == 0 and 0 < high[0] < 1 and high[1] == 1 and 0 < low[1] < 1
    assert np.isnan(low[2]) and np.isnan(high[2])          # n = 0: undefined
    assert low[3] < 0.3 < high[3]
    assert np.isnan(low[4]) and np.isnan(high[4])          # missing count


def test_the_tables_figures_and_response_rates_use_it():
    from research.artifacts import figure_data_fit, tables_fit
    from research.representativeness import nonresponse

    assert tables_fit.wilson_interval is wilson_interval and figure_data_fit.wilson_interval is wilson_interval
    assert nonresponse.wilson_interval is wilson_interval
