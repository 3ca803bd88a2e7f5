"""Compare a rebuilt result table with the published one, cell by cell, within stated tolerances.

Floating-point results are not byte-identical across processors, BLAS kernels
and thread counts: a sum taken in another order differs in its last bits, and
an iterative fit stops a hair away. ``research verify`` therefore compares
the CSV artifacts it rebuilds **cell by cell**:

- text and whole numbers (``19920``, ``outage``, ``-3.6 个百分点``) must be
  identical;
- other numbers must agree within a *relative* tolerance,
  ``|a - b| <= tol * max(|a|, |b|)`` (with an absolute floor of ``tol`` for
  values near zero), whose size depends on how the artifact is computed
  (:data:`TOLERANCES`, chosen by :func:`tolerance_for`); both missing, or both
  the same infinity, is agreement.

The tolerances are far below any published digit (tables show at most three
significant decimals, so a change of one published digit is a relative change
of at least about 1e-4), and far above the differences seen between machines
(about 1e-13 relative on the sample), so a real change always fails and a
change of processor does not.

Written by hand: ``pandas.testing.assert_frame_equal`` stops at the first
difference and says nothing of the row; a verifier must list every differing
cell, sorted by size, with both values.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field

#: relative tolerance by how an artifact is computed, with the reason (stated in the manifest)
TOLERANCES: dict[str, tuple[float, str]] = {
    "closed_form": (1e-9, "counts, rates and sums: only summation order differs between machines"),
    "iterative": (1e-7, "Newton / REML / raking fits stop at a convergence tolerance of 1e-8 to 1e-10; "
                        "another BLAS kernel can end one iteration earlier or later"),
    "bootstrap": (1e-6, "bootstrap summaries with a fixed seed: each replicate is an iterative refit, "
                        "and a percentile can switch between two neighbouring replicates' values"),
}
#: artifacts (path prefixes or names) whose numbers come from closed-form computations
_CLOSED_FORM = ("weights/response_rates", "weights/funnel", "tables/T01_", "tables/T02_", "tables/T03_",
                "figures/F01_", "figures/F02_", "strategy/p_chart", "strategy/recurrence_flags",
                # word counts and their closed-form log-odds (research.stats.fightin_words)
                "strategy/typical_", "tables/T23_", "figures/F12_")
#: artifacts whose numbers include bootstrap percentiles
_BOOTSTRAP = ("fit/thresholds", "strategy/levers", "strategy/drivers_", "tables/T07_", "tables/T14_",
              "tables/T15_", "figures/F06_", "figures/F10_", "values.csv")
_INTEGER = re.compile(r"[+-]?\d+")


def tolerance_for(path: str) -> str:
    """The tolerance class (a key of :data:`TOLERANCES`) of an artifact path such as ``fit/estimates.csv``."""
    if path.startswith(_BOOTSTRAP):
        return "bootstrap"
    if path.startswith(_CLOSED_FORM):
        return "closed_form"
    return "iterative"


@dataclass(frozen=True)
class CellDiff:
    """One cell that differs beyond tolerance: 1-based data ``row``, ``column`` name, both values as
    written, and the relative difference (``inf`` for text or whole numbers that differ)."""

    row: int
    column: str
    expected: str
    actual: str
    rel_diff: float


@dataclass
class TableComparison:
    """Result of :func:`compare_csv`: ``ok`` when every cell agrees; ``max_rel_diff`` over the numeric
    cells that were not identical (0 when all were); ``diffs`` sorted largest first; ``problem``
    names a difference of shape (header, row count) that stops the cell comparison."""

    ok: bool
    max_rel_diff: float = 0.0
    diffs: list[CellDiff] = field(default_factory=list)
    problem: str = ""


def _rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def cell_rel_diff(expected: str, actual: str) -> float:
    """0 for agreement, else the relative difference of two CSV cells (``inf`` when they cannot be
    compared as non-integer numbers: text, whole numbers, a number against a blank)."""
    if expected == actual:
        return 0.0
    a, b = _number(expected), _number(actual)
    if a is None or b is None or (_INTEGER.fullmatch(expected) and _INTEGER.fullmatch(actual)):
        return math.inf
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return 0.0 if a == b else math.inf
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale > 0 else 0.0


def compare_csv(expected: bytes, actual: bytes, *, rel_tol: float) -> TableComparison:
    """Compare two CSV files cell by cell (see the module docstring).

    Parameters
    ----------
    expected, actual : the files' bytes (UTF-8, with or without BOM).
    rel_tol : relative tolerance for non-integer numbers; values whose magnitude is below
        ``rel_tol`` are compared absolutely (a difference up to ``rel_tol`` agrees).

    Returns
    -------
    TableComparison
    """
    if expected == actual:
        return TableComparison(ok=True)
    e, a = _rows(expected), _rows(actual)
    if not e or not a or e[0] != a[0]:
        return TableComparison(ok=False, problem="the header row differs")
    if len(e) != len(a):
        return TableComparison(ok=False, problem=f"{len(e) - 1} rows expected, {len(a) - 1} rebuilt")
    header = e[0]
    diffs, worst = [], 0.0
    for i, (er, ar) in enumerate(zip(e[1:], a[1:]), start=1):
        if len(er) != len(ar):
            return TableComparison(ok=False, problem=f"row {i} has {len(er)} cells expected, {len(ar)} rebuilt")
        for j, (ec, ac) in enumerate(zip(er, ar)):
            rel = cell_rel_diff(ec, ac)
            if rel == 0.0:
                continue
            small = math.isfinite(rel) and abs(float(ec) - float(ac)) <= rel_tol
            if rel <= rel_tol or small:
                worst = max(worst, rel)
            else:
                diffs.append(CellDiff(i, header[j] if j < len(header) else f"column {j + 1}", ec, ac, rel))
    diffs.sort(key=lambda d: (-d.rel_diff, d.row, d.column))
    finite = [d.rel_diff for d in diffs if math.isfinite(d.rel_diff)]
    return TableComparison(ok=not diffs, max_rel_diff=max([worst, *finite]) if finite or worst else 0.0,
                           diffs=diffs)


def describe(result: TableComparison, tolerance: str, *, cells: int = 3) -> str:
    """One line for verify's report: agreement within tolerance, or the largest differing cells."""
    tol = TOLERANCES[tolerance][0]
    if result.problem:
        return result.problem
    if result.ok:
        return f"equal within {tolerance} tolerance {tol:g} (largest relative difference {result.max_rel_diff:.1e})"
    shown = "; ".join(f"row {d.row} {d.column}: {d.expected} vs {d.actual}"
                      + (f" (rel {d.rel_diff:.1e})" if math.isfinite(d.rel_diff) else "")
                      for d in result.diffs[:cells])
    more = f"; {len(result.diffs) - cells} more" if len(result.diffs) > cells else ""
    return f"{len(result.diffs)} cell(s) beyond {tolerance} tolerance {tol:g}: {shown}{more}"
