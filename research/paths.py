"""Every path the package uses, defined in one place, with no side effects.

Functions (not module constants) so that environment overrides are read when
called, not when imported.

Where the instrument, the default plan and the report templates come from
-------------------------------------------------------------------------
The instrument (``surveys/``: the YAML files, ``terms.txt``, ``stopwords.txt``), the default
analysis plan (``paper/analysis_plan.yaml``) and the report templates (``paper/report.*.md``)
are looked up, first found wins:

1. ``RESEARCH_SURVEYS_DIR`` (the instrument only);
2. the project folder (:func:`project_root`): the checkout holding this package, or the
   current folder when the package is installed (so a copy of ``surveys/`` edited there is used);
3. the copies installed with the package, ``research/_data/surveys/`` and ``research/_data/paper/``
   inside the installed package, found with :mod:`importlib.resources` (``pyproject.toml`` maps
   ``surveys/`` and ``paper/`` there when the wheel is built).

``research --version`` prints which copy each one is (:func:`where`; docs/architecture.md, "Paths").

Environment overrides
---------------------
RESEARCH_SURVEYS_DIR : folder of the instrument files.
RESEARCH_KEY_FILE : file holding the pseudonymisation key.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath

#: folder of the installed package holding the shipped copies of ``surveys/`` and ``paper/``
PACKAGE_DATA = "_data"


def project_root() -> Path:
    """The repository root: the folder holding ``pyproject.toml`` above this package.

    Falls back to the current working directory when the package is not run
    from a checkout (for example a non-editable install).
    """
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file():
        return here
    return Path.cwd()


def in_checkout() -> bool:
    """True when the package is imported from a checkout (``pyproject.toml`` beside it)."""
    return (Path(__file__).resolve().parent.parent / "pyproject.toml").is_file()


def packaged(relative: str) -> Path | None:
    """The copy of ``relative`` (``surveys``, ``paper/analysis_plan.yaml``, ...) installed with the
    package under ``research/_data/``; None when the package is not on the file system (imported
    from a zip file, which pip never does). The path may not exist (a checkout has no
    ``research/_data/``)."""
    root = resources.files("research")
    if not isinstance(root, Path):
        return None
    return root.joinpath(PACKAGE_DATA, *relative.split("/"))


def locate(relative: str) -> tuple[Path, str]:
    """Where ``relative`` (a path as in the repository, e.g. ``paper/analysis_plan.yaml``) is
    found, and which copy it is: ``"checkout"`` or ``"current folder"`` (under
    :func:`project_root`), else ``"package data"`` (:func:`packaged`), else ``"missing"`` with the
    project-folder path, so that the error a reader raises names the path expected first."""
    local = project_root() / relative
    if local.exists():
        return local, "checkout" if in_checkout() else "current folder"
    shipped = packaged(relative)
    if shipped is not None and shipped.exists():
        return shipped, "package data"
    return local, "missing"


def surveys_dir() -> Path:
    """Folder of the instrument files (``surveys/``): ``RESEARCH_SURVEYS_DIR``, else the
    project folder's, else the copy installed with the package (:func:`locate`)."""
    env = os.environ.get("RESEARCH_SURVEYS_DIR")
    return Path(env) if env else locate("surveys")[0]


def default_plan() -> Path:
    """The default analysis plan: the project folder's ``paper/analysis_plan.yaml``, else the
    copy installed with the package (:func:`locate`)."""
    return locate("paper/analysis_plan.yaml")[0]


def report_template(lang: str) -> Path:
    """The report template ``paper/report.<lang>.md`` (``lang``: ``zh`` or ``en``): the project
    folder's, else the copy installed with the package (:func:`locate`)."""
    return locate(f"paper/report.{lang}.md")[0]


def raw_dir() -> Path:
    """Folder of the committed raw exports (``data/raw/``)."""
    return project_root() / "data" / "raw"


def sample_survey() -> Path:
    """The committed synthetic survey export."""
    return raw_dir() / "survey_sample.csv"


def sample_workorders() -> Path:
    """The committed synthetic work-order export."""
    return raw_dir() / "workorders_sample.csv"


def build_dir() -> Path:
    """Root of everything ``research reproduce`` rebuilds (git-ignored)."""
    return project_root() / "build"


def ingest_dir() -> Path:
    """Default output folder of ``research ingest``."""
    return build_dir() / "ingest"


def key_file() -> Path:
    """The local pseudonymisation key file (git-ignored, created on first use)."""
    env = os.environ.get("RESEARCH_KEY_FILE")
    return Path(env) if env else project_root() / ".secrets" / "pseudonym.key"


def where() -> list[tuple[str, Path, str]]:
    """``(what, path, which copy)`` for the instrument, the default plan and the report
    templates, as :func:`locate` finds them now (``research --version`` prints them)."""
    env = os.environ.get("RESEARCH_SURVEYS_DIR")
    rows = [("instrument", Path(env), "RESEARCH_SURVEYS_DIR") if env else ("instrument", *locate("surveys"))]
    rows.append(("plan", *locate("paper/analysis_plan.yaml")))
    rows += [(f"report template {lang}", *locate(f"paper/report.{lang}.md")) for lang in ("zh", "en")]
    return rows



def instrument_files() -> list[Path]:
    """The files of the instrument whose content a build depends on, sorted by name: every
    ``surveys/*.yaml`` and the word-segmentation dictionaries ``surveys/*.txt`` (terms, stop words;
    research.strategy.typical_cases). The manifest records their sha256 (``instrument``)."""
    folder = surveys_dir()
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.txt")], key=lambda p: p.name)


def relative_path_problem(value: str, where: str) -> str | None:
    """What is wrong with ``value`` as a path relative to ``where`` (e.g. "the project") that
    never goes up, or None: blank or holding NUL, absolute (POSIX or Windows, a drive, a leading
    backslash), or a ``..`` part. Whether it resolves inside its base through symbolic links is
    the caller's to check. Shared by the manifest (:mod:`research.artifacts.manifest`) and the
    dataset ledger (:mod:`research.ingestion.ledger_check`), each wrapping it in its own message."""
    if not value.strip() or "\x00" in value:
        return "must be a non-empty path"
    win = PureWindowsPath(value)
    if PurePosixPath(value).is_absolute() or win.is_absolute() or win.drive or value.startswith("\\"):
        return f"is an absolute path; only paths relative to {where} are accepted"
    if ".." in PurePosixPath(value).parts or ".." in win.parts:
        return f"goes up with '..'; only paths inside {where} are accepted"
    return None
