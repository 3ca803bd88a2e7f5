"""The parts of a dataset: accepted rows written by month and region as they stream in, read back.

:class:`PartWriter` is the ``sink`` of :func:`research.ingestion.streaming.ingest_chunks` for
``research ingest --dataset``: each chunk's accepted rows are written under a staging copy of
their table, hive-partitioned ``month=YYYY-MM/region=<region>/`` (``month`` of ``created_at``;
``region`` as ingest wrote it, URI-escaped by Arrow, ``__HIVE_DEFAULT_PARTITION__`` when blank)
with :mod:`pyarrow.dataset`. Neither partition column is stored in the files (as Hive, Spark and
DuckDB expect of a partitioned table): :func:`read_parts` puts ``region`` back from the folder
names, at its place among the canonical columns. When all chunks are written, :meth:`finish`
names each part ``part-<sha8>-<digest8>.parquet`` by its own bytes (so a part rewritten with the
same rows keeps its name). Also :func:`instrument_fingerprint`, which the ledger records.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from research.errors import InputError
from research.ingestion.run import _UNIQUE_COLUMNS

PARTITIONS = ("month", "region")


def _partitioning(region_type: pa.DataType = pa.large_string()) -> ds.Partitioning:
    return ds.partitioning(pa.schema([("month", pa.string()), ("region", region_type)]), flavor="hive")


class PartWriter:
    """Writes the accepted rows of each chunk into ``staging/<table>/month=.../region=.../``."""

    def __init__(self, staging: Path, tables: dict[str, str]):
        self.staging, self.tables = Path(staging), tables  # role -> table
        self.chunks = 0
        self.rows = {table: 0 for table in tables.values()}

    def __call__(self, role: str, frame: pd.DataFrame) -> None:
        """Write one chunk's accepted rows of the export of ``role``."""
        if not len(frame):
            return
        if frame["created_at"].isna().any():  # cannot happen: created_at is required at ingest
            raise RuntimeError("accepted rows without created_at")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.append_column("month", pa.array(frame["created_at"].dt.strftime("%Y-%m").to_numpy(),
                                                      pa.string()))
        dictionary = [c for c in frame.columns if c not in _UNIQUE_COLUMNS]  # as write_ingest encodes
        options = ds.ParquetFileFormat().make_write_options(use_dictionary=dictionary)
        self.chunks += 1
        ds.write_dataset(table, self.staging / self.tables[role], format="parquet", file_options=options,
                         partitioning=_partitioning(table.schema.field("region").type),
                         basename_template=f"chunk{self.chunks:06d}-{{i}}.parquet",
                         existing_data_behavior="overwrite_or_ignore", max_partitions=1_000_000)
        self.rows[self.tables[role]] += len(frame)

    def finish(self, table: str, sha8: str) -> list[str]:
        """Name the parts of ``table`` by their bytes; their paths relative to the staging folder
        (``responses/month=.../region=.../part-<sha8>-<digest8>.parquet``), sorted."""
        folder = self.staging / table
        parts = []
        for written in sorted(folder.rglob("*.parquet")):
            with open(written, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()[:8]
            named = written.with_name(f"part-{sha8}-{digest}.parquet")
            if named.exists():  # cannot happen: two chunks never share a row (source_row)
                raise RuntimeError(f"two parts of {table} with the same bytes: {named.name}")
            os.replace(written, named)
            parts.append(named.relative_to(self.staging).as_posix())
        return sorted(parts)


def month_of(part: str) -> str:
    """``YYYY-MM`` of a part's path (``table/month=YYYY-MM/...``)."""
    return part.split("/")[1].removeprefix("month=")


def read_parts(parts: list[Path], root: Path, table: str, columns: list[str]) -> pa.Table:
    """The parts (under ``root/table``) as one Arrow table in the order given, ``region`` put
    back from their folders and the columns in the order of ``columns`` (the canonical ones)."""
    missing = [p for p in parts if not p.is_file()]
    if missing:
        raise InputError(f"{missing[0]}: a part the ledger of {root} lists is missing; the dataset "
                         "was changed by hand? ingest its export again with --replace")
    try:
        read = ds.dataset([str(p) for p in parts], format="parquet", partitioning=_partitioning(),
                          partition_base_dir=str(root / table)).to_table()
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{root}: cannot read a part of the dataset ({type(exc).__name__}); "
                         "damaged file?") from None
    names = [c for c in read.column_names if c != "month"]
    order = [c for c in columns if c in names] + [c for c in names if c not in columns]
    return read.select(order)


def instrument_fingerprint(folder: Path) -> str:
    """sha256 of the instrument's files (``*.yaml`` of its folder: names and bytes, in name order),
    the first 16 hex digits: which contract the rows were checked against."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.yaml")):
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]
