"""Keys, pseudonyms and masking of personal numbers in free text."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from research.errors import InputError
from research.pseudonymise import KEY_ENV, load_key, mask_comments, mask_text


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
