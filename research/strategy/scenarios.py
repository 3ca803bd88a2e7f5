"""Which lever buys the most: g-computation of improvement scenarios.

A *lever* is a counterfactual change to the tickets ("every outage ticket
handled within its SLA", "handling time of slow repairs halved", "no repeat
calls", "every unresolved ticket resolved"). For a fitted logit of
``satisfied`` the lever's effect is estimated by g-computation: predict every
ticket's probability of being satisfied as observed and under the lever,
average over the tickets (weighted by the survey weights when there are any,
i.e. over the work-order population) and take the difference::

    effect = mean_i w_i P(satisfied | x_i under the lever) - mean_i w_i P(satisfied | x_i)

reported in percentage points and as the change in the number of dissatisfied
customers per 10,000 complaints (``-effect * 10000``).

Uncertainty: a cluster bootstrap by station (stations drawn with replacement,
seeded; each replicate refits the logit with frequency weights, warm-started at
the full-sample estimate, and recomputes every lever on the replicate's
tickets), percentile intervals; the delta-method standard error from the
model's covariance is given beside it. Above :data:`FULL_REFIT_ROWS` tickets (0 by
default: always) a replicate is the first Newton step of that refit (the one-step or
estimating-function bootstrap, Andrews 2002, *Econometrica* 70:119-162: exact to
first order, from per-station score and information totals computed once) and,
above :data:`BOOT_EVAL_ROWS` tickets, its averages run over a seeded subsample of
that many, so 200 replicates on a million tickets take seconds rather than minutes.

Levers are declared in the analysis plan (``scenarios``); :func:`lever_changes`
turns one into new values of the model variables, and :func:`lever_effects`
computes the table. The averages and gradients come from
:mod:`research.models.predict` (one pass over the rows per lever).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from research.errors import InputError, NotEstimable, check_whole
from research.models.fit import FittedModel
from research.config.plan import Lever

Progress = Callable[[str], None]
PER = 10_000  # complaints: dissatisfied customers are counted per this many tickets
#: above this many tickets a bootstrap replicate is one Newton step from the full-sample fit, built from
#: per-station score and information totals (no pass over the rows); at or below it every replicate
#: is refitted exactly. 0: always one step (on the sample the interval ends moved by at most 0.001
#: percentage points against exact refits, 0.2% of the narrowest interval's width, and the
#: bootstrap took 3 s instead of 24 s). Above BOOT_EVAL_ROWS tickets the averages run over a
#: seeded subsample of that many.
FULL_REFIT_ROWS = 0
BOOT_EVAL_ROWS = 50_000


def lever_changes(fm: FittedModel, responses: pd.DataFrame, lever: Lever) -> dict:
    """The counterfactual values of the model variables under ``lever``.

    Parameters
    ----------
    fm : a fitted model whose frame has the variables the lever touches.
    responses : the canonical responses the model was fitted on (``fm.rows``
        index them); ``within_sla`` reads ``created_at`` and ``sla_deadline``.
    lever : kind ``within_sla`` (tickets of ``cause_l1`` / ``cause_l2``, or all,
        that took longer than their SLA target take exactly the target; hours;
        ``sla_met`` becomes true for them when the model uses it),
        ``scale_hours`` (their handling time times ``factor``), ``target_hours``
        (those slower than ``hours`` take ``hours``), ``set`` (``variable`` set
        to ``value`` on every ticket; the plan refuses post-treatment variables).

    Returns
    -------
    dict variable -> scalar or per-row array, as :func:`research.models.predict._evaluate` takes.
    """
    frame = fm.frame
    if lever.kind == "set":
        if lever.variable not in frame.columns:
            raise InputError(f"lever {lever.name}: model {fm.spec.name} has no variable {lever.variable!r}")
        col = frame[lever.variable]
        if hasattr(col, "cat"):
            if lever.value not in list(col.cat.categories):
                raise InputError(f"lever {lever.name}: {lever.value!r} is not a level of {lever.variable} in the "
                                 f"data ({list(col.cat.categories)})")
            return {lever.variable: lever.value}
        return {lever.variable: float(lever.value)}  # booleans are 0/1 columns of the model frame
    if "handling_hours" not in frame.columns:
        raise InputError(f"lever {lever.name}: model {fm.spec.name} has no handling_hours")
    hours = frame["handling_hours"].to_numpy(dtype=float)
    target = np.ones(len(frame), dtype=bool)
    for var in ("cause_l1", "cause_l2"):
        code = getattr(lever, var)
        if code is not None:
            hit = (_equals(frame[var], code) if var in frame.columns
                   else _equals(responses[var], code)[fm.rows])
            if not hit.any():
                raise InputError(f"lever {lever.name}: no ticket has {var} = {code!r} (a typo, or a cause "
                                 "absent from this export)")
            target &= hit
    if lever.kind == "scale_hours":
        new = np.where(target, hours * lever.factor, hours)
    elif lever.kind == "target_hours":
        new = np.where(target, np.minimum(hours, lever.hours), hours)
    else:  # within_sla
        created = responses["created_at"].to_numpy()[fm.rows]
        deadline = responses["sla_deadline"].to_numpy()[fm.rows]
        sla_hours = (deadline - created) / np.timedelta64(1, "h")
        sla_hours = np.asarray(sla_hours, dtype=float)
        new = np.where(target & np.isfinite(sla_hours), np.minimum(hours, sla_hours), hours)
        if "sla_met" in frame.columns:  # a model using SLA compliance sees the tickets brought within it
            met = frame["sla_met"].to_numpy(dtype=float)
            return {"handling_hours": new, "sla_met": np.where(target & np.isfinite(sla_hours), 1.0, met)}
    return {"handling_hours": new}


def _equals(col: pd.Series, code: str) -> np.ndarray:
    """``col.astype(str).to_numpy() == code``, from the category codes when ``col`` is categorical
    (a comparison per category, not a string per ticket; missing values read "nan" as there)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        match = [i for i, c in enumerate(col.cat.categories) if str(c) == code]
        if code == "nan":
            match.append(-1)
        return np.isin(col.cat.codes.to_numpy(), match)
    return col.astype(str).to_numpy() == code


