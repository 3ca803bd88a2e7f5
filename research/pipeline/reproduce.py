"""Rebuild everything from the raw exports, and verify a rebuild against a manifest.

:func:`reproduce` runs the stages in order — ingest, fit, representativeness
(non-response, weights and design-based estimates; whenever a work-order
export is given), levers (improvement scenarios), tables, figures, named values, report, manifest — each
reporting its time through ``progress``. Representativeness and levers read only the ingest
outputs, so they run in a forked child alongside the fit (:func:`start_strategy`); tables and
figures are drawn in forked workers (:func:`render_all`); ``RESEARCH_WORKERS=1`` keeps all in
one process. It builds into a fresh staging folder inside the output
root, under a lock, and moves the outputs into place only when every stage succeeded
(:mod:`research.pipeline.buildstate`): a killed run never leaves a half-written build that looks complete.

:func:`verify` rebuilds into a temporary folder from the inputs a manifest names and compares
artifact by artifact; :func:`verify_built` checks an existing build folder against its own
manifest without rebuilding. Manifests are validated before use
(:func:`research.artifacts.manifest.load_manifest`), and the plan is the one given (or the
committed one), never a path read from the manifest.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from research.pipeline import buildstate
from research import paths
from research.artifacts import registry
from research.artifacts.manifest import (build_manifest, compare_manifests, describe_platform, display_path, inside,
                                         load_manifest, sha256_file, write_manifest)
from research.artifacts.stamp import Stamp, data_hash, git_commit, stamp_for
from research.errors import InputError
from research.safeio import write_csv

Progress = Callable[[str], None]


def one_blas_thread():
    """Run the pipeline with one BLAS thread (a context manager).

    OpenBLAS splits sums across threads, so a multi-threaded matrix product can differ in its last
    bits with the thread count, and from run to run (measured: the station funnel's optimiser
    differed by 1.7e-16 between two runs on one machine). One thread makes the sums' order fixed;
    on the sample it is also faster (many small products, where threads only spin) and on
    1,000,000 rows the products are a small part of the time (benchmarks/bench_reproduce.py).
    Results still differ across BLAS kernels (processors) in the last bits: verify compares with
    tolerances (research.artifacts.compare)."""
    import scipy.linalg  # noqa: F401 - scipy's own OpenBLAS, loaded now so that the limit reaches it too
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def manifest_path() -> Path:
    """The committed manifest of the sample: ``paper/manifest.json``."""
    return paths.project_root() / "paper" / "manifest.json"


def reproduce(survey: Path, workorders: Path | None, out_root: Path, *, progress: Progress | None = None,
              plan_path: Path | None = None, reps: int | None = None) -> dict:
    """Rebuild every artifact into ``out_root``; returns the manifest (also written there).

    Parameters
    ----------
    survey, workorders : the raw exports (``workorders`` None: no representativeness stage).
    out_root : the output root, created if absent. Layout: ``ingest/``, ``fit/``, ``weights/``
        (with a work-order export), ``strategy/``, ``tables/``, ``figures/``, ``values.csv``,
        ``report/``, ``manifest.json``. These owned entries are replaced as a whole (an old
        ``weights/`` disappears when this run has no work orders); anything else in the folder
        is left alone and is not in the manifest.
    progress : called with a message as each stage starts and ends.
    plan_path : the analysis plan (default ``paper/analysis_plan.yaml``).
    reps : None (the plan's replicates), or every bootstrap, permutation and calibration count
        set to this (``--reps N``, a quick look: :func:`research.config.plan.with_replicates`). The
        manifest records the counts used (``replicates``) and the override (``reps_override``);
        ``publish`` refuses such a build and ``verify`` names the difference.

    Raises
    ------
    InputError
        ``out_root`` is a file, or a non-build folder holding entries this would replace, or
        another run holds its lock; or any input is bad. The published entries are then unchanged.
    """
    say = progress or (lambda m: None)
    out_root = Path(out_root)
    buildstate.check_root(out_root)
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out_root}: cannot create the output folder ({exc.strerror})") from None
    with buildstate.build_lock(out_root):
        if buildstate.remove_leftovers(out_root):
            say("removed the staging folder left by an interrupted run")
        staging = buildstate.new_staging(out_root)
        try:
            with one_blas_thread():
                manifest = _build(survey, workorders, staging, say=say, plan_path=plan_path, reps=reps)
            say(f"moving the outputs into {out_root}")
            buildstate.publish(staging, out_root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return manifest


def _build(survey: Path, workorders: Path | None, out_root: Path, *, say: Progress,
           plan_path: Path | None, reps: int | None = None) -> dict:
    """Every stage of :func:`reproduce`, written into the fresh folder ``out_root`` (the staging
    folder); returns the manifest, written there last."""
    from research.artifacts.bundle import make_bundle
    from research.artifacts.report import build_report
    from research.artifacts.values import named_values
    from research.ingestion.run import format_report, ingest, write_ingest
    from research.config.instrument import load_instrument
    from research.models.run import fit_plan, summarize, write_results
    from research.config.plan import load_plan, plan_path as default_plan, replicate_counts, with_replicates

    plan_file = Path(plan_path) if plan_path else default_plan()
    plan, instrument = load_plan(plan_file), load_instrument()
    if reps is not None:
        plan = with_replicates(plan, reps)
        say(f"every bootstrap, permutation and calibration draws {reps} replicates (--reps {reps}): "
            "a quick look, not the published numbers")
    steps = 9

    t = time.perf_counter()
    say(f"stage 1/{steps}: ingest")
    ing = ingest(survey, workorders, instrument=instrument, progress=say)
    write_ingest(ing, out_root / "ingest")
    say(f"stage 1/{steps}: ingest done in {time.perf_counter() - t:.1f} s")
    print(format_report(ing.report))
    stations = ing.responses["station"].nunique()
    if stations < 2:  # every stage after fit compares or clusters by station
        raise InputError(f"{survey}: column station (供电所): the accepted responses come from {stations} station; "
                         "reproduce needs at least 2 (standard errors clustered by station, weights with "
                         "stations as clusters, station comparisons). 'research fit' works on one station "
                         "with model-based standard errors.")

    t = time.perf_counter()
    # stages 3-4 read only the ingest outputs, not the fit: they run in a second process while
    # this one fits (both single-threaded; on 2 cores the two take the time of the longer)
    strategy = start_strategy(ing, out_root, plan=plan, instrument=instrument, say=say, steps=steps)
    say(f"stage 2/{steps}: fit")
    try:
        fit = fit_plan(ing.responses, plan=plan, instrument=instrument, progress=say)
        write_results(fit, out_root / "fit", plan=plan)
    except BaseException:
        strategy.cancel()
        raise
    say(f"stage 2/{steps}: fit done in {time.perf_counter() - t:.1f} s")
    print(summarize(fit))

    bundle = make_bundle(ing, fit, plan=plan, instrument=instrument)
    bundle.update(strategy.result())
    inputs = [{"role": f["role"], "path": display_path(Path(p)), "sha256": f["sha256"]}
              for f, p in zip(ing.report["files"], [survey] + ([workorders] if workorders else []))]
    seed = plan.thresholds.bootstrap_seed if plan.thresholds else 0
    seeds = {"threshold_bootstrap": seed,
             "lever_bootstrap": plan.scenarios.bootstrap_seed if plan.scenarios else 0,
             "driver_bootstrap": plan.drivers.bootstrap_seed,
             "driver_permutation": plan.drivers.permutation_seed}
    # each artifact's stamp names the seed its own numbers used (none when it draws no random numbers)
    stamp = Stamp(data_sha256=data_hash([i["sha256"] for i in inputs]), commit=git_commit())

    t = time.perf_counter()
    say(f"stage 5/{steps}: tables and figures")
    jobs = [("table", spec, out_root / "tables", stamp_for(stamp, spec.reads, seeds)) for spec in registry.TABLES]
    jobs += [("figure", spec, out_root / "figures", stamp_for(stamp, spec.reads, seeds))
             for spec in registry.FIGURES]
    render_all(jobs, bundle, say=say)
    say(f"stage 5-6/{steps}: {len(registry.TABLES)} tables and {len(registry.FIGURES)} figures in "
        f"{time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    say(f"stage 7/{steps}: named values")
    values = named_values(bundle)
    write_csv(values, out_root / "values.csv")
    say(f"stage 7/{steps}: {len(values)} named values in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    say(f"stage 8/{steps}: report")
    build_report(values, out_root, out_root / "report")
    say(f"stage 8/{steps}: report (zh, en; HTML, DOCX) in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    say(f"stage 9/{steps}: manifest")
    manifest = build_manifest(out_root, inputs=inputs, commit=stamp.commit,
                              seeds=seeds, plan_path=plan_file, provenance=values)
    manifest["replicates"] = replicate_counts(plan)
    manifest["reps_override"] = reps
    write_manifest(manifest, out_root / "manifest.json")
    say(f"stage 9/{steps}: manifest of {len(manifest['artifacts'])} artifacts in {time.perf_counter() - t:.1f} s")
    return manifest


def respondent_weighting(responses, workorders, *, plan, instrument, say: Progress | None = None):
    """Stage 3: representativeness of the responses against the work-order population.

    Returns ``(rep, weights, calibration)``: the tidy frames of
    :func:`research.representativeness.run.analyse_representativeness` (``weights/``), the
    respondents' weights in ``responses`` order (work orders represented per response), and the
    raking margins for design-based standard errors. ``workorders`` None: ``({}, None, None)``."""
    if workorders is None:
        return {}, None, None
    from research.representativeness.run import analyse_representativeness, calibration_of, respondent_frame

    rep = analyse_representativeness(responses, workorders, plan=plan, instrument=instrument, progress=say)
    weights = rep["respondent_weights"]["weight"].to_numpy()
    return rep, weights, calibration_of(respondent_frame(responses, plan.weighting), weights, plan.weighting)


def lever_results(responses, *, plan, instrument, weights=None, calibration=None,
                  say: Progress | None = None) -> dict:
    """Levers (``levers``: improvement scenarios with bootstrap intervals, E-values, mediation) and
    ``associations`` (resolution and repeat calls: post-treatment, never levers), weighted to the
    work-order population when ``weights`` are given (``strategy/levers.csv``, ``associations.csv``)."""
    from research.artifacts.labels import with_lever_names
    from research.strategy.causal import associations
    from research.strategy.scenarios import run_levers

    levers = run_levers(responses, plan=plan, instrument=instrument, weights=weights, calibration=calibration,
                        progress=say)
    return {"levers": with_lever_names(levers, plan),
            "associations": associations(responses, plan=plan, instrument=instrument, weights=weights,
                                         calibration=calibration)}


def driver_results(responses, *, plan, weights=None, say: Progress | None = None) -> dict:
    """Key drivers of the plan's ``drivers`` section: ``importance`` and ``ipa``
    (``strategy/drivers_*.csv``), weighted when ``weights`` are given."""
    from research.strategy.drivers import key_drivers

    ds = plan.drivers
    data = responses if weights is None else responses.assign(_weight=weights)
    drivers = key_drivers(data, outcome=ds.outcome, weights=None if weights is None else "_weight",
                          bootstrap_reps=ds.bootstrap_reps, seed=ds.bootstrap_seed, cluster=ds.bootstrap_cluster,
                          conf_level=plan.conf_level, permutation_reps=ds.permutation_reps,
                          permutation_seed=ds.permutation_seed, progress=say)
    return {"importance": drivers["importance"], "ipa": drivers["ipa"]}


def strategy_stage(ing, out_root: Path, *, plan, instrument, say: Progress, steps: int) -> dict:
    """Stages 3 and 4: representativeness (with a work-order export), levers, associations, key
    drivers, the p-chart, the station funnel, recurrence and repeat callers.

    Reads only the ingest result ``ing`` (never the fit), writes ``weights/`` and ``strategy/``
    under ``out_root``, and returns the bundle entries it made, in the order they are added to
    the bundle (representativeness first, then ``levers`` ... ``repeat_callers``)."""
    from research.strategy.monitoring import p_chart, recurrence, repeat_callers
    from research.strategy.stations import funnel

    t = time.perf_counter()
    say(f"stage 3/{steps}: representativeness")
    part, weights, calibration = respondent_weighting(ing.responses, ing.workorders, plan=plan,
                                                      instrument=instrument, say=say)
    part = dict(part)
    if ing.workorders is not None:
        from research.representativeness.run import write_representativeness

        write_representativeness(part, out_root / "weights")
        say(f"stage 3/{steps}: representativeness done in {time.perf_counter() - t:.1f} s")
    else:
        say(f"stage 3/{steps}: no work-order export: response rates and weights skipped")

    t = time.perf_counter()
    say(f"stage 4/{steps}: levers and key drivers")
    strategy = out_root / "strategy"
    strategy.mkdir(exist_ok=True)
    part.update(lever_results(ing.responses, plan=plan, instrument=instrument, weights=weights,
                              calibration=calibration, say=say))
    for key in ("levers", "associations"):
        write_csv(part[key], strategy / f"{key}.csv")
    drivers = driver_results(ing.responses, plan=plan, weights=weights, say=say)
    for key in ("importance", "ipa"):
        write_csv(drivers[key], strategy / f"drivers_{key}.csv")
    part["drivers_importance"], part["drivers_ipa"] = drivers["importance"], drivers["ipa"]
    part["p_chart"] = p_chart(ing.responses)
    write_csv(part["p_chart"], strategy / "p_chart.csv")
    # persistent gaps between stations, risk-adjusted (the p-chart looks for sudden change)
    part["station_funnel"] = funnel(ing.responses, instrument=instrument)  # "funnel" is the survey funnel (F08)
    write_csv(part["station_funnel"], strategy / "station_funnel.csv")
    if ing.workorders is not None:
        rec = recurrence(ing.workorders)
        part["recurrence"] = rec[rec["flagged"]].reset_index(drop=True)
        part["recurrence_tested"] = int(len(rec))
        write_csv(part["recurrence"], strategy / "recurrence_flags.csv")
        part["repeat_callers"] = repeat_callers(ing.workorders, ing.responses)
        # customer pseudonyms depend on the local key: recorded in the manifest, not compared
        write_csv(part["repeat_callers"], strategy / "repeat_callers.csv")
    say(f"stage 4/{steps}: {len(part['levers'])} levers and {len(drivers['importance'])} drivers in "
        f"{time.perf_counter() - t:.1f} s")
    return part


class _Later:
    """A function run in this process when its result is asked for (one worker: nothing runs
    alongside, and the stages run in their written order)."""

    def __init__(self, func: Callable[[], object]):
        self.func = func

    def result(self):
        return self.func()

    def cancel(self) -> None:
        pass


class _InChild:
    """A function running in a forked child process; :meth:`result` waits for its return value.

    The child gets the parent's memory by fork (nothing is pickled on the way in; the frames it
    reads are shared copy-on-write) and sends back its return value, or the exception it raised,
    through a pipe. It drops the parent's build lock and dies with the parent
    (:func:`_worker_start`). A child that dies without answering (killed, out of memory) is
    reported as such, never waited for forever. Written by hand rather than with
    ``concurrent.futures``: a pool cannot be told to kill its running worker when the parent's
    own stage fails, and ``multiprocessing.Pool`` waits forever for a worker that died."""

    def __init__(self, func: Callable[[], object], what: str):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.what = what
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child_main, args=(func, send), daemon=True)
        self._proc.start()
        send.close()

    def result(self):
        try:
            status, value = self._recv.recv()
        except EOFError:
            self._proc.join()
            raise RuntimeError(f"the process computing {self.what} ended without a result "
                               f"(exit code {self._proc.exitcode}; out of memory?)") from None
        finally:
            self._recv.close()
        self._proc.join()
        if status == "error":
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child (the parent's stage failed: its result is not wanted)."""
        self._proc.kill()
        self._proc.join()
        self._recv.close()


