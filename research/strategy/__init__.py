"""Stage 4, strategy: what a manager can act on, and what to watch.

- :mod:`research.strategy.causal` -- pre-treatment adjustment sets and the
  associations of post-treatment variables;
- :mod:`research.strategy.scenarios` -- levers by g-computation with bootstrap
  intervals and mediation through resolution;
- :mod:`research.strategy.sensitivity` -- E-values and non-response sensitivity;
- :mod:`research.strategy.drivers` and :mod:`research.strategy.drivers_null` --
  key-driver importance (LMG / Shapley) with a permutation null;
- :mod:`research.strategy.monitoring` -- p-charts and recurrence flags;
- :mod:`research.strategy.stations` -- risk-adjusted funnel and station ranks.
"""
