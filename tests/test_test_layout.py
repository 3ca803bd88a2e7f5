"""The suite runs as the README says (`pytest` from the checkout, as .ci/run does): tests/ is not a
package, so a test importing ``tests.conftest`` works under ``python -m pytest`` (the current folder
on sys.path) and fails to collect under plain ``pytest``; shared helpers come ``from conftest``."""

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_imports_the_tests_folder_as_a_package():
    bad = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py")
           if re.search(r"^\s*(from tests[. ]|import tests\b)", p.read_text(encoding="utf-8"), re.M)]
    assert bad == []
