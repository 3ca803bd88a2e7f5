"""The causal frame of the levers: sensitivity, mediation through resolution, associations.

Three pieces beside the lever table of :mod:`research.strategy.scenarios`:

- :func:`evalue` / :func:`lever_sensitivity`: how strong an unmeasured
  confounder would have to be to explain a lever's effect away (the E-value,
  VanderWeele & Ding 2017, *Ann Intern Med* 167:268-274), computed on the
  risk-ratio scale of the **dissatisfied** rate among the tickets the lever
  changes;
- :func:`lever_mediation`: the share of each lever's effect that runs through
  resolution (natural direct and indirect effects by the parametric g-formula;
  VanderWeele 2015, *Explanation in Causal Inference*, ch. 2; Imai, Keele &
  Tingley 2010, *Psychol Methods* 15:309; R ``mediation``, ``CMAverse``);
- :func:`associations`: the satisfied rate of resolved against unresolved
  tickets and of repeat against single callers, standardised over the
  pre-treatment variables: differences in *who is satisfied*, not effects of
  resolving or of preventing a call (both are partly consequences of
  dissatisfaction, which is why the lever model leaves them out).

All functions are pure: frames in, tidy frames out (probabilities 0..1).

The mediation is in :mod:`research.strategy.causal_mediation` and the associations in
:mod:`research.strategy.causal_associations`; every name that scripts, benchmarks and tests
use is importable from here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from research.strategy.causal_associations import ASSOCIATION_VARIABLES, associations  # noqa: F401
from research.strategy.causal_mediation import (CHORD_ROWS, MEDIATION_NOT_COMPUTED,  # noqa: F401
                                                MEDIATOR_LEVEL, START_ROWS, _Design, _logit_fit,
                                                _not_computed, _Replaced, _stacked_vcov, lever_mediation)


def evalue(rr) -> np.ndarray:
    """E-value of a risk ratio (VanderWeele & Ding 2017, eq. in "Calculating the E-value").

    Parameters
    ----------
    rr : risk ratio(s), positive (array-like).

    Returns
    -------
    ``RR + sqrt(RR * (RR - 1))`` for ``RR >= 1``; for ``RR < 1`` the same of
    ``1 / RR``. The minimum strength of association, on the risk-ratio scale,
    that an unmeasured confounder would need with both the treatment and the
    outcome, conditional on the measured covariates, to explain the observed
    risk ratio away. 1 means no confounding is needed. NaN where ``rr`` is not
    a positive finite number.
    """
    rr = np.asarray(rr, dtype=float)
    ok = np.isfinite(rr) & (rr > 0)
    r = np.where(ok, rr, 1.0)
    r = np.where(r < 1, 1 / r, r)
    return np.where(ok, r + np.sqrt(r * (r - 1)), np.nan)


def evalue_ci(rr, low, high) -> np.ndarray:
    """E-value of the confidence limit closest to the null (VanderWeele & Ding 2017).

    1 when the interval ``[low, high]`` includes 1; else the E-value of
    ``low`` (for ``rr > 1``) or of ``high`` (for ``rr < 1``).
    """
    rr, low, high = (np.asarray(a, dtype=float) for a in (rr, low, high))
    limit = np.where(rr >= 1, low, high)
    covers = (low <= 1) & (high >= 1)
    return np.where(covers, 1.0, evalue(limit))


def _affected(changes: dict, frame: pd.DataFrame) -> np.ndarray:
    """Rows whose model variables a lever changes."""
    moved = np.zeros(len(frame), dtype=bool)
    for var, value in changes.items():
        col = frame[var]
        if hasattr(col, "cat"):
            moved |= col.astype(str).to_numpy() != str(value)
        else:
            moved |= np.broadcast_to(np.asarray(value, dtype=float), (len(frame),)) != col.to_numpy(dtype=float)
    return moved


def lever_sensitivity(fm, responses: pd.DataFrame, levers, *, threshold: int,
                      conf_level: float = 0.95) -> pd.DataFrame:
    """Sensitivity of each lever to unmeasured confounding: risk ratios and E-values.

    Which risk ratio: among the tickets the lever changes (``n_affected``; the
    others are untouched, so including them would dilute the ratio towards 1
    and understate robustness), the g-computed dissatisfied rate under the lever
    over the dissatisfied rate as observed, ``rr_dissatisfied`` (below 1 when
    the lever helps). The dissatisfied rate is the one the lever table counts
    (dissatisfied customers per 10,000 complaints) and the rarer outcome here,
    so its ratio is the natural one for a manager; the satisfied-rate ratio
    ``rr_satisfied`` (closer to 1, so a smaller, more conservative E-value) is
    given beside it. Interval: delta method on the log scale with the model's
    covariance (clustered or design-based, as fitted), normal quantiles at ``conf_level``
    (default 0.95; :func:`research.strategy.scenarios.run_levers` passes the plan's ``conf_level``).

    Parameters
    ----------
    fm : the fitted lever logit (research.models.fit.FittedModel).
    responses : the canonical responses it was fitted on.
    levers : the plan's levers.
    threshold : top-2-box threshold.

    Returns
    -------
    One row per lever: ``lever, n_affected, dissatisfied_observed,
    dissatisfied_lever`` (0..1, over the affected tickets), ``rr_dissatisfied,
    rr_conf_low, rr_conf_high, evalue, evalue_ci`` (E-value of the estimate and
    of the limit closest to 1; VanderWeele & Ding 2017), ``rr_satisfied,
    evalue_satisfied, evalue_satisfied_ci, conf_level``.
    """
    from research.models.predict import _evaluate, _rows
    from research.strategy.scenarios import lever_changes

    q = stats.norm.ppf(0.5 + conf_level / 2)
    out = []
    for lever in levers:
        ch = lever_changes(fm, responses, lever)
        rows = np.flatnonzero(_affected(ch, fm.frame))
        row = {"lever": lever.name, "n_affected": len(rows)}
        if len(rows) == 0:
            out.append(row)
            continue
        base = _rows(fm, rows)
        sub = {k: (v[rows] if np.ndim(v) else v) for k, v in ch.items()}
        p0, g0 = _evaluate(fm, base, {}, threshold)["p_satisfied"]
        p1, g1 = _evaluate(fm, base, sub, threshold)["p_satisfied"]
        d0, d1 = 1 - p0, 1 - p1
        cells = {}
        for tag, (a, b, ga, gb) in {"dissatisfied": (d1, d0, -g1, -g0), "satisfied": (p1, p0, g1, g0)}.items():
            grad = ga / a - gb / b
            se = float(np.sqrt(max(grad @ fm.vcov @ grad, 0.0)))
            rr = a / b
            lo, hi = rr * np.exp(-q * se), rr * np.exp(q * se)
            cells[tag] = (rr, lo, hi)
        rr, lo, hi = cells["dissatisfied"]
        rs, ls, hs = cells["satisfied"]
        row.update(dissatisfied_observed=d0, dissatisfied_lever=d1, rr_dissatisfied=rr, rr_conf_low=lo,
                   rr_conf_high=hi, evalue=float(evalue(rr)), evalue_ci=float(evalue_ci(rr, lo, hi)),
                   rr_satisfied=rs, evalue_satisfied=float(evalue(rs)),
                   evalue_satisfied_ci=float(evalue_ci(rs, ls, hs)))
        out.append(row)
    cols = ["lever", "n_affected", "dissatisfied_observed", "dissatisfied_lever", "rr_dissatisfied", "rr_conf_low",
            "rr_conf_high", "evalue", "evalue_ci", "rr_satisfied", "evalue_satisfied", "evalue_satisfied_ci"]
    return pd.DataFrame(out).reindex(columns=cols).assign(conf_level=conf_level)
