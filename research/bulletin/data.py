"""The bulletin's inputs: the columns it needs from the ingest outputs, the indicator names, and the
per-period selections and flags of responses and work orders (:class:`_Data`).
"""

from __future__ import annotations

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


class _Data:
    """Arrays computed once from the canonical frames."""

    def __init__(self, responses: pd.DataFrame, workorders: pd.DataFrame):
        _require(responses, _RESP_COLS, "responses")
        _require(workorders, _WO_COLS, "work orders")
        self.r = responses
        self.w = workorders
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
        self.r_first = _first_day(self.r_surveyed)
        self.w_first = _first_day(self.w_created)

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
