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

import gc
import hashlib
import os
import re
import secrets
import unicodedata
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research import paths
from research.errors import InputError
from research.ingestion.parse import Coded, as_arrow, strings_series

KEY_ENV = "RESEARCH_PSEUDONYM_KEY"
PSEUDONYM_PREFIX = "C"
_DIGEST_BYTES = 10  # 80 bits: collisions negligible for millions of customers

# --- Masking personal numbers in free text -----------------------------------
#
# Written by hand rather than taken from a library: the formats are those of
# Chinese ID cards and phone numbers as people type them into a utility's
# export, and every rule (and every non-rule: dates, amounts, ticket ids) is
# pinned down by tests (tests/ingestion/test_pseudonymise.py, tests/ingestion/test_hostile_personal.py).
#
# The text is first NFKC-normalised, so full-width digits, letters, brackets,
# plus signs and the ideographic space become their ASCII forms. Then the row's
# own values are masked, and then the number rules 2-6 (tried in this order at
# each position of the text, the leftmost match winning):
#
# 1. the row's own customer id -> [CUSTOMER] and phone -> [PHONE], wherever they
#    appear (exact, after NFKC; values shorter than 4 characters are ignored);
# 2. mobiles -> [PHONE]: 1[3-9] + 9 digits, optionally after +86 / 0086 / 86,
#    with at most one space or dash between any two digits (any grouping);
# 3. +86 / 0086 landlines -> [PHONE]: area code (optional leading 0, optional
#    brackets) and a 7-8 digit local number, optionally grouped;
# 4. ID-card numbers -> [IDCARD]: 18 digits (17 + digit or X/x) or 15 digits
#    (first generation), anywhere -- also straight after letters or CJK text
#    ("ID110101199003071234", "身份证号码110101199003071234") -- but only as a
#    whole run of digits; also written 6-8-4 (or 6-6-3) with spaces or dashes;
# 5. any other run of 15 or more digits -> [NUMBER]: a long digit run in free
#    text (bank card, ID typed with an extra digit) is more likely personal
#    than not, so it is masked whole rather than leaving its digits readable;
# 6. landlines -> [PHONE]: 0 + 2-3 digit area code, optionally in brackets,
#    then an optional space or dash (required without brackets), then 7-8
#    digits, possibly grouped (1234-5678, 123-4567); and runs of 11-12 digits
#    starting with 0 with no separator (075512345678, 02012345678).
#
# Not masked (tests pin these): dates and times (2026-03-01 08:15:00, 20260301,
# 2026/3/1 8:15), amounts (1234.56元), runs of up to 10 digits not starting a
# mobile (meter readings of up to 8 digits, short numbers), runs of 13-14 digits
# (compact date-times 20260301081500) and so ticket ids (letters + 13 digits,
# GD2025010100002), since every rule needs its digits to be a whole run.
#
# Normalisation is only for finding numbers: each match is mapped back to the
# characters of the original text it came from, and only those are replaced.
# The rest of the text is returned exactly as given (a station keeps its
# full-width spelling, a comment its full-width punctuation "，"), and a text
# with nothing to mask is returned unchanged.
_SEP = r"[\s\-\u2010-\u2015\u2212\u30fc]"  # one space or dash (after NFKC) between digit groups
MOBILE_RE = re.compile(rf"(?<!\d)(?:(?:\+|00)?86{_SEP}?)?1{_SEP}?[3-9](?:{_SEP}?\d){{9}}(?!\d)")
INTL_LANDLINE_RE = re.compile(rf"(?<!\d)(?:\+|00)86{_SEP}?(?:\(0?\d{{2,3}}\)|0?\d{{2,3}})"
                              rf"{_SEP}?\d{{3,4}}{_SEP}?\d{{4}}(?!\d)")
ID_GROUPED_RE = re.compile(
    rf"(?<!\d)\d{{6}}{_SEP}(?:\d{{8}}{_SEP}\d{{3}}[\dXx]|\d{{6}}{_SEP}\d{{3}})(?!\d)")
