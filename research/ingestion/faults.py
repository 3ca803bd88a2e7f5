"""Row faults: their reason codes, and the record of one checked export.

The codes, in the precedence used for a rejected row's primary ``reason``,
are listed with their meaning in :mod:`research.ingestion.run`'s docstring
and in docs/input_contract.md; :data:`REASONS` gives each its zh and en
wording for the ingest report and ``rejected.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from research.artifacts.words import word
from research.ingestion.parse import Coded

#: the reason codes, in the precedence used for a row's primary ``reason``
REASON_CODES: tuple[str, ...] = ("conflicting_duplicate", "duplicate", "missing_required", "invalid_datetime",
                                 "unknown_label", "invalid_answer", "invalid_count", "invalid_text",
                                 "cause_mismatch", "time_order", "no_workorder")

#: reason code -> (zh, en), from the one display mapping (research.artifacts.words, keys
#: ``reason:<code>``); ingest_report.json carries them so that a reader of the report needs no code
REASONS: dict[str, tuple[str, str]] = {code: (word(f"reason:{code}", "zh"), word(f"reason:{code}", "en"))
                                       for code in REASON_CODES}

# ticket_id is never masked in the ticket_id columns of the outputs: rejected
# and accepted rows must stay traceable to the export, and ids of the contract
# (letters + 13 digits, e.g. GD2025010100002) hold no number the masker would
# change anyway (tests pin this). Values quoted in ``detail`` are masked all the same.
_TRACE_FIELD = "ticket_id"


@dataclass
class _Checked:
    """One export checked row by row (:func:`research.ingestion.checks._check`): its parsed
    values, raw values, faults found so far (duplicates and work-order matches are added to
    ``faults`` and ``details`` afterwards), the header mapping and warnings."""

    parsed: dict[str, pd.Series | Coded]  # canonical typed values, every row (text as Coded)
    raw: pd.DataFrame  # stripped raw strings under canonical names, every row
    faults: dict[str, np.ndarray]  # reason -> bool per row
    details: list[tuple[str, str, np.ndarray]]  # (reason, column, bool per row)
    columns: dict
    warnings: list[str]
    # field -> pseudonym of each distinct value of its Coded column (made with the key in _check)
    pseudonyms: dict[str, pa.Array] = field(default_factory=dict)
