"""The analysis plan loads, declares the issue's models, and a broken plan fails clearly."""

from __future__ import annotations

import dataclasses

import pytest

from research.errors import InputError
from research.config.plan import load_plan, plan_path


def test_default_plan_declares_the_models():
    plan = load_plan()
    assert [m.name for m in plan.models] == ["ols", "ordinal", "logit", "mixed", "speed_by_cause", "levers"]
    assert {m.name: m.family for m in plan.models} == {
        "ols": "linear", "ordinal": "ordinal", "logit": "logit", "mixed": "mixed", "speed_by_cause": "ordinal",
        "levers": "logit"}
    rhs = "cause_l2 + log2(1 + handling_hours) + channel + repeat"
    assert all(m.rhs == rhs for m in plan.models if m.name not in ("speed_by_cause", "levers"))
    assert plan.model("levers").rhs == "cause_l2 + cause_l1:log2(1 + handling_hours) + channel + station + month"
    assert plan.model("speed_by_cause").rhs == "cause_l2 + cause_l1:log2(1 + handling_hours) + channel + repeat"
    assert plan.model("ols").cluster == "station" and plan.model("mixed").group == "station"
    assert plan.grid_hours[0] == pytest.approx(0.5) and plan.grid_hours[-1] == pytest.approx(720)
    assert plan.reference_levels["cause_l2"] == "expansion_delay"


BREAKAGES = [
    ("    family: linear\n", "    family: probit\n", "models[0].family"),
    ("outcome: satisfied", "outcome: sat_overall", "models[2].outcome"),
    ("rhs: cause_l2 + log2(1 + handling_hours) + channel + repeat\n    se: cluster\n    cluster: station\n    zh: 线性",
     "rhs: cause_l2 + income\n    se: cluster\n    cluster: station\n    zh: 线性", "models[0].rhs"),
    ("    cluster: station\n    zh: 线性", "    cluster: district\n    zh: 线性", "models[0].cluster"),
    ("group: station", "group: nowhere", "models[3].group"),
    ("reps: 200", "reps: -1", "thresholds.bootstrap.reps"),
    ("conf_level: 0.95", "conf_level: 95", "conf_level"),
    ("  method: rake\n", "  method: calibrate\n", "weighting.method"),
    ("margins: [region, cause_l2, handling_band]", "margins: [region, income]", "weighting.margins"),
    ("margins: [region, cause_l2, handling_band]", "margins: [region, region]", "weighting.margins"),
    ("bands_hours: [4, 24, 72, 168]", "bands_hours: [24, 4]", "weighting.bands_hours"),
    ("trim_cap: null", "trim_cap: 0.5", "weighting.trim_cap"),
    ("  cluster: station\n  poststrata", "  cluster: ward\n  poststrata", "weighting.cluster"),
    ("propensity_rhs: cause_l2 +", "propensity_rhs: sat_overall + cause_l2 +", "weighting.propensity_rhs"),
    ("models: [ordinal, logit, speed_by_cause]", "models: [logit, ols]", "weighting.models"),
    ("models: [ordinal, logit, speed_by_cause]", "models: [logit, nope]", "weighting.models"),
    ("  model: levers\n", "  model: ordinal\n", "scenarios.model"),
    ("kind: scale_hours, cause_l2: slow_repair, factor: 0.5", "kind: scale_hours, cause_l2: slow_repair, factor: -1",
     "scenarios.levers[4].factor"),
    ("kind: scale_hours, cause_l1: outage, factor: 0.5", "kind: set, variable: channel, value: app, cause_l1: outage",
     "scenarios.levers[5].variable"),
    ("kind: within_sla, cause_l1: outage", "kind: faster, cause_l1: outage", "scenarios.levers[0].kind"),
    # a misspelt key is refused, not ignored with its default used instead
    ("conf_level: 0.95", "conf_level: 0.95\nthreshold: {min_tickets: 5}", "threshold"),
    ("  min_tickets: 300", "  min_ticket: 300", "thresholds.min_ticket"),
    ("reps: 200, seed: 20261126,", "rep: 200, seed: 20261126,", "thresholds.bootstrap.rep"),
    ("kind: within_sla, cause_l1: outage", "kind: within_sla, cause_l1: outage, factor: 0.5",
     "scenarios.levers[0].factor"),
]


@pytest.mark.parametrize("old, new, key", BREAKAGES)
def test_broken_plan_names_file_and_key(tmp_path, old, new, key):
    text = plan_path().read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in the plan"
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_plan(path)
    assert "plan.yaml" in str(err.value) and key in str(err.value)


def test_default_weighting_section():
    w = load_plan().weighting
    assert w.method == "rake" and w.margins == ("region", "cause_l2", "handling_band")
    assert w.bands_hours == (4, 24, 72, 168) and w.trim_cap is None and w.cluster == "station"
    assert w.models == ("ordinal", "logit", "speed_by_cause")


