"""The report: Markdown templates in Chinese and English rendered to HTML and DOCX.

Templates: ``paper/report.zh.md`` and ``paper/report.en.md`` (Markdown, chosen
over Quarto because it needs no external toolchain: the build is pure Python
and runs on a fresh machine). Two kinds of placeholder:

- ``{{ name }}``: a named value (:mod:`research.artifacts.values`), replaced by
  its text in the report's language;
- ``[[T03]]`` / ``[[F04]]``: a registered artifact. On a line of its own it
  embeds the table or figure (title, body, notes, caption); inside a sentence it
  becomes a reference ("表3" / "Table 3", a link in HTML).

The document (:func:`layout`): tables and figures are numbered 表1, 表2 ... and 图1 ... in the
order they appear (the registry id stays in the caption with the file name); an artifact is
embedded once (a second embed line becomes a reference); a table of more than
:data:`APPENDIX_ROWS` rows goes to a last part of the appendix (``## 附录`` / ``## Appendix``,
added when the template has none), its place in the body saying so. Table titles stand above
the table, figure titles below the figure (Chinese convention, both languages); titles are kept
on the page of what they name. DOCX pages are A4 with 2.5 cm margins; a table of at least
:data:`~research.artifacts.docx_util.WIDE_TABLE_COLUMNS` columns is set on a landscape page of its
own (a section before and after it), the rest portrait.

The build fails (:class:`ReportError`) on a placeholder naming no value or an
id that nothing produces, and on a missing or unreadable input file. Output per
language: one self-contained HTML file (figures embedded as base64 PNG, tables
inline) and one DOCX, each written atomically.

Tables come from the same :class:`research.artifacts.render_tables.Display` cells
as the per-table files (:class:`TableSource`), rendered by
:func:`~research.artifacts.render_tables.html_figure` and
:func:`~research.artifacts.render_tables.add_docx_table`; no table is parsed back
from Markdown. Named values are escaped for Markdown before the HTML is made
(:func:`md_value`), so no value can bring raw HTML, a link or emphasis.
"""

from __future__ import annotations

import base64
import html
import io
import re
from copy import deepcopy
from pathlib import Path

import pandas as pd

from research import paths
from research.artifacts import registry
from research.artifacts import render_tables as rt
from research.artifacts.docx_util import is_wide, keep_with_next, save_docx, switch_page, xml_text
from research.artifacts.report_layout import (APPENDIX_ROWS, EMBED_RE, REF_RE, _ref_label, _refs,  # noqa: F401
                                              _titles, layout)
from research.errors import InputError
from research.safeio import atomic_write_text

VALUE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
LANGS = ("zh", "en")


class ReportError(InputError):
    """A template names a value or an artifact that does not exist, or an input file is missing."""


def template_path(lang: str) -> Path:
    """``paper/report.<lang>.md`` of the checkout, else the copy installed with the package."""
    return paths.report_template(lang)


def check_template(text: str, values: pd.DataFrame, where: str) -> None:
    """Raise ReportError listing unknown value names and unregistered ids."""
    names = set(values["name"])
    unknown = sorted({m for m in VALUE_RE.findall(text) if m not in names})
    ids = {s.id for s in registry.REGISTRY}
    bad_refs = sorted({m for m in REF_RE.findall(text) if m not in ids})
    problems = []
    if unknown:
        problems.append(f"unresolved placeholder(s) {unknown}")
    if bad_refs:
        problems.append(f"reference(s) to unregistered artifact(s) {bad_refs}")
    if problems:
        raise ReportError(f"{where}: " + "; ".join(problems))


def cited_ids(text: str) -> set[str]:
    """The artifact ids a template cites."""
    return set(REF_RE.findall(text))


# --------------------------------------------------------------------------- values

def value_texts(values: pd.DataFrame, lang: str) -> dict[str, str]:
    """Named values of ``lang``: name -> display text (``str()`` of the ``lang`` column)."""
    return {str(k): str(v) for k, v in zip(values["name"], values[lang])}


