"""Rows and aggregates of a dataset folder read by Spark (``research bulletin --dataset DIR
--engine spark``): the same interface as :class:`research.engines.window.DatasetReader` (DuckDB),
so :mod:`research.bulletin.window` runs its queries unchanged on either (docs/architecture.md,
"Dataset layout").

Each table is one ``spark.read.parquet`` of the ledger's parts (``basePath`` the table's folder,
so Spark reads the hive partitions ``month`` and ``region`` from the folder names). A read of rows
created before a date adds ``month <= 'YYYY-MM'``, which Spark prunes on (the later ``month=``
folders are not listed to the executors); the timestamp filters of the windows are pushed down to
the parts' row groups. Results come back through Arrow (``toArrow``) with the canonical dtypes, as
the DuckDB reader gives them, in read_dataset's order (ledger entry, then ``source_row``): the entry
is the ``<sha8>`` of each part's file name (``part-<sha8>-<digest8>.parquet``, the ledger entry's id).
Values travel as query parameters (named markers), never in the query text.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from research.engines.window import TABLES, _template, _typed

class SparkDatasetReader:
    """A Spark session's views ``responses`` and ``workorders`` of one dataset folder (each row
    with its part's ledger entry, ``_entry``). ``engine``: a
    :class:`research.engines.spark_engine.SparkEngine` to use (not closed here); default a new
    one (master from ``RESEARCH_SPARK_MASTER``, else ``local[2]``). Use as a context manager, or
    call :meth:`close`.

    Raises
    ------
    InputError
        No ledger in ``folder`` (not a dataset), or a table without parts.
    """

    def __init__(self, folder: str | Path, *, engine=None):
        from pyspark.sql import functions as F

        from research.engines import open_engine
        from research.engines.base import DatasetSource
        from research.engines.spark_engine import read_table
        from research.ingestion.dataset import read_ledger

        self.folder = Path(folder)
        for table in TABLES:
            DatasetSource(self.folder, table).files()  # InputError (a table without parts) before Spark starts
        entries = read_ledger(self.folder)["entries"]
        self._own = engine is None
        self.engine = open_engine("spark") if engine is None else engine
        self.spark = spark = self.engine.spark
        ids = spark.createDataFrame(pd.DataFrame({"_entry_id": [str(e["id"]) for e in entries],
                                                  "_entry": list(range(len(entries)))}))
        self.templates: dict[str, pd.DataFrame] = {}
        for table in TABLES:
            df = read_table(spark, DatasetSource(self.folder, table), entry=True)
            df.join(F.broadcast(ids), "_entry_id").drop("_entry_id").createOrReplaceTempView(table)
            self.templates[table] = _template(table)

    def __enter__(self) -> SparkDatasetReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def ident(name: str) -> str:
        """``name`` (a column of the input contract) quoted for Spark SQL."""
        from research.engines.window import _ident

        return f"`{_ident(name)[1:-1]}`"

    def columns(self, table: str) -> list[str]:
        """The canonical columns of ``table``."""
        return list(self.templates[table].columns)

    def _sql(self, sql: str, params: list | None):
        """``sql`` with its ``?`` markers bound to ``params`` in the order they stand in the text.
        They are renamed ``:p0``, ``:p1``, ... and bound by name: Spark 4.1 bound positional
        markers out of textual order (a window's ``OR`` of ranges followed by a fifth marker
        matched no row)."""
        pieces = sql.split("?")
        if len(pieces) - 1 != len(params or []):
            raise ValueError(f"{len(pieces) - 1} markers, {len(params or [])} parameters")
        named = pieces[0] + "".join(f":p{i}{rest}" for i, rest in enumerate(pieces[1:]))
        args = {f"p{i}": p.to_pydatetime() if isinstance(p, pd.Timestamp) else p for i, p in enumerate(params or [])}
        return self.spark.sql(named, args=args)

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """The result of an aggregate query over the views ``responses`` / ``workorders``."""
        return self._sql(sql, params).toPandas()

    def rows(self, table: str, columns: list[str], where: str = "TRUE", params: list | None = None,
             *, created_before=None) -> pd.DataFrame:
        """As :meth:`research.engines.window.DatasetReader.rows`; ``created_before`` prunes the
        ``month=`` parts after its month (the month of ``created_at`` names the part)."""
        from pyspark.sql import functions as F

        template = self.templates[table]
        cols = [c for c in dict.fromkeys(columns) if c in template.columns]
        source = table
        if created_before is not None:
            # on the DataFrame: Spark prunes the later month= folders
            last = (pd.Timestamp(created_before) - pd.Timedelta(1, "us")).strftime("%Y-%m")
            source = f"{table}_until"
            self.spark.table(table).where(F.col("month") <= F.lit(last)).createOrReplaceTempView(source)
        select = ", ".join(f"t.{self.ident(c)}" for c in cols)
        arrow = self._sql(f"SELECT {select} FROM {source} t WHERE {where} ORDER BY t._entry, t.source_row",
                          params).toArrow()
        return _typed(arrow, template[cols])

    @contextmanager
    def table(self, name: str, sql: str, params: list | None = None):
        """A cached temporary view ``name`` of the result of ``sql`` for as long as the ``with``
        block runs, and a :class:`~research.engines.spark_engine.SparkEngine` on this session that
        reads it (``TableSource(name)``)."""
        from research.engines.spark_engine import SparkEngine
        from research.engines.window import _ident

        _ident(name)  # the package's own name
        self._sql(sql, params).createOrReplaceTempView(name)
        self.spark.sql(f"CACHE TABLE {name}")
        engine = SparkEngine(session=self.spark)
        try:
            yield engine
        finally:
            engine.close()
            self.spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
            self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        for table in TABLES:
            self.spark.catalog.dropTempView(table)
            self.spark.catalog.dropTempView(f"{table}_until")
        if self._own:
            self.engine.close()