def test_plan_without_weighting_section_gets_the_defaults(tmp_path):
    text = plan_path().read_text(encoding="utf-8")
    path = tmp_path / "plan.yaml"
    path.write_text(text[:text.index("weighting:")], encoding="utf-8")
    default, committed = load_plan(path).weighting, load_plan().weighting
    assert dataclasses.replace(default, models=committed.models) == committed
    # without the section every logit and ordinal model of the plan is refitted with weights
    assert default.models == ("ordinal", "logit", "speed_by_cause", "levers")


def test_default_scenarios_section():
    sc = load_plan().scenarios
    assert sc.model == "levers" and sc.bootstrap_reps == 200 and sc.bootstrap_cluster == "station"
    kinds = {lv.name: lv.kind for lv in sc.levers}
    assert kinds["halve_outage"] == "scale_hours" and kinds["halve_slow_repair"] == "scale_hours"
    assert "set" not in kinds.values() and sc.post_treatment == ("resolved", "repeat")
    assert [lv.cause_l1 for lv in sc.levers if lv.kind == "within_sla"] == ["outage", "service", "capability",
                                                                            "voltage"]


def test_missing_plan(tmp_path):
    with pytest.raises(InputError, match="analysis plan not found"):
        load_plan(tmp_path / "none.yaml")


def test_split_modules_keep_every_name_importable_from_plan():
    """config/plan.py was split by job (issue 13): every spec, bound and helper scripts import from
    research.config.plan is the very object of its new module, and __all__ lists only real names."""
    from research.config import plan, plan_levers, plan_sections, plan_specs, replicates

    assert all(hasattr(plan, name) for name in plan.__all__)
    for name in ("Plan", "ModelSpec", "ThresholdSpec", "WeightingSpec", "Lever", "ScenarioSpec", "DriverSpec",
                 "BulletinSpec", "VARIABLES", "PROPENSITY_VARIABLES", "MAX_BOOTSTRAP_REPS", "SEED_MAX",
                 "BULLETIN_RANKING_RHS", "POST_TREATMENT", "MAX_HOURS"):
        assert getattr(plan, name) is getattr(plan_specs, name), name
    assert plan.replicate_counts is replicates.replicate_counts
    assert plan.with_replicates is replicates.with_replicates
    assert plan_sections.read_models and plan_levers.read_scenarios  # the sections load_plan puts together


def test_seed_value_and_bootstrap_name_the_key_and_numpys_range(tmp_path):
    """The seed check shared by the bootstrap and the permutation null: the same message for both."""
    text = plan_path().read_text(encoding="utf-8")
    cases = [("permutation: {reps: 200, seed: 20261129}", "permutation: {reps: 200, seed: -1}",
              "drivers.permutation.seed"),
             ("bootstrap: {reps: 200, seed: 20261128, cluster: station}",
              "bootstrap: {reps: 200, seed: 4294967296, cluster: station}", "drivers.bootstrap.seed")]
    for old, new, key in cases:
        assert old in text
        path = tmp_path / "plan.yaml"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(InputError, match=rf"key '{key}': .* is outside \[0, 4294967295\] \(numpy's seed range\)"):
            load_plan(path)


def test_a_misspelt_or_unused_key_is_refused_and_the_keys_read_there_are_listed(tmp_path):
    """A key no reader asks for (a misspelling, or a setting the lever's kind does not use) is an
    error naming its path, never a default used in silence (research.config.yamlfile.refuse_unknown)."""
    text = plan_path().read_text(encoding="utf-8")
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("  min_tickets: 300", "  min_ticket: 300", 1), encoding="utf-8")
    with pytest.raises(InputError, match=r"key 'thresholds.min_ticket': unknown key .*'min_tickets'"):
        load_plan(path)


def test_reference_levels_name_categorical_variables_only(tmp_path):
    text = plan_path().read_text(encoding="utf-8")
    path = tmp_path / "plan.yaml"
    assert "reference_levels:\n" in text
    path.write_text(text.replace("reference_levels:\n", "reference_levels:\n  cause_l3: outage\n", 1),
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"reference_levels.cause_l3': not a categorical variable"):
        load_plan(path)


def test_a_yaml_alias_bomb_is_refused_before_anything_walks_or_prints_it(tmp_path):
    """Nine lines of YAML aliases that expand to 10^9 values, as the value of a key whose type is
    wrong: the error message used to print the value and never ended. The file is now refused
    for its expanded size (yamlfile.MAX_VALUES) before any key is read."""
    chain = "[&a [" + ",".join(["x"] * 10) + "]" + "".join(
        f", &b{i} [" + ",".join([f"*{'a' if i == 0 else 'b' + str(i - 1)}"] * 10) + "]" for i in range(8)) + "]"
    text = plan_path().read_text(encoding="utf-8")
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("conf_level: 0.95", "conf_level: " + chain, 1), encoding="utf-8")
    with pytest.raises(InputError, match="alias bomb"):
        load_plan(path)
