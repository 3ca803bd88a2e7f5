"""What the notebooks show: read from a current build folder, recomputed only on request.

The notebooks (``notebooks/NN_*.py``) hold no analysis code: each calls :func:`load` once and
displays what it returns. A build folder written by ``research reproduce`` already holds every
result the notebooks show, so reading it takes a second where recomputing takes a minute.

Which build, and when it is current
-----------------------------------
The folder is ``RESEARCH_BUILD`` when that environment variable is set, else ``build/``
(:func:`research.paths.build_dir`). :func:`build_status` calls it **current** when

- its ``manifest.json`` exists and it carries no ``.incomplete`` marker and no run is building
  into it (:mod:`research.pipeline.buildstate`), and every file its manifest lists is there with the
  recorded sha256 and no other file is (:func:`research.pipeline.reproduce.verify_built`);
- the manifest's inputs are the committed sample exports as they are now: a ``survey`` and a
  ``workorders`` entry whose sha256 equal those of ``data/raw/survey_sample.csv`` and
  ``data/raw/workorders_sample.csv``;
- its plan sha256 equals the current plan's (``paper/analysis_plan.yaml``) and its instrument
  sha256s those of ``surveys/*.yaml`` and ``surveys/*.txt``.

A folder that is absent, has no manifest, is marked incomplete, is being rebuilt, lacks a
listed file, or whose manifest cannot be read is not **usable**: :func:`load` then recomputes.
A usable folder that is not current (other inputs, another plan, a file changed after the
build) is still shown, with one line saying why it is not current, unless a recompute is asked for.

Environment
-----------
RESEARCH_BUILD : the build folder to read (default ``build/``).
RESEARCH_NOTEBOOK_RECOMPUTE : ``1`` recomputes as ``load(recompute=True)`` does (for running
    the notebooks from the command line).
RESEARCH_NOTEBOOK_BOOT_REPS : replicates of the threshold bootstrap when recomputing (default:
    the plan's own number).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from research import paths
from research.errors import InputError
from research.ingestion.run import IngestResult
from research.config.instrument import Instrument
from research.config.plan import Plan

BUILD_ENV = "RESEARCH_BUILD"
RECOMPUTE_ENV = "RESEARCH_NOTEBOOK_RECOMPUTE"
REPS_ENV = "RESEARCH_NOTEBOOK_BOOT_REPS"
#: the result folders of a build read into :attr:`NotebookData.results`, by file stem
RESULT_FOLDERS = ("fit", "strategy", "weights")


@dataclass(frozen=True)
class BuildStatus:
    """What :func:`build_status` found.

    folder : the build folder looked at.
    usable : it can be read (manifest present and readable, not marked incomplete, not being
        rebuilt, no listed file missing).
    current : usable, intact, and built from the sample exports, plan and instrument as they are now.
    reason : why it is not current (empty when it is).
    manifest : the manifest (None when it could not be read).
    """

    folder: Path
    usable: bool
    current: bool
    reason: str = ""
    manifest: dict | None = None


def build_folder() -> Path:
    """The build folder the notebooks read: ``RESEARCH_BUILD`` when set, else ``build/``."""
    env = os.environ.get(BUILD_ENV, "").strip()
    return Path(env).expanduser() if env else paths.build_dir()


def _shown(path: Path) -> str:
    """A path as a message names it: relative to the project when inside it."""
    from research.artifacts.manifest import display_path

    return display_path(path)


def build_status(folder: Path | None = None, *, plan_path: Path | None = None) -> BuildStatus:
    """Whether a build folder can be read and whether it is current (see the module docstring).

    Parameters
    ----------
    folder : the build folder (default :func:`build_folder`).
    plan_path : the plan the build must have used (default ``paper/analysis_plan.yaml``).

    Returns
    -------
    :class:`BuildStatus`; never raises for a bad folder (the reason says what is wrong).
    """
    from research.artifacts.manifest import load_manifest, sha256_file
    from research.pipeline.buildstate import MANIFEST
    from research.config.plan import plan_path as default_plan
    from research.pipeline.reproduce import BUILT_OK, verify_built

    folder = Path(folder) if folder is not None else build_folder()
    if not (folder / MANIFEST).is_file():
        why = "no build there" if not folder.exists() else f"no {MANIFEST}: its first build never finished"
        return BuildStatus(folder, False, False, f"{why}; 'research reproduce' writes one")
    try:
        intact, rows = verify_built(folder)
        manifest = load_manifest(folder / MANIFEST, paths_in_project=False)
    except InputError as exc:
        return BuildStatus(folder, False, False, str(exc))
    missing = [path for path, status, _ in rows if status == "missing"]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return BuildStatus(folder, False, False, f"{missing[0]}{more} missing", manifest)
    if not intact:
        changed = [f"{path} ({status})" for path, status, _ in rows if status not in BUILT_OK]
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        return BuildStatus(folder, True, False, f"{changed[0]}{more} no longer as its manifest records",
                           manifest)
    built = {entry["role"]: entry["sha256"] for entry in manifest["inputs"]}
    for role, export in (("survey", paths.sample_survey()), ("workorders", paths.sample_workorders())):
        if role not in built:
            return BuildStatus(folder, True, False, f"built without a {role} export", manifest)
        if built[role] != sha256_file(export):
            return BuildStatus(folder, True, False, f"built from another {role} export than "
                               f"{_shown(export)} as it is now", manifest)
    plan_file = Path(plan_path) if plan_path is not None else default_plan()
    if manifest["plan"]["sha256"] != sha256_file(plan_file):
        return BuildStatus(folder, True, False, f"built with another plan than {_shown(plan_file)} "
                           "as it is now", manifest)
    instrument = {p.name: sha256_file(p) for p in paths.instrument_files()}
    changed = sorted(n for n in set(instrument) | set(manifest["instrument"])
                     if instrument.get(n) != manifest["instrument"].get(n))
    if changed:
        return BuildStatus(folder, True, False, f"built with another instrument file {changed[0]}", manifest)
    return BuildStatus(folder, True, True, "", manifest)


@dataclass
class NotebookData:
    """What :func:`load` returns; every frame a notebook displays comes from here.

    source : ``"build"`` (read from ``status.folder``) or ``"recomputed"`` (from the raw exports).
    message : the one line a notebook prints first: which source, and why.
    status : the build folder's :class:`BuildStatus`.
    plan : the analysis plan (when recomputed, with the threshold replicates used).
    threshold_reps : replicates of the threshold bootstrap behind ``results["thresholds"]``: the
        build's (its manifest's ``replicates``, else the plan's), or those of the recompute.
    instrument : the instrument (``surveys/``).
    ingest : responses, work orders, rejected rows and the ingest report, as ingest returns them
        (read from the build's ``ingest/`` folder: ``rejected`` then holds text as written).
    results : result tables by name: from a build every CSV of ``fit/``, ``strategy/`` and
        ``weights/`` (``results["thresholds"]`` is ``fit/thresholds.csv``); when recomputed, the
        tables of :func:`research.models.run.fit_plan` (empty when models were not asked for).
    values : the named values the report quotes (``values.csv``; None when recomputed without models).
    bundle : ingest results, ``results``, plan and instrument in one dict
        (:func:`research.artifacts.bundle.make_bundle`), for the registry's builders.
    """

    source: str
    message: str
    status: BuildStatus
    plan: Plan
    threshold_reps: int | None
    instrument: Instrument
    ingest: IngestResult
    results: dict[str, pd.DataFrame] = field(default_factory=dict)
    values: pd.DataFrame | None = None
    bundle: dict = field(default_factory=dict)

    def _build_file(self, folder: str, name: str) -> Path:
        return self.status.folder / folder / name

    def table(self, artifact_id: str) -> pd.DataFrame:
        """The data of a registered table (``T01``...): the build's ``tables/<name>.csv``, or
        built by the registry from :attr:`bundle` when recomputed."""
        from research.artifacts import registry

        spec = registry.get(artifact_id)
        if self.source == "build":
            return pd.read_csv(self._build_file("tables", f"{spec.name}.csv"))
        return spec.build_function()(self.bundle)

    def figure_data(self, artifact_id: str) -> pd.DataFrame:
        """The data a registered figure (``F01``...) plots: the build's ``figures/<name>.csv``, or
        built by the registry when recomputed."""
        from research.artifacts import registry

        spec = registry.get(artifact_id)
        if self.source == "build":
            return pd.read_csv(self._build_file("figures", f"{spec.name}.csv"))
        return spec.build_function()(self.bundle)

    def figure(self, artifact_id: str, lang: str = "zh"):
        """A registered figure (``F01``...) in ``lang`` (``"zh"`` or ``"en"``), as an
        ``IPython.display.Image`` (PNG): the one the build drew, or, when recomputed, drawn by the
        registry's drawer in the package's theme and titled with its id and title."""
        from IPython.display import Image

        from research.artifacts import registry

        spec = registry.get(artifact_id)
        if lang not in ("zh", "en"):
            raise ValueError(f"lang must be 'zh' or 'en', got {lang!r}")
        if self.source == "build":
            return Image(filename=str(self._build_file("figures", f"{spec.name}.{lang}.png")))
        import io

        import matplotlib as mpl

        from research.artifacts.render_figures import PNG_METADATA
        from research.artifacts.theme import PNG_DPI, apply_theme

        with mpl.rc_context():  # as research.artifacts.render_figures.write_figure
            apply_theme()
            fig = spec.draw_function()(spec.build_function()(self.bundle), lang, self.bundle)
            fig.suptitle(f"{spec.id} {spec.title(lang)}")
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=PNG_DPI, metadata=PNG_METADATA)
            fig.clear()
        return Image(data=png.getvalue(), format="png")


def recompute_requested() -> bool:
    """Whether ``RESEARCH_NOTEBOOK_RECOMPUTE`` asks for a recompute (``1``, ``true`` or ``yes``)."""
    return os.environ.get(RECOMPUTE_ENV, "").strip().lower() in ("1", "true", "yes")


def boot_reps(plan: Plan) -> int | None:
    """Threshold bootstrap replicates for a recompute: ``RESEARCH_NOTEBOOK_BOOT_REPS``, else the
    plan's (None when the plan has no threshold section)."""
    text = os.environ.get(REPS_ENV, "").strip()
    if text:
        try:
            reps = int(text)
        except ValueError:
            reps = 0
        if reps < 1:
            raise InputError(f"environment variable {REPS_ENV}: expected a whole number >= 1, got {text[:40]!r}")
        return reps
    return plan.thresholds.bootstrap_reps if plan.thresholds else None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:  # a result table written with no column at all
        return pd.DataFrame()


def _read_build(status: BuildStatus, plan: Plan, instrument: Instrument, message: str) -> NotebookData:
    from research.artifacts.bundle import make_bundle
    from research.ingestion.readers import read_ingested

    folder = status.folder
    ing = folder / "ingest"
    workorders = ing / "workorders.parquet"
    rejected = pd.read_csv(ing / "rejected.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    rejected["source_row"] = rejected["source_row"].astype("int64")
    ingest = IngestResult(
        responses=read_ingested(ing / "responses.parquet", "responses"),
        workorders=read_ingested(workorders, "work orders") if workorders.exists() else None,
        rejected=rejected,
        report=json.loads((ing / "ingest_report.json").read_text(encoding="utf-8")))
    results = {p.stem: _read_csv(p) for name in RESULT_FOLDERS if (folder / name).is_dir()
               for p in sorted((folder / name).glob("*.csv"))}
    values = pd.read_csv(folder / "values.csv")
    recorded = (status.manifest or {}).get("replicates")  # counts used, when the manifest records them
    reps = recorded.get("threshold_bootstrap") if isinstance(recorded, dict) else None
    if reps is None:
        reps = plan.thresholds.bootstrap_reps if plan.thresholds else None
    return NotebookData("build", message, status, plan, reps, instrument, ingest, results, values,
                        make_bundle(ingest, results, plan=plan, instrument=instrument))


def _recompute(status: BuildStatus, plan: Plan, instrument: Instrument, message: str,
               models: bool) -> NotebookData:
    from research import api
    from research.artifacts.bundle import make_bundle

    ing = api.ingest(paths.sample_survey(), paths.sample_workorders(), instrument=instrument)
    results, values = {}, None
    if models:
        from research.artifacts.values import named_values

        results = api.fit(ing.responses, plan=plan, instrument=instrument)  # one BLAS thread, as reproduce
    bundle = make_bundle(ing, results, plan=plan, instrument=instrument)
    if models:
        values = named_values(bundle)
    reps = plan.thresholds.bootstrap_reps if plan.thresholds else None
    return NotebookData("recomputed", message, status, plan, reps if models else None, instrument, ing,
                        results, values, bundle)


def load(*, recompute: bool = False, models: bool = True, folder: Path | None = None) -> NotebookData:
    """The results a notebook displays: from the build folder, or recomputed from the sample.

    Parameters
    ----------
    recompute : recompute from the raw exports even when the build folder is usable
        (``RESEARCH_NOTEBOOK_RECOMPUTE=1`` does the same).
    models : when recomputing, also fit the plan's models (and compute the named values);
        False for a notebook that shows only ingest, descriptive tables and figures.
    folder : the build folder (default :func:`build_folder`: ``RESEARCH_BUILD`` or ``build/``).

    Returns
    -------
    :class:`NotebookData`. Read from the folder when it is usable (see :func:`build_status`) and no
    recompute is asked for; otherwise recomputed: ingest of ``data/raw/`` and, with ``models``,
    :func:`research.models.run.fit_plan` with ``RESEARCH_NOTEBOOK_BOOT_REPS`` threshold bootstrap
    replicates (default the plan's). ``message`` says which, and why, in one line.

    Raises
    ------
    InputError
        A bad ``RESEARCH_NOTEBOOK_BOOT_REPS``, or bad raw exports when recomputing.
    """
    from research.config.instrument import load_instrument
    from research.config.plan import load_plan

    status = build_status(folder)
    plan, instrument = load_plan(), load_instrument()
    shown = _shown(status.folder) + "/"
    if status.usable and not (recompute or recompute_requested()):
        quick = (status.manifest or {}).get("reps_override")
        quick = f", built with --reps {quick}" if quick is not None else ""
        if status.current:
            message = (f"reading {shown} (current: built from the sample exports, plan and instrument "
                       f"as they are now, at commit {status.manifest.get('git_commit', '?')}{quick})")
        else:
            message = (f"reading {shown} although it is NOT current ({status.reason}{quick}); "
                       "set RECOMPUTE = True to recompute, or run 'research reproduce'")
        return _read_build(status, plan, instrument, message)
    what = "ingest"
    if models:
        reps = boot_reps(plan)
        if reps is not None and plan.thresholds is not None:
            plan = replace(plan, thresholds=replace(plan.thresholds, bootstrap_reps=reps))
        what = f"ingest and fit, {reps} threshold bootstrap replicates"
    if status.usable:
        state = "current" if status.current else f"not current: {status.reason}"
        message = f"recomputing from the raw exports ({what}) as asked ({shown} is {state})"
    else:
        message = f"recomputing from the raw exports ({what}): no usable build at {shown} ({status.reason})"
    return _recompute(status, plan, instrument, message, models)
