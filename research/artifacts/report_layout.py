"""The layout of the report as a document (:mod:`research.artifacts.report`): which artifact is
embedded where, its number in order of appearance, and the long tables moved to the appendix.

In: the template's text, the language and the number of body rows of each table. Out: the lines
the report renders and each embedded artifact's label (表3 / 附表1 / 图2; Table 3 / Table A1 /
Figure 2). Pure functions of their arguments; the words come from
:func:`research.artifacts.words.word`.
"""

from __future__ import annotations

import re

from research.artifacts import registry
from research.artifacts.words import word

REF_RE = re.compile(r"\[\[([A-Z]\d{2})\]\]")
EMBED_RE = re.compile(r"\s*\[\[([A-Z]\d{2})\]\]\s*")


def _ref_label(artifact_id: str, lang: str, numbers: dict[str, str] | None = None) -> str:
    """``表3`` / ``附表2`` / ``Figure 2``: the artifact's label in the report (:func:`layout`); the
    registry id when the report does not show it."""
    if numbers and artifact_id in numbers:
        return numbers[artifact_id]
    return word("ref_table" if artifact_id.startswith("T") else "ref_figure", lang, id=artifact_id)


def _titles(spec, lang: str, numbers: dict[str, str]) -> tuple[str, str]:
    """(numbered title, caption ending with the registry id and the data file) of an embedded artifact."""
    sep = "　" if lang == "zh" else ". "
    title = f"{numbers[spec.id]}{sep}{spec.title(lang)}"
    return title, spec.caption(lang) + word("report_source_file", lang, id=spec.id, name=spec.name)


def _refs(line: str, lang: str, label) -> str:
    """Inline ``[[ID]]`` references of a line replaced by ``label(id)``; in Chinese the spaces
    around a reference go (``见 [[T01]]。`` -> ``见表2。``: no spaces between CJK characters)."""
    pattern = r" *\[\[([A-Z]\d{2})\]\] *" if lang == "zh" else REF_RE.pattern
    return re.sub(pattern, lambda m: label(m.group(1)), line)


#: a table of more rows than this goes to the appendix (37 stations, 60 response-rate rows,
#: the list of repeat callers' pseudonyms); shorter ones stay where the template embeds them
APPENDIX_ROWS = 15


def layout(text: str, lang: str, n_rows) -> tuple[list[str], dict[str, str]]:
    """The template's lines as the document shows them, and the number of each embedded artifact.

    Parameters
    ----------
    text : the template.
    lang : ``zh`` or ``en``.
    n_rows : table id -> its number of body rows (:meth:`TableSource.n_rows`).

    Returns
    -------
    (lines, numbers): a second embed of an artifact becomes a reference ("（见表3。）"); a table of
    more than :data:`APPENDIX_ROWS` rows leaves the body (a sentence says where it went when the
    template cites it nowhere else) and is embedded, in the order met, under a last appendix
    part (``### 附录C　详细表格``, lettered after the template's own ``###`` parts; the ``## 附录``
    heading added when missing). ``numbers``: id -> its label, numbered 1, 2, ... in order of
    appearance in ``lines`` per kind: 表1 / Table 1, 附表1 / Table A1 (appendix), 图1 / Figure 1.
    """
    out, seen, moved = [], set(), []
    lines = text.splitlines()
    for line in lines:
        m = EMBED_RE.fullmatch(line.rstrip())
        if m is None:
            out.append(line)
            continue
        aid = m.group(1)
        if aid in seen or aid in moved:
            out.append(word("report_see_also", lang, ref=f"[[{aid}]]"))
        elif aid.startswith("T") and n_rows(aid) > APPENDIX_ROWS:
            moved.append(aid)
            cited = any(f"[[{aid}]]" in x and not EMBED_RE.fullmatch(x.rstrip()) for x in lines)
            if not cited:  # say where it went; a cited table's references say it (附表2)
                out.append(word("report_in_appendix", lang, ref=f"[[{aid}]]", title=registry.get(aid).title(lang)))
        else:
            seen.add(aid)
            out.append(f"[[{aid}]]")
    if moved:
        head = "## " + word("report_appendix", lang)
        starts = [i for i, line in enumerate(out) if line.strip() == head]
        if not starts:
            out += ["", head]
            starts = [len(out) - 1]
        letter = chr(ord("A") + sum(1 for line in out[starts[-1]:] if line.startswith("### ")))
        out += ["", "### " + word("report_appendix_tables", lang, letter=letter)]
        for aid in moved:
            out += ["", f"[[{aid}]]"]
    numbers: dict[str, str] = {}
    count = {"table": 0, "figure": 0, "appendix_table": 0}
    for line in out:
        m = EMBED_RE.fullmatch(line)
        if m:
            aid = m.group(1)
            kind = "figure" if aid.startswith("F") else "appendix_table" if aid in moved else "table"
            count[kind] += 1
            numbers[aid] = word(f"report_{kind}_ref", lang, n=count[kind])
    return out, numbers
