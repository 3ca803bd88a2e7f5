"""The manifest: sha256 of every input and artifact, versions, seeds, commit, plan, provenance.

``research reproduce`` writes ``manifest.json`` at the root of its output
folder; the manifest of the committed sample is committed as
``paper/manifest.json``. ``research verify`` rebuilds from the inputs the
manifest names into a temporary folder and compares artifact by artifact;
``research verify --built DIR`` checks a folder against its own manifest.

A manifest may come from someone else, so :func:`load_manifest` checks its
whole structure before anything in it is used (see :func:`validate_manifest`):
paths must be relative, without ``..``, and stay inside the project (inputs,
plan) or the build folder (artifacts); anything else is an
:class:`~research.errors.InputError` naming the manifest and the key. The plan
a manifest names is never loaded: verify uses the plan given on the command
line (or the committed one) and only compares its sha256 with the manifest's.

What is compared byte for byte (``compare: true``): every result table
(``fit/*.csv``, ``weights/*.csv``, ``strategy/*.csv``), every table's and figure's data (``tables/*.csv``,
``figures/*.csv``), the named values (``values.csv``) and the plan used.
Recorded but not compared (``compare: false``): the ingest outputs and the
repeat-caller list (their pseudonyms depend on the local key) and the rendered tables, figures and
report (they carry the code commit in their footer stamp, so they change with
every commit even when every number is the same; figures are checked through
the data they plot).
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from importlib import metadata
from pathlib import Path

import pandas as pd

from research import paths
from research.errors import InputError
from research.safeio import atomic_write_text

PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "pingouin", "formulaic", "pyarrow", "matplotlib",
            "seaborn", "python-docx", "Markdown", "pylopdf-fonts-zh-cn", "chinese-calendar", "PyYAML", "openpyxl")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("research", *PACKAGES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def processor_name() -> str:
    """The processor's model name (Linux ``/proc/cpuinfo``; elsewhere ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()[:200]
    except OSError:
        pass
    return (platform.processor() or "unknown")[:200]


