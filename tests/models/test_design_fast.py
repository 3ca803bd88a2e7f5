"""The model frame's fast paths give what the plain pandas calls give (research.models.design).

Reference: the pandas expressions they replace, on the committed sample's responses and on
hard cases (a level missing from the categories, missing values, time zones, no rows).
"""

from __future__ import annotations

import pandas as pd
import pytest
from pandas._testing import assert_categorical_equal

from research import paths
from research.ingestion.run import ingest
from research.config.instrument import load_instrument
from research.models.design import _categorical, category_order, month_of


@pytest.fixture(scope="module")
def responses():
    return ingest(paths.sample_survey(), paths.sample_workorders()).responses


@pytest.mark.parametrize("variable", ["cause_l1", "cause_l2", "channel", "region", "station"])
def test_categorical_through_arrow_equals_pandas(responses, variable):
    col = responses[variable].dropna()
    assert isinstance(col.dtype, pd.StringDtype)
    levels = category_order(variable, load_instrument(), col)
    for cats in (levels, levels[1:], list(reversed(levels)), []):
        with pd.option_context("mode.chained_assignment", None):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas warns about values outside the categories
                expected = pd.Categorical(col.astype(str).to_numpy(), categories=cats)
        assert_categorical_equal(_categorical(col, cats), expected)


def test_categorical_with_missing_values_or_other_types_takes_the_pandas_path():
    for col in (pd.Series(["a", None, "b"], dtype="string[pyarrow]"), pd.Series(["a", "b"], dtype=object),
                pd.Series(["a", "b"], dtype="category")):
        assert_categorical_equal(_categorical(col, ["b", "a"]),
                                 pd.Categorical(col.astype(str).to_numpy(), categories=["b", "a"]))


def test_month_of_equals_strftime(responses):
    def plain(s):
        return pd.to_datetime(s).dt.strftime("%Y-%m").astype("string")

    pd.testing.assert_series_equal(month_of(responses["created_at"]), plain(responses["created_at"]),
                                   check_names=False)
    for s in (pd.Series(pd.to_datetime(["2025-01-03 10:00", None, "2025-12-31 23:59"])),
              pd.Series(pd.to_datetime(["2025-01-31 23:30"]).tz_localize("Asia/Shanghai")),
              pd.Series([], dtype="datetime64[ns]")):
        pd.testing.assert_series_equal(month_of(s), plain(s), check_names=False)


def test_design_columns_copied_one_by_one_equal_the_frames_array(responses, plan):
    # build_design fills one C-ordered array column by column instead of np.asarray(frame) then
    # ascontiguousarray (two extra n x p copies); same values, same layout
    import numpy as np
    from formulaic import model_matrix

    from research.config.formula import parse_rhs
    from research.models.design import build_design, formula_context, model_frame
    from research.config.plan import VARIABLES

    spec = plan.model("levers")
    used = parse_rhs(spec.rhs, source="levers", variables=VARIABLES).variables()
    frame, _ = model_frame(responses, (spec.outcome, *used), reference_levels=plan.reference_levels,
                           instrument=load_instrument())
    for intercept in (True, False):
        design = build_design(frame, spec.rhs, intercept=intercept)
        mm = model_matrix(spec.rhs, frame, context=formula_context(), na_action="raise")
        cols = [c for c in mm.columns if intercept or c != "Intercept"]
        old = np.ascontiguousarray(np.asarray(mm.loc[:, cols], dtype=float))
        assert design.X.flags.c_contiguous and np.array_equal(design.X, old) and design.X.shape[1] > 60
