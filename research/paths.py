"""Every path the package uses, defined in one place, with no side effects.

Functions (not module constants) so that environment overrides are read when
called, not when imported.

Environment overrides
---------------------
RESEARCH_SURVEYS_DIR : folder of the instrument YAML files.
RESEARCH_KEY_FILE : file holding the pseudonymisation key.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The repository root: the folder holding ``pyproject.toml`` above this package.

    Falls back to the current working directory when the package is not run
    from a checkout (for example a non-editable install).
    """
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file():
        return here
    return Path.cwd()


def surveys_dir() -> Path:
    """Folder of the instrument files (``surveys/``)."""
    env = os.environ.get("RESEARCH_SURVEYS_DIR")
    return Path(env) if env else project_root() / "surveys"


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
