"""典型案例分析: what dissatisfied customers say about each cause, in their own (masked) words.

"处理一宗诉求、解决一类问题": the count-based analyses say *how many* and *how satisfied*; the free
comment (客户意见, masked at ingest) says *what about*. Functions (pure: frames in, frames out;
nothing is read but the segmentation dictionary):

- :func:`segment` -- Chinese word segmentation with jieba and the domain dictionary
  ``surveys/terms.txt`` (低电压, 抢修, 欠费停电, 表计, ...); stopwords ``surveys/stopwords.txt``;
- :func:`distinguishing_terms` -- per cause group, the words that distinguish dissatisfied from
  satisfied customers' comments: log-odds with an informative Dirichlet prior and z-scores
  (:func:`research.stats.fightin_words.log_odds_dirichlet`; Monroe, Colaresi & Quinn 2008);
- :func:`typical_cases` -- per cause group, the dissatisfied comments closest to the group's
  distinguishing terms (the rule is in the function's docstring): the typical cases;
- :func:`rising_terms` -- words of dissatisfied comments more frequent in a period than in the
  periods before it (the "一类问题" signal beside the count-based recurrence).

Associations, not causes: a word frequent among dissatisfied customers says what they talk
about, not what made them dissatisfied. Comments are a self-selected ~30% of answers.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from research.errors import InputError
from research.stats.fightin_words import DEFAULT_PRIOR, log_odds_dirichlet

#: a token kept for analysis: two or more CJK characters, letters or digits (single characters are
#: mostly function words; masks such as [PHONE] and punctuation are dropped)
_WORD = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9]{2,}$")

#: the placeholders masking leaves in a comment ([PHONE], [IDCARD], [NAME], ...): removed before segmenting
_MASK = re.compile(r"\[[A-Z_]+\]")

#: z above which a term counts as distinguishing (two-sided 5%)
Z_MIN = 1.96


def _dictionary_files(folder: Path | None) -> tuple[Path, Path]:
    from research import paths

    root = Path(folder) if folder is not None else paths.surveys_dir()
    return root / "terms.txt", root / "stopwords.txt"


@lru_cache(maxsize=4)
def _tokenizer(terms: str, mtime: float):
    """A jieba tokenizer with the domain dictionary loaded (cached per file and modification time)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    if terms:
        tk.load_userdict(terms)
    return tk


@lru_cache(maxsize=4)
def _stopwords(path: str, mtime: float) -> frozenset[str]:
    if not path:
        return frozenset()
    return frozenset(w.strip() for w in Path(path).read_text(encoding="utf-8").splitlines()
                     if w.strip() and not w.startswith("#"))


def segment(texts: pd.Series, *, dictionary: Path | None = None) -> pd.Series:
    """Each text's words (a list per row; an empty list for a missing or blank text).

    jieba's exact mode without its HMM for unknown words (so every word is a dictionary word or
    a single character, the same on every machine), with ``terms.txt`` of ``dictionary`` (default
    the instrument folder) added; words kept when :data:`_WORD` matches and they are not in
    ``stopwords.txt``; masks (``[PHONE]``, ...) are removed first. Each distinct text is segmented once.
    """
    terms, stops = _dictionary_files(dictionary)
    tk = _tokenizer(str(terms) if terms.is_file() else "", terms.stat().st_mtime if terms.is_file() else 0.0)
    stop = _stopwords(str(stops) if stops.is_file() else "", stops.stat().st_mtime if stops.is_file() else 0.0)
    values = texts.astype("string")
    unique = pd.unique(values.dropna())
    words = {t: [w for w in tk.cut(_MASK.sub(" ", str(t)), HMM=False) if _WORD.match(w) and w not in stop]
             for t in unique}
    return pd.Series([words.get(v, []) if not pd.isna(v) else [] for v in values], index=texts.index,
                     dtype=object)


