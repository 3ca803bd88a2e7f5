"""Averages over groups of equal linear predictors (research.models.predict, ``_Rows.grouped``)
give the averages over rows: the same sums in another order.

Reference: the row-by-row path of the same module (its machinery in research.models.counterfactual) (itself checked against R ``predict()`` with a
numerical Jacobian, tests/fixtures/r/predictions). Above GROUP_ROWS rows the predictions, marginal
effects and sub-cause ranks of every plan model (linear, ordinal, logit, mixed, the lever model
with station and month) average over groups; here both paths run on one simulated export by
moving the switch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research import api
from research.models import counterfactual, predict
from research.simulate import simulate


@pytest.fixture(scope="module")
def responses():
    from research.ingestion.run import ingest
    from research.simulate import write_simulation

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        files = write_simulation(simulate(6000, 21), Path(tmp))
        return ingest(files["survey"], files["workorders"]).responses


def test_grouped_averages_equal_row_averages(responses, monkeypatch):
    from research.models import run

    # the group comparisons (Games-Howell's studentized range: half of each fit's time) are not
    # averages over rows and not compared here
    monkeypatch.setattr(run, "_comparisons", lambda responses, out: [])
    rows = api.fit(responses, thresholds=False)
    monkeypatch.setattr(counterfactual, "GROUP_ROWS", 0)  # where _Rows.grouped reads it
    used = []
    real = predict._Rows.grouped

    def spy(self, idx, beta):
        out = real(self, idx, beta)
        used.append(out is not None)
        return out

    monkeypatch.setattr(predict._Rows, "grouped", spy)
    grouped = api.fit(responses, thresholds=False)
    assert sum(used) > 50  # the grid and sub-cause averages went through the groups
    for key in ("predictions", "marginal_effects", "subcause_ranks"):
        a, b = rows[key], grouped[key]
        assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0
        for col in a.columns:
            if pd.api.types.is_float_dtype(a[col]):
                np.testing.assert_allclose(b[col].to_numpy(), a[col].to_numpy(), rtol=1e-10, atol=1e-13,
                                           err_msg=f"{key}.{col}")
            else:
                assert a[col].equals(b[col]), f"{key}.{col}"


def test_rows_that_barely_repeat_are_not_grouped():
    X = np.column_stack([np.ones(1000), np.arange(1000.0), np.arange(1000.0) % 3])
    base = predict._Rows(rows=np.arange(1000), X=X, eta=X @ np.array([0.1, 0.01, 0.5]),
                         colmean=X.mean(axis=0), constant=set())
    import research.models.counterfactual as mod

    old = mod.GROUP_ROWS
    try:
        mod.GROUP_ROWS = 0
        assert base.grouped(np.array([2]), np.array([0.1, 0.01, 0.5])) is None  # 1,000 distinct values
        u, share, S = base.grouped(np.array([1]), np.array([0.1, 0.01, 0.5]))  # 3 distinct values
        assert len(u) == 3 and np.isclose(share.sum(), 1) and np.allclose(S.sum(axis=0), X.mean(axis=0))
    finally:
        mod.GROUP_ROWS = old
