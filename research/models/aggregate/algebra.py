"""Sums over groups times the cell design (:mod:`research.models.aggregate.cells`) -> the
cross-products, scores and per-cluster totals of a fit.

With ``x_i = C[g] G(h_i)`` (``C[g]`` p x M, ``G`` the numeric basis with ``G_0 = 1``):

- ``sum_i w_i x_i x_i' = sum_g C[g] S[g] C[g]'`` with ``S[g] = sum_{i in g} w_i G G'`` (:func:`cross`);
- ``sum_i r_i x_i = sum_g C[g] s[g]`` with ``s[g] = sum_{i in g} r_i G`` (:func:`vec`), and the
  same per cluster when the cluster is one of the group's keys (:func:`per_cluster`);
- a coefficient vector ``b`` gives each group's coefficients on the basis ``a[g] = C[g]' b``
  (:func:`basis_coefficients`), so a row's linear predictor is ``a[g] . G(h_i)`` (:func:`eta`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.engines.expr import Expr, col, num


def basis_column(m: int) -> Expr:
    """The m-th basis function of a row: 1, then the prepared value columns ``g1, g2, ...``."""
    return num(1.0) if m == 0 else col(f"g{m}")


def eta(M: int) -> Expr:
    """``sum_m a_m G_m``, reading the group's coefficients ``a0..`` from the parameter table."""
    out = col("a0")
    for m in range(1, M):
        out = out + col(f"a{m}") * basis_column(m)
    return out


def _times(w: Expr, *ms: int) -> Expr:
    """``w`` times the basis functions ``ms`` (the constant G_0 left out)."""
    for m in ms:
        if m:
            w = w * basis_column(m)
    return w


def moment_measures(prefix: str, weight: Expr | None, M: int, *, second: bool = True) -> dict[str, Expr]:
    """Measures of ``sum w G_m`` (``<prefix>_m``) and, with ``second``, ``sum w G_m G_l``
    (``<prefix>_m_l``, m <= l); ``weight`` None means 1."""
    w = num(1.0) if weight is None else weight
    out = {f"{prefix}_{m}": _times(w, m) for m in range(M)}
    if second:
        out.update({f"{prefix}_{m}_{l}": _times(w, m, l) for m in range(M) for l in range(m, M)})
    return out


def first(sums: pd.DataFrame, prefix: str, M: int) -> np.ndarray:
    """(G, M) from the ``<prefix>_m`` columns."""
    return np.column_stack([sums[f"{prefix}_{m}"].to_numpy() for m in range(M)])


def second(sums: pd.DataFrame, prefix: str, M: int) -> np.ndarray:
    """(G, M, M) symmetric from the ``<prefix>_m_l`` columns."""
    out = np.empty((len(sums), M, M))
    for m in range(M):
        for l in range(m, M):
            out[:, m, l] = out[:, l, m] = sums[f"{prefix}_{m}_{l}"].to_numpy()
    return out


def cross(C: np.ndarray, S: np.ndarray) -> np.ndarray:
    """``sum_g C[g] S[g] C[g]'`` (p, p) for C (G, p, M), S (G, M, M).

    Through sparse products: a group's design row has a handful of non-zero entries (its
    dummies, flags and numbers) out of p, so ``C[:, :, m]' diag(S[:, m, l]) C[:, :, l]`` costs
    G times those few squared instead of G p^2 (the lever model, 15,000 groups x 85 columns:
    0.4 s dense, a few milliseconds sparse)."""
    from scipy import sparse

    p, M = C.shape[1], C.shape[2]
    parts = [sparse.csr_matrix(C[:, :, m]) for m in range(M)]
    out = np.zeros((p, p))
    for m in range(M):
        for l in range(m, M):
            block = (parts[m].T @ sparse.diags(S[:, m, l]) @ parts[l]).toarray()
            out += block if m == l else block + block.T
    return (out + out.T) / 2


def vec(C: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``sum_g C[g] s[g]`` (p,) for s (G, M)."""
    return np.einsum("gjm,gm->j", C, s)


def per_cluster(C: np.ndarray, s: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """``sum_{g in cluster c} C[g] s[g]`` (n_clusters, p)."""
    rows = np.einsum("gjm,gm->gj", C, s)
    out = np.zeros((n_clusters, C.shape[1]))
    np.add.at(out, codes, rows)
    return out


def basis_coefficients(C: np.ndarray, b: np.ndarray, gid: np.ndarray, **more) -> pd.DataFrame:
    """The parameter table of :meth:`Engine.sums`: ``gid``, ``a0..`` = ``C[g]' b`` and any
    further per-group columns given as arrays."""
    a = np.einsum("gjm,j->gm", C, b)
    table = {"gid": gid, **{f"a{m}": a[:, m] for m in range(C.shape[2])}}
    table.update({k: np.asarray(v, dtype=float) for k, v in more.items()})
    return pd.DataFrame(table)
