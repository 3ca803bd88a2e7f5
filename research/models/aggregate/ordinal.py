"""The proportional-odds logit from an engine's sums, by :func:`research.stats.ordinal.fit_ordinal`'s
iteration (``ordinal::clm``'s Newton with step halving), one engine pass per evaluation.

The groups include the answer level ``y`` (0..K-1), so each group's cutpoints are constants of
its parameter table: ``hi = theta_y`` and ``lo = theta_{y-1}``, with +-1e300 standing for the
infinite outer bounds (every term they enter is then exactly 0 or 1, as with infinities, and no
engine meets an infinity). Per row ``a = hi - eta``, ``b = lo - eta`` and the pieces of
:func:`research.stats.ordinal._grad_hess` (``g_a``, ``g_b``, ``h_a``, ``h_b``) are expressions;
their group sums, times the cell design, give the gradient and the Hessian exactly.
"""

from __future__ import annotations

import numpy as np

from research.engines.expr import col, fn
from research.errors import NotEstimable
from research.models.aggregate.algebra import (basis_coefficients, cross, eta, first, moment_measures,
                                               per_cluster, second, vec)
from research.models.aggregate.families import Cells, _cr1

#: stands for an infinite cutpoint (the bounds of the first and last answer level)
FAR = 1e300


def ordinal_params(cells: Cells, beta: np.ndarray, theta: np.ndarray):
    """The parameter table of a pass: the groups' basis coefficients and their cutpoint bounds."""
    from research.stats.ordinal import _log_gap

    y = cells.y.astype(int)
    hi = np.append(theta, FAR)[y]
    lo = np.insert(theta, 0, -FAR)[y]
    return basis_coefficients(cells.C, beta, cells.gid, hi=hi, lo=lo, lq=_log_gap(theta)[y])


def score_pieces(M: int):
    """Per row at the parameter table's coefficients and cutpoints: ``(ga, gb, d)``, the derivatives
    of the row's log-likelihood in ``theta_y`` (``ga``), ``-theta_{y-1}`` (``gb``) and ``-eta``
    (``d = ga - gb``), and the expressions the Hessian needs (``la, lb, lmb, lq``)."""
    e = eta(M)
    a, b, lq = col("hi") - e, col("lo") - e, col("lq")
    la, lmb = fn("log_expit", a), fn("log_expit", -b)
    lma, lb = fn("log_expit", -a), fn("log_expit", b)
    ga, gb = fn("exp", lma - lmb - lq), fn("exp", lb - la - lq)
    return ga, gb, ga - gb, (la, lb, lmb, lq)


def _measures(M: int, full: bool, weighted=lambda e: e) -> dict:
    """The sums of one evaluation (``weighted``: a row's terms times its weight, as
    :meth:`Cells.weighted`; the identity for an unweighted fit)."""
    ga, gb, d, (la, lb, lmb, lq) = score_pieces(M)
    out = {"ll": weighted(la + lmb + lq)}
    if not full:
        return out
    ha, hb = ga * (1 - 2 * fn("exp", la)), gb * (1 - 2 * fn("exp", lb))
    out.update({"ga": weighted(ga), "gb": weighted(gb), "tta": weighted(ha - ga * ga),
                "ttb": weighted(-hb - gb * gb), "off": weighted(ga * gb)})
    out.update(moment_measures("d", weighted(d), M, second=False))
    out.update(moment_measures("c", weighted((ha - hb) - d * d), M))
    out.update(moment_measures("ba", weighted(ha - ga * d), M, second=False))
    out.update(moment_measures("bb", weighted(gb * d - hb), M, second=False))
    return out


def _grad_hess(cells: Cells, s, K: int):
    """Gradient, Hessian (as ``_grad_hess``) and the per-cluster score sums from the group sums."""
    M, C, y = cells.M, cells.C, cells.y.astype(int)
    m = K - 1
    p = C.shape[1]
    top, bot = y < m, y > 0
    g = np.empty(p + m)
    g[:p] = -vec(C, first(s, "d", M))
    g[p:] = (np.bincount(y[top], weights=s["ga"].to_numpy()[top], minlength=K)[:m]
             - np.bincount(y[bot] - 1, weights=s["gb"].to_numpy()[bot], minlength=K)[:m])
    H = np.empty((p + m, p + m))
    H[:p, :p] = cross(C, second(s, "c", M))
    Hbt = np.zeros((p, m))
    ba, bb = np.einsum("gjm,gm->gj", C, first(s, "ba", M)), np.einsum("gjm,gm->gj", C, first(s, "bb", M))
    np.add.at(Hbt.T, y[top], -ba[top])
    np.add.at(Hbt.T, y[bot] - 1, -bb[bot])
    H[:p, p:], H[p:, :p] = Hbt, Hbt.T
    Htt = np.zeros((m, m))
    Htt[np.arange(m), np.arange(m)] = (np.bincount(y[top], weights=s["tta"].to_numpy()[top], minlength=K)[:m]
                                       + np.bincount(y[bot] - 1, weights=s["ttb"].to_numpy()[bot], minlength=K)[:m])
    off = np.bincount(y, weights=s["off"].to_numpy(), minlength=K)[1:m]
    Htt[np.arange(m - 1), np.arange(1, m)] = off
    Htt[np.arange(1, m), np.arange(m - 1)] = off
    H[p:, p:] = Htt
    return g, H


