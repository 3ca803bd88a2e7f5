"""Rows and aggregates of a dataset folder read by DuckDB: only the rows a filter keeps and only
the columns asked for, in the order and with the dtypes
:func:`research.ingestion.dataset.read_dataset` gives (the bulletin's reader at national scale,
docs/architecture.md, "Dataset layout").

DuckDB reads the ledger's Parquet parts itself (``read_parquet`` through the Python API with the
paths as a list, never inside SQL text); a filter on a timestamp column is pushed down to the
parts' row groups, so a window of weeks reads a few row groups of a few ``month=`` parts. Values
travel as query parameters; identifiers are the input contract's column names, checked against
the parts' own schema.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from research.engines.duckdb_engine import MEMORY_LIMIT

#: the tables of a dataset folder
TABLES = ("responses", "workorders")

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a column name of the input contract: {name!r}")
    return f'"{name}"'


class DatasetReader:
    """A DuckDB session over one dataset folder: views ``responses`` and ``workorders`` of the
    ledger's parts (each row with its part's ``filename``; a small table ``<table>_entries`` gives
    each part's ledger entry, which orders the rows).
    Use as a context manager, or call :meth:`close`.

    Raises
    ------
    InputError
        No ledger in ``folder`` (not a dataset), or a table without parts.
    """

    def __init__(self, folder: str | Path, *, memory_limit: str = MEMORY_LIMIT, threads: int | None = None):
        import duckdb

        from research.engines.base import DatasetSource
        from research.ingestion.dataset import read_ledger

        self.folder = Path(folder)
        self._tmp = tempfile.mkdtemp(prefix="research-window-")
        self.con = duckdb.connect(config={"temp_directory": self._tmp, "memory_limit": memory_limit,
                                          **({"threads": int(threads)} if threads else {})})
        self.con.execute("SET enable_progress_bar = false")
        self.templates: dict[str, pd.DataFrame] = {}
        for table in TABLES:
            files = [str(f) for f in DatasetSource(self.folder, table).files()]  # InputError: none
            entries = read_ledger(self.folder)["entries"]
            entry_of = {str(self.folder / p): i for i, e in enumerate(entries) for f in e["files"]
                        if f["table"] == table for p in f["parts"]}
            order = pd.DataFrame({"filename": files, "entry": [entry_of.get(f, 0) for f in files]})
            self.con.register(f"{table}_entries", order)
            (self.con.read_parquet(files, hive_partitioning=True, union_by_name=True, filename=True)
             .create_view(table))
            # the columns and dtypes read_dataset gives: the canonical ones (the parts lack the
            # partition column region, which DuckDB reads back from the folder names)
            self.templates[table] = _template(table)

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def columns(self, table: str) -> list[str]:
        """The canonical columns of ``table`` (those of its first part)."""
        return list(self.templates[table].columns)

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """The result of an aggregate query over the views ``responses`` / ``workorders``."""
        return self.con.execute(sql, params or []).df()

    @staticmethod
    def ident(name: str) -> str:
        """``name`` (a column of the input contract) quoted for this dialect's SQL."""
        return _ident(name)

    def rows(self, table: str, columns: list[str], where: str = "TRUE", params: list | None = None,
             *, created_before=None) -> pd.DataFrame:
        """The ``columns`` of the rows of ``table`` that ``where`` (SQL over the view ``t``, with
        ``?`` parameters) keeps: in read_dataset's order (ledger entry, then ``source_row``), with
        its dtypes, a fresh 0..n-1 index. ``created_before`` (a timestamp every kept row was
        created before) lets an engine skip later ``month=`` parts; DuckDB skips them by the parts'
        row-group statistics already, so it is not used here."""
        template = self.templates[table]
        cols = [c for c in dict.fromkeys(columns) if c in template.columns]
        select = ", ".join(f"t.{_ident(c)}" for c in cols)
        sql = (f"SELECT {select} FROM {table} t JOIN {table}_entries e ON t.filename = e.filename "
               f"WHERE {where} ORDER BY e.entry, t.source_row")
        arrow = self.con.sql(sql, params=params or []).to_arrow_table()
        return _typed(arrow, template[cols])

    @contextmanager
    def table(self, name: str, sql: str, params: list | None = None):
        """A temporary table ``name`` holding the result of ``sql`` over the views, for as long as
        the ``with`` block runs, and a :class:`~research.engines.duckdb_engine.DuckDBEngine` on this
        session that reads it (``TableSource(name)``)."""
        from research.engines.duckdb_engine import DuckDBEngine

        self.con.execute(f"CREATE OR REPLACE TEMPORARY TABLE {_ident(name)} AS {sql}", params or [])
        engine = DuckDBEngine(connection=self.con)
        try:
            yield engine
        finally:
            engine.close()
            self.con.execute(f"DROP TABLE IF EXISTS {_ident(name)}")

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def _template(table: str) -> pd.DataFrame:
    """An empty frame of ``table``'s canonical columns and dtypes (what read_dataset returns)."""
    from research.ingestion import schema
    from research.ingestion.dataset import TABLES as KINDS

    return schema.conform(pd.DataFrame(columns=list(schema.SCHEMAS[KINDS[table]])), KINDS[table])


def _typed(arrow, template: pd.DataFrame) -> pd.DataFrame:
    """An Arrow result as a frame with ``template``'s dtypes (strings, booleans and integers go
    straight to pandas' nullable dtypes: no Python objects per cell on the way)."""
    import pyarrow as pa

    mapper = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(), pa.bool_(): pd.BooleanDtype(),
              pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype()}
    frame = arrow.to_pandas(types_mapper=mapper.get)
    changed = {c: template[c].dtype for c in template.columns if frame[c].dtype != template[c].dtype}
    return frame.astype(changed) if changed else frame
