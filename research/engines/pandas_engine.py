"""The in-memory engine: numpy arrays and ``np.bincount`` sums, the reference for the other two.

A :class:`research.engines.base.DatasetSource` is read whole with
:func:`research.ingestion.dataset.read_dataset`, once per engine (until its ledger changes); a
frame is used as given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from research.engines.base import DatasetSource, Engine, Prepared, Source, column_name
from research.engines.expr import Expr

#: variables that are flags (their key values are Python booleans)
FLAGS = ("repeat", "sla_met", "satisfied", "responded")
#: variables that are answer codes (their key values are floats, as the estimators use them)
ANSWERS = ("sat_overall", "sat_speed", "sat_attitude", "sat_outcome")
#: slots evaluated together by :meth:`PandasEngine.sums` (bounds its (slots, rows) temporaries)
SLOT_BLOCK = 16
#: ... and at most this many (slot, row) values per temporary array (16 MB of floats): at 1M rows a
#: block of 16 slots made temporaries of 128 MB each, several per expression
SLOT_BLOCK_VALUES = 2_000_000


def normalise_keys(groups: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """Key columns as every engine reports them: flags as ``bool``, answers as ``float``, the rest
    as ``str``; sorted by the keys; ``gid`` 0.. in that order. The one ordering of groups, so
    that every engine numbers the groups alike."""
    out = groups.copy()
    for k in keys:
        if k in FLAGS:
            out[k] = out[k].astype(bool)
        elif k in ANSWERS:
            out[k] = out[k].astype(float)
        else:
            out[k] = out[k].astype(str)
    out = out.sort_values(list(keys), kind="mergesort").reset_index(drop=True)
    out["n"] = out["n"].astype(np.int64)
    out["gid"] = np.arange(len(out), dtype=np.int64)
    return out


def typed_rows(rows: pd.DataFrame, variables: tuple[str, ...]) -> pd.DataFrame:
    """Rows of :meth:`research.engines.base.Engine.level_rows` typed as :func:`normalise_keys`
    types keys (flags ``bool``, answers and ``handling_hours`` ``float``, the rest ``str``), in
    their order, a fresh index."""
    out = pd.DataFrame(index=pd.RangeIndex(len(rows)))
    for v in variables:
        c = rows[v].reset_index(drop=True)
        out[v] = (c.astype(bool) if v in FLAGS else c.astype(float) if v in (*ANSWERS, "handling_hours")
                  else c.astype(str))
    return out


def normalise_counts(groups: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """The keys of :meth:`research.engines.base.Engine.count`, as every engine reports them: flags
    ``boolean``, answers ``float``, the rest ``string`` (a missing value NA, NaN for answers);
    sorted by the keys, missing values last; ``n`` int64."""
    out = groups.copy()
    for k in keys:
        if k in FLAGS:
            out[k] = out[k].astype("boolean")
        elif k in ANSWERS:
            out[k] = out[k].astype(float)
        else:
            out[k] = out[k].astype("string")
    out["n"] = out["n"].astype(np.int64)
    return out.sort_values(list(keys), kind="mergesort", na_position="last").reset_index(drop=True)


def frame_of(source: Source) -> pd.DataFrame:
    """The source's responses in memory."""
    if isinstance(source, DatasetSource):
        from research.ingestion.dataset import read_dataset

        return read_dataset(source.folder, source.table)
    return source.frame


def variable_of(frame: pd.DataFrame, variable: str) -> pd.Series:
    """A variable's column, ``month`` derived from ``created_at``."""
    if variable == "month" and "month" not in frame.columns:
        from research.models.design import month_of

        return month_of(frame["created_at"])
    return frame[variable]


