"""Text columns as Arrow arrays (shared by the parsers of :mod:`research.ingestion.parse` and
:mod:`research.ingestion.datetimes`)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa


def as_arrow(text: pd.Series) -> pa.ChunkedArray:
    """A text Series as an Arrow string array (no copy when it is Arrow-backed already)."""
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        return pa.chunked_array(text.array.__arrow_array__())
    return pa.chunked_array([pa.array(text.astype(object).where(text.notna(), None).tolist(),
                                      pa.string())])
