"""Model frames and design matrices from the plan's formulas (formulaic).

- :func:`model_frame` picks the variables a model uses from the canonical
  responses, keeps complete cases and types them: categorical variables get
  their categories in a fixed order with the plan's reference level first.
- :func:`build_design` turns a right-hand side (R notation) into a dense
  design matrix with readable column names (``cause_l2[staff_attitude]``,
  ``log2(1 + handling_hours)``, ``cause_l1[outage]:log2(1 + handling_hours)``),
  R's coding rules included (formulaic implements them).
- :meth:`Design.rebuild` re-evaluates only the columns that depend on given
  variables, on a counterfactual copy of the frame: predictions "as if every
  ticket had sub-cause s" cost one small matrix, not a new design.

``rcs(x)`` in a formula is a restricted cubic spline of ``x`` (Harrell's
natural-spline basis, as R's ``Hmisc::rcspline.eval(x, knots, inclx = TRUE)``):
written here because formulaic has no natural-spline basis with fixed knots;
the knots are set once from the full data so bootstrap refits and
counterfactuals share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from research.errors import InputError, NotEstimable
from research.config.instrument import Instrument
from research.config.plan_specs import CATEGORICAL_VARIABLES
from research.stats.logit import weighted_cross  # noqa: F401  (moved to stats; the old name still imports)

CATEGORICAL = CATEGORICAL_VARIABLES  # the plan's list (research.config.plan_specs)
#: variables derived here rather than read from the export: name -> (source column, how)
DERIVED = {"month": "created_at"}


def month_of(created_at: pd.Series) -> pd.Series:
    """Calendar month of creation, ``YYYY-MM`` text (missing where ``created_at`` is)."""
    t = pd.to_datetime(created_at)
    # year * 12 + month per row, formatted once per distinct month (strftime of a million
    # datetimes took 2.7 s at 1M rows); the same text, missing where created_at is
    codes, uniques = pd.factorize(t.dt.year * 12 + (t.dt.month - 1))
    text = np.array([f"{int(k) // 12:04d}-{int(k) % 12 + 1:02d}" for k in uniques] + [None], dtype=object)
    return pd.Series(text[codes], index=created_at.index, dtype="string")


BOOLEAN = ("repeat", "sla_met", "satisfied")


def rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline basis (linear beyond the outer knots).

    Parameters
    ----------
    x : values (any shape, flattened).
    knots : k >= 3 increasing knots.

    Returns
    -------
    (n, k - 1) array: ``x`` itself, then k - 2 cubic terms scaled by
    ``(t_k - t_1)^2`` (Harrell 2015, *Regression Modeling Strategies*, 2.4.5;
    R ``Hmisc::rcspline.eval(x, knots, inclx = TRUE, norm = 2)``).
    """
    x = np.asarray(x, dtype=float).ravel()
    t = np.asarray(knots, dtype=float)
    k = len(t)
    if k < 3 or np.any(np.diff(t) <= 0):
        raise ValueError(f"need at least 3 increasing knots, got {t}")
    scale = (t[-1] - t[0]) ** 2
    cols = [x]
    tail1 = np.clip(x - t[-2], 0, None) ** 3
    tail2 = np.clip(x - t[-1], 0, None) ** 3
    for j in range(k - 2):
        c = (np.clip(x - t[j], 0, None) ** 3
             - tail1 * (t[-1] - t[j]) / (t[-1] - t[-2])
             + tail2 * (t[-2] - t[j]) / (t[-1] - t[-2]))
        cols.append(c / scale)
    return np.column_stack(cols)


def formula_context(knots: np.ndarray | None = None) -> dict:
    """Functions a plan formula may call."""
    ctx = {"log2": np.log2, "log": np.log, "sqrt": np.sqrt}
    if knots is not None:
        ctx["rcs"] = lambda x: rcs_basis(x, knots)
    return ctx


def category_order(variable: str, instrument: Instrument, observed: pd.Series) -> list[str]:
    """Levels in instrument order (taxonomy, labels), else sorted; only observed levels."""
    sets = {"cause_l1": "cause_l1", "cause_l2": "cause_l2", "channel": "channel", "resolved": "resolved"}
    present = set(observed.dropna().astype(str).unique())
    if variable in sets:
        return [c for c in instrument.label_sets[sets[variable]].codes if c in present]
    return sorted(present)


