"""Lever scenarios (research.strategy.scenarios): g-computation recovers planted lever effects.

References:
- parameter recovery: ``research.simulate`` draws the satisfaction latent as
  ``eta + Logistic(0, 1)`` with ``eta`` known per ticket (``sim.population``), so
  the true probability of a top-2-box answer is ``expit(eta - cutpoints[2])`` and
  a lever's true effect is the average change of that probability when ``eta``
  is recomputed under the lever (``beta_resolved``, ``beta_repeat``,
  ``slope[cause_l1] * log2(1 + hours)`` from ``SimParams``);
- the best lever is planted by the parameters: with the defaults resolving
  every ticket gains most; with a strong repeat penalty and a weak resolution
  effect, removing repeat calls does;
- identities: a lever that changes nothing has effect 0; the delta-method SE
  equals ``sqrt(g' V g)`` computed independently by finite differences.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from research.errors import InputError
from research.models.fit import fit_model
from research.config.plan import Lever, ModelSpec
from research.strategy.scenarios import lever_effects
from research.simulate import SimParams, simulate


def _lever(name, kind, **kw):
    base = dict(cause_l1=None, cause_l2=None, factor=None, variable=None, value=None, zh=name, en=name)
    base.update(kw)
    return Lever(name=name, kind=kind, **base)


LEVERS = (_lever("resolve_all", "set", variable="resolved", value="yes"),
          _lever("no_repeat_calls", "set", variable="repeat", value=False),
          _lever("halve_slow_repair", "scale_hours", cause_l2="slow_repair", factor=0.5))


def _true_effects(sim, params: SimParams) -> dict[str, float]:
    """True average effects over the respondents (tickets with a completed survey and an answer)."""
    pop = sim.population
    resp = pop[(pop["survey_status"] == "completed") & pop["satisfied"].notna()]
    eta = resp["eta"].to_numpy(dtype=float)
    cut = params.cutpoints[2]  # sat_overall >= 4  <=>  latent > cutpoints[2]
    p0 = expit(eta - cut)
    res_b = np.array([params.beta_resolved[c] for c in resp["resolved"].astype(str)])
    rep = (resp["repeat_calls"].to_numpy(dtype=float) > 0)
    L = np.log2(1 + resp["handling_hours"].to_numpy(dtype=float))
    slope = np.array([params.slope[g] for g in resp["cause_l1"].astype(str)])
    slow = (resp["cause_l2"].astype(str) == "slow_repair").to_numpy()
    L_half = np.log2(1 + resp["handling_hours"].to_numpy(dtype=float) * 0.5)
    return {
        "resolve_all": float(np.mean(expit(eta - res_b + params.beta_resolved["yes"] - cut) - p0)),
        "no_repeat_calls": float(np.mean(expit(eta - params.beta_repeat * rep - cut) - p0)),
        "halve_slow_repair": float(np.mean(expit(eta + np.where(slow, slope * (L_half - L), 0.0) - cut) - p0)),
    }


#: the g-computation machinery checked with `set` levers: in research.simulate resolution and repeat calls
#: do not depend on satisfaction, so adjusting for them is valid here (the committed lever model may not:
#: scenarios.post_treatment; tests/strategy/test_levers_causal.py plants the case where it would be biased)
MACHINERY = ModelSpec(name="levers", family="logit", outcome="satisfied",
                      rhs="cause_l2 + cause_l1:log2(1 + handling_hours) + channel + repeat + resolved",
                      se="cluster", cluster="station", group=None, zh="", en="")


def _fit(sim, plan, instrument):
    return fit_model(MACHINERY, sim.responses, plan=plan, instrument=instrument)


@pytest.mark.parametrize("params, best", [
    (SimParams(), "resolve_all"),
    (dataclasses.replace(SimParams(), beta_repeat=-2.5,
                         beta_resolved={"yes": 0.0, "partly": -0.2, "no": -0.4}), "no_repeat_calls"),
])
def test_planted_best_lever_is_found(params, best, plan, instrument):
    sim = simulate(20000, 21, params=params)
    truth = _true_effects(sim, params)
    assert max(truth, key=truth.get) == best  # the plant holds in the truth
    fm = _fit(sim, plan, instrument)
    out = lever_effects(fm, sim.responses, LEVERS, threshold=4, reps=40, seed=3)
    assert out["lever"].iloc[0] == best
    got = out.set_index("lever")
    for name, true in truth.items():
        # a marginal logit of a random-intercept model attenuates slightly: 20% or 0.6 points
        assert got.loc[name, "effect"] == pytest.approx(true, rel=0.2, abs=0.006), name
    # the best lever's interval lies above the runner-up's point estimate
    assert got.loc[best, "conf_low"] > out["effect"].iloc[1]


def test_effects_identities(plan, instrument):
    sim = simulate(5000, 22)
    fm = _fit(sim, plan, instrument)
    none = _lever("nothing", "scale_hours", factor=1.0)
    out = lever_effects(fm, sim.responses, (none,) + LEVERS, threshold=4, reps=0).set_index("lever")
    assert out.loc["nothing", "effect"] == pytest.approx(0.0, abs=1e-15)
    assert out.loc["nothing", "std_error"] == pytest.approx(0.0, abs=1e-12)
    # per-10k counts are the effect rescaled, sign flipped (fewer dissatisfied customers)
    assert out["dissatisfied_per_10k"].to_numpy() == pytest.approx(-1e4 * out["effect"].to_numpy())
    # delta-method SE against a finite-difference gradient of the g-computation average
    p = fm.params.copy()
    X = fm.design.X
    Xr = X.copy()
    Xr[:, [i for i, n in enumerate(fm.names) if n.startswith("resolved[")]] = 0.0  # every ticket "yes"
    def eff(beta):
        return float(np.mean(expit(Xr @ beta) - expit(X @ beta)))
    h = 1e-6
    g = np.array([(eff(p + h * e) - eff(p - h * e)) / (2 * h) for e in np.eye(len(p))])
    assert out.loc["resolve_all", "effect"] == pytest.approx(eff(p), abs=1e-12)
    assert out.loc["resolve_all", "std_error"] == pytest.approx(float(np.sqrt(g @ fm.vcov @ g)), rel=1e-5)


def test_bootstrap_is_seeded(plan, instrument):
    sim = simulate(3000, 23)
    fm = _fit(sim, plan, instrument)
    a = lever_effects(fm, sim.responses, LEVERS, threshold=4, reps=20, seed=5)
    b = lever_effects(fm, sim.responses, LEVERS, threshold=4, reps=20, seed=5)
    c = lever_effects(fm, sim.responses, LEVERS, threshold=4, reps=20, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["conf_low"], c["conf_low"])


def test_lever_errors_name_the_lever(plan, instrument):
    sim = simulate(3000, 24)
    fm = _fit(sim, plan, instrument)
    with pytest.raises(InputError, match="lever typo: no ticket has cause_l2 = 'slow_repiar'"):
        lever_effects(fm, sim.responses, (_lever("typo", "scale_hours", cause_l2="slow_repiar", factor=0.5),),
                      threshold=4, reps=0)
    ordinal = fit_model(plan.model("ordinal"), sim.responses, plan=plan, instrument=instrument)
    with pytest.raises(InputError, match="need a logit"):
        lever_effects(ordinal, sim.responses, LEVERS, threshold=4, reps=0)


def test_one_step_bootstrap_agrees_with_full_refits(plan, instrument, monkeypatch):
    """The large-data path (one Newton step per replicate, averages over a subsample) gives
    intervals close to the exact refits on the same replicates."""
    import research.strategy.scenarios as sc

    sim = simulate(20000, 25)
    fm = _fit(sim, plan, instrument)
    monkeypatch.setattr(sc, "FULL_REFIT_ROWS", 10**9)
    exact = lever_effects(fm, sim.responses, LEVERS, threshold=4, reps=60, seed=9).set_index("lever")
    monkeypatch.setattr(sc, "FULL_REFIT_ROWS", 0)  # the default: one step, averages over every ticket
    one_step = lever_effects(fm, sim.responses, LEVERS, threshold=4, reps=60, seed=9).set_index("lever")
    monkeypatch.setattr(sc, "BOOT_EVAL_ROWS", 10000)  # and over a subsample, as above 50,000 tickets
    fast = lever_effects(fm, sim.responses, LEVERS, threshold=4, reps=60, seed=9).set_index("lever")
    pd.testing.assert_series_equal(exact["effect"], fast["effect"])  # point estimates untouched
    width = (exact["conf_high"] - exact["conf_low"]).to_numpy()
    for col in ("conf_low", "conf_high"):
        # one step from the full-sample fit: the same replicates to first order (measured on the
        # committed sample: ends within 0.2% of the narrowest interval's width)
        assert np.abs(one_step[col] - exact[col]).to_numpy() == pytest.approx(0, abs=0.05 * width.min())
        assert np.abs(fast[col] - exact[col]).to_numpy() == pytest.approx(0, abs=0.25 * width.max())
