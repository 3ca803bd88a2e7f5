"""The plan's model formulas: parsed into data, never evaluated as written.

A right-hand side of the analysis plan (``models[].rhs``, ``thresholds.rhs``,
``weighting.propensity_rhs``) is a small subset of R/Wilkinson notation::

    rhs      := term ("+" term)*
    term     := factor ((":" | "*") factor)*
    factor   := VARIABLE | FUNCTION "(" argument ")"
    argument := VARIABLE | NUMBER "+" VARIABLE | FUNCTION "(" argument ")"

- VARIABLE: one of the variables the caller allows (the input contract);
- FUNCTION: ``log2``, ``log``, ``sqrt`` (of a numeric variable, possibly
  shifted: ``log2(1 + handling_hours)``), ``rcs`` (restricted cubic spline of
  a numeric argument, only where the caller allows it and never inside another
  call) and ``C`` (a categorical variable, as is: ``C(channel)``);
- NUMBER: a plain decimal (``1``, ``0.5``) of at most 12 characters: no sign,
  no exponent, no power;
- ``a:b`` is an interaction, ``a*b`` its expansion ``a + b + a:b``.

Why a hand-written recursive-descent parser: formulaic's own parser hands
every factor it does not recognise (a call of ``eval``, ``{...}``, backticks) to
Python's ``eval``, and the standard ``ast`` module accepts any Python
expression, so neither can tell a formula from code. Here the text is first
NFKC-normalised (so full-width ``ｅｖａｌ`` is seen as the ``eval`` Python
would see), tokenised by hand into names, plain decimals and the five
characters ``+ : * ( )``, parsed into the dataclasses below, and formulaic is
only ever given the canonical text re-generated from them
(:meth:`Formula.text`). Anything else raises
:class:`research.errors.InputError` naming the source (file and key), the
offending token and its position. Lengths, terms, interaction order and call
depth are bounded, so parsing is linear and fast on any input.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Union

from research.errors import InputError

#: functions of a numeric argument; ``rcs`` needs knots, so callers allow it explicitly
NUMERIC_FUNCTIONS = ("log2", "log", "sqrt", "rcs")
#: every function a formula may call, and the default set (no spline)
FUNCTIONS = (*NUMERIC_FUNCTIONS, "C")
MODEL_FUNCTIONS = ("log2", "log", "sqrt", "C")
#: variables that are numbers (the others are categorical or boolean)
NUMERIC_VARIABLES = ("handling_hours",)

MAX_CHARS = 500  # formula length, before and after normalisation
MAX_TERMS = 30  # terms joined by "+"
MAX_FACTORS = 3  # factors in one interaction term
MAX_DEPTH = 3  # nested calls, as in rcs(log2(1 + x))
MAX_NUMBER_CHARS = 12  # a number literal, digits and point
_SHOW = 30  # characters of an offending token quoted in a message

_OPERATORS = "+:*()"
_SPACE = " \t\r\n"


# ----------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class Variable:
    """A variable of the input contract."""

    name: str

    def text(self) -> str:
        return self.name

    def variables(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Offset:
    """``<number> + <variable>`` inside a call, as in ``log2(1 + handling_hours)``."""

    constant: str  # the validated decimal literal, as written
    variable: Variable

    def text(self) -> str:
        return f"{self.constant} + {self.variable.text()}"

    def variables(self) -> tuple[str, ...]:
        return self.variable.variables()


@dataclass(frozen=True)
class Call:
    """A transform applied to one argument."""

    function: str
    argument: Union[Variable, Offset, "Call"]

    def text(self) -> str:
        return f"{self.function}({self.argument.text()})"

    def variables(self) -> tuple[str, ...]:
        return self.argument.variables()


Factor = Union[Variable, Call]


@dataclass(frozen=True)
class Term:
    """Factors joined by ``:`` or ``*`` (``operators`` has one fewer entry than ``factors``)."""

    factors: tuple[Factor, ...]
    operators: tuple[str, ...] = ()

    def text(self) -> str:
        out = self.factors[0].text()
        for op, factor in zip(self.operators, self.factors[1:]):
            out += op + factor.text()
        return out

    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for f in self.factors for v in f.variables()))


@dataclass(frozen=True)
class Formula:
    """A parsed right-hand side; :meth:`text` is the only text formulaic ever sees."""

    terms: tuple[Term, ...]

    def text(self) -> str:
        """Canonical text: terms joined by ``" + "``, ``a:b``, ``f(1 + x)``."""
        return " + ".join(t.text() for t in self.terms)

    def variables(self) -> tuple[str, ...]:
        """Variables used, in order of first appearance."""
        return tuple(dict.fromkeys(v for t in self.terms for v in t.variables()))


# ----------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: str  # "name" | "number" | "op" | "end" | "error"
    text: str
    position: int  # 1-based character of the normalised text
    problem: str = ""  # why an "error" token is not a token


def _show(token: str) -> str:
    """A token as quoted in a message: ASCII escapes, at most ``_SHOW`` characters."""
    return ascii(token[:_SHOW]) + ("..." if len(token) > _SHOW else "")


class _Fail:
    """Builds the InputError of one parse: source, problem, token, position."""

    def __init__(self, source: str):
        self.source = source

    def __call__(self, problem: str, token: _Token | None = None) -> InputError:
        if token is None:
            return InputError(f"{self.source}: {problem}")
        what = "the end of the formula" if token.kind == "end" else _show(token.text)
        return InputError(f"{self.source}: {problem}: {what} at character {token.position}")


def _tokens(text: str) -> list[_Token]:
    """Names, plain decimals and operators of ``text`` (already normalised), then an end token.

    Text that is no token ends the list with an "error" token, which the parser raises when
    it gets there, so the message names the first problem from the left.
    """
    out: list[_Token] = []

    def fail(problem: str, token: _Token) -> list[_Token]:
        return [*out, _Token("error", token.text, token.position, problem)]

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
        elif ch in _OPERATORS:
            out.append(_Token("op", ch, i + 1))
            i += 1
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            j = i + 1
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            out.append(_Token("name", text[i:j], i + 1))
            i = j
        elif ch.isascii() and ch.isdigit():
            j = i
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
            if j < n and text[j] == ".":
                j += 1
                start = j
                while j < n and text[j].isascii() and text[j].isdigit():
                    j += 1
                if j == start:
                    return fail("a number needs digits after its point", _Token("number", text[i:j], i + 1))
            if j < n and (text[j].isalnum() or text[j] in "_."):
                # 1e5, 1_000, 0x1f, 1.2.3: only plain decimals are numbers here
                k = j
                while k < n and (text[k].isalnum() or text[k] in "_."):
                    k += 1
                return fail("numbers must be plain decimals (no exponent, separator or suffix)",
                           _Token("number", text[i:k], i + 1))
            if j - i > MAX_NUMBER_CHARS:
                return fail(f"a number may have at most {MAX_NUMBER_CHARS} characters",
                           _Token("number", text[i:j], i + 1))
            out.append(_Token("number", text[i:j], i + 1))
            i = j
        else:
            return fail("character not allowed in a formula (use variables, numbers, + : * and "
                       "parentheses)", _Token("char", ch, i + 1))
    out.append(_Token("end", "", n + 1))
    return out


# ----------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the token list; every method consumes what it parsed."""

    def __init__(self, tokens: list[_Token], fail: _Fail, variables: frozenset[str],
                 functions: frozenset[str], numeric: frozenset[str]):
        self.tokens, self.i, self.fail = tokens, 0, fail
        self.variables, self.functions, self.numeric = variables, functions, numeric

    def peek(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind == "error":
            raise self.fail(tok.problem, tok)
        return tok

    def take(self) -> _Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, op: str, problem: str) -> None:
        tok = self.take()
        if tok.kind != "op" or tok.text != op:
            raise self.fail(problem, tok)

    def formula(self) -> Formula:
        terms = [self.term()]
        while self.peek().kind == "op" and self.peek().text == "+":
            self.take()
            terms.append(self.term())
            if len(terms) > MAX_TERMS:
                raise self.fail(f"at most {MAX_TERMS} terms", self.peek())
        tok = self.peek()
        if tok.kind != "end":
            raise self.fail("expected '+', ':', '*' or the end of the formula", tok)
        seen: set[str] = set()
        for t in terms:
            if t.text() in seen:
                raise self.fail(f"term {_show(t.text())} appears twice")
            seen.add(t.text())
        return Formula(tuple(terms))

    def term(self) -> Term:
        factors, ops = [self.factor()], []
        while self.peek().kind == "op" and self.peek().text in ":*":
            ops.append(self.take().text)
            start = self.peek()
            factors.append(self.factor())
            if len(factors) > MAX_FACTORS:
                raise self.fail(f"an interaction may join at most {MAX_FACTORS} factors", start)
            if factors[-1] in factors[:-1]:
                raise self.fail("a factor appears twice in one interaction", start)
        return Term(tuple(factors), tuple(ops))

    def factor(self) -> Factor:
        tok = self.peek()
        if tok.kind == "number":
            raise self.fail("a number cannot be a term (the model family sets the intercept)", tok)
        if tok.kind != "name":
            raise self.fail("expected a variable or a function", tok)
        if self.tokens[self.i + 1].text == "(" and self.tokens[self.i + 1].kind == "op":
            return self.call(depth=1)
        return self.variable()

    def variable(self) -> Variable:
        tok = self.take()
        if tok.kind != "name":
            raise self.fail("expected a variable", tok)
        if tok.text not in self.variables:
            raise self.fail(f"unknown variable (known: {sorted(self.variables)})", tok)
        return Variable(tok.text)

    def call(self, depth: int) -> Call:
        name = self.take()
        if name.text not in self.functions:
            raise self.fail(f"unknown function (allowed here: {sorted(self.functions)})", name)
        if depth > MAX_DEPTH:
            raise self.fail(f"calls may be nested at most {MAX_DEPTH} deep", name)
        self.expect("(", "expected '('")
        arg_start = self.peek()
        argument = self.argument(depth)
        self.expect(")", "expected ')'")
        self._check_call(name, argument, arg_start, depth)
        return Call(name.text, argument)

    def argument(self, depth: int) -> Variable | Offset | Call:
        tok = self.peek()
        if tok.kind == "number":
            self.take()
            self.expect("+", "expected '+' after the number (write number + variable)")
            return Offset(tok.text, self.variable())
        if tok.kind == "name" and self.tokens[self.i + 1].kind == "op" and self.tokens[self.i + 1].text == "(":
            return self.call(depth + 1)
        return self.variable()

    def _check_call(self, name: _Token, argument, arg_start: _Token, depth: int) -> None:
        """Types: numeric transforms take numbers; C takes one categorical variable; rcs is outermost."""
        if name.text == "C":
            if not isinstance(argument, Variable) or argument.name in self.numeric:
                raise self.fail("C() takes one categorical variable", arg_start)
            if depth > 1:
                raise self.fail("C() cannot be inside another call", name)
            return
        if name.text == "rcs" and depth > 1:
            raise self.fail("rcs() cannot be inside another call", name)
        if isinstance(argument, Call) and argument.function in ("C", "rcs"):
            raise self.fail(f"{name.text}() needs a number, not {argument.function}()", arg_start)
        if any(v not in self.numeric for v in argument.variables()):
            raise self.fail(f"{name.text}() needs a numeric variable ({sorted(self.numeric)})", arg_start)


