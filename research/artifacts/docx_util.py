"""Word (DOCX) helpers shared by tables and the report: CJK fonts and repeatable bytes.

python-docx stamps the current time into the document's core properties and
the zip entries; :func:`normalise_zip` rewrites the entries in a fixed order
with a fixed timestamp, and the core-property times are set to
:data:`FIXED_TIME`, so the same content gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

FIXED_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: East Asian font Word uses for Chinese text (w:eastAsia)
DOCX_EAST_ASIA_FONT = "SimSun"


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
    """Save with fixed core-property times and a normalised zip."""
    fix_core_properties(doc)
    buf = io.BytesIO()
    doc.save(buf)
    Path(path).write_bytes(normalise_zip(buf.getvalue()))
