"""The DOCX tables written with lxml are the XML python-docx's API writes.

render_tables fills table cells by copying paragraph and run properties from a template that
python-docx made (``_tc_text``) and sets column widths with lxml after the first row
(``_column_widths``). The reference here is the python-docx API throughout (each cell's formats
through its setters, each cell's width through ``cell.width``); the documents' XML must be equal,
for every registered table of the sample in both languages and for awkward cell texts.
"""

from __future__ import annotations

import pytest
from docx.shared import Emu
from docx.text.paragraph import Paragraph
from lxml import etree

from research.artifacts import render_docx as rdx
from research.artifacts import render_tables as rt
from research.artifacts.registry import TABLES, get
from research.artifacts.stamp import Stamp

STAMP = Stamp(data_sha256="0123456789abcdef" * 4, commit="abc1234567", seed=918273)


def _api_tc_text(tc, text, *, bold=False, italic=False, align="l", indent=False):
    rdx._format_cell_paragraph(Paragraph(tc.p_lst[0], None), text, bold=bold, italic=italic, align=align,
                              indent=indent)


def _api_column_widths(doc, table, widths, total=None):
    """rdx._column_widths as it was: python-docx's cell.width on every cell."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    sec = doc.sections[-1]
    total = sec.page_width - sec.left_margin - sec.right_margin if total is None else total
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    mar = OxmlElement("w:tblCellMar")
    for edge in ("left", "right"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:w"), str(rdx.DOCX_NARROW_PADDING))
        el.set(qn("w:type"), "dxa")
        mar.append(el)
    look = tbl_pr.find(qn("w:tblLook"))
    if look is not None:
        look.addprevious(mar)
    else:
        tbl_pr.append(mar)
    emus = [Emu(int(total * w / sum(widths))) for w in widths]
    for col, w in zip(table._tbl.tblGrid.gridCol_lst, emus, strict=True):
        col.w = w
    for row in table.rows:
        for cell, w in zip(row.cells, emus, strict=True):
            cell.width = w


def _xml(spec, disp, lang) -> bytes:
    doc = rdx.new_docx(lang)
    rdx.add_docx_table(doc, spec, disp, lang, STAMP)
    return etree.tostring(doc.element, encoding="utf-8")


def _both(spec, disp, lang, monkeypatch) -> tuple[bytes, bytes]:
    fast = _xml(spec, disp, lang)
    with monkeypatch.context() as mp:
        mp.setattr(rdx, "_tc_text", _api_tc_text)
        mp.setattr(rdx, "_column_widths", _api_column_widths)
        reference = _xml(spec, disp, lang)
    return fast, reference


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_table_docx_is_the_python_docx_api_xml(lang, sample_bundle, monkeypatch):
    for spec in TABLES:
        data = spec.build_function()(sample_bundle)
        disp = rt.display_table(spec, data, lang, sample_bundle)
        fast, reference = _both(spec, disp, lang, monkeypatch)
        assert fast == reference, f"{spec.id} {lang}: DOCX XML differs from python-docx's API"


AWKWARD = ["", " ", "  lead", "trail  ", "\u3000全角空格", "tab\there", "two\nlines", "cr\r\nlf", "bell\x07",
           "<&>\"'", "x" * 300, "中文 mixed", "\t", "\n"]


@pytest.mark.parametrize("widths", [None, [3, 1, 1]])
def test_awkward_cell_texts(widths, monkeypatch):
    spec = get(TABLES[0].id)
    rows = [rt.Row([t, t, t]) for t in AWKWARD]
    rows += [rt.Row(["bold", "1", "2"], bold=True, rule_before=True), rt.Row(["indented", "", " "], indent=True),
             rt.Row(["spanning  text\twith tab"], span=True, rule_before=True), rt.Row(AWKWARD[3:6])]
    disp = rt.Display(headers=["  h1", "h\t2", ""], align=["l", "r", "r"], rows=rows, notes=["note"],
                      widths=widths)
    fast, reference = _both(spec, disp, "zh", monkeypatch)
    assert fast == reference
    assert b"<w:t>bell</w:t>" in fast and b'xml:space="preserve"> </w:t>' in fast


def test_render_docx_is_byte_identical_twice(sample_bundle):
    spec = get("T04")
    data = spec.build_function()(sample_bundle)
    disp = rt.display_table(spec, data, "en", sample_bundle)
    assert rt.render_docx(spec, disp, "en", STAMP) == rt.render_docx(spec, disp, "en", STAMP)