def _child_main(func: Callable[[], object], send) -> None:
    _worker_start()
    try:
        with one_blas_thread():
            out = ("ok", func())
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        out = ("error", exc)
    try:
        send.send(out)
    except Exception as exc:  # an exception that does not pickle: its type and message go back
        send.send(("error", RuntimeError(f"{type(out[1]).__name__}: {out[1]}") if out[0] == "error"
                   else RuntimeError(f"the result could not be sent back ({exc})")))
    send.close()


def start_strategy(ing, out_root: Path, *, plan, instrument, say: Progress, steps: int):
    """Start :func:`strategy_stage` alongside the fit: in a forked child when there are two or
    more workers (:func:`render_workers`), else in this process when its result is asked for. Returns an object whose
    ``result()`` is the stage's bundle entries (raising the stage's own error)."""
    import multiprocessing

    def run() -> dict:
        return strategy_stage(ing, out_root, plan=plan, instrument=instrument, say=say, steps=steps)

    if render_workers() == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return _Later(run)
    return _InChild(run, "representativeness, levers and drivers")


#: the bundle the forked rendering workers read (set just before the pool forks; copy-on-write)
_RENDER_BUNDLE: dict | None = None


def render_workers() -> int:
    """Worker processes for tables and figures: ``RESEARCH_WORKERS`` if set (1: in this process),
    else the usable cores, at most 4. Every artifact is drawn independently and deterministically,
    so the files are the same for any number of workers."""
    import os

    text = os.environ.get("RESEARCH_WORKERS", "").strip()
    if text:
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 64:
            raise InputError(f"RESEARCH_WORKERS={text[:20]!r}: a whole number from 1 to 64 is expected")
        return int(text)
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _worker_start() -> None:
    """A forked rendering worker: drop the parent's build lock and die with the parent (Linux
    PR_SET_PDEATHSIG), so a killed run leaves no worker holding or writing the folder."""
    buildstate.forget_locks_in_child()
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the lock is dropped, the worker ends with its job
        pass