def platform_info() -> dict:
    """Where a build ran: machine type, processor, and each BLAS library with the kernel it chose
    (threadpoolctl: OpenBLAS names its kernel, e.g. ``Haswell``, ``Zen``, ``SandyBridge``) and
    its thread count. Informative: results differ across kernels in their last digits, which
    verify's tolerances absorb; verify shows both builds' platforms in its ``platform`` row."""
    from threadpoolctl import threadpool_info

    blas = [{k: str(lib.get(k)) for k in ("internal_api", "version", "architecture", "num_threads")
             if lib.get(k) is not None}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    # threadpoolctl lists the libraries in the order the process loaded them (numpy's and scipy's
    # OpenBLAS), which depends on what it imported first: sorted, two builds record the same list
    blas.sort(key=lambda b: sorted(b.items()))
    return {"machine": platform.machine(), "system": platform.system(), "processor": processor_name(),
            "blas": blas}


def describe_platform(info) -> str:
    """One line for a manifest's ``platform`` (or "not recorded" for an older manifest)."""
    if not isinstance(info, dict):
        return "not recorded"
    kernels = ", ".join(f"{b.get('internal_api', '?')} {b.get('version', '?')} kernel {b.get('architecture', '?')}"
                        for b in info.get("blas") or [] if isinstance(b, dict)) or "BLAS unknown"
    return f"{str(info.get('processor', '?'))[:80]} ({str(info.get('machine', '?'))[:20]}; {kernels[:160]})"


def display_path(path: Path) -> str:
    """Path relative to the project root when inside it (so manifests travel), else absolute."""
    path = Path(path).resolve()
    try:
        return path.relative_to(paths.project_root().resolve()).as_posix()
    except ValueError:
        return str(path)


#: artifacts holding customer pseudonyms, which depend on the local key: recorded, never compared
KEY_DEPENDENT = ("strategy/repeat_callers.csv", "tables/T16_repeat_callers.csv")


def compared(rel: str) -> bool:
    """Whether verify compares this artifact byte for byte (see module docstring)."""
    if rel.startswith("ingest/") or rel.startswith("report/") or rel in KEY_DEPENDENT:
        return False
    if rel.startswith(("tables/", "figures/")):
        return rel.endswith(".csv")
    return rel.endswith((".csv", ".yaml"))


def artifact_kind(rel: str) -> str:
    top = rel.split("/", 1)[0]
    return {"ingest": "ingest", "fit": "result", "weights": "result", "strategy": "result", "tables": "table", "figures": "figure",
            "report": "report"}.get(top, "values" if rel.startswith("values") else "other")


def build_manifest(out_root: Path, *, inputs: list[dict], commit: str, seeds: dict, plan_path: Path,
                   provenance: pd.DataFrame, engines: dict[str, str] | None = None) -> dict:
    """Manifest of the files under the entries a build owns in ``out_root``.

    Parameters
    ----------
    out_root : the folder the build wrote (reproduce passes its fresh staging folder).
        Only the owned entries (:data:`research.pipeline.buildstate.OWNED`: ``ingest/``, ``fit/``, ...,
        ``values.csv``) are listed, never the manifest itself nor anything else in the folder
        (``bulletin/``, a user's note, the lock file).
    inputs : ``[{"role": ..., "path": ..., "sha256": ...}]`` (from a dataset: one per ledger file,
        ``file`` instead of ``path``, :func:`research.pipeline.dataset_input.dataset_inputs`).
    commit, seeds, plan_path, provenance : recorded as they are (the plan by path and sha256).
    engines : artifact path -> the engine that computed it, for those another engine than the row
        path (pandas) computed (``reproduce --engine duckdb``: the fit's models); recorded as the
        artifact's ``engine``.

    Returns
    -------
    The manifest as a dict (see :func:`validate_manifest` for its structure).
    """
    from research.pipeline.buildstate import produced_files

    out_root = Path(out_root)
    artifacts = []
    from research.artifacts.compare import TOLERANCES, tolerance_for

    for rel in produced_files(out_root):
        entry = {"path": rel, "sha256": sha256_file(out_root / rel), "kind": artifact_kind(rel),
                 "compare": compared(rel)}
        if entry["compare"] and rel.endswith(".csv"):
            entry["tolerance"] = tolerance_for(rel)
        if (engines or {}).get(rel):
            entry["engine"] = engines[rel]
        artifacts.append(entry)
    instrument = {p.name: sha256_file(p) for p in paths.instrument_files()}
    prov = provenance.astype(object).where(provenance.notna(), None).to_dict(orient="records")
    return {
        "schema": 1,
        "git_commit": commit,
        "versions": versions(),
        "platform": platform_info(),
        "seeds": seeds,
        "plan": {"path": display_path(plan_path), "sha256": sha256_file(plan_path)},
        "instrument": instrument,
        "inputs": inputs,
        "artifacts": artifacts,
        # relative tolerances of the cell-by-cell comparison (research.artifacts.compare), with reasons
        "tolerances": {name: {"relative": tol, "reason": why} for name, (tol, why) in TOLERANCES.items()},
        "provenance": prov,
    }


def write_manifest(manifest: dict, path: Path) -> None:
    """Write ``manifest`` as sorted, indented UTF-8 JSON, atomically."""
    atomic_write_text(path, json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True, default=_json)
                      + "\n")


