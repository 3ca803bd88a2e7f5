"""The bulletin of a dataset folder through DuckDB with bounded memory (``research bulletin --dataset
DIR --engine duckdb``; docs/architecture.md, "Dataset layout").

The pandas path reads every row of the dataset. Here DuckDB reads only

- the first and last dates of each table (``MIN``/``MAX``), which fix the data's range and the
  period of a bulletin without ``--at`` (:func:`extents`);
- the rows of the period's *time windows* (:func:`windows`), and only the columns the bulletin
  reads: responses surveyed, and work orders created or resolved, from the first of the trend
  chart's 12 periods (which also holds the previous period, the 8 periods before the rising words
  and the recurrence baseline) to the end of the period, and in the same period last year; for a
  week, the work orders created from the last one before that window that has a station and a
  sub-cause, so the recurrence's grid of weeks reaches back as far as the whole data's would for
  the tested week (a week is tested only with 8 weeks of grid before it);
- for the repeat callers, every work order created before the period's end of the customers with
  a work order in the period (an episode may reach back any distance), the responses of those
  tickets, and the four columns of the responses the default risk model is fitted on;

and computes by ``GROUP BY`` over the whole history what needs it (:class:`~research.bulletin.data.History`):
the first days, the station-region counts, the week p-chart's per-station centre line. Rows come
in read_dataset's order with its dtypes, so every table is the pandas path's, byte for byte
(tests/bulletin/test_bulletin_window.py).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd

from research.bulletin.data import _RESP_COLS, _WO_COLS, History
from research.bulletin.periods import Period, last_year_period, previous_period

#: the responses' columns the repeat callers' survey outcomes read
_OUTCOME_COLS = ("ticket_id", "satisfied", "sat_overall", "resolved")
#: the work orders' columns the repeat callers read
_REPEAT_WO_COLS = ("ticket_id", "customer_id", "created_at", "cause_l2", "station", "handling_hours")
#: the responses' columns the default risk model is fitted on
_RISK_COLS = ("satisfied", "cause_l2", "handling_hours", "repeat")


def extents(reader) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(first, last) of each table holding a date, as :func:`research.bulletin.run._extents`
    reads them from rows: work orders created, then responses surveyed."""
    out = []
    for table, col in (("workorders", "created_at"), ("responses", "surveyed_at")):
        q = reader.ident(col)
        got = reader.query(f"SELECT min({q}) AS a, max({q}) AS b FROM {table}")
        if pd.notna(got["a"].iloc[0]):
            out.append((pd.Timestamp(got["a"].iloc[0]), pd.Timestamp(got["b"].iloc[0])))
    return out


def _baseline_periods() -> int:
    """Periods of the recurrence baseline the bulletin uses (the function's default)."""
    from research.strategy.monitoring import recurrence

    return int(inspect.signature(recurrence).parameters["baseline_periods"].default)


def windows(p: Period) -> tuple[pd.Timestamp, pd.Timestamp, Period | None]:
    """``(start, end, last_year)``: the bulletin of ``p`` reads the rows of ``[start, end)`` (the trend
    chart's periods, which hold the previous period, the rising words' baseline and the
    recurrence's) and of the same period last year (None: none)."""
    from research.bulletin.charts import TREND_PERIODS
    from research.bulletin.tables import RISING_BASELINE

    first = p
    for _ in range(max(TREND_PERIODS - 1, RISING_BASELINE, _baseline_periods())):
        first = previous_period(first)
    return first.start, p.end, last_year_period(p)


def _between(reader, col: str, spans: list[tuple]) -> tuple[str, list]:
    q = reader.ident(col)
    sql = " OR ".join(f"({q} >= ? AND {q} < ?)" for _ in spans)
    return f"({sql})", [v for span in spans for v in span]


def _response_columns(kind: str, rhs: str) -> list[str]:
    cols = [*_RESP_COLS, "satisfied"]
    if kind in ("week", "month"):
        cols.append("comment")  # the rising words
    if kind == "month":  # the ranking model's variables
        from research.config.formula import parse_rhs
        from research.config.plan import VARIABLES

        cols += ["satisfied", "station", "region", *parse_rhs(rhs, source="bulletin.ranking_rhs",
                                                             variables=VARIABLES).variables()]
    return cols


