"""Writers of a table's text formats from its :class:`~research.artifacts.table_cells.Display`:
Markdown (:func:`render_markdown`), LaTeX (:func:`render_latex`) and HTML (:func:`render_html`,
and the pieces the report and the bulletin embed: :func:`html_figure`, :func:`html_page`).

Each escapes for its format: Markdown (:func:`md_escape`: ``|``, backslash, ``<>&`` as entities,
no link or emphasis from data), HTML (:func:`html_text`), LaTeX (:func:`tex_escape`); control
characters dropped by :func:`research.artifacts.docx_util.xml_text`. Nothing is parsed back from
another format.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from research.artifacts.docx_util import xml_text
from research.artifacts.registry import ArtifactSpec
from research.artifacts.stamp import Stamp
from research.artifacts.table_cells import Display, title_line

#: CSS font stack of the HTML pages
HTML_FONTS = ('"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", '
              '"Helvetica Neue", Arial, sans-serif')

# Written by hand: no maintained library escapes text *into* Markdown (they all go the other way);
# the rules below are CommonMark/GFM's, checked in tests by parsing the output with markdown-it-py.

def _emphasis_runs(text: str, char: str, strong: bool) -> str:
    """Backslash-escape runs of ``char`` (``*``, ``_`` or ``~``) that could open emphasis.

    A run can open emphasis only when followed by a non-space; an ``_`` run, in
    addition, only when not preceded by a letter or digit (intraword ``_`` never
    opens). A run that cannot open cannot close anything either, since no opener
    is left. With ``strong`` (text wrapped in ``**``) every run is escaped.
    """
    def run(m: re.Match) -> str:
        before = text[m.start() - 1] if m.start() else " "
        opens = m.end() < len(text) and not text[m.end()].isspace()
        if char == "_" and before.isalnum():
            opens = False
        return ("\\" + char) * len(m.group()) if strong or opens else m.group()

    return re.sub(re.escape(char) + "+", run, text)


def md_escape(text, *, strong: bool = False) -> str:
    r"""Text as Markdown that renders as exactly that text, inline (a table cell, or inside a paragraph).

    Parameters
    ----------
    text : the text (anything; ``str()`` of it is used, control characters dropped by
        :func:`research.artifacts.docx_util.xml_text`).
    strong : the result is wrapped in ``**`` by the caller: escape every ``*``, ``_`` and ``~``.

    Returns
    -------
    str: ``&``, ``<``, ``>`` as entities (no raw HTML, no autolink, no entity from data);
    ``\``, ``|`` (a cell boundary), backtick and ``$`` (pandoc math) backslash-escaped;
    ``]`` escaped where it would close a link or image (before ``(``, ``[`` or ``:``);
    emphasis and strike-through runs that could open escaped (:func:`_emphasis_runs`), so
    that ``-0.553***`` and ``* p<0.05`` stay readable; a tab as a space, a newline as ``<br>``.
    """
    text = xml_text(text).replace("\t", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([\\`|$])", r"\\\1", text)
    text = re.sub(r"\](?=[(\[:])", r"\\]", text)
    for char in "*_~":
        text = _emphasis_runs(text, char, strong)
    return text.replace("\n", "<br>")


def md_paragraph(text) -> str:
    """Text as one Markdown paragraph: :func:`md_escape`, and no block marker at its start
    (heading ``#``, list ``-``/``+``/``1.``, setext ``=``, indented code)."""
    text = md_escape(text).lstrip(" ")
    if re.match(r"[#+=-]", text):
        return "\\" + text
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", text)


def render_markdown(spec: ArtifactSpec, disp: Display, lang: str, stamp: Stamp) -> str:
    """A pipe table with the title (bold) above and notes, caption and stamp below; every text
    escaped by :func:`md_escape` (cells) or :func:`md_paragraph` (paragraphs)."""
    n = len(disp.headers)
    out = [f"**{md_escape(title_line(spec, lang), strong=True)}**", ""]
    out.append("| " + " | ".join(md_escape(h).strip() for h in disp.headers) + " |")
    out.append("|" + "|".join(":---" if a == "l" else "---:" for a in disp.align) + "|")
    for row in disp.rows:
        strong = row.bold or row.span
        cells = row.cells + [""] * (n - len(row.cells)) if row.span else list(row.cells)
        cells = [md_escape(c, strong=strong).strip() for c in cells]
        if strong:
            cells = [f"**{c}**" if c else c for c in cells]
        if row.indent and cells[0]:  # outside the "**": a run followed by a space cannot open bold
            cells[0] = "\u3000" + cells[0]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    for note in disp.notes:
        out += [md_paragraph(note), ""]
    out += [md_paragraph(spec.caption(lang)), "", f"*{md_escape(stamp.text(lang), strong=True)}*", ""]
    return "\n".join(out)


_TEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


def tex_escape(text) -> str:
    """Escape LaTeX special characters (``\\ & % $ # _ { } ~ ^ < > |``); control characters
    dropped (:func:`research.artifacts.docx_util.xml_text`), tabs and newlines as spaces (a blank
    line would end the paragraph inside a ``tabular``). Returns the LaTeX source of the text."""
    text = xml_text(text).replace("\t", " ").replace("\n", " ")
    return "".join(_TEX_SPECIALS.get(ch, ch) for ch in text)


def _tex_row(cells: Sequence[str]) -> str:
    """One ``tabular`` row from escaped cells: ``{}`` guards a first cell starting with ``[`` or ``*``,
    which the ``\\\\`` ending the row before (or ``\\midrule``) would take as its argument."""
    cells = list(cells)
    if cells and cells[0][:1] in ("[", "*"):
        cells[0] = "{}" + cells[0]
    return " & ".join(cells) + " \\\\"


#: LaTeX headers wider than this (CJK characters count twice) wrap in a parbox of TEX_HEADER_WIDTH
TEX_HEADER_CHARS = 14
TEX_HEADER_WIDTH = "2.4cm"


def _text_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _tex_header(text: str, align: str) -> str:
    body = tex_escape(text)
    if _text_width(text) <= TEX_HEADER_CHARS:
        return body
    ragged = "\\raggedleft" if align == "r" else "\\raggedright"
    return f"\\parbox[b]{{{TEX_HEADER_WIDTH}}}{{{ragged} {body}}}"


def render_latex(spec: ArtifactSpec, disp: Display, lang: str, stamp: Stamp) -> str:
    """A ``table`` float with a booktabs ``tabular``; title as ``\\caption``, notes, caption and stamp below."""
    n = len(disp.headers)
    out = [f"% {spec.name} ({lang}): generated by research.artifacts.render_tables; do not edit.",
           "% Needs \\usepackage{booktabs}" + ("; Chinese text needs ctex or xeCJK (XeLaTeX)." if lang == "zh"
                                                 else "."),
           "\\begin{table}[htbp]", "\\centering", f"\\caption{{{tex_escape(title_line(spec, lang))}}}",
           f"\\label{{tab:{spec.id}}}", f"\\begin{{tabular}}{{{''.join(disp.align)}}}", "\\toprule",
           _tex_row([_tex_header(h, a) for h, a in zip(disp.headers, disp.align, strict=True)]),
           "\\midrule"]
    for i, row in enumerate(disp.rows):
        if row.rule_before and i > 0:  # a new group: space, no inner rule (three-line table)
            out.append("\\addlinespace")
        if row.span:
            out.append(f"\\multicolumn{{{n}}}{{l}}{{\\textit{{{tex_escape(row.cells[0])}}}}} \\\\")
            continue
        cells = [tex_escape(c) for c in row.cells]
        if row.bold:
            cells = [f"\\textbf{{{c}}}" if c else c for c in cells]
        if row.indent and cells[0]:
            cells[0] = "\\quad " + cells[0]
        out.append(_tex_row(cells))
    out += ["\\bottomrule", "\\end{tabular}", "", "\\smallskip", "\\begin{minipage}{\\linewidth}\\footnotesize"]
    out += [tex_escape(note) + "\\par" for note in disp.notes]
    out += [tex_escape(spec.caption(lang)) + "\\par", tex_escape(stamp.text(lang)) + "\\par",
            "\\end{minipage}", "\\end{table}", ""]
    return "\n".join(out)


#: CSS of a table's ``<figure>`` (shared by the per-table page, the report and the bulletin)
TABLE_CSS = """figure.research-table { margin: 0; display: inline-block; }
figure.research-table table { border-collapse: collapse; font-size: 0.9em; font-variant-numeric: tabular-nums; }
figure.research-table caption { caption-side: top; text-align: left; font-weight: 600; font-size: 1.05em;
  padding-bottom: 0.5em; }
figure.research-table thead th { border-top: 2px solid #1a1a1a; border-bottom: 1px solid #1a1a1a;
  font-weight: 600; padding: 0.35em 0.75em; vertical-align: bottom; }
figure.research-table tbody tr:last-child td { border-bottom: 2px solid #1a1a1a; }
figure.research-table td { padding: 0.2em 0.75em; vertical-align: top; }
figure.research-table .l { text-align: left; }
figure.research-table .r { text-align: right; }
figure.research-table td.r { white-space: nowrap; }
figure.research-table tr.rule td { padding-top: 0.7em; }
figure.research-table tr.bold td { font-weight: 600; }
figure.research-table tr.span td { font-style: italic; color: #444; }
figure.research-table td.indent { padding-left: 2em; }
figure.research-table figcaption { font-size: 0.85em; max-width: 48em; margin-top: 0.6em; }
figure.research-table figcaption p { margin: 0.25em 0; }
figure.research-table p.stamp { color: #777; font-size: 0.9em; }
"""
_CSS = "body { font-family: %s; color: #1a1a1a; margin: 2em; }\n" % HTML_FONTS + TABLE_CSS


def html_text(text) -> str:
    """Text as HTML element content: control characters dropped (:func:`xml_text`), ``& < > " '``
    escaped (so also safe inside a quoted attribute), a newline as ``<br>``."""
    return html.escape(xml_text(text), quote=True).replace("\n", "<br>")


def html_table(spec: ArtifactSpec, disp: Display, lang: str, *, title: str | None = None) -> list[str]:
    """Lines of the ``<table>`` of a Display (``title``, default ``title_line(spec, lang)``, as
    ``<caption>`` above it), every text through :func:`html_text`. A three-line table: rules above
    and below the header and below the last row (:data:`TABLE_CSS`), groups set apart by space."""
    e = html_text
    n = len(disp.headers)
    title = title_line(spec, lang) if title is None else title
    out = ["<table>", f"<caption>{e(title)}</caption>", "<thead>", "<tr>"]
    out += [f'<th class="{a}" scope="col">{e(h)}</th>' for h, a in zip(disp.headers, disp.align, strict=True)]
    out += ["</tr>", "</thead>", "<tbody>"]
    for i, row in enumerate(disp.rows):
        classes = [c for c, on in (("rule", row.rule_before and i > 0), ("bold", row.bold), ("span", row.span))
                   if on]
        out.append(f'<tr class="{" ".join(classes)}">' if classes else "<tr>")
        if row.span:
            out.append(f'<td class="l" colspan="{n}">{e(row.cells[0])}</td>')
        else:
            for j, (c, a) in enumerate(zip(row.cells, disp.align, strict=True)):
                cls = a + (" indent" if row.indent and j == 0 else "")
                out.append(f'<td class="{cls}">{e(c)}</td>')
        out.append("</tr>")
    out += ["</tbody>", "</table>"]
    return out


def html_figure(spec: ArtifactSpec, disp: Display, lang: str, stamp: Stamp | None = None, *,
                element_id: str | None = None, title: str | None = None, caption: str | None = None) -> str:
    """A table as one ``<figure class="research-table">``: the table, then notes, caption and stamp
    (omitted when ``stamp`` is None). ``element_id``: the figure's ``id`` attribute (none if None);
    ``title`` / ``caption``: shown instead of ``title_line(spec, lang)`` / ``spec.caption(lang)``."""
    e = html_text
    head = f'<figure class="research-table" id="{e(element_id)}">' if element_id else \
        '<figure class="research-table">'
    out = [head] + html_table(spec, disp, lang, title=title) + ["<figcaption>"]
    out += [f'<p class="note">{e(note)}</p>' for note in disp.notes]
    out.append(f'<p class="caption">{e(spec.caption(lang) if caption is None else caption)}</p>')
    if stamp is not None:
        out.append(f'<p class="stamp">{e(stamp.text(lang))}</p>')
    out += ["</figcaption>", "</figure>"]
    return "\n".join(out)


def html_page(title: str, lang: str, body: Sequence[str], extra_css: str = "") -> str:
    """A self-contained HTML page (inline CSS, no scripts) around the ``body`` lines."""
    out = ["<!DOCTYPE html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', "<head>",
           '<meta charset="utf-8">', f"<title>{html_text(title)}</title>", "<style>", _CSS + extra_css + "</style>",
           "</head>", "<body>", *body, "</body>", "</html>", ""]
    return "\n".join(out)


def render_html(spec: ArtifactSpec, disp: Display, lang: str, stamp: Stamp) -> str:
    """A self-contained HTML page (inline CSS): caption (title) above, notes, caption and stamp below."""
    return html_page(title_line(spec, lang), lang, [html_figure(spec, disp, lang, stamp, element_id=spec.id)])
