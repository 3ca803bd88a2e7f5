"""Stage 1, ingest: raw exports in; validated, pseudonymised canonical frames out.

- :mod:`research.ingestion.readers` -- :func:`read_export`, bounded readers of CSV / Excel /
  Parquet exports: :mod:`~research.ingestion.files` (file access, size limits),
  :mod:`~research.ingestion.headers`, :mod:`~research.ingestion.encodings`,
  :mod:`~research.ingestion.csv_reader`, :mod:`~research.ingestion.excel_reader`,
  :mod:`~research.ingestion.parquet_reader`, :mod:`~research.ingestion.typed_cells`;
  :mod:`~research.ingestion.ingested` reads ingest's own outputs back;
- :mod:`research.ingestion.schema` -- the canonical columns and types of the outputs;
- :mod:`research.ingestion.parse` -- text, dates, labels and answers parsed column-wise (the
  dates in :mod:`~research.ingestion.datetimes`; :mod:`~research.ingestion.arrow_text`);
- :mod:`research.ingestion.pseudonymise` -- keyed pseudonyms and masking of personal data;
- :mod:`research.ingestion.sla` and :mod:`research.ingestion.derive` -- handling time,
  SLA deadlines and the derived fields;
- :mod:`research.ingestion.run` -- :func:`ingest` and :func:`write_ingest`, over
  :mod:`~research.ingestion.checks` (row checks), :mod:`~research.ingestion.duplicates`,
  :mod:`~research.ingestion.rows` (accepted and rejected rows),
  :mod:`~research.ingestion.report` (the per-file report), :mod:`~research.ingestion.faults`
  (reason codes) and :mod:`~research.ingestion.threads`;
- :mod:`research.ingestion.dataset` -- several ingests appended to one Parquet dataset
  partitioned by month, with a ledger (``research ingest --dataset``), and read back.

The public names of :mod:`research.ingestion.run` are re-exported here; the old
flat module name ``research.ingest`` is :mod:`research.ingestion.run` itself.
"""

from research.ingestion.run import (IngestResult, arrow_pool, format_report, ingest, timed,
                                 write_ingest)

__all__ = ["IngestResult", "arrow_pool", "format_report", "ingest", "timed", "write_ingest"]
