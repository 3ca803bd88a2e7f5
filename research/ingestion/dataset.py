"""A dataset, not a file: ingested exports appended to a Parquet dataset partitioned by month and region.

``research ingest SURVEY --workorders FILE --dataset DIR`` ingests the exports in chunks of rows
(:func:`research.ingestion.streaming.ingest_chunks`: the same validation, reject reasons,
pseudonyms and reconciliation as :func:`research.ingestion.run.ingest`, with bounded memory) and
appends the accepted rows to ``DIR`` as they come (:func:`ingest_into_dataset`);
:func:`read_dataset` reads them back as :func:`research.ingestion.ingested.read_ingested` reads
``responses.parquet``. Layout (docs/architecture.md, *Layout of a dataset*)::

    DIR/ledger.json                                                   what the dataset holds (written last)
    DIR/responses/month=YYYY-MM/region=<region>/part-<sha8>-<digest8>.parquet
    DIR/workorders/month=YYYY-MM/region=<region>/part-<sha8>-<digest8>.parquet
    DIR/reports/<sha8>/ingest_report.json, rejected.csv

``month`` is the month of ``created_at``, ``region`` the region as ingested (hive partitioning,
written with :mod:`pyarrow.dataset`, :mod:`research.ingestion.dataset_parts`); ``sha8`` is the
first 8 hex digits of the survey export's sha256, ``digest8`` those of the part's own bytes. The
ledger is the truth: a reader reads exactly the parts it lists, so a part written by an ingest
that failed or was killed before its ledger was written is never read (and is removed by the next
ingest into ``DIR``). The ledger holds, per ingest (an *entry*: the survey export and its
work-order export), each file's name, role, sha256, rows read / accepted / rejected, the months
and parts it wrote, the pseudonym key's id (:func:`research.ingestion.pseudonymise.key_id`), the
instrument (its folder's name and a fingerprint of its ``*.yaml``) and the package's version; no
time (the same exports give the same ledger).

Rules: a file whose sha256 is in the ledger is refused, unless ``replace``, which removes the
entries holding it (their parts and report) and writes the new entry in the place of the first;
an ingest with another pseudonym key than the dataset's is refused (its ids would not join); an
export holding ticket ids that the dataset already holds from another entry (same table) is
refused before anything is written, naming that entry and how many ids (never the ids): a ticket
is ingested from one export only. The folder is locked while written
(:func:`research.pipeline.buildstate.build_lock`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pandas as pd
import pyarrow as pa

from research.safeio import writable_folder
from research.errors import InputError
from research.ingestion.dataset_parts import (PartWriter, instrument_fingerprint,  # noqa: F401 - used by tests
                                              month_of, read_parts)
from research.ingestion.ledger_check import _MONTH, ROLE_TABLE, check_ledger
from research.ingestion.run import IngestResult, Progress, _stage

LEDGER = "ledger.json"
#: ledger format version (2: parts partitioned by month and region; instrument and version recorded)
FORMAT = 2
#: dataset table -> the canonical schema its rows follow (research.ingestion.schema)
TABLES = {"responses": "survey", "workorders": "workorders"}
#: export role (the ingest report's ``role``) -> the table its accepted rows go to
_COMMAND = "research ingest --dataset"


# --- the folder and its ledger ---------------------------------------------------------------------

def check_dataset_dir(root: Path) -> None:
    """Refuse an unusable dataset folder before any work starts; create it when absent.

    Raises
    ------
    InputError
        ``root`` is an existing file, cannot be created or written, or is a non-empty folder
        without a ledger (not a dataset: its files are not ours to add to).
    """
    root = writable_folder(root, "--dataset")
    ours = {".research.lock"}
    if not (root / LEDGER).exists() and any(p.name not in ours and not p.name.startswith(".staging-")
                                             for p in root.iterdir()):
        raise InputError(f"{root}: not a dataset (no {LEDGER}) and not empty; give a new or empty "
                         "folder, or the folder of an existing dataset")


def read_ledger(root: Path) -> dict:
    """The ledger of the dataset in ``root``: ``{"format", "pseudonym_key_id", "entries"}``
    (an empty ledger when the folder holds none yet).

    Raises
    ------
    InputError
        The ledger is unreadable, not JSON, not of this format, or not as ingest writes it
        (:func:`research.ingestion.ledger_check.check_ledger`: parts outside the folder or listed
        twice, an entry of another pseudonym key, ...).
    """
    path = Path(root) / LEDGER
    if not path.exists():
        return {"format": FORMAT, "pseudonym_key_id": None, "entries": []}
    try:
        ledger = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the dataset's ledger ({type(exc).__name__})") from None
    if isinstance(ledger, dict) and ledger.get("format") == 1:
        raise InputError(f"{path}: a dataset of an earlier layout (format 1: parts by month only); "
                         "ingest its exports again into a new dataset folder")
    if not isinstance(ledger, dict) or ledger.get("format") != FORMAT or not isinstance(
            ledger.get("entries"), list):
        raise InputError(f"{path}: not a ledger of format {FORMAT} (written by 'research ingest --dataset')")
    check_ledger(path, ledger)
    return ledger


def _write_ledger(root: Path, ledger: dict) -> None:
    from research.safeio import atomic_write_text

    atomic_write_text(Path(root) / LEDGER, json.dumps(ledger, ensure_ascii=False, indent=1) + "\n")


def _describe(entry: dict) -> str:
    """One ledger entry in words, for a refusal."""
    files = ", ".join(f"{f['role']} {f['file']} (sha256 {f['sha256'][:12]}, {f['accepted']:,} accepted)"
                      for f in entry["files"])
    return f"ledger entry {entry['id']}: {files}"


def _file_sha256(path: Path) -> str | None:
    """The sha256 of a regular file, read in chunks; None for anything else (ingest then says what
    is wrong with it)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


