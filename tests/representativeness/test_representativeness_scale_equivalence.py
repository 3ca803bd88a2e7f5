"""The representativeness stage's scale-minded computations give the row-level algorithms' numbers.

Each fast path (sums over cells or clusters instead of rows, integer codes instead of strings,
a blocked Newton logit instead of statsmodels) is compared here with the straightforward
row-level computation it replaced, written out in this file as the reference:

- the calibrated (raked / post-stratified) variance from cell sums vs the row-level projection
  of R's ``svyrecvar`` (``Calibration.residuals`` then cluster totals);
- raking on the margins' cell table vs raking every row; post-stratification cells from codes vs
  the texts ``"a × b"``; weight diagnostics per level vs object comparisons;
- the delta adjustment from per-(pattern, delta) cell sums vs one pass over every row per
  scenario, delta and domain variable;
- the response-propensity and outcome logits vs statsmodels' ``Logit`` (cluster-robust CR1);
- response rates, the repeat flag and the ticket links vs the pandas / string versions.

Tolerances: rounding only (sums in another order), named once below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.special import expit

from research.stats.design_based import Calibration, linearized_variance, svy_by
from research.representativeness.nonresponse import (REPEAT_WINDOW_DAYS, logit_newton, population_design, population_frame,
                                  propensity_model, response_rates)
from research.representativeness.run import _on_respondents, coded_domains, respondent_frame
from research.strategy.sensitivity import (PATTERNS, SCENARIOS, _DeltaSums, _labels, _setup, delta_range,
                                  missing_pattern, outcome_model, population_outcome)
from research.simulate import simulate
from research.stats.weights import margin_diagnostics, poststratify, rake, weight_summary

#: sums of the same doubles in another order
ROUNDING = 1e-10
#: two Newton fits to 1e-12 of the same likelihood
NEWTON = 1e-8


@pytest.fixture(scope="module")
def sim():
    return simulate(4000, 5)


@pytest.fixture(scope="module")
def frames(sim, plan):
    spec = plan.weighting
    return population_frame(sim.workorders, bands_hours=spec.bands_hours), respondent_frame(sim.responses, spec)


# --------------------------------------------------------------------------- calibration

def _design(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"a": rng.choice(list("abcde"), n), "b": rng.choice(list("xyz"), n),
                      "st": rng.choice([f"s{i:02d}" for i in range(17)], n)})
    return f, rng.lognormal(size=n), rng


@pytest.mark.parametrize("raking", [True, False])
def test_cell_variance_equals_row_level_projection(raking):
    f, w, rng = _design()
    cal = Calibration.from_frame(f, ["a", "b"], w, "st", raking=raking)
    z = rng.normal(size=(len(f), 4))
    ref = linearized_variance(cal.residuals(z), cal.clusters, cal.n_clusters)
    assert np.allclose(cal.variance(z), ref, rtol=ROUNDING, atol=0)
    rows = np.sort(rng.choice(len(f), 2000, replace=False))
    full = np.zeros_like(z)
    full[rows] = z[:2000]
    ref = linearized_variance(cal.residuals(full), cal.clusters, cal.n_clusters)
    assert np.allclose(cal.variance(z[:2000], rows), ref, rtol=ROUNDING, atol=0)
    # scaled influence (r_i M_i, not formed) and domain variances (one column per domain)
    r = rng.normal(size=2000)
    plain, scaled = cal.cell_sums(z[:2000], rows, scale=r)
    assert np.allclose(cal.variance_of_cell_sums(plain, scaled), cal.variance(z[:2000] * r[:, None], rows),
                       rtol=ROUNDING, atol=0)
    dom = rng.integers(0, 6, 2000)
    Z = np.zeros((len(f), 6))
    Z[rows, dom] = z[:2000, 0]
    ref = np.diag(linearized_variance(cal.residuals(Z), cal.clusters, cal.n_clusters))
    assert np.allclose(cal.domain_variances(z[:2000, 0], rows, dom, 6), ref, rtol=ROUNDING, atol=0)


def test_poststratification_cells_number_as_a_multiindex():
    f, w, _ = _design()
    cal = Calibration.from_frame(f, ["a", "b"], w, "st", raking=False)
    codes = [pd.factorize(f[m].astype("string"))[0] for m in ("a", "b")]
    assert (cal.margins[0] == pd.factorize(pd.MultiIndex.from_arrays(codes))[0]).all()


def test_coded_domains_give_svy_by_the_same_domains_and_clusters():
    f, w, rng = _design()
    f = f.assign(b=f["b"].astype("string").mask(rng.random(len(f)) < 0.05), y=rng.integers(0, 2, len(f)),
                 w=w, a=f["a"].astype("string"))
    coded = coded_domains(f, ["a", "b"], "st")
    for by in ("a", "b"):
        plain = svy_by(f, y="y", by=by, weights="w", cluster="st")
        fast = svy_by(coded, y="y", by=by, weights="w", cluster="st")
        assert plain[by].astype(str).tolist() == fast[by].astype(str).tolist()
        cols = ["estimate", "std_error", "estimate_unweighted", "std_error_unweighted", "n", "n_missing"]
        pd.testing.assert_frame_equal(plain[cols], fast[cols], rtol=ROUNDING)


# --------------------------------------------------------------------------- weights

@pytest.mark.parametrize("cap", [None, 3.0])
def test_raking_the_cell_table_equals_raking_the_rows(frames, plan, cap):
    pop, resp = frames
    margins = list(plan.weighting.margins)
    n, N = len(resp), len(pop)
    cells = rake(resp, pop, margins, cap=cap, tol=1e-10)
    rows = rake(resp, pop, margins, cap=cap, tol=1e-10, start=np.full(n, N / n))  # the row path
    assert cells.converged and rows.converged
    assert cells.iterations == rows.iterations
    assert np.allclose(cells.weights, rows.weights, rtol=1e-11, atol=0)
    pd.testing.assert_frame_equal(cells.diagnostics().drop(columns=["weighted", "error", "rel_error"]),
                                  rows.diagnostics().drop(columns=["weighted", "error", "rel_error"]))


def test_poststratify_weights_are_cell_ratios_of_the_texts(frames):
    pop, resp = frames
    strata = ["region", "cause_l1"]

    def text(frame):
        key = frame[strata[0]].astype("string")
        for v in strata[1:]:
            key = key + " × " + frame[v].astype("string")
        return key.astype(object)

    res = poststratify(resp, pop, strata)
    k_s, k_p = text(resp), text(pop)
    expected = (k_p.value_counts() / k_s.value_counts()).reindex(k_s.to_numpy()).to_numpy()
    assert np.allclose(res.weights, expected, rtol=ROUNDING, atol=0)
    levels = [lev for _, lev, _, _ in res._margins][0]
    assert list(levels) == sorted(k_p.unique())


def test_margin_diagnostics_equal_object_comparisons(frames):
    _, resp = frames
    w = np.random.default_rng(3).lognormal(size=len(resp))
    got = margin_diagnostics(resp, w, ["region", "cause_l2", "handling_band"])
    rows = [{"variable": "all", "level": "all", **weight_summary(w)}]
    for var in ["region", "cause_l2", "handling_band"]:
        col = resp[var]
        levels = (list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
                  else sorted(col.dropna().unique().tolist(), key=str))
        values = col.to_numpy(dtype=object)
        for lev in levels:
            if (values == lev).any():
                rows.append({"variable": var, "level": str(lev), **weight_summary(w[values == lev])})
    pd.testing.assert_frame_equal(got, pd.DataFrame(rows), rtol=0, atol=0)


# --------------------------------------------------------------------------- delta adjustment

def _row_level(model, st, shifted, delta):
    """theta and SE of every domain level by one pass over the rows per domain variable (the
    reference the cell sums replace)."""
    X, eta = model.X, model.eta
    pattern = st.pattern
    obs = pattern == "observed"
    y = np.where(obs, np.nan_to_num(st.yr), 0.0)
    infl = (X * (obs * (y - expit(eta)))[:, None]) @ model.bread
    beta_totals = np.stack([np.bincount(st.codes, weights=infl[:, j], minlength=st.g)
                            for j in range(infl.shape[1])], axis=1)
    shift = np.where(np.isin(pattern, shifted), delta, 0.0)
    est, se = [], []
    for _, levels, dom in st.doms:
        k = len(levels)
        d = np.where(dom < 0, k, dom)
        q = expit(eta + shift)
        a = np.where(obs, y, q)
        N = np.maximum(np.bincount(d, minlength=k + 1).astype(float), 1.0)
        theta = np.bincount(d, weights=a, minlength=k + 1) / N
        wq = np.where(obs, 0.0, q * (1 - q))
        onehot = sparse.csr_matrix((np.ones(d.size), (d, np.arange(d.size))), shape=(k + 1, d.size))
        G = np.asarray(onehot @ (X * wq[:, None])) / N[:, None]
        direct = np.bincount(st.codes * (k + 1) + d, weights=(a - theta[d]) / N[d],
                             minlength=st.g * (k + 1)).reshape(st.g, k + 1)
        totals = direct + beta_totals @ G.T
        totals = totals - totals.mean(axis=0)
        var = st.g / (st.g - 1) * np.einsum("gd,gd->d", totals, totals)
        est.extend(theta[:k])
        se.extend(np.sqrt(var[:k]))
    return np.array(est), np.array(se)


def test_delta_cell_sums_equal_the_row_level_pass(frames, plan, instrument):
    pop, resp = frames
    spec = plan.weighting
    y = population_outcome(resp, pop)
    model = outcome_model(pop, y, spec.propensity_rhs, cluster=spec.cluster,
                          reference_levels=plan.reference_levels, instrument=instrument)
    st = _setup(pop, y, model, ("cause_l1", "region"), spec.cluster)
    sums = _DeltaSums(model, st)
    for shifted in SCENARIOS.values():
        for delta in (-1.0, 0.0, 0.5):
            est, se = sums.estimates(shifted, delta)
            ref_est, ref_se = _row_level(model, st, shifted, delta)
            assert np.allclose(est, ref_est, rtol=ROUNDING, atol=0)
            assert np.allclose(se, ref_se, rtol=ROUNDING, atol=0)
    dr = delta_range(pop, y, model, [0.0], domains=("cause_l1",), cluster=spec.cluster)
    assert len(dr) == len(SCENARIOS) * len(_labels(_setup(pop, y, model, ("cause_l1",), spec.cluster).doms)[0])


def test_setup_codes_equal_the_string_versions(frames, plan, instrument):
    pop, resp = frames
    spec = plan.weighting
    y = population_outcome(resp, pop)
    model = outcome_model(pop, y, spec.propensity_rhs, cluster=spec.cluster,
                          reference_levels=plan.reference_levels, instrument=instrument)
    st = _setup(pop, y, model, ("cause_l1",), spec.cluster)
    sub = pop.iloc[model.rows]
    assert (st.pattern == missing_pattern(sub, y[model.rows])).all()
    assert set(st.pattern) <= set(PATTERNS)
    assert (st.codes == pd.factorize(sub[spec.cluster].astype("string").to_numpy(dtype=object))[0]).all()
    _, levels, dom = st.doms[1]
    idx = {v: i for i, v in enumerate(levels)}
    ref = np.array([idx.get(v, -1) if isinstance(v, str) else -1
                    for v in sub["cause_l1"].astype("string").to_numpy(dtype=object)])
    assert (dom == ref).all() and levels == sorted(set(sub["cause_l1"].dropna()))


def test_population_outcome_and_ticket_links_equal_reindexing(frames):
    pop, resp = frames
    sat = resp[["ticket_id", "satisfied"]].copy()
    sat["ticket_id"] = sat["ticket_id"].astype(str)
    sat = sat.drop_duplicates("ticket_id")
    yser = pd.to_numeric(sat.set_index("ticket_id")["satisfied"].astype("Float64"), errors="coerce")
    ref = yser.reindex(pop["ticket_id"].astype(str).to_numpy()).to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_array_equal(population_outcome(resp, pop), ref)
    values = np.random.default_rng(2).random(len(pop))
    link = pd.Series(values, index=pop["ticket_id"].astype(str).to_numpy())
    link = link[~link.index.duplicated()]
    np.testing.assert_array_equal(_on_respondents(values, pop, resp),
                                  link.reindex(resp["ticket_id"].astype(str).to_numpy()).to_numpy())


# --------------------------------------------------------------------------- logits

def test_propensity_model_equals_statsmodels_cluster_logit(frames, plan, instrument):
    import statsmodels.api as sm

    pop, _ = frames
    spec = plan.weighting
    prepared = population_design(pop, spec.propensity_rhs, cluster=spec.cluster,
                                 reference_levels=plan.reference_levels, instrument=instrument)
    est, fit, prop = propensity_model(pop, spec.propensity_rhs, cluster=spec.cluster,
                                      reference_levels=plan.reference_levels, instrument=instrument,
                                      prepared=prepared)
    y = pop["responded"].to_numpy(dtype=float)[prepared.rows]
    groups = pd.factorize(prepared.frame[spec.cluster].astype(str))[0]
    res = sm.Logit(y, prepared.design.X).fit(method="newton", disp=0, maxiter=100, tol=1e-12, cov_type="cluster",
                                            cov_kwds={"groups": groups, "use_correction": True,
                                                      "df_correction": True})
    assert np.allclose(est["estimate"], res.params, rtol=NEWTON, atol=1e-12)
    assert np.allclose(est["std_error"], res.bse, rtol=NEWTON, atol=0)
    assert fit["loglik"].iloc[0] == pytest.approx(res.llf, rel=1e-12)
    assert fit["pseudo_r2_mcfadden"].iloc[0] == pytest.approx(res.prsquared, rel=1e-8)
    assert np.allclose(prop[prepared.rows], res.predict(prepared.design.X), rtol=NEWTON)


def test_masked_newton_equals_the_fit_on_the_rows(frames, plan, instrument):
    import statsmodels.api as sm

    pop, resp = frames
    spec = plan.weighting
    prepared = population_design(pop, spec.propensity_rhs, cluster=spec.cluster,
                                 reference_levels=plan.reference_levels, instrument=instrument)
    X = prepared.design.X
    y = population_outcome(resp, pop)[prepared.rows]
    obs = ~np.isnan(y)
    beta, H = logit_newton(X, y, mask=obs)
    res = sm.Logit(y[obs], X[obs]).fit(method="newton", disp=0, maxiter=100, tol=1e-12)
    assert np.allclose(beta, res.params, rtol=NEWTON, atol=1e-12)
    p = expit(X[obs] @ beta)
    assert np.allclose(H, (X[obs] * (p * (1 - p))[:, None]).T @ X[obs], rtol=ROUNDING)


# --------------------------------------------------------------------------- rates and repeats

def test_response_rates_equal_the_groupby_counts(frames):
    pop, _ = frames
    pop = pop.assign(region=pop["region"].mask(np.arange(len(pop)) % 97 == 0))
    got = response_rates(pop, ["region", "handling_band", "cause_l2"])
    status = pop["survey_status"].astype("string")
    for var in ["region", "handling_band", "cause_l2"]:
        level = pop[var].astype("string").fillna("(missing)")
        ref = pd.crosstab(level, status.fillna("missing"))
        part = got[got["variable"] == var].set_index("level")
        for s in ("completed", "no_answer", "refused"):
            assert (part[s] == ref[s].reindex(part.index).fillna(0).astype(int)).all()
        assert part["work_orders"].sum() == len(pop)
    assert got[got["variable"] == "region"]["level"].iloc[-1] == "(missing)"


def test_repeat_flag_equals_the_string_sort(sim):
    wo = sim.workorders.copy()
    wo["customer_id"] = wo["customer_id"].astype("string").mask(np.arange(len(wo)) % 13 == 0)
    got = population_frame(wo)["repeat"].to_numpy()
    created = wo["created_at"].to_numpy()
    cust = wo["customer_id"].astype(str).to_numpy()
    ref = np.zeros(len(wo), dtype=bool)
    last: dict = {}
    for i in np.lexsort((created, np.where(pd.isna(cust), "", cust).astype(str))):
        c = cust[i]
        if isinstance(c, str) and c in last and created[i] - last[c] <= np.timedelta64(REPEAT_WINDOW_DAYS, "D"):
            ref[i] = True
        if isinstance(c, str):
            last[c] = created[i]
    np.testing.assert_array_equal(got, ref)


def test_subsample_start_and_chord_steps_reach_newtons_root(frames, plan, instrument, monkeypatch):
    """Above SUBSAMPLE_ROWS (research.stats.logit) the fit starts from a subsample's and keeps its information while
    the steps shrink fast: the same root as plain Newton from zero (here forced on 7,000 rows)."""
    import research.stats.design_based as db
    import research.stats.logit as lg

    pop, resp = frames
    spec = plan.weighting
    prepared = population_design(pop, spec.propensity_rhs, cluster=spec.cluster,
                                 reference_levels=plan.reference_levels, instrument=instrument)
    X = prepared.design.X
    y = pop["responded"].to_numpy(dtype=float)[prepared.rows]
    w = np.random.default_rng(4).lognormal(size=len(y))
    plain = [db.logit_fit(X, y, tol=1e-12), db.logit_fit(X, y, weights=w, tol=1e-12, relative=True)]
    monkeypatch.setattr(lg, "SUBSAMPLE_ROWS", 1000)
    fast = [db.logit_fit(X, y, tol=1e-12), db.logit_fit(X, y, weights=w, tol=1e-12, relative=True)]
    for (b0, H0), (b1, H1) in zip(plain, fast):
        assert np.allclose(b1, b0, rtol=1e-10, atol=1e-12)
        assert np.allclose(H1, H0, rtol=1e-10)
