"""The structure of a dataset's ledger (:mod:`research.ingestion.dataset`), checked each time it is read.

Every command that reads a dataset (``fit``, ``bulletin``, ``weight``, ``reproduce --dataset``,
another ``ingest --dataset``) goes through the ledger: the parts it lists are what the dataset
holds. A ledger changed by hand or damaged must not make a command read a file outside the
folder (a part ``../../x`` or ``/x``), count rows twice (a part or an entry listed twice), or mix
pseudonym keys (an entry made with another key than the dataset's: its customers would not be
linked to the others'). Such a ledger is refused here, naming the key, with exit code 2.
"""

from __future__ import annotations

import re
from pathlib import Path

from research.errors import InputError
from research.paths import relative_path_problem

ROLE_TABLE = {"survey": "responses", "workorders": "workorders"}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_ledger(path: Path, ledger: dict) -> None:
    """Refuse a ledger (``{"format", "pseudonym_key_id", "entries"}``, read from ``path``) whose
    entries are not as ``research ingest --dataset`` writes them.

    Checked: each entry an object with a unique text ``id``, the dataset's ``pseudonym_key_id``,
    a ``report`` folder and ``files``; each file a known ``role`` with its ``table``, text ``file``
    and ``sha256``, whole ``rows_read``/``accepted``/``rejected`` counts of at least 0, ``months``
    as ``YYYY-MM`` and ``parts`` that are relative paths under ``<table>/`` ending in ``.parquet``,
    never going up, each listed once in the whole ledger.

    Raises
    ------
    InputError
        The first problem found, naming the ledger and the key (never a value).
    """
    def bad(key: str, problem: str) -> InputError:
        return InputError(f"{path}: {key}: {problem}; was the ledger changed by hand? ingest the "
                          "exports again into a new dataset folder")

    key_id = ledger.get("pseudonym_key_id")
    if key_id is not None and not isinstance(key_id, str):
        raise bad("pseudonym_key_id", "must be text")
    ids: set[str] = set()
    parts: set[str] = set()
    for i, entry in enumerate(ledger["entries"]):
        where = f"entries[{i}]"
        if not isinstance(entry, dict):
            raise bad(where, "must be an object")
        for name in ("id", "pseudonym_key_id", "report", "files"):
            if name not in entry:
                raise bad(f"{where}.{name}", "missing")
        if not isinstance(entry["id"], str) or not entry["id"]:
            raise bad(f"{where}.id", "must be text")
        if entry["id"] in ids:
            raise bad(f"{where}.id", "the same entry is listed twice (its rows would count twice)")
        ids.add(entry["id"])
        if entry["pseudonym_key_id"] != key_id:
            raise bad(f"{where}.pseudonym_key_id", "not the dataset's pseudonym key (its customers "
                      "would not be linked to the others')")
        _relative(entry["report"], f"{where}.report", bad)
        if not isinstance(entry["files"], list) or not entry["files"]:
            raise bad(f"{where}.files", "must be a non-empty list")
        for j, f in enumerate(entry["files"]):
            _check_file(f, f"{where}.files[{j}]", parts, bad)


def _check_file(f, where: str, parts: set[str], bad) -> None:
    """One file of an entry (see :func:`check_ledger`); its parts are added to ``parts``."""
    if not isinstance(f, dict):
        raise bad(where, "must be an object")
    for name in ("role", "table", "file", "sha256", "rows_read", "accepted", "rejected", "months", "parts"):
        if name not in f:
            raise bad(f"{where}.{name}", "missing")
    if f["role"] not in ROLE_TABLE or f["table"] != ROLE_TABLE[f["role"]]:
        raise bad(f"{where}.role", f"must be one of {', '.join(ROLE_TABLE)}, with its table")
    for name in ("file", "sha256"):
        if not isinstance(f[name], str):
            raise bad(f"{where}.{name}", "must be text")
    for name in ("rows_read", "accepted", "rejected"):
        if isinstance(f[name], bool) or not isinstance(f[name], int) or f[name] < 0:
            raise bad(f"{where}.{name}", "must be a whole number of at least 0")
    if not isinstance(f["months"], list) or not all(isinstance(m, str) and _MONTH.match(m) for m in f["months"]):
        raise bad(f"{where}.months", "must be a list of months YYYY-MM")
    if not isinstance(f["parts"], list):
        raise bad(f"{where}.parts", "must be a list")
    for k, part in enumerate(f["parts"]):
        key = f"{where}.parts[{k}]"
        _relative(part, key, bad)
        if not (part.startswith(f"{f['table']}/") and part.endswith(".parquet")):
            raise bad(key, f"must be a .parquet file under {f['table']}/")
        if part in parts:
            raise bad(key, "the same part is listed twice (its rows would count twice)")
        parts.add(part)


def _relative(value, key: str, bad) -> None:
    """Refuse anything but a relative path inside the dataset folder (:func:`research.paths.relative_path_problem`)."""
    if not isinstance(value, str):
        raise bad(key, "must be a relative path")
    problem = relative_path_problem(value, "the dataset folder")
    if problem:
        raise bad(key, problem)
