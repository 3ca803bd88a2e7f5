"""Comparing stations fairly: risk-adjusted funnel plots and rankings that can say "no difference".

Functions (pure: DataFrames in, DataFrames out; nothing is read or written):

- :func:`funnel` -- one row per station: observed and case-mix-expected satisfied
  answers, the indirectly standardised satisfied rate, 95% and 99.8% funnel limits
  around the overall rate, an over-dispersion factor, z-scores, Benjamini-Hochberg
  q-values and the two flag rules (Spiegelhalter 2005).
- :func:`funnel_limits` -- the funnel's control limits for given numbers of answers
  (the curves of the funnel plot).
- :func:`fit_case_mix` -- the case-mix logit (no station term) the funnel standardises by.
- :func:`fit_random_intercept_logit` -- logit random-intercept model fitted by the
  Laplace approximation, as R ``lme4::glmer(..., family = binomial)`` (``nAGQ = 1``).
- :func:`rank_stations` -- stations ranked on the adjusted satisfied rate of that model
  with simulated intervals on the ranks, *only* when the between-station variance is
  distinguishable from zero.

What question each answers
--------------------------
The funnel answers "is this station's satisfied rate, given the complaints it had to
handle, further from the overall rate than chance allows?" -- the persistently poor (or
good) station. It compares every station with the same target, so unlike the p-chart
(:func:`research.strategy.monitoring.p_chart`, which compares a station with its own past) it can
flag a station that has always been poor. The ranking answers "in what order would the
stations come if they all handled the same complaints?", and with its rank intervals how
sure that order is. Both are associations: a station's adjusted rate also carries
whatever differs between stations and is not in the case mix (its customers, its region).

Case mix (:func:`fit_case_mix`)
-------------------------------
Logit of ``satisfied`` on :data:`CASE_MIX_RHS` = ``cause_l2 + log2(1 + handling_hours) +
channel`` (all known before or while the ticket is handled, none caused by the
satisfaction answer; no station term), maximum likelihood by Newton-Raphson on the
complete cases (``satisfied``, the three regressors and ``station`` present, handling
time >= 0). Expected satisfied answers of a station ``E_s = sum_i p_i`` over its
answers. Because a logit with an intercept reproduces the total, ``sum_s E_s = sum_s
O_s`` and the target ``theta0`` (overall satisfied rate) is the same with or without
case mix. ``case_mix=False`` uses ``p_i = theta0`` (unadjusted rates).

Funnel (:func:`funnel`, Spiegelhalter 2005)
-------------------------------------------
Indicator: the indirectly standardised rate ``y_s = theta0 * O_s / E_s`` plotted against
the station's number of answers ``n_s``. Its null distribution ("the station is like the
average station with its case mix") is approximated by ``Binomial(n_s, theta0) / n_s``
(Spiegelhalter 2005, section 2 and appendix A.1.1: proportions, with the risk-adjusted
rate in place of the crude one). This approximation slightly overstates the variance
when case mix spreads the risks (``sum p_i (1 - p_i) <= n theta0 (1 - theta0)`` for the
same mean), so the limits are, if anything, conservative.

- Limits without over-dispersion: exact binomial with Spiegelhalter's interpolation:
  for a tail probability ``q``, ``r_q`` = the smallest ``r`` with ``F(r) >= q`` (``F`` the
  Binomial(n, theta0) distribution function; R ``qbinom``, scipy ``binom.ppf``),
  ``a = (F(r_q) - q) / (F(r_q) - F(r_q - 1))`` and the limit ``(r_q - a) / n``. ``q`` =
  0.025 / 0.975 (95%) and 0.001 / 0.999 (99.8%).
- z-score: ``z_s = (y_s - theta0) / sqrt(theta0 (1 - theta0) / n_s)``.
- Over-dispersion (section 3.3.1, multiplicative): the z-scores are winsorised at their
  10th and 90th percentiles (``winsor``) and ``phi = mean(z_w^2)``. With the default rule
  ``overdispersion="test"`` it is used when ``I * phi`` exceeds the 95% point of
  chi-square with ``I`` (the number of stations) degrees of freedom -- the paper's test;
  ``"auto"`` uses it whenever ``phi > 1``; ``"none"`` never. When used, the limits are
  the normal ones ``theta0 +/- z_q sqrt(phi theta0 (1 - theta0) / n)`` and the z-scores
  are divided by ``sqrt(phi)`` (section 3.3.1); ``limits`` says which (``"exact"`` or
  ``"normal_phi"``).
- Flags: ``signal`` is ``"below"`` / ``"above"`` when ``y_s`` lies strictly outside the
  99.8% limits (the paper's "alarm"); ``fdr_signal`` the same direction when the
  Benjamini-Hochberg q-value (Benjamini & Hochberg 1995) of the station's two-sided
  p-value is below ``fdr`` (default 0.05) -- the alternative rule, which controls the
  expected share of false flags among the flagged stations. The p-value is
  ``2 min(G, 1 - G)`` with ``G`` the interpolated binomial distribution function at
  ``n_s y_s`` (:func:`interpolated_cdf`; consistent with the exact limits, so a station
  beyond the 99.8% limits has ``p < 0.002``, and right for a station with 3 answers, where
  the normal z is not), or the normal p-value of the scaled ``z_s`` when ``phi`` is used.

Random-intercept logit (:func:`fit_random_intercept_logit`)
-----------------------------------------------------------
``logit P(y_i = 1) = x_i' beta + theta v_s``, ``v_s ~ N(0, 1)`` (station ``s`` of row
``i``; ``theta`` the between-station SD on the logit scale). The Laplace approximation of
the marginal log-likelihood (lme4's ``nAGQ = 1``; Bates et al. 2015, JSS 67(1), section 5
of the lme4 vignette on GLMMs) is

    L(beta, theta) = sum_s [ l_s(beta, theta vhat_s) - vhat_s^2 / 2 - log(1 + theta^2 h_s) / 2 ],

``vhat_s`` the conditional mode (1-D Newton per station), ``h_s = sum_i p_i (1 - p_i)``
at the mode. ``L`` is maximised over ``(beta, theta >= 0)`` by L-BFGS-B with its analytic
gradient (implicit differentiation of the modes), from the glm estimates. Reported as
lme4 does: ``sigma2_station = theta^2``, the conditional modes ``u_s = theta vhat_s``
(``ranef``) and their conditional variances ``theta^2 / (1 + theta^2 h_s)`` (``condVar``).
``loglik_null`` is the glm's (``theta = 0``); the boundary likelihood-ratio test of
``theta = 0`` (Self & Liang 1987) has ``p = 0.5 P(chi2_1 > 2 (L - L0))``. Checked against
``lme4::glmer`` (``tests/fixtures/r/stations``).

Ranking (:func:`rank_stations`)
-------------------------------
Adjusted satisfied rate of a station: the mean over *all* the period's answers of
``expit(x_i' beta + u_s)`` -- the rate the station would have had with the whole
period's case mix (direct standardisation). When the between-station variance is not
distinguishable from zero (``theta`` at 0, or the boundary test's ``p >= alpha``, default
0.05) the stations are **not ranked**: ``rank``, ``rank_low`` and ``rank_high`` are
missing, ``attrs["ranked"]`` is False and ``attrs["note"]`` says "no detectable
difference between stations". Otherwise the rank intervals come from ``draws`` (2,000)
seeded draws ``u_s ~ N(u_s, condVar_s)`` independently per station (an empirical-Bayes
approximation that ignores the uncertainty of ``beta`` and ``theta``), ranking the draws
(1 = most satisfied) and taking the ``(1 - conf_level) / 2`` and ``(1 + conf_level) / 2``
quantiles of each station's ranks (Goldstein & Spiegelhalter 1996). The point ``rank`` is
the rank of ``u_s`` with ties sharing the best rank (``min``): ties are never broken by
name. The flags (``versus_mean``) are those of :func:`funnel` on the same answers (FDR
rule), which holds whether or not the stations are ranked.

References
----------
Spiegelhalter, D. J. (2005) Funnel plots for comparing institutional performance.
Statistics in Medicine 24(8), 1185-1202.
Benjamini, Y. & Hochberg, Y. (1995) Controlling the false discovery rate. JRSS B 57, 289-300.
Bates, D., Maechler, M., Bolker, B. & Walker, S. (2015) Fitting linear mixed-effects models
using lme4. Journal of Statistical Software 67(1).
Self, S. G. & Liang, K.-Y. (1987) Asymptotic properties of maximum likelihood estimators
and likelihood ratio tests under nonstandard conditions. JASA 82, 605-610.
Goldstein, H. & Spiegelhalter, D. J. (1996) League tables and their limitations. JRSS A
159(3), 385-443.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special, stats
from threadpoolctl import threadpool_limits

from research.errors import InputError, NotEstimable

#: case-mix regressors (R notation): known before or while the ticket is handled, no station
CASE_MIX_RHS = "cause_l2 + log2(1 + handling_hours) + channel"
#: the funnel's two limit levels (Spiegelhalter 2005: "2 sigma" and "3 sigma")
FUNNEL_LEVELS = (0.95, 0.998)
#: fewest complete answers for the case-mix model
MIN_ROWS = 30
_VARIABLES = ("satisfied", "cause_l2", "handling_hours", "channel", "station")


# ---------------------------------------------------------------------------- case mix

def _design(responses: pd.DataFrame, rhs: str, instrument, what: str):
    """Complete cases: (frame rows of responses, X, y, station labels)."""
    from research.models.design import build_design, formula_context, model_frame

    if not isinstance(responses, pd.DataFrame):
        raise InputError(f"{what}: expected a DataFrame, got {type(responses).__name__}")
    missing = [c for c in _VARIABLES if c not in responses.columns]
    if missing:
        raise InputError(f"{what}: required column(s) absent: {', '.join(missing)}")
    if instrument is None:
        from research.config.instrument import load_instrument
        instrument = load_instrument()
    hours = pd.to_numeric(responses["handling_hours"], errors="coerce")
    resp = responses.loc[(hours >= 0).to_numpy(dtype=bool)]
    frame, rows = model_frame(resp, _VARIABLES, reference_levels={}, instrument=instrument)
    if len(frame) == 0:
        return resp.iloc[rows], np.empty((0, 1)), np.empty(0), np.empty(0, dtype=object)
    design = build_design(frame, rhs, intercept=True, context=formula_context())
    y = frame["satisfied"].to_numpy(dtype=float)
    return resp.iloc[rows], design.X, y, frame["station"].astype(str).to_numpy(dtype=object)


def fit_case_mix(X: np.ndarray, y: np.ndarray, *, maxiter: int = 100) -> np.ndarray:
    """Maximum-likelihood logit coefficients of ``y`` (0/1) on ``X`` (with its intercept column).

    Newton-Raphson from zero, stopped when the largest step is below 1e-10; columns that
    are linearly dependent get a zero coefficient (pseudo-inverse). Same estimates as R
    ``glm(y ~ X - 1, family = binomial)`` where that converges; under separation the
    coefficients grow large while the fitted probabilities stay usable.
    """
    beta = np.zeros(X.shape[1])
    for _ in range(maxiter):
        eta = X @ beta
        p = special.expit(eta)
        w = p * (1 - p)
        grad = X.T @ (y - p)
        A = X * np.sqrt(w)[:, None]
        hess = A.T @ A  # A'A of one array: numpy's symmetric rank-k product, half the work
        step = np.linalg.pinv(hess, hermitian=True) @ grad
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


# ---------------------------------------------------------------------------- funnel

def funnel_limits(n, target: float, *, levels=FUNNEL_LEVELS, phi: float = 1.0) -> pd.DataFrame:
    """Funnel control limits of a proportion around ``target`` for numbers of answers ``n``.

    Parameters
    ----------
    n : numbers of answers (positive integers), scalar or array.
    target : the overall rate ``theta0`` in (0, 1).
    levels : two-sided coverage of each pair of limits (default 0.95 and 0.998).
    phi : over-dispersion factor; 1 (default) gives the exact binomial limits with
        Spiegelhalter's interpolation (2005, appendix A.1.1), above 1 the normal limits
        ``target +/- z sqrt(phi target (1 - target) / n)`` (section 3.3.1).

    Returns
    -------
    One row per ``n``: ``n``, then ``lcl_<level>`` and ``ucl_<level>`` per level (rates in
    [0, 1]; level written as in ``lcl_95``, ``lcl_99.8``), and ``limits`` ("exact" or
    "normal_phi").
    """
    n = np.atleast_1d(np.asarray(n, dtype=float))
    if not 0 < target < 1:
        raise ValueError(f"target must lie strictly between 0 and 1, got {target!r}")
    if np.any(n < 1) or np.any(n != np.round(n)):
        raise ValueError("n must be positive whole numbers")
    out = pd.DataFrame({"n": n.astype(np.int64)})
    for level in levels:
        tag = f"{level * 100:g}"
        for side, q in (("lcl", (1 - level) / 2), ("ucl", (1 + level) / 2)):
            if phi > 1:
                z = stats.norm.ppf(q)
                lim = np.clip(target + z * np.sqrt(phi * target * (1 - target) / n), 0.0, 1.0)
            else:
                r = stats.binom.ppf(q, n, target)
                f_r = stats.binom.cdf(r, n, target)
                f_r1 = stats.binom.cdf(r - 1, n, target)
                a = (f_r - q) / (f_r - f_r1)
                lim = np.clip((r - a) / n, 0.0, 1.0)
            out[f"{side}_{tag}"] = lim
    out["limits"] = "normal_phi" if phi > 1 else "exact"
    return out


def interpolated_cdf(x, n, target: float) -> np.ndarray:
    """Spiegelhalter's interpolated Binomial(n, target) distribution function at real counts ``x``.

    ``G(x) = F(r - 1) + (F(r) - F(r - 1)) (x - r + 1)`` with ``r = ceil(x)`` (``G(k) = F(k)`` at
    whole ``k``): the inverse of the interpolated limits of :func:`funnel_limits`, so a rate
    ``x / n`` lies below the lower limit of tail ``q`` exactly when ``G(x) < q``.
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    r = np.ceil(x)
    f_r = stats.binom.cdf(r, n, target)
    f_r1 = stats.binom.cdf(r - 1, n, target)
    return f_r1 + (f_r - f_r1) * (x - r + 1)