def _render_one(job: tuple) -> str:
    from research.artifacts.render_figures import write_figure
    from research.artifacts.render_tables import write_table

    kind, spec, folder, stamp = job
    with one_blas_thread():
        (write_table if kind == "table" else write_figure)(spec, _RENDER_BUNDLE, folder, stamp)
    return spec.id


def render_all(jobs: list[tuple], bundle: dict, *, say: Progress) -> None:
    """Write every table and figure of ``jobs`` (``(kind, spec, folder, stamp)``), spread over
    :func:`render_workers` forked processes (matplotlib and python-docx are single-threaded;
    on the sample the two stages took about 13 and 25 s in one process). Slowest first, so the
    workers finish together. An error in any job is raised here, as in one process."""
    import multiprocessing

    global _RENDER_BUNDLE
    workers = render_workers()
    _RENDER_BUNDLE = bundle
    try:
        if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
            for job in jobs:
                _render_one(job)
            return
        # figures first: each is drawn in several languages and formats and takes longest
        ordered = sorted(jobs, key=lambda j: j[0] != "figure")
        with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_start) as pool:
            for done, _ in enumerate(pool.imap_unordered(_render_one, ordered), 1):
                if done % 10 == 0 or done == len(ordered):
                    say(f"rendered {done}/{len(ordered)} tables and figures ({workers} workers)")
    finally:
        _RENDER_BUNDLE = None


