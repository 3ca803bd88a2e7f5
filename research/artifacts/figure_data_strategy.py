"""The data plotted in figures F10 (importance-performance), F11 (station funnel) and F12 (typical
cases: distinguishing words).

They read the frames of research.strategy (bundle keys drivers_ipa, station_funnel, typical_terms); without
them they have no rows. Drawings: :mod:`research.artifacts.drawers_strategy`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.artifacts.figure_parts import plain_text

#: number of points of each limit curve of F11 (answers, log-spaced)
FUNNEL_CURVE_POINTS = 120


def figure_ipa_data(bundle: dict) -> pd.DataFrame:
    """Importance-performance points (from research.strategy.drivers via the bundle's ``drivers_ipa``).

    Returns
    -------
    DataFrame, one row per operational driver placed in a quadrant (a performance measure and an
    importance that clears its permutation null; ``drivers_ipa`` order): ``driver, importance``
    (R²), ``performance`` (0..1), ``quadrant``, ``p_concentrate_here``, ``importance_crosshair``,
    ``performance_crosshair``. No rows without a driver analysis.
    """
    cols = ["driver", "importance", "performance", "quadrant", "p_concentrate_here", "importance_crosshair",
            "performance_crosshair"]
    ipa = bundle.get("drivers_ipa")
    if ipa is None or len(ipa) == 0:
        return pd.DataFrame(columns=cols)
    if "set" in ipa.columns:
        ipa = ipa[(ipa["set"] == "operational") & (ipa["ipa_status"] == "placed")]
    return plain_text(ipa[cols].reset_index(drop=True), ["driver", "quadrant"])


def figure_station_funnel_data(bundle: dict) -> pd.DataFrame:
    """The risk-adjusted station funnel (research.strategy.stations.funnel via ``bundle["station_funnel"]``).

    Returns
    -------
    DataFrame with ``part`` = ``station`` rows (by name: ``station``, ``n`` answers, ``rate`` the
    standardised satisfied rate, ``z``, ``q_value``, ``flagged`` -- outside the 99.8% limits or
    BH q < 0.05 -- and ``signal`` above / below / "") then ``part`` = ``limits`` rows (``n`` on a
    log-spaced grid over the stations' answers; ``lcl_95, ucl_95, lcl_99.8, ucl_99.8`` from
    :func:`research.strategy.stations.funnel_limits` with the over-dispersion factor when the funnel used
    it). Every row carries ``target`` (the overall rate) and ``phi`` (the factor used, 1 when
    none). No rows when the funnel was not computed.
    """
    from research.strategy.stations import funnel_limits

    cols = ["part", "station", "n", "rate", "target", "lcl_95", "ucl_95", "lcl_99.8", "ucl_99.8", "z", "q_value",
            "flagged", "signal", "phi"]
    sf = bundle.get("station_funnel")
    if sf is None or len(sf) == 0:
        return pd.DataFrame(columns=cols)
    target = float(sf["target"].iloc[0])
    phi = float(sf["phi"].iloc[0]) if bool(sf["phi_used"].iloc[0]) else 1.0
    sig = sf["signal"].astype(object).fillna("").astype(str)
    fdr = sf["fdr_signal"].astype(object).fillna("").astype(str)
    pts = pd.DataFrame({"part": "station", "station": sf["station"].astype(object), "n": sf["n"].astype("float64"),
                        "rate": sf["std_rate"].astype("float64"), "target": target, "z": sf["z"].astype("float64"),
                        "q_value": sf["q_value"].astype("float64"),
                        "flagged": ((sig != "") | (fdr != "")).to_numpy(),
                        "signal": np.where(sig != "", sig, fdr)})
    pts = pts.sort_values("station", kind="stable")
    lo, hi = max(1.0, np.floor(0.8 * pts["n"].min())), np.ceil(1.1 * pts["n"].max())
    grid = np.unique(np.round(np.geomspace(lo, hi, FUNNEL_CURVE_POINTS)))
    lim = funnel_limits(grid, target, phi=phi)
    curve = pd.DataFrame({"part": "limits", "station": None, "n": grid, "target": target})
    for c in ("lcl_95", "ucl_95", "lcl_99.8", "ucl_99.8"):
        curve[c] = lim[c].to_numpy()
    out = pd.concat([pts, curve], ignore_index=True)
    out["phi"] = phi
    out["flagged"] = out["flagged"].astype("boolean")
    return plain_text(out[cols], ["part", "station", "signal"])


#: distinguishing words shown per cause group in F12 (T23 and ``strategy/typical_terms.csv`` have all)
F12_TERMS = 10


def figure_typical_terms_data(bundle: dict) -> pd.DataFrame:
    """Per cause group, its most distinguishing words of dissatisfied comments (research.strategy.typical_cases
    via ``bundle["typical_terms"]``).

    Returns
    -------
    DataFrame, cause groups in taxonomy order, each with its :data:`F12_TERMS` words of highest ``z``
    (by ``rank``): ``cause_l1, rank, term, z`` (log-odds z, dissatisfied against satisfied comments),
    ``n_dissatisfied, n_satisfied`` (word counts). No rows without a distinguishing word.
    """
    from research.artifacts.figure_parts import groups_in_order, instrument_of

    cols = ["cause_l1", "rank", "term", "z", "n_dissatisfied", "n_satisfied"]
    terms = bundle.get("typical_terms")
    if terms is None or len(terms) == 0:
        return pd.DataFrame(columns=cols)
    top = terms[terms["rank"] <= F12_TERMS]
    order = {g: i for i, g in enumerate(groups_in_order(top["cause_l1"].astype(str), instrument_of(bundle)))}
    top = top.assign(_g=top["cause_l1"].astype(str).map(order)).sort_values(["_g", "rank"], kind="stable")
    return plain_text(top[cols].reset_index(drop=True), ["cause_l1", "term"])
