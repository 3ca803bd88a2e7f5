"""Stages 3-4 (representativeness, levers, drivers) run in a forked child alongside the fit
(the ``beside`` stages of research.pipeline.stages.STAGES, run by
research.pipeline.reproduce.run_stages through research.pipeline.workers.start_beside; issue 12
point 2): its errors reach the user as in one
process, a child that dies is reported instead of waited for, a failed fit stops the child,
and one worker or two give the same files."""

from __future__ import annotations

import os
import signal
import time

import pytest

from research.errors import InputError
from dataclasses import replace

from research.pipeline.reproduce import reproduce, run_stages
from research.pipeline.stages import STAGES, Build
from research.pipeline.workers import _InChild, _Later, start_beside

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork: POSIX only")


def test_a_child_returns_its_value_and_shares_the_parents_memory_without_pickling_it():
    big = list(range(100_000))
    marker = object()  # not picklable through a pipe as itself: the child only reads it

    def work():
        assert marker is not None
        return sum(big), os.getpid()

    total, pid = _InChild(work, "a sum").result()
    assert total == sum(big) and pid != os.getpid()


def test_a_childs_input_error_is_raised_in_the_parent_with_its_message():
    def work():
        raise InputError("plan.yaml: key scenarios.levers: unknown lever 'x'")

    with pytest.raises(InputError, match="unknown lever 'x'"):
        _InChild(work, "levers").result()


def test_an_exception_that_does_not_pickle_comes_back_as_its_type_and_message():
    class Local(Exception):  # a local class cannot be pickled
        pass

    def work():
        raise Local("the reason")

    with pytest.raises(RuntimeError, match="Local: the reason"):
        _InChild(work, "levers").result()


def test_a_child_that_dies_is_reported_not_waited_for():
    def work():
        os.kill(os.getpid(), signal.SIGKILL)

    t = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"levers ended without a result \(exit code -9"):
        _InChild(work, "levers").result()
    assert time.perf_counter() - t < 30


def test_cancel_stops_a_running_child():
    job = _InChild(lambda: time.sleep(60), "a long wait")
    pid = job._proc.pid
    t = time.perf_counter()
    job.cancel()
    assert time.perf_counter() - t < 10
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_one_worker_runs_the_stage_in_this_process_when_asked(monkeypatch):
    monkeypatch.setenv("RESEARCH_WORKERS", "1")
    calls = []
    job = start_beside(lambda: calls.append(os.getpid()) or {"x": 1}, "strategy")
    assert isinstance(job, _Later) and calls == []  # not before the fit: errors keep their order
    assert job.result() == {"x": 1} and calls == [os.getpid()]


@pytest.fixture(scope="module")
def fast_exports(tmp_path_factory):
    from research.simulate import simulate, write_simulation

    return write_simulation(simulate(1500, 7), tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def fast_plan(tmp_path_factory):
    import re

    from research import paths

    text = paths.project_root().joinpath("paper", "analysis_plan.yaml").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("plan") / "fast_plan.yaml"
    path.write_text(re.sub(r"reps: \d+", "reps: 0", text), encoding="utf-8")
    return path


def test_an_error_of_the_levers_stage_in_the_child_fails_the_run_and_keeps_no_output(
        fast_exports, fast_plan, tmp_path, monkeypatch):
    monkeypatch.setenv("RESEARCH_WORKERS", "2")

    def broken(*a, **k):
        raise InputError("analysis_plan.yaml: scenarios: planted failure")

    monkeypatch.setattr("research.strategy.scenarios.run_levers", broken)
    for name, stub in (("fit_plan", lambda *a, **k: {}), ("write_results", lambda *a, **k: None),
                       ("summarize", lambda fit: "")):  # the fit is not what is tested here
        monkeypatch.setattr(f"research.models.run.{name}", stub)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="planted failure"):
        reproduce(fast_exports["survey"], fast_exports["workorders"], out, plan_path=fast_plan)
    assert not (out / "manifest.json").exists() and not (out / "strategy").exists()


def test_a_failed_fit_stops_the_child_at_once(fast_exports, fast_plan, tmp_path, monkeypatch):
    monkeypatch.setenv("RESEARCH_WORKERS", "2")
    children = []

    def slow_stage(*a, **k):
        time.sleep(120)

    def broken_fit(*a, **k):
        import multiprocessing

        children.extend(p.pid for p in multiprocessing.active_children())
        raise InputError("planted fit failure")

    monkeypatch.setattr("research.pipeline.reproduce.STAGES",
                        tuple(replace(s, run=slow_stage) if s.name == "strategy" else s for s in STAGES))
    monkeypatch.setattr("research.models.run.fit_plan", broken_fit)
    t = time.perf_counter()
    with pytest.raises(InputError, match="planted fit failure"):
        reproduce(fast_exports["survey"], fast_exports["workorders"], tmp_path / "out", plan_path=fast_plan)
    assert time.perf_counter() - t < 60 and children
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_stage_in_a_child_gives_what_it_gives_in_this_process(fast_exports, fast_plan, tmp_path, monkeypatch):
    import pandas as pd

    from research.ingestion.run import ingest
    from research.config.instrument import load_instrument
    from research.config.plan import load_plan

    instrument = load_instrument()
    plan = load_plan(fast_plan)
    ing = ingest(fast_exports["survey"], fast_exports["workorders"], instrument=instrument)
    bundle = {"plan": plan, "instrument": instrument, "responses": ing.responses, "workorders": ing.workorders}
    # the fit is replaced by a stage that makes nothing: what runs beside it is under test
    stages = (replace(STAGES[1], run=lambda b, bundle: {}),) + tuple(
        s for s in STAGES if s.beside or s.name == "monitoring")
    parts, files = {}, {}
    for workers in ("1", "2"):
        monkeypatch.setenv("RESEARCH_WORKERS", workers)
        out = tmp_path / f"w{workers}"
        out.mkdir()
        build = Build(survey=fast_exports["survey"], workorders=fast_exports["workorders"], root=out, plan=plan,
                      instrument=instrument, plan_file=fast_plan, reps=None, say=lambda m: None)
        made = run_stages(stages, build, dict(bundle))
        parts[workers] = {k: v for k, v in made.items() if k not in bundle}
        assert "weights" not in made and "calibration" not in made  # internal: never leave the child
        files[workers] = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.csv"))}
    assert list(parts["1"]) == list(parts["2"])  # the same entries, in the order the bundle takes them
    assert {"respondent_weights", "levers", "drivers_importance", "station_funnel", "repeat_callers"} <= set(parts["1"])
    for key, value in parts["1"].items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, parts["2"][key], check_exact=False, rtol=1e-12)
    assert files["1"].keys() == files["2"].keys() and len(files["1"]) >= 8


def test_one_blas_thread_reaches_every_blas_library_even_one_loaded_later():
    # scipy ships its own OpenBLAS, loaded when scipy.linalg is first imported: a limit set before
    # that left it at the core count (seen in a manifest's platform record: num_threads 2)
    import subprocess
    import sys

    code = ("from research.pipeline.reproduce import one_blas_thread\n"
            "from threadpoolctl import threadpool_info\n"
            "with one_blas_thread():\n"
            "    import scipy.linalg, statsmodels.api\n"
            "    print(sorted({l['num_threads'] for l in threadpool_info() if l['user_api'] == 'blas'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "2"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1]"