def md_value(text) -> str:
    """A named value as Python-Markdown source that renders as exactly its text, inline.

    Parameters
    ----------
    text : the value's display text.

    Returns
    -------
    str: control characters dropped, tabs and newlines as spaces, ``& < >`` as entities
    (no raw HTML, no autolink), and the characters Python-Markdown gives a meaning inline
    (backslash, backtick, ``* _ [ ] | #``) backslash-escaped (no emphasis, link, image or
    reference ``[[T04]]`` from a value). Written by hand: Python-Markdown has no escaper;
    the set is its own ``ESCAPED_CHARS``, so every escape renders as the bare character.
    """
    text = xml_text(text).replace("\t", " ").replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)


def plain_value(text) -> str:
    """A named value as DOCX paragraph text: control characters dropped, tabs and newlines as spaces."""
    return xml_text(text).replace("\t", " ").replace("\n", " ")


def _fill(line: str, values: dict[str, str] | None, escape) -> str:
    """``{{ name }}`` placeholders of one line replaced by ``escape(value)``; as is without values."""
    if values is None:
        return line
    return VALUE_RE.sub(lambda m: escape(values[m.group(1)]), line)


def _artifact_file(out_root: Path, spec, suffix: str) -> Path:
    folder = "tables" if spec.kind == "table" else "figures"
    return out_root / folder / f"{spec.name}{suffix}"


