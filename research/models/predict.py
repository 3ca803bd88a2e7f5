"""Average adjusted predictions, marginal effects of handling time and prediction grids.

Every quantity is an average over tickets of a model prediction on a
counterfactual copy of the data ("as if every ticket had sub-cause s", "as if
each ticket had taken twice as long"), with a delta-method standard error
``sqrt(g' V g)``, ``g`` the gradient of the average with respect to the
parameters and ``V`` the model's covariance (cluster-robust where the plan
says so). Tests and intervals use the model's own reference distribution
(:func:`research.models.fit.inference_df`): Student's t with G - 1 df for a CR1
cluster-robust model, the contrast's Bell–McCaffrey df for a CR2 model, the design
df for a survey-weighted model, n - k for classical OLS, else the normal (``df``
NaN) -- the same df as the model's coefficients.

Why by hand: the Python ``marginaleffects`` package does not support this
package's ordinal and mixed estimators (its OrderedModel support is an open
issue, pymarginaleffects 209) and re-evaluates the whole design for every
counterfactual. Here the gradients are analytic and a counterfactual only
rebuilds the design columns that depend on the changed variables (once, on a
one-row template, when those columns are the same for every ticket), so one
average costs one pass over the rows; the counterfactual designs of a whole
prediction set are built in a few stacked formulaic calls
(:func:`_new_columns_many`). The numbers are checked against R (``predict()``
with a numerical Jacobian; tests/fixtures/r/predictions).

Scales
------
``mean_score``: expected overall score (1..5): the linear predictor for
linear and mixed models (random effects at zero), ``sum_k k P(Y = k)`` for
ordinal models.
``p_satisfied``: probability of a top-2-box answer: the logit model's
probability, ``P(Y >= satisfied_threshold)`` for ordinal models.

Weighted models
---------------
A model whose ``extra["weights"]`` holds one weight per model-frame row (the
survey-weighted fits of :mod:`research.models.weighted`) is averaged with
those weights: every "average over tickets" becomes a weighted average, i.e.
an estimate for the work-order population, and ``V`` is the design-based
covariance. The delta method then treats the covariate distribution as known
(as R ``marginaleffects::avg_slopes(..., wts = )`` does); intervals use the
design df of the coefficients (t), not the normal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from research.models.fit import FittedModel, inference_df

SCALES = {"linear": ("mean_score",), "mixed": ("mean_score",), "logit": ("p_satisfied",),
          "ordinal": ("mean_score", "p_satisfied")}


@dataclass
class _Rows:
    """The design rows an average runs over, with cached products."""

    rows: np.ndarray
    X: np.ndarray
    eta: np.ndarray
    colmean: np.ndarray
    constant: set  # model-frame variables that take one value on these rows
    wn: np.ndarray | None = None  # weights of the rows normalised to sum 1; None = equal weights
    partial: dict = field(default_factory=dict)  # column indices -> eta without those columns

    def mean(self, a: np.ndarray):
        """Mean over rows (axis 0), weighted by ``wn`` when the model carries weights."""
        if self.wn is None:
            return a.mean(axis=0)
        return np.tensordot(self.wn, a, axes=(0, 0))

    def cross(self, M: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Mean over rows of the outer products of ``M[i]`` and ``W[i]`` (p x k), weighted like :meth:`mean`."""
        if self.wn is None:
            return M.T @ W / len(M)
        return M.T @ (W * self.wn[:, None])

    def eta_without(self, idx: np.ndarray, beta: np.ndarray) -> np.ndarray:
        key = tuple(idx.tolist())
        if key not in self.partial:
            self.partial[key] = self.eta - self.X[:, idx] @ beta[idx]
        return self.partial[key]

    def grouped(self, idx: np.ndarray, beta: np.ndarray) -> tuple | None:
        """The rows grouped by their linear predictor without the columns ``idx``:
        ``(u, n, S)`` with ``u`` the distinct values, ``n`` each group's share of the rows
        (weighted like :meth:`mean`) and ``S`` (groups x p) each group's weighted sum of design
        rows, so that the mean over rows of ``f(u_i + c) x_i`` is ``S.T @ f(u + c)``. None when the
        rows are few (:data:`GROUP_ROWS`) or barely repeat (more than a quarter distinct).

        A counterfactual that sets the columns ``idx`` to the same values on every row (a grid
        hour, a sub-cause) changes the linear predictor by one constant, so every average and
        gradient is a sum over these groups: the same sums in another order (exact up to
        rounding), over ~10^4 groups instead of 10^6 rows."""
        if len(self.rows) < GROUP_ROWS:
            return None
        key = ("grouped", *idx.tolist())
        if key not in self.partial:
            # X @ beta with the columns idx zeroed, not eta - X[:, idx] @ beta[idx]: rows equal outside
            # idx then give bitwise-equal values (the subtraction's rounding would split groups)
            masked = beta.copy()
            masked[idx] = 0.0
            u, inv = np.unique(self.X @ masked, return_inverse=True)
            if len(u) > len(inv) // 4:
                self.partial[key] = None
            else:
                w = self.wn if self.wn is not None else np.full(len(inv), 1.0 / len(inv))
                S = np.empty((len(u), self.X.shape[1]))
                for j in range(self.X.shape[1]):  # column by column: no n x p temporary
                    S[:, j] = np.bincount(inv, weights=self.X[:, j] * w, minlength=len(u))
                self.partial[key] = (u, np.bincount(inv, weights=w, minlength=len(u)), S)
        return self.partial[key]


