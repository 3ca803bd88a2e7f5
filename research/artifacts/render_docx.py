"""The DOCX writer of a table from its :class:`~research.artifacts.table_cells.Display`:
:func:`add_docx_table` (also used by the report and the bulletin) and :func:`render_docx` (one
table's Word document, byte-identical for the same input: fixed core properties and zip times).

Every text becomes a run (python-docx escapes XML), control characters dropped by
:func:`research.artifacts.docx_util.xml_text`.
"""

from __future__ import annotations

import copy
import functools
import io
from collections.abc import Sequence

from research.artifacts.docx_util import (DOCX_EAST_ASIA_FONT, FIXED_TIME, core_property, keep_with_next,
                                         is_wide, normalise_zip, page_a4, set_page, xml_text)
from research.artifacts.registry import ArtifactSpec
from research.artifacts.stamp import Stamp
from research.artifacts.table_cells import Display, title_line

#: fonts: Latin and East Asian text in DOCX
DOCX_FONT = "Times New Roman"
DOCX_FONT_PT = 9

def _set_fonts(rpr_parent, size_pt: float | None = None) -> None:
    """Latin and East Asian fonts (and size) on a run or style (python-docx object with ``.font``/``.element``)."""
    from docx.oxml.ns import qn
    from docx.shared import Pt

    rpr_parent.font.name = DOCX_FONT
    if size_pt is not None:
        rpr_parent.font.size = Pt(size_pt)
    rpr = rpr_parent.element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attr), DOCX_FONT)
    fonts.set(qn("w:eastAsia"), DOCX_EAST_ASIA_FONT)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)


def _border(element, edges: dict[str, tuple[str, int]], tag: str) -> None:
    """Set borders (``edge -> (val, size in 1/8 pt)``) under ``tag`` (``w:tblBorders`` or ``w:tcBorders``)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    box = element.find(qn(tag))
    if box is None:
        box = OxmlElement(tag)
        element.append(box)
    for edge, (val, size) in edges.items():
        el = box.find(qn(f"w:{edge}"))
        if el is None:
            el = OxmlElement(f"w:{edge}")
            box.append(el)
        el.set(qn("w:val"), val)
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000" if val != "nil" else "auto")


def _format_cell_paragraph(par, text: str, *, bold=False, italic=False, align="l", indent=False) -> None:
    """Format a table cell's paragraph and add its run, through python-docx's API (the reference
    for :func:`_tc_text`, which copies what this makes)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    par.alignment = WD_ALIGN_PARAGRAPH.RIGHT if align == "r" else WD_ALIGN_PARAGRAPH.LEFT
    par.paragraph_format.space_before = Pt(1)
    par.paragraph_format.space_after = Pt(1)
    if indent:
        par.paragraph_format.left_indent = Pt(12)
    run = par.add_run(xml_text(text))
    run.bold = bold or None
    run.italic = italic or None
    _set_fonts(run, DOCX_FONT_PT)


@functools.cache
def _cell_template(bold: bool, italic: bool, right: bool, indent: bool):
    """A cell paragraph (``w:p``) holding the paragraph properties and an empty run with its run
    properties, made by :func:`_format_cell_paragraph` once per combination of formats. Holds no
    reference to any document, so one copy serves every document."""
    from docx.oxml import OxmlElement
    from docx.text.paragraph import Paragraph

    p = OxmlElement("w:p")
    _format_cell_paragraph(Paragraph(p, None), "", bold=bold, italic=italic, align="r" if right else "l",
                           indent=indent)
    return p


_W_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_W_P, _W_T, _W_TC, _W_TCPR, _W_TCW = (f"{_W_NS}{t}" for t in ("p", "t", "tc", "tcPr", "tcW"))
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


