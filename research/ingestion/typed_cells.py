"""Typed cells (from XLSX or Parquet) as the text an export would hold.

The readers hand validation raw strings only (blank = ``""``); a workbook or
Parquet file holds typed values, written back here as a CSV export would
show them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from research.errors import InputError
from research.ingestion.headers import _unique_headers

def _cell_strings(col: pd.Series) -> pd.Series:
    """Turn a typed column (from XLSX or Parquet) into raw strings, blank for missing."""
    if pd.api.types.is_datetime64_any_dtype(col):
        out = col.dt.strftime("%Y-%m-%d %H:%M:%S")
    elif pd.api.types.is_bool_dtype(col):
        out = col.map({True: "true", False: "false"})
    elif pd.api.types.is_integer_dtype(col):
        out = col.astype("Int64").astype("string")
    elif pd.api.types.is_float_dtype(col):
        vals = col.to_numpy(dtype="float64", na_value=np.nan)
        integral = np.isfinite(vals) & (vals == np.round(vals))
        out = pd.Series([(f"{v:.0f}" if i else repr(float(v))) if not np.isnan(v) else None
                         for v, i in zip(vals, integral)], index=col.index, dtype="string")
    else:
        out = pd.Series([cell_text(v) for v in col], index=col.index, dtype="string")
    return out.astype(pd.StringDtype("pyarrow")).fillna("")


def cell_text(v) -> str | None:
    """One typed cell (XLSX / Parquet object column) as export text; None for missing.

    Datetimes (and dates) become ``YYYY-mm-dd HH:MM:SS``; integral floats lose
    their ``.0``; non-finite floats become ``inf`` / ``nan`` text (which the
    parsers flag as invalid); booleans ``True`` / ``False``.
    """
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, float):
        if np.isnan(v):
            return None
        return f"{v:.0f}" if np.isfinite(v) and v == int(v) else repr(v)
    if isinstance(v, pd.Timestamp) or hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def _typed_to_strings(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.shape[0] == 0:
        raise InputError(f"{path}: has a header but no data rows")
    header = [str(c).strip() if not (isinstance(c, str) and c.startswith("Unnamed:")) else ""
              for c in frame.columns]
    out = pd.DataFrame({f"c{i}": _cell_strings(frame.iloc[:, i]) for i in range(frame.shape[1])})
    out.columns = _unique_headers(path, header)
    return out
