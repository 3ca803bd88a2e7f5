"""Engines: where the sums over rows are computed (pandas in memory, DuckDB out of core, Spark on
a cluster). See :mod:`research.engines.base` for the interface and docs/architecture.md,
"Engines", for which engine is chosen when.
"""

from __future__ import annotations

from research.engines.base import DatasetSource, Engine, FrameSource, Prepared, Source  # noqa: F401

#: the engines a user can name (``--engine``)
ENGINES = ("pandas", "duckdb", "spark")
#: from this many responses on, ``--engine auto`` picks DuckDB for an in-memory export too
DUCKDB_ABOVE_ROWS = 2_000_000


def choose_engine(requested: str, *, n_rows: int | None, dataset: bool) -> str:
    """The engine to use: ``requested`` unless it is ``auto``; then DuckDB for a dataset folder or
    more than :data:`DUCKDB_ABOVE_ROWS` rows, pandas otherwise (today's path, the published
    numbers)."""
    if requested != "auto":
        if requested not in ENGINES:
            raise ValueError(f"unknown engine {requested!r}; one of {', '.join(ENGINES)}")
        return requested
    if dataset or (n_rows is not None and n_rows > DUCKDB_ABOVE_ROWS):
        return "duckdb"
    return "pandas"


def open_engine(name: str, **config) -> Engine:
    """A new engine of that name (``config``: DuckDB's ``threads``/``memory_limit``, Spark's
    ``master``). Close it with :meth:`Engine.close`."""
    if name == "pandas":
        from research.engines.pandas_engine import PandasEngine

        return PandasEngine()
    if name == "duckdb":
        from research.engines.duckdb_engine import DuckDBEngine

        return DuckDBEngine(**config)
    if name == "spark":
        from research.engines.spark_engine import SparkEngine

        return SparkEngine(**config)
    raise ValueError(f"unknown engine {name!r}; one of {', '.join(ENGINES)}")
