"""Stations, the risk-adjusted funnel: each station's indirectly standardised satisfied rate
against the overall rate, with exact binomial funnel limits, over-dispersion, z-scores,
Benjamini-Hochberg q-values and the flag rules (Spiegelhalter 2005); and the case-mix logit
it standardises by.

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

References: Spiegelhalter, D. J. (2005) Funnel plots for comparing institutional
performance. Statistics in Medicine 24(8), 1185-1202. Benjamini, Y. & Hochberg, Y. (1995)
Controlling the false discovery rate. JRSS B 57, 289-300.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

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
