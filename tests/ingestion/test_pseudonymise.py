"""Keys, pseudonyms and masking of personal numbers in free text."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research.errors import InputError
from research.ingestion.pseudonymise import KEY_ENV, load_key, mask_comments, mask_text


def test_key_file_created_once_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / ".secrets" / "pseudonym.key"
    key = load_key(path)
    assert path.exists() and len(key) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key(path) == key


def test_environment_key_wins_and_short_keys_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "from-the-environment-123")
    assert load_key(tmp_path / "unused.key") == b"from-the-environment-123"
    assert not (tmp_path / "unused.key").exists()
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(InputError, match=KEY_ENV):
        load_key()


@pytest.mark.parametrize("text, expected", [
    ("电话13812345678请回电", "电话[PHONE]请回电"),
    ("手机 138-1234-5678。", "手机 [PHONE]。"),
    ("+86 13812345678", "[PHONE]"),
    ("座机021-12345678", "座机[PHONE]"),
    ("身份证11010519491231002X", "身份证[IDCARD]"),
    ("身份证 110105194912310021 电话13912345678", "身份证 [IDCARD] 电话[PHONE]"),
    # an ID number holds an 11-digit run that looks like a mobile: masked whole as an ID
    ("110105198503151234", "[IDCARD]"),
    ("电表号 20251234 户号不变", "电表号 20251234 户号不变"),  # 8 digits: not personal
    ("停电3小时", "停电3小时"),
])
def test_masking(text, expected):
    assert mask_text(text) == expected


def test_row_own_identifiers_are_masked_in_its_comment():
    comments = pd.Series(["户号0012345678有问题", "无", None, "联系A1234567"], dtype="string")
    ids = pd.Series(["0012345678", "0012345678", "x", "A1234567"], dtype="string")
    out = mask_comments(comments, also=[(ids, "[CUSTOMER]")])
    assert out.tolist()[:2] == ["户号[CUSTOMER]有问题", "无"]
    assert pd.isna(out.iloc[2]) and out.iloc[3] == "联系[CUSTOMER]"


# ---------------------------------------------------------------------------
# The fast paths against the per-value ones they replaced (issue 12, point 3)
# ---------------------------------------------------------------------------

def _reference_pseudonymise(ids: pd.Series, key: bytes) -> list:
    """One keyed BLAKE2b per value, as pseudonymise computed it before hashing from Arrow buffers."""
    import hashlib

    out = []
    for value in ids.astype("string").str.strip():
        if value is pd.NA or value == "":
            out.append(None)
        else:
            h = hashlib.blake2b(key=key[:64], digest_size=10)
            h.update(value.encode("utf-8"))
            out.append("C" + h.hexdigest())
    return out


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(st.one_of(st.none(), st.text(max_size=14),
                              st.sampled_from(["", "  ", "3000000001", " 3000000001 ", "\u3000客户\u3000",
                                               "３０００"])), max_size=30),
       key=st.binary(min_size=16, max_size=80))
def test_pseudonymise_agrees_with_one_hash_per_value(ids, key):
    from research.ingestion.pseudonymise import pseudonymise

    series = pd.Series(ids, dtype="string", index=pd.RangeIndex(5, 5 + len(ids)))
    out = pseudonymise(series, key)
    assert str(out.dtype) == "string" and out.index.equals(series.index)
    assert [None if v is pd.NA else v for v in out.tolist()] == _reference_pseudonymise(series, key)


def _reference_mask_series(values: pd.Series, also) -> pd.Series:
    """mask_series as it was: the Arrow prefilter over every row, then each distinct hit text
    masked once and rows whose own values occur in their text masked row by row."""
    import numpy as np
    import pyarrow.compute as pc

    from research.ingestion import pseudonymise as p
    from research.ingestion.parse import as_arrow, distinct

    out = values.astype("string")
    hit = pc.match_substring_regex(as_arrow(out), p._OWN_PREFILTER if also else p._NUMBER_PREFILTER)
    rows = np.flatnonzero(pc.fill_null(hit, False).to_numpy(zero_copy_only=False))
    if len(rows) == 0:
        return out
    index, texts = distinct(out.iloc[rows])
    normal = [p._normalise(t) for t in texts]
    own = [p._own_column(s.iloc[rows]) for s, _ in also]
    marks = [m for _, m in also]
    masked = []
    for k, i in enumerate(index.tolist()):
        tokens = tuple((col[k], m) for col, m in zip(own, marks) if col[k] is not None)
        if any(t in normal[i][0] for t, _ in tokens):
            masked.append(p._masked(texts[i], *normal[i], tokens))
        else:
            masked.append(p._masked(texts[i], *normal[i], ()))
    out.iloc[rows] = pd.array(masked, dtype="string")
    return out


_own_value = st.one_of(st.none(), st.sampled_from(["3000000001", " 3000000001", "13912345678", "A123",
                                                   "ab", "３０００００００１２", "x"]), st.text(max_size=6))
_texts = st.one_of(st.none(), st.text(max_size=10),
                   st.builds(lambda a, b, c: a + b + c, st.text(max_size=4),
                             st.sampled_from(["3000000001", "13912345678", "３０００００００１２", "A123",
                                              "电话13812345678", "020-12345678", "110105194912310021"]),
                             st.text(max_size=4)))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(_texts, _own_value, _own_value), max_size=25), with_own=st.booleans())
def test_mask_series_agrees_with_the_row_by_row_reference(rows, with_own):
    from research.ingestion.pseudonymise import MASK_CUSTOMER, MASK_PHONE, mask_series

    texts = pd.Series([r[0] for r in rows], dtype="string")
    also = [(pd.Series([r[1] for r in rows], dtype="string"), MASK_CUSTOMER),
            (pd.Series([r[2] for r in rows], dtype="string"), MASK_PHONE)] if with_own else []
    pd.testing.assert_series_equal(mask_series(texts, also=also), _reference_mask_series(texts, also))


_pieces = st.sampled_from(["13912345678", "+86 139 1234 5678", "0086-10-12345678", "(010)1234-5678",
                           "020 12345678", "110105194912310021", "11010519491231002X", "1234567890123456",
                           "075512345678", "１３９１２３４５６７８", "\uffff", "\u3000", "-", " ", "+", "(", ")",
                           "电话", "号", "ｘ", "ﬁ", "①", "2026-03-01 08:15:00", "A"])
_glued = st.lists(st.one_of(_pieces, st.text(alphabet="0123456789 -+()\uffff", max_size=6)),
                  max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_glued, max_size=30))
def test_masking_many_texts_in_one_scan_masks_each_as_alone(texts):
    """:func:`_masked_many` joins the texts for one regex scan: each result must be that text masked
    alone (:func:`_masked`), whatever sits at the ends of its neighbours (digits, separators, the
    joining character itself, full-width and NFKC-expanding characters)."""
    from research.ingestion import pseudonymise as p

    normals = [p._normalise(t) for t in texts]
    assert p._masked_many(texts, normals) == [p._masked(t, *n, ()) for t, n in zip(texts, normals)]
