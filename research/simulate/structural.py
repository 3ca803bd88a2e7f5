"""The structural satisfaction model of the hard cases (issue 11): handling, repeat-call and resolution
terms, missing-not-at-random status, potential outcomes (:func:`potential_satisfied`) and the hard
cases' truth (lever effects, thresholds).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from research.simulate.draws import _expit, _log2h
from research.simulate.params import RESOLVED_CODES, STATUS_CODES, _HARD_FIELDS, SimParams, Simulation
from research.simulate.truth import _jsonable


def _hard_cases_on(p: SimParams) -> bool:
    return _latent_hard_cases_on(p) or p.response_from_satisfaction != 0 or p.refusal_from_satisfaction != 0


def _latent_hard_cases_on(p: SimParams) -> bool:
    """A hard case that changes the structural satisfaction model (not only who answers)."""
    return (p.resolution_from_satisfaction != 0 or p.resolution_from_difficulty != 0
            or p.repeat_from_dissatisfaction != 0 or p.station_handling_sd > 0 or bool(p.threshold_step))


def _handling_term(p: SimParams, l1_codes, l1: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Effect of handling time on the latent: ``slope * L``, or the planted step of a cause group.

    A group in ``threshold_step`` (``hours0, drop``) gets the smooth curve's value at
    ``hours0`` up to ``hours0`` and ``drop`` less beyond it (flat on either side).
    """
    out = np.array([p.slope[g] for g in l1_codes])[l1] * _log2h(hours)
    for g, (h0, drop) in (p.threshold_step or {}).items():
        sel = l1 == l1_codes.index(g)
        out[sel] = p.slope[g] * _log2h(float(h0)) - float(drop) * (hours[sel] > float(h0))
    return out


def _repeat_rate(p: SimParams, l1_codes, l1, L, latent0, centre) -> np.ndarray:
    """Poisson rate of repeat calls; with ``repeat_from_dissatisfaction`` it rises as the latent falls."""
    lin = (p.repeat_intercept + np.array([p.repeat_cause[g] for g in l1_codes])[l1] + p.repeat_log_hours * L
           - p.repeat_from_dissatisfaction * (latent0 - centre))
    return np.exp(np.minimum(lin, 30.0))


def _resolved_probs(p: SimParams, model: dict, latent0: np.ndarray) -> np.ndarray:
    """(tickets, 3) probabilities of yes / partly / no given the pre-resolution latent.

    Cumulative logit: ``logit P(resolved <= k) = logit(base_k[cause_l2])
    + resolution_from_satisfaction * (latent0 - centre) - resolution_from_difficulty * difficulty``.
    """
    base = model["res_table"][model["l2"]]
    if p.resolution_from_satisfaction == 0 and p.resolution_from_difficulty == 0:
        return np.broadcast_to(base[:, None, :], latent0.shape + (3,)) if latent0.ndim > 1 else base
    cum = np.clip(np.cumsum(base, axis=1)[:, :2], 1e-12, 1 - 1e-12)
    theta = np.log(cum / (1 - cum))
    shift = p.resolution_from_satisfaction * (latent0 - model["centre"])
    if p.resolution_from_difficulty != 0:
        d = model["difficulty"]
        shift = shift - p.resolution_from_difficulty * (d if latent0.ndim == 1 else d[:, None])
    if latent0.ndim > 1:
        theta = theta[:, None, :]
    c = _expit(theta + shift[..., None])
    return np.stack([c[..., 0], c[..., 1] - c[..., 0], 1 - c[..., 1]], axis=-1)


def _sat_model(p: SimParams, ct: dict, pop: dict, tk: dict, hours: np.ndarray, shift) -> dict:
    """Per-ticket inputs of the structural satisfaction model that no handling-time lever moves."""
    m = len(hours)
    l1, l2, station = tk["l1"], tk["l2"], pop["station"][:m]
    base = (np.array([p.beta_sub[c] for c in ct["l2_codes"]])[l2]
            + np.array([p.beta_channel[c] for c in ct["ch_codes"]])[tk["channel"]]
            + tk["station_effect"][station])
    if p.station_handling_sd > 0:
        base = base + p.station_handling_sat * pop["station_handling"][:m]
    if shift is not None:
        base = base + shift
    res = np.array([p.resolved_probs.get(c, p.resolved_probs_default) for c in ct["l2_codes"]], dtype=float)
    res = res / res.sum(axis=1, keepdims=True)
    centre = float(np.mean(base + _handling_term(p, ct["l1_codes"], l1, hours)))
    return {"base": base, "l1": l1, "l2": l2, "hours": hours, "centre": centre, "res_table": res,
            "difficulty": pop["difficulty"][:m] if "difficulty" in pop else np.zeros(m),
            "l1_codes": ct["l1_codes"], "cut": p.cutpoints[ct["thr"] - 2]}


