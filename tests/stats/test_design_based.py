"""Design-based estimates (research.stats.design_based) against R's survey package.

References:
- R ``survey`` 4.1-1 on ``tests/fixtures/r/design_based/design_data.csv`` with
  ``svydesign(ids = ~station, weights = ~w, data = d)`` (and ``weights = ~one`` for the
  unweighted twins): ``svymean``, ``svyby(..., svymean)``, ``svyglm(quasibinomial())``,
  ``svyolr``; made by ``tests/fixtures/r/design_based/make_reference.R``
  (see the README there);
- analytic identities: equal weights and one row per cluster give the textbook SE of
  the mean; invariance under row order and weight scale; CIs bracket the estimates.

Tolerances (the issue's): point estimates 1e-6 absolute, SEs 1e-4 relative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from research.stats.design_based import (linearized_variance, svy_by, svy_glm_logit, svy_mean,
                                   svy_olr)

R_DIR = Path(__file__).parents[1] / "fixtures" / "r" / "design_based"
CAUSES = ["service", "outage", "capability", "voltage"]   # R factor levels, service = reference
EST_TOL = 1e-6
SE_RTOL = 1e-4


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(R_DIR / "design_data.csv", dtype={"satisfied": str, "station": str})
    d["satisfied"] = d["satisfied"].map({"true": True, "false": False}).astype("boolean")
    d["cause"] = pd.Categorical(d["cause"], categories=CAUSES)
    assert len(d) == 3000 and d["station"].nunique() == 30
    return d


def ref(name: str) -> pd.DataFrame:
    return pd.read_csv(R_DIR / name, keep_default_na=False, na_values=[""])


def complete(d: pd.DataFrame) -> pd.DataFrame:
    return d[d["sat_overall"].notna()].reset_index(drop=True)


def design(d: pd.DataFrame, intercept: bool) -> tuple[np.ndarray, list[str]]:
    cols = [np.ones(len(d))] if intercept else []
    names = ["(Intercept)"] if intercept else []
    for c in CAUSES[1:]:
        cols.append((d["cause"] == c).to_numpy(dtype=float))
        names.append(f"cause{c}")
    cols.append(d["x"].to_numpy(dtype=float))
    names.append("x")
    return np.column_stack(cols), names


def close_se(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=SE_RTOL, atol=0)


def close_est(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=EST_TOL)


# ---------------------------------------------------------------------------
# svymean
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["satisfied", "sat_overall", "x"])
@pytest.mark.parametrize("weighted", [True, False])
def test_svy_mean_matches_r_svymean(data, variable, weighted):
    d = data.assign(one=1.0)
    r = ref("svymean.csv").set_index(["design", "variable"]).loc[
        ("weighted" if weighted else "unweighted", variable)]
    got = svy_mean(d, y=variable, weights="w" if weighted else "one", cluster="station")
    assert list(got.columns) == ["variable", "estimate", "std_error", "conf_low", "conf_high",
                                 "conf_level", "n", "n_missing", "n_clusters"]
    row = got.iloc[0]
    close_est(row["estimate"], r["estimate"])
    close_se(row["std_error"], r["std_error"])
    close_est([row["conf_low"], row["conf_high"]], [r["conf_low"], r["conf_high"]])
    assert ((row["n"], row["n_missing"], row["n_clusters"])
            == (r["n"], r["n_missing"], r["n_clusters"]))


def test_svy_mean_equal_weights_one_row_per_cluster_is_textbook_se():
    # equal weights, every row its own cluster: Var = n/(n-1) * sum (y - ybar)^2 / n^2
    # = s^2 / n with s^2 the (n-1)-divisor sample variance -> SE = sd(y, ddof=1) / sqrt(n)
    rng = np.random.default_rng(1)
    y = rng.normal(3, 2, size=57)
    d = pd.DataFrame({"y": y, "w": 2.5, "g": np.arange(57)})
    got = svy_mean(d, y="y", weights="w", cluster="g").iloc[0]
    assert got["estimate"] == pytest.approx(y.mean(), abs=1e-12)
    assert got["std_error"] == pytest.approx(y.std(ddof=1) / np.sqrt(57), rel=1e-12)
    # i.e. sqrt(n/(n-1)) times the plug-in (ddof=0) SE
    assert got["std_error"] == pytest.approx(np.sqrt(57 / 56) * y.std(ddof=0) / np.sqrt(57),
                                             rel=1e-12)


def test_svy_mean_invariant_to_row_order_and_weight_scale(data):
    a = svy_mean(data, y="sat_overall", weights="w", cluster="station")
    shuffled = data.sample(frac=1.0, random_state=7).reset_index(drop=True)
    shuffled["w"] = shuffled["w"] * 13.0
    b = svy_mean(shuffled, y="sat_overall", weights="w", cluster="station")
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


def test_svy_mean_missing_rows_keep_their_cluster_in_g():
    # a cluster whose only rows are missing still counts in G (R keeps it: the
    # subset design zeroes weights): SE^2 = G/(G-1) * sum z_g^2 with G = 4, not 3
    d = pd.DataFrame({"y": [1.0, 0.0, 1.0, 0.0, 1.0, np.nan], "w": 1.0,
                      "g": ["a", "a", "b", "b", "c", "d"]})
    got = svy_mean(d, y="y", weights="w", cluster="g").iloc[0]
    ybar = 0.6
    z = np.array([(1 - ybar) + (0 - ybar), (1 - ybar) + (0 - ybar), 1 - ybar, 0.0]) / 5
    z -= z.mean()
    assert got["estimate"] == pytest.approx(ybar)
    assert got["std_error"] == pytest.approx(np.sqrt(4 / 3 * (z ** 2).sum()), rel=1e-12)
    assert (got["n"], got["n_missing"], got["n_clusters"]) == (5, 1, 4)


def test_svy_mean_rejects_bad_input(data):
    with pytest.raises(ValueError, match="positive"):
        svy_mean(data.assign(w=0.0), y="x", weights="w", cluster="station")
    with pytest.raises(ValueError, match="at least 2 clusters"):
        svy_mean(data.assign(one="S"), y="x", weights="w", cluster="one")
    with pytest.raises(TypeError, match="numeric or boolean"):
        svy_mean(data, y="station", weights="w", cluster="station")


# ---------------------------------------------------------------------------
# svyby
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["satisfied", "sat_overall"])
def test_svy_by_matches_r_svyby(data, variable):
    r = ref("svyby.csv")
    r = r[r["variable"] == variable]
    rw = r[r["design"] == "weighted"].set_index("cause").loc[CAUSES]
    ru = r[r["design"] == "unweighted"].set_index("cause").loc[CAUSES]
    got = svy_by(data, y=variable, by="cause", weights="w", cluster="station")
    assert got["cause"].astype(str).tolist() == CAUSES
    close_est(got["estimate"], rw["estimate"])
    close_se(got["std_error"], rw["std_error"])
    close_est(got["conf_low"], rw["conf_low"])
    close_est(got["conf_high"], rw["conf_high"])
    close_est(got["estimate_unweighted"], ru["estimate"])
    close_se(got["std_error_unweighted"], ru["std_error"])
    assert got["n"].tolist() == rw["n"].tolist()
    assert (got["n_clusters"] == 30).all()


def test_svy_by_keeps_all_clusters_not_the_subset_design(data):
    # svyby linearises over the whole design: a domain present in only 10 of the 30
    # stations still has G = 30. The domain influence values sum to zero, so the
    # cluster totals have mean 0 either way and the subset-only SE (G = 10) differs
    # from the domain SE by exactly sqrt((30/29) / (10/9)).
    first = sorted(data["station"].unique())[:10]
    d = data.assign(part=np.where(data["station"].isin(first), "early", "late"))
    got = svy_by(d, y="sat_overall", by="part", weights="w", cluster="station")
    row = got[got["part"] == "early"].iloc[0]
    alone = svy_mean(d[d["part"] == "early"], y="sat_overall", weights="w",
                     cluster="station").iloc[0]
    assert alone["n_clusters"] == 10 and row["n_clusters"] == 30
    assert row["estimate"] == pytest.approx(alone["estimate"], abs=1e-12)
    assert row["std_error"] / alone["std_error"] == pytest.approx(
        np.sqrt((30 / 29) / (10 / 9)), rel=1e-10)


def test_svy_by_two_by_columns_and_shuffle_invariance(data):
    d = data.assign(high_x=data["x"] > 0)
    a = svy_by(d, y="satisfied", by=["cause", "high_x"], weights="w", cluster="station")
    assert len(a) == 8 and list(a.columns[:2]) == ["cause", "high_x"]
    b = svy_by(d.sample(frac=1.0, random_state=3), y="satisfied", by=["cause", "high_x"],
               weights="w", cluster="station")
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    # each domain mean equals the plain weighted mean of its rows
    sub = d[(d["cause"] == "outage") & d["high_x"] & d["satisfied"].notna()]
    row = a[(a["cause"] == "outage") & a["high_x"]].iloc[0]
    assert row["estimate"] == pytest.approx(
        np.average(sub["satisfied"].astype(float), weights=sub["w"]), abs=1e-12)
    assert row["estimate_unweighted"] == pytest.approx(sub["satisfied"].astype(float).mean(),
                                                       abs=1e-12)


def test_svy_by_cis_bracket_estimates(data):
    got = svy_by(data, y="satisfied", by="cause", weights="w", cluster="station",
                 conf_level=0.9)
    assert (got["conf_low"] < got["estimate"]).all() and (got["estimate"] < got["conf_high"]).all()
    assert (got["conf_low_unweighted"] < got["estimate_unweighted"]).all()
    half = (got["conf_high"] - got["conf_low"]) / 2
    np.testing.assert_allclose(half, stats.norm.ppf(0.95) * got["std_error"], rtol=1e-12)


# ---------------------------------------------------------------------------
# svyglm (quasibinomial)
# ---------------------------------------------------------------------------

def test_svy_glm_logit_matches_r_svyglm(data):
    d = complete(data)
    X, names = design(d, intercept=True)
    got = svy_glm_logit(X, d["satisfied"].astype(float).to_numpy(), d["w"].to_numpy(),
                        d["station"].to_numpy(), names=names)
    r = ref("svyglm.csv").set_index("term").loc[names]
    assert got["term"].tolist() == names
    close_est(got["estimate"], r["estimate"])
    close_se(got["std_error"], r["std_error"])
    close_se(got["statistic"], r["statistic"])
    close_se(got["p_value"], r["p_value"])
    close_est(got["conf_low"], r["conf_low"])
    close_est(got["conf_high"], r["conf_high"])
    # df = G - ncol(X) = 30 - 5 = 25, R's df.residual
    assert (got["df"].to_numpy() == r["df_residual"].to_numpy()).all() and got["df"].iloc[0] == 25
    assert got["nobs"].iloc[0] == r["nobs"].iloc[0]


def test_svy_glm_logit_full_vcov_and_invariances(data):
    d = complete(data)
    X, names = design(d, intercept=True)
    y = d["satisfied"].astype(float).to_numpy()
    a = svy_glm_logit(X, y, d["w"].to_numpy(), d["station"].to_numpy(), names=names)
    # weight scale and row order do not matter
    perm = np.random.default_rng(5).permutation(len(d))
    b = svy_glm_logit(X[perm], y[perm], 7.0 * d["w"].to_numpy()[perm],
                      d["station"].to_numpy()[perm], names=names)
    pd.testing.assert_frame_equal(a, b, rtol=1e-9)
    assert (a["conf_low"] < a["estimate"]).all() and (a["estimate"] < a["conf_high"]).all()
    # variances equal the diagonal of R's vcov
    rv = ref("svyglm_vcov.csv").set_index("term").loc[names, names].to_numpy()
    close_se(a["std_error"] ** 2, np.diag(rv))


# ---------------------------------------------------------------------------
# svyolr
# ---------------------------------------------------------------------------

def test_svy_olr_matches_r_svyolr(data):
    d = complete(data)
    X, names = design(d, intercept=False)
    y = d["sat_overall"].to_numpy().astype(int) - 1
    got = svy_olr(X, y, d["w"].to_numpy(), d["station"].to_numpy(), names=names,
                  levels=["1", "2", "3", "4", "5"])
    r = ref("svyolr.csv")
    assert (r["convergence"] == 0).all()
    assert got["term"].tolist() == r["term"].tolist()
    assert got["kind"].tolist() == r["kind"].tolist()
    close_est(got["estimate"], r["estimate"])
    close_se(got["std_error"], r["std_error"])
    close_se(got["statistic"], r["statistic"])
    # df = svyolr's df.residual = degf - length(beta) = 29 - 4
    assert (got["df"].to_numpy() == r["df_residual"].to_numpy()).all() and got["df"].iloc[0] == 25
    rv = ref("svyolr_vcov.csv").set_index("term").loc[r["term"], r["term"]].to_numpy()
    close_se(got["std_error"] ** 2, np.diag(rv))


def test_svy_olr_row_order_and_weight_scale(data):
    d = complete(data)
    X, names = design(d, intercept=False)
    y = d["sat_overall"].to_numpy().astype(int) - 1
    a = svy_olr(X, y, d["w"].to_numpy(), d["station"].to_numpy(), names=names)
    perm = np.random.default_rng(11).permutation(len(d))
    b = svy_olr(X[perm], y[perm], 0.25 * d["w"].to_numpy()[perm], d["station"].to_numpy()[perm],
                names=names)
    pd.testing.assert_frame_equal(a, b, rtol=1e-7)
    assert a["term"].tolist()[-4:] == ["0|1", "1|2", "2|3", "3|4"]
    assert (a["conf_low"] < a["estimate"]).all() and (a["estimate"] < a["conf_high"]).all()


def test_linearized_variance_centres_cluster_totals():
    # totals (1, 2, 6): centred (-2, -1, 3) -> 3/2 * 14 = 21 (uncentred would be 3/2 * 41)
    v = linearized_variance(np.array([0.5, 0.5, 2.0, 6.0]), np.array([0, 0, 1, 2]), 3)
    assert v[0, 0] == pytest.approx(21.0)


def test_svy_by_rows_with_missing_by_value_belong_to_no_domain():
    d = pd.DataFrame({"y": [1.0, 0.0, 1.0, 0.0, 1.0, 1.0], "b": ["a", "a", None, "b", "b", "a"],
                      "w": [1.0, 2.0, 5.0, 1.0, 3.0, 1.0], "g": [1, 1, 2, 2, 3, 3]})
    got = svy_by(d, y="y", by="b", weights="w", cluster="g")
    assert got["b"].tolist() == ["a", "b"] and got["n"].tolist() == [3, 2]
    assert got["estimate"].tolist() == pytest.approx([2 / 4, 3 / 4])
    assert got["estimate_unweighted"].tolist() == pytest.approx([2 / 3, 1 / 2])
    assert (got["n_clusters"] == 3).all()


def test_calibrated_ses_match_r_on_a_raked_design(data):
    """R survey 4.1-1: ``rake()`` of equal weights to two margins, then ``svymean`` /
    ``svyby(..., svymean)`` on the raked design, whose SEs project the influence values
    on the margins (design$postStrata); tests/fixtures/r/design_based/make_reference_raked.R."""
    from research.stats.design_based import Calibration
    from research.stats.weights import rake

    d = data.copy()
    d["satisfied"] = d["satisfied"].astype("Float64")
    d["xpos"] = np.where(d["x"] > 0, "pos", "neg")
    d["cause"] = d["cause"].astype(str)
    pop = pd.DataFrame({"cause": np.repeat(["capability", "outage", "service", "voltage"], [900, 2100, 2200, 800]),
                        "xpos": np.repeat(["neg", "pos"], [2500, 3500])})
    res = rake(d, pop, ["cause", "xpos"])
    r_w = ref("raked_weights.csv")
    assert res.weights == pytest.approx(r_w["weight"].to_numpy(), rel=1e-8)
    d["wt"] = res.weights
    cal = Calibration.from_frame(d, ["cause", "xpos"], res.weights, "station")
    expected = ref("raked_svyby.csv")
    for v in ("satisfied", "sat_overall"):
        e = expected[expected["variable"] == v].set_index("cause")
        m = svy_mean(d, y=v, weights="wt", cluster="station", calibration=cal).iloc[0]
        assert m["estimate"] == pytest.approx(e.loc["overall", "estimate"], abs=EST_TOL)
        assert m["std_error"] == pytest.approx(e.loc["overall", "std_error"], rel=SE_RTOL)
        b = svy_by(d, y=v, by="cause", weights="wt", cluster="station", calibration=cal).set_index("cause")
        for c in ("capability", "outage", "service", "voltage"):
            assert b.loc[c, "estimate"] == pytest.approx(e.loc[c, "estimate"], abs=EST_TOL)
            assert b.loc[c, "std_error"] == pytest.approx(e.loc[c, "std_error"], rel=SE_RTOL)
        # the calibration changes the SEs (else the test would not tell the two apart)
        plain = svy_mean(d, y=v, weights="wt", cluster="station").iloc[0]
        assert abs(plain["std_error"] / m["std_error"] - 1) > 1e-3