ID_CARD_RE = re.compile(r"(?<!\d)(?:\d{17}[\dXx]|\d{15})(?!\d)")
LONG_RUN_RE = re.compile(r"(?<!\d)\d{15,}")
LANDLINE_RE = re.compile(
    rf"(?<!\d)(?:\(0\d{{2,3}}\){_SEP}?|0\d{{2,3}}{_SEP})\d{{3,4}}{_SEP}?\d{{4}}(?!\d)")
LANDLINE_RUN_RE = re.compile(r"(?<!\d)0\d{10,11}(?!\d)")
MASK_ID = "[IDCARD]"
MASK_PHONE = "[PHONE]"
MASK_CUSTOMER = "[CUSTOMER]"
MASK_NUMBER = "[NUMBER]"
_RULES = ((MOBILE_RE, MASK_PHONE), (INTL_LANDLINE_RE, MASK_PHONE), (ID_GROUPED_RE, MASK_ID),
          (ID_CARD_RE, MASK_ID), (LONG_RUN_RE, MASK_NUMBER), (LANDLINE_RE, MASK_PHONE),
          (LANDLINE_RUN_RE, MASK_PHONE))
# The rules as one alternation: one scan per text instead of seven. Every rule
# needs whole digit runs, so two rules compete for the same digits only in
# ambiguous texts ("020 139 1234 5678": a landline then "5678", or "020 " then
# a mobile); then the leftmost reading wins and at most 4 digits stay readable.
# The look-ahead lets the scan skip quickly over positions where no rule can start.
_NUMBER_RE = re.compile(r"(?=[\d+(])(?:" + "|".join(f"(?P<r{i}>{pattern.pattern})"
                                                    for i, (pattern, _) in enumerate(_RULES)) + ")")
_NUMBER_MASK = {f"r{i}": mask for i, (_, mask) in enumerate(_RULES)}
# Prefilters, run in Arrow (RE2, Unicode-aware) over whole columns so the Python
# masking sees few texts. Every number rule needs four digits with at most one
# other character between them, and \p{N} covers full-width and other Unicode
# digits that NFKC turns into ASCII (an ASCII-only [0-9] would let １３９... through).
_NUMBER_PREFILTER = r"\p{N}(?:[^\p{L}\p{N}]?\p{N}){3}"
# The row's own values are searched only in texts holding 4 letters or digits
# in a row (ASCII or full-width): customer ids and phones of the contract do.
_OWN_PREFILTER = _NUMBER_PREFILTER + r"|[0-9A-Za-z０-９Ａ-Ｚａ-ｚ]{4}"
_MIN_OWN = 4  # shorter own values would mask ordinary words and numbers


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
    return strings_series(pseudonymise_coded(Coded.encode(ids.astype("string")), key), ids)


def pseudonymise_coded(ids: Coded, key: bytes) -> pa.Array:
    """:func:`pseudonymise` of a :class:`research.ingestion.parse.Coded` column, as an Arrow array:
    each distinct id hashed once."""
    return ids.with_values(pseudonym_values(ids, key)).arrow()


def pseudonym_values(ids: Coded, key: bytes) -> pa.Array:
    """The pseudonym of each distinct value of ``ids`` (aligned with ``ids.values``; <NA> for
    <NA> and blank): ``ids.with_values(pseudonym_values(ids, key)).arrow()`` is
    :func:`pseudonymise_coded`, and so is the same for any selection of its rows."""
    clean = pc.fill_null(pc.utf8_trim_whitespace(ids.values), "")  # the kernel of str.strip()
    return _pseudonyms(clean, key)