def _read_bytes(path: Path, what: str) -> bytes:
    """The bytes of an input file of the report; ReportError naming it when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ReportError(f"{path}: cannot read {what} ({exc.strerror or type(exc).__name__}); "
                          "rebuild the artifacts first") from None


# --------------------------------------------------------------------------- tables

#: a table's <figure> in a per-table HTML file; every text in it went through html_text, so
#: data cannot hold "</figure>" and the non-greedy match ends at the figure's own end tag
_FIGURE_RE = re.compile(r'<figure class="research-table"[^>]*>.*?</figure>', re.S)


def _build_level(out_root: Path, bundle: dict | None) -> float:
    """The confidence level of a build (0..1): its bundle's plan, else the plan file the fit stage
    wrote into the build, else :data:`research.artifacts.levels.DEFAULT_CONF_LEVEL`."""
    from research.artifacts.levels import DEFAULT_CONF_LEVEL, conf_level

    if bundle is not None:
        return conf_level(bundle)
    used = Path(out_root) / "fit" / "analysis_plan_used.yaml"
    if not used.is_file():
        return DEFAULT_CONF_LEVEL
    from research.config.plan import load_plan

    return float(load_plan(used).conf_level)


class TableSource:
    """Where the report's tables come from: the Display of each table, or the per-table files.

    Parameters
    ----------
    out_root : the build folder (``tables/``, ``figures/``).
    bundle : the results (:func:`research.artifacts.bundle.make_bundle`). With it, each table's
        data is built once and displayed with :func:`research.artifacts.render_tables.display_table`,
        exactly as for the per-table files. Without it, the per-table HTML ``<figure>`` and the
        body of the per-table DOCX (both rendered from that same Display) are embedded as they are:
        the table CSV cannot stand in, since reading it back loses dtypes (booleans with gaps, codes
        with leading zeros) and the labels need the plan, the instrument and the ingest report.
    stamp : footer stamp under each table (none if None; the per-table files carry theirs).
    displays : ``(table id, lang) -> Display`` used before anything else (tests, custom tables).
    """

    def __init__(self, out_root: Path, *, bundle: dict | None = None, stamp=None,
                 displays: dict[tuple[str, str], rt.Display] | None = None):
        self.out_root = Path(out_root)
        self.bundle = bundle
        self.stamp = stamp
        self.displays = dict(displays or {})
        self._data: dict[str, pd.DataFrame] = {}
        self._level: float | None = None

    def spec(self, artifact_id: str):
        """The registry entry of ``artifact_id`` with its captions at the build's confidence level:
        the bundle's plan, else the plan the build used (``fit/analysis_plan_used.yaml``), else the
        plan's default."""
        if self._level is None:
            self._level = _build_level(self.out_root, self.bundle)
        return registry.get(artifact_id).at_level(self._level)

    def display(self, spec, lang: str) -> rt.Display | None:
        """The Display of ``spec`` in ``lang``, or None when neither ``displays`` nor a bundle has it."""
        if (spec.id, lang) in self.displays:
            return self.displays[(spec.id, lang)]
        if self.bundle is None:
            return None
        if spec.id not in self._data:
            self._data[spec.id] = spec.build_function()(self.bundle)
        return rt.display_table(spec, self._data[spec.id], lang, self.bundle)

    def _page(self, spec, lang: str) -> str:
        path = _artifact_file(self.out_root, spec, f".{lang}.html")
        return _read_bytes(path, f"table {spec.id}").decode("utf-8", errors="replace")

    def n_rows(self, spec, lang: str) -> int:
        """Body rows of the table: of its Display, else counted in the per-table HTML file."""
        disp = self.display(spec, lang)
        if disp is not None:
            return len(disp.rows)
        m = re.search(r"<tbody>(.*?)</tbody>", self._page(spec, lang), re.S)
        return 0 if m is None else m.group(1).count("<tr")

    def n_columns(self, spec, lang: str) -> int:
        """Columns of the table: of its Display, else counted in the per-table HTML file's header."""
        disp = self.display(spec, lang)
        if disp is not None:
            return len(disp.headers)
        m = re.search(r"<thead>(.*?)</thead>", self._page(spec, lang), re.S)
        return 0 if m is None else len(re.findall(r"<th[\s>]", m.group(1)))

    def html(self, spec, lang: str, title: str | None = None, caption: str | None = None) -> str:
        """The table as a ``<figure class="research-table">`` (no id: the report's section has it),
        with ``title`` (default: the per-table title) and ``caption`` (default: the registry's)."""
        disp = self.display(spec, lang)
        if disp is not None:
            return rt.html_figure(spec, disp, lang, self.stamp, title=title, caption=caption)
        page = self._page(spec, lang)
        m = _FIGURE_RE.search(page)
        if m is None:
            path = _artifact_file(self.out_root, spec, f".{lang}.html")
            raise ReportError(f"{path}: no table figure in the file; rebuild the tables")
        out = re.sub(r'^<figure class="research-table"[^>]*>', '<figure class="research-table">', m.group(0))
        if title is not None:
            out = re.sub(r"<caption>.*?</caption>", lambda _: f"<caption>{rt.html_text(title)}</caption>", out,
                         count=1, flags=re.S)
        return out

    def add_docx(self, doc, spec, lang: str, title: str | None = None, caption: str | None = None) -> None:
        """Append the table (title, table, notes, caption) to a python-docx ``Document``; ``title``
        and ``caption`` as in :meth:`html` (from the per-table file: the title only)."""
        disp = self.display(spec, lang)
        if disp is not None:
            rt.add_docx_table(doc, spec, disp, lang, self.stamp, title=title, caption=caption)
            return
        from docx import Document
        from docx.oxml.ns import qn

        path = _artifact_file(self.out_root, spec, f".{lang}.docx")
        try:
            part = Document(io.BytesIO(_read_bytes(path, f"table {spec.id}")))
        except ReportError:
            raise
        except Exception:  # python-docx raises several types on a file that is not a DOCX
            raise ReportError(f"{path}: not a readable DOCX file; rebuild the tables") from None
        sect = doc.element.body.find(qn("w:sectPr"))
        copied = [deepcopy(el) for el in part.element.body if el.tag != qn("w:sectPr")]
        if title is not None and copied and copied[0].tag == qn("w:p"):  # the per-table title paragraph
            texts = copied[0].findall(f".//{qn('w:t')}")
            for k, t in enumerate(texts):
                t.text = xml_text(title) if k == 0 else ""
        for el in copied:
            sect.addprevious(el)


# --------------------------------------------------------------------------- HTML