def _input_path(entry: dict) -> Path:
    """An input of a validated manifest: its relative path resolved inside the project root."""
    path = inside(paths.project_root(), entry["path"])
    if path is None:  # load_manifest already refuses this; checked again as the path is about to be read
        raise InputError(f"input {entry['role']}: the manifest's path leads outside the project")
    return path


def verify(manifest_file: Path | None = None, *, progress: Progress | None = None,
           keep: Path | None = None, plan_path: Path | None = None,
           artifact: str | None = None, reps: int | None = None) -> tuple[bool, list[tuple[str, str, str]]]:
    """Rebuild from the inputs a manifest names and compare with it.

    Parameters
    ----------
    manifest_file : default ``paper/manifest.json``. Validated before use: input and plan paths
        must be relative and inside the project.
    progress : stage messages.
    keep : rebuild into this folder instead of a temporary one.
    plan_path : the plan to rebuild with (default ``paper/analysis_plan.yaml``). The plan path the
        manifest names is never loaded; its recorded sha256 is compared with this plan's.
    artifact : report only this artifact (an id such as ``T04`` or ``F10``, or a path such as
        ``fit/estimates.csv``); inputs, plan and replicate counts are always reported.
    reps : rebuild with every replicate count set to this (as ``reproduce --reps``); default the
        plan's. A row ``replicates`` compares the counts the manifest records with the rebuild's,
        so a quick-look manifest checked against a full rebuild (or the reverse) says why it differs.

    A compared CSV whose bytes differ is compared cell by cell with its published copy,
    ``results/<path>`` beside the manifest (written by ``research publish``), within the
    tolerance the manifest states for it (:mod:`research.artifacts.compare`): text and whole
    numbers exactly, other numbers within a relative tolerance. Without a published copy the
    comparison is by sha256 only.

    Returns
    -------
    (all compared artifacts, inputs and plan match, rows of (path, status, detail)).

    Raises
    ------
    InputError
        The manifest is absent or malformed, or an input it names is absent.
    """
    manifest_file = Path(manifest_file) if manifest_file else manifest_path()
    expected = load_manifest(manifest_file)
    inputs = {i["role"]: i for i in expected["inputs"]}
    rows = []
    for role, entry in inputs.items():
        path = _input_path(entry)
        if not path.is_file():
            raise InputError(f"{manifest_file}: input {role} ({entry['path']}) not found in the project")
        got = sha256_file(path)
        rows.append((f"input:{entry['path']}", "match" if got == entry["sha256"] else "differs", role))
    from research.config.plan import plan_path as default_plan

    plan_file = Path(plan_path) if plan_path else default_plan()
    if not plan_file.is_file():
        raise InputError(f"{plan_file}: plan not found")
    rows.append((f"input:{display_path(plan_file)}",
                 "match" if sha256_file(plan_file) == expected["plan"]["sha256"] else "differs", "plan"))
    with tempfile.TemporaryDirectory(prefix="research-verify-") as tmp:
        out = Path(keep) if keep else Path(tmp)
        actual = reproduce(_input_path(inputs["survey"]),
                           _input_path(inputs["workorders"]) if "workorders" in inputs else None,
                           out, progress=progress, plan_path=plan_file, reps=reps)
        rows.append(_replicate_row(expected, actual))
        rows.append(("platform", "recorded", f"manifest built on {describe_platform(expected.get('platform'))}; "
                     f"rebuilt on {describe_platform(actual.get('platform'))}"))
        found = compare_manifests(expected, actual, plan=False)
        found = _compare_cells(found, expected, out, results_dir(manifest_file))
    if artifact:
        found = [r for r in found if _is_artifact(r[0], artifact)]
        if not found:
            raise InputError(f"--artifact {artifact[:20]!r}: no artifact of the manifest has that id or path")
    rows += found
    ok = all(status in ("match", "recorded") for _, status, _ in rows)
    return ok, rows


