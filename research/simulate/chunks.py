"""A large synthetic export written as many chunks, with memory bounded by one chunk.

In: ``n`` completed surveys, a ``seed``, ``chunk_rows`` (the most completed surveys one chunk holds),
``faults`` and the DGP (:class:`SimParams`). Out: ``K = ceil(n / chunk_rows)`` chunk folders
``chunk_0000/`` .. each holding ``survey.csv``, ``workorders.csv`` and ``truth.json`` exactly as
:func:`research.simulate.write_simulation` writes them, and ``chunks.json`` (written last: its
presence means every chunk is complete) with the call, every chunk's seed, sizes and id blocks, and
the shared station effects. CLI: ``research simulate --n N --seed S --chunk-rows R --out DIR``
(docs/howto.md, "A national-scale synthetic export").

What a chunk is: chunk ``k`` is :func:`research.simulate.simulate` of its share of ``n`` (the ``K``
shares differ by at most one) over the WHOLE creation period, with

- its own seed ``SeedSequence([seed, 0, k])`` (one 32-bit word), so the output depends on
  ``(n, seed, chunk_rows, faults, params)`` only, and any chunk can be made alone
  (:func:`simulate_chunk`);
- the station effects ``u_station`` of step 8 drawn once, from ``SeedSequence([seed, 1])``, and
  shared by every chunk: the same planted truth (SimParams and station effects) holds in every chunk
  and so in their union. The union is then the DGP with ``K`` independent ticket streams of the same
  intensity shape (same seasonality, cause mix, handling times and response model), i.e. the DGP at
  ``K`` times the daily volume;
- ticket ids ``GD<chunk letters><yyyymmdd><5-digit sequence of the day>``: two or more capital
  letters numbering the chunk in base 26 (``AA``, ``AB``, ...), so ids are unique across chunks and
  the 5-digit sequence of a day (at most 89,999 tickets per day) applies per chunk, not to the union;
- customer ids (10 digits) drawn without replacement from the chunk's own block of
  ``9,000,000,000 // K`` ids: customers are unique across chunks, so a repeat caller's tickets are
  all in one chunk (follow-up tickets re-use a customer of the same chunk within
  ``follow_up_window_days``; no repeat caller spans two chunks). Phone numbers are drawn per chunk as
  in :func:`simulate` and may coincide across chunks, as they may within one.

Every other draw of chunk ``k`` is exactly that of ``simulate(n_k, seed_k)``. Hard cases
(``--hard-cases``) are refused: their truth (levers, thresholds, ...) is a population quantity of
one simulation that does not add up over chunks. Memory: one chunk (about 3.2 GB peak per million
completed surveys, measured on the 2-core benchmark machine, benchmarks/bench_scale.py).
"""

from __future__ import annotations

import gc
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from research.config.instrument import Instrument, load_instrument
from research.simulate.params import SimParams, Simulation
from research.simulate.population import _check_params, _code_tables
from research.simulate.run import _simulate, write_simulation
from research.simulate.structural import _hard_cases_on

#: most chunks one export is split into (chunk folders, and the customer-id block of each stays large)
MAX_CHUNKS = 10_000
#: all 10-digit customer ids (1,000,000,000 .. 9,999,999,999), split into one block per chunk
_CUSTOMER_FIRST, _CUSTOMER_SPAN = 1_000_000_000, 9_000_000_000
#: side stream of a chunk's customer ids: default_rng([chunk seed, _SIDE_CUSTOMERS])
_SIDE_CUSTOMERS = 201
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class ChunkTag:
    """What makes chunk ``index`` of ``count`` differ from a plain simulation: its ticket-id prefix,
    its block of customer ids and the station effects shared by every chunk (one per station, in
    :func:`research.simulate.population._code_tables` order; latent units)."""

    index: int
    count: int
    seed: int
    ticket_prefix: str
    customer_first: int
    customer_block: int
    station_effect: np.ndarray

    def customer_ids(self, pool: int) -> np.ndarray:
        """``pool`` distinct 10-digit customer ids from this chunk's block (int64)."""
        if pool > self.customer_block:
            raise ValueError(f"chunk {self.index}: {pool:,} customers do not fit its block of "
                             f"{self.customer_block:,} ids; use fewer, larger chunks")
        rng = np.random.default_rng([self.seed, _SIDE_CUSTOMERS])
        return rng.choice(self.customer_block, size=pool, replace=False) + self.customer_first


