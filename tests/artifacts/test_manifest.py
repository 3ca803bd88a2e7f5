"""research.artifacts.manifest.validate_manifest, one part of a manifest at a time: each check
names the file and the key, never the value, and the checks run in the documented order."""

from __future__ import annotations

import copy
import json

import pytest

from research import paths
from research.artifacts.manifest import validate_manifest
from research.errors import InputError

SOURCE = paths.project_root() / "paper" / "manifest.json"


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(SOURCE.read_text(encoding="utf-8"))


def _refused(m: dict, key: str, problem: str, **kwargs) -> None:
    with pytest.raises(InputError) as exc:
        validate_manifest(m, SOURCE, **kwargs)
    assert str(exc.value) == f"{SOURCE}: malformed manifest at key '{key}': {problem}"


def test_the_committed_manifest_is_valid_and_returned_unchanged(committed):
    m = copy.deepcopy(committed)
    assert validate_manifest(m, SOURCE) is m and m == committed


def test_inputs_roles_are_known_unique_and_include_the_survey(committed):
    m = copy.deepcopy(committed)
    m["inputs"] = [dict(m["inputs"][0]), dict(m["inputs"][0])]
    _refused(m, "inputs[1].role", "the same role is given twice")
    m["inputs"] = [e for e in committed["inputs"] if e["role"] != "survey"]
    _refused(m, "inputs", "no input with role survey")


def test_plan_path_inside_the_project_unless_the_build_is_checked_as_it_is(committed):
    m = copy.deepcopy(committed)
    m["plan"]["path"] = "/elsewhere/plan.yaml"
    _refused(m, "plan.path", "is an absolute path; only paths relative to the project are accepted")
    assert validate_manifest(m, SOURCE, paths_in_project=False) is m  # verify --built: only the type
    m["plan"]["path"] = 7
    _refused(m, "plan.path", "must be a path (text), found int", paths_in_project=False)
    m["plan"]["sha256"] = "0" * 63
    _refused(m, "plan.path", "must be a path (text), found int")  # the path is checked before the digest
    m["plan"]["path"] = "paper/analysis_plan.yaml"
    _refused(m, "plan.sha256", "must be a sha256: 64 lowercase hex digits")
    del m["plan"]["sha256"]
    _refused(m, "plan.sha256", "missing")


def test_instrument_keys_are_plain_file_names(committed):
    m = copy.deepcopy(committed)
    m["instrument"] = {"survey.yaml": "0" * 64, "a/b.yaml": "0" * 64}
    _refused(m, "instrument (entry 2)", "keys must be plain file names")


def test_artifacts_are_unique_and_their_tolerance_known(committed):
    m = copy.deepcopy(committed)
    m["artifacts"] = []
    _refused(m, "artifacts", "empty: a build always has artifacts")
    m["artifacts"] = [dict(committed["artifacts"][0]), dict(committed["artifacts"][0])]
    _refused(m, "artifacts[1].path", "the same artifact is listed twice")
    m["artifacts"] = [dict(committed["artifacts"][0], tolerance="roughly")]
    with pytest.raises(InputError, match=r"key 'artifacts\[0\].tolerance': must be one of "):
        validate_manifest(m, SOURCE)


def test_the_first_problem_in_document_order_is_reported(committed):
    m = copy.deepcopy(committed)
    m["artifacts"] = []
    m["instrument"] = []
    m["inputs"][0]["role"] = "secrets"
    _refused(m, "inputs[0].role", "must be one of survey, workorders")
    m["inputs"][0]["role"] = "survey"
    _refused(m, "instrument", "must be an object {file name: sha256}, found list")
