"""The cells of a displayed table: number formats, the :class:`Display` model and the words of codes.

Display rules (decimals, percent, p-values) are stated once, in :data:`DIGITS` and the
``fmt_*`` functions. Words come from :func:`research.artifacts.words.word` (fixed words;
instrument codes and plan names through the bundle's ``instrument`` and ``plan``). Every
format (HTML, Markdown, DOCX, LaTeX; the report and the bulletin) is rendered from the same
:class:`Display`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from research.artifacts import labels
from research.artifacts.words import has_word, level_text
from research.artifacts.words import word as _word

DEFAULT_CONF_LEVEL = 0.95

#: decimals shown, by kind of number
DIGITS: dict[str, int] = {
    "estimate": 3,     # coefficients, marginal effects, standard errors, alpha, correlations, effect sizes
    "p_value": 3,      # p-values; below 10**-3 shown as "<0.001"
    "percent": 1,      # rates shown as percent
    "mean": 2,         # mean scores on the 1..5 scale and their SDs
    "hours": 1,        # handling times
    "statistic": 2,    # test statistics
    "df": 1,           # non-integer degrees of freedom (Welch)
    "fit": 1,          # log-likelihood, AIC, BIC
    "evalue": 2,       # E-values (risk-ratio scale)
}
#: p-values below this are shown as "<0.001"
P_FLOOR = 0.001
#: significance stars of T04, strongest first
STARS: tuple[tuple[float, str], ...] = ((0.001, "***"), (0.01, "**"), (0.05, "*"))

# --------------------------------------------------------------------------- number formats

def _missing(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _fixed(x: float, digits: int, thousands: bool = False) -> str:
    text = f"{x:,.{digits}f}" if thousands else f"{x:.{digits}f}"
    return text[1:] if re.fullmatch(r"-0\.?0*", text) else text  # no "-0.000"


def fmt_count(x) -> str:
    """Whole number with thousands separators: 19,920."""
    return "" if _missing(x) else f"{int(x):,}"


def fmt_num(x, kind: str = "estimate") -> str:
    """Fixed decimals of :data:`DIGITS` ``[kind]``."""
    return "" if _missing(x) else _fixed(float(x), DIGITS[kind], thousands=kind == "fit")


def fmt_pct(x, sign: bool = True) -> str:
    """A share (0..1) as percent: 0.8089 -> 80.9%."""
    if _missing(x):
        return ""
    return _fixed(100 * float(x), DIGITS["percent"]) + ("%" if sign else "")


def fmt_p(p) -> str:
    """p-value with :data:`DIGITS` ``["p_value"]`` decimals; ``<0.001`` below :data:`P_FLOOR`."""
    if _missing(p):
        return ""
    return f"<{P_FLOOR:g}" if float(p) < P_FLOOR else _fixed(float(p), DIGITS["p_value"])


def fmt_df(x) -> str:
    """Degrees of freedom: integer when whole, else :data:`DIGITS` ``["df"]`` decimals."""
    if _missing(x):
        return ""
    x = float(x)
    return str(int(x)) if x.is_integer() else _fixed(x, DIGITS["df"])


def fmt_interval(low, high, fmt: Callable[[object], str], high_missing: str = "",
                 low_missing: str = "") -> str:
    """``[low, high]`` with ``fmt``; ``high_missing`` / ``low_missing`` shown for a missing end."""
    if _missing(low) and _missing(high):
        return ""
    return (f"[{fmt(low) if not _missing(low) else low_missing}, "
            f"{fmt(high) if not _missing(high) else high_missing}]")


def stars(p) -> str:
    """Significance stars of :data:`STARS`."""
    if _missing(p):
        return ""
    for cut, mark in STARS:
        if float(p) < cut:
            return mark
    return ""


# --------------------------------------------------------------------------- display model

@dataclass
class Row:
    """One displayed row: ``cells`` (one per column), or a single spanning text when ``span``."""

    cells: list[str]
    bold: bool = False
    indent: bool = False
    span: bool = False
    rule_before: bool = False


@dataclass
class Display:
    """A table ready to write: headers, column alignments (``l``/``r``), rows and notes.

    ``widths``: relative column widths in DOCX (None: Word's equal columns), for a wide
    table whose label column would otherwise wrap to a word a line.
    """

    headers: list[str]
    align: list[str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    widths: list[float] | None = None


def word(name: str, lang: str, **fields) -> str:
    """A fixed display word (:func:`research.artifacts.words.word`)."""
    return _word(name, lang, **fields)


def level(bundle: dict) -> str:
    """The confidence level shown in headers and notes (``95%``): the plan's ``conf_level``."""
    return level_text(getattr(bundle.get("plan"), "conf_level", DEFAULT_CONF_LEVEL))


def ci_word(name: str, lang: str, bundle: dict) -> str:
    """A header holding the confidence level (``ci``, ``rate_ci``, ...), at the plan's level."""
    return word(name, lang, level=level(bundle))


def headers(keys, lang: str, bundle: dict) -> list[str]:
    """Header words of ``keys``, the confidence level filled in where a word has it."""
    return [word(k, lang, level=level(bundle)) for k in keys]


def _sentence(text: str, lang: str) -> str:
    """English labels start with a capital in a table (instrument labels are lower case)."""
    return text[:1].upper() + text[1:] if lang == "en" else text


def _code(kind: str, value, lang: str, bundle: dict) -> str:
    if _missing(value):
        return ""
    value = str(value)
    if value in ("overall", "total", "all"):
        return word("total" if value == "all" else value, lang)
    ins = bundle.get("instrument")
    return _sentence(value if ins is None else labels.code(kind, value, lang, ins), lang)


def _model(name: str, lang: str, bundle: dict) -> str:
    plan = bundle.get("plan")
    return name if plan is None else labels.model(name, lang, plan)


def _item(name: str, lang: str, bundle: dict) -> str:
    ins = bundle.get("instrument")
    if any(i.name == name for i in getattr(ins, "items", ())):
        return _sentence(_word(f"item:{name}", lang, instrument=ins), lang)
    return word(name, lang)


def _term(name: str, lang: str, bundle: dict) -> str:
    if has_word(name):
        return word(name, lang)
    ins = bundle.get("instrument")
    return _sentence(name if ins is None else labels.term(name, lang, ins), lang)


def _variable(name: str, lang: str, bundle: dict) -> str:
    """A variable name as a header word (items from the instrument, else the fixed words)."""
    return _item(name, lang, bundle)


#: a handling-time band as :func:`research.stats.bands.band_labels` names it: ``0-4h``, ``1-3d``, ``>7d``
_BAND_RE = re.compile(r"(?:(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)|>(\d+(?:\.\d+)?))([hd])")


def band_text(code, lang: str) -> str:
    """A handling-time band code in words: ``0-4h`` -> ``0–4小时`` / ``0–4 hours``, ``1-3d`` ->
    ``1–3天`` / ``1–3 days``, ``>7d`` -> ``7天以上`` / ``over 7 days``; any other text as it is."""
    m = _BAND_RE.fullmatch(str(code))
    if m is None:
        return str(code)
    a, b, over, unit = m.groups()
    unit = "hours" if unit == "h" else "days"
    return word(f"band_over_{unit}", lang, a=over) if over else word(f"band_{unit}", lang, a=a, b=b)


def fmt_points(x, sign: bool = True) -> str:
    """A difference of two proportions in percentage points (the unit goes in the header):
    -0.0453 -> ``-4.5``; ``+`` shown on a positive difference when ``sign``."""
    if _missing(x):
        return ""
    text = _fixed(100 * float(x), DIGITS["percent"])
    return "+" + text if sign and float(x) > 0 and text.strip("0.") else text


def _level_label(variable: str, level, lang: str, bundle: dict) -> str:
    if variable in ("cause_l1", "cause_l2"):
        return _code(variable, level, lang, bundle)
    if variable == "handling_band":
        return band_text(level, lang)
    if variable in ("overall", "all"):
        return word(str(level), lang)
    return str(level)


def _date(x) -> str:
    return "" if _missing(x) else str(pd.Timestamp(x).date())


def _no_data(keys: list[str], lang: str, align: list[str], bundle: dict | None = None) -> Display:
    return Display(headers(keys, lang, bundle or {}), align, [Row([word("no_workorders", lang)], span=True)])


def title_line(spec, lang: str) -> str:
    """``表 T01　样本描述`` / ``Table T01. Sample description``."""
    return word("table_title", lang, id=spec.id, title=spec.title(lang))
