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

Display rules (decimals, percent, p-values) are stated once in
:data:`DIGITS` and the ``fmt_*`` functions; labels come from
:mod:`research.artifacts.labels` (the one mapping of display words); words it does not
have yet. Same data, stamp and package versions give byte-identical files in
every format (the DOCX zip is rewritten with fixed times and order).
"""

from __future__ import annotations

import copy
import functools
import html
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from research.artifacts import labels
from research.artifacts.docx_util import DOCX_EAST_ASIA_FONT, FIXED_TIME, core_property, normalise_zip, xml_text
from research.artifacts.registry import TABLES, ArtifactSpec
from research.artifacts.stamp import Stamp
from research.artifacts.tables import model_names
from research.safeio import atomic_write_bytes
from research.safeio import write_csv as safe_write_csv

# --------------------------------------------------------------------------- display rules (the one place)

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
#: fonts: Latin and East Asian text in DOCX; CSS font stack in HTML
DOCX_FONT = "Times New Roman"
DOCX_FONT_PT = 9
HTML_FONTS = ('"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", '
              '"Helvetica Neue", Arial, sans-serif')
#: formats written per language, in this order
FORMATS: tuple[str, ...] = ("html", "md", "docx", "tex")

#: display words that :data:`labels.LABELS` does not hold (name -> (zh, en)); candidates to move there


def word(name: str, lang: str) -> str:
    """Display label of a fixed word (:data:`research.artifacts.labels.LABELS`), else the name."""
    return labels.text(name, lang)


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
    for item in getattr(ins, "items", ()):
        if item.name == name:
            return _sentence(item.zh if lang == "zh" else item.en, lang)
    return word(name, lang)


def _term(name: str, lang: str, bundle: dict) -> str:
    if name in labels.LABELS:
        return word(name, lang)
    ins = bundle.get("instrument")
    return _sentence(name if ins is None else labels.term(name, lang, ins), lang)


def _variable(name: str, lang: str, bundle: dict) -> str:
    """A variable name as a header word (items from the instrument, else the labels)."""
    ins = bundle.get("instrument")
    if any(i.name == name for i in getattr(ins, "items", ())):
        return _item(name, lang, bundle)
    return word(name, lang)


# --------------------------------------------------------------------------- per-table display

def _display_sample(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    has_wo = data["work_orders"].notna().any()
    keys = ["cause_l1"] + (["work_orders"] if has_wo else []) + [
        "completed_surveys", "valid_responses", "median_handling_hours", "satisfied_rate"]
    rows = []
    for r in data.itertuples(index=False):
        cells = [_code("cause_l1", r.cause_l1, lang, bundle)]
        if has_wo:
            cells.append(fmt_count(r.work_orders))
        cells += [fmt_count(r.completed_surveys), fmt_count(r.valid_responses),
                  fmt_num(r.median_handling_hours, "hours"), fmt_pct(r.satisfied_rate)]
        total = r.cause_l1 == "overall"
        rows.append(Row(cells, bold=total, rule_before=total))
    return Display([word(k, lang) for k in keys], ["l"] + ["r"] * (len(keys) - 1), rows)


def _display_reconciliation(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    reasons = bundle.get("ingest_report", {}).get("reasons", {})
    rows = []
    for r in data.itertuples(index=False):
        if r.row_type == "file":
            rows.append(Row([f"{word(str(r.role), lang)} ({r.file})", "", fmt_count(r.rows_read),
                             fmt_count(r.accepted), fmt_count(r.rejected)], rule_before=bool(rows)))
        elif r.row_type == "reason":
            label = _sentence(reasons.get(str(r.reason), {}).get(lang, str(r.reason)), lang)
            rows.append(Row(["", label, "", "", fmt_count(r.rejected)], indent=True))
        else:
            rows.append(Row([word("total", lang), "", fmt_count(r.rows_read), fmt_count(r.accepted),
                             fmt_count(r.rejected)], bold=True, rule_before=True))
    keys = ["file", "reason", "rows_read", "accepted", "rejected"]
    return Display([word(k, lang) for k in keys], ["l", "l", "r", "r", "r"], rows)


def _display_satisfaction(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    rows = []
    for r in data.itertuples(index=False):
        if r.level == "cause_l2":
            name, bold, indent = _code("cause_l2", r.cause_l2, lang, bundle), False, True
        else:
            name, bold, indent = _code("cause_l1", r.cause_l1, lang, bundle), True, False
        rows.append(Row([name, fmt_count(r.n), fmt_pct(r.satisfied_rate),
                         fmt_interval(r.rate_conf_low, r.rate_conf_high, lambda x: fmt_pct(x, sign=False)),
                         fmt_num(r.mean_score, "mean"),
                         fmt_interval(r.mean_conf_low, r.mean_conf_high, lambda x: fmt_num(x, "mean"))],
                        bold=bold, indent=indent, rule_before=r.level != "cause_l2" and bool(rows)))
    headers = [word("cause", lang), word("n", lang), word("satisfied_rate", lang), word("rate_ci", lang),
               word("mean_score", lang), word("mean_ci", lang)]
    return Display(headers, ["l", "r", "r", "r", "r", "r"], rows)


def _model_cell(r: dict, m: str, kind: str) -> tuple[str, str]:
    """T04 cell of model ``m`` and the line under it: the odds ratio exp(b) with stars and its
    interval for logit and ordinal coefficients; the coefficient with stars and its interval
    for the others; cutpoints (log-odds scale) and variance components with the standard
    error in parentheses (also every term of a frame without intervals). Stars follow
    ``p_stars`` (Holm for the sub-cause contrasts) when the frame has it."""
    p = r.get(f"{m}_p_stars", r.get(f"{m}_p_value"))
    if _missing(p):
        p = r.get(f"{m}_p_value")
    if kind == "coefficient" and not _missing(r.get(f"{m}_odds_ratio")):
        return (fmt_num(r[f"{m}_odds_ratio"]) + stars(p),
                fmt_interval(r.get(f"{m}_or_conf_low"), r.get(f"{m}_or_conf_high"), fmt_num))
    if kind == "coefficient" and not (_missing(r.get(f"{m}_conf_low")) and _missing(r.get(f"{m}_conf_high"))):
        return (fmt_num(r[f"{m}_estimate"]) + stars(p),
                fmt_interval(r.get(f"{m}_conf_low"), r.get(f"{m}_conf_high"), fmt_num))
    se = r.get(f"{m}_std_error")
    return fmt_num(r[f"{m}_estimate"]) + stars(p), "" if _missing(se) else f"({fmt_num(se)})"


def _models_scale_notes(data: pd.DataFrame, models: list[str], lang: str) -> list[str]:
    """T04 notes: which columns are odds ratios, what the stars follow (Holm across the
    sub-cause contrasts of each model, unadjusted elsewhere)."""
    notes = []
    coef = data[data["kind"] == "coefficient"]
    odds = [i for i, m in enumerate(models, 1)
            if f"{m}_odds_ratio" in data.columns and coef[f"{m}_odds_ratio"].notna().any()]
    if odds:
        cols = "、".join(f"({i})" for i in odds) if lang == "zh" else ", ".join(f"({i})" for i in odds)
        notes.append(f"{cols}列为优势比 exp(b)，方括号内为95%置信区间；其余列为系数及其95%置信区间；"
                     "阈值（切点）为对数优势尺度，括号内为标准误。" if lang == "zh" else
                     f"Columns {cols}: odds ratios exp(b) with 95% confidence intervals in brackets; other columns: "
                     "coefficients with 95% intervals; cutpoints on the log-odds scale with standard errors in "
                     "parentheses.")
    holm = [m for m in models if f"{m}_p_holm" in data.columns and coef[f"{m}_p_holm"].notna().any()]
    if holm:
        k = max(int(coef[f"{m}_p_holm"].notna().sum()) for m in holm)
        notes.append(f"* p<0.05, ** p<0.01, *** p<0.001；诉求子类的星号按各模型{k}个子类对比的Holm校正p值，"
                     "其余项为未校正p值。" if lang == "zh" else
                     f"* p<0.05, ** p<0.01, *** p<0.001; stars: Holm-adjusted across the {k} sub-cause contrasts "
                     "of each model; unadjusted for the other terms.")
    return notes


def _display_models(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    models = model_names(data)
    rows: list[Row] = []
    section = None
    for r in data.to_dict("records"):
        kind = r["kind"]
        if kind != section and kind != "coefficient":
            heading = {"cutpoint": "cutpoints", "variance": "variance_components",
                       "fit": "fit_statistics"}.get(kind, kind)
            rows.append(Row([word(heading, lang)], span=True, rule_before=True))
        section = kind
        if kind == "fit":
            fmt = fmt_count if r["term"] == "nobs" else (lambda x: fmt_num(x, "fit"))
            rows.append(Row([word(r["term"], lang)] + [fmt(r[f"{m}_estimate"]) for m in models]))
            continue
        est, below = [], []
        for m in models:
            cell, under = _model_cell(r, m, kind)
            est.append(cell)
            below.append(under)
        rows.append(Row([_term(r["term"], lang, bundle)] + est))
        if any(below):
            rows.append(Row([""] + below))
    headers = [word("term", lang)] + [f"({i})" for i in range(1, len(models) + 1)]
    sep = "；" if lang == "zh" else "; "
    notes = [f"{word('models_key', lang)}：" if lang == "zh" else f"{word('models_key', lang)}: "]
    notes[0] += sep.join(f"({i}) {_model(m, lang, bundle)}" for i, m in enumerate(models, 1))
    notes += _models_scale_notes(data, models, lang)
    plan = bundle.get("plan")
    terms = set(data["term"].astype(str))
    refs = []
    for var, ref in (getattr(plan, "reference_levels", {}) or {}).items():
        if any(t.startswith(f"{var}[") or f":{var}[" in t for t in terms) and \
                not any(f"{var}[{ref}]" in t for t in terms):
            refs.append(f"{word(var, lang)} = {_code(var, ref, lang, bundle)}")
    if refs:
        colon = "：" if lang == "zh" else ": "
        notes.append(word("reference_levels", lang) + colon + sep.join(refs))
    return Display(headers, ["l"] + ["r"] * len(models), rows, notes)


def _display_effects(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    rows: list[Row] = []
    group = None
    for r in data.itertuples(index=False):
        if (r.scale, r.model) != group:
            group = (r.scale, r.model)
            rows.append(Row([f"{word(str(r.scale), lang)} · {_model(str(r.model), lang, bundle)}"], span=True,
                            rule_before=bool(rows)))
        rows.append(Row([_code("cause_l1", r.cause_l1, lang, bundle), fmt_num(r.estimate),
                         fmt_interval(r.conf_low, r.conf_high, fmt_num), fmt_p(r.p_value), fmt_count(r.n)],
                        indent=True))
    keys = ["cause_l1", "estimate", "ci", "p_value", "n"]
    return Display([word(k, lang) for k in keys], ["l", "r", "r", "r", "r"], rows)


def _display_thresholds(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    nr = word("not_reached", lang)
    has_shape = "shape" in data.columns
    rows = []
    for r in data.itertuples(index=False):
        shape = str(r.shape) if has_shape else "gradual"
        enough = shape != "insufficient_data"
        hours = (fmt_num(r.threshold_hours, "hours") if bool(r.reached) else nr) if enough else ""
        ci = fmt_interval(r.conf_low, r.conf_high, lambda x: fmt_num(x, "hours"), high_missing=nr) \
            if bool(r.reached) else ""
        cells = [_code("cause_l1", r.cause_l1, lang, bundle)]
        if has_shape:
            slope = "" if _missing(r.slope_per_doubling) else \
                f"{fmt_num(r.slope_per_doubling)} {fmt_interval(r.slope_low, r.slope_high, fmt_num)}"
            bp = "" if shape != "threshold" else f"{fmt_num(r.breakpoint_hours, 'hours')} " + \
                fmt_interval(r.breakpoint_low, r.breakpoint_high, lambda x: fmt_num(x, "hours"),
                             high_missing=word("not_bounded", lang), low_missing=word("not_bounded", lang))
            kind = str(getattr(r, "change_point_kind", "") or "") if shape == "threshold" else ""
            finding = word(f"shape_{shape}", lang) + (
                "" if kind in ("", "nan") else ("（" if lang == "zh" else " (") + word(f"kind_{kind}", lang)
                + ("）" if lang == "zh" else ")"))
            cells += [finding, "" if _missing(r.change_point_p) else fmt_p(r.change_point_p),
                      slope, bp]
        rows.append(Row(cells + [hours, ci, fmt_num(r.reference_hours, "hours"), fmt_pct(r.reference_rate),
                                 fmt_num(r.max_hours, "hours"),
                                 f"{fmt_count(r.boot_not_reached)}/{fmt_count(r.boot_reps)}", fmt_count(r.n)]))
    keys = ["cause_l1"] + (["shape", "change_point_p", "slope_per_doubling", "breakpoint_hours"] if has_shape else [])
    headers = [word(k, lang) for k in keys]
    points = float(data["drop_points"].iloc[0]) if len(data) else 5.0
    headers.append(word("drop_threshold_hours", lang).format(points=points) if has_shape
                   else word("threshold_hours", lang))
    headers += [word(k, lang) for k in ["ci", "reference_hours", "reference_rate", "max_hours", "boot_not_reached", "n"]]
    return Display(headers, ["l"] + (["l"] if has_shape else []) + ["r"] * (len(headers) - 1 - has_shape), rows)


def _display_comparisons(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    rows = []
    for r in data.itertuples(index=False):
        df = fmt_df(r.df1) if _missing(r.df2) else f"{fmt_df(r.df1)}, {fmt_df(r.df2)}"
        effect = "" if _missing(r.effect_size) else \
            f"{word(str(r.effect_size_name), lang)} = {fmt_num(r.effect_size)}"
        rows.append(Row([_variable(str(r.dv), lang, bundle), word(str(r.between), lang), word(str(r.method), lang),
                         fmt_num(r.statistic, "statistic"), df, fmt_p(r.p_value), effect, fmt_count(r.n)]))
    keys = ["dv", "between", "method", "statistic", "df", "p_value", "effect_size", "n"]
    return Display([word(k, lang) for k in keys], ["l", "l", "l", "r", "r", "r", "r", "r"], rows)


def _display_reliability(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    rows = []
    for r in data.itertuples(index=False):
        if r.row_type == "scale":
            name = word(str(r.name), lang)
            if not _missing(r.n_items):
                name += f"（{int(r.n_items)}题）" if lang == "zh" else f" ({int(r.n_items)} items)"
            rows.append(Row([name, fmt_num(r.alpha), fmt_interval(r.conf_low, r.conf_high, fmt_num),
                             "", "", "", "", fmt_count(r.n)], bold=True))
        else:
            rows.append(Row([_item(str(r.name), lang, bundle), "", "", fmt_num(r.mean, "mean"),
                             fmt_num(r.sd, "mean"), fmt_num(r.item_rest_r), fmt_num(r.alpha_if_dropped),
                             fmt_count(r.n)], indent=True))
    keys = ["item", "alpha", "ci", "mean", "sd", "item_rest_r", "alpha_if_dropped", "n"]
    return Display([word(k, lang) for k in keys], ["l"] + ["r"] * 7, rows)


def _no_data(keys: list[str], lang: str, align: list[str]) -> Display:
    return Display([word(k, lang) for k in keys], align, [Row([word("no_workorders", lang)], span=True)])


def _level_label(variable: str, level, lang: str, bundle: dict) -> str:
    if variable in ("cause_l1", "cause_l2"):
        return _code(variable, level, lang, bundle)
    if variable in ("overall", "all"):
        return word(str(level), lang)
    return str(level)


def _display_response_rates(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["level", "work_orders", "completed", "completed_rate", "ci", "no_answer_rate", "refused_rate"]
    heads = [word("domain", lang)] + [word(k, lang) for k in keys[1:]]
    align = ["l"] + ["r"] * 6
    if data.empty:
        return _no_data(["domain"] + keys[1:], lang, align)
    rows: list[Row] = []
    section = None
    pct = (lambda x: fmt_pct(x, sign=False))
    for r in data.itertuples(index=False):
        if r.variable != section and r.variable != "overall":
            rows.append(Row([word(str(r.variable), lang)], span=True, rule_before=True))
        section = r.variable
        rows.append(Row([_level_label(str(r.variable), r.level, lang, bundle), fmt_count(r.work_orders),
                         fmt_count(r.completed), pct(r.completed_rate),
                         fmt_interval(r.completed_conf_low, r.completed_conf_high, pct),
                         pct(r.no_answer_rate), pct(r.refused_rate)],
                        bold=r.variable == "overall", indent=r.variable != "overall"))
    return Display(heads, align, rows)


def _display_weights(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["domain", "n", "population", "weight_sum", "weight_min", "weight_max", "cv", "n_eff", "deff"]
    align = ["l"] + ["r"] * 8
    if data.empty:
        return _no_data(keys, lang, align)
    rows: list[Row] = []
    section = None
    for r in data.itertuples(index=False):
        if r.variable != section and r.variable != "all":
            rows.append(Row([word(str(r.variable), lang)], span=True, rule_before=True))
        section = r.variable
        rows.append(Row([_level_label(str(r.variable), r.level, lang, bundle), fmt_count(r.n),
                         fmt_count(r.population) if not _missing(r.population) else "",
                         fmt_num(r.sum, "fit"), fmt_num(r.min, "mean"), fmt_num(r.max, "mean"),
                         fmt_num(r.cv, "mean"), fmt_num(r.n_eff, "fit"), fmt_num(r.deff, "mean")],
                        bold=r.variable == "all", indent=r.variable != "all"))
    first = data.iloc[0]
    method = word(str(first["method"]), lang)
    if bool(first["converged"]):
        conv = labels.text("weighting_converged", lang).format(
            iterations=int(first["iterations"]), error=f"{float(first['max_margin_error']):.1e}")
    else:
        conv = word("weighting_not_converged", lang)
    plan = bundle.get("plan")
    spec = getattr(plan, "weighting", None)
    on = ""
    if spec is not None and str(first["method"]) in ("rake", "poststratify"):
        vars_ = spec.margins if str(first["method"]) == "rake" else spec.poststrata
        on = ("、" if lang == "zh" else ", ").join(word(v, lang) for v in vars_)
        on = f"（{on}）" if lang == "zh" else f" ({on})"
    notes = [f"{method}{on}；{conv}" if lang == "zh" else f"{_sentence(method, lang)}{on}; {conv}"]
    if not _missing(first["trim_cap"]):
        notes.append(f"截尾上限：平均权重的{float(first['trim_cap']):g}倍" if lang == "zh"
                     else f"Trimmed at {float(first['trim_cap']):g} × the mean weight")
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _display_weighted(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["domain", "n", "weighted", "ci", "std_error", "unweighted", "std_error", "difference"]
    align = ["l"] + ["r"] * 7
    if data.empty:
        return _no_data(keys, lang, align)
    rows: list[Row] = []
    section = None
    for r in data.itertuples(index=False):
        rate = r.variable == "satisfied"
        if (r.variable, r.domain) != section:
            if r.domain == "overall":
                title = word("satisfied_rate" if rate else "sat_overall_mean", lang)
                rows.append(Row([title], span=True, rule_before=bool(rows), bold=True))
            else:
                rows.append(Row([word(str(r.domain), lang)], span=True))
        section = (r.variable, r.domain)
        if rate:
            f = (lambda x: fmt_pct(x, sign=False))
            diff = f"{100 * r.difference:+.{DIGITS['percent']}f}"
            se = (lambda x: f"{100 * x:.{DIGITS['percent'] + 1}f}")
        else:
            f = (lambda x: fmt_num(x, "mean"))
            diff = f"{r.difference:+.{DIGITS['estimate']}f}"
            se = fmt_num
        rows.append(Row([_level_label(str(r.domain), r.level, lang, bundle), fmt_count(r.n), f(r.estimate),
                         fmt_interval(r.conf_low, r.conf_high, f), se(r.std_error), f(r.estimate_unweighted),
                         se(r.std_error_unweighted), diff], indent=r.domain != "overall"))
    notes = ["满意率及其置信区间以%计，其标准误与差值以百分点计；平均得分为1–5分。" if lang == "zh"
             else "Satisfied rates and their intervals in %, their standard errors and differences in "
                  "percentage points; mean scores on the 1–5 scale."]
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _display_weighted_effects(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["cause_l1", "ame_weighted", "ci", "p_value", "ame_unweighted", "ci", "n"]
    align = ["l"] + ["r"] * 6
    if data.empty:
        return _no_data(keys, lang, align)
    rows: list[Row] = []
    model = None
    for r in data.itertuples(index=False):
        if r.model != model:
            rows.append(Row([_model(str(r.model), lang, bundle)], span=True, rule_before=bool(rows)))
        model = r.model
        rows.append(Row([_code("cause_l1", r.cause_l1, lang, bundle), fmt_num(r.estimate),
                         fmt_interval(r.conf_low, r.conf_high, fmt_num), fmt_p(r.p_value),
                         fmt_num(r.estimate_unweighted),
                         fmt_interval(r.conf_low_unweighted, r.conf_high_unweighted, fmt_num), fmt_count(r.n)],
                        indent=True))
    return Display([word(k, lang) for k in keys], align, rows)


def _display_propensity(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["term", "odds_ratio", "ci", "p_value"]
    align = ["l", "r", "r", "r"]
    if data.empty:
        return _no_data(keys, lang, align)
    rows = [Row([_term(str(r.term), lang, bundle), fmt_num(r.odds_ratio), fmt_interval(r.odds_ratio_low,
                                                                                   r.odds_ratio_high, fmt_num),
                 fmt_p(r.p_value)], indent=r.term != "(Intercept)") for r in data.itertuples(index=False)]
    n = int(data["n"].iloc[0])
    notes = [f"工单数 {n:,}；标准误按供电所聚类稳健（CR1）。" if lang == "zh"
             else f"{n:,} work orders; standard errors cluster-robust by station (CR1)."]
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _display_levers(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["rank", "lever", "effect_points", "ci", "dissatisfied_per_10k", "ci", "evalue_point_ci",
            "share_through_resolution"]
    align = ["r", "l", "r", "r", "r", "r", "r", "r"]
    if data.empty:
        return Display([word(k, lang) for k in keys], align,
                       [Row([word("no_levers", lang)], span=True)])
    pts = (lambda x: f"{x:+.{DIGITS['percent'] + 1}f}")
    cnt = (lambda x: f"{x:+,.0f}")
    pct = (lambda x: fmt_pct(x, sign=False))

    def evalues(r) -> str:
        if _missing(r.evalue):
            return ""
        return f"{fmt_num(r.evalue, 'evalue')} / {fmt_num(r.evalue_ci, 'evalue')}"

    def share(r) -> str:
        if _missing(r.share_mediated):
            return word("not_computed", lang)
        return f"{pct(r.share_mediated)} {fmt_interval(r.share_mediated_low, r.share_mediated_high, pct)}"

    rows = [Row([str(int(r.rank)), _sentence(str(r.zh if lang == "zh" else r.en), lang), pts(r.effect_points),
                 fmt_interval(r.conf_low_points, r.conf_high_points, pts), cnt(r.dissatisfied_per_10k),
                 fmt_interval(r.dissatisfied_per_10k_low, r.dissatisfied_per_10k_high, cnt), evalues(r), share(r)])
            for r in data.itertuples(index=False)]
    first = data.iloc[0]
    base = fmt_pct(first["baseline_rate"], sign=False)
    if bool(first["weighted"]):
        notes = [f"按全部工单加权；当前满意率 {base}%；{int(first['boot_reps'])} 次按供电所整群自助法。" if lang == "zh"
                 else f"Weighted to all work orders; current satisfied rate {base}%; cluster bootstrap by station, "
                      f"{int(first['boot_reps'])} replicates."]
    else:
        notes = [f"回访样本（未加权）；当前满意率 {base}%；{int(first['boot_reps'])} 次按供电所整群自助法。" if lang == "zh"
                 else f"Respondents (unweighted); current satisfied rate {base}%; cluster bootstrap by station, "
                      f"{int(first['boot_reps'])} replicates."]
    notes.append("E值：斜线前为点估计的E值，斜线后为较接近无效应（1）的置信限的E值，置信区间包含1时为1；"
                 "数值越大，需要越强的未测混杂才能解释掉该效应。"
                 if lang == "zh" else
                 "E-value: before the slash for the point estimate, after it for the confidence limit nearer no "
                 "effect (1 when the interval includes 1); the larger, the stronger an unmeasured confounder must be "
                 "to explain the effect away.")
    notes.append("经由办结的效应占比：自然间接效应除以总效应（参数g公式，中介变量为回访答“已解决”），假定办结与满意度之间"
                 "无未测混杂；若“是否解决”的回答部分由满意与否引起，该占比被高估。负值表示经由办结的部分与总效应方向相反。"
                 if lang == "zh" else
                 "Share through resolution: natural indirect over total effect (parametric g-formula; mediator: the "
                 "callback answers \"resolved\"), assuming no unmeasured confounding of resolution and satisfaction; "
                 "overstated if the resolution answer is partly caused by satisfaction. A negative share: the part "
                 "through resolution runs against the total effect.")
    codes = data["mediation_note"].fillna("").astype(str)
    for code in dict.fromkeys(c for c in codes if c):
        which = data.loc[codes == code, "zh" if lang == "zh" else "en"].astype(str)
        reason = word(code, lang)
        if len(which) == len(data):
            notes.append(f"经由办结的效应占比对全部杠杆均未计算：{reason}。" if lang == "zh" else
                         f"Share through resolution not computed for any lever: {reason}.")
        else:
            sep = "、" if lang == "zh" else "; "
            names = sep.join(_sentence(w, lang) for w in which)
            notes.append(f"经由办结的效应占比未计算（{names}）：{reason}。" if lang == "zh" else
                         f"Share through resolution not computed ({names}): {reason}.")
    # eight columns on a portrait page: room for the lever's name and one-line intervals
    widths = [0.6, 1.6, 0.95, 1.35, 1.15, 1.2, 1.1, 1.55]
    return Display([word(k, lang) for k in keys], align, rows, notes, widths)


def _display_drivers(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["driver_set", "rank", "driver", "importance_share", "ci", "null_share_q95", "p_holm", "performance",
            "quadrant", "p_concentrate_here"]
    align = ["l", "r", "l", "r", "r", "r", "r", "r", "l", "r"]
    pct = (lambda x: fmt_pct(x, sign=False))
    rows = []
    for r in data.itertuples(index=False):
        status = str(r.ipa_status) if not _missing(r.ipa_status) else ""
        where = word(str(r.quadrant), lang) if status == "placed" else (word(status, lang) if status else "")
        rows.append(Row([word(str(r.set), lang), str(int(r.rank)), word(str(r.driver), lang), pct(r.share),
                         fmt_interval(r.share_conf_low, r.share_conf_high, pct), pct(r.null_share_q95),
                         fmt_p(r.p_holm), "" if _missing(r.performance) else fmt_num(r.performance), where,
                         "" if _missing(r.p_concentrate_here) else pct(r.p_concentrate_here)]))
    notes = []
    for name, part in data.groupby("set", sort=False):
        r0 = part.iloc[0]
        r2 = fmt_num(r0["total_r2"])
        what = _item("sat_overall", lang, bundle) if r0["outcome"] == "sat_overall" else word("satisfied", lang)
        kind = ("LMG/Shapley分解" if r0["method"] == "lmg" else "McFadden伪R²的LMG分解") if lang == "zh" else \
            ("LMG/Shapley decomposition" if r0["method"] == "lmg" else "LMG of McFadden pseudo-R²")
        notes.append(f"{word(str(name), lang)}：结果变量 {what}，合计R²={r2}（{kind}），样本量 {int(r0['n']):,}。"
                     if lang == "zh" else
                     f"{word(str(name), lang)}: outcome {what}; together R² = {r2} ({kind}), n = {int(r0['n']):,}.")
    if len(data):
        notes.append("满意度分项与总体满意度来自同一次回访（光环效应），单独分解，不与运营因素混合；“问题解决情况”亦为回访答案，"
                     "不列入。零分布：将该因素的行随机置换后重算的占比；Holm校正P值不低于0.05者为“未检出重要性”，不参与象限划分。"
                     "表现为处于有利水平的工单占比（处理时长与时限内办结：时限内办结率；重复来电：无重复来电率）；诉求子类与受理渠道为构成类因素，无表现指标。"
                     if lang == "zh" else
                     "The satisfaction items come from the same callback as the overall score (a halo), so they are decomposed "
                     "apart and never mixed with the operational drivers; the resolution answer, also a callback answer, is in "
                     "neither. Null: the share after permuting the driver's rows; a Holm-adjusted p of 0.05 or more is 'no "
                     "detectable importance' and takes no quadrant. Performance: share of tickets at the favourable level "
                     "(handling time and SLA met: share within the SLA target; repeat calls: share without); sub-cause and "
                     "channel are compositions with no performance measure. Shares describe association, not effects.")
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _date(x) -> str:
    return "" if _missing(x) else str(pd.Timestamp(x).date())


def _display_repeat_callers(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["customer_pseudonym", "n_tickets", "first_created", "last_created", "causes", "last_sat_overall",
            "risk"]
    align = ["l", "r", "l", "l", "l", "r", "r"]
    if data.empty:
        return _no_data(keys, lang, align)
    sep = "、" if lang == "zh" else "; "
    rows = [Row([str(r.customer_id), fmt_count(r.n_tickets), _date(r.first_created), _date(r.last_created),
                 sep.join(_code("cause_l2", c, lang, bundle) for c in str(r.causes).split("|")),
                 "" if _missing(r.last_sat_overall) else str(int(r.last_sat_overall)), fmt_pct(r.risk, sign=False)])
            for r in data.itertuples(index=False)]
    n = int(data["n_episodes"].iloc[0])
    notes = [f"共 {n:,} 个重复致电事件（同一客户30天内两张及以上工单），按不满意风险列出前 {len(data)} 个；客户仅以化名出现。"
             if lang == "zh" else
             f"{n:,} repeat-call episodes (one customer, two or more work orders within 30 days); the {len(data)} "
             "of highest dissatisfaction risk are listed; customers appear only as pseudonyms."]
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _display_recurrence(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["station", "cause_l2", "week_of", "count", "expected", "p_value"]
    align = ["l", "l", "l", "r", "r", "r"]
    if data.empty:
        return Display([word(k, lang) for k in keys], align, [Row([word("no_flags", lang)], span=True)])
    rows = [Row([str(r.station), _code("cause_l2", r.cause_l2, lang, bundle), _date(r.period_start),
                 fmt_count(r.count), fmt_num(r.expected, "mean"), fmt_p(r.p_value)])
            for r in data.itertuples(index=False)]
    tested = int(data["cells_tested"].iloc[0])
    notes = [f"共检验 {tested:,} 个供电所×诉求子类×周；单侧精确条件泊松检验，α=0.001。" if lang == "zh" else
             f"{tested:,} station × sub-cause × week cells tested; exact conditional Poisson test, one-sided, "
             "alpha = 0.001."]
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _display_out_of_control(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["station", "week_of", "n", "dissatisfied_rate", "centre_line", "control_limits", "signal"]
    align = ["l", "l", "r", "r", "r", "r", "l"]
    from research.artifacts.tables import p_chart_false_signals

    fs = p_chart_false_signals(bundle)
    chance = [] if fs is None else [
        f"即使各供电所均无变化，{fs['weeks']} 周中每周（最多 {fs['stations']} 个供电所）预计仅因偶然就有 "
        f"{fs['expected_per_week']:.2f} 个信号（合计 {fs['expected_total']:.1f} 个），实际每周 {fs['observed_per_week']:.2f} "
        f"个（合计 {fs['observed_total']} 个）。p控制图只将供电所与其自身比较，用于发现突变；长期、经病例组合调整后的差距见表T22。"
        if lang == "zh" else
        f"Even if no station changed, chance alone gives {fs['expected_per_week']:.2f} signals a week across up to "
        f"{fs['stations']} stations ({fs['expected_total']:.1f} over {fs['weeks']} weeks); observed "
        f"{fs['observed_per_week']:.2f} a week ({fs['observed_total']} in all). The p-chart compares a station only "
        "with itself and looks for sudden change; persistent, case-mix-adjusted gaps are Table T22's."]
    if data.empty:
        return Display([word(k, lang) for k in keys], align, [Row([word("no_flags", lang)], span=True)], chance)
    pct = (lambda x: fmt_pct(x, sign=False))
    rows = [Row([str(r.station), _date(r.period_start), fmt_count(r.n) + ("*" if bool(r.low_n) else ""),
                 pct(r.rate), pct(r.centre), fmt_interval(r.lcl, r.ucl, pct), word(str(r.signal), lang)])
            for r in data.itertuples(index=False)]
    notes = ["*回答少于10份。" if lang == "zh" else "* fewer than 10 answers.", *chance]
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _display_weighting_methods(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    from research.artifacts.tables import T19_METHODS

    methods = [m for m in T19_METHODS if m in set(data["method"])] if not data.empty else list(T19_METHODS)
    keys = ["domain", *[f"method_{m}" for m in methods]]
    align = ["l"] + ["r"] * len(methods)
    if data.empty:
        return _no_data(keys, lang, align)
    f = (lambda x: fmt_pct(x, sign=False))
    rows: list[Row] = []
    for (domain, level), part in data.groupby(["domain", "level"], sort=False):
        by = part.set_index("method")
        cells = [f"{f(by.loc[m, 'estimate'])} {fmt_interval(by.loc[m, 'conf_low'], by.loc[m, 'conf_high'], f)}"
                 if m in by.index and not _missing(by.loc[m, "estimate"]) else "–" for m in methods]
        rows.append(Row([_level_label(str(domain), level, lang, bundle), *cells], indent=domain != "overall"))
    notes = ["满意率及其95%置信区间（%）；泰勒线性化标准误，以供电所为整群。各方法均假定在加权变量给定时回访与否与满意无关"
             "（随机缺失）；它们之间的差异只反映调整方式的选择，不反映这一假定是否成立（见表T20）。" if lang == "zh"
             else "Satisfied rate and 95% interval (%); Taylor-linearization standard errors with stations as "
                  "clusters. Every method assumes that, given its variables, answering the survey is unrelated to "
                  "satisfaction (missing at random); their spread shows the choice of adjustment, not whether "
                  "that assumption holds (see Table T20)."]
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _display_nonresponse_delta(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    from research.artifacts.tables import T20_SCENARIOS

    scen = [s for s in T20_SCENARIOS if s in set(data["scenario"])] if not data.empty else list(T20_SCENARIOS)
    keys = ["delta_shift", "odds_ratio", *[f"shift_{s}" for s in scen]]
    align = ["r"] * len(keys)
    if data.empty:
        return _no_data(keys, lang, align)
    f = (lambda x: fmt_pct(x, sign=False))
    rows: list[Row] = []
    for delta, part in data.groupby("delta", sort=True):
        by = part.set_index("scenario")
        rows.append(Row([f"{delta:+.2f}", fmt_num(float(part["odds_ratio"].iloc[0])),
                         *[f"{f(by.loc[s, 'estimate'])} {fmt_interval(by.loc[s, 'conf_low'], by.loc[s, 'conf_high'], f)}"
                           for s in scen]]))
    first = data.drop_duplicates("scenario").set_index("scenario")
    tip = [("–" if _missing(first.loc[s, "tipping_delta"]) else f"{first.loc[s, 'tipping_delta']:+.2f}") for s in scen]
    rows.append(Row([word("tipping_delta", lang), "", *tip], rule_before=True))
    rows.append(Row([word("rate_bounds", lang), "",
                     *[fmt_interval(first.loc[s, "rate_if_all_dissatisfied"], first.loc[s, "rate_if_all_satisfied"], f)
                       for s in scen]]))
    target = f(first["target"].iloc[0])
    notes = [f"δ为未回访客户与协变量相同的已回访客户相比满意对数优势之差（δ=0即随机缺失）；区间按供电所整群稳健标准误、"
             f"t分布（G−1自由度）。临界δ为总体满意率恰好等于目标 {target}% 时的δ，“–”表示该组无论如何也无法改变结论；"
             f"界限为该组全部不满意／全部满意时的满意率。δ的合理范围无法由数据检验。" if lang == "zh"
             else f"δ: log odds ratio of being satisfied, non-respondent against a respondent with the same covariates "
                  f"(δ = 0: missing at random); intervals from cluster-robust (station) standard errors, t with G − 1 df. "
                  f"Tipping δ: where the overall rate equals the target of {target}%; '–': no shift of that group "
                  f"alone can carry it there. Bounds: the rate if every shifted non-respondent were dissatisfied / "
                  f"satisfied. Which δ is plausible the data cannot tell."]
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _association_label(variable: str, level: str, lang: str, bundle: dict) -> str:
    if variable == "repeat":
        return word("repeat_true" if level in ("true", "1.0", "1", "True") else "repeat_false", lang)
    return _code(variable, level, lang, bundle)


def _display_associations(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["association_comparison", "standardised_rate", "reference_rate", "difference_points", "ci", "p_value"]
    align = ["l", "r", "r", "r", "r", "r"]
    if data.empty:
        return Display([word(k, lang) for k in keys], align, [Row([word("no_associations", lang)], span=True)])
    pct = (lambda x: fmt_pct(x, sign=False))
    pts = (lambda x: f"{100 * float(x):+.{DIGITS['percent']}f}")
    vs = " 对比 " if lang == "zh" else " vs "
    rows = []
    for variable, part in data.groupby("variable", sort=False):
        rows.append(Row([word(str(variable), lang), "", "", "", "", ""], bold=True))
        for r in part.itertuples(index=False):
            rows.append(Row([_association_label(str(variable), str(r.level), lang, bundle) + vs
                             + _association_label(str(variable), str(r.reference), lang, bundle),
                             pct(r.rate), pct(r.reference_rate), pts(r.estimate),
                             fmt_interval(r.conf_low, r.conf_high, pts), fmt_p(r.p_value)], indent=True))
    n = int(data["n"].iloc[0])
    weighted = "weighted" in str(data["method"].iloc[0])
    se_zh, se_en = (("按全部工单加权，设计标准误以供电所为整群", "weighted to all work orders, design-based standard errors "
                     "with stations as clusters") if weighted else
                    ("标准误按供电所聚类稳健", "standard errors cluster-robust by station"))
    notes = [f"回答 {n:,} 份；逻辑回归按诉求子类、处理时长、受理渠道、供电所与月份调整，{se_zh}。"
             "“问题解决情况”来自回访答案，重复来电多由不满意引起：二者部分是不满意的后果，差值描述满意与不满意客户"
             "的不同，不是办结或减少重复来电能带来的满意率提升，故不列入改进杠杆（见表T14）。" if lang == "zh" else
             f"{n:,} answers; logit adjusted for sub-cause, handling time, channel, station and month, {se_en}. "
             "The resolution answer comes from the callback and repeat calls often follow "
             "dissatisfaction: both are partly consequences of dissatisfaction, so the differences describe who is "
             "satisfied, not what resolving more tickets or preventing repeat calls would gain; they are not levers "
             "(see Table T14)."]
    notes += _reference_notes(data.iloc[0], lang)
    return Display([word(k, lang) for k in keys], align, rows, notes)


def _reference_notes(r, lang: str) -> list[str]:
    """The reference distribution of a table's p-values and intervals, and a note when the
    stations are no more than the model's parameters (G <= p): t with G - 1 df then (R survey's
    ``degf(design)``, Stata's cluster convention), never a negative df."""
    df = r.get("df")
    if df is None or _missing(df):
        if _missing(r.get("n_clusters")):
            return []
        return ["P值与置信区间：正态分布。" if lang == "zh" else "p-values and intervals: normal distribution."]
    out = [f"P值与置信区间：t分布，自由度 {fmt_df(df)}。" if lang == "zh"
           else f"p-values and intervals: t with {fmt_df(df)} df."]
    g, k = r.get("n_clusters"), r.get("n_parameters")
    if not (_missing(g) or _missing(k)) and int(g) <= int(k):
        out.append(f"供电所仅 {int(g)} 个而模型参数有 {int(k)} 个（G ≤ p）：模型不留剩余设计自由度，故t分布取 G − 1 = "
                   f"{int(g) - 1} 个自由度（与R survey包的degf及svymean相同）；无法对全部系数做联合检验，检验依赖于较少的供电所。"
                   if lang == "zh" else
                   f"Only {int(g)} stations for {int(k)} model parameters (G ≤ p): the model leaves no residual design "
                   f"degrees of freedom, so t uses G − 1 = {int(g) - 1} df (as R survey's degf and svymean); no "
                   "joint test of all coefficients is possible and the tests rest on few stations.")
    return out


