"""Levers, mediation through resolution: the share of each lever's effect that runs through the
callback's resolution answer (natural direct and indirect effects by the parametric g-formula;
VanderWeele 2015, *Explanation in Causal Inference*, ch. 2; Imai, Keele & Tingley 2010,
*Psychol Methods* 15:309; R ``mediation``, ``CMAverse``).

In: canonical responses, the plan's levers, the lever model's fit (optional, reused), survey
weights (optional). Out: one row per lever and effect (:func:`lever_mediation`). The two
logits are fitted here (:func:`_logit_fit`) on a design held once (:class:`_Design`), with the
stacked cluster-robust covariance of both (:func:`_stacked_vcov`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.special import expit

from research.errors import InputError, NotEstimable

#: the mediator of :func:`lever_mediation`: the callback's resolution answer is "yes"
MEDIATOR_LEVEL = "yes"

#: why a lever's share through resolution is not computed: the codes of levers.csv's
#: ``mediation_note`` (displayed through research.artifacts.labels; empty when computed).
#: The first five concern the whole table (:func:`lever_mediation` returns an empty frame
#: with the code in ``attrs["not_computed"]``), the last two one lever.
MEDIATION_NOT_COMPUTED = (
    "mediation_no_lever_model",      # the plan declares no scenario model
    "mediation_no_resolution",       # the export has no resolution answers, or all are the same
    "mediation_too_few",             # fewer than 50 complete cases, or one outcome value
    "mediation_not_estimable",       # a logit does not converge (separation) or its design is singular
    "mediation_total_includes_zero",  # the total effect's interval includes 0: a share is undefined
    "mediation_not_applicable",      # a ``set`` lever, or one the mediation frame cannot apply
)


def _not_computed(cols: list[str], code: str) -> pd.DataFrame:
    """An empty mediation frame that says why (``attrs["not_computed"]``, a code of
    :data:`MEDIATION_NOT_COMPUTED`)."""
    out = pd.DataFrame(columns=cols)
    out.attrs["not_computed"] = code
    return out


#: rows per chunk of the information matrices' products (bounds their temporaries)
_CHUNK_ROWS = 100_000
#: above this many rows the mediation logits start from a subsample's fit and take chord steps
#: before Newton's (:func:`_logit_fit`); at or below it, Newton from zero
CHORD_ROWS = 200_000
#: rows of that subsample
START_ROWS = 50_000
_CHORD_MAX_ITER = 100
# a subsample coefficient beyond this many logits (quasi-separation in the subsample) is no start
_START_MAX = 15.0


class _Design:
    """A design held once, dense (``X``, for the information matrix: one matrix product) and
    sparse (``S``, CSR, for the products with vectors), with an optional extra column ``extra``.

    The lever model's design is dummies (sub-cause, channel, station, month) and one handling-
    time column per cause group: about 6 non-zero entries in 80 per row, so a product with a
    vector over the non-zero entries reads a tenth of the dense matrix; the information
    matrix is formed in row chunks, without an (n, k) temporary (0.64 GB at 1,000,000 rows).
    """

    def __init__(self, X: np.ndarray, S=None, extra: np.ndarray | None = None):
        self.X = X
        self.S = sparse.csr_matrix(X) if S is None else S
        self.extra = extra
        self.k = X.shape[1] + (extra is not None)

    def with_column(self, extra: np.ndarray) -> _Design:
        return _Design(self.X, self.S, extra)

    def dot(self, beta: np.ndarray) -> np.ndarray:
        if self.extra is None:
            return self.S @ beta
        return self.S @ beta[:-1] + self.extra * beta[-1]

    def tdot(self, v: np.ndarray) -> np.ndarray:
        g = self.S.T @ v
        return g if self.extra is None else np.append(g, self.extra @ v)

    def information(self, v: np.ndarray) -> np.ndarray:
        """``Z' diag(v) Z`` of the design ``Z`` (with its extra column)."""
        X, n = self.X, len(v)
        H = np.zeros((X.shape[1], X.shape[1]))
        root = np.sqrt(v)   # v >= 0: A' A of one array, numpy's symmetric rank-k product (half the work)
        for lo in range(0, n, _CHUNK_ROWS):
            A = X[lo:lo + _CHUNK_ROWS] * root[lo:lo + _CHUNK_ROWS, None]
            H += A.T @ A
        if self.extra is None:
            return H
        e = self.extra * v
        border = self.S.T @ e
        return np.block([[H, border[:, None]], [border[None, :], np.array([[e @ self.extra]])]])