#: fewest rows for which :meth:`_Rows.grouped` averages over groups of equal linear predictors
#: (below it, over rows, as before: the committed sample's numbers are unchanged)
GROUP_ROWS = 100_000


def _rows(fm: FittedModel, rows: np.ndarray) -> _Rows:
    X = fm.design.X if len(rows) == len(fm.design.X) else fm.design.X[rows]
    frame = fm.frame.iloc[rows]
    constant = {v for v in frame.columns if hasattr(frame[v], "cat") and frame[v].nunique() == 1}
    wn = None
    if fm.extra.get("weights") is not None:  # survey-weighted model: population averages
        w = np.asarray(fm.extra["weights"], dtype=float)[rows]
        wn = w / w.sum()
    colmean = X.mean(axis=0) if wn is None else wn @ X
    return _Rows(rows=rows, X=X, eta=X @ fm.beta, colmean=colmean, constant=constant, wn=wn)


#: largest number of rows :func:`_new_columns_many` hands formulaic in one call when it stacks the
#: counterfactual frames of whole row sets (bounds the memory of a big export; one row set is never split)
_STACK_ROWS = 1_000_000


def _changed_frame(fm: FittedModel, rows: np.ndarray, changes: dict) -> pd.DataFrame:
    frame = fm.frame.iloc[rows]
    new = {}
    for var, value in changes.items():
        col = frame[var]
        if hasattr(col, "cat"):
            cats = col.cat.categories
            codes = np.full(len(frame), cats.get_loc(value), dtype=np.int32)
            new[var] = pd.Categorical.from_codes(codes, categories=cats)
        else:
            new[var] = np.broadcast_to(np.asarray(value, dtype=float), (len(frame),)).copy()
    return frame.assign(**new)


def _stacked_frame(fm: FittedModel, parts: list[tuple[np.ndarray, dict]],
                   variables: list[str]) -> pd.DataFrame:
    """The model-frame rows of every part, one part after the other, with each part's changes to
    ``variables`` applied (what :func:`_changed_frame` gives for each part, concatenated; the index
    is a fresh range, as a row can appear in several parts)."""
    frame = fm.frame.iloc[np.concatenate([rows for rows, _ in parts])].reset_index(drop=True)
    new = {}
    for var in variables:
        col = fm.frame[var]
        if hasattr(col, "cat"):
            cats = col.cat.categories
            codes = np.concatenate([np.full(len(rows), cats.get_loc(ch[var]), dtype=np.int32)
                                    for rows, ch in parts])
            new[var] = pd.Categorical.from_codes(codes, categories=cats)
        else:
            new[var] = np.concatenate([np.broadcast_to(np.asarray(ch[var], dtype=float), (len(rows),))
                                       for rows, ch in parts])
    return frame.assign(**new)