def _tc_text(tc, text: str, *, bold=False, italic=False, align="l", indent=False) -> None:
    """Write ``text`` into a table cell (``w:tc``) with the cell formats: the same XML as
    :func:`_format_cell_paragraph` on the cell's first paragraph.

    Written with lxml because python-docx's API was too slow here: each cell's formats went through
    some 15 property setters, each finding or inserting a child in schema order
    (``get_or_add_child``), about 0.5 ms a cell; the tables of one build have about 9,000 cells.
    Here the paragraph and run properties are copied from a template python-docx made
    (:func:`_cell_template`), and the text goes into one ``w:t`` as python-docx writes it (kept
    spaces marked ``xml:space="preserve"``); text with a tab or line break, or a cell whose
    paragraph is not empty, goes through python-docx as before.
    """
    clean = xml_text(text)
    p = tc.find(_W_P)
    if p is None or len(p) or len(p.attrib):  # not a fresh cell: python-docx's API
        from docx.text.paragraph import Paragraph

        _format_cell_paragraph(Paragraph(tc.p_lst[0], None), clean, bold=bold, italic=italic, align=align,
                               indent=indent)
        return
    for child in _cell_template(bool(bold), bool(italic), align == "r", bool(indent)):
        p.append(copy.deepcopy(child))
    if not clean:
        return
    run = p[-1]
    if "\t" in clean or "\n" in clean or "\r" in clean:
        run.text = clean  # python-docx: tabs and line breaks become w:tab and w:br
        return
    t = run.makeelement(_W_T, {})
    t.text = clean
    if len(clean.strip()) < len(clean):
        t.set(_XML_SPACE, "preserve")
    run.append(t)


def _cell_text(cell, text: str, *, bold=False, italic=False, align="l", indent=False) -> None:
    """Text and formats of a python-docx table cell (:func:`_tc_text`)."""
    _tc_text(cell._tc, text, bold=bold, italic=italic, align=align, indent=indent)


def _paragraph(doc, text: str, *, size: float, bold=False, color: str | None = None, keep_next=False):
    from docx.shared import Pt, RGBColor

    par = doc.add_paragraph()
    par.paragraph_format.space_after = Pt(3)
    par.paragraph_format.keep_with_next = keep_next or None
    run = par.add_run(xml_text(text))
    run.bold = bold or None
    if color:
        run.font.color.rgb = RGBColor.from_string(color)
    _set_fonts(run, size)
    return par


def new_docx(lang: str):
    """An empty python-docx ``Document`` whose Normal style has the package's Latin and East Asian
    fonts and the language of ``lang`` (``zh`` or ``en``)."""
    from docx import Document
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    doc = Document()
    page_a4(doc)
    normal = doc.styles["Normal"]
    _set_fonts(normal, 10.5)
    lang_el = normal.element.get_or_add_rPr().find(qn("w:lang"))
    if lang_el is None:
        lang_el = OxmlElement("w:lang")
        normal.element.get_or_add_rPr().append(lang_el)
    lang_el.set(qn("w:val"), "zh-CN" if lang == "zh" else "en-US")
    lang_el.set(qn("w:eastAsia"), "zh-CN")
    return doc


#: left and right cell padding of a table with fixed column widths (twips; Word's default is 108)
DOCX_NARROW_PADDING = 57


def _text_width_emu(doc) -> int:
    sec = doc.sections[-1]
    return sec.page_width - sec.left_margin - sec.right_margin


#: natural column widths (:func:`content_widths`): cm per half-width character of 9 pt text (a CJK
#: character counts two), cell padding, the widest a header counts before it wraps, and the
#: narrowest a text column is squeezed to (both in half-width characters)
CM_PER_CHAR = 0.17
CELL_PAD_CM = 0.3
HEADER_WRAP_CHARS = 12
MIN_TEXT_CHARS = 12
#: the first column names the rows (a station, a sub-cause): squeezed no narrower than this, so that
#: a 7-character station name (广州番禺供电所) stays on one line
MIN_LABEL_CHARS = 16