def _display_station_funnel(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["station", "n", "observed_satisfied", "expected_satisfied", "standardised_rate", "limits_998", "z_score",
            "q_value", "signal", "fdr_flag"]
    align = ["l", "r", "r", "r", "r", "r", "r", "r", "l", "l"]
    if data.empty:
        return Display([word(k, lang) for k in keys], align, [Row([word("funnel_not_computed", lang)], span=True)])
    pct = (lambda x: fmt_pct(x, sign=False))
    rows = [Row([str(r.station), fmt_count(r.n), fmt_count(r.observed), fmt_num(r.expected, "hours"),
                 pct(r.std_rate), fmt_interval(r.lcl, r.ucl, pct), fmt_num(r.z, "statistic"), fmt_p(r.q_value),
                 word(str(r.signal), lang) if r.signal else "", word(f"fdr_{r.fdr_signal}", lang) if r.fdr_signal else ""],
                bold=bool(r.signal) or bool(r.fdr_signal))
            for r in data.rename(columns={"lcl_99.8": "lcl", "ucl_99.8": "ucl"}).itertuples(index=False)]
    first = data.iloc[0]
    k, target = len(data), pct(first["target"])
    n_sig, n_fdr = int((data["signal"] != "").sum()), int((data["fdr_signal"] != "").sum())
    if bool(first["phi_used"]):
        disp = (f"存在过度离散（φ = {first['phi']:.2f}），控制限与z已按φ放宽。" if lang == "zh" else
                f"Over-dispersion present (φ = {first['phi']:.2f}): limits and z widened by it.")
    else:
        disp = (f"过度离散因子 φ = {first['phi']:.2f}，与1无显著差异，采用精确二项控制限。" if lang == "zh" else
                f"Over-dispersion factor φ = {first['phi']:.2f}, not distinguishable from 1: exact binomial limits.")
    notes = [f"{k} 个供电所，总体满意率 {target}%；{n_sig} 个超出99.8%控制限，{n_fdr} 个q<0.05。{disp}"
             "未标出者与总体的差异无法与偶然波动区分（并非“没有差异”）。" if lang == "zh" else
             f"{k} stations, overall rate {target}%; {n_sig} outside the 99.8% limits, {n_fdr} with q < 0.05. {disp} "
             "For the others no difference from the overall rate is detectable (which is not the same as none)."]
    return Display([word(k_, lang) for k_ in keys], align, rows, notes)


#: display function of each builder
DISPLAYS: dict[str, Callable[[pd.DataFrame, str, dict], Display]] = {
    "table_sample": _display_sample,
    "table_reconciliation": _display_reconciliation,
    "table_satisfaction_by_cause": _display_satisfaction,
    "table_models": _display_models,
    "table_handling_time_effects": _display_effects,
    "table_thresholds": _display_thresholds,
    "table_group_comparisons": _display_comparisons,
    "table_reliability": _display_reliability,
    "table_response_rates": _display_response_rates,
    "table_weight_diagnostics": _display_weights,
    "table_weighted_vs_unweighted": _display_weighted,
    "table_weighted_effects": _display_weighted_effects,
    "table_response_propensity": _display_propensity,
    "table_levers": _display_levers,
    "table_key_drivers": _display_drivers,
    "table_repeat_callers": _display_repeat_callers,
    "table_recurrence": _display_recurrence,
    "table_out_of_control": _display_out_of_control,
    "table_weighting_methods": _display_weighting_methods,
    "table_nonresponse_delta": _display_nonresponse_delta,
    "table_associations": _display_associations,
    "table_station_funnel": _display_station_funnel,
}


def display_table(spec: ArtifactSpec, data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    """The display form of a table's data in ``lang`` (``zh`` or ``en``)."""
    if lang not in labels.LANGS:
        raise ValueError(f"lang must be one of {list(labels.LANGS)}, got {lang!r}")
    try:
        fn = DISPLAYS[spec.builder]
    except KeyError:
        raise KeyError(f"no display for builder {spec.builder!r} of {spec.id}; known: {sorted(DISPLAYS)}") from None
    return fn(data, lang, bundle)


def title_line(spec: ArtifactSpec, lang: str) -> str:
    """``表 T01　样本描述`` / ``Table T01. Sample description``."""
    return f"表 {spec.id}　{spec.title(lang)}" if lang == "zh" else f"Table {spec.id}. {spec.title(lang)}"


# --------------------------------------------------------------------------- writers: text formats

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
        if row.rule_before and i > 0:
            out.append("\\midrule")
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
figure.research-table tr.rule td { border-top: 1px solid #9a9a9a; }
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


def html_table(spec: ArtifactSpec, disp: Display, lang: str) -> list[str]:
    """Lines of the ``<table>`` of a Display (title as ``<caption>``), every text through :func:`html_text`."""
    e = html_text
    n = len(disp.headers)
    out = ["<table>", f"<caption>{e(title_line(spec, lang))}</caption>", "<thead>", "<tr>"]
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
                element_id: str | None = None) -> str:
    """A table as one ``<figure class="research-table">``: the table, then notes, caption and stamp
    (omitted when ``stamp`` is None). ``element_id``: the figure's ``id`` attribute (none if None)."""
    e = html_text
    head = f'<figure class="research-table" id="{e(element_id)}">' if element_id else \
        '<figure class="research-table">'
    out = [head] + html_table(spec, disp, lang) + ["<figcaption>"]
    out += [f'<p class="note">{e(note)}</p>' for note in disp.notes]
    out.append(f'<p class="caption">{e(spec.caption(lang))}</p>')
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


# --------------------------------------------------------------------------- writer: DOCX

def _set_fonts(rpr_parent, size_pt: float | None = None) -> None:
    """Latin and East Asian fonts (and size) on a run or style (python-docx object with ``.font``/``.element``)."""
    from docx.oxml.ns import qn
    from docx.shared import Pt

    rpr_parent.font.name = DOCX_FONT
    if size_pt is not None:
        rpr_parent.font.size = Pt(size_pt)
    rpr = rpr_parent.element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attr), DOCX_FONT)
    fonts.set(qn("w:eastAsia"), DOCX_EAST_ASIA_FONT)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)