def _json(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def compare_manifests(expected: dict, actual: dict, *, plan: bool = True) -> list[tuple[str, str, str]]:
    """Artifact-by-artifact comparison: list of (path, status, detail).

    status: ``match``, ``differs``, ``missing`` (expected, not rebuilt), ``extra``
    (rebuilt, not expected), ``recorded`` (not compared, see module docstring).
    Plan (unless ``plan`` is False: the caller compared it) and instrument are compared too
    (status on paths ``input:...``).
    """
    rows = []
    if plan:  # the row names the plan actually used (verify never loads the manifest's plan path)
        a, b = expected["plan"], actual["plan"]
        rows.append((f"input:{b['path']}", "match" if a["sha256"] == b["sha256"] else "differs", "plan"))
    for name, digest in expected["instrument"].items():
        got = actual["instrument"].get(name)
        rows.append((f"input:surveys/{name}", "match" if got == digest else "differs", "instrument"))
    exp = {a["path"]: a for a in expected["artifacts"]}
    act = {a["path"]: a for a in actual["artifacts"]}
    for path in sorted(set(exp) | set(act)):
        e, a = exp.get(path), act.get(path)
        if e is None:
            rows.append((path, "extra" if a["compare"] else "recorded", "not in the expected manifest"))
        elif a is None:
            rows.append((path, "missing" if e["compare"] else "recorded", "not rebuilt"))
        elif not e["compare"]:
            rows.append((path, "recorded", "stamped or key-dependent: not compared"))
        else:
            rows.append((path, "match" if e["sha256"] == a["sha256"] else "differs",
                         f"{e['sha256'][:12]} vs {a['sha256'][:12]}"))
    return rows


# --- reading a manifest that may come from someone else ---------------------------------------------

#: largest manifest read (the sample's is about 70 kB): a huge file is refused before parsing
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
ROLES = ("survey", "workorders")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _bad(source: Path, key: str, problem: str) -> InputError:
    """The one message for a malformed manifest: the file, the key, the problem (never the value)."""
    return InputError(f"{source}: malformed manifest at key '{key}': {problem}")


def _expect(value, kind: type, source: Path, key: str, what: str):
    """``value`` when it is a ``kind`` (a bool is not an int), else the malformed-manifest error."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _bad(source, key, f"must be {what}, found {type(value).__name__}")
    return value


def _require(obj: dict, fields: tuple[str, ...], source: Path, key: str) -> None:
    """The malformed-manifest error for the first of ``fields`` missing from the object at ``key``."""
    for field in fields:
        if field not in obj:
            raise _bad(source, f"{key}.{field}", "missing")


def _digest(value, source: Path, key: str) -> str:
    _expect(value, str, source, key, "a sha256 (64 hex digits)")
    if not _HEX64.fullmatch(value):
        raise _bad(source, key, "must be a sha256: 64 lowercase hex digits")
    return value


def relative_path(value, source: Path, key: str, where: str) -> str:
    """A manifest path that is relative and never goes up: the text itself, else the error.

    Parameters
    ----------
    value : the path as the manifest gives it (POSIX separators).
    source : the manifest file (for the message).
    key : the key holding it, e.g. ``inputs[0].path``.
    where : what the path is relative to ("the project", "the build folder"), for the message.

    Absolute POSIX or Windows paths, drive letters, backslashes, NUL and ``..`` parts are
    refused. Whether the path resolves inside its base (symbolic links) is :func:`inside`'s job.
    """
    _expect(value, str, source, key, "a path (text)")
    problem = paths.relative_path_problem(value, where)
    if problem:
        raise _bad(source, key, problem)
    return value


def inside(base: Path, rel: str) -> Path | None:
    """``base / rel`` resolved (symbolic links followed) when it stays inside ``base``, else None."""
    root = Path(base).resolve()
    path = (root / rel).resolve()
    return path if path == root or root in path.parents else None


def validate_manifest(data, source: Path, *, paths_in_project: bool = True) -> dict:
    """Check a parsed manifest's structure; returns it unchanged, or raises :class:`InputError`.

    Parameters
    ----------
    data : the parsed JSON.
    source : the manifest file (every message names it and the key).
    paths_in_project : input and plan paths must be relative, without ``..``, and resolve inside
        the project root (``research verify`` reads the inputs; the plan path is only shown).
        ``verify --built`` reads neither, so it passes False: a build from an export or a plan
        outside the project records absolute paths there, and only their type is checked.

    Structure
    ---------
    A JSON object with ``schema`` 1; ``inputs`` a non-empty list of ``{role, path, sha256}``
    (role ``survey`` or ``workorders``, each at most once, ``survey`` present); ``plan``
    ``{path, sha256}`` (path relative inside the project); ``instrument`` ``{file name: sha256}``;
    ``artifacts`` a non-empty list of ``{path, sha256, kind, compare}`` (path relative, without
    ``..``, unique; compare true or false; an optional ``engine``). A build from a dataset
    (``reproduce --dataset``) has ``dataset`` ``{path, format, ledger_sha256}`` and its inputs are
    the ledger's files ``{role, file, sha256, entry, ...}`` (roles may repeat, one per ingest); an
    optional ``engine`` ``{name}`` names the engine of the fit (absent: pandas). Other
    keys (versions, platform, seeds, provenance) are informative and not used by verify
    (``platform`` is only shown).
    """
    _check_top(data, source)
    project = paths.project_root() if paths_in_project else None
    if "dataset" in data:
        _check_dataset(data["dataset"], data["inputs"], source, project)
    else:
        _check_inputs(data["inputs"], source, project)
    if "engine" in data:
        _check_engine(data["engine"], source)
    plan = _expect(data["plan"], dict, source, "plan", "an object {path, sha256}")
    _require(plan, ("path", "sha256"), source, "plan")
    _input_path(plan["path"], source, "plan.path", project)
    _digest(plan["sha256"], source, "plan.sha256")
    _check_instrument(data["instrument"], source)
    _check_artifacts(data["artifacts"], source)
    return data


def _check_top(data, source: Path) -> None:
    """A JSON object with every required key and ``schema`` 1, else :class:`InputError`."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: not a manifest: a JSON object is expected, found a JSON "
                         f"{'array' if isinstance(data, list) else type(data).__name__}")
    for key in ("schema", "inputs", "plan", "instrument", "artifacts"):
        if key not in data:
            raise _bad(source, key, "missing")
    if _expect(data["schema"], int, source, "schema", "the number 1") != 1:
        raise _bad(source, "schema", "only schema 1 is understood")