def _pseudonyms(values: pa.Array, key: bytes) -> pa.Array:
    """``"C"`` + the hex keyed BLAKE2b digest of each value's UTF-8 bytes; <NA> for "".

    The values are hashed as the bytes Arrow holds (no ``str`` decoded and
    encoded again) and the digests turned into hex by numpy: per value, only
    copying the keyed state (cheaper than keying anew), one update and one
    digest run in Python.
    """
    n = len(values)
    copy = hashlib.blake2b(key=key[:64], digest_size=_DIGEST_BYTES).copy
    digests = []
    add = digests.append
    with _no_gc():
        for value in pc.fill_null(values, "").cast(pa.large_binary()).to_pylist():  # UTF-8 bytes
            h = copy()
            h.update(value)
            add(h.digest())
    digests = np.frombuffer(b"".join(digests), dtype=np.uint8)
    width = 1 + 2 * _DIGEST_BYTES
    text = np.empty((n, width), dtype=np.uint8)
    text[:, 0] = ord(PSEUDONYM_PREFIX)
    pairs = digests.reshape(n, _DIGEST_BYTES)
    text[:, 1::2] = _HEX[pairs >> 4]
    text[:, 2::2] = _HEX[pairs & 15]
    names = pa.Array.from_buffers(pa.large_string(), n, [
        None, pa.py_buffer(np.arange(0, width * (n + 1), width, dtype=np.int64)), pa.py_buffer(text)])
    return pc.if_else(pc.equal(pc.binary_length(values), 0), pa.scalar(None, pa.large_string()), names)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# Stands for a character taken by the row's own values while the number rules
# run: not a digit, space or dash, so their look-arounds see it as they would "[".
_TAKEN = "\uffff"
# Full-width ASCII and the ideographic space, narrowed one character for one
# (what NFKC does to them) so most texts need no character-by-character NFKC.
_NARROW = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """NFKC for matching, remembering where each character came from.

    Returns
    -------
    normal : the normalised text.
    origin : for each character of ``normal``, the index in ``text`` of the
        character it came from (NFKC may turn one character into several);
        None when ``normal`` has one character per character of ``text``.
    """
    if text.isascii() or unicodedata.is_normalized("NFKC", text):  # fast checks, in C
        return text, None
    narrow = text.translate(_NARROW)
    if narrow.isascii() or unicodedata.is_normalized("NFKC", narrow):
        return narrow, None
    parts, origin = [], []
    for i, char in enumerate(text):
        norm = unicodedata.normalize("NFKC", char)
        parts.append(norm)
        origin.extend([i] * len(norm))
    return "".join(parts), origin


def _spans(normal: str, tokens: tuple[tuple[str, str], ...]) -> list[tuple[int, int, str]]:
    """(start, end, mask) of what to mask in a normalised text: the row's own
    values first, then the number rules; the spans never overlap."""
    spans = []
    for token, mask in tokens:
        at = normal.find(token)
        while at >= 0:
            spans.append((at, at + len(token), mask))
            normal = normal[:at] + _TAKEN * len(token) + normal[at + len(token):]
            at = normal.find(token, at + len(token))
    spans.extend((m.start(), m.end(), _NUMBER_MASK[m.lastgroup])
                 for m in _NUMBER_RE.finditer(normal))
    return sorted(spans)


def _own_tokens(extra) -> tuple[tuple[str, str], ...]:
    """(NFKC-normalised value, mask) pairs worth searching for (blank/<NA>/short ones dropped)."""
    out = []
    for token, mask in extra:
        if not isinstance(token, str):  # None, <NA>
            continue
        token = token.strip() if token.isascii() else unicodedata.normalize("NFKC", token).strip()
        if len(token) >= _MIN_OWN:
            out.append((token, mask))
    return tuple(out)


def _own_column(values: pd.Series) -> list[str | None]:
    """A column of the row's own values as :func:`_own_tokens` would keep them
    (NFKC, stripped, None when blank or shorter than 4), computed in Arrow."""
    arr = pc.utf8_trim_whitespace(pc.utf8_normalize(as_arrow(values.astype("string")), "NFKC"))
    arr = pc.if_else(pc.greater_equal(pc.utf8_length(arr), _MIN_OWN), arr, None)
    return arr.to_pylist()


