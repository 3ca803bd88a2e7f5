"""Internal consistency of the satisfaction items: Cronbach's alpha and item statistics.

Pure functions: a data frame of responses in, tidy data frames out; nothing is
rounded. Alpha comes from ``pingouin.cronbach_alpha``. Its Feldt interval is
recomputed here with the same formula because pingouin rounds the interval
to three decimals. Reference values: ``psych::alpha`` in
``tests/fixtures/r/comparisons/make_reference.R``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pingouin as pg
from scipy.stats import f as f_dist

from research.stats.comparisons import check_columns, check_conf_level, numeric_column

#: The four satisfaction items of the instrument.
SAT_ITEMS: tuple[str, ...] = ("sat_overall", "sat_speed", "sat_attitude", "sat_outcome")


def _items(data: pd.DataFrame, items: Sequence[str], *, listwise: bool) -> pd.DataFrame:
    """The item columns as float64 (optionally listwise-complete rows only), validated."""
    if isinstance(items, str):
        raise ValueError(f"items must be a sequence of column names, not the string {items!r}")
    items = list(items)
    if len(items) < 2:
        raise ValueError(f"items must name at least 2 columns, got {items!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"items must not repeat a column, got {items!r}")
    check_columns(data, items, role="item column")
    frame = pd.DataFrame({c: numeric_column(data[c], c).to_numpy() for c in items})
    if listwise:
        frame = frame.dropna(how="any").reset_index(drop=True)
        if len(frame) < 2:
            raise ValueError(too_few_rows(items, len(frame)))
    return frame


def too_few_rows(items: Sequence[str], n: int) -> str:
    """The message when the items have fewer than 2 listwise-complete rows (``n``)."""
    return f"items {', '.join(map(repr, items))} have {n} complete row(s); at least 2 are needed"


def no_variance(items: Sequence[str], n: int) -> str:
    """The message when the items' sum score is the same on all ``n`` complete rows."""
    return (f"items {', '.join(map(repr, items))}: the sum score has no variance over the {n} complete rows "
            "(every row answers alike); alpha is undefined")


def _check_variance(frame: pd.DataFrame) -> None:
    """ValueError when the items' sum has no variance (every respondent gave the same answers):
    alpha divides by that variance, so it is undefined, not a number to report."""
    if float(frame.sum(axis=1).var(ddof=1)) == 0.0:
        raise ValueError(no_variance(list(frame.columns), len(frame)))


def _alpha(frame: pd.DataFrame) -> float:
    """Raw Cronbach's alpha of complete item columns (pingouin); NaN when the sum has no variance
    (e.g. alpha if dropped, when the remaining items are constant)."""
    if float(frame.sum(axis=1).var(ddof=1)) == 0.0:
        return np.nan
    value, _ = pg.cronbach_alpha(data=frame, nan_policy="listwise")
    return float(value)


def feldt_interval(alpha: float, n: int, k: int, conf_level: float) -> tuple[float, float]:
    """Feldt's (1965) interval for Cronbach's alpha.

    ``1 - (1 - alpha) F_{1 - a/2}(n - 1, (n - 1)(k - 1))`` to
    ``1 - (1 - alpha) F_{a/2}(n - 1, (n - 1)(k - 1))``, a = 1 - conf_level;
    the formula of ``pingouin.cronbach_alpha`` and ``psych::alpha.ci``.
    """
    a = 1 - conf_level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    low = 1 - (1 - alpha) * f_dist.isf(a / 2, df1, df2)
    high = 1 - (1 - alpha) * f_dist.isf(1 - a / 2, df1, df2)
    return float(low), float(high)


