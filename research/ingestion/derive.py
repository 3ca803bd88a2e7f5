"""Fields derived at ingest (docs/input_contract.md, "Derived at ingest"): handling time, SLA, satisfied, repeat.

Pure functions: a canonical frame in, the same frame with derived columns out.
"""

from __future__ import annotations

import pandas as pd

from research.config.instrument import Instrument
from research.ingestion.sla import sla_deadlines


def handling_hours(created_at: pd.Series, resolved_at: pd.Series) -> pd.Series:
    """``resolved_at - created_at`` in hours (float64)."""
    return ((resolved_at - created_at) / pd.Timedelta(hours=1)).astype("float64")


def derive_fields(frame: pd.DataFrame, instrument: Instrument) -> tuple[pd.DataFrame, list[str]]:
    """Add the derived columns to a parsed survey or work-order frame.

    Parameters
    ----------
    frame : parsed canonical frame with ``created_at``, ``resolved_at`` and
        ``cause_l2``; ``sat_overall`` and ``repeat_calls`` when it is a survey.
    instrument : gives the SLA targets and the top-2-box threshold.

    Returns
    -------
    frame : a copy with ``handling_hours`` (hours), ``sla_deadline``,
        ``sla_met`` (resolved_at <= sla_deadline) and, for surveys,
        ``satisfied`` (sat_overall >= threshold, <NA> if missing) and
        ``repeat`` (repeat_calls > 0, <NA> if missing).
    warnings : messages, e.g. calendar years without holiday data.
    """
    out = frame.copy(deep=False)  # copy-on-write: new columns never touch the caller's frame
    out["handling_hours"] = handling_hours(out["created_at"], out["resolved_at"])
    deadline, warnings = sla_deadlines(out["created_at"], out["cause_l2"], instrument)
    out["sla_deadline"] = deadline
    out["sla_met"] = (out["resolved_at"] <= deadline).astype("boolean").mask(deadline.isna())
    if "sat_overall" in out:
        out["satisfied"] = (out["sat_overall"] >= instrument.satisfied_threshold).astype("boolean")
    if "repeat_calls" in out:
        out["repeat"] = (out["repeat_calls"] > 0).astype("boolean")
    return out, warnings
