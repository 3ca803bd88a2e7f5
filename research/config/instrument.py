"""The survey instrument as data: load and validate ``surveys/*.yaml``.

Inputs are four YAML files in the surveys folder (:func:`research.paths.surveys_dir`):

``questionnaire.yaml``
    answer scales (codes, zh/en labels, aliases, missing-value labels), the
    items asked, and the top-2-box threshold that defines ``satisfied``.
``taxonomy.yaml``
    complaint causes (``cause_l1``) and their sub-causes (``cause_l2``).
``labels.yaml``
    the other closed answer sets: ``channel``, ``resolved``, ``survey_status``.
``fields.yaml``
    the columns of the survey and work-order exports, their types, whether
    required, whether personal, and their header aliases.
``sla.yaml``
    handling-time targets per sub-cause, with their basis (source or assumption).

The output is one immutable :class:`Instrument`. Any problem in a file raises
:class:`research.errors.InputError` naming the file and the key.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from research import paths
from research.errors import InputError
from research.config.yamlfile import YamlFile

FIELD_TYPES = ("text", "datetime", "count")
PERSONAL_KINDS = ("pseudonymise", "drop", "mask")
SLA_UNITS = ("hours", "working_days")
EXPORT_KINDS = ("survey", "workorders")
ExportKind = Literal["survey", "workorders"]

# white space, underscores, hyphens, and the invisible format characters that copied text
# carries (soft hyphen, zero-width space and joiners, word joiner, and the byte-order mark,
# which a spreadsheet keeps in a header it moved away from the start of the file)
_FOLD_RE = re.compile(r"[\s_\-\u00ad\u200b-\u200d\u2060\ufeff]+")


def normalize_key(text: str) -> str:
    """Fold a header or an answer label for matching.

    NFKC (full-width letters, digits and spaces become half-width), case-folded,
    with white space, underscores, hyphens and invisible format characters (zero-width
    space and joiners, word joiner, soft hyphen, byte-order mark) removed.

    >>> normalize_key(" Ｔｉｃｋｅｔ_ID ")
    'ticketid'
    """
    return _FOLD_RE.sub("", unicodedata.normalize("NFKC", str(text)).casefold())


@dataclass(frozen=True)
class Label:
    """One answer of a closed set: machine ``code``, display labels and aliases."""

    code: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()

    def spellings(self) -> tuple[str, ...]:
        """Every wording that maps to this code (code, zh, en, aliases)."""
        return (self.code, self.zh, self.en, *self.aliases)


@dataclass(frozen=True)
class LabelSet:
    """A closed answer set, e.g. ``channel``; ``lookup`` maps folded spellings to codes."""

    name: str
    labels: tuple[Label, ...]
    lookup: dict[str, str] = field(repr=False, compare=False)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(lab.code for lab in self.labels)

    def zh(self) -> dict[str, str]:
        """code -> Chinese label."""
        return {lab.code: lab.zh for lab in self.labels}

    def en(self) -> dict[str, str]:
        """code -> English label."""
        return {lab.code: lab.en for lab in self.labels}


@dataclass(frozen=True)
class Scale:
    """An answer scale: ordered numeric levels and the answers meaning 'missing'.

    ``lookup`` maps folded spellings to the integer code, or to ``None`` for a
    missing-value answer.
    """

    name: str
    zh: str
    en: str
    levels: tuple[Label, ...]
    missing: tuple[Label, ...]
    lookup: dict[str, int | None] = field(repr=False, compare=False)

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(sorted(int(lab.code) for lab in self.levels))


@dataclass(frozen=True)
class Item:
    """A questionnaire item: column ``name`` answered on ``scale``."""

    name: str
    scale: str
    zh: str
    en: str


@dataclass(frozen=True)
class Field:
    """One column of an export, as declared in ``fields.yaml``.

    ``kind`` is ``text``, ``datetime``, ``count``, ``label`` or ``answer``;
    ``domain`` names the label set or scale for the last two.
    """

    name: str
    kind: str
    domain: str | None
    required: bool
    personal: str | None
    missing_ok: bool
    zh: str
    en: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class SlaTarget:
    """A handling-time target: ``value`` in ``unit`` (hours or working_days)."""

    value: float
    unit: str
    basis: str
    note: str


@dataclass(frozen=True)
class Instrument:
    """The whole instrument, validated. Built by :func:`load_instrument`."""

    scales: dict[str, Scale]
    items: tuple[Item, ...]
    satisfied_threshold: int
    label_sets: dict[str, LabelSet]
    parent: dict[str, str]
    fields: dict[str, tuple[Field, ...]]
    sla_default: SlaTarget
    sla_targets: dict[str, SlaTarget]
    source_dir: Path

    def sla_for(self, cause_l2: str) -> SlaTarget:
        """The handling-time target of a sub-cause (its own, else the default)."""
        return self.sla_targets.get(cause_l2, self.sla_default)

    def field_map(self, kind: ExportKind) -> dict[str, Field]:
        """Canonical column name -> :class:`Field` for one export kind."""
        return {f.name: f for f in self.fields[kind]}

    def subcauses_of(self, cause_l1: str) -> tuple[str, ...]:
        """The sub-cause codes belonging to a cause group, in taxonomy order."""
        return tuple(c for c, p in self.parent.items() if p == cause_l1)


# --------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------


def _read_label(r: YamlFile, node: Any, where: str) -> Label:
    aliases = r.seq(node, "aliases", where, default=[])
    return Label(
        code=r.text(node, "code", where),
        zh=r.text(node, "zh", where),
        en=r.text(node, "en", where),
        aliases=tuple(str(a) for a in aliases),
    )


def _lookup(r: YamlFile, where: str, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Folded spelling -> code; two codes sharing one spelling is an error."""
    out: dict[str, Any] = {}
    for spelling, code in pairs:
        key = normalize_key(spelling)
        if not key:
            raise r.fail(where, f"blank label or alias for code {code!r}")
        if key in out and out[key] != code:
            raise r.fail(where, f"the wording {spelling!r} names both {out[key]!r} and {code!r}")
        out[key] = code
    return out