def overdispersion_factor(z: np.ndarray, winsor: float = 0.1) -> float:
    """Multiplicative over-dispersion ``phi = mean(z_w^2)`` of z-scores winsorised at
    their ``winsor`` and ``1 - winsor`` quantiles (Spiegelhalter 2005, section 3.3.1)."""
    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    if len(z) == 0:
        return float("nan")
    lo, hi = np.quantile(z, [winsor, 1 - winsor])
    return float(np.mean(np.clip(z, lo, hi) ** 2))


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), as R ``p.adjust(p, "BH")``; NaN kept.

    The one implementation is :func:`research.models.fit.adjust_pvalues`.
    """
    from research.models.fit import adjust_pvalues

    return adjust_pvalues(p, "fdr")


_FUNNEL_COLUMNS = {"station": "string", "n": "int64", "observed": "int64", "expected": "float64",
                   "ratio": "float64", "raw_rate": "float64", "std_rate": "float64", "target": "float64",
                   "lcl_95": "float64", "ucl_95": "float64", "lcl_99.8": "float64", "ucl_99.8": "float64",
                   "z": "float64", "p_value": "float64", "q_value": "float64", "phi": "float64",
                   "phi_used": "bool", "limits": "string", "signal": "string", "fdr_signal": "string",
                   "case_mix": "bool", "method": "string"}


def _empty_funnel(note: str) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _FUNNEL_COLUMNS.items()})
    out.attrs["note"] = note
    return out


def funnel(responses: pd.DataFrame, *, instrument=None, case_mix: bool = True, rhs: str = CASE_MIX_RHS,
           overdispersion: str = "test", winsor: float = 0.1, fdr: float = 0.05) -> pd.DataFrame:
    """Risk-adjusted funnel-plot data: each station against the overall satisfied rate.

    Parameters
    ----------
    responses : canonical responses; uses ``satisfied``, ``cause_l2``, ``handling_hours``
        (hours), ``channel`` and ``station`` (complete cases with handling time >= 0).
    instrument : category order of the case-mix model (default the package's instrument).
    case_mix : standardise by the case-mix logit (default) or compare crude rates.
    rhs : the case-mix regressors (R notation; default :data:`CASE_MIX_RHS`).
    overdispersion : ``"test"`` (default: use ``phi`` when ``I phi`` exceeds the 95% point of
        chi-square(I)), ``"auto"`` (whenever ``phi > 1``) or ``"none"``.
    winsor : winsorising fraction of each tail for ``phi`` (default 0.1).
    fdr : q-value below which ``fdr_signal`` flags a station (default 0.05).

    Returns
    -------
    One row per station (sorted by name): ``station``, ``n`` (complete answers),
    ``observed`` (satisfied answers), ``expected`` (case-mix expected satisfied answers),
    ``ratio`` (O / E), ``raw_rate`` (O / n), ``std_rate`` (indirectly standardised rate
    ``target * O / E``), ``target`` (overall rate), ``lcl_95, ucl_95, lcl_99.8, ucl_99.8``
    (limits at this station's n), ``z``, ``p_value`` (two-sided; exact-interpolated or normal, see above), ``q_value`` (BH),
    ``phi`` (estimated factor), ``phi_used``, ``limits`` ("exact" / "normal_phi"),
    ``signal`` and ``fdr_signal`` ("above", "below" or ""), ``case_mix``, ``method``.
    Fewer than 2 stations or :data:`MIN_ROWS` complete answers, or a single outcome: an
    empty frame with these columns and the reason in ``attrs["note"]``. ``attrs`` also
    holds ``target``, ``phi``, ``phi_used`` and ``n_stations``. See the module docstring
    (Spiegelhalter 2005).
    """
    try:
        _, X, y, st = _design(responses, rhs, instrument, "funnel: responses")
    except NotEstimable as exc:
        return _empty_funnel(f"funnel not computed: the case-mix model is not estimable ({exc})")
    n_st = len(pd.unique(st))  # distinct stations by hashing (np.unique sorted a million strings)
    if len(y) < MIN_ROWS or n_st < 2:
        return _empty_funnel(f"funnel not computed: {len(y)} complete answers at {n_st} station(s); "
                             f"at least {MIN_ROWS} answers at 2 stations are needed")
    if y.min() == y.max():
        return _empty_funnel("funnel not computed: every complete answer has the same outcome")
    p = special.expit(X @ fit_case_mix(X, y)) if case_mix else None
    out = funnel_table(st, y, p, overdispersion=overdispersion, winsor=winsor, fdr=fdr)
    text = ("funnel, case-mix logit (" + rhs + "), Spiegelhalter 2005" if case_mix
            else "funnel, crude rates, Spiegelhalter 2005")
    out["method"] = pd.array([text] * len(out), dtype="string")
    return out


def funnel_table(stations, y, p=None, *, overdispersion: str = "test", winsor: float = 0.1,
                 fdr: float = 0.05) -> pd.DataFrame:
    """The funnel of :func:`funnel` from arrays: one label, outcome (0/1) and expected
    probability ``p`` (None: the overall rate, i.e. crude rates) per answer.

    Returns the frame :func:`funnel` documents (``method`` says whether ``p`` was given).
    """
    if overdispersion not in ("test", "auto", "none"):
        raise ValueError("overdispersion must be 'test', 'auto' or 'none'")
    if not 0 < fdr < 1:
        raise ValueError("fdr must lie strictly between 0 and 1")
    y = np.asarray(y, dtype=float)
    st = np.asarray(stations, dtype=object)
    case_mix = p is not None
    theta0 = float(y.mean())
    if not 0 < theta0 < 1:
        raise ValueError("the outcome must not be constant")
    p = np.full(len(y), theta0) if p is None else np.asarray(p, dtype=float)
    codes, names = pd.factorize(pd.Series(st), sort=True)
    n = np.bincount(codes).astype(float)
    obs = np.bincount(codes, weights=y)
    exp_ = np.bincount(codes, weights=p)
    std = theta0 * obs / exp_
    z = (std - theta0) / np.sqrt(theta0 * (1 - theta0) / n)
    phi = overdispersion_factor(z, winsor)
    k = len(n)
    if overdispersion == "none":
        use = False
    elif overdispersion == "auto":
        use = phi > 1
    else:
        use = k * phi > stats.chi2.ppf(0.95, k)
    phi_eff = phi if use else 1.0
    zs = z / np.sqrt(phi_eff)
    if use:
        pv = 2 * stats.norm.sf(np.abs(zs))
    else:  # exact, consistent with the interpolated limits: y outside the 99.8% limits <=> p < 0.002
        g = interpolated_cdf(n * std, n, theta0)
        pv = np.minimum(1.0, 2 * np.minimum(g, 1 - g))
    q = bh_qvalues(pv)
    lim = funnel_limits(n, theta0, phi=phi_eff)
    out = pd.DataFrame({"station": pd.array(np.asarray(names, dtype=object), dtype="string"),
                        "n": n.astype(np.int64), "observed": obs.round().astype(np.int64),
                        "expected": exp_, "ratio": obs / exp_, "raw_rate": obs / n, "std_rate": std,
                        "target": theta0})
    for c in ("lcl_95", "ucl_95", "lcl_99.8", "ucl_99.8"):
        out[c] = lim[c].to_numpy()
    out["z"] = zs
    out["p_value"] = pv
    out["q_value"] = q
    out["phi"] = phi
    out["phi_used"] = bool(use)
    out["limits"] = lim["limits"].to_numpy()
    out["signal"] = np.where(std < out["lcl_99.8"], "below", np.where(std > out["ucl_99.8"], "above", ""))
    out["fdr_signal"] = np.where(q < fdr, np.where(zs < 0, "below", "above"), "")
    out["case_mix"] = bool(case_mix)
    out["method"] = "funnel, case-mix expected, Spiegelhalter 2005" if case_mix else \
        "funnel, crude rates, Spiegelhalter 2005"
    out = out.astype(_FUNNEL_COLUMNS)
    out.attrs.update(note="", target=theta0, phi=phi, phi_used=bool(use), n_stations=int(k))
    return out


# ---------------------------------------------------------------------------- random-intercept logit

@dataclass
class GlmmFit:
    """Result of :func:`fit_random_intercept_logit` (names and scales as lme4 reports them)."""

    beta: np.ndarray  # fixed effects
    theta: float  # between-station SD on the logit scale
    loglik: float  # Laplace log-likelihood (lme4 logLik of a glmer fit)
    loglik_null: float  # glm log-likelihood (theta = 0)
    groups: np.ndarray  # sorted station labels, order of ranef / condvar
    ranef: np.ndarray  # conditional modes u_s = theta * v_s
    condvar: np.ndarray  # their conditional variances
    nobs: int
    converged: bool

    @property
    def sigma2_group(self) -> float:
        return self.theta ** 2

    @property
    def lrt(self) -> float:
        """Likelihood-ratio statistic of theta = 0 (>= 0)."""
        return max(0.0, 2.0 * (self.loglik - self.loglik_null))

    @property
    def lrt_p(self) -> float:
        """Boundary p-value ``0.5 P(chi2_1 > lrt)`` (Self & Liang 1987); 1 when theta is 0."""
        return 1.0 if self.theta == 0 else float(0.5 * stats.chi2.sf(self.lrt, 1))


def _modes(eta0: np.ndarray, y: np.ndarray, codes: np.ndarray, G: int, theta: float,
           v: np.ndarray | None = None):
    """Conditional modes v_s of every station at fixed (beta, theta): vectorised 1-D Newton
    on the strictly concave ``g_s(v)``, each step halved until ``g_s`` does not fall."""
    v = np.zeros(G) if v is None else v.copy()

    def g(vv):
        eta = eta0 + theta * vv[codes]
        return np.bincount(codes, weights=y * eta - np.logaddexp(0.0, eta), minlength=G) - vv * vv / 2

    cur = g(v)
    for _ in range(200):
        p = special.expit(eta0 + theta * v[codes])
        score = theta * np.bincount(codes, weights=y - p, minlength=G) - v
        h = np.bincount(codes, weights=p * (1 - p), minlength=G)
        step = score / (theta * theta * h + 1.0)
        if np.max(np.abs(step)) < 1e-10:
            break
        for _ in range(50):
            new = g(v + step)
            bad = new < cur - 1e-12 * np.abs(cur)
            if not bad.any():
                break
            step = np.where(bad, step / 2, step)
        v = v + step
        cur = g(v)
    return v


def _laplace(params: np.ndarray, X, y, codes, G, state):
    """Negative Laplace log-likelihood and its gradient in (beta, theta)."""
    beta, theta = params[:-1], params[-1]
    eta0 = X @ beta
    v = _modes(eta0, y, codes, G, theta, state.get("v"))
    state["v"] = v
    eta = eta0 + theta * v[codes]
    p = special.expit(eta)
    w = p * (1 - p)
    h = np.bincount(codes, weights=w, minlength=G)
    H = theta * theta * h + 1.0
    ll = float(np.sum(y * eta - np.logaddexp(0.0, eta)) - 0.5 * np.sum(v * v) - 0.5 * np.sum(np.log(H)))
    resid = y - p
    c = w * (1 - 2 * p)  # d w / d eta
    # d v_s / d beta = -theta sum_i w_i x_i / H_s ; d v_s / d theta = (sum(y - p) - theta h v) / H_s
    Z = state["Z"]
    wx = Z @ (X * w[:, None])
    dv_db = -theta * wx / H[:, None]
    sr = np.bincount(codes, weights=resid, minlength=G)
    dv_dt = (sr - theta * h * v) / H
    # d h_s / d beta = sum_i c_i (x_i + theta dv_s/dbeta)
    cx = Z @ (X * c[:, None])
    csum = np.bincount(codes, weights=c, minlength=G)
    dh_db = cx + theta * csum[:, None] * dv_db
    dh_dt = csum * (v + theta * dv_dt)
    g_beta = X.T @ resid - 0.5 * ((theta * theta / H)[:, None] * dh_db).sum(axis=0)
    g_theta = float(np.sum(v * sr) - 0.5 * np.sum((2 * theta * h + theta * theta * dh_dt) / H))
    return -ll, -np.r_[g_beta, g_theta]


def fit_random_intercept_logit(X: np.ndarray, y: np.ndarray, groups) -> GlmmFit:
    """Fit ``y ~ X + (1 | groups)``, binomial logit, by the Laplace approximation.

    As R ``lme4::glmer(y ~ X - 1 + (1 | group), family = binomial)`` (``nAGQ = 1``; Bates et
    al. 2015). ``X`` (n, p) is used as given (include the intercept column); ``y`` 0/1;
    ``groups`` any labels (sorted for the output). See the module docstring for the
    likelihood and its gradient.

    Returns
    -------
    :class:`GlmmFit`: ``beta``, ``theta`` (between-group SD, logit scale), ``loglik``,
    ``loglik_null`` (glm), ``ranef`` / ``condvar`` per sorted group, ``lrt`` and ``lrt_p``
    (boundary test of theta = 0).

    Raises
    ------
    ValueError
        Fewer than 2 groups, mismatched lengths or non-finite values.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[0] != len(y) or len(groups) != len(y):
        raise ValueError("X, y and groups must have the same number of rows")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X and y must be finite")
    codes, labels = pd.factorize(pd.Series(np.asarray(groups, dtype=object)).astype(str), sort=True)
    G = len(labels)
    if G < 2:
        raise ValueError("at least 2 groups are needed")
    beta0 = fit_case_mix(X, y)
    eta0 = X @ beta0
    ll0 = float(np.sum(y * eta0 - np.logaddexp(0.0, eta0)))
    best = None
    Z = sparse.csr_matrix((np.ones(len(y)), (codes, np.arange(len(y)))), shape=(G, len(y)))
    for start in (0.5, 0.05):  # a second start only if the first stops at the boundary
        state: dict = {"Z": Z}
        with threadpool_limits(limits=1, user_api="blas"):  # tiny BLAS calls: threads only spin
            res = optimize.minimize(_laplace, np.r_[beta0, start], args=(X, y, codes, G, state), jac=True,
                                    method="L-BFGS-B", bounds=[(None, None)] * X.shape[1] + [(0.0, None)],
                                    options={"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-7})
        if best is None or res.fun < best.fun - 1e-9:
            best = res
        if best.x[-1] >= 1e-4:
            break
    beta, theta = best.x[:-1], float(best.x[-1])
    ll = -float(best.fun)
    if theta < 1e-4 or ll <= ll0:  # the boundary (lme4's singular fit)
        beta, theta, ll = beta0, 0.0, ll0
    eta0 = X @ beta
    v = _modes(eta0, y, codes, G, theta)
    p = special.expit(eta0 + theta * v[codes])
    h = np.bincount(codes, weights=p * (1 - p), minlength=G)
    return GlmmFit(beta=beta, theta=theta, loglik=ll, loglik_null=ll0,
                   groups=np.asarray(labels, dtype=object), ranef=theta * v,
                   condvar=theta * theta / (1.0 + theta * theta * h), nobs=len(y),
                   converged=bool(best.success))


# ---------------------------------------------------------------------------- ranking

_RANK_COLUMNS = {"station": "string", "n": "int64", "raw_rate": "float64", "ranef": "float64",
                 "ranef_se": "float64", "adjusted_rate": "float64", "rank": "Int64", "rank_low": "Int64",
                 "rank_high": "Int64", "overall_rate": "float64", "std_rate": "float64", "q_value": "float64",
                 "versus_mean": "string"}


def _empty_rank(note: str) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _RANK_COLUMNS.items()})
    out.attrs.update(note=note, ranked=False)
    return out


def rank_stations(responses: pd.DataFrame, *, instrument=None, rhs: str = CASE_MIX_RHS,
                  conf_level: float = 0.95, alpha: float = 0.05, draws: int = 2000, seed: int = 20260101,
                  fdr: float = 0.05) -> pd.DataFrame:
    """Stations ranked on the case-mix-adjusted satisfied rate, with intervals on the ranks.

    Parameters
    ----------
    responses : canonical responses of one period (``satisfied``, ``cause_l2``,
        ``handling_hours``, ``channel``, ``station``).
    instrument : category order (default the package's instrument).
    rhs : fixed effects (R notation; default :data:`CASE_MIX_RHS`).
    conf_level : coverage of the rank intervals (default 0.95).
    alpha : level of the boundary test of no between-station variance (default 0.05).
    draws, seed : simulation of the ranks (default 2,000 draws, fixed seed).
    fdr : q-value of the funnel flags (:func:`funnel`).

    Returns
    -------
    One row per station: ``station``, ``n``, ``raw_rate``, ``ranef`` (conditional mode,
    logit scale), ``ranef_se`` (its conditional SD), ``adjusted_rate`` (direct
    standardisation on the period's case mix, 0..1), ``rank``, ``rank_low``, ``rank_high``
    (1 = most satisfied; <NA> when not ranked), ``overall_rate``, ``std_rate`` and
    ``q_value`` (the funnel's), ``versus_mean`` ("below", "above" or "": the funnel's FDR
    flag). Ordered by rank (ties and unranked by adjusted rate, then raw rate, then n;
    never by name alone when they differ). ``attrs``: ``ranked`` (bool), ``note``,
    ``sigma2_station``, ``lrt``, ``lrt_p``, ``loglik``, ``n_answers``. See the module
    docstring (lme4 ``glmer``; Goldstein & Spiegelhalter 1996).
    """
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must lie strictly between 0 and 1")
    try:
        _, X, y, st = _design(responses, rhs, instrument, "rank_stations: responses")
    except NotEstimable as exc:
        return _empty_rank(f"ranking not computed: the model is not estimable ({exc})")
    n_st = len(pd.unique(st))  # distinct stations by hashing (np.unique sorted a million strings)
    if n_st < 2:
        return _empty_rank(f"ranking not computed: {n_st} station(s) with complete answers; at least 2 "
                           "are needed")
    if len(y) < MIN_ROWS:
        return _empty_rank(f"ranking not computed: {len(y)} complete answers; at least {MIN_ROWS} are needed")
    if y.min() == y.max():
        return _empty_rank("ranking not computed: every complete answer has the same outcome")
    try:
        fit = fit_random_intercept_logit(X, y, st)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return _empty_rank(f"ranking not computed: the model could not be fitted ({exc})")
    codes = pd.factorize(pd.Series(st), sort=True)[0]
    G = len(fit.groups)
    eta0 = X @ fit.beta
    adjusted = np.array([special.expit(eta0 + u).mean() for u in fit.ranef])
    fun = funnel_table(st, y, special.expit(X @ fit_case_mix(X, y)), fdr=fdr)
    fun = fun.set_index(fun["station"].astype(str))
    names = fit.groups.astype(str)
    out = pd.DataFrame({"station": pd.array(names, dtype="string"),
                        "n": np.bincount(codes, minlength=G).astype(np.int64),
                        "raw_rate": np.bincount(codes, weights=y, minlength=G) / np.bincount(codes, minlength=G),
                        "ranef": fit.ranef, "ranef_se": np.sqrt(fit.condvar), "adjusted_rate": adjusted})
    ranked = fit.theta > 0 and fit.lrt_p < alpha
    rank = pd.array([pd.NA] * G, dtype="Int64")
    low = high = rank
    if ranked:
        rng = np.random.default_rng(seed)
        sims = fit.ranef[None, :] + rng.standard_normal((draws, G)) * np.sqrt(fit.condvar)[None, :]
        ranks = stats.rankdata(-sims, axis=1, method="min")
        lo_q, hi_q = (1 - conf_level) / 2, (1 + conf_level) / 2
        low = pd.array(np.quantile(ranks, lo_q, axis=0, method="inverted_cdf").astype(np.int64), dtype="Int64")
        high = pd.array(np.quantile(ranks, hi_q, axis=0, method="inverted_cdf").astype(np.int64),
                        dtype="Int64")
        rank = pd.array(stats.rankdata(-np.round(fit.ranef, 12), method="min").astype(np.int64), dtype="Int64")
    out["rank"], out["rank_low"], out["rank_high"] = rank, low, high
    out["overall_rate"] = float(y.mean())
    out["std_rate"] = fun["std_rate"].reindex(names).to_numpy(dtype=float)
    out["q_value"] = fun["q_value"].reindex(names).to_numpy(dtype=float)
    out["versus_mean"] = fun["fdr_signal"].reindex(names).fillna("").to_numpy(dtype=object)
    out = out.astype(_RANK_COLUMNS)
    keys = ["adjusted_rate", "raw_rate", "n"]
    if ranked:
        out = out.assign(_r=out["rank"].astype("float64")).sort_values(["_r", *keys],
                                                                         ascending=[True, False, False, False],
                                                                         kind="stable").drop(columns="_r")
    else:
        out = out.sort_values(keys, ascending=False, kind="stable")
    out = out.reset_index(drop=True)
    if ranked:
        note = ""
    elif fit.theta == 0:
        note = ("no detectable difference between stations: the between-station variance is estimated "
                "at zero; stations are not ranked")
    else:
        note = (f"no detectable difference between stations: the between-station variance is not "
                f"distinguishable from zero (likelihood-ratio p = {fit.lrt_p:.3g} >= {alpha:g}); stations "
                "are not ranked")
    out.attrs.update(ranked=bool(ranked), note=note, sigma2_station=fit.sigma2_group, lrt=fit.lrt,
                     lrt_p=fit.lrt_p, loglik=fit.loglik, n_answers=int(len(y)), conf_level=conf_level,
                     draws=int(draws), seed=int(seed))
    return out
