"""The manifest: sha256 of every input and artifact, versions, seeds, commit, plan, provenance.

``research reproduce`` writes ``manifest.json`` at the root of its output
folder; the manifest of the committed sample is committed as
``paper/manifest.json``. ``research verify`` rebuilds from the inputs the
manifest names into a temporary folder and compares artifact by artifact.

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
from importlib import metadata
from pathlib import Path

import pandas as pd

from research import paths

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
                   provenance: pd.DataFrame) -> dict:
    """Manifest of everything under ``out_root`` (except the manifest itself).

    inputs : ``[{"role": ..., "path": ..., "sha256": ...}]``.
    """
    artifacts = []
    for path in sorted(p for p in out_root.rglob("*") if p.is_file() and p.name != "manifest.json"):
        rel = path.relative_to(out_root).as_posix()
        artifacts.append({"path": rel, "sha256": sha256_file(path), "kind": artifact_kind(rel),
                          "compare": compared(rel)})
    instrument = {p.name: sha256_file(p) for p in sorted(paths.surveys_dir().glob("*.yaml"))}
    prov = provenance.astype(object).where(provenance.notna(), None).to_dict(orient="records")
    return {
        "schema": 1,
        "git_commit": commit,
        "versions": versions(),
        "seeds": seeds,
        "plan": {"path": display_path(plan_path), "sha256": sha256_file(plan_path)},
        "instrument": instrument,
        "inputs": inputs,
        "artifacts": artifacts,
        "provenance": prov,
    }


def write_manifest(manifest: dict, path: Path) -> None:
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True, default=_json) + "\n",
                    encoding="utf-8")


def _json(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def compare_manifests(expected: dict, actual: dict) -> list[tuple[str, str, str]]:
    """Artifact-by-artifact comparison: list of (path, status, detail).

    status: ``match``, ``differs``, ``missing`` (expected, not rebuilt), ``extra``
    (rebuilt, not expected), ``recorded`` (not compared, see module docstring).
    Inputs, plan and instrument are compared too (status on paths ``input:...``).
    """
    rows = []
    for a, b, label in ((expected["plan"], actual["plan"], "plan"),):
        rows.append((f"input:{a['path']}", "match" if a["sha256"] == b["sha256"] else "differs", label))
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