def _refuse_or_replace(ledger: dict, files: dict[str, tuple[Path, str | None]], key_id: str,
                       replace: bool) -> list[int]:
    """The indices of the ledger entries this ingest replaces (empty unless ``replace``).

    ``files`` : role -> (path, sha256 or None when not known yet).

    Raises
    ------
    InputError
        The key is not the dataset's; or a file is already in the ledger and not ``replace``.
    """
    if ledger["pseudonym_key_id"] not in (None, key_id):
        raise InputError(f"the pseudonym key in force (id {key_id}) is not the dataset's (id "
                         f"{ledger['pseudonym_key_id']}): customer ids would not join across exports; "
                         "ingest with the dataset's key (RESEARCH_PSEUDONYM_KEY or the key file)")
    hit = []
    for path, sha in files.values():
        for i, entry in enumerate(ledger["entries"]):
            if sha is not None and any(f["sha256"] == sha for f in entry["files"]):
                if not replace:
                    raise InputError(f"{path}: already in the dataset ({_describe(entry)}); "
                                     "use --replace to ingest it again in place of that entry")
                hit.append(i)
    return sorted(set(hit))


# --- writing ---------------------------------------------------------------------------------------

def _ticket_range(ids: pa.Array) -> list[str] | None:
    """The smallest and largest ticket id of an export's rows (``[min, max]``, Arrow's order of
    UTF-8 bytes, which is Python's order of the strings), None without any."""
    import pyarrow.compute as pc

    ids = pc.drop_null(ids)
    if not len(ids):
        return None
    low, high = pc.min_max(ids).values()
    return [low.as_py(), high.as_py()]


def _apart(stored, low: str, high: str) -> bool:
    """True when a ledger file's ``ticket_range`` cannot hold any id from ``low`` to ``high``
    (a range that is missing or not two strings proves nothing: the parts are read)."""
    if not (isinstance(stored, list) and len(stored) == 2 and all(isinstance(v, str) for v in stored)):
        return False
    return stored[1] < low or stored[0] > high