def _split_terms(fm: FittedModel, base: _Rows, changes: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The terms that ``changes`` affect, as (same on every row, varying by row); see :func:`_new_columns`."""
    design = fm.design
    terms = design.columns_using(set(changes))
    fixed = {v for v, value in changes.items() if np.ndim(value) == 0} | (base.constant - set(changes))
    same = tuple(t for t in terms if design.variables_of_term[t] <= fixed)
    varying = tuple(t for t in terms if t not in same)
    return same, varying


def _new_columns(fm: FittedModel, base: _Rows, changes: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The design columns that ``changes`` affect, rebuilt.

    Terms whose variables are all changed to scalars or constant on the rows
    take the same value on every row: they are built once on a one-row
    template. Only the other affected terms are rebuilt on all rows.

    Returns
    -------
    idx_same, row_same : column indices and their common (k,) values;
    idx_vary, mat_vary : column indices and their (len(rows), k) values.
    """
    return _new_columns_many(fm, [(base, changes)])[0]


def _new_columns_many(fm: FittedModel, requests: list[tuple[_Rows, dict]]) -> list[tuple]:
    """:func:`_new_columns` of every (rows, changes) request, in a few formulaic calls.

    formulaic's fixed cost per call (parsing the spec, encoding the factors) is
    far larger than the cost per row of a counterfactual frame, and a
    prediction set asks for many frames (every sub-cause, every grid point of
    every cause group). The requests that rebuild the same terms are therefore
    stacked into one frame -- a one-row template per request for the terms
    that are the same on every row, the request's rows for the others -- built
    in one call and split. Every design row depends on its own frame row only
    (factor codings, elementwise transforms; the spec's state is fixed), so
    the columns are the same numbers as one call per request gives. A request
    whose varying columns another request of the same rows already asked for
    (same values of the variables those terms use; for example every sub-cause
    of one cause group under ``cause_l1:log2(1 + handling_hours)``) reuses
    them. Varying frames are stacked up to :data:`_STACK_ROWS` rows a call.
    """
    design = fm.design
    none = np.array([], dtype=int)
    out = []
    jobs: dict[tuple, list] = {}  # (kind, terms, changed variables) -> [(rows, changes, request, base)]
    for i, (base, changes) in enumerate(requests):
        same, varying = _split_terms(fm, base, changes)
        out.append([none, np.empty(0), none, np.empty((len(base.rows), 0))])
        for kind, terms, rows in (("same", same, base.rows[:1]), ("vary", varying, base.rows)):
            if not terms:
                continue
            used = set().union(*(design.variables_of_term[t] for t in terms))
            variables = tuple(sorted(v for v in changes if v in used))
            job = (rows, {v: changes[v] for v in variables}, i, base)
            jobs.setdefault((kind, terms, variables), []).append(job)
    for (kind, terms, variables), items in jobs.items():
        # .astype(np.intp): a term of a single-level factor has no columns, and concatenating
        # only empty lists gives float64, which cannot index
        idx = np.concatenate([design.columns_of_term[t] for t in terms]).astype(np.intp)
        subset = design.spec.subset(list(terms))
        # a request whose changes to these terms' variables are scalars equal to an earlier
        # request's on the same rows gets the same columns: build them once
        unique: dict[tuple, int] = {}
        parts, owner = [], []
        for rows, ch, i, base in items:
            key = None
            if kind == "vary" and all(np.ndim(ch[v]) == 0 for v in variables):
                key = (id(base), tuple((v, ch[v]) for v in variables))
            if key is not None and key in unique:
                owner.append(unique[key])
                continue
            if key is not None:
                unique[key] = len(parts)
            owner.append(len(parts))
            parts.append((rows, ch))
        blocks: list[np.ndarray] = []
        start = 0
        while start < len(parts):
            stop, size = start + 1, len(parts[start][0])
            while stop < len(parts) and size + len(parts[stop][0]) <= _STACK_ROWS:
                size += len(parts[stop][0])
                stop += 1
            chunk = parts[start:stop]
            mat = np.asarray(subset.get_model_matrix(_stacked_frame(fm, chunk, list(variables)),
                                                     context=design.context), dtype=float)
            bounds = np.cumsum([0] + [len(rows) for rows, _ in chunk])
            # each block a copy in the memory order of the whole, as one call per request gives it:
            # a product over a strided view can sum in another order (another BLAS kernel)
            order = "F" if mat.flags.f_contiguous and not mat.flags.c_contiguous else "C"
            blocks += [np.array(mat[a:b], order=order) for a, b in zip(bounds[:-1], bounds[1:])]
            start = stop
        for (rows, ch, i, base), j in zip(items, owner):
            if kind == "same":
                out[i][0], out[i][1] = idx, np.array(blocks[j][0])
            else:
                out[i][2], out[i][3] = idx, blocks[j]
    return [tuple(o) for o in out]


def _evaluate(fm: FittedModel, base: _Rows, changes: dict, threshold: int,
              columns: tuple | None = None) -> dict[str, tuple[float, np.ndarray]]:
    """Average prediction on every scale of the model under ``changes``, with gradients.

    ``columns``: the design columns the changes rebuild, as :func:`_new_columns`
    returns them, when the caller already has them (they depend on the data and
    the changes, not on the parameters: a bootstrap loop builds them once).

    Returns scale -> (estimate, gradient over ``fm.params``).
    """
    beta = fm.beta
    idx_s, row_s, idx_v, mat_v = columns if columns is not None else _new_columns(fm, base, changes)
    idx = np.concatenate([idx_s, idx_v])
    family = fm.spec.family
    n_par = len(fm.params)
    groups = base.grouped(idx, beta) if len(idx) and not len(idx_v) else None
    if groups is not None:  # a constant change: sums over groups of equal linear predictors
        u, share, S = groups
        eta = u + row_s @ beta[idx_s]

        def mean(a: np.ndarray):
            return share @ a

        def beta_gradients(W: np.ndarray | None) -> np.ndarray:
            """(p, k): column c = mean over rows of W[:, c] * x_i (see the row version below)."""
            if W is None:
                g = base.colmean.copy()[:, None]
                g[idx_s, 0] = row_s
                return g
            g = S.T @ W
            g[idx_s] = row_s[:, None] * (share @ W)[None, :]
            return g
    else:
        eta = base.eta
        if len(idx):
            eta = base.eta_without(idx, beta) + row_s @ beta[idx_s]
            if len(idx_v):
                eta = eta + mat_v @ beta[idx_v]
        mean = base.mean

        def beta_gradients(W: np.ndarray | None) -> np.ndarray:
            """(p, k): column c = mean over rows of W[:, c] * x_i, x_i the counterfactual row;
            W None means a single column of ones."""
            if W is None:
                g = base.colmean.copy()[:, None]
                g[idx_s, 0] = row_s
                if len(idx_v):
                    g[idx_v, 0] = base.mean(mat_v)
                return g
            g = base.cross(base.X, W)
            g[idx_s] = row_s[:, None] * base.mean(W)[None, :]
            if len(idx_v):
                g[idx_v] = base.cross(mat_v, W)
            return g

    out = {}
    if family in ("linear", "mixed"):
        grad = np.zeros(n_par)
        grad[: fm.n_beta] = beta_gradients(None)[:, 0]
        out["mean_score"] = (float(mean(eta)), grad)
    elif family == "logit":
        p = expit(eta)
        grad = np.zeros(n_par)
        grad[: fm.n_beta] = beta_gradients((p * (1 - p))[:, None])[:, 0]
        out["p_satisfied"] = (float(mean(p)), grad)
    else:
        theta = fm.cutpoints
        t = threshold - 2  # P(Y >= threshold) = 1 - P(Y <= threshold - 1): cutpoint index (0-based)
        m = len(eta)
        sum_F, sum_f = np.zeros(m), np.zeros(m)
        f_means = np.empty(len(theta))
        for j, th in enumerate(theta):  # column by column: no (n, K-1) temporaries
            F = expit(th - eta)  # P(Y <= j + 1)
            f = F * (1 - F)
            sum_F += F
            sum_f += f
            f_means[j] = mean(f)
            if j == t:
                F_t, f_t = F, f
        G = beta_gradients(np.column_stack([sum_f, f_t]))
        levels = len(theta) + 1  # scores 1..K: E[Y] = K - sum_j P(Y <= j)
        grad = np.zeros(n_par)
        grad[: fm.n_beta] = G[:, 0]
        grad[fm.n_beta:] = -f_means
        out["mean_score"] = (float(levels - mean(sum_F)), grad)
        grad = np.zeros(n_par)
        grad[: fm.n_beta] = G[:, 1]
        grad[fm.n_beta + t] = -f_means[t]
        out["p_satisfied"] = (float(1 - mean(F_t)), grad)
    return out


def _reference(fm: FittedModel, grad: np.ndarray) -> tuple[float, object]:
    """(df, distribution) of a delta-method quantity with gradient ``grad``: the model's own t
    reference (:func:`research.models.fit.inference_df`, df NaN for the normal)."""
    df = inference_df(fm, grad)
    return (np.nan, stats.norm) if df is None else (df, _t_distribution(df))


@lru_cache(maxsize=1024)
def _t_distribution(df: float):
    """Student's t with ``df`` degrees of freedom, frozen once per df: freezing a scipy
    distribution costs about 2 ms, and a prediction set asks for the same df hundreds of times."""
    return stats.t(df)


def _row(fm, quantity, scale, est, grad, conf_level, **labels) -> dict:
    se = float(np.sqrt(max(grad @ fm.vcov @ grad, 0.0)))
    df, dist = _reference(fm, grad)
    q = dist.ppf(0.5 + conf_level / 2)
    return {"model": fm.spec.name, "quantity": quantity, "scale": scale, **labels, "estimate": est,
            "std_error": se, "conf_low": est - q * se, "conf_high": est + q * se, "conf_level": conf_level,
            "df": df}


def _group_rows(fm: FittedModel, parent: dict[str, str]) -> dict[str, np.ndarray]:
    """Model-frame rows of each cause group (from cause_l1, else from the sub-cause's parent)."""
    frame = fm.frame
    col = frame["cause_l1"] if "cause_l1" in frame.columns else frame["cause_l2"]
    # through the categories (a handful) and the integer codes: converting a million Arrow
    # strings to Python objects per call cost ~0.9 s per model at 1M rows
    cat = pd.Categorical(col)
    names = np.asarray(cat.categories.astype(str), dtype=object)
    if "cause_l1" not in frame.columns:
        names = np.array([parent.get(n) for n in names], dtype=object)
    groups = names[cat.codes] if len(names) else np.array([], dtype=object)
    groups = np.where(cat.codes < 0, None, groups)
    return {g: np.flatnonzero(groups == g) for g in dict.fromkeys(parent.values()) if (groups == g).any()}


def _subcause_counts(fm: FittedModel) -> pd.Series:
    """Tickets per sub-cause in the model frame (sum of weights for a weighted model)."""
    sub = fm.frame["cause_l2"]
    if fm.extra.get("weights") is None:
        return sub.value_counts()
    w = pd.Series(np.asarray(fm.extra["weights"], dtype=float), index=fm.frame.index)
    return w.groupby(sub, observed=True).sum()


#: ``fm.extra`` key of the per-sub-cause averages :func:`predictions` computed (estimates and
#: gradients, by threshold and changes): :func:`research.models.ranks.subcause_ranks` reuses them
_AAP_CACHE = "_aap_subcause"


def _aap_key(threshold: int, changes: list[dict]) -> tuple:
    return (threshold, tuple(tuple(sorted(ch.items())) for ch in changes))


def predictions(fm: FittedModel, *, parent: dict[str, str], grid_hours: np.ndarray,
                threshold: int, conf_level: float = 0.95) -> pd.DataFrame:
    """Average adjusted predictions per sub-cause and cause group, and the handling-time grid.

    Parameters
    ----------
    fm : a fitted model whose frame has cause_l2 (and cause_l1 where used) and handling_hours.
    parent : sub-cause code -> cause group code (the taxonomy).
    grid_hours : handling times (hours) of the grid.
    threshold : top-2-box threshold code (satisfied = answer >= threshold).

    Returns
    -------
    Tidy frame: ``model, quantity, scale, cause_l1, cause_l2, hours, estimate,
    std_error, conf_low, conf_high, conf_level, df, n``, where quantity is

    - ``aap_subcause``: every ticket given sub-cause s (and its cause group), averaged;
    - ``aap_cause``: mean of the group's aap_subcause weighted by each sub-cause's
      share of the group's tickets (delta method on the same combination);
    - ``grid``: the tickets of cause group g, each given handling time h, averaged.
    """
    frame = fm.frame
    scales = SCALES[fm.spec.family]
    everyone = _rows(fm, np.arange(len(frame)))
    has_l1 = "cause_l1" in frame.columns
    subs = list(frame["cause_l2"].cat.categories) if "cause_l2" in frame.columns else []
    sub_changes = [{"cause_l2": s, **({"cause_l1": parent[s]} if has_l1 else {})} for s in subs]
    groups = {g: _rows(fm, rows) for g, rows in _group_rows(fm, parent).items()}
    grid = [(g, float(h)) for g in groups for h in grid_hours]
    # every counterfactual design of the set in a few formulaic calls
    columns = _new_columns_many(fm, [(everyone, ch) for ch in sub_changes]
                                + [(groups[g], {"handling_hours": h}) for g, h in grid])
    per_sub = {s: _evaluate(fm, everyone, ch, threshold, columns=cols)
               for s, ch, cols in zip(subs, sub_changes, columns)}
    # kept for research.models.ranks.subcause_ranks, which asks for the same averages
    fm.extra.setdefault(_AAP_CACHE, {})[_aap_key(threshold, sub_changes)] = per_sub
    out = []
    counts = _subcause_counts(fm) if subs else pd.Series(dtype=float)
    for scale in scales:
        for s in subs:
            est, grad = per_sub[s][scale]
            out.append(_row(fm, "aap_subcause", scale, est, grad, conf_level, cause_l1=parent[s],
                            cause_l2=s, hours=np.nan, n=len(frame)))
        for g in dict.fromkeys(parent[s] for s in subs):
            members = [s for s in subs if parent[s] == g]
            wts = np.array([counts.get(s, 0) for s in members], dtype=float)
            if wts.sum() == 0:
                continue
            wts /= wts.sum()
            est = float(sum(w * per_sub[s][scale][0] for w, s in zip(wts, members)))
            grad = sum(w * per_sub[s][scale][1] for w, s in zip(wts, members))
            out.append(_row(fm, "aap_cause", scale, est, grad, conf_level, cause_l1=g, cause_l2=None,
                            hours=np.nan, n=len(frame)))
    for (g, h), cols in zip(grid, columns[len(subs):]):
        base = groups[g]
        res = _evaluate(fm, base, {"handling_hours": h}, threshold, columns=cols)
        for scale in scales:
            est, grad = res[scale]
            out.append(_row(fm, "grid", scale, est, grad, conf_level, cause_l1=g, cause_l2=None,
                            hours=h, n=len(base.rows)))
    return pd.DataFrame(out)


def marginal_effects(fm: FittedModel, *, parent: dict[str, str], multiplier: float,
                     threshold: int, conf_level: float = 0.95) -> pd.DataFrame:
    """Average marginal effect of multiplying the handling time, per cause group.

    For the tickets of cause group g: mean prediction with ``handling_hours *
    multiplier`` minus mean prediction at the observed handling time.

    Returns
    -------
    ``model, term, scale, cause_l1, estimate, std_error, statistic, p_value,
    conf_low, conf_high, conf_level, n, df`` (estimate in score points for
    ``mean_score``, in probability for ``p_satisfied``).
    """
    hours = fm.frame["handling_hours"].to_numpy()
    out = []
    groups = {g: _rows(fm, rows) for g, rows in _group_rows(fm, parent).items()}
    changes = {g: {"handling_hours": hours[base.rows] * multiplier} for g, base in groups.items()}
    columns = dict(zip(groups, _new_columns_many(fm, [(groups[g], changes[g]) for g in groups])))
    for g, base in groups.items():
        rows = base.rows
        now = _evaluate(fm, base, {}, threshold)
        moved = _evaluate(fm, base, changes[g], threshold, columns=columns[g])
        for scale in SCALES[fm.spec.family]:
            est = moved[scale][0] - now[scale][0]
            grad = moved[scale][1] - now[scale][1]
            se = float(np.sqrt(max(grad @ fm.vcov @ grad, 0.0)))
            z = est / se if se > 0 else np.nan
            df, dist = _reference(fm, grad)
            q = dist.ppf(0.5 + conf_level / 2)
            out.append({"model": fm.spec.name, "term": f"handling_hours x{multiplier:g}", "scale": scale,
                        "cause_l1": g, "estimate": est, "std_error": se, "statistic": z,
                        "p_value": float(2 * dist.sf(abs(z))), "conf_low": est - q * se,
                        "conf_high": est + q * se, "conf_level": conf_level, "n": len(rows), "df": df})
    return pd.DataFrame(out)
