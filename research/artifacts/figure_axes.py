"""What the figure drawers share: the figure with its footer strip, axes in % and hours, legends
of cause groups, sub-cause rows and the words shown.

Figures are made with ``matplotlib.figure.Figure`` directly, not pyplot, so nothing is left open
in pyplot's figure registry. Every word comes from :func:`research.artifacts.words.word` (through
:mod:`research.artifacts.labels`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter, PercentFormatter

from research.artifacts import labels
from research.artifacts.theme import FIGURE_WIDTH, FOOTER_INCHES, cause_color
from research.config.instrument import Instrument


def figure_word(name: str, lang: str, **fmt) -> str:
    """A display word from :data:`research.artifacts.labels.LABELS` (``{...}`` fields filled from ``fmt``)."""
    out = labels.text(name, lang)
    return out.format(**fmt) if fmt else out


def new_figure(height: float, width: float = FIGURE_WIDTH) -> tuple[Figure, SubFigure]:
    """A figure of ``width`` x ``height`` inches with two sub-figures: the body, returned for
    drawing, and an empty strip of :data:`FOOTER_INCHES` at the bottom (gid ``"footer"``) where
    the renderer writes the stamp. Both are laid out by constrained layout, so nothing drawn in
    the body can overlap the footer."""
    fig = Figure(figsize=(width, height + FOOTER_INCHES), layout="constrained")
    body, footer = fig.subfigures(2, 1, height_ratios=[height, FOOTER_INCHES])
    body.set_gid("body")
    footer.set_gid("footer")
    return fig, body


def percent_axis(axis) -> None:
    axis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))


def hours_axis(axis) -> None:
    """A log axis of hours with plain numbers (1, 10, 100) rather than powers of ten."""
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def group_handles(codes, lang: str, ins: Instrument, kind: str = "patch") -> list:
    """Legend entries of cause groups: ``kind`` "patch" (bars), "point" (point and interval) or
    "line"."""
    handles = []
    for c in codes:
        lab = labels.code("cause_l1", c, lang, ins)
        if kind == "patch":
            handles.append(Patch(facecolor=cause_color(c), label=lab))
        elif kind == "point":
            handles.append(Line2D([], [], color=cause_color(c), marker="o", markersize=4, linestyle="-", label=lab))
        else:
            handles.append(Line2D([], [], color=cause_color(c), linewidth=1.5, label=lab))
    return handles


def group_legend(target: SubFigure, handles: list, ncols: int = 2) -> None:
    target.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False)


def subcause_rows(ax, data: pd.DataFrame, lang: str, ins: Instrument, gap: float = 0.6) -> np.ndarray:
    """y positions of sub-cause rows, top to bottom in data order, with a gap between cause groups;
    sets the tick labels and returns the positions."""
    pos, y, prev = [], 0.0, None
    for g in data["cause_l1"]:
        if prev is not None:
            y += 1.0 + (gap if g != prev else 0.0)
        pos.append(y)
        prev = g
    pos = np.asarray(pos)
    ax.set_yticks(pos, [labels.code("cause_l2", c, lang, ins) for c in data["cause_l2"]])
    ax.set_ylim(pos.max() + 0.7 if len(pos) else 1, -0.7)
    ax.grid(axis="y", visible=False)
    return pos


def no_data_figure(lang: str) -> Figure:
    fig, body = new_figure(1.2)
    ax = body.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, figure_word("no_workorders", lang), ha="center", va="center")
    return fig