def _chars(text: str) -> int:
    """Width of a text in half-width characters (CJK and full-width forms count two)."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in str(text))


def content_widths(disp: Display, available_cm: float) -> list[float]:
    """Column widths (cm) from the content of a Display: each column as wide as its widest cell
    and its header up to :data:`HEADER_WRAP_CHARS` (headers wrap, cells of numbers should not);
    when the sum exceeds ``available_cm``, the text (``l``) columns give way first, down to
    :data:`MIN_TEXT_CHARS`, then every column in proportion. Spanning rows do not count."""
    cols = []
    for j, (head, align) in enumerate(zip(disp.headers, disp.align, strict=True)):
        cells = [r.cells[j] for r in disp.rows if not r.span and j < len(r.cells)]
        indent = 2 if j == 0 and any(r.indent for r in disp.rows) else 0
        widest = max([_chars(c) + indent for c in cells] + [min(_chars(head), HEADER_WRAP_CHARS), 2])
        cols.append(widest)
    units = available_cm / CM_PER_CHAR - CELL_PAD_CM / CM_PER_CHAR * len(cols)
    excess = sum(cols) - units
    text = [j for j, a in enumerate(disp.align) if a == "l"]
    floor = {j: MIN_LABEL_CHARS if j == 0 else MIN_TEXT_CHARS for j in text}
    room = sum(max(cols[j] - floor[j], 0) for j in text)
    if excess > 0 and room > 0:
        cut = min(excess / room, 1.0)
        for j in text:
            cols[j] -= max(cols[j] - floor[j], 0) * cut
    if sum(cols) > units:  # the other columns give way in proportion, the label keeps its floor
        label = min(cols[0], MIN_LABEL_CHARS) if 0 in floor else 0.0
        rest = sum(cols) - label
        scale = max(units - label, 0.0) / rest if rest > 0 else 1.0
        cols = [c if (j == 0 and label) else c * scale for j, c in enumerate(cols)]
    return [c * CM_PER_CHAR + CELL_PAD_CM for c in cols]


def _column_widths(doc, table, widths: Sequence[float], total: int | None = None) -> None:
    """Fixed column widths in proportion to ``widths``, together ``total`` EMU (default: the text
    width of the last section), with narrower cell padding (:data:`DOCX_NARROW_PADDING`)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Emu

    total = _text_width_emu(doc) if total is None else total
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    mar = OxmlElement("w:tblCellMar")
    for edge in ("left", "right"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:w"), str(DOCX_NARROW_PADDING))
        el.set(qn("w:type"), "dxa")
        mar.append(el)
    look = tbl_pr.find(qn("w:tblLook"))
    if look is not None:  # schema order: ... tblLayout, tblCellMar, tblLook
        look.addprevious(mar)
    else:
        tbl_pr.append(mar)
    emus = [Emu(int(total * w / sum(widths))) for w in widths]
    for col, w in zip(table._tbl.tblGrid.gridCol_lst, emus, strict=True):
        col.w = w
    rows = table._tbl.findall(qn("w:tr"))
    if not rows:
        return
    first = rows[0].findall(_W_TC)
    for tc, w in zip(first, emus, strict=True):
        tc.width = w  # python-docx: w:tcPr/w:tcW in twips
    # the other rows get the same w:tcW attributes with lxml (python-docx's cell.width costs a
    # property chain per cell); every row of a table just made has one w:tc per column
    widths_xml = [dict(tc.find(_W_TCPR).find(_W_TCW).attrib) for tc in first]
    for tr in rows[1:]:
        for tc, attrs in zip(tr.findall(_W_TC), widths_xml, strict=True):
            tc_pr = tc.find(_W_TCPR)
            tc_w = None if tc_pr is None else tc_pr.find(_W_TCW)
            if tc_w is None:
                tc_w = tc.get_or_add_tcPr().get_or_add_tcW()
            for key, value in attrs.items():
                tc_w.set(key, value)


#: a table of at most this many rows is kept on one page with its title, notes and caption
KEEP_TOGETHER_ROWS = 15


def add_docx_table(doc, spec: ArtifactSpec, disp: Display, lang: str, stamp: Stamp | None = None, *,
                   title: str | None = None, caption: str | None = None) -> None:
    """Append a table to a python-docx ``Document``, cell by cell from the Display: title paragraph
    (kept with the table), a three-line table (top and bottom rules, a rule under the header; no
    vertical or inner rules; row groups set apart by space) with a repeated header row and column
    widths from the content (:func:`content_widths`, or ``disp.widths`` across the text width),
    then notes, caption and the stamp (none if None). A table of at most
    :data:`KEEP_TOGETHER_ROWS` rows is kept on one page with its title and notes.

    ``title`` / ``caption``: shown instead of ``title_line(spec, lang)`` / ``spec.caption(lang)``
    (the report numbers its tables in order of appearance). Every text becomes a run (python-docx
    escapes XML), control characters dropped by :func:`xml_text`; nothing is parsed back from
    another format. Used by :func:`render_docx`, the report and the bulletin.
    """
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Emu, Pt
    from docx.text.paragraph import Paragraph

    head = _paragraph(doc, title_line(spec, lang) if title is None else title, size=10.5, bold=True,
                      keep_next=True)
    head.alignment = WD_ALIGN_PARAGRAPH.CENTER  # over the centred table (Chinese convention)
    head.paragraph_format.space_before = Pt(9)
    n = len(disp.headers)
    table = doc.add_table(rows=1 + len(disp.rows), cols=n)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    tbl_pr = table._tbl.tblPr
    _border(tbl_pr, {"top": ("single", 12), "bottom": ("single", 12), "left": ("nil", 0), "right": ("nil", 0),
                     "insideH": ("nil", 0), "insideV": ("nil", 0)}, "w:tblBorders")
    header = table.rows[0]
    tr_pr = header._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    tr_pr.append(repeat)
    for cell, text, a in zip(header.cells, disp.headers, disp.align, strict=True):
        _cell_text(cell, text, bold=True, align=a)
        _border(cell._tc.get_or_add_tcPr(), {"bottom": ("single", 6)}, "w:tcBorders")
    if disp.widths is not None:
        _column_widths(doc, table, disp.widths)
    else:
        available = _text_width_emu(doc)
        cm = content_widths(disp, available / Cm(1))
        natural = sum(Cm(w) for w in cm)  # a table narrower than the text keeps its width, centred
        _column_widths(doc, table, cm, total=Emu(int(natural)) if natural < available - Cm(0.05) else None)
    trs = table._tbl.findall(qn("w:tr"))
    for i, row in enumerate(disp.rows):
        if row.span:
            cells = table.rows[i + 1].cells
            merged = cells[0].merge(cells[-1]) if n > 1 else cells[0]
            _cell_text(merged, row.cells[0], italic=True)
            targets = [merged._tc]
        else:
            # w:tc elements rather than python-docx cells: a table just made has one per column
            targets = trs[i + 1].findall(_W_TC)
            for j, (tc, text, a) in enumerate(zip(targets, row.cells, disp.align, strict=True)):
                _tc_text(tc, text, bold=row.bold, align=a, indent=row.indent and j == 0)
        if row.rule_before and i > 0:  # a new group: space above, no inner rule (three-line table)
            for tc in targets:
                for p in tc.findall(_W_P):
                    Paragraph(p, None).paragraph_format.space_before = Pt(6)
    keep = len(disp.rows) <= KEEP_TOGETHER_ROWS
    if keep:
        for tr in trs:
            for p in tr.iter(_W_P):
                keep_with_next(p)
    after = list(disp.notes) + [spec.caption(lang) if caption is None else caption]
    for k, note in enumerate(after):
        _paragraph(doc, note, size=DOCX_FONT_PT, keep_next=keep and k < len(after) - 1)
    if stamp is not None:
        _paragraph(doc, stamp.text(lang), size=8, color="777777")


def render_docx(spec: ArtifactSpec, disp: Display, lang: str, stamp: Stamp) -> bytes:
    """A Word document: title paragraph, a three-line table with a repeated header row, then notes,
    caption and stamp (:func:`add_docx_table`), on a landscape A4 page when the table has at least
    :data:`research.artifacts.docx_util.WIDE_TABLE_COLUMNS` columns; fixed core properties and zip entry times, so the
    bytes repeat."""
    doc = new_docx(lang)
    if is_wide(len(disp.headers)):  # a wide table on a landscape page
        set_page(doc.sections[0], landscape=True)
    add_docx_table(doc, spec, disp, lang, stamp)
    props = doc.core_properties
    props.title = core_property(title_line(spec, lang))
    props.subject = spec.id
    props.author = "research"
    props.last_modified_by = "research"
    props.language = "zh-CN" if lang == "zh" else "en-US"
    props.comments = core_property(spec.caption(lang))
    props.revision = 1
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    props.last_printed = FIXED_TIME
    buf = io.BytesIO()
    doc.save(buf)
    return normalise_zip(buf.getvalue())
