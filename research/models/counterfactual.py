"""Counterfactual designs and averages over rows: the machinery of :mod:`research.models.predict`.

A prediction "as if every ticket had sub-cause s" needs the design columns that the change
rebuilds (:func:`_new_columns`, many at once: :func:`_new_columns_many`) and averages over the
tickets of the counterfactual linear predictor and of the gradient terms (:class:`_Rows`,
:func:`_averages`). Why by hand and why stacked: see :mod:`research.models.predict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from research.models.fitted import FittedModel


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


#: ``(eta, mean, beta_gradients)``: the counterfactual linear predictor of the rows (or of groups of
#: equal rows), the (weighted) mean over them, and the gradient terms (research.models.scales)
Averages = tuple[np.ndarray, Callable, Callable]


def _averages(base: _Rows, beta: np.ndarray, columns: tuple) -> Averages:
    """The counterfactual linear predictor of ``base``'s rows with the design columns ``columns``
    (as :func:`_new_columns` returns them) in place of theirs, and how to average over the rows.

    A change that sets columns to the same values on every row is averaged over groups of rows
    with equal linear predictors when the rows are many (:meth:`_Rows.grouped`), else over rows.
    """
    idx_s, row_s, idx_v, mat_v = columns
    idx = np.concatenate([idx_s, idx_v])
    groups = base.grouped(idx, beta) if len(idx) and not len(idx_v) else None
    if groups is not None:  # a constant change: sums over groups of equal linear predictors
        return _group_averages(base, beta, groups, idx_s, row_s)
    return _row_averages(base, beta, idx, idx_s, row_s, idx_v, mat_v)


def _group_averages(base: _Rows, beta: np.ndarray, groups: tuple, idx_s: np.ndarray,
                    row_s: np.ndarray) -> Averages:
    """:func:`_averages` over the groups ``(u, share, S)`` of :meth:`_Rows.grouped`."""
    u, share, S = groups
    eta = u + row_s @ beta[idx_s]

    def mean(a: np.ndarray):
        return share @ a

    def beta_gradients(W: np.ndarray | None) -> np.ndarray:
        """(p, k): column c = mean over rows of W[:, c] * x_i (see :func:`_row_averages`)."""
        if W is None:
            g = base.colmean.copy()[:, None]
            g[idx_s, 0] = row_s
            return g
        g = S.T @ W
        g[idx_s] = row_s[:, None] * (share @ W)[None, :]
        return g

    return eta, mean, beta_gradients


def _row_averages(base: _Rows, beta: np.ndarray, idx: np.ndarray, idx_s: np.ndarray, row_s: np.ndarray,
                  idx_v: np.ndarray, mat_v: np.ndarray) -> Averages:
    """:func:`_averages` over the rows themselves."""
    eta = base.eta
    if len(idx):
        eta = base.eta_without(idx, beta) + row_s @ beta[idx_s]
        if len(idx_v):
            eta = eta + mat_v @ beta[idx_v]

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

    return eta, base.mean, beta_gradients
