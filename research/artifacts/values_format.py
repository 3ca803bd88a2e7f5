"""The shape and the wording of one named value (:mod:`research.artifacts.values`).

In: a number (a proportion, hours, a probability difference) and a language (``zh`` or
``en``). Out: the text the report quotes, or the row of ``values.csv`` (:func:`value_row`) with
the number, its unit, both texts and where it came from (file, row, column, artifact).
"""

from __future__ import annotations

import math

import numpy as np

from research.artifacts import labels
from research.artifacts.words import word

#: the text of a value the data cannot give (zh, en)
NO_DATA = ("无数据", "no data")
#: the model with one handling-time slope per cause group: its doubling effects can rank groups
#: (the logit's common slope would rank them by their base rates only)
AME_MODEL = "speed_by_cause"


#: units whose values are text, not numbers: codes, station names, a word of the customers'
#: comments, a masked comment, a date (every other unit's value parses as a number)
TEXT_UNITS = ("code", "codes", "names", "word", "text", "date")


def value_row(name, value, unit, zh, en, source, row, column, artifact) -> dict:
    """One row of ``values.csv``: the value, its unit, its zh/en text, and the ``source`` file,
    ``row`` (a selection such as ``model=logit, term=repeat``), ``column`` and the registered
    ``artifact`` (table or figure id) showing the same number."""
    return {"name": name, "value": value, "unit": unit, "zh": zh, "en": en, "source": source,
            "row": row, "column": column, "artifact": artifact}


def missing_row(name: str) -> dict:
    """A value the data cannot give: NaN, saying "no data", with no source."""
    return value_row(name, math.nan, "", NO_DATA[0], NO_DATA[1], "", "", "", "")


def pct(x: float, digits: int = 1) -> str:
    """A proportion as a percentage: 0.8123 -> ``81.2%``."""
    return f"{100 * x:.{digits}f}%"


def hours_text(x: float, lang: str, missing: str = "not_reached") -> str:
    """Hours with one decimal (``3.1 hours`` / ``3.1 小时``); the label ``missing`` when not finite."""
    if x is None or not np.isfinite(x):
        return labels.text(missing, lang)
    return word("hours_value", lang, x=x)


def interval_end(x: float, lang: str) -> str:
    """An end of a breakpoint interval: NaN when the data do not bound it on that side."""
    return hours_text(x, lang, "not_bounded")


def points_text(x: float, lang: str) -> str:
    """A difference of proportions in signed percentage points: -0.034 -> ``-3.4 percentage points``."""
    return word("points_signed", lang, x=100 * x)


def gain_text(x: float, lang: str) -> str:
    """A change the prose already calls a gain ("raising ... by"): unsigned unless negative."""
    return word("points_value", lang, x=100 * x)
