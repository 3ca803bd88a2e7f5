"""The bundle: every result an artifact may read, in one dict.

In ``research reproduce`` the bundle is what the stages of
:data:`research.pipeline.stages.STAGES` write, each stage's ``writes`` naming its keys.
:func:`make_bundle` gathers the first two stages' results from a build folder or an API call
(the notebooks, :mod:`research.pipeline.notebook_data`).

Keys of :func:`make_bundle`
---------------------------
``responses``      canonical responses (research.ingestion.schema.RESPONSES)
``workorders``     canonical work orders, or None
``rejected``       rejected rows (ingest)
``ingest_report``  the ingest report (dict, as ingest_report.json)
and every table of :func:`research.models.run.fit_plan` (``estimates``,
``model_fit``, ``predictions``, ``marginal_effects``, ``brant``, ``thresholds``,
``threshold_curves``, ``comparisons``, ``pairwise``, ``association``,
``reliability``, ``item_statistics``, ``item_correlations``,
``station_effects``, ``notes``), plus ``plan`` (research.config.plan.Plan) and
``instrument`` (research.config.instrument.Instrument).
"""

from __future__ import annotations

import pandas as pd

from research.ingestion.run import IngestResult
from research.config.instrument import Instrument
from research.config.plan import Plan


def make_bundle(ingest: IngestResult, fit: dict[str, pd.DataFrame], *, plan: Plan,
                instrument: Instrument) -> dict:
    """Gather ingest and fit results (nothing is computed here)."""
    return {"responses": ingest.responses, "workorders": ingest.workorders, "rejected": ingest.rejected,
            "ingest_report": ingest.report, **fit, "plan": plan, "instrument": instrument}