def _label_set(r: YamlFile, name: str, nodes: list, where: str) -> LabelSet:
    if not nodes:
        raise r.fail(where, "must list at least one label")
    labels = tuple(_read_label(r, n, f"{where}[{i}]") for i, n in enumerate(nodes))
    codes = [lab.code for lab in labels]
    dup = {c for c in codes if codes.count(c) > 1}
    if dup:
        raise r.fail(where, f"duplicate codes {sorted(dup)}")
    lookup = _lookup(r, where, [(s, lab.code) for lab in labels for s in lab.spellings()])
    return LabelSet(name=name, labels=labels, lookup=lookup)


def _load_questionnaire(path: Path) -> tuple[dict[str, Scale], tuple[Item, ...], int]:
    r = YamlFile(path)
    scales: dict[str, Scale] = {}
    for name, node in r.get(r.data, "scales", "", dict).items():
        where = f"scales.{name}"
        levels = []
        for i, n in enumerate(r.seq(node, "levels", where)):
            lab = _read_label(r, n, f"{where}.levels[{i}]")
            try:
                int(lab.code)
            except ValueError:
                raise r.fail(f"{where}.levels[{i}].code", "must be a whole number") from None
            levels.append(lab)
        if len(levels) < 2:
            raise r.fail(f"{where}.levels", "a scale needs at least two levels")
        missing = []
        for i, n in enumerate(r.seq(node, "missing", where, default=[])):
            aliases = r.seq(n, "aliases", f"{where}.missing[{i}]", default=[])
            missing.append(Label(code="", zh=r.text(n, "zh", f"{where}.missing[{i}]"),
                                 en=r.text(n, "en", f"{where}.missing[{i}]"),
                                 aliases=tuple(str(a) for a in aliases)))
        pairs: list[tuple[str, Any]] = [(s, int(lab.code)) for lab in levels for s in lab.spellings()]
        pairs += [(s, None) for lab in missing for s in (lab.zh, lab.en, *lab.aliases)]
        scales[name] = Scale(name=name, zh=r.text(node, "zh", where), en=r.text(node, "en", where),
                             levels=tuple(levels), missing=tuple(missing),
                             lookup=_lookup(r, where, pairs))
    items = []
    for i, n in enumerate(r.seq(r.data, "items", "")):
        where = f"items[{i}]"
        scale = r.text(n, "scale", where)
        if scale not in scales:
            raise r.fail(f"{where}.scale", f"unknown scale {scale!r}; known: {sorted(scales)}")
        items.append(Item(name=r.text(n, "name", where), scale=scale,
                          zh=r.text(n, "zh", where), en=r.text(n, "en", where)))
    threshold = r.get(r.data, "satisfied_threshold", "", int)
    r.refuse_unknown()
    return scales, tuple(items), threshold


