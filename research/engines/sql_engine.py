"""What the two SQL engines (DuckDB, Spark) share: the queries of :meth:`Engine.prepare` and
:meth:`Engine.sums`, written once; each engine runs them in its own session and supplies its
dialect's few differences (the month of a timestamp, the sum function).

Every identifier in these queries is the package's own (``v_<variable>`` from the input
contract's fixed list, ``gid``, measure names checked against
:data:`research.engines.expr.NAME`); values from the data travel in registered tables, never in
the query text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.engines.base import DERIVED_VARIABLES, Engine, FrameSource, Prepared, Source, column_name
from research.engines.expr import NAME, Expr
from research.engines.pandas_engine import ANSWERS, FLAGS, normalise_counts, normalise_keys


def _checked(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(f"not an engine column name: {name!r}")
    return name


#: at most this many value intervals in the filter that :meth:`SQLEngine._in_windows_sql` puts before its joins
UNION_INTERVALS = 32


def _union(lo: np.ndarray, hi: np.ndarray) -> list[tuple[float, float]]:
    """Closed intervals covering every ``[lo_i, hi_i]`` (finite floats): the overlapping ones
    merged, then the two nearest merged until at most :data:`UNION_INTERVALS` are left (a cover,
    not the exact union: the joins that follow check each window's own bounds)."""
    merged: list[list[float]] = []
    for a, b in sorted(zip(lo.tolist(), hi.tolist())):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    while len(merged) > UNION_INTERVALS:
        i = int(np.argmin([merged[k + 1][0] - merged[k][1] for k in range(len(merged) - 1)]))
        merged[i:i + 2] = [[merged[i][0], merged[i + 1][1]]]
    # widened by 1e-12 relative: the filter only has to let every window's rows through, whatever
    # the last bit of a literal parsed by the engine (DuckDB's and Spark's round-trip repr exactly)
    return [(float(a) - abs(a) * 1e-12, float(b) + abs(b) * 1e-12) for a, b in merged]


class SQLEngine(Engine):
    """Shared queries; subclasses implement :meth:`_register`, :meth:`_query`, :meth:`_execute`,
    :meth:`_month_sql` and set :attr:`sum_function`."""

    sum_function = "SUM"
    #: the dialect's identifier quote
    quote = '"'
    #: a hint that the parameter table is small (Spark: broadcast it rather than shuffle the rows)
    broadcast_hint = ""

    def _broadcast(self, *aliases: str) -> str:
        """A hint that the small tables ``aliases`` of a join be broadcast (Spark); none here."""
        return ""

    def _quoted(self, name: str) -> str:
        return f"{self.quote}{_checked(name)}{self.quote}"

    # --- dialect / session hooks --------------------------------------------------------
    def _register(self, name: str, source: Source | pd.DataFrame, columns: list[str] | None = None) -> None:
        """Make ``source`` (a Source, or a small frame) a view or table called ``name``; of a
        frame source only ``columns`` (all when None) are handed over."""
        raise NotImplementedError

    def _query(self, sql: str) -> pd.DataFrame:
        raise NotImplementedError

    def _execute(self, sql: str) -> None:
        raise NotImplementedError

    def _materialise(self, name: str, sql: str) -> None:
        """Keep the result of ``sql`` as table ``name`` for the many passes that follow."""
        raise NotImplementedError

    def _month_sql(self, column: str) -> str:
        raise NotImplementedError

    # --- the interface --------------------------------------------------------------------
    def _variable_sql(self, variable: str) -> str:
        if variable == "month":
            return self._month_sql(self._quoted("created_at"))
        raw = self._quoted(variable)
        kind = variable[2:] if variable.startswith("w_") else variable  # a work order's own beside a response's
        if kind in FLAGS:
            return f"CAST({raw} AS BOOLEAN)"
        if kind in ANSWERS or kind == "handling_hours":
            return f"CAST({raw} AS DOUBLE)"
        return f"CAST({raw} AS STRING)"

    def prepare(self, source: Source, keys: tuple[str, ...], values: dict[str, Expr],
                numeric: tuple[str, ...] = ("handling_hours",)) -> Prepared:
        self._count = getattr(self, "_count", 0) + 1
        tag = f"p{self._count}"
        variables = (*keys, *numeric)
        self._register(f"{tag}_raw", source, [DERIVED_VARIABLES.get(v, v) for v in variables])
        select = ", ".join(f"{self._variable_sql(v)} AS {self._quoted(column_name(v))}" for v in variables)
        present = " AND ".join(f"{self._quoted(column_name(v))} IS NOT NULL" for v in variables)
        self._execute(f"CREATE OR REPLACE TEMPORARY VIEW {tag}_src AS SELECT * FROM "
                      f"(SELECT {select} FROM {tag}_raw) WHERE {present}")
        key_cols = ", ".join(self._quoted(column_name(k)) for k in keys)
        # one pass counts the complete rows by group and, with them, every row (total_rows): the
        # rows with a missing key or value fall in groups flagged incomplete
        counts = self._query(
            f"SELECT {key_cols}, complete_, COUNT(*) AS n FROM (SELECT *, CASE WHEN {present} THEN 1 ELSE 0 "
            f"END AS complete_ FROM (SELECT {select} FROM {tag}_raw) AS r0) AS r GROUP BY {key_cols}, complete_")
        total = int(counts["n"].sum())
        counts = (counts[counts["complete_"] == 1].drop(columns="complete_").reset_index(drop=True)
                  .rename(columns={column_name(k): k for k in keys}))
        groups = normalise_keys(counts, keys)
        self._register(f"{tag}_grp", groups.rename(columns={k: column_name(k) for k in keys}))
        on = " AND ".join(f"s.{self._quoted(column_name(k))} = g.{self._quoted(column_name(k))}" for k in keys)
        vals = "".join(f", {e.sql()} AS {self._quoted(name)}" for name, e in values.items())
        self._materialise(f"{tag}_mf", f"SELECT g.gid AS gid{vals} FROM {tag}_src s JOIN {tag}_grp g ON {on}")
        return Prepared(groups=groups, keys=tuple(keys), values=tuple(values), handle=tag, total_rows=total)

    def _ordered(self, name: str, source: Source, columns: list[str]) -> None:
        """Make ``source`` a view ``name`` with, beside its ``columns``, each row's place in
        read_dataset's order: ``_part`` (ledger entry; 0 for a frame) and ``_row`` (``source_row``;
        a frame's position)."""
        raise NotImplementedError

    def level_rows(self, source: Source, variables: tuple[str, ...], level_of: str,
                   level: str | None) -> tuple[pd.DataFrame, int]:
        from research.engines.pandas_engine import typed_rows

        self._count = getattr(self, "_count", 0) + 1
        tag = f"l{self._count}"
        if isinstance(source, FrameSource):
            frame = source.frame.loc[:, list(dict.fromkeys(DERIVED_VARIABLES.get(v, v) for v in variables))]
            self._register(f"{tag}_raw", frame.assign(_part=0, _row=np.arange(len(frame))))
        else:
            self._ordered(f"{tag}_raw", source, [DERIVED_VARIABLES.get(v, v) for v in variables])
        select = ", ".join(f"{self._variable_sql(v)} AS {self._quoted(column_name(v))}" for v in variables)
        present = " AND ".join(f"{self._quoted(column_name(v))} IS NOT NULL" for v in variables)
        self._execute(f"CREATE OR REPLACE TEMPORARY VIEW {tag}_src AS SELECT * FROM (SELECT {select}, _part, _row "
                      f"FROM {tag}_raw) AS r WHERE {present}")
        if level is None:
            rows = self._query(f"SELECT s.* FROM {tag}_src s ORDER BY s._part, s._row")
        else:
            self._register(f"{tag}_lvl", pd.DataFrame({"level_": [str(level)]}))  # the value travels in a table
            rows = self._query(f"SELECT s.* FROM {tag}_src s JOIN {tag}_lvl l ON "
                               f"s.{self._quoted(column_name(level_of))} = l.level_ ORDER BY s._part, s._row")
        before = 0
        if len(rows):
            part, row = int(rows["_part"].iloc[0]), int(rows["_row"].iloc[0])  # integers of our own query
            before = int(self._query(f"SELECT COUNT(*) AS n FROM {tag}_src WHERE _part < {part} OR "
                                     f"(_part = {part} AND _row < {row})")["n"].iloc[0])
        rows = rows.rename(columns={column_name(v): v for v in variables})
        return typed_rows(rows, variables), before

    def count(self, source: Source, keys: tuple[str, ...]) -> pd.DataFrame:
        self._count = getattr(self, "_count", 0) + 1
        tag = f"c{self._count}"
        self._register(f"{tag}_raw", source, [DERIVED_VARIABLES.get(v, v) for v in keys])
        select = ", ".join(f"{self._variable_sql(v)} AS {self._quoted(column_name(v))}" for v in keys)
        key_cols = ", ".join(self._quoted(column_name(k)) for k in keys)
        # GROUP BY puts the rows whose key is NULL together: the missing value's own group
        counts = self._query(f"SELECT {key_cols}, COUNT(*) AS n FROM (SELECT {select} FROM {tag}_raw) AS r "
                             f"GROUP BY {key_cols}")
        return normalise_counts(counts.rename(columns={column_name(k): k for k in keys}), tuple(keys))

    def sums(self, prepared: Prepared, measures: dict[str, Expr],
             params: pd.DataFrame | None = None, lets: list[dict[str, Expr]] | None = None) -> pd.DataFrame:
        cols = ", ".join(f"{self.sum_function}({e.sql()}) AS {self._quoted(name)}" for name, e in measures.items())
        return self._per_group(prepared, cols, params, lets)

    def extremes(self, prepared: Prepared, measures: dict[str, Expr],
                 params: pd.DataFrame | None = None) -> pd.DataFrame:
        cols = ", ".join(f"{f}({e.sql()}) AS {self._quoted(f'{name}_{f.lower()}')}" for name, e in measures.items()
                         for f in ("MIN", "MAX"))
        return self._per_group(prepared, cols, params)

    def _per_group(self, prepared: Prepared, cols: str, params: pd.DataFrame | None,
                   lets: list[dict[str, Expr]] | None = None) -> pd.DataFrame:
        """``cols`` (aggregates of the prepared rows) per group, every group in ``gid`` order;
        ``lets`` computed first, one subquery per stage; per (gid, slot) when ``params`` has slots."""
        tag = prepared.handle
        n_groups = len(prepared.groups)
        slots = params is not None and "slot" in params.columns
        if params is not None:
            self._register(f"{tag}_par", params)
            frm = f"{tag}_mf m JOIN {tag}_par q ON m.gid = q.gid"
        else:
            frm = f"{tag}_mf m"
        by = "m.gid" + (", m.slot" if lets and slots else ", q.slot" if slots else "")
        if lets:
            extra = "".join(f", q.{self._quoted(c)}" for c in (params.columns if params is not None else []) if c != "gid")
            inner = f"SELECT {self.broadcast_hint}m.*{extra} FROM {frm}"
            for i, stage in enumerate(lets):
                named = ", ".join(f"{e.sql()} AS {self._quoted(name)}" for name, e in stage.items())
                inner = f"SELECT *, {named} FROM ({inner}) AS s{i}"
            frm = f"({inner}) AS m"
        hint = "" if lets else self.broadcast_hint
        out = self._query(f"SELECT {hint}{by.replace('m.gid', 'm.gid AS gid')}, {cols} FROM {frm} GROUP BY {by}")
        if slots:
            out = params[["gid", "slot"]].merge(out, on=["gid", "slot"], how="left").fillna(0.0)
            return out.astype({c: float for c in out.columns if c not in ("gid", "slot")})
        out = out.set_index("gid").sort_index().reindex(range(n_groups), fill_value=0.0)
        out.index = pd.RangeIndex(n_groups, name="gid")
        return out.astype(float)

    def _in_windows_sql(self, prepared: Prepared, value: Expr, key: np.ndarray, cell: np.ndarray | None,
                        windows: pd.DataFrame) -> str:
        """A query of the prepared rows that fall in ``windows`` (:meth:`Engine.histogram`): ``gid``,
        ``qwin``, ``qcell``, ``qv`` (the value) and the window's ``qlo``, ``qwidth``, ``qbins``. The
        groups' keys and cells and the windows travel as two registered tables, joined on the key
        with the window's bounds as the join's condition (comparisons: exact in every engine)."""
        tag = prepared.handle
        key = np.asarray(key, dtype=np.int64)
        keep = np.flatnonzero(key >= 0)
        cells = np.zeros(len(key), dtype=np.int64) if cell is None else np.asarray(cell, dtype=np.int64)
        self._register(f"{tag}_qc", pd.DataFrame({"gid": keep.astype(np.int64), "qkey": key[keep],
                                                   "qcell": cells[keep]}))
        n = len(windows)
        w = pd.DataFrame({"qwin": windows["win"].to_numpy(dtype=np.int64),
                          "qkey": windows["key"].to_numpy(dtype=np.int64),
                          "qlo": windows["lo"].to_numpy(dtype=float), "qhi": windows["hi"].to_numpy(dtype=float),
                          "qwidth": windows["width"].to_numpy(dtype=float) if "width" in windows else np.ones(n),
                          "qbins": windows["bins"].to_numpy(dtype=np.int64) if "bins" in windows
                          else np.ones(n, dtype=np.int64)})
        self._register(f"{tag}_qw", w)
        # the rows outside every window are dropped before the joins, by a filter on the value alone
        # (the windows' union, numbers rendered by repr as research.engines.expr renders them): the
        # narrow windows of the later passes then join a few rows instead of every row
        inside = " OR ".join(f"(qv >= CAST({a!r} AS DOUBLE) AND qv <= CAST({b!r} AS DOUBLE))"
                             for a, b in _union(w["qlo"].to_numpy(), w["qhi"].to_numpy()))
        return (f"SELECT {self._broadcast('c', 'w')}r.gid AS gid, w.qwin AS qwin, c.qcell AS qcell, r.qv AS qv, "
                f"w.qlo AS qlo, w.qwidth AS qwidth, w.qbins AS qbins "
                f"FROM (SELECT * FROM (SELECT m.gid AS gid, {value.sql()} AS qv FROM {tag}_mf m) AS r0 "
                f"WHERE {inside or 'FALSE'}) AS r "
                f"JOIN {tag}_qc c ON r.gid = c.gid JOIN {tag}_qw w ON c.qkey = w.qkey AND r.qv >= w.qlo AND r.qv <= w.qhi")

    def histogram(self, prepared: Prepared, value: Expr, key: np.ndarray, cell: np.ndarray,
                  windows: pd.DataFrame) -> pd.DataFrame:
        rows = self._in_windows_sql(prepared, value, key, cell, windows)
        binned = "LEAST(GREATEST(CAST(FLOOR((qv - qlo) / qwidth) AS BIGINT), CAST(0 AS BIGINT)), qbins - 1)"
        out = self._query(f"SELECT qwin, qcell, qbin, COUNT(*) AS n, MIN(qv) AS vmin, MAX(qv) AS vmax FROM "
                          f"(SELECT qwin, qcell, qv, {binned} AS qbin FROM ({rows}) AS j) AS b GROUP BY qwin, qcell, qbin")
        out = out.rename(columns={"qwin": "win", "qcell": "cell", "qbin": "bin"})
        return out.astype({"win": np.int64, "cell": np.int64, "bin": np.int64, "n": np.int64,
                           "vmin": float, "vmax": float})[["win", "cell", "bin", "n", "vmin", "vmax"]]

    def window_values(self, prepared: Prepared, value: Expr, key: np.ndarray, windows: pd.DataFrame) -> pd.DataFrame:
        rows = self._in_windows_sql(prepared, value, key, None, windows)
        out = self._query(f"SELECT gid, qwin AS win, qv AS value FROM ({rows}) AS j")
        return out.astype({"gid": np.int64, "win": np.int64, "value": float})[["gid", "win", "value"]]
