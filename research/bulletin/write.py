"""Writing a bulletin: one self-contained HTML page and one Word document per language, and one CSV per
table (:func:`write_bulletin`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import base64
import hashlib
import io
import pandas as pd

from research.artifacts import labels
from research.artifacts.docx_util import FIXED_TIME, normalise_zip, set_page, switch_page, xml_text
from research.artifacts.docx_util import is_wide as docx_is_wide
from research.artifacts.render_docx import _paragraph, add_docx_table, new_docx
from research.artifacts.render_tables import write_csv
from research.artifacts.render_text import html_figure, html_page, html_text
from research.artifacts.words import word
from research.bulletin import sections
from research.bulletin.charts import CHARTS, data_key, render
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
_BULLETIN_CSS = ("h1 { font-size: 1.4em; }\nsection.bulletin-table { margin: 1.5em 0; }\n"
                 "figure.bulletin-chart { margin: 1.5em 0; max-width: 50em; }\n"
                 "figure.bulletin-chart img { width: 100%; height: auto; }\n"
                 "figure.bulletin-chart figcaption p { margin: 0.25em 0; font-size: 0.9em; }\n"
                 "figure.bulletin-chart p.title { font-weight: 600; text-align: center; font-size: 1em; }\n")

#: the Word document's margins (cm) on A4; a table of at least
#: :data:`research.artifacts.docx_util.WIDE_TABLE_COLUMNS` columns (the by-region and by-station
#: tables, 12 and 13 columns, and the repeat callers, 10) goes into a landscape section, so a station
#: name and the numbers each fit one line; the HTML page is wide enough as it is
MARGIN_CM = 2.0


@dataclass(frozen=True)
class _Figure:
    """A chart placed in the bulletin: its number (图 1, 2, ... in order of appearance), title,
    caption and PNG bytes."""

    number: int
    title: str
    caption: str
    png: bytes


def _html_chart(f: _Figure, lang: str) -> str:
    """A chart as ``<figure class="bulletin-chart">``: the PNG (base64), then its title and caption
    below (the Chinese convention for figures)."""
    label = html_text(f"{word('ref_figure', lang, id=f.number)}  {f.title}")
    data = base64.b64encode(f.png).decode("ascii")
    return "\n".join([f'<figure class="bulletin-chart" id="figure-{f.number}">',
                      f'<img alt="{html_text(f.title)}" src="data:image/png;base64,{data}">',
                      f'<figcaption><p class="title">{label}</p><p class="caption">{html_text(f.caption)}</p>'
                      "</figcaption>", "</figure>"])


def _html_document(title: str, items: list, lang: str, stamp, opening: str = "") -> str:
    """One page: a heading, the opening paragraph, then every table (rendered from its Display) and
    chart in order.

    ``items``: ``(spec, Display)`` pairs and :class:`_Figure` s in order. Every text is escaped by
    :func:`research.artifacts.render_tables.html_text`; nothing is cut out of another page.
    """
    body = [f"<h1>{html_text(title)}</h1>"]
    if opening:
        body.append(f'<p class="bulletin-summary"><strong>{html_text(word("summary_title", lang))}</strong> '
                    f"{html_text(opening)}</p>")
    for item in items:
        if isinstance(item, _Figure):
            body.append(_html_chart(item, lang))
            continue
        spec, disp = item
        body += ['<section class="bulletin-table">', html_figure(spec, disp, lang, stamp, element_id=spec.id),
                 "</section>"]
    return html_page(title, lang, body, extra_css=_BULLETIN_CSS)


def is_wide(disp) -> bool:
    """Whether a table goes into a landscape section of the DOCX (:func:`research.artifacts.docx_util.is_wide`)."""
    return docx_is_wide(len(disp.headers))


def _docx_chart(doc, f: _Figure, lang: str) -> None:
    """The PNG at the text width (or less, so that it and its title fit the page), centred, then
    the title (bold) and caption below, kept together."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm
    from PIL import Image

    sec = doc.sections[-1]
    width = sec.page_width - sec.left_margin - sec.right_margin
    room = sec.page_height - sec.top_margin - sec.bottom_margin - Cm(3)  # the title and caption below
    w_px, h_px = Image.open(io.BytesIO(f.png)).size
    if width * h_px / w_px > room:
        width = int(room * w_px / h_px)
    doc.add_picture(io.BytesIO(f.png), width=int(width))
    pic = doc.paragraphs[-1]
    pic.alignment = WD_ALIGN_PARAGRAPH.CENTER
    pic.paragraph_format.keep_with_next = True
    _paragraph(doc, f"{word('ref_figure', lang, id=f.number)}  {f.title}", size=10.5, bold=True,
               keep_next=True).alignment = WD_ALIGN_PARAGRAPH.CENTER
    _paragraph(doc, f.caption, size=9)