def _effects(fm: FittedModel, levers, changes, threshold: int, rows: np.ndarray | None = None,
             cache: dict | None = None) -> tuple[float, list[tuple[float, np.ndarray]]]:
    """Baseline average P(satisfied) and each lever's (effect, gradient), over ``rows`` (all by default).

    ``cache`` (a dict kept by the caller across bootstrap replicates of the same
    rows) holds each lever's rebuilt design columns, which do not depend on the
    parameters.
    """
    from research.models.predict import _evaluate, _new_columns, _rows

    rows = np.arange(len(fm.frame)) if rows is None else rows
    base = _rows(fm, rows)
    now = _evaluate(fm, base, {}, threshold)["p_satisfied"]
    out = []
    for lever in levers:
        ch = {k: (v[rows] if np.ndim(v) else v) for k, v in changes[lever.name].items()}
        cols = None
        if cache is not None:
            if lever.name not in cache:
                cache[lever.name] = _new_columns(fm, base, ch)
            cols = cache[lever.name]
        moved = _evaluate(fm, base, ch, threshold, columns=cols)["p_satisfied"]
        out.append((moved[0] - now[0], moved[1] - now[1]))
    return now[0], out


class _BootEvaluator:
    """Each lever's average effect over fixed rows for many (parameters, weights): the values of
    :func:`_effects` (the same products in the same order, so the same numbers) without the
    gradients, the pandas row selection and the design rebuild that it repeats on every call.

    A bootstrap replicate needs only the effects; :func:`_effects` also builds the gradients
    (a cross-product of the rows per lever) and selects the frame's rows each time, which at
    1,000,000 tickets took most of the lever bootstrap's time.
    """

    def __init__(self, fm: FittedModel, levers, changes: dict, rows: np.ndarray | None):
        from research.models.predict import _new_columns, _rows

        self.rows = rows
        all_rows = np.arange(len(fm.frame)) if rows is None else rows
        base = _rows(fm, all_rows)  # the rows' design (and which variables are constant on them)
        self.X = base.X
        self.levers = []
        for lever in levers:
            ch = {k: (v[all_rows] if np.ndim(v) else v) for k, v in changes[lever.name].items()}
            idx_s, row_s, idx_v, mat_v = _new_columns(fm, base, ch)
            idx = np.concatenate([idx_s, idx_v])
            self.levers.append((idx, self.X[:, idx] if len(idx) else None, idx_s, row_s, idx_v, mat_v))

    def take(self, values: np.ndarray) -> np.ndarray:
        """``values`` (one per ticket) on the averaged rows."""
        return values if self.rows is None else values[self.rows]

    def effects(self, beta: np.ndarray, w: np.ndarray) -> list[float]:
        """Each lever's effect with coefficients ``beta`` and row weights ``w`` (the rows')."""
        from scipy.special import expit

        wn = w / w.sum()
        eta = self.X @ beta
        now = float(np.tensordot(wn, expit(eta), axes=(0, 0)))
        out = []
        for idx, Xidx, idx_s, row_s, idx_v, mat_v in self.levers:
            moved_eta = eta
            if len(idx):
                moved_eta = (eta - Xidx @ beta[idx]) + row_s @ beta[idx_s]
                if len(idx_v):
                    moved_eta = moved_eta + mat_v @ beta[idx_v]
            out.append(float(np.tensordot(wn, expit(moved_eta), axes=(0, 0))) - now)
        return out


