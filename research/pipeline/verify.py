"""Checking builds: ``research verify`` (rebuild and compare with a manifest), ``research publish``
(make a build the published one) and the check of a build folder against its own manifest.

- :func:`verify` rebuilds into a temporary folder from the inputs a manifest names and compares
  artifact by artifact, compared CSVs cell by cell within the manifest's tolerances
  (:mod:`research.artifacts.compare`);
- :func:`publish` writes ``paper/manifest.json`` and ``paper/results/``;
- :func:`verify_built` checks an existing build folder without rebuilding.

Manifests are validated before use (:func:`research.artifacts.manifest.load_manifest`), and the
plan is the one given (or the committed one), never a path read from the manifest.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from research import paths
from research.artifacts.manifest import (compare_manifests, describe_platform, display_path, inside,
                                         load_manifest, sha256_file, write_manifest)
from research.errors import InputError
from research.pipeline import buildstate

Progress = Callable[[str], None]


def manifest_path() -> Path:
    """The committed manifest of the sample: ``paper/manifest.json``."""
    return paths.project_root() / "paper" / "manifest.json"

def _input_path(entry: dict) -> Path:
    """An input of a validated manifest: its relative path resolved inside the project root."""
    path = inside(paths.project_root(), entry["path"])
    if path is None:  # load_manifest already refuses this; checked again as the path is about to be read
        raise InputError(f"input {entry['role']}: the manifest's path leads outside the project")
    return path


def verify(manifest_file: Path | None = None, *, progress: Progress | None = None,
           keep: Path | None = None, plan_path: Path | None = None,
           artifact: str | None = None, reps: int | None = None,
           engine: str | None = None) -> tuple[bool, list[tuple[str, str, str]]]:
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
    engine : rebuild with this engine (``auto``, ``pandas``, ``duckdb``, ``spark``); default the
        manifest's (``engine.name``; pandas for a manifest that names none). A row ``engine`` says
        which engine built the manifest and which rebuilt it (``recorded`` when they differ: the
        numbers are then compared within the tolerances like any others).

    A manifest of a build from a dataset (``reproduce --dataset``) is rebuilt from that dataset
    (its ``dataset.path``, inside the project); each ledger file it records is compared with the
    dataset's ledger now (rows ``input:<dataset>/<file>``).

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
    dataset = _dataset_dir(expected, manifest_file)
    rows = _dataset_rows(expected, dataset) if dataset is not None else _export_rows(inputs, manifest_file)
    from research.config.plan import plan_path as default_plan

    plan_file = Path(plan_path) if plan_path else default_plan()
    if not plan_file.is_file():
        raise InputError(f"{plan_file}: plan not found")
    rows.append((f"input:{display_path(plan_file)}",
                 "match" if sha256_file(plan_file) == expected["plan"]["sha256"] else "differs", "plan"))
    from research.pipeline.reproduce import reproduce

    with tempfile.TemporaryDirectory(prefix="research-verify-") as tmp:
        out = Path(keep) if keep else Path(tmp)
        exports = (None, None) if dataset is not None else (
            _input_path(inputs["survey"]), _input_path(inputs["workorders"]) if "workorders" in inputs else None)
        actual = reproduce(*exports, out, progress=progress, plan_path=plan_file, reps=reps, dataset=dataset,
                           engine=engine or engine_of(expected))
        rows.append(_replicate_row(expected, actual))
        rows.append(_engine_row(expected, actual))
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


def _export_rows(inputs: dict, manifest_file: Path) -> list[tuple[str, str, str]]:
    """One row per export the manifest names: ``match`` when its sha256 is the recorded one.
    InputError when an export is absent."""
    rows = []
    for role, entry in inputs.items():
        path = _input_path(entry)
        if not path.is_file():
            raise InputError(f"{manifest_file}: input {role} ({entry['path']}) not found in the project")
        got = sha256_file(path)
        rows.append((f"input:{entry['path']}", "match" if got == entry["sha256"] else "differs", role))
    return rows


def engine_of(manifest: dict) -> str:
    """The engine a manifest's fit used: ``engine.name``, pandas for a manifest naming none (every
    build before engines were recorded used the row path)."""
    return (manifest.get("engine") or {}).get("name", "pandas")


def _engine_row(expected: dict, actual: dict) -> tuple[str, str, str]:
    """``("engine", match|recorded, detail)``: the engine of the manifest against the rebuild's."""
    was, now = engine_of(expected), engine_of(actual)
    said = "" if expected.get("engine") else " (not recorded: the row path)"
    if was == now:
        return ("engine", "match", f"manifest and rebuild by the {was} engine{said}")
    return ("engine", "recorded", f"manifest built by the {was} engine{said}; rebuilt by {now}: its numbers are "
            "compared within the manifest's tolerances")


def _dataset_dir(expected: dict, manifest_file: Path) -> Path | None:
    """The dataset folder of a manifest built from one (inside the project), else None."""
    if "dataset" not in expected:
        return None
    path = inside(paths.project_root(), expected["dataset"]["path"])
    if path is None or not path.is_dir():
        raise InputError(f"{manifest_file}: dataset {expected['dataset']['path']} not found in the project")
    return path


def _dataset_rows(expected: dict, dataset: Path) -> list[tuple[str, str, str]]:
    """One row per ledger file the manifest records: ``match`` when the dataset's ledger holds it with
    the same sha256 in the same entry; ``differs`` for a file changed, gone, or added since."""
    from research.pipeline.dataset_input import dataset_inputs

    now = {(i["entry"], i["role"]): i for i in dataset_inputs(dataset)[0]}
    rows = []
    for entry in expected["inputs"]:
        got = now.pop((entry["entry"], entry["role"]), None)
        status = "match" if got is not None and got["sha256"] == entry["sha256"] else "differs"
        rows.append((f"input:{expected['dataset']['path']}/{entry['file']}", status,
                     f"{entry['role']}, ledger entry {entry['entry']}" + ("" if got else ": not in the dataset now")))
    rows += [(f"input:{expected['dataset']['path']}/{i['file']}", "differs",
              f"{i['role']}, ledger entry {i['entry']}: in the dataset, not in the manifest") for i in now.values()]
    return rows


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
