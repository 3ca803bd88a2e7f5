"""Read one YAML file and check its keys, naming the file and key path on every error.

Shared by the instrument loader (``surveys/*.yaml``) and the analysis plan
(``paper/analysis_plan.yaml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from research.errors import InputError

#: libyaml's safe loader where PyYAML was built with it (its wheels are): the same data as
#: ``yaml.SafeLoader`` (checked in tests/config), about 8 times faster, which every command pays
#: once per YAML file it reads (ingest reads five)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlFile:
    """Read one YAML file and check keys, naming the file and key path on error."""

    def __init__(self, path: Path, what: str = "instrument file"):
        self.path = path
        if not path.is_file():
            raise InputError(f"{path}: {what} not found")
        try:
            self.data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 (a safe loader)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not valid UTF-8 YAML: {exc}") from None
        if not isinstance(self.data, dict):
            raise InputError(f"{path}: expected a mapping at the top level")

    def fail(self, where: str, problem: str) -> InputError:
        return InputError(f"{self.path}: key '{where}': {problem}")

    def get(self, node: Any, key: str, where: str, kind: type | tuple = object,
            default: Any = ..., ) -> Any:
        if not isinstance(node, dict):
            raise self.fail(where, "expected a mapping")
        if key not in node:
            if default is ...:
                raise self.fail(f"{where}.{key}" if where else key, "missing")
            return default
        value = node[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        is_bool_as_number = isinstance(value, bool) and bool not in kinds and (int in kinds or float in kinds)
        if not isinstance(value, kind) or is_bool_as_number:
            raise self.fail(f"{where}.{key}" if where else key,
                            f"expected {_kind_name(kind)}, got {value!r}")
        return value

    def text(self, node: Any, key: str, where: str, default: Any = ...) -> str:
        value = self.get(node, key, where, (str, int, float), default)
        if value is None or value is default:
            return value
        value = str(value)
        if not value.strip():
            raise self.fail(f"{where}.{key}", "must not be blank")
        return value

    def seq(self, node: Any, key: str, where: str, default: Any = ...) -> list:
        value = self.get(node, key, where, (list, type(None)), default)
        return [] if value is None else list(value)


def _kind_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "text", int: "a whole number", float: "a number", list: "a list",
             dict: "a mapping", object: "a value", type(None): "nothing"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)
