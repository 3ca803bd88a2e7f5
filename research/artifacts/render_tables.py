"""Render the registered tables: CSV (machine-readable) and, per language, HTML, Markdown, DOCX and LaTeX.

:func:`write_table` builds a table's data once (:mod:`research.artifacts.tables`)
and writes

- ``<name>.csv``: the data as built: UTF-8 with BOM (Excel opens it), machine
  column names and codes, full precision (``%.17g``), ``\\n`` line ends;
- ``<name>.<lang>.html``: a self-contained HTML page (inline CSS, no scripts);
- ``<name>.<lang>.md``: a GitHub/pandoc pipe table;
- ``<name>.<lang>.docx``: a Word document holding a real table (three-line style,
  header row repeated across pages, CJK font set for East Asian text);
- ``<name>.<lang>.tex``: a ``booktabs`` ``table`` float (needs ``\\usepackage{booktabs}``;
  Chinese needs ``ctex`` or ``xeCJK`` under XeLaTeX).

Every formatted version carries the title above the table (``spec.title``), and
below it any table notes, the caption (``spec.caption``) and the footer stamp
(``stamp.text``).

One table model, many renderers: every format (and the report and the bulletin,
which embed tables) is rendered from the same :class:`Display` cells, never by
parsing another format back. Each renderer escapes for its format: Markdown
(:func:`md_escape`: ``|``, backslash, ``<>&`` as entities, no link or emphasis
from data), HTML (:func:`html_text`), LaTeX (:func:`tex_escape`), DOCX (text runs,
control characters dropped by :func:`research.artifacts.docx_util.xml_text`, as
in every format). Every file is written atomically, the CSV with formula-like
text cells neutralised (:mod:`research.safeio`).

The parts, one job each:

- :mod:`research.artifacts.table_cells`: number formats (:data:`DIGITS`, ``fmt_*``), the
  :class:`Display` model, the words of codes, ``title_line``;
- :mod:`research.artifacts.displays_fit`, :mod:`~research.artifacts.displays_weights`,
  :mod:`~research.artifacts.displays_strategy`: one display function per table (data ->
  :class:`Display` in a language), found by the table's builder in :data:`DISPLAYS` or declared
  on the registry entry (``ArtifactSpec.display``);
- :mod:`research.artifacts.render_text` (Markdown, LaTeX, HTML) and
  :mod:`research.artifacts.render_docx` (Word): the writers;
- this module: :func:`display_table` and :func:`write_table` (build once, write every file).

Every word comes from :func:`research.artifacts.words.word` (the one zh/en mapping). Same data,
stamp and package versions give byte-identical files in every format (the DOCX zip is
rewritten with fixed times and order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from research.artifacts import displays_fit as fit
from research.artifacts import displays_strategy as strategy
from research.artifacts import displays_weights as weights
from research.artifacts import tables
from research.artifacts.registry import TABLES, ArtifactSpec
from research.artifacts.render_docx import (DOCX_FONT, DOCX_FONT_PT, _paragraph, add_docx_table,  # noqa: F401
                                            new_docx, render_docx)
from research.artifacts.render_text import (TABLE_CSS, HTML_FONTS, html_figure, html_page,  # noqa: F401
                                            html_table, html_text, md_escape, md_paragraph, render_html,
                                            render_latex, render_markdown, tex_escape)
from research.artifacts.stamp import Stamp
from research.artifacts.table_cells import (DIGITS, P_FLOOR, STARS, Display, Row, fmt_count,  # noqa: F401
                                            fmt_df, fmt_interval, fmt_num, fmt_p, fmt_pct, stars, title_line,
                                            word)
from research.artifacts.words import LANGS
from research.safeio import atomic_write_bytes
from research.safeio import write_csv as safe_write_csv

#: formats written per language, in this order
FORMATS: tuple[str, ...] = ("html", "md", "docx", "tex")

DisplayFunction = Callable[[pd.DataFrame, str, dict], Display]

#: display function of each builder (the builder function itself is the key)
DISPLAYS: dict[Callable, DisplayFunction] = {
    tables.table_sample: fit._display_sample,
    tables.table_reconciliation: fit._display_reconciliation,
    tables.table_satisfaction_by_cause: fit._display_satisfaction,
    tables.table_models: fit._display_models,
    tables.table_handling_time_effects: fit._display_effects,
    tables.table_thresholds: fit._display_thresholds,
    tables.table_group_comparisons: fit._display_comparisons,
    tables.table_reliability: fit._display_reliability,
    tables.table_response_rates: weights._display_response_rates,
    tables.table_weight_diagnostics: weights._display_weights,
    tables.table_weighted_vs_unweighted: weights._display_weighted,
    tables.table_weighted_effects: weights._display_weighted_effects,
    tables.table_response_propensity: weights._display_propensity,
    tables.table_levers: strategy._display_levers,
    tables.table_key_drivers: strategy._display_drivers,
    tables.table_repeat_callers: strategy._display_repeat_callers,
    tables.table_recurrence: strategy._display_recurrence,
    tables.table_out_of_control: strategy._display_out_of_control,
    tables.table_weighting_methods: weights._display_weighting_methods,
    tables.table_nonresponse_delta: weights._display_nonresponse_delta,
    tables.table_associations: strategy._display_associations,
    tables.table_station_funnel: strategy._display_station_funnel,
    tables.table_typical_cases: strategy._display_typical_cases,
}


def display_function(spec: ArtifactSpec) -> DisplayFunction:
    """The display function of a table: the one declared on its registry entry
    (``spec.display``), else the one :data:`DISPLAYS` holds for its builder."""
    if spec.display is not None:
        return spec.display
    builder = spec.build_function()
    try:
        return DISPLAYS[builder]
    except KeyError:
        raise KeyError(f"no display for builder {spec.builder!r} of {spec.id}: declare one on its registry "
                       "entry (display=...) or add it to render_tables.DISPLAYS") from None


def display_table(spec: ArtifactSpec, data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    """The display form of a table's data in ``lang`` (``zh`` or ``en``)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {list(LANGS)}, got {lang!r}")
    return display_function(spec)(data, lang, bundle)


