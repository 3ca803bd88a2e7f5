"""A Parquet export as raw strings, within the limits.

The declared row and column counts are checked before any data is decoded;
a nested (struct, list, map) or binary column is refused naming the column.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from research.errors import InputError
from research.ingestion.files import MAX_CELL_CHARS, MAX_CELLS, MAX_COLUMNS, read_regular_file
from research.ingestion.headers import _column
from research.ingestion.typed_cells import _typed_to_strings

def _flat_type(t) -> bool:
    """True for Arrow types an export column may hold: text, numbers, booleans, dates, nulls."""
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(t):
        return _flat_type(t.value_type)
    return (pt.is_string(t) or pt.is_large_string(t) or getattr(pt, "is_string_view", lambda _: False)(t)
            or pt.is_integer(t) or pt.is_floating(t) or pt.is_boolean(t) or pt.is_timestamp(t)
            or pt.is_date(t) or pt.is_decimal(t) or t == pa.null())


def _is_text_type(t) -> bool:
    import pyarrow.types as pt

    if pt.is_dictionary(t):
        return _is_text_type(t.value_type)
    return pt.is_string(t) or pt.is_large_string(t) or getattr(pt, "is_string_view", lambda _: False)(t)


def read_parquet(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """A Parquet file as raw strings.

    The declared row and column counts (file metadata) are checked against
    :data:`MAX_CELLS` and :data:`MAX_COLUMNS` before any data is decoded; a
    nested (struct, list, map) or binary column is refused naming it; text
    must be valid UTF-8 and no cell longer than :data:`MAX_CELL_CHARS`.
    The pandas metadata a file may carry is ignored (it could name columns
    or types that are not there); pandas' stored index columns are dropped.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    data = read_regular_file(path) if data is None else data
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        fields = list(pf.schema_arrow)
        n_rows = pf.metadata.num_rows
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read the Parquet file ({type(exc).__name__}); damaged or "
                         "truncated?") from None
    keep = [i for i, f in enumerate(fields) if not re.fullmatch(r"__index_level_\d+__", f.name)]
    fields = [fields[i] for i in keep]
    for j, f in enumerate(fields):
        if not _flat_type(f.type):
            kind = str(f.type)
            kind = kind if len(kind) <= 60 else kind[:57] + "..."
            raise InputError(f"{path}: {_column(j, f.name)} holds {kind} values, not text, numbers or "
                             "dates; an export column must be flat (one value per cell)")
    if len(fields) > MAX_COLUMNS or n_rows * max(len(fields), 1) > MAX_CELLS:
        raise InputError(f"{path}: declares {n_rows:,} rows x {len(fields):,} columns; an export may "
                         f"have at most {MAX_COLUMNS} columns and {MAX_CELLS:,} cells (refused before "
                         "loading)")
    try:
        # by position: two columns may share a name (said below, naming both positions), and a
        # read by names would take the first of them twice
        table = pf.read().select(keep)
    except Exception as exc:  # noqa: BLE001 -- damaged pages
        raise InputError(f"{path}: cannot read the Parquet file ({type(exc).__name__}); damaged or "
                         "truncated?") from None
    for j, f in enumerate(fields):
        if not _is_text_type(f.type):
            continue
        col = table.column(j)
        try:
            col.validate(full=True)
        except pa.ArrowInvalid:
            raise InputError(f"{path}: {_column(j, f.name)} holds text that is not valid UTF-8") from None
        text = col.cast(pa.string()) if pa.types.is_dictionary(f.type) else col
        longest = pc.max(pc.utf8_length(text)).as_py() or 0
        if longest > MAX_CELL_CHARS:
            raise InputError(f"{path}: {_column(j, f.name)} holds a cell of {longest:,} characters, "
                             f"more than the {MAX_CELL_CHARS:,} a cell may have")
    try:
        frame = table.to_pandas(ignore_metadata=True)
    except Exception as exc:  # noqa: BLE001 -- values pandas cannot hold
        raise InputError(f"{path}: cannot read the Parquet file ({type(exc).__name__})") from None
    return _typed_to_strings(path, frame)
