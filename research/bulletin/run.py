"""The command-line entry of ``research bulletin``: reads an ingest folder, checks the arguments,
builds and writes (:func:`run_bulletin`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from research.artifacts import labels
from research.bulletin.data import _RESP_COLS, _WO_COLS, _require, _times
from research.bulletin.periods import _check_period, _parse_at, last_complete
from research.bulletin.tables import bulletin_tables
from research.bulletin.write import write_bulletin
from research.errors import InputError

#: the engines of ``research bulletin --engine``
ENGINES = ("auto", "pandas", "duckdb", "spark")


def _read(path: Path, what: str) -> pd.DataFrame:
    from research.ingestion.readers import read_ingested

    return read_ingested(path, what)


def _file_sha(path: Path) -> str:
    from research.artifacts.manifest import sha256_file

    return sha256_file(path)


def _extents(responses: pd.DataFrame, workorders: pd.DataFrame) -> list[tuple[np.datetime64, np.datetime64]]:
    """(first, last) of each export that holds a date: work orders created, responses surveyed."""
    out = []
    for frame, col, what in ((workorders, "created_at", "work orders"), (responses, "surveyed_at", "responses")):
        t = _times(frame, col, what)
        t = t[~np.isnat(t)]
        if len(t):
            out.append((t.min(), t.max()))
    return out


def data_range(responses: pd.DataFrame, workorders: pd.DataFrame) -> tuple[dt.date, dt.date] | None:
    """First and last day of the data: work orders created and responses surveyed."""
    return _span(_extents(responses, workorders))


def _span(ext) -> tuple[dt.date, dt.date] | None:
    """First and last day of a list of (first, last) moments; None for an empty list."""
    if not ext:
        return None
    return pd.Timestamp(min(a for a, _ in ext)).date(), pd.Timestamp(max(b for _, b in ext)).date()


def covered_until(responses: pd.DataFrame, workorders: pd.DataFrame) -> dt.date:
    """The last day both exports cover: the earlier of the last work order created and the last
    answer surveyed."""
    return pd.Timestamp(min(b for _, b in _extents(responses, workorders))).date()


def _inputs(data_dir: Path, dataset: bool) -> tuple[pd.DataFrame, pd.DataFrame, Path, Path, list[str]]:
    """Responses, work orders, where each came from (for messages) and the sha256s that stamp the
    bulletin: the two Parquet files of an ingest folder, or (``dataset``) the union of a dataset
    folder's ingests (:func:`research.ingestion.dataset.read_dataset`), stamped by its exports' sha256s
    in ledger order."""
    if not dataset:
        r_path, w_path = data_dir / "responses.parquet", data_dir / "workorders.parquet"
        return (_read(r_path, "responses"), _read(w_path, "work orders"), r_path, w_path,
                [_file_sha(r_path), _file_sha(w_path)])
    from research.ingestion.dataset import read_dataset

    shas = _dataset_shas(data_dir)
    return (read_dataset(data_dir, "responses"), read_dataset(data_dir, "workorders"),
            data_dir / "responses", data_dir / "workorders", shas)


def _dataset_shas(data_dir: Path) -> list[str]:
    """The sha256s of a dataset's exports in ledger order (they stamp the bulletin)."""
    from research.ingestion.dataset import read_ledger

    return [f["sha256"] for entry in read_ledger(data_dir)["entries"] for f in entry["files"]]