def mask_text(text, extra: tuple[tuple[str, str], ...] = ()):
    """Mask personal numbers in one text (rules: the masking comment at the top of this module).

    Parameters
    ----------
    text : the text; None or <NA> is returned unchanged.
    extra : (value, mask) pairs, e.g. the row's own customer id with
        ``[CUSTOMER]``; each value (NFKC-normalised, at least 4 characters) is
        replaced by its mask wherever it appears.

    Returns
    -------
    The text with each personal number (the original characters it was
    written with, full-width or not) replaced by ``[PHONE]``, ``[IDCARD]``,
    ``[NUMBER]`` or the given mask; every other character as given.
    """
    if text is None or text is pd.NA or not isinstance(text, str):
        return text
    return _masked(text, *_normalise(text), _own_tokens(extra))


def _masked(text: str, normal: str, origin: list[int] | None,
            tokens: tuple[tuple[str, str], ...]) -> str:
    """:func:`mask_text` given the text's :func:`_normalise` and its own values' tokens."""
    spans = _spans(normal, tokens)
    if not spans:
        return text
    out, done = [], 0
    for start, end, mask in spans:
        first, last = (start, end) if origin is None else (origin[start], origin[end - 1] + 1)
        if first < done:  # shares an original character with the previous span: widen that one
            done = max(done, last)
            continue
        out.append(text[done:first])
        out.append(mask)
        done = last
    out.append(text[done:])
    return "".join(out)


def _masked_many(texts: list[str], normals: list[tuple[str, list[int] | None]]) -> list[str]:
    """``[_masked(t, *n, ()) for t, n in zip(texts, normals)]``, the texts without own values
    masked in one regex scan where that gives the same.

    Texts whose normal form has one character per character (``origin`` None: most of them)
    are joined with :data:`_TAKEN` between them and scanned once: no rule matches it or
    lets a match run over it, and the look-arounds see it as they see the end of a text, so
    the matches are each text's own. Each match is replaced in the joined original text (the
    same length) and the result split again. Cost: one Python step per match instead of
    several calls per text (1M rows: about 40,000 comments with a number). Texts holding
    :data:`_TAKEN` themselves, and those whose NFKC form differs in length, are masked one by one.
    """
    out: list[str | None] = [None] * len(texts)
    batch = []
    for i, (text, (normal, origin)) in enumerate(zip(texts, normals)):
        if origin is None and _TAKEN not in normal:
            batch.append(i)
        else:
            out[i] = _masked(text, normal, origin, ())
    if batch:
        joined = _TAKEN.join([normals[i][0] for i in batch])
        original = _TAKEN.join([texts[i] for i in batch])
        parts, done = [], 0
        for m in _NUMBER_RE.finditer(joined):
            parts.append(original[done:m.start()])
            parts.append(_NUMBER_MASK[m.lastgroup])
            done = m.end()
        parts.append(original[done:])
        for i, masked in zip(batch, "".join(parts).split(_TAKEN), strict=True):
            out[i] = masked
    return out


def mask_series(values: pd.Series, *, also: list[tuple[pd.Series, str]] = ()) -> pd.Series:
    """Mask personal numbers in a text column (free text or names) with :func:`mask_text`.

    Parameters
    ----------
    values : text Series (<NA> for none).
    also : (values, mask) pairs: each Series is aligned by position with
        ``values``, and its value (the row's own customer id or phone) is
        replaced by ``mask`` wherever it appears in that row's text.

    Returns
    -------
    Masked texts as a ``string`` Series, same index; <NA> stays <NA>; texts
    with nothing to mask are unchanged.

    Notes
    -----
    Cost: one Arrow regex pass over the column picks the few texts that can
    hold a number; each distinct one of those is masked once (a station name
    repeated on a million rows costs one call), and only rows whose own
    customer id or phone occurs in their text are masked row by row.
    """
    out = values.astype("string")
    # the distinct texts (a station name repeated on a million rows is one), <NA> kept as <NA>
    masked = mask_coded(Coded.encode(out), also=also)
    return pd.Series(pd.arrays.ArrowStringArray(masked), index=out.index, name=out.name)


