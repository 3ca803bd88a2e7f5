"""Row expressions that every engine can evaluate: numpy arrays, DuckDB SQL or Spark SQL.

The aggregate estimators (:mod:`research.models.aggregate`) ask an engine for sums, per group of
rows, of expressions such as ``w * G1 * G2`` with ``w = expit(eta) * (1 - expit(eta))``. They
build those expressions here, as small trees of :class:`Expr` nodes, never as text: the SQL is
rendered by :meth:`Expr.sql` from a closed set of operators and functions, column names are the
engine's own (``v_<variable>``, checked against :data:`NAME`) and numbers are Python floats
rendered with ``repr``. No text from a data file or a plan reaches SQL (a category's value goes
into a parameter table, joined by the engine, never into the query text).

Written by hand because the three engines share no expression language that numpy also
evaluates; the set of functions is the one the estimators need, nothing more.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

#: an engine column name: lower-case letters, digits and underscores, starting with a letter
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")

#: binary operators -> SQL operator
_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
#: functions of one argument (SQL rendering in :meth:`Expr.sql`)
_UNARY = ("neg", "exp", "ln", "log2", "sqrt", "abs", "log_expit", "expit", "relu", "cube")
#: functions of two arguments
_PAIR = ("least", "greatest")
#: comparisons -> SQL operator; their value is 1.0 where the comparison holds, 0.0 elsewhere (the
#: indicators of the handling-time bands, :mod:`research.representativeness.at_scale`)
_COMPARE = {"le": "<=", "lt": "<", "ge": ">=", "gt": ">"}


@dataclass(frozen=True)
class Expr:
    """A node: ``op`` is ``col`` (``args = (name,)``), ``num`` (``args = (float,)``), a binary
    operator of :data:`_BINARY`, a function of :data:`_UNARY` / :data:`_PAIR`, or a comparison of
    :data:`_COMPARE` (1.0 or 0.0)."""

    op: str
    args: tuple

    # --- construction -------------------------------------------------------------------
    def __add__(self, other): return Expr("add", (self, lift(other)))
    def __radd__(self, other): return Expr("add", (lift(other), self))
    def __sub__(self, other): return Expr("sub", (self, lift(other)))
    def __rsub__(self, other): return Expr("sub", (lift(other), self))
    def __mul__(self, other): return Expr("mul", (self, lift(other)))
    def __rmul__(self, other): return Expr("mul", (lift(other), self))
    def __truediv__(self, other): return Expr("div", (self, lift(other)))
    def __rtruediv__(self, other): return Expr("div", (lift(other), self))
    def __neg__(self): return Expr("neg", (self,))

    # --- evaluation ---------------------------------------------------------------------
    def numpy(self, columns: dict[str, np.ndarray]) -> np.ndarray | float:
        """Evaluate on arrays (``columns[name]`` for every column named in the tree)."""
        op, a = self.op, self.args
        if op == "col":
            return columns[a[0]]
        if op == "num":
            return a[0]
        if op in _BINARY:
            x, y = a[0].numpy(columns), a[1].numpy(columns)
            return {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op](x, y)
        if op in _PAIR:
            x, y = a[0].numpy(columns), a[1].numpy(columns)
            return (np.minimum if op == "least" else np.maximum)(x, y)
        if op in _COMPARE:
            x, y = a[0].numpy(columns), a[1].numpy(columns)
            cmp = {"le": np.less_equal, "lt": np.less, "ge": np.greater_equal, "gt": np.greater}[op]
            return np.asarray(cmp(x, y), dtype=float)
        x = a[0].numpy(columns)
        return {"neg": np.negative, "exp": np.exp, "ln": np.log, "log2": np.log2, "sqrt": np.sqrt,
                "abs": np.abs, "log_expit": log_expit, "expit": expit,
                "relu": lambda v: np.maximum(v, 0.0), "cube": lambda v: v * v * v}[op](x)

    def sql(self) -> str:
        """The same expression in SQL that DuckDB and Spark SQL both read (double arithmetic)."""
        op, a = self.op, self.args
        if op == "col":
            return a[0]
        if op == "num":
            return f"CAST({a[0]!r} AS DOUBLE)"
        if op in _BINARY:
            return f"({a[0].sql()} {_BINARY[op]} {a[1].sql()})"
        if op in _PAIR:
            return f"{op.upper()}({a[0].sql()}, {a[1].sql()})"
        if op in _COMPARE:
            return f"CAST(({a[0].sql()} {_COMPARE[op]} {a[1].sql()}) AS DOUBLE)"
        x = a[0].sql()
        if op == "neg":
            return f"(-{x})"
        if op in ("exp", "ln", "log2", "sqrt", "abs"):
            return f"{op.upper()}({x})"
        if op == "relu":
            return f"GREATEST({x}, CAST(0.0 AS DOUBLE))"
        if op == "cube":
            return f"({x} * {x} * {x})"
        if op == "log_expit":  # log(1 / (1 + e^-x)) = min(x, 0) - log(1 + e^-|x|), without overflow
            return f"(LEAST({x}, CAST(0.0 AS DOUBLE)) - LN(CAST(1.0 AS DOUBLE) + EXP(-ABS({x}))))"
        if op == "expit":  # e^min(x,0) / (1 + e^-|x|): no overflow on either side
            return f"(EXP(LEAST({x}, CAST(0.0 AS DOUBLE))) / (CAST(1.0 AS DOUBLE) + EXP(-ABS({x}))))"
        raise ValueError(f"unknown operator {op!r}")  # unreachable: the constructors check

    def replace(self, columns: dict[str, "Expr"]) -> "Expr":
        """The same tree with the columns named in ``columns`` replaced by those expressions
        (``G(2h)`` from ``G(h)``: the basis of a counterfactual handling time)."""
        if self.op == "col":
            return columns.get(self.args[0], self)
        if self.op == "num":
            return self
        return Expr(self.op, tuple(x.replace(columns) for x in self.args))

    def columns(self) -> set[str]:
        """Names of the columns the expression reads."""
        if self.op == "col":
            return {self.args[0]}
        if self.op == "num":
            return set()
        return set().union(*(x.columns() for x in self.args))


def col(name: str) -> Expr:
    """A column of the engine's frame (a name matching :data:`NAME`)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"not an engine column name: {name!r}")
    return Expr("col", (name,))


def num(value: float) -> Expr:
    """A finite constant."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"expression constants must be finite, got {value!r}")
    return Expr("num", (value,))


def lift(value) -> Expr:
    """An :class:`Expr` as is, a number as :func:`num`."""
    return value if isinstance(value, Expr) else num(value)


def fn(name: str, *args) -> Expr:
    """A function of :data:`_UNARY` (one argument), :data:`_PAIR` or :data:`_COMPARE` (two)."""
    if (name in _UNARY and len(args) == 1) or (name in (*_PAIR, *_COMPARE) and len(args) == 2):
        return Expr(name, tuple(lift(a) for a in args))
    raise ValueError(f"unknown function {name!r} of {len(args)} argument(s)")