def _cluster_pieces(X, y, w, beta, codes, n_cl):
    """Per-cluster score totals (G, k) and information matrices (G, k, k) of the weighted logit at ``beta``."""
    from scipy.special import expit

    p = expit(X @ beta)
    k = X.shape[1]
    score = np.zeros((n_cl, k))
    info = np.zeros((n_cl, k, k))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_cl + 1))
    for g in range(n_cl):
        r = order[bounds[g]:bounds[g + 1]]
        Xg = X[r]
        score[g] = Xg.T @ (w[r] * (y[r] - p[r]))
        A = Xg * np.sqrt(w[r] * p[r] * (1 - p[r]))[:, None]
        info[g] = A.T @ A   # A'A of one array: the symmetric rank-k product, half the work
    return score, info


def lever_effects(fm: FittedModel, responses: pd.DataFrame, levers, *, threshold: int,
                  cluster: str = "station", reps: int = 200, seed: int = 0, conf_level: float = 0.95,
                  progress: Progress | None = None) -> pd.DataFrame:
    """Effect of every lever on the satisfied rate, ranked.

    Parameters
    ----------
    fm : a fitted logit of ``satisfied`` (plain, or survey-weighted with
        ``extra["weights"]``: the averages are then population averages).
    responses : the canonical responses ``fm`` was fitted on.
    levers : the plan's levers.
    threshold : top-2-box threshold (satisfied = answer >= threshold).
    cluster : bootstrap clusters (a column of ``responses``).
    reps : bootstrap replicates (0: delta-method intervals only).
    conf_level : level of the intervals (default 0.95; :func:`run_levers` passes the plan's
        ``conf_level``).

    Returns
    -------
    One row per lever, largest gain first: ``rank, lever, kind, model,
    baseline_rate`` (average P(satisfied) as observed, 0..1), ``scenario_rate``,
    ``effect`` (difference, probability), ``effect_points`` (percentage
    points), ``conf_low, conf_high`` (bootstrap percentile interval of the
    effect; delta-method when ``reps`` is 0), ``std_error`` (delta method),
    ``dissatisfied_per_10k`` (change in dissatisfied customers per 10,000
    complaints, negative = fewer), its ``_low``/``_high``, ``n`` (tickets),
    ``weighted`` (population average or not), ``boot_reps``, ``boot_failed``,
    ``conf_level``.
    """
    from research.config.plan import MAX_BOOTSTRAP_REPS, SEED_MAX

    reps = check_whole(reps, "bootstrap reps", low=0, high=MAX_BOOTSTRAP_REPS, where="scenarios")
    seed = check_whole(seed, "bootstrap seed", low=0, high=SEED_MAX, where="scenarios")
    if fm.spec.family != "logit":
        raise InputError(f"scenarios need a logit of satisfied; model {fm.spec.name} is {fm.spec.family}")
    levers = list(levers)
    if not levers:
        return pd.DataFrame()
    changes = {lv.name: lever_changes(fm, responses, lv) for lv in levers}
    baseline, effects = _effects(fm, levers, changes, threshold)
    q = stats.norm.ppf(0.5 + conf_level / 2)
    est = np.array([e for e, _ in effects])
    se = np.array([float(np.sqrt(max(g @ fm.vcov @ g, 0.0))) for _, g in effects])
    low, high = est - q * se, est + q * se
    failed = 0
    if reps > 0 and responses[cluster].iloc[fm.rows].nunique() < 2:
        # one cluster: every replicate is the sample itself; the delta-method intervals stand
        if progress is not None:
            progress(f"lever bootstrap skipped: a cluster bootstrap by {cluster} needs at least 2 of them")
        reps = 0
    if reps > 0:
        boot, failed = _bootstrap_effects(fm, responses, levers, changes, threshold, est, cluster=cluster,
                                          reps=reps, seed=seed, progress=progress)
        a = (1 - conf_level) / 2
        ok = ~np.isnan(boot).any(axis=1)
        if ok.sum() >= 10:
            low = np.quantile(boot[ok], a, axis=0)
            high = np.quantile(boot[ok], 1 - a, axis=0)
    out = pd.DataFrame({
        "lever": [lv.name for lv in levers], "kind": [lv.kind for lv in levers], "model": fm.spec.name,
        "baseline_rate": baseline, "scenario_rate": baseline + est, "effect": est, "effect_points": 100 * est,
        "conf_low": low, "conf_high": high, "std_error": se,
        "dissatisfied_per_10k": -PER * est, "dissatisfied_per_10k_low": -PER * high,
        "dissatisfied_per_10k_high": -PER * low, "n": len(fm.frame),
        "weighted": fm.extra.get("weights") is not None, "boot_reps": reps, "boot_failed": failed,
        "conf_level": conf_level,
    })
    out = out.sort_values("effect", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def _bootstrap_effects(fm, responses: pd.DataFrame, levers, changes, threshold, est: np.ndarray, *,
                       cluster: str, reps: int, seed: int, progress: Progress | None) -> tuple[np.ndarray, int]:
    """Cluster bootstrap of the levers' average effects.

    ``fm`` the lever model's fit, ``changes`` each lever's changed columns, ``est`` (k,) the
    effects at the estimate (probability). Stations (``cluster``) are resampled ``reps`` times
    (``numpy.random.default_rng(seed)``); each replicate refits the logit (Newton from the
    estimate) or, above :data:`FULL_REFIT_ROWS` rows, takes one Newton step from per-station
    score and information pieces and averages over a seeded subsample of
    :data:`BOOT_EVAL_ROWS` rows, centred on that subsample's own effects.
    Returns ``(boot, failed)``: (reps, k) replicate effects (NaN rows for failed refits) and
    the number of failed refits.
    """
    from research.models.thresholds import BootstrapFailure, weighted_logit_newton

    failed = 0
    survey_w = fm.extra.get("weights")
    survey_w = np.ones(len(fm.frame)) if survey_w is None else np.asarray(survey_w, dtype=float)
    cl_codes, cl_levels = pd.factorize(responses[cluster].astype(str).to_numpy()[fm.rows])
    n_cl = len(cl_levels)
    rng = np.random.default_rng(seed)
    boot = np.full((reps, len(levers)), np.nan)
    X, y = fm.design.X, fm.y
    n = len(fm.frame)
    large = n > FULL_REFIT_ROWS
    if large:  # one-step replicates from per-station pieces; averages over a seeded subsample
        score, info = _cluster_pieces(X, y, survey_w, fm.params, cl_codes, n_cl)
        eval_rows, offset = None, 0.0
        if n > BOOT_EVAL_ROWS:
            sub_rng = np.random.default_rng([seed, 1])
            eval_rows = np.sort(sub_rng.choice(n, BOOT_EVAL_ROWS, replace=False))
            # the subsample's own average effects at the estimate: replicates are centred on
            # them, so the fixed subsample shifts no interval (only its spread is estimated)
            offset = est - np.array([e for e, _ in _effects(fm, levers, changes, threshold,
                                                           rows=eval_rows)[1]])
    # each lever's rebuilt design columns (they depend on the data and the lever, not on the
    # parameters) and the replicates' design rows, built once for every replicate
    evaluator = _BootEvaluator(fm, levers, changes, eval_rows if large else None)
    for b in range(reps):
        counts = np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl).astype(float)
        if large:
            step = np.linalg.lstsq(np.tensordot(counts, info, axes=1), counts @ score, rcond=None)[0]
            bb = fm.params + step
        else:
            w = counts[cl_codes]
            keep = w > 0
            try:
                bb = weighted_logit_newton(X[keep], y[keep], (w * survey_w)[keep], fm.params)
            except BootstrapFailure:
                failed += 1
                continue
        # the replicate's weights on the averaged rows only (the same products as on all rows)
        wr = counts[evaluator.take(cl_codes)] * evaluator.take(survey_w)
        boot[b] = evaluator.effects(bb[: fm.n_beta], wr)
        if large:
            boot[b] += offset
        if progress is not None and ((b + 1) % 20 == 0 or b + 1 == reps):
            progress(f"lever bootstrap {b + 1}/{reps}")
    return boot, failed


