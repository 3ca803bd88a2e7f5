"""The bulletin's inputs: the columns it needs from the ingest outputs, the indicator names, and the
per-period selections and flags of responses and work orders (:class:`_Data`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.bulletin.periods import Period
from research.errors import InputError
from research.config.plan import BULLETIN_RANKING_RHS


#: fewest complete responses for the monthly ranking model
MIN_RANKING_ROWS = 30  # research.strategy.stations.MIN_ROWS

#: repeat-caller episodes listed
REPEAT_TOP = 50

#: fixed effects of the ranking model (R notation)
RANKING_RHS = BULLETIN_RANKING_RHS  # the default; the plan's bulletin.ranking_rhs is used

INDICATORS = ("volume", "satisfied_rate", "sla_rate", "repeat_share")

RATES = ("satisfied_rate", "sla_rate", "repeat_share")

_RATE_COUNTS = {"satisfied_rate": ("sat_yes", "sat_valid"), "sla_rate": ("sla_yes", "sla_valid"),
                "repeat_share": ("repeat_yes", "repeat_valid")}

_RESP_COLS = ("region", "station", "surveyed_at", "satisfied", "repeat")

_WO_COLS = ("region", "station", "cause_l1", "created_at", "resolved_at", "sla_met")


def _require(frame, columns, what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what}: expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what}: required column(s) absent: {', '.join(missing)}")


def _times(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """``column`` as naive datetime64[us] (research.strategy.monitoring's reader, which the p-chart and
    recurrence use too); a column of another type is refused naming ``what`` and the column."""
    from research.strategy.monitoring import _datetimes

    return _datetimes(frame, column, what)


def _in(t: np.ndarray, p: Period) -> np.ndarray:
    return (t >= np.datetime64(p.start, "us")) & (t < np.datetime64(p.end, "us"))


def _flags(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(known, true) boolean arrays of a nullable boolean column."""
    s = series.astype("boolean")
    known = s.notna().to_numpy(dtype=bool)
    return known, s.fillna(False).to_numpy(dtype=bool) & known


def _keycol(frame: pd.DataFrame, key: str, lang_missing: str = "(missing)") -> pd.Series:
    return frame[key].astype("string").fillna(lang_missing)


@dataclass(frozen=True)
class History:
    """What the bulletin of one period reads from the whole history when its frames hold only the
    rows of its time windows (``research.bulletin.window``, a dataset read by DuckDB); each is what
    :class:`_Data` computes from the rows when they are all there.

    - ``r_first``, ``w_first``: the first day surveyed / created (None: no dated row);
    - ``station_regions``: rows (work orders and responses) per ``station`` and ``region``
      (``(missing)`` for a missing value), sorted by both: the frame ``groupby(...).size()`` gives;
    - ``pchart_centre``: per station, its pooled dissatisfied rate over the responses surveyed
      before the end of the period (the week p-chart's ``centre="group"``), None outside a week;
    - ``repeat``: a function of the period giving the work orders, responses and risk that
      :func:`research.strategy.monitoring.repeat_callers` is called with (:meth:`_Data.repeat_inputs`).
    """

    r_first: np.datetime64 | None
    w_first: np.datetime64 | None
    station_regions: pd.DataFrame
    pchart_centre: pd.Series | None
    repeat: Callable[[Period], tuple]


