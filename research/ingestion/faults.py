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

from research.ingestion.parse import Coded

REASONS: dict[str, tuple[str, str]] = {
    "conflicting_duplicate": ("工单编号重复且内容不一致", "ticket_id repeated with differing values"),
    "duplicate": ("重复行", "identical copy of an earlier row"),
    "missing_required": ("必填字段为空", "required field is blank"),
    "invalid_datetime": ("日期时间无法识别", "unrecognised date or time"),
    "unknown_label": ("未知标签", "label not in the instrument"),
    "invalid_answer": ("满意度答案超出量表", "satisfaction answer outside the scale"),
    "invalid_count": ("次数不是非负整数", "count is not a whole number >= 0"),
    "invalid_text": ("文本含控制字符", "text holds control characters"),
    "cause_mismatch": ("诉求子类不属于诉求大类", "sub-cause not in its cause group"),
    "time_order": ("时间顺序错误", "times out of order"),
    "no_workorder": ("无对应工单", "no matching work order"),
}

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
