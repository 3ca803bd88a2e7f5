"""典型案例分析 (issue 14 point 3): segmentation with the domain dictionary, the fightin'-words
log-odds against an independent R transcription, recovery of planted cause phrases from the
simulator, typical cases chosen by the stated rule, rising terms, and no personal data out."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.simulate import SimParams, simulate
from research.stats.fightin_words import log_odds_dirichlet
from research.strategy.typical_cases import distinguishing_terms, rising_terms, segment, typical_cases

FIXTURES = Path(__file__).parents[1] / "fixtures" / "r" / "fightin_words"
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
IDCARD = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")


@pytest.mark.parametrize("prior", [10, 500, None])
def test_log_odds_match_an_independent_r_transcription(prior):
    """Monroe, Colaresi & Quinn (2008) eqs. 16, 20, 22; reference: tests/fixtures/r/fightin_words
    (None: the default prior, alpha_0 = the pooled number of words)."""
    counts = pd.read_csv(FIXTURES / "counts.csv", encoding="utf-8")
    ref = pd.read_csv(FIXTURES / "reference.csv", encoding="utf-8", dtype={"prior": str})
    ref = ref[ref["prior"] == ("pooled" if prior is None else str(prior))].set_index("term")
    got = log_odds_dirichlet(counts.set_index("term")["n_a"], counts.set_index("term")["n_b"],
                             prior=prior).set_index("term")
    for col in ("delta", "se", "z"):
        np.testing.assert_allclose(got.loc[ref.index, col], ref[col], rtol=1e-12)
    assert list(got["z"]) == sorted(got["z"], reverse=True)


def test_log_odds_refuse_a_bad_prior_and_are_empty_without_words():
    with pytest.raises(ValueError, match="prior"):
        log_odds_dirichlet(pd.Series({"a": 1}), pd.Series({"a": 1}), prior=0)
    assert log_odds_dirichlet(pd.Series({"a": 1}), pd.Series([], dtype="int64")).empty


def test_segment_keeps_domain_terms_whole_and_drops_stopwords_masks_and_single_characters():
    texts = pd.Series(["交了钱还是欠费停电，电话[PHONE]", None, "", "低电压，空调开不了"])
    words = segment(texts)
    assert words[0] == ["欠费停电", "电话"]  # 还是: stopword; 交, 了, 钱: single characters; the mask
    assert words[1] == [] and words[2] == []
    assert words[3][0] == "低电压" and "空调" in words[3]


@pytest.fixture(scope="module")
def planted():
    return simulate(20000, 5, params=SimParams(comment_cause_share=0.6, comment_cause_noise=0.05))


def test_the_simulator_plants_phrases_without_changing_any_other_column():
    on = simulate(2000, 3, params=SimParams(comment_cause_share=0.6, comment_cause_noise=0.05))
    off = simulate(2000, 3)
    pd.testing.assert_frame_equal(on.responses.drop(columns="comment"), off.responses.drop(columns="comment"))
    pd.testing.assert_frame_equal(on.workorders, off.workorders)
    assert (on.responses["comment"].fillna("") != off.responses["comment"].fillna("")).sum() > 50
    assert "comment_terms" in on.truth and "comment_terms" not in off.truth


def test_the_planted_terms_of_every_cause_group_are_recovered_and_no_others(planted):
    """Recovery of a planted truth: each cause group's planted terms (truth["comment_terms"]) reach
    z >= 1.96 in that group, the smallest group (capability) included; the other groups' planted
    terms, which occur there only as noise unrelated to satisfaction, never reach z >= 3.29."""
    truth = planted.truth["comment_terms"]["terms"]
    terms = distinguishing_terms(planted.responses, top=1000, min_count=1)
    every = {t for ts in truth.values() for t in ts}
    for group, own in truth.items():
        found = terms[terms["cause_l1"] == group].set_index("term")["z"]
        assert set(own) <= set(found.index), (group, sorted(set(own) - set(found.index)))
        strong_others = found[found.index.isin(every - set(own)) & (found >= 3.29)]
        assert strong_others.empty, (group, strong_others.to_dict())
    sizes = planted.responses.groupby("cause_l1").size()
    assert sizes.min() < sizes.max() / 5  # the groups recovered include one a fifth the size of the largest


def test_without_planted_phrases_nothing_cause_specific_is_found():
    plain = simulate(20000, 5)
    terms = distinguishing_terms(plain.responses, top=1000, min_count=1)
    planted_terms = {t for ts in simulate(200, 5, params=SimParams(comment_cause_share=0.6))
                     .truth["comment_terms"]["terms"].values() for t in ts}
    assert not set(terms["term"]) & planted_terms


def test_typical_cases_follow_the_rule_and_carry_no_personal_data(planted):
    r = planted.responses
    terms = distinguishing_terms(r)
    cases = typical_cases(r, terms, per_group=3)
    truth = planted.truth["comment_terms"]["terms"]
    assert set(cases["cause_l1"]) == set(truth)
    by_ticket = r.set_index("ticket_id")
    for row in cases.itertuples():
        source = by_ticket.loc[row.ticket_id]
        assert source["cause_l1"] == row.cause_l1 and source["satisfied"] == False  # noqa: E712
        assert any(t in row.comment for t in truth[row.cause_l1])  # it names its group's complaint
        assert row.matched and 0 < row.score <= 1
        assert not PHONE.search(row.comment) and not IDCARD.search(row.comment)
    for _, g in cases.groupby("cause_l1"):
        assert list(g["score"]) == sorted(g["score"], reverse=True) and g["comment"].is_unique


def test_typical_cases_mask_a_comment_that_slipped_through():
    r = pd.DataFrame({"ticket_id": ["T1", "T2"], "cause_l1": ["outage", "outage"],
                      "cause_l2": ["slow_repair", "slow_repair"], "satisfied": [False, True],
                      "comment": ["抢修太慢，电话13912345678", "抢修很快"]})
    terms = pd.DataFrame({"cause_l1": ["outage"], "term": ["抢修"], "z": [3.0]})
    cases = typical_cases(r, terms)
    assert len(cases) == 1 and "13912345678" not in cases["comment"].iloc[0]


def test_rising_terms_find_a_word_new_this_month_and_nothing_in_a_steady_stream():
    days = pd.date_range("2026-01-01", "2026-03-31", freq="D")
    base = ["抢修太慢了", "电费不合理", "态度恶劣"]
    rows = [{"surveyed_at": d, "satisfied": False, "comment": base[i % 3]} for i, d in enumerate(days)]
    steady = pd.DataFrame(rows)
    assert rising_terms(steady, start="2026-03-01", end="2026-04-01", baseline_start="2026-01-01").empty
    burst = pd.concat([steady, pd.DataFrame([{"surveyed_at": pd.Timestamp("2026-03-10") + pd.Timedelta(hours=h),
                                              "satisfied": False, "comment": "电表箱漏电了"} for h in range(12)])])
    up = rising_terms(burst, start="2026-03-01", end="2026-04-01", baseline_start="2026-01-01")
    assert set(up["term"]) == {"电表箱", "漏电"} and (up["n_period"] == 12).all() and (up["n_baseline"] == 0).all()


def test_missing_columns_are_named():
    from research.errors import InputError

    with pytest.raises(InputError, match="satisfied"):
        distinguishing_terms(pd.DataFrame({"comment": ["x"], "cause_l1": ["outage"]}))
