"""A fitted model and the reference distribution of its tests.

:class:`FittedModel` is what every estimator of :mod:`research.models.families` produces
(through :func:`research.models.fit.fit_model` or
:func:`research.models.weighted.fit_weighted_model`) and what predictions and tables read.
:func:`inference_df` is the one rule for the t reference of coefficients, predictions and
marginal effects (issue 11; docs/methods.md); :func:`df_note` says when it is missing or
rests on fewer clusters than parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from research.config.plan import ModelSpec
from research.models.design import Design

#: plan ``se`` types that cluster by ``spec.cluster``
CLUSTERED = ("cluster", "cr2")

@dataclass
class FittedModel:
    """A fitted model: everything predictions and tables need.

    ``params`` holds the coefficients of ``design`` (``n_beta`` of them) and,
    for ordinal models, the cutpoints after them; ``names`` and ``kinds``
    label each entry (kind ``coefficient`` or ``cutpoint``).
    """

    spec: ModelSpec
    design: Design
    frame: pd.DataFrame
    rows: np.ndarray
    y: np.ndarray
    params: np.ndarray
    vcov: np.ndarray
    names: list[str]
    kinds: list[str]
    n_beta: int
    df_resid: float | None  # t reference distribution (linear models); None = normal
    stats: dict
    se_method: str
    extra: dict = field(default_factory=dict)  # family-specific (variance components, BLUPs, ...)

    @property
    def beta(self) -> np.ndarray:
        return self.params[: self.n_beta]

    @property
    def cutpoints(self) -> np.ndarray:
        return self.params[self.n_beta:]



def inference_df(fm: "FittedModel", contrast: np.ndarray | None = None) -> float | None:
    """Degrees of freedom of the t reference for a linear combination of ``fm.params``.

    One rule for coefficients, predictions and marginal effects of a model: CR2 fits give
    the Bell–McCaffrey (Satterthwaite) df of the contrast (``clubSandwich``; G - 1 when no
    contrast is given); other fits ``fm.df_resid`` (G - 1 for CR1, n - k for classical OLS,
    the design df for survey-weighted fits, G - 1 when G <= p: research.stats.design_based.design_df).
    ``None`` means the normal distribution: the model has no t reference (ML logit / ordinal
    with model-based SEs, mixed), or its df is below 1 (a design-based fit on a single
    cluster), which :func:`df_note` reports.
    """
    cr2 = fm.extra.get("cr2")
    if cr2 is not None and contrast is not None:
        c = np.asarray(contrast, dtype=float)[: fm.n_beta]
        return cr2.df(c)
    if fm.df_resid is None or not np.isfinite(fm.df_resid) or fm.df_resid < 1:
        return None
    return float(fm.df_resid)


def df_note(fm: "FittedModel") -> str:
    """A note when the t reference is missing for lack of clusters, or clusters are fewer than
    parameters (empty string otherwise)."""
    n_par = len(fm.params)
    g = fm.stats.get("n_clusters")
    notes = []
    if fm.df_resid is not None and np.isfinite(fm.df_resid) and fm.df_resid < 1:
        notes.append(f"the degrees of freedom of the t reference are {fm.df_resid:g} (< 1): tests and intervals "
                     "use the normal distribution instead (labelled 'normal (df < 1)' in the method column) "
                     "and are too narrow")
    if g is not None and np.isfinite(g) and g <= n_par:
        notes.append(f"only {int(g)} clusters for {n_par} parameters: the cluster-robust covariance has rank at "
                     f"most {int(g) - 1}, so no joint (Wald) test of all coefficients is possible; single-"
                     f"coefficient t tests with {int(g) - 1} df remain defined but rest on few clusters")
    return "; ".join(notes)

