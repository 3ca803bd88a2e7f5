"""The Brant test of an ordinal model fitted from sums (issue 15): :func:`research.stats.brant.brant_test`
through the engine that fitted the model, with no row in memory.

Brant's test needs, for each split ``j`` of the K levels, the binary logit ``1{Y > j}`` on
``Z = [1, X]``, and the joint covariance of their slopes::

    Var(b_j)      = (Z'W_j Z)^-1,                        W_j  = diag(pi_j (1 - pi_j))
    Cov(b_j, b_l) = (Z'W_j Z)^-1 (Z'W_jl Z) (Z'W_l Z)^-1,  W_jl = diag(pi_l - pi_j pi_l), j < l

Every matrix there is a weighted cross-product ``sum_i w_i z_i z_i'`` and every Newton step of the
binary logits needs ``sum_i (z_ij - pi_ij) z_i`` and ``sum_i pi_ij (1 - pi_ij) z_i z_i'``. With a design
row ``z_i = C_Z[g] G(h_i)`` (:mod:`research.models.aggregate.cells`; ``C_Z`` the model's cell design
with the intercept put back in front) those are ``sum_g C_Z[g] S[g] C_Z[g]'`` of per-group sums
``S[g]`` of the row weight times ``G G'`` (:mod:`research.models.aggregate.algebra`), which the
engine computes. The outcome is constant within a group (it is one of the group's keys), so
``1{Y > j}`` is a per-group number.

The K-1 binary logits run the row-level iteration (:func:`research.stats.brant._logit_fit`: the
start at the logit of the mean, Newton steps solved as there, step halving on the log-likelihood,
stop after a relative step below 1e-12) side by side: one engine pass per step evaluates the
log-likelihood, score and information of every split still iterating (:func:`_binary_logits`).
The separation rule is the row path's (:data:`research.stats.brant._SEPARATED`): a split is
improper when some row's fitted probability is within 1e-10 of 0 or 1, counted by the engine
(:func:`_outside`). One more pass gives the cross-products of ``W_jl``; the Wald tests and the
table are the row path's own functions. tests/models/test_aggregate_rows.py checks the table
against :func:`research.stats.brant.brant_test` on the rows to 1e-9 relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.engines.expr import Expr, col, fn, num
from research.models.aggregate.algebra import basis_column, cross, first, moment_measures, second, vec
from research.stats.brant import _SEPARATED, _not_computable, _wald_table
from research.stats.ordinal import _inv_neg, _solve_neg

#: as research.stats.brant._logit_fit
TOL, MAX_ITER, HALVINGS = 1e-12, 100, 40

def _outside(p: Expr) -> Expr:
    """1 for a row whose fitted probability ``p`` is below 1e-10 or above 1 - 1e-10, else 0 (the
    row path's separation rule, ``research.stats.brant._SEPARATED``), by the engines' comparisons."""
    return fn("lt", p, _SEPARATED) + fn("gt", p, 1.0 - _SEPARATED)


def _eta(j: int, M: int) -> Expr:
    """Split ``j``'s linear predictor: ``sum_m a<j>_<m> G_m`` (its coefficients per group)."""
    out = col(f"a{j}_0")
    for m in range(1, M):
        out = out + col(f"a{j}_{m}") * basis_column(m)
    return out


def _pass(cells, CZ: np.ndarray, z: np.ndarray, betas: dict[int, np.ndarray]) -> dict[int, dict]:
    """One engine pass: for each split ``j`` of ``betas`` at its coefficients, the log-likelihood,
    score, information and the count of rows outside (1e-10, 1 - 1e-10)."""
    M = cells.M
    measures, params = {}, {"gid": cells.gid}
    for j, b in betas.items():
        e = _eta(j, M)
        p = fn("expit", e)
        zj = col(f"z{j}")
        measures[f"ll{j}"] = zj * e + fn("log_expit", -e)
        measures[f"out{j}"] = _outside(p)
        measures.update(moment_measures(f"r{j}", zj - p, M, second=False))
        measures.update(moment_measures(f"w{j}", p * (1 - p), M))
        a = np.einsum("gjm,j->gm", CZ, b)
        params.update({f"a{j}_{m}": a[:, m] for m in range(M)})
        params[f"z{j}"] = z[j]
    s = cells.sums(measures, pd.DataFrame(params))
    return {j: {"ll": float(s[f"ll{j}"].sum()), "g": vec(CZ, first(s, f"r{j}", M)),
                "info": cross(CZ, second(s, f"w{j}", M)), "outside": float(s[f"out{j}"].sum())}
            for j in betas}


def _newton(b: np.ndarray):
    """:func:`research.stats.brant._logit_fit`'s iteration as a generator: it yields each
    coefficient vector to evaluate and receives its :func:`_pass` entry; returns the final
    coefficients, their entry and whether it converged."""
    cur = yield b
    converged = False
    for _ in range(MAX_ITER):
        step = _solve_neg(-cur["info"], cur["g"])
        if not np.isfinite(step).all():
            break
        if np.max(np.abs(step) / (1 + np.abs(b))) < TOL:
            converged = True
            break
        factor = 1.0
        for _ in range(HALVINGS):
            b_new = b + factor * step
            new = yield b_new
            if new["ll"] >= cur["ll"] - 1e-13 * max(1.0, abs(cur["ll"])):
                break
            factor /= 2
        b, cur = b_new, new
    return b, cur, converged


def _binary_logits(cells, CZ: np.ndarray, y: np.ndarray, J: int) -> tuple[dict, list[int]]:
    """Every split's fit ``{j: (coefficients, information)}`` and the improper splits (as
    :func:`research.stats.brant._binary_logits`), the iterations side by side."""
    n_g, n = cells.n_g, cells.n
    z = {j: (y > j).astype(float) for j in range(J)}
    fits, separated, running, pending = {}, [], {}, {}
    for j in range(J):
        mean = float(n_g @ z[j]) / n
        if not 0.0 < mean < 1.0:  # every row on one side of the split: nothing to fit
            separated.append(j)
            continue
        b = np.zeros(CZ.shape[1])
        b[0] = np.log(mean) - np.log1p(-mean)
        running[j] = _newton(b)
        pending[j] = next(running[j])
    while pending:
        results = _pass(cells, CZ, z, pending)
        pending = {}
        for j, res in results.items():
            try:
                pending[j] = running[j].send(res)
            except StopIteration as stop:
                b, cur, converged = stop.value
                fits[j] = (b, cur["info"])
                if not (converged and cur["outside"] == 0):
                    separated.append(j)
    return fits, sorted(separated)


def _slope_covariance(cells, CZ: np.ndarray, fits: dict, J: int, p: int) -> np.ndarray:
    """Brant's joint covariance (J p x J p), the ``Z'W_jl Z`` of every pair from one pass."""
    M = cells.M
    A = {j: _inv_neg(-info) for j, (_, info) in fits.items()}
    measures, params = {}, {"gid": cells.gid}
    for j, (b, _) in fits.items():
        a = np.einsum("gjm,j->gm", CZ, b)
        params.update({f"a{j}_{m}": a[:, m] for m in range(M)})
    pis = {j: fn("expit", _eta(j, M)) for j in fits}
    pairs = [(j, l) for j in range(J) for l in range(j + 1, J)]
    for j, l in pairs:  # pi_l - pi_j pi_l = pi_l (1 - pi_j) >= 0, clipped as the row path does
        measures.update(moment_measures(f"v{j}_{l}", fn("greatest", pis[l] - pis[j] * pis[l], num(0.0)), M))
    s = cells.sums(measures, pd.DataFrame(params)) if pairs else None
    V = np.zeros((J * p, J * p))
    for j in range(J):
        V[j * p:(j + 1) * p, j * p:(j + 1) * p] = A[j][1:, 1:]
    for j, l in pairs:
        Cjl = (A[j] @ cross(CZ, second(s, f"v{j}_{l}", M)) @ A[l])[1:, 1:]
        V[j * p:(j + 1) * p, l * p:(l + 1) * p] = Cjl
        V[l * p:(l + 1) * p, j * p:(j + 1) * p] = Cjl.T
    return V


def brant_from_sums(fm) -> pd.DataFrame:
    """:func:`research.stats.brant.brant_test` (same rows, columns and ``attrs["note"]``) of an
    ordinal model of :func:`research.models.aggregate.fit_model_on`: ``K + 1`` engine passes or
    so (one per Newton step of the slowest split, one for the covariance)."""
    cells = fm.extra["cells"]
    names = list(fm.design.names)
    K = len(fm.cutpoints) + 1
    if K < 3:
        raise ValueError("the Brant test needs at least 3 outcome levels")
    J, p = K - 1, cells.C.shape[1]
    G, _, M = cells.C.shape
    CZ = np.zeros((G, p + 1, M))
    CZ[:, 0, 0] = 1.0
    CZ[:, 1:, :] = cells.C
    fits, separated = _binary_logits(cells, CZ, np.asarray(fm.y).astype(np.intp), J)
    if separated:
        return _not_computable(names, p, J, separated)
    V = _slope_covariance(cells, CZ, fits, J, p)
    return _wald_table(np.concatenate([fits[j][0][1:] for j in range(J)]), V, names, J, p)


def brant_step(fm) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """The ``brant`` table and notes of the row path's family step (:func:`research.models.families._brant`)
    from sums."""
    from research.models.families import brant_table

    return brant_table(fm.spec.name, brant_from_sums(fm))
