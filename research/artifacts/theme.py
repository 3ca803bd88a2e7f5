"""One look for every figure: a seaborn theme, a packaged CJK font and fixed colours.

The Chinese font is Noto Sans SC (SIL Open Font License 1.1), shipped by the
PyPI package ``pylopdf-fonts-zh-cn`` as a single OpenType file; it is
registered with matplotlib from inside the installed package, so no system
font is assumed. Noto Sans SC also covers Latin, digits and the symbols the
figures use; DejaVu Sans (bundled with matplotlib) is the fallback for any
glyph it lacks.

Nothing happens at import: call :func:`apply_theme` (it changes matplotlib's
global ``rcParams``; wrap it in ``matplotlib.rc_context()`` to keep the change
local, as :func:`research.artifacts.render_figures.write_figure` does).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
from matplotlib import font_manager

#: family name of the packaged CJK font (as written in the font file's name table)
CJK_FAMILY = "Noto Sans SC"
#: Latin fallback bundled with matplotlib
FALLBACK_FAMILY = "DejaVu Sans"
#: fixed salt of the ids matplotlib writes into SVG files, so the same figure gives the same bytes
SVG_HASHSALT = "research-figures"

#: colour of each cause group (seaborn "colorblind" palette, fixed per code so that a group keeps
#: its colour in every figure whatever groups a given export holds)
CAUSE_COLORS: dict[str, str] = {
    "service": "#0173b2",
    "outage": "#de8f05",
    "capability": "#029e73",
    "voltage": "#cc78bc",
}
#: colour of anything not tied to a cause group (a single series, reference lines)
NEUTRAL_COLOR = "#4d4d4d"
#: colour of a single series not tied to a cause group (e.g. the monthly rate)
SERIES_COLOR = "#1f3b73"
#: colour of groups the mapping above does not know
OTHER_COLOR = "#949494"

#: width of a figure in inches (fits an A4 page with 2.5 cm margins)
FIGURE_WIDTH = 6.5
#: height of the footer strip under every figure, where the stamp goes (inches)
FOOTER_INCHES = 0.22
#: resolution of PNG files
PNG_DPI = 300


def font_path() -> Path:
    """Path of the packaged Noto Sans SC file (an OpenType file inside ``pylopdf_fonts_zh_cn``)."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError("the CJK font package 'pylopdf-fonts-zh-cn' is not installed; "
                           "reinstall the research package with its dependencies") from exc
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    if not path.is_file():  # pragma: no cover - a broken install
        raise RuntimeError(f"the CJK font file {path} is missing; reinstall 'pylopdf-fonts-zh-cn'")
    return path


def register_font() -> Path:
    """Register the packaged CJK font with matplotlib's font manager (once) and return its path."""
    path = font_path()
    known = {Path(f.fname).resolve() for f in font_manager.fontManager.ttflist}
    if path.resolve() not in known:
        font_manager.fontManager.addfont(str(path))
    return path


def theme_rc() -> dict:
    """The matplotlib settings laid over the seaborn theme (font, SVG and PNG output)."""
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [CJK_FAMILY, FALLBACK_FAMILY],
        "axes.unicode_minus": False,  # ASCII hyphen-minus for negative numbers
        "svg.fonttype": "path",  # text as outlines: SVG files need no installed font
        "svg.hashsalt": SVG_HASHSALT,
        "savefig.dpi": PNG_DPI,
        "figure.dpi": 100,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "legend.fontsize": 8,
        "legend.title_fontsize": 8,
        "figure.titlesize": 11,
        "image.cmap": "viridis",
    }


def apply_theme() -> None:
    """Set the seaborn theme (``whitegrid``, ``paper`` context, colorblind palette) and the fonts.

    Changes matplotlib's global ``rcParams``; call it inside ``matplotlib.rc_context()`` to keep
    the change local.
    """
    import seaborn as sns

    register_font()
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font="sans-serif")
    mpl.rcParams.update(theme_rc())


def cause_color(code: str) -> str:
    """Colour of a cause group code."""
    return CAUSE_COLORS.get(code, OTHER_COLOR)
