"""Sizes of the package's modules (lines) and functions (lines, nested ones apart), largest first.

Usage: ``python tools/code_size.py [--limit-module 500] [--limit-function 80]`` prints every
module and function over the limits; ``tests/test_code_size.py`` holds the same limits as a
ratchet (the ones over them today may shrink, never grow; no new one may appear).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "research"
MODULE_LIMIT = 500
FUNCTION_LIMIT = 80


def module_sizes(package: Path = PACKAGE) -> dict[str, int]:
    """``research/...py`` (relative path) -> number of lines."""
    return {p.relative_to(package.parent).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
            for p in sorted(package.rglob("*.py"))}


def function_sizes(package: Path = PACKAGE) -> dict[str, int]:
    """``path::Class.function`` -> lines from ``def`` to the last line of its body (decorators and
    the bodies of functions nested in it included; the nested ones are also listed apart)."""
    out: dict[str, int] = {}
    for p in sorted(package.rglob("*.py")):
        rel = p.relative_to(package.parent).as_posix()
        tree = ast.parse(p.read_text(encoding="utf-8"))

        def walk(node, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    name = f"{prefix}{child.name}"
                    out[f"{rel}::{name}"] = child.end_lineno - child.lineno + 1
                    walk(child, f"{name}.")
                elif isinstance(child, ast.ClassDef):
                    walk(child, f"{prefix}{child.name}.")
        walk(tree, "")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit-module", type=int, default=MODULE_LIMIT)
    ap.add_argument("--limit-function", type=int, default=FUNCTION_LIMIT)
    a = ap.parse_args()
    mods = {k: v for k, v in module_sizes().items() if v > a.limit_module}
    funcs = {k: v for k, v in function_sizes().items() if v > a.limit_function}
    print(f"modules over {a.limit_module} lines: {len(mods)}")
    for k, v in sorted(mods.items(), key=lambda kv: -kv[1]):
        print(f"  {v:5d}  {k}")
    print(f"functions over {a.limit_function} lines: {len(funcs)}")
    for k, v in sorted(funcs.items(), key=lambda kv: -kv[1]):
        print(f"  {v:5d}  {k}")


if __name__ == "__main__":
    main()