def cronbach_alpha(data: pd.DataFrame, *, items: Sequence[str] = SAT_ITEMS,
                   conf_level: float = 0.95, scale: str = "satisfaction") -> pd.DataFrame:
    """Cronbach's alpha of ``items`` on listwise-complete rows, with Feldt's interval.

    alpha = k / (k - 1) × (1 - Σ s_i² / s_total²) from the item covariance
    matrix (``pingouin.cronbach_alpha``; R ``psych::alpha(...)$total$raw_alpha``).

    Parameters
    ----------
    data : DataFrame of responses.
    items : item columns (numeric; nullable ``Int64`` is fine), at least 2.
    conf_level : level of the interval.
    scale : name written in the ``scale`` column.

    Returns
    -------
    DataFrame with one row: ``scale``, ``alpha``, ``conf_low``, ``conf_high``
    (Feldt's F-based interval, :func:`feldt_interval`; the interval of
    ``pingouin.cronbach_alpha`` and ``psych::alpha``'s "Feldt" boundaries, but
    not rounded), ``conf_level``, ``n`` (rows with every item present),
    ``n_items`` (k), ``n_missing`` (rows dropped), ``method`` ("feldt").

    Examples
    --------
    >>> from research.simulate import simulate
    >>> cronbach_alpha(simulate(600, 5).responses)["n_items"].item()
    4
    >>> # In R: psych::alpha(na.omit(d[, items]))$feldt
    """
    conf_level = check_conf_level(conf_level)
    frame = _items(data, items, listwise=True)
    _check_variance(frame)
    n, k = frame.shape
    alpha = _alpha(frame)
    return reliability_frame(alpha, n=n, k=k, n_missing=len(data) - n, conf_level=conf_level, scale=scale)


def reliability_frame(alpha: float, *, n: int, k: int, n_missing: int, conf_level: float,
                      scale: str) -> pd.DataFrame:
    """The table of :func:`cronbach_alpha` from alpha of ``k`` items on ``n`` complete rows, with
    Feldt's interval; shared by the row path and the counts path
    (:mod:`research.models.aggregate.comparisons`)."""
    low, high = feldt_interval(alpha, n, k, conf_level)
    return pd.DataFrame({"scale": [scale], "alpha": alpha, "conf_low": low, "conf_high": high,
                         "conf_level": conf_level, "n": n, "n_items": k,
                         "n_missing": n_missing, "method": "feldt"})


def item_statistics(data: pd.DataFrame, *, items: Sequence[str] = SAT_ITEMS) -> pd.DataFrame:
    """Per-item statistics on the listwise-complete rows used by :func:`cronbach_alpha`.

    Returns
    -------
    DataFrame, one row per item, in the order of ``items``:

    - ``item``; ``mean`` and ``sd`` (sample SD, ddof = 1) in scale points;
    - ``item_rest_r``: corrected item-total correlation, the Pearson
      correlation of the item with the sum of the other items
      (R ``psych::alpha(...)$item.stats$r.drop``);
    - ``alpha_if_dropped``: raw alpha of the other items (pingouin), NaN when
      only one item would remain (R ``psych::alpha(...)$alpha.drop$raw_alpha``);
    - ``n``: complete rows (the same for every item).

    Examples
    --------
    >>> from research.simulate import simulate
    >>> list(item_statistics(simulate(600, 5).responses)["item"])
    ['sat_overall', 'sat_speed', 'sat_attitude', 'sat_outcome']
    """
    frame = _items(data, items, listwise=True)
    _check_variance(frame)
    total = frame.sum(axis=1)
    rows = []
    for item in frame.columns:
        rest = frame.drop(columns=item)
        with np.errstate(invalid="ignore", divide="ignore"):  # a constant item: r is NaN (R: NA)
            r = float(np.corrcoef(frame[item], total - frame[item])[0, 1])
        rows.append({
            "item": item, "mean": float(frame[item].mean()), "sd": float(frame[item].std(ddof=1)),
            "item_rest_r": r,
            "alpha_if_dropped": _alpha(rest) if rest.shape[1] >= 2 else np.nan,
            "n": len(frame),
        })
    return pd.DataFrame(rows)


def item_correlations(data: pd.DataFrame, *, items: Sequence[str] = SAT_ITEMS) -> pd.DataFrame:
    """Pearson correlations of every pair of items, pairwise-complete, in long form.

    Returns
    -------
    DataFrame with k² rows (the full symmetric matrix, diagonal included, for a
    heatmap), ``item_b`` varying fastest within ``item_a``, both in the order of
    ``items``: ``item_a``, ``item_b``, ``r`` (Pearson, on rows where both
    items are present; R ``cor(x, use = "pairwise.complete.obs")``), ``n``
    (those rows).
    """
    frame = _items(data, items, listwise=False)
    corr = frame.corr(method="pearson")
    present = frame.notna().astype("int64")
    counts = present.T @ present
    cols = list(frame.columns)
    return pd.DataFrame({
        "item_a": np.repeat(cols, len(cols)), "item_b": np.tile(cols, len(cols)),
        "r": corr.to_numpy().ravel(), "n": counts.to_numpy().ravel().astype("int64"),
    })
