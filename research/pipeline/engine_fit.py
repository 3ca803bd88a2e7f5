"""The fit stage of ``research reproduce --engine duckdb|spark``: the plan's models, predictions
and marginal effects, group comparisons and reliability through an engine, the row-only tables
from the rows.

:func:`fit_with_engine` runs :func:`research.models.run.fit_plan` (the row path, today's and the
published numbers: every table; the Brant tests, sub-cause ranks and thresholds need the rows here)
and :func:`research.models.run_engine.fit_plan_on` (the models from per-group sums, the comparisons
and scale checks from counts: docs/architecture.md, *Engines*), and takes :data:`ENGINE_TABLES` of
each model the engine fitted, and :data:`COUNT_TABLES`, from the engine. The two agree to at most
3.4e-10 relative on the sample (most cells to 1e-11; the Games-Howell p-values to 4e-12 absolute,
scipy's ``studentized_range.sf`` integration error, about 1e-10 at a million rows;
tests/pipeline/test_reproduce_engine.py checks 1e-9), so a build with ``--engine duckdb``
verifies against the pandas manifest within its tolerances. The row path still fits every model
(its Brant tests and sub-cause ranks need the row-level fit), so the engine adds time on data that
fit in memory.

The engine's ``method`` text of an estimate names the same estimator as the row path's, with the
engine appended; the build's manifest records the engine per artifact instead, so the row path's
text is kept where the engine's rows are the same terms (the published tables do not change words
with the engine). A model the engine cannot fit (CR2, a single cluster) keeps the row path's rows,
with a note.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from research.models.run_engine import COUNT_TABLES  # the tables an engine computes from counts, whole

Progress = Callable[[str], None]

#: the fit tables an engine computes (research.models.run_engine.fit_plan_on), by model
ENGINE_TABLES = ("estimates", "model_fit", "predictions", "marginal_effects", "station_effects")


def fit_with_engine(responses: pd.DataFrame, *, engine: str, dataset: Path | None, plan, instrument,
                    say: Progress) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every fit table, :data:`ENGINE_TABLES` of the models ``engine`` fitted from sums.

    Parameters
    ----------
    responses : canonical responses (the ingest stage's).
    engine : ``duckdb`` or ``spark`` (``pandas`` is :func:`research.models.run.fit_plan` alone).
    dataset : the dataset folder the build reads (the engine then reads its Parquet parts itself),
        or None (the engine reads ``responses``).
    plan, instrument, say : as for :func:`research.models.run.fit_plan`.

    Returns
    -------
    (the tables of :func:`research.models.run.fit_plan`, the names of the tables taken from the engine).
    """
    from research.engines import DatasetSource, FrameSource, open_engine
    from research.models.run import fit_plan
    from research.models.run_engine import fit_plan_on

    rows = fit_plan(responses, plan=plan, instrument=instrument, progress=say)
    if engine == "spark":
        from research.engines.spark_engine import java_available
        from research.errors import InputError

        if not java_available():
            raise InputError("--engine spark needs a Java runtime (17 or newer): none on the PATH or in JAVA_HOME")
    t0 = time.perf_counter()
    eng = open_engine(engine)
    try:
        source = DatasetSource(Path(dataset)) if dataset is not None else FrameSource(responses)
        # the thresholds stay the row path's (exact replicates; the engine's are one-step): not computed twice
        sums = fit_plan_on(eng, source, plan=plan, instrument=instrument, progress=say, thresholds=False)
    finally:
        eng.close()
    fitted = list(sums["model_fit"]["model"])
    out = dict(rows)
    for key in ENGINE_TABLES:
        out[key] = _by_model(rows.get(key, pd.DataFrame()), sums.get(key, pd.DataFrame()), fitted)
    out["estimates"] = _row_method(rows["estimates"], out["estimates"])
    for key in COUNT_TABLES:  # the same notes as the row path's (tables_from_counts follows its rules)
        out[key] = sums[key]
    missed = [m for m in rows["model_fit"]["model"] if m not in fitted]
    if missed:
        extra = [{"step": f"model {m}", "note": f"not fitted by the {engine} engine: its tables come from the rows"}
                 for m in missed]
        out["notes"] = pd.concat([rows["notes"], pd.DataFrame(extra, columns=["step", "note"])], ignore_index=True)
    row_only = [k for k in out if k not in ENGINE_TABLES + COUNT_TABLES and k != "notes"]
    say(f"{', '.join(ENGINE_TABLES)} of {len(fitted)} models and {', '.join(COUNT_TABLES)} by {engine} in "
        f"{time.perf_counter() - t0:.1f} s" + (f" (models {', '.join(missed)} from the rows)" if missed else "")
        + f"; {', '.join(row_only)} from the rows (pandas)")
    return out, (list(ENGINE_TABLES) if fitted else []) + list(COUNT_TABLES)


def _by_model(rows: pd.DataFrame, sums: pd.DataFrame, fitted: list[str]) -> pd.DataFrame:
    """``rows`` with the rows of each model in ``fitted`` replaced by that model's rows of
    ``sums`` where ``sums`` has any (else the row path's stay), models in the row path's order
    (the plan's)."""
    if rows.empty and sums.empty:
        return rows
    if rows.empty:
        return sums
    if sums.empty or "model" not in rows.columns:
        return rows
    pieces = []
    for model in pd.unique(rows["model"]):
        own = sums[sums["model"] == model]
        pieces.append(own.reindex(columns=rows.columns) if model in fitted and len(own)
                      else rows[rows["model"] == model])
    return pd.concat(pieces, ignore_index=True)


def _row_method(rows: pd.DataFrame, merged: pd.DataFrame) -> pd.DataFrame:
    """``merged`` estimates with the row path's ``method`` text, model by model, where both list the
    same terms in the same order (see the module docstring)."""
    if rows.empty or "method" not in rows.columns:
        return merged
    merged = merged.copy()
    for model in pd.unique(merged["model"]):
        a, b = rows.index[rows["model"] == model], merged.index[merged["model"] == model]
        if len(a) == len(b) and (rows.loc[a, "term"].to_numpy() == merged.loc[b, "term"].to_numpy()).all():
            merged.loc[b, "method"] = rows.loc[a, "method"].to_numpy()
    return merged
