"""Sub-cause ranks reuse the averages predictions() computed for the same model: the same numbers
as computing them anew."""

from __future__ import annotations

import pandas as pd

from research.config.instrument import load_instrument
from research.models.fit import fit_model
from research.models.predict import _AAP_CACHE, predictions
from research.models.ranks import subcause_ranks
from research.config.plan import load_plan
from research.simulate import simulate


def test_subcause_ranks_from_predictions_equal_ranks_computed_anew():
    plan, instrument = load_plan(), load_instrument()
    responses = simulate(3000, 11).responses
    spec = next(m for m in plan.models if m.family == "logit")
    thr = instrument.satisfied_threshold
    fm = fit_model(spec, responses, plan=plan, instrument=instrument)
    anew = subcause_ranks(fm, parent=instrument.parent, threshold=thr)
    assert _AAP_CACHE not in fm.extra
    predictions(fm, parent=instrument.parent, grid_hours=plan.grid_hours, threshold=thr)
    assert fm.extra[_AAP_CACHE]
    reused = subcause_ranks(fm, parent=instrument.parent, threshold=thr)
    pd.testing.assert_frame_equal(reused, anew, check_exact=True)