def _border(element, edges: dict[str, tuple[str, int]], tag: str) -> None:
    """Set borders (``edge -> (val, size in 1/8 pt)``) under ``tag`` (``w:tblBorders`` or ``w:tcBorders``)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    box = element.find(qn(tag))
    if box is None:
        box = OxmlElement(tag)
        element.append(box)
    for edge, (val, size) in edges.items():
        el = box.find(qn(f"w:{edge}"))
        if el is None:
            el = OxmlElement(f"w:{edge}")
            box.append(el)
        el.set(qn("w:val"), val)
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000" if val != "nil" else "auto")


def _format_cell_paragraph(par, text: str, *, bold=False, italic=False, align="l", indent=False) -> None:
    """Format a table cell's paragraph and add its run, through python-docx's API (the reference
    for :func:`_tc_text`, which copies what this makes)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    par.alignment = WD_ALIGN_PARAGRAPH.RIGHT if align == "r" else WD_ALIGN_PARAGRAPH.LEFT
    par.paragraph_format.space_before = Pt(1)
    par.paragraph_format.space_after = Pt(1)
    if indent:
        par.paragraph_format.left_indent = Pt(12)
    run = par.add_run(xml_text(text))
    run.bold = bold or None
    run.italic = italic or None
    _set_fonts(run, DOCX_FONT_PT)


