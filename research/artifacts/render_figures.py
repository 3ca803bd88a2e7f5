"""Write registered figures: the data plotted (CSV) and the figure in each language (PNG, SVG).

For a figure spec ``F01_pareto`` and languages zh and en, :func:`write_figure` writes

- ``F01_pareto.csv``: the data plotted (UTF-8 with BOM, ``\\n`` line ends, floats with 17
  significant digits so they read back exactly, the builder's row order);
- ``F01_pareto.zh.png`` / ``.en.png`` (300 dpi) and ``F01_pareto.zh.svg`` / ``.en.svg`` (text
  as paths, so no font needs to be installed to view them).

Each figure carries the footer stamp (``stamp.text(lang)``: data hash, code commit, seed) at
the bottom and no title: the document that shows it titles it, below the figure by the Chinese
convention (the report numbers it 图1, 图2 ...; a title drawn in the picture showed it twice). Same inputs and same
library versions give the same bytes: no dates or software versions in the files, a fixed
SVG id salt, and the theme applied inside ``matplotlib.rc_context`` each time.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from research.artifacts.registry import FIGURES, ArtifactSpec
from research.artifacts.stamp import Stamp
from research.artifacts.theme import NEUTRAL_COLOR, PNG_DPI, apply_theme
from research.safeio import atomic_write_bytes, write_csv

#: PNG metadata: matplotlib writes its version as "Software" unless told not to
PNG_METADATA = {"Software": None}
#: zlib level of PNG files (measured on the sample's figures, RGB: level 6 88 ms and 208 KB a
#: figure, level 3 65 ms and 224 KB; matplotlib's RGBA files at level 6 were 230 KB)
PNG_COMPRESS_LEVEL = 3
#: SVG metadata: no date, no creator (software version)
SVG_METADATA = {"Date": None, "Creator": None}


def write_data_csv(data: pd.DataFrame, path: Path) -> Path:
    """The data plotted as CSV: UTF-8 with BOM, ``\\n`` line ends, floats as ``%.17g``; text cells a
    spreadsheet would run as a formula prefixed with ``'``; written atomically. Returns the path."""
    return write_csv(data, path, bom=True)


def save_figure(fig: Figure, path: Path, fmt: str) -> Path:
    """Save ``fig`` as ``fmt`` (``png`` at :data:`PNG_DPI` or ``svg``) without dates or versions,
    atomically (rendered to memory, then renamed into place). Returns the path.

    The layout engine (if any) runs inside ``savefig``, as usual; :func:`write_figure` lays a
    figure out itself (:func:`lay_out`) and saves it with the engine off, which is cheaper and
    gives the same files."""
    if fmt == "png":
        return atomic_write_bytes(path, png_bytes(fig))
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata=SVG_METADATA)
    return atomic_write_bytes(path, buf.getvalue())


def png_bytes(fig: Figure) -> bytes:
    """``fig`` as a PNG file at :data:`PNG_DPI` with no text chunks (no software version).

    Drawn by matplotlib's Agg canvas (``savefig`` to raw RGBA), encoded here with Pillow: as RGB
    when every pixel is opaque (figures have a white background), else as RGBA. matplotlib always
    writes RGBA; an opaque RGB file shows the same pixels and encodes in about 40% less time
    (Pillow filters and deflates 3 bytes a pixel instead of 4). Deflate level
    :data:`PNG_COMPRESS_LEVEL` instead of zlib's default 6 takes another quarter off the encoding;
    the files stay a little smaller than matplotlib's RGBA ones.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    original = fig.canvas
    if not isinstance(original, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # savefig would switch to one and back, losing its buffer
    try:
        raw = io.BytesIO()
        fig.savefig(raw, format="rgba", dpi=PNG_DPI)
        # the canvas that drew keeps its renderer: its buffer has the image's shape (rows, columns, 4)
        rgba = np.asarray(fig.canvas.buffer_rgba())
    finally:
        if fig.canvas is not original:
            fig.set_canvas(original)
    if rgba.size != raw.getbuffer().nbytes:  # pragma: no cover - a matplotlib that draws elsewhere
        raise RuntimeError("the Agg buffer does not match the RGBA file matplotlib wrote")
    image = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), raw.getvalue(), "raw", "RGBA", 0, 1)
    if rgba[..., 3].min() == 255:
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, format="png", dpi=(PNG_DPI, PNG_DPI), compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()


def lay_out(fig: Figure, engine, fmt: str) -> None:
    """Run the layout ``engine`` of ``fig`` (None: nothing to do) as ``savefig`` would for ``fmt``
    (``png``: Agg canvas at :data:`PNG_DPI`; ``svg``: SVG canvas at 72 dpi), leaving the figure on
    that canvas.

    ``savefig`` with a layout engine first draws the whole figure with drawing switched off, to
    run the engine, then draws it again for real; laid out here, the figure is saved with the
    engine off (:func:`_engine_off`) and drawn once per file. Same positions, same bytes
    (tests/artifacts/test_render_speed_figures.py compares with plain ``savefig``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    if engine is None:
        return
    canvas, dpi = (FigureCanvasAgg, PNG_DPI) if fmt == "png" else (FigureCanvasSVG, 72)
    canvas(fig)  # becomes fig.canvas; the Agg one caches its renderer for the PNG drawn next
    old = fig.dpi
    fig.dpi = dpi
    try:
        engine.execute(fig)
    finally:
        fig.dpi = old


@contextlib.contextmanager
def _engine_off(fig: Figure):
    """Within (as the engine it had, None if none): ``fig`` has no layout engine, so ``savefig``
    neither lays it out nor draws it twice (``set_layout_engine("none")`` would leave a placeholder
    engine, which still costs the extra draw). The engine is put back afterwards."""
    engine = fig.get_layout_engine()
    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)
    try:
        yield engine
    finally:
        if engine is not None:
            fig.set_layout_engine(engine)


