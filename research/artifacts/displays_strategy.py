"""Displays of the strategy and monitoring tables T14-T18 and T21-T23 (levers, key drivers,
repeat callers, recurrence, p-chart, associations, station funnel, typical cases): data ->
:class:`~research.artifacts.table_cells.Display` in ``lang``.
"""

from __future__ import annotations

import pandas as pd

from research.artifacts import labels
from research.artifacts.table_cells import (DIGITS, Display, Row, _code, _date, _item, _missing, _no_data,
                                            _sentence, fmt_count, fmt_df, fmt_interval, fmt_num, fmt_p, fmt_pct,
                                            headers, level, word)


def _lever(name: str, lang: str, bundle: dict) -> str:
    """A lever's name, from the plan (its ``zh`` / ``en``)."""
    plan = bundle.get("plan")
    return name if plan is None else labels.lever(name, lang, plan)


def _display_levers(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["rank", "lever", "effect_points", "ci", "dissatisfied_per_10k", "ci", "evalue_point_ci",
            "share_through_resolution"]
    align = ["r", "l", "r", "r", "r", "r", "r", "r"]
    if data.empty:
        return Display(headers(keys, lang, bundle), align,
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

    rows = [Row([str(int(r.rank)), _sentence(_lever(str(r.lever), lang, bundle), lang), pts(r.effect_points),
                 fmt_interval(r.conf_low_points, r.conf_high_points, pts), cnt(r.dissatisfied_per_10k),
                 fmt_interval(r.dissatisfied_per_10k_low, r.dissatisfied_per_10k_high, cnt), evalues(r), share(r)])
            for r in data.itertuples(index=False)]
    first = data.iloc[0]
    base = fmt_pct(first["baseline_rate"], sign=False)
    which_note = "note_levers_weighted" if bool(first["weighted"]) else "note_levers_unweighted"
    notes = [word(which_note, lang, base=base, reps=int(first["boot_reps"])),
             word("note_evalue", lang), word("note_share_resolution", lang)]
    codes = data["mediation_note"].fillna("").astype(str)
    for code in dict.fromkeys(c for c in codes if c):
        which = data.loc[codes == code, "lever"].astype(str)
        reason = word(code, lang)
        if len(which) == len(data):
            notes.append(word("note_mediation_none", lang, reason=reason))
        else:
            names = word("sep_list", lang).join(_sentence(_lever(w, lang, bundle), lang) for w in which)
            notes.append(word("note_mediation_some", lang, names=names, reason=reason))
    # eight columns on a portrait page: room for the lever's name and one-line intervals
    widths = [0.6, 1.6, 0.95, 1.35, 1.15, 1.2, 1.1, 1.55]
    return Display(headers(keys, lang, bundle), align, rows, notes, widths)


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
        kind = word("lmg" if r0["method"] == "lmg" else "lmg_mcfadden", lang)
        notes.append(word("note_driver_set", lang, set=word(str(name), lang), what=what, r2=r2, kind=kind,
                          n=int(r0["n"])))
    if len(data):
        notes.append(word("note_drivers", lang))
    return Display(headers(keys, lang, bundle), align, rows, notes)



def _display_repeat_callers(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["customer_pseudonym", "n_tickets", "first_created", "last_created", "causes", "last_sat_overall",
            "risk"]
    align = ["l", "r", "l", "l", "l", "r", "r"]
    if data.empty:
        return _no_data(keys, lang, align, bundle)
    sep = word("sep_list", lang)
    rows = [Row([str(r.customer_id), fmt_count(r.n_tickets), _date(r.first_created), _date(r.last_created),
                 sep.join(_code("cause_l2", c, lang, bundle) for c in str(r.causes).split("|")),
                 "" if _missing(r.last_sat_overall) else str(int(r.last_sat_overall)), fmt_pct(r.risk, sign=False)])
            for r in data.itertuples(index=False)]
    n = int(data["n_episodes"].iloc[0])
    notes = [word("note_repeat_callers", lang, n=n, k=len(data))]
    return Display(headers(keys, lang, bundle), align, rows, notes)


def _display_recurrence(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["station", "cause_l2", "week_of", "count", "expected", "p_value"]
    align = ["l", "l", "l", "r", "r", "r"]
    if data.empty:
        return Display(headers(keys, lang, bundle), align, [Row([word("no_flags", lang)], span=True)])
    rows = [Row([str(r.station), _code("cause_l2", r.cause_l2, lang, bundle), _date(r.period_start),
                 fmt_count(r.count), fmt_num(r.expected, "mean"), fmt_p(r.p_value)])
            for r in data.itertuples(index=False)]
    tested = int(data["cells_tested"].iloc[0])
    notes = [word("note_recurrence", lang, tested=tested)]
    return Display(headers(keys, lang, bundle), align, rows, notes)


def _display_out_of_control(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["station", "week_of", "n", "dissatisfied_rate", "centre_line", "control_limits", "signal"]
    align = ["l", "l", "r", "r", "r", "r", "l"]
    from research.artifacts.tables import p_chart_false_signals

    fs = p_chart_false_signals(bundle)
    chance = [] if fs is None else [word("note_false_signals", lang, **fs)]
    if data.empty:
        return Display(headers(keys, lang, bundle), align, [Row([word("no_flags", lang)], span=True)], chance)
    pct = (lambda x: fmt_pct(x, sign=False))
    rows = [Row([str(r.station), _date(r.period_start), fmt_count(r.n) + ("*" if bool(r.low_n) else ""),
                 pct(r.rate), pct(r.centre), fmt_interval(r.lcl, r.ucl, pct), word(str(r.signal), lang)])
            for r in data.itertuples(index=False)]
    notes = [word("note_few_answers", lang), *chance]
    return Display(headers(keys, lang, bundle), align, rows, notes)



def _association_label(variable: str, level: str, lang: str, bundle: dict) -> str:
    if variable == "repeat":
        return word("repeat_true" if level in ("true", "1.0", "1", "True") else "repeat_false", lang)
    return _code(variable, level, lang, bundle)


def _display_associations(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["association_comparison", "standardised_rate", "reference_rate", "difference_points", "ci", "p_value"]
    align = ["l", "r", "r", "r", "r", "r"]
    if data.empty:
        return Display(headers(keys, lang, bundle), align, [Row([word("no_associations", lang)], span=True)])
    pct = (lambda x: fmt_pct(x, sign=False))
    pts = (lambda x: f"{100 * float(x):+.{DIGITS['percent']}f}")
    vs = word("versus", lang)
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
    se = word("se_design_weighted" if weighted else "se_cluster_robust", lang)
    notes = [word("note_associations", lang, n=n, se=se)]
    notes += _reference_notes(data.iloc[0], lang)
    return Display(headers(keys, lang, bundle), align, rows, notes)


def _reference_notes(r, lang: str) -> list[str]:
    """The reference distribution of a table's p-values and intervals, and a note when the
    stations are no more than the model's parameters (G <= p): t with G - 1 df then (R survey's
    ``degf(design)``, Stata's cluster convention), never a negative df."""
    df = r.get("df")
    if df is None or _missing(df):
        if _missing(r.get("n_clusters")):
            return []
        return [word("note_reference_normal", lang)]
    out = [word("note_reference_t", lang, df=fmt_df(df))]
    g, k = r.get("n_clusters"), r.get("n_parameters")
    if not (_missing(g) or _missing(k)) and int(g) <= int(k):
        out.append(word("note_few_clusters", lang, g=int(g), k=int(k), g1=int(g) - 1))
    return out


def _display_station_funnel(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    keys = ["station", "n", "observed_satisfied", "expected_satisfied", "standardised_rate", "limits_998", "z_score",
            "q_value", "signal", "fdr_flag"]
    align = ["l", "r", "r", "r", "r", "r", "r", "r", "l", "l"]
    if data.empty:
        return Display(headers(keys, lang, bundle), align, [Row([word("funnel_not_computed", lang)], span=True)])
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
        disp = word("note_dispersion_used", lang, phi=first["phi"])
    else:
        disp = word("note_dispersion_not", lang, phi=first["phi"])
    notes = [word("note_funnel", lang, k=k, target=target, n_sig=n_sig, n_fdr=n_fdr, disp=disp)]
    return Display(headers(keys, lang, bundle), align, rows, notes)



def _display_typical_cases(data: pd.DataFrame, lang: str, bundle: dict) -> Display:
    """T23: one block per cause group (a rule above it), row i holding the group's i-th distinguishing
    word with its z beside its i-th typical case (masked comment, sub-cause); the group and its
    comments compared on the block's first row."""
    keys = ["cause_l1", "comments_compared", "distinguishing_word", "z_score", "typical_case", "cause_l2"]
    align = ["l", "r", "l", "r", "l", "l"]
    widths = [1.05, 0.95, 1.1, 0.4, 2.1, 1.6]
    notes = [word("note_typical_cases", lang, **_typical_settings(bundle, lang)), word("note_typical_rule", lang)]
    if data.empty:
        return Display(headers(keys, lang, bundle), align, [Row([word("no_typical_cases", lang)], span=True)],
                       notes, widths)
    rows = []
    for group, part in data.groupby("cause_l1", sort=False):
        terms, cases = part[part["part"] == "term"], part[part["part"] == "case"]
        first = part.iloc[0]
        lead = [_code("cause_l1", group, lang, bundle),
                f"{fmt_count(first['comments_dissatisfied'])} / {fmt_count(first['comments_satisfied'])}"]
        for i in range(max(len(terms), len(cases))):
            t = terms.iloc[i] if i < len(terms) else None
            c = cases.iloc[i] if i < len(cases) else None
            cells = (lead if i == 0 else ["", ""])
            cells = cells + (["", ""] if t is None else [str(t["term"]), f"{float(t['z']):.1f}"])
            cells = cells + (["", ""] if c is None else [f"{int(c['rank'])}. {c['comment']}",
                                                         _code("cause_l2", c["cause_l2"], lang, bundle)])
            rows.append(Row(cells, rule_before=bool(rows) and i == 0))
    return Display(headers(keys, lang, bundle), align, rows, notes, widths)


def _typical_settings(bundle: dict, lang: str) -> dict:
    """The plan's typical-case settings as the note words them (the plan's defaults without a plan)."""
    from research.config.plan_specs import TypicalCasesSpec

    plan = bundle.get("plan")
    spec = getattr(plan, "typical_cases", None) or TypicalCasesSpec()
    prior = word("prior_pooled", lang) if spec.prior is None else f"{spec.prior:,g}"
    return {"min_count": spec.min_count, "top": spec.top, "prior": prior}