def _refuse_known_tickets(root: Path, ledger: dict, replaced: list[int], tickets: dict[str, pa.Array],
                         paths: dict[str, Path], ranges: dict[str, list[str] | None] | None = None) -> None:
    """Refuse an export holding ticket ids that another ledger entry (not replaced) holds in the same
    table; ``tickets``: role -> the ticket id of every row of that export. Each ledger file records
    the range of its export's ticket ids (``ticket_range``); an entry whose range does not meet
    the export's is not read (exports of different periods: ids of different dates), so an append
    does not read the whole dataset's ids. ``ranges`` (role -> range) is filled for the new entry.

    Raises
    ------
    InputError
        Naming the export, the entry and how many of its ids are already in the dataset.
    """
    import pyarrow.compute as pc

    for role, ids in tickets.items():
        table = ROLE_TABLE[role]
        ids = pc.drop_null(ids)
        span = _ticket_range(ids)
        if ranges is not None:
            ranges[role] = span
        for i, entry in enumerate(ledger["entries"]):
            parts = [root / p for f in entry["files"] if f["table"] == table and i not in replaced
                     and not (span and _apart(f.get("ticket_range"), *span)) for p in f["parts"]]
            if not parts or not len(ids):
                continue
            known = read_parts(parts, root, table, ["ticket_id"]).column("ticket_id")
            found = pc.is_in(ids, value_set=pc.unique(known).cast(ids.type))
            count = int(pc.sum(pc.cast(found, pa.int64())).as_py() or 0)
            if count:
                raise InputError(f"{paths[role]}: {count:,} of its ticket ids are already in the dataset "
                                 f"({_describe(entry)}); a ticket is ingested from one export only: "
                                 "remove those rows from the export, or ingest it into another dataset")


def _stage_entry(staging: Path, report: dict, rejected: pd.DataFrame, writer: PartWriter, key_id: str,
                 instrument, ranges: dict[str, list[str] | None] | None = None) -> dict:
    """Name the parts written into ``staging`` and write the reports of one ingest there; returns
    its ledger entry."""
    from research import __version__
    from research.safeio import atomic_write_text, write_csv

    sha8 = report["files"][0]["sha256"][:8]
    files = []
    for f in report["files"]:
        table = ROLE_TABLE[f["role"]]
        parts = writer.finish(table, sha8)
        files.append({"role": f["role"], "file": f["file"], "sha256": f["sha256"],
                      "rows_read": f["rows_read"], "accepted": f["accepted"], "rejected": f["rejected"],
                      "table": table, "months": sorted({month_of(p) for p in parts}), "parts": parts,
                      **({"ticket_range": ranges[f["role"]]} if (ranges or {}).get(f["role"]) else {})})
    reports = staging / "reports" / sha8
    reports.mkdir(parents=True)
    write_csv(rejected, reports / "rejected.csv", bom=True)
    atomic_write_text(reports / "ingest_report.json", json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    return {"id": sha8, "pseudonym_key_id": key_id, "report": f"reports/{sha8}",
            "instrument": {"dir": instrument.source_dir.name,
                           "fingerprint": instrument_fingerprint(instrument.source_dir)},
            "package_version": __version__, "files": files}


def _referenced(ledger: dict) -> set[str]:
    return {p for e in ledger["entries"] for f in e["files"] for p in f["parts"]}


def _commit(root: Path, staging: Path, old: dict, new: dict, entry: dict) -> None:
    """Move the staged parts and report of ``entry`` into ``root``, then write the ledger ``new``
    (the commit point). On a failure before the ledger is written, the moved parts are removed and
    a replaced report folder put back: the dataset is as it was."""
    moved, kept = [], _referenced(old)
    report, aside = root / entry["report"], staging / "replaced-report"
    report_moved = False
    try:
        for f in entry["files"]:
            for part in f["parts"]:
                (root / part).parent.mkdir(parents=True, exist_ok=True)
                if part not in kept:
                    moved.append(part)
                os.replace(staging / part, root / part)
        if report.exists():
            os.replace(report, aside)
        report.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / entry["report"], report)
        report_moved = True
        _write_ledger(root, new)
    except BaseException:
        for part in moved:
            (root / part).unlink(missing_ok=True)
        if report_moved:
            shutil.rmtree(report, ignore_errors=True)
        if aside.exists():
            os.replace(aside, report)
        _sweep(root, old)  # month folders made for the moved parts
        raise


