"""Personal data: keyed pseudonyms for customer ids, masking inside free text.

Customer ids are replaced by a keyed hash (BLAKE2b in its keyed mode, a
standard MAC, from Python's hashlib): the same key gives the same pseudonym, so
a customer's tickets stay linked across files and runs, and without the key a
pseudonym cannot be traced back to the id by hashing candidate ids.

The key comes from the environment variable ``RESEARCH_PSEUDONYM_KEY`` or, if
unset, from a local key file (:func:`research.paths.key_file`, git-ignored),
created with 32 random bytes on first use.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

import pandas as pd

from research import paths
from research.errors import InputError
from research.parse import distinct, strings_from_distinct

KEY_ENV = "RESEARCH_PSEUDONYM_KEY"
PSEUDONYM_PREFIX = "C"
_DIGEST_BYTES = 10  # 80 bits: collisions negligible for millions of customers

# Masks applied to free text, in this order (ID cards first: their digits
# would otherwise be read as a phone number).
ID_CARD_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
LANDLINE_RE = re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")
_CANDIDATE = r"[0-9A-Za-z]{4}"
MASK_ID = "[IDCARD]"
MASK_PHONE = "[PHONE]"
MASK_CUSTOMER = "[CUSTOMER]"


def load_key(path: Path | None = None) -> bytes:
    """The pseudonymisation key: from ``RESEARCH_PSEUDONYM_KEY``, else the key file.

    The key file is created (mode 0600, 32 random bytes as hex) when absent.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        if len(env) < 16:
            raise InputError(f"environment variable {KEY_ENV}: key too short (need at least 16 characters)")
        return env.encode("utf-8")
    path = Path(path) if path is not None else paths.key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    text = path.read_text(encoding="utf-8").strip()
    if len(text) < 16:
        raise InputError(f"{path}: pseudonymisation key too short (need at least 16 characters)")
    return text.encode("utf-8")


def key_id(key: bytes) -> str:
    """A short public fingerprint of the key (which key was used, not the key itself)."""
    return hashlib.blake2b(b"research-key-id", key=key[:64], digest_size=4).hexdigest()


def pseudonymise(ids: pd.Series, key: bytes) -> pd.Series:
    """Keyed pseudonyms of identifiers.

    Parameters
    ----------
    ids : text Series; surrounding spaces are ignored; <NA> and blank become <NA>.
    key : bytes from :func:`load_key` (only the first 64 bytes are used).

    Returns
    -------
    Series of ``"C" + 20 hex digits``, same index.
    """
    base = hashlib.blake2b(key=key[:64], digest_size=_DIGEST_BYTES)

    def one(value: str) -> str | None:
        if not value:
            return None
        h = base.copy()  # copying the keyed state is cheaper than keying anew
        h.update(value.encode("utf-8"))
        return PSEUDONYM_PREFIX + h.hexdigest()

    clean = ids.astype("string").str.strip()
    index, values = distinct(clean)  # hash each distinct id once
    return strings_from_distinct([one(v) for v in values], index, ids)


def mask_text(text: str, extra: tuple[tuple[str, str], ...] = ()) -> str:
    """Mask ID-card numbers, mobile and landline numbers, and given (value, mask) pairs, in one text."""
    for token, mask in extra:
        if token and len(token) >= 4:
            text = text.replace(token, mask)
    text = ID_CARD_RE.sub(MASK_ID, text)
    text = MOBILE_RE.sub(MASK_PHONE, text)
    return LANDLINE_RE.sub(MASK_PHONE, text)


def mask_comments(comments: pd.Series, *, also: list[tuple[pd.Series, str]] = ()) -> pd.Series:
    """Mask personal numbers in free-text comments.

    Parameters
    ----------
    comments : text Series (<NA> for none).
    also : (values, mask) pairs: each Series is aligned with ``comments``, and
        its value (e.g. the row's own customer id or phone) is replaced by
        ``mask`` wherever it appears in that row's comment.

    Returns
    -------
    Masked comments, same index; <NA> stays <NA>.
    """
    out = comments.astype("string").copy()
    # Only comments with a run of 4+ letters or digits can hold anything to mask;
    # the test runs in Arrow (C++) so the Python loop below sees few rows.
    present = out.str.contains(_CANDIDATE, regex=True).fillna(False).to_numpy(dtype=bool)
    if not present.any():
        return out
    extras = [(s.astype("string")[present].fillna("").tolist(), mask) for s, mask in also]
    texts = out[present].tolist()
    masked = [mask_text(t, tuple((values[i], mask) for values, mask in extras))
              for i, t in enumerate(texts)]
    out[present] = masked
    return out