@functools.cache
def _cell_template(bold: bool, italic: bool, right: bool, indent: bool):
    """A cell paragraph (``w:p``) holding the paragraph properties and an empty run with its run
    properties, made by :func:`_format_cell_paragraph` once per combination of formats. Holds no
    reference to any document, so one copy serves every document."""
    from docx.oxml import OxmlElement
    from docx.text.paragraph import Paragraph

    p = OxmlElement("w:p")
    _format_cell_paragraph(Paragraph(p, None), "", bold=bold, italic=italic, align="r" if right else "l",
                           indent=indent)
    return p


_W_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_W_P, _W_T, _W_TC, _W_TCPR, _W_TCW = (f"{_W_NS}{t}" for t in ("p", "t", "tc", "tcPr", "tcW"))
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


def _tc_text(tc, text: str, *, bold=False, italic=False, align="l", indent=False) -> None:
    """Write ``text`` into a table cell (``w:tc``) with the cell formats: the same XML as
    :func:`_format_cell_paragraph` on the cell's first paragraph.

    Written with lxml because python-docx's API was too slow here: each cell's formats went through
    some 15 property setters, each finding or inserting a child in schema order
    (``get_or_add_child``), about 0.5 ms a cell; the tables of one build have about 9,000 cells.
    Here the paragraph and run properties are copied from a template python-docx made
    (:func:`_cell_template`), and the text goes into one ``w:t`` as python-docx writes it (kept
    spaces marked ``xml:space="preserve"``); text with a tab or line break, or a cell whose
    paragraph is not empty, goes through python-docx as before.
    """
    clean = xml_text(text)
    p = tc.find(_W_P)
    if p is None or len(p) or len(p.attrib):  # not a fresh cell: python-docx's API
        from docx.text.paragraph import Paragraph

        _format_cell_paragraph(Paragraph(tc.p_lst[0], None), clean, bold=bold, italic=italic, align=align,
                               indent=indent)
        return
    for child in _cell_template(bool(bold), bool(italic), align == "r", bool(indent)):
        p.append(copy.deepcopy(child))
    if not clean:
        return
    run = p[-1]
    if "\t" in clean or "\n" in clean or "\r" in clean:
        run.text = clean  # python-docx: tabs and line breaks become w:tab and w:br
        return
    t = run.makeelement(_W_T, {})
    t.text = clean
    if len(clean.strip()) < len(clean):
        t.set(_XML_SPACE, "preserve")
    run.append(t)


