"""Checks of single plan settings shared by every section of the analysis plan.

In: the plan's :class:`research.config.yamlfile.YamlFile`, the mapping holding a key and the
key's path (``weighting.bands_hours``). Out: the checked value, or
:class:`research.errors.InputError` from ``r.fail`` naming the file, the key and the problem.
"""

from __future__ import annotations

import math
import re

from research.config.formula import MODEL_FUNCTIONS, parse_rhs
from research.config.plan_specs import CLUSTER_VARIABLES, MAX_BOOTSTRAP_REPS, SEED_MAX
from research.config.yamlfile import YamlFile


def formula(r: YamlFile, node, key: str, where: str, variables: tuple[str, ...],
            functions: tuple[str, ...] = MODEL_FUNCTIONS, default: str | None = None) -> str:
    """The canonical text of the formula at ``where.key`` (research.config.formula.parse_rhs).

    Parameters
    ----------
    node : the mapping holding the key; ``default`` (already canonical) when it is absent.
    variables, functions : what the formula may use.

    Returns
    -------
    The formula re-generated from its parsed structure: the only text handed to formulaic.

    Raises
    ------
    InputError
        Missing key, a value that is not text, or a formula outside the grammar; names the
        file, the key, the offending token and its position.
    """
    if not isinstance(node, dict):
        raise r.fail(where, "expected a mapping")
    key_path = f"{where}.{key}" if where else key
    r.asked(node, key)
    if key not in node:
        if default is None:
            raise r.fail(key_path, "missing")
        return default
    return parse_rhs(node[key], source=f"{r.path}: key '{key_path}'", variables=variables,
                     functions=functions).text()


def at_most(r: YamlFile, key_path: str, value: float, limit: float) -> None:
    """Refuse ``value`` above ``limit`` (bounded work), naming the key, the value and the limit."""
    if value > limit:
        raise r.fail(key_path, f"{value} is above the limit of {limit}")


def finite(r: YamlFile, key_path: str, value: float) -> float:
    """Refuse infinity and NaN (YAML's .inf / .nan), which no setting of the plan can mean."""
    if not math.isfinite(value):
        raise r.fail(key_path, f"must be a finite number, got {value}")
    return value


def identifier(r: YamlFile, node, where: str) -> str:
    """``where.name``: lower-case letters, digits and underscores, starting with a letter (the
    name of a model or a lever, used in file rows and the report's value names)."""
    name = r.text(node, "name", where)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise r.fail(f"{where}.name", f"{name!r}: use lower-case letters, digits and underscores")
    return name


def seed_value(r: YamlFile, node, key: str, where: str, **default) -> int:
    """``where.key``: a seed in numpy's range ``[0, SEED_MAX]`` (``default=`` makes it optional)."""
    value = r.get(node, key, where, int, **default)
    if not 0 <= value <= SEED_MAX:
        raise r.fail(f"{where}.{key}", f"{value} is outside [0, {SEED_MAX}] (numpy's seed range)")
    return value


def bootstrap(r: YamlFile, node, where: str, defaults: dict | None = None) -> tuple[int, int, str]:
    """A section's ``bootstrap: {reps, seed, cluster}`` (shared by thresholds, scenarios, drivers);
    ``defaults`` makes the mapping and each key optional. reps 0 turns the bootstrap off.

    Returns ``(reps, seed, cluster)``; the keys are checked in the order reps, cluster, seed."""
    d = defaults or {}
    w = f"{where}.bootstrap"
    boot = r.get(node, "bootstrap", where, dict, **({"default": {}} if defaults else {}))
    reps = r.get(boot, "reps", w, int, **({"default": d["reps"]} if "reps" in d else {}))
    if reps < 0:
        raise r.fail(f"{w}.reps", "must be >= 0 (0 turns the bootstrap off)")
    at_most(r, f"{w}.reps", reps, MAX_BOOTSTRAP_REPS)
    cluster = r.text(boot, "cluster", w, **({"default": d["cluster"]} if "cluster" in d else {}))
    if cluster not in CLUSTER_VARIABLES:
        raise r.fail(f"{w}.cluster", f"one of {list(CLUSTER_VARIABLES)}")
    value = seed_value(r, boot, "seed", w, **({"default": d["seed"]} if "seed" in d else {}))
    return reps, value, cluster
