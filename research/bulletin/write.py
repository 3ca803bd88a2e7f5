"""Writing a bulletin: one self-contained HTML page and one Word document per language, and one CSV per
table (:func:`write_bulletin`).
"""

from __future__ import annotations

from pathlib import Path

import hashlib
import io
import pandas as pd

from research.artifacts import labels
from research.artifacts.docx_util import FIXED_TIME, normalise_zip, xml_text
from research.artifacts.render_docx import _paragraph, add_docx_table, new_docx
from research.artifacts.render_tables import write_csv
from research.artifacts.render_text import html_figure, html_page, html_text
from research.artifacts.words import word
from research.bulletin import sections
from research.bulletin.summary import summary
from research.bulletin.display import SPECS, display
from research.bulletin.periods import _check_period, period_of
from research.errors import InputError
from research.safeio import atomic_write_bytes, atomic_write_text


def _tables_hash(tables: dict[str, pd.DataFrame]) -> str:
    h = hashlib.sha256()
    for name in sorted(tables):
        h.update(name.encode())
        h.update(tables[name].to_csv(index=False, float_format="%.17g").encode("utf-8"))
    return h.hexdigest()

#: CSS the bulletin adds to the tables' own
_BULLETIN_CSS = "h1 { font-size: 1.4em; }\nsection.bulletin-table { margin: 1.5em 0; }\n"


def _html_document(title: str, tables: list[tuple], lang: str, stamp, opening: str = "") -> str:
    """One page: a heading, the opening paragraph, then every table's figure rendered from its Display.

    ``tables``: ``(spec, Display)`` pairs in order. Every text is escaped by
    :func:`research.artifacts.render_tables.html_text`; nothing is cut out of another page.
    """
    body = [f"<h1>{html_text(title)}</h1>"]
    if opening:
        body.append(f'<p class="bulletin-summary"><strong>{html_text(word("summary_title", lang))}</strong> '
                    f"{html_text(opening)}</p>")
    for spec, disp in tables:
        body += ['<section class="bulletin-table">', html_figure(spec, disp, lang, stamp, element_id=spec.id),
                 "</section>"]
    return html_page(title, lang, body, extra_css=_BULLETIN_CSS)


def _docx_document(title: str, tables: list[tuple], lang: str, stamp, opening: str = "") -> bytes:
    """One Word document: a heading, the opening paragraph, then every table (:func:`add_docx_table`)."""
    doc = new_docx(lang)
    _paragraph(doc, title, size=14, bold=True)
    if opening:
        _paragraph(doc, f"{word('summary_title', lang)}  {opening}", size=10.5)
    for spec, disp in tables:
        add_docx_table(doc, spec, disp, lang, stamp)
    props = doc.core_properties
    props.title = xml_text(title)
    props.subject = "bulletin"
    props.comments = ""
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    props.last_printed = FIXED_TIME
    props.revision = 1
    buf = io.BytesIO()
    doc.save(buf)
    return normalise_zip(buf.getvalue())


def write_bulletin(tables: dict[str, pd.DataFrame], out_dir, *, period: str, at, lang: str = "zh",
                   stamp=None, instrument=None, conf_level: float = 0.95) -> dict[str, Path]:
    """Write the bulletin: ``bulletin_<period>_<start>.<lang>.html`` and ``.docx``, one CSV per table.

    ``<start>`` is the first day of the period (YYYY-MM-DD). CSVs are
    ``bulletin_<period>_<start>_<table>.csv``: UTF-8 with BOM, machine names and codes, full
    precision. ``stamp``: anything with ``text(lang)`` (e.g. :class:`research.artifacts.stamp.Stamp`,
    :class:`research.artifacts.stamp.Stamp`); default a hash of the tables and the git commit.

    Returns
    -------
    dict: ``"html"``, ``"docx"`` and ``"csv:<table>"`` -> path written.
    """
    _check_period(period)
    if lang not in labels.LANGS:
        raise InputError(f"--lang {lang!r}: use one of {', '.join(labels.LANGS)}")
    p = period_of(period, at)
    if instrument is None:
        from research.config.instrument import load_instrument
        instrument = load_instrument()
    if stamp is None:
        from research.artifacts.stamp import Stamp, git_commit
        stamp = Stamp(_tables_hash(tables), git_commit())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"bulletin_{period}_{p.start.date().isoformat()}"
    names = [s.key for s in sections.SECTIONS if s.key in tables]
    shown = [(SPECS[name], display(name, tables[name], lang, instrument, conf_level)) for name in names]
    title = p.title(lang)
    written: dict[str, Path] = {}
    opening = summary(tables, lang)
    written["html"] = atomic_write_text(out / f"{stem}.{lang}.html",
                                        _html_document(title, shown, lang, stamp, opening))
    written["docx"] = atomic_write_bytes(out / f"{stem}.{lang}.docx",
                                         _docx_document(title, shown, lang, stamp, opening))
    for name in names:
        path = out / f"{stem}_{name}.csv"
        write_csv(tables[name], path)
        written[f"csv:{name}"] = path
    return written
