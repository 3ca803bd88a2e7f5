"""Displays of the representativeness tables T09-T13, T19 and T20 (non-response, weights, weighted
estimates): data -> :class:`~research.artifacts.table_cells.Display` in ``lang``.
"""

from __future__ import annotations

import pandas as pd

from research.artifacts.table_cells import (DIGITS, Display, Row, _code, _level_label, _missing, _model, _no_data,
                                            _sentence, _term, fmt_count, fmt_interval, fmt_num, fmt_p, fmt_pct, fmt_points,
                                            headers, level, word)


def _display_response_rates(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["level", "work_orders", "completed", "completed_rate", "ci", "no_answer_rate", "refused_rate"]
    heads = headers(["domain"] + keys[1:], lang, bundle)
    align = ["l"] + ["r"] * 6
    if data.empty:
        return _no_data(["domain"] + keys[1:], lang, align, bundle)
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
        return _no_data(keys, lang, align, bundle)
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
        conv = word("weighting_converged", lang,
                    iterations=int(first["iterations"]), error=f"{float(first['max_margin_error']):.1e}")
    else:
        conv = word("weighting_not_converged", lang)
    plan = bundle.get("plan")
    spec = getattr(plan, "weighting", None)
    on = ""
    if spec is not None and str(first["method"]) in ("rake", "poststratify"):
        vars_ = spec.margins if str(first["method"]) == "rake" else spec.poststrata
        on = word("paren", lang, text=word("sep_enum", lang).join(word(v, lang) for v in vars_))
    notes = [word("note_weighting", lang, method=_sentence(method, lang), on=on, conv=conv)]
    if not _missing(first["trim_cap"]):
        notes.append(word("note_trimmed", lang, cap=float(first["trim_cap"])))
    return Display(headers(keys, lang, bundle), align, rows, notes)


def _display_weighted(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["domain", "n", "weighted", "ci", "std_error", "unweighted", "std_error", "difference"]
    align = ["l"] + ["r"] * 7
    if data.empty:
        return _no_data(keys, lang, align, bundle)
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
    notes = [word("note_weighted_units", lang)]
    return Display(headers(keys, lang, bundle), align, rows, notes)


def _display_weighted_effects(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    # average marginal effects on P(satisfied): differences of probabilities, in percentage points
    keys = ["cause_l1", "ame_weighted_points", "ci", "p_value", "ame_unweighted_points", "ci", "n"]
    align = ["l"] + ["r"] * 6
    if data.empty:
        return _no_data(keys, lang, align, bundle)
    rows: list[Row] = []
    model = None
    for r in data.itertuples(index=False):
        if r.model != model:
            rows.append(Row([_model(str(r.model), lang, bundle)], span=True, rule_before=bool(rows)))
        model = r.model
        rows.append(Row([_code("cause_l1", r.cause_l1, lang, bundle), fmt_points(r.estimate),
                         fmt_interval(r.conf_low, r.conf_high, fmt_points), fmt_p(r.p_value),
                         fmt_points(r.estimate_unweighted),
                         fmt_interval(r.conf_low_unweighted, r.conf_high_unweighted, fmt_points), fmt_count(r.n)],
                        indent=True))
    return Display(headers(keys, lang, bundle), align, rows, [word("note_effect_points", lang)])


def _display_propensity(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["term", "odds_ratio", "ci", "p_value"]
    align = ["l", "r", "r", "r"]
    if data.empty:
        return _no_data(keys, lang, align, bundle)
    rows = [Row([_term(str(r.term), lang, bundle), fmt_num(r.odds_ratio), fmt_interval(r.odds_ratio_low,
                                                                                   r.odds_ratio_high, fmt_num),
                 fmt_p(r.p_value)], indent=r.term != "(Intercept)") for r in data.itertuples(index=False)]
    n = int(data["n"].iloc[0])
    notes = [word("note_propensity", lang, n=n)]
    return Display(headers(keys, lang, bundle), align, rows, notes)



def _display_weighting_methods(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    from research.artifacts.tables import T19_METHODS

    methods = [m for m in T19_METHODS if m in set(data["method"])] if not data.empty else list(T19_METHODS)
    keys = ["domain", *[f"method_{m}" for m in methods]]
    align = ["l"] + ["r"] * len(methods)
    if data.empty:
        return _no_data(keys, lang, align, bundle)
    f = (lambda x: fmt_pct(x, sign=False))
    rows: list[Row] = []
    for (domain, value), part in data.groupby(["domain", "level"], sort=False):
        by = part.set_index("method")
        cells = [f"{f(by.loc[m, 'estimate'])} {fmt_interval(by.loc[m, 'conf_low'], by.loc[m, 'conf_high'], f)}"
                 if m in by.index and not _missing(by.loc[m, "estimate"]) else "–" for m in methods]
        rows.append(Row([_level_label(str(domain), value, lang, bundle), *cells], indent=domain != "overall"))
    notes = [word("note_weighting_methods", lang, level=level(bundle))]
    return Display(headers(keys, lang, bundle), align, rows, notes)


def _display_nonresponse_delta(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    from research.artifacts.tables import T20_SCENARIOS

    scen = [s for s in T20_SCENARIOS if s in set(data["scenario"])] if not data.empty else list(T20_SCENARIOS)
    keys = ["delta_shift", "odds_ratio", *[f"shift_{s}" for s in scen]]
    align = ["r"] * len(keys)
    if data.empty:
        return _no_data(keys, lang, align, bundle)
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
    notes = [word("note_delta", lang, target=target)]
    return Display(headers(keys, lang, bundle), align, rows, notes)

