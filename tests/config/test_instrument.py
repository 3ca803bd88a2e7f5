"""The instrument files load, hold the taxonomy of SEED.md, and broken files fail clearly."""

from __future__ import annotations

import shutil

import pytest

from research.errors import InputError
from research.config.instrument import load_instrument, normalize_key
from research.paths import surveys_dir

# The taxonomy the issue fixes (codes per cause group), SEED.md section 1.
EXPECTED = {
    "service": ["expansion_delay", "staff_attitude", "meter_quality", "meter_replacement_notice",
                "billing_dispute", "metering_billing_error", "no_follow_up"],
    "outage": ["fault_outage", "planned_outage_deviation", "arrears_disconnection", "slow_repair",
               "maintenance_outage_frequency"],
    "capability": ["inspection_hazard", "property_damage", "construction_site"],
    "voltage": ["low_voltage", "voltage_fluctuation"],
}


def test_taxonomy_matches_the_issue(instrument):
    assert list(instrument.label_sets["cause_l1"].codes) == list(EXPECTED)
    for group, subs in EXPECTED.items():
        assert list(instrument.subcauses_of(group)) == subs


def test_standard_export_labels_map_to_codes(instrument):
    l2 = instrument.label_sets["cause_l2"].lookup
    assert l2[normalize_key("拉线、街码导致房屋受损")] == "property_damage"
    assert l2[normalize_key("轮换电表没有提前公告")] == "meter_replacement_notice"
    assert instrument.label_sets["cause_l1"].lookup[normalize_key("电压质量问题")] == "voltage"
    assert instrument.label_sets["channel"].lookup[normalize_key("95598热线")] == "hotline"
    assert instrument.label_sets["survey_status"].lookup[normalize_key("拒访")] == "refused"


def test_scale_and_missing_codes(instrument):
    scale = instrument.scales["sat5"]
    assert scale.codes == (1, 2, 3, 4, 5)
    zh = {int(lab.code): lab.zh for lab in scale.levels}
    assert zh == {5: "非常满意", 4: "满意", 3: "一般", 2: "不满意", 1: "非常不满意"}
    assert scale.lookup["拒答"] is None and scale.lookup["不清楚"] is None
    assert [i.name for i in instrument.items] == ["sat_overall", "sat_speed", "sat_attitude",
                                                  "sat_outcome"]
    assert instrument.satisfied_threshold == 4


def test_every_subcause_has_a_target_with_its_basis(instrument):
    for code in instrument.label_sets["cause_l2"].codes:
        t = instrument.sla_for(code)
        assert t.value > 0 and t.unit in ("hours", "working_days")
        assert t.basis in ("source", "assumption") and len(t.note) > 20
    assert instrument.sla_for("arrears_disconnection").value == 24
    assert instrument.sla_for("expansion_delay").unit == "working_days"


def test_header_folding():
    assert normalize_key(" Ｔｉｃｋｅｔ_ID ") == normalize_key("ticket id") == "ticketid"
    assert normalize_key("工单 编号") == "工单编号"


BREAKAGES = [
    ("taxonomy.yaml", "- code: outage", "- kode: outage", "taxonomy.yaml", "code"),
    ("questionnaire.yaml", "scale: sat5, zh: 总体满意度", "scale: sat7, zh: 总体满意度",
     "questionnaire.yaml", "items[0].scale"),
    ("labels.yaml", "aliases: [柜台]", "aliases: [微信]", "labels.yaml", "channel"),
    ("sla.yaml", "  slow_repair:", "  slow_repairs:", "sla.yaml", "targets.slow_repairs"),
    ("sla.yaml", "    unit: hours\n", "    unit: minutes\n", "sla.yaml", "unit"),
    ("fields.yaml", 'type: "label:channel"', 'type: "label:channels"', "fields.yaml", "type"),
    ("questionnaire.yaml", "satisfied_threshold: 4", "satisfied_threshold: 9",
     "questionnaire.yaml", "satisfied_threshold"),
    ("taxonomy.yaml", "causes:", "causes: [\n", "taxonomy.yaml", "YAML"),
    # a misspelt key is refused: "personl: drop" would otherwise keep a phone column undropped
    ("fields.yaml", "required: false, personal: drop", "required: false, personl: drop",
     "fields.yaml", "survey[2].personl"),
    ("questionnaire.yaml", "    levels:", "    level:", "questionnaire.yaml", "levels"),
    ("sla.yaml", "  basis: source", "  bases: source", "sla.yaml", "default.bas"),
]


@pytest.mark.parametrize("name, old, new, in_file, in_key", BREAKAGES)
def test_broken_instrument_names_file_and_key(tmp_path, name, old, new, in_file, in_key):
    folder = tmp_path / "surveys"
    shutil.copytree(surveys_dir(), folder)
    text = (folder / name).read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not found in {name}"
    (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_instrument(folder)
    assert in_file in str(err.value) and in_key in str(err.value)


def test_missing_instrument_file(tmp_path):
    folder = tmp_path / "surveys"
    shutil.copytree(surveys_dir(), folder)
    (folder / "sla.yaml").unlink()
    with pytest.raises(InputError, match="sla.yaml: instrument file not found"):
        load_instrument(folder)


def test_the_fast_yaml_loader_reads_every_committed_yaml_file_as_the_python_loader_does():
    """yamlfile.SAFE_LOADER (libyaml) must give the data PyYAML's pure-Python SafeLoader gives,
    for every YAML file the package ships (instrument and plan)."""
    import yaml

    from research.config.yamlfile import SAFE_LOADER
    from research.paths import default_plan, surveys_dir

    files = sorted(surveys_dir().glob("*.yaml")) + [default_plan()]
    assert len(files) >= 6
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert yaml.load(text, Loader=SAFE_LOADER) == yaml.load(text, Loader=yaml.SafeLoader), f.name
