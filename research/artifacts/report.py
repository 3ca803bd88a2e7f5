"""The report: Markdown templates in Chinese and English rendered to HTML and DOCX.

Templates: ``paper/report.zh.md`` and ``paper/report.en.md`` (Markdown, chosen
over Quarto because it needs no external toolchain: the build is pure Python
and runs on a fresh machine). Two kinds of placeholder:

- ``{{ name }}``: a named value (:mod:`research.artifacts.values`), replaced by
  its text in the report's language;
- ``[[T03]]`` / ``[[F04]]``: a registered artifact. On a line of its own it
  embeds the table or figure (title, body, caption); inside a sentence it
  becomes a reference ("表 T03" / "Table T03", a link in HTML).

The build fails (:class:`ReportError`) on a placeholder naming no value or an
id that nothing produces. Output per language: one self-contained HTML file
(figures embedded as base64 PNG, tables inline) and one DOCX.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from research import paths
from research.artifacts import registry
from research.artifacts.docx_util import save_docx, set_east_asian_font
from research.errors import InputError

VALUE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
REF_RE = re.compile(r"\[\[([A-Z]\d{2})\]\]")
LANGS = ("zh", "en")


class ReportError(InputError):
    """A template names a value or an artifact that does not exist."""


def template_path(lang: str) -> Path:
    return paths.project_root() / "paper" / f"report.{lang}.md"


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


def _fill_values(text: str, values: pd.DataFrame, lang: str) -> str:
    table = dict(zip(values["name"], values[lang]))
    return VALUE_RE.sub(lambda m: str(table[m.group(1)]), text)


def _ref_label(artifact_id: str, lang: str) -> str:
    kind = "表" if artifact_id.startswith("T") else "图"
    return f"{kind} {artifact_id}" if lang == "zh" else \
        f"{'Table' if artifact_id.startswith('T') else 'Figure'} {artifact_id}"


def _artifact_file(out_root: Path, spec, suffix: str) -> Path:
    folder = "tables" if spec.kind == "table" else "figures"
    return out_root / folder / f"{spec.name}{suffix}"


def _markdown_table_rows(md_path: Path) -> list[list[str]]:
    """Rows of the pipe table in a rendered table's Markdown (header first)."""
    rows = []
    for line in md_path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if not s.startswith("|"):
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
            continue
        rows.append(cells)
    return rows


def _html_embed(spec, out_root: Path, lang: str) -> str:
    title = html.escape(f"{_ref_label(spec.id, lang)}  {spec.title(lang)}")
    caption = html.escape(spec.caption(lang))
    if spec.kind == "figure":
        png = _artifact_file(out_root, spec, f".{lang}.png").read_bytes()
        data = base64.b64encode(png).decode("ascii")
        return (f'<figure id="{spec.id}"><figcaption class="title">{title}</figcaption>'
                f'<img alt="{html.escape(spec.title(lang))}" src="data:image/png;base64,{data}"/>'
                f'<figcaption>{caption}</figcaption></figure>')
    page = _artifact_file(out_root, spec, f".{lang}.html").read_text(encoding="utf-8")
    m = re.search(r"<table.*</table>", page, flags=re.S)
    body = m.group(0) if m else page
    return (f'<section class="table" id="{spec.id}"><p class="title">{title}</p>{body}'
            f'<p class="caption">{caption}</p></section>')


STYLE = """body{font-family:'Noto Sans CJK SC','Microsoft YaHei','PingFang SC',sans-serif;max-width:60em;
margin:2em auto;line-height:1.6;padding:0 1em}img{max-width:100%}table{border-collapse:collapse;margin:.5em 0}
td,th{border-bottom:1px solid #ccc;padding:.2em .6em;text-align:right}th{border-bottom:2px solid #333}
td:first-child,th:first-child{text-align:left}.title{font-weight:bold}.caption,figcaption{color:#444;
font-size:.9em}figure{margin:1em 0}"""