def model_frame(data: pd.DataFrame, variables: tuple[str, ...], *, reference_levels: dict[str, str],
                instrument: Instrument, notes: list[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Complete cases of ``variables``, typed for modelling.

    Parameters
    ----------
    data : canonical responses (research.ingestion.schema.RESPONSES columns).
    variables : the columns a model uses. ``month`` (month of creation,
        ``YYYY-MM``, categorical, earliest month as reference) is derived from
        ``created_at`` when the data have no such column; a single month in the
        data leaves the term without columns (fit_model notes it).
    reference_levels : variable -> reference level (first category). When the
        plan's reference level has no rows, the first level present (in
        instrument order) is used instead and a note says so.
    notes : list that receives such notes (default: none kept).

    Returns
    -------
    frame : one row per complete case; categorical variables as pandas
        Categoricals (reference first, then instrument order), booleans as
        0/1 floats, numbers as float64.
    rows : positions of those rows in ``data``.

    Raises
    ------
    InputError
        A variable is absent.
    """
    derive = [v for v in variables if v in DERIVED and v not in data.columns]
    missing = [v for v in variables if v not in data.columns and v not in derive]
    missing += [DERIVED[v] for v in derive if DERIVED[v] not in data.columns]
    if missing:
        raise InputError(f"responses: column(s) {missing} needed by the model are absent")
    sub = data.loc[:, [v for v in variables if v not in derive]]
    if derive:  # month of creation: the only derived variable
        sub = sub.assign(month=month_of(data["created_at"]).to_numpy())[list(variables)]
    keep = sub.notna().all(axis=1).to_numpy()
    rows = np.flatnonzero(keep)
    sub = sub.iloc[rows]
    out = {}
    for v in variables:
        col = sub[v]
        if v in CATEGORICAL:
            levels = category_order(v, instrument, col)
            ref = reference_levels.get(v)
            if ref is not None and ref not in levels and levels:
                if notes is not None:
                    notes.append(f"reference level {ref!r} of {v} has no rows; {levels[0]!r} used instead")
                ref = levels[0]
            if ref is not None:
                levels = [ref] + [lev for lev in levels if lev != ref]
            out[v] = _categorical(col, levels)
        elif v in BOOLEAN:
            out[v] = col.astype(bool).to_numpy(dtype=float)
        else:
            out[v] = col.to_numpy(dtype=float)
    return pd.DataFrame(out), rows


def _categorical(col: pd.Series, levels: list[str]) -> pd.Categorical:
    """``pd.Categorical(col.astype(str).to_numpy(), categories=levels)`` (values outside ``levels``
    become missing), through Arrow's dictionary encoding when ``col`` holds Arrow strings without
    missing values: the few distinct texts are looked up instead of a million Python strings made
    and hashed (about 1 s per categorical variable and model at 1M rows). Same categorical."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col.dtype, pd.StringDtype) and col.dtype.storage.startswith("pyarrow") and not col.hasnans:
        enc = pc.dictionary_encode(pa.chunked_array(pa.array(col))).combine_chunks()
        lookup = {lev: i for i, lev in enumerate(levels)}
        mapping = np.array([lookup.get(d, -1) for d in enc.dictionary.to_pylist()], dtype=np.int64)
        codes = mapping[enc.indices.to_numpy(zero_copy_only=False)] if len(mapping) else np.zeros(0, np.int64)
        return pd.Categorical.from_codes(codes, categories=levels)
    return pd.Categorical(col.astype(str).to_numpy(), categories=levels)


def readable(name: str) -> str:
    """formulaic column name -> the package's term name."""
    if name == "Intercept":
        return "(Intercept)"
    return re.sub(r"\[T\.", "[", name)


@dataclass
class Design:
    """A dense design matrix with its formula spec, for fitting and counterfactuals."""

    X: np.ndarray  # (n, p) float64
    names: list[str]  # readable column names
    spec: object = field(repr=False)  # formulaic ModelSpec
    context: dict = field(repr=False)
    columns_of_term: dict[str, list[int]] = field(repr=False)
    variables_of_term: dict[str, set[str]] = field(repr=False)

    def columns_using(self, variables: set[str]) -> list[str]:
        """The terms whose columns depend on any of ``variables``."""
        return [t for t, vs in self.variables_of_term.items() if vs & variables]

    def rebuild(self, frame: pd.DataFrame, variables: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """Columns that depend on ``variables``, evaluated on ``frame`` (a counterfactual copy).

        Returns (column indices into X, new values (n, k)).
        """
        terms = self.columns_using(variables)
        if not terms:
            return np.array([], dtype=int), np.empty((len(frame), 0))
        idx = np.concatenate([self.columns_of_term[t] for t in terms])
        mm = self.spec.subset(terms).get_model_matrix(frame, context=self.context)
        return idx, np.asarray(mm, dtype=float)


def build_design(frame: pd.DataFrame, rhs: str, *, intercept: bool, context: dict | None = None,
                 check_rank: bool = True) -> Design:
    """Design matrix of ``rhs`` on a model frame.

    Parameters
    ----------
    frame : from :func:`model_frame`.
    rhs : right-hand side in R notation, in the canonical text of
        :func:`research.config.formula.parse_rhs` (as the plan stores it).
    intercept : keep the intercept column (False for ordinal models, whose
        cutpoints play its part; the coding is still the one with an intercept).
    context : functions the formula calls (:func:`formula_context`).
    check_rank : refuse a rank-deficient design (False: the caller checks the rank of the
        cross-products it builds itself, as :mod:`research.models.aggregate` does).

    Raises
    ------
    InputError
        The formula is outside the plan's grammar or not canonical, cannot be
        evaluated, or the design is rank deficient (names the columns involved).
    """
    from formulaic import model_matrix

    from research.config.formula import FUNCTIONS, parse_rhs
    from research.config.plan import PROPENSITY_VARIABLES, VARIABLES

    # Defence in depth: formulaic evaluates factors as Python, so only a formula that the
    # plan's parser accepts, in the canonical text it re-generates, is ever handed to it.
    canonical = parse_rhs(rhs, source="model formula", variables=(*VARIABLES, *PROPENSITY_VARIABLES),
                          functions=FUNCTIONS).text()
    if canonical != rhs:
        raise InputError(f"model formula: not in canonical form; write it as {canonical!r}")
    context = context if context is not None else formula_context()
    try:
        # Always coded with an intercept, as R does for polr/clm: without one, the first
        # factor would get a full set of dummies; the intercept column is dropped after.
        # Sparse output, then one dense C-ordered array: formulaic's dense output is a frame of
        # one column per dummy, as large as X itself, that had to be copied into X (at 1M rows and
        # 77 columns: 1.2 GB at the peak and 3.7 s, against 0.74 GB and 2.6 s this way). The
        # values are the same numbers (dummies 1.0, the numeric factors and their products).
        mm = model_matrix(rhs, frame, context=context, na_action="raise", output="sparse")
    except Exception as exc:  # formulaic raises many types for a bad formula
        raise InputError(f"analysis plan: cannot build the design of {rhs!r}: {exc}") from None
    # the spec keeps formulaic's default (pandas) output for the counterfactual rebuilds
    spec = mm.model_spec.update(output="pandas")
    every = list(spec.column_names)
    keep = [j for j, c in enumerate(every) if intercept or c != "Intercept"]
    columns = [every[j] for j in keep]
    names = [readable(c) for c in columns]
    sparse = mm.tocsc()[:, keep] if len(keep) < len(every) else mm
    del mm
    X = np.ascontiguousarray(sparse.tocsr().toarray(), dtype=float)
    del sparse
    columns_of_term: dict[str, list[int]] = {}
    variables_of_term: dict[str, set[str]] = {}
    position = {c: i for i, c in enumerate(columns)}
    for term, _, cols in spec.structure:
        key = str(term)
        if key == "1" and not intercept:
            continue
        columns_of_term[key] = [position[c] for c in cols]
        variables_of_term[key] = {v for v in frame.columns if re.search(rf"\b{v}\b", key)}
    if check_rank:
        _check_rank(X, names, rhs)
    return Design(X=X, names=names, spec=spec, context=context, columns_of_term=columns_of_term,
                  variables_of_term=variables_of_term)


def _check_rank(X: np.ndarray, names: list[str], rhs: str) -> None:
    """NotEstimable naming the empty columns when ``X`` is rank deficient."""
    xtx = X.T @ X
    scale = np.sqrt(np.clip(np.diag(xtx), 1e-300, None))
    rank = np.linalg.matrix_rank(xtx / np.outer(scale, scale), tol=1e-10)
    if rank < X.shape[1]:
        zero = [names[j] for j in range(X.shape[1]) if not X[:, j].any()]
        raise NotEstimable(f"analysis plan: the design of {rhs!r} is rank deficient (rank {rank} of "
                           f"{X.shape[1]} columns)" + (f"; columns without any row: {zero}" if zero else ""))