def _logit_fit(Z: _Design, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted logit: the root of its score equation, as
    :func:`research.models.thresholds.weighted_logit_newton` finds it (Newton from zero,
    least-squares steps, stop when the largest step is below 1e-9), with the products of
    :class:`_Design`.

    Above :data:`CHORD_ROWS` rows the information matrix, the costly part of a step, is formed
    twice instead of once per Newton step: Newton on a seeded subsample of :data:`START_ROWS`
    rows gives a start, chord steps (the information at that start, fixed) approach the root
    with one score per step, and full Newton steps finish, the last one below 1e-9 as before.
    Newton's last step leaves the iterate within rounding of the root from any start, so the
    estimates are the same to rounding (measured: benchmarks/bench_strategy_1m.py). The Newton
    steps are the package's one logit (:func:`research.stats.logit.fit_logit`, which takes
    :class:`_Design` as its design); the chord phase before them is kept here because it differs
    (a fixed pseudo-inverse from the subsample's start, stopping when the steps stop contracting).
    """
    from research.stats.logit import fit_logit

    n = len(y)
    beta = np.zeros(Z.k)
    start = None
    if n > max(CHORD_ROWS, START_ROWS):
        sub = np.sort(np.random.default_rng(0).choice(n, START_ROWS, replace=False))
        try:
            start = _logit_fit(_Design(Z.X[sub], extra=None if Z.extra is None else Z.extra[sub]), y[sub], w[sub])
        except NotEstimable:   # separation in the subsample (a rare level): Newton from zero
            start = None
        if start is not None and np.max(np.abs(start)) > _START_MAX:   # drifting: no start
            start = None
    if start is not None:
        beta = start
        p = expit(Z.dot(beta))
        fixed = np.linalg.pinv(Z.information(w * p * (1 - p)), hermitian=True)
        last = np.inf
        for _ in range(_CHORD_MAX_ITER):
            step = fixed @ Z.tdot(w * (y - expit(Z.dot(beta))))
            size = np.max(np.abs(step))
            if not size < last:     # not contracting: Newton from here
                break
            beta += step
            last = size
            if size < 1e-9:
                break
    fit = fit_logit(Z, y, w, start=beta, tol=1e-9, max_iter=50, solver="lstsq", information=False)
    if not fit.converged:
        raise NotEstimable("mediation: a logit did not converge (separation)")
    if not np.isfinite(fit.params).all():
        raise NotEstimable("mediation: a logit gives non-finite estimates")
    return fit.params


def _stacked_vcov(blocks, w: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Cluster-robust (CR1) covariance of several logits fitted on the same rows, stacked.

    ``blocks``: [(Z, y, beta)], ``Z`` a :class:`_Design`. Bread: block-diagonal information;
    meat: the sum over clusters of the outer products of the stacked score totals, so the
    covariance between the models' estimates is kept (Zeileis 2006, R ``sandwich``; stacked
    M-estimation, Stefanski & Boos 2002). A cluster's score total is ``Z' r`` over its rows:
    one sparse product for all clusters, no (n, k) score matrix.
    """
    codes, levels = pd.factorize(clusters)
    G, n = len(levels), len(w)
    totals, breads = [], []
    for Z, y, beta in blocks:
        p = expit(Z.dot(beta))
        r = w * (y - p)
        t = np.asarray((sparse.csr_matrix((r, (codes, np.arange(n))), shape=(G, n)) @ Z.S).todense())
        if Z.extra is not None:
            t = np.column_stack([t, np.bincount(codes, weights=r * Z.extra, minlength=G)])
        totals.append(t)
        breads.append(np.linalg.pinv(Z.information(w * p * (1 - p))))
    T = np.hstack(totals)
    k = T.shape[1]
    B = np.zeros((k, k))
    at = 0
    for b in breads:
        m = b.shape[0]
        B[at:at + m, at:at + m] = b
        at += m
    adj = G / max(G - 1, 1) * (n - 1) / max(n - k, 1)
    return adj * B @ (T.T @ T) @ B


class _Replaced:
    """The design ``X`` (dense or CSR) with columns ``idx`` replaced by ``new`` (dense (n, len(idx))),
    without a copy of ``X``: products with it are those of ``X`` corrected on ``idx``."""

    def __init__(self, X, idx: np.ndarray, new: np.ndarray):
        self.X, self.idx, self.new = X, idx, new
        self.Xi = X[:, idx] if len(idx) else None   # CSR: the few columns, sparse

    def dot(self, beta: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """``X_new @ beta``; ``base``: ``X @ beta`` when the caller has it."""
        out = self.X @ beta if base is None else base
        if len(self.idx):
            out = out - self.Xi @ beta[self.idx] + self.new @ beta[self.idx]
        return out

    def tdot(self, v: np.ndarray) -> np.ndarray:
        """``X_new' v``."""
        g = np.asarray(self.X.T @ v).ravel()
        if len(self.idx):
            g[self.idx] = self.new.T @ v
        return g


_MEDIATION_COLUMNS = ["lever", "effect", "estimate", "std_error", "conf_low", "conf_high", "conf_level", "n",
                      "method"]


def lever_mediation(responses: pd.DataFrame, levers, *, plan, instrument, threshold: int,
                    weights: np.ndarray | None = None, cluster: str = "station",
                    conf_level: float = 0.95, fitted=None) -> pd.DataFrame:
    """How much of each lever's effect runs through resolution: natural direct and indirect effects.

    Parametric g-formula with a binary mediator ``M`` = the callback's resolution
    answer is "yes" (partly and no together: stated, since a three-level
    mediator model would need a multinomial logit). Two logits on the complete
    cases of the lever model's variables and ``resolved``:

    - mediator: ``M ~ <lever model rhs>`` (pre-treatment variables and handling time);
    - outcome: ``satisfied ~ <lever model rhs> + M``.

    With ``a`` the observed handling and ``a*`` the lever's, and
    ``E[Y(a1, M(a2))] = mean_i [Q(a1, 1) m(a2) + Q(a1, 0) (1 - m(a2))]``
    (``Q`` outcome model, ``m`` mediator model; weighted by the survey weights
    when given): total effect ``E[Y(a*, M(a*))] - E[Y(a, M(a))]``, natural
    direct ``E[Y(a*, M(a))] - E[Y(a, M(a))]``, natural indirect
    ``E[Y(a*, M(a*))] - E[Y(a*, M(a))]`` (VanderWeele 2015, ch. 2; R
    ``mediation::mediate``, ``CMAverse::cmest(model = "gformula")``).

    Assumptions (none testable from these data): given sub-cause, channel,
    station and month, no unmeasured confounding of (1) handling time and
    satisfaction, (2) resolution and satisfaction, (3) handling time and
    resolution, and (4) no confounder of resolution and satisfaction that is
    itself affected by handling time. Assumption (2) fails when the callback's
    "resolved?" answer is partly caused by satisfaction (a dissatisfied
    customer calling the case unresolved): the indirect share is then
    overstated.

    Uncertainty: delta method with the stacked cluster-robust (CR1) covariance
    of both logits (clusters ``cluster``), normal quantiles at ``conf_level`` (default 0.95;
    :func:`research.strategy.scenarios.run_levers` passes the plan's ``conf_level``); ``share_mediated``
    (indirect / total) is undefined (NaN) when the total effect's interval
    includes 0.

    ``fitted``: the lever model's fit (:func:`research.strategy.scenarios.run_levers` passes it); when every
    row of it has a resolution answer, its rows are the complete cases here and its frame and
    design are used rather than built again.

    Returns
    -------
    Per lever and effect (``total``, ``direct``, ``indirect``,
    ``share_mediated``): ``lever, effect, estimate, std_error, conf_low,
    conf_high, conf_level, n, method``. Empty when the responses have no
    resolution answers or the mediation logits cannot be fitted; the empty
    frame's ``attrs["not_computed"]`` then holds the reason (a code of
    :data:`MEDIATION_NOT_COMPUTED`). A lever whose total effect's interval
    includes 0 has ``share_mediated`` NaN; a ``set`` lever has no rows.
    """
    spec = plan.model(plan.scenarios.model) if plan.scenarios is not None else None
    if spec is None:
        return _not_computed(_MEDIATION_COLUMNS, "mediation_no_lever_model")
    if "resolved" not in responses.columns or responses["resolved"].notna().sum() == 0:
        return _not_computed(_MEDIATION_COLUMNS, "mediation_no_resolution")
    data = _mediation_data(responses, spec, plan=plan, instrument=instrument, cluster=cluster, fitted=fitted)
    if isinstance(data, str):
        return _not_computed(_MEDIATION_COLUMNS, data)
    frame, rows, m, y, design = data
    # the design held once (shared with the lever fit), its products over its non-zero entries
    Zm = _Design(design.X)
    X = Zm.S
    w = np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=float)[rows]
    wn = w / w.sum()
    Zy = Zm.with_column(m)
    try:
        bm, by = _logit_fit(Zm, m, w), _logit_fit(Zy, y, w)
    except NotEstimable:  # separation: no share rather than no lever table
        return _not_computed(_MEDIATION_COLUMNS, "mediation_not_estimable")
    V = _stacked_vcov([(Zm, m, bm), (Zy, y, by)], w, frame[cluster].astype(str).to_numpy())
    q = stats.norm.ppf(0.5 + conf_level / 2)
    method = ("natural direct/indirect effects, parametric g-formula (VanderWeele 2015); mediator: resolved == "
              "'yes' (logit); delta-method CR1 standard errors by " + cluster)
    out = _lever_effects(responses, levers, frame, rows, spec, design, X, _g_formula(X, bm, by, wn), V, q)
    res = pd.DataFrame(out, columns=_MEDIATION_COLUMNS[:6])
    return res.assign(conf_level=conf_level, n=len(frame), method=method)[_MEDIATION_COLUMNS]


def _mediation_data(responses: pd.DataFrame, spec, *, plan, instrument, cluster: str, fitted):
    """The complete cases of the mediation logits: ``(frame, rows, m, y, design)`` (the model
    frame, its row positions in ``responses``, the mediator 0/1, satisfied 0/1 and the lever
    model's design on those rows), or the :data:`MEDIATION_NOT_COMPUTED` code saying why not.
    The lever fit's frame and design are reused when its rows all have a resolution answer."""
    from research.models.design import build_design, formula_context, model_frame

    variables = tuple(dict.fromkeys([*spec.variables(), "resolved", cluster]))
    reuse = (fitted is not None and fitted.spec.rhs == spec.rhs and cluster in fitted.frame.columns
             and set(spec.variables()) <= set(fitted.frame.columns)
             and "Intercept" in fitted.design.names[0]
             and responses["resolved"].iloc[fitted.rows].notna().all())
    if reuse:
        # every row of the lever fit has a resolution answer: these complete cases are the fit's
        # rows, and model_frame would type their variables as the fit's frame has them
        frame, rows = fitted.frame, fitted.rows
        codes = instrument.label_sets["resolved"].codes
        m = ((responses["resolved"].iloc[rows].astype(str).to_numpy() == MEDIATOR_LEVEL)
             & (MEDIATOR_LEVEL in codes)).astype(float)
    else:
        frame, rows = model_frame(responses, variables, reference_levels=plan.reference_levels,
                                  instrument=instrument)
        m = (frame["resolved"].astype(str).to_numpy() == MEDIATOR_LEVEL).astype(float) if len(frame) else None
    if len(frame) < 50 or frame["satisfied"].nunique() < 2:
        return "mediation_too_few"
    if m.min() == m.max():
        return "mediation_no_resolution"
    y = frame["satisfied"].to_numpy(dtype=float)
    if reuse:
        design = fitted.design  # the lever fit's rows: its design is this one (built by the same call)
    else:
        try:
            design = build_design(frame, spec.rhs, intercept=True, context=formula_context())
        except NotEstimable:
            return "mediation_not_estimable"
    return frame, rows, m, y, design


def _g_formula(X, bm: np.ndarray, by: np.ndarray, wn: np.ndarray):
    """``mu(Xa, Xb)``: ``E[Y(a1, M(a2))]`` (a probability) and its gradient over ``(beta_m, beta_y)``
    for the mediator logit ``bm``, the outcome logit ``by`` (mediator last) and normalised
    weights ``wn``; ``Xa`` the rows under ``a1``, ``Xb`` under ``a2`` (:class:`_Replaced`)."""
    km = X.shape[1]
    ea_base, em_base = X @ by[:km], X @ bm   # the linear predictors as observed, shared by the levers

    def mu(Xa: _Replaced, Xb: _Replaced):
        """E[Y(a1, M(a2))] and its gradient over (beta_m, beta_y): Xa the a1 rows, Xb the a2 rows."""
        ea = Xa.dot(by[:km], ea_base)
        q1, q0 = expit(ea + by[km]), expit(ea)
        mm = expit(Xb.dot(bm, em_base))
        val = wn @ (q1 * mm + q0 * (1 - mm))
        g_m = Xb.tdot(wn * (q1 - q0) * mm * (1 - mm))
        t1, t0 = wn * q1 * (1 - q1) * mm, wn * q0 * (1 - q0) * (1 - mm)
        g_y = np.concatenate([Xa.tdot(t1 + t0), [t1.sum()]])
        return val, np.concatenate([g_m, g_y])

    return mu


def _lever_effects(responses, levers, frame, rows, spec, design, X, mu, V: np.ndarray, q: float) -> list[dict]:
    """Rows (dicts: lever, effect, estimate, std_error, conf_low, conf_high) of the total, direct
    and indirect effects and the share mediated of each lever that changes ``frame``'s rows;
    ``mu`` from :func:`_g_formula`, ``V`` the stacked covariance, ``q`` the normal quantile."""
    from types import SimpleNamespace

    from research.strategy.scenarios import lever_changes

    shim = SimpleNamespace(frame=frame, rows=rows, spec=spec)
    base_cols = _Replaced(X, np.array([], dtype=int), np.empty((len(frame), 0)))
    base, g_base = mu(base_cols, base_cols)
    out = []
    for lever in levers:
        try:
            ch = lever_changes(shim, responses, lever)
        except InputError:
            continue
        if lever.kind == "set":
            continue
        Xs = _Replaced(X, *design.rebuild(frame.assign(**{k: v for k, v in ch.items()}), set(ch)))
        cross, g_cross = mu(Xs, base_cols)
        full, g_full = mu(Xs, Xs)
        effects = {"total": (full - base, g_full - g_base), "direct": (cross - base, g_cross - g_base),
                   "indirect": (full - cross, g_full - g_cross)}
        for name, (est, g) in effects.items():
            se = float(np.sqrt(max(g @ V @ g, 0.0)))
            out.append({"lever": lever.name, "effect": name, "estimate": est, "std_error": se,
                        "conf_low": est - q * se, "conf_high": est + q * se})
        out.append(_share_mediated(lever.name, effects, V, q))
    return out


def _share_mediated(name: str, effects: dict, V: np.ndarray, q: float) -> dict:
    """The row of ``indirect / total`` with its delta-method interval; NaN when the total
    effect's interval (normal quantile ``q``) includes 0."""
    te, g_te = effects["total"]
    ie, g_ie = effects["indirect"]
    se_te = float(np.sqrt(max(g_te @ V @ g_te, 0.0)))
    if abs(te) > q * se_te:
        share = ie / te
        g = g_ie / te - ie * g_te / te ** 2
        se = float(np.sqrt(max(g @ V @ g, 0.0)))
        return {"lever": name, "effect": "share_mediated", "estimate": share, "std_error": se,
                "conf_low": share - q * se, "conf_high": share + q * se}
    return {"lever": name, "effect": "share_mediated", "estimate": np.nan, "std_error": np.nan,
            "conf_low": np.nan, "conf_high": np.nan}