def _input_path(value, source: Path, key: str, project: Path | None) -> None:
    """The path of an input or of the plan at ``key``: with ``project`` (``paths_in_project``),
    relative, without ``..``, and resolving inside the project; without it, only text."""
    if project is not None:
        rel = relative_path(value, source, key, "the project")
        if inside(project, rel) is None:
            raise _bad(source, key, "leads outside the project (through a symbolic link)")
    else:
        _expect(value, str, source, key, "a path (text)")


def _check_inputs(entries, source: Path, project: Path | None) -> None:
    """``inputs``: a list of ``{role, path, sha256}``, each role of :data:`ROLES` at most once and
    ``survey`` present; paths checked by :func:`_input_path`."""
    roles: set[str] = set()
    for i, entry in enumerate(_expect(entries, list, source, "inputs", "a list")):
        key = f"inputs[{i}]"
        _expect(entry, dict, source, key, "an object {role, path, sha256}")
        _require(entry, ("role", "path", "sha256"), source, key)
        role = _expect(entry["role"], str, source, f"{key}.role", "text")
        if role not in ROLES:
            raise _bad(source, f"{key}.role", f"must be one of {', '.join(ROLES)}")
        if role in roles:
            raise _bad(source, f"{key}.role", "the same role is given twice")
        roles.add(role)
        _input_path(entry["path"], source, f"{key}.path", project)
        _digest(entry["sha256"], source, f"{key}.sha256")
    if "survey" not in roles:
        raise _bad(source, "inputs", "no input with role survey")


def _check_dataset(dataset, entries, source: Path, project: Path | None) -> None:
    """``dataset`` ``{path, format, ledger_sha256}`` (path as an input's) and ``inputs`` a non-empty
    list of ledger files ``{role, file, sha256, entry}``, a ``survey`` among them."""
    dataset = _expect(dataset, dict, source, "dataset", "an object {path, format, ledger_sha256}")
    _require(dataset, ("path", "format", "ledger_sha256"), source, "dataset")
    _input_path(dataset["path"], source, "dataset.path", project)
    _expect(dataset["format"], int, source, "dataset.format", "a whole number")
    _digest(dataset["ledger_sha256"], source, "dataset.ledger_sha256")
    if not _expect(entries, list, source, "inputs", "a list"):
        raise _bad(source, "inputs", "empty: a dataset build has the ledger's files as inputs")
    for i, entry in enumerate(entries):
        key = f"inputs[{i}]"
        _expect(entry, dict, source, key, "an object {role, file, sha256, entry}")
        _require(entry, ("role", "file", "sha256", "entry"), source, key)
        if _expect(entry["role"], str, source, f"{key}.role", "text") not in ROLES:
            raise _bad(source, f"{key}.role", f"must be one of {', '.join(ROLES)}")
        _expect(entry["file"], str, source, f"{key}.file", "a file name (text)")
        _expect(entry["entry"], str, source, f"{key}.entry", "a ledger entry id (text)")
        _digest(entry["sha256"], source, f"{key}.sha256")
    if not any(e["role"] == "survey" for e in entries):
        raise _bad(source, "inputs", "no input with role survey")


