"""The report as a document people cite (issue 14, point 1): 摘要, 结论与建议 and 附录 present; tables
and figures numbered in order of appearance, each once, figure titles below the picture; A4 pages;
three-line tables; no Markdown markup in any table cell of the report or of the per-table files."""

from __future__ import annotations

import re
import zipfile

import pytest

from research.artifacts import registry, report

HEADINGS = {"zh": ("摘要", "结论与建议", "附录"), "en": ("Summary", "Conclusions and recommendations", "Appendix")}
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
#: Markdown a reader must never see: bold/underline emphasis around text, code, a link. Significance
#: stars after a number (0.620**) are text, not emphasis, and do not match.
MARKUP = re.compile(r"\*\*\S[^*]*\*\*|__\S[^_]*__|`|\[[^\]]*\]\([^)]*\)")
TITLE = {"zh": re.compile(r"^(附表|表|图)(\d+)\u3000"), "en": re.compile(r"^(Table A|Table |Figure )(\d+)\. ")}


def _docx(path):
    import docx

    return docx.Document(str(path))


def _body(doc):
    """(kind, text, has_picture) of the body's paragraphs and tables, in order."""
    out = []
    for el in doc.element.body:
        if el.tag == f"{W}p":
            text = "".join(t.text or "" for t in el.iter(f"{W}t"))
            out.append(("p", text, el.find(f".//{W}drawing") is not None))
        elif el.tag == f"{W}tbl":
            out.append(("tbl", "", False))
    return out


@pytest.fixture(scope="module")
def built(sample_build):
    return sample_build[0]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_headings_present_in_order(built, lang):
    doc = _docx(built / "report" / f"report.{lang}.docx")
    heads = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    summary, conclusions, appendix = HEADINGS[lang]
    assert heads[0] == summary
    assert heads.index(conclusions) < heads.index(appendix) == max(i for i, h in enumerate(heads) if "#" not in h
                                                                   and h == appendix)
    html = (built / "report" / f"report.{lang}.html").read_text(encoding="utf-8")
    for h in HEADINGS[lang]:
        assert f"<h2>{h}</h2>" in html


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_numbered_in_order_of_appearance_each_once_figure_titles_below(built, lang):
    doc = _docx(built / "report" / f"report.{lang}.docx")
    body = _body(doc)
    seen: dict[str, list[int]] = {}
    for i, (kind, text, _) in enumerate(body):
        m = TITLE[lang].match(text) if kind == "p" else None
        if m:
            seen.setdefault(m.group(1), []).append(int(m.group(2)))
            if m.group(1).startswith(("表", "附表", "Table")):
                assert body[i + 1][0] == "tbl", f"table title {text!r} not right above its table"
            else:
                assert body[i - 1][2], f"figure title {text!r} not right below its picture"
    for label, numbers in seen.items():
        assert numbers == list(range(1, len(numbers) + 1)), f"{label}: {numbers}"
    assert all(len(v) >= 1 for v in seen.values()) and len(seen) == 3  # tables, appendix tables, figures
    pictures = [i for i, b in enumerate(body) if b[2]]
    assert len(pictures) == len(registry.FIGURES) == len(seen[TITLE[lang].pattern and
                                                                 ("图" if lang == "zh" else "Figure ")])
    # each artifact once: the caption names its registry id once
    text = "\n".join(b[1] for b in body)
    cited = report.cited_ids(report.template_path(lang).read_text(encoding="utf-8"))
    for aid in cited:
        n = len(re.findall(rf"[（(]{aid}[；;]", text))
        assert n == 1, f"{aid} embedded {n} times"
    html = (built / "report" / f"report.{lang}.html").read_text(encoding="utf-8")
    for aid in cited:
        assert html.count(f'id="{aid}"') == 1


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_long_tables_sit_in_the_appendix(built, lang):
    doc = _docx(built / "report" / f"report.{lang}.docx")
    body = _body(doc)
    appendix = next(i for i, b in enumerate(body) if b[1] == HEADINGS[lang][2])
    long_tables = [i for i, b in enumerate(body) if b[0] == "tbl" and len(doc.element.body[i].findall(f"{W}tr"))
                   > report.APPENDIX_ROWS + 1]
    assert long_tables and all(i > appendix for i in long_tables)
    # the station funnel (one row per station) and the repeat callers' pseudonyms among them
    text = "\n".join(b[1] for b in body[appendix:])
    assert "T22" in text and "T16" in text


