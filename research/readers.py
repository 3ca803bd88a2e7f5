"""Read a raw export (CSV, XLSX or Parquet) into a frame of strings, exactly as exported.

Every cell becomes a string (blank = ``""``) so that validation sees the raw
value and a rejected row can be written back unchanged. Format is detected
from the file's first bytes (then its extension); CSV encoding is detected:
UTF-8, UTF-8 with BOM, or GB18030 (a superset of GBK and GB2312).

Any file that cannot be read raises :class:`research.errors.InputError` naming
the file and the problem.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from research.errors import InputError

_DELIMITERS = (",", "\t", ";", "|")
_NON_SPACE = re.compile(rb"\S")


@dataclass(frozen=True)
class RawTable:
    """A raw export: ``frame`` (all-string columns with the export's own headers),
    where it came from and how it was decoded."""

    frame: pd.DataFrame
    path: Path
    format: str  # csv | xlsx | parquet
    encoding: str | None  # csv only: utf-8, utf-8-sig or gb18030
    sha256: str
    size_bytes: int


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def detect_format(path: Path, head: bytes) -> str:
    """``csv``, ``xlsx`` or ``parquet`` from the magic bytes, else the extension."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(f"{path}: old binary Excel (.xls) is not supported; save it as .xlsx or CSV")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        raise InputError(f"{path}: named {suffix} but is not an Excel workbook (damaged or not XLSX)")
    if suffix in (".parquet", ".pq"):
        raise InputError(f"{path}: named {suffix} but is not a Parquet file (damaged or truncated)")
    return "csv"


def decode_csv_bytes(path: Path, data: bytes) -> tuple[bytes, str]:
    """Check and normalise the encoding of CSV bytes; returns (UTF-8 bytes, encoding name).

    Tries UTF-8 (with or without BOM), then GB18030. UTF-16 and binary
    content are refused with a message naming the file. UTF-8 input is
    returned as is (minus the BOM), without a copy through ``str``.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path}: UTF-16 text is not supported; export as UTF-8 or GB18030 CSV")
    if b"\x00" in data[:65536]:
        raise InputError(f"{path}: binary content (NUL bytes), not a CSV export")
    if data.startswith(b"\xef\xbb\xbf"):
        body = memoryview(data)[3:]
        try:
            codecs.decode(body, "utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: starts with a UTF-8 BOM but byte {exc.start + 3} is not "
                             "UTF-8 (file damaged or mixed encodings)") from None
        return bytes(body), "utf-8-sig"
    try:
        codecs.decode(data, "utf-8")
        return data, "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030").encode("utf-8"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: neither UTF-8 nor GB18030 text (undecodable byte at offset "
                         f"{exc.start}); binary or damaged file?") from None


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def read_csv_bytes(path: Path, data: bytes) -> pd.DataFrame:
    """Parse UTF-8 CSV bytes into an all-string frame (blank cells ``""``)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    first = _NON_SPACE.search(data)
    if first is None:
        raise InputError(f"{path}: the file is empty")
    start = data.rfind(b"\n", 0, first.start()) + 1  # the header line starts here
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    first_line = data[start:end].decode("utf-8").rstrip("\r")
    delimiter = _sniff_delimiter(first_line)
    header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    header = [h.strip() for h in header]
    k = len(header)
    bad_rows: list[str] = []

    def on_invalid(row) -> str:
        if not bad_rows:
            number = row.number
            if number is None:  # unknown when quoted fields may hold newlines: find the text
                at = data.find(row.text.encode("utf-8"), end)
                number = data.count(b"\n", 0, at) + 1 if at >= 0 else None
            where = f"line {number}" if number is not None else "a row"
            bad_rows.append(f"{where} has {row.actual_columns} fields, the header has "
                            f"{row.expected_columns}: {row.text[:80]!r}")
        return "skip"

    names = [f"c{i}" for i in range(k)]
    body = pa.py_buffer(data).slice(min(end + 1, len(data)))  # no copy
    if _NON_SPACE.search(data, end) is None:
        raise InputError(f"{path}: has a header but no data rows")
    try:
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: malformed CSV ({exc}); truncated or damaged file?") from None
    if bad_rows:
        raise InputError(f"{path}: {bad_rows[0]} (truncated or malformed file)")
    if table.num_rows == 0:
        raise InputError(f"{path}: has a header but no data rows")
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    frame.columns = _unique_headers(path, header)
    return frame


def _unique_headers(path: Path, header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        name = h or f"(blank header, column {i + 1})"
        if name in seen:
            raise InputError(f"{path}: the header {name!r} appears twice (columns "
                             f"{seen[name] + 1} and {i + 1})")
        seen[name] = i
        out.append(name)
    return out


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
        def one(v):
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v is pd.NA:
                return None
            if isinstance(v, pd.Timestamp) or hasattr(v, "strftime"):
                return v.strftime("%Y-%m-%d %H:%M:%S")
            if isinstance(v, float) and v == int(v):
                return f"{v:.0f}"
            return str(v)
        out = pd.Series([one(v) for v in col], index=col.index, dtype="string")
    return out.astype(pd.StringDtype("pyarrow")).fillna("")


def _typed_to_strings(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.shape[0] == 0:
        raise InputError(f"{path}: has a header but no data rows")
    header = [str(c).strip() if not (isinstance(c, str) and c.startswith("Unnamed:")) else ""
              for c in frame.columns]
    out = pd.DataFrame({f"c{i}": _cell_strings(frame.iloc[:, i]) for i in range(frame.shape[1])})
    out.columns = _unique_headers(path, header)
    return out


def read_xlsx(path: Path) -> pd.DataFrame:
    """First sheet of a workbook as raw strings; dates become ``YYYY-mm-dd HH:MM:SS``."""
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl/zipfile raise many types for a damaged workbook
        raise InputError(f"{path}: cannot read the Excel workbook ({type(exc).__name__}: {exc})") from None
    if frame.shape[1] == 0:
        raise InputError(f"{path}: the first sheet is empty")
    return _typed_to_strings(path, frame.dropna(how="all"))


def read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file as raw strings."""
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise InputError(f"{path}: cannot read the Parquet file ({type(exc).__name__}: {exc})") from None
    return _typed_to_strings(path, frame)


def read_export(path: str | Path) -> RawTable:
    """Read one export file as raw strings.

    Parameters
    ----------
    path : CSV (UTF-8, UTF-8 with BOM, GB18030/GBK; comma, tab, semicolon or
        pipe separated), XLSX (first sheet) or Parquet.

    Returns
    -------
    RawTable with an all-string ``frame`` (the export's headers, one row per
    data row, blank cells as ``""``), the detected format and encoding, and
    the sha256 of the file's bytes.

    Raises
    ------
    InputError
        Missing, empty, binary, undecodable, truncated or malformed file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an export file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if _NON_SPACE.search(data) is None:
        raise InputError(f"{path}: the file is empty")
    fmt = detect_format(path, data[:8])
    encoding = None
    if fmt == "csv":
        utf8, encoding = decode_csv_bytes(path, data)
        frame = read_csv_bytes(path, utf8)
    elif fmt == "xlsx":
        frame = read_xlsx(path)
    else:
        frame = read_parquet(path)
    return RawTable(frame=frame, path=path, format=fmt, encoding=encoding,
                    sha256=sha256_bytes(data), size_bytes=len(data))


def read_ingested(path: Path, what: str) -> pd.DataFrame:
    """Read one ingest output (``responses.parquet`` / ``workorders.parquet``).

    Raises InputError naming the file when it is absent ("run 'research ingest'
    first") or unreadable, or when its folder or that folder's parent (a build root)
    is marked incomplete by an interrupted run (:mod:`research.buildstate`);
    ``what`` names it in the message ("responses").
    """
    from research.buildstate import refuse_incomplete

    path = Path(path)
    refuse_incomplete(path.parent, "ingest folder")
    refuse_incomplete(path.parent.parent, "build folder")
    if not path.exists():
        raise InputError(f"{path}: {what} file not found; run 'research ingest' first")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InputError(f"{path}: cannot read the {what} ({type(exc).__name__}: {exc})") from None
