"""Non-response sensitivity, the delta adjustment (pattern mixture): how far the population
satisfied rate moves when non-respondents differ from comparable respondents, and the shift
that would overturn the comparison with the plan's target.

:func:`delta_range` and :func:`tipping_deltas`: a delta-adjustment
(pattern-mixture) analysis of departures from MAR. A logit of satisfied on
the work-order covariates (the response-propensity formula) is fitted on the
respondents and applied to the non-respondents; a non-respondent's log-odds
of being satisfied is then shifted by ``delta`` from that of comparable
respondents (same covariates)::

    theta_d(delta) = [ sum_{i in d, observed} y_i
                       + sum_{i in d, missing} expit(x_i' beta + delta_{pattern(i)}) ] / N_d

where ``N_d`` counts the work orders of domain ``d`` and ``pattern(i)`` is
the ticket's survey status (``refused`` / ``no_answer``; completed surveys
without an answer stay MAR, ``delta = 0``). At ``delta = 0`` this is the
MAR regression (imputation) estimator of the population rate; ``delta < 0``
means non-respondents are less often satisfied than comparable respondents
(``exp(delta)`` is the odds ratio). The *tipping* delta is the shift at
which the main comparison -- the rate against the plan's target -- would be
overturned; it is found separately for refusals, for no-answers and for
both together (refusals may well differ: they are more likely dissatisfied).

References: Rubin (1977), "Formalizing subjective notions about the effect
of nonrespondents in sample surveys", JASA 72, 538-543; Little (1994), "A
class of pattern-mixture models for normal incomplete data", Biometrika 81,
471-483; Carpenter & Kenward (2013), *Multiple Imputation and its
Application*, ch. 10 (delta adjustment; R ``mice``'s post-processing
``imp$post`` and ``rbmi::delta_template`` implement the same shift on the
logit scale as multiple imputation; here it is applied to the predicted
probabilities directly, which is the MI estimator's limit with infinitely
many imputations).

Standard errors of ``theta_d(delta)`` come from the estimator's influence
values (M-estimation sandwich): each work order contributes
``(a_i - theta_d) / N_d`` (``a_i`` its observed or shifted predicted outcome)
and each respondent also ``g_d' H^{-1} x_i (y_i - p_i)``, the effect of its
answer on ``beta`` (``H`` the logit's information, ``g_d`` the derivative of
``theta_d`` with respect to ``beta``); they are summed within stations and
combined as a one-stage cluster design (:func:`research.stats.design_based.
linearized_variance`). Intervals use Student's t with ``G - 1`` degrees of
freedom (``G`` stations; as Stata and R ``clubSandwich`` for clustered
inference). The uncertainty is about the population under the stated
``delta``; the range of ``delta`` itself is an assumption the data cannot
check.

In: the population of work orders, the respondents' outcome on them
(:func:`population_outcome`), the outcome logit (:func:`outcome_model`) and the deltas. Out:
tidy frames (:func:`delta_range`, :func:`tipping_deltas`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats
from scipy.special import expit

from research.stats.design_based import _cluster_codes
from research.errors import InputError

#: missing-data patterns of a work order: answered, completed without a satisfaction answer,
#: no answer, refused, no survey status
PATTERNS = ("observed", "item_missing", "no_answer", "refused", "unknown")
#: which non-respondents a scenario shifts by delta (the others stay at delta = 0, MAR)
SCENARIOS = {"refused": ("refused",), "no_answer": ("no_answer",), "all": ("refused", "no_answer", "unknown")}
#: patterns a delta may shift: the non-respondents (completed surveys without an answer stay MAR)
SHIFTABLE = ("no_answer", "refused", "unknown")
#: bracket of the tipping-delta search (log-odds); beyond it a shift is an odds ratio above e^20
TIPPING_BRACKET = 20.0


def _pattern_codes(population: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """Each work order's pattern as an index into :data:`PATTERNS` (see :func:`missing_pattern`)."""
    status = population["survey_status"].astype("string")
    obs = ~np.isnan(np.asarray(y, dtype=float))
    is_ = {v: (status == v).fillna(False).to_numpy(dtype=bool) for v in ("completed", "no_answer", "refused")}
    code = np.full(len(population), PATTERNS.index("unknown"), dtype=np.int8)
    code[is_["no_answer"]] = PATTERNS.index("no_answer")
    code[is_["refused"]] = PATTERNS.index("refused")
    code[is_["completed"]] = PATTERNS.index("item_missing")
    code[is_["completed"] & obs] = PATTERNS.index("observed")
    bad = obs & ~is_["completed"]
    if bad.any():
        raise InputError(f"work orders: {int(bad.sum())} ticket(s) have a survey answer but a survey_status "
                         "other than completed")
    return code