def _mnar_status(p: SimParams, ct: dict, pop: dict, tk: dict) -> None:
    """Survey status when response depends on the satisfaction latent (DGP step 9, hard case).

    ``logit P(completed) = <MAR logit> + response_from_satisfaction * (latent - centre)``;
    a non-completed ticket is refused with ``logit = logit(refused_share)
    + refusal_from_satisfaction * (latent - centre)``, else not answered. The
    uniforms are those of the MAR draw, so both strengths 0 give the MAR status.
    """
    centre = float(np.mean(tk["eta"]))
    dev = tk["latent"] - centre
    p_complete = _expit(pop["response_logit"] + p.response_from_satisfaction * dev)
    p_refused = _expit(np.log(p.refused_share / (1 - p.refused_share)) + p.refusal_from_satisfaction * dev)
    completed = pop["u_complete"] < p_complete
    refused = pop["u_refused"] < p_refused
    pop["p_complete"] = p_complete
    pop["status"] = np.where(completed, 0, np.where(refused, 2, 1))
    tk["response_centre"] = centre


def _sub_model(model: dict, idx: np.ndarray) -> dict:
    return {k: (v[idx] if isinstance(v, np.ndarray) and k != "res_table" else v) for k, v in model.items()}


def _p_satisfied(p: SimParams, model: dict, hours: np.ndarray, resolution_hours: np.ndarray | None = None,
                 nodes: int = 24) -> np.ndarray:
    """P(satisfied) of each ticket of ``model`` had its handling time been ``hours``.

    The potential outcome of the structural model, averaged over the ticket's
    satisfaction noise and its repeat-call and resolution draws (the ticket's
    sub-cause, channel, station and difficulty stay as they are). With
    ``resolution_hours`` the resolution answer is drawn as under those hours (the
    cross-world mediator of a natural direct effect, Pearl 2001; VanderWeele 2015,
    ch. 2) while everything else follows ``hours``. The integral over the logistic
    noise is exact when neither repeat calls nor resolution depend on it, else
    Gauss-Legendre on the probability scale above the satisfied cut.
    """
    l1_codes = model["l1_codes"]
    a = model["base"] + _handling_term(p, l1_codes, model["l1"], hours)
    a_res = a if resolution_hours is None else \
        model["base"] + _handling_term(p, l1_codes, model["l1"], resolution_hours)
    L = _log2h(hours)
    x, w = np.polynomial.legendre.leggauss(nodes)
    beta_res = np.array([p.beta_resolved[c] for c in RESOLVED_CODES])
    out = np.zeros(len(a))
    for k in range(3):
        for r in (0, 1):
            u_lo = _expit(model["cut"] - a - p.beta_repeat * r - beta_res[k])  # P(noise <= threshold)
            u = np.clip(u_lo[:, None] + (1 - u_lo)[:, None] * (x + 1) / 2, 1e-300, 1 - 1e-16)
            eps = np.log(u) - np.log1p(-u)
            p_res = _resolved_probs(p, model, a_res[:, None] + eps)[..., k]
            p_rep = 1 - np.exp(-_repeat_rate(p, l1_codes, model["l1"][:, None], L[:, None],
                                             a[:, None] + eps, model["centre"]))
            g = p_res * (p_rep if r else 1 - p_rep)
            out += (1 - u_lo) / 2 * (g @ w)
    return out


def potential_satisfied(sim: Simulation, hours, *, resolution_hours=None,
                        params: SimParams | None = None) -> np.ndarray:
    """Potential P(satisfied) of every work order of ``sim`` under handling times ``hours``.

    Parameters
    ----------
    sim : a :class:`Simulation` from :func:`simulate`.
    hours : array (one per work order, population order) of handling hours under the lever.
    resolution_hours : optional hours under which the resolution answer is drawn
        (natural direct effect: pass the factual ``sim.population["handling_hours"]``).
    params : the :class:`SimParams` of the run (default: rebuilt from ``sim.truth["params"]``).

    Returns
    -------
    numpy.ndarray of probabilities; its mean minus the mean at the factual hours is the
    population lever effect (proportion, not points).
    """
    p = params or _params_from_truth(sim.truth)
    hours = np.asarray(hours, dtype=float)
    res = None if resolution_hours is None else np.asarray(resolution_hours, dtype=float)
    return _p_satisfied(p, sim.model, hours, res)


def _params_from_truth(truth: dict) -> SimParams:
    known = {f.name for f in dataclasses.fields(SimParams)}
    kw = {k: v for k, v in truth["params"].items() if k in known}
    for k in ("cutpoints", "survey_delay_hours", "resolved_probs_default"):
        kw[k] = tuple(kw[k])
    kw["resolved_probs"] = {c: tuple(v) for c, v in kw["resolved_probs"].items()}
    kw["outage_season"] = {int(k): v for k, v in kw["outage_season"].items()}
    if kw.get("threshold_step"):
        kw["threshold_step"] = {g: tuple(v) for g, v in kw["threshold_step"].items()}
    return SimParams(**kw)


