"""The canonical frames that ingest writes: column order and dtypes.

``responses.parquet`` (one row per accepted survey response) and
``workorders.parquet`` (one row per accepted work order) always carry exactly
these columns in this order, whatever the export looked like.

Units: datetimes are naive local time (China Standard Time, as exported);
``handling_hours`` is in hours.
"""

from __future__ import annotations

import pandas as pd

TEXT = "string"
TIME = "datetime64[us]"

#: responses.parquet: canonical name -> dtype
RESPONSES: dict[str, str] = {
    "ticket_id": TEXT,
    "customer_id": TEXT,  # keyed pseudonym (see research.ingestion.pseudonymise), never the clear id
    "region": TEXT,
    "station": TEXT,
    "channel": TEXT,  # code: hotline, app, wechat, counter
    "cause_l1": TEXT,  # code of the cause group
    "cause_l2": TEXT,  # code of the sub-cause
    "created_at": TIME,
    "resolved_at": TIME,
    "surveyed_at": TIME,
    "repeat_calls": "Int64",  # earlier calls on the same matter in 30 days; <NA> if not exported
    "resolved": TEXT,  # yes, partly, no; <NA> if not exported
    "sat_overall": "Int64",  # 1..5; <NA> for refused / don't know / blank
    "sat_speed": "Int64",
    "sat_attitude": "Int64",
    "sat_outcome": "Int64",
    "comment": TEXT,  # phone and ID-card numbers masked
    "handling_hours": "float64",  # resolved_at - created_at, hours
    "sla_deadline": TIME,  # latest resolution time meeting the target of the sub-cause
    "sla_met": "boolean",  # resolved_at <= sla_deadline
    "satisfied": "boolean",  # sat_overall >= satisfied_threshold (top-2-box); <NA> if missing
    "repeat": "boolean",  # repeat_calls > 0; <NA> if missing
    "source_row": "int64",  # 1-based data row of the export (header excluded)
}

#: workorders.parquet: canonical name -> dtype
WORKORDERS: dict[str, str] = {
    "ticket_id": TEXT,
    "customer_id": TEXT,
    "region": TEXT,
    "station": TEXT,
    "channel": TEXT,
    "cause_l1": TEXT,
    "cause_l2": TEXT,
    "created_at": TIME,
    "resolved_at": TIME,
    "survey_status": TEXT,  # completed, no_answer, refused
    "handling_hours": "float64",
    "sla_deadline": TIME,
    "sla_met": "boolean",
    "source_row": "int64",
}

SCHEMAS = {"survey": RESPONSES, "workorders": WORKORDERS}


def conform(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical columns of ``kind``, in order and typed.

    Parameters
    ----------
    frame : DataFrame holding at least the canonical columns.
    kind : ``"survey"`` or ``"workorders"``.
    """
    schema = SCHEMAS[kind]
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise KeyError(f"canonical columns missing from the {kind} frame: {missing}")
    out = frame.loc[:, list(schema)].astype(schema)
    return out.reset_index(drop=True)
