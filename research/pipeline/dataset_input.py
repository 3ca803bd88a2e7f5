"""``research reproduce --dataset DIR``: the ingest stage read from a dataset of ``research ingest
--dataset`` instead of the raw exports.

:func:`dataset_inputs` checks the folder and its ledger before a build starts and returns the
manifest's ``inputs`` (one per ledger file: name, role, sha256, rows read / accepted / rejected,
the ledger entry and the instrument's fingerprint) and ``dataset`` record; :func:`read_ingested_dataset`
gives the ingest stage's bundle entries -- the canonical responses and work orders
(:func:`research.ingestion.dataset.read_dataset`), the rejected rows and the ingest report of
every entry (one entry: its report as written, byte for byte the report of ``research ingest`` of
the same exports; several: :func:`merged_report`). Every later stage runs on them as on an ingest
of the exports (docs/architecture.md, *reproduce from a dataset*).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from research.errors import InputError

Progress = Callable[[str], None]

#: the keys every file of a ledger entry must have for reproduce to use it
_FILE_KEYS = ("role", "file", "sha256", "rows_read", "accepted", "rejected", "table")


def _ledger(root: Path) -> dict:
    """The ledger of the dataset in ``root``, checked to hold at least one well-formed entry.

    Raises
    ------
    InputError
        ``root`` is not a folder, holds no ledger, a ledger of another format, or one without an
        entry or with an entry lacking what reproduce reads (one message each)."""
    from research.ingestion.dataset import LEDGER, read_ledger

    if not root.is_dir():
        raise InputError(f"--dataset {root}: not a folder; give the folder of 'research ingest SURVEY "
                         "--dataset DIR'")
    if not (root / LEDGER).is_file():
        raise InputError(f"--dataset {root}: not a dataset (no {LEDGER}); write one with 'research ingest "
                         "SURVEY --workorders FILE --dataset DIR'")
    ledger = read_ledger(root)  # InputError for an unreadable ledger or an earlier format
    if not ledger["entries"]:
        raise InputError(f"--dataset {root}: the dataset holds no ingest yet")
    for i, entry in enumerate(ledger["entries"]):
        files = entry.get("files") if isinstance(entry, dict) else None
        if (not isinstance(files, list) or not files or not isinstance(entry.get("report"), str)
                or not all(isinstance(f, dict) and all(k in f for k in _FILE_KEYS) for f in files)
                or files[0]["role"] != "survey"):
            raise InputError(f"--dataset {root}: {LEDGER}: entry {i + 1} is malformed (each entry needs its "
                             "survey file first, each file its role, name, sha256, row counts and table)")
    with_wo = [any(f["role"] == "workorders" for f in e["files"]) for e in ledger["entries"]]
    if any(with_wo) and not all(with_wo):
        lacking = ", ".join(e["id"] for e, w in zip(ledger["entries"], with_wo) if not w)
        raise InputError(f"--dataset {root}: ledger entries {lacking} have no work-order export while the "
                         "others have one: response rates and weights need the work orders of every survey "
                         "export (ingest them again with --workorders FILE --replace)")
    return ledger


def dataset_inputs(root: Path) -> tuple[list[dict], dict]:
    """``(inputs, dataset)`` of the manifest for a build from the dataset in ``root``.

    ``inputs``: per file of every ledger entry, in ledger order, ``{role, file, sha256, rows_read,
    accepted, rejected, entry, instrument}`` (``entry`` the ledger entry's id, ``instrument`` the
    fingerprint of the instrument it was checked against); ``dataset``: ``{path, format,
    ledger_sha256}`` (``path`` relative to the project when inside it).

    Raises InputError as :func:`_ledger`."""
    from research.artifacts.manifest import display_path, sha256_file
    from research.ingestion.dataset import FORMAT, LEDGER

    root = Path(root)
    ledger = _ledger(root)
    inputs = [{"role": f["role"], "file": str(f["file"]), "sha256": f["sha256"], "rows_read": f["rows_read"],
               "accepted": f["accepted"], "rejected": f["rejected"], "entry": str(e["id"]),
               "instrument": str((e.get("instrument") or {}).get("fingerprint", ""))}
              for e in ledger["entries"] for f in e["files"]]
    return inputs, {"path": display_path(root), "format": FORMAT, "ledger_sha256": sha256_file(root / LEDGER)}


def read_ingested_dataset(root: Path, *, instrument, say: Progress) -> dict:
    """The fields of an :class:`research.ingestion.run.IngestResult` from the dataset in ``root``:
    ``responses``, ``workorders`` (None when its entries have no work-order export), ``rejected``
    and ``report``.

    A ledger entry checked against another instrument than the one in force is said through
    ``say`` (its fingerprint is in the manifest's inputs). Raises InputError as :func:`_ledger`, or
    for a damaged part or report."""
    from research.ingestion.dataset import read_dataset
    from research.ingestion.dataset_parts import instrument_fingerprint

    root = Path(root)
    ledger = _ledger(root)
    now = instrument_fingerprint(instrument.source_dir)
    other = [e["id"] for e in ledger["entries"] if (e.get("instrument") or {}).get("fingerprint") != now]
    if other:
        say(f"warning: ledger entries {', '.join(other)} were checked against another instrument than the one "
            f"in force (fingerprint {now}); their rows are used as ingested")
    responses = read_dataset(root, "responses")
    has_wo = any(f["role"] == "workorders" for f in ledger["entries"][0]["files"])
    workorders = read_dataset(root, "workorders") if has_wo else None
    reports, rejected = [], []
    for entry in ledger["entries"]:
        folder = root / entry["report"]
        try:
            reports.append(json.loads((folder / "ingest_report.json").read_text(encoding="utf-8")))
            rejected.append(pd.read_csv(folder / "rejected.csv", dtype=str, keep_default_na=False,
                                        encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"--dataset {root}: the report of ledger entry {entry['id']} ({entry['report']}) "
                             f"cannot be read ({type(exc).__name__}); ingest its export again with --replace") from None
    say(f"read {len(responses):,} responses"
        + (f" and {len(workorders):,} work orders" if workorders is not None else "")
        + f" of {len(ledger['entries'])} ingest(s) from the dataset {root}")
    report = reports[0] if len(reports) == 1 else merged_report(reports, responses)
    return {"responses": responses, "workorders": workorders, "report": report,
            "rejected": pd.concat(rejected, ignore_index=True)}


def merged_report(reports: list[dict], responses: pd.DataFrame) -> dict:
    """One ingest report for several ingests of a dataset: their ``files`` one after the other, row
    counts summed, ``reconciled`` when each is, the rejection reasons' labels united, and the
    ``responses`` summary (rows, missing overall answers, unweighted satisfied rate) of the
    rows the dataset holds. Keys other than these are the first report's."""
    out = dict(reports[0])
    out["files"] = [f for r in reports for f in r["files"]]
    for key in ("rows_read", "accepted", "rejected"):
        out[key] = sum(int(r[key]) for r in reports)
    out["reconciled"] = all(bool(r.get("reconciled")) for r in reports)
    out["reasons"] = {k: v for r in reports for k, v in (r.get("reasons") or {}).items()}
    sat = responses["satisfied"].dropna() if "satisfied" in responses.columns else pd.Series(dtype=float)
    out["responses"] = {**reports[0].get("responses", {}), "rows": int(len(responses)),
                        "sat_overall_missing": sum(int(r.get("responses", {}).get("sat_overall_missing", 0))
                                                   for r in reports),
                        "satisfied_rate_unweighted": float(sat.astype(float).mean()) if len(sat) else None}
    return out
