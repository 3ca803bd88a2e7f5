"""Stage 1, ingest: raw exports in; validated, pseudonymised canonical frames out.

- :mod:`research.ingestion.readers` -- bounded readers of CSV / Excel exports
  (encodings, sniffing, size limits);
- :mod:`research.ingestion.schema` -- the canonical columns and types of the outputs;
- :mod:`research.ingestion.parse` -- text, dates, labels and answers parsed column-wise;
- :mod:`research.ingestion.pseudonymise` -- keyed pseudonyms and masking of personal data;
- :mod:`research.ingestion.sla` and :mod:`research.ingestion.derive` -- handling time,
  SLA deadlines and the derived fields;
- :mod:`research.ingestion.run` -- :func:`ingest` (checks, accepted and rejected rows,
  the per-file report) and :func:`write_ingest`.

The public names of :mod:`research.ingestion.run` are re-exported here; the old
flat module name ``research.ingest`` is :mod:`research.ingestion.run` itself.
"""

from research.ingestion.run import (IngestResult, arrow_pool, format_report, ingest, timed,
                                 write_ingest)

__all__ = ["IngestResult", "arrow_pool", "format_report", "ingest", "timed", "write_ingest"]