def _sweep(root: Path, ledger: dict) -> None:
    """Remove the parts the ledger does not list (replaced, or left by a killed ingest), the
    reports of no entry, and month folders left empty. Call under the lock."""
    keep = _referenced(ledger)
    for table in TABLES:
        for part in sorted((root / table).glob("month=*/**/*.parquet")):
            if part.relative_to(root).as_posix() not in keep:
                part.unlink()
        for folder in sorted((root / table).glob("month=*/**/"), key=lambda p: -len(p.parts)):
            if folder.is_dir() and not any(folder.iterdir()):  # region, then month folders
                folder.rmdir()
    reports = {e["report"] for e in ledger["entries"]}
    for folder in sorted((root / "reports").glob("*")):
        if folder.relative_to(root).as_posix() not in reports:
            shutil.rmtree(folder, ignore_errors=True)


def ingest_into_dataset(root: str | Path, survey: str | Path, workorders: str | Path | None = None, *,
                        replace: bool = False, key: bytes | None = None, chunk_rows: int | None = None,
                        progress: Progress | None = None, instrument=None) -> tuple[IngestResult, dict]:
    """Ingest one survey export (and its work orders) in chunks and append the accepted rows to the
    dataset as they come.

    Parameters
    ----------
    root : the dataset folder (created when absent).
    survey, workorders : the exports, as for :func:`research.ingestion.run.ingest`.
    replace : ingest again a file already in the dataset, in place of its ledger entry.
    key : pseudonymisation key; default :func:`research.ingestion.pseudonymise.load_key`.
    chunk_rows : rows per chunk (:func:`research.ingestion.streaming.chunk_rows_in_force`).
    progress : called with a short message as each step (and chunk) starts.
    instrument : default :func:`research.config.instrument.load_instrument`.

    Returns
    -------
    (the ingest's report and rejected rows as an :class:`IngestResult` whose ``responses`` and
    ``workorders`` are None -- the accepted rows are in the dataset --, its ledger entry).

    Raises
    ------
    InputError
        An unusable folder (:func:`check_dataset_dir`), a damaged ledger, another key than the
        dataset's, a file already ingested (without ``replace``), ticket ids another entry holds,
        another ingest writing into the folder, or any fault :func:`research.ingestion.run.ingest`
        raises. The dataset is then as it was.
    """
    from research.config.instrument import load_instrument
    from research.ingestion.pseudonymise import key_id, load_key
    from research.ingestion.streaming import chunk_rows_in_force, ingest_chunks
    from research.pipeline.buildstate import build_lock, new_staging, remove_leftovers

    root = Path(root)
    check_dataset_dir(root)
    chunk_rows = chunk_rows_in_force(chunk_rows)
    instrument = instrument if instrument is not None else load_instrument()
    key = key if key is not None else load_key()
    kid = key_id(key)
    given = {"survey": Path(survey)} | ({"workorders": Path(workorders)} if workorders is not None else {})
    with build_lock(root, _COMMAND, "choose another --dataset"):
        remove_leftovers(root)
        ledger = read_ledger(root)
        before = _refuse_or_replace(ledger, {r: (p, _file_sha256(p)) for r, p in given.items()}, kid,
                                    replace)
        staging = new_staging(root)
        try:
            writer = PartWriter(staging, ROLE_TABLE)
            ranges: dict[str, list[str] | None] = {}
            report, rejected = ingest_chunks(
                survey, workorders, sink=writer, instrument=instrument, key=key, chunk_rows=chunk_rows,
                progress=progress,
                before_writing=lambda tickets: _refuse_known_tickets(root, ledger, before, tickets, given, ranges))
            # the digests ingest took of the bytes it read decide (the files may have changed since)
            shas = {f["role"]: (given[f["role"]], f["sha256"]) for f in report["files"]}
            replaced = _refuse_or_replace(ledger, shas, kid, replace)
            entry_id = report["files"][0]["sha256"][:8]
            clash = [e for i, e in enumerate(ledger["entries"]) if e["id"] == entry_id and i not in replaced]
            if clash:  # two exports whose sha256 share their first 8 digits: 1 in 4 billion per pair
                raise InputError(f"{survey}: its sha256 begins with the same 8 digits as that of "
                                 f"{_describe(clash[0])}; ingest it into another dataset")
            _stage(progress, f"appending to the dataset {root}")
            entry = _stage_entry(staging, report, rejected, writer, kid, instrument, ranges)
            entries = [e for i, e in enumerate(ledger["entries"]) if i not in replaced]
            entries.insert(replaced[0] if replaced else len(entries), entry)
            new = {"format": FORMAT, "pseudonym_key_id": kid, "entries": entries}
            _commit(root, staging, ledger, new, entry)
            _sweep(root, new)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return IngestResult(responses=None, workorders=None, rejected=rejected, report=report), entry


