"""Reading ingest's own outputs back: ``responses.parquet`` / ``workorders.parquet``, schema checked.

Used by the commands that start from an ingest folder (``fit``, ``weight``,
``bulletin``, the notebooks); the canonical columns and their dtypes are
:mod:`research.ingestion.schema`'s.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from research.errors import InputError
from research.ingestion.files import read_regular_file

def _kind_of(path: Path, what: str) -> str:
    """``survey`` or ``workorders``: which canonical schema an ingest output follows."""
    return "workorders" if "work" in path.name.lower() or "work" in what.lower() else "survey"


def _compatible(col: pd.Series, dtype: str) -> bool:
    """True when ``col`` can stand for a canonical column of ``dtype`` (research.ingestion.schema)."""
    api = pd.api.types
    if dtype == "string":
        if isinstance(col.dtype, pd.StringDtype):
            return True
        return col.dtype == object and api.infer_dtype(col, skipna=True) in ("string", "empty")
    if dtype.startswith("datetime64"):
        return api.is_datetime64_dtype(col.dtype)  # naive only: tz-aware is not the contract
    if dtype == "boolean":
        return api.is_bool_dtype(col.dtype) or (col.dtype == object and api.infer_dtype(
            col, skipna=True) in ("boolean", "empty"))
    if dtype in ("Int64", "int64"):
        if api.is_bool_dtype(col.dtype):
            return False
        if api.is_integer_dtype(col.dtype):
            return dtype == "Int64" or not col.isna().any()
        if api.is_float_dtype(col.dtype):
            vals = col.to_numpy(dtype="float64", na_value=np.nan)
            finite = vals[~np.isnan(vals)]
            return (dtype == "Int64" or len(finite) == len(vals)) and bool(
                np.all(np.isfinite(finite) & (finite == np.round(finite)) & (np.abs(finite) < 2**53)))
        return False
    if dtype == "float64":
        return ((api.is_float_dtype(col.dtype) or api.is_integer_dtype(col.dtype))
                and not api.is_bool_dtype(col.dtype))
    return False


def check_ingested(frame: pd.DataFrame, kind: str, path: Path, what: str) -> pd.DataFrame:
    """``frame`` with its canonical columns checked and typed as :mod:`research.ingestion.schema` says.

    Parameters
    ----------
    frame : a frame read from an ingest output.
    kind : ``"survey"`` (responses) or ``"workorders"``.
    path, what : named in messages.

    Returns
    -------
    The same frame (extra columns untouched), every canonical column cast to its dtype.

    Raises
    ------
    InputError
        A canonical column absent, holding values of another type, (an answer) a value that is
        not a code of its scale, or a ticket id repeated; the message names the file and the column.
    """
    from research.ingestion import schema

    columns = schema.SCHEMAS[kind]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: required column(s) absent: {', '.join(missing)} (the {what} file "
                         "'research ingest' writes has them; run 'research ingest' again)")
    out = frame
    for name, dtype in columns.items():
        col = frame[name]
        if isinstance(col, pd.DataFrame):
            raise InputError(f"{path}: column {name!r} appears twice in the {what} file")
        if str(col.dtype) == dtype:
            continue  # as ingest wrote it: nothing to check or copy
        bad = InputError(f"{path}: column {name!r} of the {what} file holds {col.dtype} values, "
                         f"expected {dtype} (as 'research ingest' writes it)")
        if not _compatible(col, dtype):
            raise bad
        if out is frame:
            out = frame.copy(deep=False)  # the caller's frame is left as it was
        try:
            out[name] = col.astype(dtype)
        except (TypeError, ValueError, OverflowError):
            raise bad from None
    _check_answers(out, kind, path, what)
    if "ticket_id" in out.columns:
        repeated = out["ticket_id"].duplicated(keep="first").to_numpy(dtype=bool)
        if repeated.any():  # ingest keeps one row per ticket: a second would count it twice
            raise InputError(f"{path}: {int(repeated.sum()):,} ticket_id value(s) of the {what} file appear "
                             f"more than once (first repeat at row {int(repeated.argmax()) + 1}); "
                             "'research ingest' writes each ticket once: run it again")
    return out


def _check_answers(frame: pd.DataFrame, kind: str, path: Path, what: str) -> None:
    """Refuse an answer column (``sat_overall``, ...) holding a value that is not a code of its scale
    (``research ingest`` writes only those, or <NA>): the models index the scale by it."""
    from research.config.instrument import load_instrument

    instrument = load_instrument()
    for f in instrument.fields.get(kind, ()):
        if f.kind != "answer" or f.name not in frame.columns:
            continue
        codes = sorted(int(level.code) for level in instrument.scales[f.domain].levels)
        values = frame[f.name]
        outside = (values.notna() & ~values.isin(codes)).to_numpy(dtype=bool)
        if outside.any():
            raise InputError(f"{path}: column {f.name!r} of the {what} file holds {int(outside.sum()):,} "
                             f"value(s) outside its scale {codes} (first at row {int(outside.argmax()) + 1}); "
                             "'research ingest' writes only the scale's codes: run it again")


def read_ingested(path: Path, what: str, kind: str | None = None) -> pd.DataFrame:
    """Read one ingest output (``responses.parquet`` / ``workorders.parquet``) and check its schema.

    Parameters
    ----------
    path : the Parquet file.
    what : names it in messages ("responses", "work orders").
    kind : ``"survey"`` or ``"workorders"``; default from the file name or ``what``.

    Returns
    -------
    The frame, canonical columns typed as :mod:`research.ingestion.schema` says (see :func:`check_ingested`).

    Raises
    ------
    InputError
        Naming the file: absent ("run 'research ingest' first"), unreadable,
        not a regular file, or a canonical column absent or of the wrong type;
        or its folder, or that folder's parent (a build root), is marked incomplete
        by an interrupted run (:mod:`research.pipeline.buildstate`).
    """
    from research.pipeline.buildstate import refuse_incomplete

    path = Path(path)
    refuse_incomplete(path.parent, "ingest folder")
    refuse_incomplete(path.parent.parent, "build folder")
    if not path.exists():
        raise InputError(f"{path}: {what} file not found; run 'research ingest' first")
    data = read_regular_file(path)
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises several types for a damaged file
        raise InputError(f"{path}: cannot read the {what} ({type(exc).__name__}); damaged file?") from None
    return check_ingested(frame, kind or _kind_of(path, what), path, what)