# --------------------------------------------------------------------------- files

def write_csv(data: pd.DataFrame, path: Path) -> Path:
    """The table's data as built: UTF-8 with BOM, full precision, ``\\n`` line ends, no index; text
    cells a spreadsheet would run as a formula prefixed with ``'``; written atomically
    (:func:`research.safeio.write_csv`). Returns the path."""
    return safe_write_csv(data, path, bom=True)


RENDERERS: dict[str, Callable[[ArtifactSpec, Display, str, Stamp], str | bytes]] = {
    "html": render_html, "md": render_markdown, "docx": render_docx, "tex": render_latex}


def write_table(spec: ArtifactSpec, bundle: dict, out_dir, stamp: Stamp,
                langs: Sequence[str] = LANGS) -> dict[str, Path]:
    """Build a registered table once and write its CSV and, per language, HTML, Markdown, DOCX and LaTeX.

    Parameters
    ----------
    spec : a table of :data:`research.artifacts.registry.TABLES`.
    bundle : the results (:func:`research.artifacts.bundle.make_bundle`).
    out_dir : folder to write into (created if needed).
    stamp : the footer stamp (data hash, code commit, seed).
    langs : languages of the formatted versions, from ``("zh", "en")``.

    Returns
    -------
    dict: ``"csv"`` and ``"<lang>.<format>"`` (e.g. ``"zh.docx"``) -> path written, in writing order.
    Files are ``<spec.name>.csv`` and ``<spec.name>.<lang>.<format>``.
    """
    if spec.kind != "table":
        raise ValueError(f"{spec.id} is a {spec.kind}, not a table")
    for lang in langs:
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {list(LANGS)}, got {lang!r}")
    spec = spec.for_bundle(bundle)  # captions show the plan's confidence level
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = spec.build_function()(bundle)
    written = {"csv": out / f"{spec.name}.csv"}
    write_csv(data, written["csv"])
    for lang in langs:
        disp = display_table(spec, data, lang, bundle)
        for fmt in FORMATS:
            path = out / f"{spec.name}.{lang}.{fmt}"
            content = RENDERERS[fmt](spec, disp, lang, stamp)
            atomic_write_bytes(path, content if isinstance(content, bytes) else content.encode("utf-8"))
            written[f"{lang}.{fmt}"] = path
    return written


def write_all_tables(bundle: dict, out_dir, stamp: Stamp,
                     langs: Sequence[str] = LANGS) -> dict[str, dict[str, Path]]:
    """:func:`write_table` for every table of the registry: table id -> files written."""
    return {spec.id: write_table(spec, bundle, out_dir, stamp, langs) for spec in TABLES}