def _lever_truth(p: SimParams, model: dict, hours: np.ndarray, sla_hours: np.ndarray) -> dict:
    """True effects of halving each cause group's handling time and of meeting its SLA."""
    factual = _p_satisfied(p, model, hours)
    m = len(hours)
    out = {"description": "potential outcomes of the simulator: mean P(satisfied) over all work orders "
                          "had handling time been changed for one cause group (proportions); "
                          "direct_effect keeps the resolution answer as under the factual handling time",
           "satisfied_rate_factual": float(factual.mean())}
    for g_i, g in enumerate(model["l1_codes"]):
        idx = np.flatnonzero(model["l1"] == g_i)
        if not len(idx):
            continue
        sub = _sub_model(model, idx)
        h = hours[idx]
        sla = np.where(np.isnan(sla_hours[idx]), h, np.minimum(h, sla_hours[idx]))
        for name, new in (("halve_handling", np.maximum(p.handling_min_hours, h / 2)), ("within_sla", sla)):
            total = _p_satisfied(p, sub, new)
            direct = _p_satisfied(p, sub, new, resolution_hours=h)
            te = float((total - factual[idx]).sum() / m)
            de = float((direct - factual[idx]).sum() / m)
            out[f"{name}_{g}"] = {
                "cause_l1": g, "lever": name, "tickets_in_group": int(len(idx)),
                "tickets_changed": int((new != h).sum()),
                "effect": te, "effect_in_group": float((total - factual[idx]).mean()),
                "direct_effect": de, "indirect_effect_through_resolution": te - de,
                "share_through_resolution": (te - de) / te if te != 0 else None}
    return out


def _hard_case_truth(p: SimParams, ct: dict, tk: dict, frames: dict, model: dict) -> dict:
    """What an estimator should recover under the hard cases that are on (``truth["hard_cases"]``)."""
    pop = frames["population"]
    hours = pop["handling_hours"].to_numpy(dtype=float)
    sat = pop["satisfied"].to_numpy(dtype=bool)
    out: dict[str, Any] = {"switches": {k: _jsonable(getattr(p, k)) for k in _HARD_FIELDS},
                           "latent_centre": model["centre"]}
    if _latent_hard_cases_on(p):
        out["levers"] = _lever_truth(p, model, hours, frames["sla_hours"])
    res_yes = pop["resolved"].to_numpy() == "yes"
    rep = pop["repeat_calls"].to_numpy() > 0
    out["resolution"] = {
        "resolved_yes_rate": float(res_yes.mean()),
        "satisfied_rate_if_resolved_yes": float(sat[res_yes].mean()) if res_yes.any() else None,
        "satisfied_rate_if_not_resolved_yes": float(sat[~res_yes].mean()) if (~res_yes).any() else None}
    out["repeat"] = {"repeat_share": float(rep.mean()),
                     "repeat_share_satisfied": float(rep[sat].mean()) if sat.any() else None,
                     "repeat_share_dissatisfied": float(rep[~sat].mean()) if (~sat).any() else None}
    if p.station_handling_sd > 0:
        v = tk["station_handling_effects"]
        u = tk["station_effect"]
        out["station_handling"] = {
            "effects_log_hours": {s: float(x) for s, x in zip(ct["station_names"], v)},
            "satisfaction_per_log_hour": p.station_handling_sat,
            "total_station_effect_on_latent": {s: float(a + p.station_handling_sat * b)
                                               for s, a, b in zip(ct["station_names"], u, v)}}
    if p.threshold_step:
        out["thresholds"] = {}
        for g, (h0, drop) in p.threshold_step.items():
            idx = np.flatnonzero(model["l1"] == ct["l1_codes"].index(g))
            sub = _sub_model(model, idx)
            below = _p_satisfied(p, sub, np.full(len(idx), float(h0)))
            above = _p_satisfied(p, sub, np.full(len(idx), float(h0) * (1 + 1e-9)))
            out["thresholds"][g] = {"hours": float(h0), "latent_drop": float(drop), "tickets": int(len(idx)),
                                    "satisfied_rate_at_threshold_below": float(below.mean()),
                                    "satisfied_rate_at_threshold_above": float(above.mean()),
                                    "satisfied_rate_drop": float(below.mean() - above.mean())}
        out["smooth_slopes"] = {g: p.slope[g] for g in ct["l1_codes"] if g not in p.threshold_step}
    status = pop["survey_status"].to_numpy().astype(str)
    out["response"] = {
        "response_centre": tk.get("response_centre"),
        "population_satisfied_rate": float(sat.mean()),
        "respondents_satisfied_rate": float(sat[status == "completed"].mean()),
        "satisfied_rate_by_status": {s: (float(sat[status == s].mean()) if (status == s).any() else None)
                                     for s in STATUS_CODES},
        "completion_rate_satisfied": float((status[sat] == "completed").mean()) if sat.any() else None,
        "completion_rate_dissatisfied": float((status[~sat] == "completed").mean()) if (~sat).any() else None}
    return out
