"""The cluster engine: Spark SQL through pyspark (a local session or a cluster's master).

The master comes from configuration: the ``master`` argument, else the environment variable
``RESEARCH_SPARK_MASTER``, else ``local[2]``; a local session's memory from
``RESEARCH_SPARK_DRIVER_MEMORY`` (default ``2g``; the driver is the executor in local mode). A dataset folder is read with
``spark.read.parquet`` (hive partitions discovered by Spark); the rows a model needs are cached
(``CACHE TABLE``) and every Newton iteration is one ``GROUP BY``; small tables (groups, the
current coefficients) are broadcast. Spark distributes; nothing here splits work by hand.
Needs a Java runtime (17 or newer): :func:`java_available` says whether one is found.
"""

from __future__ import annotations

import os
import shutil

import pandas as pd

from research.engines.base import DatasetSource, FrameSource, Source, TableSource
from research.engines.sql_engine import SQLEngine, _checked

DEFAULT_MASTER = "local[2]"


def java_available() -> bool:
    """A ``java`` on the PATH or under ``JAVA_HOME``."""
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and os.path.exists(os.path.join(home, "bin", "java"))))


class SparkEngine(SQLEngine):
    """Spark; see :mod:`research.engines.base`."""

    name = "spark"
    quote = "`"
    broadcast_hint = "/*+ BROADCAST(q) */ "

    def __init__(self, *, master: str | None = None, session=None):
        if session is None:
            from pyspark.sql import SparkSession

            master = master or os.environ.get("RESEARCH_SPARK_MASTER") or DEFAULT_MASTER
            session = (SparkSession.builder.master(master).appName("research")
                       .config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false")
                       .config("spark.driver.memory", os.environ.get("RESEARCH_SPARK_DRIVER_MEMORY", "2g"))
                       .config("spark.sql.shuffle.partitions", os.environ.get("RESEARCH_SPARK_PARTITIONS", "4"))
                       .config("spark.sql.session.timeZone", "UTC")
                       .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                       .getOrCreate())
            session.sparkContext.setLogLevel("ERROR")
        self.spark = session
        self._cached: list[str] = []

    def _broadcast(self, *aliases: str) -> str:
        return f"/*+ BROADCAST({', '.join(aliases)}) */ "

    def _register(self, name: str, source: Source | pd.DataFrame, columns: list[str] | None = None) -> None:
        if isinstance(source, TableSource):  # a view of this session (the bulletin's filtered rows)
            df = self.spark.table(_checked(source.name))
        elif isinstance(source, DatasetSource):
            df = read_table(self.spark, source)
        else:
            frame = source.frame if isinstance(source, FrameSource) else source
            if columns is not None:
                frame = frame.loc[:, list(dict.fromkeys(columns))]
            df = self.spark.createDataFrame(_spark_ready(frame))
        df.createOrReplaceTempView(name)

    def _ordered(self, name: str, source: Source, columns: list[str]) -> None:
        from pyspark.sql import functions as F

        from research.ingestion.dataset import read_ledger

        if not isinstance(source, DatasetSource):
            raise TypeError(f"rows in order: a dataset or a frame, not {source.describe()}")
        entries = read_ledger(source.folder)["entries"]
        ids = self.spark.createDataFrame(pd.DataFrame({"_entry_id": [str(e["id"]) for e in entries],
                                                       "_part": list(range(len(entries)))}))
        (read_table(self.spark, source, entry=True).join(F.broadcast(ids), "_entry_id").drop("_entry_id")
         .withColumn("_row", F.col("source_row")).createOrReplaceTempView(name))

    def _query(self, sql: str) -> pd.DataFrame:
        return self.spark.sql(sql).toPandas()

    def _execute(self, sql: str) -> None:
        self.spark.sql(sql)

    def _materialise(self, name: str, sql: str) -> None:
        self.spark.sql(sql).createOrReplaceTempView(name)
        self.spark.sql(f"CACHE LAZY TABLE {name}")  # filled by the first pass over it: one job less
        self._cached.append(name)

    def _month_sql(self, column: str) -> str:
        return f"date_format({column}, 'yyyy-MM')"

    def close(self) -> None:
        for name in self._cached:
            self.spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
        self._cached.clear()


_INFERENCE = "spark.sql.sources.partitionColumnTypeInference.enabled"


def read_table(spark, source: DatasetSource, *, entry: bool = False):
    """A dataset table as a Spark DataFrame: one ``spark.read.parquet`` of the ledger's parts
    (``basePath`` the table's folder, so ``month`` and ``region`` come from the folder names, as
    strings: a region "0755" stays "0755"). With ``entry``, each row's ledger entry id
    (``_entry_id``, the ``<sha8>`` of its part's name ``part-<sha8>-<digest8>.parquet``).

    The partition folders are URI-escaped UTF-8 (``region=%E4%B8%9C...``); Spark unescapes each
    ``%XX`` to one character (Latin-1), so 东莞 would read as 'ä¸\x9cè\x8e\x9e': its code points
    are the UTF-8 bytes, decoded here as UTF-8."""
    from pyspark.sql import functions as F

    inference = spark.conf.get(_INFERENCE, "true")
    spark.conf.set(_INFERENCE, "false")
    try:
        df = spark.read.option("basePath", str(source.folder / source.table)).parquet(*[str(f) for f in source.files()])
        extra = [F.regexp_extract(F.col("_metadata.file_name"), r"^part-([0-9a-f]+)-", 1).alias("_entry_id")] \
            if entry else []
        if "region" in df.columns:
            region = F.decode(F.encode(F.col("region"), "ISO-8859-1"), "UTF-8").alias("region")
            df = df.select(*[c for c in df.columns if c != "region"], region, *extra)
        elif extra:
            df = df.select(*df.columns, *extra)
    finally:
        spark.conf.set(_INFERENCE, inference)
    return df


def _spark_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """pandas' nullable and Arrow-backed columns as plain object/float columns Spark can infer
    (missing values as None)."""
    out = {}
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = s.astype("datetime64[us]")
        elif pd.api.types.is_float_dtype(s) and not isinstance(s.dtype, pd.ArrowDtype):
            out[c] = s.astype(float)
        else:
            out[c] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out)
