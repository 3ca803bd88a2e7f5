"""The canonical frames that ingest writes: column order and dtypes, derived from the contract.

The input contract is declared once, in ``surveys/fields.yaml`` (read by
:func:`research.config.instrument.load_instrument`): every field declared
there for an export reaches its canonical frame (``responses.parquet`` for the
survey, ``workorders.parquet`` for the work orders) under its name, in the
order declared, typed by its ``type`` (:data:`FIELD_DTYPES`) -- except a field
declared ``personal: drop`` (read to mask its values in the texts, never written).

This module keeps only what ``fields.yaml`` cannot declare:

- the dtype each field type becomes (:data:`FIELD_DTYPES`);
- the columns ingest derives from the fields (:data:`DERIVED`): computed by
  code (:mod:`research.ingestion.derive`), not read from an export;
- ``source_row``, the export row each canonical row came from;
- the fields that code needs by name (:data:`NEEDED`): ingest checks them
  (time order, cause group) and derives from them, so ``fields.yaml`` must
  declare them, with these types.

Units: datetimes are naive local time (China Standard Time, as exported);
``handling_hours`` is in hours. See docs/input_contract.md ("How to add an input column").
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from research.config.instrument import EXPORT_KINDS, Field, Instrument, load_instrument
from research.errors import InputError

TEXT = "string"
TIME = "datetime64[us]"

#: field type (``fields.yaml``'s ``type`` before the colon) -> dtype of its canonical column.
#: Labels become their code (text), answers their level (1..5, <NA> for refused / don't know /
#: blank), counts whole numbers (<NA> when blank).
FIELD_DTYPES: dict[str, str] = {"text": TEXT, "label": TEXT, "datetime": TIME, "count": "Int64",
                                "answer": "Int64"}

#: derived column -> (dtype, the field it needs, or None: every export has it). Appended after the
#: declared fields, in this order, when the export declares the field it needs.
DERIVED: dict[str, tuple[str, str | None]] = {
    "handling_hours": ("float64", None),  # resolved_at - created_at, hours
    "sla_deadline": (TIME, None),  # latest resolution time meeting the target of the sub-cause
    "sla_met": ("boolean", None),  # resolved_at <= sla_deadline
    "satisfied": ("boolean", "sat_overall"),  # sat_overall >= satisfied_threshold (top-2-box)
    "repeat": ("boolean", "repeat_calls"),  # repeat_calls > 0; <NA> if missing
}

#: the last column of every canonical frame: 1-based data row of the export (header excluded)
SOURCE_ROW = ("source_row", "int64")

#: fields the code uses by name, per export, with the field type it reads them as
NEEDED: dict[str, dict[str, str]] = {
    "survey": {"ticket_id": "text", "cause_l1": "label", "cause_l2": "label",
               "created_at": "datetime", "resolved_at": "datetime", "sat_overall": "answer"},
    "workorders": {"ticket_id": "text", "cause_l1": "label", "cause_l2": "label",
                   "created_at": "datetime", "resolved_at": "datetime", "survey_status": "label"},
}


def output_fields(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """The declared fields that reach the canonical frame: all but those declared ``personal: drop``."""
    return tuple(f for f in fields if f.personal != "drop")


def canonical(instrument: Instrument, kind: str) -> dict[str, str]:
    """The canonical columns of one export kind, in order: name -> dtype.

    Parameters
    ----------
    instrument : the instrument whose ``fields.yaml`` declares the export's fields.
    kind : ``"survey"`` or ``"workorders"``.

    Returns
    -------
    The output fields (:func:`output_fields`) typed by :data:`FIELD_DTYPES`, then the derived
    columns (:data:`DERIVED`) whose field is declared, then ``source_row``.

    Raises
    ------
    InputError
        ``fields.yaml`` lacks a field of :data:`NEEDED`, or declares it with another type.
    """
    fields = instrument.fields[kind]
    declared = {f.name: f.kind for f in fields}
    for name, ftype in NEEDED[kind].items():
        if declared.get(name) != ftype:
            got = "absent" if name not in declared else f"declared as {declared[name]}"
            raise InputError(f"{instrument.source_dir / 'fields.yaml'}: key '{kind}': the field "
                             f"{name!r} ({ftype}) is needed by ingest (checks and derived columns); "
                             f"it is {got}")
    out = {f.name: FIELD_DTYPES[f.kind] for f in output_fields(fields)}
    for name, (dtype, needs) in DERIVED.items():
        if needs is None or needs in declared:
            out[name] = dtype
    out[SOURCE_ROW[0]] = SOURCE_ROW[1]
    return out


@lru_cache(maxsize=8)
def _default(folder: Path) -> dict[str, dict[str, str]]:
    instrument = load_instrument(folder)
    return {kind: canonical(instrument, kind) for kind in EXPORT_KINDS}


def default_schemas() -> dict[str, dict[str, str]]:
    """``{"survey": ..., "workorders": ...}``: :func:`canonical` of the instrument in force
    (:func:`research.paths.surveys_dir`), read once per folder."""
    from research import paths

    return _default(Path(paths.surveys_dir()).resolve())


def __getattr__(name: str) -> dict:
    """``RESPONSES``, ``WORKORDERS`` and ``SCHEMAS`` (kind -> columns): the canonical columns
    of the instrument in force, as :func:`default_schemas` gives them."""
    if name == "RESPONSES":
        return dict(default_schemas()["survey"])
    if name == "WORKORDERS":
        return dict(default_schemas()["workorders"])
    if name == "SCHEMAS":
        return {kind: dict(columns) for kind, columns in default_schemas().items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def conform(frame: pd.DataFrame, kind: str, instrument: Instrument | None = None) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical columns of ``kind``, in order and typed.

    Parameters
    ----------
    frame : DataFrame holding at least the canonical columns.
    kind : ``"survey"`` or ``"workorders"``.
    instrument : whose fields make the canonical columns (:func:`canonical`); default the
        instrument in force (:func:`default_schemas`).
    """
    schema = canonical(instrument, kind) if instrument is not None else default_schemas()[kind]
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise KeyError(f"canonical columns missing from the {kind} frame: {missing}")
    out = frame.loc[:, list(schema)].astype(schema)
    return out.reset_index(drop=True)