def mask_columns(columns: dict[str, Coded], *, also: list[tuple[pd.Series, str]] = (),
                 at: np.ndarray | None = None) -> dict[str, pa.Array]:
    """:func:`mask_coded` of several columns of the same rows (``also`` and ``at`` as there).

    The prefilter runs once over the distinct texts of all of them: Arrow
    compiles its Unicode regex anew on each call (~3 ms), which outweighed
    the scan itself for the 16 short columns of the rejected rows.
    """
    arrays = [coded.values for coded in columns.values()]
    if not arrays:
        return {}
    found = pc.match_substring_regex(pa.concat_arrays(arrays),
                                     _OWN_PREFILTER if also else _NUMBER_PREFILTER)
    found = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    ends = np.cumsum([len(a) for a in arrays])
    return {name: mask_coded(coded, also=also, at=at, hit=part)
            for (name, coded), part in zip(columns.items(), np.split(found, ends[:-1]))}


def mask_coded(texts: Coded, *, also: list[tuple[pd.Series, str]] = (),
               at: np.ndarray | None = None, hit: np.ndarray | None = None) -> pa.Array:
    """:func:`mask_series` of a :class:`research.ingestion.parse.Coded` column, as an Arrow array.

    Each distinct text that can hold a number is masked once; ``also`` as in
    :func:`mask_series`, its Series aligned by position with the rows of
    ``texts`` or, when ``at`` is given, with the rows ``at`` names (row ``i``
    of ``texts`` is row ``at[i]`` of each ``also`` Series). ``hit``: the
    prefilter's answer for each distinct text, when the caller ran it
    (:func:`mask_columns`).
    """
    values = texts.values
    if hit is None:
        hit = pc.match_substring_regex(values, _OWN_PREFILTER if also else _NUMBER_PREFILTER)
        hit = pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
    hit = np.flatnonzero(hit)
    if len(hit) == 0:
        return texts.arrow()
    found = values.take(pa.array(hit)).to_pylist()
    normal = [_normalise(t) for t in found]
    needed = np.ones(len(hit), dtype=bool)  # distinct texts some row shows without its own values
    changed, replaced = [], []
    if also:
        # rows whose own customer id or phone occurs in their text are masked row by row
        where = np.full(len(values) + 1, -1, dtype=np.int64)  # code -> position in hit
        where[hit] = np.arange(len(hit))
        slot = where[texts.codes]  # position in hit of each row's text, -1 for none (and for <NA>)
        rows = np.flatnonzero(slot >= 0)
        own = [_own_column(s.iloc[rows if at is None else at[rows]]) for s, _ in also]
        marks = [m for _, m in also]
        needed[:] = False
        with _no_gc():
            slots = slot[rows].tolist()
            # rows where some own value occurs in the text, one comprehension per own column
            occurs = [[t is not None and t in normal[j][0] for t, j in zip(col, slots)] for col in own]
            for k, j in enumerate(slots):
                if any(o[k] for o in occurs):
                    tokens = tuple((col[k], m) for col, m in zip(own, marks) if col[k] is not None)
                    changed.append(rows[k])
                    replaced.append(_masked(found[j], *normal[j], tokens))
                else:
                    needed[j] = True
    # each distinct text masked once without the row's own values, where a row shows it so
    use = np.flatnonzero(needed)
    flags = np.zeros(len(values), dtype=bool)
    flags[hit[use]] = True
    with _no_gc():
        use = use.tolist()
        generic = _masked_many([found[j] for j in use], [normal[j] for j in use])
    masked = texts.with_values(pc.replace_with_mask(values, pa.array(flags),
                                                    pa.array(generic, pa.large_string()))).arrow()
    if changed:
        flags = np.zeros(len(texts), dtype=bool)
        flags[changed] = True
        masked = pc.replace_with_mask(masked, pa.array(flags), pa.array(replaced, pa.large_string()))
    return masked


@contextmanager
def _no_gc():
    """Python's cyclic garbage collector paused while a loop makes many small objects that hold
    no cycles (it would otherwise walk every object of the process again and again)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def mask_comments(comments: pd.Series, *, also: list[tuple[pd.Series, str]] = ()) -> pd.Series:
    """Masked free-text comments: :func:`mask_series` (kept under its former name)."""
    return mask_series(comments, also=also)