def window_frames(reader, p: Period, rhs: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(responses, work orders): the rows of ``p``'s windows (:func:`windows`), only the columns
    the bulletin reads."""
    start, end, ly = windows(p)
    spans = [(start, end)] + ([(ly.start, ly.end)] if ly is not None else [])
    r_sql, r_par = _between(reader, "surveyed_at", spans)
    # every row kept was created before the end (created <= resolved <= surveyed, checked at ingest)
    responses = reader.rows("responses", _response_columns(p.kind, rhs), r_sql, r_par, created_before=end)
    created = spans
    if p.kind == "week":  # the last work order with a cell before the window: see the module docstring
        got = reader.query('SELECT max(created_at) AS t FROM workorders WHERE created_at < ? '
                           'AND station IS NOT NULL AND cause_l2 IS NOT NULL', [start])["t"].iloc[0]
        if pd.notna(got):
            created = [(pd.Timestamp(got), end)] + spans[1:]
    c_sql, c_par = _between(reader, "created_at", created)
    s_sql, s_par = _between(reader, "resolved_at", spans)
    workorders = reader.rows("workorders", [*_WO_COLS, "cause_l2", "handling_hours"],
                             f"{c_sql} OR {s_sql}", c_par + s_par, created_before=end)
    return responses, workorders


def _first(reader, table: str, col: str) -> np.datetime64 | None:
    got = reader.query(f"SELECT CAST(min({reader.ident(col)}) AS DATE) AS d FROM {table}")["d"].iloc[0]
    return None if pd.isna(got) else np.datetime64(pd.Timestamp(got).date(), "D")


def station_regions(reader, missing: str = "(missing)") -> pd.DataFrame:
    """Rows (work orders and responses, whole history) per station and region, as
    :meth:`research.bulletin.data._Data.station_regions` counts them: a ``GROUP BY``."""
    got = reader.query("SELECT station, region, CAST(count(*) AS BIGINT) AS n FROM ("
                       "SELECT coalesce(station, ?) AS station, coalesce(region, ?) AS region FROM workorders "
                       "UNION ALL SELECT coalesce(station, ?), coalesce(region, ?) FROM responses) "
                       "GROUP BY station, region", [missing] * 4)
    out = pd.DataFrame({"station": got["station"].astype("string"), "region": got["region"].astype("string"),
                        "n": got["n"].astype(np.int64)})
    return out.sort_values(["station", "region"]).reset_index(drop=True)


def pchart_centre(reader, end: pd.Timestamp) -> pd.Series:
    """Per station, the pooled dissatisfied rate (0..1) of the responses surveyed before ``end``
    with a valid answer: the centre line ``p_chart(..., centre="group")`` draws from the rows."""
    got = reader.query("SELECT station, CAST(count(*) FILTER (WHERE NOT satisfied) AS BIGINT) AS d, "
                       "CAST(count(*) AS BIGINT) AS n FROM responses WHERE surveyed_at < ? "
                       "AND satisfied IS NOT NULL AND station IS NOT NULL GROUP BY station", [end])
    rate = got["d"].to_numpy(dtype=float) / got["n"].to_numpy(dtype=float)
    return pd.Series(rate, index=got["station"].astype(str).to_numpy(), dtype=float)


#: above this many complete responses the default risk model is fitted from sums through the
#: reader's engine, DuckDB or Spark (research.models.aggregate.risk; coefficients equal to about
#: 1e-9, not to the last bit); below, on the rows, as the pandas path does (byte-identical bulletins)
RISK_FROM_SUMS_ABOVE = 2_000_000


def _risk_from_sums(reader, where: str, end):
    """The default risk model fitted from sums over the responses ``where`` keeps, by the reader's
    engine (DuckDB or Spark) on a table of those rows in its own session."""
    from research.engines.base import TableSource
    from research.models.aggregate.risk import fit_dissatisfaction_from_sums

    sql = ("SELECT satisfied, cause_l2, handling_hours, repeat FROM responses "
           f"WHERE {where} AND handling_hours >= 0")
    with reader.table("risk_rows", sql, [end]) as engine:
        return fit_dissatisfaction_from_sums(engine, TableSource("risk_rows"))


def repeat_inputs(reader, p: Period) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """(work orders, responses, risk) for the repeat callers of ``p``: every work order created
    before its end of the customers with one in ``p`` (episodes are per customer, so theirs are
    whole), the responses surveyed before its end of those tickets, and a risk function that fits
    the default model on the responses surveyed before its end
    (:func:`research.strategy.monitoring.fit_dissatisfaction_model`, the same rows in the same
    order) when there is an episode to score."""
    from research.strategy.monitoring import fit_dissatisfaction_model

    end, start = p.end, p.start
    wo_sql = ("created_at < ? AND customer_id IN (SELECT customer_id FROM workorders "
              "WHERE created_at >= ? AND created_at < ?)")
    wo = reader.rows("workorders", list(_REPEAT_WO_COLS), wo_sql, [end, start, end], created_before=end)
    resp = reader.rows("responses", list(_OUTCOME_COLS),
                       f"surveyed_at < ? AND ticket_id IN (SELECT ticket_id FROM workorders WHERE {wo_sql})",
                       [end, end, start, end], created_before=end)

    def risk(latest: pd.DataFrame) -> np.ndarray:
        where = ("surveyed_at < ? AND satisfied IS NOT NULL AND cause_l2 IS NOT NULL AND handling_hours IS NOT NULL "
                 "AND repeat IS NOT NULL")
        count = int(reader.query(f"SELECT COUNT(*) AS n FROM responses WHERE {where}", [end])["n"].iloc[0])
        if count > RISK_FROM_SUMS_ABOVE:  # a national dataset: the model from sums, rows stay in DuckDB
            model = _risk_from_sums(reader, where, end)
        else:
            rows = reader.rows("responses", list(_RISK_COLS), where, [end], created_before=end)
            model = fit_dissatisfaction_model(rows)  # InputError: too few answers, as on the pandas path
        return model.predict(latest["cause_l2"], latest["handling_hours"], True)

    return wo, resp, risk


def window_inputs(reader, p: Period, rhs: str) -> tuple[pd.DataFrame, pd.DataFrame, History]:
    """The responses and work orders of ``p``'s windows and the :class:`History` the bulletin reads
    beside them: what :func:`research.bulletin.tables.bulletin_tables` takes as ``responses``,
    ``workorders`` and ``history``."""
    responses, workorders = window_frames(reader, p, rhs)
    history = History(r_first=_first(reader, "responses", "surveyed_at"),
                      w_first=_first(reader, "workorders", "created_at"),
                      station_regions=station_regions(reader),
                      pchart_centre=pchart_centre(reader, p.end) if p.kind == "week" else None,
                      repeat=lambda q: repeat_inputs(reader, q))
    return responses, workorders, history


def open_reader(folder: Path, engine: str = "duckdb"):
    """A reader of the dataset ``folder``: :class:`research.engines.window.DatasetReader` (DuckDB)
    or, for ``engine="spark"``, :class:`research.engines.spark_window.SparkDatasetReader`."""
    if engine == "spark":
        from research.engines.spark_window import SparkDatasetReader

        return SparkDatasetReader(folder)
    from research.engines.window import DatasetReader

    return DatasetReader(folder)
