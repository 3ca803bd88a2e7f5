"""The pipeline is an explicit, ordered list of stages, each declaring what it reads and writes
(research.pipeline.stages.STAGES; issue 13 point 1). These tests hold the declarations to what the
stages do: a stage reads only what an earlier stage wrote, a stage that runs beside another reads
nothing that other writes, every table and figure reads entries a stage writes before rendering,
and a stage that returns an entry it does not declare is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from research.artifacts import registry
from research.pipeline.reproduce import run_stages
from research.pipeline.stages import INITIAL, STAGES, Build


def _written_before(index: int) -> set[str]:
    out = set(INITIAL)
    for stage in STAGES[:index]:
        out |= set(stage.writes)
    return out


def test_every_stage_reads_only_what_an_earlier_stage_writes():
    for i, stage in enumerate(STAGES):
        reads = set(stage.reads) - {"*"}
        assert reads <= _written_before(i), (stage.name, sorted(reads - _written_before(i)))


def test_a_stage_beside_another_reads_nothing_that_stage_writes():
    for i, stage in enumerate(STAGES):
        if stage.beside:
            anchor = next(s for s in reversed(STAGES[:i]) if not s.beside)
            assert not set(stage.reads) & set(anchor.writes), stage.name
            assert "*" not in stage.reads


def test_internal_entries_are_read_only_by_stages_beside_their_maker():
    for i, stage in enumerate(STAGES):
        for later in STAGES[i + 1:]:
            if not later.beside:
                assert not set(stage.internal) & set(later.reads), (stage.name, later.name)


def test_every_table_and_figure_reads_entries_written_before_rendering():
    render = next(i for i, s in enumerate(STAGES) if s.name == "tables and figures")
    internal = {k for s in STAGES for k in s.internal}
    available = _written_before(render) - internal
    for spec in registry.TABLES + registry.FIGURES:
        assert set(spec.reads) <= available, (spec.id, sorted(set(spec.reads) - available))


def test_outputs_are_distinct_folders_and_files():
    outputs = [o for s in STAGES for o in s.outputs]
    assert len(outputs) == len(set(outputs))


def _build(tmp_path):
    return Build(survey=tmp_path / "s.csv", workorders=None, root=tmp_path, plan=None, instrument=None,
                 plan_file=tmp_path / "p.yaml", reps=None, say=lambda m: None)


def test_a_stage_returning_an_undeclared_entry_is_refused(tmp_path):
    stage = replace(STAGES[0], run=lambda b, bundle: {"responses": 1, "surprise": 2})
    with pytest.raises(RuntimeError, match=r"ingest returned entries it does not declare: \['surprise'\]"):
        run_stages((stage,), _build(tmp_path), {})


@pytest.mark.parametrize("workers", ["1", "2"])
def test_stages_beside_run_in_order_and_keep_internal_entries_to_themselves(tmp_path, monkeypatch, workers):
    monkeypatch.setenv("RESEARCH_WORKERS", workers)
    first = replace(STAGES[1], run=lambda b, bundle: {"estimates": "fit"})
    maker = replace(STAGES[2], run=lambda b, bundle: {"weights": [1.0], "response_rates": "rates"})
    user = replace(STAGES[3], run=lambda b, bundle: {"levers": f"weighted by {bundle['weights']}"})
    made = run_stages((first, maker, user), _build(tmp_path), {"responses": None})
    assert made == {"responses": None, "estimates": "fit", "response_rates": "rates",
                    "levers": "weighted by [1.0]"}


def test_a_stage_that_needs_nothing_from_the_child_runs_while_the_child_works(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("RESEARCH_WORKERS", "2")
    marker = tmp_path / "child_done"

    def slow_levers(b, bundle):
        time.sleep(1.5)
        marker.write_text("done")
        return {"levers": "L"}

    seen = {}
    first = replace(STAGES[1], run=lambda b, bundle: {})
    child = replace(STAGES[3], reads=("responses",), run=slow_levers)
    alongside = replace(STAGES[4], run=lambda b, bundle: seen.update(alongside=marker.exists()) or {})
    after = replace(STAGES[5], reads=("levers",), run=lambda b, bundle: seen.update(after=bundle["levers"]) or {})
    run_stages((first, child, alongside, after), _build(tmp_path), {"responses": None})
    assert seen == {"alongside": False, "after": "L"}  # ran before the child ended; then waited for it