def _docx_document(title: str, items: list, lang: str, stamp, opening: str = "") -> bytes:
    """One Word document on A4: a heading, the opening paragraph, then every table
    (:func:`add_docx_table`) and chart in order; a run of wide tables (:func:`is_wide`) in a
    landscape section of its own."""
    doc = new_docx(lang)
    set_page(doc.sections[0], landscape=False, margin_cm=MARGIN_CM)
    _paragraph(doc, title, size=14, bold=True)
    if opening:
        _paragraph(doc, f"{word('summary_title', lang)}  {opening}", size=10.5)
    for item in items:
        switch_page(doc, not isinstance(item, _Figure) and is_wide(item[1]), margin_cm=MARGIN_CM)
        if isinstance(item, _Figure):
            _docx_chart(doc, item, lang)
        else:
            add_docx_table(doc, item[0], item[1], lang, stamp)
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


def _write_charts(tables: dict[str, pd.DataFrame], out: Path, stem: str, lang: str, stamp, conf_level: float,
                  instrument, min_n: int) -> tuple[dict[str, list], dict[str, Path]]:
    """Draw every chart whose data ``tables`` hold; write its data (CSV), PNG and SVG. Returns the
    charts by the section they follow (numbered in order of appearance) and the paths written."""
    placed: dict[str, list] = {}
    written: dict[str, Path] = {}
    order = [s.key for s in sections.SECTIONS]
    shown = [c for c in CHARTS if data_key(c) in tables]
    shown.sort(key=lambda c: order.index(c.after) if c.after in order else len(order))  # stable: CHARTS order
    for number, chart in enumerate(shown, start=1):
        key = data_key(chart)
        png, svg = render(chart, tables[key], lang, stamp, conf_level, instrument)
        write_csv(tables[key], out / f"{stem}_{key}.csv")
        written[f"csv:{key}"] = out / f"{stem}_{key}.csv"
        written[f"png:{chart.key}"] = atomic_write_bytes(out / f"{stem}_{key}.{lang}.png", png)
        written[f"svg:{chart.key}"] = atomic_write_bytes(out / f"{stem}_{key}.{lang}.svg", svg)
        fig = _Figure(number, chart.title(lang, conf_level), chart.caption(lang, conf_level, min_n), png)
        placed.setdefault(chart.after, []).append(fig)
    return placed, written


def write_bulletin(tables: dict[str, pd.DataFrame], out_dir, *, period: str, at, lang: str = "zh",
                   stamp=None, instrument=None, conf_level: float = 0.95) -> dict[str, Path]:
    """Write the bulletin: ``bulletin_<period>_<start>.<lang>.html`` and ``.docx``, one CSV per table.

    ``<start>`` is the first day of the period (YYYY-MM-DD). CSVs are
    ``bulletin_<period>_<start>_<table>.csv``: UTF-8 with BOM, machine names and codes, full
    precision. ``stamp``: anything with ``text(lang)`` (e.g. :class:`research.artifacts.stamp.Stamp`,
    :class:`research.artifacts.stamp.Stamp`); default a hash of the tables and the git commit.

    Returns
    -------
    dict: ``"html"``, ``"docx"``, ``"csv:<table>"`` (tables and the charts' data, ``csv:chart_<key>``),
    ``"png:<chart>"`` and ``"svg:<chart>"`` (``bulletin_<period>_<start>_chart_<key>.<lang>.png``) -> path
    written.
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
    min_n = int(tables["by_station"].attrs.get("min_n", 30)) if "by_station" in tables else 30
    charts, chart_files = _write_charts(tables, out, stem, lang, stamp, conf_level, instrument, min_n)
    items: list = []
    for name in names:
        items.append((SPECS[name], display(name, tables[name], lang, instrument, conf_level)))
        items += charts.get(name, [])
    title = p.title(lang)
    written: dict[str, Path] = {}
    opening = summary(tables, lang)
    written["html"] = atomic_write_text(out / f"{stem}.{lang}.html",
                                        _html_document(title, items, lang, stamp, opening))
    written["docx"] = atomic_write_bytes(out / f"{stem}.{lang}.docx",
                                         _docx_document(title, items, lang, stamp, opening))
    for name in names:
        path = out / f"{stem}_{name}.csv"
        write_csv(tables[name], path)
        written[f"csv:{name}"] = path
    written.update(chart_files)
    return written
