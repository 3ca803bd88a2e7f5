""":func:`simulate` (the whole data-generating process, see the package docstring) and
:func:`write_simulation` (the exports, canonical frames and truth as files).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from research.config.instrument import load_instrument, Instrument
from research.simulate.comments import plant_cause_phrases
from research.simulate.exports import _canonical_frames, _exports, _survey_answers
from research.simulate.params import SimParams, Simulation
from research.simulate.population import _check_params, _code_tables, _draw_until_n
from research.simulate.structural import _hard_case_truth, _hard_cases_on
from research.simulate.truth import _truth


def simulate(n: int, seed: int, *, faults: float = 0.0, params: SimParams | None = None,
             instrument: Instrument | None = None) -> Simulation:
    """Simulate ``n`` completed surveys and their work-order population.

    Parameters
    ----------
    n : number of survey rows before planted faults (completed surveys), >= 1.
    seed : seed of ``numpy.random.default_rng``; same arguments give identical output.
    faults : fraction of survey rows to plant faults on (``0 <= faults < 0.5``);
        ``round(faults * n)`` faults spread round-robin over :data:`FAULT_REASONS`.
        In-place faults change one cell of a clean row; ``duplicate``,
        ``conflicting_duplicate`` and ``no_workorder`` add a row, so the survey
        export has ``n + (#duplicate) + (#conflicting_duplicate) + (#no_workorder)``
        rows.
    params : the DGP; default :class:`SimParams()` (every hard case off).
    instrument : labels and SLA targets; default :func:`research.config.instrument.load_instrument`.

    Returns
    -------
    Simulation
        Exports, canonical frames, ``truth`` (JSON-serialisable; ``truth["hard_cases"]``
        when a hard-case switch of :class:`SimParams` is on) and the population.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    if not 0.0 <= faults < 0.5:
        raise ValueError(f"faults must be in [0, 0.5), got {faults!r}")
    p = params or SimParams()
    ins = instrument or load_instrument()
    _check_params(p, ins)
    return _simulate(int(n), seed, faults, p, ins)


def _simulate(n: int, seed: int, faults: float, p: SimParams, ins: Instrument, chunk=None) -> Simulation:
    """:func:`simulate` with checked arguments. ``chunk`` (a :class:`research.simulate.chunks.ChunkTag`,
    only from :mod:`research.simulate.chunks`) renames the ticket and customer ids into the chunk's own
    block and replaces the station effects by the ones shared by every chunk; every draw is made as
    without it, so ``None`` is exactly today's simulation."""
    ct = _code_tables(p, ins)
    if chunk is not None:
        ct["chunk"] = chunk
    rng, pop, tk, m = _draw_until_n(n, seed, p, ct)
    tk["rows"] = np.flatnonzero(pop["status"] == 0)  # n rows, creation order
    rest = _survey_answers(rng, n, p, tk)
    rest, comment_truth = plant_cause_phrases(seed, p, ct, tk, rest)
    exports = _exports(rng, n, faults, p, ins, ct, pop, tk, rest, m)
    frames = _canonical_frames(p, ins, ct, pop, tk, rest, exports, m)
    truth = _truth(n, seed, faults, p, frames["population"], frames["responses"], tk["rows"], tk["sat"],
                   ins.satisfied_threshold, ct["station_names"], tk["station_effect"], ct["p_bar"],
                   exports["plan"], exports["survey_export"], frames["sla_warnings"])
    if tk["planted_signals"]:
        truth["planted_signals"] = tk["planted_signals"]
    if comment_truth is not None:
        truth["comment_terms"] = comment_truth
    model = tk.get("model")
    if _hard_cases_on(p):
        truth["hard_cases"] = _hard_case_truth(p, ct, tk, frames, model)
    return Simulation(survey_export=exports["survey_export"], workorders_export=exports["wo_export"],
                      responses=frames["responses"], workorders=frames["workorders"], truth=truth,
                      population=frames["population"], model=model)


def write_simulation(sim: Simulation, out_dir, *, survey_encoding: str = "utf-8-sig",
                     workorders_encoding: str = "gb18030") -> dict[str, Path]:
    """Write ``survey.csv``, ``workorders.csv`` and ``truth.json`` into ``out_dir``.

    CSV with ``\\n`` line ends, minimal quoting; the same simulation always
    gives the same bytes. Returns ``{"survey": path, "workorders": path, "truth": path}``.
    """
    from research.safeio import atomic_write_bytes, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"survey": out / "survey.csv", "workorders": out / "workorders.csv", "truth": out / "truth.json"}
    # Atomic, but not through safeio.write_csv: these are raw exports, written exactly as a utility's
    # system would (planted faults included), so their cells must not be neutralised.
    for name, frame, encoding in (("survey", sim.survey_export, survey_encoding),
                                  ("workorders", sim.workorders_export, workorders_encoding)):
        atomic_write_bytes(paths[name], frame.to_csv(index=False, lineterminator="\n").encode(encoding))
    atomic_write_text(paths["truth"], json.dumps(sim.truth, ensure_ascii=False, indent=1) + "\n")
    return paths