def _html_embed(spec, out_root: Path, lang: str, tables: TableSource, numbers: dict[str, str]) -> str:
    """A table (title above) or a figure (title below, Chinese convention) as HTML, titled once."""
    title, caption = _titles(spec, lang, numbers)
    if spec.kind == "figure":
        png = _read_bytes(_artifact_file(out_root, spec, f".{lang}.png"), f"figure {spec.id}")
        data = base64.b64encode(png).decode("ascii")
        return (f'<figure class="chart" id="{spec.id}">'
                f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}"/>'
                f'<figcaption><p class="title">{html.escape(title)}</p>'
                f'<p class="caption">{html.escape(caption)}</p></figcaption></figure>')
    return f'<section class="table" id="{spec.id}">{tables.html(spec, lang, title, caption)}</section>'


#: page style; tables take theirs from :data:`research.artifacts.render_text.TABLE_CSS` (three-line
#: tables, numbers right-aligned, text left-aligned), centred like the figures
STYLE = """body{font-family:'Noto Sans CJK SC','Microsoft YaHei','PingFang SC',sans-serif;max-width:60em;
margin:2em auto;line-height:1.6;padding:0 1em}img{max-width:100%}section.table{text-align:center;margin:1.2em 0}
section.table figure.research-table{text-align:left}figure.chart{margin:1.2em 0;text-align:center}
figure.chart .title{font-weight:bold;margin:.3em 0}.caption,figcaption{color:#444;font-size:.9em}
figure.chart .caption{text-align:left}
""" + rt.TABLE_CSS


def render_html(text: str, out_root: Path, lang: str, tables: TableSource | None = None,
                values: dict[str, str] | None = None) -> str:
    """Template -> one self-contained HTML page.

    Parameters
    ----------
    text : the template (``[[ID]]`` on its own line embeds; inside a sentence it links); laid
        out by :func:`layout` (numbers, appendix).
    out_root : the build folder (figures, and tables when ``tables`` has no Display).
    lang : ``zh`` or ``en``.
    tables : where tables come from (default: the per-table files under ``out_root``).
    values : name -> text of the named values, filled in escaped by :func:`md_value` after the
        references are resolved (so a value can never become a reference); None: ``text`` has
        no placeholders left.

    Returns
    -------
    str: the page.
    """
    import markdown

    tables = tables or TableSource(out_root)
    lines, numbers = layout(text, lang, lambda aid: tables.n_rows(tables.spec(aid), lang))
    blocks, buf = [], []
    for line in lines:
        m = EMBED_RE.fullmatch(line)
        if m:
            blocks.append(("md", "\n".join(buf)))
            buf = []
            blocks.append(("embed", m.group(1)))
        else:
            linked = _refs(line, lang, lambda aid: f'<a href="#{aid}">{_ref_label(aid, lang, numbers)}</a>')
            buf.append(_fill(linked, values, md_value))
    blocks.append(("md", "\n".join(buf)))
    parts = []
    for kind, content in blocks:
        if kind == "embed":
            parts.append(_html_embed(tables.spec(content), out_root, lang, tables, numbers))
        else:
            parts.append(markdown.markdown(content, extensions=["tables"]))
    title = re.search(r"^#\s+(.+)$", text, flags=re.M)
    head = html.escape(xml_text(_fill(title.group(1), values, plain_value)) if title else "report")
    return (f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f"<title>{head}</title><style>{STYLE}</style></head><body>\n" + "\n".join(parts)
            + "\n</body></html>\n")


# --------------------------------------------------------------------------- DOCX