def _require(responses: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in responses.columns]
    if missing:
        raise InputError(f"responses: column(s) {', '.join(missing)} needed for the typical cases are absent")


def _counts(words: pd.Series) -> pd.Series:
    flat = [w for ws in words for w in ws]
    return pd.Series(flat, dtype="string").value_counts() if flat else pd.Series([], dtype="int64")


def distinguishing_terms(responses: pd.DataFrame, *, by: str = "cause_l1", prior: float | None = DEFAULT_PRIOR,
                         min_count: int = 5, top: int = 10, dictionary: Path | None = None) -> pd.DataFrame:
    """Per group, the words of dissatisfied comments that distinguish them from satisfied ones.

    Parameters
    ----------
    responses : canonical responses: ``comment`` (masked), ``satisfied`` (True / False / missing)
        and ``by``.
    by : the grouping column (default the cause group).
    prior : ``alpha_0`` of the informative Dirichlet prior over the group's pooled word frequencies
        (default None: the pooled number of words, :mod:`research.stats.fightin_words`).
    min_count : a word must occur at least this often in the group's dissatisfied comments.
    top : at most this many words per group.

    Returns
    -------
    DataFrame: ``by``, ``rank`` (1 = most distinguishing), ``term``, ``n_dissatisfied``,
    ``n_satisfied`` (word counts), ``delta`` (log-odds ratio), ``se``, ``z``,
    ``comments_dissatisfied`` and ``comments_satisfied`` (comments compared in the group). Only
    words with ``z`` >= :data:`Z_MIN`; a group with no comment on one side has no rows.
    """
    _require(responses, ("comment", "satisfied", by))
    words = segment(responses["comment"], dictionary=dictionary)
    has = words.map(len) > 0
    sat = responses["satisfied"].astype("boolean")
    rows = []
    for group, idx in responses.loc[has & sat.notna()].groupby(by, observed=True, sort=True).groups.items():
        unhappy = ~sat.loc[idx].to_numpy(dtype=bool)
        w = words.loc[idx]
        table = log_odds_dirichlet(_counts(w[unhappy]), _counts(w[~unhappy]), prior=prior)
        keep = table[(table["z"] >= Z_MIN) & (table["n_a"] >= min_count)].head(top)
        if not len(keep):
            continue
        rows.append(pd.DataFrame({by: str(group), "rank": np.arange(1, len(keep) + 1), "term": keep["term"],
                                  "n_dissatisfied": keep["n_a"], "n_satisfied": keep["n_b"],
                                  "delta": keep["delta"], "se": keep["se"], "z": keep["z"],
                                  "comments_dissatisfied": int(unhappy.sum()),
                                  "comments_satisfied": int((~unhappy).sum())}))
    columns = [by, "rank", "term", "n_dissatisfied", "n_satisfied", "delta", "se", "z",
               "comments_dissatisfied", "comments_satisfied"]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


