"""Configuration: what the study asks and how it is analysed, read from YAML.

- :mod:`research.config.yamlfile` -- the one bounded, safe YAML loader;
- :mod:`research.config.instrument` -- the questionnaire, cause taxonomy, labels,
  header aliases and SLA targets (``surveys/*.yaml``);
- :mod:`research.config.formula` -- model formulas parsed (never evaluated) into
  canonical text;
- :mod:`research.config.plan` -- the analysis plan (``paper/analysis_plan.yaml``),
  validated into typed specs: :mod:`~research.config.plan_specs` (the specs and bounds),
  :mod:`~research.config.plan_fields` (single-setting checks), :mod:`~research.config.plan_sections`
  and :mod:`~research.config.plan_levers` (the sections), :mod:`~research.config.replicates`
  (replicate counts and ``--reps N``).
"""