def _cell_text(cell, text: str, *, bold=False, italic=False, align="l", indent=False) -> None:
    """Text and formats of a python-docx table cell (:func:`_tc_text`)."""
    _tc_text(cell._tc, text, bold=bold, italic=italic, align=align, indent=indent)


def _paragraph(doc, text: str, *, size: float, bold=False, color: str | None = None, keep_next=False):
    from docx.shared import Pt, RGBColor

    par = doc.add_paragraph()
    par.paragraph_format.space_after = Pt(3)
    par.paragraph_format.keep_with_next = keep_next or None
    run = par.add_run(xml_text(text))
    run.bold = bold or None
    if color:
        run.font.color.rgb = RGBColor.from_string(color)
    _set_fonts(run, size)
    return par


def new_docx(lang: str):
    """An empty python-docx ``Document`` whose Normal style has the package's Latin and East Asian
    fonts and the language of ``lang`` (``zh`` or ``en``)."""
    from docx import Document
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    doc = Document()
    normal = doc.styles["Normal"]
    _set_fonts(normal, 10.5)
    lang_el = normal.element.get_or_add_rPr().find(qn("w:lang"))
    if lang_el is None:
        lang_el = OxmlElement("w:lang")
        normal.element.get_or_add_rPr().append(lang_el)
    lang_el.set(qn("w:val"), "zh-CN" if lang == "zh" else "en-US")
    lang_el.set(qn("w:eastAsia"), "zh-CN")
    return doc


