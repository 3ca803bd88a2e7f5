"""Named values of stage 3, representativeness (``weights/*.csv``): response rates, the
weighted headline rate and its shift, the weights' design effect, the survey-weighted doubling
effect, and the non-response sensitivity (spread over weighting methods, tipping deltas).

In: the bundle (:func:`research.artifacts.bundle.make_bundle`). Out: a list of
:func:`research.artifacts.values_format.value_row` dicts, none without work orders;
:func:`research.artifacts.values.named_values` puts every stage's values together.
"""

from __future__ import annotations

import numpy as np

from research.artifacts import labels
from research.artifacts.values_format import AME_MODEL, pct, points_text, value_row


def representativeness_values(bundle: dict) -> list[dict]:
    """Named values of the non-response section (``weights/*.csv``); none without work orders."""
    ins = bundle["instrument"]
    out: list[dict] = []
    rr = bundle.get("response_rates")
    if rr is not None and len(rr):
        src = "weights/response_rates.csv"
        r = rr[rr["variable"] == "overall"].iloc[0]
        v = float(r["completed_rate"])
        out.append(value_row("response_rate_overall", v, "proportion", pct(v), pct(v), src, "variable=overall",
                             "completed_rate", "T09"))
        by = rr[rr["variable"] == "cause_l1"]
        if len(by):
            for tag, r in (("lowest", by.loc[by["completed_rate"].idxmin()]),
                           ("highest", by.loc[by["completed_rate"].idxmax()])):
                g = str(r["level"])
                out.append(value_row(f"response_rate_{tag}_cause", g, "code", labels.code("cause_l1", g, "zh", ins),
                                     labels.code("cause_l1", g, "en", ins), src,
                                     f"{'min' if tag == 'lowest' else 'max'}(completed_rate) where variable=cause_l1",
                                     "level", "T09"))
                v = float(r["completed_rate"])
                out.append(value_row(f"response_rate_{tag}_cause_rate", v, "proportion", pct(v), pct(v), src,
                                     f"variable=cause_l1, level={g}", "completed_rate", "T09"))
    we = bundle.get("weighted_estimates")
    if we is not None and len(we):
        src = "weights/weighted_estimates.csv"
        r = we[(we["variable"] == "satisfied") & (we["domain"] == "overall")].iloc[0]
        for col, suffix in (("estimate", ""), ("conf_low", "_low"), ("conf_high", "_high")):
            v = float(r[col])
            out.append(value_row(f"sat_rate_weighted{suffix}", v, "proportion", pct(v), pct(v), src,
                                 "variable=satisfied, domain=overall", col, "T11"))
        v = float(r["difference"])
        out.append(value_row("sat_rate_weighting_shift", v, "proportion", points_text(v, "zh"), points_text(v, "en"),
                             src, "variable=satisfied, domain=overall", "difference", "T11"))
        sub = we[(we["variable"] == "satisfied") & (we["domain"] == "cause_l2")]
        if len(sub):
            r = sub.loc[sub["difference"].abs().idxmax()]
            s = str(r["level"])
            out.append(value_row("sat_rate_shift_largest_subcause", s, "code", labels.code("cause_l2", s, "zh", ins),
                                 labels.code("cause_l2", s, "en", ins), src,
                                 "max(abs(difference)) where variable=satisfied, domain=cause_l2", "level", "T11"))
            v = float(r["difference"])
            out.append(value_row("sat_rate_shift_largest_subcause_points", v, "proportion", points_text(v, "zh"),
                                 points_text(v, "en"), src, f"variable=satisfied, domain=cause_l2, level={s}",
                                 "difference", "T11"))
    ws = bundle.get("weight_summary")
    if ws is not None and len(ws):
        src = "weights/weight_summary.csv"
        r = ws[ws["variable"] == "all"].iloc[0]
        for name, col, unit, fmt in (("weight_deff", "deff", "ratio", "{:.2f}"),
                                     ("weight_n_eff", "n_eff", "respondents", "{:,.0f}"),
                                     ("weight_max", "max", "work orders per respondent", "{:.2f}")):
            v = float(r[col])
            out.append(value_row(name, v, unit, fmt.format(v), fmt.format(v), src, "variable=all", col, "T10"))
        m = str(r["method"])
        out.append(value_row("weighting_method", m, "code", labels.text(m, "zh"), labels.text(m, "en"), src,
                             "variable=all", "method", "T10"))
    sv = bundle.get("svy_marginal_effects")
    if sv is not None and len(sv):
        sel = sv[(sv["model"] == AME_MODEL) & (sv["scale"] == "p_satisfied")]
        if len(sel):
            g = str(sel.loc[sel["estimate"].idxmin()]["cause_l1"])
            out.append(value_row("svy_ame_doubling_largest_cause", g, "code", labels.code("cause_l1", g, "zh", ins),
                                 labels.code("cause_l1", g, "en", ins), "weights/svy_marginal_effects.csv",
                                 f"min(estimate) where model={AME_MODEL}, scale=p_satisfied", "cause_l1", "T12"))
    out.extend(nonresponse_sensitivity_values(bundle))
    return out


def nonresponse_sensitivity_values(bundle: dict) -> list[dict]:
    """The spread of the headline rate over the weighting methods (T19) and the tipping deltas
    of refusals, no-answers and all non-respondents against the plan's target (T20)."""
    out: list[dict] = []
    wm = bundle.get("weighting_methods")
    if wm is not None and len(wm):
        src = "weights/weighting_methods.csv"
        ov = wm[(wm["domain"] == "overall") & wm["estimate"].notna()]
        if len(ov):
            for name, fn in (("nonresponse_methods_low", "min"), ("nonresponse_methods_high", "max")):
                v = float(getattr(ov["estimate"], fn)())
                out.append(value_row(name, v, "proportion", pct(v), pct(v), src, f"{fn}(estimate) where domain=overall",
                                     "estimate", "T19"))
    tip = bundle.get("tipping_deltas")
    if tip is not None and len(tip):
        src = "weights/tipping_deltas.csv"
        ov = tip[tip["domain"] == "overall"].set_index("scenario")
        v = float(ov["target"].iloc[0])
        out.append(value_row("nonresponse_target", v, "proportion", pct(v), pct(v), src, "domain=overall", "target",
                             "T20"))
        for scen in ("refused", "no_answer", "all"):
            if scen not in ov.index:
                continue
            v = float(ov.loc[scen, "tipping_delta"])
            if np.isfinite(v):
                zh, en = f"{v:+.2f}（优势比 {np.exp(v):.2f}）", f"{v:+.2f} (odds ratio {np.exp(v):.2f})"
            else:
                zh, en = "不存在（该组无论如何也无法改变结论）", "none (no shift of this group alone can overturn it)"
            out.append(value_row(f"tipping_delta_{scen}", v, "log odds ratio", zh, en, src,
                                 f"scenario={scen}, domain=overall", "tipping_delta", "T20"))
    return out

