"""research.stats.reliability against R psych::alpha, plus invariants and input errors.

Reference source for every ``*_matches_r`` test: the CSV files written by
``tests/fixtures/r/comparisons/make_reference.R`` (psych 2.2.9 on R 4.2.2) from
the committed 4-item data set ``tests/fixtures/r/comparisons/items_data.csv``
(250 rows, 35 with at least one item missing). R drops incomplete rows with
``na.omit`` before ``psych::alpha``; correlations use
``cor(use = "pairwise.complete.obs")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from research.stats.reliability import (SAT_ITEMS, cronbach_alpha, feldt_interval, item_correlations,
                                  item_statistics)
from research.simulate import simulate

REF = Path(__file__).parents[1] / "fixtures" / "r" / "comparisons"

#: Closed-form quantities (covariances, correlations, F quantiles) computed by
#: the same formulas in R and Python; agreement was better than 1e-13, so 1e-6
#: relative is a loose bound that still catches any formula error.
RTOL = 1e-6


def _close(actual, expected, name: str, *, rtol: float = RTOL) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, err_msg=f"{name} differs from R")


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    """The committed item data, with the items as nullable Int64 like canonical responses."""
    d = pd.read_csv(REF / "items_data.csv")
    return d.astype({c: "Int64" for c in SAT_ITEMS})


def test_alpha_matches_r(items):
    """Raw alpha and Feldt interval; R psych::alpha(...)$total$raw_alpha and $feldt."""
    ref = pd.read_csv(REF / "reference_alpha.csv").iloc[0]
    got = cronbach_alpha(items).iloc[0]
    for col in ("alpha", "conf_low", "conf_high", "conf_level", "n", "n_items"):
        _close(got[col], ref[col], col)
    assert got["n_missing"] == len(items) - ref["n"]
    assert got["method"] == "feldt"
    assert got["conf_low"] <= got["alpha"] <= got["conf_high"]


def test_alpha_interval_is_not_rounded(items):
    """pingouin rounds its interval to 3 decimals; ours must keep full precision
    (reference: R psych::alpha's Feldt bounds, which are not multiples of 0.001)."""
    ref = pd.read_csv(REF / "reference_alpha.csv").iloc[0]
    got = cronbach_alpha(items).iloc[0]
    _, ci_pg = pg.cronbach_alpha(data=items[list(SAT_ITEMS)].astype(float), nan_policy="listwise")
    assert abs(ci_pg[0] - ref["conf_low"]) > 1e-6  # pingouin's rounded bound misses R
    _close(got["conf_low"], ref["conf_low"], "conf_low", rtol=1e-12)


def test_item_statistics_match_r(items):
    """mean, sd, r.drop and alpha if dropped; R psych::alpha(...)$item.stats / $alpha.drop."""
    ref = pd.read_csv(REF / "reference_items.csv")
    got = item_statistics(items)
    assert list(got["item"]) == list(ref["item"]) == list(SAT_ITEMS)
    for col in ("mean", "sd", "item_rest_r", "alpha_if_dropped", "n"):
        _close(got[col], ref[col], col)


def test_item_correlations_match_r(items):
    """Pairwise-complete Pearson r; R cor(use = 'pairwise.complete.obs')."""
    ref = pd.read_csv(REF / "reference_item_cor.csv")
    got = item_correlations(items)
    m = got.merge(ref, on=["item_a", "item_b"], suffixes=("", "_r"), validate="1:1")
    assert len(m) == len(ref) == len(SAT_ITEMS) ** 2
    _close(m["r"], m["r_r"], "r")
    # n counts rows where both items are present (reference: direct count)
    one = got.query("item_a == 'sat_overall' and item_b == 'sat_speed'")["n"].item()
    assert one == int((items["sat_overall"].notna() & items["sat_speed"].notna()).sum())


def test_feldt_interval_formula():
    """Shape of Feldt's interval (reference: Feldt 1965, the F-based interval): it contains
    alpha, widens with the confidence level and narrows with the sample size. Its values
    are checked against psych::alpha in test_alpha_matches_r."""
    low, high = feldt_interval(0.8, 100, 4, 0.95)
    assert low < 0.8 < high
    # wider for a higher level, narrower for a larger sample
    low99, high99 = feldt_interval(0.8, 100, 4, 0.99)
    assert low99 < low and high99 > high
    low_n, high_n = feldt_interval(0.8, 1000, 4, 0.95)
    assert high_n - low_n < high - low


# ---------------------------------------------------------- invariants -------
def test_shuffle_and_column_order_do_not_matter(items):
    """Same results when rows are shuffled and columns reordered (item order kept)."""
    shuffled = items.sample(frac=1, random_state=5)[list(reversed(items.columns))]
    for f in (cronbach_alpha, item_statistics, item_correlations):
        pd.testing.assert_frame_equal(f(items), f(shuffled), check_exact=False, rtol=1e-12)


def test_canonical_responses_work():
    """The simulated canonical frame (Int64 items with <NA>) goes through; r in [-1, 1]."""
    resp = simulate(600, 5).responses
    a = cronbach_alpha(resp).iloc[0]
    complete = int(resp[list(SAT_ITEMS)].notna().all(axis=1).sum())
    assert a["n"] == complete < len(resp)
    assert a["conf_low"] <= a["alpha"] <= a["conf_high"]
    cor = item_correlations(resp)
    assert cor["r"].between(-1, 1).all()
    assert (cor.query("item_a == item_b")["r"] == 1).all()
    assert item_statistics(resp)["n"].eq(complete).all()


# ------------------------------------------------------------- errors --------
def test_missing_item_is_named(items):
    with pytest.raises(ValueError, match="'sat_value'"):
        cronbach_alpha(items, items=("sat_overall", "sat_value"))
    with pytest.raises(ValueError, match="'sat_value'"):
        item_correlations(items, items=("sat_overall", "sat_value"))


def test_bad_items_and_level(items):
    with pytest.raises(ValueError, match="at least 2"):
        cronbach_alpha(items, items=("sat_overall",))
    with pytest.raises(ValueError, match="'respondent' must be numeric"):
        item_statistics(items, items=("sat_overall", "respondent"))
    with pytest.raises(ValueError, match="conf_level"):
        cronbach_alpha(items, conf_level=1.5)
