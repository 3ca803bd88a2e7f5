"""Hostile text in table cells (issue 10, points 3 and 5): every format holds each cell's text in
its row and column, no markup or link from data is live, no CSV cell runs as a formula.

One table (:func:`hostile_display`) holds a cell per hostile case, in the first column, with the
next case in the third, so a cell that leaks into its neighbour shifts a checked column. Each
format is parsed back by a real parser where one exists (python-docx; ``html.parser`` for HTML;
markdown-it-py, a CommonMark/GFM parser, for Markdown, and a split on unescaped ``|`` as well).
"""

from __future__ import annotations

import csv
import html
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.artifacts import render_tables as rt
from research.artifacts import render_text
from research.artifacts import report
from research.artifacts.docx_util import xml_text
from research.artifacts.registry import get
from research.artifacts.stamp import Stamp

STAMP = Stamp("0" * 64, "testcommit", 1)
SPEC = get("T02")  # title and caption of a real table; the cells are ours

#: hostile cell texts, by case name
HOSTILE: dict[str, str] = {
    "pipe": "|",
    "cutpoint_1|2": "1|2",
    "emphasis": "*bold*",
    "strong": "**x**",
    "script_tag": "<script>alert(1)</script>",
    "img_onerror": "<img src=x onerror=alert(1)>",
    "javascript_link": "[x](javascript:alert(1))",
    "entity": "&amp;",
    "backslash": "\\",
    "newline": "a\nb",
    "hyperlink_formula": '=HYPERLINK("http://x")',
    "plus_formula": "+1",
    "minus_formula": "-cmd",
    "at_formula": "@SUM(A1)",
    "bell_control": "bell\x07",
    "backslash_pipe": "a\\|b",
    "underscore": "_u_",
    "strike": "~~s~~",
    "backtick": "`c`",
    "dollar_math": "$x$",
    "reference_definition": "[y]: javascript:z",
    "lone_star": "*",
    "tex_bracket_first": "[0.1, 0.2]",
    "tex_specials": "#%&_^~{}",
    "heading_marker": "# h",
    "raw_br": "a<br>b",
}
CASES = list(HOSTILE)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def norm(text: str) -> str:
    """What every format must show of a text: control characters dropped, whitespace collapsed
    (a newline is a line break in DOCX and HTML, ``<br>`` in Markdown, a space in LaTeX)."""
    return " ".join(xml_text(text).split())


def hostile_display() -> rt.Display:
    """Row i: [case i, "r<i>", case i+1]; every third row bold, every fourth indented; a spanning
    row holding hostile text last; hostile headers and notes."""
    texts = list(HOSTILE.values())
    rows = [rt.Row([t, f"r{i}", texts[(i + 1) % len(texts)]], bold=i % 3 == 0, indent=i % 4 == 1,
                   rule_before=i % 5 == 0) for i, t in enumerate(texts)]
    rows.append(rt.Row(["**span** <b>|x [s](javascript:alert(2))"], span=True, rule_before=True))
    return rt.Display(["h|1", "h*2", "<i>h3</i>"], ["l", "r", "l"], rows,
                      notes=["# note [n](javascript:alert(3)) <script>x</script>", "1. not a list"])


def expected_grid(disp: rt.Display) -> list[list[str]]:
    """Header row then body rows, normalised; a spanning row as its one text."""
    grid = [[norm(h) for h in disp.headers]]
    for row in disp.rows:
        grid.append([norm(row.cells[0])] if row.span else [norm(c) for c in row.cells])
    return grid


def assert_grid(got: list[list[str]], disp: rt.Display, fmt: str) -> None:
    """Cell by cell: each expected text in its row and column (a spanning row: its first cell)."""
    want = expected_grid(disp)
    assert len(got) == len(want), f"{fmt}: {len(got)} rows, expected {len(want)}"
    n = len(disp.headers)
    for i, (g, w) in enumerate(zip(got, want)):
        g = [norm(c) for c in g]
        span = i > 0 and disp.rows[i - 1].span
        if span:
            assert g[0] == w[0], f"{fmt} row {i} (spanning): {g[0]!r} != {w[0]!r}"
            continue
        assert len(g) == n, f"{fmt} row {i}: {len(g)} cells, expected {n}: {g}"
        for j in range(n):
            assert g[j] == w[j], f"{fmt} row {i} column {j}: {g[j]!r} != {w[j]!r}"


# --------------------------------------------------------------------------- parsers