def frame_figure(fig: Figure, spec: ArtifactSpec, lang: str, stamp: Stamp) -> Figure:
    """Add the footer stamp at the bottom of a drawn figure (no title: see the module docstring).

    The stamp goes into the footer strip the drawers leave (the sub-figure with gid
    ``"footer"``, see :func:`research.artifacts.figure_axes.new_figure`); a figure without one gets
    the stamp in its bottom-left corner.
    """
    footer = next((sf for sf in fig.subfigs if sf.get_gid() == "footer"), None)
    target, y = (footer, 0.5) if footer is not None else (fig, 0.005)
    target.text(0.01, y, stamp.text(lang), ha="left", va="center" if footer is not None else "bottom",
                fontsize=6, color=NEUTRAL_COLOR, gid="footer-stamp")
    return fig


def draw_figure(spec: ArtifactSpec, data: pd.DataFrame, lang: str, bundle: dict, stamp: Stamp) -> Figure:
    """The figure of ``spec`` in ``lang``, with its footer (call inside the theme)."""
    fig = spec.draw_function()(data, lang, bundle)
    return frame_figure(fig, spec, lang, stamp)


def write_figure(spec: ArtifactSpec, bundle: dict, out_dir, stamp: Stamp,
                 langs: Iterable[str] = ("zh", "en")) -> dict[str, Path]:
    """Build the data of ``spec`` once and write its CSV and, per language, its PNG and SVG.

    Returns
    -------
    dict: ``"csv"`` and ``"<lang>.png"``, ``"<lang>.svg"`` for each language -> path written.
    """
    if spec.kind != "figure" or spec.drawer is None:
        raise ValueError(f"{spec.id} is not a figure")
    langs = tuple(langs)
    bad = [lang for lang in langs if lang not in ("zh", "en")]
    if bad:
        raise ValueError(f"unknown language(s) {bad}; valid: 'zh', 'en'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = spec.build_function()(bundle)
    written = {"csv": write_data_csv(data, out / f"{spec.name}.csv")}
    for lang in langs:
        with mpl.rc_context():
            apply_theme()
            fig = draw_figure(spec, data, lang, bundle, stamp)
            png, svg = out / f"{spec.name}.{lang}.png", out / f"{spec.name}.{lang}.svg"
            # each format is laid out with its own renderer's text metrics, as savefig does, but
            # once and without savefig's extra draw (see lay_out)
            with _engine_off(fig) as engine:
                lay_out(fig, engine, "png")
                save_figure(fig, png, "png")
                lay_out(fig, engine, "svg")
                save_figure(fig, svg, "svg")
            fig.clear()
        written[f"{lang}.png"], written[f"{lang}.svg"] = png, svg
    return written


def write_figures(bundle: dict, out_dir, stamp: Stamp, *, specs: Iterable[ArtifactSpec] = FIGURES,
                  langs: Iterable[str] = ("zh", "en")) -> dict[str, dict[str, Path]]:
    """:func:`write_figure` for every spec (all registered figures by default), keyed by id."""
    langs = tuple(langs)
    return {spec.id: write_figure(spec, bundle, out_dir, stamp, langs) for spec in specs}