class _Data:
    """Arrays computed once from the canonical frames; with ``history`` (the frames hold only the
    rows of the period's windows) the whole-history values come from it instead."""

    def __init__(self, responses: pd.DataFrame, workorders: pd.DataFrame, history: History | None = None):
        _require(responses, _RESP_COLS, "responses")
        _require(workorders, _WO_COLS, "work orders")
        self.r = responses
        self.w = workorders
        self.history = history
        self.r_surveyed = _times(responses, "surveyed_at", "responses")
        self.w_created = _times(workorders, "created_at", "work orders")
        self.w_resolved = _times(workorders, "resolved_at", "work orders")
        self.sat_known, self.sat_yes = _flags(responses["satisfied"])
        self.rep_known, self.rep_yes = _flags(responses["repeat"])
        self.sla_known, self.sla_yes = _flags(workorders["sla_met"])
        # handling time of each work order (hours; NaN when unknown or the column is absent)
        hours = (pd.to_numeric(workorders["handling_hours"], errors="coerce").to_numpy(dtype=float)
                 if "handling_hours" in workorders.columns else np.full(len(workorders), np.nan))
        self.hours_known = np.isfinite(hours)
        self.hours = np.where(self.hours_known, hours, 0.0)
        self.r_first = _first_day(self.r_surveyed) if history is None else history.r_first
        self.w_first = _first_day(self.w_created) if history is None else history.w_first

    def station_regions(self) -> pd.DataFrame:
        """Rows per ``station`` and ``region`` over the work orders and responses (the counts
        the by-station table's region, the most frequent, is read from; :class:`History`)."""
        if self.history is not None:
            return self.history.station_regions
        st = pd.concat([_keycol(self.w, "station"), _keycol(self.r, "station")], ignore_index=True)
        rg = pd.concat([_keycol(self.w, "region"), _keycol(self.r, "region")], ignore_index=True)
        pair = pd.DataFrame({"station": st, "region": rg})
        return pair.groupby(["station", "region"]).size().reset_index(name="n")

    def pchart_centre(self):
        """The week p-chart's centre line: ``"group"`` (each station's pooled rate over the rows
        given) or, from :class:`History`, those rates computed over the whole history."""
        if self.history is None or self.history.pchart_centre is None:
            return "group"
        return self.history.pchart_centre

    def repeat_inputs(self, p: Period) -> tuple[pd.DataFrame, pd.DataFrame, object]:
        """(work orders, responses, risk) for the repeat callers of ``p``: the work orders created
        and the responses surveyed before its end, and the default risk model (None)."""
        if self.history is not None:
            return self.history.repeat(p)
        end = np.datetime64(p.end, "us")
        return self.w.loc[self.w_created < end], self.r.loc[self.r_surveyed < end], None

    def counts(self, p: Period | None, key: str | None) -> pd.DataFrame:
        """Numerators and denominators of the indicators per ``key`` (None: one row ``total``)."""
        cols = ["volume", "sat_valid", "sat_yes", "sla_valid", "sla_yes", "repeat_valid", "repeat_yes",
                "hours_n", "hours_sum"]
        if p is None:
            return pd.DataFrame(columns=cols, dtype=float)
        wc = _in(self.w_created, p)
        wr = _in(self.w_resolved, p)
        rs = _in(self.r_surveyed, p)

        def group(frame, mask, values: dict[str, np.ndarray]) -> pd.DataFrame:
            sub = pd.DataFrame({k: v[mask] for k, v in values.items()})
            if key is None:
                return sub.sum().to_frame("total").T
            sub.index = _keycol(frame, key)[mask].to_numpy()
            return sub.groupby(level=0, sort=True).sum()

        one_w = np.ones(len(self.w), dtype=np.int64)
        parts = [
            group(self.w, wc, {"volume": one_w}),
            group(self.r, rs, {"sat_valid": self.sat_known.astype(np.int64),
                               "sat_yes": self.sat_yes.astype(np.int64),
                               "repeat_valid": self.rep_known.astype(np.int64),
                               "repeat_yes": self.rep_yes.astype(np.int64)}),
            group(self.w, wr, {"sla_valid": self.sla_known.astype(np.int64),
                               "sla_yes": self.sla_yes.astype(np.int64),
                               "hours_n": self.hours_known.astype(np.int64), "hours_sum": self.hours}),
        ]
        out = pd.concat(parts, axis=1).fillna(0)
        out = out.astype({c: np.int64 for c in out.columns if c != "hours_sum"})
        if key is None and out.empty:
            out = pd.DataFrame(0, index=["total"], columns=cols)
        return out.reindex(columns=cols, fill_value=0)


def _first_day(t: np.ndarray) -> np.datetime64 | None:
    ok = t[~np.isnat(t)]
    return ok.min().astype("datetime64[D]") if len(ok) else None


def _reached(first: np.datetime64 | None, p: Period | None) -> bool:
    return p is not None and first is not None and first <= np.datetime64(p.start.date(), "D")


def _rate(num, den):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