class TableParser(HTMLParser):
    """Rows of the first <table> (th and td texts, <br> as a newline); every start tag's attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[tuple[str, dict]] = []
        self._cell: list[str] | None = None
        self._tables = 0
        self._done = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._tables += 1
        if self._done or self._tables != 1:
            return
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and not self._done:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._done = True

    def handle_data(self, data):
        if self._cell is not None and not self._done:
            self._cell.append(data)


def parse_html(page: str) -> TableParser:
    p = TableParser()
    p.feed(page)
    p.close()
    return p


def assert_inert_html(page: str, where: str) -> None:
    """No <script, no on* event attribute, no javascript: URL in any attribute."""
    assert "<script" not in page.lower(), f"{where}: <script in the HTML"
    for tag, attrs in parse_html(page).tags:
        for name, value in attrs.items():
            assert not name.lower().startswith("on"), f"{where}: <{tag} {name}=...> event attribute"
            assert "javascript:" not in (value or "").lower().replace(" ", ""), \
                f"{where}: <{tag} {name}={value!r}> javascript: URL"


def split_unescaped_pipes(line: str) -> list[str]:
    """Cells of a pipe-table line, split on ``|`` not preceded by an escaping backslash."""
    cells, buf, i = [], [], 0
    body = line.strip()
    assert body.startswith("|") and body.endswith("|") and not body.endswith("\\|"), line
    body = body[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            buf.append(body[i:i + 2])
            i += 2
            continue
        if ch == "|":
            cells.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    cells.append("".join(buf))
    return cells


def md_unescape(cell: str) -> str:
    """The text a CommonMark renderer shows for one of our cells: no bold wrapper or indent,
    ``<br>`` a newline, backslash escapes resolved, entities decoded."""
    cell = cell.strip().lstrip("\u3000")
    if cell.startswith("**") and cell.endswith("**") and len(cell) >= 4:
        cell = cell[2:-2]
    cell = cell.replace("<br>", "\n")
    cell = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", cell)
    return html.unescape(cell)


def markdown_grid(md: str) -> list[list[str]]:
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert re.fullmatch(r"\|(:?-+:?\|)+", lines[1]), "second table line must be the delimiter row"
    return [[md_unescape(c) for c in split_unescaped_pipes(ln)] for i, ln in enumerate(lines) if i != 1]


def markdown_it_html(md: str) -> str:
    """The Markdown rendered by markdown-it-py with GFM tables and strike-through."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)


_TEX_UNESCAPE = {v: k for k, v in render_text._TEX_SPECIALS.items()}


def tex_grid(tex: str) -> list[list[str]]:
    """Cells of the tabular, split on ``&`` not escaped, LaTeX escapes undone."""
    body = tex[tex.index("\\toprule") + len("\\toprule"): tex.index("\\bottomrule")]
    lines = [ln for ln in body.strip().splitlines() if ln.strip() and ln.strip() not in ("\\midrule",
                                                                                     "\\addlinespace")]
    pattern = re.compile("|".join(re.escape(k) for k in sorted(_TEX_UNESCAPE, key=len, reverse=True)))
    grid = []
    for ln in lines:
        assert ln.endswith(" \\\\"), ln
        ln = ln[: -len(" \\\\")]
        span = re.fullmatch(r"\\multicolumn\{\d+\}\{l\}\{\\textit\{(.*)\}\}", ln)
        cells = [span.group(1)] if span else re.split(r"(?<!\\) & ", ln)
        out = []
        for c in cells:
            c = c.removeprefix("{}").removeprefix("\\quad ")
            m = re.fullmatch(r"\\textbf\{(.*)\}", c)
            c = m.group(1) if m else c
            out.append(pattern.sub(lambda mm: _TEX_UNESCAPE[mm.group(0)], c))
        grid.append(out)
    return grid


def docx_grid(data: bytes, table: int = 0) -> list[list[str]]:
    import docx

    doc = docx.Document(io.BytesIO(data))
    return [[c.text for c in row.cells] for row in doc.tables[table].rows]


# --------------------------------------------------------------------------- the table files

@pytest.fixture(scope="module")
def disp():
    return hostile_display()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_markdown_split_on_unescaped_pipes_puts_every_cell_in_place(disp, lang):
    assert_grid(markdown_grid(rt.render_markdown(SPEC, disp, lang, STAMP)), disp, "md")


