"""Steps 1-9 of the data-generating process: the work-order population (place, cause, customer,
handling), repeat calls, resolution, satisfaction and survey response, drawn until the n-th
completed survey; and the checks of the parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from research.config.instrument import Instrument
from research.simulate.draws import _cat_from_cum, _cat_from_u, _cut, _draw_cat, _log2h, _week_mask
from research.simulate.params import (RESOLVED_CODES, STATUS_CODES, _MINUTES_PER_DAY, _SIDE_DIFFICULTY,
                                      _SIDE_REPEAT, _SIDE_STATION, SimParams)
from research.simulate.structural import (_handling_term, _latent_hard_cases_on, _mnar_status, _repeat_rate,
                                          _resolved_probs, _sat_model, _sub_model)


def _code_tables(p: SimParams, ins: Instrument) -> dict[str, Any]:
    """Codes of causes, channels, regions and stations, and the station draw table."""
    l1_codes = list(p.cause_share)
    l2_by_l1 = [[c for c in ins.subcauses_of(g) if c in p.subcause_share] for g in l1_codes]
    l2_codes = [c for group in l2_by_l1 for c in group]
    regions = list(p.region_share)
    station_names, station_region, station_w = [], [], []
    for r_i, r in enumerate(regions):
        areas = p.station_areas[r]
        w = np.arange(1, len(areas) + 1, dtype=float) ** -p.station_size_decay
        for a, wk in zip(areas, w / w.sum()):
            station_names.append(f"{r}{a}供电所")
            station_region.append(r_i)
            station_w.append(wk)
    station_region = np.array(station_region)
    station_first = np.searchsorted(station_region, np.arange(len(regions)))
    n_st_region = np.bincount(station_region, minlength=len(regions))
    st_table = np.zeros((len(regions), n_st_region.max()))
    for s, (r_i, w) in enumerate(zip(station_region, station_w)):
        st_table[r_i, s - station_first[r_i]] = w
    start = pd.Timestamp(p.start)
    end_minute = ((pd.Timestamp(p.end) - start).days + 1) * _MINUTES_PER_DAY - 1
    return {"l1_codes": l1_codes, "l2_by_l1": l2_by_l1, "l2_codes": l2_codes,
            "l2_index": {c: i for i, c in enumerate(l2_codes)}, "ch_codes": list(p.channel_share),
            "regions": regions, "station_names": station_names, "st_table": st_table,
            "station_first": station_first, "start": start, "end_minute": end_minute,
            "period_days": (end_minute + 1) // _MINUTES_PER_DAY,
            "p_bar": _mean_completion(p, l1_codes, l2_by_l1, regions), "thr": ins.satisfied_threshold}


def _response_logit(p: SimParams, l1_codes, regions, l1, region, L) -> np.ndarray:
    return (p.response_intercept + np.array([p.response_cause[g] for g in l1_codes])[l1]
            + p.response_log_hours * L + np.array([p.response_region[r] for r in regions])[region])


def _mean_completion(p: SimParams, l1_codes, l2_by_l1, regions) -> float:
    """Expected completion rate under the DGP (Gauss-Hermite quadrature over handling time)."""
    z, w = np.polynomial.hermite_e.hermegauss(40)
    w = w / w.sum()
    total = 0.0
    r_share = np.array(list(p.region_share.values()))
    r_share = r_share / r_share.sum()
    g_share = _period_cause_mix(p, l1_codes)
    for g, subs in enumerate(l2_by_l1):
        s_share = np.array([p.subcause_share[c] for c in subs])
        s_share = s_share / s_share.sum()
        for c, sw in zip(subs, s_share):
            h = np.clip(np.exp(np.log(p.handling_median_hours[c]) + p.handling_sigma * z),
                        p.handling_min_hours, p.handling_max_hours)
            for r, rw in enumerate(r_share):
                lg = _response_logit(p, l1_codes, regions, np.array([g]), np.array([r]), _log2h(h))
                total += g_share[g] * sw * rw * float(np.dot(w, 1 / (1 + np.exp(-lg))))
    return total


def _month_mix(p: SimParams, l1_codes) -> np.ndarray:
    """(12, groups): relative ticket intensity of each cause group by calendar month."""
    season = np.ones((12, len(l1_codes)))
    if "outage" in l1_codes:
        for mth, mult in p.outage_season.items():
            season[mth - 1, l1_codes.index("outage")] = mult
    return season * np.array(list(p.cause_share.values()), dtype=float)


def _period_cause_mix(p: SimParams, l1_codes) -> np.ndarray:
    """Share of each cause group over the whole creation period (seasonality included)."""
    days = pd.date_range(p.start, p.end, freq="D")
    mix = _month_mix(p, l1_codes)[days.month - 1].sum(axis=0)
    return mix / mix.sum()


def _draw_population(rng, p: SimParams, n_alloc: int, n_target: float, start, l1_codes, l2_by_l1,
                     l2_index, regions, st_table, station_first, side=None) -> dict[str, np.ndarray]:
    """Creation time, place, cause, handling time and survey status of ``n_alloc`` tickets.

    ``side(k)`` gives the side random stream of hard case ``k`` (difficulty, station handling).
    """
    period_days = (pd.Timestamp(p.end) - start).days + 1
    n_days = int(period_days * (n_alloc / n_target + 1)) + 62
    days = pd.date_range(start, periods=n_days, freq="D")
    month_of_day = (days.month - 1).to_numpy()
    month_mix = _month_mix(p, l1_codes)
    daily = month_mix.sum(axis=1)[month_of_day]
    cum = np.concatenate([[0.0], np.cumsum(daily)])
    u = np.sort(rng.random(n_alloc)) * (n_alloc / n_target) * cum[period_days]
    d = np.searchsorted(cum, u, side="right") - 1
    t_days = d + (u - cum[d]) / daily[d]
    created = np.floor(t_days * _MINUTES_PER_DAY)  # minutes since start, nondecreasing

    region = _draw_cat(rng, list(p.region_share.values()), None, n_alloc)
    station = station_first[region] + _draw_cat(rng, st_table, region, n_alloc)
    l1 = _draw_cat(rng, month_mix, month_of_day[d], n_alloc)
    width = max(len(s) for s in l2_by_l1)
    sub_table = np.zeros((len(l1_codes), width))
    sub_offset = np.zeros(len(l1_codes), dtype=np.int64)
    for g, subs in enumerate(l2_by_l1):
        sub_table[g, :len(subs)] = [p.subcause_share[c] for c in subs]
        sub_offset[g] = l2_index[subs[0]]
    l2 = sub_offset[l1] + _draw_cat(rng, sub_table, l1, n_alloc)
    l2_codes = list(l2_index)
    med = np.array([p.handling_median_hours[c] for c in l2_codes])[l2]
    z = rng.standard_normal(n_alloc)
    out: dict[str, np.ndarray] = {}
    if p.resolution_from_difficulty != 0:  # difficulty: a share of the handling-time normal
        out["difficulty"] = side(_SIDE_DIFFICULTY).standard_normal(n_alloc)
        rho = p.difficulty_handling_corr
        z = rho * out["difficulty"] + np.sqrt(1 - rho ** 2) * z
    log_h = np.log(med) + p.handling_sigma * z
    if p.station_handling_sd > 0:  # station random effect on log handling time
        out["station_handling_effects"] = side(_SIDE_STATION).normal(0.0, p.station_handling_sd,
                                                                     int((st_table > 0).sum()))
        out["station_handling"] = out["station_handling_effects"][station]
        log_h = log_h + out["station_handling"]
    hours = np.clip(np.exp(log_h), p.handling_min_hours, p.handling_max_hours)
    handling_min = np.maximum(1, np.round(hours * 60)).astype(np.int64)
    L = _log2h(handling_min / 60.0)
    response_logit = _response_logit(p, l1_codes, regions, l1, region, L)
    p_complete = 1 / (1 + np.exp(-response_logit))
    u_complete = rng.random(n_alloc)
    u_refused = rng.random(n_alloc)
    completed = u_complete < p_complete
    refused = u_refused < p.refused_share
    status = np.where(completed, 0, np.where(refused, 2, 1))
    return {"created": created, "region": region, "station": station, "l1": l1, "l2": l2,
            "handling_min": handling_min, "p_complete": p_complete, "status": status,
            "response_logit": response_logit, "u_complete": u_complete, "u_refused": u_refused, **out}


def _draw_until_n(n: int, seed: int, p: SimParams, ct: dict) -> tuple:
    """Draw the population until the ``n``-th completed survey; return ``(rng, pop, tickets, m)``.

    Without ``response_from_satisfaction`` the survey status is known before the
    satisfaction model, so the population is cut first and the tickets' other
    fields are drawn for the ``m`` tickets kept (the stream of the default DGP).
    With it, every allocated ticket gets its satisfaction first, then its status,
    then the cut.
    """
    n_target = n / ct["p_bar"]
    margin, attempt = 1.0, 0
    mnar = p.response_from_satisfaction != 0 or p.refusal_from_satisfaction != 0
    while True:
        n_alloc = int(np.ceil(n_target * (1.05 * margin) + 6 * np.sqrt(n_target) * margin + 20))
        rng = np.random.default_rng([seed, attempt] if attempt else seed)
        pop = _draw_population(rng, p, n_alloc, n_target, ct["start"], ct["l1_codes"], ct["l2_by_l1"],
                               ct["l2_index"], ct["regions"], ct["st_table"], ct["station_first"],
                               side=lambda k: np.random.default_rng([seed, attempt, k]))
        if mnar:
            tk = _draw_tickets(rng, p, ct, pop, n_alloc, lambda k: np.random.default_rng([seed, attempt, k]))
            _mnar_status(p, ct, pop, tk)
        done = np.flatnonzero(pop["status"] == 0)
        if len(done) >= n:
            break
        attempt, margin = attempt + 1, margin * 2
    m = int(done[n - 1]) + 1
    pop = {k: (v if k == "station_handling_effects" else v[:m]) for k, v in pop.items()}
    t = pop["created"]
    if t[-1] > ct["end_minute"]:  # compress into the period (only when the cut fell after `end`)
        t = np.floor(t * (ct["end_minute"] / t[-1]))
    pop["created"] = t.astype(np.int64)
    if mnar:
        tk = _slice_tickets(tk, m)
    else:
        tk = _draw_tickets(rng, p, ct, pop, m, lambda k: np.random.default_rng([seed, attempt, k]))
    tk["station_handling_effects"] = pop.get("station_handling_effects")
    tk["resolved_min"] = pop["created"] + pop["handling_min"]
    tk["surveyed_min"] = tk["resolved_min"] + tk["survey_delay"]
    return rng, pop, tk, m


def _draw_tickets(rng, p: SimParams, ct: dict, pop: dict, m: int, side) -> dict[str, Any]:
    """Channel, customer, repeat calls, resolution and satisfaction of the first ``m`` tickets.

    Draws from ``rng`` in the order of the default DGP; hard cases draw only from
    their own ``side(k)`` streams, so switching one on leaves every other draw as it was.
    """
    tk: dict[str, Any] = {"planted_signals": {}}
    l1, l2, station = pop["l1"][:m], pop["l2"][:m], pop["station"][:m]
    if p.plant_recurrence is not None:
        st_name, cause, monday, share = p.plant_recurrence
        idx = np.flatnonzero((station == ct["station_names"].index(st_name))
                             & _week_mask(pop["created"], ct["start"], monday))
        chosen = idx[: int(round(share * len(idx)))]  # the week's earliest tickets: no random draw
        l2, l1 = l2.copy(), l1.copy()
        l2[chosen] = ct["l2_index"][cause]
        l1[chosen] = next(g for g, subs in enumerate(ct["l2_by_l1"]) if cause in subs)
        tk["planted_signals"]["recurrence"] = {"station": st_name, "cause_l2": cause, "week_start": monday,
                                               "tickets_relabelled": int(len(chosen))}
    tk.update(l1=l1, l2=l2)
    hours = pop["handling_min"][:m] / 60.0
    L = _log2h(hours)
    d_lo, d_hi = (int(round(h * 60)) for h in p.survey_delay_hours)
    tk["survey_delay"] = rng.integers(d_lo, d_hi + 1, m)
    tk["channel"] = _draw_cat(rng, list(p.channel_share.values()), None, m)
    pool = max(1, int(np.ceil(p.customer_pool_ratio * m)))
    tk["cust_ids"] = rng.choice(9_000_000_000, size=pool, replace=False) + 1_000_000_000
    tk["phones"] = (10_000_000_000 + rng.integers(3, 10, pool) * 1_000_000_000
                    + rng.integers(0, 1_000_000_000, pool))
    if "chunk" in ct:  # a chunk of a chunked export: customer ids from the chunk's own block
        tk["cust_ids"] = ct["chunk"].customer_ids(pool)
    cust = rng.integers(0, pool, m)
    follow = np.flatnonzero(rng.random(m) < p.follow_up_share)
    window = max(1, int(round(m / ct["period_days"] * p.follow_up_window_days)))
    src = follow - rng.integers(1, window + 1, len(follow))
    keep = src >= 0
    cust[follow[keep]] = cust[src[keep]]
    tk["cust"] = cust
    rep_rate = np.exp(p.repeat_intercept + np.array([p.repeat_cause[g] for g in ct["l1_codes"]])[l1]
                      + p.repeat_log_hours * L)
    tk["repeat_calls"] = rng.poisson(rep_rate)
    tk["u_resolved"] = rng.random(m)  # the uniform _draw_cat would draw for `resolved`
    res_table = np.array([p.resolved_probs.get(c, p.resolved_probs_default) for c in ct["l2_codes"]])
    tk["resolved"] = _cat_from_u(tk["u_resolved"], res_table, l2)
    tk["station_effect"] = rng.normal(0.0, p.station_sd, len(ct["station_names"]))
    if "chunk" in ct:  # every chunk of a chunked export shares one draw of the station effects
        tk["station_effect"] = ct["chunk"].station_effect.copy()
    tk["eps"] = rng.logistic(0.0, 1.0, m)
    tk["noise"] = rng.normal(0.0, p.item_noise_sd, (3, m))
    _satisfaction(p, ct, pop, tk, hours, side)
    return tk


def _slice_tickets(tk: dict, m: int) -> dict:
    """Keep the first ``m`` tickets of every per-ticket array (customer pools are kept whole)."""
    out = {}
    for k, v in tk.items():
        if k in ("cust_ids", "phones", "station_effect", "planted_signals", "response_centre",
                 "station_handling_effects"):
            out[k] = v
        elif k == "model":
            out[k] = _sub_model(v, slice(0, m))
        elif k == "sat":
            out[k] = {i: a[:m] for i, a in v.items()}
        elif k == "noise":
            out[k] = v[:, :m]
        else:
            out[k] = v[:m]
    return out


def _satisfaction(p: SimParams, ct: dict, pop: dict, tk: dict, hours: np.ndarray, side) -> None:
    """The satisfaction latent, the four potential answers and (hard cases) repeat and resolution.

    With no hard case on the arithmetic is exactly that of the default DGP (step 8).
    """
    m = len(hours)
    l1, l2, ch, station = tk["l1"], tk["l2"], tk["channel"], pop["station"][:m]
    L = _log2h(hours)
    if p.plant_out_of_control is not None:  # uses survey times: only without response_from_satisfaction
        st_name, monday, shift = p.plant_out_of_control
        surveyed = pop["created"][:m] + pop["handling_min"][:m] + tk["survey_delay"]
        hit = (station == ct["station_names"].index(st_name)) & _week_mask(surveyed, ct["start"], monday)
        tk["planted_signals"]["out_of_control"] = {"station": st_name, "week_start": monday,
                                                   "latent_shift": shift, "tickets": int(hit.sum())}
        shift = np.where(hit, float(shift), 0.0)
    else:
        shift = None
    model = _sat_model(p, ct, pop, tk, hours, shift)
    tk["model"] = model
    if not _latent_hard_cases_on(p):
        eta = (np.array([p.beta_sub[c] for c in ct["l2_codes"]])[l2]
               + np.array([p.slope[g] for g in ct["l1_codes"]])[l1] * L
               + np.array([p.beta_channel[c] for c in ct["ch_codes"]])[ch]
               + p.beta_repeat * (tk["repeat_calls"] > 0)
               + np.array([p.beta_resolved[c] for c in RESOLVED_CODES])[tk["resolved"]]
               + tk["station_effect"][station])
        if shift is not None:
            eta = eta + shift
    else:
        latent0 = model["base"] + _handling_term(p, ct["l1_codes"], l1, hours) + tk["eps"]
        if p.repeat_from_dissatisfaction != 0:
            rate = _repeat_rate(p, ct["l1_codes"], l1, L, latent0, model["centre"])
            tk["repeat_calls"] = side(_SIDE_REPEAT).poisson(rate)
        if p.resolution_from_satisfaction != 0 or p.resolution_from_difficulty != 0:
            probs = _resolved_probs(p, model, latent0)
            tk["resolved"] = _cat_from_cum(tk["u_resolved"], probs)
        eta = (latent0 - tk["eps"] + p.beta_repeat * (tk["repeat_calls"] > 0)
               + np.array([p.beta_resolved[c] for c in RESOLVED_CODES])[tk["resolved"]])
    latent = eta + tk["eps"]
    tk["eta"], tk["latent"] = eta, latent
    sat = {"sat_overall": _cut(latent, p.cutpoints)}
    noise = tk["noise"]
    sat["sat_speed"] = _cut(latent + p.speed_log_hours * (L - p.speed_ref_log_hours) + noise[0],
                            p.cutpoints)
    staff = l2 == ct["l2_index"].get("staff_attitude", -1)
    sat["sat_attitude"] = _cut(latent + p.attitude_staff * staff + noise[1], p.cutpoints)
    sat["sat_outcome"] = _cut(latent + np.array([p.outcome_resolved[c] for c in RESOLVED_CODES])[tk["resolved"]]
                              + noise[2], p.cutpoints)
    tk["sat"] = sat


def _check_params(p: SimParams, ins: Instrument) -> None:
    l1 = set(ins.label_sets["cause_l1"].codes)
    l2 = set(ins.label_sets["cause_l2"].codes)
    problems = []
    for name, known in (("cause_share", l1), ("slope", l1), ("repeat_cause", l1), ("response_cause", l1),
                        ("subcause_share", l2), ("beta_sub", l2), ("handling_median_hours", l2),
                        ("channel_share", set(ins.label_sets["channel"].codes)),
                        ("beta_channel", set(ins.label_sets["channel"].codes))):
        keys = set(getattr(p, name))
        if keys != known:
            problems.append(f"{name}: keys {sorted(keys ^ known)} differ from the instrument")
    for name in ("beta_resolved", "outcome_resolved"):
        if set(getattr(p, name)) != set(RESOLVED_CODES):
            problems.append(f"{name}: keys must be {list(RESOLVED_CODES)}")
    if not set(p.resolved_probs) <= l2:
        problems.append(f"resolved_probs: unknown sub-causes {sorted(set(p.resolved_probs) - l2)}")
    if set(p.region_share) != set(p.station_areas) or set(p.region_share) != set(p.response_region):
        problems.append("region_share, station_areas and response_region must name the same regions")
    if len(p.cutpoints) != 4 or list(p.cutpoints) != sorted(p.cutpoints):
        problems.append("cutpoints must be 4 increasing numbers")
    if set(ins.label_sets["resolved"].codes) != set(RESOLVED_CODES) or \
            set(ins.label_sets["survey_status"].codes) != set(STATUS_CODES):
        problems.append("the instrument's resolved / survey_status codes differ from the simulator's")
    for name, plant in (("plant_out_of_control", p.plant_out_of_control), ("plant_recurrence", p.plant_recurrence)):
        if plant is None:
            continue
        size = 3 if name == "plant_out_of_control" else 4
        if len(plant) != size or pd.Timestamp(plant[-2 if size == 4 else 1]).day_of_week != 0:
            problems.append(f"{name}: expected {size} values with a Monday date, got {plant!r}")
        if size == 4 and plant[1] not in l2:
            problems.append(f"{name}: unknown sub-cause {plant[1]!r}")
        stations = {f"{r}{a}供电所" for r, areas in p.station_areas.items() for a in areas}
        if plant and plant[0] not in stations:
            problems.append(f"{name}: unknown station {plant[0]!r}")
    problems += _check_hard_cases(p, l1)
    if problems:
        raise ValueError("SimParams do not match the instrument: " + "; ".join(problems))


def _check_hard_cases(p: SimParams, l1: set) -> list[str]:
    problems = []
    if not -1 < p.difficulty_handling_corr < 1:
        problems.append("difficulty_handling_corr must lie in (-1, 1)")
    if p.station_handling_sd < 0:
        problems.append("station_handling_sd must be >= 0")
    for g, v in (p.threshold_step or {}).items():
        if g not in l1:
            problems.append(f"threshold_step: unknown cause group {g!r}")
        elif len(v) != 2 or not float(v[0]) > 0:
            problems.append(f"threshold_step[{g!r}]: expected (hours > 0, latent drop), got {v!r}")
    mnar = p.response_from_satisfaction != 0 or p.refusal_from_satisfaction != 0
    if mnar and (p.plant_out_of_control is not None or p.plant_recurrence is not None):
        problems.append("response_from_satisfaction / refusal_from_satisfaction cannot be combined "
                        "with the monitoring plants (plant_*)")
    return problems
