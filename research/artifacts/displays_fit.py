"""Displays of the descriptive and model tables T01-T08: the table's data (machine names, full
precision) -> :class:`~research.artifacts.table_cells.Display` in ``lang``, words from
:func:`research.artifacts.words.word`.
"""

from __future__ import annotations

import pandas as pd

from research.artifacts.table_cells import (Display, Row, _code, _item, _missing, _model, _sentence, _term,
                                            _variable, fmt_count, fmt_df, fmt_interval, fmt_num, fmt_p, fmt_pct, fmt_points,
                                            headers, level, stars, word)
from research.artifacts.tables import model_names


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
    return Display(headers(keys, lang, bundle), ["l"] + ["r"] * (len(keys) - 1), rows)


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
    return Display(headers(keys, lang, bundle), ["l", "l", "r", "r", "r"], rows)


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
    keys = ["cause", "n", "satisfied_rate", "rate_ci", "mean_score", "mean_ci"]
    return Display(headers(keys, lang, bundle), ["l", "r", "r", "r", "r", "r"], rows)


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


def _models_scale_notes(data: pd.DataFrame, models: list[str], lang: str, bundle: dict) -> list[str]:
    """T04 notes: which columns are odds ratios, what the stars follow (Holm across the
    sub-cause contrasts of each model, unadjusted elsewhere)."""
    notes = []
    coef = data[data["kind"] == "coefficient"]
    odds = [i for i, m in enumerate(models, 1)
            if f"{m}_odds_ratio" in data.columns and coef[f"{m}_odds_ratio"].notna().any()]
    if odds:
        cols = word("sep_enum", lang).join(f"({i})" for i in odds)
        notes.append(word("note_odds_ratio_columns", lang, cols=cols, level=level(bundle)))
    holm = [m for m in models if f"{m}_p_holm" in data.columns and coef[f"{m}_p_holm"].notna().any()]
    if holm:
        k = max(int(coef[f"{m}_p_holm"].notna().sum()) for m in holm)
        notes.append(word("note_holm_stars", lang, k=k))
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
    heads = [word("term", lang)] + [f"({i})" for i in range(1, len(models) + 1)]
    sep = word("sep_clause", lang)
    notes = [word("note_models_key", lang,
                  models=sep.join(f"({i}) {_model(m, lang, bundle)}" for i, m in enumerate(models, 1)))]
    notes += _models_scale_notes(data, models, lang, bundle)
    plan = bundle.get("plan")
    terms = set(data["term"].astype(str))
    refs = []
    for var, ref in (getattr(plan, "reference_levels", {}) or {}).items():
        if any(t.startswith(f"{var}[") or f":{var}[" in t for t in terms) and \
                not any(f"{var}[{ref}]" in t for t in terms):
            refs.append(f"{word(var, lang)} = {_code(var, ref, lang, bundle)}")
    if refs:
        notes.append(word("note_reference_levels", lang, refs=sep.join(refs)))
    return Display(heads, ["l"] + ["r"] * len(models), rows, notes)


def _display_effects(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    rows: list[Row] = []
    group = None
    for r in data.itertuples(index=False):
        points = r.scale == "p_satisfied"  # a difference of probabilities: in percentage points
        if (r.scale, r.model) != group:
            group = (r.scale, r.model)
            scale = word("p_satisfied_points" if points else str(r.scale), lang)
            rows.append(Row([f"{scale} · {_model(str(r.model), lang, bundle)}"], span=True,
                            rule_before=bool(rows)))
        f = fmt_points if points else fmt_num
        rows.append(Row([_code("cause_l1", r.cause_l1, lang, bundle), f(r.estimate),
                         fmt_interval(r.conf_low, r.conf_high, f), fmt_p(r.p_value), fmt_count(r.n)],
                        indent=True))
    keys = ["cause_l1", "estimate", "ci", "p_value", "n"]
    notes = [word("note_effect_points", lang)] if (data["scale"] == "p_satisfied").any() else []
    return Display(headers(keys, lang, bundle), ["l", "r", "r", "r", "r"], rows, notes)


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
                "" if kind in ("", "nan") else word("paren", lang, text=word(f"kind_{kind}", lang)))
            cells += [finding, "" if _missing(r.change_point_p) else fmt_p(r.change_point_p),
                      slope, bp]
        rows.append(Row(cells + [hours, ci, fmt_num(r.reference_hours, "hours"), fmt_pct(r.reference_rate),
                                 fmt_num(r.max_hours, "hours"),
                                 f"{fmt_count(r.boot_not_reached)}/{fmt_count(r.boot_reps)}", fmt_count(r.n)]))
    keys = ["cause_l1"] + (["shape", "change_point_p", "slope_per_doubling", "breakpoint_hours"] if has_shape else [])
    heads = headers(keys, lang, bundle)
    points = float(data["drop_points"].iloc[0]) if len(data) else 5.0
    heads.append(word("drop_threshold_hours", lang, points=points) if has_shape
                 else word("threshold_hours", lang))
    heads += headers(["ci", "reference_hours", "reference_rate", "max_hours", "boot_not_reached", "n"], lang, bundle)
    return Display(heads, ["l"] + (["l"] if has_shape else []) + ["r"] * (len(heads) - 1 - has_shape), rows)


def _display_comparisons(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    rows = []
    for r in data.itertuples(index=False):
        df = fmt_df(r.df1) if _missing(r.df2) else f"{fmt_df(r.df1)}, {fmt_df(r.df2)}"
        effect = "" if _missing(r.effect_size) else \
            f"{word(str(r.effect_size_name), lang)} = {fmt_num(r.effect_size)}"
        rows.append(Row([_variable(str(r.dv), lang, bundle), word(str(r.between), lang), word(str(r.method), lang),
                         fmt_num(r.statistic, "statistic"), df, fmt_p(r.p_value), effect, fmt_count(r.n)]))
    keys = ["dv", "between", "method", "statistic", "df", "p_value", "effect_size", "n"]
    return Display(headers(keys, lang, bundle), ["l", "l", "l", "r", "r", "r", "r", "r"], rows)


def _display_reliability(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    rows = []
    for r in data.itertuples(index=False):
        if r.row_type == "scale":
            name = word(str(r.name), lang)
            if not _missing(r.n_items):
                name += word("n_items", lang, n=int(r.n_items))
            rows.append(Row([name, fmt_num(r.alpha), fmt_interval(r.conf_low, r.conf_high, fmt_num),
                             "", "", "", "", fmt_count(r.n)], bold=True))
        else:
            rows.append(Row([_item(str(r.name), lang, bundle), "", "", fmt_num(r.mean, "mean"),
                             fmt_num(r.sd, "mean"), fmt_num(r.item_rest_r), fmt_num(r.alpha_if_dropped),
                             fmt_count(r.n)], indent=True))
    keys = ["item", "alpha", "ci", "mean", "sd", "item_rest_r", "alpha_if_dropped", "n"]
    return Display(headers(keys, lang, bundle), ["l"] + ["r"] * 7, rows)

