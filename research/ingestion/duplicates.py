"""Rows that repeat a ticket id, and survey rows without a work order.

Faults flagged on a checked export (:class:`research.ingestion.faults._Checked`) after
:func:`research.ingestion.checks._check`: ``duplicate`` (an identical copy of an earlier
row, the first kept), ``conflicting_duplicate`` (rows sharing a ticket id but differing:
all rejected) and, through :func:`_orphans`, ``no_workorder``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.ingestion.faults import _Checked
from research.ingestion.parse import as_arrow, strip
from research.ingestion.rows import _select

def _flag_duplicates(checked: _Checked) -> None:
    """Rows sharing a ticket_id: identical copies -> ``duplicate`` (first kept);
    differing copies -> all ``conflicting_duplicate`` (:func:`duplicate_masks`)."""
    _add_duplicates(checked.faults, checked.details,
                    duplicate_masks(checked.parsed["ticket_id"], checked.raw))


def _add_duplicates(faults: dict[str, np.ndarray], details: list,
                    masks: list[tuple[str, np.ndarray]]) -> None:
    """The faults of :func:`duplicate_masks` added to a check's ``faults`` and ``details``."""
    for reason, mask in masks:
        faults[reason] |= mask
        details.append((reason, "ticket_id", mask))


def duplicate_masks(ticket: pd.Series, raw: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """(reason, rows) of the rows sharing a ticket id (``ticket``: parsed; ``raw``: the raw
    values, control characters in free text replaced): ``conflicting_duplicate`` (copies that
    differ: all of them), then ``duplicate`` (identical copies of an earlier row); a reason
    with no row is left out."""
    shared = repeated(as_arrow(ticket))
    if not shared.any():
        return []
    # few rows: surrounding spaces do not make a copy differ. Taken by Arrow chunk by chunk
    # (:func:`_select`): ``raw.loc[shared]`` gathers each whole column into one first
    sub = _select(raw, shared).apply(strip)
    signature = pd.util.hash_pandas_object(sub, index=False)
    tickets = as_arrow(ticket).filter(pa.array(shared)).to_numpy(zero_copy_only=False)
    groups = pd.DataFrame({"ticket": tickets, "sig": signature.to_numpy()}, index=np.flatnonzero(shared))
    differs = groups.groupby("ticket")["sig"].transform("nunique") > 1
    conflicting = np.zeros(len(ticket), dtype=bool)
    conflicting[groups.index[differs.to_numpy()]] = True
    later_copy = np.zeros(len(ticket), dtype=bool)
    same = groups.loc[~differs.to_numpy()]
    later_copy[same.index[same["ticket"].duplicated(keep="first").to_numpy()]] = True
    return [(reason, mask) for reason, mask in (("conflicting_duplicate", conflicting),
                                                ("duplicate", later_copy)) if mask.any()]



def _repeated_by_hash(values: pa.Array) -> np.ndarray:
    enc = pc.dictionary_encode(values)
    codes = enc.indices.to_numpy(zero_copy_only=False)
    return np.bincount(codes, minlength=len(enc.dictionary))[codes] > 1



def repeated(values: pa.ChunkedArray) -> np.ndarray:
    """True where a value (not <NA>) occurs more than once: ``notna() & duplicated(keep=False)``.

    Exports are usually in ticket order, so most equal values sit side by side:
    the values out of order (and their neighbours) are set aside, the rest,
    if in order, compared with their neighbours, and the values set aside
    counted over the whole column. Without such order, values are hashed.
    """
    values = values.combine_chunks()
    out = np.zeros(len(values), dtype=bool)
    if values.null_count:
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        out[valid] = repeated(pa.chunked_array([values.filter(pa.array(valid))]))
        return out
    n = len(values)
    if n < 2:
        return out
    ordered = pc.less_equal(values.slice(0, n - 1), values.slice(1)).to_numpy(zero_copy_only=False)
    breaks = np.flatnonzero(~ordered)
    if len(breaks) > 16 + n // 100:  # not in order: hashing is cheaper
        return _repeated_by_hash(values)
    aside = np.zeros(n, dtype=bool)
    aside[breaks] = True
    aside[breaks + 1] = True
    rest = np.flatnonzero(~aside)
    kept = values.take(pa.array(rest))
    m = len(kept)
    if m > 1:
        if not pc.all(pc.less_equal(kept.slice(0, m - 1), kept.slice(1))).as_py():
            return _repeated_by_hash(values)
        same = pc.equal(kept.slice(0, m - 1), kept.slice(1)).to_numpy(zero_copy_only=False)
        out[rest[:-1][same]] = True
        out[rest[1:][same]] = True
    if len(breaks):
        suspects = values.filter(pa.array(aside))
        where = np.flatnonzero(pc.is_in(values, value_set=suspects).to_numpy(zero_copy_only=False))
        out[where[_repeated_by_hash(values.take(pa.array(where)))]] = True
    return out



def _orphans(ticket: pd.Series, known: pa.Array) -> np.ndarray:
    """Rows whose ticket id is present but not among ``known`` (the work orders' ids), as a bool
    array. Arrow's hash lookup: pandas' ``isin`` on an Arrow string column walks every value in
    Python (13.9 s of a 22 s ingest of 1M responses against 1.75M work orders)."""
    values = pa.chunked_array(pa.array(ticket))
    found = pc.is_in(values, value_set=known.cast(values.type))
    return pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(found, False))).to_numpy(zero_copy_only=False)
