"""The engine interface: where the rows live, and the two questions the estimators ask of them.

Every model of the plan can be fitted from sums over rows (issue 15; docs/architecture.md,
"Engines"). The estimators of :mod:`research.models.aggregate` never see a row: they ask an
engine

1. :meth:`Engine.prepare`: the distinct combinations (*groups*) of a list of key variables over
   the complete cases of a model, with their row counts, and to keep, per row, its group and a
   few numeric values (the numeric basis of the formula, e.g. ``log2(1 + handling_hours)``);
2. :meth:`Engine.sums`: per group, the sums of row expressions (:mod:`research.engines.expr`)
   that may read the row's values and constants of its group (a small parameter table that the
   engine joins to the rows: the current coefficients, for instance).

and, for tables that need only how many rows share each combination of a few categorical
variables, :meth:`Engine.count` (missing values included, nothing kept per row).

Three implementations: :class:`research.engines.pandas_engine.PandasEngine` (numpy, in memory),
:class:`research.engines.duckdb_engine.DuckDBEngine` (embedded, out of core) and
:class:`research.engines.spark_engine.SparkEngine` (a Spark session, local or a cluster). The
engines do the distribution; nothing here splits work by hand.

Sources: a pandas frame of canonical responses (:class:`FrameSource`) or a dataset folder written
by ``research ingest --dataset`` (:class:`DatasetSource`). Variables are the input contract's
column names; ``month`` (``YYYY-MM`` of ``created_at``) is derived by every engine the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from research.engines.expr import Expr

#: variables an engine reads from a source by name (the input contract's canonical columns, and
#: ``responded``, the work orders' survey outcome of
#: :func:`research.representativeness.nonresponse.population_frame`, in a source that has it:
#: research.models.aggregate.propensity derives it; and ``survey_status``, the work orders' own
#: column that representativeness.at_scale counts by)
SOURCE_VARIABLES = ("cause_l1", "cause_l2", "channel", "repeat", "handling_hours", "region", "station",
                    "resolved", "sla_met", "satisfied", "sat_overall", "sat_speed", "sat_attitude",
                    "sat_outcome", "created_at", "responded", "survey_status")
#: columns the non-response sensitivity's sources derive (representativeness.at_scale_sensitivity): the
#: answer and missing-data pattern codes, and a response's own cluster (``r_``) and a domain as text
#: (``d_``) beside its work order's columns; a work order's covariates (``w_``) beside its response's
SENSITIVITY_VARIABLES = ("y_code", "pattern_code", "r_handling_band",
                         *(f"{p}_{v}" for p in ("r", "d", "w") for v in SOURCE_VARIABLES))
#: variables derived from another column: name -> source column
DERIVED_VARIABLES = {"month": "created_at"}


def column_name(variable: str) -> str:
    """The engine's column of a variable: ``v_<variable>`` (never the source's own name, so that
    a derived ``month`` cannot be confused with a dataset's ``month=`` partition column)."""
    if variable not in SOURCE_VARIABLES and variable not in DERIVED_VARIABLES and variable not in SENSITIVITY_VARIABLES:
        raise ValueError(f"not a variable an engine reads: {variable!r}")
    return f"v_{variable}"


@dataclass(frozen=True)
class FrameSource:
    """Canonical responses in memory (``research.ingestion.ingested.read_ingested``)."""

    frame: pd.DataFrame

    def describe(self) -> str:
        return f"a frame of {len(self.frame):,} rows"


