"""Shared fixtures: the instrument, a fixed pseudonymisation key, small valid exports."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from research.config.instrument import load_instrument

TEST_KEY = b"unit-test-key-0123456789abcdef"

# Chinese headers of the standard survey export (surveys/fields.yaml, docs/input_contract.md), in export order.
SURVEY_HEADERS = {
    "ticket_id": "工单编号", "customer_id": "客户编号", "phone": "联系电话", "region": "地市",
    "station": "供电所", "channel": "受理渠道", "cause_l1": "诉求大类", "cause_l2": "诉求子类",
    "created_at": "受理时间", "resolved_at": "办结时间", "surveyed_at": "回访时间",
    "repeat_calls": "重复来电次数", "resolved": "是否解决", "sat_overall": "总体满意度",
    "sat_speed": "处理速度满意度", "sat_attitude": "服务态度满意度", "sat_outcome": "处理结果满意度",
    "comment": "客户意见",
}
WORKORDER_HEADERS = {k: SURVEY_HEADERS[k] for k in (
    "ticket_id", "customer_id", "phone", "region", "station", "channel", "cause_l1", "cause_l2",
    "created_at", "resolved_at")} | {"survey_status": "回访状态"}


def pytest_configure(config):
    """Module- and session-scoped fixtures run before the per-test key fixture: set the key
    for the whole run too, so no test writes a key file into the checkout.

    One BLAS thread per test process, as the pipeline itself runs
    (research.pipeline.workers.one_blas_thread): the suite's products are small, and with one
    pytest-xdist worker per core, each worker's OpenBLAS threads spinning beside the other worker
    cost CPU for nothing (measured on 2 cores: 8 model and weighting files 64 s -> 57 s, CPU 112 s ->
    97 s). The variable reaches the xdist workers and every subprocess, started after this hook (a
    value set outside is kept); the limit, the BLAS already loaded in this process."""
    os.environ["RESEARCH_PSEUDONYM_KEY"] = TEST_KEY.decode()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")


#: the fixtures that start the session's Spark engine (see pytest_xdist_make_scheduler)
SPARK_FIXTURES = ("spark_engine", "spark_ipw_sums")


def pytest_xdist_make_scheduler(config, log):
    """Under ``--dist loadfile`` (the README's test command), the test files that start a Spark
    session (they ask for the ``spark_engine`` fixture, or ``spark_ipw_sums`` built on it) run on
    one worker, so the suite starts one JVM instead of one per worker (about 15 s of a core each,
    and the first queries' warm-up).
    Every other file is its own unit, as loadfile makes it. pytest-xdist's own grouping,
    ``xdist_group`` marks with ``--dist loadgroup``, does not reach its scheduler under pytest 9.
    """
    if config.getoption("dist", None) != "loadfile":
        return None
    from pathlib import Path

    from xdist.scheduler import LoadFileScheduling

    root = Path(str(config.rootpath))
    spark = {p.relative_to(root).as_posix() for p in Path(__file__).parent.rglob("test_*.py")
             if any(name in p.read_text(encoding="utf-8") for name in SPARK_FIXTURES)}

    class OneSparkWorker(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "spark_engine tests" if path in spark else path

    return OneSparkWorker(config, log)


@pytest.fixture(autouse=True)
def _fixed_key(monkeypatch):
    """Every test pseudonymises with the same key, from the environment, never a key file."""
    monkeypatch.setenv("RESEARCH_PSEUDONYM_KEY", TEST_KEY.decode())


@pytest.fixture(scope="session")
def instrument():
    """The committed instrument, shared by the session (read only)."""
    return load_instrument()


@pytest.fixture(scope="session")
def plan():
    """The committed analysis plan (a frozen dataclass), shared by the session."""
    from research.config.plan import load_plan

    return load_plan()


@pytest.fixture(scope="session")
def _sample_build_and_bundle(tmp_path_factory, worker_id):
    """One ``research reproduce`` of the committed sample, through the CLI: (output folder,
    manifest dict, printed standard output, the build's bundle).

    Under pytest-xdist the workers share one build: the first worker that asks builds it in the
    run's common temporary folder, holding a lock, and pickles the result beside it; the others
    wait for the lock and read the pickle (a build costs about 40 s of both cores; each worker
    building its own cost CI one of them). Each worker then has its own copy of the bundle."""
    import fcntl
    import pickle

    if worker_id == "master":  # not under xdist (pytest -n 0)
        return _sample_build_into(tmp_path_factory.mktemp("sample_build") / "build")
    shared = tmp_path_factory.getbasetemp().parent / "shared_sample_build"
    shared.mkdir(exist_ok=True)
    done = shared / "result.pickle"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not done.exists():
            result = _sample_build_into(shared / "build")
            tmp = done.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            tmp.replace(done)
            return result
    return pickle.loads(done.read_bytes())


def _sample_build_into(out):
    """``research reproduce --out out`` of the committed sample (see _sample_build_and_bundle)."""
    import contextlib
    import io
    import json

    import research.pipeline.reproduce as reproduce_module
    from research.cli import main

    printed = io.StringIO()
    bundles = []
    run_stages = reproduce_module.run_stages

    def recording_run_stages(*args, **kwargs):
        # the build runs its stages through run_stages, in this process, and gets back the bundle
        # every stage added to: keep a reference, change nothing
        bundles.append(run_stages(*args, **kwargs))
        return bundles[-1]

    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setenv("RESEARCH_PSEUDONYM_KEY", TEST_KEY.decode())
        mp.setattr(reproduce_module, "run_stages", recording_run_stages)
        code = main(["reproduce", "--out", str(out)])
    assert code == 0, printed.getvalue()[-2000:]
    assert len(bundles) == 1, f"the build made {len(bundles)} bundles; sample_bundle expects one"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return out, manifest, printed.getvalue(), bundles[0]


@pytest.fixture(scope="session")
def sample_build(_sample_build_and_bundle):
    """One ``research reproduce`` of the committed sample, through the CLI, shared by the session.

    Returns (output folder, manifest dict, what the command printed on standard output). Tests
    only read it (copy it first to tamper with it): a full build costs about 40 s, so the suite
    makes it once instead of once per module.
    """
    return _sample_build_and_bundle[:3]


@pytest.fixture(scope="session")
def sample_bundle(_sample_build_and_bundle):
    """The bundle (ingest, fit with the plan's replicates, weights, levers, drivers, monitoring)
    from which the session's build of the committed sample wrote its figures. Read only: it is
    shared by the session (copy a frame before changing it)."""
    return _sample_build_and_bundle[3]


@pytest.fixture(scope="session")
def sample_stamp(sample_build, sample_bundle):
    """The stamp the session's build drew on one artifact: a function of its registry spec
    returning the :class:`research.artifacts.stamp.Stamp` (data hash, commit, seed) of
    research.pipeline.stages.render_stage, so that a test can write that artifact again as the
    build did."""
    from research.artifacts.stamp import Stamp, data_hash, stamp_for

    _, manifest, _ = sample_build
    base = Stamp(data_hash([i["sha256"] for i in sample_bundle["inputs"]]), manifest["git_commit"])
    return lambda spec: stamp_for(base, spec.reads, manifest["seeds"])


@pytest.fixture(scope="session")
def sample_figure_files(sample_build, sample_stamp):
    """The files the session's build wrote for one figure, and the stamp it wrote them with.

    A function of the figure's id returning (``{"csv", "<lang>.png", "<lang>.svg"}`` -> path in the
    build's ``figures/``, as :func:`research.artifacts.render_figures.write_figure` returns them;
    the build's stamp of that figure). Tests that need a figure written once compare with these
    instead of writing it themselves (a figure costs seconds): the build wrote them in a forked
    rendering worker (research.pipeline.stages.render_stage). Read only.
    """
    from research.artifacts.registry import get

    out = sample_build[0]

    def files(fid: str):
        spec = get(fid)
        found = {"csv": out / "figures" / f"{spec.name}.csv"}
        for lang in ("zh", "en"):
            for ext in ("png", "svg"):
                found[f"{lang}.{ext}"] = out / "figures" / f"{spec.name}.{lang}.{ext}"
        assert all(p.is_file() for p in found.values()), found
        return found, sample_stamp(spec)

    return files


def plan_with_models(folder, names: tuple[str, ...], thresholds: bool = False):
    """The committed plan cut to the models ``names`` (the weighting section names the first of
    them; the sections that name other models are left out; the thresholds too unless
    ``thresholds``: their bootstrap is the slow part of a fit), written to ``folder/plan.yaml``."""
    import yaml

    from research import paths

    plan = yaml.safe_load(paths.default_plan().read_text(encoding="utf-8"))
    plan["models"] = [m for m in plan["models"] if m["name"] in names]
    plan["weighting"]["models"] = [names[0]]
    for section in ("levers", "scenarios", "drivers", *(() if thresholds else ("thresholds",))):
        plan.pop(section, None)
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory):
    """The committed sample ingested into a dataset folder (``research ingest --dataset``), once."""
    from research import paths
    from research.ingestion.dataset import ingest_into_dataset

    root = tmp_path_factory.mktemp("sample_dataset") / "ds"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESEARCH_PSEUDONYM_KEY", TEST_KEY.decode())
        ingest_into_dataset(root, paths.sample_survey(), paths.sample_workorders())
    return root


@pytest.fixture(scope="session")
def spark_engine():
    """One Spark session (local[2]) for the suite, started by the first test that asks for it;
    skipped, with the reason shown, where no Java runtime is found."""
    from research.engines.spark_engine import java_available

    if not java_available():
        pytest.skip("no Java runtime (17+) on this machine: the Spark engine's tests cannot run")
    from research.engines import open_engine

    engine = open_engine("spark", master="local[2]")
    yield engine
    engine.close()
    engine.spark.stop()


@pytest.fixture(scope="session")
def spark_ipw_sums(spark_engine, sample_dataset, plan, instrument):
    """(the plan with ipw as the weighting method and no trimming, the
    :func:`research.representativeness.at_scale_sensitivity.open_sums` of the sample's dataset through
    the session's Spark engine with that plan): the work orders' ticket-history window, the
    respondents' join and the response-propensity fit from Spark's sums (its Newton passes).

    One Spark run for the session (about 10 s of Spark jobs): tests/representativeness/test_at_scale.py
    computes the sensitivity and ipw tables on it, tests/models/test_aggregate_svy.py compares its
    propensity fit (the formula and cluster only: the method does not enter it) with the row model.
    Read only (its sources are cached views of the Spark session)."""
    import dataclasses

    from research.engines import DatasetSource
    from research.representativeness.at_scale_sensitivity import open_sums

    ipw = dataclasses.replace(plan, weighting=dataclasses.replace(plan.weighting, method="ipw", trim_cap=None))
    opened = open_sums(spark_engine, DatasetSource(sample_dataset), DatasetSource(sample_dataset, "workorders"),
                       plan=ipw, instrument=instrument)
    return ipw, opened


def valid_survey(n: int = 40, seed: int = 1) -> pd.DataFrame:
    """A valid survey export (Chinese headers and labels, all strings) of ``n`` rows."""
    ins = load_instrument()
    rng = np.random.default_rng(seed)
    subs = ins.label_sets["cause_l2"]
    l1 = ins.label_sets["cause_l1"].zh()
    chan = list(ins.label_sets["channel"].zh().values())
    res = list(ins.label_sets["resolved"].zh().values())
    sat = {int(lab.code): lab.zh for lab in ins.scales["sat5"].levels}
    rows = []
    base = pd.Timestamp("2025-03-03 08:00")
    for i in range(n):
        sub = subs.labels[i % len(subs.labels)]
        created = base + pd.Timedelta(minutes=int(rng.integers(0, 60 * 24 * 200)))
        resolved = created + pd.Timedelta(minutes=int(rng.integers(10, 60 * 24 * 12)))
        surveyed = resolved + pd.Timedelta(minutes=int(rng.integers(60, 60 * 48)))
        style = "%Y-%m-%d %H:%M:%S" if i % 2 else "%Y/%-m/%-d %-H:%M"
        answers = [sat[int(v)] for v in rng.integers(1, 6, size=4)]
        if i % 11 == 3:
            answers[0] = "拒答"
        rows.append({
            "ticket_id": f"GD{i:08d}", "customer_id": f"{3000000000 + i % 29:010d}",
            "phone": f"139{int(rng.integers(0, 10**8)):08d}", "region": ["广州", "佛山"][i % 2],
            "station": f"站{i % 5}供电所", "channel": chan[i % len(chan)],
            "cause_l1": l1[ins.parent[sub.code]], "cause_l2": sub.zh,
            "created_at": created.strftime(style), "resolved_at": resolved.strftime(style),
            "surveyed_at": surveyed.strftime(style), "repeat_calls": str(int(rng.integers(0, 3))),
            "resolved": res[i % 3], "sat_overall": answers[0], "sat_speed": answers[1],
            "sat_attitude": answers[2], "sat_outcome": answers[3],
            "comment": "" if i % 3 else f"请尽快处理，电话{13800000000 + i}",
        })
    frame = pd.DataFrame(rows)
    return frame.rename(columns=SURVEY_HEADERS)


def workorders_for(survey: pd.DataFrame, extra: int = 5) -> pd.DataFrame:
    """A work-order export holding every surveyed ticket plus ``extra`` unsurveyed ones."""
    cols = [h for k, h in WORKORDER_HEADERS.items() if k != "survey_status"]
    wo = survey[cols].copy()
    wo["回访状态"] = "成功"
    more = survey[cols].head(extra).copy()
    more["工单编号"] = [f"WX{i:06d}" for i in range(len(more))]
    more["回访状态"] = "未接通"
    return pd.concat([wo, more], ignore_index=True)


def write_csv(frame: pd.DataFrame, path, encoding: str = "utf-8") -> None:
    """Write an all-string export as CSV in ``utf-8``, ``utf-8-sig`` (BOM) or ``gb18030``."""
    data = frame.to_csv(index=False).encode("gb18030" if encoding == "gb18030" else "utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + data if encoding == "utf-8-sig" else data)


@pytest.fixture(scope="session", autouse=True)
def _published_results_untouched():
    """No test may write the published manifest or results (paper/manifest.json, paper/results/): a
    test of `publish` whose patch missed once overwrote them with a test build. Fails the session
    if their bytes change."""
    import hashlib

    from research import paths

    paper = paths.project_root() / "paper"

    def digest() -> str:
        h = hashlib.sha256()
        for p in sorted([paper / "manifest.json", *(paper / "results").rglob("*")]):
            if p.is_file():
                h.update(p.relative_to(paper).as_posix().encode() + b"\0" + p.read_bytes())
        return h.hexdigest()

    before = digest()
    yield
    assert digest() == before, "a test changed paper/manifest.json or paper/results/: restore them with git"
