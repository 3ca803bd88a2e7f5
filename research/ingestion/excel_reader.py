"""The first sheet of an XLSX workbook as raw strings, within the limits.

A workbook is refused before it is loaded when its members unpack to more
than :func:`research.ingestion.files.max_input_bytes` (a zip bomb) or its sheet
declares more than :data:`~research.ingestion.files.MAX_COLUMNS` columns or
:data:`~research.ingestion.files.MAX_CELLS` cells; a cell beyond those limits
stops the read naming it; a formula cell without a saved result (a workbook
written by a program that does not calculate) stops the read naming the
cell, instead of becoming a silent blank.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import pandas as pd

from research.errors import InputError
from research.ingestion.files import (MAX_CELL_CHARS, MAX_CELLS, MAX_COLUMNS, SIZE_ENV,
                                      max_input_bytes, read_regular_file)
from research.ingestion.headers import _unique_headers, quotable
from research.ingestion.typed_cells import cell_text

#: Excel's row limit; a cell below it is not from a real sheet
EXCEL_MAX_ROWS = 1_048_576


class _OutOfBounds(Exception):
    """A cell beyond the column or row limit (raised inside the sheet parser)."""

    def __init__(self, coordinate: str):
        super().__init__(coordinate)
        self.coordinate = coordinate


def _sheet_parser_class():
    """openpyxl's worksheet parser, extended to note formula cells without a saved result
    and to stop at the first cell beyond :data:`MAX_COLUMNS` or Excel's last row.

    Written against openpyxl's (private) ``WorkSheetParser`` because its
    public readers pad every row to the sheet's declared dimension (one cell
    at ``XFD1048576`` makes 17 billion) and, with ``data_only=True``, return a
    formula without a saved result as a blank, indistinguishable from an
    empty cell.
    """
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet._reader import FORMULA_TAG, VALUE_TAG, WorkSheetParser

    class SheetParser(WorkSheetParser):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.uncached: list[str] = []  # first few cells
            self.n_uncached = 0

        def parse_cell(self, element):
            cell = super().parse_cell(element)
            row, column = cell["row"], cell["column"]
            if column > MAX_COLUMNS or row > EXCEL_MAX_ROWS:
                raise _OutOfBounds(f"{get_column_letter(min(column, 18278))}{row}")
            if element.find(FORMULA_TAG) is not None:
                saved = element.find(VALUE_TAG)
                textual = element.get("t", "n") in ("str", "s", "inlineStr")
                if saved is None or (not saved.text and not textual):
                    self.n_uncached += 1
                    if len(self.uncached) < 3:
                        self.uncached.append(f"{get_column_letter(column)}{row}")
            return cell

    return SheetParser


def _check_zip(path: Path, data: bytes) -> None:
    """Refuse a workbook whose members unpack to more than :func:`max_input_bytes` (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: cannot read the Excel workbook ({type(exc).__name__}); damaged "
                         "or not XLSX") from None
    limit = max_input_bytes()
    if unpacked > limit:
        raise InputError(f"{path}: the workbook unpacks to {unpacked:,} bytes, more than the "
                         f"{limit:,} an input may have (set {SIZE_ENV} to raise the limit)")


def _sheet_name(ws) -> str:
    return f"sheet {ws.title!r}" if quotable(ws.title) else "the first sheet"


def _check_declared(path: Path, ws) -> None:
    """Refuse a sheet whose declared dimension (``<dimension ref=...>``) is beyond the limits."""
    rows, cols = ws.max_row, ws.max_column
    if not rows or not cols:
        return
    if cols > MAX_COLUMNS or rows > EXCEL_MAX_ROWS or rows * cols > MAX_CELLS:
        raise InputError(f"{path}: {_sheet_name(ws)} declares {rows:,} rows x {cols:,} columns; an "
                         f"export may have at most {MAX_COLUMNS} columns and {MAX_CELLS:,} cells "
                         "(refused before loading; re-save the sheet with only its data)")


