"""Word (DOCX) helpers shared by tables and the report: CJK fonts and repeatable bytes.

python-docx stamps the current time into the document's core properties and
the zip entries; :func:`normalise_zip` rewrites the entries in a fixed order
with a fixed timestamp, and the core-property times are set to
:data:`FIXED_TIME`, so the same content gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

from research.safeio import atomic_write_bytes

FIXED_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: East Asian font Word uses for Chinese text (w:eastAsia)
DOCX_EAST_ASIA_FONT = "SimSun"
#: page size (A4, GB/T 148) and margins of every DOCX the package writes, in cm
PAGE_CM = (21.0, 29.7)
MARGIN_CM = 2.5


#: characters XML 1.0 forbids (lxml, hence python-docx, raises on them): the C0 controls other than
#: tab, newline and carriage return, lone surrogates, and U+FFFE/U+FFFF; carriage returns are
#: dropped as well, so that a Windows line end becomes one line break
_NOT_XML = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text) -> str:
    r"""``text`` as a string without the characters XML cannot hold (see :data:`_NOT_XML`).

    Parameters
    ----------
    text : any value; ``str(text)`` is cleaned.

    Returns
    -------
    str: the text with every C0 control character except tab and newline, lone
    surrogates and U+FFFE/U+FFFF removed. Every text given to python-docx (and,
    for the same result in every format, every table cell) passes through here:
    one ``\x07`` in a station name would otherwise stop the DOCX writer with a
    ``ValueError`` from lxml. Written by hand: neither python-docx nor lxml
    offers a sanitiser, they only refuse.
    """
    return _NOT_XML.sub("", str(text))


def set_east_asian_font(doc, font: str = DOCX_EAST_ASIA_FONT) -> None:
    """Make the Normal style use ``font`` for East Asian text (Word needs w:eastAsia)."""
    from docx.oxml.ns import qn

    style = doc.styles["Normal"]
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), font)


def page_a4(doc) -> None:
    """Every section of a python-docx ``Document`` on A4 paper (:data:`PAGE_CM`, portrait) with
    :data:`MARGIN_CM` margins on all four sides (python-docx's template is US Letter)."""
    for sec in doc.sections:
        set_page(sec)


#: a table of at least this many columns is set on a landscape A4 page in every DOCX the package
#: writes (the report, the per-table files, the bulletins): on portrait A4 with 2.5 cm margins
#: (16 cm of text) ten or more columns leave about 1.5 cm each, so headers wrap mid-word and
#: numbers with their intervals break over two lines; landscape gives 24.7 cm
WIDE_TABLE_COLUMNS = 10


def is_wide(n_columns: int) -> bool:
    """Whether a table of ``n_columns`` columns goes on a landscape page (:data:`WIDE_TABLE_COLUMNS`)."""
    return n_columns >= WIDE_TABLE_COLUMNS


def set_page(section, landscape: bool = False, margin_cm: float = MARGIN_CM) -> None:
    """A python-docx section on A4 (:data:`PAGE_CM`), portrait or landscape (width and height
    swapped, ``w:orient`` set, as Word needs both), with ``margin_cm`` on all four sides."""
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm

    short, long = Cm(PAGE_CM[0]), Cm(PAGE_CM[1])
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (long, short) if landscape else (short, long)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(margin_cm))


def switch_page(doc, landscape: bool, margin_cm: float = MARGIN_CM) -> bool:
    """Start a new section (on a new page) in ``landscape`` or portrait unless the last section
    already is; returns whether it started one. What follows goes into that section."""
    from docx.enum.section import WD_ORIENT, WD_SECTION

    if (doc.sections[-1].orientation == WD_ORIENT.LANDSCAPE) == landscape:
        return False
    set_page(doc.add_section(WD_SECTION.NEW_PAGE), landscape, margin_cm)
    return True


def keep_with_next(paragraph_element) -> None:
    """Set ``w:keepNext`` on a paragraph (``w:p``): Word and LibreOffice keep it on the page of the
    next paragraph (a title with its table or figure, a figure with its title below). Written
    with lxml because a table cell's paragraphs are made that way (see ``render_docx._tc_text``)."""
    from docx.oxml.ns import qn

    p_pr = paragraph_element.find(qn("w:pPr"))
    if p_pr is None:
        p_pr = paragraph_element.makeelement(qn("w:pPr"), {})
        paragraph_element.insert(0, p_pr)
    if p_pr.find(qn("w:keepNext")) is not None:
        return
    el = p_pr.makeelement(qn("w:keepNext"), {})
    first = p_pr[0] if len(p_pr) else None  # schema order: pStyle, keepNext, keepLines, ...
    if first is not None and first.tag == qn("w:pStyle"):
        first.addnext(el)
    else:
        p_pr.insert(0, el)


def fix_core_properties(doc) -> None:
    """Fixed created/modified/printed times and revision in the document's core properties."""
    props = doc.core_properties
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    props.last_printed = FIXED_TIME
    props.revision = 1


def normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with entries in a fixed order (``[Content_Types].xml`` first, then by name),
    a fixed timestamp and fixed attributes, so that equal contents give equal bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        entries = {info.filename: src.read(info.filename) for info in src.infolist()}
    names = sorted(entries, key=lambda name: (name != "[Content_Types].xml", name))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            dst.writestr(info, entries[name], compresslevel=9)
    return out.getvalue()


def save_docx(doc, path: str | Path) -> None:
    """Save with fixed core-property times and a normalised zip, atomically (a killed run leaves
    the old file or the new one, never half of one)."""
    fix_core_properties(doc)
    buf = io.BytesIO()
    doc.save(buf)
    atomic_write_bytes(Path(path), normalise_zip(buf.getvalue()))


#: Word's limit on a core document property (title, comments): python-docx refuses longer text
CORE_PROPERTY_CHARS = 255


def core_property(text: str) -> str:
    """``text`` made fit for a DOCX core property: XML-safe and at most :data:`CORE_PROPERTY_CHARS`
    characters (cut with an ellipsis; the full text stays in the document body)."""
    text = xml_text(text)
    return text if len(text) <= CORE_PROPERTY_CHARS else text[:CORE_PROPERTY_CHARS - 1] + "…"
