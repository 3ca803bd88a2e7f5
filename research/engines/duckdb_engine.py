"""The embedded engine: DuckDB, out of core on one machine.

A dataset's Parquet parts are read by DuckDB itself (``read_parquet`` through the Python API, so
no path is ever written into SQL), hive partitions included; a frame is registered as an Arrow
table. The rows a model needs are kept once as a temporary table (DuckDB spills it to its
temporary folder when memory runs short) and every Newton iteration is one ``GROUP BY`` over it.
Sums use ``fsum`` (Kahan summation): the order in which DuckDB's threads add is not fixed, and a
compensated sum keeps the result the same to the last bits or nearly.
"""

from __future__ import annotations

import shutil
import tempfile

import pandas as pd

from research.engines.base import DatasetSource, FrameSource, Source, TableSource
from research.engines.sql_engine import SQLEngine, _checked

#: DuckDB's memory limit unless configured: well under the 6 GB the scale benchmark allows
MEMORY_LIMIT = "3GB"


class DuckDBEngine(SQLEngine):
    """DuckDB; see :mod:`research.engines.base`."""

    name = "duckdb"
    sum_function = "fsum"

    def __init__(self, *, threads: int | None = None, memory_limit: str = MEMORY_LIMIT, connection=None):
        """A new DuckDB session; or, with ``connection``, the caller's (whose tables a
        :class:`research.engines.base.TableSource` names; not closed by :meth:`close`)."""
        import duckdb

        self._frames: dict[str, object] = {}
        self._own = connection is None
        if connection is not None:
            self.con, self._tmp = connection, None
            return
        self._tmp = tempfile.mkdtemp(prefix="research-duckdb-")
        self.con = duckdb.connect(config={"temp_directory": self._tmp, "memory_limit": memory_limit,
                                          **({"threads": int(threads)} if threads else {})})
        self.con.execute("SET enable_progress_bar = false")

    def _register(self, name: str, source: Source | pd.DataFrame, columns: list[str] | None = None) -> None:
        import pyarrow as pa

        if isinstance(source, TableSource):
            self.con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS SELECT * FROM {_checked(source.name)}")
            return
        if isinstance(source, DatasetSource):
            files = [str(f) for f in source.files()]
            if not files:
                raise FileNotFoundError(f"{source.describe()}: no Parquet parts")
            self.con.read_parquet(files, hive_partitioning=True).create_view(name, replace=True)
            return
        frame = source.frame if isinstance(source, FrameSource) else source
        if columns is not None:
            frame = frame.loc[:, list(dict.fromkeys(columns))]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        self._frames[name] = table  # kept alive while registered
        self.con.register(name, table)

    def _ordered(self, name: str, source: Source, columns: list[str]) -> None:
        if not isinstance(source, DatasetSource):
            raise TypeError(f"rows in order: a dataset or a frame, not {source.describe()}")
        files = [str(f) for f in source.files()]
        entry = _ledger_entries(source)
        self.con.read_parquet(files, hive_partitioning=True, filename=True).create_view(f"{name}_parts", replace=True)
        self._register(f"{name}_order", pd.DataFrame({"filename": files, "part_": [entry[f] for f in files]}))
        self.con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS SELECT p.*, o.part_ AS _part, "
                         f"p.source_row AS _row FROM {name}_parts p JOIN {name}_order o ON p.filename = o.filename")

    def _query(self, sql: str) -> pd.DataFrame:
        return self.con.sql(sql).df()

    def _execute(self, sql: str) -> None:
        self.con.execute(sql)

    def _materialise(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMPORARY TABLE {name} AS {sql}")

    def _month_sql(self, column: str) -> str:
        return f"strftime({column}, '%Y-%m')"

    def close(self) -> None:
        if self._own:
            self.con.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._frames.clear()


def _ledger_entries(source: DatasetSource) -> dict[str, int]:
    """Each part of the table (its path) -> the position of its ledger entry: read_dataset reads
    the entries in ledger order, each entry's rows (over all its parts) by ``source_row``."""
    from pathlib import Path

    from research.ingestion.dataset import read_ledger

    root = Path(source.folder)
    return {str(root / p): i for i, e in enumerate(read_ledger(root)["entries"]) for f in e["files"]
            if f["table"] == source.table for p in f["parts"]}