def _sheet_cells(path: Path, wb, ws) -> dict[int, list[tuple[int, object]]]:
    """Non-empty cells of a read-only sheet: row -> [(column, value)], checked against the limits."""
    parser_class = _sheet_parser_class()
    cells: dict[int, list[tuple[int, object]]] = {}
    n_cells = 0
    src = ws._get_source()  # openpyxl's own access to the sheet XML in the archive
    parser = parser_class(src, ws._shared_strings, data_only=True, epoch=wb.epoch,
                          date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
    try:
        with warnings.catch_warnings():
            # openpyxl warns (on stderr) for a date cell out of range and stores '#VALUE!',
            # which the date parser then flags as a row fault
            warnings.simplefilter("ignore")
            for _, row in parser.parse():
                for cell in row:
                    value = cell["value"]
                    if value is None or (isinstance(value, str) and value == ""):
                        continue
                    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                        raise InputError(f"{path}: {_sheet_name(ws)} cell "
                                         f"{_coordinate(cell)} holds {len(value):,} characters, more "
                                         f"than the {MAX_CELL_CHARS:,} a cell may have")
                    n_cells += 1
                    if n_cells > MAX_CELLS:
                        raise InputError(f"{path}: {_sheet_name(ws)} holds more than {MAX_CELLS:,} "
                                         "cells, more than an export may have")
                    cells.setdefault(cell["row"], []).append((cell["column"], value))
    except _OutOfBounds as exc:
        raise InputError(f"{path}: {_sheet_name(ws)} has a cell at {exc.coordinate}, beyond the "
                         f"{MAX_COLUMNS} columns an export may have (or Excel's last row); re-save "
                         "the sheet with only its data") from None
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- XML, number and date errors of a damaged sheet
        raise InputError(f"{path}: cannot read {_sheet_name(ws)} near row {parser.row_counter:,} "
                         f"({type(exc).__name__}); damaged workbook?") from None
    finally:
        src.close()
    if parser.n_uncached:
        more = f" and {parser.n_uncached - 1:,} more" if parser.n_uncached > 1 else ""
        raise InputError(f"{path}: {_sheet_name(ws)} cell {parser.uncached[0]}{more} holds a formula "
                         "whose result was never saved (the workbook was written by a program that "
                         "does not calculate); open and save it in Excel or LibreOffice, or export CSV")
    return cells


def _coordinate(cell: dict) -> str:
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(cell['column'])}{cell['row']}"


def read_xlsx(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """First sheet of a workbook as raw strings; dates become ``YYYY-mm-dd HH:MM:SS``.

    The first row with any value is the header; rows without any value are
    skipped (as blank CSV lines are); error cells keep their text
    (``#N/A``), so a date or answer holding one is a row fault, not a blank.

    Parameters
    ----------
    path : the workbook (named in messages).
    data : its bytes, when already read (default: read ``path``).
    """
    import openpyxl

    data = read_regular_file(path) if data is None else data
    _check_zip(path, data)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 -- openpyxl/zipfile raise many types for a damaged workbook
        raise InputError(f"{path}: cannot read the Excel workbook ({type(exc).__name__}); damaged or "
                         "not XLSX") from None
    try:
        if not wb.worksheets:
            raise InputError(f"{path}: the workbook has no worksheet")
        ws = wb.worksheets[0]
        _check_declared(path, ws)
        cells = _sheet_cells(path, wb, ws)
    finally:
        wb.close()
    if not cells:
        raise InputError(f"{path}: the first sheet is empty")
    rows = sorted(cells)
    width = max(c for r in rows for c, _ in cells[r])
    if len(rows) * width > MAX_CELLS:
        raise InputError(f"{path}: the first sheet spans {len(rows):,} rows x {width:,} columns, more "
                         f"than the {MAX_CELLS:,} cells an export may have")
    if len(rows) == 1:
        raise InputError(f"{path}: has a header but no data rows")
    header = [""] * width
    for c, v in cells[rows[0]]:
        header[c - 1] = (cell_text(v) or "").strip()
    columns: list[list[str]] = [[""] * (len(rows) - 1) for _ in range(width)]
    for i, r in enumerate(rows[1:]):
        for c, v in cells[r]:
            columns[c - 1][i] = cell_text(v) or ""
    frame = pd.DataFrame({f"c{j}": pd.array(col, dtype=pd.StringDtype("pyarrow"))
                          for j, col in enumerate(columns)})
    frame.columns = _unique_headers(path, header)
    return frame
