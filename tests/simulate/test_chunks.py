"""A chunked synthetic export (research.simulate.chunks, ``research simulate --chunk-rows``): every
chunk a simulation of its own seed with the planted truth of all, ids unique across chunks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from research.cli import main
from research.config.instrument import load_instrument
from research.simulate import SimParams, hard_case_params, write_simulation
from research.simulate.chunks import (chunk_sizes, shared_station_effects, simulate_chunk, write_chunked)

N, SEED, ROWS = 10_000, 515, 5_000


@pytest.fixture(scope="module")
def chunks():
    """The two chunks of a 10,000-survey export in chunks of 5,000."""
    return [simulate_chunk(N, SEED, ROWS, k) for k in range(2)]


def test_chunk_sizes_split_n_evenly_and_refuse_too_many():
    assert chunk_sizes(10, 3) == [3, 3, 2, 2]
    assert chunk_sizes(10, 10) == [10]
    assert sum(chunk_sizes(20_000_000, 1_000_000)) == 20_000_000
    with pytest.raises(ValueError, match="at most 10,000"):
        chunk_sizes(20_000_000, 1_000)


def test_ids_are_unique_across_chunks_and_customers_never_shared(chunks):
    tickets = pd.concat([c.workorders["ticket_id"] for c in chunks])
    assert tickets.is_unique and len(tickets) == sum(len(c.workorders) for c in chunks)
    assert [c.workorders["ticket_id"].str[:4].unique().tolist() for c in chunks] == [["GDAA"], ["GDAB"]]
    survey = pd.concat([c.responses["ticket_id"] for c in chunks])
    assert survey.is_unique and survey.isin(set(tickets)).all() and len(survey) == N
    customers = [set(c.workorders["customer_id"]) for c in chunks]
    assert not customers[0] & customers[1]
    for c in chunks:  # each chunk's ids lie in its own block, as recorded
        lo, hi = c.truth["chunk"]["customer_ids"]
        ids = c.workorders["customer_id"].astype("int64")
        assert ids.between(lo, hi).all()
    # a repeat caller exists inside a chunk (follow-up tickets re-use a customer of the same chunk)
    assert all(c.workorders["customer_id"].duplicated().any() for c in chunks)


def test_every_chunk_covers_the_whole_period_with_its_own_draws(chunks):
    p = SimParams()
    months = pd.period_range(p.start, p.end, freq="M")
    for c in chunks:
        created = c.workorders["created_at"]
        assert created.min() >= pd.Timestamp(p.start) and created.max() < pd.Timestamp(p.end) + pd.Timedelta(days=1)
        assert set(created.dt.to_period("M")) == set(months)
        assert c.truth["counts"]["completed"] == ROWS
    assert chunks[0].truth["chunk"]["seed"] != chunks[1].truth["chunk"]["seed"]
    hours = [c.workorders["handling_hours"][:100] for c in chunks]
    assert not np.array_equal(*hours)


def test_station_effects_are_shared_by_every_chunk(chunks):
    shared = shared_station_effects(SEED, SimParams(), load_instrument())
    for c in chunks:
        assert np.allclose(list(c.truth["station_effects"].values()), shared)
    effect = chunks[0].population.groupby("station", observed=True)["station_effect"].first()
    assert np.allclose(effect.to_numpy(), chunks[1].population.groupby("station", observed=True)
                       ["station_effect"].first().reindex(effect.index).to_numpy())


def test_planted_handling_time_slopes_recovered_on_the_union(chunks):
    """A logit of satisfied (overall >= the threshold) with every term of DGP step 8 and station fixed
    effects is the DGP's own model for the union, so each cause group's slope on log2(1 + hours)
    must fall in its 99% interval (two chunks fitted apart would not share the station effects)."""
    data = pd.concat([c.responses for c in chunks], ignore_index=True).dropna(subset=["satisfied"])
    data = data.assign(y=data["satisfied"].astype(int), L=np.log2(1 + data["handling_hours"]),
                       rep=data["repeat"].astype(int))
    fit = smf.logit("y ~ C(cause_l2) + C(cause_l1):L + C(channel) + rep + C(resolved) + C(station)",
                    data=data[["y", "L", "rep", "cause_l1", "cause_l2", "channel", "resolved", "station"]]
                    .astype({k: str for k in ("cause_l1", "cause_l2", "channel", "resolved", "station")})
                    ).fit(disp=0)
    for group, slope in SimParams().slope.items():
        term = f"C(cause_l1)[{group}]:L"
        z = (fit.params[term] - slope) / fit.bse[term]
        assert abs(z) < 2.576, (group, fit.params[term], slope, fit.bse[term])
    assert abs(fit.params["rep"] - SimParams().beta_repeat) < 2.576 * fit.bse["rep"]


def test_cli_writes_chunks_that_can_be_made_alone(tmp_path):
    out = tmp_path / "big"
    assert main(["simulate", "--n", "601", "--seed", "9", "--chunk-rows", "300", "--out", str(out),
                 "--faults", "0.05"]) == 0
    manifest = json.loads((out / "chunks.json").read_text(encoding="utf-8"))
    assert [c["folder"] for c in manifest["chunks"]] == ["chunk_0000", "chunk_0001", "chunk_0002"]
    assert [c["n"] for c in manifest["chunks"]] == [201, 200, 200]
    rows = sum(len(pd.read_csv(out / c["folder"] / "survey.csv", dtype=str)) for c in manifest["chunks"])
    assert rows == manifest["totals"]["survey_rows"] > 601  # the duplicate and no_workorder faults add rows
    alone = write_simulation(simulate_chunk(601, 9, 300, 1, faults=0.05), tmp_path / "alone")
    assert alone["survey"].read_bytes() == (out / "chunk_0001" / "survey.csv").read_bytes()
    assert alone["workorders"].read_bytes() == (out / "chunk_0001" / "workorders.csv").read_bytes()
    # never mixed with another chunked export; hard cases refused
    assert main(["simulate", "--n", "601", "--seed", "9", "--chunk-rows", "300", "--out", str(out)]) == 2
    assert main(["simulate", "--n", "601", "--seed", "9", "--chunk-rows", "300", "--hard-cases",
                 "--out", str(tmp_path / "h")]) == 2
    with pytest.raises(ValueError, match="hard cases"):
        write_chunked(10, 1, tmp_path / "h2", 5, params=hard_case_params())


def test_ingest_accepts_a_chunk_as_it_accepts_a_simulation(tmp_path):
    from research.ingestion.run import ingest

    paths = write_simulation(simulate_chunk(400, 4, 200, 1, faults=0.02), tmp_path)
    result = ingest(paths["survey"], paths["workorders"])
    truth = json.loads(paths["truth"].read_text(encoding="utf-8"))
    assert result.report["rejected"] == truth["counts"]["rejected_rows"] > 0
    assert result.responses["ticket_id"].str.startswith("GDAB").all()