def render_html(text: str, out_root: Path, lang: str) -> str:
    """Filled template -> one self-contained HTML page."""
    import markdown

    blocks, buf = [], []
    for line in text.splitlines():
        m = re.fullmatch(r"\s*\[\[([A-Z]\d{2})\]\]\s*", line)
        if m:
            blocks.append(("md", "\n".join(buf)))
            buf = []
            blocks.append(("embed", m.group(1)))
        else:
            buf.append(line)
    blocks.append(("md", "\n".join(buf)))
    parts = []
    for kind, content in blocks:
        if kind == "embed":
            parts.append(_html_embed(registry.get(content), out_root, lang))
        else:
            linked = REF_RE.sub(lambda mm: f'<a href="#{mm.group(1)}">{_ref_label(mm.group(1), lang)}</a>',
                                content)
            parts.append(markdown.markdown(linked, extensions=["tables"]))
    title = re.search(r"^#\s+(.+)$", text, flags=re.M)
    head = html.escape(title.group(1) if title else "report")
    return (f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f"<title>{head}</title><style>{STYLE}</style></head><body>\n" + "\n".join(parts)
            + "\n</body></html>\n")


def render_docx(text: str, out_root: Path, lang: str, path: Path) -> None:
    """Filled template -> DOCX: headings, paragraphs, bullet lists, tables, figures."""
    from docx import Document
    from docx.shared import Cm, Pt

    doc = Document()
    set_east_asian_font(doc)
    for line in text.splitlines():
        s = line.rstrip()
        m = re.fullmatch(r"\s*\[\[([A-Z]\d{2})\]\]\s*", s)
        if m:
            spec = registry.get(m.group(1))
            doc.add_paragraph(f"{_ref_label(spec.id, lang)}  {spec.title(lang)}").runs[0].bold = True
            if spec.kind == "figure":
                doc.add_picture(str(_artifact_file(out_root, spec, f".{lang}.png")), width=Cm(15))
            else:
                rows = _markdown_table_rows(_artifact_file(out_root, spec, f".{lang}.md"))
                if rows:
                    width = max(len(r) for r in rows)
                    table = doc.add_table(rows=len(rows), cols=width)
                    table.style = "Table Grid"
                    for i, (r, row) in enumerate(zip(rows, table.rows)):
                        cells = row.cells  # once per row: table.cell(i, j) rescans the whole table
                        for j, cell in enumerate(r):
                            cells[j].text = cell
                            for p in cells[j].paragraphs:
                                for run in p.runs:
                                    run.font.size = Pt(8)
                                    run.bold = i == 0
            doc.add_paragraph(spec.caption(lang)).runs[0].italic = True
            continue
        plain = REF_RE.sub(lambda mm: _ref_label(mm.group(1), lang), s)
        plain = plain.replace("`", "")
        if plain.startswith("#"):
            level = len(plain) - len(plain.lstrip("#"))
            doc.add_heading(plain.lstrip("#").strip(), level=min(level, 4) - 1 if level > 1 else 0)
        elif plain.startswith("- "):
            doc.add_paragraph(plain[2:], style="List Bullet")
        elif plain.strip():
            doc.add_paragraph(plain)
    save_docx(doc, path)


def build_report(values: pd.DataFrame, out_root: Path, report_dir: Path) -> dict[str, Path]:
    """Render both languages; returns the paths written (``report.<lang>.html``, ``.docx``).

    Raises
    ------
    ReportError
        A template cites an unknown value or an unregistered artifact.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for lang in LANGS:
        src = template_path(lang)
        text = src.read_text(encoding="utf-8")
        check_template(text, values, str(src))
        filled = _fill_values(text, values, lang)
        page = render_html(filled, out_root, lang)
        (report_dir / f"report.{lang}.html").write_text(page, encoding="utf-8")
        written[f"{lang}.html"] = report_dir / f"report.{lang}.html"
        render_docx(filled, out_root, lang, report_dir / f"report.{lang}.docx")
        written[f"{lang}.docx"] = report_dir / f"report.{lang}.docx"
    return written