class PandasEngine(Engine):
    """numpy in memory; see :mod:`research.engines.base`."""

    name = "pandas"

    def __init__(self) -> None:
        # a dataset's table read once for all the engine's passes (the weight stage makes seven),
        # again only when the dataset's ledger has changed since
        self._read: dict[tuple, pd.DataFrame] = {}

    def _frame(self, source: Source) -> pd.DataFrame:
        if not isinstance(source, DatasetSource):
            return source.frame
        from research.ingestion.dataset import LEDGER

        try:
            ledger = (Path(source.folder) / LEDGER).stat()
        except OSError:  # not a dataset: read_dataset says so
            return frame_of(source)
        key = (str(Path(source.folder).resolve()), source.table, ledger.st_mtime_ns, ledger.st_size)
        if key not in self._read:
            self._read = {k: v for k, v in self._read.items() if k[:2] != key[:2]}
            self._read[key] = frame_of(source)
        return self._read[key]

    def close(self) -> None:
        self._read.clear()

    def prepare(self, source: Source, keys: tuple[str, ...], values: dict[str, Expr],
                numeric: tuple[str, ...] = ("handling_hours",)) -> Prepared:
        frame = self._frame(source)
        cols = {v: variable_of(frame, v) for v in (*keys, *numeric)}
        keep = np.logical_and.reduce([c.notna().to_numpy() for c in cols.values()])
        kf = pd.DataFrame({k: cols[k].to_numpy()[keep] for k in keys})
        grouped = kf.groupby(list(keys), sort=True)
        counts = grouped.size().reset_index(name="n")
        groups = normalise_keys(counts, keys)
        # ngroup numbers groups in the sorted order of the raw keys; map it to the normalised order
        raw = grouped.ngroup().to_numpy()
        order = normalise_keys(counts.assign(_raw=np.arange(len(counts))), keys)["_raw"].to_numpy()
        to_gid = np.empty(len(order), dtype=np.int64)
        to_gid[order] = np.arange(len(order))
        arrays = {column_name(v): cols[v].to_numpy(dtype=float)[keep] for v in numeric}
        kept = {name: np.broadcast_to(np.asarray(e.numpy(arrays), dtype=float), (int(keep.sum()),)).copy()
                for name, e in values.items()}
        return Prepared(groups=groups.drop(columns="_raw", errors="ignore"), keys=tuple(keys),
                        values=tuple(values), handle={"gid": to_gid[raw], "values": kept},
                        total_rows=len(frame))

    def level_rows(self, source: Source, variables: tuple[str, ...], level_of: str,
                   level: str | None) -> tuple[pd.DataFrame, int]:
        frame = self._frame(source)
        cols = {v: variable_of(frame, v) for v in variables}
        keep = np.logical_and.reduce([c.notna().to_numpy() for c in cols.values()])
        complete = np.flatnonzero(keep)
        at = complete if level is None else complete[cols[level_of].to_numpy()[complete].astype(str) == level]
        rows = pd.DataFrame({v: cols[v].to_numpy()[at] for v in variables})
        rows = typed_rows(rows, variables)
        return rows, int(np.searchsorted(complete, at[0])) if len(at) else 0

    def count(self, source: Source, keys: tuple[str, ...]) -> pd.DataFrame:
        frame = self._frame(source)
        kf = pd.DataFrame({k: variable_of(frame, k).to_numpy() for k in keys})
        counts = kf.groupby(list(keys), sort=False, dropna=False).size().reset_index(name="n")
        return normalise_counts(counts, tuple(keys))

    def _columns(self, prepared: Prepared, params: pd.DataFrame | None) -> dict[str, np.ndarray]:
        gid = prepared.handle["gid"]
        cols = dict(prepared.handle["values"])
        if params is not None:
            p = params.set_index("gid").reindex(np.arange(len(prepared.groups)))
            for c in p.columns:
                cols[c] = p[c].to_numpy(dtype=float)[gid]
        return cols

    def _per_row(self, prepared: Prepared, measures: dict[str, Expr], params: pd.DataFrame | None, lets=None):
        """Each measure's value on every row (name -> array), for :meth:`sums` and :meth:`extremes`."""
        gid = prepared.handle["gid"]
        cols = self._columns(prepared, params)
        for stage in lets or []:
            cols.update({name: np.broadcast_to(np.asarray(e.numpy(cols), dtype=float), gid.shape)
                         for name, e in stage.items()})
        for name, e in measures.items():
            yield name, np.broadcast_to(np.asarray(e.numpy(cols), dtype=float), gid.shape)

    def extremes(self, prepared: Prepared, measures: dict[str, Expr],
                 params: pd.DataFrame | None = None) -> pd.DataFrame:
        gid, n_groups = prepared.handle["gid"], len(prepared.groups)
        out = {}
        for name, v in self._per_row(prepared, measures, params):
            lo, hi = np.full(n_groups, np.inf), np.full(n_groups, -np.inf)
            np.minimum.at(lo, gid, v)
            np.maximum.at(hi, gid, v)
            out[f"{name}_min"], out[f"{name}_max"] = lo, hi
        return pd.DataFrame(out, index=pd.RangeIndex(n_groups, name="gid"))

    def _slot_sums(self, prepared: Prepared, measures: dict[str, Expr], params: pd.DataFrame, lets) -> pd.DataFrame:
        """:meth:`sums` with a ``slot`` column: each slot over the rows of its gids. Slots with the same
        gids (the models of one cause group) are evaluated together, :data:`SLOT_BLOCK` at a time (fewer
        when their rows are many: :data:`SLOT_BLOCK_VALUES`), as (slots, rows) arrays, and summed per
        gid by one sparse product; each slot's sums are the same whatever the block."""
        from scipy import sparse

        gid = prepared.handle["gid"]
        slot = params["slot"].to_numpy()
        starts = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1]])
        ends = np.r_[starts[1:], len(slot)]
        gid_p = params["gid"].to_numpy(dtype=np.int64)
        numeric = [c for c in params.columns if c not in ("gid", "slot")]
        values = {c: params[c].to_numpy(dtype=float) for c in numeric}
        out = {name: np.zeros(len(params)) for name in measures}
        runs: dict[bytes, list] = {}  # slots (contiguous runs of params) by their gids
        for a, b in zip(starts, ends):
            runs.setdefault(gid_p[a:b].tobytes(), []).append(a)
        for key, firsts in runs.items():
            gids = np.frombuffer(key, dtype=np.int64)
            pos = np.full(len(prepared.groups), -1)
            pos[gids] = np.arange(len(gids))
            at = np.flatnonzero(pos[gid] >= 0)
            local = pos[gid[at]]
            onehot = sparse.csr_matrix((np.ones(len(at)), (local, np.arange(len(at)))), shape=(len(gids), len(at)))
            step = max(1, min(SLOT_BLOCK, SLOT_BLOCK_VALUES // max(len(at), 1)))
            for k in range(0, len(firsts), step):
                block = np.asarray(firsts[k:k + step])
                idx = block[:, None] + np.arange(len(gids))[None, :]  # (slots, gids) rows of params
                cols = {c: v[at][None, :] for c, v in prepared.handle["values"].items()}
                cols.update({c: values[c][idx][:, local] for c in numeric})
                for stage in lets or []:
                    cols.update({name: np.asarray(e.numpy(cols), dtype=float) for name, e in stage.items()})
                for name, e in measures.items():
                    v = np.broadcast_to(np.asarray(e.numpy(cols), dtype=float), (len(block), len(at)))
                    out[name][idx] = (onehot @ v.T).T
        return pd.DataFrame({"gid": gid_p, "slot": slot, **out})

    def sums(self, prepared: Prepared, measures: dict[str, Expr],
             params: pd.DataFrame | None = None, lets: list[dict[str, Expr]] | None = None) -> pd.DataFrame:
        if params is not None and "slot" in params.columns:
            return self._slot_sums(prepared, measures, params, lets)
        gid, n_groups = prepared.handle["gid"], len(prepared.groups)
        out = {name: np.bincount(gid, weights=v, minlength=n_groups)
               for name, v in self._per_row(prepared, measures, params, lets)}
        return pd.DataFrame(out, index=pd.RangeIndex(n_groups, name="gid"))

    def _in_windows(self, prepared: Prepared, value: Expr, key: np.ndarray, windows: pd.DataFrame):
        """Per window of ``windows``: its id, its row, and the rows (indices) and values of the
        prepared rows that fall in it (see :meth:`Engine.histogram`)."""
        gid = prepared.handle["gid"]
        v = np.broadcast_to(np.asarray(value.numpy(prepared.handle["values"]), dtype=float), gid.shape)
        row_key = np.asarray(key, dtype=np.int64)[gid]
        for w in windows.itertuples(index=False):
            rows = np.flatnonzero((row_key == w.key) & (v >= w.lo) & (v <= w.hi))
            yield w, rows, v[rows]

    def histogram(self, prepared: Prepared, value: Expr, key: np.ndarray, cell: np.ndarray,
                  windows: pd.DataFrame) -> pd.DataFrame:
        cells = np.asarray(cell, dtype=np.int64)[prepared.handle["gid"]]
        parts = []
        for w, rows, v in self._in_windows(prepared, value, key, windows):
            b = np.clip(np.floor((v - w.lo) / w.width), 0, w.bins - 1).astype(np.int64)
            part = (pd.DataFrame({"cell": cells[rows], "bin": b, "v": v}).groupby(["cell", "bin"], sort=True)["v"]
                    .agg(n="size", vmin="min", vmax="max").reset_index())
            parts.append(part.assign(win=int(w.win)))
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            {"cell": [], "bin": [], "n": [], "vmin": [], "vmax": [], "win": []})
        return out.astype({"win": np.int64, "cell": np.int64, "bin": np.int64, "n": np.int64,
                           "vmin": float, "vmax": float})[["win", "cell", "bin", "n", "vmin", "vmax"]]

    def window_values(self, prepared: Prepared, value: Expr, key: np.ndarray, windows: pd.DataFrame) -> pd.DataFrame:
        gid = prepared.handle["gid"]
        parts = [pd.DataFrame({"gid": gid[rows], "win": np.int64(w.win), "value": v})
                 for w, rows, v in self._in_windows(prepared, value, key, windows)]
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"gid": [], "win": [], "value": []})
        return out.astype({"gid": np.int64, "win": np.int64, "value": float})