def test_markdown_parsed_by_commonmark_gfm_puts_every_cell_in_place(disp):
    page = markdown_it_html(rt.render_markdown(SPEC, disp, "en", STAMP))
    assert_grid(parse_html(page).rows, disp, "md via markdown-it")


def test_markdown_renders_no_live_html_link_or_heading_from_data(disp):
    page = markdown_it_html(rt.render_markdown(SPEC, disp, "en", STAMP))
    assert_inert_html(page, "md via markdown-it")
    assert "<a " not in page and "<img" not in page and "<i>" not in page and "<b>" not in page
    assert "<h1" not in page and "<ol" not in page, "a note must stay a paragraph"
    data = page[: page.index("<p><em>data sha256")]  # the stamp, in italics by design, comes last
    assert "<del>" not in data and "<code>" not in data and "<em>" not in data


def test_html_page_puts_every_cell_in_place(disp):
    assert_grid(parse_html(rt.render_html(SPEC, disp, "en", STAMP)).rows, disp, "html")


def test_html_page_has_no_script_event_attribute_or_javascript_url(disp):
    page = rt.render_html(SPEC, disp, "en", STAMP)
    assert_inert_html(page, "html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_html_attribute_values_are_escaped(disp):
    fig = rt.html_figure(SPEC, disp, "en", STAMP, element_id='x" onerror="alert(1)')
    assert_inert_html(fig, "figure id")
    assert 'id="x&quot; onerror=&quot;alert(1)"' in fig


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_docx_puts_every_cell_in_place_and_survives_control_characters(disp, lang):
    assert_grid(docx_grid(rt.render_docx(SPEC, disp, lang, STAMP)), disp, "docx")


def test_docx_keeps_line_breaks_and_drops_only_the_control_character(disp):
    grid = docx_grid(rt.render_docx(SPEC, disp, "en", STAMP))
    i = CASES.index("newline") + 1
    assert grid[i][0] == "a\nb"
    assert grid[CASES.index("bell_control") + 1][0] == "bell"


def test_latex_puts_every_cell_in_place(disp):
    assert_grid(tex_grid(rt.render_latex(SPEC, disp, "en", STAMP)), disp, "tex")


def test_latex_guards_a_first_cell_that_would_be_read_as_an_argument(disp):
    tex = rt.render_latex(SPEC, disp, "en", STAMP)
    lines = tex.splitlines()
    assert any(ln.startswith("{}[0.1, 0.2] & ") for ln in lines), "a '[' after \\\\ is an optional argument"
    assert not any(re.match(r"\[|\*", ln) for ln in lines), "no line may start with [ or *"
    assert "\n\n" not in tex[tex.index("\\begin{tabular}"): tex.index("\\end{tabular}")], \
        "a newline in a cell must not end the paragraph"


def test_latex_escapes_every_special_character():
    assert rt.tex_escape("#%&_^~{}$\\<>|") == (
        r"\#\%\&\_\textasciicircum{}\textasciitilde{}\{\}\$\textbackslash{}\textless{}\textgreater{}\textbar{}")
    assert rt.tex_escape("a\nb\tc\x07") == "a b c"


# --------------------------------------------------------------------------- CSV

def _read_csv_cells(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _hostile_frame() -> pd.DataFrame:
    return pd.DataFrame({"text": list(HOSTILE.values()), "number": np.linspace(-1.5, 1.5, len(HOSTILE)),
                         "=header": "x"})


def _check_neutralised(rows: list[list[str]], frame: pd.DataFrame) -> None:
    header, body = rows[0], rows[1:]
    assert header == ["text", "number", "'=header"]
    assert len(body) == len(frame), "no row lost"
    for got, text, num in zip(body, frame["text"], frame["number"]):
        want = "'" + text if text.startswith(FORMULA_START) else text
        assert got[0] == want, f"{text!r} written as {got[0]!r}"
        assert float(got[1]) == num, "numbers are never touched"
    assert any(float(r[1]) < 0 and not r[1].startswith("'") for r in body)


def _write_table_csv(frame, tmp_path):
    return rt.write_csv(frame, tmp_path / "t.csv")


def _write_figure_csv(frame, tmp_path):
    from research.artifacts.render_figures import write_data_csv

    return write_data_csv(frame, tmp_path / "f.csv")


def _write_result_csv(frame, tmp_path):
    from research.models.run import write_results

    return write_results({"estimates": frame}, tmp_path)["estimates"]


@pytest.mark.parametrize("writer, bom", [(_write_table_csv, True), (_write_figure_csv, True),
                                         (_write_result_csv, False)],
                         ids=["table_csv", "figure_data_csv", "result_csv"])
def test_csv_writers_prefix_formula_cells_and_keep_numbers(writer, bom, tmp_path):
    frame = _hostile_frame()
    path = writer(frame, tmp_path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == bom
    assert b"\r\n" not in raw, "\\n line ends"
    _check_neutralised(_read_csv_cells(path), frame)
    assert not list(tmp_path.glob(".*.part")), "no temporary file left behind"


def test_table_csv_bytes_unchanged_on_clean_data(tmp_path):
    """Clean data: the same bytes as the old writer (BOM, %.17g, \\n, no index)."""
    frame = pd.DataFrame({"cause_l1": ["outage", "service"], "rate": [0.1 + 0.2, -1 / 3], "n": [3, 4],
                          "flag": [True, False]})
    old = b"\xef\xbb\xbf" + frame.to_csv(index=False, float_format="%.17g", lineterminator="\n").encode()
    assert rt.write_csv(frame, tmp_path / "t.csv").read_bytes() == old


# --------------------------------------------------------------------------- the bulletin

def _station_table() -> pd.DataFrame:
    n = len(HOSTILE)
    return pd.DataFrame({"region": ["广州"] * n, "station": list(HOSTILE.values()), "volume": np.arange(n) + 1,
                         "volume_change": 1.0, "sat_valid": 10, "satisfied_rate": 0.5, "satisfied_rate_change_points": 0.1,
                         "sla_rate": 0.9, "sla_rate_change_points": -0.01, "repeat_share": 0.1,
                         "repeat_share_change_points": 0.0})


@pytest.fixture(scope="module")
def bulletin(tmp_path_factory, instrument):
    from research.bulletin import write_bulletin

    out = tmp_path_factory.mktemp("bulletin")
    return write_bulletin({"by_station": _station_table()}, out, period="week", at="2026-03-04", lang="en",
                          stamp=STAMP, instrument=instrument)


def test_bulletin_html_holds_station_names_in_place_and_inert(bulletin):
    page = bulletin["html"].read_text(encoding="utf-8")
    assert_inert_html(page, "bulletin html")
    rows = parse_html(page).rows[1:]
    assert [norm(r[1]) for r in rows] == [norm(t) for t in HOSTILE.values()]
    assert all(r[2] == f"{i + 1}" for i, r in enumerate(rows)), "volume under its header"


def test_bulletin_docx_holds_station_names_in_place(bulletin):
    rows = docx_grid(bulletin["docx"].read_bytes())[1:]
    assert [norm(r[1]) for r in rows] == [norm(t) for t in HOSTILE.values()]
    assert all(r[2] == f"{i + 1}" for i, r in enumerate(rows))


def test_bulletin_csv_prefixes_formula_station_names(bulletin):
    rows = _read_csv_cells(bulletin["csv:by_station"])
    col = rows[0].index("station")
    for got, text in zip(rows[1:], HOSTILE.values()):
        assert got[col] == ("'" + text if text.startswith(FORMULA_START) else text)
    assert bulletin["csv:by_station"].read_bytes().startswith(b"\xef\xbb\xbf")


# --------------------------------------------------------------------------- the report

TEMPLATE = "# Report {{ v }}\n\nValue: {{ v }}; see [[T02]].\n\n[[T02]]\n\n- item {{ v }}\n"
HOSTILE_VALUE = "<script>alert(1)</script> [v](javascript:alert(1)) <img src=x onerror=alert(1)> *e* [[T04]] \x07"


def _report_tables(tmp_path, disp, lang):
    return report.TableSource(tmp_path, displays={("T02", lang): disp})


def _write_table_files(disp, tmp_path, lang):
    """Per-table files as write_table writes them, from the hostile Display."""
    folder = tmp_path / "tables"
    folder.mkdir(exist_ok=True)
    (folder / f"{SPEC.name}.{lang}.html").write_text(rt.render_html(SPEC, disp, lang, STAMP), encoding="utf-8")
    (folder / f"{SPEC.name}.{lang}.docx").write_bytes(rt.render_docx(SPEC, disp, lang, STAMP))


@pytest.mark.parametrize("source", ["display", "table_files"])
def test_report_html_table_cells_in_place_and_page_inert(disp, tmp_path, source):
    if source == "table_files":
        _write_table_files(disp, tmp_path, "en")
        tables = None
    else:
        tables = _report_tables(tmp_path, disp, "en")
    page = report.render_html(TEMPLATE, tmp_path, "en", tables, values={"v": HOSTILE_VALUE})
    assert_inert_html(page, "report html")
    assert_grid(parse_html(page).rows, disp, f"report html ({source})")
    assert page.count('<section class="table" id="T02">') == 1 and 'href="#T04"' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "[[T04]]" in page, "the value shown as text"


@pytest.mark.parametrize("source", ["display", "table_files"])
def test_report_docx_table_cells_in_place(disp, tmp_path, source):
    import docx

    if source == "table_files":
        _write_table_files(disp, tmp_path, "zh")
        tables = None
    else:
        tables = _report_tables(tmp_path, disp, "zh")
    path = tmp_path / "r.docx"
    report.render_docx(TEMPLATE, tmp_path, "zh", path, tables, values={"v": HOSTILE_VALUE})
    assert_grid(docx_grid(path.read_bytes()), disp, f"report docx ({source})")
    doc = docx.Document(str(path))
    assert len(doc.tables) == 1, "a [[T04]] inside a value is text, not an embed"
    assert any("[[T04]]" in p.text and "<script>" in p.text for p in doc.paragraphs)


def test_report_markdown_value_escape_renders_as_the_text():
    import markdown

    page = markdown.markdown("x " + report.md_value(HOSTILE_VALUE) + " y", extensions=["tables"])
    assert_inert_html(page, "value")
    assert norm(html.unescape(re.sub(r"<[^>]+>", "", page))) == "x " + norm(HOSTILE_VALUE) + " y"


def test_report_missing_table_file_is_one_clear_error(tmp_path):
    with pytest.raises(report.ReportError, match=r"T02_reconciliation\.en\.html: cannot read table T02"):
        report.render_html("[[T02]]\n", tmp_path, "en")


# --------------------------------------------------------------------------- T04: cutpoints "1|2"

@pytest.fixture(scope="module")
def models_bundle(instrument):
    """Two models of the plan: a logit (coefficients) and the ordinal model (cutpoints 1|2 .. 4|5),
    with estimates that are easy to find (every one distinct)."""
    from research.config.plan import load_plan

    rows = []
    for m, terms in (("logit", ["(Intercept)", "repeat_calls"]),
                     ("ordinal", ["repeat_calls", "1|2", "2|3", "3|4", "4|5"])):
        for k, t in enumerate(terms):
            kind = "cutpoint" if "|" in t else "coefficient"
            est = (1 if m == "logit" else 2) + k / 10 + 0.0123
            rows.append({"model": m, "term": t, "kind": kind, "estimate": est, "std_error": 0.5 + k / 100,
                         "p_value": 0.5})
    est = pd.DataFrame(rows)
    fit = pd.DataFrame({"model": ["logit", "ordinal"], "nobs": [100, 100], "loglik": [-50.0, -120.0],
                        "aic": [104.0, 250.0], "bic": [110.0, 262.0]})
    return {"estimates": est, "model_fit": fit, "plan": load_plan(), "instrument": instrument}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_docx_t04_cutpoint_estimates_under_their_model(models_bundle, tmp_path, lang):
    spec = get("T04")
    tables = report.TableSource(tmp_path, bundle=models_bundle)
    path = tmp_path / "r.docx"
    report.render_docx("[[T04]]\n", tmp_path, lang, path, tables)
    grid = docx_grid(path.read_bytes())
    disp = tables.display(spec, lang)
    assert_grid(grid, disp, "report docx T04")
    header = grid[0]
    assert header[1:] == ["(1)", "(2)"]
    est = models_bundle["estimates"]
    order = list(dict.fromkeys(models_bundle["model_fit"]["model"]))
    for r in est.itertuples(index=False):
        text = rt.fmt_num(r.estimate)
        hits = [(i, j) for i, row in enumerate(grid) for j, c in enumerate(row) if c == text]
        assert len(hits) == 1, f"{r.model} {r.term}: {text} found at {hits}"
        i, j = hits[0]
        assert j == 1 + order.index(r.model), f"{r.model} {r.term} under column {j}"
        if r.kind == "cutpoint":
            assert grid[i][1] == "", f"cutpoint {r.term}: the logit column must be empty"
            assert "|" in grid[i][0], f"cutpoint label {grid[i][0]!r}"
        se = f"({rt.fmt_num(r.std_error)})"
        assert grid[i + 1][j] == se, f"{r.model} {r.term}: standard error not under its estimate"
