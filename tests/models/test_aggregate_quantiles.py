"""Exact quantiles through an engine (research.models.aggregate.quantiles) against the row path's own:
``np.quantile`` for the thresholds' knots and each cause group's reference and upper hours
(research.models.thresholds) and ``weighted_quantile`` for the bootstrap replicates
(research.models.threshold_bootstrap._bootstrap), on the committed sample ingested as a dataset
(pandas bit-equal, DuckDB to 1e-12 relative), with few rows per fetch so that the histogram passes
run; hard cases on small frames (a value holding 60% of a group, a level of one row, a replicate
without weight in a level, q = 0 and q = 1, neighbouring floats); one cheap Spark run.
"""

import numpy as np
import pandas as pd
import pytest

from research.engines import DatasetSource, FrameSource, open_engine
from research.engines.base import column_name
from research.engines.expr import col, fn
from research.ingestion.dataset import read_dataset
from research.models.aggregate.quantiles import group_quantiles, replicate_quantiles
from research.models.threshold_curves import weighted_quantile

H, LH = col("h"), col("lh")
VALUES = {"h": col(column_name("handling_hours")), "lh": fn("log2", 1 + col(column_name("handling_hours")))}


@pytest.fixture(scope="module")
def row_path(sample_dataset, plan, instrument):
    """The row path's quantiles on the sample: pooled and per-group knots, reference and upper hours,
    and 30 replicates' weighted quantiles (counts drawn as _bootstrap draws them)."""
    from research.models import thresholds as T

    spec = plan.thresholds
    frame, _, _ = T._threshold_frame(read_dataset(sample_dataset, "responses"), plan, instrument)
    lh = np.log2(1 + frame["handling_hours"].to_numpy())
    raw = frame["handling_hours"].to_numpy()
    l1 = frame["cause_l1"].astype(str).to_numpy()
    groups = {g: np.flatnonzero(l1 == g) for g in frame["cause_l1"].cat.categories if (l1 == g).any()}
    cl = frame[spec.bootstrap_cluster].cat.codes.to_numpy()
    stations = frame[spec.bootstrap_cluster].cat.categories
    rng = np.random.default_rng(spec.bootstrap_seed)
    n_cl = int(cl.max()) + 1
    counts = np.stack([np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl) for _ in range(30)])
    qs = np.array([spec.reference_quantile, spec.upper_quantile])
    reps = []
    for rows in groups.values():
        order = rows[np.argsort(raw[rows], kind="stable")]
        reps.append([weighted_quantile(raw[order], counts[b][cl[order]], qs) for b in range(len(counts))])
    return {"spec": spec, "groups": list(groups), "stations": stations, "counts": counts, "qs": qs,
            "pooled": np.quantile(lh, spec.knots_quantiles),
            "knots": np.stack([np.quantile(lh[r], spec.knots_quantiles) for r in groups.values()]),
            "hours": np.stack([np.quantile(raw[r], qs) for r in groups.values()]), "reps": np.array(reps),
            "rows": len(frame)}


class Spy:
    """An engine whose histogram passes and fetched rows are counted."""

    def __init__(self, engine):
        self.engine, self.passes, self.fetched = engine, 0, 0

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def histogram(self, *args):
        self.passes += 1
        return self.engine.histogram(*args)

    def window_values(self, *args):
        out = self.engine.window_values(*args)
        self.fetched += len(out)
        return out


def _equal(got, want, engine):
    if engine == "pandas":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("engine_name", ["pandas", "duckdb"])
def test_thresholds_quantiles_on_the_sample_equal_the_row_path(engine_name, row_path, sample_dataset):
    """Pooled and per-group knots, reference and upper hours and the replicates' weighted quantiles
    from the sample dataset equal the row path's, with the histogram passes doing the locating (64
    rows per fetch): fewer rows fetched than a twentieth of the rows, and many fewer for the pooled
    knots."""
    spec = row_path["spec"]
    engine = Spy(open_engine(engine_name))
    try:
        keys = ("satisfied", "cause_l1", "cause_l2", "channel", spec.bootstrap_cluster)
        p = engine.prepare(DatasetSource(sample_dataset), keys, VALUES)
        assert p.n_rows == row_path["rows"]
        level = pd.Index(row_path["groups"]).get_indexer(p.groups["cause_l1"])
        cluster = row_path["stations"].get_indexer(p.groups[spec.bootstrap_cluster])
        assert (level >= 0).all() and (cluster >= 0).all()
        small = {"fetch_rows": 64}
        pooled = group_quantiles(engine, p, LH, np.zeros(len(level), dtype=int), spec.knots_quantiles, **small)
        assert engine.passes >= 1 and engine.fetched < 64 * 2 * len(spec.knots_quantiles)
        _equal(pooled[0], row_path["pooled"], engine_name)
        _equal(group_quantiles(engine, p, LH, level, spec.knots_quantiles, **small), row_path["knots"], engine_name)
        _equal(group_quantiles(engine, p, H, level, row_path["qs"], **small), row_path["hours"], engine_name)
        engine.fetched = 0
        got = replicate_quantiles(engine, p, H, level, cluster, row_path["counts"], row_path["qs"], **small)
        assert engine.fetched < row_path["rows"] / 20  # measured: 223 of 19,304
        _equal(got, row_path["reps"], engine_name)
    finally:
        engine.close()