# --- reading ---------------------------------------------------------------------------------------

def read_dataset(root: str | Path, table: str, months: list[str] | None = None) -> pd.DataFrame:
    """The rows of one table of a dataset, as one frame.

    Parameters
    ----------
    root : the dataset folder (written by :func:`ingest_into_dataset`).
    table : ``"responses"`` or ``"workorders"``.
    months : only these months of ``created_at`` (``"YYYY-MM"``); default all.

    Returns
    -------
    The union of the parts the ledger lists, with the columns and dtypes
    :func:`research.ingestion.ingested.read_ingested` gives for ``responses.parquet`` /
    ``workorders.parquet``; rows by ledger entry (in ledger order), then ``source_row``; a fresh
    0..n-1 index. An empty frame of those columns when the dataset holds no such rows.

    Raises
    ------
    InputError
        No dataset in ``root``, a damaged ledger or part, an unknown table or a malformed month.
    """
    from research.ingestion import schema
    from research.ingestion.ingested import check_ingested

    root = Path(root)
    if table not in TABLES:
        raise InputError(f"table {table!r}: expected one of {', '.join(TABLES)}")
    bad = [m for m in (months or []) if not (isinstance(m, str) and _MONTH.match(m))]
    if bad:
        raise InputError(f"month {bad[0]!r}: expected YYYY-MM")
    if not (root / LEDGER).is_file():
        raise InputError(f"{root}: not a dataset (no {LEDGER}); run 'research ingest SURVEY "
                         "--dataset DIR' first")
    ledger = read_ledger(root)
    wanted = None if months is None else set(months)
    columns = list(schema.SCHEMAS[TABLES[table]])
    pieces = []
    for entry in ledger["entries"]:
        parts = [root / p for f in entry["files"] if f["table"] == table for p in f["parts"]
                 if wanted is None or month_of(p) in wanted]
        if parts:
            pieces.append(read_parts(parts, root, table, columns).sort_by("source_row"))
    if not pieces:
        return schema.conform(pd.DataFrame(columns=list(schema.SCHEMAS[TABLES[table]])), TABLES[table])
    frame = pa.concat_tables(pieces).to_pandas()
    return check_ingested(frame, TABLES[table], root / table, table)
