"""Hostile analysis plans (issue 10, point 1): formulas are parsed, never evaluated, and sizes are bounded.

Every case writes a copy of the committed plan with one value replaced and checks that
loading it raises InputError naming the file, the key and the offending token (or value
and limit): never another exception, never code run from the plan.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from research.errors import InputError
from research.config.formula import FUNCTIONS, MAX_CHARS, MAX_TERMS, Formula, parse_rhs
from research.config.plan import (MAX_BOOTSTRAP_REPS, MAX_GRID_POINTS, MAX_ITER, MAX_KNOTS, MAX_LEVERS,
                           MAX_MODELS, PROPENSITY_VARIABLES, SEED_MAX, VARIABLES, load_plan, plan_path)

MODEL_RHS = "cause_l2 + log2(1 + handling_hours) + channel + repeat"
THRESHOLD_RHS = "cause_l2 + cause_l1:rcs(log2(1 + handling_hours)) + channel"
PROPENSITY_RHS = "cause_l2 + log2(1 + handling_hours) + channel + region + repeat"

#: (key in messages, the committed line, how to write a new value on that line)
FORMULA_KEYS = {
    # models[2] (logit): the third "rhs: <MODEL_RHS>" line of the plan
    "models[2].rhs": (f"    rhs: {MODEL_RHS}\n", 2, "    rhs: {}\n"),
    "thresholds.rhs": (f"  rhs: {THRESHOLD_RHS}\n", 0, "  rhs: {}\n"),
    "weighting.propensity_rhs": (f"  propensity_rhs: {PROPENSITY_RHS}\n", 0, "  propensity_rhs: {}\n"),
}


def _replace_nth(text: str, old: str, new: str, n: int) -> str:
    start = -1
    for _ in range(n + 1):
        start = text.index(old, start + 1)
    return text[:start] + new + text[start + len(old):]


def _plan_text() -> str:
    return plan_path().read_text(encoding="utf-8")


def _write(tmp_path, text: str):
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _plan_with_formula(tmp_path, key: str, value: str, raw: bool = False):
    """The committed plan with formula ``key`` set to ``value`` (a JSON-quoted YAML string unless ``raw``)."""
    line, nth, template = FORMULA_KEYS[key]
    written = value if raw else json.dumps(value)
    return _write(tmp_path, _replace_nth(_plan_text(), line, template.format(written), nth))


def _refused(path, *fragments: str) -> str:
    with pytest.raises(InputError) as err:
        load_plan(path)
    msg = str(err.value)
    assert "plan.yaml" in msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


# ----------------------------------------------------------------------------- formula keys

@pytest.mark.parametrize("key", list(FORMULA_KEYS))
def test_fullwidth_eval_is_refused_in_every_formula_key(tmp_path, key):
    # NFKC turns ｅｖａｌ(ｃｈｒ(９７)) into eval(chr(97)), which Python would run
    _refused(_plan_with_formula(tmp_path, key, "ｅｖａｌ(ｃｈｒ(９７))"), key, "'eval'", "at character 1")


@pytest.mark.parametrize("key", list(FORMULA_KEYS))
def test_import_call_is_refused_in_every_formula_key(tmp_path, key):
    _refused(_plan_with_formula(tmp_path, key, "__import__('os').system('x')"), key, "'__import__'")


HOSTILE = [
    # (case id, formula, fragments the message must contain)
    ("attribute_access", "handling_hours.__class__", ["'.'", "character 15"]),
    ("lambda", "lambda x: x", ["'lambda'", "unknown variable"]),
    ("braces_power", "{9**9**9}", ["'{'", "character 1"]),
    ("bare_power", "9**9**9", ["'9'", "number cannot be a term"]),
    ("power_after_term", "channel + handling_hours**9", ["'*'", "character 26"]),
    ("string_literal", "channel + 'x'", ["\"'\"", "character 11"]),
    ("double_quoted_string", 'channel + "x"', ["'\"'"]),
    ("subscript", "channel[0]", ["'['"]),
    ("unknown_function_exp", "exp(handling_hours)", ["'exp'", "unknown function"]),
    ("unknown_variable", "income + channel", ["'income'", "unknown variable"]),
    ("outcome_as_predictor", "sat_overall + channel", ["'sat_overall'", "unknown variable"]),
    ("unbalanced_open", "log2(1 + handling_hours", ["expected ')'", "the end of the formula"]),
    ("unbalanced_close", "channel)", ["')'", "character 8"]),
    ("empty", "", ["empty formula"]),
    ("blank", "   ", ["empty formula"]),
    ("comment", "channel # x", ["'#'"]),
    ("semicolon", "channel; import os", ["';'"]),
    ("backticks", "`channel`", ["'`'"]),
    ("exponent_number", "log2(1e5 + handling_hours)", ["'1e5'", "plain decimals"]),
    ("long_number", "log2(1234567890123 + handling_hours)", ["'1234567890123'", "at most 12"]),
    ("negative_number", "log2(-1 + handling_hours)", ["'-'"]),
    ("log_of_categorical", "log2(channel)", ["'channel'", "numeric variable"]),
    ("nested_too_deep", "log2(log2(log2(log2(handling_hours))))", ["nested at most 3"]),
    ("duplicate_term", "channel + repeat + channel", ["appears twice"]),
    ("control_character", "channel\x00", ["'\\x00'"]),
    ("cyrillic_lookalike", "\u0441hannel", ["'\\u0441'"]),  # Cyrillic es, not NFKC-equal to "c"
    ("keyword_argument", "log2(x=handling_hours)", ["'x'"]),
    ("two_arguments", "log2(handling_hours, 2)", ["','"]),
    ("walrus", "(x := 1)", ["'('", "expected a variable"]),
    ("interaction_of_four", "channel:repeat:region:cause_l1", ["at most 3 factors"]),
]


@pytest.mark.parametrize("formula, fragments", [(f, fr) for _, f, fr in HOSTILE],
                         ids=[case for case, _, _ in HOSTILE])
def test_hostile_model_formula_is_refused(tmp_path, formula, fragments):
    msg = _refused(_plan_with_formula(tmp_path, "models[2].rhs", formula), "models[2].rhs", *fragments)
    assert "Traceback" not in msg


def test_spline_outside_the_thresholds_section_is_refused(tmp_path):
    _refused(_plan_with_formula(tmp_path, "models[2].rhs", "rcs(handling_hours)"), "models[2].rhs", "'rcs'")


def test_overlong_formula_is_refused_without_quoting_it(tmp_path):
    formula = " + ".join(["channel"] * 100)
    msg = _refused(_plan_with_formula(tmp_path, "models[2].rhs", formula), "models[2].rhs",
                   f"limit is {MAX_CHARS}")
    assert formula not in msg


def test_formula_that_grows_past_the_limit_under_nfkc_is_refused(tmp_path):
    # U+FDFA is one character that NFKC expands to 18
    formula = "channel + " + "\ufdfa" * 40
    assert len(formula) <= MAX_CHARS
    _refused(_plan_with_formula(tmp_path, "models[2].rhs", formula), "after Unicode normalisation")


def test_too_many_terms_are_refused():
    names = tuple(f"v{i}" for i in range(MAX_TERMS + 5))
    with pytest.raises(InputError, match=f"at most {MAX_TERMS} terms"):
        parse_rhs(" + ".join(names), source="f", variables=names)


@pytest.mark.parametrize("raw, kind", [("[channel, repeat]", "list"), ("{channel: repeat}", "dict"),
                                       ("5", "int"), ("true", "bool"), ("null", "NoneType")],
                         ids=["list", "mapping", "number", "boolean", "null"])
@pytest.mark.parametrize("key", list(FORMULA_KEYS))
def test_non_text_yaml_formula_is_refused(tmp_path, key, raw, kind):
    _refused(_plan_with_formula(tmp_path, key, raw, raw=True), key, f"got {kind}")


def test_fullwidth_valid_formula_is_stored_as_canonical_ascii(tmp_path):
    plan = load_plan(_plan_with_formula(tmp_path, "models[2].rhs", "ｃａｕｓｅ＿ｌ２　＋　ｃｈａｎｎｅｌ"))
    assert plan.models[2].rhs == "cause_l2 + channel"


def test_spacing_is_canonicalised(tmp_path):
    plan = load_plan(_plan_with_formula(tmp_path, "models[2].rhs", "cause_l2+log2( 1+handling_hours )\n+channel"))
    assert plan.models[2].rhs == "cause_l2 + log2(1 + handling_hours) + channel"
    assert plan.models[2].variables() == ("satisfied", "cause_l2", "channel", "handling_hours", "station")


# ----------------------------------------------------------------------------- the committed plan

def _committed_formulas() -> dict[str, str]:
    data = yaml.safe_load(_plan_text())
    out = {f"models[{i}].rhs": m["rhs"] for i, m in enumerate(data["models"])}
    out["thresholds.rhs"] = data["thresholds"]["rhs"]
    out["weighting.propensity_rhs"] = data["weighting"]["propensity_rhs"]
    return out


def test_every_committed_formula_round_trips_to_the_same_text():
    formulas = _committed_formulas()
    assert len(formulas) == 8
    for key, text in formulas.items():
        parsed = parse_rhs(text, source=key, variables=(*VARIABLES, *PROPENSITY_VARIABLES), functions=FUNCTIONS)
        assert isinstance(parsed, Formula) and parsed.text() == text, key


def test_load_plan_keeps_the_committed_formulas_byte_for_byte():
    plan, formulas = load_plan(), _committed_formulas()
    assert {f"models[{i}].rhs": m.rhs for i, m in enumerate(plan.models)} == {
        k: v for k, v in formulas.items() if k.startswith("models")}
    assert plan.thresholds.rhs == formulas["thresholds.rhs"]
    assert plan.weighting.propensity_rhs == formulas["weighting.propensity_rhs"]
    # the default of a plan without the key is canonical too
    assert parse_rhs(PROPENSITY_RHS, source="default", variables=PROPENSITY_VARIABLES).text() == PROPENSITY_RHS


def test_bulletin_ranking_formula_is_canonical():
    from research.bulletin import RANKING_RHS

    assert parse_rhs(RANKING_RHS, source="RANKING_RHS", variables=VARIABLES).text() == RANKING_RHS


def test_model_variables_come_from_the_parse():
    plan = load_plan()
    # speed_by_cause is clustered by station, so its variables include the cluster
    assert plan.model("speed_by_cause").variables() == ("sat_overall", "cause_l1", "cause_l2", "channel",
                                                        "repeat", "handling_hours", "station")


# ----------------------------------------------------------------------------- build_design

def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"channel": pd.Categorical(rng.choice(["a", "b", "c"], n)),
                         "repeat": rng.integers(0, 2, n).astype(float),
                         "handling_hours": rng.exponential(5, n)})


@pytest.mark.parametrize("rhs", ["__import__('os').system('x') + channel", "ｅｖａｌ(ｃｈｒ(９７))",
                                 "channel + {9**9**9}", "channel.__class__"],
                         ids=["import", "fullwidth_eval", "braces_power", "attribute"])
def test_build_design_refuses_a_hostile_formula(rhs):
    from research.models.design import build_design

    with pytest.raises(InputError, match="model formula"):
        build_design(_frame(), rhs, intercept=True)


def test_build_design_refuses_a_non_canonical_formula():
    from research.models.design import build_design

    with pytest.raises(InputError, match="canonical form; write it as 'channel \\+ repeat'"):
        build_design(_frame(), "channel+repeat", intercept=True)
    design = build_design(_frame(), "channel + repeat + log2(1 + handling_hours)", intercept=True)
    assert design.names == ["(Intercept)", "channel[b]", "channel[c]", "repeat", "log2(1 + handling_hours)"]


def test_propensity_uses_reads_the_parse():
    from research.representativeness.nonresponse import _uses

    assert _uses(PROPENSITY_RHS, "handling_hours") and not _uses(PROPENSITY_RHS, "cause_l1")
    with pytest.raises(InputError, match="response propensity formula"):
        _uses("ｅｖａｌ(ｃｈｒ(９７))", "channel")


# ----------------------------------------------------------------------------- property

_PIECES = ["cause_l1", "cause_l2", "channel", "repeat", "handling_hours", "region", "log2", "log", "sqrt",
           "rcs", "C", "(", ")", "+", ":", "*", " ", "1", "0.5", "1e5", "**", "{", "}", ".", "'", "eval",
           "__import__", "ｅｖａｌ", "（", "＋", "-", "#", ",", "\n", "\x00", "é", "9" * 13]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60),
                 st.lists(st.sampled_from(_PIECES), max_size=25).map("".join)))
def test_any_string_parses_to_a_canonical_formula_or_raises_input_error(text):
    try:
        parsed = parse_rhs(text, source="f", variables=VARIABLES, functions=FUNCTIONS)
    except InputError as exc:
        assert str(exc).startswith("f: ")
        return
    canonical = parsed.text()
    # the canonical text is a fixed point, uses only allowed names, and is plain ASCII
    assert parse_rhs(canonical, source="f", variables=VARIABLES, functions=FUNCTIONS) == parsed
    assert canonical.isascii() and not set(canonical) & set("{}[].'\"`#;,=\\-")
    assert set(parsed.variables()) <= set(VARIABLES)


# ----------------------------------------------------------------------------- bounded sizes

LIMITS = [
    # (case id, old, new, key, fragments)
    ("reps_1e9", "bootstrap: {reps: 200, seed: 20261126", "bootstrap: {reps: 1000000000, seed: 20261126",
     "thresholds.bootstrap.reps", ["1000000000", str(MAX_BOOTSTRAP_REPS)]),
    ("scenario_reps_1e9", "bootstrap: {reps: 200, seed: 20261127", "bootstrap: {reps: 1000000000, seed: 20261127",
     "scenarios.bootstrap.reps", [str(MAX_BOOTSTRAP_REPS)]),
    ("driver_reps_1e9", "bootstrap: {reps: 200, seed: 20261128", "bootstrap: {reps: 1000000000, seed: 20261128",
     "drivers.bootstrap.reps", [str(MAX_BOOTSTRAP_REPS)]),
    ("grid_points_1e8", "points: 25", "points: 100000000", "predictions.grid_hours.points",
     ["100000000", str(MAX_GRID_POINTS)]),
    ("negative_seed", "seed: 20261126", "seed: -1", "thresholds.bootstrap.seed", ["-1", str(SEED_MAX)]),
    ("seed_2_pow_40", "seed: 20261127", f"seed: {2**40}", "scenarios.bootstrap.seed", [str(2**40)]),
    ("seed_float", "seed: 20261128", "seed: 1.5", "drivers.bootstrap.seed", ["whole number"]),
    ("too_many_knots", "knots_quantiles: [0.05, 0.35, 0.65, 0.95]",
     "knots_quantiles: [" + ", ".join(f"{q:.2f}" for q in np.linspace(0.02, 0.98, 12)) + "]",
     "thresholds.knots_quantiles", ["12", str(MAX_KNOTS)]),
    ("max_iter_1e9", "max_iter: 1000", "max_iter: 1000000000", "weighting.max_iter", [str(MAX_ITER)]),
    ("grid_to_infinite", "to: 720", "to: .inf", "predictions.grid_hours.to", ["finite"]),
    ("grid_from_nan", "from: 0.5", "from: .nan", "predictions.grid_hours.from", ["finite"]),
    ("grid_to_absurd", "to: 720", "to: 1.0e+12", "predictions.grid_hours.to", ["limit"]),
    ("time_multiplier_nan", "time_multiplier: 2", "time_multiplier: .nan", "predictions.time_multiplier",
     ["finite"]),
    ("time_multiplier_absurd", "time_multiplier: 2", "time_multiplier: 1.0e+9", "predictions.time_multiplier",
     ["limit"]),
    ("max_hours_infinite", "max_hours: 720", "max_hours: .inf", "thresholds.max_hours", ["finite"]),
    ("trim_cap_infinite", "trim_cap: null", "trim_cap: .inf", "weighting.trim_cap", ["finite"]),
    ("band_infinite", "bands_hours: [4, 24, 72, 168]", "bands_hours: [4, 24, 72, .inf]", "weighting.bands_hours",
     ["increasing positive"]),
    ("too_many_bands", "bands_hours: [4, 24, 72, 168]", "bands_hours: [" + ", ".join(map(str, range(1, 40))) + "]",
     "weighting.bands_hours", ["39", "limit"]),
    ("lever_factor_infinite", "factor: 0.5", "factor: .inf", "scenarios.levers[4].factor", ["finite"]),
    ("lever_factor_absurd", "factor: 0.5", "factor: 1000000", "scenarios.levers[4].factor", ["limit"]),
    ("weighted_model_twice", "models: [ordinal, logit, speed_by_cause]", "models: [logit, logit]",
     "weighting.models", ["twice"]),
]


@pytest.mark.parametrize("old, new, key, fragments", [c[1:] for c in LIMITS], ids=[c[0] for c in LIMITS])
def test_plan_size_limit(tmp_path, old, new, key, fragments):
    text = _plan_text()
    assert old in text, f"test setup: {old!r} not in the plan"
    _refused(_write(tmp_path, text.replace(old, new, 1)), key, *fragments)


def test_too_many_models(tmp_path):
    data = yaml.safe_load(_plan_text())
    first = data["models"][0]
    data["models"] = [dict(first, name=f"m{i}") for i in range(MAX_MODELS + 1)]
    _refused(_write(tmp_path, yaml.safe_dump(data, allow_unicode=True)), "key 'models'", str(MAX_MODELS))


def test_too_many_levers(tmp_path):
    data = yaml.safe_load(_plan_text())
    first = data["scenarios"]["levers"][0]
    data["scenarios"]["levers"] = [dict(first, name=f"l{i}") for i in range(MAX_LEVERS + 1)]
    _refused(_write(tmp_path, yaml.safe_dump(data, allow_unicode=True)), "scenarios.levers", str(MAX_LEVERS))


def test_limits_leave_the_committed_plan_loadable():
    plan = load_plan()
    assert plan.thresholds.bootstrap_reps == 200 and len(plan.grid_hours) == 25
    assert plan.weighting.max_iter == 1000 and plan.drivers.bootstrap_seed == 20261128