def _parquet_ends(path: Path) -> bool:
    """True when ``path`` starts and ends with Parquet's magic bytes ``PAR1`` (a whole file: not
    truncated, not another format). Two reads of 4 bytes: the engines would otherwise fail inside
    their own readers, with their own messages."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(-4, 2)
            return head == b"PAR1" and fh.read(4) == b"PAR1"
    except OSError:
        return False


@dataclass(frozen=True)
class DatasetSource:
    """A dataset folder of ``research ingest --dataset``: its ``table`` (``responses``)."""

    folder: Path
    table: str = "responses"

    def files(self) -> list[Path]:
        """The table's Parquet parts the ledger lists, in ledger order (a part on disk that the
        ledger does not list is not part of the dataset). InputError: no ledger, no parts."""
        from research.errors import InputError
        from research.ingestion.dataset import LEDGER, read_ledger

        root = Path(self.folder)
        if not (root / LEDGER).is_file():
            raise InputError(f"{root}: not a dataset (no {LEDGER}; write one with 'research ingest ... --dataset')")
        parts = [root / p for e in read_ledger(root)["entries"] for f in e["files"] if f["table"] == self.table
                 for p in f["parts"]]
        if not parts:
            raise InputError(f"{root}: the dataset holds no {self.table} yet")
        real = root.resolve()
        for part in parts:  # as research.ingestion.dataset_parts.read_parts says it for the pandas path
            if real not in part.resolve().parents:
                raise InputError(f"{part}: a part the ledger of {root} lists leads outside the dataset "
                                 "folder (a symbolic link); ingest its export again with --replace")
            if not part.is_file():
                raise InputError(f"{part}: a part the ledger of {root} lists is missing; the dataset "
                                 "was changed by hand? ingest its export again with --replace")
            if not _parquet_ends(part):
                raise InputError(f"{part}: a part the ledger of {root} lists is not a whole Parquet file "
                                 "(damaged or replaced); ingest its export again with --replace")
        return parts

    def rows(self) -> int:
        """Accepted rows of the table, from the ledger."""
        from research.ingestion.dataset import read_ledger

        return sum(int(f["accepted"]) for e in read_ledger(Path(self.folder))["entries"] for f in e["files"]
                   if f["table"] == self.table)

    def describe(self) -> str:
        return f"dataset {self.folder} ({self.table})"


@dataclass(frozen=True)
class TableSource:
    """A table or view already in the engine's own session (a DuckDB engine opened on a
    connection that holds it: the bulletin's filtered rows). ``name`` is the package's own."""

    name: str

    def describe(self) -> str:
        return f"table {self.name}"


Source = FrameSource | DatasetSource | TableSource


@dataclass
class Prepared:
    """What :meth:`Engine.prepare` returns.

    ``groups``: one row per distinct key combination, sorted by the keys, with the variables'
    values (column names = variable names), ``n`` (rows) and ``gid`` (0, 1, ... in that order).
    ``values``: names of the numeric value columns kept per row. ``handle``: the engine's own.
    """

    groups: pd.DataFrame
    keys: tuple[str, ...]
    values: tuple[str, ...]
    handle: object = field(repr=False, default=None)
    #: rows of the source, complete or not
    total_rows: int = 0

    @property
    def n_rows(self) -> int:
        return int(self.groups["n"].sum())


class Engine:
    """The interface (see the module docstring). Subclasses implement its methods: prepare, sums, count,
    extremes, level_rows, histogram, window_values and close."""

    name = "abstract"

    def prepare(self, source: Source, keys: tuple[str, ...], values: dict[str, Expr],
                numeric: tuple[str, ...] = ("handling_hours",)) -> Prepared:
        """Groups of ``keys`` over the rows where every key and every ``numeric`` variable is
        present, and per row its group and ``values`` (expressions of ``col("v_<numeric>")``)."""
        raise NotImplementedError

    def sums(self, prepared: Prepared, measures: dict[str, Expr],
             params: pd.DataFrame | None = None, lets: list[dict[str, Expr]] | None = None) -> pd.DataFrame:
        """Per group (``gid``, every group, in order), the sum of each measure over its rows.

        ``measures`` read the value columns and the columns of ``params`` (one row per ``gid``,
        every group; its columns other than ``gid`` are floats). Returns a frame indexed by
        ``gid`` 0..G-1 with one float column per measure.

        ``lets``: named row expressions computed once per row before the measures, in stages (a
        stage reads the columns and the names of the stages before it); the measures read them
        as columns. Many measures of one probability then compute it once (in SQL, one
        subquery per stage).

        Several models in one pass: ``params`` with an integer column ``slot`` may hold several
        rows per gid (at most one per slot), and need not name every gid. Each row of a group is then
        summed once per slot its gid has, with that slot's parameters, and the result has one
        row per row of ``params``, in its order, with columns ``gid``, ``slot`` and the measures
        (0 for a gid without rows). The change-point fits, research.models.aggregate.changepoint:
        every model of every cause group in one pass, each over its own group's rows.
        """
        raise NotImplementedError

    def count(self, source: Source, keys: tuple[str, ...]) -> pd.DataFrame:
        """Rows of ``source`` by each combination of ``keys`` that occurs, a missing value counting
        as a value of its own (unlike :meth:`prepare`, which keeps the complete cases): one row
        per combination, the keys as :func:`research.engines.pandas_engine.normalise_counts`
        reports them (missing values NA, sorted last) and ``n``; the counts add up to every row
        of the source. One pass, nothing kept per row (the comparisons and reliability of
        :mod:`research.models.aggregate.comparisons`)."""
        raise NotImplementedError

    def extremes(self, prepared: Prepared, measures: dict[str, Expr],
                 params: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per group, the smallest and the largest value of each measure over its rows (columns
        ``<name>_min``, ``<name>_max``; as :meth:`sums` reads measures and ``params``): the
        smallest and largest inverse-propensity weight of a level
        (:mod:`research.representativeness.at_scale_ipw`)."""
        raise NotImplementedError

    def level_rows(self, source: Source, variables: tuple[str, ...], level_of: str,
                   level: str | None) -> tuple[pd.DataFrame, int]:
        """The complete rows (every variable of ``variables`` present) whose ``level_of`` (one of
        them, as text) is ``level`` (every complete row when ``level`` is None): their ``variables`` (typed as :meth:`prepare` types its keys:
        flags ``bool``, answers and ``handling_hours`` ``float``, the rest ``str``) in the order
        :func:`research.ingestion.dataset.read_dataset` reads them (ledger entry, then
        ``source_row``; a frame's own order), and how many complete rows come before the first of
        them in that order (0 when none is kept). Every kept row comes back: callers bound the
        level's size first (from :meth:`prepare`'s counts). The change-point calibration of small
        groups (research.models.aggregate.changepoint) draws answers per row, in this order."""
        raise NotImplementedError

    def histogram(self, prepared: Prepared, value: Expr, key: np.ndarray, cell: np.ndarray,
                  windows: pd.DataFrame) -> pd.DataFrame:
        """Counts of ``value`` over equal-width bins of value windows, by cell: what the exact
        quantiles of :mod:`research.models.aggregate.quantiles` locate their order statistics with.

        ``key`` and ``cell`` (ints, one per ``gid``): which windows a group's rows may fall in and
        which cell they count for (a group whose key is negative is left out). ``windows``: one
        row per window, columns ``win`` (int id), ``key``, ``lo``, ``hi`` (floats, ``lo < hi``),
        ``width`` (float > 0) and ``bins`` (int); the windows of one key are disjoint. A row of
        key ``k`` with ``lo <= value <= hi`` for a window of key ``k`` falls in it, in bin
        ``min(max(floor((value - lo) / width), 0), bins - 1)`` (a non-decreasing function of the
        value: a bin is a value interval). Returns one row per (``win``, ``cell``, ``bin``) that
        holds rows: those three, ``n`` (rows, int) and ``vmin``, ``vmax`` (the smallest and the
        largest value in it)."""
        raise NotImplementedError

    def window_values(self, prepared: Prepared, value: Expr, key: np.ndarray, windows: pd.DataFrame) -> pd.DataFrame:
        """The rows that fall in ``windows`` (as :meth:`histogram` reads ``key`` and ``windows``;
        ``width`` and ``bins`` are not needed): ``gid``, ``win`` and ``value`` of each, in no
        particular order. The caller keeps the windows small: every such row is returned."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the engine holds (connections, temporary tables, sessions)."""
