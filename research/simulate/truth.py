"""The ``truth`` dictionary of a simulation: every parameter and the population quantities an analysis
should recover (steps 1-12 of the package docstring).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from research.simulate.params import _FIELD_DEFAULTS, _HARD_FIELDS, _TEXT_FIELDS


def _rate(x) -> float | None:
    x = pd.Series(x).dropna()
    return float(x.mean()) if len(x) else None


def _truth(n, seed, faults, p, population, responses, rows, sat, thr, station_names, station_effect,
           p_bar, plan, survey_export, sla_warnings) -> dict:
    sat_ok = population["satisfied"]
    resp_sat = responses["satisfied"].astype("float64")
    counts_status = population["survey_status"].value_counts()
    per = plan["per_reason"]
    n_rejected = len(plan["planted"])
    dist = np.bincount(population["sat_overall"], minlength=6)[1:] / len(population)
    return {
        "synthetic": True,
        "generator": "research.simulate.simulate",
        "call": {"n": n, "seed": seed, "faults": faults},
        # unset plants are left out, so truth files from before they existed stay byte-identical
        "params": _jsonable({k: v for k, v in dataclasses.asdict(p).items()
                             if not (k.startswith("plant_") and v is None)
                             and not (k in _HARD_FIELDS + _TEXT_FIELDS and v == _FIELD_DEFAULTS[k])}),
        "station_effects": {s: float(v) for s, v in zip(station_names, station_effect)},
        "satisfied_threshold": thr,
        "population": {
            "description": "all work orders; potential sat_overall of every ticket, surveyed or not",
            "satisfied_rate": float(sat_ok.mean()),
            "satisfied_rate_by_cause_l1": _group_rates(population, "cause_l1"),
            "satisfied_rate_by_cause_l2": _group_rates(population, "cause_l2"),
            "sat_overall_distribution": {str(k): float(v) for k, v in zip(range(1, 6), dist)},
            "completion_rate": float((population["survey_status"] == "completed").mean()),
            "expected_completion_rate": float(p_bar),
            "mean_p_complete": float(population["p_complete"].mean()),
            "median_handling_hours": float(population["handling_hours"].median()),
            "sla_met_rate": float(population["sla_met"].mean()),
        },
        "respondents": {
            "description": "all n completed surveys, potential sat_overall before missing answers",
            "satisfied_rate": float((sat["sat_overall"][rows] >= thr).mean()),
        },
        "naive": {
            "description": "accepted responses with an observed sat_overall (what ingest yields)",
            "satisfied_rate": _rate(resp_sat),
            "satisfied_rate_by_cause_l1": {
                g: _rate(resp_sat[responses["cause_l1"] == g])
                for g in population["cause_l1"].cat.categories},
        },
        # None when no accepted response has an observed sat_overall (a tiny n): no naive rate
        "bias_naive_minus_population": (None if _rate(resp_sat) is None
                                        else _rate(resp_sat) - float(sat_ok.mean())),
        "counts": {
            "workorders": len(population),
            "completed": int(counts_status.get("completed", 0)),
            "no_answer": int(counts_status.get("no_answer", 0)),
            "refused": int(counts_status.get("refused", 0)),
            "survey_rows_before_faults": n,
            "appended_copies": per["duplicate"] + per["conflicting_duplicate"],
            "no_workorder_rows": per["no_workorder"],
            "survey_rows": len(survey_export),
            "survey_rows_rule": "survey_rows = n + appended_copies + no_workorder_rows",
            "faults_planted": int(sum(per.values())),
            "faults_by_reason": dict(per),
            "rejected_rows": n_rejected,
            "accepted_rows": len(responses),
            "accepted_with_sat_overall": int(responses["sat_overall"].notna().sum()),
        },
        "planted_faults": plan["planted"],
        "warnings": list(sla_warnings),
    }


def _group_rates(population: pd.DataFrame, by: str) -> dict[str, float]:
    g = population.groupby(by, observed=True)["satisfied"].mean()
    return {str(k): float(v) for k, v in g.items()}


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x