def missing_pattern(population: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """Each work order's pattern (:data:`PATTERNS`) from its survey status and outcome.

    ``y`` is the outcome aligned with ``population`` (NaN when unknown). A completed survey
    with an outcome is ``observed``, without one ``item_missing``; ``no_answer`` and
    ``refused`` as the status says; a missing status is ``unknown``.
    """
    return np.asarray(PATTERNS, dtype=object)[_pattern_codes(population, y)]


def delta_adjusted_rate(y: np.ndarray, pattern: np.ndarray, eta: np.ndarray,
                        delta: Mapping[str, float]) -> float:
    """The delta-adjusted population rate (closed form; no uncertainty).

    Parameters
    ----------
    y : outcome per unit (0/1; read only where ``pattern == "observed"``).
    pattern : per unit, one of :data:`PATTERNS`.
    eta : per unit, the respondents' model's linear predictor (log-odds of satisfied).
    delta : shift of the log-odds per non-response pattern (:data:`SHIFTABLE`; patterns not
        named: 0, i.e. MAR). ValueError for ``observed`` or ``item_missing``.

    Returns
    -------
    ``[sum_{observed} y_i + sum_{missing} expit(eta_i + delta_pattern(i))] / N`` (0..1).
    """
    bad = sorted(set(delta) - set(SHIFTABLE))
    if bad:
        raise ValueError(f"delta may shift only {list(SHIFTABLE)} (completed surveys stay MAR), got {bad}")
    y = np.asarray(y, dtype=float)
    pattern = np.asarray(pattern, dtype=object)
    eta = np.asarray(eta, dtype=float)
    shift = np.array([float(delta.get(p, 0.0)) for p in pattern]) if len(pattern) else np.zeros(0)
    obs = pattern == "observed"
    a = np.where(obs, np.nan_to_num(y), expit(eta + shift))
    return float(a.mean())


@dataclass(frozen=True)
class OutcomeModel:
    """The respondents' logit of satisfied, applied to every modelled work order.

    Attributes
    ----------
    rows : positions (in the population frame) of the work orders with every covariate.
    X : their design matrix (rows x k).
    beta : coefficients (log-odds), fitted on the ``observed`` rows.
    bread : ``H^{-1}``, inverse of the logit's information on the observed rows.
    names : column names of ``X``.
    """

    rows: np.ndarray
    X: np.ndarray
    beta: np.ndarray
    bread: np.ndarray
    names: list[str]

    @property
    def eta(self) -> np.ndarray:
        return self.X @ self.beta


def outcome_model(population: pd.DataFrame, y: np.ndarray, rhs: str, *, cluster: str = "station",
                  reference_levels: dict[str, str] | None = None, instrument=None,
                  prepared=None) -> OutcomeModel:
    """Logit of ``y`` on the work-order covariates ``rhs``, fitted where ``y`` is observed.

    Parameters
    ----------
    population : :func:`research.representativeness.nonresponse.population_frame` output (every covariate of ``rhs``
        is a work-order column, so the model predicts non-respondents too).
    y : outcome aligned with ``population`` (0/1, NaN for non-respondents).
    rhs : right-hand side over work-order variables (the plan's ``propensity_rhs``).
    prepared : :func:`research.representativeness.nonresponse.population_design` of the same arguments, when the
        caller has it (the response-propensity model uses the same design).

    The fit is :func:`research.representativeness.nonresponse.logit_newton` on the answered tickets' rows of the
    design (no copy of them).

    Raises
    ------
    InputError
        Fewer than 10 answered tickets, one outcome only, or a design the respondents cannot
        identify (a level with no respondents).
    """
    from research.representativeness.nonresponse import LOGIT_BLOCK_ROWS, logit_newton, population_design

    if prepared is None:
        prepared = population_design(population, rhs, cluster=cluster, reference_levels=reference_levels,
                                     instrument=instrument)
    rows, design = prepared.rows, prepared.design
    yr = np.asarray(y, dtype=float)[rows]
    obs = ~np.isnan(yr)
    if design is None or obs.sum() < 10 or np.unique(yr[obs]).size < 2:
        raise InputError("non-response sensitivity: the outcome model needs at least 10 answered tickets "
                         "with both outcomes")
    X = np.asarray(design.X, dtype=float)
    used = np.zeros(X.shape[1], dtype=bool)  # columns some respondent has (blocks: no copy of X[obs])
    for a in range(0, len(X), LOGIT_BLOCK_ROWS):
        used |= (X[a:a + LOGIT_BLOCK_ROWS][obs[a:a + LOGIT_BLOCK_ROWS]] != 0).any(axis=0)
    empty = [n for n, u in zip(design.names, used) if not u]
    if empty:
        raise InputError(f"non-response sensitivity: no respondent has {empty}; the outcome model cannot "
                         "predict those work orders (collapse the level)")
    try:
        beta, H = logit_newton(X, yr, mask=obs)
        bread = np.linalg.inv(H)
    except InputError as exc:
        raise InputError(f"non-response sensitivity: the outcome model: {exc}") from None
    except np.linalg.LinAlgError:
        raise InputError("non-response sensitivity: the outcome model's information matrix is singular") from None
    return OutcomeModel(rows=np.asarray(rows), X=X, beta=beta, bread=bread, names=list(design.names))


@dataclass(frozen=True)
class _Setup:
    """The modelled work orders' outcome, pattern codes (:data:`PATTERNS`), cluster codes, and the
    domains as (variable, levels, codes; -1 for a ticket with no level)."""

    yr: np.ndarray
    pcode: np.ndarray
    codes: np.ndarray
    g: int
    doms: list

    @property
    def pattern(self) -> np.ndarray:
        return np.asarray(PATTERNS, dtype=object)[self.pcode]


def _setup(population: pd.DataFrame, y: np.ndarray, model: OutcomeModel, domains: Sequence[str],
           cluster: str) -> _Setup:
    """Modelled rows' outcome, pattern, clusters, and the domains as (variable, levels, codes)."""
    rows = model.rows
    whole = len(rows) == len(population) and bool((rows == np.arange(len(rows))).all())

    def col(name: str) -> pd.Series:  # the modelled rows of one column (no copy of the frame)
        c = population[name]
        return c if whole else c.iloc[rows]

    yr = np.asarray(y, dtype=float)[rows]
    pcode = _pattern_codes(pd.DataFrame({"survey_status": col("survey_status").to_numpy()}), yr)
    codes, g = _cluster_codes(col(cluster).astype("string"))
    doms = [("overall", ["overall"], np.zeros(len(rows), dtype=np.intp))]
    for d in domains:
        c = col(d)
        lev = c.astype("string")
        present = set(pd.unique(lev.dropna().to_numpy(dtype=object)))
        order = ([str(x) for x in c.cat.categories if str(x) in present]
                 if isinstance(c.dtype, pd.CategoricalDtype) else sorted(present))
        dom = np.asarray(pd.Categorical(lev, categories=order).codes, dtype=np.intp)
        doms.append((d, order, dom))
    return _Setup(yr=yr, pcode=pcode, codes=codes, g=g, doms=doms)


def _labels(doms) -> tuple[list[str], list[str]]:
    return ([var for var, levels, _ in doms for _ in levels], [lv for _, levels, _ in doms for lv in levels])


class _DeltaSums:
    """theta_d(delta) and its cluster-robust SE for every domain of every domain variable, from
    sums over cells (cluster x domain) rather than rows.

    Influence value of row i for domain d (sum scale)::

        z_id = I_id (a_i - theta_d) / N_d + g_d' H^{-1} x_i (y_i - p_i) [i observed]

    with ``a_i`` the observed outcome or the shifted prediction ``q_i = expit(eta_i + delta)``,
    ``g_d = (1/N_d) sum_{i in d, missing} q_i (1 - q_i) x_i``. Its cluster total is
    ``(A_gd - n_gd theta_d) / N_d + B_g' g_d`` with ``A_gd`` the cluster's sum of ``a`` in the
    domain, ``n_gd`` its count and ``B_g`` its respondents' summed ``H^{-1} x_i (y_i - p_i)``; the
    totals go to the one-stage cluster variance (:func:`research.stats.design_based.linearized_variance`).
    Only the missing rows' ``q`` depend on delta, and only those of the shifted patterns: their
    contributions to ``A`` and ``g`` are summed per pattern and kept per (pattern, delta), so a
    grid of deltas over three scenarios reads each non-respondent once per delta (was: every row
    once per scenario, delta and domain variable). The numbers are those of the row-level sums up
    to rounding.
    """

    def __init__(self, model: OutcomeModel, st: _Setup):
        from scipy import sparse

        X, eta, g = model.X, model.eta, st.g
        self.g = g
        obs = st.pcode == PATTERNS.index("observed")
        y = np.where(obs, np.nan_to_num(st.yr), 0.0)
        n = len(eta)
        r = np.where(obs, y - expit(eta), 0.0)
        cl = sparse.csr_matrix((r, (st.codes, np.arange(n))), shape=(g, n))
        self.beta_totals = np.asarray(cl @ X) @ model.bread  # G x k
        # domain buckets: each variable's levels then one bucket for tickets without a level
        self.offsets, size = [], 0
        cols = []
        for _, levels, dom in st.doms:
            k = len(levels)
            self.offsets.append((size, k))
            cols.append(size + np.where(dom < 0, k, dom))
            size += k + 1
        self.D = size
        self.N = np.maximum(sum(np.bincount(c, minlength=size) for c in cols).astype(float), 1.0)
        self.n_gd = sum(np.bincount(st.codes * size + c, minlength=g * size) for c in cols).reshape(g, size)
        self.A_obs = sum(np.bincount(st.codes[obs] * size + c[obs], weights=y[obs], minlength=g * size)
                         for c in cols).reshape(g, size)
        self.parts = {}
        for p in ("item_missing", *SHIFTABLE):
            idx = np.flatnonzero(st.pcode == PATTERNS.index(p))
            if not idx.size:
                continue
            keys = [st.codes[idx] * size + c[idx] for c in cols]
            col_all = np.concatenate([c[idx] for c in cols])
            row_all = np.tile(idx, len(cols))  # rows of X: the sparse product reads them in place
            perm = np.argsort(col_all, kind="stable")  # CSR order: by bucket, rows ascending within
            indptr = np.concatenate([[0], np.cumsum(np.bincount(col_all, minlength=size))])
            self.parts[p] = (eta[idx], keys, perm, row_all[perm], indptr, len(cols))
        self.X = X
        self._cache: dict = {}

    def _part(self, p: str, delta: float):
        """(A, S): the pattern's sums of q per (cluster, bucket) and of q (1 - q) x per bucket."""
        from scipy import sparse

        key = (p, float(delta))
        if key not in self._cache:
            eta, keys, perm, indices, indptr, reps = self.parts[p]
            q = expit(eta + float(delta))
            size, g = self.D, self.g
            A = sum(np.bincount(k, weights=q, minlength=g * size) for k in keys).reshape(g, size)
            wq = np.tile(q * (1 - q), reps)[perm]
            S = sparse.csr_matrix((wq, indices, indptr), shape=(size, self.X.shape[0])) @ self.X
            self._cache[key] = (A, np.asarray(S))
        return self._cache[key]

    def estimates(self, shifted: tuple[str, ...], delta: float) -> tuple[np.ndarray, np.ndarray]:
        """theta and SE of every domain level (order of :func:`_labels`) with ``shifted`` patterns'
        log-odds moved by ``delta`` (the others at 0)."""
        A = self.A_obs.copy()
        S = np.zeros((self.D, self.beta_totals.shape[1]))
        for p in self.parts:
            a, b = self._part(p, delta if p in shifted else 0.0)
            A += a
            S += b
        theta = A.sum(axis=0) / self.N
        totals = (A - self.n_gd * theta) / self.N + self.beta_totals @ (S / self.N[:, None]).T
        totals -= totals.mean(axis=0)
        var = self.g / (self.g - 1) * np.einsum("gd,gd->d", totals, totals)
        keep = np.concatenate([np.arange(o, o + k) for o, k in self.offsets])
        return theta[keep], np.sqrt(var[keep])


def delta_range(population: pd.DataFrame, y: np.ndarray, model: OutcomeModel, deltas: Sequence[float], *,
                domains: Sequence[str] = ("cause_l1",), cluster: str = "station",
                conf_level: float = 0.95, setup: _Setup | None = None) -> pd.DataFrame:
    """The delta-adjusted satisfied rate over a grid of delta, per scenario and domain.

    Parameters
    ----------
    population : the work orders (:func:`research.representativeness.nonresponse.population_frame`).
    y : outcome aligned with ``population`` (0/1; NaN where unknown).
    model : :func:`outcome_model` fitted on the same ``population`` and ``y``.
    deltas : shifts of the non-respondents' log-odds of being satisfied (log odds ratio
        against comparable respondents).
    domains : population columns to break the rate down by (besides ``overall``).
    setup : internal: the same arguments' :func:`_setup`, when the caller has it.

    Returns
    -------
    DataFrame, one row per scenario (:data:`SCENARIOS`: only refusals shifted, only
    no-answers, or every non-respondent), delta, domain and level: ``scenario, delta,
    odds_ratio`` (``exp(delta)``), ``domain, level, estimate`` (population satisfied rate,
    0..1), ``std_error, conf_low, conf_high, conf_level`` (sandwich, clusters, t with G - 1
    df), ``df``, ``n`` (work orders modelled), ``n_observed``, ``n_refused``,
    ``n_no_answer``, ``n_item_missing`` (kept at delta = 0), ``method``.
    """
    st = setup if setup is not None else _setup(population, y, model, domains, cluster)
    return delta_table(_DeltaSums(model, st), st.g, _labels(st.doms), _pattern_counts(st.pcode, st.doms), deltas,
                       conf_level)


def delta_table(sums, g: int, labels: tuple[list[str], list[str]], counts: pd.DataFrame, deltas: Sequence[float],
                conf_level: float) -> pd.DataFrame:
    """:func:`delta_range`'s frame from the sums (:class:`_DeltaSums` or the engine's twin in
    :mod:`research.representativeness.at_scale_sensitivity`), ``g`` clusters, the domain labels
    (:func:`_labels`) and the pattern counts (:func:`_pattern_counts`)."""
    q = stats.t.ppf(0.5 + conf_level / 2, g - 1)
    dvars, dlevels = labels
    parts = []
    for scen, shifted in SCENARIOS.items():
        for delta in deltas:
            est, se = sums.estimates(shifted, float(delta))
            parts.append(pd.DataFrame({"scenario": scen, "delta": float(delta), "odds_ratio": np.exp(float(delta)),
                                       "domain": dvars, "level": dlevels,
                                       "estimate": est, "std_error": se, "conf_low": est - q * se,
                                       "conf_high": est + q * se}))
    out = pd.concat(parts, ignore_index=True)
    out["conf_level"] = conf_level
    out["df"] = g - 1
    out = out.merge(counts, on=["domain", "level"], how="left", sort=False)
    out["method"] = ("delta adjustment (pattern mixture): respondents' logit applied to non-respondents, "
                     "log-odds shifted by delta; cluster sandwich SE, t(G - 1)")
    return out


def _pattern_counts(pcode, doms, count=None) -> pd.DataFrame:
    """Work orders per domain level and pattern; ``count``: rows per entry (groups), None: one."""
    rows = []
    n_pat = len(PATTERNS)
    for var, levels, dom in doms:
        k = len(levels)
        ok = dom >= 0
        table = np.bincount(dom[ok] * n_pat + pcode[ok], weights=None if count is None else count[ok],
                            minlength=k * n_pat).reshape(k, n_pat)
        table = np.rint(table).astype(np.int64)
        for j, lev in enumerate(levels):
            c = dict(zip(PATTERNS, table[j].tolist()))
            rows.append({"domain": var, "level": lev, "n": int(table[j].sum()), "n_observed": c["observed"],
                         "n_refused": c["refused"], "n_no_answer": c["no_answer"],
                         "n_item_missing": c["item_missing"], "n_unknown": c["unknown"]})
    return pd.DataFrame(rows)


def tipping_deltas(population: pd.DataFrame, y: np.ndarray, model: OutcomeModel, *, target: float,
                   domains: Sequence[str] = ("cause_l1",), cluster: str = "station",
                   plausible: tuple[float, float] = (-1.0, 1.0), setup: _Setup | None = None) -> pd.DataFrame:
    """The delta at which each domain's rate would cross ``target`` (the main comparison).

    For every scenario (:data:`SCENARIOS`) and domain level, the rate ``theta(delta)`` rises
    monotonically from ``rate_if_all_dissatisfied`` (delta -> -inf: every shifted
    non-respondent dissatisfied) to ``rate_if_all_satisfied`` (delta -> +inf). The tipping
    delta solves ``theta(delta) = target`` (Brent's method); it is NaN when the target lies
    outside those limits: no departure from MAR of that group alone could overturn the
    comparison. ``setup``: internal, as in :func:`delta_range`.

    Returns
    -------
    DataFrame: ``scenario, domain, level, target, estimate_mar`` (rate at delta = 0),
    ``side`` (``above`` / ``below`` the target at delta = 0), ``tipping_delta`` (log odds
    ratio), ``tipping_odds_ratio``, ``within_plausible`` (the tipping delta lies inside
    ``plausible``, the plan's delta range: the conclusion is fragile), ``rate_if_all_dissatisfied,
    rate_if_all_satisfied`` (the worst- and best-case bounds of Manski 1989 for that group).
    """
    if not 0 < target < 1:
        raise InputError(f"non-response sensitivity: target rate must be in (0, 1), got {target}")
    st = setup if setup is not None else _setup(population, y, model, domains, cluster)
    yr, pcode = st.yr, st.pcode
    eta = model.eta
    observed = pcode == PATTERNS.index("observed")
    base_all = np.where(observed, np.nan_to_num(yr), expit(eta))
    rows = []
    for scen, shifted in SCENARIOS.items():
        mask_s = np.isin(pcode, [PATTERNS.index(p) for p in shifted])
        for var, lev, in_d in ((v, lv, dom == k) for v, levels, dom in st.doms for k, lv in enumerate(levels)):
            sd = mask_s[in_d]
            base = base_all[in_d]
            fixed = float(base[~sd].sum())
            N = float(in_d.sum())
            es = eta[in_d][sd]  # the shifted tickets' linear predictors, taken once

            def rate(delta, es=es, fixed=fixed, N=N):
                return (fixed + float(expit(es + delta).sum())) / N

            lo, hi = fixed / N, (fixed + sd.sum()) / N
            mar = rate(0.0)
            tip = np.nan
            if sd.any() and lo < target < hi:
                a, b = -TIPPING_BRACKET, TIPPING_BRACKET
                if (rate(a) - target) * (rate(b) - target) < 0:
                    tip = float(optimize.brentq(lambda d: rate(d) - target, a, b, xtol=1e-10))
            rows.append(tipping_row(scen, var, lev, target, mar, tip, lo, hi, plausible, int(sd.sum()), int(N)))
    return pd.DataFrame(rows)


def tipping_row(scen: str, var: str, lev: str, target: float, mar: float, tip: float, lo: float, hi: float,
                plausible: tuple[float, float], n_shifted: int, n: int) -> dict:
    """One row of :func:`tipping_deltas` (also the engine path's)."""
    return {"scenario": scen, "domain": var, "level": lev, "target": target, "estimate_mar": mar,
            "side": "above" if mar >= target else "below", "tipping_delta": tip,
            "tipping_odds_ratio": np.exp(tip) if np.isfinite(tip) else np.nan,
            "within_plausible": bool(np.isfinite(tip) and plausible[0] <= tip <= plausible[1]),
            "rate_if_all_dissatisfied": lo, "rate_if_all_satisfied": hi, "n_shifted": n_shifted, "n": n}


def population_outcome(respondents: pd.DataFrame, population: pd.DataFrame, y: str = "satisfied") -> np.ndarray:
    """The respondents' ``y`` (0/1, NaN when unanswered) on the work orders of their ticket (NaN for
    work orders without a response; the first response of a ticket counts)."""
    ids = pd.Index(respondents["ticket_id"].astype("string"))
    first = ~ids.duplicated(keep="first")
    values = pd.to_numeric(respondents[y].astype("Float64"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    pos = ids[first].get_indexer(pd.Index(population["ticket_id"].astype("string")))
    return np.where(pos >= 0, values[first][pos], np.nan)