def parse_rhs(text: object, *, source: str, variables: tuple[str, ...] | frozenset[str],
              functions: tuple[str, ...] = MODEL_FUNCTIONS,
              numeric: tuple[str, ...] = NUMERIC_VARIABLES) -> Formula:
    """Parse a right-hand side of the documented subset (see the module docstring).

    Parameters
    ----------
    text : the formula as written (anything else than a string is refused).
    source : where it comes from, for messages, e.g. ``"plan.yaml: key 'models[2].rhs'"``.
    variables : variable names the formula may use.
    functions : function names it may call (a subset of :data:`FUNCTIONS`).
    numeric : which of the variables are numbers (transforms apply to those only).

    Returns
    -------
    The parsed :class:`Formula`; its ``text()`` is the canonical text to hand to formulaic.

    Raises
    ------
    InputError
        Not a string, empty, too long, or any token outside the grammar; the
        message names ``source``, the token and its 1-based character position
        in the NFKC-normalised text, and never quotes the whole formula.
    """
    fail = _Fail(source)
    if not isinstance(text, str):
        raise fail(f"expected a formula as text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise fail(f"formula of {len(text)} characters; the limit is {MAX_CHARS}")
    norm = unicodedata.normalize("NFKC", text)
    if len(norm) > MAX_CHARS:
        raise fail(f"formula of {len(norm)} characters after Unicode normalisation; the limit is {MAX_CHARS}")
    if not norm.strip(_SPACE):
        raise fail("empty formula")
    parser = _Parser(_tokens(norm), fail, frozenset(variables),
                     frozenset(functions) & frozenset(FUNCTIONS), frozenset(numeric))
    return parser.formula()