def run_bulletin(data_dir: Path, *, period: str, at: str | None = None, out: Path, lang: str = "zh",
                 plan_path: Path | None = None, say=None, dataset: bool = False,
                 engine: str = "auto") -> dict[str, Path]:
    """Read an ingest folder (or a dataset folder), check the arguments, build and write the bulletin.

    Parameters
    ----------
    data_dir : folder holding ``responses.parquet`` and ``workorders.parquet`` (ingest output), or
        with ``dataset`` a dataset folder of ``research ingest --dataset`` (every ingest in it).
    period : ``day``, ``week`` or ``month``.
    at : ISO date (YYYY-MM-DD) inside the data's date range; None: the last whole period both
        exports cover (:func:`covered_until`, :func:`research.bulletin.periods.last_complete`), named
        through ``say``.
    out : output folder.
    lang : ``zh`` or ``en``.
    plan_path : the analysis plan whose ``conf_level`` and ``bulletin`` section are used
        (default ``paper/analysis_plan.yaml``).
    engine : ``pandas`` (every row in memory), ``duckdb`` (a dataset folder only: DuckDB reads the
        dates' range and the rows of the period's time windows, :mod:`research.bulletin.window`;
        the same files, byte for byte), ``spark`` (a dataset folder only: the same windows read by
        Spark, :mod:`research.engines.spark_window`; the same files) or ``auto`` (duckdb for a
        dataset, pandas otherwise).

    Raises
    ------
    InputError
        A missing or unreadable file, an unknown period, language or engine, a date that does not
        parse or lies outside the data, a bad plan, ``duckdb`` or ``spark`` without a dataset, or
        ``spark`` without a Java runtime.
    """
    _check_period(period)
    if lang not in labels.LANGS:
        raise InputError(f"--lang {lang!r}: use one of {', '.join(labels.LANGS)}")
    if engine not in ENGINES:
        raise InputError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine in ("duckdb", "spark") and not dataset:
        raise InputError(f"--engine {engine} reads a dataset folder: give --dataset DIR (or --engine pandas)")
    if engine == "spark":
        from research.engines.spark_engine import java_available

        if not java_available():
            raise InputError("--engine spark needs a Java runtime (17 or newer) on the PATH or in JAVA_HOME")
    day = _parse_at(at) if at is not None else None
    from research.config.plan import load_plan

    plan = load_plan(plan_path)
    data_dir = Path(data_dir)
    if dataset and engine != "pandas":
        tables, day, shas = _window_tables(data_dir, period, day, plan, say, "spark" if engine == "spark" else "duckdb")
    else:
        tables, day, shas = _pandas_tables(data_dir, dataset, period, day, plan, say)
    from research.artifacts.stamp import Stamp, data_hash, git_commit
    stamp = Stamp(data_hash(shas), git_commit())
    return write_bulletin(tables, out, period=period, at=day, lang=lang, stamp=stamp, conf_level=plan.conf_level)


def _day(period: str, day: dt.date | None, span, covered, data_dir: Path, say) -> dt.date:
    """The bulletin's date: ``day`` checked against the data's ``span`` (first, last day), or
    without one the start of the last whole period up to ``covered`` (named through ``say``)."""
    if span is None:
        raise InputError(f"{data_dir}: the data hold no dated work orders or responses")
    if day is None:
        # whole for every indicator: work orders are counted by creation, answers by survey date, so
        # the period must end by the last day of both (the work-order export usually ends first)
        day = last_complete(period, span[0], covered()).start.date()
        if say is not None:
            say(f"--at not given: the last whole {period} of the data, from {day.isoformat()}")
    if not span[0] <= day <= span[1]:
        raise InputError(f"--at {day.isoformat()}: outside the data's date range "
                         f"{span[0].isoformat()} to {span[1].isoformat()} ({data_dir})")
    return day


def _pandas_tables(data_dir: Path, dataset: bool, period: str, day, plan, say):
    """(tables, date, sha256s) from every row in memory (today's path)."""
    responses, workorders, r_path, w_path, shas = _inputs(data_dir, dataset)
    try:
        _require(responses, _RESP_COLS, str(r_path))
        _require(workorders, _WO_COLS, str(w_path))
        span = data_range(responses, workorders)
    except InputError as exc:
        raise InputError(str(exc)) from None
    day = _day(period, day, span, lambda: covered_until(responses, workorders), data_dir, say)
    tables = bulletin_tables(responses, workorders, period=period, at=day, conf_level=plan.conf_level,
                             spec=plan.bulletin)
    return tables, day, shas


def _window_tables(data_dir: Path, period: str, day, plan, say, engine: str):
    """(tables, date, sha256s) of a dataset folder through DuckDB or Spark (``engine``): the range
    from ``MIN``/``MAX``, then only the rows of the period's windows (:mod:`research.bulletin.window`)."""
    from research.bulletin.periods import period_of
    from research.bulletin.window import extents, open_reader, window_inputs
    with open_reader(data_dir, engine) as reader:  # InputError: not a dataset
        shas = _dataset_shas(data_dir)
        _require(reader.templates["responses"], _RESP_COLS, str(data_dir / "responses"))
        _require(reader.templates["workorders"], _WO_COLS, str(data_dir / "workorders"))
        ext = extents(reader)
        day = _day(period, day, _span(ext), lambda: pd.Timestamp(min(b for _, b in ext)).date(), data_dir, say)
        responses, workorders, history = window_inputs(reader, period_of(period, day), plan.bulletin.ranking_rhs)
        tables = bulletin_tables(responses, workorders, period=period, at=day, conf_level=plan.conf_level,
                                 spec=plan.bulletin, history=history)
    return tables, day, shas
