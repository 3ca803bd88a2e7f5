"""Monitoring, repeat callers: customers (keyed pseudonyms) with two or more work orders within
a 30-day window, with the survey outcomes of their episode and a predicted risk of
dissatisfaction.

Repeat callers (:func:`repeat_callers`)
---------------------------------------
A customer's work orders (by ``customer_id``: the keyed pseudonym of the canonical
frames, used and written exactly as given; no other identifier, phone or comment is
read or written) sorted by ``created_at`` (ties keep the input order) are cut into
*episodes*: a new episode starts when the gap to the previous work order exceeds
``window_days`` days (exact time difference). So every two work orders within
``window_days`` of each other fall in the same episode, and any ``window_days``-day
window holding two or more of a customer's work orders lies inside one episode; an
episode can last longer than ``window_days`` when the calls keep coming. Episodes with
at least two work orders are listed. With ``responses``, the episode's surveyed tickets
give ``n_surveyed``, ``resolved_share`` (share answering resolved = "yes" among those
with an answer) and ``last_satisfied`` / ``last_sat_overall`` (the latest surveyed
ticket of the episode by ``created_at``).

Risk (predicted probability of dissatisfaction) of the episode's *latest* work order:

- ``risk`` callable: called once with the latest work orders (canonical columns, one
  row per episode) and must return one probability per row;
- ``risk`` Series: indexed by ``ticket_id``; the value of the latest ticket;
- ``risk=None`` (default) with ``responses``: the transparent default model
  (:func:`fit_dissatisfaction_model`): a logit of ``dissatisfied = (satisfied ==
  False)`` on ``cause_l2`` (treatment coding, first level in sorted order as
  reference) + ``log2(1 + handling_hours)`` + ``repeat``, fitted by maximum likelihood
  (statsmodels ``Logit``) on the complete cases of ``responses``, then applied to
  the latest work order with ``repeat = True`` (it has an earlier work order of the
  same customer within ``window_days``: the work-order proxy of the survey's repeat
  flag, as in :mod:`research.representativeness.nonresponse`). A sub-cause the model has not seen, or a
  missing handling time (ticket still open), gives ``<NA>``;
- ``risk=None`` without ``responses``: ``risk`` is ``<NA>``.

Rows are ordered by risk (highest first, ``<NA>`` last), then ``n_tickets``
(descending), ``last_created`` (latest first) and ``customer_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.errors import InputError
from research.strategy.monitoring_checks import _datetimes, _require


@dataclass(frozen=True)
class DissatisfactionModel:
    """Logit of dissatisfied on cause_l2 + log2(1 + handling_hours) + repeat.

    ``coef`` holds the intercept (``(Intercept)``), one term per non-reference
    sub-cause (``cause_l2[<code>]``), ``log2(1 + handling_hours)`` and ``repeat``.
    """

    levels: tuple[str, ...]  # sub-causes seen in the fit; levels[0] is the reference
    coef: pd.Series
    nobs: int

    def predict(self, cause_l2, handling_hours, repeat) -> np.ndarray:
        """P(dissatisfied) per row; NaN for an unseen sub-cause or a missing handling time."""
        cause = pd.Series(cause_l2, dtype="string").reset_index(drop=True)
        hours = pd.Series(handling_hours, dtype=float).reset_index(drop=True).to_numpy()
        rep = np.broadcast_to(np.asarray(repeat, dtype=float), hours.shape)
        eta = self.coef["(Intercept)"] + self.coef["log2(1 + handling_hours)"] * np.log2(1 + hours)
        eta = eta + self.coef["repeat"] * rep
        lev = pd.Series(np.zeros(len(self.levels)), index=list(self.levels))
        for name in self.levels[1:]:
            lev[name] = self.coef[f"cause_l2[{name}]"]
        eff = cause.map(lev).to_numpy(dtype=float, na_value=np.nan)
        eta = eta + eff
        return 1.0 / (1.0 + np.exp(-eta))


def fit_dissatisfaction_model(responses: pd.DataFrame) -> DissatisfactionModel:
    """Fit the default risk model on the complete cases of canonical responses.

    Outcome ``satisfied == False`` (1) vs True (0); regressors ``cause_l2`` (treatment
    coding, reference the first level in sorted order), ``log2(1 + handling_hours)``
    (handling time in hours) and ``repeat`` (the survey's repeat-call flag, 0/1).
    Maximum likelihood (Newton) with statsmodels ``Logit``; the same estimates as R
    ``glm(dissatisfied ~ cause_l2 + log2(1 + handling_hours) + repeat, binomial)``.
    """
    from statsmodels.discrete.discrete_model import Logit  # not statsmodels.api: 0.3 s less to import

    what = "repeat_callers: responses"
    _require(responses, ["satisfied", "cause_l2", "handling_hours", "repeat"], what)
    y_all = responses["satisfied"].astype("boolean")
    cause_all = responses["cause_l2"].astype("string")
    hours_all = pd.to_numeric(responses["handling_hours"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    rep_all = responses["repeat"].astype("boolean")
    # complete cases with a non-negative handling time, in row order (as dropna and a filter give)
    rows = np.flatnonzero(y_all.notna().to_numpy() & cause_all.notna().to_numpy() & ~np.isnan(hours_all)
                          & rep_all.notna().to_numpy() & (np.nan_to_num(hours_all, nan=-1.0) >= 0))
    y_ok = y_all.to_numpy(dtype=bool, na_value=False)[rows]
    if len(rows) < 10 or len(np.unique(y_ok)) < 2:
        raise InputError(f"{what}: too few complete answers ({len(rows)}) or a single outcome "
                         "to fit the default risk model; pass risk= instead")
    codes, uniques = pd.factorize(cause_all.take(rows), sort=True)
    levels = tuple(str(u) for u in uniques)
    names = ["(Intercept)", *(f"cause_l2[{name}]" for name in levels[1:]), "log2(1 + handling_hours)", "repeat"]
    # the regressors as one column-major array: the layout a frame built column by column gives
    x = np.empty((len(rows), len(names)), order="F")
    x[:, 0] = 1.0
    for j in range(1, len(levels)):
        x[:, j] = codes == j
    x[:, len(levels)] = np.log2(1 + hours_all[rows])
    x[:, len(levels) + 1] = rep_all.to_numpy(dtype=bool, na_value=False)[rows]
    y = (~y_ok).astype(float)
    fit = Logit(y, x, check_rank=False).fit(disp=0, method="newton", maxiter=100)
    coef = pd.Series(np.asarray(fit.params), index=names)
    return DissatisfactionModel(levels=levels, coef=coef, nobs=int(fit.nobs))


def repeat_callers(workorders: pd.DataFrame, responses: pd.DataFrame | None = None, *,
                   window_days: float = 30, risk: Callable | pd.Series | None = None,
                   min_tickets: int = 2) -> pd.DataFrame:
    """Customers (pseudonyms) with two or more work orders within ``window_days`` days.

    Parameters
    ----------
    workorders : canonical work orders; uses ``ticket_id``, ``customer_id`` (the keyed
        pseudonym, used as given), ``created_at``, ``cause_l2``, ``station``, and
        ``handling_hours`` (hours) for the default risk. Rows without a customer or a
        creation time are ignored.
    responses : canonical responses (optional); uses ``ticket_id``, ``satisfied``,
        ``sat_overall``, ``resolved``; and for the default risk model ``cause_l2``,
        ``handling_hours``, ``repeat``.
    window_days : two work orders of a customer at most this many days apart belong to
        the same episode.
    risk : callable (latest work orders -> probabilities), Series by ``ticket_id``, or
        None for the default model (see the module docstring).
    min_tickets : smallest episode listed (default 2).

    Returns
    -------
    One row per customer and episode, highest risk first: ``customer_id``, ``episode``
    (1, 2, ... per customer in time order, among the listed episodes), ``n_tickets``,
    ``first_created``, ``last_created``, ``span_days`` (days, float), ``causes``
    (sub-cause codes in time order joined by "|"), ``stations`` (distinct stations in
    order of first appearance, "|"), ``last_ticket_id``, ``n_surveyed``,
    ``resolved_share``, ``last_satisfied``, ``last_sat_overall`` (<NA> without
    responses), ``risk`` (probability in [0, 1], <NA> when unknown).
    """
    _check_inputs(workorders, responses, risk, window_days)
    pos, starts, ends, t_sub = _episodes(workorders, window_days, min_tickets)
    last_idx = ends - 1
    out = _episode_frame(workorders, pos, starts, ends, t_sub)
    out = _survey_outcomes(out, responses, workorders, pos, starts, ends)
    values = _risk_values(risk, workorders, responses, pos[last_idx], len(out))
    out["risk"] = pd.array(np.where(np.isnan(values), None, values), dtype="Float64")
    out["_r"] = np.nan_to_num(values, nan=-1.0)
    out = out.sort_values(["_r", "n_tickets", "last_created", "customer_id"],
                          ascending=[False, False, False, True], kind="stable")
    return out.drop(columns="_r").reset_index(drop=True)


def _check_inputs(workorders: pd.DataFrame, responses: pd.DataFrame | None, risk, window_days: float) -> None:
    """InputError for a column :func:`repeat_callers` needs and the frames lack; ValueError for
    a window that is not positive."""
    what = "repeat_callers: work orders"
    _require(workorders, ["ticket_id", "customer_id", "created_at", "cause_l2", "station"], what)
    if risk is None and responses is not None:
        _require(workorders, ["handling_hours"], what)
    if responses is not None:
        needed = ["ticket_id", "satisfied", "sat_overall", "resolved"]
        if risk is None:  # the default model's variables
            needed += ["cause_l2", "handling_hours", "repeat"]
        _require(responses, needed, "repeat_callers: responses")
    if window_days <= 0:
        raise ValueError("window_days must be positive")


def _episodes(workorders: pd.DataFrame, window_days: float,
              min_tickets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The listed episodes' work orders, by customer and creation time.

    Returns ``(pos, starts, ends, t)``: ``pos`` the positions in ``workorders`` of the work
    orders of the episodes with at least ``min_tickets`` of them (ordered by customer, then
    creation time, ties in input order); ``starts`` and ``ends`` where each episode begins and
    ends in ``pos`` (``ends`` exclusive); ``t`` their creation times (``datetime64[us]``).
    Rows without a customer or a creation time are ignored.
    """
    created = _datetimes(workorders, "created_at", "repeat_callers: work orders")
    ok = np.flatnonzero(~np.isnat(created) & workorders["customer_id"].notna().to_numpy())
    cust_codes, _ = pd.factorize(workorders["customer_id"].iloc[ok])
    t = created[ok].astype(np.int64)  # microseconds
    # by customer, then creation time; ties keep the input order (stable)
    by = np.lexsort((t, cust_codes))
    order = ok[by]
    cust, t = cust_codes[by], t[by]
    window = int(round(window_days * 86_400 * 1_000_000))
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        new[1:] = (cust[1:] != cust[:-1]) | ((t[1:] - t[:-1]) > window)
    ep = np.cumsum(new) - 1
    size = np.bincount(ep) if len(order) else np.array([], dtype=np.int64)
    keep = size[ep] >= min_tickets if len(order) else np.zeros(0, dtype=bool)
    # the listed episodes' work orders, as positions in ``workorders``: only the columns used are
    # taken (not every column of every work order, as a sorted copy of the frame would)
    pos = order[keep]
    t_sub = t[keep].astype("datetime64[us]")
    ep_sub = ep[keep]
    if len(pos):
        starts = np.flatnonzero(np.r_[True, ep_sub[1:] != ep_sub[:-1]])
        ends = np.r_[starts[1:], len(pos)].astype(np.int64)
    else:
        starts = ends = np.zeros(0, dtype=np.int64)
    return pos, starts, ends, t_sub


def _taken(workorders: pd.DataFrame, column: str, at: np.ndarray) -> pd.Series:
    """``workorders[column]`` at the positions ``at``, with a fresh 0..n-1 index."""
    return workorders[column].take(at).reset_index(drop=True)


def _episode_frame(workorders: pd.DataFrame, pos: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                   t_sub: np.ndarray) -> pd.DataFrame:
    """One row per episode (see :func:`_episodes`): ``customer_id``, ``episode`` (1, 2, ... per
    customer), ``n_tickets``, ``first_created``, ``last_created``, ``span_days`` (days),
    ``causes`` (in time order, "|"), ``stations`` (distinct, "|") and ``last_ticket_id``."""
    last_idx = ends - 1
    causes_all = _taken(workorders, "cause_l2", pos).astype("string").fillna("").to_numpy(dtype=object)
    stations_all = _taken(workorders, "station", pos).astype("string").fillna("").to_numpy(dtype=object)
    causes = ["|".join(causes_all[a:e]) for a, e in zip(starts, ends)]
    stations = ["|".join(dict.fromkeys(stations_all[a:e])) for a, e in zip(starts, ends)]
    first_t = t_sub[starts]
    last_t = t_sub[last_idx]
    out = pd.DataFrame({
        "customer_id": pd.array(_taken(workorders, "customer_id", pos[starts]).astype("string")
                                .to_numpy(dtype=object), dtype="string"),
        "n_tickets": (ends - starts).astype(np.int64),
        "first_created": first_t.astype("datetime64[us]"),
        "last_created": last_t.astype("datetime64[us]"),
        "span_days": (last_t - first_t).astype("timedelta64[us]").astype(np.int64) / 86_400e6,
        "causes": pd.array(causes, dtype="string"),
        "stations": pd.array(stations, dtype="string"),
        "last_ticket_id": pd.array(
            _taken(workorders, "ticket_id", pos[last_idx]).astype("string").to_numpy(dtype=object),
            dtype="string"),
    })
    out.insert(1, "episode", out.groupby("customer_id", sort=False).cumcount().astype(np.int64) + 1)
    return out


def _survey_outcomes(out: pd.DataFrame, responses: pd.DataFrame | None, workorders: pd.DataFrame,
                     pos: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    """``out`` (one row per episode) with the survey outcomes of each episode's tickets:
    ``n_surveyed``, ``resolved_share`` (share resolved "yes" among known answers),
    ``last_satisfied``, ``last_sat_overall`` (of the latest surveyed ticket; <NA> without one)."""
    if responses is None or not len(pos):
        out["n_surveyed"] = pd.array([pd.NA] * len(out) if responses is None else [0] * len(out),
                                     dtype="Int64")
        out["resolved_share"] = pd.array([pd.NA] * len(out), dtype="Float64")
        out["last_satisfied"] = pd.array([pd.NA] * len(out), dtype="boolean")
        out["last_sat_overall"] = pd.array([pd.NA] * len(out), dtype="Int64")
        return out
    r = responses[["ticket_id", "satisfied", "sat_overall", "resolved"]]
    r = r[r["ticket_id"].notna()].drop_duplicates("ticket_id", keep="last")
    at = pd.Index(r["ticket_id"].astype("string")).get_indexer(_taken(workorders, "ticket_id", pos)
                                                               .astype("string"))
    surveyed = at >= 0
    take_r = np.where(surveyed, at, len(r))  # len(r): "no survey", past the padding below
    res = r["resolved"].astype("string")
    res_known = np.r_[res.notna().to_numpy(dtype=bool), False][take_r]
    res_yes = np.r_[(res == "yes").fillna(False).to_numpy(dtype=bool), False][take_r]
    ep_local = np.repeat(np.arange(len(starts)), ends - starts)
    n_surv = np.bincount(ep_local, weights=surveyed, minlength=len(starts)).astype(np.int64)
    n_known = np.bincount(ep_local, weights=res_known, minlength=len(starts))
    n_yes = np.bincount(ep_local, weights=res_yes, minlength=len(starts))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_known > 0, n_yes / np.where(n_known > 0, n_known, 1), np.nan)
    where = np.where(surveyed, np.arange(len(pos)), -1)
    last_pos = np.maximum.reduceat(where, starts) if len(starts) else np.array([], int)
    has = last_pos >= 0
    row = np.where(has, take_r[np.where(has, last_pos, 0)], len(r))
    sat = r["satisfied"].astype("boolean").reset_index(drop=True).reindex(row)
    score = r["sat_overall"].astype("Int64").reset_index(drop=True).reindex(row)
    out["n_surveyed"] = pd.array(n_surv, dtype="Int64")
    out["resolved_share"] = pd.array(np.where(np.isnan(share), None, share), dtype="Float64")
    out["last_satisfied"] = pd.array(sat.where(has, pd.NA).to_numpy(), dtype="boolean")
    out["last_sat_overall"] = pd.array(score.where(has, pd.NA).to_numpy(), dtype="Int64")
    return out


def _risk_values(risk, workorders: pd.DataFrame, responses: pd.DataFrame | None, latest_pos: np.ndarray,
                 n: int) -> np.ndarray:
    """Risk (probability of dissatisfaction, NaN unknown) of the latest work order of each of
    the ``n`` episodes (positions ``latest_pos`` in ``workorders``), from ``risk`` as
    :func:`repeat_callers` takes it; ValueError for a risk outside [0, 1] or of a wrong type."""
    latest = workorders.iloc[latest_pos].reset_index(drop=True)
    latest["customer_id"] = latest["customer_id"].astype("string")
    values = np.full(n, np.nan)
    if callable(risk):
        got = np.asarray(risk(latest), dtype=float) if len(latest) else np.array([], dtype=float)
        if got.shape != (len(latest),):
            raise ValueError(f"risk callable returned shape {got.shape}, expected ({len(latest)},)")
        values = got
    elif isinstance(risk, pd.Series):
        ser = risk.copy()
        ser.index = ser.index.astype("string")
        values = ser.reindex(latest["ticket_id"].astype("string")).to_numpy(
            dtype=float, na_value=np.nan)
    elif risk is None and responses is not None and len(latest):
        model = fit_dissatisfaction_model(responses)
        values = model.predict(latest["cause_l2"], latest["handling_hours"], True)
    elif risk is not None:
        raise ValueError("risk must be a callable, a Series by ticket_id, or None")
    if np.any((values < 0) | (values > 1)):
        raise ValueError("risk values must be probabilities in [0, 1]")
    return values