def typical_cases(responses: pd.DataFrame, terms: pd.DataFrame, *, by: str = "cause_l1", per_group: int = 3,
                  dictionary: Path | None = None) -> pd.DataFrame:
    """Per group, the dissatisfied comments that best stand for what the group's dissatisfied say.

    Rule: a dissatisfied comment's score is the cosine similarity between the set of its words
    (0/1) and the group's profile, the ``z`` of each distinguishing word of ``terms``
    (:func:`distinguishing_terms`); the ``per_group`` highest scores are the typical cases, one per
    distinct comment text, ties broken by ``ticket_id``. A comment sharing no distinguishing word
    scores 0 and is never chosen.

    Returns
    -------
    DataFrame: ``by``, ``rank``, ``ticket_id``, ``cause_l2``, ``comment`` (as masked at ingest and
    masked again here), ``score`` (0..1), ``matched`` (the distinguishing words it holds, by z).
    """
    from research.ingestion.pseudonymise import mask_series

    _require(responses, ("comment", "satisfied", "ticket_id", "cause_l2", by))
    columns = [by, "rank", "ticket_id", "cause_l2", "comment", "score", "matched"]
    sat = responses["satisfied"].astype("boolean")
    pool = responses.loc[sat.eq(False).fillna(False).to_numpy() & responses["comment"].notna().to_numpy()]
    if not len(pool) or not len(terms):
        return pd.DataFrame(columns=columns)
    words = segment(pool["comment"], dictionary=dictionary)
    out = []
    for group, prof in terms.groupby(by, sort=True):
        weight = dict(zip(prof["term"].astype(str), prof["z"].astype(float)))
        norm = float(np.sqrt(sum(v * v for v in weight.values())))
        mine = pool[by].astype(str).to_numpy() == str(group)
        cand = pool.loc[mine, ["ticket_id", "cause_l2", "comment"]].assign(_words=words[mine])
        cand["matched"] = cand["_words"].map(lambda ws: sorted({w for w in ws if w in weight},
                                                              key=lambda w: (-weight[w], w)))
        cand["score"] = [sum(weight[w] for w in m) / (norm * np.sqrt(len(set(ws)))) if m else 0.0
                         for m, ws in zip(cand["matched"], cand["_words"])]
        cand = cand[cand["score"] > 0].sort_values(["score", "ticket_id"], ascending=[False, True],
                                                   kind="mergesort")
        cand = cand.drop_duplicates("comment").head(per_group)
        if len(cand):
            out.append(pd.DataFrame({by: str(group), "rank": np.arange(1, len(cand) + 1),
                                     "ticket_id": cand["ticket_id"].astype("string").to_numpy(),
                                     "cause_l2": cand["cause_l2"].astype("string").to_numpy(),
                                     "comment": mask_series(cand["comment"].astype("string")).to_numpy(),
                                     "score": cand["score"].to_numpy(),
                                     "matched": ["、".join(m) for m in cand["matched"]]}))
    return pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)


def rising_terms(responses: pd.DataFrame, *, start, end, baseline_start, prior: float | None = DEFAULT_PRIOR,
                 min_count: int = 3, top: int = 10, dictionary: Path | None = None) -> pd.DataFrame:
    """Words of dissatisfied comments more frequent in ``[start, end)`` than in ``[baseline_start, start)``.

    By ``surveyed_at``. The same log-odds as :func:`distinguishing_terms`, this period against the
    baseline; words with ``z`` >= :data:`Z_MIN` occurring at least ``min_count`` times this period.

    Returns
    -------
    DataFrame: ``rank``, ``term``, ``n_period``, ``n_baseline``, ``delta``, ``se``, ``z``; empty when
    either side has no dissatisfied comment.
    """
    _require(responses, ("comment", "satisfied", "surveyed_at"))
    columns = ["rank", "term", "n_period", "n_baseline", "delta", "se", "z"]
    t = pd.to_datetime(responses["surveyed_at"])
    unhappy = responses["satisfied"].astype("boolean").eq(False).fillna(False).to_numpy()
    now = unhappy & (t >= pd.Timestamp(start)).to_numpy() & (t < pd.Timestamp(end)).to_numpy()
    before = unhappy & (t >= pd.Timestamp(baseline_start)).to_numpy() & (t < pd.Timestamp(start)).to_numpy()
    words = segment(responses["comment"].where(now | before), dictionary=dictionary)
    table = log_odds_dirichlet(_counts(words[now]), _counts(words[before]), prior=prior)
    keep = table[(table["z"] >= Z_MIN) & (table["n_a"] >= min_count)].head(top)
    if not len(keep):
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({"rank": np.arange(1, len(keep) + 1), "term": keep["term"].to_numpy(),
                         "n_period": keep["n_a"].to_numpy(), "n_baseline": keep["n_b"].to_numpy(),
                         "delta": keep["delta"].to_numpy(), "se": keep["se"].to_numpy(),
                         "z": keep["z"].to_numpy()})[columns]
