"""The pipeline: stages run in order over one build folder.

- :mod:`research.pipeline.reproduce` -- ``research reproduce``: ingest, fit,
  representativeness, strategy, tables and figures, manifest;
- :mod:`research.pipeline.buildstate` -- what is in ``build/`` and whether it is current;
- :mod:`research.pipeline.notebook_data` -- the notebooks' reader of ``build/``.
"""
