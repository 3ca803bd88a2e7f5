"""Each model family's average prediction on its response scales, with gradients.

A family's ``predict`` (its entry in :data:`research.models.families.FAMILIES`) is called by
:func:`research.models.predict._evaluate` with the counterfactual linear predictor of the rows
and two ways of averaging over them, and returns ``scale -> (estimate, gradient)``, the gradient
over all of ``fm.params`` (coefficients, then cutpoints). Arguments:

``fm``
    the :class:`research.models.fitted.FittedModel`;
``eta``
    the linear predictor (one value per row, or per group of equal rows);
``mean(a)``
    the (weighted) mean of ``a`` over the rows (axis 0);
``beta_gradients(W)``
    the ``(n_beta, k)`` matrix whose column c is the mean over rows of ``W[:, c] * x_i``
    (``x_i`` the counterfactual design row); ``W`` None means one column of ones;
``threshold``
    the top-2-box threshold code (satisfied = answer >= threshold).

Scales: ``mean_score`` (expected overall score, 1..5) and ``p_satisfied`` (probability of a
top-2-box answer); see :mod:`research.models.predict`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit

#: ``scale -> (estimate, gradient over fm.params)``
Predictions = dict[str, tuple[float, np.ndarray]]


def identity_scale(scale: str) -> Callable[..., Predictions]:
    """The prediction of a family whose linear predictor is the answer on ``scale`` (identity
    link): the mean of ``eta`` (random effects at zero for mixed models), gradient the mean
    counterfactual design row."""

    def predict(fm, eta, mean, beta_gradients, threshold) -> Predictions:
        grad = np.zeros(len(fm.params))
        grad[: fm.n_beta] = beta_gradients(None)[:, 0]
        return {scale: (float(mean(eta)), grad)}

    return predict


def logit_satisfied(fm, eta, mean, beta_gradients, threshold) -> Predictions:
    """The binary logit of satisfied: ``p_satisfied`` = mean of ``expit(eta)``."""
    p = expit(eta)
    grad = np.zeros(len(fm.params))
    grad[: fm.n_beta] = beta_gradients((p * (1 - p))[:, None])[:, 0]
    return {"p_satisfied": (float(mean(p)), grad)}


def ordinal_scores(fm, eta, mean, beta_gradients, threshold) -> Predictions:
    """The proportional-odds logit (``P(Y <= j) = expit(theta_j - eta)``): ``mean_score`` =
    ``sum_k k P(Y = k)`` and ``p_satisfied`` = ``P(Y >= threshold)``, both averaged over rows."""
    n_par = len(fm.params)
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
    out = {}
    grad = np.zeros(n_par)
    grad[: fm.n_beta] = G[:, 0]
    grad[fm.n_beta:] = -f_means
    out["mean_score"] = (float(levels - mean(sum_F)), grad)
    grad = np.zeros(n_par)
    grad[: fm.n_beta] = G[:, 1]
    grad[fm.n_beta + t] = -f_means[t]
    out["p_satisfied"] = (float(1 - mean(F_t)), grad)
    return out