def _cluster_scores(cells: Cells, s, K: int) -> np.ndarray:
    M, C, y = cells.M, cells.C, cells.y.astype(int)
    m = K - 1
    p = C.shape[1]
    out = np.zeros((cells.n_clusters, p + m))
    out[:, :p] = -per_cluster(C, first(s, "d", M), cells.cluster, cells.n_clusters)
    top, bot = y < m, y > 0
    np.add.at(out, (cells.cluster[top], p + y[top]), s["ga"].to_numpy()[top])
    np.add.at(out, (cells.cluster[bot], p + y[bot] - 1), -s["gb"].to_numpy()[bot])
    return out


def fit_ordinal(cells: Cells, K: int, se: str, *, tol: float = 1e-10, max_iter: int = 100) -> dict:
    """``fit_ordinal``'s loop (gradient test, negligible-step polish, step halving) on sums."""
    from research.stats.ordinal import _inv_neg, _solve_neg

    M, y = cells.M, cells.y.astype(int)
    p = cells.C.shape[1]
    counts = np.bincount(y, weights=cells.weights_of_groups, minlength=K)
    if (counts[:K] == 0).any():
        raise NotEstimable(f"answer level(s) {list(np.flatnonzero(counts == 0))} (0-based) have no rows")
    cum = np.cumsum(counts)[:K - 1] / counts.sum()
    beta, theta = np.zeros(p), np.log(cum) - np.log1p(-cum)

    def evaluate(b, th, full=True):
        return cells.sums(_measures(M, full, cells.weighted), ordinal_params(cells, b, th))

    s = evaluate(beta, theta)
    ll = float(s["ll"].sum())
    g, H = _grad_hess(cells, s, K)
    it, converged, polished = 0, False, False
    while True:
        par = np.concatenate([beta, theta])
        if float(np.abs(g).max()) < tol:
            converged = True
            break
        step = _solve_neg(H, g)
        tiny = np.max(np.abs(step) / (1.0 + np.abs(par))) < tol
        if (tiny and polished) or it >= max_iter:
            converged = converged or (tiny and polished)
            break
        if tiny:
            polished = True
            if not np.all(np.diff(par[p:] + step[p:]) > 0):
                converged = True
                break
            new = par + step
        else:
            new = _halved(par, step, p, ll, lambda b, th: float(evaluate(b, th, full=False)["ll"].sum()))
            if new is None:
                break
        beta, theta = new[:p], new[p:]
        s = evaluate(beta, theta)
        ll = float(s["ll"].sum())
        it += 1
        g, H = _grad_hess(cells, s, K)
    vcov = _inv_neg(H)
    params = np.concatenate([beta, theta])
    df, method = None, "proportional-odds logit ML (R ordinal::clm); inverse observed information; normal"
    if se == "cluster":
        vcov = _cr1(cells, vcov, _cluster_scores(cells, s, K), len(params))
        df = float(cells.n_clusters - 1)
        method = (f"proportional-odds logit ML; CR1 cluster-robust{cells.by} (R sandwich::vcovCL HC1 on "
                  f"ordinal::clm); t(G - 1 = {df:g})")
    n, k = cells.n, len(params)
    stats_ = {"nobs": n, "loglik": ll, "df": k, "aic": -2 * ll + 2 * k, "bic": -2 * ll + np.log(n) * k,
              "iterations": it, "converged": converged, "gradient_max": float(np.abs(g).max())}
    if not converged:
        stats_["warning"] = ("the proportional-odds fit did not converge: a level with very few rows may "
                             "have an estimate drifting to infinity")
    return dict(y=y, params=params, vcov=vcov, n_beta=p, df_resid=df, stats=stats_, se_method=method,
                cut_names=[], extra={})


def _halved(par, step, p, ll, loglik):
    """``_halved_step`` of research.stats.ordinal on sums: the step halved until the cutpoints
    increase and the log-likelihood does not fall (up to rounding); None when none does."""
    factor, slack = 1.0, 1e-13 * max(1.0, abs(ll))
    for _ in range(60):
        new = par + factor * step
        if np.all(np.diff(new[p:]) > 0):
            ll_new = loglik(new[:p], new[p:])
            if np.isfinite(ll_new) and ll_new >= ll - slack:
                return new
        factor /= 2
    return None