def run_levers(responses: pd.DataFrame, *, plan, instrument, weights: np.ndarray | None = None,
               calibration=None, progress: Progress | None = None) -> pd.DataFrame:
    """The plan's lever table: fit the scenario model (survey-weighted when ``weights``
    are given, so the averages are over the work-order population) and rank the levers.

    Returns :func:`lever_effects`' frame with the levers' ``zh`` / ``en`` labels
    added, each lever's sensitivity to unmeasured confounding
    (:func:`research.strategy.causal.lever_sensitivity`: ``n_affected``,
    ``rr_dissatisfied`` with its interval, ``evalue``, ``evalue_ci``, and the
    satisfied-rate versions) and the part running through resolution
    (:func:`research.strategy.causal.lever_mediation`: ``indirect_effect``,
    ``share_mediated`` with ``_low`` / ``_high``, and ``mediation_note``: empty
    when the share is computed, else why not, a code of
    :data:`research.strategy.causal.MEDIATION_NOT_COMPUTED`); an empty frame when the plan
    declares no scenarios.
    """
    spec = plan.scenarios
    if spec is None or not spec.levers:
        return pd.DataFrame()
    model = plan.model(spec.model)
    from research.models.run import absent_optional

    absent = absent_optional(model, responses)
    if absent:  # the export lacks an optional column the lever model needs: no lever table
        if progress is not None:
            progress(f"levers skipped: the survey export has no {', '.join(absent)}")
        return pd.DataFrame()
    try:
        from research.models.weighted import fit_model_weighted_or_not

        fm = fit_model_weighted_or_not(model, responses, weights, cluster=spec.bootstrap_cluster, plan=plan,
                                       instrument=instrument, calibration=calibration)
    except NotEstimable as exc:  # the data cannot support the lever model (fit_plan notes why): no table
        if progress is not None:
            progress(f"levers skipped: {exc}")
        return pd.DataFrame()
    out = lever_effects(fm, responses, spec.levers, threshold=instrument.satisfied_threshold,
                        cluster=spec.bootstrap_cluster, reps=spec.bootstrap_reps, seed=spec.bootstrap_seed,
                        conf_level=plan.conf_level, progress=progress)
    from research.strategy.causal import lever_mediation, lever_sensitivity

    sens = lever_sensitivity(fm, responses, spec.levers, threshold=instrument.satisfied_threshold,
                             conf_level=plan.conf_level).drop(columns="conf_level")
    out = out.merge(sens, on="lever", how="left")
    med = lever_mediation(responses, spec.levers, plan=plan, instrument=instrument,
                          threshold=instrument.satisfied_threshold, weights=weights,
                          cluster=spec.bootstrap_cluster, conf_level=plan.conf_level, fitted=fm)
    med_cols = ["indirect_effect", "share_mediated", "share_mediated_low", "share_mediated_high"]
    if len(med):
        ind = med[med["effect"] == "indirect"].set_index("lever")["estimate"]
        share = med[med["effect"] == "share_mediated"].set_index("lever")
        out["indirect_effect"] = out["lever"].map(ind)
        out["share_mediated"] = out["lever"].map(share["estimate"])
        out["share_mediated_low"] = out["lever"].map(share["conf_low"])
        out["share_mediated_high"] = out["lever"].map(share["conf_high"])
        # why a share is missing: its total effect's interval includes 0, or the lever has no mediation rows
        note = np.where(out["lever"].isin(share.index), "mediation_total_includes_zero", "mediation_not_applicable")
        out["mediation_note"] = np.where(out["share_mediated"].notna(), "", note)
    else:
        out = out.assign(**{c: np.nan for c in med_cols},
                         mediation_note=med.attrs.get("not_computed", "mediation_not_estimable"))
    return out