def _docx_figure(doc, spec, out_root: Path, lang: str, numbers: dict[str, str]) -> None:
    """A figure: the picture (kept with its title), the numbered title below it, then the caption."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm

    title, caption = _titles(spec, lang, numbers)
    png = _artifact_file(out_root, spec, f".{lang}.png")
    _read_bytes(png, f"figure {spec.id}")  # a clear message when it is missing
    doc.add_picture(str(png), width=Cm(15))
    picture = doc.paragraphs[-1]
    picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
    keep_with_next(picture._p)
    rt._paragraph(doc, title, size=10.5, bold=True, keep_next=True).alignment = WD_ALIGN_PARAGRAPH.CENTER
    rt._paragraph(doc, caption, size=rt.DOCX_FONT_PT)


def _docx_text_line(doc, plain: str) -> None:
    """One template line that is not an embed: a heading (``#`` levels, kept with what follows),
    a bullet, or a paragraph."""
    if plain.startswith("#"):
        level = len(plain) - len(plain.lstrip("#"))
        heading = doc.add_heading(plain.lstrip("#").strip(), level=min(level, 4) - 1 if level > 1 else 0)
        keep_with_next(heading._p)
    elif plain.startswith("- "):
        doc.add_paragraph(plain[2:], style="List Bullet")
    elif plain.strip():
        doc.add_paragraph(plain)


def _landscape_lines(lines: list[str], tables: TableSource, lang: str) -> list[bool]:
    """For each laid-out line, whether it goes on a landscape page: the embed of a wide table
    (:func:`research.artifacts.docx_util.is_wide`), and a heading whose next non-blank line is one
    (so that the heading opens the table's page instead of ending the page before it)."""
    flags = []
    for line in lines:
        m = EMBED_RE.fullmatch(line.rstrip())
        spec = tables.spec(m.group(1)) if m else None
        flags.append(spec is not None and spec.kind == "table" and is_wide(tables.n_columns(spec, lang)))
    following = False
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].strip():
            continue
        if lines[i].lstrip().startswith("#") and following:
            flags[i] = True
        following = flags[i]
    return flags


def render_docx(text: str, out_root: Path, lang: str, path: Path, tables: TableSource | None = None,
                values: dict[str, str] | None = None) -> None:
    """Template -> DOCX (A4, headings, paragraphs, bullet lists, tables, figures), written atomically.

    Parameters as :func:`render_html` (laid out by :func:`layout`); values are filled in by
    :func:`plain_value`; ``path``: the file to write.
    """
    tables = tables or TableSource(out_root)
    lines, numbers = layout(text, lang, lambda aid: tables.n_rows(tables.spec(aid), lang))
    doc = rt.new_docx(lang)  # A4, 2.5 cm margins, the package's fonts
    wide = _landscape_lines(lines, tables, lang)
    for line, landscape in zip(lines, wide):
        s = line.rstrip()
        m = EMBED_RE.fullmatch(s)
        spec = tables.spec(m.group(1)) if m else None
        if s.strip():  # a wide table on a landscape page of its own, everything else portrait
            switch_page(doc, landscape)
        if m:
            if spec.kind == "figure":
                _docx_figure(doc, spec, out_root, lang, numbers)
            else:
                tables.add_docx(doc, spec, lang, *_titles(spec, lang, numbers))
            continue
        plain = _refs(s, lang, lambda aid: _ref_label(aid, lang, numbers))
        _docx_text_line(doc, xml_text(_fill(plain.replace("`", ""), values, plain_value)))
    save_docx(doc, path)


# --------------------------------------------------------------------------- build

def build_report(values: pd.DataFrame, out_root: Path, report_dir: Path, *, bundle: dict | None = None,
                 stamp=None) -> dict[str, Path]:
    """Render both languages; returns the paths written (``report.<lang>.html``, ``.docx``).

    Parameters
    ----------
    values : the named values (``name``, ``zh``, ``en``, ...).
    out_root : the build folder holding ``tables/`` and ``figures/``.
    report_dir : where to write.
    bundle : the results the tables were built from; with it every table is rendered from its
        Display (see :class:`TableSource`); without it the per-table files are embedded.
    stamp : footer stamp under each table (with ``bundle``; the per-table files carry theirs).

    Raises
    ------
    ReportError
        A template cites an unknown value or an unregistered artifact, or cannot be read; a table
        or figure file is missing.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    tables = TableSource(out_root, bundle=bundle, stamp=stamp)
    written = {}
    for lang in LANGS:
        src = template_path(lang)
        try:
            text = _read_bytes(src, "the report template").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReportError(f"{src}: not UTF-8 text (byte {exc.start})") from None
        check_template(text, values, str(src))
        texts = value_texts(values, lang)
        page = render_html(text, out_root, lang, tables, values=texts)
        written[f"{lang}.html"] = atomic_write_text(report_dir / f"report.{lang}.html", page)
        render_docx(text, out_root, lang, report_dir / f"report.{lang}.docx", tables, values=texts)
        written[f"{lang}.docx"] = report_dir / f"report.{lang}.docx"
    return written