def test_pages_are_a4_with_25mm_margins(built):
    from docx.shared import Cm

    files = [built / "report" / f"report.{lang}.docx" for lang in ("zh", "en")]
    files += sorted((built / "tables").glob("*.docx"))
    for path in files:
        for sec in _docx(path).sections:
            short, long = sorted((sec.page_width, sec.page_height))
            assert abs(short - Cm(21)) < Cm(0.01) and abs(long - Cm(29.7)) < Cm(0.01), path
            assert abs(sec.left_margin - Cm(2.5)) < Cm(0.01) and abs(sec.top_margin - Cm(2.5)) < Cm(0.01), path


def _docx_cells(path) -> list[str]:
    xml = zipfile.ZipFile(path).read("word/document.xml").decode("utf-8")
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<w:tc>.*?</w:tc>", xml, re.S)]


def _html_cells(path) -> list[str]:
    import html

    page = path.read_text(encoding="utf-8")
    return [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", page, re.S)]


def test_no_markdown_markup_in_any_table_cell(built):
    files = [built / "report" / f"report.{lang}.{ext}" for lang in ("zh", "en") for ext in ("docx", "html")]
    files += sorted((built / "tables").glob("*.docx")) + sorted((built / "tables").glob("*.html"))
    n = 0
    for path in files:
        cells = _docx_cells(path) if path.suffix == ".docx" else _html_cells(path)
        n += len(cells)
        bad = [c for c in cells if MARKUP.search(c)]
        assert not bad, f"{path.name}: markup in cells {bad[:5]}"
    assert n > 10_000
    assert MARKUP.search("**合计**") and MARKUP.search("`x`") and MARKUP.search("[a](b)")
    assert not MARKUP.search("0.620**") and not MARKUP.search("5.070***")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_three_line_tables(built, lang):
    xml = zipfile.ZipFile(built / "report" / f"report.{lang}.docx").read("word/document.xml").decode("utf-8")
    tables = re.findall(r"<w:tbl>.*?</w:tbl>", xml, re.S)
    assert tables
    for t in tables:
        borders = re.search(r"<w:tblBorders>(.*?)</w:tblBorders>", t, re.S).group(1)
        for edge in ("top", "bottom"):
            assert re.search(rf'<w:{edge} w:val="single"', borders)
        for edge in ("left", "right", "insideH", "insideV"):
            assert re.search(rf'<w:{edge} w:val="nil"', borders)
        rows = re.findall(r"<w:tr[ >].*?</w:tr>", t, re.S)
        assert all('w:val="single"' in c for c in re.findall(r"<w:tcBorders>.*?</w:tcBorders>", rows[0], re.S))
        assert not any("<w:tcBorders>" in r for r in rows[1:]), "an inner rule below the header"
    html = (built / "report" / f"report.{lang}.html").read_text(encoding="utf-8")
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    ruled = {sel.strip() for sels, decl in re.findall(r"([^{}]+)\{([^}]*)\}", css)
             if re.search(r"border(-top|-bottom|-left|-right)?\s*:", decl)
             for sel in sels.split(",")}
    # the three rules: above and below the header, below the last row
    assert ruled == {"figure.research-table thead th", "figure.research-table tbody tr:last-child td"}, ruled


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_summary_quotes_period_and_issue_date_from_the_data(built, lang, sample_bundle):
    import pandas as pd

    values = pd.read_csv(built / "values.csv", encoding="utf-8-sig").set_index("name")
    last = pd.to_datetime(sample_bundle["responses"]["surveyed_at"]).max().date().isoformat()
    assert values.loc["survey_last_date", "value"] == last
    assert values.loc["report_issued", "value"] == last  # the plan sets no date: never today
    html = (built / "report" / f"report.{lang}.html").read_text(encoding="utf-8")
    assert values.loc["report_issued", lang] in html and values.loc["survey_first_date", lang] in html
    assert values.loc["report_issuer", lang] in html


# --------------------------------------------------------------------------- layout, no build

def test_layout_numbers_moves_long_tables_and_turns_a_second_embed_into_a_reference():
    text = ("# R\n\nSee [[T09]] and [[F01]].\n\n[[T03]]\n\n[[F01]]\n\n[[T09]]\n\n[[T01]]\n\n[[T03]]\n\n"
            "## Appendix\n\n### Appendix A. Notes\n\n- x\n")
    rows = {"T01": 5, "T03": 8, "T09": 70}
    lines, numbers = report.layout(text, "en", rows.__getitem__)
    assert numbers == {"T03": "Table 1", "F01": "Figure 1", "T01": "Table 2", "T09": "Table A1"}
    embeds = [m.group(1) for line in lines if (m := report.EMBED_RE.fullmatch(line))]
    assert embeds == ["T03", "F01", "T01", "T09"]
    assert "(See [[T03]].)" in lines and lines.count("## Appendix") == 1
    assert lines.index("### Appendix B. Detailed tables") < lines.index("[[T09]]")
    zh_lines, zh_numbers = report.layout("[[T09]]\n", "zh", rows.__getitem__)
    assert zh_numbers == {"T09": "附表1"} and "## 附录" in zh_lines
    assert any("列于附录" in line for line in zh_lines), "an uncited long table says where it went"


def test_chinese_references_take_no_spaces():
    assert report._refs("见 [[T01]]。", "zh", lambda aid: "表2") == "见表2。"
    assert report._refs("see [[T01]].", "en", lambda aid: "Table 2") == "see Table 2."





@pytest.mark.parametrize("lang", ["zh", "en"])
def test_wide_tables_sit_on_landscape_pages_the_rest_portrait(built, lang):
    """T06 (12 columns) is alone in a landscape section of the report, every other table and all
    text portrait; its per-table DOCX is landscape, a narrow table's portrait."""
    from docx.enum.section import WD_ORIENT

    from research.artifacts.docx_util import WIDE_TABLE_COLUMNS

    doc = _docx(built / "report" / f"report.{lang}.docx")
    # each section's tables (a section ends at the paragraph carrying its w:sectPr, the last at the body's)
    sections, current = [], []
    for el in doc.element.body:
        if el.tag == f"{W}tbl":
            current.append(len(el.findall(f"{W}tblGrid/{W}gridCol")))
        elif el.find(f"{W}pPr/{W}sectPr") is not None:
            sections.append(current)
            current = []
    sections.append(current)
    orient = [sec.orientation == WD_ORIENT.LANDSCAPE for sec in doc.sections]
    assert len(orient) == len(sections) and not orient[0] and any(orient)
    for land, cols, sec in zip(orient, sections, doc.sections, strict=True):
        assert land == any(c >= WIDE_TABLE_COLUMNS for c in cols), (cols, land)
        assert not land or all(c >= WIDE_TABLE_COLUMNS for c in cols), cols
        assert (sec.page_width > sec.page_height) == land
    assert any(12 in cols for land, cols in zip(orient, sections) if land)  # T06
    wide = _docx(built / "tables" / f"T06_thresholds.{lang}.docx").sections[0]
    narrow = _docx(built / "tables" / f"T01_sample.{lang}.docx").sections[0]
    assert wide.orientation == WD_ORIENT.LANDSCAPE and wide.page_width > wide.page_height
    assert narrow.orientation == WD_ORIENT.PORTRAIT and narrow.page_width < narrow.page_height


def test_a_heading_right_before_a_wide_table_opens_its_landscape_page():
    """research.artifacts.report._landscape_lines: a heading whose next non-blank line embeds a wide
    table goes on the table's landscape page (it ended the portrait page before it); a heading
    followed by text, and the text, stay portrait."""
    from types import SimpleNamespace

    from research.artifacts.report import _landscape_lines

    class Tables:
        def spec(self, aid):
            return SimpleNamespace(kind="figure" if aid.startswith("F") else "table", id=aid)

        def n_columns(self, spec, lang):
            return 12 if spec.id == "T06" else 4

    lines = ["## 5 处理要多快", "", "正文。", "", "### 5.1 阈值", "", "[[T06]]", "", "## 6 稳健性", "", "[[T01]]",
             "", "[[F04]]"]
    assert _landscape_lines(lines, Tables(), "zh") == [False, False, False, False, True, False, True, False,
                                                       False, False, False, False, False]
