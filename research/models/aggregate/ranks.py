"""Sub-cause ranks of a model fitted from sums (issue 15): :func:`research.models.ranks.subcause_ranks`
through the engine that fitted the model.

The ranks need each sub-cause's average adjusted prediction (every ticket given that sub-cause)
and its gradient over the parameters; :func:`research.models.aggregate.predict.subcause_averages`
computes them from per-group sums (one engine pass per sub-cause, none when the predictions
already did) and keeps them where the row-level function looks for the averages it computed
itself. The simulation (seed, draws, quantiles) is then the row path's own code, so the table
equals the row path's to the rounding of the averages (tests/models/test_aggregate_rows.py).
"""

from __future__ import annotations

import pandas as pd


def subcause_ranks_from_sums(fm, *, parent: dict[str, str], threshold: int, reference_levels: dict, instrument,
                             conf_level: float = 0.95) -> pd.DataFrame:
    """:func:`research.models.ranks.subcause_ranks` (same columns, rows, seed and draws) of a model
    of :func:`research.models.aggregate.fit_model_on`."""
    from research.models.aggregate.predict import subcause_averages
    from research.models.ranks import subcause_ranks

    if "cause_l2" in fm.frame.columns:
        subcause_averages(fm, parent=parent, threshold=threshold, reference_levels=reference_levels,
                          instrument=instrument)
    return subcause_ranks(fm, parent=parent, threshold=threshold, conf_level=conf_level)