def _load_taxonomy(path: Path) -> tuple[LabelSet, LabelSet, dict[str, str]]:
    r = YamlFile(path)
    causes = r.seq(r.data, "causes", "")
    if not causes:
        raise r.fail("causes", "must list at least one cause")
    l1 = _label_set(r, "cause_l1", causes, "causes")
    subs: list[Label] = []
    parent: dict[str, str] = {}
    for i, node in enumerate(causes):
        nodes = r.seq(node, "subcauses", f"causes[{i}]")
        if not nodes:
            raise r.fail(f"causes[{i}].subcauses", "must list at least one sub-cause")
        for j, n in enumerate(nodes):
            lab = _read_label(r, n, f"causes[{i}].subcauses[{j}]")
            if lab.code in parent:
                raise r.fail(f"causes[{i}].subcauses[{j}].code",
                             f"sub-cause {lab.code!r} is listed twice")
            parent[lab.code] = l1.labels[i].code
            subs.append(lab)
    lookup = _lookup(r, "causes[*].subcauses", [(s, lab.code) for lab in subs for s in lab.spellings()])
    l2 = LabelSet(name="cause_l2", labels=tuple(subs), lookup=lookup)
    r.refuse_unknown()
    return l1, l2, parent


def _load_labels(path: Path) -> dict[str, LabelSet]:
    r = YamlFile(path)
    out = {}
    for name in ("channel", "resolved", "survey_status"):
        out[name] = _label_set(r, name, r.seq(r.data, name, ""), name)
    r.refuse_unknown()
    return out


def _load_fields(path: Path, label_sets: dict[str, LabelSet],
                 scales: dict[str, Scale]) -> dict[str, tuple[Field, ...]]:
    r = YamlFile(path)
    out = {}
    for kind in EXPORT_KINDS:
        fields = []
        headers: dict[str, str] = {}
        for i, n in enumerate(r.seq(r.data, kind, "")):
            where = f"{kind}[{i}]"
            name = r.text(n, "name", where)
            ftype = r.text(n, "type", where)
            fkind, _, domain = ftype.partition(":")
            if fkind in ("label", "answer"):
                known = label_sets if fkind == "label" else scales
                if domain not in known:
                    raise r.fail(f"{where}.type", f"unknown {fkind} set {domain!r}; known: {sorted(known)}")
            elif fkind not in FIELD_TYPES or domain:
                raise r.fail(f"{where}.type", f"unknown type {ftype!r}; use text, datetime, count, "
                             "label:<set> or answer:<scale>")
            personal = r.get(n, "personal", where, (str, type(None)), default=None)
            if personal is not None and personal not in PERSONAL_KINDS:
                raise r.fail(f"{where}.personal", f"must be one of {PERSONAL_KINDS}, got {personal!r}")
            aliases = tuple(str(a) for a in r.seq(n, "aliases", where, default=[]))
            f = Field(name=name, kind=fkind, domain=domain or None,
                      required=bool(r.get(n, "required", where, bool)), personal=personal,
                      missing_ok=bool(r.get(n, "missing_ok", where, bool, default=False)),
                      zh=r.text(n, "zh", where), en=r.text(n, "en", where), aliases=aliases)
            for spelling in (name, f.zh, f.en, *aliases):
                key = normalize_key(spelling)
                if key in headers and headers[key] != name:
                    raise r.fail(where, f"header {spelling!r} also names column {headers[key]!r}")
                headers[key] = name
            fields.append(f)
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise r.fail(kind, "a column is declared twice")
        out[kind] = tuple(fields)
    r.refuse_unknown()
    return out


