"""research: complaint work orders and satisfaction surveys of a power utility.

The pipeline reads in one direction (see DESIGN.md):

- :mod:`research.instrument` loads the questionnaire, taxonomy, labels,
  header aliases and SLA targets from ``surveys/*.yaml``;
- :mod:`research.ingest` turns raw exports into validated, pseudonymised
  responses with derived fields, and rejected rows with reasons;
- :mod:`research.simulate` writes a synthetic export with known truth.
"""

from research.errors import InputError
from research.instrument import Instrument, load_instrument
from research.ingest import IngestResult, ingest

__all__ = ["InputError", "Instrument", "load_instrument", "IngestResult", "ingest"]
__version__ = "0.1.0"
