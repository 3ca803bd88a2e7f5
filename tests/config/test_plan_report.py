"""The optional ``report`` section of the plan (issuing unit and issue date of the report)."""

from __future__ import annotations

import datetime

import pytest
import yaml

from research.config.plan import load_plan, plan_path
from research.errors import InputError


def _plan_with(tmp_path, report) -> str:
    data = yaml.safe_load(plan_path().read_text(encoding="utf-8"))
    data.pop("report", None)
    if report is not ...:
        data["report"] = report
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_report_section_is_optional(tmp_path):
    spec = load_plan(_plan_with(tmp_path, ...)).report
    assert spec.issuer is None and spec.issued is None


def test_report_section_read(tmp_path):
    spec = load_plan(_plan_with(tmp_path, {"issuer": {"zh": "客户服务中心", "en": "Customer service centre"},
                                           "issued": "2026-03-31"})).report
    assert spec.issuer == {"zh": "客户服务中心", "en": "Customer service centre"}
    assert spec.issued == datetime.date(2026, 3, 31)


@pytest.mark.parametrize(("report", "key"), [
    ({"issued": "31/03/2026"}, "report.issued"),
    ({"issued": "2026-02-30"}, "report.issued"),
    ({"issued": 20260331}, "report.issued"),
    ({"issuer": {"zh": "客户服务中心"}}, "report.issuer.en"),
    ({"issuer": {"zh": "客户服务中心", "en": "  "}}, "report.issuer.en"),
    ({"issuer": {"zh": "甲", "en": "A", "fr": "B"}}, "report.issuer.fr"),
    ({"issuer": "客户服务中心"}, "report.issuer"),
    ({"date": "2026-03-31"}, "report.date"),
    (["issuer"], "report"),
])
def test_bad_report_section_names_the_key(tmp_path, report, key):
    with pytest.raises(InputError, match=f"key '{key}'"):
        load_plan(_plan_with(tmp_path, report))