def _read_sla(r: YamlFile, node: Any, where: str) -> SlaTarget:
    value = r.get(node, "value", where, (int, float))
    if not value > 0:
        raise r.fail(f"{where}.value", f"must be positive, got {value!r}")
    unit = r.text(node, "unit", where)
    if unit not in SLA_UNITS:
        raise r.fail(f"{where}.unit", f"must be one of {SLA_UNITS}, got {unit!r}")
    if unit == "working_days" and float(value) != int(value):
        raise r.fail(f"{where}.value", "working days must be a whole number")
    basis = r.text(node, "basis", where)
    if basis not in ("source", "assumption"):
        raise r.fail(f"{where}.basis", f"must be 'source' or 'assumption', got {basis!r}")
    return SlaTarget(value=float(value), unit=unit, basis=basis, note=r.text(node, "note", where))


def _load_sla(path: Path, subcauses: tuple[str, ...]) -> tuple[SlaTarget, dict[str, SlaTarget]]:
    r = YamlFile(path)
    default = _read_sla(r, r.get(r.data, "default", "", dict), "default")
    targets = {}
    for code, node in r.get(r.data, "targets", "", dict, default={}).items():
        if code not in subcauses:
            raise r.fail(f"targets.{code}", f"unknown sub-cause; known: {list(subcauses)}")
        targets[code] = _read_sla(r, node, f"targets.{code}")
    r.refuse_unknown()
    return default, targets


def load_instrument(folder: str | Path | None = None) -> Instrument:
    """Load and validate the instrument.

    Parameters
    ----------
    folder : path, optional
        Folder holding the YAML files; default :func:`research.paths.surveys_dir`.

    Returns
    -------
    Instrument

    Raises
    ------
    InputError
        When a file is missing or a key is missing, mistyped or inconsistent;
        the message names the file and the key.
    """
    folder = Path(folder) if folder is not None else paths.surveys_dir()
    scales, items, threshold = _load_questionnaire(folder / "questionnaire.yaml")
    l1, l2, parent = _load_taxonomy(folder / "taxonomy.yaml")
    label_sets = _load_labels(folder / "labels.yaml")
    label_sets.update({"cause_l1": l1, "cause_l2": l2})
    fields = _load_fields(folder / "fields.yaml", label_sets, scales)
    sla_default, sla_targets = _load_sla(folder / "sla.yaml", l2.codes)
    item_scale = {i.name: i.scale for i in items}
    for kind, flist in fields.items():
        for f in flist:
            if f.kind == "answer" and f.name in item_scale and item_scale[f.name] != f.domain:
                raise InputError(f"{folder / 'fields.yaml'}: key '{kind}.{f.name}.type': scale "
                                 f"{f.domain!r} differs from questionnaire's {item_scale[f.name]!r}")
    top = scales[items[0].scale].codes if items else ()
    if top and not (min(top) <= threshold <= max(top)):
        raise InputError(f"{folder / 'questionnaire.yaml'}: key 'satisfied_threshold': "
                         f"{threshold} is outside the scale {top}")
    return Instrument(scales=scales, items=items, satisfied_threshold=threshold,
                      label_sets=label_sets, parent=parent, fields=fields,
                      sla_default=sla_default, sla_targets=sla_targets, source_dir=folder)
