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


#: values (mappings, lists and scalars, aliases counted each time they are used) a plan or an
#: instrument file may hold: the committed ones hold at most 481; an alias bomb (a few lines that
#: expand to a billion values) would otherwise hang whatever walks or prints the value
MAX_VALUES = 200_000


def _expanded_size(node: Any, limit: int) -> int:
    """The number of values of ``node`` with aliases expanded, counting stops above ``limit``."""
    count, stack = 0, [node]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


class YamlFile:
    """Read one YAML file and check keys, naming the file and key path on error."""

    def __init__(self, path: Path, what: str = "instrument file"):
        self.path = path
        self._asked: dict[int, set[str]] = {}  # id of a mapping -> the keys a reader asked it for
        if not path.is_file():
            raise InputError(f"{path}: {what} not found")
        try:
            self.data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 (a safe loader)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not valid UTF-8 YAML: {exc}") from None
        if not isinstance(self.data, dict):
            raise InputError(f"{path}: expected a mapping at the top level")
        if _expanded_size(self.data, MAX_VALUES) > MAX_VALUES:
            raise InputError(f"{path}: holds more than {MAX_VALUES:,} values once its YAML aliases "
                             "are expanded (an alias bomb?); write the values out")

    def fail(self, where: str, problem: str) -> InputError:
        return InputError(f"{self.path}: key '{where}': {problem}")

    def get(self, node: Any, key: str, where: str, kind: type | tuple = object,
            default: Any = ..., ) -> Any:
        if not isinstance(node, dict):
            raise self.fail(where, "expected a mapping")
        self.asked(node, key)
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

    def asked(self, node: dict, key: str) -> None:
        """Note that a reader asked ``node`` for ``key`` (:meth:`get` does; a reader that takes a
        value otherwise calls this), so that :meth:`refuse_unknown` knows the key."""
        self._asked.setdefault(id(node), set()).add(key)

    def refuse_unknown(self) -> None:
        """Raise for the first key (in file order) of a mapping that no reader asked for with
        :meth:`get`: a misspelt key would otherwise be ignored, and its default used in silence.

        Only mappings a reader asked for keys are checked; a mapping read whole (its keys are
        data, such as the names of the scales or a map from variables to levels) is its
        reader's to check, and the mappings among its values are checked in turn. Call once
        every section has been read."""
        seen: set[int] = set()  # a node that YAML aliases in several places is walked once

        def walk(node: Any, where: str) -> None:
            if id(node) in seen:
                return
            seen.add(id(node))
            if isinstance(node, list):
                for i, item in enumerate(node):
                    walk(item, f"{where}[{i}]")
                return
            if not isinstance(node, dict):
                return
            asked = self._asked.get(id(node))
            for key, value in node.items():
                path = f"{where}.{key}" if where else str(key)
                if asked is not None and key not in asked:
                    raise self.fail(path, f"unknown key (misspelt, or not used here); the keys read "
                                          f"here are {sorted(asked)}")
                walk(value, path)

        walk(self.data, "")


def _kind_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "text", int: "a whole number", float: "a number", list: "a list",
             dict: "a mapping", object: "a value", type(None): "nothing"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)
