"""Group comparisons, association and reliability from counts (issue 15).

The six tables of :func:`research.models.run.fit_plan` that compare groups or check the scale
(``comparisons``, ``pairwise``, ``association``, ``reliability``, ``item_statistics``,
``item_correlations``) read only categorical variables with few values: the four satisfaction
items (integer codes, missing answers missing), ``satisfied`` (0/1) and the cause group and
sub-cause. So every statistic is a function of how many rows share each combination of values,
and an engine (:mod:`research.engines`) counts them where the rows live:

- :func:`count_on`: the rows counted by (cause group, sub-cause, satisfied, the four items),
  missing values included, in one pass of :meth:`research.engines.base.Engine.count` (a few
  thousand combinations, whatever the number of rows); :func:`counts_of` sums them to what each
  table reads: (group, overall score) and (group) for each comparison, (satisfied, cause group),
  the listwise-complete patterns of the items, each item and each pair of items (the
  pairwise-complete correlations), each over the rows where its variables are present, as the
  row path drops missing values.
- :func:`tables_from_counts`: the six tables (same columns, rows, order and notes as the row
  path), pure functions of those count frames.

The row path's rules are followed exactly: groups with fewer than 2 answers, then groups whose
answers are all the same, are left out of a comparison with
:func:`research.models.run.left_out_notes`' notes (``n_missing`` counts every other row
dropped); a comparison with fewer than 2 groups left, an association with fewer than 2 values
of a variable, items with fewer than 2 complete rows or a constant sum score are not computed,
with the row path's message. The tables are built by the row path's own frame builders
(:func:`research.stats.comparisons.omnibus_frame`, ``games_howell_frame``, ``association_frame``,
:func:`research.stats.reliability.reliability_frame`), with its Hedges factor and
studentized-range quantiles; scipy computes the Welch t p-values from the summaries
(``ttest_ind_from_stats``), the Games-Howell p (``studentized_range.sf``, as pingouin) and the
chi-square (``power_divergence``, as pingouin), pingouin the Holm adjustment (``multicomp``).
The rest is re-derived from weighted sums (each function names its R reference) because
pingouin computes it only from rows. Equal to the row path to 1e-9 relative
(tests/models/test_aggregate_comparisons.py), the Games-Howell p-values to scipy's integration
error (about 1e-10 absolute; docs/architecture.md, "Engines").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import stats as st
from scipy.stats.contingency import expected_freq

from research.stats.comparisons import (association_frame, games_howell_frame, omnibus_frame, too_few_groups,
                                        too_few_values)
from research.stats.reliability import SAT_ITEMS, no_variance, reliability_frame, too_few_rows

#: the compared score, the grouping variables compared on it, the association's two variables
DV = "sat_overall"
BETWEEN = ("cause_l1", "cause_l2")
ASSOCIATION = ("satisfied", "cause_l1")
#: the Games-Howell intervals' level (the row path's compare_groups default)
GH_CONF_LEVEL = 0.95


@dataclass(frozen=True)
class Counts:
    """Row counts (column ``n``) by the variables of the six tables.

    ``total``: rows of the source. ``answered[b]``: by (b, DV) over rows with both present;
    ``groups[b]``: by b over rows with b present. ``association``: by (satisfied, cause_l1).
    ``patterns``: by the items over rows with every item present. ``pairs[(a, b)]``: by (a, b)
    over rows with both items present (``pairs[(a, a)]``: by a, rows with a present)."""

    total: int
    answered: dict[str, pd.DataFrame]
    groups: dict[str, pd.DataFrame]
    association: pd.DataFrame
    patterns: pd.DataFrame
    pairs: dict[tuple[str, str], pd.DataFrame]
    items: tuple[str, ...] = SAT_ITEMS


def count_on(engine, source, items: tuple[str, ...] = SAT_ITEMS) -> Counts:
    """The :class:`Counts` of ``source`` through ``engine``: one pass,
    :meth:`research.engines.base.Engine.count` by every variable the tables read (missing values
    included), then :func:`counts_of`."""
    return counts_of(engine.count(source, tuple(dict.fromkeys((*BETWEEN, *ASSOCIATION, DV, *items)))), items)


def counts_of(joint: pd.DataFrame, items: tuple[str, ...] = SAT_ITEMS) -> Counts:
    """:class:`Counts` from the joint counts ``joint`` (one row per combination of the grouping
    variables, :data:`ASSOCIATION` and the items, missing values NA, and ``n``; every row of the
    source counted once)."""
    def by(*keys: str) -> pd.DataFrame:
        complete = joint.loc[joint[list(keys)].notna().all(axis=1), [*keys, "n"]]
        return complete.groupby(list(keys), sort=True, observed=True)["n"].sum().reset_index()

    return Counts(total=int(joint["n"].sum()), answered={b: by(b, DV) for b in BETWEEN},
                  groups={b: by(b) for b in BETWEEN}, association=by(*ASSOCIATION), patterns=by(*items),
                  pairs={(a, b): by(a) if a == b else by(a, b) for i, a in enumerate(items) for b in items[i:]},
                  items=tuple(items))


def tables_from_counts(counts: Counts, conf_level: float) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """The six tables and their notes (``{"step", "note"}``, in the row path's order) from
    ``counts``; ``conf_level``: the reliability interval's (the plan's), as the row path."""
    from research.models.run import SCALE_STEPS, left_out_notes

    notes: list[dict] = []
    omnibus, pairwise = [], []
    for between in BETWEEN:
        answered, left, dropped, alike = _comparable(counts.answered[between], counts.groups[between], between)
        notes += left_out_notes(between, dropped, alike)
        n_missing = counts.total - int(left["n"].sum()) - int(answered["n"].sum())
        try:
            omnibus.append(omnibus_from_counts(answered, between, n_missing=n_missing))
        except ValueError as exc:
            notes.append({"step": f"comparisons by {between}", "note": f"not computed: {exc}"})
            continue
        pairwise.append(pairwise_from_counts(answered, between, conf_level=GH_CONF_LEVEL))
    out = {"comparisons": pd.concat(omnibus, ignore_index=True) if omnibus else pd.DataFrame(),
           "pairwise": pd.concat(pairwise, ignore_index=True) if pairwise else pd.DataFrame()}
    for key, compute in (
            ("association", lambda: association_from_counts(counts.association, counts.total, *ASSOCIATION)),
            ("reliability", lambda: reliability_from_counts(counts.patterns, counts.total, counts.items,
                                                            conf_level=conf_level)),
            ("item_statistics", lambda: item_statistics_from_counts(counts.patterns, counts.items)),
            ("item_correlations", lambda: item_correlations_from_counts(counts.pairs, counts.items))):
        try:
            out[key] = compute()
        except ValueError as exc:
            out[key] = pd.DataFrame()
            notes.append({"step": SCALE_STEPS[key], "note": f"not computed: {exc}"})
    return out, notes


# ------------------------------------------------------------------ comparisons ----------------
def _comparable(answered: pd.DataFrame, groups: pd.DataFrame,
                between: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """The row path's :func:`research.models.run._comparable` then ``_varied`` on counts: the
    answered counts of the groups compared; the all-rows counts of the groups left out; the
    groups with fewer than 2 answers, then those whose answers are all the same (sorted, as text)."""
    label = answered[between].astype(str)
    sizes = answered.groupby(label)["n"].sum()
    dropped = sorted(sizes[sizes < 2].index)
    spread = answered[~label.isin(dropped)].groupby(label[~label.isin(dropped)])[DV].nunique()
    alike = sorted(spread[spread < 2].index)
    out = set(dropped) | set(alike)
    return (answered[~label.isin(out)].reset_index(drop=True),
            groups[groups[between].astype(str).isin(out)], dropped, alike)


def _group_moments(answered: pd.DataFrame, between: str):
    """Per group (sorted, as the engine's keys): labels, sizes, means and variances (ddof 1) of
    the score, and each count row's group code."""
    codes, labels = pd.factorize(answered[between], sort=True)
    y, w = answered[DV].to_numpy(float), answered["n"].to_numpy(float)
    n = np.bincount(codes, weights=w, minlength=len(labels))
    mean = np.bincount(codes, weights=w * y, minlength=len(labels)) / n
    ss = np.bincount(codes, weights=w * (y - mean[codes]) ** 2, minlength=len(labels))
    return np.asarray(labels), n, mean, ss / (n - 1), codes


def omnibus_from_counts(answered: pd.DataFrame, between: str, *, n_missing: int,
                        kruskal_effect: str = "epsilon_squared") -> pd.DataFrame:
    """The ``omnibus`` table of :func:`research.stats.comparisons.compare_groups` from the counts
    ``answered`` (``between``, the score, ``n``) of the groups compared.

    Welch's ANOVA: R ``oneway.test(var.equal = FALSE)``, in pingouin's ``welch_anova`` arithmetic
    (weights n/s², the adjusted grand mean, lambda, and eta squared SS_between / SS_total).
    Kruskal-Wallis: R ``kruskal.test``: mid-ranks of tied values from the counts, H =
    12 / (N (N + 1)) Σ n_g (mean rank_g - (N + 1) / 2)² (the form without the cancelling
    ``- 3 (N + 1)``), divided by the tie correction 1 - Σ (t³ - t) / (N³ - N).
    ValueError (the row path's message) with fewer than 2 groups."""
    labels, n, mean, var, codes = _group_moments(answered, between)
    k = len(labels)
    if k < 2:
        raise ValueError(too_few_groups(between, k, DV))
    N = n.sum()
    y, w = answered[DV].to_numpy(float), answered["n"].to_numpy(float)
    weights = n / var
    adj = np.sum(weights * mean) / weights.sum()
    ss_res = np.sum((n - 1) * var)
    ss_bet = np.sum((mean - np.sum(w * y) / N) ** 2 * n)
    lamb = 3 * np.sum((1 / (n - 1)) * (1 - weights / weights.sum()) ** 2) / (k**2 - 1)
    f = np.sum(weights * (mean - adj) ** 2) / (k - 1) / (1 + 2 * lamb * (k - 2) / 3)
    welch = (f, k - 1, 1 / lamb, st.f.sf(f, k - 1, 1 / lamb), ss_bet / (ss_bet + ss_res))
    # mid-ranks of the distinct scores over all groups
    values, inverse = np.unique(y, return_inverse=True)
    ties = np.bincount(inverse, weights=w)
    midrank = np.cumsum(ties) - ties + (ties + 1) / 2
    rank_mean = np.bincount(codes, weights=w * midrank[inverse], minlength=k) / n
    h = 12 / (N * (N + 1)) * np.sum(n * (rank_mean - (N + 1) / 2) ** 2)
    h /= 1 - np.sum(ties**3 - ties) / (N**3 - N)
    return omnibus_frame(DV, between, welch=welch, kruskal=(h, k - 1, st.chi2.sf(h, k - 1)), n=int(N), k=k,
                         n_missing=n_missing, kruskal_effect=kruskal_effect)


def pairwise_from_counts(answered: pd.DataFrame, between: str, *,
                         conf_level: float = GH_CONF_LEVEL) -> pd.DataFrame:
    """The ``pairwise`` table of :func:`research.stats.comparisons.compare_groups` from the counts
    of the groups compared (at least 2), pairs in pingouin's order (upper triangle of the sorted
    groups). Games-Howell (R ``rstatix::games_howell_test``; pingouin's ``pairwise_gameshowell``
    arithmetic: unpooled SE, Welch-Satterthwaite df, ``studentized_range.sf``), Welch t p-values
    (scipy ``ttest_ind_from_stats``, R ``t.test``) Holm-adjusted (pingouin ``multicomp``; R
    ``p.adjust``), Cohen's d on the pooled SD (pingouin ``compute_effsize``)."""
    labels, n, mean, var, _ = _group_moments(answered, between)
    a, b = np.triu_indices(len(labels), k=1)
    v = var / n
    se = np.sqrt(v[a] + v[b])
    diff = mean[a] - mean[b]
    df = (v[a] + v[b]) ** 2 / (v[a] ** 2 / (n[a] - 1) + v[b] ** 2 / (n[b] - 1))
    t = diff / se
    _, p_t = st.ttest_ind_from_stats(mean[a], np.sqrt(var[a]), n[a], mean[b], np.sqrt(var[b]), n[b],
                                     equal_var=False)
    _, p_holm = pg.multicomp(np.asarray(p_t, dtype=float), method="holm")
    pooled = np.sqrt(((n[a] - 1) * var[a] + (n[b] - 1) * var[b]) / (n[a] + n[b] - 2))
    pairs = {"group_a": labels[a], "group_b": labels[b], "n_a": n[a], "n_b": n[b],
             "mean_a": mean[a], "mean_b": mean[b], "estimate": diff, "std_error": se, "statistic": t,
             "df": df, "p_value": np.clip(st.studentized_range.sf(np.sqrt(2) * np.abs(t), len(labels), df), 0, 1),
             "p_holm": np.asarray(p_holm, dtype=float), "cohen_d": diff / pooled}
    return games_howell_frame(DV, between, pairs, k=len(labels), conf_level=conf_level)


# ------------------------------------------------------------------ association ----------------
def association_from_counts(table: pd.DataFrame, total: int, row: str, col: str) -> pd.DataFrame:
    """The table of :func:`research.stats.comparisons.association` from the counts (``row``,
    ``col``, ``n``) of the complete rows: the contingency table of the observed levels (empty
    cells 0) and pingouin's ``chi2_independence`` arithmetic on it (scipy ``expected_freq``,
    ``power_divergence``, lambda 1; R ``chisq.test(correct = FALSE)``); ``total``: rows of the
    source. ValueError (the row path's message) when a variable has fewer than 2 values."""
    for name in (row, col):
        if table[name].nunique() < 2:
            raise ValueError(too_few_values(name, int(table[name].nunique())))
    observed = table.pivot_table(index=row, columns=col, values="n", aggfunc="sum", fill_value=0).to_numpy(float)
    expected = expected_freq(observed)
    n = observed.sum()
    dof = float(expected.size - sum(expected.shape) + expected.ndim - 1)
    chi2, p = st.power_divergence(observed, expected, ddof=observed.size - 1 - dof, axis=None, lambda_=1.0)
    cramer = np.sqrt(chi2 / (n * (min(expected.shape) - 1)))
    return association_frame(row, col, (chi2, dof, p, cramer), n=int(n), n_rows=observed.shape[0],
                             n_cols=observed.shape[1], n_missing=int(total - n))


# ------------------------------------------------------------------ reliability ----------------
def _weighted_cov(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Covariance matrix (ddof 1) of the rows of ``x`` repeated ``w`` times (R ``cov``)."""
    d = x - (w @ x) / w.sum()
    return (d * w[:, None]).T @ d / (w.sum() - 1)


def _listwise(patterns: pd.DataFrame, items: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The complete patterns' item values and counts; ValueError (the row path's messages,
    :func:`research.stats.reliability._items`, ``_check_variance``) with fewer than 2 rows or a
    sum score the same on every row."""
    x, w = patterns[list(items)].to_numpy(float), patterns["n"].to_numpy(float)
    n = int(w.sum())
    if n < 2:
        raise ValueError(too_few_rows(items, n))
    if len(np.unique(x.sum(axis=1))) < 2:
        raise ValueError(no_variance(items, n))
    return x, w


def _alpha(x: np.ndarray, w: np.ndarray) -> float:
    """Raw Cronbach's alpha k / (k - 1) (1 - trace C / sum C) of the covariance C (R
    ``psych::alpha``'s raw_alpha; pingouin ``cronbach_alpha``); NaN when the sum score is the same
    on every row (the row path's rule)."""
    if len(np.unique(x.sum(axis=1))) < 2:
        return np.nan
    c = _weighted_cov(x, w)
    k = x.shape[1]
    return float(k / (k - 1) * (1 - np.trace(c) / c.sum()))


def reliability_from_counts(patterns: pd.DataFrame, total: int, items: tuple[str, ...] = SAT_ITEMS, *,
                            conf_level: float, scale: str = "satisfaction") -> pd.DataFrame:
    """:func:`research.stats.reliability.cronbach_alpha` from the counts of the items'
    listwise-complete answer patterns (``items``..., ``n``); ``total``: rows of the source."""
    x, w = _listwise(patterns, items)
    return reliability_frame(_alpha(x, w), n=int(w.sum()), k=len(items), n_missing=int(total - w.sum()),
                             conf_level=conf_level, scale=scale)


def item_statistics_from_counts(patterns: pd.DataFrame, items: tuple[str, ...] = SAT_ITEMS) -> pd.DataFrame:
    """:func:`research.stats.reliability.item_statistics` from the listwise-complete patterns:
    mean, SD, item-rest correlation (R ``psych::alpha``'s ``r.drop``), alpha if dropped."""
    x, w = _listwise(patterns, items)
    c = _weighted_cov(x, w)
    total = x.sum(axis=1)
    rows = []
    for i, item in enumerate(items):
        rest = np.delete(x, i, axis=1)
        pair = _weighted_cov(np.column_stack([x[:, i], total - x[:, i]]), w)
        with np.errstate(invalid="ignore", divide="ignore"):  # a constant item: r is NaN (R: NA)
            r = float(pair[0, 1] / np.sqrt(pair[0, 0] * pair[1, 1]))
        rows.append({"item": item, "mean": float(w @ x[:, i] / w.sum()), "sd": float(np.sqrt(c[i, i])),
                     "item_rest_r": r, "alpha_if_dropped": _alpha(rest, w) if rest.shape[1] >= 2 else np.nan,
                     "n": int(w.sum())})
    return pd.DataFrame(rows)


def item_correlations_from_counts(pairs: dict[tuple[str, str], pd.DataFrame],
                                  items: tuple[str, ...] = SAT_ITEMS) -> pd.DataFrame:
    """:func:`research.stats.reliability.item_correlations` (R ``cor(use =
    "pairwise.complete.obs")``) from the counts of each pair of items over the rows answering
    both (``pairs[(a, a)]``: item a's own counts): Pearson r = cov / sqrt(var var), NaN with
    fewer than 2 rows or a constant item; long form, ``item_b`` fastest."""
    k = len(items)
    r, n = np.full((k, k), np.nan), np.zeros((k, k), dtype=np.int64)
    for i, a in enumerate(items):
        for j in range(i, k):
            b = items[j]
            counts = pairs[(a, b)]
            w = counts["n"].to_numpy(float)
            n[i, j] = n[j, i] = int(w.sum())
            if w.sum() < 2:
                continue
            x = counts[[a] if a == b else [a, b]].to_numpy(float)
            c = _weighted_cov(x, w)
            with np.errstate(invalid="ignore", divide="ignore"):  # a constant item: NaN (R: NA)
                r[i, j] = r[j, i] = c[0, -1] / np.sqrt(c[0, 0] * c[-1, -1])
    return pd.DataFrame({"item_a": np.repeat(list(items), k), "item_b": np.tile(list(items), k),
                         "r": r.ravel(), "n": n.ravel()})