def chunk_sizes(n: int, chunk_rows: int) -> list[int]:
    """The completed surveys of each chunk: ``ceil(n / chunk_rows)`` shares of ``n`` that differ by
    at most one (the larger first). Raises ValueError beyond :data:`MAX_CHUNKS` chunks."""
    if int(n) != n or n < 1 or int(chunk_rows) != chunk_rows or chunk_rows < 1:
        raise ValueError(f"n and chunk_rows must be whole numbers >= 1, got {n!r}, {chunk_rows!r}")
    count = -(-int(n) // int(chunk_rows))
    if count > MAX_CHUNKS:
        raise ValueError(f"{n:,} surveys in chunks of {chunk_rows:,} make {count:,} chunks; at most "
                         f"{MAX_CHUNKS:,} (give a larger chunk size)")
    base, extra = divmod(int(n), count)
    return [base + (k < extra) for k in range(count)]


def _letters(index: int, count: int) -> str:
    """``index`` in base 26 with capital letters, as wide as ``count - 1`` needs and at least 2."""
    width = max(2, math.ceil(math.log(max(count, 2), 26)))
    out = ""
    for _ in range(width):
        index, digit = divmod(index, 26)
        out = _LETTERS[digit] + out
    return out


def shared_station_effects(seed: int, p: SimParams, ins: Instrument) -> np.ndarray:
    """The station effects every chunk of ``seed`` uses: ``N(0, station_sd)`` per station, drawn from
    ``default_rng(SeedSequence([seed, 1]))`` (one per station, :func:`_code_tables` order)."""
    n_stations = len(_code_tables(p, ins)["station_names"])
    return np.random.default_rng(np.random.SeedSequence([seed, 1])).normal(0.0, p.station_sd, n_stations)


def chunk_tag(seed: int, index: int, count: int, station_effect: np.ndarray) -> ChunkTag:
    """The :class:`ChunkTag` of chunk ``index`` (0-based) of ``count``: seed
    ``SeedSequence([seed, 0, index])`` (first 32-bit word), ticket prefix, customer block."""
    block = _CUSTOMER_SPAN // count
    chunk_seed = int(np.random.SeedSequence([seed, 0, index]).generate_state(1, np.uint32)[0])
    return ChunkTag(index=index, count=count, seed=chunk_seed, ticket_prefix="GD" + _letters(index, count),
                    customer_first=_CUSTOMER_FIRST + index * block, customer_block=block,
                    station_effect=np.asarray(station_effect, dtype=float))


def _checked(faults: float, params: SimParams | None, instrument: Instrument | None):
    if not 0.0 <= faults < 0.5:
        raise ValueError(f"faults must be in [0, 0.5), got {faults!r}")
    p = params or SimParams()
    if _hard_cases_on(p):
        raise ValueError("a chunked export cannot switch on hard cases: their truth is a quantity of one "
                         "simulation's population and does not add up over chunks")
    ins = instrument or load_instrument()
    _check_params(p, ins)
    return p, ins


def simulate_chunk(n: int, seed: int, chunk_rows: int, index: int, *, faults: float = 0.0,
                   params: SimParams | None = None, instrument: Instrument | None = None) -> Simulation:
    """Chunk ``index`` (0-based) of the chunked export of ``n`` surveys (see the module docstring),
    in memory; ``truth["chunk"]`` records its place. Raises ValueError for an index out of range."""
    p, ins = _checked(faults, params, instrument)
    sizes = chunk_sizes(n, chunk_rows)
    if not 0 <= index < len(sizes):
        raise ValueError(f"chunk index {index} out of range: {len(sizes)} chunks")
    tag = chunk_tag(seed, index, len(sizes), shared_station_effects(seed, p, ins))
    return _one_chunk(sizes[index], seed, chunk_rows, tag, faults, p, ins)


def _one_chunk(n_k: int, seed: int, chunk_rows: int, tag: ChunkTag, faults: float, p: SimParams,
               ins: Instrument) -> Simulation:
    sim = _simulate(n_k, tag.seed, faults, p, ins, chunk=tag)
    sim.truth["chunk"] = _tag_record(tag, n_k, seed, chunk_rows)
    return sim


def _tag_record(tag: ChunkTag, n_k: int, seed: int, chunk_rows: int) -> dict:
    return {"index": tag.index, "count": tag.count, "of_seed": seed, "chunk_rows": chunk_rows,
            "seed": tag.seed, "n": n_k, "ticket_prefix": tag.ticket_prefix,
            "customer_ids": [tag.customer_first, tag.customer_first + tag.customer_block - 1]}


def write_chunked(n: int, seed: int, out_dir, chunk_rows: int, *, faults: float = 0.0,
                  params: SimParams | None = None, instrument: Instrument | None = None,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Simulate and write the chunks one at a time (memory: one chunk), then ``chunks.json``.

    ``out_dir`` must hold no ``chunk_*`` entry and no ``chunks.json`` (a chunked export is never
    mixed with another; ValueError). Returns the ``chunks.json`` record: ``call``, ``chunks`` (per
    chunk: folder, seed, n, ticket prefix, customer-id range, counts), ``station_effects``, ``totals``.
    """
    p, ins = _checked(faults, params, instrument)
    sizes = chunk_sizes(n, chunk_rows)
    out = Path(out_dir)
    if out.exists() and (any(out.glob("chunk_*")) or (out / "chunks.json").exists()):
        raise ValueError(f"{out} already holds a chunked export (chunk_* or chunks.json); give an empty "
                         "or new folder")
    effects = shared_station_effects(seed, p, ins)
    width = max(4, len(str(len(sizes) - 1)))
    records, totals = [], {"survey_rows": 0, "workorders": 0, "completed": 0}
    for k, n_k in enumerate(sizes):
        tag = chunk_tag(seed, k, len(sizes), effects)
        if progress:
            progress(f"chunk {k + 1}/{len(sizes)}: {n_k:,} surveys (seed {tag.seed}, tickets {tag.ticket_prefix}...)")
        sim = _one_chunk(n_k, seed, chunk_rows, tag, faults, p, ins)
        folder = f"chunk_{k:0{width}d}"
        write_simulation(sim, out / folder)
        counts = {key: sim.truth["counts"][key] for key in totals}
        records.append({**sim.truth["chunk"], "folder": folder, "counts": counts})
        for key in totals:
            totals[key] += counts[key]
        del sim
        gc.collect()  # the next chunk reuses this one's memory
    station_names = _code_tables(p, ins)["station_names"]
    manifest = {"synthetic": True, "generator": "research.simulate.chunks.write_chunked",
                "call": {"n": int(n), "seed": seed, "chunk_rows": int(chunk_rows), "faults": faults},
                "chunks": records, "totals": totals,
                "station_effects": {s: float(v) for s, v in zip(station_names, effects)}}
    from research.safeio import atomic_write_text

    atomic_write_text(out / "chunks.json", json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
    return manifest
