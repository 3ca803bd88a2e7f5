"""research: complaint work orders and satisfaction surveys of a power utility.

The sub-packages read as the pipeline, in the order the data flows
(docs/architecture.md draws it):

- :mod:`research.config` -- the instrument (``surveys/*.yaml``) and the analysis
  plan, loaded and validated; formulas parsed, never evaluated;
- :mod:`research.ingestion` -- stage 1: raw exports in, validated and pseudonymised
  responses and work orders out, rejected rows with reasons;
- :mod:`research.stats` -- the estimators (ordinal, mixed, sandwich, survey
  linearisation, raking, comparisons, reliability), arrays in and fits out;
- :mod:`research.models` -- stage 2: the plan's models fitted to tidy frames,
  predictions and thresholds;
- :mod:`research.representativeness` -- stage 3: respondents against the
  work-order population, and weights;
- :mod:`research.strategy` -- stage 4: levers, key drivers, monitoring, stations;
- :mod:`research.artifacts` -- stage 5: tables, figures, report and manifest;
- :mod:`research.bulletin` -- daily / weekly / monthly bulletins;
- :mod:`research.pipeline` -- ``reproduce`` runs the stages over one build folder;
- :mod:`research.simulate` -- synthetic exports with a planted, known truth;
- :mod:`research.api` and :mod:`research.cli` -- the Python and command-line entry points.

Old flat module names (``research.plan``, ``research.scenarios``, ...) still
import, with a DeprecationWarning (:mod:`research._moved`).
"""

from research import _moved

_moved.install()

from research.errors import InputError  # noqa: E402  (after the old-name finder)
from research.config.instrument import Instrument, load_instrument  # noqa: E402
from research.ingestion.run import IngestResult, ingest  # noqa: E402
import sys as _sys  # noqa: E402

# the flat module research.ingest became research.ingestion.run (see research._moved)
_sys.modules.setdefault("research.ingest", _sys.modules["research.ingestion.run"])

#: the commands as functions (research.api), reachable as research.<name> without importing the
#: heavy modules until first use (PEP 562); research.ingest is imported above, and
#: research.bulletin is the bulletin package made callable (research/bulletin/__init__.py)
_API = ("fit", "weight", "levers")


def __getattr__(name: str):
    if name in _API:
        from research import api

        return getattr(api, name)
    if name == "bulletin":
        import importlib

        return importlib.import_module("research.bulletin")
    raise AttributeError(f"module 'research' has no attribute {name!r}")


__all__ = ["InputError", "Instrument", "load_instrument", "IngestResult", "ingest", "fit", "weight", "levers",
           "bulletin"]
__version__ = "0.1.0"