def _check_engine(engine, source: Path) -> None:
    """``engine``: ``{name}``, one of research.engines.ENGINES."""
    from research.engines import ENGINES

    engine = _expect(engine, dict, source, "engine", "an object {name}")
    if _expect(engine.get("name"), str, source, "engine.name", "text") not in ENGINES:
        raise _bad(source, "engine.name", f"must be one of {', '.join(ENGINES)}")


def _check_instrument(instrument, source: Path) -> None:
    """``instrument``: an object {plain file name: sha256}; a key is named by its position (a
    hostile key could be any text)."""
    instrument = _expect(instrument, dict, source, "instrument", "an object {file name: sha256}")
    for i, (name, digest) in enumerate(instrument.items()):
        if "/" in name or "\\" in name or "\x00" in name or name in ("", ".", ".."):
            raise _bad(source, f"instrument (entry {i + 1})", "keys must be plain file names")
        _digest(digest, source, f"instrument (entry {i + 1})")


def _check_artifacts(artifacts, source: Path) -> None:
    """``artifacts``: a non-empty list of ``{path, sha256, kind, compare}`` (path relative to the
    build folder, without ``..``, unique; compare true or false; an optional ``tolerance`` one of
    research.artifacts.compare.TOLERANCES)."""
    artifacts = _expect(artifacts, list, source, "artifacts", "a list")
    if not artifacts:
        raise _bad(source, "artifacts", "empty: a build always has artifacts")
    seen: set[str] = set()
    for i, entry in enumerate(artifacts):
        key = f"artifacts[{i}]"
        _expect(entry, dict, source, key, "an object {path, sha256, kind, compare}")
        _require(entry, ("path", "sha256", "kind", "compare"), source, key)
        path = relative_path(entry["path"], source, f"{key}.path", "the build folder")
        if path in seen:
            raise _bad(source, f"{key}.path", "the same artifact is listed twice")
        seen.add(path)
        _digest(entry["sha256"], source, f"{key}.sha256")
        _expect(entry["kind"], str, source, f"{key}.kind", "text")
        _expect(entry["compare"], bool, source, f"{key}.compare", "true or false")
        if "engine" in entry:
            _expect(entry["engine"], str, source, f"{key}.engine", "text")
        if "tolerance" in entry:
            from research.artifacts.compare import TOLERANCES

            if _expect(entry["tolerance"], str, source, f"{key}.tolerance", "text") not in TOLERANCES:
                raise _bad(source, f"{key}.tolerance", f"must be one of {', '.join(TOLERANCES)}")


def load_manifest(path: Path, *, paths_in_project: bool = True) -> dict:
    """Read and validate a manifest file (see :func:`validate_manifest`).

    Raises
    ------
    InputError
        The file is absent, unreadable, larger than :data:`MAX_MANIFEST_BYTES`, not UTF-8 JSON,
        nested too deeply to parse, or malformed; the message names the file (and the key).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: manifest not found; run 'research reproduce' first")
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise InputError(f"{path}: {size:,} bytes, too large for a manifest (at most "
                             f"{MAX_MANIFEST_BYTES:,})")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc.strerror})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); not a manifest") from None
    except json.JSONDecodeError as exc:  # its message gives line and column, never the text
        raise InputError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply; not a manifest") from None
    return validate_manifest(data, path, paths_in_project=paths_in_project)