def _replicate_row(expected: dict, actual: dict) -> tuple[str, str, str]:
    """``("replicates", match|differs|recorded, detail)``: the replicate counts of the manifest against
    the rebuild's (a manifest written before counts were recorded gives ``recorded``)."""
    def says(m: dict) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted((m.get("replicates") or {}).items()))
        how = f"--reps {m['reps_override']}" if m.get("reps_override") is not None else "the plan's"
        return f"{how} ({counts})"

    if not isinstance(expected.get("replicates"), dict):
        return ("replicates", "recorded", f"the manifest records no replicate counts; rebuilt with {says(actual)}")
    same = expected["replicates"] == actual["replicates"]
    return ("replicates", "match" if same else "differs",
            f"manifest built with {says(expected)}" + ("" if same else f"; rebuilt with {says(actual)}"))


def results_dir(manifest_file: Path) -> Path:
    """Where the published copies of the compared CSVs live: ``results/`` beside the manifest."""
    return Path(manifest_file).parent / "results"


def _is_artifact(path: str, wanted: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path == wanted or name == wanted or name.startswith(f"{wanted}_")


def _compare_cells(rows: list[tuple[str, str, str]], expected: dict, rebuilt: Path,
                   published: Path) -> list[tuple[str, str, str]]:
    """Turn each byte-level ``differs`` of a compared CSV into a cell-by-cell verdict within its
    tolerance (when a published copy exists); differing artifacts first, largest difference first."""
    from research.artifacts.compare import compare_csv, describe, tolerance_for, TOLERANCES

    tolerance = {a["path"]: a.get("tolerance") or tolerance_for(a["path"]) for a in expected["artifacts"]}
    out, size = [], {}
    for path, status, detail in rows:
        copy = inside(published, path) if status == "differs" and path.endswith(".csv") else None
        new = inside(rebuilt, path) if copy is not None else None
        if copy is not None and new is not None and copy.is_file() and new.is_file():
            kind = tolerance[path]
            result = compare_csv(copy.read_bytes(), new.read_bytes(), rel_tol=TOLERANCES[kind][0])
            status, detail = ("match" if result.ok else "differs"), describe(result, kind)
            size[path] = max([d.rel_diff for d in result.diffs], default=result.max_rel_diff)
        out.append((path, status, detail))
    order = {"differs": 0, "missing": 0, "extra": 0}
    return sorted(out, key=lambda r: (order.get(r[1], 1), -size.get(r[0], 0.0) if r[1] == "differs" else 0, r[0]))


def publish(build: Path, *, allow_dirty: bool = False) -> list[Path]:
    """Make a build the published one: its manifest becomes ``paper/manifest.json`` and its
    compared CSVs are copied to ``paper/results/`` (what :func:`verify` compares cell by cell).

    Refuses a build whose manifest records a dirty working tree (``+dirty`` commit) unless
    ``allow_dirty``; the published manifest then says so (``"published_dirty": true``).

    Returns the files written.
    """
    from research.safeio import atomic_write_bytes

    build = Path(build)
    manifest = load_manifest(build / buildstate.MANIFEST, paths_in_project=True)
    buildstate.refuse_incomplete(build)
    if manifest.get("reps_override") is not None:
        raise InputError(f"{build / buildstate.MANIFEST}: built with --reps {manifest['reps_override']} for a "
                         "quick look; the published manifest needs the plan's replicates: rebuild without --reps")
    dirty = str(manifest.get("git_commit", "")).endswith("+dirty")
    if dirty and not allow_dirty:
        raise InputError(f"{build / buildstate.MANIFEST}: built from a working tree with uncommitted changes "
                         f"({manifest.get('git_commit')}); commit, rebuild and publish again, or pass "
                         "--allow-dirty (recorded in the manifest)")
    target = manifest_path()
    results = results_dir(target)
    if results.exists():
        shutil.rmtree(results)
    written = []
    for entry in manifest["artifacts"]:
        if entry["compare"] and entry["path"].endswith(".csv"):
            dest = results / entry["path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = inside(build, entry["path"])
            if src is None or sha256_file(src) != entry["sha256"]:
                raise InputError(f"{build}: {entry['path']} does not match the build's manifest; rebuild")
            written.append(atomic_write_bytes(dest, src.read_bytes()))
    if dirty:
        manifest = {**manifest, "published_dirty": True}
    write_manifest(manifest, target)
    written.append(target)
    return written


#: statuses verify_built reports that are not differences
BUILT_OK = ("match", "leftover")


def verify_built(folder: Path) -> tuple[bool, list[tuple[str, str, str]]]:
    """Check an existing build folder against its own ``manifest.json``, without rebuilding.

    Every artifact the manifest lists must exist with the recorded sha256 (stamped ones too:
    nothing is rebuilt), and the owned entries must hold no file the manifest does not list.

    Parameters
    ----------
    folder : an output root of ``research reproduce``.

    Returns
    -------
    (no difference, rows of (path, status, detail)); status ``match``, ``differs``, ``missing``,
    ``extra`` (in the folder, not in the manifest) or ``leftover`` (a staging folder of a run
    killed before it published anything: not part of the build, removed by the next run).

    Raises
    ------
    InputError
        The folder is absent, is being rebuilt, is marked incomplete, or its manifest is
        absent or malformed (artifact paths must stay inside the folder).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; give the output root of 'research reproduce'")

    def check_idle() -> None:
        holder = buildstate.lock_holder(folder)
        if holder is not None:
            raise InputError(f"{folder}: 'research reproduce' (pid {holder}) is building into this folder; "
                             "verify it when that run has finished")
        buildstate.refuse_incomplete(folder)

    check_idle()
    manifest_file = folder / buildstate.MANIFEST
    if not manifest_file.exists():
        raise InputError(f"{manifest_file}: no manifest: not a build folder, or its first build never finished")
    before = sha256_file(manifest_file)
    expected = load_manifest(manifest_file, paths_in_project=False)
    rows = [(f"{p.name}/", "leftover", "staging folder of an interrupted run, not part of the build; the next "
             "reproduce removes it") for p in buildstate.staging_folders(folder)]
    listed = {a["path"]: a for a in expected["artifacts"]}
    present = set(buildstate.produced_files(folder))
    for rel in sorted(set(listed) | present):
        entry = listed.get(rel)
        if entry is None:
            rows.append((rel, "extra", "in the folder, not in its manifest"))
            continue
        path = inside(folder, rel)
        if path is None:
            rows.append((rel, "differs", "leads outside the folder (symbolic link)"))
        elif not path.is_file():
            rows.append((rel, "missing", "listed in the manifest, not in the folder"))
        else:
            got = sha256_file(path)
            rows.append((rel, "match" if got == entry["sha256"] else "differs",
                         f"{entry['sha256'][:12]} vs {got[:12]}"))
    check_idle()  # a run that started meanwhile may have swapped files under us
    if sha256_file(manifest_file) != before:
        raise InputError(f"{folder}: the build changed while it was being verified; verify it again")
    ok = all(status in BUILT_OK for _, status, _ in rows)
    return ok, rows