def _small_frame():
    """Four cause groups over five stations: ``a`` with 60% of its rows at 24 h and many rounded ties,
    ``b`` continuous, ``c`` a single row, ``d`` only at station s4 (rows of two neighbouring floats)."""
    rng = np.random.default_rng(11)
    n = 600
    cause = rng.choice(["a", "b"], n)
    hours = np.where(cause == "a", np.where(rng.random(n) < 0.6, 24.0, np.round(rng.lognormal(2, 1, n))),
                     rng.lognormal(1, 1.5, n))
    station = rng.choice([f"s{i}" for i in range(4)], n)
    d = np.array([1.0, np.nextafter(1.0, 2.0)] * 5)
    return pd.DataFrame({
        "cause_l1": pd.array([*cause, "c", *["d"] * len(d)], dtype="string"),
        "station": pd.array([*station, "s0", *["s4"] * len(d)], dtype="string"),
        "handling_hours": np.r_[hours, 7.5, d]})


@pytest.mark.parametrize("engine_name", ["pandas", "duckdb"])
@pytest.mark.parametrize("fetch_rows", [1, 20_000])
def test_hard_cases_on_a_small_frame(engine_name, fetch_rows):
    """A heavy atom (60% of a group at one value) and many ties, a level of one row, neighbouring
    floats, q = 0 and q = 1, and replicates that give a level no weight (NaN, as weighted_quantile),
    one of them weighting a single station; fetch_rows=1 forces the histogram passes to the end."""
    frame = _small_frame()
    engine = Spy(open_engine(engine_name))
    try:
        p = engine.prepare(FrameSource(frame), ("cause_l1", "station"), VALUES)
        level = pd.Index(list("abcd")).get_indexer(p.groups["cause_l1"])
        cluster = pd.Index([f"s{i}" for i in range(5)]).get_indexer(p.groups["station"])
        qs = [0.0, 0.05, 0.3, 0.5, 0.7, 0.95, 1.0]
        got = group_quantiles(engine, p, H, level, qs, fetch_rows=fetch_rows)
        if fetch_rows == 1:
            assert engine.passes >= 2 and engine.fetched < 40  # the atom and the ties need no rows
        raw = frame["handling_hours"].to_numpy()
        cause, station = frame["cause_l1"].to_numpy(), frame["station"].to_numpy()
        want = np.stack([np.quantile(raw[cause == c], qs) for c in "abcd"])
        np.testing.assert_array_equal(got, want)
        counts = np.array([[1, 1, 1, 1, 1], [0, 2, 0, 3, 0], [5, 0, 0, 0, 0], [0, 0, 0, 0, 0], [2, 0, 1, 0, 4]])
        reps = replicate_quantiles(engine, p, H, level, cluster, counts, qs, fetch_rows=fetch_rows)
        cl = pd.Index([f"s{i}" for i in range(5)]).get_indexer(station)
        for li, c in enumerate("abcd"):
            rows = np.flatnonzero(cause == c)
            order = rows[np.argsort(raw[rows], kind="stable")]
            for b in range(len(counts)):
                want = weighted_quantile(raw[order], counts[b][cl[order]], np.array(qs))
                np.testing.assert_array_equal(reps[li, b], want, err_msg=f"level {c}, replicate {b}")
        assert np.isnan(reps[2, 1]).all() and np.isnan(reps[3, 3]).all() and np.isfinite(reps[3, 4]).all()
    finally:
        engine.close()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # ln of a negative or zero hour, on purpose
def test_bad_arguments_and_values_without_a_rank():
    """A value that is NaN on some rows, quantiles outside [0, 1], a level array of the wrong length and
    negative counts are refused with one ValueError each; a level left out (negative) is not counted."""
    engine = open_engine("pandas")
    p = engine.prepare(FrameSource(_small_frame()), ("cause_l1", "station"), VALUES)
    level = np.zeros(len(p.groups), dtype=int)
    with pytest.raises(ValueError, match="not finite"):
        group_quantiles(engine, p, fn("ln", H - 10), level, [0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        group_quantiles(engine, p, H, level, [1.5])
    with pytest.raises(ValueError, match="one whole level"):
        group_quantiles(engine, p, H, level[:-1], [0.5])
    with pytest.raises(ValueError, match="whole multiplicities"):
        replicate_quantiles(engine, p, H, level, level, -np.ones((2, 1)), [0.5])
    only_c = np.where(p.groups["cause_l1"].to_numpy() == "c", 0, -1)
    assert group_quantiles(engine, p, H, only_c, [0.0, 1.0]).tolist() == [[7.5, 7.5]]


def test_spark_gives_the_same_quantiles(spark_engine):
    """One cheap Spark run (three queries of 1-2 s after the prepare): replicates of the small
    frame's levels through one histogram pass by (level, station) and a fetch (fetch_rows=100;
    levels a and b have about 300 rows), equal to weighted_quantile's; the pandas and DuckDB tests
    above cover the rest of the arithmetic, which is the same numpy for every engine."""
    frame = _small_frame()
    p = spark_engine.prepare(FrameSource(frame), ("cause_l1", "station"), VALUES)
    level = pd.Index(list("abcd")).get_indexer(p.groups["cause_l1"])
    cluster = pd.Index([f"s{i}" for i in range(5)]).get_indexer(p.groups["station"])
    qs = [0.0, 0.05, 0.5, 0.95, 1.0]
    counts = np.array([[1, 1, 1, 1, 1], [0, 2, 0, 3, 0]])
    reps = replicate_quantiles(spark_engine, p, H, level, cluster, counts, qs, fetch_rows=100)
    raw, cause = frame["handling_hours"].to_numpy(), frame["cause_l1"].to_numpy()
    cl = pd.Index([f"s{i}" for i in range(5)]).get_indexer(frame["station"].to_numpy())
    for li, c in enumerate("abcd"):
        rows = np.flatnonzero(cause == c)
        order = rows[np.argsort(raw[rows], kind="stable")]
        for b in range(len(counts)):
            want = weighted_quantile(raw[order], counts[b][cl[order]], np.array(qs))
            np.testing.assert_array_equal(reps[li, b], want)
    assert np.isnan(reps[3, 1]).all()