#: left and right cell padding of a table with fixed column widths (twips; Word's default is 108)
DOCX_NARROW_PADDING = 57


def _column_widths(doc, table, widths: Sequence[float]) -> None:
    """Fixed column widths in proportion to ``widths``, together the text width of the last section,
    with narrower cell padding (:data:`DOCX_NARROW_PADDING`)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Emu

    sec = doc.sections[-1]
    total = sec.page_width - sec.left_margin - sec.right_margin
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    mar = OxmlElement("w:tblCellMar")
    for edge in ("left", "right"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:w"), str(DOCX_NARROW_PADDING))
        el.set(qn("w:type"), "dxa")
        mar.append(el)
    look = tbl_pr.find(qn("w:tblLook"))
    if look is not None:  # schema order: ... tblLayout, tblCellMar, tblLook
        look.addprevious(mar)
    else:
        tbl_pr.append(mar)
    emus = [Emu(int(total * w / sum(widths))) for w in widths]
    for col, w in zip(table._tbl.tblGrid.gridCol_lst, emus, strict=True):
        col.w = w
    rows = table._tbl.findall(qn("w:tr"))
    if not rows:
        return
    first = rows[0].findall(_W_TC)
    for tc, w in zip(first, emus, strict=True):
        tc.width = w  # python-docx: w:tcPr/w:tcW in twips
    # the other rows get the same w:tcW attributes with lxml (python-docx's cell.width costs a
    # property chain per cell); every row of a table just made has one w:tc per column
    widths_xml = [dict(tc.find(_W_TCPR).find(_W_TCW).attrib) for tc in first]
    for tr in rows[1:]:
        for tc, attrs in zip(tr.findall(_W_TC), widths_xml, strict=True):
            tc_pr = tc.find(_W_TCPR)
            tc_w = None if tc_pr is None else tc_pr.find(_W_TCW)
            if tc_w is None:
                tc_w = tc.get_or_add_tcPr().get_or_add_tcW()
            for key, value in attrs.items():
                tc_w.set(key, value)


def add_docx_table(doc, spec: ArtifactSpec, disp: Display, lang: str, stamp: Stamp | None = None) -> None:
    """Append a table to a python-docx ``Document``, cell by cell from the Display: title paragraph,
    a three-line table with a repeated header row, then notes, caption and the stamp (none if None).

    Every text becomes a run (python-docx escapes XML), control characters dropped by
    :func:`xml_text`; nothing is parsed back from another format. Used by :func:`render_docx`,
    the report and the bulletin.
    """
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    _paragraph(doc, title_line(spec, lang), size=10.5, bold=True, keep_next=True)
    n = len(disp.headers)
    table = doc.add_table(rows=1 + len(disp.rows), cols=n)
    tbl_pr = table._tbl.tblPr
    _border(tbl_pr, {"top": ("single", 12), "bottom": ("single", 12), "left": ("nil", 0), "right": ("nil", 0),
                     "insideH": ("nil", 0), "insideV": ("nil", 0)}, "w:tblBorders")
    header = table.rows[0]
    tr_pr = header._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    tr_pr.append(repeat)
    for cell, text, a in zip(header.cells, disp.headers, disp.align, strict=True):
        _cell_text(cell, text, bold=True, align=a)
        _border(cell._tc.get_or_add_tcPr(), {"bottom": ("single", 6)}, "w:tcBorders")
    if disp.widths is not None:
        _column_widths(doc, table, disp.widths)
    trs = table._tbl.findall(qn("w:tr"))
    for i, row in enumerate(disp.rows):
        if row.span:
            cells = table.rows[i + 1].cells
            merged = cells[0].merge(cells[-1]) if n > 1 else cells[0]
            _cell_text(merged, row.cells[0], italic=True)
            targets = [merged._tc]
        else:
            # w:tc elements rather than python-docx cells: a table just made has one per column
            targets = trs[i + 1].findall(_W_TC)
            for j, (tc, text, a) in enumerate(zip(targets, row.cells, disp.align, strict=True)):
                _tc_text(tc, text, bold=row.bold, align=a, indent=row.indent and j == 0)
        if row.rule_before and i > 0:
            for tc in targets:
                _border(tc.get_or_add_tcPr(), {"top": ("single", 4)}, "w:tcBorders")
    for note in disp.notes:
        _paragraph(doc, note, size=DOCX_FONT_PT)
    _paragraph(doc, spec.caption(lang), size=DOCX_FONT_PT)
    if stamp is not None:
        _paragraph(doc, stamp.text(lang), size=8, color="777777")


def render_docx(spec: ArtifactSpec, disp: Display, lang: str, stamp: Stamp) -> bytes:
    """A Word document: title paragraph, a three-line table with a repeated header row, then notes,
    caption and stamp (:func:`add_docx_table`); fixed core properties and zip entry times, so the
    bytes repeat."""
    doc = new_docx(lang)
    add_docx_table(doc, spec, disp, lang, stamp)
    props = doc.core_properties
    props.title = core_property(title_line(spec, lang))
    props.subject = spec.id
    props.author = "research"
    props.last_modified_by = "research"
    props.language = "zh-CN" if lang == "zh" else "en-US"
    props.comments = core_property(spec.caption(lang))
    props.revision = 1
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    props.last_printed = FIXED_TIME
    buf = io.BytesIO()
    doc.save(buf)
    return normalise_zip(buf.getvalue())


# --------------------------------------------------------------------------- files

def write_csv(data: pd.DataFrame, path: Path) -> Path:
    """The table's data as built: UTF-8 with BOM, full precision, ``\\n`` line ends, no index; text
    cells a spreadsheet would run as a formula prefixed with ``'``; written atomically
    (:func:`research.safeio.write_csv`). Returns the path."""
    return safe_write_csv(data, path, bom=True)


RENDERERS: dict[str, Callable[[ArtifactSpec, Display, str, Stamp], str | bytes]] = {
    "html": render_html, "md": render_markdown, "docx": render_docx, "tex": render_latex}


def write_table(spec: ArtifactSpec, bundle: dict, out_dir, stamp: Stamp,
                langs: Sequence[str] = labels.LANGS) -> dict[str, Path]:
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
        if lang not in labels.LANGS:
            raise ValueError(f"lang must be one of {list(labels.LANGS)}, got {lang!r}")
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
                     langs: Sequence[str] = labels.LANGS) -> dict[str, dict[str, Path]]:
    """:func:`write_table` for every table of the registry: table id -> files written."""
    return {spec.id: write_table(spec, bundle, out_dir, stamp, langs) for spec in TABLES}
